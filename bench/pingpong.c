/* SPDX-License-Identifier: MIT */
/*
 * pingpong - round trips between two goroutines over unbuffered channels.
 *
 * Two unbuffered channels of int, A and B.  The main goroutine sends on A
 * and receives on B; a second goroutine receives on A and sends on B.  One
 * round trip is one send and one receive on each side.  After a warm-up of
 * WARMUP round trips, N round trips are timed.  The whole run is done
 * twice in the same process: once with maxprocs 1 (rg_config.maxprocs = 1)
 * and once with maxprocs 2, each in its own rg_main.  Twin:
 * bench/go/pingpong.go.
 *
 * Usage: pingpong [-n N]      (default N = 2000000 round trips)
 *
 * Output, one figure per line:
 *   pingpong_p1_ns_per_roundtrip: <float> ns
 *   pingpong_p2_ns_per_roundtrip: <float> ns
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ringo.h"

#include "bench.h"

#define DEFAULT_N 2000000L
#define WARMUP	  10000L

struct run {
	long n;
	int maxprocs;	 /* asked for */
	int got_procs;	 /* rg_gomaxprocs(0) inside the run */
	const char *err; /* what failed, NULL if nothing */
	int rc;
	double elapsed_ns;
	rg_chan *a, *b;
	rg_wg wg;
};

/* Receives on A, sends the value + 1 on B, WARMUP + N times. */
static void ponger(void *arg)
{
	struct run *r = arg;
	long total = WARMUP + r->n;

	for (long i = 0; i < total; i++) {
		int v;
		if (rg_chan_recv(r->a, &v) != 1)
			break;
		v++;
		if (rg_chan_send(r->b, &v) != 0)
			break;
	}
	rg_wg_done(&r->wg);
}

/* Sends i (modulo 2^30) on A and receives it + 1 on B, count times; 0, or
 * -1 on a wrong reply or a failed operation. */
static int ping(struct run *r, long count)
{
	for (long i = 0; i < count; i++) {
		int v = (int)(i & 0x3fffffff), w;
		if (rg_chan_send(r->a, &v) != 0 || rg_chan_recv(r->b, &w) != 1 || w != v + 1)
			return -1;
	}
	return 0;
}

static void bench_main(void *arg)
{
	struct run *r = arg;

	r->got_procs = rg_gomaxprocs(0);
	r->a = rg_chan_make(sizeof(int), 0);
	r->b = rg_chan_make(sizeof(int), 0);
	if (!r->a || !r->b) {
		r->err = "rg_chan_make";
		r->rc = -errno;
		return;
	}

	rg_wg_add(&r->wg, 1);
	int rc = rg_go(ponger, r);
	if (rc < 0) {
		r->err = "rg_go";
		r->rc = rc;
		return;
	}

	if (ping(r, WARMUP) < 0)
		goto bad_reply;
	double t0 = now_ns();
	if (ping(r, r->n) < 0)
		goto bad_reply;
	double t1 = now_ns();
	r->elapsed_ns = t1 - t0;

	rg_wg_wait(&r->wg);
	rg_chan_free(r->a);
	rg_chan_free(r->b);
	return;

bad_reply:
	r->err = "round trip (wrong reply or failed channel operation)";
	r->rc = 0;
	/* the other goroutine is abandoned with the channels */
}

int main(int argc, char **argv)
{
	long n = DEFAULT_N;

	n = parse_n_args(argc, argv, DEFAULT_N, "round trips");

	static struct run runs[2];
	for (int k = 0; k < 2; k++) {
		struct run *r = &runs[k];
		r->n = n;
		r->maxprocs = k + 1;

		rg_config cfg = { .maxprocs = r->maxprocs };
		int rc = rg_main(&cfg, bench_main, r);
		if (rc < 0) {
			fprintf(stderr, "rg_main (maxprocs %d): %s\n", r->maxprocs, strerror(-rc));
			return 1;
		}
		if (r->err) {
			fprintf(stderr, "maxprocs %d: %s failed%s%s\n", r->maxprocs, r->err,
				r->rc ? ": " : "", r->rc ? strerror(-r->rc) : "");
			return 1;
		}
	}

	printf("# params: n=%ld warmup=%ld maxprocs=%d,%d\n", n, WARMUP, runs[0].got_procs,
	       runs[1].got_procs);
	for (int k = 0; k < 2; k++)
		printf("pingpong_p%d_ns_per_roundtrip: %.1f ns\n", runs[k].maxprocs,
		       runs[k].elapsed_ns / (double)n);
	return 0;
}
