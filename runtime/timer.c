/* SPDX-License-Identifier: MIT */
/*
 * runtime/timer.c - timer objects: rg_timer (Go's time.Timer and
 * time.AfterFunc) and tickers (time.Ticker), on the per-P timer heaps of
 * runtime/time.c.
 *
 * An rg_timer is a struct timer (its entry in a heap) with a one-slot
 * channel of int64_t, or a function to run as a new goroutine, and for a
 * ticker a period (t.period, written under t->lock while the timer is in
 * no heap).  When it fires (fire, called by run_timers with no lock
 * held, on an M or sysmon), it sends the time it was due for on the
 * channel without blocking (a full channel misses the tick, as a slow
 * ticker receiver does in Go), or starts the goroutine (go_from_p; on
 * sysmon, which has no P, it puts itself back to fire again at once on a
 * P's heap).  A ticker stays in its heap: run_timers moves it to its next
 * period (t.period, runtime/time.c), counted from the time it was due,
 * skipping the periods that passed.
 *
 * Stop and Reset have Go 1.23's semantics: once they return, no value of
 * an earlier arming can be received.  Stop clears t->armed (so a fire that
 * has not looked yet does nothing), takes the entry out of its heap with
 * timer_del, which also waits for a fire already running to end, and then
 * empties the channel: whatever that fire sent is gone, and no fire runs
 * any more.  It returns true when the call stopped something: the timer
 * was armed and had not fired, or its value was still in the channel.
 *
 * Memory.  A timer with a channel lives in the channel's allocation, after
 * it (chan_make_with): one allocation per timer, and rg_timer_free frees
 * both with rg_chan_free.  A function's timer is an allocation of its own.
 *
 * rg_after.  Go's time.After hands out a channel that the collector frees;
 * here the channel belongs to the goroutine that asked for it: its timer
 * goes on the goroutine's list (gext->afters, oldest first), and the
 * goroutine frees it when it ends (timer_goexit) or, sooner, at a later
 * rg_after, once it has fired and its value was taken (nothing in the
 * channel, nobody waiting on it): rg_after frees such timers from the
 * head of the list, so a loop that waits with a fresh rg_after each time
 * keeps only the timers not yet fired, as Go before 1.23 did.
 *
 * t->lock (LR_TIMEROBJ) guards armed and the re-arming; it ranks before a
 * P's timers lock, which timer_add takes under it.  No lock is held while a
 * fire sends or starts a goroutine.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "ringo.h"
#include "kernel_iface/kernel.h"
#include "runtime/preempt.h"
#include "runtime/runtime.h"
#include "runtime/time.h"

struct rg_timer {
	struct timer t;	  /* its entry in a P's heap; t.arg is the rg_timer */
	struct lock lock; /* LR_TIMEROBJ */
	bool armed;	  /* armed and not yet fired (a ticker: running); lock */
	union {
		rg_chan *c;	    /* one slot of int64_t (fn NULL), or */
		void (*fn)(void *); /* the function's timer: run as a goroutine */
	};
	bool has_chan; /* which of the two */
	union {
		void *arg;		     /* fn's */
		struct rg_timer *next_after; /* rg_after's: the next in gext->afters */
	};
};

static void fire(struct timer *tt)
{
	struct rg_timer *t = tt->arg;
	int64_t due = timer_fire_when(), now = timer_fire_now();
	int r;

	lockr(&t->lock, LR_TIMEROBJ);
	if (!t->armed) {
		unlockr(&t->lock, LR_TIMEROBJ);
		return;
	}
	if (!t->t.period && t->has_chan)
		t->armed = false; /* fired: its value is in the channel */
	unlockr(&t->lock, LR_TIMEROBJ);
	if (t->has_chan) {
		rg_chan_try_send(t->c, &due); /* full: the tick is missed */
	} else if ((r = go_from_p(t->fn, t->arg)) == -EPERM) {
		/* No P here (sysmon): once more, at once, on a P's heap. */
		lockr(&t->lock, LR_TIMEROBJ);
		if (t->armed)
			timer_add_any(&t->t, now);
		unlockr(&t->lock, LR_TIMEROBJ);
	} else if (r < 0) {
		throw("rg_timer_func: cannot start the timer's goroutine: %s", strerror(-r));
	} else {
		lockr(&t->lock, LR_TIMEROBJ);
		t->armed = false;
		unlockr(&t->lock, LR_TIMEROBJ);
	}
}

static rg_timer *timer_make(int64_t d_ns, int64_t period, bool chan, void (*fn)(void *), void *arg)
{
	rg_timer *t;

	rt_enter();
	if (load_acquire(&sched.nprocs) <= 0)
		return NULL;
	if (chan) {
		void *mem;
		rg_chan *c = chan_make_with(sizeof(int64_t), 1, sizeof(*t), &mem);

		if (!c)
			return NULL;
		t = mem;
		t->c = c;
		t->has_chan = true;
	} else {
		t = rt_calloc(1, sizeof(*t));
		if (!t)
			return NULL;
		t->fn = fn;
		t->arg = arg;
	}
	t->t.period = period;
	t->t.f = fire;
	t->t.arg = t;
	t->armed = true;
	lockr(&t->lock, LR_TIMEROBJ);
	timer_add_any(&t->t, when_after(d_ns));
	unlockr(&t->lock, LR_TIMEROBJ);
	return t;
}

rg_timer *rg_timer_new(int64_t d_ns)
{
	return timer_make(d_ns, 0, true, NULL, NULL);
}

rg_timer *rg_timer_func(int64_t d_ns, void (*fn)(void *), void *arg)
{
	return fn ? timer_make(d_ns, 0, false, fn, arg) : NULL;
}

rg_timer *rg_ticker_new(int64_t period_ns)
{
	return period_ns > 0 ? timer_make(period_ns, period_ns, true, NULL, NULL) : NULL;
}

static void timer_check(const rg_timer *t, const char *call)
{
	if (!t)
		throw("%s: NULL timer", call);
}

rg_chan *rg_timer_chan(const rg_timer *t)
{
	timer_check(t, "rg_timer_chan");
	return t->has_chan ? t->c : NULL;
}

bool rg_timer_stop(rg_timer *t)
{
	bool was, removed, drained = false;
	int64_t v;

	timer_check(t, "rg_timer_stop");
	lockr(&t->lock, LR_TIMEROBJ);
	was = t->armed;
	t->armed = false;
	unlockr(&t->lock, LR_TIMEROBJ);
	removed = timer_del(&t->t);
	/* A timer (not a ticker) still armed had sent nothing since it was
	 * armed, and arming emptied its channel: no need to look. */
	if (t->has_chan && !(was && !t->t.period))
		drained = rg_chan_try_recv(t->c, &v) == 1;
	return (was && removed) || drained;
}

/* Stop t, then arm it for d_ns from now (and a ticker with a new period). */
static bool timer_rearm(rg_timer *t, int64_t d_ns, int64_t period)
{
	int64_t when = when_after(d_ns);
	bool stopped;

	/* A timer armed and not fired moves within its heap
	 * (timer_modify); nothing can be in its channel. */
	lockr(&t->lock, LR_TIMEROBJ);
	if (!t->t.period && t->armed && timer_modify(&t->t, when)) {
		unlockr(&t->lock, LR_TIMEROBJ);
		return true;
	}
	unlockr(&t->lock, LR_TIMEROBJ);
	stopped = rg_timer_stop(t);

	lockr(&t->lock, LR_TIMEROBJ);
	if (period)
		t->t.period = period; /* out of every heap: stopped */
	t->armed = true;
	timer_add_any(&t->t, when);
	unlockr(&t->lock, LR_TIMEROBJ);
	return stopped;
}

bool rg_timer_reset(rg_timer *t, int64_t d_ns)
{
	timer_check(t, "rg_timer_reset");
	if (t->t.period)
		throw("rg_timer_reset: a ticker (use rg_ticker_reset)");
	return timer_rearm(t, d_ns, 0);
}

int rg_ticker_reset(rg_timer *t, int64_t period_ns)
{
	timer_check(t, "rg_ticker_reset");
	if (!t->t.period)
		throw("rg_ticker_reset: not a ticker");
	if (period_ns <= 0)
		return -EINVAL;
	timer_rearm(t, period_ns, period_ns);
	return 0;
}

void rg_timer_free(rg_timer *t)
{
	if (!t)
		return;
	rg_timer_stop(t);
	if (t->has_chan)
		rg_chan_free(t->c); /* t with it */
	else
		rt_free(t);
}

/* --- rg_after ------------------------------------------------------------- */

/* Whether t, an rg_after timer, has fired and its channel is done with. */
static bool after_spent(rg_timer *t)
{
	bool armed;

	lockr(&t->lock, LR_TIMEROBJ);
	armed = t->armed;
	unlockr(&t->lock, LR_TIMEROBJ);
	return !armed && chan_idle(t->c);
}

rg_chan *rg_after(int64_t ns)
{
	struct g *gp;
	struct gext *x;
	rg_timer *t;

	rt_enter();
	gp = getg();
	if (!gp)
		return NULL;
	x = gp->ext;
	while (x->afters && after_spent(x->afters)) {
		t = x->afters;
		x->afters = t->next_after;
		if (!x->afters)
			x->afters_tail = NULL;
		rg_timer_free(t);
	}
	t = timer_make(ns, 0, true, NULL, NULL);
	if (!t)
		return NULL;
	t->next_after = NULL;
	if (x->afters_tail)
		x->afters_tail->next_after = t;
	else
		x->afters = t;
	x->afters_tail = t;
	return t->c;
}

void timer_goexit(struct g *gp)
{
	rg_timer *t, *next;

	for (t = gp->ext->afters; t; t = next) {
		next = t->next_after;
		rg_timer_free(t);
	}
	gp->ext->afters = gp->ext->afters_tail = NULL;
}
