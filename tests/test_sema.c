/* SPDX-License-Identifier: MIT */
/*
 * test_sema.c - the address-keyed semaphores under the sync API.
 */
#include <pthread.h>

#include "helpers.h"

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

/* --- counts: no lost or extra wake-ups under contention ------------------------- */

#define PRODUCERS 4
#define ITEMS 20000

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
	RUN_IN_RUNTIME(1, counts_main, NULL);
	RUN_IN_RUNTIME(2, counts_main, NULL);
	RUN_IN_RUNTIME(8, counts_main, NULL);
}

/* --- regression: goroutines abandoned while waiting ----------------------------- */

/*
 * Goroutines still waiting when rg_main returns are abandoned and their
 * stacks unmapped.  Their wait entries must not stay in the semaphore
 * table: a later runtime waiting on any address of the same bucket would
 * walk into unmapped memory.  1,000 addresses cover every bucket.
 */
#define NWG 1000

static rg_wg first[NWG], second[NWG];

static void park_on(void *arg)
{
	rg_wg_wait(arg);
}

static void abandon_main(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < NWG; i++) {
		rg_wg_add(&first[i], 1);
		GCHECK_EQ(rg_go(park_on, &first[i]), 0);
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
	}
}

static void test_abandoned_waiters_forgotten(void **state)
{
	(void)state;
	RUN_IN_RUNTIME(2, abandon_main, NULL);
	RUN_IN_RUNTIME(2, rerun_main, NULL);
	RUN_IN_RUNTIME(1, rerun_main, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fifo),
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_abandoned_waiters_forgotten),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
