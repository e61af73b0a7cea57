/* SPDX-License-Identifier: MIT */
/*
 * test_time - the clock and the timers: rg_now_ns is CLOCK_MONOTONIC and
 * never goes back; rg_sleep_ns sleeps at least as long as asked (0 and
 * negative return at once), from goroutines and from plain threads;
 * sleepers wake in the order of their deadlines; many timers at once; a
 * sleeping goroutine parks, so its M runs others; timers fire while every
 * P is idle or while the other P is busy; timers survive rg_gomaxprocs
 * shrinking the set of Ps and a runtime that ended with sleepers left;
 * the farthest timeouts (INT64_MAX) never fire; rg_select's timeout
 * (-ETIMEDOUT, or the case that became ready first, and never both); a
 * sleeper wakes within about a slice while other goroutines compute or
 * yield (timer starvation).
 *
 * Every check on time is a lower bound that holds exactly (a sleep never
 * ends early) or an upper bound of seconds, so that a loaded machine cannot
 * make a test fail; timer starvation's bound, a mean lateness of 100 ms, is
 * ten slices from what the runtime promises and three times below the
 * failure it guards against.  The order of wake-ups is checked only for sleepers
 * that did not wake after the next one's deadline had passed anyway.
 */
#include <pthread.h>

#include "tests/helpers.h"

#define MS 1000000LL

/* Generous upper bound for anything that should take milliseconds. */
#define SLACK_NS ((RG_TEST_SANITIZED ? 15000 : 3000) * MS)

static rg_chan *make_int_chan(size_t cap)
{
	rg_chan *c = rg_chan_make(sizeof(int), cap);

	if (!c)
		gcheck_fail("rg_chan_make(%zu, %zu) failed: %s", sizeof(int), cap, strerror(errno));
	return c;
}

/* xorshift64: deterministic pseudo-random numbers for sleep lengths. */
static uint64_t rnd_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* --------------------------------------------------------------------- */
/* rg_now_ns                                                             */
/* --------------------------------------------------------------------- */

static void now_body(void)
{
	int64_t prev = rg_now_ns(), t0, t1, r;

	GCHECK(prev > 0);
	for (int i = 0; i < 100000; i++) {
		int64_t t = rg_now_ns();

		if (t < prev) {
			gcheck_fail("rg_now_ns went back: %lld after %lld", (long long)t,
				    (long long)prev);
			break;
		}
		prev = t;
	}
	/* The same clock as CLOCK_MONOTONIC. */
	t0 = now_ns();
	r = rg_now_ns();
	t1 = now_ns();
	GCHECK(t0 <= r && r <= t1);
}

/* Goroutines on several Ms pass the time they read to each other: the
 * receiver's clock is never behind the sender's. */
struct now_chain {
	rg_chan *c;
	rg_wg done;
};

static void now_chain_peer(void *arg)
{
	struct now_chain *nc = arg;
	int64_t t;

	for (int i = 0; i < 2000; i++) {
		if (rg_chan_recv(nc->c, &t) != 1)
			break;
		GCHECK(rg_now_ns() >= t);
		t = rg_now_ns();
		if (rg_chan_send(nc->c, &t) != 0)
			break;
	}
	rg_wg_done(&nc->done);
}

static void now_main(void *arg)
{
	struct now_chain nc = { .c = rg_chan_make(sizeof(int64_t), 0) };
	int64_t t;

	(void)arg;
	now_body();
	rg_wg_add(&nc.done, 1);
	GCHECK_EQ(rg_go(now_chain_peer, &nc), 0);
	for (int i = 0; i < 2000; i++) {
		t = rg_now_ns();
		GCHECK_EQ(rg_chan_send(nc.c, &t), 0);
		GCHECK_EQ(rg_chan_recv(nc.c, &t), 1);
		GCHECK(rg_now_ns() >= t);
	}
	rg_wg_wait(&nc.done);
	rg_chan_free(nc.c);
}

static void test_now_monotonic(void **state)
{
	(void)state;
	gcheck_reset();
	now_body();
	gcheck_assert_none();
	RUN_FOR_PROCS(now_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* rg_sleep_ns: at least as long as asked                                */
/* --------------------------------------------------------------------- */

/* Runs as a goroutine and from plain threads. */
static void sleep_body(void)
{
	static const int64_t lens[] = { 1, 1000, 100000, MS, 5 * MS, 20 * MS };
	static const int64_t at_once[] = { 0, -1, -MS, INT64_MIN };

	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		int64_t t0 = rg_now_ns(), el;

		rg_sleep_ns(lens[i]);
		el = rg_now_ns() - t0;
		if (el < lens[i] || el > lens[i] + SLACK_NS)
			gcheck_fail("rg_sleep_ns(%lld) took %lld ns", (long long)lens[i],
				    (long long)el);
	}
	for (size_t i = 0; i < ARRAY_SIZE(at_once); i++) {
		int64_t t0 = rg_now_ns(), el;

		rg_sleep_ns(at_once[i]);
		el = rg_now_ns() - t0;
		if (el > SLACK_NS / 4)
			gcheck_fail("rg_sleep_ns(%lld) took %lld ns", (long long)at_once[i],
				    (long long)el);
	}
}

static void sleep_main(void *arg)
{
	(void)arg;
	sleep_body();
}

static void test_sleep_at_least(void **state)
{
	(void)state;
	RUN_FOR_PROCS(sleep_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* Order of wake-ups                                                     */
/* --------------------------------------------------------------------- */

#define ORDER_N	  6
#define ORDER_GAP (20 * MS)

struct order_ctx;

struct order_sleeper {
	struct order_ctx *ctx;
	int64_t len;	  /* sleep length */
	int64_t deadline; /* start + len */
	int64_t woke;	  /* rg_now_ns() after taking seq */
	int seq;	  /* order of waking */
};

struct order_ctx {
	struct order_sleeper s[ORDER_N];
	atomic_int seq;
	rg_wg done;
};

static void order_sleeper(void *arg)
{
	struct order_sleeper *s = arg;
	int64_t start = rg_now_ns();

	s->deadline = start + s->len;
	rg_sleep_ns(s->len);
	/* seq first: if a later deadline took an earlier seq, this one
	 * read the clock after that deadline. */
	s->seq = atomic_fetch_add(&s->ctx->seq, 1);
	s->woke = rg_now_ns();
	rg_wg_done(&s->ctx->done);
}

static void order_check(struct order_ctx *ctx)
{
	for (int i = 0; i < ORDER_N; i++) {
		struct order_sleeper *a = &ctx->s[i];

		if (a->woke < a->deadline)
			gcheck_fail("sleeper %d woke %lld ns early", i,
				    (long long)(a->deadline - a->woke));
		for (int j = 0; j < ORDER_N; j++) {
			struct order_sleeper *b = &ctx->s[j];

			/* a's deadline is earlier, yet b woke first: only
			 * allowed if a was still not running at b's deadline. */
			if (a->deadline < b->deadline && b->seq < a->seq && a->woke < b->deadline)
				gcheck_fail("sleeper %d (deadline +%lld ms) woke before sleeper %d "
					    "(deadline +%lld ms)",
					    j, (long long)(b->len / MS), i,
					    (long long)(a->len / MS));
		}
	}
}

/* Started longest first, then shortest first, then interleaved. */
static void order_main(void *arg)
{
	static const int orders[3][ORDER_N] = {
		{ 5, 4, 3, 2, 1, 0 },
		{ 0, 1, 2, 3, 4, 5 },
		{ 3, 0, 5, 1, 4, 2 },
	};

	(void)arg;
	for (int o = 0; o < 3; o++) {
		struct order_ctx ctx = { 0 };

		for (int k = 0; k < ORDER_N; k++) {
			int i = orders[o][k];

			ctx.s[i] =
				(struct order_sleeper){ .ctx = &ctx, .len = (i + 1) * ORDER_GAP };
			rg_wg_add(&ctx.done, 1);
			GCHECK_EQ(rg_go(order_sleeper, &ctx.s[i]), 0);
		}
		rg_wg_wait(&ctx.done);
		order_check(&ctx);
	}
}

static void test_sleep_order(void **state)
{
	(void)state;
	RUN_FOR_PROCS(order_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* Many timers                                                           */
/* --------------------------------------------------------------------- */

#define MANY_N TEST_SCALE(10000, 2000)

struct many_ctx {
	int64_t *len;
	atomic_int woke;
	atomic_int early;
	rg_wg done;
};

struct many_arg {
	struct many_ctx *ctx;
	int i;
};

static void many_sleeper(void *arg)
{
	struct many_arg *a = arg;
	struct many_ctx *ctx = a->ctx;
	int64_t t0 = rg_now_ns();

	rg_sleep_ns(ctx->len[a->i]);
	if (rg_now_ns() - t0 < ctx->len[a->i])
		atomic_fetch_add(&ctx->early, 1);
	atomic_fetch_add(&ctx->woke, 1);
	rg_wg_done(&ctx->done);
}

static void many_main(void *arg)
{
	struct many_ctx ctx = { 0 };
	struct many_arg *args = calloc(MANY_N, sizeof(*args));
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	int64_t t0 = rg_now_ns(), el;

	(void)arg;
	ctx.len = calloc(MANY_N, sizeof(*ctx.len));
	if (!args || !ctx.len) {
		gcheck_fail("out of memory");
		goto out;
	}
	for (int i = 0; i < MANY_N; i++) {
		ctx.len[i] = (int64_t)(1 + rnd_next(&seed) % 20) * MS;
		args[i] = (struct many_arg){ &ctx, i };
		rg_wg_add(&ctx.done, 1);
		if (rg_go(many_sleeper, &args[i]) != 0) {
			gcheck_fail("rg_go failed at %d", i);
			rg_wg_done(&ctx.done);
		}
	}
	rg_wg_wait(&ctx.done);
	el = rg_now_ns() - t0;
	GCHECK_EQ(atomic_load(&ctx.woke), MANY_N);
	GCHECK_EQ(atomic_load(&ctx.early), 0);
	/* About 20 ms of sleeping; sequential sleeps would take minutes. */
	if (el > 5 * SLACK_NS)
		gcheck_fail("%d sleepers took %lld ms", MANY_N, (long long)(el / MS));
out:
	free(args);
	free(ctx.len);
}

static void test_many_timers(void **state)
{
	(void)state;
	RUN_FOR_PROCS(many_main, NULL, 1, 2, 4);
}

/* --------------------------------------------------------------------- */
/* A sleeping goroutine does not hold its M                              */
/* --------------------------------------------------------------------- */

struct park_ctx {
	atomic_int state; /* 1 asleep, 2 awake */
	rg_wg done;
};

static void park_sleeper(void *arg)
{
	struct park_ctx *pc = arg;

	atomic_store(&pc->state, 1);
	rg_sleep_ns(50 * MS);
	atomic_store(&pc->state, 2);
	rg_wg_done(&pc->done);
}

#define PARK_MANY 100

static void park_many_sleeper(void *arg)
{
	rg_wg *wg = arg;

	rg_sleep_ns(50 * MS);
	rg_wg_done(wg);
}

/* maxprocs 1: the main goroutine runs while the other one sleeps. */
static void park_main(void *arg)
{
	struct park_ctx pc = { 0 };
	rg_wg wg = { 0 };
	long spins = 0;
	int64_t t0, until;

	(void)arg;
	/* Main yields in a loop while the sleeper sleeps. */
	rg_wg_add(&pc.done, 1);
	GCHECK_EQ(rg_go(park_sleeper, &pc), 0);
	while (atomic_load(&pc.state) == 0)
		rg_yield();
	/* A P that always has work still runs its timers. */
	until = now_ns() + 2 * SLACK_NS;
	while (atomic_load(&pc.state) == 1 && now_ns() < until) {
		spins++;
		rg_yield();
	}
	GCHECK_EQ(atomic_load(&pc.state), 2);
	rg_wg_wait(&pc.done);
	if (spins == 0)
		gcheck_fail("the main goroutine never ran while the other one slept");

	/* Main parks: the P is idle until the timer fires. */
	memset(&pc, 0, sizeof(pc));
	rg_wg_add(&pc.done, 1);
	GCHECK_EQ(rg_go(park_sleeper, &pc), 0);
	rg_yield();
	GCHECK_EQ(atomic_load(&pc.state), 1);
	rg_wg_wait(&pc.done);
	GCHECK_EQ(atomic_load(&pc.state), 2);

	/* Many sleepers on one P sleep at the same time, not in turn. */
	t0 = rg_now_ns();
	for (int i = 0; i < PARK_MANY; i++) {
		rg_wg_add(&wg, 1);
		GCHECK_EQ(rg_go(park_many_sleeper, &wg), 0);
	}
	rg_wg_wait(&wg);
	if (rg_now_ns() - t0 > (PARK_MANY / 2) * 50 * MS)
		gcheck_fail("%d sleeps of 50 ms on one P took %lld ms", PARK_MANY,
			    (long long)((rg_now_ns() - t0) / MS));
}

static void test_sleep_parks(void **state)
{
	(void)state;
	RUN_IN_RUNTIME(1, park_main, NULL);
}

/* --------------------------------------------------------------------- */
/* Timers on idle Ps                                                     */
/* --------------------------------------------------------------------- */

struct idle_ctx {
	atomic_int woke;
	rg_wg done;
};

static void idle_sleeper(void *arg)
{
	struct idle_ctx *ic = arg;
	int64_t t0 = rg_now_ns();

	rg_sleep_ns(20 * MS);
	GCHECK(rg_now_ns() - t0 >= 20 * MS);
	atomic_fetch_add(&ic->woke, 1);
	rg_wg_done(&ic->done);
}

static void idle_main(void *arg)
{
	struct idle_ctx ic = { 0 };
	int64_t until;

	(void)arg;
	/* Everything asleep: both Ps idle until the timers fire. */
	for (int i = 0; i < 4; i++) {
		rg_wg_add(&ic.done, 1);
		GCHECK_EQ(rg_go(idle_sleeper, &ic), 0);
	}
	rg_wg_wait(&ic.done);
	GCHECK_EQ(atomic_load(&ic.woke), 4);

	/*
	 * Main keeps its P busy without calling into the runtime; the
	 * sleeper runs on the other P, which then has nothing to do until
	 * its timer fires.
	 */
	for (int round = 0; round < 3; round++) {
		memset(&ic, 0, sizeof(ic));
		rg_wg_add(&ic.done, 1);
		GCHECK_EQ(rg_go(idle_sleeper, &ic), 0);
		until = now_ns() + SLACK_NS * 2;
		while (atomic_load(&ic.woke) == 0 && now_ns() < until)
			;
		GCHECK_EQ(atomic_load(&ic.woke), 1);
		rg_wg_wait(&ic.done);
	}
}

static void test_timers_on_idle_p(void **state)
{
	(void)state;
	RUN_IN_RUNTIME(2, idle_main, NULL);
}

/* --------------------------------------------------------------------- */
/* Timers and rg_gomaxprocs; sleepers left behind by a runtime           */
/* --------------------------------------------------------------------- */

#define SHRINK_N 32

static void shrink_sleeper(void *arg)
{
	struct idle_ctx *ic = arg;
	int64_t t0 = rg_now_ns();

	rg_sleep_ns(60 * MS);
	GCHECK(rg_now_ns() - t0 >= 60 * MS);
	atomic_fetch_add(&ic->woke, 1);
	rg_wg_done(&ic->done);
}

/* Sleepers spread over 4 Ps, then 3 of the Ps go away. */
static void shrink_main(void *arg)
{
	struct idle_ctx ic = { 0 };

	(void)arg;
	for (int i = 0; i < SHRINK_N; i++) {
		rg_wg_add(&ic.done, 1);
		GCHECK_EQ(rg_go(shrink_sleeper, &ic), 0);
		if (i % 4 == 0)
			rg_sleep_ns(MS); /* let idle Ps steal some */
	}
	GCHECK_EQ(rg_gomaxprocs(1), 4);
	rg_wg_wait(&ic.done);
	GCHECK_EQ(atomic_load(&ic.woke), SHRINK_N);
	/* And back: timers set on a single P fire with four. */
	memset(&ic, 0, sizeof(ic));
	for (int i = 0; i < SHRINK_N; i++) {
		rg_wg_add(&ic.done, 1);
		GCHECK_EQ(rg_go(shrink_sleeper, &ic), 0);
	}
	GCHECK_EQ(rg_gomaxprocs(4), 1);
	rg_wg_wait(&ic.done);
	GCHECK_EQ(atomic_load(&ic.woke), SHRINK_N);
}

static void test_timers_gomaxprocs(void **state)
{
	(void)state;
	RUN_IN_RUNTIME(4, shrink_main, NULL);
}

static void left_sleeper(void *arg)
{
	(void)arg;
	rg_sleep_ns(30 * MS);
	rg_sleep_ns(30 * MS);
}

/* The main goroutine returns while others sleep. */
static void left_main(void *arg)
{
	(void)arg;
	for (int i = 0; i < 16; i++)
		GCHECK_EQ(rg_go(left_sleeper, NULL), 0);
	rg_sleep_ns(MS);
}

static void test_sleepers_left_behind(void **state)
{
	(void)state;
	RUN_IN_RUNTIME(2, left_main, NULL);
	/* The timers of the runtime that ended never fire into the next. */
	RUN_IN_RUNTIME(1, sleep_main, NULL);
	RUN_IN_RUNTIME(2, left_main, NULL);
	usleep(100000);
	RUN_IN_RUNTIME(1, park_main, NULL);
}

/* --------------------------------------------------------------------- */
/* The farthest timeouts: no overflow makes them fire                    */
/* --------------------------------------------------------------------- */

struct far_ctx {
	rg_chan *c;
	atomic_int woke;
	int sel;
	rg_wg sel_done;
};

static void far_sleeper(void *arg)
{
	struct far_ctx *fc = arg;

	rg_sleep_ns(INT64_MAX);
	atomic_fetch_add(&fc->woke, 1);
}

static void far_sleeper_half(void *arg)
{
	struct far_ctx *fc = arg;

	rg_sleep_ns(INT64_MAX - rg_now_ns() / 2);
	atomic_fetch_add(&fc->woke, 1);
}

static void far_selector(void *arg)
{
	struct far_ctx *fc = arg;
	int v = -1;
	rg_case cs[1] = { { .chan = fc->c, .op = RG_RECV, .elem = &v, .ok = -1 } };

	fc->sel = rg_select(cs, 1, INT64_MAX);
	if (fc->sel == 0)
		GCHECK_EQ(v, 5);
	rg_wg_done(&fc->sel_done);
}

/* The sleepers are left asleep when the main goroutine returns. */
static void far_main(void *arg)
{
	struct far_ctx *fc = arg;
	int v = 5;

	fc->c = make_int_chan(0);
	GCHECK_EQ(rg_go(far_sleeper, fc), 0);
	GCHECK_EQ(rg_go(far_sleeper_half, fc), 0);
	rg_wg_add(&fc->sel_done, 1);
	GCHECK_EQ(rg_go(far_selector, fc), 0);
	rg_sleep_ns(50 * MS);
	GCHECK_EQ(atomic_load(&fc->woke), 0);
	/* The selector still waits: a send that cannot block reaches it. */
	GCHECK_EQ(rg_chan_try_send(fc->c, &v), 0);
	rg_wg_wait(&fc->sel_done);
	GCHECK_EQ(fc->sel, 0);
	rg_sleep_ns(10 * MS);
	GCHECK_EQ(atomic_load(&fc->woke), 0);
}

static void test_far_timeouts(void **state)
{
	struct far_ctx fc[2];

	(void)state;
	memset(fc, 0, sizeof(fc));
	RUN_IN_RUNTIME(1, far_main, &fc[0]);
	RUN_IN_RUNTIME(2, far_main, &fc[1]);
	/* Abandoned with their goroutines; the next runtime does not see them. */
	RUN_IN_RUNTIME(2, sleep_main, NULL);
	assert_int_equal(atomic_load(&fc[0].woke), 0);
	assert_int_equal(atomic_load(&fc[1].woke), 0);
	rg_chan_free(fc[0].c);
	rg_chan_free(fc[1].c);
}

/* --------------------------------------------------------------------- */
/* rg_select with a timeout                                              */
/* --------------------------------------------------------------------- */

static rg_case recv_case(rg_chan *c, void *elem)
{
	return (rg_case){ .chan = c, .op = RG_RECV, .elem = elem, .ok = -1 };
}

static rg_case send_case(rg_chan *c, void *elem)
{
	return (rg_case){ .chan = c, .op = RG_SEND, .elem = elem, .ok = -1 };
}

/* Nothing ready: -ETIMEDOUT, not before the timeout.  (any) */
static void select_timeout_body(void)
{
	static const int64_t tos[] = { 1, 1000, MS, 30 * MS };
	rg_chan *a = make_int_chan(0), *full = make_int_chan(1);
	int v = 1, va = -1;
	rg_case cs[2];

	GCHECK_EQ(rg_chan_try_send(full, &v), 0);
	for (size_t i = 0; i < ARRAY_SIZE(tos); i++) {
		int64_t t0 = rg_now_ns(), el;
		int r;

		cs[0] = recv_case(a, &va);
		cs[1] = send_case(full, &v);
		r = rg_select(cs, 2, tos[i]);
		el = rg_now_ns() - t0;
		GCHECK_EQ(r, -ETIMEDOUT);
		if (el < tos[i] || el > tos[i] + SLACK_NS)
			gcheck_fail("rg_select timeout %lld ns took %lld ns", (long long)tos[i],
				    (long long)el);
		GCHECK_EQ(va, -1);
		GCHECK_EQ(cs[0].ok, -1);
		GCHECK_EQ(rg_chan_len(full), 1);

		/* No cases, or only nil ones: a plain sleep. */
		t0 = rg_now_ns();
		GCHECK_EQ(rg_select(NULL, 0, tos[i]), -ETIMEDOUT);
		GCHECK(rg_now_ns() - t0 >= tos[i]);
		cs[0] = recv_case(NULL, &va);
		t0 = rg_now_ns();
		GCHECK_EQ(rg_select(cs, 1, tos[i]), -ETIMEDOUT);
		GCHECK(rg_now_ns() - t0 >= tos[i]);
	}
	rg_chan_free(a);
	rg_chan_free(full);
}

struct late_sender {
	rg_chan *c;
	int64_t delay;
	int64_t sent_at; /* just before the send */
	int val;
	rg_wg done;
};

static void late_sender(void *arg)
{
	struct late_sender *ls = arg;

	rg_sleep_ns(ls->delay);
	ls->sent_at = rg_now_ns();
	GCHECK_EQ(rg_chan_send(ls->c, &ls->val), 0);
	rg_wg_done(&ls->done);
}

/* A case that becomes ready before the timeout wins. */
static void select_wins_body(void)
{
	struct late_sender ls = { .c = make_int_chan(0), .delay = 20 * MS, .val = 42 };
	rg_chan *other = make_int_chan(0);
	int v = -1, w = -1;
	rg_case cs[2] = { recv_case(other, &w), recv_case(ls.c, &v) };
	int64_t t0 = rg_now_ns();

	rg_wg_add(&ls.done, 1);
	GCHECK_EQ(rg_go(late_sender, &ls), 0);
	GCHECK_EQ(rg_select(cs, 2, 4 * SLACK_NS), 1);
	GCHECK(rg_now_ns() - t0 >= 20 * MS);
	GCHECK_EQ(cs[1].ok, 1);
	GCHECK_EQ(v, 42);
	GCHECK_EQ(w, -1);
	rg_wg_wait(&ls.done);
	rg_chan_free(ls.c);
	rg_chan_free(other);
}

static void select_timeout_main(void *arg)
{
	(void)arg;
	select_timeout_body();
	select_wins_body();
}

/* A goroutine in a select with a timeout does not hold its M. */
struct select_park {
	atomic_int in_select;
	atomic_int ran;
	rg_wg done;
};

static void select_park_worker(void *arg)
{
	struct select_park *sp = arg;
	rg_chan *c = make_int_chan(0);
	int v;
	rg_case cs[1] = { recv_case(c, &v) };

	atomic_store(&sp->in_select, 1);
	GCHECK_EQ(rg_select(cs, 1, 50 * MS), -ETIMEDOUT);
	atomic_store(&sp->in_select, 2);
	rg_chan_free(c);
	rg_wg_done(&sp->done);
}

static void select_park_main(void *arg)
{
	struct select_park sp = { 0 };

	(void)arg;
	rg_wg_add(&sp.done, 1);
	GCHECK_EQ(rg_go(select_park_worker, &sp), 0);
	while (atomic_load(&sp.in_select) == 0)
		rg_yield();
	if (atomic_load(&sp.in_select) != 1)
		gcheck_fail("a select with a timeout held the only P until it timed out");
	rg_wg_wait(&sp.done);
}

static void test_select_timeout(void **state)
{
	(void)state;
	gcheck_reset();
	select_timeout_body();
	gcheck_assert_none();
	RUN_FOR_PROCS(select_timeout_main, NULL, 1, 2);
	RUN_IN_RUNTIME(1, select_park_main, NULL);
}

/*
 * A select sending with a timeout against a select receiving with a
 * timeout on one unbuffered channel, racing the timers: either both
 * proceed (the value passed) or both time out.
 */
#define RACE_ROUNDS TEST_SCALE(300, 100)

struct race_ctx {
	rg_chan *c;
	int64_t timeout;
	int sent;
	rg_wg done;
};

static void race_sender(void *arg)
{
	struct race_ctx *rc = arg;
	int v = 7;
	rg_case cs[1] = { send_case(rc->c, &v) };

	rc->sent = rg_select(cs, 1, rc->timeout);
	rg_wg_done(&rc->done);
}

static void race_main(void *arg)
{
	uint64_t seed = 12345;
	int passed = 0, timed_out = 0;

	(void)arg;
	for (int r = 0; r < RACE_ROUNDS; r++) {
		struct race_ctx rc = { .c = make_int_chan(0), .sent = 99 };
		int v = -1, got;
		rg_case cs[1] = { recv_case(rc.c, &v) };

		rc.timeout = (int64_t)(rnd_next(&seed) % 200) * 10000; /* 0 to 2 ms */
		rg_wg_add(&rc.done, 1);
		GCHECK_EQ(rg_go(race_sender, &rc), 0);
		if (rnd_next(&seed) % 2)
			rg_sleep_ns((int64_t)(rnd_next(&seed) % 200) * 10000);
		got = rg_select(cs, 1, (int64_t)(rnd_next(&seed) % 200) * 10000 + 1);
		rg_wg_wait(&rc.done);
		if (got == 0) {
			GCHECK_EQ(cs[0].ok, 1);
			GCHECK_EQ(v, 7);
			GCHECK_EQ(rc.sent, 0);
			passed++;
		} else {
			GCHECK_EQ(got, -ETIMEDOUT);
			GCHECK_EQ(v, -1);
			GCHECK(rc.sent == -ETIMEDOUT || rc.sent == -EAGAIN);
			timed_out++;
		}
		rg_chan_free(rc.c);
	}
	GCHECK_EQ(passed + timed_out, RACE_ROUNDS);
}

static void test_select_timeout_race(void **state)
{
	(void)state;
	RUN_FOR_PROCS(race_main, NULL, 1, 2);
}

/*
 * Selects woken by a send long before their timeout: no timer of theirs
 * fires later, into a select that returned or a stack that moved on.
 */
#define WON_ROUNDS TEST_SCALE(500, 100)

static void won_sender(void *arg)
{
	struct late_sender *ls = arg;

	GCHECK_EQ(rg_chan_send(ls->c, &ls->val), 0);
	rg_wg_done(&ls->done);
}

static void won_main(void *arg)
{
	(void)arg;
	for (int r = 0; r < WON_ROUNDS; r++) {
		struct late_sender ls = { .c = make_int_chan(0), .val = r };
		int v = -1;
		rg_case cs[1] = { recv_case(ls.c, &v) };

		int got;

		rg_wg_add(&ls.done, 1);
		GCHECK_EQ(rg_go(won_sender, &ls), 0);
		/* Long enough for the sender to run first on a slow machine
		 * (the sanitizers); a select that timed out all the same
		 * takes the value so that the sender does not hang. */
		got = rg_select(cs, 1, (int64_t)(1 + r % 5) * MS * (RG_TEST_SANITIZED ? 20 : 1));
		GCHECK_EQ(got, 0);
		if (got != 0)
			rg_chan_recv(ls.c, &v);
		GCHECK_EQ(v, r);
		rg_wg_wait(&ls.done);
		rg_chan_free(ls.c);
	}
	/* Past every timeout those selects had: a sleep is still a sleep. */
	for (int i = 0; i < 3; i++) {
		int64_t t0 = rg_now_ns();

		rg_sleep_ns(5 * MS);
		GCHECK(rg_now_ns() - t0 >= 5 * MS);
	}
}

static void test_select_timeout_not_left(void **state)
{
	(void)state;
	RUN_FOR_PROCS(won_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* Plain threads                                                         */
/* --------------------------------------------------------------------- */

static atomic_int plain_done;

static void *plain_thread(void *arg)
{
	(void)arg;
	sleep_body();
	now_body();
	select_timeout_body();
	atomic_store(&plain_done, 1);
	return NULL;
}

static void plain_main(void *arg)
{
	pthread_t th;

	(void)arg;
	atomic_store(&plain_done, 0);
	if (pthread_create(&th, NULL, plain_thread, NULL) != 0) {
		gcheck_fail("pthread_create failed");
		return;
	}
	/* Goroutines sleep meanwhile. */
	while (atomic_load(&plain_done) == 0)
		rg_sleep_ns(MS);
	pthread_join(th, NULL);
}

static void test_plain_thread(void **state)
{
	pthread_t th;

	(void)state;
	/* No runtime at all: the test thread itself, then another thread. */
	gcheck_reset();
	sleep_body();
	gcheck_assert_none();
	assert_int_equal(pthread_create(&th, NULL, plain_thread, NULL), 0);
	pthread_join(th, NULL);
	gcheck_assert_none();
	/* Beside a runtime. */
	RUN_FOR_PROCS(plain_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* Timer starvation                                                      */
/* --------------------------------------------------------------------- */

/*
 * A sleeper must wake within about a time slice of its deadline whatever
 * else runs: goroutines that never call into the runtime (preempted by
 * SIGURG) and goroutines that loop on rg_yield.  A goroutine readied by
 * sysmon once waited in the global queue, which a busy P reads every 61
 * schedules: 2 ms sleeps took 300 to 600 ms.
 */
struct starve_ctx {
	int spinners, yielders;
	atomic_int stop;
	volatile uint64_t sink;
	rg_wg done;
	int64_t late_sum; /* ns, over STARVE_SLEEPS */
	int64_t late_max;
};

#define STARVE_SLEEPS 20

static void starve_spinner(void *arg)
{
	struct starve_ctx *sc = arg;
	uint64_t x = 1;

	/* No call into the runtime. */
	while (!atomic_load_explicit(&sc->stop, memory_order_relaxed)) {
		for (int i = 0; i < 1000; i++)
			x = x * 6364136223846793005ull + 1442695040888963407ull;
		sc->sink = x;
	}
	rg_wg_done(&sc->done);
}

static void starve_yielder(void *arg)
{
	struct starve_ctx *sc = arg;

	while (!atomic_load(&sc->stop))
		rg_yield();
	rg_wg_done(&sc->done);
}

static void starve_main(void *arg)
{
	struct starve_ctx *sc = arg;

	rg_wg_add(&sc->done, sc->spinners + sc->yielders);
	for (int i = 0; i < sc->spinners; i++)
		GCHECK_EQ(rg_go(starve_spinner, sc), 0);
	for (int i = 0; i < sc->yielders; i++)
		GCHECK_EQ(rg_go(starve_yielder, sc), 0);
	rg_sleep_ns(20 * MS); /* let them take the Ps */
	for (int i = 0; i < STARVE_SLEEPS; i++) {
		int64_t t0 = rg_now_ns(), late;

		rg_sleep_ns(2 * MS);
		late = rg_now_ns() - t0 - 2 * MS;
		sc->late_sum += late;
		if (late > sc->late_max)
			sc->late_max = late;
	}
	atomic_store(&sc->stop, 1);
	rg_wg_wait(&sc->done);
}

static void test_timer_starvation(void **state)
{
	static const struct {
		int procs, spinners, yielders;
	} cases[] = { { 1, 0, 2 }, { 1, 1, 0 }, { 1, 1, 1 }, { 1, 2, 0 }, { 2, 4, 0 } };
	/* Typically well under a millisecond; a 10 ms slice at worst, and a
	 * loaded machine.  The failure this guards against was 300 ms and
	 * more (61 slices). */
	const int64_t bound = (RG_TEST_SANITIZED ? 150 : 100) * MS;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct starve_ctx sc = { .spinners = cases[i].spinners,
					 .yielders = cases[i].yielders };

		if (sc.spinners && !preemption_works())
			continue;
		RUN_IN_RUNTIME(cases[i].procs, starve_main, &sc);
		if (sc.late_sum / STARVE_SLEEPS >= bound)
			fail_msg("maxprocs %d, %d spinners, %d yielders: 2 ms sleeps were %lld us "
				 "late on average (max %lld us)",
				 cases[i].procs, sc.spinners, sc.yielders,
				 (long long)(sc.late_sum / STARVE_SLEEPS / 1000),
				 (long long)(sc.late_max / 1000));
	}
	if (!preemption_works())
		skip(); /* only the yielders ran */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_now_monotonic),
		cmocka_unit_test(test_sleep_at_least),
		cmocka_unit_test(test_sleep_order),
		cmocka_unit_test(test_many_timers),
		cmocka_unit_test(test_sleep_parks),
		cmocka_unit_test(test_timers_on_idle_p),
		cmocka_unit_test(test_timers_gomaxprocs),
		cmocka_unit_test(test_sleepers_left_behind),
		cmocka_unit_test(test_far_timeouts),
		cmocka_unit_test(test_select_timeout),
		cmocka_unit_test(test_select_timeout_race),
		cmocka_unit_test(test_select_timeout_not_left),
		cmocka_unit_test(test_plain_thread),
		cmocka_unit_test(test_timer_starvation),
	};

	test_watchdog(120);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
