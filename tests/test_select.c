/* SPDX-License-Identifier: MIT */
/*
 * test_select - rg_select, Go's select: the ready case is taken; a RG_RECV
 * case sets ok; timeout 0 is Go's default; nil-channel cases are never
 * chosen; a send case on a closed channel gives -EPIPE; bad arguments;
 * a select that lost leaves no waiter behind on the channels it did not
 * use; send and receive on one channel in one select; selects over the same
 * channels in opposite orders; uniform choice among ready cases; select
 * from plain threads; a conservation stress test; deadlock reports.
 *
 * Tests that need a goroutine to be parked in a select run with maxprocs 1:
 * nothing preempts a goroutine, so one that announced it is about to block
 * has parked by the time the main goroutine runs again.
 */
#include <pthread.h>

#include "tests/helpers.h"

/* Wait a little: yield too when running as a goroutine. */
static void pause_briefly(void)
{
	usleep(200);
	if (rg_goid())
		rg_yield();
}

/* Pause until *@done reaches @want (at most 30 s), then join @th. */
static void join_when_done(pthread_t th, atomic_int *done, int want)
{
	int64_t until = now_ns() + 30000000000LL;

	while (atomic_load(done) < want && now_ns() < until)
		pause_briefly();
	GCHECK_EQ(atomic_load(done), want);
	if (atomic_load(done) >= want)
		pthread_join(th, NULL);
	else
		pthread_detach(th);
}

static rg_case recv_case(rg_chan *c, void *elem)
{
	return (rg_case){ .chan = c, .op = RG_RECV, .elem = elem, .ok = -1 };
}

static rg_case send_case(rg_chan *c, void *elem)
{
	return (rg_case){ .chan = c, .op = RG_SEND, .elem = elem, .ok = -1 };
}

static rg_chan *make_int_chan(size_t cap)
{
	rg_chan *c = rg_chan_make(sizeof(int), cap);

	if (!c)
		gcheck_fail("rg_chan_make(%zu, %zu) failed: %s", sizeof(int), cap, strerror(errno));
	return c;
}

/* --------------------------------------------------------------------- */
/* The ready case is taken                                               */
/* --------------------------------------------------------------------- */

/* Runs from a plain thread (no runtime) and as a goroutine. */
static void ready_case_body(void)
{
	rg_chan *a = make_int_chan(1), *b = make_int_chan(1), *full = make_int_chan(1);
	rg_chan *u = make_int_chan(0);
	int va = -1, vb = -1, vu = -1, x = 5, y = 6, v;
	rg_case cs[4];

	v = 100;
	GCHECK_EQ(rg_chan_try_send(full, &v), 0);
	for (int timeout = -1; timeout <= 0; timeout++) {
		/* One receive ready among three. */
		v = 42;
		GCHECK_EQ(rg_chan_try_send(b, &v), 0);
		cs[0] = recv_case(a, &va);
		cs[1] = recv_case(b, &vb);
		cs[2] = recv_case(u, &vu);
		GCHECK_EQ(rg_select(cs, 3, timeout), 1);
		GCHECK_EQ(cs[1].ok, 1);
		GCHECK_EQ(vb, 42);
		GCHECK_EQ(va, -1);
		GCHECK_EQ(vu, -1);
		GCHECK_EQ(rg_chan_len(b), 0);

		/* One send ready among three: a full buffer and no receiver. */
		cs[0] = send_case(full, &y);
		cs[1] = send_case(a, &x);
		cs[2] = send_case(u, &y);
		GCHECK_EQ(rg_select(cs, 3, timeout), 1);
		GCHECK_EQ(rg_chan_len(a), 1);
		GCHECK_EQ(rg_chan_len(full), 1);
		GCHECK_EQ(rg_chan_try_recv(a, &v), 1);
		GCHECK_EQ(v, 5);

		/* A receive case with a NULL elem discards the value. */
		v = 7;
		GCHECK_EQ(rg_chan_try_send(b, &v), 0);
		cs[0] = recv_case(b, NULL);
		GCHECK_EQ(rg_select(cs, 1, timeout), 0);
		GCHECK_EQ(cs[0].ok, 1);
		GCHECK_EQ(rg_chan_len(b), 0);

		/* Two receive cases on one channel holding one value. */
		v = 8;
		GCHECK_EQ(rg_chan_try_send(b, &v), 0);
		va = vb = -1;
		cs[0] = recv_case(b, &va);
		cs[1] = recv_case(b, &vb);
		int r = rg_select(cs, 2, timeout);
		GCHECK(r == 0 || r == 1);
		GCHECK_EQ(r == 0 ? va : vb, 8);
		GCHECK_EQ(r == 0 ? vb : va, -1);
		GCHECK_EQ(rg_chan_try_recv(b, &v), -EAGAIN);

		/* A receive and a send both ready: either, with its effect only. */
		v = 9;
		GCHECK_EQ(rg_chan_try_send(b, &v), 0);
		vb = -1;
		cs[0] = recv_case(b, &vb);
		cs[1] = send_case(a, &x);
		r = rg_select(cs, 2, timeout);
		if (r == 0) {
			GCHECK_EQ(vb, 9);
			GCHECK_EQ(rg_chan_len(a), 0);
		} else {
			GCHECK_EQ(r, 1);
			GCHECK_EQ(vb, -1);
			GCHECK_EQ(rg_chan_len(b), 1);
			GCHECK_EQ(rg_chan_try_recv(a, &v), 1);
			GCHECK_EQ(rg_chan_try_recv(b, &v), 1);
		}
		GCHECK_EQ(rg_chan_len(a), 0);
		GCHECK_EQ(rg_chan_len(b), 0);
		va = vb = vu = -1;
	}
	rg_chan_free(a);
	rg_chan_free(b);
	rg_chan_free(full);
	rg_chan_free(u);
}

static void ready_case_main(void *arg)
{
	(void)arg;
	ready_case_body();
}

static void test_select_ready_case(void **state)
{
	(void)state;
	gcheck_reset();
	ready_case_body();
	gcheck_assert_none();
	RUN_FOR_PROCS(ready_case_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* Nothing ready: default, timeouts                                      */
/* --------------------------------------------------------------------- */

static void nothing_ready_body(void)
{
	rg_chan *a = make_int_chan(0), *b = make_int_chan(1), *full = make_int_chan(1);
	int v = 1, va = -1, vb = -1;
	rg_case cs[4];
	int64_t t0, elapsed;
	int r;

	GCHECK_EQ(rg_chan_try_send(full, &v), 0);
	cs[0] = recv_case(a, &va);
	cs[1] = recv_case(b, &vb);
	cs[2] = send_case(a, &v);
	cs[3] = send_case(full, &v);
	GCHECK_EQ(rg_select(cs, 4, 0), -EAGAIN);
	GCHECK_EQ(va, -1);
	GCHECK_EQ(vb, -1);
	GCHECK_EQ(rg_chan_len(full), 1);
	GCHECK_EQ(rg_chan_len(b), 0);

	/* No cases at all: the default. */
	GCHECK_EQ(rg_select(NULL, 0, 0), -EAGAIN);
	GCHECK_EQ(rg_select(cs, 0, 0), -EAGAIN);

	/* A timeout: -ETIMEDOUT after at least that long, or not yet supported. */
	t0 = now_ns();
	r = rg_select(cs, 4, 20000000);
	elapsed = now_ns() - t0;
	GCHECK(r == -ETIMEDOUT || r == -ENOSYS);
	if (r == -ETIMEDOUT)
		GCHECK(elapsed >= 20000000);
	GCHECK_EQ(va, -1);
	GCHECK_EQ(rg_chan_len(full), 1);
	r = rg_select(NULL, 0, 1000000);
	GCHECK(r == -ETIMEDOUT || r == -ENOSYS);

	/* A timeout with a ready case: the case, unless timeouts are unsupported. */
	v = 3;
	GCHECK_EQ(rg_chan_try_send(b, &v), 0);
	r = rg_select(cs, 4, 20000000);
	GCHECK(r == 1 || r == -ENOSYS);
	if (r == 1) {
		GCHECK_EQ(vb, 3);
		GCHECK_EQ(cs[1].ok, 1);
		GCHECK_EQ(rg_chan_len(b), 0);
	} else {
		GCHECK_EQ(rg_chan_len(b), 1);
	}
	rg_chan_free(a);
	rg_chan_free(b);
	rg_chan_free(full);
}

static void nothing_ready_main(void *arg)
{
	(void)arg;
	nothing_ready_body();
}

static void test_select_nothing_ready(void **state)
{
	(void)state;
	gcheck_reset();
	nothing_ready_body();
	gcheck_assert_none();
	RUN_IN_RUNTIME(1, nothing_ready_main, NULL);
}

/* A blocked select with a timeout is woken by a send before it expires. */
struct timeout_wake_ctx {
	rg_chan *c;
	atomic_int started;
	rg_wg done;
};

static void timeout_wake_sender(void *arg)
{
	struct timeout_wake_ctx *ctx = arg;
	int v = 11;

	atomic_store(&ctx->started, 1);
	usleep(2000);
	GCHECK_EQ(rg_chan_send(ctx->c, &v), 0);
	rg_wg_done(&ctx->done);
}

static void timeout_wake_main(void *arg)
{
	struct timeout_wake_ctx *ctx = arg;
	int v = -1, r;
	rg_case cs[1];

	ctx->c = make_int_chan(0);
	rg_wg_add(&ctx->done, 1);
	GCHECK_EQ(rg_go(timeout_wake_sender, ctx), 0);
	cs[0] = recv_case(ctx->c, &v);
	r = rg_select(cs, 1, 10000000000LL);
	GCHECK(r == 0 || r == -ENOSYS);
	if (r == -ENOSYS) /* no timers yet: release the sender */
		GCHECK_EQ(rg_chan_recv(ctx->c, &v), 1);
	else
		GCHECK_EQ(cs[0].ok, 1);
	GCHECK_EQ(v, 11);
	rg_wg_wait(&ctx->done);
	rg_chan_free(ctx->c);
}

static void test_select_timeout_woken(void **state)
{
	(void)state;
	for (int procs = 1; procs <= 2; procs++) {
		struct timeout_wake_ctx ctx = { 0 };

		RUN_IN_RUNTIME(procs, timeout_wake_main, &ctx);
	}
}

/* --------------------------------------------------------------------- */
/* Closed channels                                                       */
/* --------------------------------------------------------------------- */

static void closed_body(void)
{
	rg_chan *c = make_int_chan(2), *u = make_int_chan(0), *other = make_int_chan(1);
	int v = 1, vc, vo = -1;
	rg_case cs[2];

	/* Buffered values first, then ok = 0 and a zeroed element. */
	GCHECK_EQ(rg_chan_try_send(c, &v), 0);
	GCHECK_EQ(rg_chan_close(c), 0);
	cs[0] = recv_case(c, &vc);
	cs[1] = recv_case(u, &vo);
	vc = -1;
	GCHECK_EQ(rg_select(cs, 2, -1), 0);
	GCHECK_EQ(cs[0].ok, 1);
	GCHECK_EQ(vc, 1);
	for (int i = 0; i < 3; i++) {
		vc = -1;
		cs[0].ok = -1;
		GCHECK_EQ(rg_select(cs, 2, i % 2 ? 0 : -1), 0);
		GCHECK_EQ(cs[0].ok, 0);
		GCHECK_EQ(vc, 0);
	}
	GCHECK_EQ(vo, -1);

	/* A send case on a closed channel: -EPIPE, no case taken. */
	cs[0] = send_case(c, &v);
	GCHECK_EQ(rg_select(cs, 1, -1), -EPIPE);
	GCHECK_EQ(rg_select(cs, 1, 0), -EPIPE);
	cs[1] = send_case(u, &v); /* not ready */
	GCHECK_EQ(rg_select(cs, 2, -1), -EPIPE);
	cs[0] = recv_case(other, &vo); /* not ready either */
	cs[1] = send_case(c, &v);
	GCHECK_EQ(rg_select(cs, 2, 0), -EPIPE);
	GCHECK_EQ(vo, -1);
	GCHECK_EQ(rg_chan_len(other), 0);

	rg_chan_free(c);
	rg_chan_free(u);
	rg_chan_free(other);
}

static void closed_main(void *arg)
{
	(void)arg;
	closed_body();
}

static void test_select_closed(void **state)
{
	(void)state;
	gcheck_reset();
	closed_body();
	gcheck_assert_none();
	RUN_IN_RUNTIME(1, closed_main, NULL);
}

/* A select blocked when the channel of one of its cases is closed. */
struct close_wake_ctx {
	rg_chan *c, *d; /* unbuffered; c gets closed */
	bool send;	/* the case on c is a send */
	int procs;
	atomic_int started;
	rg_wg done;
};

static void close_wake_selector(void *arg)
{
	struct close_wake_ctx *ctx = arg;
	int vc = -1, vd = -1, out = 3;
	rg_case cs[2] = { recv_case(ctx->d, &vd),
			  ctx->send ? send_case(ctx->c, &out) : recv_case(ctx->c, &vc) };

	atomic_store(&ctx->started, 1);
	int r = rg_select(cs, 2, -1);

	if (ctx->send) {
		GCHECK_EQ(r, -EPIPE);
	} else {
		GCHECK_EQ(r, 1);
		GCHECK_EQ(cs[1].ok, 0);
		GCHECK_EQ(vc, 0);
	}
	GCHECK_EQ(vd, -1);
	rg_wg_done(&ctx->done);
}

static void close_wake_main(void *arg)
{
	struct close_wake_ctx *ctx = arg;
	int v = 1;

	ctx->c = make_int_chan(0);
	ctx->d = make_int_chan(0);
	rg_wg_add(&ctx->done, 1);
	GCHECK_EQ(rg_go(close_wake_selector, ctx), 0);
	if (ctx->procs == 1)
		await_count(&ctx->started, 1);
	else
		settle_yields();
	GCHECK_EQ(rg_chan_close(ctx->c), 0);
	rg_wg_wait(&ctx->done);
	/* The selector left d's queue: nobody receives there any more. */
	GCHECK_EQ(rg_chan_try_send(ctx->d, &v), -EAGAIN);
	rg_chan_free(ctx->c);
	rg_chan_free(ctx->d);
}

static void test_select_woken_by_close(void **state)
{
	(void)state;
	for (int procs = 1; procs <= 2; procs++) {
		for (int send = 0; send <= 1; send++) {
			struct close_wake_ctx ctx = { .send = send, .procs = procs };

			RUN_IN_RUNTIME(procs, close_wake_main, &ctx);
		}
	}
}

/* --------------------------------------------------------------------- */
/* Nil-channel cases and bad arguments                                   */
/* --------------------------------------------------------------------- */

struct nil_cases_ctx {
	rg_chan *c;
	atomic_int started;
	rg_wg done;
};

static void nil_cases_sender(void *arg)
{
	struct nil_cases_ctx *ctx = arg;
	int v = 21;

	atomic_store(&ctx->started, 1);
	GCHECK_EQ(rg_chan_send(ctx->c, &v), 0);
	rg_wg_done(&ctx->done);
}

static void nil_cases_main(void *arg)
{
	struct nil_cases_ctx *ctx = arg;
	rg_chan *b = make_int_chan(1);
	int v = 0, vn = -1, vb = -1;
	rg_case cs[3];

	/* Only nil cases: never ready. */
	cs[0] = recv_case(NULL, &vn);
	cs[1] = send_case(NULL, &v);
	GCHECK_EQ(rg_select(cs, 2, 0), -EAGAIN);
	GCHECK_EQ(vn, -1);

	/* A nil case beside a ready one is never chosen. */
	for (int i = 0; i < 1000; i++) {
		GCHECK_EQ(rg_chan_try_send(b, &i), 0);
		cs[0] = recv_case(NULL, &vn);
		cs[1] = recv_case(b, &vb);
		cs[2] = send_case(NULL, &v);
		GCHECK_EQ(rg_select(cs, 3, i % 2 ? 0 : -1), 1);
		GCHECK_EQ(vb, i);
	}
	GCHECK_EQ(vn, -1);

	/* Blocked with nil cases, woken by the real one. */
	ctx->c = make_int_chan(0);
	rg_wg_add(&ctx->done, 1);
	GCHECK_EQ(rg_go(nil_cases_sender, ctx), 0);
	cs[0] = recv_case(NULL, &vn);
	cs[1] = send_case(NULL, &v);
	cs[2] = recv_case(ctx->c, &vb);
	GCHECK_EQ(rg_select(cs, 3, -1), 2);
	GCHECK_EQ(cs[2].ok, 1);
	GCHECK_EQ(vb, 21);
	rg_wg_wait(&ctx->done);
	rg_chan_free(ctx->c);
	rg_chan_free(b);
}

static void test_select_nil_cases(void **state)
{
	(void)state;
	for (int procs = 1; procs <= 2; procs++) {
		struct nil_cases_ctx ctx = { 0 };

		RUN_IN_RUNTIME(procs, nil_cases_main, &ctx);
	}
}

static void test_select_bad_args(void **state)
{
	rg_chan *c = rg_chan_make(sizeof(int), 1);
	int v = 4, w = -1;
	rg_case cs[2];

	(void)state;
	assert_non_null(c);
	cs[0] = recv_case(c, &w);
	assert_int_equal(rg_select(cs, -1, 0), -EINVAL);
	assert_int_equal(rg_select(cs, -1, -1), -EINVAL);
	assert_int_equal(rg_select(NULL, -5, 0), -EINVAL);

	assert_int_equal(rg_chan_try_send(c, &v), 0);
	cs[0] = recv_case(c, &w);
	cs[1] = (rg_case){ .chan = c, .op = 0, .elem = &v };
	assert_int_equal(rg_select(cs, 2, 0), -EINVAL);
	cs[1].op = RG_SEND | RG_RECV;
	assert_int_equal(rg_select(cs, 2, -1), -EINVAL);
	cs[1].op = -1;
	assert_int_equal(rg_select(cs, 2, 0), -EINVAL);
	/* Nothing was taken: the ready case's value is still there. */
	assert_int_equal(w, -1);
	assert_int_equal(rg_chan_len(c), 1);
	rg_chan_free(c);
}

/* --------------------------------------------------------------------- */
/* A select that proceeded leaves no waiter behind                       */
/* --------------------------------------------------------------------- */

/*
 * A selector blocks on three unbuffered channels; the main goroutine
 * completes one of them.  From then on, the other two must have no waiter:
 * try_send (or try_recv) there returns -EAGAIN, both right after the
 * completing operation (the selector may not have run yet) and once the
 * selector has reported back (it then waits on another channel).
 */
#define STALE_ROUNDS TEST_SCALE(3000, 300)

struct stale_report {
	int idx;
	int val;
};

struct stale_ctx {
	rg_chan *c[3];
	rg_chan *ack;	 /* struct stale_report, unbuffered */
	rg_chan *resume; /* size 0, unbuffered */
	bool send_cases; /* the selector sends instead of receiving */
	int procs;
	rg_wg done;
};

static void stale_selector(void *arg)
{
	struct stale_ctx *ctx = arg;

	for (int r = 0; r < STALE_ROUNDS; r++) {
		int vals[3] = { -1, -1, -1 }, out = r;
		rg_case cs[3];
		struct stale_report rep;

		for (int i = 0; i < 3; i++)
			cs[i] = ctx->send_cases ? send_case(ctx->c[i], &out) :
						  recv_case(ctx->c[i], &vals[i]);
		rep.idx = rg_select(cs, 3, -1);
		rep.val = rep.idx >= 0 && rep.idx < 3 ? vals[rep.idx] : -1;
		if (!ctx->send_cases && rep.idx >= 0 && rep.idx < 3)
			GCHECK_EQ(cs[rep.idx].ok, 1);
		GCHECK_EQ(rg_chan_send(ctx->ack, &rep), 0);
		GCHECK_EQ(rg_chan_recv(ctx->resume, NULL), 1);
	}
	rg_wg_done(&ctx->done);
}

static void expect_no_waiters(struct stale_ctx *ctx, int skip, int round, const char *when)
{
	int v = -7;

	for (int j = 0; j < 3; j++) {
		int rc;

		if (j == skip)
			continue;
		rc = ctx->send_cases ? rg_chan_try_recv(ctx->c[j], &v) :
				       rg_chan_try_send(ctx->c[j], &v);
		if (rc != -EAGAIN)
			gcheck_fail("round %d: channel %d %s: a waiter was left (rc %d)", round, j,
				    when, rc);
	}
}

static void stale_main(void *arg)
{
	struct stale_ctx *ctx = arg;
	char dummy = 0;

	for (int i = 0; i < 3; i++)
		ctx->c[i] = make_int_chan(0);
	ctx->ack = rg_chan_make(sizeof(struct stale_report), 0);
	ctx->resume = rg_chan_make(0, 0);
	rg_wg_add(&ctx->done, 1);
	GCHECK_EQ(rg_go(stale_selector, ctx), 0);
	for (int r = 0; r < STALE_ROUNDS; r++) {
		int k = r % 3, v = -1;
		struct stale_report rep;

		if (ctx->procs == 1 && r % 2 == 0)
			settle_yields(); /* the selector is parked in rg_select */
		if (ctx->send_cases) {
			GCHECK_EQ(rg_chan_recv(ctx->c[k], &v), 1);
			GCHECK_EQ(v, r);
		} else {
			GCHECK_EQ(rg_chan_send(ctx->c[k], &r), 0);
		}
		expect_no_waiters(ctx, k, r, "right after");
		GCHECK_EQ(rg_chan_recv(ctx->ack, &rep), 1);
		GCHECK_EQ(rep.idx, k);
		if (!ctx->send_cases)
			GCHECK_EQ(rep.val, r);
		expect_no_waiters(ctx, k, r, "once reported");
		GCHECK_EQ(rg_chan_send(ctx->resume, &dummy), 0);
	}
	rg_wg_wait(&ctx->done);
	for (int i = 0; i < 3; i++)
		rg_chan_free(ctx->c[i]);
	rg_chan_free(ctx->ack);
	rg_chan_free(ctx->resume);
}

static void test_select_no_stale_waiter(void **state)
{
	static const int procs[] = { 1, 2, 4 };

	(void)state;
	for (size_t p = 0; p < ARRAY_SIZE(procs); p++) {
		for (int send = 0; send <= 1; send++) {
			struct stale_ctx ctx = { .send_cases = send, .procs = procs[p] };

			RUN_IN_RUNTIME(procs[p], stale_main, &ctx);
		}
	}
}

/*
 * Many selectors blocked on the same two channels: each value sent wakes
 * exactly one of them (none is lost to a selector already woken through
 * the other channel), and every selector is woken.
 */
#define MANY_SEL    8
#define MANY_ROUNDS TEST_SCALE(1000, 100)

struct many_ctx {
	rg_chan *a, *b;
	atomic_llong sum;
	atomic_int started;
	rg_wg done;
};

static void many_selector(void *arg)
{
	struct many_ctx *ctx = arg;
	int va = 0, vb = 0;
	rg_case cs[2] = { recv_case(ctx->a, &va), recv_case(ctx->b, &vb) };
	int r;

	atomic_fetch_add(&ctx->started, 1);
	r = rg_select(cs, 2, -1);
	GCHECK(r == 0 || r == 1);
	if (r == 0 || r == 1) {
		GCHECK_EQ(cs[r].ok, 1);
		atomic_fetch_add(&ctx->sum, r == 0 ? va : vb);
	}
	rg_wg_done(&ctx->done);
}

static void many_main(void *arg)
{
	struct many_ctx *ctx = arg;
	long long want = 0;

	ctx->a = make_int_chan(0);
	ctx->b = make_int_chan(0);
	for (int r = 0; r < MANY_ROUNDS; r++) {
		atomic_store(&ctx->started, 0);
		for (int i = 0; i < MANY_SEL; i++) {
			rg_wg_add(&ctx->done, 1);
			GCHECK_EQ(rg_go(many_selector, ctx), 0);
		}
		if (r % 2)
			await_count(&ctx->started, MANY_SEL);
		for (int i = 0; i < MANY_SEL; i++) {
			int v = r * MANY_SEL + i + 1;

			GCHECK_EQ(rg_chan_send((r + i) % 2 ? ctx->a : ctx->b, &v), 0);
			want += v;
		}
		rg_wg_wait(&ctx->done);
		GCHECK_EQ(atomic_load(&ctx->sum), want);
	}
	rg_chan_free(ctx->a);
	rg_chan_free(ctx->b);
}

static void test_select_many_waiters(void **state)
{
	static const int procs[] = { 1, 2, 4 };

	(void)state;
	for (size_t p = 0; p < ARRAY_SIZE(procs); p++) {
		struct many_ctx ctx = { 0 };

		RUN_IN_RUNTIME(procs[p], many_main, &ctx);
	}
}

/*
 * More cases than a select keeps on its stack: one ready case among 40 is
 * found, a blocked select over 40 channels is woken through the one that
 * gets a value, and leaves no waiter on the other 39.
 */
#define WIDE_N 40

struct wide_ctx {
	rg_chan *c[WIDE_N];
	atomic_int started;
	int got_idx, got_val;
	rg_wg done;
};

static void wide_selector(void *arg)
{
	struct wide_ctx *ctx = arg;
	int vals[WIDE_N];
	rg_case cs[WIDE_N];

	for (int i = 0; i < WIDE_N; i++) {
		vals[i] = -1;
		cs[i] = recv_case(ctx->c[i], &vals[i]);
	}
	atomic_store(&ctx->started, 1);
	ctx->got_idx = rg_select(cs, WIDE_N, -1);
	if (ctx->got_idx >= 0 && ctx->got_idx < WIDE_N) {
		GCHECK_EQ(cs[ctx->got_idx].ok, 1);
		ctx->got_val = vals[ctx->got_idx];
	}
	rg_wg_done(&ctx->done);
}

static void wide_main(void *arg)
{
	struct wide_ctx *ctx = arg;
	rg_case cs[WIDE_N];
	int v = 0, w = -1;

	for (int i = 0; i < WIDE_N; i++)
		ctx->c[i] = make_int_chan(i == 29 ? 1 : 0);

	/* Ready: only case 29. */
	v = 5;
	GCHECK_EQ(rg_chan_try_send(ctx->c[29], &v), 0);
	for (int i = 0; i < WIDE_N; i++)
		cs[i] = i % 2 ? send_case(ctx->c[i], &v) : recv_case(ctx->c[i], &w);
	GCHECK_EQ(rg_select(cs, WIDE_N, 0), -EAGAIN); /* case 29 is a send: full */
	cs[29] = recv_case(ctx->c[29], &w);
	GCHECK_EQ(rg_select(cs, WIDE_N, -1), 29);
	GCHECK_EQ(w, 5);

	/* Blocked over all 40, woken through channel 37. */
	for (int round = 0; round < 2; round++) {
		atomic_store(&ctx->started, 0);
		ctx->got_idx = ctx->got_val = -1;
		rg_wg_add(&ctx->done, 1);
		GCHECK_EQ(rg_go(wide_selector, ctx), 0);
		await_count(&ctx->started, 1);
		v = 100 + round;
		GCHECK_EQ(rg_chan_send(ctx->c[37], &v), 0);
		rg_wg_wait(&ctx->done);
		GCHECK_EQ(ctx->got_idx, 37);
		GCHECK_EQ(ctx->got_val, 100 + round);
		for (int i = 0; i < WIDE_N; i++)
			if (i != 29)
				GCHECK_EQ(rg_chan_try_send(ctx->c[i], &v), -EAGAIN);
	}
	for (int i = 0; i < WIDE_N; i++)
		rg_chan_free(ctx->c[i]);
}

static void test_select_many_cases(void **state)
{
	(void)state;
	for (int procs = 1; procs <= 2; procs++) {
		struct wide_ctx ctx = { 0 };

		RUN_IN_RUNTIME(procs, wide_main, &ctx);
	}
}

/* --------------------------------------------------------------------- */
/* Send and receive on one channel in one select                         */
/* --------------------------------------------------------------------- */

#define SAME_N TEST_SCALE(20000, 2000)

struct same_ctx;

struct same_arg {
	struct same_ctx *ctx;
	int id;
	int sent;
};

struct same_ctx {
	rg_chan *c;
	atomic_uchar *seen; /* 2 * SAME_N values: goroutine id * SAME_N + its n-th send */
	struct same_arg args[2];
	rg_wg done;
};

static void same_mark(struct same_ctx *ctx, uint64_t v)
{
	if (v >= 2 * (uint64_t)SAME_N) {
		gcheck_fail("received %llu, out of range", (unsigned long long)v);
		return;
	}
	GCHECK_EQ(atomic_fetch_add(&ctx->seen[v], 1), 0);
}

static void same_worker(void *arg)
{
	struct same_arg *a = arg;
	struct same_ctx *ctx = a->ctx;

	for (int i = 0; i < SAME_N; i++) {
		uint64_t out = (uint64_t)a->id * SAME_N + (uint64_t)a->sent, in = UINT64_MAX;
		rg_case cs[2];
		int send_idx = i % 2, r;

		cs[send_idx] = send_case(ctx->c, &out);
		cs[!send_idx] = recv_case(ctx->c, &in);
		r = rg_select(cs, 2, -1);
		if (r == send_idx) {
			a->sent++;
		} else if (r == !send_idx) {
			GCHECK_EQ(cs[r].ok, 1);
			same_mark(ctx, in);
		} else {
			gcheck_fail("rg_select returned %d", r);
		}
	}
	rg_wg_done(&ctx->done);
}

/* Alone, a select never pairs its own send with its own receive. */
static void same_alone(rg_chan *c)
{
	uint64_t out = 77, in = 0;
	rg_case cs[2] = { send_case(c, &out), recv_case(c, &in) };

	if (rg_chan_cap(c) == 0) {
		GCHECK_EQ(rg_select(cs, 2, 0), -EAGAIN);
		return;
	}
	GCHECK_EQ(rg_select(cs, 2, 0), 0); /* empty: only the send is ready */
	GCHECK_EQ(rg_select(cs, 2, 0), 1); /* full: only the receive */
	GCHECK_EQ(cs[1].ok, 1);
	GCHECK_EQ(in, 77);
}

static void same_main(void *arg)
{
	struct same_ctx *ctx = arg;
	uint64_t v;

	same_alone(ctx->c);
	for (int i = 0; i < 2; i++) {
		ctx->args[i] = (struct same_arg){ ctx, i, 0 };
		rg_wg_add(&ctx->done, 1);
		GCHECK_EQ(rg_go(same_worker, &ctx->args[i]), 0);
	}
	rg_wg_wait(&ctx->done);
	while (rg_chan_try_recv(ctx->c, &v) == 1)
		same_mark(ctx, v);
	/* Exactly the values sent were received, once each. */
	for (int id = 0; id < 2; id++) {
		for (int s = 0; s < SAME_N; s++) {
			int want = s < ctx->args[id].sent;
			int got = atomic_load(&ctx->seen[id * SAME_N + s]);

			if (got != want) {
				gcheck_fail("value %d of goroutine %d received %d times, sent %d",
					    s, id, got, want);
				return;
			}
		}
	}
	if (rg_chan_cap(ctx->c) == 0)
		GCHECK_EQ(ctx->args[0].sent + ctx->args[1].sent, SAME_N);
}

static void test_select_send_recv_same_chan(void **state)
{
	static const int procs[] = { 1, 2, 8 };

	(void)state;
	for (size_t p = 0; p < ARRAY_SIZE(procs); p++) {
		for (size_t cap = 0; cap <= 1; cap++) {
			struct same_ctx ctx = { .c = rg_chan_make(sizeof(uint64_t), cap) };

			ctx.seen = calloc(2 * SAME_N, sizeof(*ctx.seen));
			assert_non_null(ctx.c);
			assert_non_null(ctx.seen);
			RUN_IN_RUNTIME(procs[p], same_main, &ctx);
			rg_chan_free(ctx.c);
			free(ctx.seen);
		}
	}
}

/* --------------------------------------------------------------------- */
/* Selects over the same channels in opposite orders                     */
/* --------------------------------------------------------------------- */

/*
 * Kind 0 selects {a <- x, <-b}, kind 1 {b <- y, <-a}: the cases name the
 * channels in opposite orders, and every operation of one kind pairs with
 * one of the other (unbuffered channels), so all finish together unless
 * two selects deadlock on each other's channel locks.
 */
#define OPP_N TEST_SCALE(20000, 2000)

struct opp_ctx;

struct opp_arg {
	struct opp_ctx *ctx;
	int id, kind;
};

struct opp_ctx {
	rg_chan *a, *b;
	int per_kind; /* goroutines of each kind */
	atomic_llong sent_sum, recv_sum, sent_n, recv_n;
	struct opp_arg args[4];
	rg_wg done;
};

static void opp_worker(void *arg)
{
	struct opp_arg *a = arg;
	struct opp_ctx *ctx = a->ctx;
	rg_chan *mine = a->kind ? ctx->b : ctx->a, *theirs = a->kind ? ctx->a : ctx->b;
	int64_t seq = 0, next_in = 0, sent_sum = 0, recv_sum = 0, sent_n = 0, recv_n = 0;

	for (int i = 0; i < OPP_N; i++) {
		int64_t out = ((int64_t)a->id << 32) | seq, in = -1;
		rg_case cs[2] = { send_case(mine, &out), recv_case(theirs, &in) };
		int r = rg_select(cs, 2, -1);

		if (r == 0) {
			seq++;
			sent_sum += out;
			sent_n++;
		} else if (r == 1) {
			GCHECK_EQ(cs[1].ok, 1);
			/* With one sender per channel, its values arrive in order. */
			if (ctx->per_kind == 1)
				GCHECK_EQ(in & 0xffffffff, next_in);
			next_in = (in & 0xffffffff) + 1;
			recv_sum += in;
			recv_n++;
		} else {
			gcheck_fail("rg_select returned %d", r);
		}
	}
	atomic_fetch_add(&ctx->sent_sum, sent_sum);
	atomic_fetch_add(&ctx->recv_sum, recv_sum);
	atomic_fetch_add(&ctx->sent_n, sent_n);
	atomic_fetch_add(&ctx->recv_n, recv_n);
	rg_wg_done(&ctx->done);
}

static void opp_main(void *arg)
{
	struct opp_ctx *ctx = arg;

	ctx->a = rg_chan_make(sizeof(int64_t), 0);
	ctx->b = rg_chan_make(sizeof(int64_t), 0);
	for (int i = 0; i < 2 * ctx->per_kind; i++) {
		ctx->args[i] = (struct opp_arg){ ctx, i, i % 2 };
		rg_wg_add(&ctx->done, 1);
		GCHECK_EQ(rg_go(opp_worker, &ctx->args[i]), 0);
	}
	rg_wg_wait(&ctx->done);
	GCHECK_EQ(atomic_load(&ctx->sent_n), atomic_load(&ctx->recv_n));
	GCHECK_EQ(atomic_load(&ctx->sent_n), (long long)OPP_N * ctx->per_kind);
	GCHECK_EQ(atomic_load(&ctx->sent_sum), atomic_load(&ctx->recv_sum));
	rg_chan_free(ctx->a);
	rg_chan_free(ctx->b);
}

static void test_select_opposite_orders(void **state)
{
	static const int procs[] = { 1, 2, 8 };

	(void)state;
	for (size_t p = 0; p < ARRAY_SIZE(procs); p++) {
		for (int per_kind = 1; per_kind <= 2; per_kind++) {
			struct opp_ctx ctx = { .per_kind = per_kind };

			RUN_IN_RUNTIME(procs[p], opp_main, &ctx);
		}
	}
}

/* --------------------------------------------------------------------- */
/* Uniform choice among ready cases                                      */
/* --------------------------------------------------------------------- */

/*
 * How far from uniform the counts may be.
 *
 * Over n selects among k always-ready cases, each choice uniform and
 * independent, the count X of one case is Binomial(n, 1/k), and so is the
 * number R of selects (among n - 1) that chose the same case as the
 * previous one: whatever came before, the next choice repeats the previous
 * one with probability 1/k, so these n - 1 indicators are independent.
 * R catches a select that rotates through the cases, whose counts are
 * perfectly even.
 *
 * Hoeffding's inequality bounds each statistic without any approximation:
 *
 *     P(|X - n p| >= t) <= 2 exp(-2 t^2 / n).
 *
 * We check m statistics: the k counts (for k = 2 one is enough, the two
 * are complementary) and R, so m = 2 for k = 2 and m = 5 for k = 4.  By
 * the union bound a fair select fails with probability at most
 * 2 m exp(-2 t^2 / n); setting this to 1e-6 gives
 *
 *     t^2 = n / 2 * ln(2 m * 1e6),
 *
 * with ln(4e6) = 15.2018 (k = 2) and ln(1e7) = 16.1181 (k = 4).  For
 * n = 100000 that is t = 872 for k = 2 (5.5 sigma, sigma = sqrt(n / 4) =
 * 158) and t = 898 for k = 4 (6.6 sigma, sigma = sqrt(3 n / 16) = 137):
 * a deviation of under 1% of n.  A select that prefers the first ready
 * case, or the last, fails by thousands.
 */
#define FAIR_N	   100000
#define FAIR_LN_K2 15.2018 /* ln(2 * 2 * 1e6) */
#define FAIR_LN_K4 16.1181 /* ln(2 * 5 * 1e6) */

struct fair_stats {
	long count[4];
	long repeats;
};

/* sqrt by Newton's method, so as not to need libm. */
static double fair_sqrt(double x)
{
	double r = x > 1 ? x : 1;

	for (int i = 0; i < 64; i++)
		r = (r + x / r) / 2;
	return r;
}

static bool fair_within(double x, double expected, double n, double ln_term, const char *what,
			int k)
{
	double dev = x - expected;

	if (dev * dev <= n / 2 * ln_term)
		return true;
	gcheck_fail("select fairness over %d cases: %s is %.0f, expected %.0f (bound %.0f)", k,
		    what, x, expected, fair_sqrt(n / 2 * ln_term));
	return false;
}

static void fair_check(const struct fair_stats *st, int k, long n)
{
	double ln_term = k == 2 ? FAIR_LN_K2 : FAIR_LN_K4;
	long total = 0;

	for (int i = 0; i < k; i++) {
		char what[32];

		snprintf(what, sizeof(what), "count of case %d", i);
		fair_within((double)st->count[i], (double)n / k, (double)n, ln_term, what, k);
		total += st->count[i];
	}
	GCHECK_EQ(total, n);
	fair_within((double)st->repeats, (double)(n - 1) / k, (double)n, ln_term,
		    "repeats of the previous choice", k);
}

static void fair_record(struct fair_stats *st, int *prev, int r, int k)
{
	if (r < 0 || r >= k) {
		gcheck_fail("rg_select returned %d", r);
		return;
	}
	st->count[r]++;
	st->repeats += r == *prev;
	*prev = r;
}

/* k receive cases on closed channels: always ready, nothing to refill. */
static void fair_closed(int k)
{
	rg_chan *c[4];
	rg_case cs[4];
	struct fair_stats st = { 0 };
	int prev = -1;

	for (int i = 0; i < k; i++) {
		c[i] = rg_chan_make(0, 0);
		rg_chan_close(c[i]);
		cs[i] = recv_case(c[i], NULL);
	}
	for (long t = 0; t < FAIR_N; t++)
		fair_record(&st, &prev, rg_select(cs, k, t % 2 ? 0 : -1), k);
	fair_check(&st, k, FAIR_N);
	for (int i = 0; i < k; i++)
		rg_chan_free(c[i]);
}

/* Two buffered channels with a value each, refilled after every select. */
static void fair_buffered_recv(void)
{
	rg_chan *c[2] = { make_int_chan(1), make_int_chan(1) };
	int v[2], one = 1;
	rg_case cs[2] = { recv_case(c[0], &v[0]), recv_case(c[1], &v[1]) };
	struct fair_stats st = { 0 };
	int prev = -1, r;

	GCHECK_EQ(rg_chan_try_send(c[0], &one), 0);
	GCHECK_EQ(rg_chan_try_send(c[1], &one), 0);
	for (long t = 0; t < FAIR_N; t++) {
		r = rg_select(cs, 2, -1);
		fair_record(&st, &prev, r, 2);
		if (r == 0 || r == 1)
			GCHECK_EQ(rg_chan_try_send(c[r], &one), 0);
	}
	fair_check(&st, 2, FAIR_N);
	rg_chan_free(c[0]);
	rg_chan_free(c[1]);
}

/* Two send cases with room, drained after every select. */
static void fair_buffered_send(void)
{
	rg_chan *c[2] = { make_int_chan(1), make_int_chan(1) };
	int one = 1, v;
	rg_case cs[2] = { send_case(c[0], &one), send_case(c[1], &one) };
	struct fair_stats st = { 0 };
	int prev = -1, r;

	for (long t = 0; t < FAIR_N; t++) {
		r = rg_select(cs, 2, t % 2 ? 0 : -1);
		fair_record(&st, &prev, r, 2);
		if (r == 0 || r == 1)
			GCHECK_EQ(rg_chan_try_recv(c[r], &v), 1);
	}
	fair_check(&st, 2, FAIR_N);
	rg_chan_free(c[0]);
	rg_chan_free(c[1]);
}

static void fair_main(void *arg)
{
	(void)arg;
	fair_closed(2);
	fair_closed(4);
	fair_buffered_recv();
	fair_buffered_send();
}

static void test_select_fairness(void **state)
{
	(void)state;
	RUN_IN_RUNTIME(1, fair_main, NULL);
}

/* The same from a plain thread, which has no M and its random state. */
static void test_select_fairness_plain_thread(void **state)
{
	(void)state;
	gcheck_reset();
	fair_closed(2);
	fair_closed(4);
	fair_buffered_recv();
	gcheck_assert_none();
}

/* --------------------------------------------------------------------- */
/* Select from plain threads                                             */
/* --------------------------------------------------------------------- */

struct tsel_ctx {
	rg_chan *a, *b;	  /* unbuffered */
	atomic_int stage; /* 1: about to block receiving, 2: about to block sending */
	atomic_int done;
};

/* Blocks receiving on {a, b}, then sending on {a, NULL}, then polls. */
static void *tsel_thread(void *arg)
{
	struct tsel_ctx *ctx = arg;
	int va = -1, vb = -1, out = 5, r;
	rg_case cs[2] = { recv_case(ctx->a, &va), recv_case(ctx->b, &vb) };

	atomic_store(&ctx->stage, 1);
	GCHECK_EQ(rg_select(cs, 2, -1), 1);
	GCHECK_EQ(cs[1].ok, 1);
	GCHECK_EQ(vb, 77);
	GCHECK_EQ(va, -1);

	cs[0] = send_case(ctx->a, &out);
	cs[1] = send_case(NULL, &out);
	atomic_store(&ctx->stage, 2);
	GCHECK_EQ(rg_select(cs, 2, -1), 0);

	/* Polling until the other side closes b. */
	cs[0] = recv_case(ctx->b, &vb);
	while ((r = rg_select(cs, 1, 0)) == -EAGAIN)
		usleep(100);
	GCHECK_EQ(r, 0);
	GCHECK_EQ(cs[0].ok, 0);
	atomic_store(&ctx->done, 1);
	return NULL;
}

static void tsel_main(void *arg)
{
	struct tsel_ctx *ctx = arg;
	int v = 77;
	pthread_t th;

	ctx->a = make_int_chan(0);
	ctx->b = make_int_chan(0);
	if (pthread_create(&th, NULL, tsel_thread, ctx) != 0) {
		gcheck_fail("pthread_create failed");
		return;
	}
	while (atomic_load(&ctx->stage) < 1)
		pause_briefly();
	usleep(2000); /* most likely blocked by now; if not, the send waits */
	GCHECK_EQ(rg_chan_send(ctx->b, &v), 0);
	while (atomic_load(&ctx->stage) < 2)
		pause_briefly();
	usleep(2000);
	v = -1;
	GCHECK_EQ(rg_chan_recv(ctx->a, &v), 1);
	GCHECK_EQ(v, 5);
	GCHECK_EQ(rg_chan_close(ctx->b), 0);
	join_when_done(th, &ctx->done, 1);
	rg_chan_free(ctx->a);
	rg_chan_free(ctx->b);
}

static void test_select_plain_thread(void **state)
{
	struct tsel_ctx ctx = { 0 };

	(void)state;
	/* With a runtime: a goroutine on the other side. */
	for (int procs = 1; procs <= 2; procs++) {
		memset(&ctx, 0, sizeof(ctx));
		RUN_IN_RUNTIME(procs, tsel_main, &ctx);
	}
	/* Without one: two plain threads. */
	memset(&ctx, 0, sizeof(ctx));
	gcheck_reset();
	tsel_main(&ctx);
	gcheck_assert_none();
}

/* --------------------------------------------------------------------- */
/* Stress: producers and consumers selecting over several channels       */
/* --------------------------------------------------------------------- */

#define SST_CHANS 3
#define SST_PROD  4
#define SST_CONS  4
#define SST_PER	  TEST_SCALE(10000, 800)
#define SST_TOTAL ((uint64_t)SST_PROD * SST_PER)

struct sst_ctx;

struct sst_arg {
	struct sst_ctx *ctx;
	int id;
};

struct sst_ctx {
	rg_chan *c[SST_CHANS]; /* capacities 0, 1, 16 */
	atomic_uchar *seen;
	atomic_ullong count, sum;
	atomic_long per_chan[SST_CHANS];
	struct sst_arg prod[SST_PROD], cons[SST_CONS];
	rg_wg prod_done, cons_done;
};

/* Producer 0 uses plain sends, round robin; the others select. */
static void sst_producer(void *arg)
{
	struct sst_arg *a = arg;
	struct sst_ctx *ctx = a->ctx;

	for (uint64_t v = (uint64_t)a->id * SST_PER; v < (uint64_t)(a->id + 1) * SST_PER; v++) {
		rg_case cs[SST_CHANS];
		int r;

		if (a->id == 0) {
			GCHECK_EQ(rg_chan_send(ctx->c[v % SST_CHANS], &v), 0);
			continue;
		}
		for (int i = 0; i < SST_CHANS; i++)
			cs[i] = send_case(ctx->c[i], &v);
		r = rg_select(cs, SST_CHANS, -1);
		GCHECK(r >= 0 && r < SST_CHANS);
	}
	rg_wg_done(&ctx->prod_done);
}

/* Consumers select until every channel is closed, dropping closed ones
 * (a nil case, as in Go).  Consumer 1 polls with timeout 0. */
static void sst_consumer(void *arg)
{
	struct sst_arg *a = arg;
	struct sst_ctx *ctx = a->ctx;
	uint64_t vals[SST_CHANS], sum = 0, n = 0;
	rg_case cs[SST_CHANS];
	int open = SST_CHANS;

	for (int i = 0; i < SST_CHANS; i++)
		cs[i] = recv_case(ctx->c[i], &vals[i]);
	while (open > 0) {
		int r = rg_select(cs, SST_CHANS, a->id == 1 ? 0 : -1);

		if (r == -EAGAIN && a->id == 1) {
			rg_yield();
			continue;
		}
		if (r < 0 || r >= SST_CHANS) {
			gcheck_fail("rg_select returned %d", r);
			break;
		}
		if (cs[r].ok == 0) {
			GCHECK_EQ(vals[r], 0);
			cs[r].chan = NULL;
			open--;
			continue;
		}
		GCHECK_EQ(cs[r].ok, 1);
		if (vals[r] >= SST_TOTAL) {
			gcheck_fail("received %llu, out of range", (unsigned long long)vals[r]);
			continue;
		}
		GCHECK_EQ(atomic_fetch_add(&ctx->seen[vals[r]], 1), 0);
		atomic_fetch_add(&ctx->per_chan[r], 1);
		sum += vals[r];
		n++;
	}
	atomic_fetch_add(&ctx->sum, sum);
	atomic_fetch_add(&ctx->count, n);
	rg_wg_done(&ctx->cons_done);
}

static void sst_main(void *arg)
{
	static const size_t caps[SST_CHANS] = { 0, 1, 16 };
	struct sst_ctx *ctx = arg;

	for (int i = 0; i < SST_CHANS; i++)
		ctx->c[i] = rg_chan_make(sizeof(uint64_t), caps[i]);
	for (int i = 0; i < SST_CONS; i++) {
		ctx->cons[i] = (struct sst_arg){ ctx, i };
		rg_wg_add(&ctx->cons_done, 1);
		GCHECK_EQ(rg_go(sst_consumer, &ctx->cons[i]), 0);
	}
	for (int i = 0; i < SST_PROD; i++) {
		ctx->prod[i] = (struct sst_arg){ ctx, i };
		rg_wg_add(&ctx->prod_done, 1);
		GCHECK_EQ(rg_go(sst_producer, &ctx->prod[i]), 0);
	}
	rg_wg_wait(&ctx->prod_done);
	for (int i = 0; i < SST_CHANS; i++)
		GCHECK_EQ(rg_chan_close(ctx->c[i]), 0);
	rg_wg_wait(&ctx->cons_done);

	GCHECK_EQ(atomic_load(&ctx->count), SST_TOTAL);
	GCHECK_EQ(atomic_load(&ctx->sum), SST_TOTAL * (SST_TOTAL - 1) / 2);
	for (uint64_t v = 0; v < SST_TOTAL; v++)
		if (atomic_load(&ctx->seen[v]) != 1) {
			gcheck_fail("value %llu received %d times", (unsigned long long)v,
				    atomic_load(&ctx->seen[v]));
			break;
		}
	/* Producer 0 alone puts SST_PER / 3 values on each channel. */
	for (int i = 0; i < SST_CHANS; i++)
		GCHECK(atomic_load(&ctx->per_chan[i]) >= SST_PER / SST_CHANS);
	for (int i = 0; i < SST_CHANS; i++)
		rg_chan_free(ctx->c[i]);
}

static void test_select_stress(void **state)
{
	static const int procs[] = { 1, 2, 8 };

	(void)state;
	for (size_t p = 0; p < ARRAY_SIZE(procs); p++) {
		struct sst_ctx ctx = { 0 };

		ctx.seen = calloc(SST_TOTAL, sizeof(*ctx.seen));
		assert_non_null(ctx.seen);
		RUN_IN_RUNTIME(procs[p], sst_main, &ctx);
		free(ctx.seen);
	}
}

/* --------------------------------------------------------------------- */
/* Deadlock reports and fatal errors (child processes)                   */
/* --------------------------------------------------------------------- */

static void select_block_main(void *arg)
{
	rg_chan *a = rg_chan_make(sizeof(int), 0), *b = rg_chan_make(sizeof(int), 1);
	int v = 1;
	rg_case cs[3] = { recv_case(a, &v), recv_case(b, &v), send_case(a, &v) };

	(void)arg;
	rg_select(cs, 3, -1);
}

static void select_no_cases_main(void *arg)
{
	(void)arg;
	rg_select(NULL, 0, -1);
}

static void select_nil_only_main(void *arg)
{
	int v = 1;
	rg_case cs[2] = { recv_case(NULL, &v), send_case(NULL, &v) };

	(void)arg;
	rg_select(cs, 2, -1);
}

static rg_wg worker_started;

static void no_cases_worker(void *arg)
{
	(void)arg;
	fprintf(stderr, "TEST-GOID %llu\n", (unsigned long long)rg_goid());
	rg_wg_done(&worker_started);
	rg_select(NULL, 0, -1);
}

/* A worker in select {} and main in a select with cases. */
static void select_two_main(void *arg)
{
	(void)arg;
	rg_wg_add(&worker_started, 1);
	rg_go(no_cases_worker, NULL);
	rg_wg_wait(&worker_started);
	select_block_main(NULL);
}

static rg_chan *free_c;
static atomic_int free_blocked;

static void free_select_worker(void *arg)
{
	rg_chan *d = rg_chan_make(sizeof(int), 0);
	int v;
	rg_case cs[2] = { recv_case(d, &v), recv_case(free_c, &v) };

	(void)arg;
	atomic_store(&free_blocked, 1);
	rg_select(cs, 2, -1);
}

static void free_select_main(void *arg)
{
	(void)arg;
	free_c = rg_chan_make(sizeof(int), 0);
	rg_go(free_select_worker, NULL);
	await_count(&free_blocked, 1);
	rg_chan_free(free_c); /* fatal: the worker's select waits on it */
}

static int child_select_block(void)
{
	return run_child_main(1, select_block_main);
}

static int child_select_no_cases(void)
{
	return run_child_main(2, select_no_cases_main);
}

static int child_select_nil_only(void)
{
	return run_child_main(1, select_nil_only_main);
}

static int child_select_two(void)
{
	return run_child_main(2, select_two_main);
}

static int child_free_select(void)
{
	return run_child_main(1, free_select_main);
}

static const struct child_case child_cases[] = {
	{ "select_block", child_select_block },	      { "select_no_cases", child_select_no_cases },
	{ "select_nil_only", child_select_nil_only }, { "select_two", child_select_two },
	{ "free_select", child_free_select },
};

static void test_select_deadlock_reports(void **state)
{
	const char *name = "select_two";
	struct child_result r;
	char line[96];
	long id = 0;

	(void)state;
	expect_deadlock("select_block", "goroutine 1 [select]:");
	expect_deadlock("select_no_cases", "goroutine 1 [select (no cases)]:");
	/* Only nil channels: Go reports "select"; "select (no cases)" is as good. */
	expect_deadlock("select_nil_only", "goroutine 1 [select");

	run_child_case(name, NULL, &r);
	assert_child_exit(name, &r, 2);
	assert_child_stderr_has(name, &r, DEADLOCK_MSG);
	assert_child_stderr_has(name, &r, "goroutine 1 [select]:");
	if (!child_find_int(&r, "TEST-GOID ", &id)) {
		child_dump(name, &r);
		fail_msg("child '%s' did not print its worker's id", name);
	}
	snprintf(line, sizeof(line), "goroutine %ld [select (no cases)]:", id);
	assert_child_stderr_has(name, &r, line);
	child_result_free(&r);
}

static void test_select_free_blocked_fatal(void **state)
{
	const char *name = "free_select";
	struct child_result r;

	(void)state;
	run_child_case(name, NULL, &r);
	assert_child_exit(name, &r, 2);
	assert_child_stderr_has(name, &r, "fatal error");
	assert_child_stderr_has(name, &r, "rg_chan_free");
	assert_child_stderr_lacks(name, &r, DEADLOCK_MSG);
	child_result_free(&r);
}

/* --- freeing the other channels right after a select won ----------------------- */

/*
 * A select blocked on {a, b} is won through a; the sender, which no longer
 * sees anyone blocked on b, frees both at once while the selector's stale
 * waiter is still queued on b.  The free must wait for the selector to take
 * it off (ASan checks that nothing touches freed memory).
 */
struct freewin {
	rg_chan *a, *b;
	atomic_int ready;
	rg_wg done;
	int got;
};

static void freewin_selector(void *arg)
{
	struct freewin *fw = arg;
	int va = 0, vb = 0;
	rg_case cases[] = { { fw->a, RG_RECV, &va, 0 }, { fw->b, RG_RECV, &vb, 0 } };

	atomic_fetch_add(&fw->ready, 1);
	GCHECK_EQ(rg_select(cases, 2, -1), 0);
	fw->got = va;
	rg_wg_done(&fw->done);
}

static void freewin_main(void *arg)
{
	int rounds = TEST_SCALE(2000, 200);

	(void)arg;
	for (int r = 0; r < rounds; r++) {
		struct freewin fw = { .a = rg_chan_make(sizeof(int), 0),
				      .b = rg_chan_make(sizeof(int), 0) };
		int v = r + 1;

		rg_wg_add(&fw.done, 1);
		GCHECK_EQ(rg_go(freewin_selector, &fw), 0);
		while (atomic_load(&fw.ready) == 0)
			rg_yield();
		GCHECK_EQ(rg_chan_send(fw.a, &v), 0);
		rg_chan_free(fw.a);
		rg_chan_free(fw.b); /* the selector's waiter may still be on b */
		rg_wg_wait(&fw.done);
		GCHECK_EQ(fw.got, v);
	}
}

static void test_free_after_select_win(void **state)
{
	(void)state;
	RUN_FOR_PROCS(freewin_main, NULL, 1, 2);
}

int main(int argc, char **argv)
{
	int rc = child_dispatch(argc, argv, child_cases, ARRAY_SIZE(child_cases));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_select_ready_case),
		cmocka_unit_test(test_select_nothing_ready),
		cmocka_unit_test(test_select_timeout_woken),
		cmocka_unit_test(test_select_closed),
		cmocka_unit_test(test_select_woken_by_close),
		cmocka_unit_test(test_select_nil_cases),
		cmocka_unit_test(test_select_bad_args),
		cmocka_unit_test(test_select_no_stale_waiter),
		cmocka_unit_test(test_select_many_waiters),
		cmocka_unit_test(test_select_many_cases),
		cmocka_unit_test(test_select_send_recv_same_chan),
		cmocka_unit_test(test_select_opposite_orders),
		cmocka_unit_test(test_select_fairness),
		cmocka_unit_test(test_select_fairness_plain_thread),
		cmocka_unit_test(test_select_plain_thread),
		cmocka_unit_test(test_select_stress),
		cmocka_unit_test(test_select_deadlock_reports),
		cmocka_unit_test(test_select_free_blocked_fatal),
		cmocka_unit_test(test_free_after_select_win),
	};

	if (rc >= 0)
		return rc;
	test_watchdog(180);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
