/* SPDX-License-Identifier: MIT */
/*
 * test_sema.c - the wait queues keyed by address under the sync API:
 * semaphores (FIFO, lifo re-queueing, hand-off), notify lists (tickets,
 * no lost notification) and forgetting abandoned goroutines.
 */
#include <pthread.h>

#include "tests/helpers.h"

#include "runtime/sema.h"

/* --- FIFO wake-up order -------------------------------------------------------- */

static _Atomic uint32_t fifo_sema;
static int fifo_order[16];
static _Atomic int fifo_n;

static void fifo_waiter(void *arg)
{
	semacquire(&fifo_sema, "test");
	fifo_order[atomic_fetch_add(&fifo_n, 1)] = (int)(intptr_t)arg;
}

static void fifo_main(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 16; i++) {
		GCHECK_EQ(rg_go(fifo_waiter, (void *)(intptr_t)i), 0);
		rg_yield(); /* let it run and queue up, in order */
	}
	for (i = 0; i < 16; i++) {
		semrelease(&fifo_sema, true);
		rg_yield();
	}
	while (atomic_load(&fifo_n) < 16)
		rg_yield();
	for (i = 0; i < 16; i++)
		GCHECK_EQ(fifo_order[i], i);
}

static void test_fifo(void **state)
{
	(void)state;
	RUN_IN_RUNTIME(1, fifo_main, NULL);
}

/* --- lifo: a mutex waiter that already waited goes first ------------------------ */

static _Atomic uint32_t lifo_sema;
static int lifo_order[4];
static _Atomic int lifo_n;

static void lifo_waiter(void *arg)
{
	int id = (int)(intptr_t)arg;

	semacquire_mutex(&lifo_sema, id == 3, "test");
	lifo_order[atomic_fetch_add(&lifo_n, 1)] = id;
}

static void lifo_main(void *arg)
{
	int i;

	(void)arg;
	atomic_store(&lifo_n, 0);
	for (i = 0; i < 4; i++) {
		GCHECK_EQ(rg_go(lifo_waiter, (void *)(intptr_t)i), 0);
		rg_yield();
	}
	for (i = 0; i < 4; i++) {
		semrelease(&lifo_sema, false);
		while (atomic_load(&lifo_n) < i + 1)
			rg_yield();
	}
	/* 3 queued at the head; the others FIFO. */
	GCHECK_EQ(lifo_order[0], 3);
	GCHECK_EQ(lifo_order[1], 0);
	GCHECK_EQ(lifo_order[2], 1);
	GCHECK_EQ(lifo_order[3], 2);
}

static void test_lifo(void **state)
{
	(void)state;
	RUN_IN_RUNTIME(1, lifo_main, NULL);
}

/* --- hand-off: the count goes to the waiter, which runs at once ------------------ */

static _Atomic uint32_t handoff_sema;
static _Atomic int handoff_ran;

static void handoff_waiter(void *arg)
{
	(void)arg;
	semacquire(&handoff_sema, "test");
	atomic_store(&handoff_ran, 1);
}

static void handoff_main(void *arg)
{
	(void)arg;
	atomic_store(&handoff_ran, 0);
	GCHECK_EQ(rg_go(handoff_waiter, NULL), 0);
	rg_yield(); /* it parks */
	semrelease(&handoff_sema, true);
	/* One P: the releaser yielded to the waiter, which took the count. */
	GCHECK_EQ(atomic_load(&handoff_ran), 1);
	GCHECK_EQ(atomic_load(&handoff_sema), 0);
	/* Without hand-off the waiter only becomes runnable. */
	atomic_store(&handoff_ran, 0);
	GCHECK_EQ(rg_go(handoff_waiter, NULL), 0);
	rg_yield();
	semrelease(&handoff_sema, false);
	GCHECK_EQ(atomic_load(&handoff_ran), 0);
	while (!atomic_load(&handoff_ran))
		rg_yield();
}

static void test_handoff(void **state)
{
	(void)state;
	RUN_IN_RUNTIME(1, handoff_main, NULL);
}

/* --- notify lists --------------------------------------------------------------- */

static struct notify_list nl;
static int nl_order[8];
static _Atomic int nl_n;

static void nl_waiter(void *arg)
{
	uint32_t t = notify_list_add(&nl);

	(void)arg;
	notify_list_wait(&nl, t, "test");
	nl_order[atomic_fetch_add(&nl_n, 1)] = (int)t;
}

static void notify_main(void *arg)
{
	uint32_t t;
	int i;

	(void)arg;
	memset(&nl, 0, sizeof(nl));
	atomic_store(&nl_n, 0);
	/* Nobody waits: notifications are no-ops, not credits. */
	notify_list_notify_one(&nl);
	notify_list_notify_all(&nl);
	GCHECK_EQ(atomic_load(&nl.notify), 0);
	/* Notified between add and wait: the wait returns at once. */
	t = notify_list_add(&nl);
	notify_list_notify_one(&nl);
	notify_list_wait(&nl, t, "test");
	/* Waiters queue out of ticket order; notify_one serves tickets. */
	for (i = 0; i < 4; i++) {
		GCHECK_EQ(rg_go(nl_waiter, NULL), 0);
		rg_yield();
	}
	t = notify_list_add(&nl); /* ticket 5: ours, not waited on yet */
	for (i = 0; i < 4; i++) {
		GCHECK_EQ(rg_go(nl_waiter, NULL), 0);
		rg_yield();
	}
	for (i = 0; i < 5; i++) {
		notify_list_notify_one(&nl);
		rg_yield();
	}
	GCHECK_EQ(atomic_load(&nl_n), 4);
	for (i = 0; i < 4; i++)
		GCHECK_EQ(nl_order[i], i + 1);
	notify_list_wait(&nl, t, "test"); /* already notified */
	notify_list_notify_all(&nl);
	while (atomic_load(&nl_n) < 8)
		rg_yield();
	GCHECK_EQ(atomic_load(&nl.notify), atomic_load(&nl.wait));
}

static void test_notify_list(void **state)
{
	(void)state;
	RUN_IN_RUNTIME(1, notify_main, NULL);
}

/* --- counts: no lost or extra wake-ups under contention ------------------------- */

#define PRODUCERS 4
#define ITEMS	  20000

static _Atomic uint32_t items;
static _Atomic long taken;

static void producer(void *arg)
{
	for (int i = 0; i < ITEMS; i++) {
		semrelease(&items, false);
		if ((i & 63) == 0)
			rg_yield();
	}
	rg_wg_done(arg);
}

static void consumer(void *arg)
{
	for (int i = 0; i < ITEMS; i++) {
		semacquire(&items, "test");
		atomic_fetch_add(&taken, 1);
	}
	rg_wg_done(arg);
}

static void *plain_consumer(void *arg)
{
	consumer(arg);
	return NULL;
}

static void counts_main(void *arg)
{
	rg_wg wg = { 0 };
	pthread_t th;
	int i;

	(void)arg;
	atomic_store(&items, 0);
	atomic_store(&taken, 0);
	rg_wg_add(&wg, 2 * PRODUCERS);
	/* One consumer is a plain thread: it blocks on a futex, not a park. */
	GCHECK_EQ(pthread_create(&th, NULL, plain_consumer, &wg), 0);
	for (i = 0; i < PRODUCERS; i++) {
		GCHECK_EQ(rg_go(producer, &wg), 0);
		if (i > 0)
			GCHECK_EQ(rg_go(consumer, &wg), 0);
	}
	rg_wg_wait(&wg);
	pthread_join(th, NULL);
	GCHECK_EQ(atomic_load(&taken), (long)PRODUCERS * ITEMS);
	GCHECK_EQ(atomic_load(&items), 0);
}

static void test_counts(void **state)
{
	(void)state;
	RUN_FOR_PROCS(counts_main, NULL, 1, 2, 8);
}

/* --- regression: goroutines abandoned while waiting ----------------------------- */

/*
 * Goroutines still waiting when rg_main returns are abandoned and their
 * stacks unmapped.  Their wait entries must not stay in the semaphore
 * table: a later runtime waiting on any address of the same bucket would
 * walk into unmapped memory.  1,000 addresses cover every bucket.  The
 * abandoned goroutines wait on semaphores, notify lists (some of them
 * objects on their own stacks) and weighted semaphores; a plain thread
 * waiting in the same buckets must survive the clean-up.
 */
#define NWG 1000

static rg_wg first[NWG], second[NWG];
static struct notify_list lists[NWG];
static rg_sema wsemas[16];
static _Atomic uint32_t thread_sema;

static void park_on(void *arg)
{
	rg_wg_wait(arg);
}

static void park_on_list(void *arg)
{
	struct notify_list *l = arg;

	notify_list_wait(l, notify_list_add(l), "test");
}

static void park_on_own_list(void *arg)
{
	struct notify_list own = { 0 };

	(void)arg;
	notify_list_wait(&own, notify_list_add(&own), "test");
}

static void park_on_wsema(void *arg)
{
	rg_sema_acquire(arg, 1);
}

static void *thread_waiter(void *arg)
{
	(void)arg;
	semacquire(&thread_sema, "test");
	return NULL;
}

static void abandon_main(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < NWG; i++) {
		rg_wg_add(&first[i], 1);
		GCHECK_EQ(rg_go(park_on, &first[i]), 0);
		GCHECK_EQ(rg_go(park_on_list, &lists[i]), 0);
		if (i % 10 == 0)
			GCHECK_EQ(rg_go(park_on_own_list, NULL), 0);
	}
	for (i = 0; i < 16; i++) {
		rg_sema_init(&wsemas[i], 1);
		GCHECK_EQ(rg_sema_acquire(&wsemas[i], 1), 0);
		GCHECK_EQ(rg_go(park_on_wsema, &wsemas[i]), 0);
	}
	for (i = 0; i < 50; i++)
		rg_yield(); /* let them all park */
}

static void done_on(void *arg)
{
	rg_wg_done(arg);
}

static void rerun_main(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < NWG; i++) {
		rg_wg_add(&second[i], 1);
		GCHECK_EQ(rg_go(done_on, &second[i]), 0);
		rg_wg_wait(&second[i]);
		/* The abandoned waiters are gone from every list. */
		notify_list_notify_all(&lists[i]);
	}
	for (i = 0; i < 16; i++) {
		/* No abandoned acquirer queued ahead of us. */
		GCHECK_EQ(rg_sema_try_acquire(&wsemas[i], 1), 0);
		rg_sema_release(&wsemas[i], 1);
	}
}

static void test_abandoned_waiters_forgotten(void **state)
{
	pthread_t th;

	(void)state;
	assert_int_equal(pthread_create(&th, NULL, thread_waiter, NULL), 0);
	RUN_IN_RUNTIME(2, abandon_main, NULL);
	/* Main's tokens; the abandoned acquirers were never granted any. */
	for (int i = 0; i < 16; i++)
		rg_sema_release(&wsemas[i], 1);
	RUN_FOR_PROCS(rerun_main, NULL, 2, 1);
	/* The plain thread was kept waiting, and is still woken. */
	semrelease(&thread_sema, false);
	pthread_join(th, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fifo),	cmocka_unit_test(test_lifo),
		cmocka_unit_test(test_handoff), cmocka_unit_test(test_notify_list),
		cmocka_unit_test(test_counts),	cmocka_unit_test(test_abandoned_waiters_forgotten),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
