/* SPDX-License-Identifier: MIT */
/*
 * timers - the cost of timer objects with many alive: create, reset and
 * stop, and the memory each live timer holds.
 *
 * The main goroutine creates N timers due in an hour (rg_timer_new), then
 * resets each of them to another time within the next hour, in a
 * scrambled order (index i * 7919 mod N), then stops each of them, and
 * frees them.  Each phase is timed on its own and reported per timer;
 * the resident set size grown over the creation, divided by N, is the
 * bytes per live timer.  maxprocs is the default.  Twin:
 * bench/go/timers.go (time.NewTimer, Reset, Stop).
 *
 * Usage: timers [-n N]      (default N = 1000000 timers)
 *
 * Output, one figure per line:
 *   timers_create_ns: <float> ns
 *   timers_reset_ns: <float> ns
 *   timers_stop_ns: <float> ns
 *   timers_bytes_per_timer: <float> B
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ringo.h"

#include "bench.h"

#define DEFAULT_N 1000000L
#define HOUR_NS	  (3600LL * 1000000000LL)

static struct {
	long n;
	int maxprocs;
	double create_ns, reset_ns, stop_ns, bytes;
	int err;
} P;

static void bench_main(void *arg)
{
	rg_timer **ts = malloc(sizeof(*ts) * (size_t)P.n);
	long rss0, i;
	double t0;

	(void)arg;
	P.maxprocs = rg_gomaxprocs(0);
	if (!ts) {
		P.err = 1;
		return;
	}
	rss0 = rss_bytes();
	t0 = now_ns();
	for (i = 0; i < P.n; i++)
		if (!(ts[i] = rg_timer_new(HOUR_NS))) {
			P.err = 1;
			return;
		}
	P.create_ns = (now_ns() - t0) / (double)P.n;
	P.bytes = (double)(rss_bytes() - rss0) / (double)P.n;
	t0 = now_ns();
	for (i = 0; i < P.n; i++)
		rg_timer_reset(ts[(i * 7919) % P.n], HOUR_NS - (i % 1000) * 1000000LL);
	P.reset_ns = (now_ns() - t0) / (double)P.n;
	t0 = now_ns();
	for (i = 0; i < P.n; i++)
		rg_timer_stop(ts[(i * 7919) % P.n]);
	P.stop_ns = (now_ns() - t0) / (double)P.n;
	for (i = 0; i < P.n; i++)
		rg_timer_free(ts[i]);
	free(ts);
}

int main(int argc, char **argv)
{
	int rc;

	P.n = parse_n_args(argc, argv, DEFAULT_N, "timers");
	rc = rg_main(NULL, bench_main, NULL);
	if (rc != 0 || P.err) {
		fprintf(stderr, "timers: %s\n", rc ? "rg_main failed" : "out of memory");
		return 1;
	}
	printf("# params: n=%ld maxprocs=%d\n", P.n, P.maxprocs);
	printf("timers_create_ns: %.1f ns\n", P.create_ns);
	printf("timers_reset_ns: %.1f ns\n", P.reset_ns);
	printf("timers_stop_ns: %.1f ns\n", P.stop_ns);
	printf("timers_bytes_per_timer: %.1f B\n", P.bytes);
	return 0;
}
