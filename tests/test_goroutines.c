/* SPDX-License-Identifier: MIT */
/*
 * test_goroutines - the Goroutines banner of ringo.h: many goroutines,
 * nested spawns, rg_exit(), yielding on several Ps, private stacks and
 * migration between threads.
 *
 * There is no preemption: every loop that waits for another goroutine
 * calls rg_yield().
 */
#include <pthread.h>

#include "tests/helpers.h"

/* --------------------------------------------------------------------- */
/* Many goroutines                                                       */
/* --------------------------------------------------------------------- */

/* TSan costs far more per goroutine switch than ASan. */
#define MANY_N (RG_TEST_TSAN ? 2000 : RG_TEST_ASAN ? 10000 : 100000)

struct many_ctx {
	long n;
	atomic_long count;
	long retries; /* rg_go() said -EAGAIN/-ENOMEM and was retried */
	rg_wg wg;
};

static void many_worker(void *arg)
{
	struct many_ctx *ctx = arg;

	atomic_fetch_add(&ctx->count, 1);
	rg_wg_done(&ctx->wg);
}

/*
 * rg_go() may refuse a goroutine with -EAGAIN/-ENOMEM when too many are
 * alive; that is not an error as long as it succeeds again once finished
 * goroutines have released their stacks, which yielding lets happen.
 */
static int go_retry(void (*fn)(void *), void *arg, long *retries)
{
	int rc;

	for (int tries = 0; tries < 10000; tries++) {
		rc = rg_go(fn, arg);
		if (rc != -EAGAIN && rc != -ENOMEM)
			return rc;
		(*retries)++;
		rg_yield();
	}
	return rc;
}

static void many_main(void *arg)
{
	struct many_ctx *ctx = arg;

	for (long i = 0; i < ctx->n; i++) {
		int rc;

		rg_wg_add(&ctx->wg, 1);
		rc = go_retry(many_worker, ctx, &ctx->retries);
		if (rc != 0) {
			gcheck_fail("rg_go #%ld: %d", i, rc);
			rg_wg_done(&ctx->wg);
			break;
		}
	}
	rg_wg_wait(&ctx->wg);
	GCHECK_EQ(atomic_load(&ctx->count), ctx->n);
}

static void run_many(int maxprocs)
{
	struct many_ctx ctx = { .n = MANY_N };
	int64_t t0 = now_ns();

	RUN_IN_RUNTIME(maxprocs, many_main, &ctx);
	assert_int_equal(atomic_load(&ctx.count), ctx.n);
	print_message("%ld goroutines at maxprocs %d: %.1f ms, %ld rg_go retries\n", ctx.n,
		      maxprocs, (double)(now_ns() - t0) / 1e6, ctx.retries);
}

static void test_many_procs1(void **state)
{
	(void)state;
	run_many(1);
}

static void test_many_procs2(void **state)
{
	(void)state;
	run_many(2);
}

/* More Ps than the machine has cores: threads are oversubscribed. */
static void test_many_procs8(void **state)
{
	(void)state;
	run_many(8);
}

/* --------------------------------------------------------------------- */
/* Many goroutines alive at the same time                                */
/* --------------------------------------------------------------------- */

#define PARKED_N TEST_SCALE(10000, 1000)

struct parked_ctx {
	rg_wg started;
	rg_wg gate;
	rg_wg finished;
	atomic_long released;
};

static void parked_worker(void *arg)
{
	struct parked_ctx *ctx = arg;

	rg_wg_done(&ctx->started);
	rg_wg_wait(&ctx->gate);
	atomic_fetch_add(&ctx->released, 1);
	rg_wg_done(&ctx->finished);
}

static void parked_main(void *arg)
{
	struct parked_ctx *ctx = arg;

	rg_wg_add(&ctx->gate, 1);
	for (long i = 0; i < PARKED_N; i++) {
		rg_wg_add(&ctx->started, 1);
		rg_wg_add(&ctx->finished, 1);
		if (rg_go(parked_worker, ctx) != 0) {
			gcheck_fail("rg_go failed with %ld goroutines alive", i + 1);
			rg_wg_done(&ctx->started);
			rg_wg_done(&ctx->finished);
			break;
		}
	}
	rg_wg_wait(&ctx->started);
	GCHECK_EQ(rg_num_goroutine(), PARKED_N + 1);
	GCHECK_EQ(atomic_load(&ctx->released), 0);
	rg_wg_done(&ctx->gate);
	rg_wg_wait(&ctx->finished);
	GCHECK_EQ(atomic_load(&ctx->released), PARKED_N);
}

static void test_many_parked(void **state)
{
	struct parked_ctx ctx = { 0 };

	(void)state;
	RUN_IN_RUNTIME(2, parked_main, &ctx);
}

/* --------------------------------------------------------------------- */
/* Nested spawns                                                         */
/* --------------------------------------------------------------------- */

#define TREE_DEPTH TEST_SCALE(14, 10)

static rg_wg tree_wg;
static atomic_long tree_nodes;
static atomic_long tree_leaves;

static void tree_node(void *arg)
{
	uintptr_t depth = (uintptr_t)arg;

	atomic_fetch_add(&tree_nodes, 1);
	if (depth == 0) {
		atomic_fetch_add(&tree_leaves, 1);
	} else {
		rg_wg_add(&tree_wg, 2); /* before our own done: never reaches 0 early */
		for (int i = 0; i < 2; i++) {
			if (rg_go(tree_node, (void *)(depth - 1)) != 0) {
				gcheck_fail("rg_go at depth %lu failed", (unsigned long)depth);
				rg_wg_done(&tree_wg);
			}
		}
	}
	rg_wg_done(&tree_wg);
}

static void tree_main(void *arg)
{
	(void)arg;
	rg_wg_add(&tree_wg, 1);
	GCHECK_EQ(rg_go(tree_node, (void *)(uintptr_t)TREE_DEPTH), 0);
	rg_wg_wait(&tree_wg);
}

static void run_tree(int maxprocs)
{
	atomic_store(&tree_nodes, 0);
	atomic_store(&tree_leaves, 0);
	RUN_IN_RUNTIME(maxprocs, tree_main, NULL);
	assert_int_equal(atomic_load(&tree_nodes), (1L << (TREE_DEPTH + 1)) - 1);
	assert_int_equal(atomic_load(&tree_leaves), 1L << TREE_DEPTH);
}

static void test_tree(void **state)
{
	(void)state;
	run_tree(1);
	run_tree(2);
	run_tree(4);
}

/* --------------------------------------------------------------------- */
/* rg_exit                                                               */
/* --------------------------------------------------------------------- */

#define EXIT_N 64

struct exit_ctx {
	atomic_int before;
	atomic_int after;
	atomic_int deep_before;
	rg_wg wg;
};

static void exit_worker(void *arg)
{
	struct exit_ctx *ctx = arg;

	atomic_fetch_add(&ctx->before, 1);
	rg_wg_done(&ctx->wg); /* what a deferred call would do */
	rg_exit();
	atomic_fetch_add(&ctx->after, 1); /* unreachable */
}

/* rg_exit() from several frames down unwinds the whole goroutine. */
static __attribute__((noinline)) void exit_deep(struct exit_ctx *ctx, int depth)
{
	if (depth < 0)
		return;
	if (depth == 0) {
		atomic_fetch_add(&ctx->deep_before, 1);
		rg_wg_done(&ctx->wg);
		rg_yield();
		rg_exit();
	}
	exit_deep(ctx, depth - 1);
	atomic_fetch_add(&ctx->after, 1); /* unreachable; also keeps the frame */
}

static void exit_deep_worker(void *arg)
{
	exit_deep(arg, 20);
	atomic_fetch_add(&((struct exit_ctx *)arg)->after, 1); /* unreachable */
}

static void exit_main(void *arg)
{
	struct exit_ctx *ctx = arg;

	for (int i = 0; i < EXIT_N; i++) {
		rg_wg_add(&ctx->wg, 2);
		GCHECK_EQ(rg_go(exit_worker, ctx), 0);
		GCHECK_EQ(rg_go(exit_deep_worker, ctx), 0);
	}
	rg_wg_wait(&ctx->wg);
	/* The exited goroutines are gone, not merely parked. */
	for (int64_t until = now_ns() + 5000000000LL; rg_num_goroutine() != 1 && now_ns() < until;)
		rg_yield();
	GCHECK_EQ(rg_num_goroutine(), 1);
}

static void test_exit(void **state)
{
	static const int procs[] = { 1, 2 };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(procs); i++) {
		struct exit_ctx ctx = { 0 };

		RUN_IN_RUNTIME(procs[i], exit_main, &ctx);
		assert_int_equal(atomic_load(&ctx.before), EXIT_N);
		assert_int_equal(atomic_load(&ctx.deep_before), EXIT_N);
		assert_int_equal(atomic_load(&ctx.after), 0);
	}
}

/* --------------------------------------------------------------------- */
/* Yielding loops                                                        */
/* --------------------------------------------------------------------- */

#define YIELD_G	     16
#define YIELD_ROUNDS TEST_SCALE(2000, 200)

struct yloop_ctx {
	atomic_long total;
	rg_wg wg;
};

static void yloop_worker(void *arg)
{
	struct yloop_ctx *ctx = arg;
	long local = 0;

	for (int i = 0; i < YIELD_ROUNDS; i++) {
		local += i;
		rg_yield();
	}
	GCHECK_EQ(local, (long)YIELD_ROUNDS * (YIELD_ROUNDS - 1) / 2);
	atomic_fetch_add(&ctx->total, YIELD_ROUNDS);
	rg_wg_done(&ctx->wg);
}

static void yloop_main(void *arg)
{
	struct yloop_ctx *ctx = arg;

	for (int i = 0; i < YIELD_G; i++) {
		rg_wg_add(&ctx->wg, 1);
		GCHECK_EQ(rg_go(yloop_worker, ctx), 0);
	}
	rg_wg_wait(&ctx->wg);
}

static void test_yield_loops(void **state)
{
	static const int procs[] = { 1, 2, 4 };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(procs); i++) {
		struct yloop_ctx ctx = { 0 };

		RUN_IN_RUNTIME(procs[i], yloop_main, &ctx);
		assert_int_equal(atomic_load(&ctx.total), (long)YIELD_G * YIELD_ROUNDS);
	}
}

/* --------------------------------------------------------------------- */
/* Private stacks                                                        */
/* --------------------------------------------------------------------- */

#define STACK_G	     16
#define STACK_BUF    (16 * 1024)
#define STACK_ROUNDS 20

struct stack_ctx {
	_Atomic uintptr_t addr[STACK_G];
	rg_wg all_started; /* a barrier: done, then wait for the others */
	rg_wg wg;
};

struct stack_arg {
	struct stack_ctx *ctx;
	int idx;
};

static unsigned char stack_pattern(int idx, int round, size_t i)
{
	return (unsigned char)((idx * 131) ^ (round * 31) ^ (i * 7) ^ (i >> 8));
}

static void stack_worker(void *arg)
{
	struct stack_arg *sa = arg;
	volatile unsigned char buf[STACK_BUF];
	int bad = 0;

	atomic_store(&sa->ctx->addr[sa->idx], (uintptr_t)buf);
	for (size_t i = 0; i < STACK_BUF; i++)
		buf[i] = stack_pattern(sa->idx, 0, i);
	/* Keep every goroutine alive until all have their buffer filled. */
	rg_wg_done(&sa->ctx->all_started);
	rg_wg_wait(&sa->ctx->all_started);
	for (int round = 1; round <= STACK_ROUNDS; round++) {
		rg_yield();
		for (size_t i = 0; i < STACK_BUF; i++) {
			if (buf[i] != stack_pattern(sa->idx, round - 1, i))
				bad++;
			buf[i] = stack_pattern(sa->idx, round, i);
		}
	}
	if (bad)
		gcheck_fail("goroutine #%d: %d stack bytes changed behind its back", sa->idx, bad);
	rg_wg_done(&sa->ctx->wg);
}

static void stack_main(void *arg)
{
	struct stack_ctx *ctx = arg;
	static struct stack_arg args[STACK_G];

	rg_wg_add(&ctx->all_started, STACK_G);
	for (int i = 0; i < STACK_G; i++) {
		args[i] = (struct stack_arg){ ctx, i };
		rg_wg_add(&ctx->wg, 1);
		GCHECK_EQ(rg_go(stack_worker, &args[i]), 0);
	}
	rg_wg_wait(&ctx->wg);
}

static int cmp_uptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	return (x > y) - (x < y);
}

static void test_private_stacks(void **state)
{
	static const int procs[] = { 1, 2 };

	(void)state;
	for (size_t p = 0; p < ARRAY_SIZE(procs); p++) {
		struct stack_ctx ctx = { 0 };
		uintptr_t addr[STACK_G];

		RUN_IN_RUNTIME_STACK(procs[p], 256 * 1024, stack_main, &ctx);
		for (int i = 0; i < STACK_G; i++)
			addr[i] = atomic_load(&ctx.addr[i]);
		qsort(addr, STACK_G, sizeof(addr[0]), cmp_uptr);
		/* All alive at once (the barrier), so the buffers must not overlap. */
		for (int i = 1; i < STACK_G; i++)
			if (addr[i] - addr[i - 1] < STACK_BUF)
				fail_msg("stack buffers at %#lx and %#lx overlap",
					 (unsigned long)addr[i - 1], (unsigned long)addr[i]);
	}
}

/* --------------------------------------------------------------------- */
/* Migration between threads                                             */
/* --------------------------------------------------------------------- */

#define MIG_G	   6
#define MIG_ROUNDS TEST_SCALE(400, 100)

struct mig_ctx {
	atomic_long migrations; /* yields after which the thread changed */
	atomic_long busy_spins;
	rg_wg wg;
};

static uint64_t lcg(uint64_t x)
{
	return x * 6364136223846793005ULL + 1442695040888963407ULL;
}

static void mig_worker(void *arg)
{
	struct mig_ctx *ctx = arg;
	uint64_t id = rg_goid();
	uint64_t x = id, expect = id;
	double fx = (double)id; /* also keep floating-point state across yields */
	pid_t tid = gettid();
	long moved = 0;

	for (int i = 0; i < MIG_ROUNDS; i++) {
		x = lcg(x);
		fx = fx * 1.0000001 + 0.5;
		/* A little work between yields so that Ps steal from each other. */
		for (int k = 0; k < 200; k++)
			atomic_fetch_add_explicit(&ctx->busy_spins, 1, memory_order_relaxed);
		rg_yield();
		if (gettid() != tid) {
			moved++;
			tid = gettid();
		}
		GCHECK_EQ(rg_goid(), id);
	}
	for (int i = 0; i < MIG_ROUNDS; i++)
		expect = lcg(expect);
	GCHECK(x == expect);
	double fe = (double)id;
	for (int i = 0; i < MIG_ROUNDS; i++)
		fe = fe * 1.0000001 + 0.5;
	GCHECK(fx == fe);
	atomic_fetch_add(&ctx->migrations, moved);
	rg_wg_done(&ctx->wg);
}

static void mig_main(void *arg)
{
	struct mig_ctx *ctx = arg;

	for (int i = 0; i < MIG_G; i++) {
		rg_wg_add(&ctx->wg, 1);
		GCHECK_EQ(rg_go(mig_worker, ctx), 0);
	}
	rg_wg_wait(&ctx->wg);
}

/*
 * Whether a goroutine moves to another thread is up to the scheduler, so
 * only the preservation of its state is asserted; the number of moves is
 * reported.
 */
static void test_migration(void **state)
{
	struct mig_ctx ctx = { 0 };

	(void)state;
	RUN_IN_RUNTIME(2, mig_main, &ctx);
	print_message("goroutines changed thread %ld times in %d yields\n",
		      atomic_load(&ctx.migrations), MIG_G * MIG_ROUNDS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_procs1), cmocka_unit_test(test_many_procs2),
		cmocka_unit_test(test_many_procs8), cmocka_unit_test(test_many_parked),
		cmocka_unit_test(test_tree),	    cmocka_unit_test(test_exit),
		cmocka_unit_test(test_yield_loops), cmocka_unit_test(test_private_stacks),
		cmocka_unit_test(test_migration),
	};

	test_watchdog(120);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
