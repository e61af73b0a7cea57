/* SPDX-License-Identifier: MIT */
/*
 * spawn - goroutine creation and completion cost.
 *
 * The main goroutine starts N goroutines in a loop (rg_wg_add(&wg, 1) before
 * each rg_go); each one only calls rg_wg_done.  The main goroutine then waits
 * for all of them.  The time from before the loop to after the wait,
 * divided by N, is reported, together with the process's peak RSS.
 * maxprocs is the default.  Twin: bench/go/spawn.go.
 *
 * Usage: spawn [-n N]      (default N = 1000000)
 *
 * Output, one figure per line:
 *   spawn_ns_per_goroutine: <float> ns
 *   spawn_peak_rss: <int> KiB
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "ringo.h"

#include "bench.h"

#define DEFAULT_N 1000000L

struct params {
	long n;
	int err;      /* rg_go's error, 0 if none */
	long spawned; /* goroutines started before the error */
	int maxprocs;
	double elapsed_ns;
};

static void worker(void *arg)
{
	rg_wg_done((rg_wg *)arg);
}

static void bench_main(void *arg)
{
	struct params *p = arg;
	static rg_wg wg; /* zero value is ready; outlives abandoned goroutines */

	p->maxprocs = rg_gomaxprocs(0);

	double t0 = now_ns();
	for (long i = 0; i < p->n; i++) {
		rg_wg_add(&wg, 1);
		int rc = rg_go(worker, &wg);
		if (rc < 0) {
			p->err = rc;
			p->spawned = i;
			return; /* remaining goroutines are abandoned */
		}
	}
	rg_wg_wait(&wg);
	double t1 = now_ns();

	p->elapsed_ns = t1 - t0;
}

int main(int argc, char **argv)
{
	struct params p = { .n = DEFAULT_N };

	p.n = parse_n_args(argc, argv, DEFAULT_N, "");

	int rc = rg_main(NULL, bench_main, &p);
	if (rc < 0) {
		fprintf(stderr, "rg_main: %s\n", strerror(-rc));
		return 1;
	}
	if (p.err) {
		fprintf(stderr, "rg_go failed after %ld goroutines: %s\n", p.spawned,
			strerror(-p.err));
		return 1;
	}

	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);

	printf("# params: n=%ld maxprocs=%d\n", p.n, p.maxprocs);
	printf("spawn_ns_per_goroutine: %.1f ns\n", p.elapsed_ns / (double)p.n);
	printf("spawn_peak_rss: %ld KiB\n", ru.ru_maxrss);
	return 0;
}
