/* SPDX-License-Identifier: MIT */
/*
 * test_io_backend - the netpoller backend (rg_netpoll_backend,
 * RINGO_NETPOLL): it is io_uring where the kernel allows it, without a
 * word; RINGO_NETPOLL forces one, and a bad value is reported; the
 * io_uring rings without COOP_TASKRUN still serve; in a child process
 * whose seccomp filter refuses io_uring (as containers do) the runtime
 * falls back to epoll with one notice, or fails to start when io_uring is
 * forced.
 */
#include <linux/io_uring.h>
#include <sys/syscall.h>

#include "tests/io_helpers.h"

/* --------------------------------------------------------------------- */
/* The backend                                                           */
/* --------------------------------------------------------------------- */

static void backend_check(void)
{
	const char *be = rg_netpoll_backend(), *forced = forced_backend();

	if (!be) {
		gcheck_fail("rg_netpoll_backend() is NULL in a running runtime");
		return;
	}
	GCHECK(strcmp(be, "io_uring") == 0 || strcmp(be, "epoll") == 0);
	if (forced && strcmp(be, forced) != 0)
		gcheck_fail("RINGO_NETPOLL=%s, but the backend is %s", forced, be);
}

static void *backend_thread(void *arg)
{
	(void)arg;
	backend_check();
	return NULL;
}

static void backend_main(void *arg)
{
	pthread_t th;

	(void)arg;
	backend_check();
	if (pthread_create(&th, NULL, backend_thread, NULL) == 0)
		pthread_join(th, NULL);
}

static void test_backend(void **state)
{
	(void)state;
	assert_null(rg_netpoll_backend());
	RUN_FOR_PROCS(backend_main, NULL, 1, 2);
	assert_null(rg_netpoll_backend());
}

/* Can this process set up an io_uring at all? */
static bool io_uring_available(void)
{
	struct io_uring_params p;
	long fd;

	memset(&p, 0, sizeof(p));
	fd = syscall(__NR_io_uring_setup, 4, &p);
	if (fd < 0)
		return false;
	close((int)fd);
	return true;
}

/* A seccomp filter under which the io_uring calls fail with EPERM, as
 * Docker's default profile has them. */
static int deny_io_uring(void)
{
	int r = SECCOMP_DENY(EPERM, __NR_io_uring_setup, __NR_io_uring_enter,
			     __NR_io_uring_register);

	if (r < 0)
		return r;
	if (io_uring_available()) {
		fprintf(stderr, "TEST-SECCOMP-INEFFECTIVE\n");
		return -EINVAL;
	}
	return 0;
}

/* Report the backend and do an echo round trip; the child's status. */
static void child_echo_main(void *arg)
{
	const char *be = rg_netpoll_backend();

	(void)arg;
	fprintf(stderr, "TEST-BACKEND %s\n", be ? be : "(null)");
	fprintf(stderr, "TEST-RAN\n");
	echo_run(8, 4);
}

static int child_echo(void)
{
	rg_config cfg = { .maxprocs = 2 };
	int r;

	gcheck_reset();
	r = rg_main(&cfg, child_echo_main, NULL);
	if (r != 0) {
		fprintf(stderr, "TEST-RG-MAIN %d\n", r);
		return 3;
	}
	return child_checks_status(0);
}

static int child_seccomp_echo(void)
{
	int r = deny_io_uring();

	if (r < 0) {
		fprintf(stderr, "TEST-SECCOMP-FAILED %d\n", r);
		return 4;
	}
	return child_echo();
}

/* Lines of the child's stderr that contain @needle, not counting ours. */
static int count_lines_with(const struct child_result *r, const char *needle)
{
	int n = 0;

	for (const char *line = r->err; line && *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char *copy = strndup(line, len);

		if (copy && strncmp(copy, "TEST-", 5) != 0 && strstr(copy, needle))
			n++;
		free(copy);
		line = end ? end + 1 : line + len;
	}
	return n;
}

static void expect_backend(const char *name, const struct child_result *r, const char *be)
{
	char want[64];

	assert_child_exit(name, r, 0);
	snprintf(want, sizeof(want), "TEST-BACKEND %s\n", be);
	assert_child_stderr_has(name, r, want);
}

static void test_backend_forced(void **state)
{
	struct child_result r;
	bool uring = io_uring_available();

	(void)state;
	run_netpoll_child("echo", "epoll", &r);
	expect_backend("echo", &r, "epoll");
	child_result_free(&r);

	run_netpoll_child("echo", "io_uring", &r);
	if (uring) {
		expect_backend("echo", &r, "io_uring");
	} else {
		if (!r.exited || r.exit_code == 0) {
			child_dump("echo", &r);
			fail_msg("RINGO_NETPOLL=io_uring without io_uring did not fail");
		}
		assert_child_stderr_has("echo", &r, "io_uring");
	}
	child_result_free(&r);

	/* The default: io_uring where it works, without a word. */
	run_netpoll_child("echo", NULL, &r);
	expect_backend("echo", &r, uring ? "io_uring" : "epoll");
	if (uring && count_lines_with(&r, "epoll") != 0) {
		child_dump("echo", &r);
		fail_msg("a notice about epoll although io_uring works");
	}
	child_result_free(&r);
}

/* The io_uring rings without COOP_TASKRUN (eventfd wake-ups, completions
 * that interrupt their submitter) still serve: the kernel's other mode. */
static void test_iouring_coop_off(void **state)
{
	struct child_result r;

	(void)state;
	if (!io_uring_available())
		skip();
	run_netpoll_child_env("echo", "io_uring", "RINGO_DEBUG=iouringcoop=0", &r);
	expect_backend("echo", &r, "io_uring");
	child_result_free(&r);
}

static void test_backend_bad_value(void **state)
{
	struct child_result r;

	(void)state;
	run_netpoll_child("echo", "bogus", &r);
	/* Reported, then either ignored or fatal at start-up; never a crash. */
	if (r.timed_out || !r.exited ||
	    (r.exit_code != 0 && r.exit_code != 2 && r.exit_code != 3)) {
		child_dump("echo", &r);
		fail_msg("RINGO_NETPOLL=bogus: the child did not end cleanly");
	}
	assert_child_stderr_has("echo", &r, "RINGO_NETPOLL");
	assert_child_stderr_has("echo", &r, "bogus");
	child_result_free(&r);
}

static void test_seccomp_fallback(void **state)
{
	struct child_result r;
	int n;

	(void)state;
	run_netpoll_child("seccomp_echo", NULL, &r);
	expect_backend("seccomp_echo", &r, "epoll");
	n = count_lines_with(&r, "epoll");
	if (n != 1) {
		child_dump("seccomp_echo", &r);
		fail_msg("%d notices about falling back to epoll, expected exactly 1", n);
	}
	child_result_free(&r);

	/* Forced epoll under the filter: no notice needed, no failure. */
	run_netpoll_child("seccomp_echo", "epoll", &r);
	expect_backend("seccomp_echo", &r, "epoll");
	child_result_free(&r);

	/* Forced io_uring under the filter: a start-up failure naming it. */
	run_netpoll_child("seccomp_echo", "io_uring", &r);
	if (r.timed_out || !r.exited || r.exit_code == 0 || r.exit_code == 4) {
		child_dump("seccomp_echo", &r);
		fail_msg("RINGO_NETPOLL=io_uring with io_uring refused did not fail at start-up");
	}
	assert_child_stderr_lacks("seccomp_echo", &r, "TEST-RAN");
	if (count_lines_with(&r, "io_uring") == 0) {
		child_dump("seccomp_echo", &r);
		fail_msg("the start-up failure does not name io_uring");
	}
	child_result_free(&r);
}

int main(int argc, char **argv)
{
	static const struct child_case cases[] = {
		{ "echo", child_echo },
		{ "seccomp_echo", child_seccomp_echo },
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backend),		 cmocka_unit_test(test_backend_forced),
		cmocka_unit_test(test_iouring_coop_off), cmocka_unit_test(test_backend_bad_value),
		cmocka_unit_test(test_seccomp_fallback),
	};
	int rc = child_dispatch(argc, argv, cases, ARRAY_SIZE(cases));

	if (rc >= 0)
		return rc;
	io_raise_fd_limit();
	test_watchdog(120);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
