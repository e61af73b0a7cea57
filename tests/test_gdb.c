/* SPDX-License-Identifier: MIT */
/*
 * test_gdb - scripts/ringo-gdb.py on a live process: a child with
 * PARKED goroutines parked on a channel and one asleep, attached by
 * `gdb -batch`.  `info goroutines` must list them with their wait
 * reasons, and `goroutine N bt` must show the frame of the test's own
 * function that parked; once with the script that the library carries
 * in .debug_gdb_scripts (auto-loaded), once sourced by hand.
 *
 * Exit status 77 (skipped) when gdb is missing or cannot attach
 * (ptrace refused).
 */
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include "tests/helpers.h"

#define PARKED (RG_TEST_SANITIZED ? 100 : 1000)

/* --------------------------------------------------------------------- */
/* The child                                                             */
/* --------------------------------------------------------------------- */

static rg_chan *never;
static _Atomic uint64_t sleeper_goid;

static void parked_on_chan(void *arg)
{
	int v;

	(void)arg;
	rg_chan_recv(never, &v); /* nobody sends */
}

static void asleep(void *arg)
{
	(void)arg;
	atomic_store(&sleeper_goid, rg_goid());
	rg_sleep_ns(3600LL * 1000 * 1000 * 1000);
}

static void parked_main(void *arg)
{
	int i;

	(void)arg;
	never = rg_chan_make(sizeof(int), 0);
	for (i = 0; i < PARKED; i++)
		rg_go(parked_on_chan, NULL);
	rg_go(asleep, NULL);
	/* Until every one of them has parked (slow under sanitizers). */
	for (;;) {
		struct rg_metrics m = RG_METRICS_INIT;

		if (rg_metrics(&m) == 0 && m.goroutines_waiting >= PARKED + 1 &&
		    atomic_load(&sleeper_goid))
			break;
		rg_sleep_ns(1000 * 1000);
	}
	printf("READY %llu\n", (unsigned long long)atomic_load(&sleeper_goid));
	fflush(stdout);
	rg_sleep_ns(3600LL * 1000 * 1000 * 1000); /* the parent kills us */
}

static int child_parked(void)
{
	return run_child_main(2, parked_main);
}

static const struct child_case child_cases[] = {
	{ "parked", child_parked },
};

/* --------------------------------------------------------------------- */
/* The parent                                                            */
/* --------------------------------------------------------------------- */

static char out[1 << 20];

/* Start the child; its pid, and the sleeper's goid in *sleeper. */
static pid_t start_child(unsigned long long *sleeper)
{
	char exe[4096], line[128];
	char *argv[] = { exe, (char *)CHILD_FLAG, "parked", NULL };
	posix_spawn_file_actions_t fa;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	size_t len = 0;
	int pipefd[2];
	pid_t pid;

	assert_true(n > 0);
	exe[n] = '\0';
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	assert_int_equal(posix_spawn(&pid, exe, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	while (len < sizeof(line) - 1 && !memchr(line, '\n', len)) {
		n = read(pipefd[0], line + len, sizeof(line) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(pipefd[0]);
	line[len] = '\0';
	if (strncmp(line, "READY ", 6) != 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		fail_msg("the child did not get ready: '%s'", line);
	}
	*sleeper = strtoull(line + 6, NULL, 10);
	return pid;
}

static int count(const char *s, const char *needle)
{
	int n = 0;

	for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

static void attach(bool source)
{
	char pidarg[32], bt[64];
	unsigned long long sleeper;
	pid_t pid = start_child(&sleeper);
	char *argv[] = { "gdb",
			 "-batch",
			 "-nx",
			 "-iex",
			 source ? "set auto-load python-scripts off" : "set auto-load safe-path /",
			 "-ex",
			 source ? "source scripts/ringo-gdb.py" : "echo",
			 "-p",
			 pidarg,
			 "-ex",
			 "info goroutines",
			 "-ex",
			 bt,
			 NULL };
	int rc;

	snprintf(pidarg, sizeof(pidarg), "%d", (int)pid);
	snprintf(bt, sizeof(bt), "goroutine %llu bt", sleeper);
	rc = tool_run(argv, -1, out, sizeof(out), 120);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	if (strstr(out, "ptrace: Operation not permitted")) {
		print_message("gdb cannot attach (ptrace refused); skipped\n");
		skip();
	}
	if (rc != 0 || !strstr(out, " goroutines\n"))
		fail_msg("gdb failed (%d):\n%s", rc, out);
	/* Every parked goroutine, the sleeper and the main goroutine. */
	assert_true(count(out, "waiting: chan receive") >= PARKED);
	assert_true(count(out, "waiting: sleep") >= 2);
	assert_has(out, "parked_on_chan");
	/* goroutine N bt: the sleeper's own frame, under rg_sleep_ns. */
	assert_has(out, "rg_sleep_ns");
	assert_has(out, "asleep");
}

static void test_info_goroutines_autoload(void **state)
{
	(void)state;
	attach(false);
}

static void test_info_goroutines_sourced(void **state)
{
	(void)state;
	attach(true);
}

int main(int argc, char **argv)
{
	int rc = child_dispatch(argc, argv, child_cases, ARRAY_SIZE(child_cases));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_info_goroutines_autoload),
		cmocka_unit_test(test_info_goroutines_sourced),
	};
	char *version[] = { "gdb", "--version", NULL };

	if (rc >= 0)
		return rc;
	if (tool_run(version, -1, out, sizeof(out), 30) != 0) {
		fprintf(stderr, "gdb is not installed\n");
		return 77;
	}
	test_watchdog(300);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
