/* SPDX-License-Identifier: MIT */
/*
 * runtime/ctx.h - contexts attached to goroutines (runtime/ctx.c): what
 * the channel operations, select, sleep, the netpoller and the wait
 * queues ask of them.
 */
#ifndef RINGO_RUNTIME_CTX_H
#define RINGO_RUNTIME_CTX_H

#include <stdint.h>

#include "ringo.h"
#include "runtime/runtime.h"

/*
 * A wait that the goroutine's context can end.  The waiter registers it
 * (ctx_wait_begin) before it can park and ends it (ctx_wait_end) after it
 * resumes; in between, cancelling the context calls cancel(w, err) once,
 * from any thread, holding the context locks (ranks LR_CTX, LR_CTXWAIT):
 * cancel must make the wait end, as the waiter's own timeout or
 * rg_io_cancel would (take the waiter off its queue and ready it, or
 * cancel its request), taking only locks of a higher rank, and must
 * cope with a waiter that has not parked yet (a flag it checks under the
 * lock it parks with).  Only one wait per goroutine is registered at a
 * time.
 */
struct ctx_wait {
	void (*cancel)(struct ctx_wait *w, int err);
	/* NULL, or called once after a cancel that called cancel on this
	 * kind of wait, with no lock held: to finish in one step what each
	 * cancel began (the netpoller submits the cancels of every ring
	 * once, not one system call per request). */
	void (*cancel_done)(void);
	struct ctx_attach *att; /* the goroutine's attachment; NULL: no context */
	int err;		/* set (under the attachment's lock) before cancel runs */
};

int ctx_wait_begin_slow(struct ctx_wait *w, void (*cancel)(struct ctx_wait *, int),
			void (*cancel_done)(void));
int ctx_wait_end_slow(struct ctx_wait *w);

/* Register w for the calling goroutine (cancel_done: see struct
 * ctx_wait; may be NULL): 0, or its context's err when it
 * is already cancelled (w is then not registered: the caller must not
 * wait).  Without a context (a plain thread too): 0, nothing registered.
 * (any) */
static inline int ctx_wait_begin(struct ctx_wait *w, void (*cancel)(struct ctx_wait *, int),
				 void (*cancel_done)(void))
{
	struct g *gp = getg();

	if (likely(!gp || !gp->ext->ctxa)) {
		w->att = NULL;
		return 0;
	}
	return ctx_wait_begin_slow(w, cancel, cancel_done);
}

/* Unregister w: once it returns, cancel will not run (nor is running).
 * The err cancel was called with, or 0 when it was not. */
static inline int ctx_wait_end(struct ctx_wait *w)
{
	return likely(!w->att) ? 0 : ctx_wait_end_slow(w);
}

/* The err of the context w is registered with, read without a lock: 0
 * for none or not cancelled yet. */
int ctx_wait_ctx_err(const struct ctx_wait *w);

/* The calling goroutine's attached context, or NULL (a plain thread
 * too).  (any) */
rg_ctx *ctx_current(void);
/* The err of the calling goroutine's attached context: 0 for none or not
 * cancelled.  (any) */
int ctx_current_err(void);
/* The exiting goroutine gp leaves its context.  (goroutine: gp's own) */
void ctx_goexit(struct g *gp);
/* rg_select's work over n cases plus ctx's done channel: the chosen case,
 * or ctx's err when that channel won or ctx was already cancelled, or
 * rg_select's errors.  (goroutine) */
int ctx_select(rg_case *cases, int n, int64_t timeout_ns, rg_ctx *ctx);
/* rg_select without the attached context (runtime/chan.c). */
int select_cases(rg_case *cases, int n, int64_t timeout_ns);

#endif /* RINGO_RUNTIME_CTX_H */
