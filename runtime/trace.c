/* SPDX-License-Identifier: MIT */
/*
 * runtime/trace.c - fatal errors, the deadlock report and schedtrace.
 *
 * Output goes straight to file descriptor 2 with write(2), never through
 * stdio buffers, so that a message is complete even when the process dies
 * right after it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kernel_iface/kernel.h"
#include "runtime/dump.h"
#include "runtime/runtime.h"

/* A small buffered writer over fd 2. */
struct out {
	char buf[4096];
	size_t len;
};

static void out_flush(struct out *o)
{
	ki_write_all(2, o->buf, o->len);
	o->len = 0;
}

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (sizeof(o->buf) - o->len < 512)
		out_flush(o);
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, sizeof(o->buf) - o->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	o->len += (size_t)n < sizeof(o->buf) - o->len ? (size_t)n : sizeof(o->buf) - o->len - 1;
}

static const char *status_name(uint32_t s)
{
	static const char *const names[] = { "idle", "runnable", "running", "waiting", "dead" };

	return s < ARRAY_SIZE(names) ? names[s] : "?";
}

_Noreturn void throw(const char *fmt, ...)
{
	struct m *mp = tls_m;
	struct g *gp = mp ? load_relaxed(&mp->curg) : NULL;
	struct out o = { .len = 0 };
	va_list ap;
	int n;

	out_printf(&o, "fatal error: ");
	va_start(ap, fmt);
	n = vsnprintf(o.buf + o.len, sizeof(o.buf) - o.len - 64, fmt, ap);
	va_end(ap);
	if (n > 0)
		o.len += (size_t)n < sizeof(o.buf) - o.len - 64 ? (size_t)n :
								  sizeof(o.buf) - o.len - 65;
	if (gp) {
		out_printf(&o, "\n\ngoroutine %llu [running]:\n", (unsigned long long)gp->goid);
		out_flush(&o);
		dump_stack_here(2); /* from the caller of throw */
	} else if (mp)
		out_printf(&o, "\n\n[on the scheduler stack of M%ld]\n", (long)mp->id);
	else
		out_printf(&o, "\n\n[on thread %d, which is not running a goroutine]\n",
			   (int)ki_gettid());
	out_flush(&o);
	ki_exit(2);
}

/* The wait reason of a waiting G, else its status. */
static const char *g_state_name(struct g *gp, uint32_t st)
{
	struct gext *x = READ_ONCE(gp->ext);
	const char *reason = st == G_WAITING && x ? READ_ONCE(x->waitreason) : NULL;

	return reason ? reason : status_name(st);
}

_Noreturn void fatal_deadlock(void)
{
	struct out o = { .len = 0 };

	/* Every goroutine with its stack and creator (runtime/dump.c). */
	out_printf(&o, "fatal error: all goroutines are asleep - deadlock!\n\n");
	out_flush(&o);
	dump_goroutines_locked(2);
	ki_exit(2);
}

void schedtrace(bool detailed)
{
	struct out o = { .len = 0 };
	int64_t now = ki_nanotime();
	int32_t i, nprocs;
	struct gslab *slab;
	struct g *gp;
	struct m *mp;

	lockr(&sched.lock, LR_SCHED);
	nprocs = load_relaxed(&sched.nprocs);
	out_printf(&o,
		   "SCHED %lldms: gomaxprocs=%d idleprocs=%d threads=%d spinningthreads=%d "
		   "idlethreads=%d runqueue=%d",
		   (long long)((now - sched.start_ns) / 1000000), nprocs,
		   load_relaxed(&sched.npidle), sched.mcount, load_relaxed(&sched.nmspinning),
		   sched.nmidle, load_relaxed(&sched.runqsize));
	if (detailed) {
		out_printf(&o, " gcwaiting=%d stopwait=%d\n",
			   !!(load_relaxed(&sched.need_g0) & NEED_G0_STW), sched.stopwait);
		out_printf(&o,
			   "  numa: nodes=%d%s stealpolicy=%s rseq=%s ppin=%d softaffinity=%d\n",
			   sched.topo.nnodes, sched.topo.synthetic ? " (synthetic)" : "",
			   steal_policy_name(sched.steal_policy), krseq_mode_name(), sched.ppin,
			   sched.softaffinity);
	} else
		out_printf(&o, " [");
	for (i = 0; i < nprocs; i++) {
		struct p *pp = sched.allp[i];
		struct m *pm = READ_ONCE(pp->m);
		uint32_t qlen = runqlen(pp);

		if (!detailed) {
			out_printf(&o, i ? " %u" : "%u", qlen);
			continue;
		}
		out_printf(&o,
			   "  P%d: status=%u schedtick=%u syscalltick=%u m=%ld runqsize=%u "
			   "gfreecnt=%d home=%d/node%d cpu=%d steals=%llu,%llu,%llu "
			   "remotewithlocal=%llu wakeups=%llu/%llu migrations=%llu\n",
			   pp->id, load_relaxed(&pp->status), load_relaxed(&pp->schedtick),
			   load_relaxed(&pp->syscalltick), pm ? (long)pm->id : -1L, qlen,
			   READ_ONCE(pp->gfreecnt), pp->home_cpu, pp->home_node,
			   load_relaxed(&pp->stats.cpu),
			   (unsigned long long)load_relaxed(&pp->stats.steals[0]),
			   (unsigned long long)load_relaxed(&pp->stats.steals[1]),
			   (unsigned long long)load_relaxed(&pp->stats.steals[2]),
			   (unsigned long long)load_relaxed(&pp->stats.steals_remote_local_work),
			   (unsigned long long)load_relaxed(&pp->stats.wake_local),
			   (unsigned long long)load_relaxed(&pp->stats.wake_remote),
			   (unsigned long long)load_relaxed(&pp->stats.migrations));
	}
	if (!detailed) {
		out_printf(&o, "]\n");
		unlockr(&sched.lock, LR_SCHED);
		out_flush(&o);
		return;
	}
	for (mp = sched.allm; mp; mp = mp->alllink) {
		struct p *pp = READ_ONCE(mp->p);
		struct g *gp = load_relaxed(&mp->curg);

		out_printf(&o, "  M%ld: p=%d curg=%lld spinning=%s blocked=%s\n", (long)mp->id,
			   pp ? pp->id : -1, gp ? (long long)gp->goid : -1LL,
			   READ_ONCE(mp->spinning) ? "true" : "false", !pp ? "true" : "false");
	}
	unlockr(&sched.lock, LR_SCHED);
	lockr(&sched.allglock, LR_ALLG);
	for_each_g(slab, gp)
	{
		uint32_t st = load_relaxed(&gp->status);

		if (st == G_DEAD || st == G_IDLE)
			continue;
		out_printf(&o, "  G%llu: status=%u(%s)\n", (unsigned long long)READ_ONCE(gp->goid),
			   st, g_state_name(gp, st));
	}
	unlockr(&sched.allglock, LR_ALLG);
	out_flush(&o);
}
