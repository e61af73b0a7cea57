/* SPDX-License-Identifier: MIT */
/*
 * runtime/wsema.c - rg_sema, the weighted semaphore of
 * golang.org/x/sync/semaphore.
 *
 * size and cur are kept under the wait-queue lock of the semaphore's
 * address (runtime/sema.h, raw waits), and the waiters in that queue, so
 * that a goroutine abandoned while waiting is forgotten with the others
 * when the runtime stops.  Each waiter records how many tokens it wants.
 *
 * FIFO without starvation: acquire succeeds at once only when the tokens
 * are free and nobody waits; otherwise it queues at the tail.  Release
 * grants tokens from the head of the queue, as many waiters as fit, and
 * stops at the first that does not fit, even if a smaller request behind
 * it would: a large request at the head is never overtaken.  The releaser
 * adds a woken waiter's tokens to cur before waking it, so the waiter
 * returns owning them and no wake-up can be lost or stolen.
 */
#include <errno.h>

#include "ringo.h"
#include "runtime/ctx.h"
#include "runtime/preempt.h"
#include "runtime/runtime.h"
#include "runtime/sema.h"
#include "runtime/sync.h"

_Static_assert(sizeof(struct wsema) <= sizeof(rg_sema), "rg_sema too small");
_Static_assert(_Alignof(struct wsema) <= _Alignof(rg_sema), "rg_sema misaligned");

void rg_sema_init(rg_sema *sp, int64_t capacity)
{
	struct wsema *s = (struct wsema *)sp;
	struct semroot *root;

	if (capacity < 0)
		throw("semaphore: negative capacity (rg_sema_init %p, %lld)", (void *)sp,
		      (long long)capacity);
	root = semroot_lock(s);
	s->size = capacity;
	s->cur = 0;
	semroot_unlock(root);
}

/* Take the waiters at the head of the queue whose requests now fit, in
 * order, counting their tokens in cur: the list to wake.  Root locked. */
static struct sudog *wsema_grant_locked(struct semroot *root, struct wsema *s)
{
	struct sudog *w, *woken = NULL, **tail = &woken;

	while ((w = semroot_first(root, s)) != NULL && s->size - s->cur >= w->n) {
		semroot_dequeue(root, s);
		s->cur += w->n;
		*tail = w;
		tail = &w->waitlink;
	}
	return woken;
}

/* Wake them in queue order; read each link before waking. */
static void wsema_wake(struct sudog *woken)
{
	struct sudog *w;

	while ((w = woken) != NULL) {
		woken = w->waitlink;
		sudog_ready(w);
	}
}

static int wsema_acquire(struct wsema *s, int64_t n, bool block)
{
	struct semroot *root;
	struct sudog_ctx w;
	int r;

	if (n < 0)
		return -EINVAL;
	/* Registered before the root's lock (its rank is lower). */
	r = block ? sudog_ctx_begin(&w) : 0;
	root = semroot_lock(s);
	if (n > s->size) {
		/* It could never succeed; do not make others queue behind it. */
		semroot_unlock(root);
		if (block)
			ctx_wait_end(&w.cw);
		return -EINVAL;
	}
	if (s->size - s->cur >= n && !semroot_first(root, s)) {
		s->cur += n;
		semroot_unlock(root);
		if (block)
			ctx_wait_end(&w.cw);
		return 0;
	}
	if (!block || r) {
		semroot_unlock(root);
		return block ? r : -EAGAIN;
	}
	w.s.addr = s;
	w.s.n = n;
	r = semroot_wait_ctx(root, &w, "semaphore.Weighted.Acquire");
	if (r) {
		/* The context took us off the queue: the waiters behind us may
		 * fit now. */
		struct sudog *woken;

		root = semroot_lock(s);
		woken = wsema_grant_locked(root, s);
		semroot_unlock(root);
		wsema_wake(woken);
		return r;
	}
	return 0; /* the releaser counted our tokens in cur */
}

int rg_sema_acquire(rg_sema *s, int64_t n)
{
	rt_enter();
	return wsema_acquire((struct wsema *)s, n, true);
}

int rg_sema_try_acquire(rg_sema *s, int64_t n)
{
	rt_enter();
	return wsema_acquire((struct wsema *)s, n, false);
}

void rg_sema_release(rg_sema *sp, int64_t n)
{
	struct wsema *s = (struct wsema *)sp;
	struct sudog *woken;
	struct semroot *root;

	rt_enter();
	root = semroot_lock(s);

	if (n < 0 || n > s->cur) {
		semroot_unlock(root);
		if (n < 0)
			throw("semaphore: negative release (rg_sema_release %p, %lld)", (void *)sp,
			      (long long)n);
		throw("semaphore: released more than held (rg_sema_release %p, %lld)", (void *)sp,
		      (long long)n);
	}
	s->cur -= n;
	woken = wsema_grant_locked(root, s);
	semroot_unlock(root);
	wsema_wake(woken);
}
