/* SPDX-License-Identifier: MIT */
/*
 * test_dump - goroutine dumps (rg_dump, SIGQUIT, the deadlock report):
 * the argument checks; a dump of a known program names each goroutine's
 * wait reason, the test's own function that parked it, and its creator;
 * a goroutine running on another M is walked by that M's SIGURG handler
 * (named only, under TSan); goroutines parked for a second say so;
 * SIGQUIT dumps to stderr and exits 2, unless RINGO_DEBUG=sigquit=0 left
 * SIGQUIT to the program; the deadlock report shows stacks.
 */

#include <signal.h>
#include <sys/mman.h>

#include "tests/helpers.h"

#define PARKED 10

static rg_chan *never;

static void __attribute__((noinline)) parked_here(void *arg)
{
	int v;

	(void)arg;
	rg_chan_recv(never, &v);	   /* nobody sends */
	__asm__ volatile("" ::: "memory"); /* not a tail call: this frame stays */
}

static void __attribute__((noinline)) spawn_parked(void)
{
	for (int i = 0; i < PARKED; i++)
		assert_int_equal(rg_go(parked_here, NULL), 0);
	__asm__ volatile("" ::: "memory");
}

static void wait_parked(void)
{
	for (;;) {
		struct rg_metrics m = RG_METRICS_INIT;

		if (rg_metrics(&m) == 0 && m.goroutines_waiting >= PARKED)
			return;
		rg_sleep_ns(1000 * 1000);
	}
}

static void test_no_runtime(void **state)
{
	(void)state;
	assert_int_equal(rg_dump(2), -ESRCH);
	assert_int_equal(rg_dump(-1), -EBADF);
}

static int count(const char *s, const char *needle)
{
	int n = 0;

	for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

static void dump_main(void *arg)
{
	static char text[1 << 20];
	int fd = memfd_create("dump", MFD_CLOEXEC);
	ssize_t n;

	(void)arg;
	assert_true(fd >= 0);
	never = rg_chan_make(sizeof(int), 0);
	spawn_parked();
	wait_parked();
	assert_int_equal(rg_dump(fd), 0);
	n = pread(fd, text, sizeof(text) - 1, 0);
	assert_true(n > 0);
	text[n] = '\0';
	close(fd);
	/* The dumping goroutine first, running, with its own frame. */
	assert_int_equal(strncmp(text, "goroutine 1 [running]:\n", 23), 0);
	assert_has(text, "dump_main");
	assert_true(count(text, "[chan receive") >= PARKED);
	assert_true(count(text, "parked_here") >= PARKED);
	assert_true(count(text, "created by spawn_parked") >= PARKED);
	rg_chan_close(never); /* the parked goroutines end */
	while (rg_num_goroutine() > 1)
		rg_sleep_ns(1000 * 1000);
	rg_chan_free(never);
}

static void test_rg_dump(void **state)
{
	(void)state;
	RUN_FOR_PROCS(dump_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* A goroutine running on another M; how long goroutines have waited     */
/* --------------------------------------------------------------------- */

static atomic_int spinning, spin_stop;
static _Atomic uint64_t spin_goid;

static void __attribute__((noinline)) spin_here(void)
{
	atomic_store(&spin_goid, rg_goid());
	atomic_store(&spinning, 1);
	while (!atomic_load(&spin_stop))
		__asm__ volatile("pause" ::: "memory");
}

static void spinner(void *arg)
{
	(void)arg;
	spin_here();
	__asm__ volatile("" ::: "memory");
}

/* The block of text that dumps goroutine goid ("" if none), in buf. */
static const char *block_of(const char *text, const char *head, char *buf, size_t size)
{
	const char *b = strstr(text, head), *e;
	size_t n;

	if (!b)
		return "";
	e = strstr(b, "\n\n");
	n = e ? (size_t)(e - b) : strlen(b);
	if (n >= size)
		n = size - 1;
	memcpy(buf, b, n);
	buf[n] = '\0';
	return buf;
}

static void running_main(void *arg)
{
	static char text[1 << 20];
	char head[64], block[4096];
	uint64_t spin_id;
	bool walked = false;

	(void)arg;
	never = rg_chan_make(sizeof(int), 0);
	atomic_store(&spinning, 0);
	atomic_store(&spin_stop, 0);
	GCHECK_EQ(rg_go(spinner, NULL), 0);
	spawn_parked();
	wait_parked();
	while (!atomic_load(&spinning))
		rg_sleep_ns(1000 * 1000);
	spin_id = atomic_load(&spin_goid);
	rg_sleep_ns(1200LL * 1000 * 1000); /* the parked ones wait a second */
	/* The spinner runs on the other P; SIGURG preemption may have just
	 * queued it, so a few dumps, until one finds it running. */
	for (int round = 0; round < 20 && !walked; round++) {
		int fd = memfd_create("dump", MFD_CLOEXEC);
		ssize_t n;

		GCHECK(fd >= 0);
		GCHECK_EQ(rg_dump(fd), 0);
		n = pread(fd, text, sizeof(text) - 1, 0);
		close(fd);
		GCHECK(n > 0);
		text[n > 0 ? n : 0] = '\0';
		GCHECK(count(text, "[chan receive, 1 seconds]:\n") >= PARKED);
		snprintf(head, sizeof(head), "goroutine %llu [running]:\n",
			 (unsigned long long)spin_id);
		block_of(text, head, block, sizeof(block));
		if (!block[0])
			continue;
		if (RG_TEST_TSAN) { /* no walk: the signal comes late there */
			GCHECK(strstr(block, "its stack could not be taken") != NULL);
			walked = true;
		} else if (strstr(block, "spin_here"))
			walked = strstr(block, "created by running_main") != NULL;
	}
	GCHECK(walked);
	atomic_store(&spin_stop, 1);
	rg_chan_close(never);
	while (rg_num_goroutine() > 1)
		rg_sleep_ns(1000 * 1000);
	rg_chan_free(never);
}

static void test_running_and_waited(void **state)
{
	(void)state;
	RUN_IN_RUNTIME(2, running_main, NULL);
}

/* --------------------------------------------------------------------- */
/* SIGQUIT and the deadlock report, in children                          */
/* --------------------------------------------------------------------- */

static void quit_main(void *arg)
{
	(void)arg;
	never = rg_chan_make(sizeof(int), 0);
	spawn_parked();
	wait_parked();
	signal_runtime(getpid(), SIGQUIT);
	rg_sleep_ns(10LL * 1000 * 1000 * 1000); /* sysmon ends the process */
}

static int child_quit(void)
{
	return run_child_main(2, quit_main);
}

static void own_quit(int sig)
{
	(void)sig;
	_exit(7);
}

static int child_quit_own(void)
{
	signal(SIGQUIT, own_quit);
	return run_child_main(2, quit_main);
}

static void deadlock_main(void *arg)
{
	(void)arg;
	never = rg_chan_make(sizeof(int), 0);
	spawn_parked();
	wait_parked();
	parked_here(NULL); /* goroutine 1 waits too: a deadlock */
	__asm__ volatile("" ::: "memory");
}

static int child_deadlock(void)
{
	return run_child_main(2, deadlock_main);
}

static const struct child_case child_cases[] = {
	{ "quit", child_quit },
	{ "quit_own", child_quit_own },
	{ "deadlock", child_deadlock },
};

static void test_sigquit(void **state)
{
	struct child_result r;

	(void)state;
	assert_int_equal(child_run("quit", NULL, &r), 0);
	assert_true(r.exited && r.exit_code == 2);
	assert_has(r.err, "SIGQUIT: quit\n");
	assert_true(count(r.err, "[chan receive") >= PARKED);
	assert_has(r.err, "parked_here");
	assert_has(r.err, "created by spawn_parked");
	child_result_free(&r);
}

static void test_sigquit_left_to_program(void **state)
{
	struct child_result r;

	(void)state;
	assert_int_equal(child_run("quit_own",
				   (const char *const[]){ "RINGO_DEBUG=sigquit=0", NULL }, &r),
			 0);
	assert_true(r.exited && r.exit_code == 7);
	assert_lacks(r.err, "SIGQUIT: quit");
	child_result_free(&r);
}

static void test_deadlock_report_stacks(void **state)
{
	struct child_result r;

	(void)state;
	assert_int_equal(child_run("deadlock", NULL, &r), 0);
	assert_true(r.exited && r.exit_code == 2);
	assert_has(r.err, "fatal error: all goroutines are asleep - deadlock!");
	assert_true(count(r.err, "parked_here") >= PARKED + 1);
	assert_has(r.err, "deadlock_main");
	child_result_free(&r);
}

int main(int argc, char **argv)
{
	int rc = child_dispatch(argc, argv, child_cases, ARRAY_SIZE(child_cases));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_runtime),
		cmocka_unit_test(test_rg_dump),
		cmocka_unit_test(test_running_and_waited),
		cmocka_unit_test(test_sigquit),
		cmocka_unit_test(test_sigquit_left_to_program),
		cmocka_unit_test(test_deadlock_report_stacks),
	};

	if (rc >= 0)
		return rc;
	test_watchdog(120);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
