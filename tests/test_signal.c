/* SPDX-License-Identifier: MIT */
/*
 * test_signal - rg_signal_notify and rg_signal_stop:
 *
 *  - a signal sent to the process arrives on the channel that asked for
 *    it, as its number; two channels asking for one signal both get it;
 *    a later call adds to a channel's set;
 *  - a full channel misses a delivery and nothing blocks;
 *  - after rg_signal_stop nothing more arrives on the channel, and the
 *    handler the program had before is called again;
 *  - SIGQUIT asked for arrives on the channel instead of the dump;
 *  - a program whose only goroutine waits for a signal is no deadlock
 *    (SIGALRM from alarm(), no other thread: the signal ends the wait);
 *  - misuse: the runtime's and the uncatchable signals, faults, an empty
 *    set, a channel of the wrong size, NULL, no runtime.
 */
#include <signal.h>

#include "tests/helpers.h"

#define MS 1000000LL

/* The next signal on c within 5 s (sanitizers: more), or -1. */
static int recv_signal(rg_chan *c)
{
	int sig = -1;
	rg_case rc = { .chan = c, .op = RG_RECV, .elem = &sig };

	if (rg_select(&rc, 1, (RG_TEST_SANITIZED ? 50000 : 5000) * MS) != 0)
		return -1;
	return sig;
}

/* Whether c stays empty for a while. */
static bool stays_empty(rg_chan *c)
{
	int sig;
	rg_case rc = { .chan = c, .op = RG_RECV, .elem = &sig };

	return rg_select(&rc, 1, 50 * MS) == -ETIMEDOUT;
}

static atomic_int old_handler_calls;

static void old_handler(int sig)
{
	(void)sig;
	atomic_fetch_add(&old_handler_calls, 1);
}

static void notify_main(void *arg)
{
	rg_chan *a = rg_chan_make(sizeof(int), 4), *b = rg_chan_make(sizeof(int), 4);
	rg_chan *full = rg_chan_make(sizeof(int), 1);
	sigset_t s1, s2;
	int zero = 0;

	(void)arg;
	sigemptyset(&s1);
	sigaddset(&s1, SIGUSR1);
	sigemptyset(&s2);
	sigaddset(&s2, SIGUSR2);
	/* One channel, one signal. */
	GCHECK_EQ(rg_signal_notify(a, &s1), 0);
	GCHECK_EQ(signal_runtime(getpid(), SIGUSR1), 0);
	GCHECK_EQ(recv_signal(a), SIGUSR1);
	/* A second signal for the same channel adds to its set; a second
	 * channel for SIGUSR2 gets it too. */
	GCHECK_EQ(rg_signal_notify(a, &s2), 0);
	GCHECK_EQ(rg_signal_notify(b, &s2), 0);
	GCHECK_EQ(signal_runtime(getpid(), SIGUSR2), 0);
	GCHECK_EQ(recv_signal(a), SIGUSR2);
	GCHECK_EQ(recv_signal(b), SIGUSR2);
	GCHECK_EQ(signal_runtime(getpid(), SIGUSR1), 0);
	GCHECK_EQ(recv_signal(a), SIGUSR1);
	GCHECK(stays_empty(b));
	/* A full channel misses it; the others still get it. */
	GCHECK_EQ(rg_chan_send(full, &zero), 0);
	GCHECK_EQ(rg_signal_notify(full, &s1), 0);
	GCHECK_EQ(signal_runtime(getpid(), SIGUSR1), 0);
	GCHECK_EQ(recv_signal(a), SIGUSR1);
	rg_sleep_ns(20 * MS); /* sysmon is past full too */
	GCHECK_EQ(recv_signal(full), 0);
	GCHECK(stays_empty(full));
	GCHECK_EQ(rg_signal_stop(full), 0);
	/* Stop: nothing more on a; SIGUSR2 still goes to b; SIGUSR1, which
	 * no channel asks for, is the old handler's again. */
	GCHECK_EQ(rg_signal_stop(a), 0);
	GCHECK_EQ(rg_signal_stop(a), -ENOENT);
	atomic_store(&old_handler_calls, 0);
	GCHECK_EQ(signal_runtime(getpid(), SIGUSR1), 0);
	GCHECK(stays_empty(a));
	GCHECK_EQ(atomic_load(&old_handler_calls), 1);
	GCHECK_EQ(signal_runtime(getpid(), SIGUSR2), 0);
	GCHECK_EQ(recv_signal(b), SIGUSR2);
	GCHECK(stays_empty(a));
	GCHECK_EQ(rg_signal_stop(b), 0);
	atomic_store(&old_handler_calls, 0);
	GCHECK_EQ(signal_runtime(getpid(), SIGUSR2), 0);
	GCHECK(stays_empty(b));
	GCHECK_EQ(atomic_load(&old_handler_calls), 1);
	rg_chan_free(a);
	rg_chan_free(b);
	rg_chan_free(full);
}

static void test_notify(void **state)
{
	struct sigaction sa = { .sa_handler = old_handler }, o1, o2;

	(void)state;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, &o1), 0);
	assert_int_equal(sigaction(SIGUSR2, &sa, &o2), 0);
	RUN_FOR_PROCS(notify_main, NULL, 1, 2);
	/* The runtime's end left the program's handler in place. */
	atomic_store(&old_handler_calls, 0);
	assert_int_equal(raise(SIGUSR1), 0);
	assert_int_equal(atomic_load(&old_handler_calls), 1);
	sigaction(SIGUSR1, &o1, NULL);
	sigaction(SIGUSR2, &o2, NULL);
}

/* --------------------------------------------------------------------- */
/* Misuse                                                                */
/* --------------------------------------------------------------------- */

static void misuse_main(void *arg)
{
	rg_chan *c = rg_chan_make(sizeof(int), 1), *wide = rg_chan_make(sizeof(long), 1);
	static const int refused[] = { SIGURG, SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGFPE, SIGILL };
	sigset_t set;

	(void)arg;
	sigemptyset(&set);
	GCHECK_EQ(rg_signal_notify(c, &set), -EINVAL);
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		sigaddset(&set, refused[i]);
		GCHECK_EQ(rg_signal_notify(c, &set), -EINVAL);
	}
	/* Refused as a whole: SIGUSR1 was not taken either. */
	GCHECK_EQ(rg_signal_stop(c), -ENOENT);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	GCHECK_EQ(rg_signal_notify(wide, &set), -EINVAL);
	GCHECK_EQ(rg_signal_notify(NULL, &set), -EINVAL);
	GCHECK_EQ(rg_signal_notify(c, NULL), -EINVAL);
	GCHECK_EQ(rg_signal_stop(NULL), -EINVAL);
	rg_chan_free(c);
	rg_chan_free(wide);
}

static void test_misuse(void **state)
{
	rg_chan *c = rg_chan_make(sizeof(int), 1);
	sigset_t set;

	(void)state;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	assert_int_equal(rg_signal_notify(c, &set), -ESRCH);
	rg_chan_free(c);
	RUN_IN_RUNTIME(1, misuse_main, NULL);
}

/* --------------------------------------------------------------------- */
/* In children: SIGQUIT taken, and no deadlock while waiting             */
/* --------------------------------------------------------------------- */

static void quit_main(void *arg)
{
	rg_chan *c = rg_chan_make(sizeof(int), 1);
	sigset_t set;

	(void)arg;
	sigemptyset(&set);
	sigaddset(&set, SIGQUIT);
	if (rg_signal_notify(c, &set) != 0)
		exit(3);
	signal_runtime(getpid(), SIGQUIT);
	if (recv_signal(c) != SIGQUIT)
		exit(4);
	/* Stopped: SIGQUIT dumps again. */
	rg_signal_stop(c);
	signal_runtime(getpid(), SIGQUIT);
	rg_sleep_ns(10000 * MS);
}

static int child_quit(void)
{
	return run_child_main(2, quit_main);
}

static void alarm_main(void *arg)
{
	rg_chan *c = rg_chan_make(sizeof(int), 1);
	sigset_t set;
	int sig = 0;

	(void)arg;
	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	if (rg_signal_notify(c, &set) != 0)
		exit(3);
	alarm(1);
	/* The only goroutine waits, and no other thread runs: only the
	 * signal can end this, and the runtime must not call it a deadlock. */
	if (rg_chan_recv(c, &sig) != 1 || sig != SIGALRM)
		exit(4);
	exit(0);
}

static int child_alarm(void)
{
	return run_child_main(1, alarm_main);
}

static const struct child_case child_cases[] = {
	{ "quit", child_quit },
	{ "alarm", child_alarm },
};

static void test_sigquit_taken(void **state)
{
	struct child_result r;

	(void)state;
	assert_int_equal(child_run("quit", NULL, &r), 0);
	assert_true(r.exited && r.exit_code == 2);
	/* One dump, from the second SIGQUIT. */
	assert_has(r.err, "SIGQUIT: quit");
	child_result_free(&r);
}

static void test_no_deadlock_while_waiting(void **state)
{
	struct child_result r;
	char why[256];

	(void)state;
	/* ThreadSanitizer runs a handler only once the thread that took the
	 * signal enters one of its interceptors; every thread here sleeps in
	 * a raw futex call, so SIGALRM's handler would wait forever. */
	if (RG_TEST_TSAN) {
		print_message("the signal would not be handled under TSan\n");
		skip();
	}
	assert_int_equal(child_run("alarm", NULL, &r), 0);
	if (!(r.exited && r.exit_code == 0))
		fail_msg("child: %s\n%s", child_describe(&r, why, sizeof(why)), r.err);
	assert_lacks(r.err, "deadlock");
	child_result_free(&r);
}

int main(int argc, char **argv)
{
	int rc = child_dispatch(argc, argv, child_cases, ARRAY_SIZE(child_cases));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_notify),
		cmocka_unit_test(test_misuse),
		cmocka_unit_test(test_sigquit_taken),
		cmocka_unit_test(test_no_deadlock_while_waiting),
	};

	if (rc >= 0)
		return rc;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
