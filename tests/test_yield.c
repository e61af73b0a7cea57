/* SPDX-License-Identifier: MIT */
/*
 * test_yield - rg_yield() (runtime.Gosched) and the order in which a P runs
 * its goroutines.
 *
 * At maxprocs 1 only one goroutine runs at a time and, without preemption,
 * a goroutine runs until it yields or parks, so the order of turns is
 * fully decided by the scheduler's queues and can be checked.
 */
#include <sched.h>

#include "tests/helpers.h"

#define MAX_K  8
#define ROUNDS TEST_SCALE(500, 100)

struct seq_ctx {
	int k;
	atomic_int len;
	atomic_int seq[MAX_K * ROUNDS];
	rg_wg wg;
};

struct seq_arg {
	struct seq_ctx *ctx;
	int id;
};

static struct seq_arg seq_args[MAX_K];

static void seq_record(struct seq_ctx *ctx, int id)
{
	int pos = atomic_fetch_add(&ctx->len, 1);

	if (pos < MAX_K * ROUNDS)
		atomic_store(&ctx->seq[pos], id);
}

static void spawn_recorders(struct seq_ctx *ctx, void (*fn)(void *))
{
	for (int i = 0; i < ctx->k; i++) {
		seq_args[i] = (struct seq_arg){ ctx, i };
		rg_wg_add(&ctx->wg, 1);
		GCHECK_EQ(rg_go(fn, &seq_args[i]), 0);
	}
}

/* --------------------------------------------------------------------- */
/* Round-robin between yielding goroutines                               */
/* --------------------------------------------------------------------- */

static void rr_worker(void *arg)
{
	struct seq_arg *sa = arg;

	for (int r = 0; r < ROUNDS; r++) {
		seq_record(sa->ctx, sa->id);
		rg_yield();
	}
	rg_wg_done(&sa->ctx->wg);
}

static void rr_main(void *arg)
{
	struct seq_ctx *ctx = arg;

	/* Nothing runs before main parks: all K start with zero turns. */
	spawn_recorders(ctx, rr_worker);
	rg_wg_wait(&ctx->wg);
}

/*
 * What is asserted about the sequence of turns: let c_i(t) be the number
 * of turns goroutine i had among the first t turns.  Strict round-robin
 * keeps max_i c_i(t) - min_i c_i(t) <= 1 for every t: every goroutine gets
 * exactly one turn between two turns of any other.  We allow a lag of 2,
 * i.e. one goroutine may occasionally run out of turn once, as when the
 * scheduler takes a goroutine from the global run queue ahead of the local
 * one for fairness (Go does so every 61st schedule); with K well below 61
 * the order heals within two rounds, before the next such event, so the
 * lag never reaches 3.  A yield that returns to its caller while others
 * are runnable, over and over (starvation), breaks the bound at once.
 */
static void check_round_robin(int k)
{
	static struct seq_ctx ctx;
	int count[MAX_K] = { 0 };
	int out_of_turn = 0;

	memset(&ctx, 0, sizeof(ctx));
	ctx.k = k;
	RUN_IN_RUNTIME(1, rr_main, &ctx);
	assert_int_equal(atomic_load(&ctx.len), k * ROUNDS);

	for (int t = 0; t < k * ROUNDS; t++) {
		int id = atomic_load(&ctx.seq[t]);
		int lo = ROUNDS, hi = 0;

		assert_in_range(id, 0, k - 1);
		count[id]++;
		for (int i = 0; i < k; i++) {
			lo = count[i] < lo ? count[i] : lo;
			hi = count[i] > hi ? count[i] : hi;
		}
		if (hi - lo > 2)
			fail_msg("K=%d: after %d turns goroutine %d has had %d turns while another "
				 "has had %d",
				 k, t + 1, id, hi, lo);
		if (hi - lo == 2)
			out_of_turn++;
	}
	for (int i = 0; i < k; i++)
		assert_int_equal(count[i], ROUNDS);
	if (out_of_turn)
		print_message("K=%d: %d of %d turns with a lag of 2\n", k, out_of_turn, k * ROUNDS);
}

static void test_round_robin_2(void **state)
{
	(void)state;
	check_round_robin(2);
}

static void test_round_robin_3(void **state)
{
	(void)state;
	check_round_robin(3);
}

static void test_round_robin_8(void **state)
{
	(void)state;
	check_round_robin(8);
}

/* --------------------------------------------------------------------- */
/* runnext                                                               */
/* --------------------------------------------------------------------- */

static void once_worker(void *arg)
{
	struct seq_arg *sa = arg;

	seq_record(sa->ctx, sa->id);
	rg_wg_done(&sa->ctx->wg);
}

/*
 * rg_go(): "the new goroutine runs next on this P unless another readied
 * goroutine displaces it".  Spawning 0, 1, ..., K-1 from main and then
 * parking: K-1 is in runnext, having pushed each older one to the tail of
 * the P's FIFO run queue, so the order is K-1, 0, 1, ..., K-2.
 */
static void once_main(void *arg)
{
	struct seq_ctx *ctx = arg;

	spawn_recorders(ctx, once_worker);
	rg_wg_wait(&ctx->wg);
}

static void test_runnext_order(void **state)
{
	static struct seq_ctx ctx;
	int k = MAX_K;

	(void)state;
	memset(&ctx, 0, sizeof(ctx));
	ctx.k = k;
	/* A slice of 10 s: the main goroutine must not be preempted while it
	 * spawns (slow under a sanitizer on a busy machine), which would run
	 * the runnext goroutine early. */
	setenv("RINGO_DEBUG", "preemptslice=10000000", 1);
	RUN_IN_RUNTIME(1, once_main, &ctx);
	unsetenv("RINGO_DEBUG");
	assert_int_equal(atomic_load(&ctx.len), k);
	assert_int_equal(atomic_load(&ctx.seq[0]), k - 1);
	for (int i = 1; i < k; i++)
		assert_int_equal(atomic_load(&ctx.seq[i]), i - 1);
}

/* --------------------------------------------------------------------- */
/* The main goroutine yielding                                           */
/* --------------------------------------------------------------------- */

#define FLAG_K 4

struct flags_ctx {
	atomic_int done;
	int yields;
};

static void flag_worker(void *arg)
{
	atomic_fetch_add(&((struct flags_ctx *)arg)->done, 1);
}

/*
 * At maxprocs 1, main spawns FLAG_K goroutines and yields until all have
 * run.  A yield puts main behind every goroutine that is already runnable,
 * so one yield suffices; two are allowed for one out-of-turn pick of main
 * (see check_round_robin).  Afterwards main, alone, keeps yielding: each
 * call must return.
 */
static void yield_main_p1(void *arg)
{
	struct flags_ctx *ctx = arg;

	for (int i = 0; i < FLAG_K; i++)
		GCHECK_EQ(rg_go(flag_worker, ctx), 0);
	GCHECK_EQ(atomic_load(&ctx->done), 0); /* nothing ran yet: no preemption */
	while (atomic_load(&ctx->done) < FLAG_K && ctx->yields < 1000) {
		rg_yield();
		ctx->yields++;
	}
	for (int i = 0; i < 10000; i++)
		rg_yield();
}

/* The same at maxprocs 2, where only progress within a time bound counts. */
static void yield_main_p2(void *arg)
{
	struct flags_ctx *ctx = arg;
	int64_t until = now_ns() + 5000000000LL;

	for (int i = 0; i < FLAG_K; i++)
		GCHECK_EQ(rg_go(flag_worker, ctx), 0);
	while (atomic_load(&ctx->done) < FLAG_K && now_ns() < until) {
		rg_yield();
		ctx->yields++;
	}
	GCHECK_EQ(atomic_load(&ctx->done), FLAG_K);
}

static void test_main_yield(void **state)
{
	struct flags_ctx ctx = { 0 };

	(void)state;
	RUN_IN_RUNTIME(1, yield_main_p1, &ctx);
	assert_int_equal(atomic_load(&ctx.done), FLAG_K);
	if (ctx.yields > 2)
		fail_msg("main needed %d yields to let %d runnable goroutines run", ctx.yields,
			 FLAG_K);

	memset(&ctx, 0, sizeof(ctx));
	RUN_IN_RUNTIME(2, yield_main_p2, &ctx);
	assert_int_equal(atomic_load(&ctx.done), FLAG_K);
}

/* --------------------------------------------------------------------- */
/* Handing a turn back and forth with yields                             */
/* --------------------------------------------------------------------- */

#define PINGPONG_N TEST_SCALE(20000, 2000)

struct pingpong {
	int n;
	atomic_int turn;
	atomic_long passes;
	rg_wg wg;
};

struct pp_arg {
	struct pingpong *pp;
	int me;
};

/*
 * With several Ps the two goroutines usually spin on different threads.
 * When those threads share a CPU (a loaded machine), a goroutine that spins
 * only with rg_yield() keeps its thread busy for a whole OS time slice per
 * pass, as there is no preemption; an occasional sched_yield() hands the
 * CPU to the other thread instead.
 */
static void pingpong_worker(void *arg)
{
	struct pp_arg *a = arg;
	struct pingpong *pp = a->pp;
	unsigned int spins = 0;

	for (int i = 0; i < pp->n; i++) {
		while (atomic_load(&pp->turn) != a->me) {
			rg_yield();
			if (++spins % 16 == 0)
				sched_yield();
		}
		atomic_fetch_add(&pp->passes, 1);
		atomic_store(&pp->turn, 1 - a->me);
	}
	rg_wg_done(&pp->wg);
}

static void pingpong_main(void *arg)
{
	struct pingpong *pp = arg;
	static struct pp_arg args[2];

	for (int i = 0; i < 2; i++) {
		args[i] = (struct pp_arg){ pp, i };
		rg_wg_add(&pp->wg, 1);
		GCHECK_EQ(rg_go(pingpong_worker, &args[i]), 0);
	}
	rg_wg_wait(&pp->wg);
}

/* At maxprocs 1 every pass is a pure rg_yield() hand-off. */
static void test_pingpong(void **state)
{
	static const int procs[] = { 1, 2, 4 };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(procs); i++) {
		struct pingpong pp = { .n = procs[i] == 1 ? PINGPONG_N : PINGPONG_N / 10 };

		RUN_IN_RUNTIME(procs[i], pingpong_main, &pp);
		assert_int_equal(atomic_load(&pp.passes), 2L * pp.n);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runnext_order), cmocka_unit_test(test_round_robin_2),
		cmocka_unit_test(test_round_robin_3), cmocka_unit_test(test_round_robin_8),
		cmocka_unit_test(test_main_yield),    cmocka_unit_test(test_pingpong),
	};

	test_watchdog(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
