/* SPDX-License-Identifier: MIT */
/*
 * runtime/once.c - rg_once, sync.Once.
 *
 * done is set only after fn has returned, so a caller that sees it set
 * (one atomic load, the fast path) also sees everything fn did.  Callers
 * that find it clear take the internal mutex: the first runs fn, the
 * others block on the mutex until fn has returned and then see done.  A
 * plain flag set before fn runs would let a concurrent caller return
 * before fn's effects were visible.
 *
 * fn must return: if it ends its goroutine (rg_exit), the mutex is never
 * released and every later caller blocks forever.  fn calling rg_once_do
 * on the same rg_once deadlocks, as in Go.
 */
#include "ringo.h"
#include "runtime/preempt.h"
#include "runtime/runtime.h"
#include "runtime/sync.h"

_Static_assert(sizeof(struct once) <= sizeof(rg_once), "rg_once too small");
_Static_assert(_Alignof(struct once) <= _Alignof(rg_once), "rg_once misaligned");

static noinline void once_do_slow(struct once *o, void (*fn)(void *), void *arg)
{
	mutex_lock(&o->m, "sync.Mutex.Lock");
	if (!atomic_load_explicit(&o->done, memory_order_relaxed)) {
		fn(arg);
		rt_enter(); /* fn may have blocked and lost the P */
		atomic_store_explicit(&o->done, 1, memory_order_release);
	}
	mutex_unlock(&o->m);
}

void rg_once_do(rg_once *op, void (*fn)(void *), void *arg)
{
	struct once *o = (struct once *)op;

	rt_enter();
	if (likely(atomic_load_explicit(&o->done, memory_order_acquire)))
		return;
	once_do_slow(o, fn, arg);
}
