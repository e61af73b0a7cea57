/* SPDX-License-Identifier: MIT */
/*
 * runtime/time.c - timers: per-P heaps, rg_sleep_ns.
 *
 * Each P keeps a 4-ary min-heap of its timers (pp->timers.heap), under
 * its own lock (pp->timers.lock), and publishes the earliest deadline in
 * pp->timers.when0 (0: none) so that others can look without the lock
 * (timers_next).  struct p_timers (runtime/time.h) is this file's alone.  A
 * timer lives in the frame of the goroutine that waits on it (a sleep, a
 * select timeout, an I/O deadline on the epoll backend).
 *
 * Who runs timers (run_timers): the M holding the P, whenever it passes a
 * scheduling point and the earliest deadline has passed; an idle P's timers
 * bound the sleep of the M waiting in that P's poller (runtime/netpoll.c),
 * so they fire on time although nobody runs the P; a spinning M runs the
 * expired timers of the Ps it tries to steal from, and sysmon wakes an
 * idle P's M for a running P whose expired timers wait behind a
 * long-running goroutine; otherwise that goroutine's time slice ends
 * within a slice and its M runs them ("Timers and the global queue" in
 * runtime/proc.c).  The goroutine a timer readies takes the firing P's
 * runnext.
 *
 * Backlog.  A goroutine a timer readies joins the run queue of the M's
 * P, and a full ring sends its oldest half to the global queue, behind
 * goroutines readied later; so run_timers stops, after one timer, once
 * that ring holds TIMERS_BACKLOG goroutines.  The timers still due wait
 * in the heap, in the order they are due, for the next scheduling point
 * (one timer at least each: a ring that never drains, goroutines that
 * yield in a loop, still lets them through), or for a spinning M with
 * nothing to run, which fires them onto its own P.  100,000 tickers of
 * 100 ms (bench/tickers, bench/RESULTS.md), medians of 6 runs: p90
 * lateness 1.2 ms instead of 2.2 ms, p99 8.9 ms instead of 12.9 ms, p50
 * 0.5 ms instead of 0.35 ms.
 *
 * Firing.  run_timers takes a due timer off the heap, counts itself in
 * its state (T_RUN_ONE), drops the lock and calls t->f(t), which may add t
 * again, and then uncounts itself, its last access to t.  A periodic timer
 * (t->period, a ticker of runtime/timer.c) is not taken off: its slot
 * moves down to its next time, as Go's tickers do, one sift where taking
 * it off and adding it again would cost two and the lock twice. timer_del takes t out of its heap and waits until no run
 * counts, so that it never returns while a run_timers that has not
 * finished with t may still touch it.  t->pp names the last heap that
 * held t until timer_del takes it out, also while it runs, so that
 * timer_del always takes that heap's lock before it reads the count.  The function usually readies the
 * waiting goroutine, which then calls timer_del: timer_del returns only
 * when the timer is neither in a heap nor running, so the frame holding it
 * may go away.  A timer is added only once its goroutine is parked (from
 * gopark's unlock function), so f never readies a goroutine that is still
 * running.
 *
 * Deleting.  timer_del of a timer in a heap does not re-sort the heap: its
 * slot becomes a tombstone (the timer pointer cleared, the time kept, so
 * the heap stays ordered and never looks at the timer again), which costs
 * one store where a removal costs a walk of log n slots with a cache miss
 * each.  Tombstones are swept when they reach the top (run_timers, and
 * before when0 is published, so when0 is always a live timer's) and all
 * at once, with the heap rebuilt in O(n), once they are a quarter of it.
 * The slots keep their time next to the pointer, so sorting reads no
 * timer, and each timer keeps its slot's index (idx) for its deletion.
 *
 * Lock order: a P's timers lock (LR_TIMERS) comes after channel and semaphore
 * locks and before sched.lock; f runs with no lock held.
 */
#include <errno.h>
#include <stdlib.h>

#include "ringo.h"
#include "kernel_iface/kernel.h"
#include "runtime/ctx.h"
#include "runtime/preempt.h"
#include "runtime/probes.h"
#include "runtime/runq.h"
#include "runtime/runtime.h"
#include "runtime/time.h"

/* --- the heap (pp->timers.lock held) ------------------------------------------ */

#define TIMERS_SWEEP_MIN 64 /* heaps smaller than this are not rebuilt */

/*
 * 4-ary, as Go's: half the levels of a binary heap, and a slot's four
 * children are 64 consecutive bytes, so a step down costs one or two
 * cache misses where a binary heap's two steps cost two.  Popping the top
 * of 100,000 tickers' heap is most of a tick's cost otherwise
 * (bench/tickers, bench/RESULTS.md).
 */
#define HEAP_ARITY 4

static void heap_set(struct p *pp, int32_t i, struct timer_slot s)
{
	pp->timers.heap[i] = s;
	if (s.t)
		s.t->idx = i;
}

static void heap_up(struct p *pp, int32_t i)
{
	struct timer_slot s = pp->timers.heap[i];

	while (i > 0) {
		int32_t parent = (i - 1) / HEAP_ARITY;

		if (pp->timers.heap[parent].when <= s.when)
			break;
		heap_set(pp, i, pp->timers.heap[parent]);
		i = parent;
	}
	heap_set(pp, i, s);
}

/* Returns where the slot at i ended. */
static int32_t heap_down(struct p *pp, int32_t i)
{
	struct timer_slot s = pp->timers.heap[i];
	int32_t n = pp->timers.n;

	for (;;) {
		int32_t c = HEAP_ARITY * i + 1, end = c + HEAP_ARITY, k;

		if (c >= n)
			break;
		if (end > n)
			end = n;
		for (k = c + 1; k < end; k++)
			if (pp->timers.heap[k].when < pp->timers.heap[c].when)
				c = k;
		if (s.when <= pp->timers.heap[c].when)
			break;
		heap_set(pp, i, pp->timers.heap[c]);
		i = c;
	}
	heap_set(pp, i, s);
	return i;
}

static void heap_remove(struct p *pp, int32_t i)
{
	struct timer_slot last = pp->timers.heap[--pp->timers.n];

	if (i < pp->timers.n) {
		heap_set(pp, i, last);
		/* last belongs lower, or else perhaps higher. */
		if (heap_down(pp, i) == i)
			heap_up(pp, i);
	}
}

/* Drop every tombstone and rebuild the heap (Floyd's, O(n)). */
static void heap_sweep(struct p *pp)
{
	struct timer_slot *h = pp->timers.heap;
	int32_t n = 0;

	for (int32_t i = 0; i < pp->timers.n; i++)
		if (h[i].t)
			h[n++] = h[i];
	pp->timers.n = n;
	pp->timers.ndead = 0;
	for (int32_t i = 0; i < n; i++)
		h[i].t->idx = i;
	for (int32_t i = n > 1 ? (n - 2) / HEAP_ARITY : -1; i >= 0; i--)
		heap_down(pp, i);
}

/* Sweep the tombstones at the top, then publish the earliest deadline. */
static void update_when0(struct p *pp)
{
	while (pp->timers.n && !pp->timers.heap[0].t) {
		heap_remove(pp, 0);
		pp->timers.ndead--;
	}
	store_relaxed(&pp->timers.live, pp->timers.n - pp->timers.ndead);
	store_release(&pp->timers.when0, pp->timers.n ? pp->timers.heap[0].when : 0);
}

/* --- timers ------------------------------------------------------------------ */

static void timer_add_to(struct p *pp, struct timer *t, int64_t when)
{
	if (when <= 0)
		when = 1; /* 0 means "none" in when0 */
	t->when = when;
	lockr(&pp->timers.lock, LR_TIMERS);
	if (pp->timers.n == pp->timers.cap && pp->timers.ndead)
		heap_sweep(pp);
	if (pp->timers.n == pp->timers.cap) {
		int32_t cap = pp->timers.cap ? 2 * pp->timers.cap : 64;
		struct timer_slot *h = rt_realloc(pp->timers.heap, sizeof(*h) * (size_t)cap);

		if (!h)
			throw("timer_add: out of memory for %d timers", cap);
		pp->timers.heap = h;
		pp->timers.cap = cap;
	}
	t->nextwhen = 0;
	atomic_fetch_or_explicit(&t->state, T_HEAP, memory_order_relaxed);
	WRITE_ONCE(t->pp, pp);
	heap_set(pp, pp->timers.n++, (struct timer_slot){ when, t });
	heap_up(pp, t->idx);
	update_when0(pp);
	unlockr(&pp->timers.lock, LR_TIMERS);
}

void timer_add(struct timer *t, int64_t when)
{
	struct m *mp = getm();
	struct p *pp = mp ? mp->p : NULL;

	if (!pp)
		throw("timer_add: no P");
	timer_add_to(pp, t, when);
}

void timer_add_any(struct timer *t, int64_t when)
{
	struct m *mp = getm();
	struct p *pp = mp ? mp->p : NULL;

	/* A plain thread: P 0, which exists while the runtime runs (its
	 * timers move with it when gomaxprocs shrinks, timers_move). */
	if (!pp)
		pp = sched.allp[0];
	timer_add_to(pp, t, when);
}

bool timer_del(struct timer *t)
{
	for (;;) {
		struct p *pp = READ_ONCE(t->pp);
		bool removed = false;

		if (pp) {
			lockr(&pp->timers.lock, LR_TIMERS);
			if (READ_ONCE(t->pp) != pp) { /* moved meanwhile */
				unlockr(&pp->timers.lock, LR_TIMERS);
				continue;
			}
			if (load_relaxed(&t->state) & T_HEAP) {
				/* A tombstone ("Deleting" above). */
				pp->timers.heap[t->idx].t = NULL;
				pp->timers.ndead++;
				if (pp->timers.n >= TIMERS_SWEEP_MIN &&
				    pp->timers.ndead > pp->timers.n / 4)
					heap_sweep(pp);
				update_when0(pp);
				WRITE_ONCE(t->pp, NULL);
				atomic_fetch_and_explicit(&t->state, ~(uint32_t)T_HEAP,
							  memory_order_relaxed);
				removed = true;
			}
			unlockr(&pp->timers.lock, LR_TIMERS);
		}
		while (load_acquire(&t->state) >= T_RUN_ONE)
			ki_osyield();
		/* Its f put it back in a heap meanwhile (a ticker): again. */
		if (load_acquire(&t->state) & T_HEAP)
			continue;
		return removed;
	}
}

bool timer_modify(struct timer *t, int64_t when)
{
	struct p *pp = READ_ONCE(t->pp);
	struct m *mp = getm();
	bool ok = false;

	if (!pp)
		return false;
	if (when <= 0)
		when = 1;
	lockr(&pp->timers.lock, LR_TIMERS);
	if (READ_ONCE(t->pp) == pp && (load_relaxed(&t->state) & T_HEAP)) {
		if (when >= t->when) {
			t->nextwhen = when;
			ok = true;
		} else if (mp && mp->p == pp) {
			/* Earlier, on the caller's own heap: its slot moves
			 * up now.  (On another P's, that P's poller may be
			 * asleep until the old time: the caller adds it
			 * again on its own.) */
			t->when = when;
			t->nextwhen = 0;
			pp->timers.heap[t->idx].when = when;
			heap_up(pp, t->idx);
			update_when0(pp);
			ok = true;
		}
	}
	unlockr(&pp->timers.lock, LR_TIMERS);
	return ok;
}

/* The now of the run_timers calling a timer's f on this thread, and the
 * time the timer was due for. */
static __thread int64_t fire_now, fire_when;

#define TIMERS_BACKLOG (RUNQ_SIZE / 2) /* "Backlog" above */

int64_t timer_fire_now(void)
{
	return fire_now;
}

int64_t timer_fire_when(void)
{
	return fire_when;
}

int run_timers(struct p *pp, int64_t now)
{
	struct m *mp = getm();
	struct p *runp = mp ? mp->p : NULL; /* where the readied goroutines go */
	int n = 0;

	while (load_relaxed(&pp->timers.when0) && load_relaxed(&pp->timers.when0) <= now) {
		struct timer *t;
		int64_t when;

		if (n && runp && runqlen(runp) >= TIMERS_BACKLOG)
			break; /* "Backlog" above */
		if (!trylockr(&pp->timers.lock, LR_TIMERS))
			break; /* someone else is running them */
		if (!pp->timers.n || pp->timers.heap[0].when > now) {
			unlockr(&pp->timers.lock, LR_TIMERS);
			break;
		}
		t = pp->timers.heap[0].t; /* live: update_when0 swept the top */
		if (t->nextwhen) {
			/* Modified later: to its place now, and look again. */
			t->when = t->nextwhen;
			t->nextwhen = 0;
			pp->timers.heap[0].when = t->when;
			heap_down(pp, 0);
			update_when0(pp);
			unlockr(&pp->timers.lock, LR_TIMERS);
			continue;
		}
		when = t->when;
		if (t->period > 0) {
			/* Periodic: stays in the heap, moved to its next time
			 * (the periods that passed skipped), and one more run. */
			int64_t next = when + t->period;

			if (next <= now)
				next += ((now - next) / t->period + 1) * t->period;
			t->when = next;
			pp->timers.heap[0].when = next;
			heap_down(pp, 0);
			update_when0(pp);
			atomic_fetch_add_explicit(&t->state, T_RUN_ONE, memory_order_relaxed);
		} else {
			heap_remove(pp, 0);
			update_when0(pp);
			/* Off the heap, and one more run, in one atomic add (the
			 * heap bit changes only under this lock).  t->pp stays:
			 * timer_del takes this lock before it looks at the run
			 * count. */
			atomic_fetch_add_explicit(&t->state, T_RUN_ONE - T_HEAP,
						  memory_order_relaxed);
		}
		unlockr(&pp->timers.lock, LR_TIMERS);
		rg_probe(timer_fire, when, now - when, pp->id);
		metrics_count_timer(&pp->metrics);
		fire_now = now;
		fire_when = when;
		t->f(t);
		/* The last access to t: timer_del may return once it is seen. */
		atomic_fetch_sub_explicit(&t->state, T_RUN_ONE, memory_order_release);
		n++;
	}
	return n;
}

void timers_move(struct p *from, struct p *to)
{
	struct timer_slot *ts;
	int32_t i, n;

	lockr(&from->timers.lock, LR_TIMERS);
	ts = from->timers.heap;
	n = from->timers.n;
	from->timers.heap = NULL;
	from->timers.n = from->timers.cap = from->timers.ndead = 0;
	update_when0(from);
	unlockr(&from->timers.lock, LR_TIMERS);
	for (i = 0; i < n; i++) {
		struct timer *t = ts[i].t;

		if (!t)
			continue; /* a tombstone */
		/* Stop-the-world: nobody else touches t meanwhile. */
		WRITE_ONCE(t->pp, NULL);
		timer_add_to(to, t, t->nextwhen ? t->nextwhen : t->when);
	}
	rt_free(ts);
}

void timers_init(struct p_timers *ts)
{
	ts->heap = NULL;
	ts->n = ts->cap = ts->ndead = 0;
	store_relaxed(&ts->live, 0);
	store_relaxed(&ts->when0, 0);
}

void timers_fini(struct p_timers *ts)
{
	rt_free(ts->heap);
	timers_init(ts);
}

/* --- sleeping ------------------------------------------------------------- */

/*
 * A sleep is a timer on the stack whose function readies the sleeper.
 * Under a context the context's cancel can end it too (ctx_wait): the
 * timer and the cancel race to move state from SLEEP_PARKED to
 * SLEEP_WOKEN, and only the winner readies the goroutine; a cancel that
 * comes before the park finds SLEEP_RUNNING, and the park's commit then
 * finds SLEEP_WOKEN and does not park.
 */
enum { SLEEP_RUNNING, SLEEP_PARKED, SLEEP_WOKEN };

struct sleep_wait {
	struct timer t;
	struct ctx_wait cw;
	_Atomic int state;
};

static void sleep_wake(struct sleep_wait *sw)
{
	if (atomic_exchange(&sw->state, SLEEP_WOKEN) == SLEEP_PARKED)
		goready(sw->t.arg, NULL);
}

static void sleep_fire(struct timer *t)
{
	sleep_wake(container_of(t, struct sleep_wait, t));
}

static void sleep_ctx_cancel(struct ctx_wait *cw, int err)
{
	(void)err;
	sleep_wake(container_of(cw, struct sleep_wait, cw));
}

static bool sleep_commit(struct g *gp, void *arg)
{
	struct sleep_wait *sw = arg;
	int running = SLEEP_RUNNING;

	(void)gp;
	if (!atomic_compare_exchange_strong(&sw->state, &running, SLEEP_PARKED))
		return false; /* the context's cancel came first */
	timer_add(&sw->t, sw->t.when);
	return true;
}

int64_t when_after(int64_t ns)
{
	int64_t now = ki_nanotime();

	return ns > INT64_MAX - now ? INT64_MAX : now + ns;
}

int64_t rg_now_ns(void)
{
	rt_enter();
	preempt_check(); /* loops that watch the clock are preemption points */
	return ki_nanotime();
}

int rg_sleep_ns(int64_t ns)
{
	struct sleep_wait sw = { .t = { .f = sleep_fire } };
	struct g *gp;
	int r;

	rt_enter();
	if (ns <= 0)
		return 0;
	gp = getg();
	if (!gp) {
		ki_usleep_ns(ns);
		return 0;
	}
	r = ctx_wait_begin(&sw.cw, sleep_ctx_cancel, NULL);
	if (unlikely(r))
		return r;
	sw.t.arg = gp;
	sw.t.when = when_after(ns);
	gopark(sleep_commit, &sw, "sleep");
	timer_del(&sw.t);
	return ctx_wait_end(&sw.cw);
}
