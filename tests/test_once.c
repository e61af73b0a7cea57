/* SPDX-License-Identifier: MIT */
/*
 * test_once - rg_once, sync.Once: fn runs exactly once however many
 * goroutines and plain threads race on it, and every caller returns only
 * after fn has, seeing what it did.
 */
#include <pthread.h>

#include "tests/helpers.h"

#define ONCE_G	     TEST_SCALE(2000, 500)
#define ONCE_THREADS 3

struct once_ctx {
	rg_once once;
	_Atomic int runs;
	long value; /* written by fn only, read by every caller after rg_once_do */
	rg_wg wg;
};

static struct once_ctx oc;

static void init_fn(void *arg)
{
	struct once_ctx *c = arg;

	atomic_fetch_add(&c->runs, 1);
	/* Take a while, so that the other callers pile up on the once:
	 * yield as a goroutine, sleep as a plain thread. */
	if (rg_goid() != 0) {
		for (int i = 0; i < 20; i++)
			rg_yield();
	} else {
		usleep(2000);
	}
	c->value = 42;
}

static void check_done(void)
{
	rg_once_do(&oc.once, init_fn, &oc);
	GCHECK_EQ(oc.value, 42);
	GCHECK_EQ(atomic_load(&oc.runs), 1);
}

static void once_caller(void *arg)
{
	(void)arg;
	check_done();
	rg_wg_done(&oc.wg);
}

static void *once_thread(void *arg)
{
	(void)arg;
	check_done();
	return NULL;
}

static void contention_main(void *arg)
{
	pthread_t th[ONCE_THREADS];
	bool threads = arg != NULL;

	memset(&oc, 0, sizeof(oc));
	if (threads)
		for (int i = 0; i < ONCE_THREADS; i++)
			GCHECK_EQ(pthread_create(&th[i], NULL, once_thread, NULL), 0);
	rg_wg_add(&oc.wg, ONCE_G);
	for (int i = 0; i < ONCE_G; i++)
		GCHECK_EQ(rg_go(once_caller, NULL), 0);
	rg_wg_wait(&oc.wg);
	if (threads)
		for (int i = 0; i < ONCE_THREADS; i++)
			pthread_join(th[i], NULL);
	check_done();
}

static void test_contention(void **state)
{
	(void)state;
	RUN_FOR_PROCS(contention_main, NULL, 1, 2, 8);
	RUN_FOR_PROCS(contention_main, (void *)1, 1, 4);
}

/* --------------------------------------------------------------------- */
/* Sequential use, several onces, plain threads without a runtime        */
/* --------------------------------------------------------------------- */

static void count_fn(void *arg)
{
	(*(int *)arg)++;
}

static void test_sequential(void **state)
{
	rg_once a = { 0 }, b = { 0 };
	int na = 0, nb = 0;

	(void)state;
	for (int i = 0; i < 3; i++) {
		rg_once_do(&a, count_fn, &na);
		rg_once_do(&b, count_fn, &nb);
		/* A different fn on a used once does not run either. */
		rg_once_do(&a, count_fn, &nb);
	}
	assert_int_equal(na, 1);
	assert_int_equal(nb, 1);
}

static void test_plain_threads_only(void **state)
{
	pthread_t th[ONCE_THREADS];

	(void)state;
	gcheck_reset();
	memset(&oc, 0, sizeof(oc));
	for (int i = 0; i < ONCE_THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, once_thread, NULL), 0);
	for (int i = 0; i < ONCE_THREADS; i++)
		pthread_join(th[i], NULL);
	gcheck_assert_none();
	assert_int_equal(atomic_load(&oc.runs), 1);
}

/* fn may use the sync API, even block. */
struct nested {
	rg_once once;
	rg_mutex mu;
	rg_wg wg;
	int ran;
};

static void nested_fn(void *arg)
{
	struct nested *n = arg;

	rg_mutex_lock(&n->mu);
	n->ran++;
	rg_mutex_unlock(&n->mu);
}

static void nested_caller(void *arg)
{
	struct nested *n = arg;

	rg_once_do(&n->once, nested_fn, n);
	rg_wg_done(&n->wg);
}

static void nested_main(void *arg)
{
	struct nested n = { 0 };

	(void)arg;
	rg_mutex_lock(&n.mu); /* fn blocks until we let it go */
	rg_wg_add(&n.wg, 10);
	for (int i = 0; i < 10; i++)
		GCHECK_EQ(rg_go(nested_caller, &n), 0);
	for (int i = 0; i < 20; i++)
		rg_yield();
	rg_mutex_unlock(&n.mu);
	rg_wg_wait(&n.wg);
	GCHECK_EQ(n.ran, 1);
}

static void test_fn_blocks(void **state)
{
	(void)state;
	RUN_FOR_PROCS(nested_main, NULL, 1, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_contention),
		cmocka_unit_test(test_sequential),
		cmocka_unit_test(test_plain_threads_only),
		cmocka_unit_test(test_fn_blocks),
	};

	test_watchdog(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
