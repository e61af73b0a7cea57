/* SPDX-License-Identifier: MIT */
/*
 * runtime/runq.c - per-P run queues and the global run queue.
 *
 * Each P has a 256-slot ring plus a runnext slot.  The ring is
 * single-producer (only the owner P adds, at tail, with a release store)
 * and multi-consumer: the owner takes from head and thieves grab half of
 * the ring from head, both advancing head with CAS.  runnext holds the G
 * readied by the running G: it runs next and inherits the time slice, so a
 * producer/consumer pair keeps ping-ponging on one P.  Thieves may take
 * runnext too, but only on their last pass (see stealwork in proc.c).
 *
 * When the ring is full, runqput moves half of it plus the new G to the
 * global queue in one batch (runqputslow), so an overflow costs one lock
 * per 128 goroutines.
 *
 * The global queue is a circular array of G pointers under sched.lock
 * (see globrunq_reserve); runqsize is also read without the lock as a hint.
 *
 * The queue's fields (struct p_runq, runtime/runq.h) are this file's
 * alone; every function here can be used on bare Ps with no M (tests do).
 */
#include <stdlib.h>

#include "kernel_iface/kernel.h"
#include "runtime/runq.h"
#include "runtime/runtime.h"

/* How long a thief leaves a running P's runnext alone. */
#define RUNNEXT_GRACE_NS 3000

#define RUNQ_MASK (RUNQ_SIZE - 1)

void runq_init(struct p_runq *rq)
{
	store_relaxed(&rq->head, 0);
	store_relaxed(&rq->tail, 0);
	store_relaxed(&rq->next, NULL);
}

void runq_fini(struct p_runq *rq)
{
	runq_init(rq);
}

bool runq_has_next(struct p *pp)
{
	return load_relaxed(&pp->runq.next) != NULL;
}

bool runqempty(struct p *pp)
{
	/* A G may move from runnext to the ring between our loads of head,
	 * tail and runnext (runqput kicking runnext out): re-read tail to
	 * make sure the three values are consistent. */
	for (;;) {
		uint32_t head = load_acquire(&pp->runq.head);
		uint32_t tail = load_acquire(&pp->runq.tail);
		struct g *next = load_acquire(&pp->runq.next);

		if (load_acquire(&pp->runq.tail) == tail)
			return head == tail && next == NULL;
	}
}

uint32_t runqlen(struct p *pp)
{
	uint32_t head = load_acquire(&pp->runq.head);
	uint32_t tail = load_acquire(&pp->runq.tail);

	return tail - head;
}

/* Put gp and a batch of half the local ring on the global queue.  Owner
 * only.  Returns false if a thief got in the way (the caller retries). */
static bool runqputslow(struct p *pp, struct g *gp, uint32_t head, uint32_t tail)
{
	struct g *batch[RUNQ_SIZE / 2 + 1];
	uint32_t n = (tail - head) / 2, i;

	if (n != RUNQ_SIZE / 2)
		throw("runqputslow: queue is not full");
	for (i = 0; i < n; i++)
		batch[i] = load_relaxed(&pp->runq.ring[(head + i) & RUNQ_MASK]);
	if (!cas_release(&pp->runq.head, &head, head + n))
		return false;
	batch[n] = gp;
	lockr(&sched.lock, LR_SCHED);
	globrunqputbatch(batch, (int32_t)n + 1);
	unlockr(&sched.lock, LR_SCHED);
	return true;
}

/* With one P, no thief exists (thieves hold a P of their own), so the
 * owner may use plain loads and stores on runnext; gomaxprocs changes
 * only while the world is stopped. */
static inline bool runnext_private(void)
{
	return load_relaxed(&sched.nprocs) == 1;
}

bool runqput_next(struct p *pp, struct g *gp)
{
	struct g *old;

	if (runnext_private()) {
		old = load_relaxed(&pp->runq.next);
		store_relaxed(&pp->runq.next, gp);
	} else {
		old = atomic_exchange(&pp->runq.next, gp);
	}

	if (!old)
		return false;
	runqput(pp, old, false); /* kick the old runnext to the ring */
	return true;
}

void runqput(struct p *pp, struct g *gp, bool next)
{
	uint32_t head, tail;

	if (next) {
		runqput_next(pp, gp);
		return;
	}
	for (;;) {
		head = load_acquire(&pp->runq.head);
		tail = load_relaxed(&pp->runq.tail);
		if (tail - head < RUNQ_SIZE) {
			store_relaxed(&pp->runq.ring[tail & RUNQ_MASK], gp);
			store_release(&pp->runq.tail, tail + 1);
			return;
		}
		if (runqputslow(pp, gp, head, tail))
			return;
	}
}

struct g *runqget(struct p *pp, bool *inherit)
{
	struct g *next = load_relaxed(&pp->runq.next);

	/* Only the owner sets runnext to non-NULL, so a failed CAS means a
	 * thief took it; the ring may still have work. */
	if (next && runnext_private()) {
		store_relaxed(&pp->runq.next, NULL);
		*inherit = true;
		return next;
	}
	if (next && cas(&pp->runq.next, &next, NULL)) {
		*inherit = true;
		return next;
	}
	*inherit = false;
	for (;;) {
		uint32_t head = load_acquire(&pp->runq.head);
		uint32_t tail = load_relaxed(&pp->runq.tail);
		struct g *gp;

		if (tail == head)
			return NULL;
		gp = load_relaxed(&pp->runq.ring[head & RUNQ_MASK]);
		if (cas_release(&pp->runq.head, &head, head + 1)) {
			/* The next G is likely the next to run: start pulling it in
			 * (a stale slot is harmless, prefetch never faults). */
			__builtin_prefetch(load_relaxed(&pp->runq.ring[(head + 1) & RUNQ_MASK]));
			return gp;
		}
	}
}

/*
 * runnext_stalled - whether pp's runnext G is left waiting: pp's M is
 * likely about to run it, since it was just readied by pp's running G,
 * which often blocks right after (a channel hand-off).  Give it a few
 * microseconds, as Go does, and call it stalled only if pp did not switch
 * meanwhile: a P that keeps switching (a pair of goroutines ping-ponging
 * through runnext) runs it soon and cheaply, and stealing it would split
 * the pair across CPUs.  A P whose M is busy waking another M (wakep) is
 * not stalled either.  Any M; spins for up to RUNNEXT_GRACE_NS.
 */
bool runnext_stalled(struct p *pp)
{
	uint32_t tick;
	int64_t until;

	if (!load_relaxed(&pp->runq.next))
		return false;
	if (load_relaxed(&pp->status) != P_RUNNING)
		return true;
	tick = load_relaxed(&pp->switchtick);
	until = ki_nanotime() + RUNNEXT_GRACE_NS;
	while (ki_nanotime() < until)
		cpu_relax();
	return load_relaxed(&pp->runq.next) && load_relaxed(&pp->switchtick) == tick &&
	       !load_relaxed(&pp->waking);
}

/*
 * Grab half of pp's ring into batch[batch_head...].  Any M.  Returns the
 * number grabbed.  With steal_runnext, an empty ring yields runnext.
 */
static uint32_t runqgrab(struct p *pp, struct g *_Atomic *batch, uint32_t batch_head,
			 bool steal_runnext)
{
	for (;;) {
		uint32_t head = load_acquire(&pp->runq.head);
		uint32_t tail = load_acquire(&pp->runq.tail);
		uint32_t n = tail - head, i;

		n -= n / 2;
		if (n == 0) {
			struct g *next;

			if (!steal_runnext)
				return 0;
			next = load_acquire(&pp->runq.next);
			if (!next)
				return 0;
			if (!runnext_stalled(pp))
				return 0;
			if (!cas(&pp->runq.next, &next, NULL))
				continue;
			store_relaxed(&batch[batch_head & RUNQ_MASK], next);
			return 1;
		}
		if (n > RUNQ_SIZE / 2)
			continue; /* head and tail read at different times */
		for (i = 0; i < n; i++) {
			struct g *gp = load_relaxed(&pp->runq.ring[(head + i) & RUNQ_MASK]);

			store_relaxed(&batch[(batch_head + i) & RUNQ_MASK], gp);
		}
		if (cas_release(&pp->runq.head, &head, head + n))
			return n;
	}
}

struct g *runqsteal(struct p *pp, struct p *victim, bool steal_runnext)
{
	uint32_t tail = load_relaxed(&pp->runq.tail);
	uint32_t n = runqgrab(victim, pp->runq.ring, tail, steal_runnext);
	struct g *gp;
	uint32_t head;

	if (n == 0)
		return NULL;
	n--;
	gp = load_relaxed(&pp->runq.ring[(tail + n) & RUNQ_MASK]);
	if (n == 0)
		return gp;
	head = load_acquire(&pp->runq.head);
	if (tail - head + n >= RUNQ_SIZE)
		throw("runqsteal: runq overflow");
	store_release(&pp->runq.tail, tail + n);
	return gp;
}

/* Make room for n more Gs in the global queue; sched.lock held.  The queue
 * is a circular array of G pointers, so moving a batch in or out copies
 * pointers and never touches the Gs themselves (they are usually hot in
 * another CPU's cache). */
static void globrunq_reserve(uint32_t n)
{
	uint32_t size = (uint32_t)load_relaxed(&sched.runqsize), cap, i;
	struct g **q;

	assert_lock_held(&sched.lock);

	if (size + n <= sched.runqcap)
		return;
	for (cap = sched.runqcap ? sched.runqcap : 1024; cap < size + n; cap *= 2)
		;
	q = rt_malloc(sizeof(*q) * cap);
	if (!q)
		throw("globrunqput: out of memory growing the global run queue to %u", cap);
	for (i = 0; i < size; i++)
		q[i] = sched.runq[(sched.runqfirst + i) & (sched.runqcap - 1)];
	rt_free(sched.runq);
	sched.runq = q;
	sched.runqcap = cap;
	sched.runqfirst = 0;
}

void globrunqput(struct g *gp)
{
	globrunqputbatch(&gp, 1);
}

void globrunqputbatch(struct g *const *batch, int32_t n)
{
	uint32_t size, i;

	assert_lock_held(&sched.lock);

	globrunq_reserve((uint32_t)n);
	size = (uint32_t)load_relaxed(&sched.runqsize);
	for (i = 0; i < (uint32_t)n; i++)
		sched.runq[(sched.runqfirst + size + i) & (sched.runqcap - 1)] = batch[i];
	store_relaxed(&sched.runqsize, (int32_t)(size + (uint32_t)n));
}

struct g *globrunqget(struct p *pp, int32_t max)
{
	int32_t size = load_relaxed(&sched.runqsize);
	int32_t nprocs = load_relaxed(&sched.nprocs);
	uint32_t mask = sched.runqcap - 1;
	struct g *gp;
	int32_t n;

	assert_lock_held(&sched.lock);

	if (size == 0)
		return NULL;
	n = size / (nprocs > 0 ? nprocs : 1) + 1;
	if (n > size)
		n = size;
	if (max > 0 && n > max)
		n = max;
	if (n > RUNQ_SIZE / 2)
		n = RUNQ_SIZE / 2;
	store_relaxed(&sched.runqsize, size - n);
	gp = sched.runq[sched.runqfirst];
	sched.runqfirst = (sched.runqfirst + 1) & mask;
	while (--n > 0) {
		runqput(pp, sched.runq[sched.runqfirst], false);
		sched.runqfirst = (sched.runqfirst + 1) & mask;
	}
	return gp;
}

/* Free the global queue's array (tear-down). */
void globrunq_fini(void)
{
	rt_free(sched.runq);
	sched.runq = NULL;
	sched.runqcap = 0;
	sched.runqfirst = 0;
	store_relaxed(&sched.runqsize, 0);
}
