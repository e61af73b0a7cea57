/* SPDX-License-Identifier: MIT */
/*
 * runtime/sema.c - address-keyed semaphores (see runtime/sema.h).
 *
 * No lost wake-ups: the waiter increments root->nwait and then re-checks
 * the count under root->lock; the releaser increments the count and then
 * reads nwait.  Both are sequentially consistent, so either the waiter sees
 * the new count or the releaser sees the waiter.
 *
 * A waiter's sudog lives on its own stack: it stays valid until the waiter
 * is woken, and the waker never touches it after waking it.
 */
#include "runtime/sema.h"

#include "kernel_iface/kernel.h"
#include "runtime/runtime.h"

#define SEMTABSZ 251

struct sudog {
	struct g *gp;              /* waiting goroutine, or NULL for a plain thread */
	_Atomic uint32_t *addr;
	struct sudog *next;        /* root->lock */
	_Atomic uint32_t ticket;   /* 1: the count was handed to us */
	_Atomic uint32_t woken;    /* plain threads sleep on this futex word */
};

struct semroot {
	struct lock lock;
	_Atomic uint32_t nwait;    /* waiters in this root; also read without the lock */
	struct sudog *head, *tail; /* lock */
} cacheline_aligned;

static struct semroot semtable[SEMTABSZ];

static struct semroot *semroot(_Atomic uint32_t *addr)
{
	return &semtable[((uintptr_t)addr >> 3) % SEMTABSZ];
}

static bool cansemacquire(_Atomic uint32_t *addr)
{
	uint32_t v = atomic_load(addr);

	while (v != 0)
		if (atomic_compare_exchange_weak(addr, &v, v - 1))
			return true;
	return false;
}

static bool semunlock(struct g *gp, void *arg)
{
	struct semroot *root = arg;

	(void)gp;
	unlockr(&root->lock, LR_SEMA);
	return true;
}

void semacquire(_Atomic uint32_t *addr, const char *reason)
{
	struct semroot *root;
	struct sudog s;

	if (cansemacquire(addr))
		return;
	root = semroot(addr);
	s.gp = getg();
	s.addr = addr;
	for (;;) {
		lockr(&root->lock, LR_SEMA);
		atomic_fetch_add(&root->nwait, 1);
		if (cansemacquire(addr)) {
			atomic_fetch_sub(&root->nwait, 1);
			unlockr(&root->lock, LR_SEMA);
			return;
		}
		s.next = NULL;
		atomic_store(&s.ticket, 0);
		atomic_store(&s.woken, 0);
		if (root->tail)
			root->tail->next = &s;
		else
			root->head = &s;
		root->tail = &s;
		if (s.gp) {
			gopark(semunlock, root, reason);
		} else {
			unlockr(&root->lock, LR_SEMA);
			while (!load_acquire(&s.woken))
				ki_futex_wait((const uint32_t *)&s.woken, 0, -1);
		}
		if (atomic_load(&s.ticket) || cansemacquire(addr))
			return;
	}
}

void semrelease(_Atomic uint32_t *addr, bool handoff)
{
	struct semroot *root = semroot(addr);
	struct sudog *s, *prev = NULL;

	atomic_fetch_add(addr, 1);
	if (atomic_load(&root->nwait) == 0)
		return;
	lockr(&root->lock, LR_SEMA);
	if (atomic_load(&root->nwait) == 0) {
		unlockr(&root->lock, LR_SEMA);
		return;
	}
	for (s = root->head; s; prev = s, s = s->next)
		if (s->addr == addr)
			break;
	if (s) {
		if (prev)
			prev->next = s->next;
		else
			root->head = s->next;
		if (root->tail == s)
			root->tail = prev;
		atomic_fetch_sub(&root->nwait, 1);
	}
	unlockr(&root->lock, LR_SEMA);
	if (!s)
		return;
	if (handoff && cansemacquire(addr))
		atomic_store(&s->ticket, 1);
	if (s->gp) {
		goready(s->gp, NULL);
	} else {
		store_release(&s->woken, 1);
		ki_futex_wake((const uint32_t *)&s->woken, 1);
	}
}

void sema_abandon_goroutines(void)
{
	size_t i;

	for (i = 0; i < SEMTABSZ; i++) {
		struct semroot *root = &semtable[i];
		struct sudog **link, *s;

		lockr(&root->lock, LR_SEMA);
		root->tail = NULL;
		for (link = &root->head; (s = *link) != NULL;) {
			if (s->gp) {
				*link = s->next;
				atomic_fetch_sub(&root->nwait, 1);
			} else {
				root->tail = s;
				link = &s->next;
			}
		}
		unlockr(&root->lock, LR_SEMA);
	}
}
