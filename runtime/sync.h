/* SPDX-License-Identifier: MIT */
/*
 * runtime/sync.h - the layouts behind the opaque sync types of ringo.h,
 * and the internal mutex calls that rwmutex.c and once.c build on.
 *
 * Each public type is a fixed-size opaque buffer; its file asserts that
 * the private struct fits it.  Tests include this header to look at the
 * state words (for example to see a mutex enter starvation mode).
 */
#ifndef RINGO_RUNTIME_SYNC_H
#define RINGO_RUNTIME_SYNC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "runtime/sema.h"

/* --- sync.Mutex (runtime/mutex.c) ----------------------------------------------- */

#define MUTEX_LOCKED	   1 /* held */
#define MUTEX_WOKEN	   2 /* a waiter is awake (spinning or woken): unlock wakes no other */
#define MUTEX_STARVING	   4 /* starvation mode: unlock hands the mutex to the first waiter */
#define MUTEX_WAITER_SHIFT 3 /* the rest counts the waiters blocked on sema */

struct mutex {
	_Atomic int32_t state; /* MUTEX_* bits and waiter count; atomics only */
	_Atomic uint32_t sema; /* the semaphore waiters block on (runtime/sema.c) */
};

/* Lock m; reason is the wait reason shown if the caller blocks. */
void mutex_lock(struct mutex *m, const char *reason);
void mutex_unlock(struct mutex *m);
bool mutex_trylock(struct mutex *m);

/* --- sync.RWMutex (runtime/rwmutex.c) --------------------------------------------- */

#define RWMUTEX_MAX_READERS (1 << 30)

struct rwmutex {
	struct mutex w;		      /* held by the writer, from before it waits for readers */
	_Atomic uint32_t writer_sem;  /* the writer waits here for departing readers */
	_Atomic uint32_t reader_sem;  /* readers wait here for the writer to finish */
	_Atomic int32_t reader_count; /* readers holding or waiting, less
				       * RWMUTEX_MAX_READERS while a writer is pending
				       * or holds the lock; atomics only */
	_Atomic int32_t reader_wait;  /* readers the pending writer still waits for; atomics only */
};

/* --- sync.Cond (runtime/cond.c) ---------------------------------------------------- */

struct cond {
	struct notify_list notify; /* its waiters */
};

/* --- sync.Once (runtime/once.c) ------------------------------------------------------ */

struct once {
	_Atomic uint32_t done; /* 1 once fn has returned; set under m, read without it */
	struct mutex m;	       /* held by the caller running fn */
};

/* --- weighted semaphore (runtime/wsema.c) -------------------------------------------- */

struct wsema {
	int64_t size; /* capacity; the wait-queue lock of the wsema's address */
	int64_t cur;  /* tokens held; same lock */
};

/* rg_wg_wait that no context ends: the runtime's own waits for its helper
 * goroutines, whose state lives in the waiter's frame (runtime/wg.c). */
void wg_wait_all(rg_wg *wg);

#endif /* RINGO_RUNTIME_SYNC_H */
