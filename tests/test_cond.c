/* SPDX-License-Identifier: MIT */
/*
 * test_cond - rg_cond, sync.Cond: signal wakes exactly one waiter, the
 * oldest; broadcast wakes all; a producer/consumer queue loses no wake-up
 * (goroutines and plain threads); a deadlock names the wait reason.
 */
#include <pthread.h>

#include "tests/helpers.h"

#include "runtime/sync.h"

/* Tickets handed out and not yet notified: waiters in or entering wait. */
static uint32_t cond_pending(rg_cond *c)
{
	struct cond *cp = (struct cond *)c;

	return atomic_load(&cp->notify.wait) - atomic_load(&cp->notify.notify);
}

/* --------------------------------------------------------------------- */
/* signal wakes one (the oldest), broadcast wakes all                    */
/* --------------------------------------------------------------------- */

#define NWAIT 6

struct wake {
	rg_mutex mu;
	rg_cond cond;
	rg_wg wg;
	int woke;	  /* mu */
	int order[NWAIT]; /* mu */
};

static struct wake wk;

static void wake_waiter(void *arg)
{
	rg_mutex_lock(&wk.mu);
	rg_cond_wait(&wk.cond, &wk.mu);
	wk.order[wk.woke++] = (int)(intptr_t)arg;
	rg_mutex_unlock(&wk.mu);
	rg_wg_done(&wk.wg);
}

static int woke(void)
{
	int n;

	rg_mutex_lock(&wk.mu);
	n = wk.woke;
	rg_mutex_unlock(&wk.mu);
	return n;
}

/* Give a woken waiter every chance to run: yield, and with several Ps
 * also let time pass. */
static void settle(void)
{
	int64_t t0 = now_ns();

	do
		rg_yield();
	while (now_ns() - t0 < 2000000);
}

static void wake_main(void *arg)
{
	(void)arg;
	memset(&wk, 0, sizeof(wk));
	rg_wg_add(&wk.wg, NWAIT);
	for (int i = 0; i < NWAIT; i++) {
		GCHECK_EQ(rg_go(wake_waiter, (void *)(intptr_t)i), 0);
		/* Waiters take their tickets in order. */
		while (cond_pending(&wk.cond) < (uint32_t)i + 1)
			rg_yield();
	}
	/* Signal with the mutex held, then without. */
	for (int i = 0; i < 2; i++) {
		if (i == 0)
			rg_mutex_lock(&wk.mu);
		rg_cond_signal(&wk.cond);
		if (i == 0)
			rg_mutex_unlock(&wk.mu);
		while (woke() < i + 1)
			rg_yield();
		settle();
		GCHECK_EQ(woke(), i + 1);
		GCHECK_EQ(cond_pending(&wk.cond), NWAIT - i - 1);
	}
	rg_cond_broadcast(&wk.cond);
	rg_wg_wait(&wk.wg);
	GCHECK_EQ(woke(), NWAIT);
	GCHECK_EQ(cond_pending(&wk.cond), 0);
	GCHECK_EQ(wk.order[0], 0);
	GCHECK_EQ(wk.order[1], 1);
	/* Nobody waits: these are no-ops and leave no credit behind. */
	rg_cond_signal(&wk.cond);
	rg_cond_broadcast(&wk.cond);
	GCHECK_EQ(cond_pending(&wk.cond), 0);
}

static void test_signal_one_broadcast_all(void **state)
{
	(void)state;
	RUN_FOR_PROCS(wake_main, NULL, 1, 4);
}

/* Signals wake waiters in the order they started waiting. */
static void fifo_main(void *arg)
{
	(void)arg;
	memset(&wk, 0, sizeof(wk));
	rg_wg_add(&wk.wg, NWAIT);
	for (int i = 0; i < NWAIT; i++) {
		GCHECK_EQ(rg_go(wake_waiter, (void *)(intptr_t)i), 0);
		while (cond_pending(&wk.cond) < (uint32_t)i + 1)
			rg_yield();
	}
	for (int i = 0; i < NWAIT; i++) {
		rg_cond_signal(&wk.cond);
		while (woke() < i + 1)
			rg_yield();
	}
	rg_wg_wait(&wk.wg);
	for (int i = 0; i < NWAIT; i++)
		GCHECK_EQ(wk.order[i], i);
}

static void test_signal_fifo(void **state)
{
	(void)state;
	RUN_FOR_PROCS(fifo_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* Producer/consumer: no lost wake-up                                    */
/* --------------------------------------------------------------------- */

#define QCAP	  4
#define PRODUCERS 4
#define CONSUMERS 4
#define THREADS	  2 /* one producer and one consumer thread */
#define ITEMS	  TEST_SCALE(20000, 2000)

struct queue {
	rg_mutex mu;
	rg_cond not_empty;
	rg_cond not_full;
	long buf[QCAP]; /* mu */
	int head, len;	/* mu */
	long sum;	/* mu: what consumers took */
	rg_wg wg;
};

static struct queue q;

static void produce(void)
{
	for (long i = 1; i <= ITEMS; i++) {
		rg_mutex_lock(&q.mu);
		while (q.len == QCAP)
			rg_cond_wait(&q.not_full, &q.mu);
		q.buf[(q.head + q.len++) % QCAP] = i;
		/* One waiter per item: a lost wake-up would hang the test. */
		rg_cond_signal(&q.not_empty);
		rg_mutex_unlock(&q.mu);
	}
}

static void consume(void)
{
	for (long i = 0; i < ITEMS; i++) {
		rg_mutex_lock(&q.mu);
		while (q.len == 0)
			rg_cond_wait(&q.not_empty, &q.mu);
		q.sum += q.buf[q.head];
		q.head = (q.head + 1) % QCAP;
		q.len--;
		rg_cond_signal(&q.not_full);
		rg_mutex_unlock(&q.mu);
	}
}

static void producer(void *arg)
{
	(void)arg;
	produce();
	rg_wg_done(&q.wg);
}

static void consumer(void *arg)
{
	(void)arg;
	consume();
	rg_wg_done(&q.wg);
}

static void *producer_thread(void *arg)
{
	(void)arg;
	produce();
	return NULL;
}

static void *consumer_thread(void *arg)
{
	(void)arg;
	consume();
	return NULL;
}

static void pc_main(void *arg)
{
	bool threads = arg != NULL;
	pthread_t th[2];
	int n = PRODUCERS + CONSUMERS;

	memset(&q, 0, sizeof(q));
	if (threads) {
		GCHECK_EQ(pthread_create(&th[0], NULL, producer_thread, NULL), 0);
		GCHECK_EQ(pthread_create(&th[1], NULL, consumer_thread, NULL), 0);
	}
	rg_wg_add(&q.wg, n);
	for (int i = 0; i < n; i++)
		GCHECK_EQ(rg_go(i & 1 ? consumer : producer, NULL), 0);
	rg_wg_wait(&q.wg);
	if (threads) {
		pthread_join(th[0], NULL);
		pthread_join(th[1], NULL);
	}
	rg_mutex_lock(&q.mu);
	GCHECK_EQ(q.len, 0);
	GCHECK_EQ(q.sum, (long)(PRODUCERS + (threads ? 1 : 0)) * ITEMS * (ITEMS + 1) / 2);
	rg_mutex_unlock(&q.mu);
}

static void test_producer_consumer(void **state)
{
	(void)state;
	RUN_FOR_PROCS(pc_main, NULL, 1, 2, 8);
	RUN_FOR_PROCS(pc_main, (void *)1, 1, 4);
}

/* Plain threads only, no runtime. */
static void test_plain_threads_only(void **state)
{
	pthread_t th[4];

	(void)state;
	memset(&q, 0, sizeof(q));
	assert_int_equal(pthread_create(&th[0], NULL, producer_thread, NULL), 0);
	assert_int_equal(pthread_create(&th[1], NULL, producer_thread, NULL), 0);
	assert_int_equal(pthread_create(&th[2], NULL, consumer_thread, NULL), 0);
	assert_int_equal(pthread_create(&th[3], NULL, consumer_thread, NULL), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(q.len, 0);
	assert_int_equal(q.sum, 2L * ITEMS * (ITEMS + 1) / 2);
}

/* --------------------------------------------------------------------- */
/* Broadcast with a predicate: every waiter sees it                      */
/* --------------------------------------------------------------------- */

#define BCAST_G TEST_SCALE(1000, 300)

struct gate {
	rg_mutex mu;
	rg_cond cond;
	bool open;  /* mu */
	int passed; /* mu */
	rg_wg wg;
};

static void gate_waiter(void *arg)
{
	struct gate *g = arg;

	rg_mutex_lock(&g->mu);
	while (!g->open)
		rg_cond_wait(&g->cond, &g->mu);
	g->passed++;
	rg_mutex_unlock(&g->mu);
	rg_wg_done(&g->wg);
}

static void gate_main(void *arg)
{
	struct gate g = { 0 };

	(void)arg;
	rg_wg_add(&g.wg, BCAST_G);
	for (int i = 0; i < BCAST_G; i++)
		GCHECK_EQ(rg_go(gate_waiter, &g), 0);
	for (int i = 0; i < 10; i++)
		rg_yield();
	rg_mutex_lock(&g.mu);
	g.open = true;
	rg_cond_broadcast(&g.cond);
	rg_mutex_unlock(&g.mu);
	rg_wg_wait(&g.wg);
	GCHECK_EQ(g.passed, BCAST_G);
}

static void test_broadcast_gate(void **state)
{
	(void)state;
	RUN_FOR_PROCS(gate_main, NULL, 1, 8);
}

/* --------------------------------------------------------------------- */
/* Deadlock                                                              */
/* --------------------------------------------------------------------- */

static void wait_forever_main(void *arg)
{
	rg_mutex mu = { 0 };
	rg_cond c = { 0 };

	(void)arg;
	rg_mutex_lock(&mu);
	rg_cond_wait(&c, &mu);
}

static int child_wait_forever(void)
{
	return run_runtime(2, 0, wait_forever_main, NULL) ? 1 : 0;
}

static void test_deadlock_reports_wait_reason(void **state)
{
	(void)state;
	expect_fatal("wait_forever", DEADLOCK_MSG, "goroutine 1 [sync.Cond.Wait]", NULL);
}

int main(int argc, char **argv)
{
	static const struct child_case cases[] = {
		{ "wait_forever", child_wait_forever },
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signal_one_broadcast_all),
		cmocka_unit_test(test_signal_fifo),
		cmocka_unit_test(test_producer_consumer),
		cmocka_unit_test(test_plain_threads_only),
		cmocka_unit_test(test_broadcast_gate),
		cmocka_unit_test(test_deadlock_reports_wait_reason),
	};
	int rc = child_dispatch(argc, argv, cases, ARRAY_SIZE(cases));

	if (rc >= 0)
		return rc;
	test_watchdog(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
