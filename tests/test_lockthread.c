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
 *  - the main goroutine locked to the thread that called rg_main;
 *  - thousands of goroutines that exit locked end their threads, within
 *    a limit of 50 threads, and the requests those threads submitted for
 *    other goroutines still complete.
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

/* --------------------------------------------------------------------- */
/* Retired threads end                                                   */
/* --------------------------------------------------------------------- */

static int count_threads(void)
{
	char buf[4096];
	int n = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(buf, sizeof(buf), f))
		if (sscanf(buf, "Threads: %d", &n) == 1)
			break;
	fclose(f);
	return n;
}

struct retire_ctx {
	int n;
	int (*sv)[2];	   /* a socket pair per worker */
	atomic_int parked; /* readers about to wait */
	atomic_int got;	   /* readers that received their byte */
	rg_wg workers, readers;
};

struct retire_arg {
	struct retire_ctx *rc;
	int i;
};

static void retire_reader(void *arg)
{
	struct retire_arg *ra = arg;
	char c = 0;
	ssize_t r;

	atomic_fetch_add(&ra->rc->parked, 1);
	r = rg_recv(ra->rc->sv[ra->i][0], &c, 1, 0);
	if (r == 1 && c == 'x')
		atomic_fetch_add(&ra->rc->got, 1);
	else
		gcheck_fail("reader %d: rg_recv returned %zd (%s)", ra->i, r,
			    r < 0 ? strerror((int)-r) : "short");
	rg_wg_done(&ra->rc->readers);
}

/* Starts a reader, which waits for a byte from this M (its request is
 * submitted here), then exits locked: the M retires and its thread ends. */
static void retire_worker(void *arg)
{
	struct retire_arg *ra = arg;

	GCHECK_EQ(rg_go(retire_reader, ra), 0);
	rg_yield();
	rg_lock_os_thread();
	rg_wg_done(&ra->rc->workers);
}

static void retire_main(void *arg)
{
	struct retire_ctx *rc = arg;
	struct retire_arg *ras = calloc((size_t)rc->n, sizeof(*ras));
	int threads;

	/* The main goroutine keeps the caller's thread, which never retires. */
	rg_lock_os_thread();
	for (int i = 0; i < rc->n; i++) {
		ras[i] = (struct retire_arg){ rc, i };
		rg_wg_add(&rc->workers, 1);
		rg_wg_add(&rc->readers, 1);
		GCHECK_EQ(rg_go(retire_worker, &ras[i]), 0);
		if (i % 50 == 49)
			rg_wg_wait(&rc->workers);
	}
	rg_wg_wait(&rc->workers);
	while (atomic_load(&rc->parked) < rc->n)
		rg_sleep_ns(MS);
	rg_sleep_ns(50 * MS); /* the retired threads end, readers still wait */
	threads = count_threads();
	/* Ps' Ms, sysmon, the sanitizers' and io_uring's workers: far fewer
	 * than the workers, whose threads all ended. */
	if (threads < 0 || threads > 40)
		gcheck_fail("%d threads alive after %d goroutines exited locked", threads, rc->n);
	for (int i = 0; i < rc->n; i++)
		GCHECK_EQ(rg_send(rc->sv[i][1], "x", 1, 0), 1);
	rg_wg_wait(&rc->readers);
	GCHECK_EQ(atomic_load(&rc->got), rc->n);
	free(ras);
}

/*
 * Goroutines that exit locked end their threads, on both backends, and
 * the thread limit counts only live threads: on epoll 9,000 of them made
 * "thread exhaustion" fatal with 4 threads alive; on io_uring their threads
 * slept until the runtime stopped.  The requests a retired thread submitted
 * for other goroutines (here each worker's reader) still complete.
 */
static void test_retired_threads_end(void **state)
{
	struct retire_ctx rc;
	rg_config cfg = { .maxprocs = 2, .max_threads = 50 };
	int n = RG_TEST_SANITIZED ? 200 : 400; /* 2n descriptors, under 1024 */

	(void)state;
	memset(&rc, 0, sizeof(rc));
	rc.n = n;
	rc.sv = calloc((size_t)n, sizeof(*rc.sv));
	assert_non_null(rc.sv);
	for (int i = 0; i < n; i++)
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, rc.sv[i]), 0);
	gcheck_reset();
	assert_int_equal(rg_main(&cfg, retire_main, &rc), 0);
	gcheck_assert_none();
	for (int i = 0; i < n; i++) {
		close(rc.sv[i][0]);
		close(rc.sv[i][1]);
	}
	free(rc.sv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_locked_stays),
		cmocka_unit_test(test_exit_locked_takes_thread),
		cmocka_unit_test(test_main_locked),
		cmocka_unit_test(test_retired_threads_end),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
