/* SPDX-License-Identifier: MIT */
/*
 * bench.h - what every C benchmark shares: the clock and the command line.
 * The Go twins do the same with time.Now and strconv.
 */
#ifndef RINGO_BENCH_H
#define RINGO_BENCH_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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

#endif /* RINGO_BENCH_H */
