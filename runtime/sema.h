/* SPDX-License-Identifier: MIT */
/*
 * runtime/sema.h - wait queues keyed by address, the sleep/wake-up layer
 * under the sync API (Go's runtime/sema.go).
 *
 * Every blocking sync operation waits in one table of wait queues, keyed
 * by the address of the object it waits on, so that the object itself
 * needs no room for them (any zero-initialised object is ready) and so
 * that the runtime can forget abandoned goroutines without touching the
 * objects (see sema_abandon_goroutines).  Three kinds of waits use it:
 *
 *   semaphores    *addr is a counter: semacquire waits until it is
 *                 positive and decrements it, semrelease increments it
 *                 and wakes one waiter on addr (Go's semacquire1 and
 *                 semrelease1);
 *   notify lists  ticket-based wake-ups for rg_cond (Go's notifyList);
 *   raw waits     a sync type keeps its own state under the queue lock of
 *                 its address and queues and wakes waiters itself
 *                 (semroot_*; rg_sema does).
 *
 * A waiting goroutine parks (its M goes on running others); a plain
 * thread blocks on a futex in its wait entry.  Everything here may be
 * called from goroutines and plain threads alike, inside or outside a
 * running runtime, except where noted.
 */
#ifndef RINGO_RUNTIME_SEMA_H
#define RINGO_RUNTIME_SEMA_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "runtime/ctx.h"

struct g;

/*
 * A wait entry (Go's sudog).  It lives on the waiter's stack: it stays
 * valid until the waiter is woken, and whoever wakes it never touches it
 * again afterwards.  Fields are written by the waiter before it queues
 * the entry, then belong to the queue (its root's lock) until a waker
 * removes it, then to that waker until sudog_ready.
 */
struct sudog {
	struct g *gp;		  /* the waiting goroutine; NULL for a plain thread */
	const void *addr;	  /* the object waited on */
	struct sudog *next;	  /* next address's first waiter; root lock */
	struct sudog *waitlink;	  /* next waiter on the same address; root lock */
	struct sudog *waittail;	  /* first waiter only: the last one on addr; root lock */
	uint32_t ticket;	  /* notify lists: this waiter's ticket */
	int64_t n;		  /* raw waits: what the waiter asks for (rg_sema: tokens) */
	_Atomic uint32_t handoff; /* semaphores: the releaser gave us the count */
	_Atomic uint32_t woken;	  /* plain threads: futex word, 1 once woken */
	bool cancelled;		  /* the waiter's context ended the wait; root lock */
	bool dead;		  /* notify lists: an entry left by a cancelled waiter, on
				   * the heap, freed by whoever removes it; root lock */
};

/* --- semaphores ------------------------------------------------------------ */

/* Wait until *addr > 0, then decrement it.  reason: the wait reason shown
 * in deadlock reports (a static string). */
void semacquire(_Atomic uint32_t *addr, const char *reason);
/* semacquire that the calling goroutine's context ends (runtime/ctx.h):
 * 0 once decremented, or the context's err with *addr untouched. */
int semacquire_ctx(_Atomic uint32_t *addr, const char *reason);
/* The same for a sync.Mutex waiter: lifo queues the caller first among
 * the waiters on addr (it has waited already and keeps its turn). */
void semacquire_mutex(_Atomic uint32_t *addr, bool lifo, const char *reason);
/* Increment *addr and wake the first waiter on addr, if any.  handoff:
 * give the count directly to that waiter, so that no running goroutine
 * can take it first, and, from a goroutine holding no runtime lock, yield
 * to it at once (the woken goroutine runs next on this P). */
void semrelease(_Atomic uint32_t *addr, bool handoff);

/* --- notify lists ------------------------------------------------------------ */

/*
 * A notify list hands out tickets: a waiter takes one (notify_list_add)
 * while it still holds the lock that protects the condition, then waits
 * for it (notify_list_wait) after releasing that lock.  A notification is
 * owed to every ticket below wait and has been sent to every ticket below
 * notify, so a notification that comes between add and wait is not lost.
 * The zero value is an empty list.
 */
struct notify_list {
	_Atomic uint32_t wait;	 /* ticket of the next waiter; atomic add */
	_Atomic uint32_t notify; /* ticket of the next waiter to wake; written
				  * under the queue lock of the list, read
				  * without it by the fast paths */
};

uint32_t notify_list_add(struct notify_list *l);
/* Block until ticket t has been notified (at once if it was). */
void notify_list_wait(struct notify_list *l, uint32_t t, const char *reason);
/* notify_list_wait that the calling goroutine's context ends: 0 once t was
 * notified, or the context's err.  A cancelled waiter's ticket stays in
 * the list as a dead entry, which the notification that reaches it
 * passes on to the next ticket, so no notification is lost. */
int notify_list_wait_ctx(struct notify_list *l, uint32_t t, const char *reason);
/* Wake the oldest ticket not yet notified, if any. */
void notify_list_notify_one(struct notify_list *l);
/* Wake every ticket handed out so far. */
void notify_list_notify_all(struct notify_list *l);

/* --- raw waits ------------------------------------------------------------------ */

struct semroot;

/* Lock the wait queue of addr; the sync type's own state for addr may be
 * kept under this lock.  (rank LR_SEMA: take no other lock while holding it) */
struct semroot *semroot_lock(const void *addr);
void semroot_unlock(struct semroot *root);
/* The first waiter on addr, or NULL.  Root locked. */
struct sudog *semroot_first(struct semroot *root, const void *addr);
/* Remove and return the first waiter on addr, or NULL.  Root locked; wake
 * the entry with sudog_ready after unlocking the root. */
struct sudog *semroot_dequeue(struct semroot *root, const void *addr);
/* Queue s (s->addr and s->n set) last on its address, unlock the root and
 * block until a waker dequeues s and readies it.  Root locked. */
void semroot_wait(struct semroot *root, struct sudog *s, const char *reason);
/*
 * A raw wait that the calling goroutine's context ends: sudog_ctx_begin
 * before the root is locked (0, or the context's err when it is already
 * cancelled: do not wait), then semroot_wait_ctx in place of semroot_wait:
 * 0 once a waker dequeued the entry, or the context's err with the entry
 * off the queue (the caller takes the root's lock again to set its own
 * state right).
 */
struct sudog_ctx {
	struct sudog s;
	struct ctx_wait cw;
	bool removed; /* the cancel took s off its queue; root lock */
};
int sudog_ctx_begin(struct sudog_ctx *sc);
int semroot_wait_ctx(struct semroot *root, struct sudog_ctx *sc, const char *reason);

/* Wake the owner of a dequeued entry.  s must not be touched afterwards. */
void sudog_ready(struct sudog *s);

/*
 * sema_abandon_goroutines - forget every waiting goroutine, on every kind
 * of wait.  Called when the runtime stops: goroutines still waiting are
 * abandoned and their stacks (where their wait entries live) are about to
 * be unmapped.  Plain threads keep waiting.  No goroutine may run.  A
 * notify list keeps the tickets of its abandoned waiters, as if they
 * still waited: a later notify_list_notify_one may go to one of them.
 */
void sema_abandon_goroutines(void);

#endif /* RINGO_RUNTIME_SEMA_H */
