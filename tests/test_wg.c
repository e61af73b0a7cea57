/* SPDX-License-Identifier: MIT */
/*
 * test_wg - rg_wg, the sync.WaitGroup: waiting at zero, waking one and
 * many waiters, reuse, use from plain threads (inside and outside a
 * running runtime) and the fatal negative counter.
 */
#include <pthread.h>

#include "tests/helpers.h"

/* --------------------------------------------------------------------- */
/* Wait at zero                                                          */
/* --------------------------------------------------------------------- */

static void zero_main(void *arg)
{
	rg_wg wg = { 0 };

	(void)arg;
	rg_wg_wait(&wg);
	rg_wg_add(&wg, 3);
	rg_wg_add(&wg, -3);
	rg_wg_wait(&wg);
	rg_wg_add(&wg, 0);
	rg_wg_wait(&wg);
}

static void test_wait_at_zero(void **state)
{
	rg_wg wg = { 0 };

	(void)state;
	/* From a plain thread, no runtime running. */
	rg_wg_wait(&wg);
	RUN_FOR_PROCS(zero_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* N goroutines finishing wake the waiter                                */
/* --------------------------------------------------------------------- */

#define DONE_N 500

struct count_ctx {
	atomic_int count;
	rg_wg wg;
};

static void count_worker(void *arg)
{
	struct count_ctx *ctx = arg;

	for (int i = 0; i < 3; i++)
		rg_yield();
	atomic_fetch_add(&ctx->count, 1);
	rg_wg_done(&ctx->wg);
}

static void add_n_main(void *arg)
{
	struct count_ctx *ctx = arg;

	rg_wg_add(&ctx->wg, DONE_N); /* one add for all */
	for (int i = 0; i < DONE_N; i++)
		GCHECK_EQ(rg_go(count_worker, ctx), 0);
	rg_wg_wait(&ctx->wg);
	/* Every done happened before the wait returned. */
	GCHECK_EQ(atomic_load(&ctx->count), DONE_N);
}

static void test_add_n_done_n(void **state)
{
	static const int procs[] = { 1, 2, 4 };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(procs); i++) {
		struct count_ctx ctx = { 0 };

		RUN_IN_RUNTIME(procs[i], add_n_main, &ctx);
		assert_int_equal(atomic_load(&ctx.count), DONE_N);
	}
}

/* --------------------------------------------------------------------- */
/* Several waiters                                                       */
/* --------------------------------------------------------------------- */

#define WAITERS 16

struct multi_ctx {
	rg_wg target;  /* what the waiters wait on */
	rg_wg waiting; /* waiters about to wait */
	rg_wg exited;
	atomic_int woken;
	atomic_int woken_early;
};

static void multi_waiter(void *arg)
{
	struct multi_ctx *ctx = arg;

	rg_wg_done(&ctx->waiting);
	rg_wg_wait(&ctx->target);
	atomic_fetch_add(&ctx->woken, 1);
	rg_wg_done(&ctx->exited);
}

static void multi_main(void *arg)
{
	struct multi_ctx *ctx = arg;

	rg_wg_add(&ctx->target, 2);
	for (int i = 0; i < WAITERS; i++) {
		rg_wg_add(&ctx->waiting, 1);
		rg_wg_add(&ctx->exited, 1);
		GCHECK_EQ(rg_go(multi_waiter, ctx), 0);
	}
	rg_wg_wait(&ctx->waiting);
	for (int i = 0; i < 100; i++)
		rg_yield();
	GCHECK_EQ(atomic_load(&ctx->woken), 0);

	rg_wg_done(&ctx->target); /* 2 -> 1: still nobody wakes */
	for (int i = 0; i < 100; i++)
		rg_yield();
	GCHECK_EQ(atomic_load(&ctx->woken), 0);

	rg_wg_done(&ctx->target); /* 1 -> 0: everybody wakes */
	rg_wg_wait(&ctx->exited);
	GCHECK_EQ(atomic_load(&ctx->woken), WAITERS);
}

static void test_multiple_waiters(void **state)
{
	static const int procs[] = { 1, 2, 4 };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(procs); i++) {
		struct multi_ctx ctx = { 0 };

		RUN_IN_RUNTIME(procs[i], multi_main, &ctx);
		assert_int_equal(atomic_load(&ctx.woken), WAITERS);
	}
}

/* --------------------------------------------------------------------- */
/* Reuse                                                                 */
/* --------------------------------------------------------------------- */

#define REUSE_ROUNDS TEST_SCALE(500, 100)

struct reuse_ctx {
	rg_wg wg;
	atomic_int round_count;
};

static void reuse_worker(void *arg)
{
	struct reuse_ctx *ctx = arg;

	rg_yield();
	atomic_fetch_add(&ctx->round_count, 1);
	rg_wg_done(&ctx->wg);
}

static void reuse_main(void *arg)
{
	struct reuse_ctx *ctx = arg;

	for (int r = 0; r < REUSE_ROUNDS; r++) {
		int n = 1 + r % 5;

		atomic_store(&ctx->round_count, 0);
		rg_wg_add(&ctx->wg, n);
		for (int i = 0; i < n; i++)
			GCHECK_EQ(rg_go(reuse_worker, ctx), 0);
		rg_wg_wait(&ctx->wg);
		GCHECK_EQ(atomic_load(&ctx->round_count), n);
	}
}

static void test_reuse(void **state)
{
	struct reuse_ctx ctx = { 0 };

	(void)state;
	RUN_IN_RUNTIME(2, reuse_main, &ctx);
	memset(&ctx, 0, sizeof(ctx));
	RUN_IN_RUNTIME(1, reuse_main, &ctx);
}

/* --------------------------------------------------------------------- */
/* Done from a plain thread                                              */
/* --------------------------------------------------------------------- */

struct thread_done_ctx {
	rg_wg wg;
	rg_wg keepalive_exited;
	atomic_int thread_did_done;
	atomic_int main_woke;
	atomic_int done_before_wake;
};

static void *done_thread(void *arg)
{
	struct thread_done_ctx *ctx = arg;

	usleep(20000);
	atomic_store(&ctx->thread_did_done, 1);
	rg_wg_done(&ctx->wg);
	return NULL;
}

/*
 * Keeps one goroutine runnable (yielding, sleeping briefly) while main is
 * parked, so that the runtime never sees "all goroutines asleep": the
 * wake-up comes from a thread the runtime does not know about.
 */
static void keepalive(void *arg)
{
	struct thread_done_ctx *ctx = arg;
	int64_t until = now_ns() + 10000000000LL;

	while (!atomic_load(&ctx->main_woke) && now_ns() < until) {
		usleep(500);
		rg_yield();
	}
	rg_wg_done(&ctx->keepalive_exited);
}

static void thread_done_main(void *arg)
{
	struct thread_done_ctx *ctx = arg;
	pthread_t th;

	rg_wg_add(&ctx->wg, 1);
	rg_wg_add(&ctx->keepalive_exited, 1);
	GCHECK_EQ(rg_go(keepalive, ctx), 0);
	bool started = pthread_create(&th, NULL, done_thread, ctx) == 0;

	if (!started) {
		gcheck_fail("pthread_create failed");
		atomic_store(&ctx->thread_did_done, 1);
		rg_wg_done(&ctx->wg);
	}
	rg_wg_wait(&ctx->wg); /* parks this goroutine, not the M */
	atomic_store(&ctx->done_before_wake, atomic_load(&ctx->thread_did_done));
	atomic_store(&ctx->main_woke, 1);
	rg_wg_wait(&ctx->keepalive_exited);
	if (started)
		pthread_join(th, NULL);
}

static void test_done_from_plain_thread(void **state)
{
	static const int procs[] = { 1, 2 };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(procs); i++) {
		struct thread_done_ctx ctx = { 0 };

		RUN_IN_RUNTIME(procs[i], thread_done_main, &ctx);
		assert_int_equal(atomic_load(&ctx.main_woke), 1);
		assert_int_equal(atomic_load(&ctx.done_before_wake), 1);
	}
}

/* --------------------------------------------------------------------- */
/* Wait from a plain thread                                              */
/* --------------------------------------------------------------------- */

#define THREAD_WAIT_N 32

struct thread_wait_ctx {
	rg_wg wg;
	atomic_int thread_waiting;
	atomic_int thread_returned;
	atomic_int count;
	atomic_int count_at_return;
};

static void *wait_thread(void *arg)
{
	struct thread_wait_ctx *ctx = arg;

	atomic_store(&ctx->thread_waiting, 1);
	rg_wg_wait(&ctx->wg); /* blocks this thread */
	atomic_store(&ctx->count_at_return, atomic_load(&ctx->count));
	atomic_store(&ctx->thread_returned, 1);
	return NULL;
}

static void slow_worker(void *arg)
{
	struct thread_wait_ctx *ctx = arg;

	usleep(1000); /* blocks its M a little: the thread is waiting meanwhile */
	rg_yield();
	atomic_fetch_add(&ctx->count, 1);
	rg_wg_done(&ctx->wg);
}

static void thread_wait_main(void *arg)
{
	struct thread_wait_ctx *ctx = arg;
	int64_t until = now_ns() + 10000000000LL;
	pthread_t th;

	rg_wg_add(&ctx->wg, THREAD_WAIT_N);
	if (pthread_create(&th, NULL, wait_thread, ctx) != 0) {
		gcheck_fail("pthread_create failed");
		rg_wg_add(&ctx->wg, -THREAD_WAIT_N);
		return;
	}
	while (!atomic_load(&ctx->thread_waiting))
		usleep(100);
	usleep(2000); /* let it reach the wait */
	GCHECK_EQ(atomic_load(&ctx->thread_returned), 0);

	for (int i = 0; i < THREAD_WAIT_N; i++)
		GCHECK_EQ(rg_go(slow_worker, ctx), 0);
	rg_wg_wait(&ctx->wg); /* the goroutine waits too */
	GCHECK_EQ(atomic_load(&ctx->count), THREAD_WAIT_N);

	/* Do not block the M in pthread_join until the thread is out. */
	while (!atomic_load(&ctx->thread_returned) && now_ns() < until) {
		usleep(200);
		rg_yield();
	}
	GCHECK_EQ(atomic_load(&ctx->thread_returned), 1);
	if (atomic_load(&ctx->thread_returned))
		pthread_join(th, NULL);
	else
		pthread_detach(th);
}

static void test_wait_from_plain_thread(void **state)
{
	static const int procs[] = { 1, 2 };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(procs); i++) {
		struct thread_wait_ctx ctx = { 0 };

		RUN_IN_RUNTIME(procs[i], thread_wait_main, &ctx);
		assert_int_equal(atomic_load(&ctx.thread_returned), 1);
		assert_int_equal(atomic_load(&ctx.count_at_return), THREAD_WAIT_N);
	}
}

/* --------------------------------------------------------------------- */
/* Plain threads only, no runtime                                        */
/* --------------------------------------------------------------------- */

struct plain_ctx {
	rg_wg wg;
	atomic_int count;
	atomic_int seen;
};

static void *plain_worker(void *arg)
{
	struct plain_ctx *ctx = arg;

	usleep(2000);
	atomic_fetch_add(&ctx->count, 1);
	rg_wg_done(&ctx->wg);
	return NULL;
}

static void *plain_waiter(void *arg)
{
	struct plain_ctx *ctx = arg;

	rg_wg_wait(&ctx->wg);
	atomic_store(&ctx->seen, atomic_load(&ctx->count));
	return NULL;
}

/* rg_wg is usable by plain threads when no runtime is running at all. */
static void test_plain_threads_no_runtime(void **state)
{
	struct plain_ctx ctx = { 0 };
	pthread_t workers[4], waiter;

	(void)state;
	rg_wg_add(&ctx.wg, 4);
	assert_int_equal(pthread_create(&waiter, NULL, plain_waiter, &ctx), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&workers[i], NULL, plain_worker, &ctx), 0);
	rg_wg_wait(&ctx.wg);
	assert_int_equal(atomic_load(&ctx.count), 4);
	for (int i = 0; i < 4; i++)
		pthread_join(workers[i], NULL);
	pthread_join(waiter, NULL);
	assert_int_equal(atomic_load(&ctx.seen), 4);
}

/* --------------------------------------------------------------------- */
/* Negative counter: fatal                                               */
/* --------------------------------------------------------------------- */

static void negative_add_main(void *arg)
{
	rg_wg wg = { 0 };

	(void)arg;
	rg_wg_add(&wg, 2);
	rg_wg_add(&wg, -3);
}

static void negative_done_goroutine(void *arg)
{
	rg_wg_done(arg);
}

static void negative_done_main(void *arg)
{
	static rg_wg wg, exited;

	(void)arg;
	rg_wg_add(&exited, 1);
	rg_go(negative_done_goroutine, &wg); /* done on a zero WaitGroup */
	rg_wg_wait(&exited);
}

static int child_negative_add(void)
{
	rg_main(NULL, negative_add_main, NULL);
	return 0;
}

static int child_negative_done(void)
{
	return run_child_main(2, negative_done_main);
}

static int child_negative_plain(void)
{
	rg_wg wg = { 0 };

	rg_wg_done(&wg);
	return 0;
}

static const struct child_case child_cases[] = {
	{ "negative_add", child_negative_add },
	{ "negative_done", child_negative_done },
	{ "negative_plain", child_negative_plain },
};

static void test_negative_counter(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(child_cases); i++) {
		const char *name = child_cases[i].name;
		struct child_result r;

		run_child_case(name, NULL, &r);
		assert_child_exit(name, &r, 2);
		assert_child_stderr_has(name, &r, "negative WaitGroup counter");
		child_result_free(&r);
	}
}

int main(int argc, char **argv)
{
	int rc = child_dispatch(argc, argv, child_cases, ARRAY_SIZE(child_cases));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wait_at_zero),
		cmocka_unit_test(test_add_n_done_n),
		cmocka_unit_test(test_multiple_waiters),
		cmocka_unit_test(test_reuse),
		cmocka_unit_test(test_done_from_plain_thread),
		cmocka_unit_test(test_wait_from_plain_thread),
		cmocka_unit_test(test_plain_threads_no_runtime),
		cmocka_unit_test(test_negative_counter),
	};

	if (rc >= 0)
		return rc;
	test_watchdog(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
