/* SPDX-License-Identifier: MIT */
/*
 * park - memory held by goroutines blocked on a channel.
 *
 * The main goroutine starts N goroutines that each count themselves in an
 * atomic counter and then block receiving from one shared unbuffered
 * channel.  It waits (polling with rg_yield) until all N have counted
 * themselves, then yields a few more times so that the last ones finish
 * parking, and checks that rg_num_goroutine() is N + 1.  The resident set
 * size, read from /proc/self/statm, is taken before the first goroutine is
 * started and once all are parked; the difference divided by N is
 * reported, together with the process's peak RSS.  Then the channel is
 * closed (every receive returns) and the main goroutine waits for all of
 * them on a WaitGroup.  maxprocs and the stack size are the defaults.
 * Twin: bench/go/park.go.
 *
 * Usage: park [-n N]      (default N = 1000000 goroutines)
 *
 * Output, one figure per line:
 *   park_bytes_per_goroutine: <float> B
 *   park_peak_rss: <int> KiB
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "ringo.h"

#include "bench.h"

#define DEFAULT_N     1000000L
#define SETTLE_YIELDS 100

struct params {
	long n;
	int maxprocs;
	const char *err; /* what failed, NULL if nothing */
	int rc;
	long rss_before, rss_parked; /* bytes */
	rg_chan *c;
	rg_wg wg;
	long arrived; /* goroutines about to block */
	long live;    /* rg_num_goroutine() when all were parked */
};

static void parker(void *arg)
{
	struct params *p = arg;

	__atomic_fetch_add(&p->arrived, 1, __ATOMIC_RELAXED);
	rg_chan_recv(p->c, NULL);
	rg_wg_done(&p->wg);
}

static void bench_main(void *arg)
{
	struct params *p = arg;

	p->maxprocs = rg_gomaxprocs(0);
	p->c = rg_chan_make(sizeof(int), 0);
	if (!p->c) {
		p->err = "rg_chan_make";
		p->rc = -errno;
		return;
	}

	p->rss_before = rss_bytes();
	for (long i = 0; i < p->n; i++) {
		rg_wg_add(&p->wg, 1);
		int rc = rg_go(parker, p);
		if (rc < 0) {
			p->err = "rg_go";
			p->rc = rc;
			return; /* the others are abandoned */
		}
	}
	while (__atomic_load_n(&p->arrived, __ATOMIC_RELAXED) < p->n)
		rg_yield();
	for (int i = 0; i < SETTLE_YIELDS; i++)
		rg_yield();
	p->rss_parked = rss_bytes();
	p->live = rg_num_goroutine();

	rg_chan_close(p->c);
	rg_wg_wait(&p->wg);
	rg_chan_free(p->c);
}

int main(int argc, char **argv)
{
	static struct params p = { .n = DEFAULT_N };

	p.n = parse_n_args(argc, argv, DEFAULT_N, "");

	int rc = rg_main(NULL, bench_main, &p);
	if (rc < 0) {
		fprintf(stderr, "rg_main: %s\n", strerror(-rc));
		return 1;
	}
	if (p.err) {
		fprintf(stderr, "%s failed: %s\n", p.err, strerror(-p.rc));
		return 1;
	}
	if (p.live != p.n + 1) {
		fprintf(stderr, "%ld goroutines live while parked, want %ld\n", p.live, p.n + 1);
		return 1;
	}
	if (p.rss_before < 0 || p.rss_parked < 0) {
		fprintf(stderr, "cannot read /proc/self/statm\n");
		return 1;
	}

	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);

	printf("# params: n=%ld maxprocs=%d\n", p.n, p.maxprocs);
	printf("park_bytes_per_goroutine: %.0f B\n",
	       (double)(p.rss_parked - p.rss_before) / (double)p.n);
	printf("park_peak_rss: %ld KiB\n", ru.ru_maxrss);
	return 0;
}
