/* SPDX-License-Identifier: MIT */
/*
 * test_mutex - rg_mutex, sync.Mutex: an exact counter under heavy
 * contention, trylock, starvation mode (FIFO hand-off after a waiter
 * waited over 1 ms), plain threads mixed with goroutines, and the fatal
 * errors: unlock of an unlocked mutex, a deadlock naming the wait reason.
 */
#include <pthread.h>

#include "tests/helpers.h"

#include "runtime/sync.h"

static int32_t mutex_state(rg_mutex *m)
{
	return atomic_load(&((struct mutex *)m)->state);
}

static int32_t mutex_waiters(rg_mutex *m)
{
	return mutex_state(m) >> MUTEX_WAITER_SHIFT;
}

/* --------------------------------------------------------------------- */
/* Counter: thousands of goroutines, one mutex                           */
/* --------------------------------------------------------------------- */

#define COUNT_G	    TEST_SCALE(4000, 400)
#define COUNT_ITERS TEST_SCALE(200, 50)

struct counter {
	rg_mutex mu;
	long value;  /* mu; a plain field, so that TSan checks the mutex */
	long inside; /* mu; goroutines in the critical section */
	rg_wg wg;
};

static void count_worker(void *arg)
{
	struct counter *c = arg;

	for (int i = 0; i < COUNT_ITERS; i++) {
		rg_mutex_lock(&c->mu);
		GCHECK_EQ(c->inside++, 0);
		c->value++;
		if ((i & 15) == 0)
			rg_yield(); /* others pile up behind us */
		c->inside--;
		rg_mutex_unlock(&c->mu);
	}
	rg_wg_done(&c->wg);
}

static void count_main(void *arg)
{
	struct counter *c = arg;

	memset(c, 0, sizeof(*c));
	rg_wg_add(&c->wg, COUNT_G);
	for (int i = 0; i < COUNT_G; i++)
		GCHECK_EQ(rg_go(count_worker, c), 0);
	rg_wg_wait(&c->wg);
	rg_mutex_lock(&c->mu);
	GCHECK_EQ(c->value, (long)COUNT_G * COUNT_ITERS);
	rg_mutex_unlock(&c->mu);
	GCHECK_EQ(mutex_state(&c->mu), 0);
}

static void test_counter(void **state)
{
	static struct counter c;

	(void)state;
	RUN_FOR_PROCS(count_main, &c, 1, 2, 8);
}

/* --------------------------------------------------------------------- */
/* trylock                                                               */
/* --------------------------------------------------------------------- */

struct try_ctx {
	rg_mutex mu;
	rg_wg wg;
};

static void try_holder(void *arg)
{
	struct try_ctx *t = arg;

	/* Held by main: trylock fails without blocking. */
	GCHECK_EQ(rg_mutex_trylock(&t->mu), -EBUSY);
	rg_wg_done(&t->wg);
}

static void try_main(void *arg)
{
	struct try_ctx t = { 0 };
	rg_mutex mu = { 0 };

	(void)arg;
	GCHECK_EQ(rg_mutex_trylock(&t.mu), 0);
	GCHECK_EQ(rg_mutex_trylock(&t.mu), -EBUSY);
	rg_wg_add(&t.wg, 1);
	GCHECK_EQ(rg_go(try_holder, &t), 0);
	rg_wg_wait(&t.wg);
	rg_mutex_unlock(&t.mu);
	GCHECK_EQ(mutex_state(&t.mu), 0);
	GCHECK_EQ(rg_mutex_trylock(&mu), 0);
	rg_mutex_unlock(&mu);
	rg_mutex_lock(&mu);
	GCHECK_EQ(rg_mutex_trylock(&mu), -EBUSY);
	rg_mutex_unlock(&mu);
	GCHECK_EQ(mutex_state(&mu), 0);
}

static void test_trylock(void **state)
{
	rg_mutex mu = { 0 };

	(void)state;
	/* From a plain thread, no runtime running. */
	assert_int_equal(rg_mutex_trylock(&mu), 0);
	assert_int_equal(rg_mutex_trylock(&mu), -EBUSY);
	rg_mutex_unlock(&mu);
	RUN_FOR_PROCS(try_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* Starvation mode                                                       */
/* --------------------------------------------------------------------- */

/*
 * With one P, main holds the mutex while STARVE_W waiters queue on it, one
 * at a time, in a known order; then it keeps them waiting over 1 ms.  Then
 * main behaves like a greedy goroutine: it unlocks and at once locks again,
 * and yields while holding the mutex.  In normal mode it would win every
 * time (the woken waiter is not running when main locks again), and the
 * waiters would get nothing.  The first waiter woken finds the mutex held
 * after waiting over 1 ms and switches it to starvation mode; main's next
 * unlock then hands the mutex to the first waiter, and it goes down the
 * queue in FIFO order before main gets it back.
 */
#define STARVE_W 6

struct starve {
	rg_mutex mu;
	rg_wg wg;
	int order[STARVE_W]; /* mu */
	int n;		     /* mu */
};

static struct starve starve;

static void starve_waiter_fn(void *arg)
{
	struct starve *s = &starve;

	rg_mutex_lock(&s->mu);
	s->order[s->n++] = (int)(intptr_t)arg;
	rg_mutex_unlock(&s->mu);
	rg_wg_done(&s->wg);
}

static void starve_main(void *arg)
{
	struct starve *s = &starve;
	bool saw_starving = false;
	int64_t t0;
	int iter, n = 0;

	(void)arg;
	memset(s, 0, sizeof(*s));
	rg_mutex_lock(&s->mu);
	rg_wg_add(&s->wg, STARVE_W);
	for (int i = 0; i < STARVE_W; i++) {
		GCHECK_EQ(rg_go(starve_waiter_fn, (void *)(intptr_t)i), 0);
		while (mutex_waiters(&s->mu) < i + 1)
			rg_yield();
	}
	t0 = now_ns();
	while (now_ns() - t0 < 3000000)
		;
	for (iter = 0; iter < 20 && n < STARVE_W; iter++) {
		rg_mutex_unlock(&s->mu);
		rg_mutex_lock(&s->mu);
		n = s->n;
		rg_yield(); /* the woken waiter finds the mutex held */
		saw_starving |= (mutex_state(&s->mu) & MUTEX_STARVING) != 0;
		/* Starvation mode: trylock fails even when the mutex is free. */
		if (mutex_state(&s->mu) & MUTEX_STARVING)
			GCHECK(rg_mutex_trylock(&s->mu) == -EBUSY);
	}
	rg_mutex_unlock(&s->mu);
	rg_wg_wait(&s->wg);
	GCHECK(saw_starving);
	GCHECK_EQ(n, STARVE_W);
	GCHECK(iter <= 3);
	for (int i = 0; i < STARVE_W; i++)
		GCHECK_EQ(s->order[i], i);
	/* Back in normal mode once the queue drained. */
	GCHECK_EQ(mutex_state(&s->mu), 0);
}

static void test_starvation_mode(void **state)
{
	(void)state;
	RUN_IN_RUNTIME(1, starve_main, NULL);
}

/*
 * Short waits stay in normal mode: waiters woken at once (well under
 * 1 ms) never set MUTEX_STARVING.
 */
struct normal {
	rg_mutex mu;
	rg_wg wg;
	int done;
};

static void normal_waiter(void *arg)
{
	struct normal *s = arg;

	rg_mutex_lock(&s->mu);
	s->done++;
	rg_mutex_unlock(&s->mu);
	rg_wg_done(&s->wg);
}

static void normal_main(void *arg)
{
	struct normal s = { 0 };
	int64_t t0 = now_ns();

	(void)arg;
	rg_mutex_lock(&s.mu);
	rg_wg_add(&s.wg, 4);
	for (int i = 0; i < 4; i++)
		GCHECK_EQ(rg_go(normal_waiter, &s), 0);
	rg_yield();
	rg_mutex_unlock(&s.mu);
	rg_wg_wait(&s.wg);
	GCHECK_EQ(s.done, 4);
	/* Only meaningful when the whole test stayed under the threshold. */
	if (now_ns() - t0 < 500000)
		GCHECK_EQ(mutex_state(&s.mu) & MUTEX_STARVING, 0);
	GCHECK_EQ(mutex_state(&s.mu), 0);
}

static void test_short_waits_stay_normal(void **state)
{
	(void)state;
	RUN_IN_RUNTIME(1, normal_main, NULL);
}

/* --------------------------------------------------------------------- */
/* Plain threads mixed with goroutines                                   */
/* --------------------------------------------------------------------- */

#define MIX_THREADS 3
#define MIX_G	    16
#define MIX_ITERS   TEST_SCALE(20000, 2000)

static struct counter mix;

static void *mix_thread(void *arg)
{
	(void)arg;
	for (int i = 0; i < MIX_ITERS; i++) {
		rg_mutex_lock(&mix.mu);
		mix.value++;
		rg_mutex_unlock(&mix.mu);
	}
	return NULL;
}

static void mix_worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < MIX_ITERS; i++) {
		rg_mutex_lock(&mix.mu);
		mix.value++;
		if ((i & 255) == 0)
			rg_yield();
		rg_mutex_unlock(&mix.mu);
	}
	rg_wg_done(&mix.wg);
}

static void mix_main(void *arg)
{
	pthread_t th[MIX_THREADS];

	(void)arg;
	memset(&mix, 0, sizeof(mix));
	for (int i = 0; i < MIX_THREADS; i++)
		GCHECK_EQ(pthread_create(&th[i], NULL, mix_thread, NULL), 0);
	rg_wg_add(&mix.wg, MIX_G);
	for (int i = 0; i < MIX_G; i++)
		GCHECK_EQ(rg_go(mix_worker, NULL), 0);
	rg_wg_wait(&mix.wg);
	for (int i = 0; i < MIX_THREADS; i++)
		pthread_join(th[i], NULL);
	GCHECK_EQ(mix.value, (long)(MIX_THREADS + MIX_G) * MIX_ITERS);
}

static void test_plain_threads(void **state)
{
	pthread_t th[MIX_THREADS];

	(void)state;
	RUN_FOR_PROCS(mix_main, NULL, 1, 4);
	/* No runtime at all: plain threads only. */
	memset(&mix, 0, sizeof(mix));
	for (int i = 0; i < MIX_THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, mix_thread, NULL), 0);
	for (int i = 0; i < MIX_THREADS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(mix.value, (long)MIX_THREADS * MIX_ITERS);
}

/* --------------------------------------------------------------------- */
/* Fatal errors                                                          */
/* --------------------------------------------------------------------- */

static void unlock_unlocked_main(void *arg)
{
	rg_mutex mu = { 0 };

	(void)arg;
	rg_mutex_unlock(&mu);
}

static int child_unlock_unlocked(void)
{
	return run_runtime(2, 0, unlock_unlocked_main, NULL) ? 1 : 0;
}

static int child_unlock_unlocked_thread(void)
{
	static rg_mutex mu;

	rg_mutex_lock(&mu);
	rg_mutex_unlock(&mu);
	rg_mutex_unlock(&mu);
	return 0;
}

static void double_lock_main(void *arg)
{
	rg_mutex mu = { 0 };

	(void)arg;
	rg_mutex_lock(&mu);
	rg_mutex_lock(&mu);
}

static int child_double_lock(void)
{
	return run_runtime(2, 0, double_lock_main, NULL) ? 1 : 0;
}

static void test_unlock_unlocked_is_fatal(void **state)
{
	struct child_result r;

	(void)state;
	run_child_case("unlock_unlocked", NULL, &r);
	assert_child_exit("unlock_unlocked", &r, 2);
	assert_child_stderr_has("unlock_unlocked", &r,
				"fatal error: sync: unlock of unlocked mutex");
	assert_child_stderr_has("unlock_unlocked", &r, "rg_mutex_unlock");
	assert_child_stderr_has("unlock_unlocked", &r, "goroutine 1 [running]");
	child_result_free(&r);

	run_child_case("unlock_unlocked_thread", NULL, &r);
	assert_child_exit("unlock_unlocked_thread", &r, 2);
	assert_child_stderr_has("unlock_unlocked_thread", &r,
				"fatal error: sync: unlock of unlocked mutex");
	child_result_free(&r);
}

static void test_deadlock_reports_wait_reason(void **state)
{
	(void)state;
	expect_fatal("double_lock", DEADLOCK_MSG, "goroutine 1 [sync.Mutex.Lock]", NULL);
}

int main(int argc, char **argv)
{
	static const struct child_case cases[] = {
		{ "unlock_unlocked", child_unlock_unlocked },
		{ "unlock_unlocked_thread", child_unlock_unlocked_thread },
		{ "double_lock", child_double_lock },
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter),
		cmocka_unit_test(test_trylock),
		cmocka_unit_test(test_starvation_mode),
		cmocka_unit_test(test_short_waits_stay_normal),
		cmocka_unit_test(test_plain_threads),
		cmocka_unit_test(test_unlock_unlocked_is_fatal),
		cmocka_unit_test(test_deadlock_reports_wait_reason),
	};
	int rc = child_dispatch(argc, argv, cases, ARRAY_SIZE(cases));

	if (rc >= 0)
		return rc;
	test_watchdog(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
