/* SPDX-License-Identifier: MIT */
/*
 * runtime/ctx.c - contexts: cancellation and deadlines that flow from a
 * parent to its children, as Go's context package (rg_ctx_*).
 *
 * A context is cancelled once, with a reason (its err: -ECANCELED by
 * rg_ctx_cancel or rg_ctx_free, -ETIMEDOUT by its deadline); cancelling
 * it closes its done channel, which wakes every goroutine waiting on it
 * in rg_select or rg_chan_recv, and cancels each of its children with the
 * same reason.  A child made from a cancelled parent is born cancelled.
 * A deadline is a timer on a P's heap (timer_add_any) whose function
 * cancels the context; a child's deadline is never later than its
 * parent's (the parent's cancels it anyway, as in Go).
 *
 * Memory.  C has no collector, so contexts count references: one for the
 * caller who made it (dropped by rg_ctx_free) and one for each child not
 * yet freed, which names its parent.  rg_ctx_free cancels the context
 * (its children with it), takes it off its parent's list, stops its
 * timer and drops the caller's reference; the memory goes when the last
 * reference does, so a parent freed before its children stays readable
 * to them, cancelled.
 *
 * Locking.  One lock for every context (ctx_lock, rank LR_CTX, before the
 * channels' locks): it guards the tree (parent, children, refs) and each
 * context's err.  err is also read without it (rg_ctx_err: an acquire
 * load pairs with the release store made before the done channel
 * closes).  Cancelling walks the subtree under the lock; the channels
 * close under it too, so that a context's err is set before anyone can
 * see its channel closed.  The deadline timer's function runs with no lock
 * held (run_timers), on any M or sysmon, and takes ctx_lock.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "ringo.h"
#include "kernel_iface/kernel.h"
#include "runtime/preempt.h"
#include "runtime/ctx.h"
#include "runtime/runtime.h"
#include "runtime/time.h"

struct rg_ctx {
	struct rg_ctx *parent;	 /* ctx_lock; holds a reference */
	struct rg_ctx *children; /* not yet freed; ctx_lock */
	struct rg_ctx *sibling;	 /* next in parent's children; ctx_lock */
	int refs;		 /* ctx_lock */
	bool freed;		 /* rg_ctx_free was called; ctx_lock */
	_Atomic int err;	 /* 0, -ECANCELED or -ETIMEDOUT; written once under ctx_lock */
	int64_t deadline;	 /* 0: none; fixed */
	rg_chan *done;		 /* closed when err is set; fixed */
	struct timer timer;	 /* the deadline's, when one is set; armed while in a heap */
	bool timer_armed;	 /* ctx_lock */
};

static struct lock ctx_lock;

/* Set err on ctx and its subtree (those not yet cancelled), closing their
 * channels.  ctx_lock held. */
static void cancel_locked(struct rg_ctx *ctx, int err)
{
	struct rg_ctx *c;

	if (load_relaxed(&ctx->err))
		return;
	store_release(&ctx->err, err);
	rg_chan_close(ctx->done);
	for (c = ctx->children; c; c = c->sibling)
		cancel_locked(c, err);
}

static void deadline_fire(struct timer *t)
{
	struct rg_ctx *ctx = t->arg;

	lockr(&ctx_lock, LR_CTX);
	cancel_locked(ctx, -ETIMEDOUT);
	unlockr(&ctx_lock, LR_CTX);
}

/* Drop one reference; free ctx (and drop its parent's) at the last.
 * ctx_lock held. */
static void unref_locked(struct rg_ctx *ctx)
{
	while (ctx && --ctx->refs == 0) {
		struct rg_ctx *parent = ctx->parent;

		rg_chan_free(ctx->done);
		rt_free(ctx);
		ctx = parent;
	}
}

static struct rg_ctx *ctx_new(struct rg_ctx *parent, int64_t deadline)
{
	struct rg_ctx *ctx;

	rt_enter();
	if (load_acquire(&sched.nprocs) <= 0)
		return NULL;
	ctx = rt_calloc(1, sizeof(*ctx));
	if (!ctx)
		return NULL;
	ctx->done = rg_chan_make(1, 0);
	if (!ctx->done) {
		rt_free(ctx);
		return NULL;
	}
	ctx->refs = 1;
	lockr(&ctx_lock, LR_CTX);
	if (parent) {
		if (parent->freed) {
			unlockr(&ctx_lock, LR_CTX);
			throw("rg_ctx: a context made from a freed parent");
		}
		if (parent->deadline && (!deadline || parent->deadline < deadline))
			deadline = parent->deadline;
		ctx->parent = parent;
		parent->refs++;
		ctx->sibling = parent->children;
		parent->children = ctx;
	}
	ctx->deadline = deadline;
	if (parent && load_relaxed(&parent->err)) {
		cancel_locked(ctx, load_relaxed(&parent->err));
	} else if (deadline && deadline <= ki_nanotime()) {
		cancel_locked(ctx, -ETIMEDOUT);
	} else if (deadline) {
		ctx->timer.f = deadline_fire;
		ctx->timer.arg = ctx;
		ctx->timer_armed = true;
		timer_add_any(&ctx->timer, deadline);
	}
	unlockr(&ctx_lock, LR_CTX);
	return ctx;
}

rg_ctx *rg_ctx_with_cancel(rg_ctx *parent)
{
	return ctx_new(parent, 0);
}

rg_ctx *rg_ctx_with_deadline(rg_ctx *parent, int64_t deadline_ns)
{
	return ctx_new(parent, deadline_ns > 0 ? deadline_ns : 1);
}

rg_ctx *rg_ctx_with_timeout(rg_ctx *parent, int64_t timeout_ns)
{
	return ctx_new(parent, timeout_ns > 0 ? when_after(timeout_ns) : 1);
}

static void ctx_check(const rg_ctx *ctx, const char *call)
{
	if (!ctx)
		throw("%s: NULL context", call);
}

void rg_ctx_cancel(rg_ctx *ctx)
{
	ctx_check(ctx, "rg_ctx_cancel");
	lockr(&ctx_lock, LR_CTX);
	cancel_locked(ctx, -ECANCELED);
	unlockr(&ctx_lock, LR_CTX);
}

int rg_ctx_err(const rg_ctx *ctx)
{
	ctx_check(ctx, "rg_ctx_err");
	return load_acquire(&((rg_ctx *)ctx)->err);
}

rg_chan *rg_ctx_done(const rg_ctx *ctx)
{
	ctx_check(ctx, "rg_ctx_done");
	return ctx->done;
}

int64_t rg_ctx_deadline(const rg_ctx *ctx)
{
	ctx_check(ctx, "rg_ctx_deadline");
	return ctx->deadline;
}

/* --- contexts attached to goroutines ------------------------------------ */

rg_ctx *rg_ctx_attach(rg_ctx *ctx)
{
	struct g *gp;
	rg_ctx *old;

	rt_enter();
	gp = getg();
	if (!gp)
		return NULL;
	old = gp->ext->ctx;
	gp->ext->ctx = ctx;
	return old;
}

struct go_ctx {
	rg_ctx *ctx;
	void (*fn)(void *);
	void *arg;
};

static void go_ctx_entry(void *arg)
{
	struct go_ctx gc = *(struct go_ctx *)arg;

	rt_free(arg);
	getg()->ext->ctx = gc.ctx;
	gc.fn(gc.arg);
}

int rg_go_ctx(rg_ctx *ctx, void (*fn)(void *), void *arg)
{
	struct go_ctx *gc;
	int r;

	if (!fn)
		return -EINVAL;
	if (!ctx)
		return rg_go(fn, arg);
	gc = rt_malloc(sizeof(*gc));
	if (!gc)
		return -ENOMEM;
	*gc = (struct go_ctx){ ctx, fn, arg };
	r = rg_go(go_ctx_entry, gc);
	if (r)
		rt_free(gc);
	return r;
}

rg_ctx *ctx_current(void)
{
	struct g *gp = getg();

	return gp ? gp->ext->ctx : NULL;
}

int ctx_select(rg_case *cases, int n, int64_t timeout_ns, rg_ctx *ctx)
{
	rg_case stack[8], *all = stack;
	char v;
	int r, err = rg_ctx_err(ctx);

	/* Already cancelled: nothing is tried. */
	if (err)
		return err;
	if (n + 1 > (int)ARRAY_SIZE(stack)) {
		all = rt_malloc(sizeof(*all) * (size_t)(n + 1));
		if (!all)
			return -ENOMEM;
	}
	if (n > 0)
		memcpy(all, cases, sizeof(*all) * (size_t)n);
	all[n] = (rg_case){ .chan = ctx->done, .op = RG_RECV, .elem = &v };
	r = select_cases(all, n + 1, timeout_ns);
	if (r == n)
		r = rg_ctx_err(ctx);
	else if (r >= 0 && n > 0)
		memcpy(cases, all, sizeof(*all) * (size_t)n); /* ok of the case taken */
	if (all != stack)
		rt_free(all);
	return r;
}

void rg_ctx_free(rg_ctx *ctx)
{
	struct rg_ctx **link;
	bool armed;

	if (!ctx)
		return;
	lockr(&ctx_lock, LR_CTX);
	if (ctx->freed) {
		unlockr(&ctx_lock, LR_CTX);
		throw("rg_ctx_free: context freed twice");
	}
	ctx->freed = true;
	cancel_locked(ctx, -ECANCELED);
	armed = ctx->timer_armed;
	ctx->timer_armed = false;
	unlockr(&ctx_lock, LR_CTX);
	/* Outside the lock: the timer's function may be waiting for it. */
	if (armed)
		timer_del(&ctx->timer);
	lockr(&ctx_lock, LR_CTX);
	if (ctx->parent) {
		for (link = &ctx->parent->children; *link && *link != ctx; link = &(*link)->sibling)
			;
		if (*link)
			*link = ctx->sibling;
	}
	unref_locked(ctx);
	unlockr(&ctx_lock, LR_CTX);
}
