/* SPDX-License-Identifier: MIT */
/*
 * helpers.h - shared scaffolding for ringo's cmocka test binaries.
 *
 * Three things every test binary needs:
 *
 *  1. Checks inside goroutines.  cmocka's assert_*() longjmp back to the
 *     test on failure, which must never happen from a goroutine (another
 *     stack, maybe another thread).  Goroutines use GCHECK()/GCHECK_EQ()
 *     instead: a failure is counted and the first one is described; the
 *     test asserts that none happened after rg_main() returned
 *     (RUN_IN_RUNTIME does this).
 *
 *  2. Running the runtime: RUN_IN_RUNTIME(maxprocs, fn, arg) runs fn as
 *     the main goroutine and asserts that rg_main() returned 0 and that no
 *     GCHECK failed; RUN_FOR_PROCS(fn, arg, 1, 2) does so once per
 *     maxprocs listed.
 *
 *  3. Child processes, for what ends a process (fatal errors, signals) and
 *     for environment variables that rg_main() reads.  A test binary
 *     re-executes itself ("/proc/self/exe --rg-test-child NAME") with a
 *     chosen environment; main() hands such an invocation to
 *     child_dispatch(), which runs the named case and exits with its return
 *     value.  The parent collects the child's stderr and exit status with
 *     child_run().  Re-executing (posix_spawn) rather than forking keeps
 *     the child independent of any runtime threads the parent may still
 *     hold after an earlier rg_main().
 *
 * Besides: SECCOMP_DENY(errno, syscalls...) makes system calls fail, to
 * reproduce a kernel or container that refuses them; tool_run() and
 * example_start() drive real clients and the example servers.
 *
 * Sizes: RG_TEST_ASAN / RG_TEST_TSAN are 1 in sanitizer builds;
 * TEST_SCALE(full, sanitized) picks the size of a stress loop.
 *
 * Every test includes this file as "tests/helpers.h" (the Makefile passes
 * -I. for the top of the tree).
 */
#ifndef RINGO_TESTS_HELPERS_H
#define RINGO_TESTS_HELPERS_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>

#include <cmocka.h>

#include "ringo.h"

extern char **environ;

/* --------------------------------------------------------------------- */
/* Sanitizer builds                                                      */
/* --------------------------------------------------------------------- */

#if defined(__SANITIZE_ADDRESS__)
#define RG_TEST_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define RG_TEST_TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(RG_TEST_ASAN)
#define RG_TEST_ASAN 1
#endif
#if __has_feature(thread_sanitizer) && !defined(RG_TEST_TSAN)
#define RG_TEST_TSAN 1
#endif
#endif
#ifndef RG_TEST_ASAN
#define RG_TEST_ASAN 0
#endif
#ifndef RG_TEST_TSAN
#define RG_TEST_TSAN 0
#endif
#define RG_TEST_SANITIZED (RG_TEST_ASAN || RG_TEST_TSAN)

/* The size of a stress loop: @full normally, @sanitized under ASan/TSan. */
#define TEST_SCALE(full, sanitized) (RG_TEST_SANITIZED ? (sanitized) : (full))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define TEST_STR_(x) #x
#define TEST_STR(x)  TEST_STR_(x)

/* Seconds a child process may run before it is killed as hung. */
#define CHILD_TIMEOUT_S (RG_TEST_SANITIZED ? 30 : 10)

/* --------------------------------------------------------------------- */
/* Checks inside goroutines                                              */
/* --------------------------------------------------------------------- */

static _Atomic int gcheck_failures __attribute__((unused));
static atomic_bool gcheck_claimed __attribute__((unused));
static atomic_bool gcheck_written __attribute__((unused));
static char gcheck_first[512] __attribute__((unused));

static inline void gcheck_reset(void)
{
	atomic_store(&gcheck_failures, 0);
	atomic_store(&gcheck_claimed, false);
	atomic_store(&gcheck_written, false);
	gcheck_first[0] = '\0';
}

/* Record a failed check; the first failure's text is kept. (any thread) */
static inline void __attribute__((format(printf, 1, 2))) gcheck_fail(const char *fmt, ...)
{
	bool expected = false;
	va_list ap;

	atomic_fetch_add(&gcheck_failures, 1);
	if (!atomic_compare_exchange_strong(&gcheck_claimed, &expected, true))
		return;
	va_start(ap, fmt);
	vsnprintf(gcheck_first, sizeof(gcheck_first), fmt, ap);
	va_end(ap);
	atomic_store_explicit(&gcheck_written, true, memory_order_release);
}

static inline int gcheck_count(void)
{
	return atomic_load(&gcheck_failures);
}

/* A child case's exit status: 1 with the first failed GCHECK on stderr if
 * any failed, else 1 if rg_main's rc is not 0, else 0. */
static inline int child_checks_status(int rc)
{
	if (gcheck_count()) {
		fprintf(stderr, "TEST-FAILED %d: %s\n", gcheck_count(), gcheck_first);
		return 1;
	}
	if (rc)
		fprintf(stderr, "rg_main: %d\n", rc);
	return rc ? 1 : 0;
}

/* Fail the current test if any GCHECK failed.  (test thread only) */
static inline void gcheck_assert_none(void)
{
	int n = atomic_load(&gcheck_failures);

	if (n == 0)
		return;
	if (atomic_load_explicit(&gcheck_written, memory_order_acquire))
		fail_msg("%d check(s) failed inside the runtime; first: %s", n, gcheck_first);
	fail_msg("%d check(s) failed inside the runtime", n);
}

/* The same, naming the maxprocs the runtime ran with. */
static inline void gcheck_assert_none_at(int maxprocs)
{
	if (gcheck_count() != 0)
		print_error("with maxprocs %d:\n", maxprocs);
	gcheck_assert_none();
}

#define GCHECK(cond)                                                         \
	do {                                                                 \
		if (!(cond))                                                 \
			gcheck_fail("%s:%d: %s", __FILE__, __LINE__, #cond); \
	} while (0)

#define GCHECK_EQ(a, b)                                                                          \
	do {                                                                                     \
		long long a_ = (long long)(a), b_ = (long long)(b);                              \
		if (a_ != b_)                                                                    \
			gcheck_fail("%s:%d: %s == %s: %lld != %lld", __FILE__, __LINE__, #a, #b, \
				    a_, b_);                                                     \
	} while (0)

/* --------------------------------------------------------------------- */
/* Running the runtime                                                   */
/* --------------------------------------------------------------------- */

/* rg_main() with the given maxprocs and stack size; 0 means the default. */
static inline int run_runtime(int maxprocs, size_t stack_size, void (*fn)(void *), void *arg)
{
	static const int faults[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL };
	struct sigaction dfl = { .sa_handler = SIG_DFL }, old[ARRAY_SIZE(faults)];
	rg_config cfg = { .maxprocs = maxprocs, .stack_size = stack_size };
	int rc;

	/* cmocka's handler for these signals, called on an M, would print
	 * nothing and exit(-1): with the default action, the runtime reports
	 * the fault (the goroutine, its stack) and the process dies of it. */
	for (size_t i = 0; i < ARRAY_SIZE(faults); i++)
		sigaction(faults[i], &dfl, &old[i]);
	rc = rg_main(&cfg, fn, arg);
	for (size_t i = 0; i < ARRAY_SIZE(faults); i++)
		sigaction(faults[i], &old[i], NULL);
	return rc;
}

#define RUN_IN_RUNTIME_STACK(maxprocs, stack_size, fn, arg)                            \
	do {                                                                           \
		int procs_ = (maxprocs);                                               \
		gcheck_reset();                                                        \
		int rc_ = run_runtime(procs_, (stack_size), (fn), (arg));              \
		if (rc_ != 0)                                                          \
			fail_msg("rg_main with maxprocs %d returned %d", procs_, rc_); \
		gcheck_assert_none_at(procs_);                                         \
	} while (0)

#define RUN_IN_RUNTIME(maxprocs, fn, arg) RUN_IN_RUNTIME_STACK(maxprocs, 0, fn, arg)

/*
 * RUN_FOR_PROCS(fn, arg, maxprocs...) - RUN_IN_RUNTIME(maxprocs, fn, arg)
 * once for each maxprocs listed, in order: RUN_FOR_PROCS(echo_main, NULL,
 * 1, 2, 4) runs echo_main as the main goroutine of three runtimes, the
 * first with one P.  A test that must pass with one P and with several
 * (on one P nothing runs in parallel, on several goroutines migrate) says
 * so in one line.
 */
#define RUN_FOR_PROCS(fn, arg, ...)                                     \
	do {                                                            \
		static const int each_procs_[] = { __VA_ARGS__ };       \
		for (size_t i_ = 0; i_ < ARRAY_SIZE(each_procs_); i_++) \
			RUN_IN_RUNTIME(each_procs_[i_], (fn), (arg));   \
	} while (0)

/* Whether SIGURG preemption runs in this build: it is off under TSan and
 * under clang's ASan (runtime/san.h), where a goroutine that never calls
 * into the runtime keeps its P. */
static inline bool preemption_works(void)
{
#if defined(__clang__) && RG_TEST_ASAN
	return false;
#else
	return !RG_TEST_TSAN;
#endif
}

/* Monotonic time in nanoseconds. */
static inline int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* --------------------------------------------------------------------- */
/* Waiting for goroutines (goroutine only)                               */
/* --------------------------------------------------------------------- */

#define DEADLOCK_MSG "fatal error: all goroutines are asleep - deadlock!"

/* Let every runnable goroutine run until it blocks or ends (maxprocs 1:
 * nothing preempts a goroutine, so 20 yields are plenty). */
static inline void settle_yields(void)
{
	for (int i = 0; i < 20; i++)
		rg_yield();
}

/* Yield until *count reaches want, then settle: at maxprocs 1 goroutines
 * that counted themselves just before a blocking call are parked in it
 * when this returns. */
static inline void await_count(atomic_int *count, int want)
{
	while (atomic_load(count) < want)
		rg_yield();
	settle_yields();
}

/* --------------------------------------------------------------------- */
/* Child processes                                                       */
/* --------------------------------------------------------------------- */

#define CHILD_FLAG "--rg-test-child"

struct child_case {
	const char *name;
	int (*fn)(void); /* returns the child's exit status */
};

struct child_result {
	int status;	/* raw waitpid() status */
	bool exited;	/* WIFEXITED */
	int exit_code;	/* WEXITSTATUS, if exited */
	bool signaled;	/* WIFSIGNALED */
	int signo;	/* WTERMSIG, if signaled */
	bool timed_out; /* killed after CHILD_TIMEOUT_S */
	char *err;	/* the child's stderr, NUL-terminated */
	size_t err_len;
};

/*
 * child_dispatch - if this process was started as a child case, run it.
 * Returns the case's exit status (>= 0), or -1 for a normal invocation.
 * Call first thing in main().
 */
static inline int child_dispatch(int argc, char **argv, const struct child_case *cases,
				 size_t ncases)
{
	struct rlimit no_core = { 0, 0 };

	if (argc < 3 || strcmp(argv[1], CHILD_FLAG) != 0)
		return -1;
	/* Children that die of a signal on purpose must not leave cores. */
	setrlimit(RLIMIT_CORE, &no_core);
	for (size_t i = 0; i < ncases; i++) {
		if (strcmp(cases[i].name, argv[2]) == 0) {
			int rc = cases[i].fn();

			fflush(NULL);
			return rc;
		}
	}
	fprintf(stderr, "unknown child case '%s'\n", argv[2]);
	return 99;
}

/* Is @name=... one of the runtime's variables, which children never inherit? */
static inline bool child_env_filtered(const char *entry)
{
	return strncmp(entry, "RINGO_MAXPROCS=", 15) == 0 ||
	       strncmp(entry, "RINGO_DEBUG=", 12) == 0;
}

static inline void child_result_free(struct child_result *r)
{
	free(r->err);
	r->err = NULL;
	r->err_len = 0;
}

/*
 * child_run - run child case @name of this binary and wait for it.
 * @env: NULL-terminated "NAME=value" strings added to the environment, or
 * NULL.  RINGO_MAXPROCS and RINGO_DEBUG are never inherited from the test
 * process, only passed through @env.  The child's stdout goes to /dev/null;
 * its stderr is collected in r->err.  Returns 0 or -errno (spawn failure).
 */
static inline int child_run(const char *name, const char *const *env, struct child_result *r)
{
	char exe[4096];
	char *argv[] = { exe, (char *)CHILD_FLAG, (char *)name, NULL };
	size_t nenv = 0, nextra = 0, cap = 4096;
	char **envp;
	posix_spawn_file_actions_t fa;
	int pipefd[2], rc;
	pid_t pid;
	ssize_t len;
	int64_t deadline;

	memset(r, 0, sizeof(*r));
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len < 0)
		return -errno;
	exe[len] = '\0';

	while (environ && environ[nenv])
		nenv++;
	while (env && env[nextra])
		nextra++;
	envp = calloc(nenv + nextra + 1, sizeof(*envp));
	if (!envp)
		return -ENOMEM;
	nenv = 0;
	for (size_t i = 0; environ && environ[i]; i++)
		if (!child_env_filtered(environ[i]))
			envp[nenv++] = environ[i];
	for (size_t i = 0; i < nextra; i++)
		envp[nenv++] = (char *)env[i];
	envp[nenv] = NULL;

	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		rc = -errno;
		free(envp);
		return rc;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	rc = -posix_spawn(&pid, exe, &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	free(envp);
	close(pipefd[1]);
	if (rc < 0) {
		close(pipefd[0]);
		return rc;
	}

	r->err = malloc(cap);
	deadline = now_ns() + (int64_t)CHILD_TIMEOUT_S * 1000000000;
	for (;;) {
		struct pollfd pfd = { .fd = pipefd[0], .events = POLLIN };
		int64_t left_ms = (deadline - now_ns()) / 1000000;
		ssize_t n;

		if (left_ms <= 0) {
			r->timed_out = true;
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&pfd, 1, (int)left_ms) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (!pfd.revents)
			continue;
		if (r->err && r->err_len + 1024 >= cap && cap < (16u << 20)) {
			char *bigger = realloc(r->err, cap * 2);

			if (bigger) {
				r->err = bigger;
				cap *= 2;
			}
		}
		if (!r->err || r->err_len + 1 >= cap) {
			char sink[4096];

			n = read(pipefd[0], sink, sizeof(sink)); /* out of room: drop */
		} else {
			n = read(pipefd[0], r->err + r->err_len, cap - r->err_len - 1);
			if (n > 0)
				r->err_len += (size_t)n;
		}
		if (n == 0)
			break;
		if (n < 0 && errno != EINTR)
			break;
	}
	close(pipefd[0]);
	if (r->err)
		r->err[r->err_len] = '\0';

	while (waitpid(pid, &r->status, 0) < 0 && errno == EINTR)
		;
	r->exited = WIFEXITED(r->status);
	r->exit_code = r->exited ? WEXITSTATUS(r->status) : -1;
	r->signaled = WIFSIGNALED(r->status);
	r->signo = r->signaled ? WTERMSIG(r->status) : 0;
	return 0;
}

/* Describe how the child ended, for failure messages. */
static inline const char *child_describe(const struct child_result *r, char *buf, size_t len)
{
	if (r->timed_out)
		snprintf(buf, len, "timed out after %d s", CHILD_TIMEOUT_S);
	else if (r->exited)
		snprintf(buf, len, "exited with status %d", r->exit_code);
	else if (r->signaled)
		snprintf(buf, len, "killed by signal %d (%s)", r->signo, strsignal(r->signo));
	else
		snprintf(buf, len, "ended with raw status 0x%x", r->status);
	return buf;
}

/* Print the child's stderr, indented, to help read a failure. */
static inline void child_dump(const char *name, const struct child_result *r)
{
	char how[128];

	print_error("child '%s' %s; its stderr:\n", name, child_describe(r, how, sizeof(how)));
	print_error("-----\n%s%s-----\n", r->err ? r->err : "",
		    r->err_len && r->err[r->err_len - 1] != '\n' ? "\n" : "");
}

/* Assert that the child exited (not signaled, not hung) with @code. */
#define assert_child_exit(name, r, code)                                                 \
	do {                                                                             \
		if ((r)->timed_out || !(r)->exited || (r)->exit_code != (code)) {        \
			child_dump((name), (r));                                         \
			fail_msg("child '%s': expected exit status %d", (name), (code)); \
		}                                                                        \
	} while (0)

/* Assert that the child's stderr contains @needle. */
#define assert_child_stderr_has(name, r, needle)                                       \
	do {                                                                           \
		if (!(r)->err || !strstr((r)->err, (needle))) {                        \
			child_dump((name), (r));                                       \
			fail_msg("child '%s': stderr lacks \"%s\"", (name), (needle)); \
		}                                                                      \
	} while (0)

/* Assert that the child's stderr does not contain @needle. */
#define assert_child_stderr_lacks(name, r, needle)                                                \
	do {                                                                                      \
		if ((r)->err && strstr((r)->err, (needle))) {                                     \
			child_dump((name), (r));                                                  \
			fail_msg("child '%s': stderr unexpectedly has \"%s\"", (name), (needle)); \
		}                                                                                 \
	} while (0)

/* Run child case @name with @env (may be NULL), asserting the spawn worked. */
#define run_child_case(name, env, r)                                                           \
	do {                                                                                   \
		int spawn_rc_ = child_run((name), (env), (r));                                 \
		if (spawn_rc_ < 0)                                                             \
			fail_msg("cannot start child '%s': %s", (name), strerror(-spawn_rc_)); \
	} while (0)

/*
 * Find "KEY <int>" in the child's stderr (the first occurrence) and return
 * the integer through @out.  Returns false if absent.
 */
static inline bool child_find_int(const struct child_result *r, const char *key, long *out)
{
	const char *p = r->err ? strstr(r->err, key) : NULL;
	char *end;

	if (!p)
		return false;
	p += strlen(key);
	*out = strtol(p, &end, 10);
	return end != p;
}

/* --------------------------------------------------------------------- */
/* Watchdog                                                              */
/* --------------------------------------------------------------------- */

/*
 * A test binary that hangs (a lost wake-up, say) is killed by SIGALRM after
 * @seconds (more under sanitizers), so that it fails even when run by hand.
 */
static inline void test_watchdog(unsigned int seconds)
{
	alarm(RG_TEST_SANITIZED ? seconds * 10 : seconds);
}

/* A child case's body: fn as the main goroutine at maxprocs, for a case
 * that ends the process (a deadlock report, a fatal error).  Returns 0 if
 * rg_main returns after all. */
static inline int run_child_main(int maxprocs, void (*fn)(void *))
{
	rg_config cfg = { .maxprocs = maxprocs };

	rg_main(&cfg, fn, NULL);
	return 0;
}

/* "TEST-GOID N" on stderr: a child tells its parent a goroutine's id. */
static inline void print_goid(void)
{
	fprintf(stderr, "TEST-GOID %llu\n", (unsigned long long)rg_goid());
}

/* Run child case name: it must exit with status 2 (a fatal error) with
 * every string of the NULL-terminated list on its stderr. */
static inline void __attribute__((sentinel)) expect_fatal(const char *name, ...)
{
	struct child_result r;
	const char *msg;
	va_list ap;

	run_child_case(name, NULL, &r);
	assert_child_exit(name, &r, 2);
	va_start(ap, name);
	while ((msg = va_arg(ap, const char *)) != NULL)
		assert_child_stderr_has(name, &r, msg);
	va_end(ap);
	child_result_free(&r);
}

/* Run child case name: it must report a deadlock, with line (the main
 * goroutine's, say) among the goroutines listed. */
static inline void expect_deadlock(const char *name, const char *line)
{
	expect_fatal(name, DEADLOCK_MSG, line, NULL);
}

/* --------------------------------------------------------------------- */
/* System calls refused (seccomp)                                        */
/* --------------------------------------------------------------------- */

#if defined(__x86_64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "tests/helpers.h: the seccomp filter needs this architecture's AUDIT_ARCH_"
#endif

#define SECCOMP_DENY_MAX 8

/*
 * seccomp_deny - install a seccomp filter, on the calling thread and the
 * threads it creates from then on, under which the @n system calls @nrs
 * (at most SECCOMP_DENY_MAX) fail with @err and every other call runs.
 * This is how a container or a kernel setting refuses a call: run it in a
 * child case, as the filter cannot be removed.  0 or -errno.
 */
static inline int seccomp_deny(int err, const int *nrs, size_t n)
{
	struct sock_filter f[4 + SECCOMP_DENY_MAX + 2];
	struct sock_fprog prog = { .filter = f };
	size_t k = 0;

	if (n == 0 || n > SECCOMP_DENY_MAX)
		return -EINVAL;
	/* Another architecture's calls (x32, i386 on x86-64): allowed. */
	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					      offsetof(struct seccomp_data, arch));
	f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TEST_AUDIT_ARCH, 1, 0);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					      offsetof(struct seccomp_data, nr));
	/* Call i jumps over the n - 1 - i tests after it and the allow. */
	for (size_t i = 0; i < n; i++)
		f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nrs[i],
						      (uint8_t)(n - i), 0);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	f[k++] = (struct sock_filter)BPF_STMT(
		BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((uint32_t)err & SECCOMP_RET_DATA));
	prog.len = (unsigned short)k;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return -errno;
	return 0;
}

/* SECCOMP_DENY(ENOSYS, __NR_rseq): seccomp_deny() with the calls listed. */
#define SECCOMP_DENY(err, ...)                            \
	seccomp_deny((err), (const int[]){ __VA_ARGS__ }, \
		     sizeof((const int[]){ __VA_ARGS__ }) / sizeof(int))

/* --------------------------------------------------------------------- */
/* Tools: real clients run by the tests that drive the examples          */
/* --------------------------------------------------------------------- */

/* Is prog an executable in one of $PATH's directories? */
static inline bool tool_in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char file[PATH_MAX];

	while (path && *path) {
		size_t len = strcspn(path, ":");

		snprintf(file, sizeof(file), "%.*s/%s", (int)len, len ? path : ".", prog);
		if (access(file, X_OK) == 0)
			return true;
		path += len + (path[len] == ':');
	}
	return false;
}

/*
 * Run argv (searched in $PATH) with stdin_fd as its standard input (-1:
 * /dev/null), its stdout and stderr into out[cap] (NUL-terminated, the
 * rest dropped), and wait for it, at most timeout_s seconds.
 * Returns its exit status, or -1 if it could not run, was killed or took
 * too long.
 */
static inline int tool_run(char *const argv[], int stdin_fd, char *out, size_t cap, int timeout_s)
{
	posix_spawn_file_actions_t fa;
	int pipefd[2], status, rc;
	int64_t deadline = now_ns() + (int64_t)timeout_s * 1000000000;
	size_t len = 0;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	if (stdin_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, stdin_fd, 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (rc) {
		close(pipefd[0]);
		return -1;
	}
	for (;;) {
		struct pollfd pfd = { .fd = pipefd[0], .events = POLLIN };
		int64_t left_ms = (deadline - now_ns()) / 1000000;
		char sink[4096];
		ssize_t n;

		if (left_ms <= 0) {
			print_error("%s: no end after %d s; killed\n", argv[0], timeout_s);
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&pfd, 1, (int)left_ms) <= 0)
			continue;
		if (len + 1 < cap)
			n = read(pipefd[0], out + len, cap - len - 1);
		else
			n = read(pipefd[0], sink, sizeof(sink));
		if (n == 0 || (n < 0 && errno != EINTR))
			break;
		if (n > 0 && len + 1 < cap)
			len += (size_t)n;
	}
	close(pipefd[0]);
	out[len] = '\0';
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) && now_ns() < deadline ? WEXITSTATUS(status) : -1;
}

#define assert_has(haystack, needle)                                                \
	do {                                                                        \
		if (!strstr((haystack), (needle)))                                  \
			fail_msg("\"%s\" not found in:\n%s", (needle), (haystack)); \
	} while (0)

#define assert_lacks(haystack, needle)                                                 \
	do {                                                                           \
		if (strstr((haystack), (needle)))                                      \
			fail_msg("\"%s\" unexpectedly in:\n%s", (needle), (haystack)); \
	} while (0)

/* The path of an example program, rel to this test's own directory
 * (build/tests/../examples/NAME), into path[cap].  0, or -1 (said why:
 * make tests builds the examples). */
static inline int example_path(char *path, size_t cap, const char *rel)
{
	char self[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (len < 0) {
		perror("readlink /proc/self/exe");
		return -1;
	}
	self[len] = '\0';
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	if ((size_t)snprintf(path, cap, "%s/%s", slash ? self : ".", rel) >= cap) {
		fprintf(stderr, "%s/%s: path too long\n", self, rel);
		return -1;
	}
	if (access(path, X_OK) < 0) {
		fprintf(stderr, "%s: %s (make tests builds it)\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Send all of buf on a socket (a client of an example); fails the test on
 * an error. */
static inline void send_bytes(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail_msg("send: %s", strerror(errno));
		buf += n;
		len -= (size_t)n;
	}
}

static inline void send_str(int fd, const char *s)
{
	send_bytes(fd, s, strlen(s));
}

/* An example program run as a server by a test: "PATH 0" (a free port),
 * whose first line on stdout is "NAME: listening on port N (P Ps)". */
struct example {
	pid_t pid;
	int port;
	int out_fd; /* its stdout, after the first line */
};

/* Start the example at path with RINGO_NETPOLL=netpoll (NULL: as this
 * process has it) and read its port, waiting at most CHILD_TIMEOUT_S.
 * example_start_args passes "0" and then arg2 and arg3 (each NULL: none,
 * and none after it).  The
 * server is killed if this process dies (a watchdog's SIGALRM included).
 * 0, or -1 (said why). */
static inline int example_start_args(struct example *ex, const char *path, const char *netpoll,
				     const char *arg2, const char *arg3)
{
	char *argv[] = { (char *)path, "0", (char *)arg2, (char *)arg3, NULL };
	pid_t parent = getpid();
	char line[256];
	size_t len = 0;
	int pipefd[2], procs;
	int64_t deadline;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -1;
	ex->pid = fork();
	if (ex->pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return -1;
	}
	if (ex->pid == 0) {
		dup2(pipefd[1], 1);
		signal(SIGPIPE, SIG_DFL);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(1);
		if (netpoll)
			setenv("RINGO_NETPOLL", netpoll, 1);
		execv(path, argv);
		fprintf(stderr, "cannot run %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);
	ex->out_fd = pipefd[0];

	deadline = now_ns() + (int64_t)CHILD_TIMEOUT_S * 1000000000;
	while (!memchr(line, '\n', len) && len + 1 < sizeof(line)) {
		struct pollfd pfd = { .fd = ex->out_fd, .events = POLLIN };
		int64_t left_ms = (deadline - now_ns()) / 1000000;
		ssize_t n;

		if (left_ms <= 0 || poll(&pfd, 1, (int)left_ms) < 0)
			break;
		n = read(ex->out_fd, line + len, sizeof(line) - len - 1);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	line[len] = '\0';
	if (sscanf(line, "%*[^:]: listening on port %d (%d Ps)", &ex->port, &procs) != 2) {
		print_error("%s did not start: it printed \"%s\"\n", path, line);
		kill(ex->pid, SIGKILL);
		waitpid(ex->pid, NULL, 0);
		close(ex->out_fd);
		return -1;
	}
	return 0;
}

static inline int example_start(struct example *ex, const char *path, const char *netpoll)
{
	return example_start_args(ex, path, netpoll, NULL, NULL);
}

/* SIGTERM: the example must exit with status 0 within timeout_s.  What it
 * printed after its first line goes to out[cap] (out may be NULL).  0, or
 * -1 (said why). */
/*
 * Send sig to process pid's runtime.  Under ThreadSanitizer, which runs a
 * handler only when the thread that took the signal enters one of its
 * interceptors, an idle runtime's threads may all sleep in raw system
 * calls for a long time (and a copy handled late, once the runtime has put
 * the default action back, would kill the process).  sysmon enters an
 * interceptor every 100 ms (it looks at the SIGURG handler): the signal
 * goes to that thread alone.  Elsewhere, to the process.  kill's result.
 */
static inline int signal_runtime(pid_t pid, int sig)
{
	char path[PATH_MAX], comm[32];
	struct dirent *d;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = RG_TEST_TSAN ? opendir(path) : NULL;
	while (dir && (d = readdir(dir)) != NULL) {
		FILE *f;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/comm", (int)pid, d->d_name);
		f = fopen(path, "r");
		if (f && fgets(comm, sizeof(comm), f) && strncmp(comm, "ringo-sysmon", 12) == 0) {
			fclose(f);
			closedir(dir);
			return (int)syscall(SYS_tgkill, pid, atoi(d->d_name), sig);
		}
		if (f)
			fclose(f);
	}
	if (dir)
		closedir(dir);
	return kill(pid, sig);
}

/* SIGTERM for a server (signal_runtime). */
static inline void sigterm_server(pid_t pid)
{
	signal_runtime(pid, SIGTERM);
}

static inline int example_stop(struct example *ex, int timeout_s, char *out, size_t cap)
{
	int64_t deadline = now_ns() + (int64_t)timeout_s * 1000000000;
	int status = 0;
	size_t len = 0;
	ssize_t n;
	pid_t r;

	sigterm_server(ex->pid);
	while ((r = waitpid(ex->pid, &status, WNOHANG)) == 0 && now_ns() < deadline)
		usleep(10000);
	if (r == 0) {
		print_error("the server did not exit within %d s of SIGTERM\n", timeout_s);
		kill(ex->pid, SIGKILL);
		waitpid(ex->pid, NULL, 0);
		close(ex->out_fd);
		return -1;
	}
	fcntl(ex->out_fd, F_SETFL, O_NONBLOCK);
	while (out && len + 1 < cap && (n = read(ex->out_fd, out + len, cap - len - 1)) > 0)
		len += (size_t)n;
	if (out && cap)
		out[len] = '\0';
	close(ex->out_fd);
	if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		print_error("the server ended with raw status 0x%x after SIGTERM\n", status);
		return -1;
	}
	return 0;
}

#endif /* RINGO_TESTS_HELPERS_H */
