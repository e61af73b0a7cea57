/* SPDX-License-Identifier: MIT */
/*
 * preempt - how long a goroutine that never calls into the runtime can
 * hold the only P.
 *
 * maxprocs 1.  One goroutine spins on a 64-bit LCG while a volatile global
 * flag stays 0: no call, no scheduling point, so only asynchronous
 * preemption (SIGURG) gives the P back.  The main goroutine does T trials
 * of "sleep 1 ms, measure how late it woke" (rg_now_ns around rg_sleep_ns),
 * then sets the flag.  The oversleep is the time the spinner kept the P
 * past the timer.  The whole run is done twice: with the default time
 * slice (10 ms), then with RINGO_DEBUG=preemptslice=1000 (1 ms; Go has no
 * such knob, so that figure is ringo's alone).  Twin: bench/go/preempt.go.
 *
 * Usage: preempt [-t T]   (default: T = 20 trials)
 *
 * Output, one figure per line:
 *   preempt_max_ms: <float> ms          worst oversleep, default slice
 *   preempt_p50_ms: <float> ms          median oversleep, default slice
 *   preempt_slice1ms_max_ms: <float> ms worst oversleep, 1 ms slice
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringo.h"

#include "bench.h"

#define DEFAULT_T 20L

static long trials = DEFAULT_T;
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

static void bench_main(void *arg)
{
	(void)arg;
	stop = 0;
	rg_wg_add(&done, 1);
	if (rg_go(spinner, NULL) < 0) {
		fprintf(stderr, "preempt: rg_go failed\n");
		exit(1);
	}
	for (long i = 0; i < trials; i++) {
		int64_t t0 = rg_now_ns();

		rg_sleep_ns(1000000);
		lat[i] = rg_now_ns() - t0 - 1000000;
	}
	stop = 1;
	rg_wg_wait(&done);
}

static void run(const char *debug, int64_t *max, int64_t *p50)
{
	rg_config cfg = { .maxprocs = 1 };
	int rc;

	if (debug)
		setenv("RINGO_DEBUG", debug, 1);
	rc = rg_main(&cfg, bench_main, NULL);
	if (rc < 0) {
		fprintf(stderr, "preempt: rg_main: %s\n", strerror(-rc));
		exit(1);
	}
	qsort(lat, (size_t)trials, sizeof(*lat), cmp_int64);
	*max = lat[trials - 1];
	*p50 = percentile(lat, (size_t)trials, 50);
}

int main(int argc, char **argv)
{
	int64_t max, p50, max1, p501;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) {
			trials = parse_count_flag(argv[0], "-t", argv[++i]);
		} else {
			fprintf(stderr, "usage: %s [-t T]   (default: T = %ld trials)\n", argv[0],
				DEFAULT_T);
			return 2;
		}
	}
	lat = calloc((size_t)trials, sizeof(*lat));
	if (!lat) {
		fprintf(stderr, "preempt: out of memory\n");
		return 1;
	}
	run(NULL, &max, &p50);
	run("preemptslice=1000", &max1, &p501);
	printf("# params: trials=%ld maxprocs=1\n", trials);
	printf("preempt_max_ms: %.2f ms\n", (double)max / 1e6);
	printf("preempt_p50_ms: %.2f ms\n", (double)p50 / 1e6);
	printf("preempt_slice1ms_max_ms: %.2f ms\n", (double)max1 / 1e6);
	printf("preempt_slice1ms_p50_ms: %.2f ms\n", (double)p501 / 1e6);
	free(lat);
	return 0;
}
