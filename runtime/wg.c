/* SPDX-License-Identifier: MIT */
/*
 * runtime/wg.c - rg_wg, sync.WaitGroup.
 *
 * state packs the counter (high 32 bits) and the number of waiters (low 32
 * bits) so that Add and Wait agree with one atomic.  When the counter drops
 * to zero with waiters, the state is reset and each waiter is released
 * through the semaphore: the common rg_wg_done costs one atomic add.
 */
#include "ringo.h"

#include "runtime/preempt.h"
#include "runtime/runtime.h"
#include "runtime/sema.h"
#include "runtime/sync.h"

struct wg {
	_Atomic uint64_t state; /* counter << 32 | waiters */
	_Atomic uint32_t sema;
};

_Static_assert(sizeof(struct wg) <= sizeof(rg_wg), "rg_wg too small");
_Static_assert(_Alignof(struct wg) <= _Alignof(rg_wg), "rg_wg misaligned");

void rg_wg_add(rg_wg *wgp, int delta)
{
	struct wg *wg = (struct wg *)wgp;
	uint64_t state = atomic_fetch_add(&wg->state, (uint64_t)(int64_t)delta << 32) +
			 ((uint64_t)(int64_t)delta << 32);
	int32_t v = (int32_t)(state >> 32);
	uint32_t w = (uint32_t)state;

	rt_enter();
	if (v < 0)
		throw("sync: negative WaitGroup counter (rg_wg_add(%p, %d))", (void *)wgp, delta);
	if (w != 0 && delta > 0 && v == delta)
		throw("sync: WaitGroup misuse: rg_wg_add called concurrently with rg_wg_wait");
	if (v > 0 || w == 0)
		return;
	/* Counter is 0 and there are waiters: nobody may change state now. */
	if (atomic_load(&wg->state) != state)
		throw("sync: WaitGroup misuse: rg_wg_add called concurrently with rg_wg_wait");
	atomic_store(&wg->state, 0);
	for (; w != 0; w--)
		semrelease(&wg->sema, false);
}

void rg_wg_done(rg_wg *wg)
{
	rg_wg_add(wg, -1);
}

static int wg_wait(rg_wg *wgp, bool cancellable)
{
	struct wg *wg = (struct wg *)wgp;
	uint64_t state = atomic_load(&wg->state);
	int r;

	rt_enter();
	for (;;) {
		if ((int32_t)(state >> 32) == 0)
			return 0;
		if (atomic_compare_exchange_weak(&wg->state, &state, state + 1))
			break;
	}
	if (cancellable) {
		r = semacquire_ctx(&wg->sema, "sync.WaitGroup.Wait");
	} else {
		semacquire(&wg->sema, "sync.WaitGroup.Wait");
		r = 0;
	}
	if (r) {
		/* The context ended the wait: leave the waiters' count, unless
		 * the counter reached zero meanwhile, in which case a release
		 * for us is on its way and the wait is over after all. */
		state = atomic_load(&wg->state);
		for (;;) {
			if ((int32_t)(state >> 32) == 0) {
				semacquire(&wg->sema, "sync.WaitGroup.Wait");
				return 0;
			}
			if (atomic_compare_exchange_weak(&wg->state, &state, state - 1))
				return r;
		}
	}
	if (atomic_load(&wg->state) != 0)
		throw("sync: WaitGroup is reused before previous rg_wg_wait has returned");
	return 0;
}

int rg_wg_wait(rg_wg *wg)
{
	return wg_wait(wg, true);
}

void wg_wait_all(rg_wg *wg)
{
	wg_wait(wg, false);
}
