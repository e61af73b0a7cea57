/* SPDX-License-Identifier: MIT */
/*
 * sleep - oversleep of many goroutines sleeping at once.
 *
 * G goroutines each sleep D microseconds N times in a row (rg_sleep_ns),
 * reading rg_now_ns before and after each sleep; the oversleep, the time
 * slept beyond D, goes to the goroutine's own slice of one sample array.
 * The main goroutine waits for them on a WaitGroup; the G N samples are
 * then sorted and their percentiles taken (nearest rank).  maxprocs is the
 * default.  Twin: bench/go/sleep.go.
 *
 * Usage: sleep [-g G] [-n N] [-d D]   (defaults: G = 10000 goroutines,
 *                                      N = 100 sleeps each, D = 1000 us)
 *
 * Timed: from starting the first goroutine to the end of the last.
 *
 * Output, one figure per line:
 *   sleep_p50_us: <float> us      median oversleep
 *   sleep_p99_us: <float> us      99th percentile oversleep
 *   sleep_ms: <float> ms          elapsed (at least N D)
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringo.h"

#include "bench.h"

#define DEFAULT_G 10000L
#define DEFAULT_N 100L
#define DEFAULT_D 1000L

static long gs = DEFAULT_G, sleeps = DEFAULT_N, dur_us = DEFAULT_D;
static int64_t *over; /* gs * sleeps oversleeps, ns */
static rg_wg wg;
static int maxprocs;
static double elapsed_ns;

static void sleeper(void *arg)
{
	int64_t *mine = over + (long)(intptr_t)arg * sleeps, d = dur_us * 1000;

	for (long k = 0; k < sleeps; k++) {
		int64_t t0 = rg_now_ns();

		rg_sleep_ns(d);
		mine[k] = rg_now_ns() - t0 - d;
	}
	rg_wg_done(&wg);
}

static void bench_main(void *arg)
{
	(void)arg;
	maxprocs = rg_gomaxprocs(0);

	double t0 = now_ns();
	for (long i = 0; i < gs; i++) {
		int rc;

		rg_wg_add(&wg, 1);
		rc = rg_go(sleeper, (void *)(intptr_t)i);
		if (rc < 0) {
			fprintf(stderr, "sleep: rg_go: %s\n", strerror(-rc));
			exit(1);
		}
	}
	rg_wg_wait(&wg);
	elapsed_ns = now_ns() - t0;
}

int main(int argc, char **argv)
{
	int rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-g") == 0 && i + 1 < argc) {
			gs = parse_count_flag(argv[0], "-g", argv[++i]);
		} else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			sleeps = parse_count_flag(argv[0], "-n", argv[++i]);
		} else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc) {
			dur_us = parse_count_flag(argv[0], "-d", argv[++i]);
		} else {
			fprintf(stderr,
				"usage: %s [-g G] [-n N] [-d D]   (defaults: G = %ld goroutines, N = %ld sleeps each, D = %ld us)\n",
				argv[0], DEFAULT_G, DEFAULT_N, DEFAULT_D);
			return 2;
		}
	}

	size_t total = (size_t)gs * (size_t)sleeps;
	over = malloc(total * sizeof(*over));
	if (!over) {
		fprintf(stderr, "sleep: malloc of %zu samples failed\n", total);
		return 1;
	}
	rc = rg_main(NULL, bench_main, NULL);
	if (rc < 0) {
		fprintf(stderr, "sleep: rg_main: %s\n", strerror(-rc));
		return 1;
	}

	qsort(over, total, sizeof(*over), cmp_int64);
	printf("# params: goroutines=%ld sleeps=%ld duration_us=%ld maxprocs=%d\n", gs, sleeps,
	       dur_us, maxprocs);
	printf("sleep_p50_us: %.1f us\n", (double)percentile(over, total, 50) / 1e3);
	printf("sleep_p99_us: %.1f us\n", (double)percentile(over, total, 99) / 1e3);
	printf("sleep_ms: %.1f ms\n", elapsed_ns / 1e6);
	free(over);
	return 0;
}
