/* SPDX-License-Identifier: MIT */
/*
 * runtime/sema.h - semaphores keyed by address, the sleep/wake-up layer
 * under the sync API (Go's sync_runtime_Semacquire / Semrelease).
 *
 * *addr is a counter.  semacquire waits until it is positive and
 * decrements it; semrelease increments it and wakes one waiter on addr,
 * FIFO.  A waiting goroutine parks (its M goes on running others); a plain
 * thread outside the runtime blocks on a futex.  Waiters are kept in a
 * fixed hash table of wait lists, so *addr needs no room for them: any
 * zero-initialised uint32_t is a ready semaphore.
 *
 * Callable from goroutines and plain threads alike.
 */
#ifndef RINGO_RUNTIME_SEMA_H
#define RINGO_RUNTIME_SEMA_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* reason: the wait reason shown in deadlock reports (a static string). */
void semacquire(_Atomic uint32_t *addr, const char *reason);
/* handoff: give the count directly to the woken waiter, so that a running
 * goroutine cannot take it first. */
void semrelease(_Atomic uint32_t *addr, bool handoff);

/*
 * sema_abandon_goroutines - forget every waiting goroutine.  Called when
 * the runtime stops: goroutines still waiting are abandoned and their
 * stacks (where their wait entries live) are about to be unmapped.  Plain
 * threads keep waiting.  No goroutine may run.
 */
void sema_abandon_goroutines(void);

#endif /* RINGO_RUNTIME_SEMA_H */
