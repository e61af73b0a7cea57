/* SPDX-License-Identifier: MIT */
/*
 * bench.h - what every C benchmark shares: the clock, the command line,
 * percentiles, the resident set size, and finding the tools some of them
 * run.  The Go twins do
 * the same with time.Now, strconv and sort.
 */
#ifndef RINGO_BENCH_H
#define RINGO_BENCH_H

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Resident bytes of the process, from /proc/self/statm; -1 on error. */
static inline long rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size, resident;
	int ok;

	if (!f)
		return -1;
	ok = fscanf(f, "%ld %ld", &size, &resident) == 2;
	fclose(f);
	return ok ? resident * sysconf(_SC_PAGESIZE) : -1;
}

/* CLOCK_MONOTONIC in nanoseconds. */
static inline double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The positive integer value s of option flag, or exit 2 with a message. */
static inline long parse_count_flag(const char *prog, const char *flag, const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v <= 0) {
		fprintf(stderr, "%s: %s: want a positive integer, got '%s'\n", prog, flag, s);
		exit(2);
	}
	return v;
}

/* The value of -n. */
static inline long parse_count(const char *prog, const char *s)
{
	return parse_count_flag(prog, "-n", s);
}

/*
 * The command line of a benchmark whose only option is -n: its value, or
 * dflt; anything else prints "usage: PROG [-n N]   (default N = DFLT WHAT)"
 * and exits 2.
 */
static inline long parse_n_args(int argc, char **argv, long dflt, const char *what)
{
	long n = dflt;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			n = parse_count(argv[0], argv[++i]);
		} else {
			fprintf(stderr, "usage: %s [-n N]   (default N = %ld%s%s)\n", argv[0], dflt,
				*what ? " " : "", what);
			exit(2);
		}
	}
	return n;
}

/* qsort's comparison of two int64_t. */
static inline int cmp_int64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/*
 * The pct-th percentile (nearest rank: the smallest value that at least
 * pct % of the samples do not exceed) of v[0..n-1], which must be sorted
 * in ascending order; 0 when n is 0.
 */
static inline int64_t percentile(const int64_t *v, size_t n, unsigned pct)
{
	size_t rank = (n * pct + 99) / 100;

	return n ? v[rank ? rank - 1 : 0] : 0;
}

/* Is prog (a client or server a benchmark runs: wrk, redis-benchmark) an
 * executable in one of $PATH's directories? */
static inline int bench_in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char dir[PATH_MAX], file[PATH_MAX + 64];

	while (path && *path) {
		size_t len = strcspn(path, ":");

		snprintf(dir, sizeof(dir), "%.*s", (int)len, path);
		snprintf(file, sizeof(file), "%s/%s", len ? dir : ".", prog);
		if (access(file, X_OK) == 0)
			return 1;
		path += len + (path[len] == ':');
	}
	return 0;
}

#endif /* RINGO_BENCH_H */
