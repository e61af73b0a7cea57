/* SPDX-License-Identifier: MIT */
/*
 * runtime/time.h - timers: per-P heaps, what the scheduler asks of them.
 *
 * See the design comment at the top of runtime/time.c.
 */
#ifndef RINGO_RUNTIME_TIME_H
#define RINGO_RUNTIME_TIME_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/compiler.h"
#include "runtime/lock.h"

struct p;

/* A timer's state: whether it is in a heap, and how many run_timers are
 * between taking it off a heap and their last access to it after f (a
 * ticker's f puts it back while it runs, so both can hold at once). */
enum timer_state {
	T_HEAP = 1,    /* in t->pp's heap (set and cleared under its lock) */
	T_RUN_ONE = 2, /* one run of f; the count is state / T_RUN_ONE */
};

/* A timer lives in the frame of the goroutine that waits on it. */
struct timer {
	int64_t when; /* CLOCK_MONOTONIC ns; the heap's lock */
	/* A later time it moves to once it reaches the top (0: none): see
	 * timer_modify; the heap's lock. */
	int64_t nextwhen;
	void (*f)(struct timer *t); /* called with no lock held, by any M or sysmon */
	void *arg;
	/* > 0: periodic, moved to when + period each time it fires, and
	 * never taken off by run_timers.  Set while t is in no heap. */
	int64_t period;
	struct p *pp;		/* the last heap that held it (NULL once timer_del took it
				 * out); its timers' lock (READ_ONCE) */
	int32_t idx;		/* index in that heap; its timers' lock */
	_Atomic uint32_t state; /* T_HEAP | runs * T_RUN_ONE (enum timer_state) */
};

/* A slot of a P's heap: a timer and the time it is sorted by, or, once the
 * timer was deleted, a tombstone (t NULL) that keeps its time until it is
 * swept. */
struct timer_slot {
	int64_t when;
	struct timer *t;
};

/*
 * A P's timers, pp->timers: a 4-ary min-heap under lock (LR_TIMERS).
 * when0 is the earliest deadline (0: none), written under lock with a
 * release store and read by anyone without it (timers_next); live, the
 * timers in the heap (tombstones not counted), is published with it, for
 * timers_dense.  Only time.c touches these fields.
 */
struct p_timers {
	struct lock lock cacheline_aligned;
	struct timer_slot *heap; /* lock */
	int32_t n;		 /* slots in use, tombstones included; lock */
	int32_t cap;		 /* heap's slots; lock */
	int32_t ndead;		 /* tombstones among the n; lock */
	_Atomic int32_t live;	 /* n - ndead, written under lock */
	_Atomic int64_t when0;
};

/* An empty heap (a new P, before it is published). */
void timers_init(struct p_timers *ts);
/* Free the heap; the timers in it are forgotten (teardown, every
 * goroutine stopped). */
void timers_fini(struct p_timers *ts);

/* The earliest deadline of the timers ts holds, 0 when none.  A hint, read
 * without the lock by anyone: a timer added or removed meanwhile may not
 * show. */
static inline int64_t timers_next(struct p_timers *ts)
{
	return load_acquire(&ts->when0);
}

/*
 * Dense heaps.  A P with thousands of timers has one due every few
 * microseconds (100,000 tickers of 100 ms: one every 2 us on each of two
 * Ps), and waiting for each on its own, whether on the CPU or in the
 * poller (a sleep and a wake-up cost this VM's kernel tens of
 * microseconds), costs more than the work the timers do.  So an M whose
 * P's heap is dense (TIMERS_DENSE timers or more, wherever they are due)
 * neither spins for a timer due soon nor sleeps less than TIMERS_SLACK_NS:
 * the timers due meanwhile then fire together, at most that late, as all
 * of Go's do (its poller sleeps a millisecond at least).  A P with fewer
 * timers waits for each precisely (runtime/proc.c, timer_due_soon).
 * bench/tickers (bench/RESULTS.md): at 200 us, 500 us and 1 ms, 10,000
 * tickers cost 30%, 16-21% and 10-13% of a CPU (Go 14-15%) with p99
 * lateness 300 us, 0.6-0.9 ms and 1.1 ms (Go 1.15 ms).
 */
#define TIMERS_DENSE	1024
#define TIMERS_SLACK_NS 1000000

/* Whether ts holds TIMERS_DENSE timers or more.  A hint, read without the
 * lock. */
static inline bool timers_dense(struct p_timers *ts)
{
	return atomic_load_explicit(&ts->live, memory_order_relaxed) >= TIMERS_DENSE;
}

/* now + ns, saturated at INT64_MAX. */
int64_t when_after(int64_t ns);
/* Add t to the current P's heap, firing at when.  (with a P) */
void timer_add(struct timer *t, int64_t when);
/* The same, from any thread: a plain thread's goes to P 0.  (any, while
 * the runtime runs) */
void timer_add_any(struct timer *t, int64_t when);
/* Take t out of its heap; true if it had not fired.  Returns only when t
 * is not running either, so its memory may then be reused.  (any) */
bool timer_del(struct timer *t);
/* Move t, in a heap, to fire at when.  Later than its time now, without
 * re-sorting the heap: it keeps its place and, once it reaches the top,
 * moves down to when (Go's "modified later").  Earlier, when the heap is
 * the calling M's P's: its slot moves up at once.  False, nothing done,
 * when t is in no heap, or when is earlier and the heap another P's (the
 * caller deletes and adds it).  (any) */
bool timer_modify(struct timer *t, int64_t when);
/* Run pp's timers due at now; the number run.  (any thread, no lock) */
int run_timers(struct p *pp, int64_t now);
/* Within a timer's f: the time run_timers ran it at (no clock read), and
 * the time it was due for (for a periodic timer, t->when is already the
 * next). */
int64_t timer_fire_now(void);
int64_t timer_fire_when(void);
/* Move every timer of from to to (stop-the-world). */
void timers_move(struct p *from, struct p *to);

#endif /* RINGO_RUNTIME_TIME_H */
