/* SPDX-License-Identifier: MIT */
/*
 * timerlat - how late a sleeping goroutine wakes while other goroutines
 * compute or yield.
 *
 * One goroutine sleeps 2 ms N times and records how late it woke
 * (rg_now_ns around rg_sleep_ns), while other goroutines keep the Ps busy:
 * spinners run a 64-bit LCG while a volatile global flag stays 0 (no call,
 * no scheduling point: only asynchronous preemption takes the P from
 * them), yielders loop on rg_yield.  Four scenarios, each a fresh rg_main:
 *
 *   spin1     maxprocs 1, one spinner
 *   spin1y1   maxprocs 1, one spinner and one yielder
 *   spin2     maxprocs 1, two spinners
 *   p2spin4   maxprocs 2, four spinners
 *
 * Twin: bench/go/timerlat.go (time.Sleep, runtime.Gosched, GOMAXPROCS).
 *
 * Usage: timerlat [-n N]   (default: N = 100 sleeps per scenario)
 *
 * Output, for each scenario S, one figure per line:
 *   timerlat_S_p50_us: <float> us   median lateness
 *   timerlat_S_p99_us: <float> us   99th percentile
 *   timerlat_S_max_us: <float> us   worst
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringo.h"

#include "bench.h"

#define DEFAULT_N 100L
#define SLEEP_NS  2000000

static const struct scenario {
	const char *name;
	int procs, spinners, yielders;
} scenarios[] = {
	{ "spin1", 1, 1, 0 },
	{ "spin1y1", 1, 1, 1 },
	{ "spin2", 1, 2, 0 },
	{ "p2spin4", 2, 4, 0 },
};

static long n = DEFAULT_N;
static volatile int stop;
static volatile uint64_t sink;
static int64_t *lat;
static rg_wg done;

static void spinner(void *arg)
{
	uint64_t x = 1;

	(void)arg;
	while (!stop) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		sink = x;
	}
	rg_wg_done(&done);
}

static void yielder(void *arg)
{
	(void)arg;
	while (!stop)
		rg_yield();
	rg_wg_done(&done);
}

static void start(void (*fn)(void *))
{
	rg_wg_add(&done, 1);
	if (rg_go(fn, NULL) < 0) {
		fprintf(stderr, "timerlat: rg_go failed\n");
		exit(1);
	}
}

static void bench_main(void *arg)
{
	const struct scenario *sc = arg;

	stop = 0;
	for (int i = 0; i < sc->spinners; i++)
		start(spinner);
	for (int i = 0; i < sc->yielders; i++)
		start(yielder);
	rg_sleep_ns(SLEEP_NS); /* they take the Ps */
	for (long i = 0; i < n; i++) {
		int64_t t0 = rg_now_ns();

		rg_sleep_ns(SLEEP_NS);
		lat[i] = rg_now_ns() - t0 - SLEEP_NS;
	}
	stop = 1;
	rg_wg_wait(&done);
}

int main(int argc, char **argv)
{
	n = parse_n_args(argc, argv, DEFAULT_N, "sleeps per scenario");
	lat = calloc((size_t)n, sizeof(*lat));
	if (!lat) {
		fprintf(stderr, "timerlat: out of memory\n");
		return 1;
	}
	printf("# params: n=%ld sleep_us=%d\n", n, SLEEP_NS / 1000);
	for (size_t s = 0; s < sizeof(scenarios) / sizeof(scenarios[0]); s++) {
		const struct scenario *sc = &scenarios[s];
		rg_config cfg = { .maxprocs = sc->procs };
		int rc = rg_main(&cfg, bench_main, (void *)sc);

		if (rc < 0) {
			fprintf(stderr, "timerlat: rg_main: %s\n", strerror(-rc));
			return 1;
		}
		qsort(lat, (size_t)n, sizeof(*lat), cmp_int64);
		printf("timerlat_%s_p50_us: %.1f us\n", sc->name,
		       (double)percentile(lat, (size_t)n, 50) / 1e3);
		printf("timerlat_%s_p99_us: %.1f us\n", sc->name,
		       (double)percentile(lat, (size_t)n, 99) / 1e3);
		printf("timerlat_%s_max_us: %.1f us\n", sc->name, (double)lat[n - 1] / 1e3);
	}
	free(lat);
	return 0;
}
