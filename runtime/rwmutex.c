/* SPDX-License-Identifier: MIT */
/*
 * runtime/rwmutex.c - rg_rwmutex, sync.RWMutex.
 *
 * Readers count themselves in reader_count with one atomic add each way.
 * A writer first takes the internal mutex w (so writers queue behind each
 * other), then announces itself by subtracting RWMUTEX_MAX_READERS from
 * reader_count: from then on the count is negative and arriving readers
 * block on reader_sem, so a writer is never starved by a stream of
 * readers.  The readers that were already in when the writer announced
 * itself (the value it saw) are added to reader_wait; each of them, on
 * runlock, sees a negative count and decrements reader_wait, and the last
 * one releases writer_sem.  Unlock adds RWMUTEX_MAX_READERS back, which
 * tells how many readers blocked meanwhile, releases that many on
 * reader_sem, then releases w.
 *
 * Readers thus hold the lock concurrently, at most RWMUTEX_MAX_READERS - 1
 * of them; a reader must not take the read lock again while a writer may
 * be waiting (it would wait for the writer, which waits for it), as in Go.
 */
#include <errno.h>

#include "ringo.h"
#include "runtime/preempt.h"
#include "runtime/runtime.h"
#include "runtime/sema.h"
#include "runtime/sync.h"

_Static_assert(sizeof(struct rwmutex) <= sizeof(rg_rwmutex), "rg_rwmutex too small");
_Static_assert(_Alignof(struct rwmutex) <= _Alignof(rg_rwmutex), "rg_rwmutex misaligned");

static const char reason_lock[] = "sync.RWMutex.Lock";
static const char reason_rlock[] = "sync.RWMutex.RLock";

void rg_rwmutex_rlock(rg_rwmutex *rwp)
{
	struct rwmutex *rw = (struct rwmutex *)rwp;

	rt_enter();
	if (atomic_fetch_add(&rw->reader_count, 1) + 1 < 0)
		semacquire(&rw->reader_sem, reason_rlock); /* a writer is pending */
}

int rg_rwmutex_tryrlock(rg_rwmutex *rwp)
{
	struct rwmutex *rw = (struct rwmutex *)rwp;
	int32_t c = atomic_load(&rw->reader_count);

	rt_enter();
	do {
		if (c < 0)
			return -EBUSY; /* a writer holds it or waits for it */
	} while (!atomic_compare_exchange_weak(&rw->reader_count, &c, c + 1));
	return 0;
}

void rg_rwmutex_runlock(rg_rwmutex *rwp)
{
	struct rwmutex *rw = (struct rwmutex *)rwp;
	int32_t r;

	rt_enter();
	r = atomic_fetch_sub(&rw->reader_count, 1) - 1;

	if (likely(r >= 0))
		return;
	/* A writer is pending: maybe we are the last reader it waits for. */
	if (r + 1 == 0 || r + 1 == -RWMUTEX_MAX_READERS)
		throw("sync: RUnlock of unlocked RWMutex (rg_rwmutex_runlock %p)", (void *)rwp);
	if (atomic_fetch_sub(&rw->reader_wait, 1) - 1 == 0)
		semrelease(&rw->writer_sem, false);
}

void rg_rwmutex_lock(rg_rwmutex *rwp)
{
	struct rwmutex *rw = (struct rwmutex *)rwp;
	int32_t r;

	rt_enter();
	mutex_lock(&rw->w, reason_lock);
	/* Announce the writer; r readers are still in. */
	r = atomic_fetch_sub(&rw->reader_count, RWMUTEX_MAX_READERS);
	if (r != 0 && atomic_fetch_add(&rw->reader_wait, r) + r != 0)
		semacquire(&rw->writer_sem, reason_lock);
}

int rg_rwmutex_trylock(rg_rwmutex *rwp)
{
	struct rwmutex *rw = (struct rwmutex *)rwp;
	int32_t zero = 0;

	rt_enter();
	if (!mutex_trylock(&rw->w))
		return -EBUSY;
	if (!atomic_compare_exchange_strong(&rw->reader_count, &zero, -RWMUTEX_MAX_READERS)) {
		mutex_unlock(&rw->w);
		return -EBUSY;
	}
	return 0;
}

void rg_rwmutex_unlock(rg_rwmutex *rwp)
{
	struct rwmutex *rw = (struct rwmutex *)rwp;
	int32_t r;
	int32_t i;

	rt_enter();
	r = atomic_fetch_add(&rw->reader_count, RWMUTEX_MAX_READERS) + RWMUTEX_MAX_READERS;

	if (r >= RWMUTEX_MAX_READERS)
		throw("sync: Unlock of unlocked RWMutex (rg_rwmutex_unlock %p)", (void *)rwp);
	/* Let in the readers that blocked while we held it. */
	for (i = 0; i < r; i++)
		semrelease(&rw->reader_sem, false);
	mutex_unlock(&rw->w);
}
