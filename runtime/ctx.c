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
 * Attached goroutines.  A goroutine runs under at most one context
 * (rg_ctx_attach, rg_go_ctx), through its attachment (struct ctx_attach,
 * gext->ctxa), which is on the context's list and holds a reference, so
 * that a context freed while goroutines still run under it stays
 * readable to them, cancelled.  The attachment also holds the one wait
 * the goroutine has registered (ctx_wait_begin: an I/O request, a
 * readiness wait, a semaphore, a Cond), and cancelling walks every
 * attachment of the subtree and calls each registered wait's cancel, so
 * that a goroutine waits for nothing once its context is cancelled, with
 * no cost to a wait while the context lives (two uncontended locks of its
 * own attachment).  Channel operations, select and sleep need no
 * registration: they wait in a select with the done channel as one more
 * case (ctx_select).
 *
 * A goroutine that ends under a cancelled context does not take ctx_lock
 * to leave it: a cancel wakes every goroutine of the context at once, and
 * all of them would queue on that lock behind the canceller.  It marks
 * its attachment exited (under the attachment's lock) and leaves it on
 * the list, with its reference, for rg_ctx_free to reap; once rg_ctx_free
 * has begun (freed, stored before it walks the list) it leaves the plain
 * way.
 *
 * Locking.  One lock for every context (ctx_lock, rank LR_CTX, before the
 * channels' locks): it guards the tree (parent, children, refs), the
 * lists of attachments and each context's err.  err is also read without
 * it (rg_ctx_err: an acquire load pairs with the release store made
 * before the done channel closes).  Cancelling walks the subtree under
 * the lock; the channels close under it too, so that a context's err is
 * set before anyone can see its channel closed.  Each attachment's lock
 * (rank LR_CTXWAIT) guards its registered wait: the goroutine takes it to
 * register and to unregister, and checks err under it; the canceller
 * stores err first and then takes it, so either the goroutine sees err
 * and does not wait, or the canceller finds the wait registered.  The
 * deadline timer's function runs with no lock held (run_timers), on any
 * M or sysmon, and takes ctx_lock.
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
	struct rg_ctx *parent;	     /* ctx_lock; holds a reference */
	struct rg_ctx *children;     /* not yet freed; ctx_lock */
	struct rg_ctx *sibling;	     /* next in parent's children; ctx_lock */
	int refs;		     /* ctx_lock */
	_Atomic bool freed;	     /* rg_ctx_free was called; written under ctx_lock */
	_Atomic int err;	     /* 0, -ECANCELED or -ETIMEDOUT; written once under ctx_lock */
	int64_t deadline;	     /* 0: none; fixed */
	rg_chan *done;		     /* closed when err is set; fixed */
	struct timer timer;	     /* the deadline's, when one is set; armed while in a heap */
	bool timer_armed;	     /* ctx_lock */
	struct ctx_attach *attached; /* goroutines running under it; ctx_lock */
};

/* A goroutine running under a context (gext->ctxa). */
struct ctx_attach {
	struct rg_ctx *ctx;		/* holds a reference; ctx_lock, and the goroutine's */
	struct ctx_attach *next, *prev; /* ctx->attached; ctx_lock */
	struct lock lock;		/* rank LR_CTXWAIT */
	struct ctx_wait *wait;		/* the wait registered; lock */
	bool exited; /* its goroutine ended, the context cancelled (ctx_goexit); lock */
};

static struct lock ctx_lock;

/* What a cancel leaves to do once ctx_lock is released: the distinct
 * cancel_done functions of the waits it ended. */
struct cancel_batch {
	void (*done[4])(void);
	int n;
};

static void batch_add(struct cancel_batch *b, void (*done)(void))
{
	for (int i = 0; i < b->n; i++)
		if (b->done[i] == done)
			return;
	if (b->n == (int)ARRAY_SIZE(b->done))
		done(); /* more kinds than room: at once, under the lock */
	else
		b->done[b->n++] = done;
}

static void batch_finish(struct cancel_batch *b)
{
	for (int i = 0; i < b->n; i++)
		b->done[i]();
}

/* Set err on ctx and its subtree (those not yet cancelled), closing their
 * channels and ending the registered waits.  ctx_lock held. */
static void cancel_locked(struct rg_ctx *ctx, int err, struct cancel_batch *b)
{
	struct ctx_attach *a;
	struct rg_ctx *c;

	if (load_relaxed(&ctx->err))
		return;
	store_release(&ctx->err, err);
	rg_chan_close(ctx->done);
	for (a = ctx->attached; a; a = a->next) {
		struct ctx_wait *w;

		lockr(&a->lock, LR_CTXWAIT);
		w = a->wait;
		if (w && !w->err) {
			w->err = err;
			w->cancel(w, err);
			if (w->cancel_done)
				batch_add(b, w->cancel_done);
		}
		unlockr(&a->lock, LR_CTXWAIT);
	}
	for (c = ctx->children; c; c = c->sibling)
		cancel_locked(c, err, b);
}

/* Free the attachments of goroutines that ended under ctx once it was
 * cancelled (ctx_goexit), with their references; ctx keeps one, the
 * caller's.  ctx->freed is set.  ctx_lock held. */
static void reap_exited_locked(struct rg_ctx *ctx)
{
	struct ctx_attach *a, *next;

	for (a = ctx->attached; a; a = next) {
		bool exited;

		next = a->next;
		lockr(&a->lock, LR_CTXWAIT);
		exited = a->exited;
		unlockr(&a->lock, LR_CTXWAIT);
		if (!exited)
			continue;
		if (a->prev)
			a->prev->next = a->next;
		else
			ctx->attached = a->next;
		if (a->next)
			a->next->prev = a->prev;
		ctx->refs--; /* not the last: the caller's is still held */
		rt_free(a);
	}
}

/* Cancel ctx and its subtree with err.  ctx_lock not held. */
static void cancel(struct rg_ctx *ctx, int err)
{
	struct cancel_batch b = { .n = 0 };

	lockr(&ctx_lock, LR_CTX);
	cancel_locked(ctx, err, &b);
	unlockr(&ctx_lock, LR_CTX);
	batch_finish(&b);
}

static void deadline_fire(struct timer *t)
{
	cancel(t->arg, -ETIMEDOUT);
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
	struct cancel_batch none = { .n = 0 };
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
	/* Born cancelled: no goroutine runs under it yet, no wait to end. */
	if (parent && load_relaxed(&parent->err)) {
		cancel_locked(ctx, load_relaxed(&parent->err), &none);
	} else if (deadline && deadline <= ki_nanotime()) {
		cancel_locked(ctx, -ETIMEDOUT, &none);
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
	cancel(ctx, -ECANCELED);
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

/* Move gp's attachment from its context to ctx (NULL: drop it).  Returns
 * the attachment to free (after ctx_lock) or NULL.  ctx_lock held. */
static struct ctx_attach *attach_locked(struct gext *x, struct ctx_attach *a, struct rg_ctx *ctx)
{
	if (a && a->ctx) {
		if (a->prev)
			a->prev->next = a->next;
		else
			a->ctx->attached = a->next;
		if (a->next)
			a->next->prev = a->prev;
		unref_locked(a->ctx);
		a->ctx = NULL;
	}
	if (!ctx) {
		x->ctxa = NULL;
		return a;
	}
	if (ctx->freed) {
		unlockr(&ctx_lock, LR_CTX);
		throw("rg_ctx_attach: the context was freed");
	}
	a->ctx = ctx;
	ctx->refs++;
	a->prev = NULL;
	a->next = ctx->attached;
	if (a->next)
		a->next->prev = a;
	ctx->attached = a;
	x->ctxa = a;
	return NULL;
}

/* Attach the calling goroutine to ctx (NULL: detach); the old context, or
 * NULL.  drop: a reference the caller held on ctx, dropped once the
 * attachment holds its own. */
static rg_ctx *attach(rg_ctx *ctx, bool drop)
{
	struct g *gp = getg();
	struct gext *x = gp->ext;
	struct ctx_attach *a = x->ctxa, *spare = NULL;
	rg_ctx *old = a ? a->ctx : NULL;

	if (ctx == old && !drop)
		return old;
	if (ctx && !a) {
		spare = rt_calloc(1, sizeof(*spare));
		if (!spare)
			throw("rg_ctx_attach: out of memory");
		a = spare;
	}
	/* The wait lock is not held by the goroutine here; a canceller
	 * holds ctx_lock while it looks at a, so a moves under ctx_lock. */
	lockr(&ctx_lock, LR_CTX);
	spare = attach_locked(x, a, ctx);
	if (drop)
		unref_locked(ctx);
	unlockr(&ctx_lock, LR_CTX);
	rt_free(spare);
	return old;
}

rg_ctx *rg_ctx_attach(rg_ctx *ctx)
{
	rt_enter();
	if (!getg())
		return NULL;
	return attach(ctx, false);
}

void ctx_goexit(struct g *gp)
{
	struct ctx_attach *a = gp->ext->ctxa;

	if (a->ctx && load_acquire(&a->ctx->err)) {
		bool left;

		lockr(&a->lock, LR_CTXWAIT);
		left = !load_acquire(&a->ctx->freed);
		a->exited = left;
		unlockr(&a->lock, LR_CTXWAIT);
		if (left) {
			gp->ext->ctxa = NULL; /* rg_ctx_free reaps a */
			return;
		}
	}
	lockr(&ctx_lock, LR_CTX);
	a = attach_locked(gp->ext, a, NULL);
	unlockr(&ctx_lock, LR_CTX);
	rt_free(a);
}

struct go_ctx {
	rg_ctx *ctx; /* holds a reference until the goroutine attaches */
	void (*fn)(void *);
	void *arg;
};

static void go_ctx_entry(void *arg)
{
	struct go_ctx gc = *(struct go_ctx *)arg;

	rt_free(arg);
	attach(gc.ctx, true);
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
	lockr(&ctx_lock, LR_CTX);
	if (ctx->freed) {
		unlockr(&ctx_lock, LR_CTX);
		throw("rg_go_ctx: the context was freed");
	}
	ctx->refs++;
	unlockr(&ctx_lock, LR_CTX);
	r = rg_go(go_ctx_entry, gc);
	if (r) {
		lockr(&ctx_lock, LR_CTX);
		unref_locked(ctx);
		unlockr(&ctx_lock, LR_CTX);
		rt_free(gc);
	}
	return r;
}

rg_ctx *ctx_current(void)
{
	struct g *gp = getg();

	return gp && gp->ext->ctxa ? gp->ext->ctxa->ctx : NULL;
}

int ctx_current_err(void)
{
	rg_ctx *ctx = ctx_current();

	return ctx ? load_acquire(&ctx->err) : 0;
}

/* --- waits that a context ends -------------------------------------------- */

int ctx_wait_begin_slow(struct ctx_wait *w, void (*cancel)(struct ctx_wait *, int),
			void (*cancel_done)(void))
{
	struct ctx_attach *a = getg()->ext->ctxa;
	int err;

	w->att = a;
	w->cancel = cancel;
	w->cancel_done = cancel_done;
	w->err = 0;
	lockr(&a->lock, LR_CTXWAIT);
	err = load_acquire(&a->ctx->err);
	if (!err)
		a->wait = w;
	unlockr(&a->lock, LR_CTXWAIT);
	if (err)
		w->att = NULL;
	return err;
}

int ctx_wait_end_slow(struct ctx_wait *w)
{
	struct ctx_attach *a = w->att;
	int err;

	lockr(&a->lock, LR_CTXWAIT);
	a->wait = NULL;
	err = w->err;
	unlockr(&a->lock, LR_CTXWAIT);
	w->att = NULL;
	return err;
}

int ctx_wait_ctx_err(const struct ctx_wait *w)
{
	return w->att ? load_acquire(&w->att->ctx->err) : 0;
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
	struct cancel_batch b = { .n = 0 };
	struct rg_ctx **link;
	bool armed;

	if (!ctx)
		return;
	lockr(&ctx_lock, LR_CTX);
	if (ctx->freed) {
		unlockr(&ctx_lock, LR_CTX);
		throw("rg_ctx_free: context freed twice");
	}
	store_release(&ctx->freed, true);
	cancel_locked(ctx, -ECANCELED, &b);
	reap_exited_locked(ctx);
	armed = ctx->timer_armed;
	ctx->timer_armed = false;
	unlockr(&ctx_lock, LR_CTX);
	batch_finish(&b);
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
