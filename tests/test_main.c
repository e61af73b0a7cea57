/* SPDX-License-Identifier: MIT */
/*
 * test_main - the Runtime banner of ringo.h: rg_main() and its return
 * values, re-entry, rg_goid(), rg_num_goroutine(), rg_gomaxprocs(),
 * rg_go() outside the runtime, abandoned goroutines, rg_version(); rg_main
 * returns within a few slices while abandoned goroutines never call into the
 * runtime; rg_exit in the main goroutine waits for the others, or reports
 * their deadlock.
 */
#include <pthread.h>
#include <stdlib.h>

#include "tests/helpers.h"

/* Loop rg_yield() until @cond holds or @ms milliseconds have passed. */
#define YIELD_UNTIL(cond, ms)                                      \
	do {                                                       \
		int64_t until_ = now_ns() + (int64_t)(ms)*1000000; \
		while (!(cond) && now_ns() < until_)               \
			rg_yield();                                \
	} while (0)

/* --------------------------------------------------------------------- */

static void set_flag(void *arg)
{
	atomic_store((atomic_int *)arg, 1);
}

static void test_main_returns_zero(void **state)
{
	atomic_int ran = 0;

	(void)state;
	assert_int_equal(rg_main(NULL, set_flag, &ran), 0);
	assert_int_equal(atomic_load(&ran), 1);

	rg_config zero = { 0 };
	atomic_store(&ran, 0);
	assert_int_equal(rg_main(&zero, set_flag, &ran), 0);
	assert_int_equal(atomic_load(&ran), 1);
}

/* --------------------------------------------------------------------- */

struct reentry {
	int want_procs;
	atomic_int count;
	rg_wg wg;
};

static void reentry_worker(void *arg)
{
	struct reentry *re = arg;

	rg_yield();
	atomic_fetch_add(&re->count, 1);
	rg_wg_done(&re->wg);
}

static void reentry_main(void *arg)
{
	struct reentry *re = arg;

	GCHECK_EQ(rg_goid(), 1);
	GCHECK_EQ(rg_num_goroutine(), 1);
	GCHECK_EQ(rg_gomaxprocs(0), re->want_procs);
	for (int i = 0; i < 50; i++) {
		rg_wg_add(&re->wg, 1);
		GCHECK_EQ(rg_go(reentry_worker, re), 0);
	}
	rg_wg_wait(&re->wg);
	GCHECK_EQ(atomic_load(&re->count), 50);
}

static void test_main_reentry(void **state)
{
	static const int procs[] = { 1, 2, 4, 3, 1 };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(procs); i++) {
		struct reentry re = { .want_procs = procs[i] };

		RUN_IN_RUNTIME(procs[i], reentry_main, &re);
		assert_int_equal(atomic_load(&re.count), 50);
		assert_int_equal(rg_num_goroutine(), 0);
		assert_int_equal(rg_goid(), 0);
	}
}

/* --------------------------------------------------------------------- */

static void nested_main_noop(void *arg)
{
	atomic_store((atomic_int *)arg, 1);
}

struct ebusy {
	atomic_int inner_ran;
	atomic_int from_goroutine;
	atomic_int from_thread;
	rg_wg wg;
};

static void ebusy_goroutine(void *arg)
{
	struct ebusy *eb = arg;

	atomic_store(&eb->from_goroutine, rg_main(NULL, nested_main_noop, &eb->inner_ran));
	rg_wg_done(&eb->wg);
}

static void *ebusy_thread(void *arg)
{
	struct ebusy *eb = arg;

	atomic_store(&eb->from_thread, rg_main(NULL, nested_main_noop, &eb->inner_ran));
	return NULL;
}

static void ebusy_main(void *arg)
{
	struct ebusy *eb = arg;
	pthread_t th;

	/* From the main goroutine. */
	GCHECK_EQ(rg_main(NULL, nested_main_noop, &eb->inner_ran), -EBUSY);

	/* From another goroutine. */
	rg_wg_add(&eb->wg, 1);
	GCHECK_EQ(rg_go(ebusy_goroutine, eb), 0);
	rg_wg_wait(&eb->wg);

	/* From a plain thread while the runtime runs (blocks this M briefly). */
	if (pthread_create(&th, NULL, ebusy_thread, eb) == 0)
		pthread_join(th, NULL);
	else
		gcheck_fail("pthread_create failed");
}

static void test_main_ebusy(void **state)
{
	struct ebusy eb = { .from_goroutine = 1, .from_thread = 1 };

	(void)state;
	RUN_IN_RUNTIME(2, ebusy_main, &eb);
	assert_int_equal(atomic_load(&eb.from_goroutine), -EBUSY);
	assert_int_equal(atomic_load(&eb.from_thread), -EBUSY);
	assert_int_equal(atomic_load(&eb.inner_ran), 0);

	/* The runtime is still usable afterwards. */
	atomic_int ran = 0;
	assert_int_equal(rg_main(NULL, set_flag, &ran), 0);
	assert_int_equal(atomic_load(&ran), 1);
}

/* --------------------------------------------------------------------- */

#define GOID_N 200

struct goid_ctx {
	_Atomic uint64_t ids[GOID_N];
	_Atomic uint64_t thread_sees;
	rg_wg wg;
};

struct goid_arg {
	struct goid_ctx *ctx;
	int idx;
};

static void goid_worker(void *arg)
{
	struct goid_arg *ga = arg;
	uint64_t id = rg_goid();

	rg_yield();
	GCHECK_EQ(rg_goid(), id); /* stable across a reschedule */
	atomic_store(&ga->ctx->ids[ga->idx], id);
	rg_wg_done(&ga->ctx->wg);
}

static void *goid_thread(void *arg)
{
	struct goid_ctx *ctx = arg;

	atomic_store(&ctx->thread_sees, rg_goid());
	return NULL;
}

static void goid_main(void *arg)
{
	struct goid_ctx *ctx = arg;
	static struct goid_arg args[GOID_N];
	pthread_t th;

	GCHECK_EQ(rg_goid(), 1);
	for (int i = 0; i < GOID_N; i++) {
		args[i] = (struct goid_arg){ ctx, i };
		rg_wg_add(&ctx->wg, 1);
		GCHECK_EQ(rg_go(goid_worker, &args[i]), 0);
	}
	rg_wg_wait(&ctx->wg);
	GCHECK_EQ(rg_goid(), 1);

	if (pthread_create(&th, NULL, goid_thread, ctx) == 0)
		pthread_join(th, NULL);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static void test_goid(void **state)
{
	static struct goid_ctx ctx;
	uint64_t ids[GOID_N];

	(void)state;
	assert_int_equal(rg_goid(), 0);
	atomic_store(&ctx.thread_sees, 12345);
	RUN_IN_RUNTIME(2, goid_main, &ctx);
	assert_int_equal(rg_goid(), 0);
	assert_int_equal(atomic_load(&ctx.thread_sees), 0);

	for (int i = 0; i < GOID_N; i++) {
		ids[i] = atomic_load(&ctx.ids[i]);
		assert_true(ids[i] > 1); /* 0: no goroutine, 1: main */
	}
	qsort(ids, GOID_N, sizeof(ids[0]), cmp_u64);
	for (int i = 1; i < GOID_N; i++)
		if (ids[i] == ids[i - 1])
			fail_msg("goroutine id %llu given twice", (unsigned long long)ids[i]);
}

/* --------------------------------------------------------------------- */

#define NUMG_N 64

struct numg_ctx {
	rg_wg started;
	rg_wg gate;
	rg_wg finished;
};

static void numg_worker(void *arg)
{
	struct numg_ctx *ctx = arg;

	rg_wg_done(&ctx->started);
	rg_wg_wait(&ctx->gate);
	rg_wg_done(&ctx->finished);
}

static void *numg_thread(void *arg)
{
	atomic_store((atomic_int *)arg, rg_num_goroutine());
	return NULL;
}

static void numg_main(void *arg)
{
	struct numg_ctx ctx = { 0 };
	atomic_int thread_sees = -1;
	pthread_t th;

	(void)arg;
	GCHECK_EQ(rg_num_goroutine(), 1);

	rg_wg_add(&ctx.gate, 1);
	for (int i = 0; i < NUMG_N - 1; i++) {
		rg_wg_add(&ctx.started, 1);
		rg_wg_add(&ctx.finished, 1);
		GCHECK_EQ(rg_go(numg_worker, &ctx), 0);
	}
	rg_wg_wait(&ctx.started);
	GCHECK_EQ(rg_num_goroutine(), NUMG_N);

	/* "any": a plain thread sees the same count. */
	if (pthread_create(&th, NULL, numg_thread, &thread_sees) == 0) {
		pthread_join(th, NULL);
		GCHECK_EQ(atomic_load(&thread_sees), NUMG_N);
	}

	rg_wg_done(&ctx.gate);
	rg_wg_wait(&ctx.finished);
	/* Workers end right after their last rg_wg_done(). */
	YIELD_UNTIL(rg_num_goroutine() == 1, 5000);
	GCHECK_EQ(rg_num_goroutine(), 1);
}

static void test_num_goroutine(void **state)
{
	static const int procs[] = { 1, 2, 4 };

	(void)state;
	assert_int_equal(rg_num_goroutine(), 0);
	for (size_t i = 0; i < ARRAY_SIZE(procs); i++) {
		int mp = procs[i];

		RUN_IN_RUNTIME(mp, numg_main, &mp);
		assert_int_equal(rg_num_goroutine(), 0);
	}
}

/* --------------------------------------------------------------------- */

struct procs_ctx {
	atomic_int thread_rc;
	atomic_int ran;
	rg_wg wg;
};

static void procs_worker(void *arg)
{
	struct procs_ctx *ctx = arg;

	for (int i = 0; i < 10; i++)
		rg_yield();
	atomic_fetch_add(&ctx->ran, 1);
	rg_wg_done(&ctx->wg);
}

static void *procs_thread(void *arg)
{
	struct procs_ctx *ctx = arg;

	atomic_store(&ctx->thread_rc, rg_gomaxprocs(2));
	return NULL;
}

static void procs_run_workers(struct procs_ctx *ctx, int n)
{
	for (int i = 0; i < n; i++) {
		rg_wg_add(&ctx->wg, 1);
		GCHECK_EQ(rg_go(procs_worker, ctx), 0);
	}
	rg_wg_wait(&ctx->wg);
}

static void procs_main(void *arg)
{
	struct procs_ctx *ctx = arg;
	pthread_t th;

	GCHECK_EQ(rg_gomaxprocs(0), 2);
	GCHECK_EQ(rg_gomaxprocs(-1), 2);
	GCHECK_EQ(rg_gomaxprocs(0), 2);
	procs_run_workers(ctx, 16);

	GCHECK_EQ(rg_gomaxprocs(4), 2);
	GCHECK_EQ(rg_gomaxprocs(0), 4);
	procs_run_workers(ctx, 16);

	GCHECK_EQ(rg_gomaxprocs(1), 4);
	GCHECK_EQ(rg_gomaxprocs(0), 1);
	procs_run_workers(ctx, 16);

	/* Setting the same value is allowed and returns it. */
	GCHECK_EQ(rg_gomaxprocs(1), 1);

	/* Change it while goroutines are running. */
	for (int i = 0; i < 16; i++) {
		rg_wg_add(&ctx->wg, 1);
		GCHECK_EQ(rg_go(procs_worker, ctx), 0);
	}
	GCHECK_EQ(rg_gomaxprocs(3), 1);
	rg_yield();
	GCHECK_EQ(rg_gomaxprocs(2), 3);
	rg_wg_wait(&ctx->wg);
	GCHECK_EQ(rg_gomaxprocs(0), 2);

	if (pthread_create(&th, NULL, procs_thread, ctx) == 0)
		pthread_join(th, NULL);
	GCHECK_EQ(rg_gomaxprocs(0), 2);
}

static void test_gomaxprocs(void **state)
{
	struct procs_ctx ctx = { .thread_rc = 1 };

	(void)state;
	assert_int_equal(rg_gomaxprocs(0), -EPERM);
	assert_int_equal(rg_gomaxprocs(2), -EPERM);
	RUN_IN_RUNTIME(2, procs_main, &ctx);
	assert_int_equal(atomic_load(&ctx.ran), 64);
	assert_int_equal(atomic_load(&ctx.thread_rc), -EPERM);
	assert_int_equal(rg_gomaxprocs(0), -EPERM);
	assert_int_equal(rg_gomaxprocs(3), -EPERM);
}

/* --------------------------------------------------------------------- */

static atomic_int go_outside_ran;

static void go_outside_fn(void *arg)
{
	(void)arg;
	atomic_store(&go_outside_ran, 1);
}

static void *go_outside_thread(void *arg)
{
	atomic_store((atomic_int *)arg, rg_go(go_outside_fn, NULL));
	return NULL;
}

static void go_outside_main(void *arg)
{
	pthread_t th;

	if (pthread_create(&th, NULL, go_outside_thread, arg) == 0)
		pthread_join(th, NULL);
	else
		gcheck_fail("pthread_create failed");
}

static void test_go_outside(void **state)
{
	atomic_int thread_rc = 1;

	(void)state;
	assert_int_equal(rg_go(go_outside_fn, NULL), -EPERM);
	RUN_IN_RUNTIME(2, go_outside_main, &thread_rc);
	assert_int_equal(atomic_load(&thread_rc), -EPERM);
	assert_int_equal(rg_go(go_outside_fn, NULL), -EPERM);
	assert_int_equal(atomic_load(&go_outside_ran), 0);
}

/* --------------------------------------------------------------------- */

/* Static: abandoned goroutines keep pointing at these after rg_main(). */
static rg_wg abandon_never;
static rg_wg abandon_started;
static atomic_long abandon_spins;
static atomic_int abandon_after_gate;

static void abandon_parked(void *arg)
{
	(void)arg;
	rg_wg_done(&abandon_started);
	rg_wg_wait(&abandon_never);
	atomic_store(&abandon_after_gate, 1); /* never reached */
}

static void abandon_spinner(void *arg)
{
	(void)arg;
	rg_wg_done(&abandon_started);
	for (;;) {
		atomic_fetch_add(&abandon_spins, 1);
		rg_yield();
	}
}

static void abandon_main(void *arg)
{
	int spinners = *(int *)arg;

	rg_wg_add(&abandon_never, 1);
	for (int i = 0; i < 10; i++) {
		rg_wg_add(&abandon_started, 1);
		GCHECK_EQ(rg_go(abandon_parked, NULL), 0);
	}
	for (int i = 0; i < spinners; i++) {
		rg_wg_add(&abandon_started, 1);
		GCHECK_EQ(rg_go(abandon_spinner, NULL), 0);
	}
	rg_wg_wait(&abandon_started);
	GCHECK_EQ(rg_num_goroutine(), 11 + spinners);
	/* Return with everything else still alive. */
}

static void fresh_main(void *arg)
{
	atomic_store((atomic_int *)arg, rg_num_goroutine());
}

static void test_abandoned(void **state)
{
	int spinners = 0;
	atomic_int fresh_count = -1;
	long spins;

	(void)state;
	/* Goroutines parked on a WaitGroup forever. */
	RUN_IN_RUNTIME(2, abandon_main, &spinners);

	/* Plus runnable goroutines that yield in a loop forever. */
	spinners = 4;
	RUN_FOR_PROCS(abandon_main, &spinners, 2, 1);

	/* Abandoned goroutines do not run after rg_main() returned. */
	spins = atomic_load(&abandon_spins);
	usleep(20000);
	assert_int_equal(atomic_load(&abandon_spins), spins);
	assert_int_equal(atomic_load(&abandon_after_gate), 0);

	/* A new run starts afresh: only its own main goroutine is alive. */
	RUN_IN_RUNTIME(2, fresh_main, &fresh_count);
	assert_int_equal(atomic_load(&fresh_count), 1);
}

/* --------------------------------------------------------------------- */

static void test_bad_config(void **state)
{
	atomic_int ran = 0;
	rg_config cfg = { .maxprocs = -1 };

	(void)state;
	assert_int_equal(rg_main(&cfg, set_flag, &ran), -EINVAL);
	cfg.maxprocs = -100;
	assert_int_equal(rg_main(&cfg, set_flag, &ran), -EINVAL);
	assert_int_equal(atomic_load(&ran), 0);
	assert_int_equal(rg_num_goroutine(), 0);

	/* A good config still works afterwards. */
	cfg.maxprocs = 1;
	assert_int_equal(rg_main(&cfg, set_flag, &ran), 0);
	assert_int_equal(atomic_load(&ran), 1);
}

/* --------------------------------------------------------------------- */

struct big_frame {
	atomic_int ran;
	rg_wg wg;
};

static void big_frame_worker(void *arg)
{
	struct big_frame *bf = arg;
	volatile unsigned char buf[128 * 1024];

	for (size_t i = 0; i < sizeof(buf); i += 512)
		buf[i] = (unsigned char)(i >> 9);
	rg_yield();
	for (size_t i = 0; i < sizeof(buf); i += 512)
		GCHECK_EQ(buf[i], (unsigned char)(i >> 9));
	atomic_store(&bf->ran, 1);
	rg_wg_done(&bf->wg);
}

static void big_frame_main(void *arg)
{
	struct big_frame *bf = arg;

	rg_wg_add(&bf->wg, 1);
	GCHECK_EQ(rg_go(big_frame_worker, bf), 0);
	rg_wg_wait(&bf->wg);
}

/* rg_config.stack_size is honoured: a 1 MiB stack holds a 128 KiB frame. */
static void test_stack_size_config(void **state)
{
	struct big_frame bf = { 0 };

	(void)state;
	RUN_IN_RUNTIME_STACK(2, 1u << 20, big_frame_main, &bf);
	assert_int_equal(atomic_load(&bf.ran), 1);
}

/* --------------------------------------------------------------------- */

static void test_version(void **state)
{
	(void)state;
	assert_int_equal(rg_version(), RINGO_VERSION);
	assert_int_equal(RINGO_VERSION, (RINGO_VERSION_MAJOR << 16) | (RINGO_VERSION_MINOR << 8) |
						RINGO_VERSION_PATCH);
}

/* --------------------------------------------------------------------- */
/* rg_main's return while goroutines still compute                       */
/* --------------------------------------------------------------------- */

static volatile uint64_t hang_sink;

/* Never calls into the runtime. */
static void hang_spinner(void *arg)
{
	uint64_t x = 1;

	(void)arg;
	for (;;) {
		for (int i = 0; i < 1000; i++)
			x = x * 6364136223846793005ull + 1442695040888963407ull;
		hang_sink = x;
	}
}

static void hang_locked(void *arg)
{
	(void)arg;
	rg_lock_os_thread();
	for (;;)
		rg_sleep_ns(100000);
}

struct hang_ctx {
	int spinners;
	bool locked;
};

static void hang_main(void *arg)
{
	struct hang_ctx *hc = arg;

	for (int i = 0; i < hc->spinners; i++)
		GCHECK_EQ(rg_go(hang_spinner, NULL), 0);
	if (hc->locked)
		GCHECK_EQ(rg_go(hang_locked, NULL), 0);
	/* Let the spinners take every P, the main goroutine's own included. */
	rg_sleep_ns(5000000);
}

/*
 * rg_main returns within a few time slices while the goroutines it
 * abandons never call into the runtime: once stopped sysmon preempted
 * nothing, and an M running a spinner was joined forever (2 to 4 runs in
 * 6 hung).
 */
static void test_main_return_hang(void **state)
{
	static const struct hang_ctx cases[] = { { 2, false }, { 3, false }, { 2, true } };
	const int64_t bound = (RG_TEST_SANITIZED ? 10000 : 2000) * 1000000LL;

	(void)state;
	if (!preemption_works())
		skip();
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		for (int round = 0; round < 6; round++) {
			struct hang_ctx hc = cases[i];
			int64_t t0 = now_ns();

			RUN_IN_RUNTIME(2, hang_main, &hc);
			if (now_ns() - t0 > bound)
				fail_msg("rg_main took %lld ms to return (%d spinners%s)",
					 (long long)((now_ns() - t0) / 1000000), hc.spinners,
					 hc.locked ? ", a locked goroutine" : "");
		}
	}
}

/* --------------------------------------------------------------------- */
/* rg_exit from the main goroutine                                       */
/* --------------------------------------------------------------------- */

static atomic_int goexit_done;

static void goexit_worker(void *arg)
{
	(void)arg;
	rg_sleep_ns(5000000);
	rg_yield();
	atomic_fetch_add(&goexit_done, 1);
}

static void goexit_spawner(void *arg)
{
	(void)arg;
	rg_sleep_ns(10000000);
	for (int i = 0; i < 50; i++)
		GCHECK_EQ(rg_go(goexit_worker, NULL), 0);
	atomic_fetch_add(&goexit_done, 1);
}

static void goexit_main(void *arg)
{
	(void)arg;
	for (int i = 0; i < 50; i++)
		GCHECK_EQ(rg_go(goexit_worker, NULL), 0);
	/* Started later, from another goroutine: rg_main must wait for it. */
	GCHECK_EQ(rg_go(goexit_spawner, NULL), 0);
	rg_exit();
}

static void goexit_alone_main(void *arg)
{
	(void)arg;
	rg_exit();
}

/*
 * rg_exit in the main goroutine lets the others run to their end, then
 * rg_main returns 0 (it returned at once, and their work was lost).
 */
static void test_main_goexit_waits(void **state)
{
	(void)state;
	for (int procs = 1; procs <= 2; procs++) {
		atomic_store(&goexit_done, 0);
		RUN_IN_RUNTIME(procs, goexit_main, NULL);
		assert_int_equal(atomic_load(&goexit_done), 101);
	}
	/* No other goroutine: rg_main returns at once. */
	RUN_IN_RUNTIME(2, goexit_alone_main, NULL);
}

static void goexit_blocked(void *arg)
{
	rg_chan_recv(arg, NULL); /* nobody sends */
}

static void goexit_deadlock_main(void *arg)
{
	GCHECK_EQ(rg_go(goexit_blocked, arg), 0);
	rg_sleep_ns(1000000);
	rg_exit();
}

static int child_goexit_deadlock(void)
{
	rg_chan *c = rg_chan_make(0, 0);

	if (!c)
		return 1;
	/* The main goroutine leaves; the one left can never run again. */
	return child_checks_status(rg_main(NULL, goexit_deadlock_main, c));
}

/* ... and when the goroutines left are all blocked for ever, that is the
 * deadlock report, as Go's. */
static void test_main_goexit_deadlock(void **state)
{
	struct child_result r;

	(void)state;
	assert_int_equal(child_run("goexit_deadlock", NULL, &r), 0);
	assert_child_stderr_has("goexit_deadlock", &r, DEADLOCK_MSG);
	if (!r.exited || r.exit_code != 2) {
		child_dump("goexit_deadlock", &r);
		fail_msg("child 'goexit_deadlock': expected exit status 2");
	}
	child_result_free(&r);
}

static const struct child_case child_cases[] = {
	{ "goexit_deadlock", child_goexit_deadlock },
};

int main(int argc, char **argv)
{
	int rc = child_dispatch(argc, argv, child_cases, ARRAY_SIZE(child_cases));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_main_returns_zero),
		cmocka_unit_test(test_main_reentry),
		cmocka_unit_test(test_main_ebusy),
		cmocka_unit_test(test_goid),
		cmocka_unit_test(test_num_goroutine),
		cmocka_unit_test(test_gomaxprocs),
		cmocka_unit_test(test_go_outside),
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_stack_size_config),
		cmocka_unit_test(test_abandoned),
		cmocka_unit_test(test_main_return_hang),
		cmocka_unit_test(test_main_goexit_waits),
		cmocka_unit_test(test_main_goexit_deadlock),
	};

	if (rc >= 0)
		return rc;
	test_watchdog(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
