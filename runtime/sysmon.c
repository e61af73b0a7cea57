/* SPDX-License-Identifier: MIT */
/*
 * runtime/sysmon.c - sysmon, the runtime's monitor thread.
 *
 * sysmon runs without a P.  It wakes every 20 us while it has something
 * to do and backs off, doubling its sleep after 50 idle rounds, to 10 ms
 * (as Go's sysmon does); while every P is idle it sleeps until a P starts
 * running (acquirep calls sysmon_wake), so an idle program costs nothing.
 * On each round:
 *
 *   - hands a stalled runnext to an idle P: goready puts a woken goroutine
 *     in the waker's runnext without waking another M (see "Wake-ups into
 *     runnext" in runtime/proc.c); if the waker's P has not switched since
 *     the previous round while that G waits and Ps are idle, the waker is
 *     computing or blocked in a system call, so sysmon wakes an M, which
 *     steals the G (runnext_stalled agrees, since the P does not switch);
 *   - reaps the pollers and runs the due timers of Ps whose M has not
 *     switched goroutines for a millisecond, or that are idle with no M
 *     waiting in their poller (sysmon_pollers);
 *   - prints schedtrace lines when RINGO_DEBUG=schedtrace=MS asks.
 *
 *   - retakes the P of an M blocked in a system call (rg_syscall_enter)
 *     while work waits, and hands it to another M (sysmon_retake); it
 *     polls at its fastest after a retake or a kick from
 *     rg_syscall_enter on a P with queued work.
 *
 *   - preempts goroutines that ran past their time slice (sysmon_preempt;
 *     runtime/preempt.c), waking at least every tenth of a slice while a
 *     P runs, so that a goroutine runs at most a slice and a tenth;
 *
 *   - once goroutine 1 has ended, preempts whatever Ms still run at every
 *     round, and joins the threads of retired Ms (mreap, runtime/proc.c);
 *
 *   - looks at what the M of a P that has not switched while work waits is
 *     doing, and has the P of one asleep in a system call nobody annotated
 *     put in P_SYSCALL, to retake it (sysmon_probe; "Blocked calls nobody
 *     annotated" in runtime/preempt.c).
 *
 * What sysmon keeps per P (struct p_sysmon, pp->sm) is its own; everything
 * else it only reads, relaxed, or asks of its owner's functions.
 */
#include <stdio.h>

#include "kernel_iface/kernel.h"
#include "runtime/netpoll.h"
#include "runtime/preempt.h"
#include "runtime/runq.h"
#include "runtime/probes.h"
#include "runtime/runtime.h"
#include "runtime/signotify.h"
#include "runtime/sysmon.h"
#include "runtime/dump.h"
#include "runtime/time.h"

#define SYSMON_MIN_NS	  20000LL
#define SYSMON_MAX_NS	  10000000LL
#define SYSMON_IDLE_UP	  50
#define SYSMON_IDLE_NS	  1000000000LL /* every P idle: wake at least this often */
#define SYSMON_KICK_NS	  100000LL     /* rg_syscall_enter kicks a sysmon sleeping longer */
#define SYSCALL_RETAKE_NS 10000000LL   /* retake a P in a system call after this anyway */
#define PROBE_AFTER_NS	  20000LL      /* a P that has not switched this long while work waits */
#define STOP_ROUND_NS	  1000000LL    /* stopping: preempt what still runs this often */
#define STOP_NOTICE_NS	  1000000000LL /* stopping: say which Ms do not stop after this */
#define NP_STUCK_NS	  1000000LL    /* serve a running P's poller after this */

static struct {
	pthread_t thread;
	struct note note;	  /* sysmon sleeps here; cleared by sysmon only */
	_Atomic uint32_t waiting; /* asleep until a P runs (sysmon_wake clears) */
	_Atomic bool stopping;
	bool started;
	_Atomic pid_t tid;
	_Atomic uint32_t kicked;  /* sysmon_kick asked for a round now */
	_Atomic int64_t delay_ns; /* the current sleep, read by sysmon_kick */
	_Atomic uint32_t dump;	  /* SIGQUIT came: dump and exit (sysmon_dump_request) */
	_Atomic uint32_t signals; /* signals wait for their channels (sysmon_signal_request) */
} sm;

/* sysmon alone writes it, but for sysmon_wake's store (see sysmon.h). */
_Atomic int64_t sysmon_clock_ns;

/* Ps retaken from Ms in system calls since rg_main; sysmon alone writes it. */
static _Atomic uint64_t nretakes;

uint64_t sysmon_retakes(void)
{
	return load_relaxed(&nretakes);
}

/*
 * A P that has not switched for PROBE_AFTER_NS while work waits that no
 * idle P will take: is its M asleep in a system call the program made
 * without rg_syscall_enter?  If so, ask its handler to put it in one
 * (retakeone); sysmon_retake then hands the P over at its next round.  A
 * goroutine that computes is looked at again after a wait that doubles up
 * to a time slice, so that it costs sysmon a /proc read per slice at most.
 * Returns whether a request went out.
 */
static bool sysmon_probe(struct p *pp, int64_t now)
{
	struct m *mp = __atomic_load_n(&pp->m, __ATOMIC_ACQUIRE);
	unsigned long args[6];
	bool sent = false;
	long nr;

	if (!sched.blocked_retake || now - pp->sm.schedwhen < PROBE_AFTER_NS ||
	    now < pp->sm.probe_at)
		return false;
	if ((runqempty(pp) && !load_relaxed(&sched.runqsize)) || load_relaxed(&sched.npidle) > 0)
		return false;
	if (!mp || !load_relaxed(&mp->curg))
		return false;
	if (ki_thread_syscall(READ_ONCE(mp->tid), &nr, args) == 1 &&
	    ki_syscall_restarts(nr, args)) {
		pp->sm.retake_sent = true;
		pp->sm.retake_tick = load_relaxed(&pp->syscalltick) + 1;
		retakeone(mp);
		sent = true;
	}
	pp->sm.probe_at = now + pp->sm.probe_wait;
	pp->sm.probe_wait *= 2;
	if (pp->sm.probe_wait > sched.preempt_slice_ns)
		pp->sm.probe_wait = sched.preempt_slice_ns;
	return sent;
}

/*
 * Preempt goroutines that ran past their time slice (runtime/preempt.c).
 * A P whose schedtick did not move since sysmon first saw it, a slice
 * ago, has run one goroutine (or a chain inheriting its slice) all along.
 * Returns whether any P runs, so that sysmon keeps looking often enough
 * for the bound (a slice plus one of its periods, which sysmon caps at a
 * tenth of a slice while Ps run).
 */
static bool sysmon_preempt(int64_t now, int64_t prev, int64_t period, bool *probed)
{
	int32_t i, n = load_acquire(&sched.nprocs);
	bool running = false;

	if (now - prev > period)
		prev = now - period; /* sysmon slept longer: not before that */

	for (i = 0; i < n; i++) {
		struct p *pp = sched.allp[i];
		uint32_t t = load_relaxed(&pp->schedtick);

		if (load_relaxed(&pp->status) != P_RUNNING)
			continue;
		running = true;
		if (pp->sm.schedtick != t) {
			/* The slice began after sysmon's previous look: count
			 * from then, so that detection adds at most one period
			 * (a slice runs 0.9 to 1.1 of its length). */
			pp->sm.schedtick = t;
			pp->sm.schedwhen = prev;
			pp->sm.probe_at = 0;
			pp->sm.probe_wait = SYSMON_MIN_NS;
			pp->sm.retake_sent = false;
			continue;
		}
		*probed |= sysmon_probe(pp, now);
		if (now - pp->sm.schedwhen >= sched.preempt_slice_ns)
			preemptone(pp);
	}
	return running;
}

/*
 * Retake the Ps of Ms blocked in system calls (Go's retake).  A P seen in
 * the same system call (same syscalltick) on two rounds in a row has been
 * in it for at least a round; it is retaken if it has work, if nobody
 * idles or spins to pick up new work, or after SYSCALL_RETAKE_NS anyway.
 * The CAS from P_SYSCALL races with rg_syscall_exit's: one wins.
 */
static int sysmon_retake(int64_t now)
{
	int32_t i, n = load_acquire(&sched.nprocs);
	int retook = 0;

	for (i = 0; i < n; i++) {
		struct p *pp = sched.allp[i];
		uint32_t t = load_relaxed(&pp->syscalltick), st = P_SYSCALL;

		if (load_relaxed(&pp->status) != P_SYSCALL)
			continue;
		if (pp->sm.retake_sent && t == pp->sm.retake_tick) {
			/* The handler put it there: known to be blocked. */
			pp->sm.retake_sent = false;
		} else if (pp->sm.syscalltick != t) {
			pp->sm.syscalltick = t;
			pp->sm.syscallwhen = now;
			continue;
		}
		if (runqempty(pp) && !netpoll_p_busy(pp) && !load_relaxed(&sched.runqsize) &&
		    load_relaxed(&sched.npidle) + load_relaxed(&sched.nmspinning) > 0 &&
		    now - pp->sm.syscallwhen < SYSCALL_RETAKE_NS)
			continue;
		if (atomic_compare_exchange_strong(&pp->status, &st, P_IDLE)) {
			rg_probe(p_retake, pp->id);
			store_relaxed(&nretakes, load_relaxed(&nretakes) + 1);
			handoffp(pp);
			retook++;
		}
	}
	return retook;
}

/*
 * The runtime stops (goroutine 1 ended; "Shutdown" in runtime/proc.c):
 * preempt every goroutine still running, so that its M reaches a
 * scheduling point and leaves.  After STOP_NOTICE_NS, say once which Ms
 * still hold rg_main back.
 */
static void sysmon_stopping(int64_t now, bool *noticed)
{
	int32_t i, n = load_acquire(&sched.nprocs);
	struct m *mp;

	for (i = 0; i < n; i++)
		if (load_relaxed(&sched.allp[i]->status) == P_RUNNING)
			preemptone(sched.allp[i]);
	if (*noticed || now - atomic_load(&sched.stopping_ns) < STOP_NOTICE_NS)
		return;
	*noticed = true;
	lockr(&sched.lock, LR_SCHED);
	for (mp = sched.allm; mp; mp = mp->alllink) {
		struct g *gp = load_relaxed(&mp->curg);

		if (!gp)
			continue;
		fprintf(stderr,
			"ringo: rg_main: goroutine 1 ended %lld ms ago, but M%ld still runs "
			"goroutine %llu, %s; rg_main waits for it\n",
			(long long)((now - atomic_load(&sched.stopping_ns)) / 1000000),
			(long)mp->id, (unsigned long long)READ_ONCE(gp->goid),
			READ_ONCE(mp->p) ? "which cannot be preempted (rg_preempt_disable, "
					   "asynchronous preemption off, or a loop outside "
					   "the program's own code)" :
					   "blocked in a system call");
	}
	unlockr(&sched.lock, LR_SCHED);
}

/* Wake an M for a runnext G whose P has not switched for a whole round. */
static void sysmon_runnext(void)
{
	int32_t i, n = load_acquire(&sched.nprocs);

	for (i = 0; i < n; i++) {
		struct p *pp = sched.allp[i];
		uint32_t tick = load_relaxed(&pp->switchtick);
		bool next = load_relaxed(&pp->status) == P_RUNNING && runq_has_next(pp);

		if (next && pp->sm.next && pp->sm.switchtick == tick &&
		    load_relaxed(&sched.npidle) > 0 && load_relaxed(&sched.nmspinning) == 0) {
			wakep();
		}
		pp->sm.switchtick = tick;
		pp->sm.next = next;
	}
}

/*
 * Serve the pollers and timers nobody else serves ("Completions to
 * goroutines" in runtime/netpoll.c): those of a P whose M has not switched
 * goroutines for NP_STUCK_NS, and of an idle P with no M waiting in its
 * poller.  Not sooner: what sysmon takes goes to the global queue, behind
 * every local one (a short system call is not worth it).
 */
static void sysmon_pollers(int64_t now)
{
	int32_t i, n = __atomic_load_n(&sched.nallp, __ATOMIC_ACQUIRE);

	for (i = 0; i < n; i++) {
		struct p *pp = sched.allp[i];
		uint32_t tick = load_relaxed(&pp->switchtick), st = load_relaxed(&pp->status);
		bool stuck, orphan = st != P_RUNNING && !pollm_bound(&pp->poll);
		int64_t when = timers_next(&pp->timers);

		if (tick != pp->sm.nptick) {
			pp->sm.nptick = tick;
			pp->sm.npsince = now;
		}
		stuck = st == P_RUNNING && now - pp->sm.npsince >= NP_STUCK_NS;
		if ((!stuck && !orphan) || !netpoll_p_busy(pp))
			continue;
		/* Raised before a timer or a completion leaves its P, lowered
		 * once its goroutine is queued: see checkdead. */
		atomic_store(&sched.sysmon_readying, 1);
		netpoll_poll_orphan(pp);
		/* A running P's timers are its own M's, which fires them at
		 * its next schedule into its runnext: an idle P's M, woken,
		 * steals them, or, with none idle, the running goroutine is
		 * preempted now.  sysmon fires them itself (to the global
		 * queue) only for a P nobody runs, or whose goroutine outlived
		 * two slices: it cannot be preempted ("Timers and the global
		 * queue", runtime/proc.c). */
		if (when && when <= now) {
			if (orphan || now - pp->sm.npsince >= 2 * sched.preempt_slice_ns)
				run_timers(pp, now);
			else if (load_relaxed(&sched.npidle) > 0)
				wakep();
			else if (pp->sm.timertick != tick + 1) {
				/* Once per stretch: a goroutine at an unsafe point
				 * must not be signalled at every round. */
				pp->sm.timertick = tick + 1;
				preemptone(pp);
			}
		}
		atomic_store(&sched.sysmon_readying, 0);
	}
}

/* Sleep delay_ns, or, while every P is idle (nothing to watch), until a P
 * starts running (sysmon_wake); never past trace_ns (the next schedtrace
 * line).  False when sysmon_stop asks to stop. */
static bool sysmon_sleep(int64_t delay_ns, int64_t trace_ns, bool *kicked)
{
	int32_t procs = load_relaxed(&sched.nprocs);
	int64_t timeout = delay_ns;

	noteclear(&sm.note);
	if (atomic_load(&sm.stopping))
		return false;
	*kicked = atomic_exchange(&sm.kicked, 0);
	if (*kicked)
		return true;
	atomic_store(&sm.waiting, 1);
	if (atomic_load(&sched.npidle) == procs)
		timeout = SYSMON_IDLE_NS; /* an acquirep will wake us */
	else
		atomic_store(&sm.waiting, 0);
	if (timeout > trace_ns)
		timeout = trace_ns;
	notetsleep(&sm.note, timeout > 0 ? timeout : 0);
	atomic_store(&sm.waiting, 0);
	return !atomic_load(&sm.stopping);
}

void sysmon_signal_request(void)
{
	atomic_store(&sm.signals, 1);
	sysmon_wake();
	if (!atomic_exchange(&sm.kicked, 1))
		notewakeup(&sm.note);
}

void sysmon_dump_request(void)
{
	atomic_store(&sm.dump, 1);
	sysmon_wake();
	sysmon_kick();
}

/* SIGQUIT, as Go: every goroutine to stderr, exit status 2.  sysmon does
 * it because a signal handler cannot (runtime/dump.c allocates). */
static _Noreturn void sysmon_sigquit(void)
{
	static const char head[] = "SIGQUIT: quit\n\n";

	ki_write(2, head, sizeof(head) - 1);
	dump_goroutines(2);
	ki_exit(2);
}

void sysmon_kick(void)
{
	if (load_relaxed(&sm.delay_ns) > SYSMON_KICK_NS && !atomic_exchange(&sm.kicked, 1))
		notewakeup(&sm.note);
}

void sysmon_wake(void)
{
	uint32_t one = 1;

	if (atomic_compare_exchange_strong(&sm.waiting, &one, 0)) {
		/* The clock stood still while every P idled. */
		store_relaxed(&sysmon_clock_ns, ki_nanotime());
		notewakeup(&sm.note);
	}
}

static void *sysmon_main(void *arg)
{
	int64_t period = sched.schedtrace_ms * 1000000, delay = SYSMON_MIN_NS;
	int64_t next_trace = ki_nanotime() + period;
	int64_t preempt_period = sched.preempt_slice_ns / 10 > SYSMON_MIN_NS ?
					 sched.preempt_slice_ns / 10 :
					 SYSMON_MIN_NS;
	int64_t prev = ki_nanotime();
	bool noticed = false;
	int idle = 0;

	(void)arg;
	store_relaxed(&sm.tid, ki_gettid());
	for (;;) {
		int64_t now, trace = period ? next_trace - ki_nanotime() : SYSMON_IDLE_NS;

		bool kicked, probed = false;

		if (!sysmon_sleep(delay, trace, &kicked))
			break;
		if (unlikely(atomic_exchange(&sm.dump, 0)))
			sysmon_sigquit();
		if (unlikely(atomic_exchange(&sm.signals, 0)))
			signotify_deliver();
		kicked |= atomic_exchange(&sm.kicked, 0);
		now = ki_nanotime();
		store_relaxed(&sysmon_clock_ns, now);
		mreap();
		if (unlikely(stack_release_due(now)))
			stack_release_pending();
		preempt_check_handler(now);
		if (unlikely(load_relaxed(&sched.need_g0) & NEED_G0_STOP)) {
			sysmon_stopping(now, &noticed);
			delay = STOP_ROUND_NS;
			continue;
		}
		if (period && now >= next_trace) {
			schedtrace(sched.scheddetail);
			next_trace = now + period;
		}
		/* Handing over a stalled runnext is a latency bound, not a
		 * reason to poll faster: at full speed sysmon would keep
		 * splitting goroutines that trade a lock on one P. */
		sysmon_runnext();
		sysmon_pollers(now);
		/* Retaking a P is what it polls fast for: a system call that
		 * blocks while work waits (rg_syscall_enter kicks it). */
		if (sysmon_retake(now) > 0 || kicked) {
			idle = 0;
			delay = SYSMON_MIN_NS;
		} else if (++idle > SYSMON_IDLE_UP && delay < SYSMON_MAX_NS) {
			delay *= 2;
		}
		if (delay > SYSMON_MAX_NS)
			delay = SYSMON_MAX_NS;
		store_relaxed(&sm.delay_ns, delay);
		if (sysmon_preempt(now, prev, preempt_period, &probed) && delay > preempt_period)
			delay = preempt_period;
		if (probed) /* retake at the next round */
			delay = SYSMON_MIN_NS;
		prev = now;
	}
	return NULL;
}

int sysmon_start(void)
{
	int r;

	store_relaxed(&nretakes, 0);
	noteclear(&sm.note);
	atomic_store(&sm.stopping, false);
	atomic_store(&sm.waiting, 0);
	store_relaxed(&sm.tid, 0);
	r = ki_thread_create(&sm.thread, sysmon_main, NULL, 0, "ringo-sysmon");
	sm.started = r == 0;
	/* Deadlock detection tells sysmon from plain threads by its tid. */
	while (sm.started && !load_relaxed(&sm.tid))
		ki_osyield();
	return r;
}

void sysmon_stop(void)
{
	if (!sm.started)
		return;
	atomic_store(&sm.stopping, true);
	notewakeup(&sm.note);
	ki_thread_join(sm.thread);
	sm.started = false;
	store_relaxed(&sm.tid, 0);
}

pid_t sysmon_tid(void)
{
	return load_relaxed(&sm.tid);
}
