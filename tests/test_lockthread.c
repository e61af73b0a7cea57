/* SPDX-License-Identifier: MIT */
/*
 * test_lockthread - rg_lock_os_thread and rg_unlock_os_thread:
 *
 *  - a locked goroutine that parks (channel, sleep, yield) again and again
 *    always resumes on the same thread, while other goroutines keep
 *    running, at maxprocs 1 and 2;
 *  - that thread runs no other goroutine while the lock holds;
 *  - locks nest: one unlock of two keeps the goroutine locked;
 *  - unlocking an unlocked goroutine does nothing; from a plain thread
 *    both calls do nothing;
 *  - a goroutine that exits locked takes its thread with it: no goroutine
 *    runs on that thread afterwards, and the runtime goes on;
 *  - the main goroutine locked to the thread that called rg_main.
 */
#include <pthread.h>
#include <sys/syscall.h>

#include "tests/helpers.h"

#define MS 1000000LL

static pid_t tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static pid_t caller_tid; /* the thread that calls rg_main */

/* Threads that other goroutines ran on, for "runs nothing else". */
#define MAX_SEEN 64

struct lock_ctx {
	rg_chan *ping, *pong;
	_Atomic pid_t locked_tid;
	atomic_int moved;     /* the locked goroutine resumed elsewhere */
	atomic_int others;    /* work done by the other goroutines */
	atomic_int on_locked; /* other goroutines seen on the locked thread */
	atomic_int stop;
	rg_wg done;
};

static void locked_worker(void *arg)
{
	struct lock_ctx *lc = arg;
	int v = 0;

	rg_lock_os_thread();
	rg_lock_os_thread(); /* nested */
	rg_unlock_os_thread();
	atomic_store(&lc->locked_tid, tid());
	for (int i = 0; i < TEST_SCALE(2000, 300); i++) {
		switch (i % 3) {
		case 0:
			GCHECK_EQ(rg_chan_send(lc->ping, &i), 0);
			GCHECK_EQ(rg_chan_recv(lc->pong, &v), 1);
			break;
		case 1:
			rg_yield();
			break;
		default:
			if (i % 50 == 2)
				rg_sleep_ns(100000);
			break;
		}
		if (tid() != atomic_load(&lc->locked_tid))
			atomic_fetch_add(&lc->moved, 1);
	}
	rg_unlock_os_thread();
	atomic_store(&lc->stop, 1);
	rg_wg_done(&lc->done);
}

static void echoer(void *arg)
{
	struct lock_ctx *lc = arg;
	int v;

	while (rg_chan_recv(lc->ping, &v) == 1) {
		pid_t lt = atomic_load(&lc->locked_tid);

		if (lt && tid() == lt && !atomic_load(&lc->stop))
			atomic_fetch_add(&lc->on_locked, 1);
		GCHECK_EQ(rg_chan_send(lc->pong, &v), 0);
	}
	rg_wg_done(&lc->done);
}

static void busy(void *arg)
{
	struct lock_ctx *lc = arg;

	while (!atomic_load(&lc->stop)) {
		pid_t lt = atomic_load(&lc->locked_tid);

		if (lt && tid() == lt && !atomic_load(&lc->stop))
			atomic_fetch_add(&lc->on_locked, 1);
		atomic_fetch_add(&lc->others, 1);
		rg_yield();
	}
	rg_wg_done(&lc->done);
}

static void lock_main(void *arg)
{
	struct lock_ctx *lc = arg;

	lc->ping = rg_chan_make(sizeof(int), 0);
	lc->pong = rg_chan_make(sizeof(int), 0);
	rg_wg_add(&lc->done, 4);
	GCHECK_EQ(rg_go(echoer, lc), 0);
	GCHECK_EQ(rg_go(busy, lc), 0);
	GCHECK_EQ(rg_go(busy, lc), 0);
	GCHECK_EQ(rg_go(locked_worker, lc), 0);
	/* The locked worker finishes, then the echoer is told to stop. */
	while (!atomic_load(&lc->stop))
		rg_sleep_ns(MS);
	rg_chan_close(lc->ping);
	rg_wg_wait(&lc->done);
	GCHECK_EQ(atomic_load(&lc->moved), 0);
	GCHECK_EQ(atomic_load(&lc->on_locked), 0);
	GCHECK(atomic_load(&lc->others) > 0);
	rg_chan_free(lc->ping);
	rg_chan_free(lc->pong);
}

static void test_locked_stays(void **state)
{
	struct lock_ctx lc;

	(void)state;
	memset(&lc, 0, sizeof(lc));
	RUN_IN_RUNTIME(1, lock_main, &lc);
	memset(&lc, 0, sizeof(lc));
	RUN_IN_RUNTIME(2, lock_main, &lc);
}

/* --------------------------------------------------------------------- */
/* Exiting locked                                                        */
/* --------------------------------------------------------------------- */

struct exit_ctx {
	_Atomic pid_t dead_tid;
	atomic_int on_dead;
	rg_wg exited, done;
};

static void exit_locked(void *arg)
{
	struct exit_ctx *ec = arg;

	rg_lock_os_thread();
	atomic_store(&ec->dead_tid, tid());
	rg_sleep_ns(MS);
	rg_wg_done(&ec->exited);
	/* returns locked */
}

static void after(void *arg)
{
	struct exit_ctx *ec = arg;

	for (int i = 0; i < 200; i++) {
		if (tid() == atomic_load(&ec->dead_tid))
			atomic_fetch_add(&ec->on_dead, 1);
		if (i % 10 == 0)
			rg_sleep_ns(100000);
		else
			rg_yield();
	}
	rg_wg_done(&ec->done);
}

static void exit_main(void *arg)
{
	struct exit_ctx *ec = arg;
	int retired = 0;

	for (int round = 0; round < 6 && retired < 3; round++) {
		int64_t until = now_ns() + 10000 * MS;

		atomic_store(&ec->dead_tid, 0);
		rg_wg_add(&ec->exited, 1);
		GCHECK_EQ(rg_go(exit_locked, ec), 0);
		/* Keep this P busy: another M steals the new goroutine. */
		while (!atomic_load(&ec->dead_tid) && now_ns() < until)
			;
		GCHECK(atomic_load(&ec->dead_tid) != 0);
		rg_wg_wait(&ec->exited);
		rg_sleep_ns(2 * MS); /* it has exited */
		atomic_store(&ec->on_dead, 0);
		rg_wg_add(&ec->done, 4);
		for (int i = 0; i < 4; i++)
			GCHECK_EQ(rg_go(after, ec), 0);
		rg_wg_wait(&ec->done);
		/* The thread that called rg_main stays the caller's. */
		if (atomic_load(&ec->dead_tid) == caller_tid)
			continue;
		retired++;
		GCHECK_EQ(atomic_load(&ec->on_dead), 0);
	}
	GCHECK(retired > 0);
}

static void test_exit_locked_takes_thread(void **state)
{
	struct exit_ctx ec;

	(void)state;
	caller_tid = tid();
	memset(&ec, 0, sizeof(ec));
	RUN_IN_RUNTIME(2, exit_main, &ec);
	memset(&ec, 0, sizeof(ec));
	RUN_IN_RUNTIME(3, exit_main, &ec);
}

/* --------------------------------------------------------------------- */
/* The main goroutine; unlocked calls; plain threads                     */
/* --------------------------------------------------------------------- */

static void main_locked_helper(void *arg)
{
	atomic_int *n = arg;

	atomic_fetch_add(n, 1);
}

static void main_locked(void *arg)
{
	atomic_int n = 0;

	(void)arg;
	rg_unlock_os_thread(); /* not locked: nothing */
	rg_lock_os_thread();
	GCHECK_EQ(tid(), caller_tid);
	for (int i = 0; i < 100; i++) {
		GCHECK_EQ(rg_go(main_locked_helper, &n), 0);
		rg_sleep_ns(50000);
		GCHECK_EQ(tid(), caller_tid);
	}
	while (atomic_load(&n) < 100)
		rg_sleep_ns(MS);
	/* returns locked: the caller's thread is not taken */
}

static void test_main_locked(void **state)
{
	(void)state;
	caller_tid = tid();
	RUN_IN_RUNTIME(2, main_locked, NULL);
	assert_int_equal(tid(), caller_tid);
	rg_lock_os_thread();
	rg_unlock_os_thread();
	rg_unlock_os_thread();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_locked_stays),
		cmocka_unit_test(test_exit_locked_takes_thread),
		cmocka_unit_test(test_main_locked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
