/* SPDX-License-Identifier: MIT */
/*
 * test_timer - rg_timer, rg_timer_func and tickers:
 *
 *  - a timer's value is the time it was due for, no earlier than asked;
 *  - Stop (Go 1.23): true before it fires, true after it fired but before
 *    its value was received (which is then gone), false once received;
 *  - Reset: no value of an earlier arming is ever received, in a race of
 *    resets against expiry repeated many times; 2,000 timers due in an
 *    hour, half made by another goroutine, reset in a scrambled order to
 *    a few ms (moved up in their heap, or added again) all fire then;
 *  - rg_timer_func runs its function once, as a goroutine, and never
 *    after a Stop that returned true;
 *  - tickers: ticks due a period apart; a slow receiver misses ticks and
 *    gets no burst; Reset changes the period; Stop ends them;
 *  - 100,000 timers at once all fire; timers survive gomaxprocs changes;
 *  - half of 4,000 timers stopped in a scrambled order, across a
 *    gomaxprocs change: those never fire, the others all do, on time;
 *  - rg_after: its value is the due time; a loop taking a fresh channel
 *    each time keeps no memory; a goroutine's pending ones go with it;
 *  - 100 tickers alone leave the CPUs idle between ticks (no busy loop);
 *  - timers fire, none early, while a run queue never drains (300
 *    goroutines yielding on one P);
 *  - a plain thread makes, stops and frees timers while the runtime runs
 *    (rg_after is NULL there);
 *  - misuse: a NULL timer is fatal, naming the call.
 */
#include <malloc.h>
#include <pthread.h>
#include <sys/resource.h>

#include "tests/helpers.h"

#define MS 1000000LL

/* The next value of t's channel within 10 s, or -1. */
static int64_t recv_due(rg_timer *t)
{
	int64_t v = -1;
	rg_case rc = { .chan = rg_timer_chan(t), .op = RG_RECV, .elem = &v };

	if (rg_select(&rc, 1, 10000 * MS) != 0)
		return -1;
	return v;
}

static bool chan_empty(rg_timer *t)
{
	int64_t v;

	return rg_chan_try_recv(rg_timer_chan(t), &v) == -EAGAIN;
}

static void basic_main(void *arg)
{
	int64_t t0 = rg_now_ns(), due;
	rg_timer *t = rg_timer_new(20 * MS);

	(void)arg;
	GCHECK(t != NULL);
	due = recv_due(t);
	GCHECK(due >= t0 + 20 * MS);
	GCHECK(rg_now_ns() >= due);
	/* Received: Stop has nothing to stop. */
	GCHECK(!rg_timer_stop(t));
	/* Stop before it fires. */
	GCHECK(!rg_timer_reset(t, 30 * MS));
	GCHECK(rg_timer_stop(t));
	rg_sleep_ns(50 * MS);
	GCHECK(chan_empty(t));
	/* Fired, not received: Stop drops the value. */
	GCHECK(!rg_timer_reset(t, MS));
	rg_sleep_ns(20 * MS);
	GCHECK(rg_chan_len(rg_timer_chan(t)) == 1);
	GCHECK(rg_timer_stop(t));
	GCHECK(chan_empty(t));
	/* Reset of a fired, unreceived timer: true, and only the new value. */
	GCHECK(!rg_timer_reset(t, MS));
	rg_sleep_ns(20 * MS);
	t0 = rg_now_ns();
	GCHECK(rg_timer_reset(t, 5 * MS));
	GCHECK(recv_due(t) >= t0 + 5 * MS);
	/* Negative: at once. */
	GCHECK(!rg_timer_reset(t, -5));
	GCHECK(recv_due(t) > 0);
	rg_timer_free(t);
	rg_timer_free(NULL);
}

static void test_basic(void **state)
{
	(void)state;
	RUN_FOR_PROCS(basic_main, NULL, 1, 2);
}

/* Resets racing expiry: a value received is always of the last arming. */
static void race_main(void *arg)
{
	rg_timer *t = rg_timer_new(0);

	(void)arg;
	for (int i = 0; i < TEST_SCALE(2000, 300); i++) {
		int64_t before;

		/* Let it fire now and then, or not. */
		if (i % 3)
			rg_sleep_ns((i % 7) * 20000);
		before = rg_now_ns();
		rg_timer_reset(t, 50000 + (i % 5) * 10000);
		GCHECK(recv_due(t) >= before + 50000);
		if (i % 11 == 0)
			rg_timer_reset(t, (i % 4) * 10000); /* left to fire, or not */
	}
	rg_timer_free(t);
}

static void test_reset_race(void **state)
{
	(void)state;
	RUN_FOR_PROCS(race_main, NULL, 1, 2);
}

/* Timers moved earlier, in a scrambled order: each fires at its new time. */
#define EARLY_N 2000

struct early_ctx {
	rg_timer *ts[EARLY_N];
	rg_wg made;
};

static void early_maker(void *arg)
{
	struct early_ctx *ec = arg;

	for (int i = 1; i < EARLY_N; i += 2)
		ec->ts[i] = rg_timer_new(3600000 * MS);
	rg_wg_done(&ec->made);
}

static void early_main(void *arg)
{
	struct early_ctx *ec = calloc(1, sizeof(*ec));
	int64_t t0, when[EARLY_N];

	(void)arg;
	GCHECK(ec != NULL);
	rg_wg_add(&ec->made, 1);
	GCHECK_EQ(rg_go(early_maker, ec), 0);
	for (int i = 0; i < EARLY_N; i += 2)
		ec->ts[i] = rg_timer_new(3600000 * MS);
	rg_wg_wait(&ec->made);
	t0 = rg_now_ns();
	for (int k = 0; k < EARLY_N; k++) {
		int i = (k * 7919) % EARLY_N;

		GCHECK(ec->ts[i] != NULL);
		when[i] = t0 + (1 + i % 37) * MS;
		GCHECK(rg_timer_reset(ec->ts[i], when[i] - rg_now_ns()));
	}
	for (int i = 0; i < EARLY_N; i++) {
		int64_t due = recv_due(ec->ts[i]);

		GCHECK(due >= when[i] - MS);
		GCHECK(due > 0 && due < t0 + 1000 * MS);
		rg_timer_free(ec->ts[i]);
	}
	free(ec);
}

static void test_reset_earlier(void **state)
{
	(void)state;
	RUN_FOR_PROCS(early_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* Functions                                                             */
/* --------------------------------------------------------------------- */

struct fn_ctx {
	atomic_int runs;
	_Atomic uint64_t goid;
};

static void fn_body(void *arg)
{
	struct fn_ctx *fc = arg;

	atomic_store(&fc->goid, rg_goid());
	atomic_fetch_add(&fc->runs, 1);
}

static void func_main(void *arg)
{
	struct fn_ctx fc = { 0 }, never = { 0 };
	rg_timer *t = rg_timer_func(5 * MS, fn_body, &fc), *s;
	int64_t until = rg_now_ns() + 10000 * MS;

	(void)arg;
	GCHECK(t != NULL);
	GCHECK(rg_timer_chan(t) == NULL);
	while (atomic_load(&fc.runs) == 0 && rg_now_ns() < until)
		rg_sleep_ns(MS);
	rg_sleep_ns(20 * MS);
	GCHECK_EQ(atomic_load(&fc.runs), 1);
	GCHECK(atomic_load(&fc.goid) != 0 && atomic_load(&fc.goid) != rg_goid());
	GCHECK(!rg_timer_stop(t)); /* it ran */
	/* Stopped in time: never runs. */
	s = rg_timer_func(20 * MS, fn_body, &never);
	GCHECK(rg_timer_stop(s));
	rg_sleep_ns(40 * MS);
	GCHECK_EQ(atomic_load(&never.runs), 0);
	/* Reset: runs again, once. */
	GCHECK(!rg_timer_reset(t, MS));
	until = rg_now_ns() + 10000 * MS;
	while (atomic_load(&fc.runs) == 1 && rg_now_ns() < until)
		rg_sleep_ns(MS);
	GCHECK_EQ(atomic_load(&fc.runs), 2);
	rg_timer_free(t);
	rg_timer_free(s);
	GCHECK(rg_timer_func(MS, NULL, NULL) == NULL);
}

static void test_func(void **state)
{
	(void)state;
	RUN_FOR_PROCS(func_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* Tickers                                                               */
/* --------------------------------------------------------------------- */

static void ticker_main(void *arg)
{
	const int64_t period = 5 * MS;
	rg_timer *tk = rg_ticker_new(period);
	int64_t first, prev, due;

	(void)arg;
	GCHECK(tk != NULL);
	GCHECK(rg_ticker_new(0) == NULL);
	first = prev = recv_due(tk);
	GCHECK(first > 0);
	for (int i = 0; i < 5; i++) {
		due = recv_due(tk);
		/* Due a whole number of periods after the last, from the first. */
		GCHECK(due > prev && (due - first) % period == 0);
		prev = due;
	}
	/* A slow receiver: one tick waits in the slot, the rest are missed:
	 * the next comes a whole number of periods after it, not at once. */
	rg_sleep_ns(10 * period);
	GCHECK(rg_chan_len(rg_timer_chan(tk)) == 1);
	prev = recv_due(tk);
	GCHECK((prev - first) % period == 0);
	due = recv_due(tk);
	GCHECK(due > prev && (due - first) % period == 0);
	/* A new period. */
	GCHECK_EQ(rg_ticker_reset(tk, 2 * period), 0);
	GCHECK_EQ(rg_ticker_reset(tk, 0), -EINVAL);
	first = recv_due(tk);
	GCHECK_EQ((recv_due(tk) - first) % (2 * period), 0);
	/* Stopped: nothing more. */
	rg_timer_stop(tk);
	rg_sleep_ns(3 * period);
	GCHECK(chan_empty(tk));
	rg_timer_free(tk);
}

static void test_ticker(void **state)
{
	(void)state;
	RUN_FOR_PROCS(ticker_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* Many; gomaxprocs; a plain thread; misuse                              */
/* --------------------------------------------------------------------- */

#define MANY TEST_SCALE(100000, 10000)

static void many_main(void *arg)
{
	rg_timer **ts = calloc(MANY, sizeof(*ts));
	int fired = 0;

	(void)arg;
	GCHECK(ts != NULL);
	for (int i = 0; i < MANY; i++) {
		ts[i] = rg_timer_new(1 * MS + (i % 50) * MS);
		GCHECK(ts[i] != NULL);
	}
	/* Half of the Ps' worth change under them. */
	rg_gomaxprocs(1);
	rg_sleep_ns(5 * MS);
	rg_gomaxprocs(2);
	for (int i = 0; i < MANY; i++)
		if (recv_due(ts[i]) > 0)
			fired++;
	GCHECK_EQ(fired, MANY);
	for (int i = 0; i < MANY; i++)
		rg_timer_free(ts[i]);
	free(ts);
}

static void test_many(void **state)
{
	(void)state;
	RUN_IN_RUNTIME(2, many_main, NULL);
}

/* Stops among live timers: every other timer of 4,000 stopped, in a
 * scrambled order, with gomaxprocs changed in between (the heaps move):
 * the stopped ones never fire, the others all do, each no earlier than
 * its time.  The stops leave their slots to be swept ("Deleting" in
 * runtime/time.c), and the sweeps must keep the survivors in order. */
#define STOPS 4000

static void stops_main(void *arg)
{
	rg_timer **ts = calloc(STOPS, sizeof(*ts));
	int64_t *due = calloc(STOPS, sizeof(*due));
	int64_t t0 = rg_now_ns();
	int fired = 0;

	(void)arg;
	GCHECK(ts && due);
	for (int i = 0; i < STOPS; i++) {
		due[i] = t0 + (int64_t)((i * 7919) % STOPS) * 10000 + 20 * MS; /* 20-60 ms */
		ts[i] = rg_timer_new(due[i] - rg_now_ns());
		GCHECK(ts[i] != NULL);
	}
	for (int k = 0; k < STOPS; k++) {
		int i = (k * 2741) % STOPS; /* a permutation: 2741 is prime */

		if (i % 2 == 0)
			GCHECK(rg_timer_stop(ts[i]));
		if (k == STOPS / 2)
			rg_gomaxprocs(1);
	}
	rg_gomaxprocs(2);
	for (int i = 1; i < STOPS; i += 2) {
		int64_t v = recv_due(ts[i]);

		GCHECK(v >= due[i] - MS); /* the due time the timer computed itself */
		GCHECK(rg_now_ns() >= v);
		fired += v > 0;
	}
	GCHECK_EQ(fired, STOPS / 2);
	for (int i = 0; i < STOPS; i += 2)
		GCHECK(chan_empty(ts[i]));
	for (int i = 0; i < STOPS; i++)
		rg_timer_free(ts[i]);
	free(ts);
	free(due);
}

static void test_stops(void **state)
{
	(void)state;
	RUN_IN_RUNTIME(2, stops_main, NULL);
}

/* rg_after: the value is the due time, no earlier than asked; a loop
 * that takes a fresh channel and receives from it each time keeps no
 * memory (the spent ones are freed at the next rg_after); a goroutine that
 * ends with channels pending frees them (LeakSanitizer watches), and their
 * timers never fire afterwards. */
static void after_pending(void *arg)
{
	for (int i = 0; i < 100; i++)
		GCHECK(rg_after(60000 * MS) != NULL);
	GCHECK(rg_after(MS) != NULL);
	rg_wg_done(arg);
}

static void after_main(void *arg)
{
	int64_t t0 = rg_now_ns(), v = 0;
	rg_chan *c = rg_after(5 * MS);
	struct mallinfo2 before, after;
	rg_wg wg = { 0 };

	(void)arg;
	GCHECK(c != NULL);
	GCHECK_EQ(rg_chan_recv(c, &v), 1);
	GCHECK(v >= t0 + 5 * MS);
	GCHECK(rg_now_ns() >= v);
	for (int i = 0; i < 100; i++) /* warm the allocator up */
		GCHECK_EQ(rg_chan_recv(rg_after(1000), &v), 1);
	before = mallinfo2();
	for (int i = 0; i < 2000; i++) {
		rg_case cs = { .chan = rg_after(1000), .op = RG_RECV, .elem = &v };

		GCHECK_EQ(rg_select(&cs, 1, -1), 0);
	}
	after = mallinfo2();
	/* Leaked, 2,000 channels would hold some 400 KB. */
	GCHECK(after.uordblks < before.uordblks + 64 * 1024);
	rg_wg_add(&wg, 1);
	GCHECK_EQ(rg_go(after_pending, &wg), 0);
	GCHECK_EQ(rg_wg_wait(&wg), 0);
	rg_sleep_ns(5 * MS); /* the 1 ms one would have fired by now */
}

static void test_after(void **state)
{
	(void)state;
	RUN_FOR_PROCS(after_main, NULL, 1, 2);
}

/* With only tickers pending the runtime sleeps between ticks: a wake-up
 * left unread in an idle P's poller once made every later wait end at
 * once, and both Ms spun (200% CPU for 100 tickers).  A bound far above
 * the work (100 tickers of 10 ms; 50 ms and a looser bound under the
 * sanitizers, where a tick costs tens of microseconds) and far below a
 * spin. */
struct idle_ticker {
	atomic_bool stop;
	rg_wg wg;
};

static void idle_ticker(void *arg)
{
	struct idle_ticker *it = arg;
	rg_timer *t = rg_ticker_new((RG_TEST_SANITIZED ? 50 : 10) * MS);
	int64_t v;

	GCHECK(t != NULL);
	while (t && !atomic_load(&it->stop))
		GCHECK_EQ(rg_chan_recv(rg_timer_chan(t), &v), 1);
	rg_timer_free(t);
	rg_wg_done(&it->wg);
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void idle_main(void *arg)
{
	struct idle_ticker it = { 0 };
	double c0, used;
	int64_t w0;

	(void)arg;
	rg_wg_add(&it.wg, 100);
	for (int i = 0; i < 100; i++)
		GCHECK_EQ(rg_go(idle_ticker, &it), 0);
	rg_sleep_ns(50 * MS);
	c0 = cpu_s();
	w0 = rg_now_ns();
	rg_sleep_ns(500 * MS);
	used = (cpu_s() - c0) / ((rg_now_ns() - w0) / 1e9);
	atomic_store(&it.stop, true);
	GCHECK_EQ(rg_wg_wait(&it.wg), 0);
	if (used > (RG_TEST_SANITIZED ? 1.0 : 0.5))
		gcheck_fail("100 tickers took %.0f%% of a CPU: a busy loop", used * 100);
}

static void test_idle_with_tickers(void **state)
{
	(void)state;
	RUN_IN_RUNTIME(2, idle_main, NULL);
}

/* A run queue that never drains: 300 goroutines yield in a loop on one
 * P, so its ring stays above the length at which run_timers stops firing
 * ("Backlog" in runtime/time.c).  Timers still fire, one at least at each
 * scheduling point: 1,000 timers and a sleep, all due within 15 ms, end,
 * none early. */
#define YIELDERS       300
#define BACKLOG_TIMERS 1000

struct backlog {
	rg_wg wg;
	atomic_bool stop;
};

static void backlog_yielder(void *arg)
{
	struct backlog *b = arg;

	while (!atomic_load(&b->stop))
		rg_yield();
	rg_wg_done(&b->wg);
}

static void backlog_main(void *arg)
{
	struct backlog b = { 0 };
	rg_timer **ts = calloc(BACKLOG_TIMERS, sizeof(*ts));
	int64_t t0;

	(void)arg;
	GCHECK(ts != NULL);
	rg_wg_add(&b.wg, YIELDERS);
	for (int i = 0; i < YIELDERS; i++)
		GCHECK_EQ(rg_go(backlog_yielder, &b), 0);
	rg_yield(); /* they all run, and keep the ring full */
	t0 = rg_now_ns();
	for (int i = 0; i < BACKLOG_TIMERS; i++) {
		ts[i] = rg_timer_new(5 * MS + (int64_t)i * 10000); /* 5-15 ms */
		GCHECK(ts[i] != NULL);
	}
	GCHECK_EQ(rg_sleep_ns(10 * MS), 0);
	GCHECK(rg_now_ns() >= t0 + 10 * MS);
	for (int i = 0; i < BACKLOG_TIMERS; i++) {
		int64_t v = recv_due(ts[i]);

		GCHECK(v >= t0 + 5 * MS + (int64_t)i * 10000);
		GCHECK(rg_now_ns() >= v);
	}
	atomic_store(&b.stop, true);
	GCHECK_EQ(rg_wg_wait(&b.wg), 0);
	for (int i = 0; i < BACKLOG_TIMERS; i++)
		rg_timer_free(ts[i]);
	free(ts);
}

static void test_backlog(void **state)
{
	(void)state;
	RUN_IN_RUNTIME(1, backlog_main, NULL);
}

static void *plain_thread(void *arg)
{
	rg_timer *t = rg_timer_new(2 * MS), *s = rg_timer_new(60000 * MS);
	int64_t v = 0;

	(void)arg;
	if (!t || !s)
		return (void *)1;
	if (rg_chan_recv(rg_timer_chan(t), &v) != 1 || v <= 0)
		return (void *)2;
	if (!rg_timer_stop(s))
		return (void *)3;
	if (rg_after(MS) != NULL)
		return (void *)4; /* rg_after belongs to goroutines */
	rg_timer_free(t);
	rg_timer_free(s);
	return NULL;
}

static void plain_main(void *arg)
{
	pthread_t th;
	void *ret = (void *)-1;

	(void)arg;
	GCHECK_EQ(pthread_create(&th, NULL, plain_thread, NULL), 0);
	rg_syscall_enter();
	GCHECK_EQ(pthread_join(th, &ret), 0);
	rg_syscall_exit();
	GCHECK(ret == NULL);
}

static void test_plain_thread(void **state)
{
	(void)state;
	assert_null(rg_timer_new(MS)); /* no runtime */
	RUN_IN_RUNTIME(2, plain_main, NULL);
}

static void null_main(void *arg)
{
	(void)arg;
	rg_timer_stop(NULL);
}

static int child_null(void)
{
	return run_child_main(1, null_main);
}

static const struct child_case child_cases[] = {
	{ "null", child_null },
};

static void test_null_is_fatal(void **state)
{
	struct child_result r;

	(void)state;
	assert_int_equal(child_run("null", NULL, &r), 0);
	assert_true(r.exited && r.exit_code == 2);
	assert_has(r.err, "fatal error: rg_timer_stop: NULL timer");
	child_result_free(&r);
}

int main(int argc, char **argv)
{
	int rc = child_dispatch(argc, argv, child_cases, ARRAY_SIZE(child_cases));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_reset_race),
		cmocka_unit_test(test_reset_earlier),
		cmocka_unit_test(test_func),
		cmocka_unit_test(test_ticker),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_stops),
		cmocka_unit_test(test_after),
		cmocka_unit_test(test_idle_with_tickers),
		cmocka_unit_test(test_backlog),
		cmocka_unit_test(test_plain_thread),
		cmocka_unit_test(test_null_is_fatal),
	};

	if (rc >= 0)
		return rc;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
