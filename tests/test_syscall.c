/* SPDX-License-Identifier: MIT */
/*
 * test_syscall - rg_syscall_enter, rg_syscall_exit and rg_blocking:
 *
 *  - a goroutine blocked in rg_blocking (a read on a pipe) at maxprocs 1
 *    does not stop the others: sysmon retakes the P and another thread
 *    runs them, and the blocked goroutine resumes when its read returns;
 *  - many short calls in a row keep their P (the fast path) and make no
 *    new threads;
 *  - rg_gomaxprocs (stop-the-world) completes while a goroutine is blocked
 *    in a system call, and that goroutine resumes afterwards;
 *  - from a plain thread the calls do nothing; rg_blocking(NULL) is
 *    -EINVAL;
 *  - misuse is a fatal error naming the call: nested rg_syscall_enter,
 *    rg_syscall_exit without rg_syscall_enter, parking in between;
 *  - the safety net for calls nobody annotated: a goroutine in a plain
 *    read() on a pipe, or in pthread_mutex_lock (a futex wait), at
 *    maxprocs 1 does not stop the others either (sysmon finds the thread
 *    asleep and the SIGURG handler gives up the P); the goroutine takes a
 *    P back at its next runtime call or when it returns; a timed sleep is
 *    never interrupted (no EINTR); and a sleep of the runtime's own in the
 *    C library (thread creation made to wait) is never taken for the
 *    program's;
 *  - the thread limit (rg_config.max_threads, RINGO_DEBUG=maxthreads):
 *    more goroutines blocked in system calls than it allows is a fatal
 *    "thread exhaustion", and a bad limit is -EINVAL.
 */
#include <dirent.h>
#include <linux/futex.h>
#include <pthread.h>

#include "tests/helpers.h"

#define MS 1000000LL

/* Threads of this process, from /proc/self/task. */
static int thread_count(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* --------------------------------------------------------------------- */
/* A blocked call does not stop the others                              */
/* --------------------------------------------------------------------- */

struct block_ctx {
	int fds[2];
	atomic_int progress; /* bumped by the computing goroutine */
	atomic_int done;
	rg_wg wg;
};

static int64_t read_pipe(void *arg)
{
	struct block_ctx *bc = arg;
	char c;
	ssize_t n = read(bc->fds[0], &c, 1);

	return n < 0 ? -errno : n;
}

static void blocker(void *arg)
{
	struct block_ctx *bc = arg;

	GCHECK_EQ(rg_blocking(read_pipe, bc), 1);
	atomic_store(&bc->done, 1);
	rg_wg_done(&bc->wg);
}

static void worker(void *arg)
{
	struct block_ctx *bc = arg;

	/* Runs only if the blocked goroutine's P went to another thread. */
	for (int i = 0; i < 100; i++) {
		atomic_fetch_add(&bc->progress, 1);
		rg_yield();
	}
	GCHECK_EQ(atomic_load(&bc->done), 0);
	GCHECK_EQ(write(bc->fds[1], "x", 1), 1);
	rg_wg_done(&bc->wg);
}

static void block_main(void *arg)
{
	struct block_ctx *bc = arg;

	GCHECK_EQ(pipe2(bc->fds, O_CLOEXEC), 0);
	rg_wg_add(&bc->wg, 2);
	/* The blocker runs first (runnext) and blocks its thread. */
	GCHECK_EQ(rg_go(worker, bc), 0);
	GCHECK_EQ(rg_go(blocker, bc), 0);
	rg_wg_wait(&bc->wg);
	GCHECK_EQ(atomic_load(&bc->progress), 100);
	GCHECK_EQ(atomic_load(&bc->done), 1);
	close(bc->fds[0]);
	close(bc->fds[1]);
}

static void test_blocked_call_releases_p(void **state)
{
	struct block_ctx bc;

	(void)state;
	for (int i = 0; i < 3; i++) {
		memset(&bc, 0, sizeof(bc));
		RUN_IN_RUNTIME(1, block_main, &bc);
	}
	memset(&bc, 0, sizeof(bc));
	RUN_IN_RUNTIME(2, block_main, &bc);
}

/* --------------------------------------------------------------------- */
/* Calls nobody annotated                                                */
/* --------------------------------------------------------------------- */

static void plain_blocker(void *arg)
{
	struct block_ctx *bc = arg;
	char c;

	/* No rg_syscall_enter: the P is retaken behind the program's back. */
	GCHECK_EQ(read(bc->fds[0], &c, 1), 1);
	atomic_store(&bc->done, 1);
	/* Runtime calls after the read take a P back first. */
	for (int i = 0; i < 10; i++)
		rg_yield();
	rg_wg_done(&bc->wg);
}

static void plain_block_main(void *arg)
{
	struct block_ctx *bc = arg;

	GCHECK_EQ(pipe2(bc->fds, O_CLOEXEC), 0);
	rg_wg_add(&bc->wg, 2);
	GCHECK_EQ(rg_go(worker, bc), 0);
	GCHECK_EQ(rg_go(plain_blocker, bc), 0);
	rg_wg_wait(&bc->wg);
	GCHECK_EQ(atomic_load(&bc->progress), 100);
	GCHECK_EQ(atomic_load(&bc->done), 1);
	close(bc->fds[0]);
	close(bc->fds[1]);
}

/* The blocked goroutine returns right after its call: goexit takes the P. */
static void plain_exit_blocker(void *arg)
{
	struct block_ctx *bc = arg;
	char c;

	GCHECK_EQ(read(bc->fds[0], &c, 1), 1);
	atomic_store(&bc->done, 1);
}

static void plain_exit_main(void *arg)
{
	struct block_ctx *bc = arg;

	GCHECK_EQ(pipe2(bc->fds, O_CLOEXEC), 0);
	GCHECK_EQ(rg_go(plain_exit_blocker, bc), 0);
	rg_sleep_ns(2 * MS); /* the blocker runs and blocks; we need the P back */
	GCHECK_EQ(atomic_load(&bc->done), 0);
	GCHECK_EQ(write(bc->fds[1], "x", 1), 1);
	while (!atomic_load(&bc->done))
		rg_sleep_ns(MS / 10);
	close(bc->fds[0]);
	close(bc->fds[1]);
}

static void test_unannotated_read(void **state)
{
	struct block_ctx bc;

	(void)state;
	if (RG_TEST_TSAN)
		skip(); /* no SIGURG under TSan: the net is off */
	for (int i = 0; i < 3; i++) {
		memset(&bc, 0, sizeof(bc));
		RUN_IN_RUNTIME(1, plain_block_main, &bc);
		memset(&bc, 0, sizeof(bc));
		RUN_IN_RUNTIME(1, plain_exit_main, &bc);
	}
	memset(&bc, 0, sizeof(bc));
	RUN_IN_RUNTIME(2, plain_block_main, &bc);
}

struct futex_ctx {
	pthread_mutex_t mu;
	atomic_int held;    /* the plain thread holds mu */
	atomic_int release; /* the holder unlocks when set */
	atomic_int locked;  /* the goroutine got the mutex */
	atomic_int progress;
	rg_wg wg;
};

static void *holder_thread(void *arg)
{
	struct futex_ctx *fc = arg;

	pthread_mutex_lock(&fc->mu);
	atomic_store(&fc->held, 1);
	while (!atomic_load(&fc->release))
		usleep(200);
	pthread_mutex_unlock(&fc->mu);
	return NULL;
}

static void futex_blocker(void *arg)
{
	struct futex_ctx *fc = arg;

	GCHECK_EQ(pthread_mutex_lock(&fc->mu), 0); /* a futex wait */
	atomic_store(&fc->locked, 1);
	pthread_mutex_unlock(&fc->mu);
	rg_wg_done(&fc->wg);
}

static void futex_worker(void *arg)
{
	struct futex_ctx *fc = arg;

	for (int i = 0; i < 50; i++) {
		atomic_fetch_add(&fc->progress, 1);
		rg_yield();
	}
	GCHECK_EQ(atomic_load(&fc->locked), 0);
	atomic_store(&fc->release, 1);
	rg_wg_done(&fc->wg);
}

static void futex_main(void *arg)
{
	struct futex_ctx *fc = arg;

	rg_wg_add(&fc->wg, 2);
	GCHECK_EQ(rg_go(futex_worker, fc), 0);
	GCHECK_EQ(rg_go(futex_blocker, fc), 0);
	rg_wg_wait(&fc->wg);
	GCHECK_EQ(atomic_load(&fc->locked), 1);
	GCHECK_EQ(atomic_load(&fc->progress), 50);
}

static void test_unannotated_futex(void **state)
{
	struct futex_ctx fc;
	pthread_t t;

	(void)state;
	if (RG_TEST_TSAN)
		skip();
	memset(&fc, 0, sizeof(fc));
	pthread_mutex_init(&fc.mu, NULL);
	assert_int_equal(pthread_create(&t, NULL, holder_thread, &fc), 0);
	while (!atomic_load(&fc.held))
		usleep(100);
	RUN_IN_RUNTIME(1, futex_main, &fc);
	pthread_join(t, NULL);
	pthread_mutex_destroy(&fc.mu);
}

struct sleep_ctx {
	int rc, err;
	atomic_int progress;
	rg_wg wg;
};

static void sleeper(void *arg)
{
	struct sleep_ctx *sc = arg;
	struct timespec ts = { 0, 5 * MS };

	sc->rc = nanosleep(&ts, NULL);
	sc->err = sc->rc ? errno : 0;
	rg_wg_done(&sc->wg);
}

static void sleep_worker(void *arg)
{
	struct sleep_ctx *sc = arg;

	atomic_fetch_add(&sc->progress, 1);
	rg_wg_done(&sc->wg);
}

static void sleep_main(void *arg)
{
	struct sleep_ctx *sc = arg;

	rg_wg_add(&sc->wg, 2);
	GCHECK_EQ(rg_go(sleep_worker, sc), 0);
	GCHECK_EQ(rg_go(sleeper, sc), 0);
	rg_wg_wait(&sc->wg);
}

static void test_timed_sleep_not_interrupted(void **state)
{
	struct sleep_ctx sc;

	(void)state;
	for (int i = 0; i < 5; i++) {
		memset(&sc, 0, sizeof(sc));
		RUN_IN_RUNTIME(1, sleep_main, &sc);
		assert_int_equal(sc.rc, 0);
		assert_int_equal(sc.err, 0);
	}
}

/* --------------------------------------------------------------------- */
/* The fast path                                                         */
/* --------------------------------------------------------------------- */

static int64_t short_call(void *arg)
{
	(void)arg;
	return (int64_t)getppid();
}

static void fast_main(void *arg)
{
	int before = thread_count(), n = TEST_SCALE(200000, 20000);

	(void)arg;
	for (int i = 0; i < n; i++) {
		if (rg_blocking(short_call, NULL) != (int64_t)getppid()) {
			gcheck_fail("rg_blocking returned something else at %d", i);
			break;
		}
	}
	for (int i = 0; i < 1000; i++) {
		rg_syscall_enter();
		rg_syscall_exit();
	}
	/* Short calls never hand the P to a new thread: at most one more
	 * or two (Ms sysmon started during rare long calls). */
	GCHECK(thread_count() <= before + 2);
	GCHECK_EQ(rg_blocking(NULL, NULL), -EINVAL);
}

static void test_fast_path(void **state)
{
	(void)state;
	RUN_FOR_PROCS(fast_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* Stop-the-world while a goroutine is in a system call                  */
/* --------------------------------------------------------------------- */

static void stw_main(void *arg)
{
	struct block_ctx *bc = arg;

	GCHECK_EQ(pipe2(bc->fds, O_CLOEXEC), 0);
	rg_wg_add(&bc->wg, 1);
	GCHECK_EQ(rg_go(blocker, bc), 0);
	rg_sleep_ns(20 * MS); /* the blocker is in its read */
	GCHECK_EQ(rg_gomaxprocs(1), 2);
	GCHECK_EQ(rg_gomaxprocs(3), 1);
	GCHECK_EQ(atomic_load(&bc->done), 0);
	GCHECK_EQ(write(bc->fds[1], "x", 1), 1);
	rg_wg_wait(&bc->wg);
	GCHECK_EQ(atomic_load(&bc->done), 1);
	GCHECK_EQ(rg_gomaxprocs(2), 3);
	close(bc->fds[0]);
	close(bc->fds[1]);
}

static void test_stop_the_world_during_call(void **state)
{
	struct block_ctx bc;

	(void)state;
	memset(&bc, 0, sizeof(bc));
	RUN_IN_RUNTIME(2, stw_main, &bc);
}

/* --------------------------------------------------------------------- */
/* The runtime's own sleeps in the C library are never retaken           */
/* --------------------------------------------------------------------- */

/*
 * The Makefile links this test with -Wl,--wrap=pthread_setname_np, which
 * the runtime calls as it creates an M (ki_thread_create).  Armed, the
 * wrapper sleeps in a futex wait without a timeout, a call the safety net
 * retakes from the program, until a plain thread wakes it 100 ms later:
 * what happens when glibc's thread creation waits for its stack-cache
 * lock.  The goroutine that started the M still holds its P, and work
 * waits behind it; yet the sleep is the runtime's, and if the P were
 * taken there, the runtime would go on using a P it no longer holds.
 */
int __real_pthread_setname_np(pthread_t thr, const char *name);

static struct {
	atomic_int armed, asleep;
	_Atomic uint32_t wake;
} setname;

int __wrap_pthread_setname_np(pthread_t thr, const char *name)
{
	if (atomic_exchange(&setname.armed, 0)) {
		atomic_store(&setname.asleep, 1);
		while (!atomic_load(&setname.wake))
			syscall(SYS_futex, &setname.wake, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	}
	return __real_pthread_setname_np(thr, name);
}

static void *setname_waker(void *arg)
{
	(void)arg;
	while (!atomic_load(&setname.asleep))
		usleep(1000);
	usleep(100 * 1000);
	atomic_store(&setname.wake, 1);
	syscall(SYS_futex, &setname.wake, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	return NULL;
}

static void setname_worker(void *arg)
{
	atomic_fetch_add((atomic_int *)arg, 1);
}

static void setname_main(void *arg)
{
	struct rg_metrics m = RG_METRICS_INIT;
	atomic_int ran = 0;

	(void)arg;
	atomic_store(&setname.armed, 1);
	/* The first goroutine wakes an idle P, for which a new M is made:
	 * the wrapper sleeps in it with this goroutine current, and this
	 * goroutine's runnext (the new goroutine) waiting. */
	for (int i = 0; i < 4; i++)
		GCHECK_EQ(rg_go(setname_worker, &ran), 0);
	GCHECK_EQ(atomic_load(&setname.asleep), 1);
	while (atomic_load(&ran) < 4)
		rg_yield();
	GCHECK_EQ(rg_metrics(&m), 0);
	GCHECK_EQ(m.syscalls, 0);
	GCHECK_EQ(m.retakes, 0);
}

static void test_runtime_sleep_not_retaken(void **state)
{
	pthread_t t;

	(void)state;
	if (RG_TEST_TSAN)
		skip(); /* no retakes under TSan */
	memset(&setname, 0, sizeof(setname));
	assert_int_equal(pthread_create(&t, NULL, setname_waker, NULL), 0);
	RUN_IN_RUNTIME(2, setname_main, NULL);
	pthread_join(t, NULL);
}

/* --------------------------------------------------------------------- */
/* Plain threads; misuse                                                 */
/* --------------------------------------------------------------------- */

static void test_plain_thread(void **state)
{
	(void)state;
	rg_syscall_enter();
	rg_syscall_exit();
	assert_int_equal(rg_blocking(short_call, NULL), (int64_t)getppid());
	assert_int_equal(rg_blocking(NULL, NULL), -EINVAL);
}

static void nested_main(void *arg)
{
	(void)arg;
	rg_syscall_enter();
	rg_syscall_enter();
}

static void exit_only_main(void *arg)
{
	(void)arg;
	rg_syscall_exit();
}

static void park_inside_main(void *arg)
{
	(void)arg;
	rg_syscall_enter();
	rg_sleep_ns(MS);
}

static int child_nested(void)
{
	return rg_main(NULL, nested_main, NULL);
}

static int child_exit_only(void)
{
	return rg_main(NULL, exit_only_main, NULL);
}

static int child_park_inside(void)
{
	return rg_main(NULL, park_inside_main, NULL);
}

/* Goroutines that block in reads of a pipe nobody writes, more of them
 * than the thread limit allows. */
static int blocked_pipe[2];

static int64_t read_forever(void *arg)
{
	char c;

	(void)arg;
	return read(blocked_pipe[0], &c, 1);
}

static void block_forever_g(void *arg)
{
	(void)arg;
	rg_blocking(read_forever, NULL);
}

static void exhaust_main(void *arg)
{
	(void)arg;
	if (pipe2(blocked_pipe, O_CLOEXEC))
		return;
	for (int i = 0; i < 8; i++)
		rg_go(block_forever_g, NULL);
	for (;;)
		rg_sleep_ns(MS);
}

static int child_thread_limit_cfg(void)
{
	rg_config cfg = { .maxprocs = 1, .max_threads = 4 };

	return rg_main(&cfg, exhaust_main, NULL);
}

static int child_thread_limit_env(void)
{
	rg_config cfg = { .maxprocs = 1 };

	return rg_main(&cfg, exhaust_main, NULL);
}

static const struct child_case child_cases[] = {
	{ "thread_limit_cfg", child_thread_limit_cfg },
	{ "thread_limit_env", child_thread_limit_env },
	{ "nested", child_nested },
	{ "exit_only", child_exit_only },
	{ "park_inside", child_park_inside },
};

static void test_misuse_is_fatal(void **state)
{
	(void)state;
	expect_fatal("nested", "fatal error: rg_syscall_enter", "goroutine 1", NULL);
	expect_fatal("exit_only", "fatal error: rg_syscall_exit", "goroutine 1", NULL);
	expect_fatal("park_inside", "fatal error:", "rg_syscall_enter", NULL);
}

static void test_thread_limit(void **state)
{
	static const char *const env[] = { "RINGO_DEBUG=maxthreads=3", NULL };
	rg_config bad = { .max_threads = 1 };
	struct child_result r;

	(void)state;
	expect_fatal("thread_limit_cfg", "fatal error: thread exhaustion", "more than 4 threads",
		     NULL);
	run_child_case("thread_limit_env", env, &r);
	assert_child_exit("thread_limit_env", &r, 2);
	assert_child_stderr_has("thread_limit_env", &r, "more than 3 threads");
	child_result_free(&r);
	assert_int_equal(rg_main(&bad, nested_main, NULL), -EINVAL);
	bad.max_threads = -1;
	assert_int_equal(rg_main(&bad, nested_main, NULL), -EINVAL);
}

int main(int argc, char **argv)
{
	int rc = child_dispatch(argc, argv, child_cases, ARRAY_SIZE(child_cases));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blocked_call_releases_p),
		cmocka_unit_test(test_unannotated_read),
		cmocka_unit_test(test_unannotated_futex),
		cmocka_unit_test(test_timed_sleep_not_interrupted),
		cmocka_unit_test(test_fast_path),
		cmocka_unit_test(test_stop_the_world_during_call),
		cmocka_unit_test(test_runtime_sleep_not_retaken),
		cmocka_unit_test(test_plain_thread),
		cmocka_unit_test(test_misuse_is_fatal),
		cmocka_unit_test(test_thread_limit),
	};

	if (rc >= 0)
		return rc;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
