/* SPDX-License-Identifier: MIT */
/*
 * skynet - the skynet benchmark (github.com/atemerev/skynet): a tree of
 * goroutines that sum the numbers 0 .. N-1 through channels.
 *
 * The root goroutine covers the numbers [0, N).  A goroutine that covers a
 * single number sends it to its parent; any other makes one unbuffered
 * channel of int64, starts DIV children, each covering a tenth of its
 * range, receives their DIV sums, frees the channel, and sends the total to
 * its parent.  The main goroutine starts the root and receives the result,
 * which must be N(N-1)/2.  N must be a power of DIV; with N = 1000000
 * there are 1111111 goroutines.  maxprocs is the default.  The time from
 * before starting the root to after receiving its sum is reported,
 * together with the process's peak RSS.  Twin: bench/go/skynet.go.
 *
 * Usage: skynet [-n N]      (default N = 1000000 leaves)
 *
 * Output, one figure per line:
 *   skynet_ms: <float> ms
 *   skynet_peak_rss: <int> KiB
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "ringo.h"

#include "bench.h"

#define DEFAULT_N 1000000L
#define DIV	  10

/* What a goroutine of the tree gets: where to send its sum and the range
 * [num, num + size) it covers.  It lives in the parent's frame, which
 * outlasts the child (the parent waits for every child's sum). */
struct node {
	rg_chan *parent;
	int64_t num;
	int64_t size;
};

struct params {
	long n;
	int maxprocs;
	int64_t sum;
	double elapsed_ns;
};

/* A goroutine of the tree cannot hand an error back up (its parent would
 * wait for ever), so it ends the process. */
static void die(const char *what, int err)
{
	fprintf(stderr, "skynet: %s: %s\n", what, strerror(err));
	_exit(1);
}

static void skynet(void *arg)
{
	const struct node *me = arg;

	if (me->size == 1) {
		if (rg_chan_send(me->parent, &me->num) != 0)
			die("rg_chan_send", EPIPE);
		return;
	}

	rg_chan *c = rg_chan_make(sizeof(int64_t), 0);
	if (!c)
		die("rg_chan_make", errno);

	struct node kids[DIV];
	int64_t step = me->size / DIV;
	for (int i = 0; i < DIV; i++) {
		kids[i] = (struct node){ .parent = c, .num = me->num + i * step, .size = step };
		int rc = rg_go(skynet, &kids[i]);
		if (rc < 0)
			die("rg_go", -rc);
	}

	int64_t sum = 0;
	for (int i = 0; i < DIV; i++) {
		int64_t v;
		if (rg_chan_recv(c, &v) != 1)
			die("rg_chan_recv", EPIPE);
		sum += v;
	}
	rg_chan_free(c);

	if (rg_chan_send(me->parent, &sum) != 0)
		die("rg_chan_send", EPIPE);
}

static void bench_main(void *arg)
{
	struct params *p = arg;

	p->maxprocs = rg_gomaxprocs(0);

	rg_chan *c = rg_chan_make(sizeof(int64_t), 0);
	if (!c)
		die("rg_chan_make", errno);
	struct node root = { .parent = c, .num = 0, .size = p->n };

	double t0 = now_ns();
	int rc = rg_go(skynet, &root);
	if (rc < 0)
		die("rg_go", -rc);
	if (rg_chan_recv(c, &p->sum) != 1)
		die("rg_chan_recv", EPIPE);
	double t1 = now_ns();

	p->elapsed_ns = t1 - t0;
	rg_chan_free(c);
}

int main(int argc, char **argv)
{
	struct params p = { .n = DEFAULT_N };

	p.n = parse_n_args(argc, argv, DEFAULT_N, "leaves, a power of 10");

	int rc = rg_main(NULL, bench_main, &p);
	if (rc < 0) {
		fprintf(stderr, "rg_main: %s\n", strerror(-rc));
		return 1;
	}
	int64_t want = (int64_t)p.n * (p.n - 1) / 2;
	if (p.sum != want) {
		fprintf(stderr, "skynet: wrong sum %lld, want %lld\n", (long long)p.sum,
			(long long)want);
		return 1;
	}

	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);

	printf("# params: n=%ld div=%d maxprocs=%d\n", p.n, DIV, p.maxprocs);
	printf("skynet_ms: %.1f ms\n", p.elapsed_ns / 1e6);
	printf("skynet_peak_rss: %ld KiB\n", ru.ru_maxrss);
	return 0;
}
