/* SPDX-License-Identifier: MIT */
/*
 * test_sched.c - scheduler behaviour: work stealing, parking idle Ms,
 * global-queue fairness, and stop-the-world under load.
 */
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "tests/helpers.h"

/* --- work stealing spreads goroutines over the Ps --------------------------------- */

#define SPREAD_N 400

struct spread {
	rg_wg *wg;
	_Atomic pid_t tid;
};

static struct spread spread_args[SPREAD_N];

static void done(void *wg)
{
	rg_wg_done(wg);
}

static void spread_worker(void *arg)
{
	struct spread *sp = arg;
	volatile unsigned long x = 0;

	/* About 15 us of work each, 6 ms in all: far longer than it takes to
	 * start a second M. */
	for (int i = 0; i < 100000; i++)
		x += (unsigned long)i;
	(void)x;
	atomic_store(&sp->tid, (pid_t)syscall(SYS_gettid));
	rg_wg_done(sp->wg);
}

static void spread_main(void *arg)
{
	rg_wg wg = { 0 };
	pid_t first = 0;
	int distinct = 0;

	(void)arg;
	for (int i = 0; i < SPREAD_N; i++) {
		spread_args[i].wg = &wg;
		atomic_store(&spread_args[i].tid, 0);
		rg_wg_add(&wg, 1);
		GCHECK_EQ(rg_go(spread_worker, &spread_args[i]), 0);
	}
	rg_wg_wait(&wg);
	for (int i = 0; i < SPREAD_N; i++) {
		pid_t t = atomic_load(&spread_args[i].tid);

		GCHECK(t != 0);
		if (!first)
			first = t;
		else if (t != first)
			distinct = 1;
	}
	/* The spawning goroutine never yields: the other P must have stolen. */
	GCHECK(distinct);
}

static void test_stealing_spreads_work(void **state)
{
	(void)state;
	RUN_FOR_PROCS(spread_main, NULL, 2, 4);
}

/* --- idle Ms park instead of spinning ---------------------------------------------- */

static void *late_done(void *arg)
{
	usleep(300 * 1000);
	rg_wg_done(arg);
	return NULL;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static void idle_main(void *arg)
{
	double *used = arg;
	rg_wg wg = { 0 };
	pthread_t th;
	double before;

	/* Wake every P's M once, so that all of them go idle afterwards. */
	for (int i = 0; i < 64; i++) {
		rg_wg_add(&wg, 1);
		GCHECK_EQ(rg_go(done, &wg), 0);
	}
	rg_wg_wait(&wg);
	rg_wg_add(&wg, 1);
	before = cpu_seconds();
	GCHECK_EQ(pthread_create(&th, NULL, late_done, &wg), 0);
	rg_wg_wait(&wg); /* 300 ms with every goroutine blocked */
	*used = cpu_seconds() - before;
	pthread_join(th, NULL);
}

static void test_idle_ms_park(void **state)
{
	double used = 1.0;

	(void)state;
	RUN_IN_RUNTIME(4, idle_main, &used);
	/* Spinning Ms would burn up to 4 x 300 ms of CPU time. */
	print_message("CPU time while idle for 300 ms: %.1f ms\n", used * 1000);
	assert_true(used < 0.1);
}

/* --- the global queue is not starved by a busy local queue ----------------------- */

static _Atomic bool stop_pingpong;

static void pingpong(void *arg)
{
	while (!atomic_load(&stop_pingpong))
		rg_yield();
	rg_wg_done(arg);
}

static void stopper(void *arg)
{
	rg_wg *gate = arg;

	rg_wg_wait(gate); /* readied by a plain thread: through the global queue */
	atomic_store(&stop_pingpong, true);
}

static void *open_gate(void *arg)
{
	usleep(20 * 1000);
	rg_wg_done(arg);
	return NULL;
}

static void fairness_main(void *arg)
{
	rg_wg gate = { 0 }, wg = { 0 };
	pthread_t th;

	(void)arg;
	atomic_store(&stop_pingpong, false);
	rg_wg_add(&gate, 1);
	GCHECK_EQ(rg_go(stopper, &gate), 0);
	rg_yield(); /* let the stopper park */
	rg_wg_add(&wg, 2);
	GCHECK_EQ(rg_go(pingpong, &wg), 0);
	GCHECK_EQ(rg_go(pingpong, &wg), 0);
	GCHECK_EQ(pthread_create(&th, NULL, open_gate, &gate), 0);
	/* The local queue never empties while the two yield to each other;
	 * only the every-61st-tick look at the global queue runs the stopper. */
	rg_wg_wait(&wg);
	pthread_join(th, NULL);
}

static void test_global_queue_fairness(void **state)
{
	(void)state;
	RUN_IN_RUNTIME(1, fairness_main, NULL);
}

/* --- stop the world under load ---------------------------------------------------- */

#define STW_WORKERS 64
#define STW_ROUNDS  (RG_TEST_TSAN ? 400 : 2000) /* each worker's yields */

static _Atomic long stw_work;

static void stw_worker(void *arg)
{
	for (int i = 0; i < STW_ROUNDS; i++) {
		atomic_fetch_add(&stw_work, 1);
		if ((i & 15) == 0) {
			rg_wg *wg = arg;

			rg_wg_add(wg, 1);
			if (rg_go(done, wg) != 0)
				rg_wg_done(wg);
		}
		rg_yield();
	}
	rg_wg_done(arg);
}

static void stw_main(void *arg)
{
	static const int sizes[] = { 1, 8, 2, 5, 3, 1, 4, 7, 2, 6 };
	rg_wg wg = { 0 };
	int prev = rg_gomaxprocs(0);

	(void)arg;
	atomic_store(&stw_work, 0);
	rg_wg_add(&wg, STW_WORKERS);
	for (int i = 0; i < STW_WORKERS; i++)
		GCHECK_EQ(rg_go(stw_worker, &wg), 0);
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		for (int k = 0; k < 20; k++)
			rg_yield();
		GCHECK_EQ(rg_gomaxprocs(sizes[i]), prev);
		prev = sizes[i];
		GCHECK_EQ(rg_gomaxprocs(0), prev);
	}
	rg_wg_wait(&wg);
	GCHECK_EQ(atomic_load(&stw_work), (long)STW_WORKERS * STW_ROUNDS);
	/* Goroutines that called rg_wg_done may still be on their way out. */
	for (int k = 0; k < 100000 && rg_num_goroutine() > 1; k++)
		rg_yield();
	GCHECK_EQ(rg_num_goroutine(), 1);
}

static void test_gomaxprocs_under_load(void **state)
{
	(void)state;
	RUN_FOR_PROCS(stw_main, NULL, 2, 4);
}

/* --- a woken goroutine is not held back by a waker that computes ------------ */

/*
 * The waker readies the sleeper (into its runnext, without waking another
 * M) and then computes without calling into the runtime.  With another P
 * idle, sysmon must notice the stalled runnext and have it stolen: the
 * waker sees the sleeper's flag while it still computes.  Without that the
 * sleeper would wait for the whole computation.
 */
struct held {
	rg_wg gate, done;
	atomic_int parked, ran;
	int64_t waited_ns;
};

static void held_sleeper(void *arg)
{
	struct held *h = arg;

	atomic_store(&h->parked, 1);
	rg_wg_wait(&h->gate);
	atomic_store(&h->ran, 1);
	rg_wg_done(&h->done);
}

static void held_waker(void *arg)
{
	struct held *h = arg;
	int64_t t0;

	rg_wg_done(&h->gate); /* the sleeper goes to this P's runnext */
	t0 = now_ns();
	while (!atomic_load(&h->ran) && now_ns() - t0 < 5000000000LL)
		; /* no runtime call */
	h->waited_ns = now_ns() - t0;
	rg_wg_done(&h->done);
}

static void held_main(void *arg)
{
	struct held *h = arg;

	rg_wg_add(&h->gate, 1);
	rg_wg_add(&h->done, 2);
	GCHECK_EQ(rg_go(held_sleeper, h), 0);
	while (!atomic_load(&h->parked))
		rg_yield();
	settle_yields();
	GCHECK_EQ(rg_go(held_waker, h), 0);
	rg_wg_wait(&h->done);
	GCHECK_EQ(atomic_load(&h->ran), 1);
}

static void test_woken_not_held_by_waker(void **state)
{
	struct held h;

	(void)state;
	memset(&h, 0, sizeof(h));
	RUN_IN_RUNTIME(2, held_main, &h);
	print_message("woken goroutine ran after %.1f ms\n", h.waited_ns / 1e6);
	/* sysmon looks at least every 10 ms; allow for a loaded machine. */
	assert_true(h.waited_ns < 1000000000LL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stealing_spreads_work),
		cmocka_unit_test(test_idle_ms_park),
		cmocka_unit_test(test_global_queue_fairness),
		cmocka_unit_test(test_gomaxprocs_under_load),
		cmocka_unit_test(test_woken_not_held_by_waker),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
