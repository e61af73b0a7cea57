/* SPDX-License-Identifier: MIT */
/*
 * steal - an imbalanced load for the NUMA-aware steal orders.
 *
 * One goroutine spawns N short tasks, computing S steps of a 64-bit LCG
 * before each; each task computes W steps.  Every task is born on the spawner's P, so the
 * other Ps live on what they steal.  maxprocs 4 on a synthetic topology of
 * two nodes of two Ps (RINGO_NUMA_TOPOLOGY="p0-1;p2-3" unless the
 * environment sets one), run three times: with the steal policy flat (Go's
 * order), node and distance (RINGO_DEBUG=stealpolicy=..., set by the
 * program unless the environment sets RINGO_DEBUG).  Twin: bench/go/steal.go
 * (the same spawner at GOMAXPROCS 4; Go has one order).
 *
 * Usage: steal [-n N] [-w W] [-s S]
 *        (defaults: N = 200000 tasks, W = 2000 steps, S = 1000 steps)
 *
 * Timed: from the first spawn to the end of the last task, per run.
 *
 * Output, one figure per line:
 *   steal_tasks_per_s: <float> tasks/s      N / elapsed, policy distance (the default)
 *   steal_<policy>_tasks_per_s: <float> tasks/s
 *   steal_<policy>_cross_pct: <float> %     steals that crossed nodes
 *   steal_<policy>_avoidable_pct: <float> % steals that crossed nodes while a
 *                                           P of the thief's node had work queued
 *   steal_<policy>_steals: <int> steals
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringo.h"

#include "bench.h"

#define DEFAULT_N 200000L
#define DEFAULT_W 2000L
#define DEFAULT_S 1000L
#define PROCS	  4

static long ntasks = DEFAULT_N, work = DEFAULT_W, pace = DEFAULT_S;
static rg_wg wg;
static double elapsed_ns;
static volatile uint64_t sink;

static void task(void *arg)
{
	uint64_t x = (uint64_t)(uintptr_t)arg;

	for (long i = 0; i < work; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	sink += x;
	rg_wg_done(&wg);
}

static void bench_main(void *arg)
{
	double t0 = now_ns();

	(void)arg;
	for (long i = 0; i < ntasks; i++) {
		uint64_t x = (uint64_t)i;
		int rc;

		/* Spawn at a pace the thieves keep up with, so that the work
		 * moves by stealing, not through the global queue. */
		for (long k = 0; k < pace; k++)
			x = x * 6364136223846793005ull + 1442695040888963407ull;
		sink += x;
		rg_wg_add(&wg, 1);
		rc = rg_go(task, (void *)(uintptr_t)i);
		if (rc < 0) {
			fprintf(stderr, "steal: rg_go: %s\n", strerror(-rc));
			exit(1);
		}
	}
	rg_wg_wait(&wg);
	elapsed_ns = now_ns() - t0;
}

static struct rg_sched_stats stats;

/* The scheduler's counters, read by the main goroutine before it returns. */
static void bench_stats_main(void *arg)
{
	bench_main(arg);
	stats.size = sizeof(stats);
	if (rg_sched_stats(&stats)) {
		fprintf(stderr, "steal: rg_sched_stats failed\n");
		exit(1);
	}
}

int main(int argc, char **argv)
{
	static const char *const policies[] = { "flat", "node", "distance" };
	bool set_debug = getenv("RINGO_DEBUG") == NULL;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			ntasks = parse_count_flag(argv[0], "-n", argv[++i]);
		} else if (strcmp(argv[i], "-w") == 0 && i + 1 < argc) {
			work = parse_count_flag(argv[0], "-w", argv[++i]);
		} else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc) {
			pace = parse_count_flag(argv[0], "-s", argv[++i]);
		} else {
			fprintf(stderr,
				"usage: %s [-n N] [-w W] [-s S]   (defaults: N = %ld tasks, W = %ld "
				"steps, S = %ld steps)\n",
				argv[0], DEFAULT_N, DEFAULT_W, DEFAULT_S);
			return 2;
		}
	}
	setenv("RINGO_NUMA_TOPOLOGY", "p0-1;p2-3", 0);
	printf("# params: tasks=%ld work=%ld pace=%ld maxprocs=%d\n", ntasks, work, pace, PROCS);
	printf("# topology: %s\n", getenv("RINGO_NUMA_TOPOLOGY"));
	for (size_t k = 0; k < sizeof(policies) / sizeof(policies[0]); k++) {
		const char *pol = policies[k];
		uint64_t all = 0, cross = 0;
		rg_config cfg = { .maxprocs = PROCS };
		char debug[64];
		int rc;

		if (set_debug) {
			snprintf(debug, sizeof(debug), "stealpolicy=%s", pol);
			setenv("RINGO_DEBUG", debug, 1);
		}
		rc = rg_main(&cfg, bench_stats_main, NULL);
		if (rc < 0) {
			fprintf(stderr, "steal: rg_main: %s\n", strerror(-rc));
			return 1;
		}
		for (int c = 0; c < RG_STATS_CLASSES; c++) {
			all += stats.total.steals[c];
			if (c > 0)
				cross += stats.total.steals[c];
		}
		printf("steal_%s_tasks_per_s: %.0f tasks/s\n", stats.steal_policy,
		       (double)ntasks / elapsed_ns * 1e9);
		printf("steal_%s_cross_pct: %.1f %%\n", stats.steal_policy,
		       all ? 100.0 * (double)cross / (double)all : 0.0);
		printf("steal_%s_avoidable_pct: %.1f %%\n", stats.steal_policy,
		       all ? 100.0 * (double)stats.total.steals_remote_local_work / (double)all :
			     0.0);
		printf("steal_%s_steals: %llu steals\n", stats.steal_policy,
		       (unsigned long long)all);
		if (strcmp(stats.steal_policy, "distance") == 0)
			printf("steal_tasks_per_s: %.0f tasks/s\n",
			       (double)ntasks / elapsed_ns * 1e9);
	}
	return 0;
}
