/* SPDX-License-Identifier: MIT */
/*
 * mutex - throughput of one contended rg_mutex.
 *
 * maxprocs 2.  The main goroutine starts G goroutines; together they
 * increment one shared counter N times, each doing N/G increments (the
 * first N%G goroutines one more), every increment under one rg_mutex.
 * The main goroutine then waits for all of them on a WaitGroup and checks
 * the counter.  The time from just before starting the goroutines to after
 * the wait, divided by N, is reported, and its inverse as a rate.  Twin:
 * bench/go/mutex.go.
 *
 * Usage: mutex [-n N] [-g G]   (defaults: N = 10000000 increments in all,
 *                               G = 8 goroutines)
 *
 * Output, one figure per line:
 *   mutex_ns_per_op: <float> ns
 *   mutex_ops_per_s: <float> ops/s
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
#define DEFAULT_G 8L
#define MAXPROCS  2

struct params {
	long n;
	long g;
	int maxprocs;
	int err;
	double elapsed_ns;
	rg_mutex mu;
	long counter; /* mu */
	rg_wg wg;
};

struct worker {
	struct params *p;
	long iters;
};

static void incrementer(void *arg)
{
	struct worker *w = arg;
	struct params *p = w->p;

	for (long i = 0; i < w->iters; i++) {
		rg_mutex_lock(&p->mu);
		p->counter++;
		rg_mutex_unlock(&p->mu);
	}
	rg_wg_done(&p->wg);
}

static void bench_main(void *arg)
{
	struct params *p = arg;
	struct worker *ws = calloc((size_t)p->g, sizeof(*ws));

	if (!ws) {
		p->err = -ENOMEM;
		return;
	}
	p->maxprocs = rg_gomaxprocs(0);

	double t0 = now_ns();
	for (long i = 0; i < p->g; i++) {
		ws[i].p = p;
		ws[i].iters = p->n / p->g + (i < p->n % p->g ? 1 : 0);
		rg_wg_add(&p->wg, 1);
		int rc = rg_go(incrementer, &ws[i]);
		if (rc < 0) {
			p->err = rc;
			return;
		}
	}
	rg_wg_wait(&p->wg);
	double t1 = now_ns();

	p->elapsed_ns = t1 - t0;
	free(ws);
}

int main(int argc, char **argv)
{
	static struct params p = { .n = DEFAULT_N, .g = DEFAULT_G };

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			p.n = parse_count(argv[0], argv[++i]);
		} else if (strcmp(argv[i], "-g") == 0 && i + 1 < argc) {
			p.g = parse_count_flag(argv[0], "-g", argv[++i]);
		} else {
			fprintf(stderr,
				"usage: %s [-n N] [-g G]   (defaults: N = %ld increments in all, "
				"G = %ld goroutines)\n",
				argv[0], DEFAULT_N, DEFAULT_G);
			return 2;
		}
	}

	rg_config cfg = { .maxprocs = MAXPROCS };
	int rc = rg_main(&cfg, bench_main, &p);
	if (rc < 0) {
		fprintf(stderr, "rg_main: %s\n", strerror(-rc));
		return 1;
	}
	if (p.err) {
		fprintf(stderr, "rg_go: %s\n", strerror(-p.err));
		return 1;
	}
	if (p.counter != p.n) {
		fprintf(stderr, "counter is %ld, want %ld\n", p.counter, p.n);
		return 1;
	}

	printf("# params: n=%ld g=%ld maxprocs=%d\n", p.n, p.g, p.maxprocs);
	printf("mutex_ns_per_op: %.1f ns\n", p.elapsed_ns / (double)p.n);
	printf("mutex_ops_per_s: %.0f ops/s\n", (double)p.n / (p.elapsed_ns / 1e9));
	return 0;
}
