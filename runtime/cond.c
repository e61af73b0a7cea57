/* SPDX-License-Identifier: MIT */
/*
 * runtime/cond.c - rg_cond, sync.Cond.
 *
 * A cond is a notify list (runtime/sema.h).  Wait takes a ticket while the
 * caller still holds the mutex, so a signal sent after the caller checked
 * its condition and before it sleeps is owed to that ticket and is not
 * lost; then it unlocks, sleeps until its ticket is notified, and locks
 * again.  Signal wakes the oldest ticket not yet notified, broadcast every
 * ticket handed out so far; both may be called with or without the mutex
 * held.  As in Go, a woken waiter must re-check its condition: another
 * goroutine may take the mutex first.
 */
#include "ringo.h"
#include "runtime/ctx.h"
#include "runtime/preempt.h"
#include "runtime/runtime.h"
#include "runtime/sema.h"
#include "runtime/sync.h"

_Static_assert(sizeof(struct cond) <= sizeof(rg_cond), "rg_cond too small");
_Static_assert(_Alignof(struct cond) <= _Alignof(rg_cond), "rg_cond misaligned");

int rg_cond_wait(rg_cond *cp, rg_mutex *m)
{
	struct cond *c = (struct cond *)cp;
	rg_ctx *ctx;
	uint32_t t;
	int r;

	rt_enter();
	/* Cancelled already: no ticket is taken. */
	if (unlikely(ctx = ctx_current()) && (r = rg_ctx_err(ctx)) != 0)
		return r;
	t = notify_list_add(&c->notify);

	rg_mutex_unlock(m);
	r = notify_list_wait_ctx(&c->notify, t, "sync.Cond.Wait");
	rg_mutex_lock(m);
	return r;
}

void rg_cond_signal(rg_cond *cp)
{
	rt_enter();
	notify_list_notify_one(&((struct cond *)cp)->notify);
}

void rg_cond_broadcast(rg_cond *cp)
{
	rt_enter();
	notify_list_notify_all(&((struct cond *)cp)->notify);
}
