/* SPDX-License-Identifier: MIT */
/*
 * runtime/sema.c - wait queues keyed by address: semaphores, notify lists
 * and raw waits (see runtime/sema.h).
 *
 * The semaphore table
 * -------------------
 * SEMTABSZ roots, each on its own cache line, with a lock.  An address
 * hashes to one root; the root keeps a list of the addresses that have
 * waiters (linked through next), each represented by its first waiter,
 * and that waiter heads the FIFO of every waiter on the address (linked
 * through waitlink, waittail pointing at the last).  Finding an address
 * costs the number of distinct addresses waited on in the root; queueing
 * at either end and taking the first waiter are then O(1), however many
 * goroutines wait on one mutex.  (Go keeps the addresses in a treap; a
 * list is enough with few addresses per root.)
 *
 * No lost wake-ups (semaphores): the waiter increments root->nwait and
 * then re-checks the count under root->lock; the releaser increments the
 * count and then reads nwait.  Both are sequentially consistent, so either
 * the waiter sees the new count or the releaser sees the waiter and takes
 * the lock, under which it finds the waiter queued.
 *
 * Mutex hand-off: a sync.Mutex waiter that was woken and lost the race
 * for the lock queues again at the head (lifo) so that it keeps its turn;
 * in starvation mode the unlocker passes the count itself to the first
 * waiter (handoff), which cannot then lose it to a running goroutine, and
 * yields so that the waiter runs at once (it sits in runnext).
 *
 * Notify lists (Go's notifyList): tickets are taken with an atomic add on
 * wait; notify is advanced under the root lock of the list's address.  A
 * waiter whose ticket is already below notify does not sleep.  Waiters
 * queue in arrival order, which may differ from ticket order (a waiter is
 * preempted between add and wait), so notify_one looks for the ticket it
 * serves; one it does not find belongs to a waiter that has not queued
 * yet, and that waiter will see its ticket below notify.
 *
 * Abandoned goroutines: their entries live on stacks that teardown
 * unmaps, so sema_abandon_goroutines unlinks them from the table, which
 * is why notify lists and raw waits keep their waiters here too and not
 * in the objects (which may themselves be on those stacks).
 */
#include "runtime/sema.h"

#include <errno.h>

#include "ringo.h"
#include "kernel_iface/kernel.h"
#include "runtime/runtime.h"

#define SEMTABSZ 251

struct semroot {
	struct lock lock;
	_Atomic uint32_t nwait; /* entries queued here (plus, briefly, a semacquire
				 * about to queue); written under lock, also read
				 * without it */
	struct sudog *head;	/* first waiter of each address; lock */
} cacheline_aligned;

static struct semroot semtable[SEMTABSZ];

static struct semroot *semroot(const void *addr)
{
	return &semtable[((uintptr_t)addr >> 3) % SEMTABSZ];
}

/* --- queues (root->lock held) ------------------------------------------------ */

/* The link that points at addr's first waiter, or at the list's NULL end. */
static struct sudog **queue_find(struct semroot *root, const void *addr)
{
	struct sudog **link;

	for (link = &root->head; *link; link = &(*link)->next)
		if ((*link)->addr == addr)
			break;
	return link;
}

static void queue_put(struct semroot *root, struct sudog *s, bool lifo)
{
	struct sudog **link = queue_find(root, s->addr), *first = *link;

	assert_lock_held(&root->lock);
	s->waitlink = NULL;
	if (!first) {
		s->next = NULL;
		s->waittail = s;
		*link = s;
	} else if (lifo) {
		/* s takes first's place at the head of addr's queue. */
		s->next = first->next;
		s->waitlink = first;
		s->waittail = first->waittail;
		first->next = NULL;
		first->waittail = NULL;
		*link = s;
	} else {
		first->waittail->waitlink = s;
		first->waittail = s;
		s->next = NULL;
		s->waittail = NULL;
	}
}

/* Remove the first waiter of an address, *link. */
static struct sudog *queue_pop(struct sudog **link)
{
	struct sudog *s = *link, *t = s->waitlink;

	if (t) {
		t->next = s->next;
		t->waittail = s->waittail;
		*link = t;
	} else {
		*link = s->next;
	}
	s->next = s->waitlink = s->waittail = NULL;
	return s;
}

/* Remove s from its address's queue, wherever it is: whether it was
 * there. */
static bool queue_remove(struct semroot *root, struct sudog *s)
{
	struct sudog **link = queue_find(root, s->addr), *first = *link, *prev;

	if (!first)
		return false;
	if (first == s) {
		queue_pop(link);
		return true;
	}
	for (prev = first; prev->waitlink && prev->waitlink != s; prev = prev->waitlink)
		;
	if (!prev->waitlink)
		return false;
	prev->waitlink = s->waitlink;
	if (first->waittail == s)
		first->waittail = prev;
	s->waitlink = NULL;
	return true;
}

/* --- blocking and waking -------------------------------------------------------- */

static bool semunlockf(struct g *gp, void *arg)
{
	struct semroot *root = arg;

	(void)gp;
	unlockr(&root->lock, LR_SEMA);
	return true;
}

/* s is queued in root, whose lock is held: release it and sleep until
 * sudog_ready(s). */
static void sudog_block(struct semroot *root, struct sudog *s, const char *reason)
{
	if (s->gp) {
		gopark(semunlockf, root, reason);
		return;
	}
	unlockr(&root->lock, LR_SEMA);
	while (!load_acquire(&s->woken))
		ki_futex_wait((const uint32_t *)&s->woken, 0, -1);
}

void sudog_ready(struct sudog *s)
{
	struct g *gp = s->gp;

	if (gp) {
		goready(gp, NULL);
		return;
	}
	/* The sleeper may return as soon as it sees woken; waking a futex
	 * word that has gone out of scope is harmless. */
	store_release(&s->woken, 1);
	ki_futex_wake((const uint32_t *)&s->woken, 1);
}

/* Make s a fresh entry of the caller's; addr, ticket and n are left alone. */
static void sudog_prepare(struct sudog *s)
{
	s->gp = getg();
	s->next = s->waitlink = s->waittail = NULL;
	s->cancelled = s->dead = false;
	atomic_store_explicit(&s->handoff, 0, memory_order_relaxed);
	atomic_store_explicit(&s->woken, 0, memory_order_relaxed);
}

/*
 * Contexts (runtime/ctx.h).  A cancelled waiter still queued leaves its
 * queue and is readied, with cancelled set; one not queued (woken
 * already, or not queued yet) only gets cancelled set, which it checks
 * under the root's lock before it queues again.
 */
static void sudog_ctx_cancel(struct ctx_wait *cw, int err)
{
	struct sudog_ctx *sc = container_of(cw, struct sudog_ctx, cw);
	struct semroot *root = semroot(sc->s.addr);
	bool removed;

	(void)err;
	lockr(&root->lock, LR_SEMA);
	sc->s.cancelled = true;
	removed = queue_remove(root, &sc->s);
	sc->removed = removed;
	if (removed)
		atomic_fetch_sub(&root->nwait, 1);
	unlockr(&root->lock, LR_SEMA);
	if (removed)
		sudog_ready(&sc->s);
}

int sudog_ctx_begin(struct sudog_ctx *sc)
{
	sc->s.cancelled = false;
	sc->removed = false;
	return ctx_wait_begin(&sc->cw, sudog_ctx_cancel, NULL);
}

/* --- semaphores ------------------------------------------------------------------- */

static bool cansemacquire(_Atomic uint32_t *addr)
{
	uint32_t v = atomic_load(addr);

	while (v != 0)
		if (atomic_compare_exchange_weak(addr, &v, v - 1))
			return true;
	return false;
}

/* Wait until *addr > 0 and decrement it: 0, or, when cancellable and the
 * calling goroutine's context ends the wait first, its err with *addr
 * untouched. */
static int semacquire1(_Atomic uint32_t *addr, bool lifo, const char *reason, bool cancellable)
{
	struct semroot *root;
	struct sudog_ctx sc;
	int r;

	if (cansemacquire(addr))
		return 0;
	root = semroot(addr);
	sc.s.addr = addr;
	sudog_prepare(&sc.s);
	sc.cw.att = NULL; /* not cancellable: ctx_wait_end says 0 */
	if (cancellable && (r = sudog_ctx_begin(&sc)) != 0)
		return r;
	for (;;) {
		lockr(&root->lock, LR_SEMA);
		atomic_fetch_add(&root->nwait, 1);
		if (cansemacquire(addr)) {
			atomic_fetch_sub(&root->nwait, 1);
			unlockr(&root->lock, LR_SEMA);
			break;
		}
		if (sc.s.cancelled) {
			atomic_fetch_sub(&root->nwait, 1);
			unlockr(&root->lock, LR_SEMA);
			return ctx_wait_end(&sc.cw);
		}
		atomic_store_explicit(&sc.s.woken, 0, memory_order_relaxed);
		queue_put(root, &sc.s, lifo);
		sudog_block(root, &sc.s, reason);
		/* Woken by a release (perhaps handing us the count) or by the
		 * context: a count we can take is ours either way. */
		if (atomic_load(&sc.s.handoff) || cansemacquire(addr))
			break;
	}
	ctx_wait_end(&sc.cw);
	return 0;
}

void semacquire(_Atomic uint32_t *addr, const char *reason)
{
	semacquire1(addr, false, reason, false);
}

int semacquire_ctx(_Atomic uint32_t *addr, const char *reason)
{
	return semacquire1(addr, false, reason, true);
}

void semacquire_mutex(_Atomic uint32_t *addr, bool lifo, const char *reason)
{
	semacquire1(addr, lifo, reason, false);
}

void semrelease(_Atomic uint32_t *addr, bool handoff)
{
	struct semroot *root = semroot(addr);
	struct sudog **link, *s = NULL;
	bool handed = false;

	atomic_fetch_add(addr, 1);
	if (atomic_load(&root->nwait) == 0)
		return;
	lockr(&root->lock, LR_SEMA);
	if (atomic_load(&root->nwait) == 0) {
		unlockr(&root->lock, LR_SEMA);
		return;
	}
	link = queue_find(root, addr);
	if (*link) {
		s = queue_pop(link);
		atomic_fetch_sub(&root->nwait, 1);
	}
	unlockr(&root->lock, LR_SEMA);
	if (!s)
		return;
	if (handoff && cansemacquire(addr)) {
		atomic_store(&s->handoff, 1);
		handed = true;
	}
	sudog_ready(s);
	if (handed) {
		struct m *mp = getm();

		if (mp && load_relaxed(&mp->curg) && mp->locks == 0)
			rg_yield();
	}
}

/* --- notify lists ------------------------------------------------------------------ */

/* a comes before b, with wrap-around. */
static bool ticket_less(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

uint32_t notify_list_add(struct notify_list *l)
{
	return atomic_fetch_add(&l->wait, 1);
}

void notify_list_wait(struct notify_list *l, uint32_t t, const char *reason)
{
	struct semroot *root = semroot(l);
	struct sudog s;

	lockr(&root->lock, LR_SEMA);
	if (ticket_less(t, load_relaxed(&l->notify))) {
		unlockr(&root->lock, LR_SEMA);
		return;
	}
	s.addr = l;
	s.ticket = t;
	sudog_prepare(&s);
	queue_put(root, &s, false);
	atomic_fetch_add(&root->nwait, 1);
	sudog_block(root, &s, reason);
}

/* The context of a notify-list waiter: a waiter still queued leaves a
 * dead entry in its place (its ticket) and is readied. */
static void notify_ctx_cancel(struct ctx_wait *cw, int err)
{
	struct sudog_ctx *sc = container_of(cw, struct sudog_ctx, cw);
	struct semroot *root = semroot(sc->s.addr);
	struct sudog **link, *q;
	struct g *gp = NULL;

	(void)err;
	lockr(&root->lock, LR_SEMA);
	sc->s.cancelled = true;
	link = queue_find(root, sc->s.addr);
	for (q = *link; q && q != &sc->s; q = q->waitlink)
		;
	if (q) {
		sc->s.dead = true;
		gp = sc->s.gp;
		sc->s.gp = NULL;
	}
	unlockr(&root->lock, LR_SEMA);
	if (gp)
		goready(gp, NULL);
}

int notify_list_wait_ctx(struct notify_list *l, uint32_t t, const char *reason)
{
	struct semroot *root = semroot(l);
	struct sudog_ctx *sc;
	int r;

	if (!getg() || !getg()->ext->ctxa || !(sc = rt_malloc(sizeof(*sc)))) {
		notify_list_wait(l, t, reason);
		return 0;
	}
	sc->s.addr = l;
	sc->s.ticket = t;
	sudog_prepare(&sc->s);
	sc->removed = false;
	r = ctx_wait_begin(&sc->cw, notify_ctx_cancel, NULL);
	lockr(&root->lock, LR_SEMA);
	if (ticket_less(t, load_relaxed(&l->notify))) {
		unlockr(&root->lock, LR_SEMA);
		ctx_wait_end(&sc->cw);
		rt_free(sc);
		return 0;
	}
	queue_put(root, &sc->s, false);
	atomic_fetch_add(&root->nwait, 1);
	if (r) {
		/* Cancelled already: the ticket stays, as a dead entry. */
		sc->s.dead = true;
		sc->s.gp = NULL;
		unlockr(&root->lock, LR_SEMA);
		return r;
	}
	sudog_block(root, &sc->s, reason);
	r = ctx_wait_end(&sc->cw);
	/* After ctx_wait_end the cancel has run or never will: dead says
	 * who owns the entry now. */
	if (sc->s.dead)
		return r ? r : -ECANCELED;
	rt_free(sc);
	return 0;
}

void notify_list_notify_one(struct notify_list *l)
{
	struct semroot *root;
	struct sudog **link, *first, *prev, *s;
	uint32_t t;

	/* No ticket handed out since the last notification: nobody to wake. */
	if (atomic_load(&l->wait) == atomic_load(&l->notify))
		return;
	root = semroot(l);
	lockr(&root->lock, LR_SEMA);
	/* A dead entry (a cancelled waiter's) passes the notification on to
	 * the next ticket. */
	for (;;) {
		s = NULL;
		t = load_relaxed(&l->notify);
		if (t == atomic_load(&l->wait))
			break;
		atomic_store(&l->notify, t + 1);
		link = queue_find(root, l);
		first = *link;
		if (first && first->ticket == t) {
			s = queue_pop(link);
		} else if (first) {
			for (prev = first; (s = prev->waitlink) != NULL; prev = s) {
				if (s->ticket != t)
					continue;
				prev->waitlink = s->waitlink;
				if (first->waittail == s)
					first->waittail = prev;
				s->waitlink = NULL;
				break;
			}
		}
		if (s)
			atomic_fetch_sub(&root->nwait, 1);
		if (!s || !s->dead)
			break;
		rt_free(container_of(s, struct sudog_ctx, s));
	}
	unlockr(&root->lock, LR_SEMA);
	if (s)
		sudog_ready(s);
}

void notify_list_notify_all(struct notify_list *l)
{
	struct semroot *root;
	struct sudog **link, *s, *next;
	uint32_t n = 0;

	if (atomic_load(&l->wait) == atomic_load(&l->notify))
		return;
	root = semroot(l);
	lockr(&root->lock, LR_SEMA);
	link = queue_find(root, l);
	s = *link;
	if (s)
		*link = s->next;
	atomic_store(&l->notify, atomic_load(&l->wait));
	for (next = s; next; next = next->waitlink)
		n++;
	atomic_fetch_sub(&root->nwait, n);
	unlockr(&root->lock, LR_SEMA);
	/* The entries are ours now; read each link before waking its owner. */
	for (; s; s = next) {
		next = s->waitlink;
		if (s->dead)
			rt_free(container_of(s, struct sudog_ctx, s));
		else
			sudog_ready(s);
	}
}

/* --- raw waits ------------------------------------------------------------------------ */

struct semroot *semroot_lock(const void *addr)
{
	struct semroot *root = semroot(addr);

	lockr(&root->lock, LR_SEMA);
	return root;
}

void semroot_unlock(struct semroot *root)
{
	unlockr(&root->lock, LR_SEMA);
}

struct sudog *semroot_first(struct semroot *root, const void *addr)
{
	assert_lock_held(&root->lock);
	return atomic_load_explicit(&root->nwait, memory_order_relaxed) ? *queue_find(root, addr) :
									  NULL;
}

struct sudog *semroot_dequeue(struct semroot *root, const void *addr)
{
	struct sudog **link;

	assert_lock_held(&root->lock);
	link = queue_find(root, addr);
	if (!*link)
		return NULL;
	atomic_fetch_sub(&root->nwait, 1);
	return queue_pop(link);
}

void semroot_wait(struct semroot *root, struct sudog *s, const char *reason)
{
	sudog_prepare(s);
	queue_put(root, s, false);
	atomic_fetch_add(&root->nwait, 1);
	sudog_block(root, s, reason);
}

int semroot_wait_ctx(struct semroot *root, struct sudog_ctx *sc, const char *reason)
{
	if (sc->s.cancelled) {
		/* The context's cancel came before the entry was queued. */
		unlockr(&root->lock, LR_SEMA);
		return ctx_wait_end(&sc->cw);
	}
	semroot_wait(root, &sc->s, reason);
	/* Readied by a waker (which dequeued the entry) or by the cancel
	 * (which took it off the queue): after ctx_wait_end the cancel has
	 * run or never will, and cancelled says which. */
	return ctx_wait_end(&sc->cw) && sc->removed ? sc->cw.err : 0;
}

/* --- abandonment ---------------------------------------------------------------------- */

/* Drop the goroutines from the queue of one address, *link; returns how
 * many, and leaves *link at the address's new first waiter or, when none
 * is left, at the next address. */
static uint32_t queue_drop_goroutines(struct sudog **link)
{
	struct sudog *s = *link, *rest = s->next, *first = NULL, *last = NULL, *wl;
	uint32_t dropped = 0;

	for (; s; s = wl) {
		wl = s->waitlink;
		if (s->dead) {
			rt_free(container_of(s, struct sudog_ctx, s));
			dropped++;
			continue;
		}
		if (s->gp) {
			dropped++;
			continue;
		}
		s->waitlink = NULL;
		s->waittail = NULL;
		s->next = NULL;
		if (last)
			last->waitlink = s;
		else
			first = s;
		last = s;
	}
	if (first) {
		first->next = rest;
		first->waittail = last;
		*link = first;
	} else {
		*link = rest;
	}
	return dropped;
}

void sema_abandon_goroutines(void)
{
	size_t i;

	for (i = 0; i < SEMTABSZ; i++) {
		struct semroot *root = &semtable[i];
		struct sudog **link;

		lockr(&root->lock, LR_SEMA);
		for (link = &root->head; *link;) {
			const void *addr = (*link)->addr;

			atomic_fetch_sub(&root->nwait, queue_drop_goroutines(link));
			/* Move on, unless no waiter was left on addr and
			 * *link is already the next address. */
			if (*link && (*link)->addr == addr)
				link = &(*link)->next;
		}
		unlockr(&root->lock, LR_SEMA);
	}
}
