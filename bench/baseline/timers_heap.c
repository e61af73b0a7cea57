/* SPDX-License-Identifier: MIT */
/*
 * timers_heap - the timers benchmark (bench/timers.c) without a runtime:
 * the least a timer heap can cost for the same work, one thread, no lock.
 * It is the physical limit the harness shows beside ringo and Go.
 *
 * A timer is an allocation of TIMER_BYTES (about what a timer and its
 * one-slot channel take on either side) holding its time and its slot's
 * index in a binary min-heap of {time, timer} slots.  Create allocates it
 * and pushes it (its time read from the clock, as the others do); reset
 * to a later time only records it (the timer moves when it reaches the
 * top), to an earlier one sifts its slot up in place; stop leaves a
 * tombstone in the slot (the heap is rebuilt once they are a quarter of
 * it).  The order of the operations is bench/timers.c's: N creations due
 * in an hour, N resets in a scrambled order (index i * 7919 mod N) to
 * another time within the hour, N stops in the same order, the frees.
 *
 * Usage: timers_heap [-n N]      (default N = 1000000 timers)
 *
 * Output, one figure per line (the names of bench/timers.c):
 *   timers_create_ns: <float> ns
 *   timers_reset_ns: <float> ns
 *   timers_stop_ns: <float> ns
 *   timers_bytes_per_timer: <float> B
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../bench.h"

#define DEFAULT_N   1000000L
#define HOUR_NS	    (3600LL * 1000000000LL)
#define TIMER_BYTES 200

struct timer {
	int64_t when, nextwhen;
	long idx; /* its slot, -1 when stopped */
};

struct slot {
	int64_t when;
	struct timer *t; /* NULL: a tombstone */
};

static struct {
	struct slot *s;
	long n, cap, ndead;
} H;

static void set(long i, struct slot s)
{
	H.s[i] = s;
	if (s.t)
		s.t->idx = i;
}

static void up(long i)
{
	struct slot s = H.s[i];

	while (i > 0 && H.s[(i - 1) / 2].when > s.when) {
		set(i, H.s[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	set(i, s);
}

static void down(long i)
{
	struct slot s = H.s[i];

	for (;;) {
		long c = 2 * i + 1;

		if (c >= H.n)
			break;
		if (c + 1 < H.n && H.s[c + 1].when < H.s[c].when)
			c++;
		if (H.s[c].when >= s.when)
			break;
		set(i, H.s[c]);
		i = c;
	}
	set(i, s);
}

static int push(struct timer *t)
{
	if (H.n == H.cap) {
		long cap = H.cap ? 2 * H.cap : 1024;
		struct slot *s = realloc(H.s, sizeof(*s) * (size_t)cap);

		if (!s)
			return -1;
		H.s = s;
		H.cap = cap;
	}
	H.s[H.n] = (struct slot){ t->when, t };
	up(H.n++);
	return 0;
}

/* Drop the tombstones and rebuild the heap in O(n). */
static void sweep(void)
{
	long i, n = 0;

	for (i = 0; i < H.n; i++)
		if (H.s[i].t)
			H.s[n++] = H.s[i];
	H.n = n;
	H.ndead = 0;
	for (i = n / 2; i >= 0; i--)
		down(i);
	if (n == 0)
		return;
	for (i = 0; i < n; i++)
		H.s[i].t->idx = i;
}

static void reset(struct timer *t, int64_t when)
{
	if (when >= t->when) {
		t->nextwhen = when;
		return;
	}
	t->when = when;
	t->nextwhen = 0;
	H.s[t->idx].when = when;
	up(t->idx);
}

static void stop(struct timer *t)
{
	if (t->idx < 0)
		return;
	H.s[t->idx].t = NULL;
	t->idx = -1;
	if (++H.ndead > H.n / 4)
		sweep();
}

int main(int argc, char **argv)
{
	long n = parse_n_args(argc, argv, DEFAULT_N, "timers_heap"), i, rss0;
	struct timer **ts = malloc(sizeof(*ts) * (size_t)n);
	double t0, create, rst, stp, bytes;

	if (!ts)
		return 1;
	rss0 = rss_bytes();
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		ts[i] = calloc(1, TIMER_BYTES);
		if (!ts[i])
			return 1;
		ts[i]->when = (int64_t)now_ns() + HOUR_NS;
		if (push(ts[i]) < 0)
			return 1;
	}
	create = (now_ns() - t0) / (double)n;
	bytes = (double)(rss_bytes() - rss0) / (double)n;
	t0 = now_ns();
	for (i = 0; i < n; i++)
		reset(ts[(i * 7919) % n], (int64_t)now_ns() + HOUR_NS - (i % 1000) * 1000000LL);
	rst = (now_ns() - t0) / (double)n;
	t0 = now_ns();
	for (i = 0; i < n; i++)
		stop(ts[(i * 7919) % n]);
	stp = (now_ns() - t0) / (double)n;
	for (i = 0; i < n; i++)
		free(ts[i]);
	free(ts);
	free(H.s);
	printf("# params: n=%ld\n", n);
	printf("timers_create_ns: %.1f ns\n", create);
	printf("timers_reset_ns: %.1f ns\n", rst);
	printf("timers_stop_ns: %.1f ns\n", stp);
	printf("timers_bytes_per_timer: %.1f B\n", bytes);
	return 0;
}
