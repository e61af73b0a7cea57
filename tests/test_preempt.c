/* SPDX-License-Identifier: MIT */
/*
 * test_preempt - asynchronous preemption (SIGURG):
 *
 *  - a tight loop with no calls at maxprocs 1 is preempted, and a sleeping
 *    goroutine wakes within its slice plus a margin;
 *  - preemption keeps vector state exact: an AVX2 computation that keeps
 *    its accumulators in ymm registers, interleaved with a goroutine that
 *    clobbers every vector and general register, under preemption every
 *    200 us, gives the result of the same computation run alone;
 *  - no preemption while the PC is in libc: a goroutine inside a long
 *    memset finishes it before another goroutine runs;
 *  - rg_preempt_disable holds (nested), and an enable without a disable is
 *    a fatal error;
 *  - RINGO_DEBUG=asyncpreemptoff=1: the loop is not interrupted;
 *  - a storm of preemptions (a 100 us slice for a second) over goroutines
 *    moving money between accounts under a mutex and through a channel
 *    keeps the total, also while a plain thread sends the process SIGURG
 *    every 50 us: a SIGURG handler installed before rg_main gets those
 *    (the runtime's handler chains to it) and the runtime's work goes on.
 *
 * ThreadSanitizer delivers asynchronous signals to a copy of the
 * interrupted context, so preemption cannot happen under it: the tests
 * that need it are skipped there.
 */
#include <immintrin.h>
#include <pthread.h>

#include "tests/helpers.h"

#define MS 1000000LL

/* Run fn at maxprocs n with RINGO_DEBUG set to debug (NULL: unset). */
static void run_with_debug(const char *debug, int n, void (*fn)(void *), void *arg)
{
	const char *old = getenv("RINGO_DEBUG");
	char *saved = old ? strdup(old) : NULL;

	if (debug)
		setenv("RINGO_DEBUG", debug, 1);
	else
		unsetenv("RINGO_DEBUG");
	RUN_IN_RUNTIME(n, fn, arg);
	if (saved)
		setenv("RINGO_DEBUG", saved, 1);
	else
		unsetenv("RINGO_DEBUG");
	free(saved);
}

/* --------------------------------------------------------------------- */
/* A tight loop is preempted                                             */
/* --------------------------------------------------------------------- */

struct spin_ctx {
	volatile int stop;
	volatile uint64_t sink;
	int64_t spin_ns;  /* spin at most this long (0: until stop) */
	bool disable;	  /* inside rg_preempt_disable (twice) */
	int64_t spin_end; /* when the spinner stopped */
	int64_t woke_at;  /* when the sleeper woke */
	rg_wg done;
};

static void spinner(void *arg)
{
	struct spin_ctx *sc = arg;
	uint64_t x = 1;
	int64_t start = now_ns();

	if (sc->disable) {
		rg_preempt_disable();
		rg_preempt_disable();
	}
	/* No call into the runtime; the clock is read through the vDSO. */
	while (!sc->stop) {
		for (int i = 0; i < 1000; i++)
			x = x * 6364136223846793005ull + 1442695040888963407ull;
		sc->sink = x;
		if (sc->spin_ns && now_ns() - start >= sc->spin_ns)
			break;
	}
	sc->spin_end = now_ns();
	if (sc->disable) {
		rg_preempt_enable();
		rg_preempt_enable();
	}
	rg_wg_done(&sc->done);
}

static void spin_main(void *arg)
{
	struct spin_ctx *sc = arg;

	rg_wg_add(&sc->done, 1);
	GCHECK_EQ(rg_go(spinner, sc), 0);
	rg_sleep_ns(5 * MS); /* the spinner takes the only P */
	sc->woke_at = now_ns();
	sc->stop = 1;
	rg_wg_wait(&sc->done);
}

static void test_tight_loop_preempted(void **state)
{
	(void)state;
	if (!preemption_works())
		skip();
	for (int i = 0; i < 3; i++) {
		struct spin_ctx sc = { 0 };
		int64_t t0 = now_ns();

		run_with_debug(NULL, 1, spin_main, &sc);
		/* 10 ms slice + 1 ms sysmon period, and a slow machine. */
		assert_true(sc.woke_at - t0 < (RG_TEST_SANITIZED ? 2000 : 500) * MS);
		assert_true(sc.spin_end >= sc.woke_at);
	}
	{
		struct spin_ctx sc = { 0 };
		int64_t t0 = now_ns();

		run_with_debug("preemptslice=1000", 1, spin_main, &sc);
		assert_true(sc.woke_at - t0 < (RG_TEST_SANITIZED ? 2000 : 500) * MS);
	}
}

/* The spinner spins 150 ms; the sleeper can only wake after it. */
static void expect_not_preempted(const char *debug, bool disable)
{
	struct spin_ctx sc = { .spin_ns = 150 * MS, .disable = disable };

	run_with_debug(debug, 1, spin_main, &sc);
	assert_true(sc.woke_at >= sc.spin_end);
}

/*
 * On the smallest stacks (16 and 20 KiB) a loop that never calls into the
 * runtime was never preempted: the handler wanted 16 KiB plus the XSAVE
 * area free below the frame, and refused in silence.
 */
static void test_small_stack_preempted(void **state)
{
	static const size_t sizes[] = { 16 * 1024, 20 * 1024 };

	(void)state;
	/* The sanitizers' frames need more room than 16 KiB leaves. */
	if (!preemption_works() || RG_TEST_SANITIZED)
		skip();
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		struct spin_ctx sc = { 0 };
		int64_t t0 = now_ns();

		RUN_IN_RUNTIME_STACK(1, sizes[i], spin_main, &sc);
		if (sc.woke_at - t0 > 500 * MS)
			fail_msg("a %zu-byte stack: the sleeper woke after %lld ms", sizes[i],
				 (long long)((sc.woke_at - t0) / MS));
	}
}

static void test_preempt_disable(void **state)
{
	(void)state;
	expect_not_preempted(NULL, true);
}

static void test_asyncpreemptoff(void **state)
{
	(void)state;
	expect_not_preempted("asyncpreemptoff=1", false);
}

static void enable_unbalanced_main(void *arg)
{
	(void)arg;
	rg_preempt_enable();
}

static int child_enable_unbalanced(void)
{
	return rg_main(NULL, enable_unbalanced_main, NULL);
}

/* --------------------------------------------------------------------- */
/* A replaced SIGURG handler                                             */
/* --------------------------------------------------------------------- */

static void urg_replace_main(void *arg)
{
	(void)arg;
	signal(SIGURG, SIG_IGN); /* the program takes SIGURG back */
	for (int i = 0; i < 50; i++)
		rg_sleep_ns(10 * MS);
}

static int child_urg_replaced(void)
{
	rg_config cfg = { .maxprocs = 1 };

	return rg_main(&cfg, urg_replace_main, NULL) ? 1 : 0;
}

static void urg_keep_main(void *arg)
{
	(void)arg;
	for (int i = 0; i < 30; i++)
		rg_sleep_ns(10 * MS);
}

static int child_urg_kept(void)
{
	rg_config cfg = { .maxprocs = 1 };

	return rg_main(&cfg, urg_keep_main, NULL) ? 1 : 0;
}

/*
 * Replacing the runtime's SIGURG handler after rg_main started stopped
 * preemption in silence: the runtime says so once on stderr.
 */
static void test_sigurg_handler_replaced_reported(void **state)
{
	struct child_result r;

	(void)state;
	run_child_case("urg_replaced", NULL, &r);
	assert_child_exit("urg_replaced", &r, 0);
	assert_child_stderr_has("urg_replaced", &r, "SIGURG handler was replaced");
	child_result_free(&r);
	/* ... and only then. */
	run_child_case("urg_kept", NULL, &r);
	assert_child_exit("urg_kept", &r, 0);
	assert_child_stderr_lacks("urg_kept", &r, "SIGURG handler");
	child_result_free(&r);
}

static const struct child_case child_cases[] = {
	{ "enable_unbalanced", child_enable_unbalanced },
	{ "urg_replaced", child_urg_replaced },
	{ "urg_kept", child_urg_kept },
};

static void test_enable_unbalanced(void **state)
{
	(void)state;
	expect_fatal("enable_unbalanced", "fatal error: rg_preempt_enable", NULL);
}

/* --------------------------------------------------------------------- */
/* Not inside libc                                                       */
/* --------------------------------------------------------------------- */

#define BIG (256u << 20)

struct libc_ctx {
	char *buf;
	atomic_int ticks; /* the other goroutine's progress */
	int before, after;
	volatile int stop;
	rg_wg done;
};

static void ticker(void *arg)
{
	struct libc_ctx *lc = arg;

	while (!lc->stop) {
		atomic_fetch_add(&lc->ticks, 1);
		rg_yield();
	}
	rg_wg_done(&lc->done);
}

static void libc_main(void *arg)
{
	struct libc_ctx *lc = arg;

	rg_wg_add(&lc->done, 1);
	GCHECK_EQ(rg_go(ticker, lc), 0);
	rg_yield(); /* the ticker runs */
	for (int k = 0; k < 3; k++) {
		lc->before = atomic_load(&lc->ticks);
		memset(lc->buf, k + 1, BIG); /* many slices of 1 ms, all in libc */
		lc->after = atomic_load(&lc->ticks);
		/* Preempted inside memset, the goroutine would let the ticker
		 * run once a slice, tens of times.  Once: a preemption that
		 * waited for memset to return, and came before the load. */
		GCHECK(lc->after - lc->before <= 1);
		rg_yield();
	}
	lc->stop = 1;
	rg_wg_wait(&lc->done);
}

static void test_not_in_libc(void **state)
{
	struct libc_ctx lc = { 0 };

	(void)state;
	lc.buf = malloc(BIG);
	assert_non_null(lc.buf);
	run_with_debug("preemptslice=1000", 1, libc_main, &lc);
	free(lc.buf);
}

/* --------------------------------------------------------------------- */
/* Vector state survives                                                 */
/* --------------------------------------------------------------------- */

#define VEC_ITERS 20000000L

__attribute__((target("avx2,fma"), noinline)) static double vec_work(long iters)
{
	__m256d a = _mm256_set_pd(1.0, 1.5, 2.0, 2.5), b = _mm256_set1_pd(1.0000001);
	__m256d c = _mm256_set1_pd(0.9999999), acc = _mm256_setzero_pd();
	double out[4];

	for (long i = 0; i < iters; i++) {
		a = _mm256_fmadd_pd(a, b, c);
		acc = _mm256_add_pd(acc, a);
		a = _mm256_mul_pd(a, c);
	}
	_mm256_storeu_pd(out, acc);
	return out[0] + out[1] * 3 + out[2] * 5 + out[3] * 7;
}

struct vec_ctx {
	double result;
	volatile int stop;
	atomic_long clobbers; /* rounds of the clobberer while the work ran */
	rg_wg done;
};

static void vec_goroutine(void *arg)
{
	struct vec_ctx *vc = arg;

	vc->result = vec_work(VEC_ITERS);
	vc->stop = 1;
	rg_wg_done(&vc->done);
}

/* Scribbles over every vector register and most general ones. */
__attribute__((target("avx2"), noinline)) static void clobber_goroutine(void *arg)
{
	struct vec_ctx *vc = arg;

	while (!vc->stop) {
		atomic_fetch_add(&vc->clobbers, 1);
		__asm__ volatile("vpcmpeqd %%ymm0, %%ymm0, %%ymm0\n\t"
				 "vmovdqa %%ymm0, %%ymm1\n\tvmovdqa %%ymm0, %%ymm2\n\t"
				 "vmovdqa %%ymm0, %%ymm3\n\tvmovdqa %%ymm0, %%ymm4\n\t"
				 "vmovdqa %%ymm0, %%ymm5\n\tvmovdqa %%ymm0, %%ymm6\n\t"
				 "vmovdqa %%ymm0, %%ymm7\n\tvmovdqa %%ymm0, %%ymm8\n\t"
				 "vmovdqa %%ymm0, %%ymm9\n\tvmovdqa %%ymm0, %%ymm10\n\t"
				 "vmovdqa %%ymm0, %%ymm11\n\tvmovdqa %%ymm0, %%ymm12\n\t"
				 "vmovdqa %%ymm0, %%ymm13\n\tvmovdqa %%ymm0, %%ymm14\n\t"
				 "vmovdqa %%ymm0, %%ymm15\n\t"
				 "movq $-1, %%rax\n\tmovq $-1, %%rcx\n\tmovq $-1, %%rdx\n\t"
				 "movq $-1, %%rsi\n\tmovq $-1, %%rdi\n\tmovq $-1, %%r8\n\t"
				 "movq $-1, %%r9\n\tmovq $-1, %%r10\n\tmovq $-1, %%r11\n\t"
				 "std\n\tcld\n\t"
				 :
				 :
				 : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11",
				   "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
				   "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
				   "xmm15", "memory");
	}
	rg_wg_done(&vc->done);
}

static void vec_main(void *arg)
{
	struct vec_ctx *vc = arg;

	rg_wg_add(&vc->done, 2);
	GCHECK_EQ(rg_go(clobber_goroutine, vc), 0);
	GCHECK_EQ(rg_go(vec_goroutine, vc), 0);
	rg_wg_wait(&vc->done);
}

static void test_vector_state_exact(void **state)
{
	struct vec_ctx vc = { 0 };
	double want;

	(void)state;
	if (!preemption_works() || !__builtin_cpu_supports("avx2") ||
	    !__builtin_cpu_supports("fma"))
		skip();
	want = vec_work(VEC_ITERS);
	run_with_debug("preemptslice=200", 1, vec_main, &vc);
	assert_true(vc.result == want);
	/* At maxprocs 1 the clobberer ran only if the work was preempted. */
	assert_true(atomic_load(&vc.clobbers) > 10);
}

/* --------------------------------------------------------------------- */
/* A storm of preemptions keeps the books balanced                       */
/* --------------------------------------------------------------------- */

#define ACCOUNTS 16
#define WORKERS	 8

struct bank {
	rg_mutex mu;
	int64_t balance[ACCOUNTS];
	rg_chan *coins;
	atomic_int moved;
	int64_t until;
	rg_wg done;
};

static void teller(void *arg)
{
	struct bank *bk = arg;
	uint64_t x = (uint64_t)(uintptr_t)&x;

	while (now_ns() < bk->until) {
		int from, to;
		int64_t coin = 1;

		x = x * 6364136223846793005ull + 1442695040888963407ull;
		from = (int)((x >> 33) % ACCOUNTS);
		to = (int)((x >> 13) % ACCOUNTS);
		rg_mutex_lock(&bk->mu);
		bk->balance[from] -= 7;
		for (volatile int spin = 0; spin < 2000; spin++)
			;
		bk->balance[to] += 7;
		rg_mutex_unlock(&bk->mu);
		/* And through a channel: one coin out, one coin in. */
		if (rg_chan_try_recv(bk->coins, &coin) == 1)
			GCHECK_EQ(rg_chan_send(bk->coins, &coin), 0);
		atomic_fetch_add(&bk->moved, 1);
	}
	rg_wg_done(&bk->done);
}

static void storm_main(void *arg)
{
	struct bank *bk = arg;
	int64_t total = 0, coin = 1;

	bk->coins = rg_chan_make(sizeof(int64_t), 4);
	for (int i = 0; i < 4; i++)
		GCHECK_EQ(rg_chan_send(bk->coins, &coin), 0);
	bk->until = now_ns() + (RG_TEST_SANITIZED ? 500 : 1000) * MS;
	rg_wg_add(&bk->done, WORKERS);
	for (int i = 0; i < WORKERS; i++)
		GCHECK_EQ(rg_go(teller, bk), 0);
	rg_wg_wait(&bk->done);
	for (int i = 0; i < ACCOUNTS; i++)
		total += bk->balance[i];
	GCHECK_EQ(total, 0);
	GCHECK_EQ(rg_chan_len(bk->coins), 4);
	GCHECK(atomic_load(&bk->moved) > 0);
	rg_chan_free(bk->coins);
}

static atomic_long user_urgs;
static atomic_int storm_stop;

static void user_urg_handler(int sig)
{
	(void)sig;
	atomic_fetch_add(&user_urgs, 1);
}

/* SIGURG to the process every 50 us, as another program's signals would. */
static void *urg_sender(void *arg)
{
	(void)arg;
	while (!atomic_load(&storm_stop)) {
		kill(getpid(), SIGURG);
		usleep(50);
	}
	return NULL;
}

static void test_preemption_storm(void **state)
{
	struct sigaction sa, old;
	struct bank bk;
	pthread_t thr;

	(void)state;
	memset(&bk, 0, sizeof(bk));
	run_with_debug("preemptslice=100", 2, storm_main, &bk);
	memset(&bk, 0, sizeof(bk));
	run_with_debug("preemptslice=100", 1, storm_main, &bk);

	/* The same with outside SIGURGs and a handler of the program's own. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = user_urg_handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGURG, &sa, &old), 0);
	atomic_store(&storm_stop, 0);
	assert_int_equal(pthread_create(&thr, NULL, urg_sender, NULL), 0);
	memset(&bk, 0, sizeof(bk));
	run_with_debug("preemptslice=100", 2, storm_main, &bk);
	atomic_store(&storm_stop, 1);
	pthread_join(thr, NULL);
	assert_true(atomic_load(&user_urgs) > 0);
	/* rg_main put the program's handler back. */
	{
		struct sigaction now;

		assert_int_equal(sigaction(SIGURG, NULL, &now), 0);
		assert_ptr_equal(now.sa_handler, user_urg_handler);
	}
	sigaction(SIGURG, &old, NULL);
}

int main(int argc, char **argv)
{
	int rc = child_dispatch(argc, argv, child_cases, ARRAY_SIZE(child_cases));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tight_loop_preempted),
		cmocka_unit_test(test_small_stack_preempted),
		cmocka_unit_test(test_preempt_disable),
		cmocka_unit_test(test_asyncpreemptoff),
		cmocka_unit_test(test_enable_unbalanced),
		cmocka_unit_test(test_not_in_libc),
		cmocka_unit_test(test_vector_state_exact),
		cmocka_unit_test(test_preemption_storm),
		cmocka_unit_test(test_sigurg_handler_replaced_reported),
	};

	if (rc >= 0)
		return rc;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
