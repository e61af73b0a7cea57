/* SPDX-License-Identifier: MIT */
/*
 * runtime/runtime.h - G, M, P and the scheduler's shared state.
 *
 * Glossary (as in Go's runtime):
 *   G  a goroutine: a function, its saved context and (once it has run) a
 *      stack.  struct g.
 *   M  an OS thread ("machine").  It runs Go-style code only while it holds
 *      a P.  Every M has a g0: the thread's own stack, on which the
 *      scheduler's slow paths (find_runnable, parking the M) run.  struct m.
 *   P  a logical processor, GOMAXPROCS of them.  A P owns a run queue, a
 *      timer heap, a poller, free G and stack caches and the per-P
 *      counters.  struct p.
 *
 * Who owns what:
 *   - A P is owned by the M that holds it (mp->p == pp, pp->m == mp).  Only
 *     the owner touches fields marked "owner".
 *   - Each mechanism keeps its per-P (per-M) state in a sub-struct declared
 *     in its own header, with the rules for its fields and its _init/_fini:
 *     the run queue (struct p_runq, runtime/runq.h: head and runnext are
 *     also written by thieves), the timers (p_timers, runtime/time.h), the
 *     poller and its idle M (p_poll and m_poll, runtime/netpoll.h),
 *     sysmon's notes (p_sysmon, runtime/sysmon.h), the counters (p_stats,
 *     runtime/affinity.h) and an M's signal stack (m_signal,
 *     runtime/signal.h).  Other files call that header's
 *     functions; only the owner's file touches the fields.
 *   - A G in state G_RUNNING is owned by the M running it; in G_RUNNABLE by
 *     the run queue that holds it; in G_WAITING by the wait queue or object
 *     that will ready it; G_DEAD Gs by the free list holding them.
 *   - Fields marked "sched.lock" may be read or written only with
 *     sched.lock held.
 *
 * Lock order (acquire in this order, never the reverse); enum lock_rank
 * below numbers it, and debug builds check every acquisition against it:
 *   the signal channels' lock, the contexts' lock, an rg_timer's lock  ->
 *   channel locks (several, in address order)  ->  sema bucket lock  ->
 *   poll descriptor lock  ->  a P's timers lock  ->  a P's netpoll lock  ->
 *   sched.lock  ->  sched.gflock  ->  stack pool lock  ->  allglock.
 *   No runtime lock is held across a context switch, except the lock that
 *   gopark's unlock function releases after it (on the same M).
 */
#ifndef RINGO_RUNTIME_RUNTIME_H
#define RINGO_RUNTIME_RUNTIME_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "ringo.h"
#include "kernel_iface/kernel.h"
#include "runtime/compiler.h"
#include "runtime/lock.h"
#include "runtime/stack.h"
#include "numa/steal.h"
#include "numa/topology.h"
/* The owners of the per-P and per-M state below. */
#include "runtime/affinity.h"
#include "runtime/dump.h"
#include "runtime/metrics.h"
#include "runtime/netpoll.h"
#include "runtime/runq.h"
#include "runtime/signal.h"
#include "runtime/sysmon.h"
#include "runtime/time.h"

/*
 * The C library's allocator, for the runtime's own memory.  The calls may
 * sleep in the kernel (a futex on an arena lock, mmap), so they count as
 * calls in progress (ki_incall): a thread asleep there is the runtime's,
 * not the program's ("Blocked calls nobody annotated", runtime/preempt.c).
 * The runtime uses only these (make lint checks).
 */
static inline void *rt_malloc(size_t n)
{
	void *p;

	ki_call_enter();
	p = malloc(n);
	ki_call_exit();
	return p;
}

static inline void *rt_calloc(size_t n, size_t size)
{
	void *p;

	ki_call_enter();
	p = calloc(n, size);
	ki_call_exit();
	return p;
}

static inline void *rt_aligned_alloc(size_t align, size_t n)
{
	void *p;

	ki_call_enter();
	p = aligned_alloc(align, n);
	ki_call_exit();
	return p;
}

static inline void *rt_realloc(void *old, size_t n)
{
	void *p;

	ki_call_enter();
	p = realloc(old, n);
	ki_call_exit();
	return p;
}

static inline void rt_free(void *p)
{
	ki_call_enter();
	free(p);
	ki_call_exit();
}

/* A copy of s, NULL when memory is short; free(3) may free it (as
 * freeaddrinfo frees a canonical name). */
static inline char *rt_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = rt_malloc(n);

	if (d)
		memcpy(d, s, n);
	return d;
}

/* The most Ps: the steal order's bound (numa/steal.h, 1024), lower than Go's
 * _MaxGomaxprocs.  Kconfig's MAXPROCS_DEFAULT range repeats it, checked in
 * runtime/proc.c. */
#define MAXPROCS_LIMIT STEAL_MAX_PROCS

/* --- context (arch) ------------------------------------------------------ */

/* struct ctx, ctx_switch, ctx_init, ARCH_TLS_LOAD_PTR */
#if defined(__x86_64__)
#include "runtime/arch/x86_64/arch.h"
#else
#error "ringo runs on x86-64 only (runtime/arch/)"
#endif

/* --- G ------------------------------------------------------------------- */

enum g_status {
	G_IDLE,	    /* just allocated, not yet initialised */
	G_RUNNABLE, /* on a run queue, not running; owned by that queue */
	G_RUNNING,  /* running on an M (g->m) with a P */
	G_WAITING,  /* parked by gopark; owned by whoever will goready it */
	G_DEAD,	    /* exited; on a free list */
};

/*
 * What a started goroutine needs beyond struct g: its stack and the state
 * of its waits, gp->ext.  It lives at the top of the goroutine's own
 * stack, above its first frame: g_prepare (runtime/proc.c) puts it there
 * when the goroutine first runs, writing it with that frame, and the
 * stack allocator knows nothing of it.  g0's is in its struct m.  The
 * goroutine owns its fields unless a field says otherwise; nothing reads
 * them once its stack is freed (AFTER_EXIT clears gp->ext first).
 */
struct gext {
	struct stk *stack; /* the stack it runs on */
	char *hi; /* the top of the stack its frames may use: the gext itself (g0: its stack's hi) */
	const char *waitreason; /* why it waits, valid in G_WAITING; READ_ONCE by traces */
	void *param;		/* written by the waker before goready, read after the park */
	int64_t deadline;	/* I/O deadline (rg_set_deadline); 0: none */
	struct m *lockedm;	/* rg_lock_os_thread: the only M that runs it */
	int lockcount;		/* rg_lock_os_thread depth */
	int preemptoff;		/* rg_preempt_disable depth; read by the SIGURG handler on its M */
	int16_t lastnode;	/* home node of the P it last ran on; written by that P's M */
	int8_t parkclass;	/* sampled: the class of its wait (RG_PARK_*) */
	/* Sampled goroutines (metrics_sampled): when it parked, or was made
	 * runnable (0: not timed).  Written by whoever parks or readies it. */
	int64_t tracked_ns;
	/* When it last parked, by sysmon_clock (how long it has waited, in
	 * dumps); written by the goroutine as it parks. */
	int64_t waitsince;
	/* Its attachment to a context (rg_ctx_attach, rg_go_ctx): its waits
	 * end when the context is cancelled (runtime/ctx.c).  NULL: none.
	 * The goroutine's own. */
	struct ctx_attach *ctxa;
	/* The timers of its rg_after channels, oldest first (runtime/timer.c);
	 * freed when it ends.  The goroutine's own. */
	struct rg_timer *afters, *afters_tail;
	void *asan_fake_stack; /* sanitizer bookkeeping (runtime/san.h) */
	void *tsan_fiber;
};

/*
 * One cache line: a burst of spawns may queue hundreds of thousands of Gs
 * before they run.  What only a started G needs is in its gext, on its
 * stack.
 */
struct g {
	struct ctx ctx;		 /* saved context; valid while not G_RUNNING */
	struct gext *ext;	 /* NULL until first run (stacks are lazy); READ_ONCE */
	_Atomic uint32_t status; /* enum g_status; transitions documented above */
	int32_t gfreebatchn;	 /* Gs in the free chain this G heads; gflock */
	uint64_t goid;		 /* set at creation by the creating M (READ_ONCE) */
	void (*fn)(void *);	 /* entry and argument, set at creation */
	void *arg;
	struct g *schedlink; /* free list link; owned by the list */
	union {
		struct g *gfreebatch; /* G_DEAD on the global free list: next chain; gflock */
		uintptr_t gopc;	      /* live: where rg_go was called (dumps); READ_ONCE */
	};
} cacheline_aligned; /* two Gs never share a cache line */

_Static_assert(sizeof(struct g) == CACHELINE, "struct g must fit one cache line");

/* Gs are allocated GSLAB at a time and freed only at tear-down; the slabs
 * are how traces and tear-down visit every G (for_each_g). */
#define GSLAB 64

struct gslab {
	struct g gs[GSLAB];
	struct gslab *next; /* sched.gslabs; allglock */
};

#define for_each_g(slab, gp)                                       \
	for ((slab) = sched.gslabs; (slab); (slab) = (slab)->next) \
		for ((gp) = (slab)->gs; (gp) < (slab)->gs + GSLAB; (gp)++)

/* --- P ------------------------------------------------------------------- */

enum p_status {
	P_IDLE,	   /* on sched.pidle, no M */
	P_RUNNING, /* held by an M */
	P_SYSCALL, /* its M (mp->oldp) is in a system call; sysmon may retake it */
	P_GCSTOP,  /* stopped by stop_the_world; held by nobody */
	P_DEAD,	   /* beyond gomaxprocs; kept in allp, never used */
};

struct p {
	/* Read by other Ms (thieves, startm, schedtrace): written rarely. */
	int32_t id;
	_Atomic uint32_t status; /* enum p_status; changed by the owner or under sched.lock */
	struct p *link;		 /* sched.pidle list; sched.lock */
	struct m *m;	  /* M holding it; owner (set with release: sysmon reads it with acquire) */
	int32_t home_cpu; /* the (id mod n)-th CPU of the affinity mask; stop-the-world */
	int32_t home_node;    /* its node in sched.topo; stop-the-world */
	struct p_stats stats; /* where its M runs, steals, wake-ups (runtime/affinity.h) */

	/* Owner-hot: written on every spawn, switch or exit, so on lines of
	 * their own.  The ticks are also read, relaxed, by sysmon and
	 * schedtrace, the counters by rg_num_goroutine. */
	_Atomic uint32_t schedtick cacheline_aligned; /* incremented on every schedule */
	_Atomic uint32_t syscalltick;		      /* incremented by every rg_syscall_enter */
	_Atomic uint32_t switchtick; /* incremented on every switch to a G, runnext too */
	_Atomic uint32_t waking;     /* the owner is in wakep (a futex wake-up) */
	struct p_sysmon sm;	     /* sysmon's notes on this P (runtime/sysmon.h) */
	_Atomic int64_t gcreated;    /* goroutines created on this P; owner writes */
	_Atomic int64_t gexited;     /* goroutines exited on this P; owner writes */
	uint64_t goidcache;	     /* next goid to hand out; owner */
	uint64_t goidcacheend;
	struct g *gslab_next; /* unused Gs of this P's last slab; owner */
	int32_t gslab_left;
	int32_t gfreecnt;	     /* owner (READ_ONCE elsewhere) */
	struct g *gfree;	     /* free Gs; owner */
	struct stk_cache stackcache; /* owner; its node is fixed at creation */

	struct p_metrics metrics; /* latency histograms, I/O, preemptions (runtime/metrics.h) */
	struct p_timers timers;	  /* its timer heap (runtime/time.h) */
	struct p_poll poll;	  /* its poller and pollm (runtime/netpoll.h) */
	struct p_runq runq;	  /* its run queue and runnext (runtime/runq.h) */
} cacheline_aligned;

/* --- M ------------------------------------------------------------------- */

/* What the next context must do for the one that switched away from it:
 * the switching G cannot publish itself (enqueue, park, free its stack)
 * while still running on its own stack, so the code that resumes after
 * the switch does it (see "Switching" in runtime/proc.c). */
enum after_op {
	AFTER_NONE,
	AFTER_YIELD,	    /* put gp on the local run queue */
	AFTER_YIELD_GLOBAL, /* put gp on the global run queue */
	AFTER_PARK,	    /* commit gp's park: status, then unlockf(gp, arg) */
	AFTER_EXIT,	    /* free gp's stack and gp */
};

struct after {
	enum after_op op;
	struct g *gp;
	bool (*unlockf)(struct g *gp, void *arg);
	void *arg;
};

struct m {
	struct g g0;		/* the thread's own stack; scheduler code runs here */
	struct g *_Atomic curg; /* running G (or NULL); written by this M only */
	struct p *p;		/* attached P; this M only */
	struct p *nextp;	/* P handed over by startm; sched.lock (READ_ONCE) */
	struct p *oldp;		/* P left in P_SYSCALL by rg_syscall_enter; this M only */
	_Atomic int32_t cpu;	/* CPU at its last schedule (-1: none); this M writes */
	int32_t pinned_cpu;	/* CPU it is pinned to (ppin), -1: none; this M only */
	struct m_poll poll;	/* the P whose poller it waits in (runtime/netpoll.h) */
	bool nextspinning;	/* nextp was handed to a pollm as spinning; sched.lock */
	struct g *lockedg;	/* the G locked to this M (rg_lock_os_thread); this M only */
	bool lockedwait;	/* parked in stoplockedm; sched.lock */
	bool retired;		/* its locked G exited: runs nothing more; this M only */
	bool spinning;		/* looking for work; this M only (see nmspinning) */
	struct note park;	/* stopm sleeps here */
	uint32_t debug_parks;	/* sleeps on park, for park_for_nextp's check; sched.lock */
	struct m *schedlink;	/* sched.midle list; sched.lock */
	struct m *alllink;	/* allm list; written under sched.lock before publish */
	int64_t id;
	pid_t tid;
	pthread_t thread;
	bool is_m0;		      /* the thread that called rg_main */
	struct after after;	      /* pending post-switch action; this M only */
	uint64_t fastrand;	      /* this M only */
	_Atomic uint32_t preempt_req; /* sysmon asks the running G to yield (runtime/preempt.c) */
	_Atomic uint32_t retake_req;  /* sysmon found the G asleep in a system call (preempt.c) */
	/* The handler put the M in a system call for the G (preempt.c); this
	 * M only (its handler and rt_enter). */
	volatile bool syscall_implicit;
	int locks;	       /* runtime locks held; this M only (see lockr) */
	uint8_t lockranks[8];  /* ranks of the locks held, in order (debug builds) */
	uint16_t lockrankn[8]; /* how many of each (only LR_CHAN repeats) */
	int nlockranks;
	struct stk g0stack;	  /* g0's stack: the thread's own */
	struct gext g0ext;	  /* g0's gext (g0.ext points here) */
	struct m_signal sig;	  /* alternate signal stack, saved mask (runtime/signal.h) */
	struct m_capture capture; /* a dump's request for its G's stack (runtime/dump.h) */
};

/* --- sched --------------------------------------------------------------- */

/* Bits of sched.need_g0: reasons a G must enter the scheduler on g0 rather
 * than switch straight to the next G. */
#define NEED_G0_STW  1u /* stop_the_world is waiting for Ps */
#define NEED_G0_STOP 2u /* the main goroutine returned: Ms are leaving */

/*
 * The fields are grouped by who writes them, each group on its own cache
 * lines, so that a spawn loop on one P and the Ms consuming its goroutines
 * do not invalidate each other's read-mostly data.
 */
struct sched {
	/* Read on every spawn, wake-up and switch; written rarely. */
	_Atomic int32_t npidle;	    /* idle Ps (also under sched.lock) */
	_Atomic int32_t nmspinning; /* Ms spinning for work; see "Worker thread parking" */
	_Atomic uint32_t need_g0;   /* NEED_G0_* */
	/* Goroutines locked to their M (rg_lock_os_thread); while 0, no
	 * switch looks for them ("Locked goroutines" in runtime/proc.c). */
	_Atomic int32_t nlocked;
	_Atomic int32_t nprocs; /* Ps in use (gomaxprocs) */
	/* Ps: allp[0..nprocs) are in use; allp[nprocs..nallp) are P_DEAD and
	 * kept so that a racing reader never sees freed memory.  allp only
	 * changes during stop-the-world. */
	struct p **allp;
	int32_t nallp; /* grows only, under stop-the-world; release store after allp[i], acquire loads */

	struct lock lock cacheline_aligned;
	/* Global run queue: a circular array of runqcap (a power of two)
	 * slots starting at runqfirst; sched.lock (runqsize also read
	 * without it, as a hint). */
	struct g **runq;
	uint32_t runqcap;
	uint32_t runqfirst;
	_Atomic int32_t runqsize;
	/* Idle Ms and Ps; sched.lock. */
	struct m *midle;
	int32_t nmidle;
	int32_t mcount;	   /* Ms created; sched.lock */
	int32_t maxmcount; /* limit on mcount (fatal beyond); fixed while running */
	/* Ms in retirem that still count in mcount: they hand their P off
	 * before they leave, and the limit does not count them; sched.lock. */
	int32_t nmretiring;
	int64_t mnext;	/* next M id; sched.lock */
	struct m *allm; /* every M; sched.lock for writers, stable while running */
	struct p *pidle;
	/* Stop-the-world and shutdown; see NEED_G0_*. */
	int32_t stopwait;     /* Ps still to stop; sched.lock */
	bool stopping;	      /* main returned; sched.lock */
	struct note stopnote; /* the stopper sleeps here */

	/* Global free Gs: a stack of chains (see gfput); gflock. */
	struct lock gflock cacheline_aligned;
	struct g *gfree;
	_Atomic int32_t ngfree; /* written under gflock, read without it as a hint */

	_Atomic uint64_t goidgen cacheline_aligned; /* goid batches are taken from here */

	/* Every G ever allocated, in slabs (see for_each_g); allglock. */
	struct lock allglock cacheline_aligned;
	struct gslab *gslabs;

	struct steal_order steal; /* changes only during stop-the-world */
	int32_t nmidlelocked;	  /* Ms parked in stoplockedm; sched.lock */
	/* Retired Ms (runtime/proc.c retirem) whose threads are ending: off
	 * allm and mcount, joined and freed by mreap; sched.lock (READ_ONCE
	 * without it). */
	struct m *mdead;
	/* Goroutine 1 called rg_exit: rg_main returns when the last goroutine
	 * ends (checkdead sees it).  Set once by goroutine 1. */
	_Atomic bool main_goexit;
	/* When goroutine 1 ended (main_exit), for sysmon's notice about Ms
	 * that do not stop; written under sched.lock. */
	_Atomic int64_t stopping_ns;
	/* sysmon is running timers or reaping pollers (see checkdead). */
	_Atomic uint32_t sysmon_readying;

	/* Topology (numa/), fixed while the runtime runs: P i's home CPU is
	 * cpus[i % ncpus], the CPUs of the affinity mask at start. */
	struct topo topo;
	enum steal_policy steal_policy;
	bool ppin;	   /* pin Ms to their P's home CPU (CONFIG_P_PIN, ppin=1) */
	bool softaffinity; /* startm prefers the M last on the P's home CPU */
	int32_t ncpus;
	int *cpus;

	/* Configuration, fixed while the runtime runs. */
	size_t stack_size;
	int64_t schedtrace_ms; /* 0: off */
	bool scheddetail;
	int64_t start_ns;
	int64_t preempt_slice_ns; /* time slice before preemption */
	bool async_preempt;	  /* SIGURG preemption on (asyncpreemptoff=1 clears) */
	bool blocked_retake; /* retake Ps of unannotated blocked calls (blockedretake=0 clears) */
};

extern struct sched sched;

/* --- the current M --------------------------------------------------------- */

extern __thread struct m *tls_m __attribute__((tls_model("initial-exec")));

/*
 * getm - the M this code runs on.  Read through asm volatile so that the
 * compiler never keeps the value (or the TLS address) across a call that
 * can switch goroutines: the G may resume on another thread.
 */
static inline struct m *getm(void)
{
	return ARCH_TLS_LOAD_PTR(tls_m);
}

/* getg - the running goroutine, or NULL on g0 and on plain threads. */
static inline struct g *getg(void)
{
	struct m *mp = getm();
	struct g *gp = mp ? load_relaxed(&mp->curg) : NULL;

	return gp;
}

/* --- proc.c ---------------------------------------------------------------- */

/*
 * gopark - park the running goroutine.  (goroutine, with a P)
 * After the switch, gp is G_WAITING and unlockf(gp, arg) runs on the next
 * context; if it returns false, gp is made runnable again at once.
 * reason is a static string shown by deadlock dumps and scheddetail.
 * Returns gp->param as set by the waker.
 */
void *gopark(bool (*unlockf)(struct g *, void *), void *arg, const char *reason);
/* goready - make a waiting goroutine runnable.  (any thread: with a P it
 * goes to runnext; from a plain thread to the global queue) */
void goready(struct g *gp, void *param);
/* gopreempt - the running goroutine's time slice ended: yield behind the
 * global queue (Go's gopreempt_m; "Timers and the global queue" in
 * runtime/proc.c).  On a goroutine, with a P and no runtime lock. */
void gopreempt(void);
/* wakep - start a spinning M if there is an idle P and nobody spins. */
void wakep(void);
/* Join the threads of retired Ms and free them.  sysmon and teardown only:
 * sysmon is the one thread that reads Ms without sched.lock. */
void mreap(void);
uint32_t fastrand(void);
int32_t gcount(void);
/* Put mp, whose G runs on pp, in a system call: pp goes to P_SYSCALL for
 * sysmon to retake (rg_syscall_enter; the SIGURG handler).  Async-signal-
 * safe. */
void entersyscall(struct m *mp, struct p *pp);
/* Take a P back after the handler's entersyscall (rt_enter). */
void exitsyscall_implicit(struct m *mp);
/* Hand a P retaken from a system call to an M or the idle list (sysmon). */
void handoffp(struct p *pp);

/* --- trace.c / fatal -------------------------------------------------------- */

/* Print "fatal error: <msg>" naming the running goroutine, and exit(2). */
_Noreturn void throw(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print the SCHED line (and details) to stderr. */
void schedtrace(bool detailed);
/* The deadlock report, then exit(2).  sched.lock held. */
_Noreturn void fatal_deadlock(void);

/* Debug checks: CONFIG_DEBUG_CHECKS, and always in sanitizer builds.  The
 * condition is compiled (and type-checked) in every build and optimised
 * away when checks are off. */
#if defined(RG_SAN_BUILD)
#define RG_DEBUG 1
#else
#define RG_DEBUG IS_ENABLED(CONFIG_DEBUG_CHECKS)
#endif

#define rg_assert(cond)                                                                   \
	do {                                                                              \
		if (RG_DEBUG && unlikely(!(cond)))                                        \
			throw("assertion failed: %s (%s:%d)", #cond, __FILE__, __LINE__); \
	} while (0)
#define assert_lock_held(l) rg_assert(lock_held(l))

/*
 * casgstatus - move gp from status old to new.  With debug checks, any
 * other current status is a fatal error naming both: the transitions are
 * the ones documented with enum g_status.
 */
static inline void casgstatus(struct g *gp, uint32_t old, uint32_t new)
{
	if (RG_DEBUG) {
		uint32_t cur = old;

		if (!atomic_compare_exchange_strong(&gp->status, &cur, new))
			throw("casgstatus: goroutine %llu has status %u, expected %u (to %u)",
			      (unsigned long long)gp->goid, cur, old, new);
		return;
	}
	store_relaxed(&gp->status, new);
}

/* rg_go for the runtime's own use: from any M holding a P, on a goroutine
 * or on g0 (a timer's function, say).  -EPERM without a P.  The new
 * goroutine's creator is fn itself. */
int go_from_p(void (*fn)(void *), void *arg);

/* The size of c's values (runtime/chan.c).  (any) */
size_t chan_elemsize(const rg_chan *c);
/* rg_chan_make with extra bytes after the channel's, in the same
 * allocation (16-aligned, zeroed, at *extrap): they live as long as the
 * channel's memory, which rg_chan_free releases (at once, or with its last
 * stale select entry).  (any) */
rg_chan *chan_make_with(size_t elem_size, size_t cap, size_t extra, void **extrap);
/* Whether c holds no value and nobody waits on it.  (any) */
bool chan_idle(rg_chan *c);
/* The exiting goroutine gp frees its rg_after timers (runtime/timer.c).
 * (goroutine: gp's own) */
void timer_goexit(struct g *gp);

/* --- lock ranks -------------------------------------------------------------- */

enum lock_rank {
	LR_SIGNAL = 1, /* the signal channels (runtime/signotify.c) */
	LR_CTX,	       /* the contexts' tree (runtime/ctx.c) */
	LR_CTXWAIT,    /* a goroutine's wait that its context can end (runtime/ctx.c) */
	LR_TIMEROBJ,   /* an rg_timer (runtime/timer.c) */
	LR_CHAN,       /* a channel; select holds several, taken in address order */
	LR_SEMA,       /* a semaphore bucket (runtime/sema.c) */
	LR_PD,	       /* a poll descriptor (runtime/netpoll.c) */
	LR_TIMERS,     /* a P's timers (runtime/time.c) */
	LR_NETPOLL,    /* a P's poller (runtime/netpoll.c) */
	LR_SCHED,      /* sched.lock */
	LR_GFREE,      /* sched.gflock */
	LR_STACK,      /* the stack pool (runtime/stack.c) */
	LR_ALLG,       /* sched.allglock */
};

void lockrank_acquire(struct m *mp, enum lock_rank r);
void lockrank_release(struct m *mp, enum lock_rank r);

/*
 * lockr/unlockr - the runtime's locks, taken with their rank.  Every M
 * counts the locks it holds (mp->locks: a goroutine holding one must not
 * be preempted), and debug builds throw on an acquisition out of order.
 * Plain threads (no M) only take the lock.
 */
static inline void lockr(struct lock *l, enum lock_rank r)
{
	struct m *mp = getm();

	if (mp) {
		if (RG_DEBUG)
			lockrank_acquire(mp, r);
		mp->locks++;
	}
	lock(l);
}

static inline bool trylockr(struct lock *l, enum lock_rank r)
{
	struct m *mp = getm();

	if (!trylock(l))
		return false;
	if (mp) {
		if (RG_DEBUG)
			lockrank_acquire(mp, r);
		mp->locks++;
	}
	return true;
}

static inline void unlockr(struct lock *l, enum lock_rank r)
{
	struct m *mp = getm();

	unlock(l);
	if (mp) {
		if (RG_DEBUG)
			lockrank_release(mp, r);
		mp->locks--;
	}
}

#endif /* RINGO_RUNTIME_RUNTIME_H */
