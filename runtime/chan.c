/* SPDX-License-Identifier: MIT */
/*
 * runtime/chan.c - channels and select, with Go's semantics.
 *
 * A channel is a lock, an optional ring buffer of cap elements, and two
 * FIFO wait queues of sudogs (a waiting send or receive, on the waiter's
 * own stack).  The invariants are Go's:
 *
 *   - at least one of c->sendq and c->recvq is empty, except for a
 *     goroutine blocked in select on both ends of one unbuffered channel;
 *   - for buffered channels: qcount > 0 implies recvq is empty, and
 *     qcount < cap implies sendq is empty.
 *
 * Hand-off.  A send that finds a waiting receiver copies the value straight
 * into the receiver's element and readies it (into the sender's P's
 * runnext, so the pair ping-pongs on one P); a receive that finds a waiting
 * sender takes its value (unbuffered) or the buffer's head, refilling the
 * buffer from the sender (buffered).  The waker fills in everything the
 * woken side needs (sg->success, the value) before readying it, so that a
 * goroutine woken from a channel operation never touches the channel
 * again: the channel may be freed as soon as no one is blocked on it.
 *
 * Waiters.  A goroutine parks (gopark, the channel unlocked after the
 * switch); a plain thread unlocks and sleeps on a futex in its sudog.
 *
 * select.  Cases are polled in a random order (pollorder) and channels are
 * locked in address order (lockorder), each channel once, so two selects
 * over the same channels cannot deadlock.  When nothing is ready, one
 * sudog per case is queued, all sharing a struct selwait on the selecting
 * stack; the first waker to claim selwait.done (CAS) wins and records its
 * sudog, others skip the stale sudogs.  After waking, the selector takes
 * its other sudogs off their channels; it never locks the winning case's
 * channel again unless another of its cases also uses that channel.
 *
 * Freeing with stale sudogs.  Between a win and that clean-up, a channel of
 * another case may still hold the selector's sudog while the program, which
 * no longer sees anyone blocked on it, frees it.  rg_chan_free then only
 * marks it freed; the selector's clean-up, finding it freed and its queues
 * empty, frees the memory.  Freeing a channel that someone really waits on
 * is a fatal error.
 *
 * Misuse.  A channel used after rg_chan_free (a second free, a send, a
 * receive...) would lock freed memory, whose first words the allocator
 * has overwritten, and wait for ever.  Each channel carries a magic word,
 * CHAN_LIVE from rg_chan_make until rg_chan_free sets CHAN_FREED, checked
 * by every public call before it touches the lock: a freed channel is a
 * fatal error naming the call (chan_check).  The word lies beyond the
 * first 32 bytes, which glibc's allocator writes into freed chunks.  Once
 * the memory has been reused, by another channel in the worst case, the
 * use cannot be told from a legitimate one.
 *
 * Lock order: channel locks (rank LR_CHAN) before anything else; goready
 * and futex wake-ups happen after the channel is unlocked.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ringo.h"
#include "kernel_iface/kernel.h"
#include "runtime/ctx.h"
#include "runtime/preempt.h"
#include "runtime/runtime.h"

#define ELEM_MAX	   65536
#define SELECT_STACK_CASES 32
#define CHAN_LIVE	   0x6e616863u /* "chan" */
#define CHAN_FREED	   0x65657266u /* "free" */

struct selwait {
	_Atomic uint32_t done;	/* 0 until a waker (or the timeout) claims this select */
	struct sudog *winner;	/* set by the claiming waker before it readies; NULL: timeout */
	_Atomic uint32_t woken; /* plain threads sleep on this */
	struct g *gp;		/* the selecting goroutine (NULL: a plain thread) */
	struct timer timer;	/* the timeout, for a goroutine */
};

struct sudog {
	struct g *gp;		   /* waiting goroutine, NULL for a plain thread */
	struct sudog *next, *prev; /* wait queue; the channel's lock */
	void *elem;		   /* value to send / where to receive (may be NULL) */
	rg_chan *c;
	struct selwait *sel;	 /* NULL unless in a select */
	int caseidx;		 /* select: the case this sudog stands for */
	bool success;		 /* set by the waker: value moved (true) or closed */
	struct sudog *readylink; /* closechan's list of waiters to wake */
	_Atomic uint32_t woken;	 /* plain threads outside select sleep on this */
};

struct waitq {
	struct sudog *first; /* the channel's lock; READ_ONCE in fast paths */
	struct sudog *last;  /* the channel's lock */
};

struct rg_chan {
	struct lock lock;
	bool closed;		   /* lock */
	bool freed;		   /* lock: rg_chan_free ran while stale sudogs remained */
	size_t qcount;		   /* lock (READ_ONCE for rg_chan_len) */
	size_t dataqsiz;	   /* fixed */
	size_t elemsize;	   /* fixed */
	uint32_t magic;		   /* CHAN_LIVE until rg_chan_free ("Misuse"); READ_ONCE */
	size_t sendx, recvx;	   /* lock */
	struct waitq recvq, sendq; /* lock */
	char buf[];		   /* dataqsiz * elemsize bytes */
};

/* Past what the allocator writes into a freed chunk ("Misuse"). */
_Static_assert(__builtin_offsetof(struct rg_chan, magic) >= 32,
	       "rg_chan.magic must lie beyond 32 bytes");

/* --- wait queues --------------------------------------------------------------- */

static void waitq_enqueue(struct waitq *q, struct sudog *sg)
{
	sg->next = NULL;
	sg->prev = q->last;
	if (q->last)
		q->last->next = sg;
	else
		WRITE_ONCE(q->first, sg);
	q->last = sg;
}

static void waitq_remove(struct waitq *q, struct sudog *sg)
{
	if (sg->prev)
		sg->prev->next = sg->next;
	else
		WRITE_ONCE(q->first, sg->next);
	if (sg->next)
		sg->next->prev = sg->prev;
	else
		q->last = sg->prev;
	sg->next = sg->prev = NULL;
}

/* Take the first waiter that can still be woken: a select sudog whose
 * select another waker already won is stale and skipped (its selector
 * removes it).  The channel's lock held. */
static struct sudog *waitq_dequeue(struct waitq *q)
{
	struct sudog *sg;

	for (sg = q->first; sg; sg = sg->next) {
		uint32_t zero = 0;

		if (sg->sel && !atomic_compare_exchange_strong(&sg->sel->done, &zero, 1))
			continue;
		waitq_remove(q, sg);
		if (sg->sel)
			sg->sel->winner = sg;
		return sg;
	}
	return NULL;
}

/* Is anyone really blocked (not a stale select sudog)?  Lock held. */
static bool waitq_has_live(const struct waitq *q)
{
	const struct sudog *sg;

	for (sg = q->first; sg; sg = sg->next)
		if (!sg->sel || !atomic_load(&sg->sel->done))
			return true;
	return false;
}

/* --- parking and waking -------------------------------------------------------------- */

static bool chanparkcommit(struct g *gp, void *arg)
{
	rg_chan *c = arg;

	(void)gp;
	unlockr(&c->lock, LR_CHAN);
	return true;
}

/* Block the caller until a waker readies sg (channel c locked on entry,
 * unlocked on return). */
static void chanpark(rg_chan *c, struct sudog *sg, const char *reason)
{
	if (sg->gp) {
		gopark(chanparkcommit, c, reason);
		return;
	}
	atomic_store(&sg->woken, 0);
	unlockr(&c->lock, LR_CHAN);
	while (!load_acquire(&sg->woken))
		ki_futex_wait((const uint32_t *)&sg->woken, 0, -1);
}

/* Wake the waiter of sg; everything it needs is already in sg.  The
 * waiter may return (and its stack frame die) at once: sg is not touched
 * afterwards. */
static void chanready(struct sudog *sg)
{
	_Atomic uint32_t *woken;

	if (sg->gp) {
		goready(sg->gp, sg);
		return;
	}
	woken = sg->sel ? &sg->sel->woken : &sg->woken;
	store_release(woken, 1);
	ki_futex_wake((const uint32_t *)woken, 1);
}

/* Block forever: an operation on a nil channel, or an empty select. */
static _Noreturn void block_forever(const char *reason)
{
	static _Atomic uint32_t never;

	if (getg())
		gopark(NULL, NULL, reason);
	else
		for (;;)
			ki_futex_wait((const uint32_t *)&never, 0, -1);
	throw("%s: woken from a wait that never ends", reason);
}

/* --- the buffer ---------------------------------------------------------------- */

static inline void *chanbuf(rg_chan *c, size_t i)
{
	return c->buf + i * c->elemsize;
}

static inline void elem_copy(void *dst, const void *src, size_t n)
{
	if (dst && n)
		memcpy(dst, src, n);
}

static inline void elem_zero(void *dst, size_t n)
{
	if (dst && n)
		memset(dst, 0, n);
}

/* --- make and free ------------------------------------------------------------- */

size_t chan_elemsize(const rg_chan *c)
{
	return c->elemsize;
}

rg_chan *chan_make_with(size_t elem_size, size_t cap, size_t extra, void **extrap)
{
	rg_chan *c;
	size_t bytes;

	if (elem_size > ELEM_MAX || __builtin_mul_overflow(elem_size, cap, &bytes) ||
	    bytes > ((size_t)1 << 40)) {
		errno = EINVAL;
		return NULL;
	}
	bytes = (sizeof(*c) + bytes + 15) & ~(size_t)15; /* extra: 16-aligned */
	c = rt_calloc(1, bytes + extra);
	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	c->dataqsiz = cap;
	c->elemsize = elem_size;
	WRITE_ONCE(c->magic, CHAN_LIVE);
	if (extrap)
		*extrap = (char *)c + bytes;
	return c;
}

rg_chan *rg_chan_make(size_t elem_size, size_t cap)
{
	return chan_make_with(elem_size, cap, 0, NULL);
}

static _Noreturn noinline void chan_bad(const rg_chan *c, const char *call)
{
	if (READ_ONCE(c->magic) == CHAN_FREED)
		throw("%s: channel %p was freed (rg_chan_free)", call, (const void *)c);
	throw("%s: %p is not a channel: freed and reused, or never made by rg_chan_make", call,
	      (const void *)c);
}

/* c (not NULL) is a live channel, or a fatal error naming call. */
static inline void chan_check(const rg_chan *c, const char *call)
{
	if (c && unlikely(READ_ONCE(((rg_chan *)c)->magic) != CHAN_LIVE))
		chan_bad(c, call);
}

void rg_chan_free(rg_chan *c)
{
	bool stale;

	if (!c)
		return;
	chan_check(c, "rg_chan_free");
	lockr(&c->lock, LR_CHAN);
	if (c->freed)
		throw("rg_chan_free: channel %p freed twice", (void *)c);
	if (waitq_has_live(&c->recvq) || waitq_has_live(&c->sendq))
		throw("rg_chan_free: goroutines or threads are still blocked on channel %p",
		      (void *)c);
	stale = c->recvq.first || c->sendq.first;
	c->freed = true;
	WRITE_ONCE(c->magic, CHAN_FREED);
	unlockr(&c->lock, LR_CHAN);
	if (!stale)
		rt_free(c);
}

bool chan_idle(rg_chan *c)
{
	bool idle;

	lockr(&c->lock, LR_CHAN);
	idle = !c->qcount && !waitq_has_live(&c->recvq) && !waitq_has_live(&c->sendq);
	unlockr(&c->lock, LR_CHAN);
	return idle;
}

size_t rg_chan_len(const rg_chan *c)
{
	chan_check(c, "rg_chan_len");
	return c ? READ_ONCE(((rg_chan *)c)->qcount) : 0;
}

size_t rg_chan_cap(const rg_chan *c)
{
	chan_check(c, "rg_chan_cap");
	return c ? c->dataqsiz : 0;
}

/* --- send ---------------------------------------------------------------------- */

/* Hand ep to the waiting receiver sg; c locked on entry, unlocked on return. */
static void send_direct(rg_chan *c, struct sudog *sg, const void *ep)
{
	elem_copy(sg->elem, ep, c->elemsize);
	sg->success = true;
	unlockr(&c->lock, LR_CHAN);
	chanready(sg);
}

/* Send ep; block: whether to wait.  0, -EPIPE or -EAGAIN. */
static int chansend(rg_chan *c, const void *ep, bool block)
{
	struct sudog *sg, mysg;

	if (!c) {
		if (!block)
			return -EAGAIN;
		block_forever("chan send (nil chan)");
	}
	/* Fast path for a failing non-blocking send: no lock needed to see a
	 * full open channel (Go's reasoning in chansend). */
	if (!block && !READ_ONCE(c->closed) &&
	    (c->dataqsiz == 0 ? READ_ONCE(c->recvq.first) == NULL :
				READ_ONCE(c->qcount) == c->dataqsiz))
		return -EAGAIN;

	lockr(&c->lock, LR_CHAN);
	if (c->closed) {
		unlockr(&c->lock, LR_CHAN);
		return -EPIPE;
	}
	sg = waitq_dequeue(&c->recvq);
	if (sg) {
		send_direct(c, sg, ep);
		return 0;
	}
	if (c->qcount < c->dataqsiz) {
		elem_copy(chanbuf(c, c->sendx), ep, c->elemsize);
		if (++c->sendx == c->dataqsiz)
			c->sendx = 0;
		WRITE_ONCE(c->qcount, c->qcount + 1);
		unlockr(&c->lock, LR_CHAN);
		return 0;
	}
	if (!block) {
		unlockr(&c->lock, LR_CHAN);
		return -EAGAIN;
	}
	memset(&mysg, 0, sizeof(mysg));
	mysg.gp = getg();
	mysg.elem = (void *)ep;
	mysg.c = c;
	waitq_enqueue(&c->sendq, &mysg);
	chanpark(c, &mysg, "chan send");
	/* Woken: by a receiver (success) or by close.  c may be gone. */
	return mysg.success ? 0 : -EPIPE;
}

int rg_chan_send(rg_chan *c, const void *elem)
{
	rg_ctx *ctx;

	rt_enter();
	chan_check(c, "rg_chan_send");
	if (unlikely(ctx = ctx_current())) {
		rg_case cs = { .chan = c, .op = RG_SEND, .elem = (void *)elem };

		return ctx_select(&cs, 1, -1, ctx);
	}
	return chansend(c, elem, true);
}

int rg_chan_try_send(rg_chan *c, const void *elem)
{
	rt_enter();
	chan_check(c, "rg_chan_try_send");
	return chansend(c, elem, false);
}

/* --- receive ------------------------------------------------------------------- */

/* Take a value from the waiting sender sg into ep; c locked on entry,
 * unlocked on return. */
static void recv_direct(rg_chan *c, struct sudog *sg, void *ep)
{
	if (c->dataqsiz == 0) {
		elem_copy(ep, sg->elem, c->elemsize);
	} else {
		/* The buffer is full: take its head, and the sender's value
		 * takes the freed slot at the tail (the same slot). */
		void *slot = chanbuf(c, c->recvx);

		elem_copy(ep, slot, c->elemsize);
		elem_copy(slot, sg->elem, c->elemsize);
		if (++c->recvx == c->dataqsiz)
			c->recvx = 0;
		c->sendx = c->recvx;
	}
	sg->success = true;
	unlockr(&c->lock, LR_CHAN);
	chanready(sg);
}

/* Receive into ep; 1 (a value), 0 (closed and drained) or -EAGAIN. */
static int chanrecv(rg_chan *c, void *ep, bool block)
{
	struct sudog *sg, mysg;

	if (!c) {
		if (!block)
			return -EAGAIN;
		block_forever("chan receive (nil chan)");
	}
	if (!block &&
	    (c->dataqsiz == 0 ? READ_ONCE(c->sendq.first) == NULL : READ_ONCE(c->qcount) == 0)) {
		if (!READ_ONCE(c->closed))
			return -EAGAIN;
		/* Closed: fall through to the locked path, which drains. */
	}

	lockr(&c->lock, LR_CHAN);
	if (c->closed && c->qcount == 0) {
		unlockr(&c->lock, LR_CHAN);
		elem_zero(ep, c->elemsize);
		return 0;
	}
	sg = waitq_dequeue(&c->sendq);
	if (sg) {
		recv_direct(c, sg, ep);
		return 1;
	}
	if (c->qcount > 0) {
		elem_copy(ep, chanbuf(c, c->recvx), c->elemsize);
		if (++c->recvx == c->dataqsiz)
			c->recvx = 0;
		WRITE_ONCE(c->qcount, c->qcount - 1);
		unlockr(&c->lock, LR_CHAN);
		return 1;
	}
	if (!block) {
		unlockr(&c->lock, LR_CHAN);
		return -EAGAIN;
	}
	memset(&mysg, 0, sizeof(mysg));
	mysg.gp = getg();
	mysg.elem = ep;
	mysg.c = c;
	waitq_enqueue(&c->recvq, &mysg);
	chanpark(c, &mysg, "chan receive");
	/* Woken by a sender (success) or by close, which zeroed ep. */
	return mysg.success ? 1 : 0;
}

int rg_chan_recv(rg_chan *c, void *elem)
{
	rg_ctx *ctx;

	rt_enter();
	chan_check(c, "rg_chan_recv");
	if (unlikely(ctx = ctx_current())) {
		rg_case cs = { .chan = c, .op = RG_RECV, .elem = elem };
		int r = ctx_select(&cs, 1, -1, ctx);

		return r == 0 ? cs.ok : r;
	}
	return chanrecv(c, elem, true);
}

int rg_chan_try_recv(rg_chan *c, void *elem)
{
	rt_enter();
	chan_check(c, "rg_chan_try_recv");
	return chanrecv(c, elem, false);
}

/* --- close --------------------------------------------------------------------- */

int rg_chan_close(rg_chan *c)
{
	struct sudog *list = NULL, *sg;

	rt_enter();
	if (!c)
		return -EINVAL;
	chan_check(c, "rg_chan_close");
	lockr(&c->lock, LR_CHAN);
	if (c->closed) {
		unlockr(&c->lock, LR_CHAN);
		return -EPIPE;
	}
	WRITE_ONCE(c->closed, true);
	/* Receivers get zeroed elements and 0; senders -EPIPE. */
	while ((sg = waitq_dequeue(&c->recvq)) != NULL) {
		elem_zero(sg->elem, c->elemsize);
		sg->success = false;
		sg->readylink = list;
		list = sg;
	}
	while ((sg = waitq_dequeue(&c->sendq)) != NULL) {
		sg->success = false;
		sg->readylink = list;
		list = sg;
	}
	unlockr(&c->lock, LR_CHAN);
	while ((sg = list) != NULL) {
		list = sg->readylink;
		chanready(sg);
	}
	return 0;
}

/* --- select -------------------------------------------------------------------- */

/* Lock the distinct channels of lockorder[0..n) in that (address) order. */
static void sellock(rg_case *cases, const uint16_t *lockorder, int n)
{
	rg_chan *prev = NULL;
	int i;

	for (i = 0; i < n; i++) {
		rg_chan *c = cases[lockorder[i]].chan;

		if (c != prev)
			lockr(&c->lock, LR_CHAN);
		prev = c;
	}
}

/* Unlock them in the reverse order. */
static void selunlock(rg_case *cases, const uint16_t *lockorder, int n)
{
	int i;

	for (i = n - 1; i >= 0; i--) {
		rg_chan *c = cases[lockorder[i]].chan;

		if (i > 0 && c == cases[lockorder[i - 1]].chan)
			continue;
		unlockr(&c->lock, LR_CHAN);
	}
}

/* Unlock every distinct channel of lockorder[0..n) but keep (whose
 * hand-off unlocks it). */
static void selunlock_except(rg_case *cases, const uint16_t *lockorder, int n, rg_chan *keep)
{
	int i;

	for (i = n - 1; i >= 0; i--) {
		rg_chan *c = cases[lockorder[i]].chan;

		if (c == keep || (i > 0 && c == cases[lockorder[i - 1]].chan))
			continue;
		unlockr(&c->lock, LR_CHAN);
	}
}

struct selpark {
	rg_case *cases;
	const uint16_t *lockorder;
	int n;
	struct selwait *sw;
	int64_t when; /* timeout (0: none) */
};

/* The timeout claims the select like a waker would, with no winner. */
static void select_timeout_fire(struct timer *t)
{
	struct selwait *sw = t->arg;
	uint32_t zero = 0;

	if (atomic_compare_exchange_strong(&sw->done, &zero, 1)) {
		sw->winner = NULL;
		goready(sw->gp, NULL);
	}
}

static bool selparkcommit(struct g *gp, void *arg)
{
	struct selpark *sp = arg;

	(void)gp;
	/* Parked now: the timer may fire at once without finding us running. */
	if (sp->when)
		timer_add(&sp->sw->timer, sp->when);
	selunlock(sp->cases, sp->lockorder, sp->n);
	return true;
}

/* Sort order[0..n) by channel address (heap sort: no allocation, n log n). */
static void sort_by_chan(rg_case *cases, uint16_t *order, int n)
{
	int i;

#define KEY(k) ((uintptr_t)cases[order[k]].chan)
	for (i = n / 2 - 1; i >= 0; i--) {
		int j = i;

		for (;;) {
			int l = 2 * j + 1, m = j;
			uint16_t t;

			if (l < n && KEY(l) > KEY(m))
				m = l;
			if (l + 1 < n && KEY(l + 1) > KEY(m))
				m = l + 1;
			if (m == j)
				break;
			t = order[j], order[j] = order[m], order[m] = t;
			j = m;
		}
	}
	for (i = n - 1; i > 0; i--) {
		uint16_t t = order[0];
		int j = 0;

		order[0] = order[i], order[i] = t;
		for (;;) {
			int l = 2 * j + 1, m = j;

			if (l < i && KEY(l) > KEY(m))
				m = l;
			if (l + 1 < i && KEY(l + 1) > KEY(m))
				m = l + 1;
			if (m == j)
				break;
			t = order[j], order[j] = order[m], order[m] = t;
			j = m;
		}
	}
#undef KEY
}

/* Poll the cases once, channels locked; on success, unlock and return the
 * case index (or -EPIPE for a send on a closed channel).  -EAGAIN: none
 * ready, channels still locked. */
static int select_poll(rg_case *cases, const uint16_t *pollorder, const uint16_t *lockorder, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		int ci = pollorder[i];
		rg_case *cas = &cases[ci];
		rg_chan *c = cas->chan;
		struct sudog *sg;

		if (cas->op == RG_RECV) {
			if ((sg = waitq_dequeue(&c->sendq)) != NULL) {
				/* recv_direct unlocks c: unlock the others first. */
				selunlock_except(cases, lockorder, n, c);
				recv_direct(c, sg, cas->elem);
				cas->ok = 1;
				return ci;
			}
			if (c->qcount > 0) {
				elem_copy(cas->elem, chanbuf(c, c->recvx), c->elemsize);
				if (++c->recvx == c->dataqsiz)
					c->recvx = 0;
				WRITE_ONCE(c->qcount, c->qcount - 1);
				cas->ok = 1;
				selunlock(cases, lockorder, n);
				return ci;
			}
			if (c->closed) {
				elem_zero(cas->elem, c->elemsize);
				cas->ok = 0;
				selunlock(cases, lockorder, n);
				return ci;
			}
		} else {
			if (c->closed) {
				selunlock(cases, lockorder, n);
				return -EPIPE;
			}
			if ((sg = waitq_dequeue(&c->recvq)) != NULL) {
				selunlock_except(cases, lockorder, n, c);
				send_direct(c, sg, cas->elem);
				return ci;
			}
			if (c->qcount < c->dataqsiz) {
				elem_copy(chanbuf(c, c->sendx), cas->elem, c->elemsize);
				if (++c->sendx == c->dataqsiz)
					c->sendx = 0;
				WRITE_ONCE(c->qcount, c->qcount + 1);
				selunlock(cases, lockorder, n);
				return ci;
			}
		}
	}
	return -EAGAIN;
}

/*
 * After a win: take the selector's other sudogs off their channels, and
 * free channels that rg_chan_free left to the last stale sudog.  The
 * winning case (wi) is skipped: its waker already dequeued it, and its
 * channel may be gone.  lockorder is only read: until this has locked
 * every other channel, selparkcommit on the parking M may still be
 * reading it (it holds those locks).
 */
static void select_cleanup(rg_case *cases, struct sudog *sgs, const uint16_t *lockorder, int n,
			   int wi)
{
	rg_chan *prev = NULL;
	int i;

	for (i = 0; i < n; i++) {
		rg_chan *c = cases[lockorder[i]].chan;

		if (lockorder[i] == wi || c == prev)
			continue;
		lockr(&c->lock, LR_CHAN);
		prev = c;
	}
	for (i = 0; i < n; i++) {
		int ci = lockorder[i];

		if (ci == wi)
			continue;
		waitq_remove(cases[ci].op == RG_SEND ? &sgs[ci].c->sendq : &sgs[ci].c->recvq,
			     &sgs[ci]);
	}
	prev = NULL;
	for (i = n - 1; i >= 0; i--) {
		rg_chan *c = cases[lockorder[i]].chan;
		bool dead;

		if (lockorder[i] == wi || c == prev)
			continue;
		prev = c;
		dead = c->freed && !c->recvq.first && !c->sendq.first;
		unlockr(&c->lock, LR_CHAN);
		if (dead)
			rt_free(c);
	}
}

int rg_select(rg_case *cases, int n, int64_t timeout_ns)
{
	rg_ctx *ctx;

	rt_enter();
	if (unlikely(ctx = ctx_current()) && n >= 0 && n < 65535 && (n == 0 || cases))
		return ctx_select(cases, n, timeout_ns, ctx);
	return select_cases(cases, n, timeout_ns);
}

int select_cases(rg_case *cases, int n, int64_t timeout_ns)
{
	uint16_t order_stack[2 * SELECT_STACK_CASES];
	struct sudog sg_stack[SELECT_STACK_CASES];
	uint16_t *pollorder = order_stack, *lockorder;
	struct sudog *sgs = sg_stack, *win;
	struct selwait sw;
	void *heap = NULL;
	int i, j, norder = 0, r, wi;
	struct g *gp;

	rt_enter();
	if (n < 0 || n > 65535 || (n > 0 && !cases))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (cases[i].op != RG_SEND && cases[i].op != RG_RECV)
			return -EINVAL;
		chan_check(cases[i].chan, "rg_select");
	}
	if (n > SELECT_STACK_CASES) {
		heap = rt_malloc((size_t)n * (2 * sizeof(uint16_t) + sizeof(struct sudog)));
		if (!heap)
			return -ENOMEM;
		sgs = heap;
		pollorder = (uint16_t *)(sgs + n);
	}
	lockorder = pollorder + n;

	/* A random permutation of the cases with a channel. */
	for (i = 0; i < n; i++) {
		if (!cases[i].chan)
			continue;
		j = (int)(fastrand() % (uint32_t)(norder + 1));
		pollorder[norder] = pollorder[j];
		pollorder[j] = (uint16_t)i;
		norder++;
	}
	if (norder == 0) {
		if (timeout_ns < 0)
			block_forever(n == 0 ? "select (no cases)" : "select");
		rg_sleep_ns(timeout_ns);
		r = timeout_ns == 0 ? -EAGAIN : -ETIMEDOUT;
		goto out;
	}
	memcpy(lockorder, pollorder, sizeof(*lockorder) * (size_t)norder);
	sort_by_chan(cases, lockorder, norder);

	sellock(cases, lockorder, norder);
	r = select_poll(cases, pollorder, lockorder, norder);
	if (r != -EAGAIN)
		goto out;
	if (timeout_ns == 0) {
		selunlock(cases, lockorder, norder);
		r = -EAGAIN;
		goto out;
	}

	/* Nothing ready: wait on every case. */
	atomic_store(&sw.done, 0);
	atomic_store(&sw.woken, 0);
	sw.winner = NULL;
	gp = getg();
	sw.gp = gp;
	memset(&sw.timer, 0, sizeof(sw.timer));
	sw.timer.f = select_timeout_fire;
	sw.timer.arg = &sw;
	for (i = 0; i < norder; i++) {
		int ci = lockorder[i];
		struct sudog *sg = &sgs[ci];

		memset(sg, 0, sizeof(*sg));
		sg->gp = gp;
		sg->elem = cases[ci].elem;
		sg->c = cases[ci].chan;
		sg->sel = &sw;
		sg->caseidx = ci;
		waitq_enqueue(cases[ci].op == RG_SEND ? &sg->c->sendq : &sg->c->recvq, sg);
	}
	if (gp) {
		struct selpark sp = { cases, lockorder, norder, &sw, 0 };

		if (timeout_ns > 0)
			sp.when = when_after(timeout_ns);
		gopark(selparkcommit, &sp, "select");
		if (sp.when)
			timer_del(&sw.timer);
	} else {
		int64_t when = timeout_ns > 0 ? when_after(timeout_ns) : 0;

		selunlock(cases, lockorder, norder);
		while (!load_acquire(&sw.woken)) {
			int64_t left = when ? when - ki_nanotime() : -1;
			uint32_t zero = 0;

			if (when && left <= 0 && atomic_compare_exchange_strong(&sw.done, &zero, 1))
				break; /* timed out: no winner */
			ki_futex_wait((const uint32_t *)&sw.woken, 0,
				      when ? (left > 0 ? left : 1000000) : -1);
		}
	}

	/* Woken: the winner's waker filled in its sudog and dequeued it (or
	 * the timeout claimed the select: no winner). */
	win = sw.winner;
	if (!win) {
		select_cleanup(cases, sgs, lockorder, norder, -1);
		r = -ETIMEDOUT;
		goto out;
	}
	wi = win->caseidx;
	if (norder > 1)
		select_cleanup(cases, sgs, lockorder, norder, wi);
	if (cases[wi].op == RG_RECV) {
		cases[wi].ok = win->success;
		r = wi;
	} else {
		r = win->success ? wi : -EPIPE;
	}
out:
	rt_free(heap);
	return r;
}
