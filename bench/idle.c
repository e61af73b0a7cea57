/* SPDX-License-Identifier: MIT */
/*
 * idle - the CPU time an idle runtime costs.
 *
 * The main goroutine starts G goroutines that block on a channel nobody
 * sends on, then sleeps D seconds (rg_sleep_ns): every goroutine is
 * blocked and only the runtime's own threads (sysmon, an M waiting for the
 * timer) may run.  The process's CPU time over the sleep (getrusage, user
 * plus system) is the runtime's idle cost.  maxprocs is the default.
 * Twin: bench/go/idle.go.
 *
 * Usage: idle [-d D] [-g G]   (defaults: D = 10 seconds, G = 100)
 *
 * Output, one figure per line:
 *   idle_cpu_percent: <float> %   CPU time / D, in % of one core
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "ringo.h"

#include "bench.h"

#define DEFAULT_D 10L
#define DEFAULT_G 100L

static long secs = DEFAULT_D, gs = DEFAULT_G;
static rg_chan *never;
static double cpu_ns, wall_ns;

static double cpu_now(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e9 +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e3;
}

static void blocked(void *arg)
{
	(void)arg;
	rg_chan_recv(never, NULL);
}

static void bench_main(void *arg)
{
	double c0, t0;

	(void)arg;
	for (long i = 0; i < gs; i++) {
		if (rg_go(blocked, NULL) < 0) {
			fprintf(stderr, "idle: rg_go failed\n");
			exit(1);
		}
	}
	rg_sleep_ns(100000000); /* let them block */
	c0 = cpu_now();
	t0 = now_ns();
	rg_sleep_ns((int64_t)secs * 1000000000);
	cpu_ns = cpu_now() - c0;
	wall_ns = now_ns() - t0;
}

int main(int argc, char **argv)
{
	int rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-d") == 0 && i + 1 < argc) {
			secs = parse_count_flag(argv[0], "-d", argv[++i]);
		} else if (strcmp(argv[i], "-g") == 0 && i + 1 < argc) {
			gs = parse_count_flag(argv[0], "-g", argv[++i]);
		} else {
			fprintf(stderr,
				"usage: %s [-d D] [-g G]   (defaults: D = %ld s, G = %ld)\n",
				argv[0], DEFAULT_D, DEFAULT_G);
			return 2;
		}
	}
	never = rg_chan_make(sizeof(int), 0);
	if (!never) {
		fprintf(stderr, "idle: rg_chan_make failed\n");
		return 1;
	}
	rc = rg_main(NULL, bench_main, NULL);
	if (rc < 0) {
		fprintf(stderr, "idle: rg_main: %s\n", strerror(-rc));
		return 1;
	}
	printf("# params: seconds=%ld goroutines=%ld\n", secs, gs);
	printf("idle_cpu_percent: %.4f %%\n", cpu_ns / wall_ns * 100);
	return 0;
}
