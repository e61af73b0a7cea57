/* SPDX-License-Identifier: MIT */
/*
 * yield - cost of one goroutine switch through rg_yield.
 *
 * maxprocs 1.  The main goroutine starts two goroutines that each call
 * rg_yield N times, then waits for both on a WaitGroup.  With a single P
 * every yield hands the P to the other goroutine, so each call is one
 * switch.  The time from just before starting the two goroutines to after
 * the wait, divided by 2*N, is reported.  Twin: bench/go/yield.go.
 *
 * Usage: yield [-n N]      (default N = 10000000 per goroutine)
 *
 * Output:
 *   yield_ns_per_switch: <float> ns
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ringo.h"

#include "bench.h"

#define DEFAULT_N 10000000L

struct params {
	long n;
	int err;
	int maxprocs;
	double elapsed_ns;
	rg_wg wg;
};

static void yielder(void *arg)
{
	struct params *p = arg;
	for (long i = 0; i < p->n; i++)
		rg_yield();
	rg_wg_done(&p->wg);
}

static void bench_main(void *arg)
{
	struct params *p = arg;

	p->maxprocs = rg_gomaxprocs(0);

	double t0 = now_ns();
	for (int i = 0; i < 2; i++) {
		rg_wg_add(&p->wg, 1);
		int rc = rg_go(yielder, p);
		if (rc < 0) {
			p->err = rc;
			return;
		}
	}
	rg_wg_wait(&p->wg);
	double t1 = now_ns();

	p->elapsed_ns = t1 - t0;
}

int main(int argc, char **argv)
{
	static struct params p = { .n = DEFAULT_N };

	p.n = parse_n_args(argc, argv, DEFAULT_N, "per goroutine");

	rg_config cfg = { .maxprocs = 1 };
	int rc = rg_main(&cfg, bench_main, &p);
	if (rc < 0) {
		fprintf(stderr, "rg_main: %s\n", strerror(-rc));
		return 1;
	}
	if (p.err) {
		fprintf(stderr, "rg_go: %s\n", strerror(-p.err));
		return 1;
	}

	printf("# params: n=%ld maxprocs=%d\n", p.n, p.maxprocs);
	printf("yield_ns_per_switch: %.1f ns\n", p.elapsed_ns / (2.0 * (double)p.n));
	return 0;
}
