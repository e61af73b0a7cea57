/* SPDX-License-Identifier: MIT */
/*
 * runtime/proc.c - the scheduler: goroutines, Ms, Ps, schedule, parking.
 *
 * See runtime/runtime.h for the G/M/P glossary, ownership and lock order.
 *
 * Switching
 * ---------
 * A goroutine that stops running (yield, park, exit) switches straight to
 * the next G of its P when there is one (one ctx_switch, a few ns), and to
 * its M's g0 otherwise; g0 runs the slow path (find_runnable: global queue,
 * stealing, parking the M).  The leaving G cannot publish itself while it
 * still runs on its own stack: put on a run queue it could be stolen and
 * resumed by another M before its registers are saved.  So it records what
 * must happen to it in mp->after, and the context that resumes after the
 * switch performs it (switch_done): enqueue it (yield), mark it waiting and
 * call the park's unlock function (gopark), or free its stack and G (exit).
 * This is Go's mcall(park_m) without the detour through g0.
 *
 * Stacks are lazy: rg_go stores fn/arg in a G; the G gets a stack when it
 * first runs and gives it back when it exits (runtime/stack.c).
 *
 * Worker thread parking/unparking
 * -------------------------------
 * As in Go: we want enough running Ms to use the available Ps, and we want
 * to park Ms that have nothing to do, without a lost wake-up.  An M is
 * "spinning" while it holds a P and looks for work (global queue, stealing);
 * sched.nmspinning counts them and at most half as many Ms as busy Ps spin.
 * When work is queued where other Ps can take it (rg_go, a ring or the
 * global queue; see "Wake-ups into runnext" for goready) and there is an
 * idle P and no spinning M, wakep starts one (startm).  A spinning M that
 * finds work
 * stops spinning and, if it was the last spinner, calls wakep so that the
 * next piece of work finds a spinner too.  A spinning M that finds nothing
 * releases its P, decrements nmspinning and only then re-checks every run
 * queue and the global queue (the "delicate dance"): work submitted
 * concurrently either saw nmspinning > 0 and relied on us, and we see it in
 * the re-check, or saw 0 and started a new M itself.
 *
 * Wake-ups into runnext
 * ---------------------
 * goready puts the woken G in the waker's runnext and, unlike Go, does not
 * wake another M for it: the waker usually blocks right after (a channel
 * hand-off, an unlock), and its P then runs the G at once.  Waking an M
 * costs the waker a futex system call and a spinning M on the other CPU,
 * which here doubles the cost of a hand-off.  If the displaced runnext
 * went to the ring, there is work for others and wakep runs as usual; rg_go
 * always calls wakep.  A runnext G whose P does not switch for a few
 * microseconds counts as stalled (runnext_stalled): thieves take it, and
 * an M about to park re-checks for it.  sysmon wakes an M for a runnext
 * whose P did not switch for one of its rounds while Ps are idle, so that
 * a waker that computes or blocks in a system call does not hold the woken
 * G back for long (runtime/sysmon.c).
 *
 * Idle path and its seams
 * -----------------------
 * find_runnable is ordered: local queue (every 61st tick the global queue
 * first, for fairness; due timers run before), global queue, a
 * non-blocking poll of the P's poller, steal (4 passes over the other Ps
 * in the order numa/steal.h gives; runnext only on the last), then release
 * the P.  If the P has goroutines waiting for I/O or timers, the M sleeps
 * in its poller, the next timer bounding the sleep (the pollm: "The idle
 * M" in runtime/netpoll.c); otherwise it parks on its note.
 *
 * Timers and the global queue
 * ---------------------------
 * A P runs its due timers at every schedule (poll_local_maybe, and
 * find_runnable), and the goroutines they ready take its runnext, so a
 * sleeper runs right after the goroutine that was running when its timer
 * fell due, as in Go.  A goroutine that never calls into the runtime
 * would delay them until its time slice ends (runtime/preempt.c); sysmon
 * does not let it: for a P that has not switched for NP_STUCK_NS while a
 * timer is due, it wakes an idle P's M, which steals the timers
 * (steal_timers), or, when no P idles, preempts the goroutine at once
 * (sysmon_pollers), unlike Go, which waits for the slice to end.  sysmon
 * does not fire a running P's timers itself: what it readies has no P and
 * would go to the global queue, which a busy P reads once per 61
 * schedules.
 * Goroutines do reach the global queue from places with no P (plain
 * threads, sysmon's reaps, a P that cannot preempt its goroutine): for
 * them, a goroutine preempted at the end of its slice goes behind the
 * global queue (gopreempt, as Go's gopreempt_m), not to its P's ring, so
 * that what waits there is served within a slice per goroutine ahead of
 * it, whatever the local queues hold.
 *
 * What sysmon reads
 * -----------------
 * Each P's schedtick counts schedules that start a new time slice (a G
 * taken from runnext inherits its predecessor's slice and does not count);
 * syscalltick counts rg_syscall_enter calls.  As in Go, sysmon remembers the
 * value and when it first saw it: an unchanged schedtick means one G has
 * been running since then, without a clock read on the switch path.
 * mp->curg says which G an M runs.
 *
 * Shutdown
 * --------
 * When goroutine 1 returns, NEED_G0_STOP is raised and idle Ms are woken;
 * every M leaves at its next scheduling point and m0 (the thread that
 * called rg_main) joins the others and frees everything.  Goroutines still
 * alive are abandoned.  sysmon runs until every M has been joined, and
 * meanwhile preempts the goroutines Ms still run at each of its rounds
 * (not after a time slice), so that a goroutine that never calls into the
 * runtime does not keep rg_main from returning; one that cannot be
 * preempted (rg_preempt_disable, asynchronous preemption off, a loop
 * outside the program's own code) or that is blocked in a system call
 * does, and after a second sysmon says which on stderr.  When goroutine 1
 * calls rg_exit instead, the others run on; when the last one ends, the
 * M that parks last finds no goroutine left (checkdead) and stops the
 * runtime the same way.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringo.h"
#include "kernel_iface/kernel.h"
#include "runtime/affinity.h"
#include "runtime/env.h"
#include "runtime/exectrace.h"
#include "runtime/netpoll.h"
#include "runtime/preempt.h"
#include "runtime/runq.h"
#include "runtime/probes.h"
#include "runtime/ctx.h"
#include "runtime/runtime.h"
#include "runtime/san.h"
#include "runtime/sema.h"
#include "runtime/signal.h"
#include "runtime/dns.h"
#include "runtime/signotify.h"
#include "runtime/sysmon.h"
#include "runtime/time.h"

struct sched sched;
__thread struct m *tls_m __attribute__((tls_model("initial-exec")));

_Static_assert(CONFIG_MAXPROCS_DEFAULT >= 0 && CONFIG_MAXPROCS_DEFAULT <= MAXPROCS_LIMIT,
	       "Kconfig's MAXPROCS_DEFAULT range must not pass MAXPROCS_LIMIT");

static _Atomic int runtime_state; /* 0: stopped, 1: running */

/* The gdb script the library carries (runtime/gdb_scripts.S) goes into
 * every program that runs the scheduler. */
extern const char ringo_gdb_script_anchor[];
__attribute__((used)) static const char *const gdb_script_keep = ringo_gdb_script_anchor;

static void schedule(struct m *mp);
static void main_exit_locked(void);
static bool stopm(struct m *mp);
static void startm(struct p *pp, bool spinning);
static void checkdead(void);

int rg_version(void)
{
	return RINGO_VERSION;
}

/* --- misc ------------------------------------------------------------------ */

/* wyrand over *state. */
static uint32_t wyrand(uint64_t *state)
{
	uint64_t x = *state += 0xa0761d6478bd642full;
	__uint128_t t = (__uint128_t)x * (x ^ 0xe7037ed1a0b428dbull);

	return (uint32_t)((uint64_t)(t >> 64) ^ (uint64_t)t);
}

static uint32_t mrand(struct m *mp)
{
	return wyrand(&mp->fastrand);
}

uint32_t fastrand(void)
{
	static __thread uint64_t plain; /* a plain thread's state */
	struct m *mp = getm();

	if (mp)
		return mrand(mp);
	if (!plain)
		plain = (uint64_t)ki_nanotime() ^ ((uint64_t)ki_gettid() << 32);
	return wyrand(&plain);
}

_Noreturn static void throw_outside(const char *call)
{
	throw("%s called from a thread that is not running a goroutine", call);
}

/* --- P ----------------------------------------------------------------------- */

/* sched.lock held. */
static void pidleput(struct p *pp)
{
	assert_lock_held(&sched.lock);
	if (!runqempty(pp))
		throw("pidleput: P %d has a non-empty run queue", pp->id);
	store_relaxed(&pp->status, P_IDLE);
	pp->link = sched.pidle;
	sched.pidle = pp;
	atomic_fetch_add(&sched.npidle, 1);
}

/* sched.lock held. */
static struct p *pidleget(void)
{
	struct p *pp = sched.pidle;

	assert_lock_held(&sched.lock);
	if (pp) {
		sched.pidle = pp->link;
		atomic_fetch_sub(&sched.npidle, 1);
	}
	return pp;
}

/* Take pp off sched.pidle if it is there.  sched.lock held. */
static bool pidle_tryremove(struct p *pp)
{
	struct p **link;

	assert_lock_held(&sched.lock);
	for (link = &sched.pidle; *link; link = &(*link)->link) {
		if (*link == pp) {
			*link = pp->link;
			atomic_fetch_sub(&sched.npidle, 1);
			return true;
		}
	}
	return false;
}

/* Take pp, which must be idle, off sched.pidle.  sched.lock held. */
static void pidle_remove(struct p *pp)
{
	if (!pidle_tryremove(pp))
		throw("pidle_remove: P %d is not idle", pp->id);
}

/* The P startm handed to mp while mp was a pollm, or NULL; the spinning
 * state it was handed with becomes mp's (mp may have been spinning on its
 * own: then it was counted twice).  sched.lock held. */
static struct p *take_nextp(struct m *mp)
{
	struct p *pp = mp->nextp;

	assert_lock_held(&sched.lock);
	if (!pp)
		return NULL;
	mp->nextp = NULL;
	if (mp->nextspinning) {
		mp->nextspinning = false;
		if (mp->spinning)
			atomic_fetch_sub(&sched.nmspinning, 1);
		else
			WRITE_ONCE(mp->spinning, true);
	}
	return pp;
}

static void acquirep(struct m *mp, struct p *pp)
{
	if (mp->p || READ_ONCE(pp->m))
		throw("acquirep: M %ld or P %d already attached", (long)mp->id, pp->id);
	WRITE_ONCE(mp->p, pp);
	__atomic_store_n(&pp->m, mp, __ATOMIC_RELEASE); /* sysmon reads the M */
	store_relaxed(&pp->status, P_RUNNING);
	if (unlikely(sched.ppin))
		affinity_pin(mp, pp);
	sysmon_wake();
}

static struct p *releasep(struct m *mp)
{
	struct p *pp = mp->p;

	if (!pp || READ_ONCE(pp->m) != mp)
		throw("releasep: invalid P state");
	WRITE_ONCE(pp->m, NULL);
	WRITE_ONCE(mp->p, NULL);
	store_relaxed(&pp->status, P_IDLE);
	return pp;
}

static struct p *p_alloc(int32_t id)
{
	struct p *pp = affinity_p_alloc(id); /* zeroed, on its home node */

	if (!pp)
		return NULL;
	pp->id = id;
	store_relaxed(&pp->status, P_GCSTOP);
	runq_init(&pp->runq);
	timers_init(&pp->timers);
	return pp;
}

/* --- G ----------------------------------------------------------------------- */

/*
 * Free Gs.  Each P keeps a list of dead Gs; above GFREE_MAX it moves a chain
 * of GFREE_BATCH to the global free list, which is a stack of such chains
 * (linked through the chain head's gfreebatch), so that moving a chain in
 * either direction is O(1) and never walks Gs that are hot in another
 * CPU's cache.  The P's list takes no lock or atomic (only its owner
 * touches it), and the global list is reached once per GFREE_BATCH
 * goroutines, so per-CPU (rseq) lists there were measured and not kept:
 * Gs flow from the CPU where goroutines exit to the one where they are
 * spawned, which per-CPU lists turn into cross-CPU fences (bench/RESULTS.md).
 */
#define GFREE_MAX   64
#define GFREE_BATCH 32

/* Push the chain head..(n Gs) on the global free list. */
static void gfree_push_chain(struct g *head, int32_t n)
{
	head->gfreebatchn = n;
	lockr(&sched.gflock, LR_GFREE);
	head->gfreebatch = sched.gfree;
	sched.gfree = head;
	store_relaxed(&sched.ngfree, load_relaxed(&sched.ngfree) + n);
	unlockr(&sched.gflock, LR_GFREE);
}

static void gfput(struct p *pp, struct g *gp)
{
	gp->schedlink = pp->gfree;
	pp->gfree = gp;
	WRITE_ONCE(pp->gfreecnt, pp->gfreecnt + 1);
	if (unlikely(pp->gfreecnt >= GFREE_MAX)) {
		struct g *head = pp->gfree, *tail = head;
		int32_t n;

		for (n = 1; n < GFREE_BATCH; n++)
			tail = tail->schedlink;
		pp->gfree = tail->schedlink;
		tail->schedlink = NULL;
		WRITE_ONCE(pp->gfreecnt, pp->gfreecnt - GFREE_BATCH);
		gfree_push_chain(head, GFREE_BATCH);
	}
}

static struct g *gfget(struct p *pp)
{
	struct g *gp = pp->gfree;

	if (!gp) {
		if (load_relaxed(&sched.ngfree) == 0)
			return NULL;
		lockr(&sched.gflock, LR_GFREE);
		gp = sched.gfree;
		if (gp) {
			sched.gfree = gp->gfreebatch;
			store_relaxed(&sched.ngfree, load_relaxed(&sched.ngfree) - gp->gfreebatchn);
			WRITE_ONCE(pp->gfreecnt, gp->gfreebatchn);
		}
		unlockr(&sched.gflock, LR_GFREE);
		if (!gp)
			return NULL;
	}
	pp->gfree = gp->schedlink;
	WRITE_ONCE(pp->gfreecnt, pp->gfreecnt - 1);
	/* The next one will be initialised soon: start pulling it in. */
	if (pp->gfree)
		__builtin_prefetch(pp->gfree, 1);
	return gp;
}

/* Gs come in slabs: one allocation and one allglock round trip per GSLAB
 * goroutines, cache-line aligned so that two Gs never share a line. */
/* A new G for pp (NULL: out of memory).  pp may be NULL (start-up). */
static struct g *malg(struct p *pp)
{
	struct gslab *slab;
	struct g *gp;

	if (pp && pp->gslab_left > 0) {
		pp->gslab_left--;
		return pp->gslab_next++;
	}
	slab = rt_aligned_alloc(CACHELINE, sizeof(*slab));
	if (!slab)
		return NULL;
	memset(slab, 0, sizeof(*slab));
	lockr(&sched.allglock, LR_ALLG);
	slab->next = sched.gslabs;
	sched.gslabs = slab;
	unlockr(&sched.allglock, LR_ALLG);
	gp = &slab->gs[0];
	if (pp) {
		pp->gslab_next = &slab->gs[1];
		pp->gslab_left = GSLAB - 1;
	}
	return gp;
}

static uint64_t goid_next(struct p *pp)
{
	if (pp->goidcache == pp->goidcacheend) {
		pp->goidcache = atomic_fetch_add(&sched.goidgen, 16) + 1;
		pp->goidcacheend = pp->goidcache + 16;
	}
	return pp->goidcache++;
}

int32_t gcount(void)
{
	int32_t i, n = load_acquire(&sched.nprocs) ?
			       __atomic_load_n(&sched.nallp, __ATOMIC_ACQUIRE) :
			       0;
	int64_t live = 0;

	for (i = 0; i < n; i++) {
		struct p *pp = sched.allp[i];

		live += load_relaxed(&pp->gcreated) - load_relaxed(&pp->gexited);
	}
	return (int32_t)live;
}

/* --- switching ----------------------------------------------------------------- */

static _Noreturn void goexit1(bool goexit);

/* Perform what the context we switched away from left in mp->after. */
static void switch_done(void)
{
	struct m *mp = getm();
	struct after a = mp->after;
	struct p *pp = mp->p;
	struct stk *stk;

	if (a.op == AFTER_NONE)
		return;
	mp->after.op = AFTER_NONE;
	switch (a.op) {
	case AFTER_YIELD:
		casgstatus(a.gp, G_RUNNING, G_RUNNABLE);
		runqput(pp, a.gp, false);
		/* It waits in a ring now: an idle P may take it (a goroutine
		 * preempted while another P idles must not wait for this one). */
		wakep();
		break;
	case AFTER_YIELD_GLOBAL:
		if (metrics_sampled(a.gp->goid))
			a.gp->ext->tracked_ns = ki_nanotime();
		casgstatus(a.gp, G_RUNNING, G_RUNNABLE);
		lockr(&sched.lock, LR_SCHED);
		globrunqput(a.gp);
		unlockr(&sched.lock, LR_SCHED);
		/* An idle P may take it (a preempted goroutine, or one that
		 * found no P after a system call while a P idled since). */
		wakep();
		break;
	case AFTER_PARK:
		casgstatus(a.gp, G_RUNNING, G_WAITING);
		if (a.unlockf && !a.unlockf(a.gp, a.arg)) {
			casgstatus(a.gp, G_WAITING, G_RUNNABLE);
			runqput(pp, a.gp, true);
		}
		break;
	case AFTER_EXIT:
		stk = a.gp->ext->stack;
		san_fiber_destroy(a.gp->ext->tsan_fiber);
		WRITE_ONCE(a.gp->ext, NULL); /* the gext goes with the stack */
		stackfree(&pp->stackcache, stk);
		casgstatus(a.gp, G_RUNNING, G_DEAD);
		gfput(pp, a.gp);
		break;
	default:
		throw("switch_done: bad action %d", a.op);
	}
}

/* Switch from the running context from (a G or g0) to to. */
static inline void gogo(struct m *mp, struct g *from, struct g *to)
{
	bool exiting = mp->after.op == AFTER_EXIT;
	struct gext *fx = from->ext, *tx = to->ext;

	san_switch_begin(exiting ? NULL : &fx->asan_fake_stack, tx->stack->lo,
			 (size_t)(tx->hi - tx->stack->lo), tx->tsan_fiber);
	ctx_switch(&from->ctx, &to->ctx);
	san_switch_end(fx->asan_fake_stack);
	switch_done();
}

static _Noreturn void g_entry(void *arg)
{
	struct g *gp = arg;

	san_switch_end(NULL);
	switch_done();
	gp->fn(gp->arg);
	goexit1(false);
}

/* The README promises that a goroutine's record takes the top 128 bytes of
 * its stack. */
_Static_assert(sizeof(struct gext) <= 2 * CACHELINE, "struct gext must fit two cache lines");

/* Give gp a stack on its first run.  rg_go admitted the goroutine (see
 * "Admission" in runtime/stack.c): a slot is there for it. */
static void g_prepare(struct p *pp, struct g *gp)
{
	int err = -ENOMEM;
	struct stk *s = stackalloc(&pp->stackcache, &err);
	struct gext *x;

	if (!s)
		throw("cannot allocate a stack for goroutine %llu: %s",
		      (unsigned long long)gp->goid, strerror(-err));
	/* The gext sits at the top of the stack, cache-line aligned; the
	 * first frame starts below it. */
	x = (struct gext *)(((uintptr_t)s->hi - sizeof(*x)) & ~(uintptr_t)(CACHELINE - 1));
	*x = (struct gext){
		.stack = s,
		.hi = (char *)x,
		.tsan_fiber = san_fiber_create(),
	};
	ctx_init(&gp->ctx, x->hi, g_entry, gp);
	WRITE_ONCE(gp->ext, x);
}

/* Run gp on mp, switching from the context from.  Returns when from is
 * resumed.  inherit: gp came from runnext and keeps the time slice. */
static void execute(struct m *mp, struct g *from, struct g *gp, bool inherit)
{
	struct p *pp = mp->p;

	if (!inherit) {
		store_relaxed(&pp->schedtick, load_relaxed(&pp->schedtick) + 1);
		store_relaxed(&mp->preempt_req, 0); /* a new time slice */
		affinity_schedule(mp, &pp->stats);
	}
	store_relaxed(&pp->switchtick, load_relaxed(&pp->switchtick) + 1);
	if (unlikely(!gp->ext))
		g_prepare(pp, gp);
	gp->ext->lastnode = (int16_t)pp->home_node;
	if (metrics_sampled(gp->goid))
		metrics_run(&pp->metrics, gp->ext);
	casgstatus(gp, G_RUNNABLE, G_RUNNING);
	rg_probe(go_start, gp->goid, pp->id);
	store_relaxed(&mp->curg, gp);
	gogo(mp, from, gp);
}

/* The next G of pp without leaving the P: runnext, local ring, and every
 * 61st tick one G of the global queue first. */
static inline struct g *runq_next_local(struct p *pp, bool *inherit)
{
	if (unlikely(load_relaxed(&pp->schedtick) % 61 == 0) && load_relaxed(&sched.runqsize) > 0) {
		struct g *gp;

		lockr(&sched.lock, LR_SCHED);
		gp = globrunqget(pp, 1);
		unlockr(&sched.lock, LR_SCHED);
		if (gp) {
			*inherit = false;
			return gp;
		}
	}
	return runqget(pp, inherit);
}

/* At a schedule, while goroutines wait on pp's poller or timers are set:
 * reap completions (no system call where the backend can tell) and run
 * due timers.  Not while the leaving G holds a runtime lock across its
 * park (the poller's or a poll descriptor's). */
static noinline void poll_local(struct m *mp, struct p *pp)
{
	int64_t when = timers_next(&pp->timers);

	netpoll_poll_ready(mp, pp);
	if (when) {
		int64_t now = ki_nanotime();

		if (when <= now)
			run_timers(pp, now);
	}
}

static inline void poll_local_maybe(struct m *mp, struct p *pp)
{
	/* One branch for both: the common case is neither. */
	if (unlikely((int)netpoll_p_waiting(&pp->poll) | (int)(timers_next(&pp->timers) != 0)) &&
	    !mp->locks)
		poll_local(mp, pp);
}

/* The running G gp leaves (mp->after says why): switch to the next local
 * G, or to g0 for the slow path.  Returns when gp resumes. */
static void gleave(struct m *mp, struct g *gp)
{
	struct g *next = NULL;
	bool inherit = false;

	poll_local_maybe(mp, mp->p);
	/* Locked goroutines (see "Locked goroutines") only run through the
	 * slow path on g0. */
	if (likely(load_relaxed(&sched.need_g0) == 0) && likely(!load_relaxed(&sched.nlocked)))
		next = runq_next_local(mp->p, &inherit);
	if (next) {
		execute(mp, gp, next, inherit);
		return;
	}
	store_relaxed(&mp->curg, NULL);
	gogo(mp, gp, &mp->g0);
}

void *gopark(bool (*unlockf)(struct g *, void *), void *arg, const char *reason)
{
	struct m *mp = getm();
	struct g *gp = mp ? load_relaxed(&mp->curg) : NULL;

	if (!gp)
		throw("gopark: not on a goroutine");
	if (unlikely(!mp->p))
		throw("a goroutine parked between rg_syscall_enter and rg_syscall_exit");
	/* The count is the M's: a goroutine that parked inside a call in
	 * progress would leave it raised here and lower another M's.  A
	 * debug check, as the lock ranks: only the runtime's code brackets. */
	if (RG_DEBUG && unlikely(ki_incall))
		throw("gopark: parking inside a call in progress (ki_call_enter)");
	WRITE_ONCE(gp->ext->waitreason, reason);
	WRITE_ONCE(gp->ext->waitsince, sysmon_clock());
	gp->ext->param = NULL;
	if (metrics_sampled(gp->goid)) {
		gp->ext->tracked_ns = ki_nanotime();
		gp->ext->parkclass = (int8_t)metrics_park_class(reason);
	}
	rg_probe(go_park, gp->goid, reason);
	mp->after = (struct after){ AFTER_PARK, gp, unlockf, arg };
	gleave(mp, gp);
	return gp->ext->param;
}

void goready(struct g *gp, void *param)
{
	struct m *mp = getm();
	struct p *pp = mp ? mp->p : NULL;

	if (load_relaxed(&gp->status) != G_WAITING)
		throw("goready: goroutine %llu is not waiting", (unsigned long long)gp->goid);
	gp->ext->param = param;
	if (metrics_sampled(gp->goid))
		metrics_ready(pp ? &pp->metrics : NULL, gp->ext);
	store_relaxed(&gp->status, G_RUNNABLE);
	if (pp) {
		rg_probe(go_ready, gp->goid, pp->id);
		affinity_count_wake(&pp->stats, gp->ext->lastnode == pp->home_node);
		/* See "Wake-ups into runnext": no wakep unless the ring got
		 * work too. */
		if (runqput_next(pp, gp))
			wakep();
		return;
	}
	/* A plain thread (or an M without a P): no M of ours will look at the
	 * global queue unless one is running or woken.  The fence orders the
	 * queue update before wakep's look at nmspinning; a spinning M
	 * re-checks the global queue after it stops spinning (see
	 * find_runnable), so one side sees the other. */
	rg_probe(go_ready, gp->goid, -1);
	lockr(&sched.lock, LR_SCHED);
	globrunqput(gp);
	unlockr(&sched.lock, LR_SCHED);
	atomic_thread_fence(memory_order_seq_cst);
	wakep();
}

void rg_yield(void)
{
	struct m *mp = rt_enter();
	struct g *gp = mp ? load_relaxed(&mp->curg) : NULL;

	if (unlikely(!gp))
		throw_outside("rg_yield");
	poll_local_maybe(mp, mp->p);
	if (unlikely(load_relaxed(&sched.nlocked))) {
		/* The slow path: see "Locked goroutines". */
		mp->after = (struct after){ AFTER_YIELD, gp, NULL, NULL };
		store_relaxed(&mp->curg, NULL);
		gogo(mp, gp, &mp->g0);
		return;
	}
	if (likely(load_relaxed(&sched.need_g0) == 0)) {
		bool inherit;
		struct g *next = runq_next_local(mp->p, &inherit);

		if (next) {
			mp->after = (struct after){ AFTER_YIELD, gp, NULL, NULL };
			execute(mp, gp, next, inherit);
			return;
		}
		/* Nothing local: only the global queue can hold others. */
		if (load_relaxed(&sched.runqsize) == 0)
			return;
	}
	/* As Go's Gosched: behind the goroutines of the global queue, so
	 * that they run before this one again. */
	mp->after = (struct after){ AFTER_YIELD_GLOBAL, gp, NULL, NULL };
	store_relaxed(&mp->curg, NULL);
	gogo(mp, gp, &mp->g0);
}

void gopreempt(void)
{
	struct m *mp = getm();
	struct g *gp = load_relaxed(&mp->curg);

	/* Due timers first: the goroutines they ready take runnext, and run
	 * next (see "Timers and the global queue"), ahead of the global queue
	 * even on a 61st tick: gp goes there, and nothing else waits behind
	 * it for a whole slice. */
	poll_local_maybe(mp, mp->p);
	rg_probe(go_preempt, gp->goid, mp->p->id);
	metrics_count_preempt(&mp->p->metrics);
	mp->after = (struct after){ AFTER_YIELD_GLOBAL, gp, NULL, NULL };
	if (likely(load_relaxed(&sched.need_g0) == 0) && likely(!load_relaxed(&sched.nlocked))) {
		bool inherit;
		struct g *next = runqget(mp->p, &inherit);

		if (next) {
			execute(mp, gp, next, false); /* a new slice */
			return;
		}
	}
	store_relaxed(&mp->curg, NULL);
	gogo(mp, gp, &mp->g0);
}

static void main_exit(void);

/* The running goroutine ends: it returned (goexit false) or called rg_exit. */
static _Noreturn void goexit1(bool goexit)
{
	struct m *mp;
	struct g *gp;
	struct p *pp;

	mp = rt_enter();
	gp = load_relaxed(&mp->curg);
	pp = mp->p;

	store_relaxed(&pp->gexited, load_relaxed(&pp->gexited) + 1);
	rg_probe(go_exit, gp->goid);
	/* Goroutine 1 returning ends the program; calling rg_exit, it lets
	 * the others run to their end (see "Shutdown"). */
	if (gp->goid == 1 && !goexit)
		main_exit();
	else if (gp->goid == 1)
		atomic_store(&sched.main_goexit, true);
	if (unlikely(gp->ext->afters))
		timer_goexit(gp);
	if (unlikely(gp->ext->ctxa))
		ctx_goexit(gp);
	mp->after = (struct after){ AFTER_EXIT, gp, NULL, NULL };
	if (unlikely(gp->ext->lockcount)) {
		/* Exiting locked: its thread goes with it (find_runnable). */
		gp->ext->lockcount = 0;
		gp->ext->lockedm = NULL;
		mp->lockedg = NULL;
		atomic_fetch_sub(&sched.nlocked, 1);
		mp->retired = !mp->is_m0; /* the caller's thread stays the caller's */
		store_relaxed(&mp->curg, NULL);
		gogo(mp, gp, &mp->g0);
	} else {
		gleave(mp, gp);
	}
	throw("goexit: a dead goroutine was resumed");
}

_Noreturn void rg_exit(void)
{
	if (!getg())
		throw_outside("rg_exit");
	goexit1(true);
}

/* A new goroutine running fn(arg) on pp's run queue, made where pc
 * called; parent: the creating goroutine's id (0: the runtime's). */
static int newproc(struct p *pp, void (*fn)(void *), void *arg, uintptr_t pc, uint64_t parent)
{
	struct g *newg;
	int r;

	if (unlikely(stack_guard_limit()) && gcount() >= stack_guard_limit()) {
		static _Atomic bool warned;

		if (!atomic_exchange(&warned, true)) {
			ki_call_enter(); /* stderr's lock */
			fprintf(stderr,
				"ringo: rg_go: no more guarded stacks: without MADV_GUARD_INSTALL "
				"(Linux 6.13+) each guard page costs two memory maps, so "
				"vm.max_map_count=%ld allows about %lld goroutines\n",
				ki_max_map_count(), (long long)stack_guard_limit());
			ki_call_exit();
		}
		return -EAGAIN;
	}
	/* Its stack is taken when it first runs, but the slot is reserved
	 * now ("Admission" in runtime/stack.c). */
	r = stack_admit(&pp->stackcache);
	if (unlikely(r))
		return r;
	newg = gfget(pp);
	if (!newg) {
		newg = malg(pp);
		if (!newg) {
			stack_unadmit(&pp->stackcache);
			return -ENOMEM;
		}
	}
	newg->fn = fn;
	newg->arg = arg;
	WRITE_ONCE(newg->gopc, pc);
	WRITE_ONCE(newg->goid, goid_next(pp));
	store_relaxed(&newg->status, G_RUNNABLE);
	rg_probe(go_create, newg->goid, newg->fn, parent);
	store_relaxed(&pp->gcreated, load_relaxed(&pp->gcreated) + 1);
	runqput(pp, newg, true);
	wakep();
	return 0;
}

int rg_go(void (*fn)(void *), void *arg)
{
	struct m *mp = rt_enter();
	struct g *gp = mp ? load_relaxed(&mp->curg) : NULL;
	int r;

	if (unlikely(!gp))
		return -EPERM;
	if (unlikely(!fn))
		return -EINVAL;
	r = newproc(mp->p, fn, arg, (uintptr_t)__builtin_return_address(0), gp->goid);
	if (r == 0)
		preempt_check();
	return r;
}

int go_from_p(void (*fn)(void *), void *arg)
{
	struct m *mp = getm();

	if (!mp || !mp->p)
		return -EPERM;
	return newproc(mp->p, fn, arg, (uintptr_t)fn, 0);
}

void rg_lock_os_thread(void)
{
	struct m *mp = rt_enter();
	struct g *gp = mp ? load_relaxed(&mp->curg) : NULL;

	if (!gp)
		return; /* a plain thread is its own thread already */
	if (gp->ext->lockcount++ == 0) {
		gp->ext->lockedm = mp;
		mp->lockedg = gp;
		atomic_fetch_add(&sched.nlocked, 1);
	}
}

void rg_unlock_os_thread(void)
{
	struct m *mp = rt_enter();
	struct g *gp = mp ? load_relaxed(&mp->curg) : NULL;

	if (!gp || gp->ext->lockcount == 0)
		return; /* as Go's: unlocking an unlocked goroutine does nothing */
	if (--gp->ext->lockcount == 0) {
		gp->ext->lockedm = NULL;
		mp->lockedg = NULL;
		atomic_fetch_sub(&sched.nlocked, 1);
	}
}

uint64_t rg_goid(void)
{
	struct g *gp = getg();

	return gp ? gp->goid : 0;
}

int rg_num_goroutine(void)
{
	return load_acquire(&runtime_state) ? gcount() : 0;
}

/* --- system calls ---------------------------------------------------------------- */

/*
 * A goroutine enters a system call that may block (Go's entersyscall).
 * The P is released cheaply: it stays attached in name (mp->oldp) with
 * status P_SYSCALL, and the M keeps running the goroutine without it.  If
 * the call returns soon, rg_syscall_exit takes the P back with one CAS.
 * If it blocks while the P has work, sysmon retakes the P (retake in
 * runtime/sysmon.c: CAS P_SYSCALL -> P_IDLE) and hands it to another M
 * (handoffp).  Thieves may steal from a P in a system call meanwhile.
 */
/* Also called from the SIGURG handler (preempt.c), hence no ASan/UBSan
 * instrumentation; ThreadSanitizer's stays, and must: the store of P_SYSCALL
 * is the release that sysmon's retake acquires (the handler's path is off
 * under ThreadSanitizer). */
__attribute__((no_sanitize("address", "undefined"))) void entersyscall(struct m *mp, struct p *pp)
{
	struct g *gp = load_relaxed(&mp->curg);

	rg_probe(syscall_block, gp ? gp->goid : 0, pp->id);
	store_relaxed(&pp->syscalltick, load_relaxed(&pp->syscalltick) + 1);
	mp->oldp = pp;
	WRITE_ONCE(pp->m, NULL);
	WRITE_ONCE(mp->p, NULL);
	atomic_store(&pp->status, P_SYSCALL);
}

void rg_syscall_enter(void)
{
	struct m *mp;
	struct g *gp;
	struct p *pp;

	mp = rt_enter();
	gp = mp ? load_relaxed(&mp->curg) : NULL;

	if (!gp)
		return; /* a plain thread: nothing to release */
	pp = mp->p;
	if (unlikely(!pp))
		throw("rg_syscall_enter: already in a system call (nested rg_syscall_enter)");
	if (unlikely(mp->locks))
		throw("rg_syscall_enter: called with runtime locks held");
	entersyscall(mp, pp);
	/* Work waits behind this call: make sure sysmon looks soon. */
	if (!runqempty(pp))
		sysmon_kick();
}

/* Back from the call: take an idle P (oldp first), or queue the goroutine
 * on the global queue and park the M (its g0 sees it has no P). */
static void exitsyscall_slow(struct m *mp, struct p *oldp)
{
	struct g *gp;
	struct p *pp = NULL;

	lockr(&sched.lock, LR_SCHED);
	if (pidle_tryremove(oldp))
		pp = oldp;
	if (!pp)
		pp = pidleget();
	if (pp)
		pollm_release(pp);
	unlockr(&sched.lock, LR_SCHED);
	gp = load_relaxed(&mp->curg);
	if (pp) {
		acquirep(mp, pp);
		/* It runs on an idle P now: a start, for the trace. */
		rg_probe(go_start, gp->goid, pp->id);
		return;
	}
	mp->after = (struct after){ AFTER_YIELD_GLOBAL, gp, NULL, NULL };
	store_relaxed(&mp->curg, NULL);
	gogo(mp, gp, &mp->g0);
}

void rg_syscall_exit(void)
{
	struct m *mp = getm();
	struct g *gp = mp ? load_relaxed(&mp->curg) : NULL;
	uint32_t st = P_SYSCALL;
	struct p *pp;

	if (!gp)
		return;
	pp = mp->oldp;
	if (unlikely(!pp))
		throw("rg_syscall_exit: not in a system call (no rg_syscall_enter)");
	mp->oldp = NULL;
	rg_probe(syscall_unblock, gp->goid, pp->id, load_relaxed(&pp->status) == P_SYSCALL);
	if (likely(atomic_compare_exchange_strong(&pp->status, &st, P_RUNNING))) {
		/* Nobody took it: ours again. */
		WRITE_ONCE(mp->p, pp);
		__atomic_store_n(&pp->m, mp, __ATOMIC_RELEASE);
		preempt_check();
		return;
	}
	exitsyscall_slow(mp, pp);
}

void exitsyscall_implicit(struct m *mp)
{
	mp->syscall_implicit = false;
	rg_syscall_exit();
}

int64_t rg_blocking(int64_t (*fn)(void *arg), void *arg)
{
	int64_t r;

	if (!fn)
		return -EINVAL;
	rg_syscall_enter();
	r = fn(arg);
	rg_syscall_exit();
	return r;
}

/* Give pp, taken from an M blocked in a system call (or from stop-the-
 * world's way), to whoever should run it: an M if it has work or nobody
 * looks for work, else the idle list.  pp is P_IDLE and unowned. */
void handoffp(struct p *pp)
{
	int32_t zero = 0;

	if (!runqempty(pp) || load_relaxed(&sched.runqsize) || netpoll_p_busy(pp)) {
		startm(pp, false);
		return;
	}
	if (load_relaxed(&sched.nmspinning) + load_relaxed(&sched.npidle) == 0 &&
	    cas(&sched.nmspinning, &zero, 1)) {
		startm(pp, true);
		return;
	}
	lockr(&sched.lock, LR_SCHED);
	if (sched.need_g0 & NEED_G0_STW) {
		store_relaxed(&pp->status, P_GCSTOP);
		if (--sched.stopwait == 0)
			notewakeup(&sched.stopnote);
		unlockr(&sched.lock, LR_SCHED);
		return;
	}
	if (sched.runqsize) {
		unlockr(&sched.lock, LR_SCHED);
		startm(pp, false);
		return;
	}
	pidleput(pp);
	unlockr(&sched.lock, LR_SCHED);
}

/* --- M ------------------------------------------------------------------------- */

/* sched.lock held. */
static void mput(struct m *mp)
{
	assert_lock_held(&sched.lock);
	mp->schedlink = sched.midle;
	sched.midle = mp;
	sched.nmidle++;
}

/* sched.lock held. */
static struct m *mget(void)
{
	struct m *mp = sched.midle;

	assert_lock_held(&sched.lock);
	if (mp) {
		sched.midle = mp->schedlink;
		sched.nmidle--;
	}
	return mp;
}

/* Per-thread set-up of an M, on that thread. */
static void minit(struct m *mp)
{
	void *lo;
	size_t size;

	tls_m = mp;
	mp->tid = ki_gettid();
	mp->fastrand = (uint64_t)ki_nanotime() ^ ((uint64_t)mp->id << 32);
	if (ki_thread_stack(&lo, &size))
		lo = NULL, size = 0;
	mp->g0stack.lo = lo;
	mp->g0stack.hi = (char *)lo + size;
	mp->g0ext.stack = &mp->g0stack;
	mp->g0ext.hi = mp->g0stack.hi;
	mp->g0ext.tsan_fiber = san_fiber_current();
	mp->g0.ext = &mp->g0ext;
	store_relaxed(&mp->g0.status, G_RUNNING);
	if (signal_minit(mp))
		throw("cannot set up the signal stack of M %ld", (long)mp->id);
	affinity_minit(mp);
}

static void *mstart(void *arg)
{
	struct m *mp = arg;
	struct p *pp;

	minit(mp);
	rg_probe(m_start, mp->id);
	lockr(&sched.lock, LR_SCHED);
	pp = mp->nextp;
	mp->nextp = NULL;
	unlockr(&sched.lock, LR_SCHED);
	if (pp) {
		acquirep(mp, pp);
		schedule(mp);
	}
	signal_unminit(mp);
	affinity_mexit(mp);
	tls_m = NULL;
	return NULL;
}

/* A zeroed M (struct m is cache-line aligned, so its size is a multiple
 * of the line), or NULL. */
static struct m *m_alloc(void)
{
	struct m *mp = rt_aligned_alloc(_Alignof(struct m), sizeof(struct m));

	if (mp)
		memset(mp, 0, sizeof(*mp));
	return mp;
}

/* Create an M (an OS thread) that starts with pp.  Its id and mcount were
 * reserved under sched.lock by the caller. */
static void newm(struct p *pp, bool spinning, int64_t id)
{
	struct m *mp = m_alloc();
	char name[16];
	int r;

	if (!mp)
		throw("newm: out of memory");
	mp->id = id;
	WRITE_ONCE(mp->spinning, spinning);
	mp->nextp = pp;
	snprintf(name, sizeof(name), "ringo-m%ld", (long)id);
	r = ki_thread_create(&mp->thread, mstart, mp, 0, name);
	if (r)
		throw("newm: cannot create an OS thread (M%ld): %s", (long)id, strerror(-r));
	/* Published once mp->thread is set: teardown joins every M in allm,
	 * and waits until allm holds all mcount of them. */
	lockr(&sched.lock, LR_SCHED);
	mp->alllink = sched.allm;
	sched.allm = mp;
	unlockr(&sched.lock, LR_SCHED);
}

/* Park mp until startm hands it a P (true) or the runtime stops (false). */
/*
 * Sleep on mp->park until a P is handed over (mp->nextp, taken and
 * returned) or the runtime stops (NULL).  sched.lock held; released while
 * asleep.  Every hand-over sets nextp under sched.lock before its
 * notewakeup, but the notewakeup may come late: startlockedm's finds a
 * locked M that saw nextp without sleeping and has gone back to sleep
 * since.  So a wake-up alone means nothing: the loop looks at nextp.
 */
static struct p *park_for_nextp(struct m *mp)
{
	struct p *pp;

	assert_lock_held(&sched.lock);
	while (!(pp = mp->nextp) && !sched.stopping) {
		noteclear(&mp->park);
		/* Debug builds wake every 8th sleep at once, as a late
		 * notewakeup would: the loop must take it in its stride. */
		if (RG_DEBUG && (++mp->debug_parks & 7) == 0)
			notewakeup(&mp->park);
		unlockr(&sched.lock, LR_SCHED);
		notesleep(&mp->park);
		lockr(&sched.lock, LR_SCHED);
	}
	mp->nextp = NULL;
	return pp;
}

static bool stopm(struct m *mp)
{
	struct p *pp;

	if (mp->p)
		throw("stopm: holding a P");
	stack_release_pending(); /* idle time: give pages back (runtime/stack.c) */
	lockr(&sched.lock, LR_SCHED);
	if (sched.stopping) {
		unlockr(&sched.lock, LR_SCHED);
		return false;
	}
	if (mp->nextp) {
		/* startm handed us a P while we were its pollm (netpoll.c). */
		pp = take_nextp(mp);
		unlockr(&sched.lock, LR_SCHED);
		acquirep(mp, pp);
		return true;
	}
	mput(mp);
	checkdead();
	rg_probe(m_park, mp->id);
	pp = park_for_nextp(mp);
	rg_probe(m_wake, mp->id);
	unlockr(&sched.lock, LR_SCHED);
	if (!pp)
		return false;
	acquirep(mp, pp);
	return true;
}

/*
 * Start an M to run pp (or an idle P if pp is NULL).  spinning: the caller
 * already counted the new M in nmspinning (wakep).
 */
static void startm(struct p *pp, bool spinning)
{
	struct m *nmp;
	int64_t id;

	lockr(&sched.lock, LR_SCHED);
	if (sched.stopping)
		goto out_undo;
	if (!pp) {
		pp = pidleget();
		if (!pp)
			goto out_undo;
	}
	nmp = pollm_unbind(pp);
	if (nmp) {
		/* The M waiting in pp's poller takes pp (see runtime/netpoll.c). */
		nmp->nextspinning = spinning; /* it may still be running: see take_nextp */
		WRITE_ONCE(nmp->nextp, pp);
		unlockr(&sched.lock, LR_SCHED);
		netpoll_wakeup(pp);
		return;
	}
	nmp = mget_near(pp);
	if (!nmp) {
		if (sched.mcount - sched.nmretiring >= sched.maxmcount) {
			unlockr(&sched.lock, LR_SCHED);
			throw("thread exhaustion: the program needs more than %d threads "
			      "(goroutines blocked in system calls; rg_config.max_threads, "
			      "RINGO_DEBUG=maxthreads=N)",
			      sched.maxmcount);
		}
		id = sched.mnext++;
		sched.mcount++;
		unlockr(&sched.lock, LR_SCHED);
		newm(pp, spinning, id);
		return;
	}
	WRITE_ONCE(nmp->spinning, spinning);
	nmp->nextp = pp;
	unlockr(&sched.lock, LR_SCHED);
	notewakeup(&nmp->park);
	return;
out_undo:
	unlockr(&sched.lock, LR_SCHED);
	if (spinning)
		atomic_fetch_sub(&sched.nmspinning, 1);
}

void wakep(void)
{
	int32_t zero = 0;
	struct m *mp;
	struct p *pp;

	if (load_relaxed(&sched.npidle) == 0)
		return;
	if (load_relaxed(&sched.nmspinning) != 0 || !cas(&sched.nmspinning, &zero, 1))
		return;
	mp = getm();
	pp = mp ? mp->p : NULL;
	if (pp)
		store_relaxed(&pp->waking, 1);
	startm(NULL, true);
	if (pp)
		store_relaxed(&pp->waking, 0);
}

/* mp stops spinning without looking for a successor (it gives its P
 * away). */
static void dropspinning(struct m *mp)
{
	if (mp->spinning) {
		WRITE_ONCE(mp->spinning, false);
		atomic_fetch_sub(&sched.nmspinning, 1);
	}
}

static void resetspinning(struct m *mp)
{
	WRITE_ONCE(mp->spinning, false);
	if (atomic_fetch_sub(&sched.nmspinning, 1) <= 0)
		throw("resetspinning: negative nmspinning");
	wakep();
}

/* --- stop the world ------------------------------------------------------------------ */

/* The M holding a P saw NEED_G0_STW: give the P to the stopper and park. */
static void gcstopm(struct m *mp)
{
	struct p *pp;

	dropspinning(mp);
	pp = releasep(mp);
	lockr(&sched.lock, LR_SCHED);
	store_relaxed(&pp->status, P_GCSTOP);
	if (--sched.stopwait == 0)
		notewakeup(&sched.stopnote);
	unlockr(&sched.lock, LR_SCHED);
	stopm(mp);
}

/* Make allp[0..n) the Ps in use; sched.lock held, world stopped.  Returns
 * the Ps that have work (linked through ->link), mp's own excluded. */
static struct p *procresize(struct m *mp, int32_t n)
{
	int32_t old = load_relaxed(&sched.nprocs), i;
	struct p *runnable = NULL;

	assert_lock_held(&sched.lock);
	for (i = sched.nallp; i < n; i++) {
		int r;

		sched.allp[i] = p_alloc(i);
		if (!sched.allp[i])
			throw("procresize: out of memory");
		r = netpoll_p_init(sched.allp[i]);
		if (r)
			throw("procresize: cannot create the poller of P %d: %s", i, strerror(-r));
		__atomic_store_n(&sched.nallp, i + 1, __ATOMIC_RELEASE); /* allp[i] first */
	}
	for (i = n; i < old; i++) {
		struct p *pp = sched.allp[i];
		struct g *gp;
		bool inherit;

		while ((gp = runqget(pp, &inherit)) != NULL)
			globrunqput(gp);
		if (pp->gfree)
			gfree_push_chain(pp->gfree, pp->gfreecnt);
		pp->gfree = NULL;
		WRITE_ONCE(pp->gfreecnt, 0);
		stackcache_flush(&pp->stackcache);
		/* Its poller stays: sysmon reaps what is still in flight.  Its
		 * timers were moved by start_the_world. */
		store_relaxed(&pp->status, P_DEAD);
	}
	if (mp->p && mp->p->id >= n) {
		WRITE_ONCE(mp->p->m, NULL);
		WRITE_ONCE(mp->p, NULL);
	}
	if (!mp->p)
		acquirep(mp, sched.allp[0]);
	else
		store_relaxed(&mp->p->status, P_RUNNING);
	sched.pidle = NULL;
	store_relaxed(&sched.npidle, 0);
	if (affinity_steal_order(n))
		throw("procresize: bad steal order for %d Ps", n);
	store_release(&sched.nprocs, n);
	for (i = n - 1; i >= 0; i--) {
		struct p *pp = sched.allp[i];

		if (pp == mp->p)
			continue;
		if (runqempty(pp) && !netpoll_p_busy(pp)) {
			pidleput(pp);
		} else {
			store_relaxed(&pp->status, P_IDLE);
			pp->link = runnable;
			runnable = pp;
		}
	}
	return runnable;
}

/* Stop every other P at its next scheduling point.  Called by a goroutine;
 * returns false if the runtime is shutting down instead. */
static bool stop_the_world(struct m *mp)
{
	struct p *pp;
	bool wait;
	int32_t i;

	lockr(&sched.lock, LR_SCHED);
	if (sched.stopping) {
		unlockr(&sched.lock, LR_SCHED);
		return false;
	}
	sched.stopwait = load_relaxed(&sched.nprocs) - 1;
	atomic_fetch_or(&sched.need_g0, NEED_G0_STW);
	store_relaxed(&mp->p->status, P_GCSTOP);
	while ((pp = pidleget()) != NULL) {
		pollm_release(pp);
		store_relaxed(&pp->status, P_GCSTOP);
		sched.stopwait--;
	}
	/* Ps whose M is in a system call: stopped now (their M finds out in
	 * rg_syscall_exit). */
	for (i = 0; i < load_relaxed(&sched.nprocs); i++) {
		uint32_t st = P_SYSCALL;

		if (atomic_compare_exchange_strong(&sched.allp[i]->status, &st, P_GCSTOP))
			sched.stopwait--;
	}
	noteclear(&sched.stopnote);
	wait = sched.stopwait > 0;
	unlockr(&sched.lock, LR_SCHED);
	if (wait)
		notesleep(&sched.stopnote);
	lockr(&sched.lock, LR_SCHED);
	wait = sched.stopping;
	unlockr(&sched.lock, LR_SCHED);
	return !wait;
}

static void start_the_world(struct m *mp, int32_t n)
{
	struct p *runnable, *pp;
	int32_t i;

	/* Timers of Ps about to go: to P 0 (their timers lock ranks below
	 * sched.lock; nobody else runs those Ps now). */
	for (i = n; i < load_relaxed(&sched.nprocs); i++)
		timers_move(sched.allp[i], sched.allp[0]);
	lockr(&sched.lock, LR_SCHED);
	runnable = procresize(mp, n);
	atomic_fetch_and(&sched.need_g0, ~NEED_G0_STW);
	unlockr(&sched.lock, LR_SCHED);
	while ((pp = runnable) != NULL) {
		runnable = pp->link;
		startm(pp, false);
	}
	wakep();
}

int rg_gomaxprocs(int n)
{
	struct m *mp = rt_enter();
	int old;

	if (!mp || !load_relaxed(&mp->curg))
		return -EPERM;
	old = load_relaxed(&sched.nprocs);
	if (n <= 0 || n == old)
		return old;
	if (n > MAXPROCS_LIMIT)
		n = MAXPROCS_LIMIT;
	if (!stop_the_world(mp))
		return old;
	mp = getm(); /* the stopper blocked its thread, but did not switch: same M */
	start_the_world(mp, n);
	return old;
}

/* --- find work ---------------------------------------------------------------------- */

/* Run p2's due timers (its M may be busy, or it is idle); true with *gpp
 * set if that made a G runnable here. */
static bool steal_timers(struct p *pp, struct p *p2, struct g **gpp)
{
	int64_t when = timers_next(&p2->timers), now;
	bool inherit;

	if (!when || when > (now = ki_nanotime()) || run_timers(p2, now) == 0)
		return false;
	*gpp = runqget(pp, &inherit);
	return *gpp != NULL;
}

static struct g *stealwork(struct m *mp, struct p *pp)
{
	int32_t procs = load_relaxed(&sched.nprocs);
	int i;

	for (i = 0; i < 4; i++) {
		bool last = i == 3;
		struct steal_iter it;

		for (steal_iter_start(&sched.steal, pp->id, mrand(mp), &it); !steal_iter_done(&it);
		     steal_iter_next(&it)) {
			struct p *p2;
			struct g *gp;
			uint32_t before;

			if (load_relaxed(&sched.need_g0))
				return NULL;
			p2 = sched.allp[steal_iter_p(&it)];
			if (p2 == pp || (int32_t)steal_iter_p(&it) >= procs)
				continue;
			if (last && steal_timers(pp, p2, &gp))
				return gp;
			if (load_relaxed(&p2->status) == P_IDLE)
				continue;
			before = runqlen(pp);
			gp = runqsteal(pp, p2, last);
			if (gp) {
				rg_probe(steal, pp->id, p2->id, 1 + runqlen(pp) - before,
					 steal_iter_class(&it));
				affinity_count_steal(pp, steal_iter_class(&it),
						     1 + runqlen(pp) - before);
				return gp;
			}
		}
	}
	return NULL;
}

#define TIMER_SPIN_NS 30000 /* below an idle M's wake-up latency */

/* Spin until pp's next timer if it is due within TIMER_SPIN_NS, unless
 * other work shows up; true if it spun (the caller looks again).  Not for
 * a dense heap, whose timers wait to be fired together (runtime/time.h). */
static bool timer_due_soon(struct p *pp)
{
	int64_t when = timers_next(&pp->timers), now;

	if (!when || timers_dense(&pp->timers) || when - (now = ki_nanotime()) > TIMER_SPIN_NS)
		return false;
	while (now < when && runqempty(pp) && !load_relaxed(&sched.runqsize) &&
	       !load_relaxed(&sched.need_g0)) {
		cpu_relax();
		now = ki_nanotime();
	}
	return true;
}

/* Find a G to run, parking the M when there is none.  On g0, with a P.
 * Returns NULL only when the runtime stops. */
static struct g *find_runnable(struct m *mp, bool *inherit)
{
	struct p *pp, *idlep;
	struct g *gp;
	uint32_t need;
	int32_t procs, i;

top:
	if (unlikely(!mp->p) && !stopm(mp)) /* exitsyscall_slow found no P */
		return NULL;
	pp = mp->p;
	*inherit = false;
	need = load_relaxed(&sched.need_g0);
	if (unlikely(need)) {
		if (need & NEED_G0_STOP)
			return NULL;
		gcstopm(mp);
		if (!mp->p)
			return NULL;
		goto top;
	}
	/* Requests of goroutines that parked here go to the kernel before
	 * anything else runs: at once if this P has work, else when this M
	 * finds other work or, merged with its wait, when it sleeps in pp's
	 * poller (netpoll_sleep). */
	if (!runqempty(pp))
		netpoll_flush(pp);
	if (timers_next(&pp->timers))
		run_timers(pp, ki_nanotime());
	gp = runq_next_local(pp, inherit);
	if (gp) {
		netpoll_flush(pp);
		return gp;
	}
	if (load_relaxed(&sched.runqsize)) {
		lockr(&sched.lock, LR_SCHED);
		gp = globrunqget(pp, 0);
		unlockr(&sched.lock, LR_SCHED);
		if (gp) {
			netpoll_flush(pp);
			return gp;
		}
	}
	/* A non-blocking poll of this P's poller. */
	if (netpoll_p_waiting(&pp->poll) && netpoll_poll(mp, pp, true) > 0)
		goto top;
	procs = load_relaxed(&sched.nprocs);
	if (mp->spinning ||
	    2 * load_relaxed(&sched.nmspinning) < procs - load_relaxed(&sched.npidle)) {
		if (!mp->spinning) {
			WRITE_ONCE(mp->spinning, true);
			atomic_fetch_add(&sched.nmspinning, 1);
		}
		gp = stealwork(mp, pp);
		if (gp) {
			netpoll_flush(pp);
			return gp;
		}
		if (load_relaxed(&sched.need_g0))
			goto top;
	}
	/* A timer of this P falls due sooner than an idle M could be woken
	 * for it (tens of microseconds here): wait for it on the CPU. */
	if (timer_due_soon(pp))
		goto top;
	lockr(&sched.lock, LR_SCHED);
	if (sched.need_g0) {
		unlockr(&sched.lock, LR_SCHED);
		goto top;
	}
	if (sched.runqsize) {
		gp = globrunqget(pp, 0);
		unlockr(&sched.lock, LR_SCHED);
		netpoll_flush(pp);
		return gp;
	}
	releasep(mp);
	pidleput(pp);
	/* Goroutines wait on pp's poller or timers: wait in it. */
	pollm_bind(mp, pp);
	unlockr(&sched.lock, LR_SCHED);
	/* Not pp's pollm: its prepared requests go in now (an idle P's
	 * poller is anyone's to flush, under its lock). */
	idlep = pp;
	if (pollm_p(mp) != pp)
		netpoll_flush(pp);

	/* The delicate dance: see "Worker thread parking/unparking". */
	if (mp->spinning) {
		WRITE_ONCE(mp->spinning, false);
		if (atomic_fetch_sub(&sched.nmspinning, 1) <= 0)
			throw("find_runnable: negative nmspinning");
		for (i = 0; i <= procs; i++) {
			/* i == procs: the global queue, which plain threads fill.
			 * A runnext G counts only if its P left it waiting. */
			if (i < procs ?
				    runqlen(sched.allp[i]) == 0 && !runnext_stalled(sched.allp[i]) :
				    !atomic_load(&sched.runqsize))
				continue;
			lockr(&sched.lock, LR_SCHED);
			pp = take_nextp(mp); /* handed to us as a pollm meanwhile */
			if (!pp && pollm_p(mp)) {
				/* Our own P first: it needs us anyway. */
				pp = pollm_p(mp);
				pidle_remove(pp);
				pollm_unbind(pp);
			}
			if (!pp) {
				pp = pidleget();
				if (pp)
					pollm_release(pp);
			}
			unlockr(&sched.lock, LR_SCHED);
			if (pp) {
				if (pp != idlep)
					netpoll_flush(idlep);
				acquirep(mp, pp);
				if (!mp->spinning) {
					WRITE_ONCE(mp->spinning, true);
					atomic_fetch_add(&sched.nmspinning, 1);
				}
				goto top;
			}
			break;
		}
	}
	pp = pollm_p(mp);
	if (pp) {
		struct p *np;

		netpoll_sleep(mp, pp);
		lockr(&sched.lock, LR_SCHED);
		np = take_nextp(mp);
		if (!np && !sched.stopping && pollm_p(mp) == pp) {
			/* Events, a timer or a spurious wake-up: take pp back. */
			pidle_remove(pp);
			pollm_unbind(pp);
			np = pp;
		}
		unlockr(&sched.lock, LR_SCHED);
		if (np) {
			acquirep(mp, np);
			/* Take what woke us, even with no goroutine waiting on
			 * the poller (a wake-up for a timer): left there, it
			 * would end every later wait at once. */
			if (np == pp)
				netpoll_poll(mp, np, true);
			goto top;
		}
		if (load_relaxed(&sched.need_g0) & NEED_G0_STOP)
			return NULL;
		/* Someone took pp: park as a plain idle M. */
	}
	if (!stopm(mp))
		return NULL;
	goto top;
}

/*
 * Locked goroutines
 * -----------------
 * rg_lock_os_thread ties a goroutine to its M (gp->ext->lockedm,
 * mp->lockedg), as Go's LockOSThread: it runs only there, and that M runs
 * nothing else.  While any goroutine is locked (sched.nlocked), every
 * switch goes through g0, where two things happen, as in Go's schedule:
 * the locked M, its goroutine gone to wait (or to a run queue), hands its
 * P to another M and sleeps (stoplockedm); an M that picks a goroutine
 * locked to another M hands it its own P and parks (startlockedm).  A
 * goroutine that exits locked retires its M, whose thread may hold state
 * the program changed (namespaces, credentials...): the thread exits
 * (retirem).  On io_uring the kernel then cancels the requests that thread
 * submitted for other goroutines; netpoll_op submits those again from the
 * goroutine's new M, so that they never see it (runtime/netpoll.c).
 */

/* mp's locked goroutine left: give the P away and sleep until someone
 * hands the goroutine back with a P.  False if the runtime stops. */
static bool stoplockedm(struct m *mp)
{
	struct p *pp = releasep(mp), *np;

	/* Counted idle (checkdead) until startlockedm hands it a P or the
	 * runtime stops (main_exit); park_for_nextp does not sleep then. */
	lockr(&sched.lock, LR_SCHED);
	if (!mp->nextp && !sched.stopping) {
		mp->lockedwait = true;
		sched.nmidlelocked++;
	}
	unlockr(&sched.lock, LR_SCHED);
	handoffp(pp);
	lockr(&sched.lock, LR_SCHED);
	np = park_for_nextp(mp);
	if (mp->lockedwait) { /* woken by main_exit */
		mp->lockedwait = false;
		sched.nmidlelocked--;
	}
	unlockr(&sched.lock, LR_SCHED);
	if (!np)
		return false;
	acquirep(mp, np);
	return true;
}

/* gp, runnable, is locked to another M: hand it our P. */
static void startlockedm(struct m *mp, struct g *gp)
{
	struct m *lm = gp->ext->lockedm;
	struct p *pp;

	dropspinning(mp);
	pp = releasep(mp);
	lockr(&sched.lock, LR_SCHED);
	lm->nextp = pp;
	if (lm->lockedwait) { /* running again, for checkdead */
		lm->lockedwait = false;
		sched.nmidlelocked--;
	}
	unlockr(&sched.lock, LR_SCHED);
	notewakeup(&lm->park);
}

/*
 * A locked goroutine exited on mp: the M leaves the scheduler and its
 * thread ends.  mp leaves allm and mcount at once, so that the thread
 * limit and deadlock detection count live threads only; the thread is
 * joined and mp freed later (mreap), once the thread is gone.
 */
static void retirem(struct m *mp)
{
	struct p *pp = releasep(mp);
	struct m **link;

	/* The M that handoffp may start replaces this one: the thread limit
	 * must not count both.  Without this, on a loaded CPU, a chain of
	 * goroutines exiting locked each started an M before the previous
	 * retiring one got the CPU back, until "thread exhaustion". */
	lockr(&sched.lock, LR_SCHED);
	sched.nmretiring++;
	unlockr(&sched.lock, LR_SCHED);
	handoffp(pp);
	lockr(&sched.lock, LR_SCHED);
	/* newm publishes a new M after its thread started: wait for that. */
	for (;;) {
		for (link = &sched.allm; *link && *link != mp; link = &(*link)->alllink)
			;
		if (*link)
			break;
		unlockr(&sched.lock, LR_SCHED);
		ki_osyield();
		lockr(&sched.lock, LR_SCHED);
	}
	*link = mp->alllink;
	sched.mcount--;
	sched.nmretiring--;
	mp->alllink = sched.mdead;
	WRITE_ONCE(sched.mdead, mp); /* sysmon peeks without the lock */
	/* It may have been the last M running. */
	checkdead();
	unlockr(&sched.lock, LR_SCHED);
}

void mreap(void)
{
	struct m *mp, *next;

	if (!READ_ONCE(sched.mdead))
		return;
	lockr(&sched.lock, LR_SCHED);
	mp = sched.mdead;
	WRITE_ONCE(sched.mdead, NULL);
	unlockr(&sched.lock, LR_SCHED);
	for (; mp; mp = next) {
		next = mp->alllink;
		ki_thread_join(mp->thread);
		rt_free(mp);
	}
}

/* The scheduler loop on g0: run goroutines until the runtime stops. */
static void schedule(struct m *mp)
{
	for (;;) {
		bool inherit;
		struct g *gp;

		if (unlikely(mp->retired)) {
			retirem(mp);
			return;
		}
		if (unlikely(mp->lockedg)) {
			if (!stoplockedm(mp))
				return;
			gp = mp->lockedg;
			inherit = false;
		} else {
			gp = find_runnable(mp, &inherit);
			if (!gp)
				return;
			if (unlikely(load_relaxed(&sched.nlocked)) && gp->ext && gp->ext->lockedm &&
			    gp->ext->lockedm != mp) {
				startlockedm(mp, gp);
				continue; /* find_runnable parks us until we get a P */
			}
		}
		if (mp->spinning)
			resetspinning(mp);
		execute(mp, &mp->g0, gp, inherit);
	}
}

/* --- deadlock detection -------------------------------------------------------------- */

/*
 * Called by every M about to park, sched.lock held.  When no M is running,
 * nothing is runnable and goroutines are alive, no one can wake them: the
 * program is deadlocked.  Plain threads may still wake goroutines through
 * the sync API, so a live thread that is not an M of this runtime (nor its
 * sysmon) disables the verdict, as cgo threads do in Go.
 */
static void checkdead(void)
{
	int32_t run = sched.mcount - sched.nmidle - sched.nmidlelocked, n = 0;
	struct gslab *slab;
	struct g *gp;
	pid_t *tids;
	struct m *mp;
	int others;

	assert_lock_held(&sched.lock);
	if (run > 0 || sched.stopping)
		return;
	if (run < 0)
		throw("checkdead: inconsistent M counts (mcount=%d nmidle=%d)", sched.mcount,
		      sched.nmidle);
	if (sched.runqsize > 0)
		return;
	/* No M runs, so the counters are still: exact.  Goroutine 1 called
	 * rg_exit and the last goroutine has ended: rg_main returns. */
	if (gcount() <= 0) {
		if (atomic_load(&sched.main_goexit))
			main_exit_locked();
		return;
	}
	/* Goroutines waiting for I/O or a timer will be woken (as in Go); so
	 * may one that sysmon is readying right now (it has no M).  Timers
	 * first: sysmon raises sysmon_readying before it takes one. */
	for (int32_t i = 0; i < sched.nallp; i++)
		if (netpoll_p_busy(sched.allp[i]))
			return;
	if (atomic_load(&sched.sysmon_readying))
		return;
	/* A signal may come for a channel a goroutine waits on; a lookup's
	 * helper thread will wake the goroutine that waits for it. */
	if (signotify_active() || dns_busy())
		return;
	tids = rt_malloc(sizeof(pid_t) * (size_t)(sched.mcount + 3 + DNS_THREADS));
	if (!tids)
		return;
	for (mp = sched.allm; mp; mp = mp->alllink)
		tids[n++] = mp->tid;
	/* The caller may be a new M that newm has not published yet. */
	tids[n++] = getm()->tid;
	if (sysmon_tid())
		tids[n++] = sysmon_tid();
	n += dns_threads(tids + n, DNS_THREADS);
	others = ki_count_other_threads(tids, n);
	rt_free(tids);
	if (others < 0 || others > SAN_RUNTIME_THREADS)
		return;
	/* A runnable goroutine that no M will run is the runtime's fault, not
	 * the program's (Go's "checkdead: runnable g"): say which. */
	lockr(&sched.allglock, LR_ALLG);
	for_each_g(slab, gp)
	{
		uint32_t st = load_relaxed(&gp->status);

		if (st == G_RUNNABLE || st == G_RUNNING)
			throw("checkdead: goroutine %llu is %s but no M runs (threads=%d "
			      "idle=%d idlelocked=%d)",
			      (unsigned long long)gp->goid,
			      st == G_RUNNING ? "running" : "runnable", sched.mcount, sched.nmidle,
			      sched.nmidlelocked);
	}
	unlockr(&sched.allglock, LR_ALLG);
	fatal_deadlock();
}

/* --- start and stop ----------------------------------------------------------------- */

/* Stop the runtime: every M leaves at its next scheduling point (see
 * "Shutdown").  sched.lock held. */
static void main_exit_locked(void)
{
	struct m *mp;

	assert_lock_held(&sched.lock);
	sched.stopping = true;
	atomic_store(&sched.stopping_ns, ki_nanotime());
	atomic_fetch_or(&sched.need_g0, NEED_G0_STOP);
	while ((mp = mget()) != NULL) {
		mp->nextp = NULL;
		notewakeup(&mp->park);
	}
	{
		int32_t i;

		for (i = 0; i < sched.nallp; i++)
			pollm_release(sched.allp[i]);
	}
	for (mp = sched.allm; mp; mp = mp->alllink)
		if (mp->lockedwait)
			notewakeup(&mp->park);
	notewakeup(&sched.stopnote);
	/* Goroutines still running are preempted at once (sysmon). */
	sysmon_wake();
	sysmon_kick();
}

static void main_exit(void)
{
	lockr(&sched.lock, LR_SCHED);
	main_exit_locked();
	unlockr(&sched.lock, LR_SCHED);
}

static void teardown(struct m *m0)
{
	struct m *mp, *next;
	struct gslab *slab;
	struct g *gp;
	int32_t i;

	/* No M is reserved after stopping; wait for those reserved before it
	 * to be published, then join them all.  sysmon runs until they are
	 * gone: it preempts the goroutines they still run (see "Shutdown"). */
	for (;;) {
		int32_t n = 0;
		bool all;

		lockr(&sched.lock, LR_SCHED);
		for (mp = sched.allm; mp; mp = mp->alllink)
			n++;
		all = n == sched.mcount;
		unlockr(&sched.lock, LR_SCHED);
		if (all)
			break;
		ki_osyield();
	}
	for (mp = sched.allm; mp; mp = mp->alllink)
		if (mp != m0)
			ki_thread_join(mp->thread);
	sysmon_stop();
	mreap();
	trace_main_stop(); /* every thread that recorded has stopped */
	trace_fini();
	signal_unminit(m0);
	preempt_fini();
	signotify_fini();
	dns_fini();
	signal_fini();
	netpoll_fini();
	sema_abandon_goroutines();
	tls_m = NULL;
	for (mp = sched.allm; mp; mp = next) {
		next = mp->alllink;
		rt_free(mp);
	}
	for_each_g(slab, gp) if (gp->ext) san_fiber_destroy(gp->ext->tsan_fiber);
	while ((slab = sched.gslabs) != NULL) {
		sched.gslabs = slab->next;
		rt_free(slab);
	}
	for (i = 0; i < sched.nallp; i++) {
		timers_fini(&sched.allp[i]->timers);
		runq_fini(&sched.allp[i]->runq);
		affinity_p_free(sched.allp[i]);
	}
	rt_free(sched.allp);
	affinity_fini();
	globrunq_fini();
	stack_fini();
	memset(&sched, 0, sizeof(sched));
}

static int config_resolve(const rg_config *cfg, const struct rg_env *env, int32_t *procs,
			  size_t *stack)
{
	int n = cfg->maxprocs;

	if (cfg->maxprocs < 0 || cfg->maxprocs > MAXPROCS_LIMIT)
		return -EINVAL;
	if (cfg->stack_size && (cfg->stack_size < 16384 || cfg->stack_size > (1ul << 30)))
		return -EINVAL;
	if (cfg->max_threads < 0 || cfg->max_threads == 1)
		return -EINVAL;
	if (!n)
		n = env->maxprocs;
	if (!n)
		n = CONFIG_MAXPROCS_DEFAULT;
	if (!n)
		n = ki_default_procs(NULL, NULL);
	if (n < 1)
		n = 1;
	if (n > MAXPROCS_LIMIT)
		n = MAXPROCS_LIMIT;
	*procs = n;
	*stack = cfg->stack_size ? cfg->stack_size : (size_t)CONFIG_STACK_SIZE_KB * 1024;
	return 0;
}

int rg_main(const rg_config *cfg, void (*fn)(void *), void *arg)
{
	static const rg_config defaults;
	struct rg_env env;
	struct m *m0;
	struct g *maing;
	int32_t procs;
	size_t stack;
	int zero = 0, r;

	if (!cfg)
		cfg = &defaults;
	if (!fn)
		return -EINVAL;
	if (!cas(&runtime_state, &zero, 1))
		return -EBUSY;
	env_parse(&env);
	r = config_resolve(cfg, &env, &procs, &stack);
	if (r)
		goto err_state;
	memset(&sched, 0, sizeof(sched));
	r = affinity_init(&env);
	if (r) {
		affinity_fini();
		memset(&sched, 0, sizeof(sched));
		goto err_state;
	}
	sched.stack_size = stack;
	sched.maxmcount = cfg->max_threads ? cfg->max_threads :
			  env.maxthreads   ? env.maxthreads :
					     CONFIG_MAX_THREADS;
	sched.schedtrace_ms = env.schedtrace_ms;
	sched.preempt_slice_ns =
		(env.preemptslice_us ? env.preemptslice_us : CONFIG_PREEMPT_SLICE_US) * 1000;
	/* ThreadSanitizer runs asynchronous signal handlers later, on a copy
	 * of the interrupted context: rewriting it would scribble on a stack
	 * that has moved on.  Under clang's ASan the sanitizer's own code is
	 * in the program (runtime/san.h).  Goroutines still yield at their
	 * next call into the runtime. */
	sched.async_preempt = !env.asyncpreemptoff && !RG_TSAN && !RG_SAN_RUNTIME_IN_PROGRAM;
	sched.blocked_retake = !env.blockedretakeoff && !RG_TSAN;
	sched.scheddetail = env.scheddetail;
	sched.start_ns = ki_nanotime();
	sched.allp = rt_calloc(MAXPROCS_LIMIT, sizeof(*sched.allp));
	m0 = m_alloc();
	maing = malg(NULL);
	r = -ENOMEM;
	if (!sched.allp || !m0 || !maing)
		goto err_free;
	r = stack_init(stack, env.stackguard_mprotect);
	if (r)
		goto err_free;
	r = signal_init();
	if (r)
		goto err_stack;
	r = preempt_init();
	if (r)
		goto err_signal;
	if (sched.async_preempt && stack < preempt_min_stack())
		fprintf(stderr,
			"ringo: rg_main: goroutines on %zu-byte stacks cannot be preempted (this "
			"CPU's vector state and the scheduler need %zu bytes): a loop that never "
			"calls into the runtime will keep its P\n",
			stack, preempt_min_stack());
	np_iouring_coop(!env.iouringcoop_off);
	dns_cares_init(env.netdns);
	r = netpoll_init(env.netpoll);
	if (r)
		goto err_preempt;
	m0->is_m0 = true;
	m0->id = sched.mnext++;
	sched.mcount = 1;
	sched.allm = m0;
	minit(m0);

	lockr(&sched.lock, LR_SCHED);
	procresize(m0, procs);
	unlockr(&sched.lock, LR_SCHED);
	r = stack_admit(&m0->p->stackcache);
	if (r) {
		teardown(m0);
		goto err_state;
	}

	maing->fn = fn;
	maing->arg = arg;
	WRITE_ONCE(maing->goid, goid_next(m0->p));
	casgstatus(maing, G_IDLE, G_RUNNABLE);
	store_relaxed(&m0->p->gcreated, 1);
	runqput(m0->p, maing, false);

	r = sysmon_start();
	if (r)
		throw("cannot start sysmon: %s", strerror(-r));
	trace_main_start(env.trace[0] ? env.trace : NULL);
	if (!env.sigquit_off && signal_sigquit_init() < 0)
		fprintf(stderr, "ringo: cannot install the SIGQUIT handler; no goroutine dumps\n");
	schedule(m0);
	teardown(m0);
	store_release(&runtime_state, 0);
	return 0;

err_preempt:
	preempt_fini();
err_signal:
	signal_fini();
err_stack:
	stack_fini();
err_free:
	rt_free(sched.gslabs);
	rt_free(m0);
	rt_free(sched.allp);
	affinity_fini();
	memset(&sched, 0, sizeof(sched));
err_state:
	store_release(&runtime_state, 0);
	return r;
}
