/* SPDX-License-Identifier: MIT */
/*
 * tickers - many tickers at once: the CPU they cost and how late their
 * ticks are received.
 *
 * N goroutines each make a ticker of period P (rg_ticker_new) and receive
 * its ticks (rg_chan_recv on rg_timer_chan) until the run ends.  Each tick
 * received is timed against the ticker's schedule: its lateness is the
 * time since the latest multiple of P after the ticker was made (so a
 * tick later than a whole period counts modulo P; the number of ticks
 * received says how many were missed).  Once every ticker is running and
 * one period has passed, the run is measured for D seconds: the ticks
 * received, the process's CPU time (user + system, getrusage), and the
 * lateness of every tick, in 50 us buckets.  maxprocs is the default.
 * Twin: bench/go/tickers.go (time.NewTicker, one goroutine each).
 *
 * Usage: tickers [-n N] [-p P_MS] [-d D_S]
 *        (defaults: N = 100000 tickers, P = 100 ms, D = 3 s)
 *
 * Output, one figure per line:
 *   tickers_ticks: <float> ticks/s       ticks received per second
 *   tickers_cpu: <float> %               CPU time over wall time
 *   tickers_cpu_per_tick_ns: <float> ns  CPU time per tick received
 *   tickers_late_p50_us: <float> us      lateness, median (bucket top)
 *   tickers_late_p99_us: <float> us      lateness, 99th percentile
 */
#define _POSIX_C_SOURCE 200809L

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "ringo.h"

#include "bench.h"

#define DEFAULT_N    100000L
#define DEFAULT_P_MS 100L
#define DEFAULT_D_S  3L
#define BUCKET_NS    50000LL /* lateness histogram: 50 us buckets */
#define NBUCKETS     400     /* up to 20 ms; the last one holds the rest */

static struct {
	long n, period_ms, secs;
	int maxprocs;
	int64_t period;
	atomic_int running;	     /* tickers made */
	atomic_bool measuring, done; /* set by the main goroutine */
	atomic_llong ticks;	     /* received while measuring */
	atomic_llong hist[NBUCKETS];
	rg_wg wg;
	int err;
} P;

static void ticker_goroutine(void *arg)
{
	uint32_t hist[NBUCKETS] = { 0 };
	long long ticks = 0;
	/* Read before the ticker is made: its schedule starts at or after
	 * t0, so a tick is never counted early (a tick received within the
	 * gap after a t0 read later would count as a whole period late). */
	int64_t t0 = rg_now_ns(), due;
	rg_timer *t = rg_ticker_new(P.period);

	(void)arg;
	if (!t) {
		P.err = 1;
		rg_wg_done(&P.wg);
		return;
	}
	atomic_fetch_add(&P.running, 1);
	while (!atomic_load_explicit(&P.done, memory_order_relaxed)) {
		int64_t now, late;

		if (rg_chan_recv(rg_timer_chan(t), &due) != 1) {
			P.err = 1;
			break;
		}
		if (!atomic_load_explicit(&P.measuring, memory_order_relaxed))
			continue;
		now = rg_now_ns();
		late = (now - t0) % P.period;
		hist[late / BUCKET_NS < NBUCKETS ? late / BUCKET_NS : NBUCKETS - 1]++;
		ticks++;
	}
	rg_timer_free(t);
	for (int i = 0; i < NBUCKETS; i++)
		if (hist[i])
			atomic_fetch_add(&P.hist[i], hist[i]);
	atomic_fetch_add(&P.ticks, ticks);
	rg_wg_done(&P.wg);
}

static double cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e9 +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e3;
}

static double pct_us(long long total, double pct)
{
	long long want = (long long)(total * pct / 100.0), seen = 0;

	for (int i = 0; i < NBUCKETS; i++) {
		seen += atomic_load(&P.hist[i]);
		if (seen > want)
			return (i + 1) * BUCKET_NS / 1000.0;
	}
	return NBUCKETS * BUCKET_NS / 1000.0;
}

static double wall, cpu;

static void bench_main(void *arg)
{
	double w0, c0;

	(void)arg;
	P.maxprocs = rg_gomaxprocs(0);
	rg_wg_add(&P.wg, (int)P.n);
	for (long i = 0; i < P.n; i++)
		if (rg_go(ticker_goroutine, NULL) != 0) {
			P.err = 1;
			return;
		}
	while (atomic_load(&P.running) < P.n && !P.err)
		rg_sleep_ns(1000000);
	rg_sleep_ns(P.period);
	w0 = now_ns();
	c0 = cpu_ns();
	atomic_store(&P.measuring, true);
	rg_sleep_ns(P.secs * 1000000000LL);
	atomic_store(&P.measuring, false);
	wall = now_ns() - w0;
	cpu = cpu_ns() - c0;
	atomic_store(&P.done, true);
	rg_wg_wait(&P.wg);
}

int main(int argc, char **argv)
{
	long long ticks;
	int rc;

	P.n = DEFAULT_N;
	P.period_ms = DEFAULT_P_MS;
	P.secs = DEFAULT_D_S;
	for (int i = 1; i < argc; i++) {
		if (i + 1 < argc && strcmp(argv[i], "-n") == 0)
			P.n = parse_count(argv[0], argv[++i]);
		else if (i + 1 < argc && strcmp(argv[i], "-p") == 0)
			P.period_ms = parse_count_flag(argv[0], "-p", argv[++i]);
		else if (i + 1 < argc && strcmp(argv[i], "-d") == 0)
			P.secs = parse_count_flag(argv[0], "-d", argv[++i]);
		else {
			fprintf(stderr, "usage: %s [-n N] [-p P_MS] [-d D_S]\n", argv[0]);
			return 2;
		}
	}
	P.period = P.period_ms * 1000000LL;
	rc = rg_main(NULL, bench_main, NULL);
	if (rc != 0 || P.err) {
		fprintf(stderr, "tickers: %s\n", rc ? "rg_main failed" : "a goroutine failed");
		return 1;
	}
	ticks = atomic_load(&P.ticks);
	printf("# params: n=%ld p=%ldms d=%lds maxprocs=%d\n", P.n, P.period_ms, P.secs,
	       P.maxprocs);
	printf("tickers_ticks: %.0f ticks/s\n", ticks / (wall / 1e9));
	printf("tickers_cpu: %.1f %%\n", 100.0 * cpu / wall);
	printf("tickers_cpu_per_tick_ns: %.0f ns\n", ticks ? cpu / ticks : 0.0);
	printf("tickers_late_p50_us: %.0f us\n", pct_us(ticks, 50));
	printf("tickers_late_p99_us: %.0f us\n", pct_us(ticks, 99));
	return 0;
}
