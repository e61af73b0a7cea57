/* SPDX-License-Identifier: MIT */
/*
 * test_wsema - rg_sema, the weighted semaphore: weights and try_acquire,
 * the -EINVAL cases and the zero value, FIFO service, a large request not
 * starved by small ones, a stress run with goroutines and plain threads
 * that never exceeds the capacity, and the fatal errors.
 */
#include <pthread.h>

#include "tests/helpers.h"

#include "runtime/sema.h"

/* Goroutines and threads queued on s. */
static int wsema_waiters(rg_sema *s)
{
	struct semroot *root = semroot_lock(s);
	struct sudog *w = semroot_first(root, s);
	int n = 0;

	for (; w; w = w->waitlink)
		n++;
	semroot_unlock(root);
	return n;
}

/* --------------------------------------------------------------------- */
/* Weights, try_acquire, -EINVAL                                         */
/* --------------------------------------------------------------------- */

static void test_weights_and_try(void **state)
{
	rg_sema s = { 0 };

	(void)state;
	/* Zero value: no capacity. */
	assert_int_equal(rg_sema_acquire(&s, 0), 0);
	assert_int_equal(rg_sema_try_acquire(&s, 0), 0);
	assert_int_equal(rg_sema_acquire(&s, 1), -EINVAL);
	assert_int_equal(rg_sema_try_acquire(&s, 1), -EINVAL);

	rg_sema_init(&s, 10);
	assert_int_equal(rg_sema_acquire(&s, -1), -EINVAL);
	assert_int_equal(rg_sema_try_acquire(&s, -1), -EINVAL);
	assert_int_equal(rg_sema_acquire(&s, 11), -EINVAL);
	assert_int_equal(rg_sema_try_acquire(&s, 11), -EINVAL);
	assert_int_equal(rg_sema_acquire(&s, 3), 0);
	assert_int_equal(rg_sema_acquire(&s, 3), 0);
	assert_int_equal(rg_sema_try_acquire(&s, 3), 0);
	assert_int_equal(rg_sema_try_acquire(&s, 2), -EAGAIN);
	assert_int_equal(rg_sema_try_acquire(&s, 1), 0);
	assert_int_equal(rg_sema_try_acquire(&s, 1), -EAGAIN);
	assert_int_equal(rg_sema_try_acquire(&s, 0), 0);
	rg_sema_release(&s, 4);
	assert_int_equal(rg_sema_try_acquire(&s, 4), 0);
	rg_sema_release(&s, 10);
	assert_int_equal(rg_sema_acquire(&s, 10), 0);
	rg_sema_release(&s, 10);
}

/* --------------------------------------------------------------------- */
/* FIFO, and a large request is not starved                              */
/* --------------------------------------------------------------------- */

struct order {
	rg_sema sema;
	rg_wg wg;
	_Atomic int n;
	int order[16];
};

struct req {
	struct order *o;
	int id;
	int64_t weight;
};

static void acquirer(void *arg)
{
	struct req *r = arg;

	GCHECK_EQ(rg_sema_acquire(&r->o->sema, r->weight), 0);
	r->o->order[atomic_fetch_add(&r->o->n, 1)] = r->id;
	rg_sema_release(&r->o->sema, r->weight);
	rg_wg_done(&r->o->wg);
}

/* Each request takes the whole capacity, so they are granted one at a
 * time, in the order they queued. */
static void fifo_main(void *arg)
{
	struct order o = { 0 };
	struct req reqs[8];

	(void)arg;
	rg_sema_init(&o.sema, 3);
	GCHECK_EQ(rg_sema_acquire(&o.sema, 3), 0);
	rg_wg_add(&o.wg, 8);
	for (int i = 0; i < 8; i++) {
		reqs[i] = (struct req){ &o, i, 3 };
		GCHECK_EQ(rg_go(acquirer, &reqs[i]), 0);
		while (wsema_waiters(&o.sema) < i + 1)
			rg_yield();
	}
	rg_sema_release(&o.sema, 3);
	rg_wg_wait(&o.wg);
	for (int i = 0; i < 8; i++)
		GCHECK_EQ(o.order[i], i);
	GCHECK_EQ(rg_sema_try_acquire(&o.sema, 3), 0);
	rg_sema_release(&o.sema, 3);
}

static void test_fifo(void **state)
{
	(void)state;
	RUN_FOR_PROCS(fifo_main, NULL, 1, 4);
}

/*
 * Capacity 4, main holds 3.  A request for 4 queues; then small requests
 * arrive: one token is free, but they must queue behind the large one
 * instead of taking it, or a stream of them would starve it forever.
 */
static void big_main(void *arg)
{
	struct order o = { 0 };
	struct req big = { &o, 100, 4 }, small[4];

	(void)arg;
	rg_sema_init(&o.sema, 4);
	GCHECK_EQ(rg_sema_acquire(&o.sema, 3), 0);
	rg_wg_add(&o.wg, 5);
	GCHECK_EQ(rg_go(acquirer, &big), 0);
	while (wsema_waiters(&o.sema) < 1)
		rg_yield();
	GCHECK_EQ(rg_sema_try_acquire(&o.sema, 1), -EAGAIN);
	for (int i = 0; i < 4; i++) {
		small[i] = (struct req){ &o, i, 1 };
		GCHECK_EQ(rg_go(acquirer, &small[i]), 0);
		while (wsema_waiters(&o.sema) < i + 2)
			rg_yield();
	}
	GCHECK_EQ(atomic_load(&o.n), 0);
	rg_sema_release(&o.sema, 3);
	rg_wg_wait(&o.wg);
	/* The large request first; the small ones are granted together
	 * when it releases, and may run in any order. */
	GCHECK_EQ(o.order[0], 100);
	GCHECK_EQ(o.order[1] + o.order[2] + o.order[3] + o.order[4], 0 + 1 + 2 + 3);
}

static void test_big_request_not_starved(void **state)
{
	(void)state;
	RUN_FOR_PROCS(big_main, NULL, 1, 4);
}

/* --------------------------------------------------------------------- */
/* Stress: goroutines and plain threads, never over capacity             */
/* --------------------------------------------------------------------- */

#define CAP	 7
#define STRESS_G TEST_SCALE(200, 50)
#define THREADS	 3
#define ITERS	 TEST_SCALE(500, 100)

struct stress {
	rg_sema sema;
	_Atomic int64_t held;
	rg_wg wg;
};

static struct stress st;

static void stress_loop(unsigned seed, bool goroutine)
{
	for (int i = 0; i < ITERS; i++) {
		int64_t n = 1 + (int64_t)(rand_r(&seed) % CAP), h;

		if (rand_r(&seed) % 4 == 0) {
			int r = rg_sema_try_acquire(&st.sema, n);

			if (r == -EAGAIN)
				continue;
			GCHECK_EQ(r, 0);
		} else {
			GCHECK_EQ(rg_sema_acquire(&st.sema, n), 0);
		}
		h = atomic_fetch_add(&st.held, n) + n;
		if (h > CAP)
			gcheck_fail("%lld tokens held, capacity %d", (long long)h, CAP);
		if (goroutine && i % 8 == 0)
			rg_yield();
		atomic_fetch_sub(&st.held, n);
		rg_sema_release(&st.sema, n);
	}
}

static void stress_g(void *arg)
{
	stress_loop((unsigned)(uintptr_t)arg, true);
	rg_wg_done(&st.wg);
}

static void *stress_thread(void *arg)
{
	stress_loop((unsigned)(uintptr_t)arg, false);
	return NULL;
}

static void stress_main(void *arg)
{
	pthread_t th[THREADS];

	(void)arg;
	memset(&st, 0, sizeof(st));
	rg_sema_init(&st.sema, CAP);
	for (int i = 0; i < THREADS; i++)
		GCHECK_EQ(pthread_create(&th[i], NULL, stress_thread,
					 (void *)(uintptr_t)(1000 + i)),
			  0);
	rg_wg_add(&st.wg, STRESS_G);
	for (int i = 0; i < STRESS_G; i++)
		GCHECK_EQ(rg_go(stress_g, (void *)(uintptr_t)i), 0);
	rg_wg_wait(&st.wg);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	/* Everything released: the whole capacity is free again. */
	GCHECK_EQ(rg_sema_try_acquire(&st.sema, CAP), 0);
	rg_sema_release(&st.sema, CAP);
}

static void test_stress(void **state)
{
	(void)state;
	RUN_FOR_PROCS(stress_main, NULL, 1, 2, 8);
}

/* --------------------------------------------------------------------- */
/* Fatal errors and deadlock                                             */
/* --------------------------------------------------------------------- */

static void over_release_main(void *arg)
{
	rg_sema s = { 0 };

	(void)arg;
	rg_sema_init(&s, 5);
	GCHECK_EQ(rg_sema_acquire(&s, 2), 0);
	rg_sema_release(&s, 3);
}

static int child_over_release(void)
{
	return run_runtime(1, 0, over_release_main, NULL) ? 1 : 0;
}

static int child_over_release_thread(void)
{
	rg_sema s = { 0 };

	rg_sema_release(&s, 1);
	return 0;
}

static int child_negative_release(void)
{
	rg_sema s = { 0 };

	rg_sema_init(&s, 1);
	rg_sema_release(&s, -1);
	return 0;
}

static void acquire_forever_main(void *arg)
{
	rg_sema s = { 0 };

	(void)arg;
	rg_sema_init(&s, 2);
	GCHECK_EQ(rg_sema_acquire(&s, 1), 0);
	rg_sema_acquire(&s, 2);
}

static int child_acquire_forever(void)
{
	return run_runtime(2, 0, acquire_forever_main, NULL) ? 1 : 0;
}

static void test_fatal_errors(void **state)
{
	(void)state;
	expect_fatal("over_release",
		     "fatal error: semaphore: released more than held (rg_sema_release",
		     "goroutine 1 [running]", NULL);
	expect_fatal("over_release_thread", "fatal error: semaphore: released more than held",
		     NULL);
	expect_fatal("negative_release", "fatal error: semaphore: negative release", NULL);
	expect_fatal("acquire_forever", "fatal error: all goroutines are asleep - deadlock!",
		     "goroutine 1 [semaphore.Weighted.Acquire]", NULL);
}

int main(int argc, char **argv)
{
	static const struct child_case cases[] = {
		{ "over_release", child_over_release },
		{ "over_release_thread", child_over_release_thread },
		{ "negative_release", child_negative_release },
		{ "acquire_forever", child_acquire_forever },
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_weights_and_try),
		cmocka_unit_test(test_fifo),
		cmocka_unit_test(test_big_request_not_starved),
		cmocka_unit_test(test_stress),
		cmocka_unit_test(test_fatal_errors),
	};
	int rc = child_dispatch(argc, argv, cases, ARRAY_SIZE(cases));

	if (rc >= 0)
		return rc;
	test_watchdog(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
