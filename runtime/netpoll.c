/* SPDX-License-Identifier: MIT */
/*
 * runtime/netpoll.c - the netpoller: goroutines that wait for descriptors,
 * one poller per P, and the idle M that sleeps in it.
 *
 * Backends
 * --------
 * kernel_iface/netpoll.h is the contract: io_uring (completion style) where
 * the kernel allows it, epoll (readiness style) where it is refused.  At
 * start-up netpoll_init probes io_uring (setup, a NOP round trip, the
 * opcodes and features we use); when it is refused it says so once on
 * stderr and uses epoll.  RINGO_NETPOLL=io_uring|epoll forces one.
 *
 * Waiting
 * -------
 * A goroutine that must wait builds a struct iowait in its own frame and
 * parks.  On io_uring the request itself goes to the current P's ring
 * (netpoll_op): it is prepared under the P's netpoll lock, which the park's
 * unlock function releases once the goroutine is G_WAITING, so no
 * completion can ready a goroutine that still runs.  Prepared requests
 * reach the kernel in batches: before the P's M runs anything else
 * (find_runnable), when NP_BATCH are pending, or, when the M finds no
 * work and sleeps in the P's poller, with the wait's own io_uring_enter
 * (netpoll_sleep): one system call per wake-up instead of two, and the
 * requests' task work runs on the thread that sleeps in that ring.  A deadline travels with the request as a linked timeout, so
 * that when the call returns, timed out or not, the kernel is done with
 * its buffer.  On epoll the goroutine tries the call without blocking and,
 * on EAGAIN, waits for readiness (netpoll_wait_fd) on the descriptor's
 * poll descriptor, edge-triggered as in Go, with a timer for its deadline.
 *
 * Poll descriptors (struct pollfd_desc), one per descriptor number, in a
 * table that only grows, by chunks, and only for descriptors that are open
 * (pd_get): a number no process can have is -EBADF.  Every goroutine
 * waiting on fd is on its list, so that rg_io_cancel and rg_close can end
 * their waits (io_uring: an ASYNC_CANCEL of each request on the ring that
 * holds it; epoll: at once).  A request goes in under pd->lock after a
 * check of its cancelled flag, and a canceller prepares its cancel under
 * that lock, so a cancel never reaches the ring ahead of its request.
 * seq changes at rg_close, so that events of a closed descriptor whose
 * number was reused are dropped.  kind and connected are hints kept until
 * rg_close: a recv on a socket seen connected waits for data before its
 * first attempt (io_uring's POLL_FIRST); before that it tries first, since
 * a listening socket's recv fails at once while its poll would wait.
 *
 * Requests outlive their thread
 * -----------------------------
 * On io_uring the kernel cancels the requests of a thread that exits
 * (-ECANCELED; -EINTR for a blocking call on a worker), and the thread
 * that flushed a P's ring may have submitted requests of any goroutine of
 * that P: a goroutine that exits locked to its thread ends that thread.
 * netpoll_op therefore submits again, from the goroutine's current M, a
 * request that ended -ECANCELED or -EINTR while nobody asked (op_lost:
 * neither rg_io_cancel/rg_close, nor its deadline, which is still the
 * same absolute time), at most NP_RETRIES times, and then returns
 * -ECANCELED.  That is safe because a cancelled request transferred
 * nothing (a partial transfer completes with its count): recv, send,
 * accept, read, write, open, fsync and poll are simply submitted again.
 * A connect is not: the socket may still be connecting, and a second
 * connect answers -EALREADY (then the goroutine waits for writability,
 * NP_OP_POLL, and reads SO_ERROR) or -EISCONN (connected meanwhile: 0).
 *
 * An async request (np_req.async: an open of a FIFO, which must block on
 * a worker to wait for its peer) is not interrupted by a linked timeout,
 * so its deadline is a runtime timer (op_deadline) that cancels it.
 *
 * Completions to goroutines
 * -------------------------
 * netpoll_poll reaps a P's poller and makes the goroutines runnable, on
 * the reaping M's P (or the global queue).  The M holding a P reaps it at
 * every schedule while goroutines wait on it (a load of the CQ tail, no
 * system call, on io_uring) and before it looks elsewhere for work.  A
 * goroutine that parks on a request holds the P's netpoll lock across its
 * park, so that schedule cannot reap: op_commit, which releases the lock,
 * reaps after its flush instead, so that a goroutine whose request
 * completed is queued at once, not behind every goroutine started
 * meanwhile.
 * sysmon reaps the pollers of Ps whose M has not switched goroutines for
 * a millisecond, or that are idle with nobody waiting in them, and runs
 * the due timers of the latter (sysmon_pollers in runtime/sysmon.c,
 * through netpoll_poll_orphan), so completions never wait
 * long behind a goroutine that computes.  Not sooner: what sysmon reaps
 * goes to the global queue, behind every local one (at 20 us, echo's p99
 * went from 1 ms to 9 ms).  A running P's timers are its own M's
 * ("Timers and the global queue", runtime/proc.c).
 *
 * The idle M
 * ----------
 * An M that finds no work releases its P, and if that P has waiting
 * goroutines or timers (netpoll_p_busy), the M becomes the P's pollm
 * (pollm_bind): it sleeps in the P's poller (netpoll_sleep) with the P's
 * next timer as the timeout, so one system call waits for the network,
 * the disk, the timers and wake-ups.  It wakes when its poller has
 * events, its timer is due, or startm hands it a P (the P it waits for,
 * usually: startm prefers an idle P's pollm to a new thread), and then
 * takes its P back (pollm_unbind) and runs what it reaped.  A P that
 * leaves the idle list to another M releases its pollm (pollm_release),
 * which then parks as a plain idle M.  The binding (pp->poll.m,
 * mp->poll.p) is this file's and changes under sched.lock; proc.c's
 * find_runnable, startm and stop-the-world call the functions above.
 * Wake-ups write the P's eventfd, only while pp->poll.sleeping says an M
 * sleeps there; the pollm counts itself in pp->poll.sleeping and then
 * re-checks mp->nextp and mp->poll.p, and the waker sets those and then
 * tests the count (both sequentially consistent), so one of them sees the
 * other.  A pollm counts as a running M for deadlock detection: goroutines
 * that wait for I/O or timers are not deadlocked.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringo.h"
#include "kernel_iface/kernel.h"
#include "runtime/ctx.h"
#include "runtime/netpoll.h"
#include "runtime/probes.h"
#include "runtime/runtime.h"

#define NP_BATCH    32	       /* flush when this many requests are prepared */
#define NP_REAP_MAX 256	       /* events taken by one netpoll_poll */
#define NP_REAP_ONE 64	       /* events taken by one call of the backend's reap */
#define NP_DRAIN_NS 1000000000 /* teardown waits this long for requests in flight */
#define NP_RETRIES  16	       /* times a request nobody cancelled is submitted again */
#define PD_CHUNK    1024       /* poll descriptors per table chunk */
#define PD_CHUNKS   4096       /* descriptors up to PD_CHUNK * PD_CHUNKS */

struct iowait;

struct pollfd_desc {
	struct lock lock;
	uint32_t seq;		/* changes at rg_close; lock */
	int8_t kind;		/* enum ki_fd_kind, 0: not known yet (a hint; READ_ONCE) */
	bool connected;		/* a recv, send or connect succeeded (a hint; READ_ONCE) */
	uint64_t ident;		/* epoll: identity of the file armed (ki_fd_kind); lock */
	bool rready;		/* epoll: readable edge seen with no reader; lock */
	bool wready;		/* epoll: writable edge seen with no writer; lock */
	struct p *armp;		/* epoll: P whose poller watches fd; lock */
	struct iowait *waiters; /* lock */
};

struct iowait {
	struct np_req req; /* completion style: the request */
	struct g *gp;
	struct pollfd_desc *pd;	    /* NULL: no descriptor (open) */
	struct iowait *next, *prev; /* pd->waiters; pd->lock */
	struct p *pp;		    /* poller it waits in (counted in its poll.waiting) */
	int32_t res;		    /* set by the waker before it readies gp */
	uint32_t mode;		    /* readiness: NP_READ or NP_WRITE */
	bool queued;		    /* on pd->waiters; pd->lock */
	bool cancelled;		    /* rg_io_cancel/rg_close or the context asked; pd->lock */
	int32_t ended;		    /* completion, no descriptor or async: -ETIMEDOUT (op_deadline)
				     * or -ECANCELED (the context); pp->poll.lock */
	struct timer timer;	    /* readiness, and async requests: the deadline */
	struct ctx_wait cw;	    /* the goroutine's context can end the wait */
};

static struct {
	const struct np_backend *be; /* fixed while the runtime runs */
	struct lock growlock;	     /* allocating chunks */
	struct pollfd_desc *_Atomic chunks[PD_CHUNKS];
	bool noticed; /* the fallback notice was printed (once per process) */
} netpoll;

/* --- start and stop ---------------------------------------------------------- */

int netpoll_init(const char *force)
{
	const char *why = NULL;
	bool fell_back;
	int r = np_select(force, &netpoll.be, &fell_back, &why);

	if (r) {
		if (r == -EINVAL)
			fprintf(stderr, "ringo: RINGO_NETPOLL=\"%s\": %s\n", force, why);
		else
			fprintf(stderr, "ringo: RINGO_NETPOLL=%s: %s cannot work here: %s (%s)\n",
				force ? force : "", force ? force : "the poller",
				why ? why : "probe failed", strerror(-r));
		netpoll.be = NULL;
		return r;
	}
	if (fell_back && !netpoll.noticed) {
		netpoll.noticed = true;
		fprintf(stderr, "ringo: io_uring unavailable (%s): using epoll\n",
			why ? why : "refused");
	}
	return 0;
}

/*
 * Requests of goroutines that rg_main abandoned may still be in flight
 * into their stacks, which are about to be unmapped (and the addresses
 * reused).  The threads that submitted them have exited, which cancelled
 * theirs, except the caller's: cancel everything and wait for the
 * completions (a disk read cannot be cancelled but ends soon), at most
 * NP_DRAIN_NS.
 */
static void netpoll_drain(struct p *pp)
{
	int64_t until = ki_nanotime() + NP_DRAIN_NS;
	struct np_event ev[NP_REAP_ONE];
	int n;

	lockr(&pp->poll.lock, LR_NETPOLL);
	if (netpoll.be->cancel(pp->poll.np, 0) == 0)
		netpoll.be->flush(pp->poll.np);
	while (load_relaxed(&pp->poll.waiting) > 0 && ki_nanotime() < until) {
		while ((n = netpoll.be->reap(pp->poll.np, ev, NP_REAP_ONE)) > 0)
			atomic_fetch_sub(&pp->poll.waiting, n);
		if (load_relaxed(&pp->poll.waiting) > 0)
			netpoll.be->wait(pp->poll.np, NP_DRAIN_NS / 10, 0);
	}
	unlockr(&pp->poll.lock, LR_NETPOLL);
}

void netpoll_fini(void)
{
	int32_t i;

	for (i = 0; i < sched.nallp; i++) {
		struct p *pp = sched.allp[i];

		if (pp->poll.np && netpoll.be->completes && load_relaxed(&pp->poll.waiting) > 0)
			netpoll_drain(pp);
		if (pp->poll.np)
			netpoll.be->destroy(pp->poll.np);
		pp->poll.np = NULL;
	}
	for (i = 0; i < PD_CHUNKS; i++) {
		rt_free(netpoll.chunks[i]);
		netpoll.chunks[i] = NULL;
	}
	netpoll.be = NULL;
}

int netpoll_p_init(struct p *pp)
{
	return pp->poll.np ? 0 : netpoll.be->create(&pp->poll.np);
}

const struct np_backend *netpoll_backend(void)
{
	return netpoll.be;
}

const char *rg_netpoll_backend(void)
{
	const struct np_backend *be = READ_ONCE(netpoll.be);

	return be ? be->name : NULL;
}

bool netpoll_p_busy(struct p *pp)
{
	return load_relaxed(&pp->poll.waiting) > 0 || timers_next(&pp->timers) != 0;
}

/* --- poll descriptors --------------------------------------------------------- */

static struct pollfd_desc *pd_lookup(int fd)
{
	struct pollfd_desc *chunk;

	if (fd < 0 || fd >= PD_CHUNK * PD_CHUNKS)
		return NULL;
	chunk = load_acquire(&netpoll.chunks[fd / PD_CHUNK]);
	return chunk ? &chunk[fd % PD_CHUNK] : NULL;
}

/*
 * fd's poll descriptor, *out; its chunk is allocated on first use of a
 * number in its range, and only for a descriptor that is open (one fcntl,
 * once per chunk), so the table never grows past the highest descriptor
 * the process has had open, itself below RLIMIT_NOFILE: a number no
 * process can have gets -EBADF, not a table of its size.  0, -EBADF, or
 * -ENOMEM.
 */
static int pd_get(int fd, struct pollfd_desc **out)
{
	struct pollfd_desc *chunk;
	int r, i;

	*out = pd_lookup(fd);
	if (*out)
		return 0;
	if (fd < 0)
		return -EBADF;
	r = ki_fcntl(fd, F_GETFD, 0);
	if (r < 0)
		return r;
	if (fd >= PD_CHUNK * PD_CHUNKS)
		return -ENOMEM;
	chunk = rt_calloc(PD_CHUNK, sizeof(*chunk));
	if (!chunk)
		return -ENOMEM;
	for (i = 0; i < PD_CHUNK; i++)
		chunk[i].seq = 1;
	lockr(&netpoll.growlock, LR_PD);
	if (!netpoll.chunks[fd / PD_CHUNK]) {
		store_release(&netpoll.chunks[fd / PD_CHUNK], chunk);
		chunk = NULL;
	}
	unlockr(&netpoll.growlock, LR_PD);
	rt_free(chunk);
	*out = pd_lookup(fd);
	return 0;
}

/* pd->lock held. */
static void pd_link(struct pollfd_desc *pd, struct iowait *w)
{
	w->prev = NULL;
	w->next = pd->waiters;
	if (pd->waiters)
		pd->waiters->prev = w;
	pd->waiters = w;
	w->queued = true;
}

/* pd->lock held. */
static void pd_unlink(struct pollfd_desc *pd, struct iowait *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		pd->waiters = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->next = w->prev = NULL;
	w->queued = false;
}

int netpoll_fd_kind(int fd)
{
	struct pollfd_desc *pd;
	int kind = pd_get(fd, &pd);

	if (kind < 0)
		return kind;
	kind = READ_ONCE(pd->kind);
	if (kind)
		return kind;
	kind = ki_fd_kind(fd, NULL);
	if (kind > 0)
		WRITE_ONCE(pd->kind, (int8_t)kind);
	return kind;
}

int netpoll_fd_kind_check(int fd)
{
	struct pollfd_desc *pd = pd_lookup(fd);
	int kind = ki_fd_kind(fd, NULL);

	if (pd)
		WRITE_ONCE(pd->kind, (int8_t)(kind > 0 ? kind : 0));
	return kind;
}

void netpoll_fd_connected(int fd)
{
	struct pollfd_desc *pd = pd_lookup(fd);

	if (pd && !READ_ONCE(pd->connected))
		WRITE_ONCE(pd->connected, true);
}

int netpoll_set_nonblock(int fd)
{
	int fl = ki_fcntl(fd, F_GETFL, 0);

	if (fl < 0 || (fl & O_NONBLOCK))
		return fl < 0 ? fl : 0;
	return ki_fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int64_t netpoll_deadline(void)
{
	struct g *gp = getg();

	return gp ? gp->ext->deadline : 0;
}

/* --- making goroutines runnable ------------------------------------------------- */

struct glist {
	struct g *head, *tail;
	int n;
};

/* gp (waiting) becomes runnable, onto l. */
static void glist_ready(struct glist *l, struct g *gp)
{
	gp->ext->param = NULL;
	casgstatus(gp, G_WAITING, G_RUNNABLE);
	gp->schedlink = NULL;
	if (l->tail)
		l->tail->schedlink = gp;
	else
		l->head = gp;
	l->tail = gp;
	l->n++;
}

/* Put l's goroutines on mp's P, or on the global queue without one, as
 * Go's injectglist does. */
static void glist_inject(struct m *mp, struct glist *l)
{
	struct p *pp = mp ? mp->p : NULL;
	struct g *gp, *next;

	if (!l->n)
		return;
	if (pp) {
		for (gp = l->head; gp; gp = next) {
			next = gp->schedlink;
			if (metrics_sampled(gp->goid))
				metrics_ready(&pp->metrics, gp->ext);
			runqput(pp, gp, false);
		}
	} else {
		lockr(&sched.lock, LR_SCHED);
		for (gp = l->head; gp; gp = next) {
			next = gp->schedlink;
			if (metrics_sampled(gp->goid))
				metrics_ready(NULL, gp->ext);
			globrunqput(gp);
		}
		unlockr(&sched.lock, LR_SCHED);
		atomic_thread_fence(memory_order_seq_cst);
	}
	if (!pp || l->n > 1)
		wakep();
}

/* An epoll event for the descriptor behind token. */
static void pd_event(uint64_t token, uint32_t ready, struct glist *l)
{
	struct pollfd_desc *pd = pd_lookup((int)(uint32_t)token);
	struct iowait *w, *next;
	uint32_t woke = 0;

	if (!pd)
		return;
	lockr(&pd->lock, LR_PD);
	if (pd->seq == (uint32_t)(token >> 32)) {
		for (w = pd->waiters; w; w = next) {
			next = w->next;
			if (!(w->mode & ready))
				continue;
			pd_unlink(pd, w);
			w->res = 0;
			woke |= w->mode;
			atomic_fetch_sub(&w->pp->poll.waiting, 1);
			glist_ready(l, w->gp);
		}
		if ((ready & NP_READ) && !(woke & NP_READ))
			pd->rready = true;
		if ((ready & NP_WRITE) && !(woke & NP_WRITE))
			pd->wready = true;
	}
	unlockr(&pd->lock, LR_PD);
}

/* Completion style: ready the goroutines of what pp's poller completed,
 * onto l.  pp->poll.lock held. */
static void reap_completions(struct p *pp, struct glist *l)
{
	struct np_event ev[NP_REAP_ONE];
	int n, i, total = 0;

	while (total < NP_REAP_MAX && (n = netpoll.be->reap(pp->poll.np, ev, NP_REAP_ONE)) > 0) {
		for (i = 0; i < n; i++) {
			struct iowait *w = (struct iowait *)(uintptr_t)ev[i].token;
			struct g *gp = w->gp;

			atomic_fetch_sub(&w->pp->poll.waiting, 1);
			w->res = ev[i].res;
			/* w may be gone once gp runs: gp was read first. */
			glist_ready(l, gp);
		}
		total += n;
		if (n < NP_REAP_ONE)
			break;
	}
}

int netpoll_poll_ready(struct m *mp, struct p *pp)
{
	if (load_relaxed(&pp->poll.waiting) <= 0 || !netpoll.be->ready(pp->poll.np))
		return 0;
	return netpoll_poll(mp, pp, false);
}

int netpoll_poll(struct m *mp, struct p *pp, bool locked)
{
	const struct np_backend *be = netpoll.be;
	struct np_event ev[NP_REAP_ONE];
	struct glist l = { 0 };
	int n, i, total = 0;

	/* An M waiting in this poller is woken by an event (the wake-up, a
	 * completion); taking that event from under it would leave it asleep.
	 * It will reap itself, or has been told to let go of pp and is on its
	 * way out. */
	if (!pp->poll.np || atomic_load(&pp->poll.sleeping))
		return 0;
	if (!be->completes) {
		/* epoll_wait needs no lock; pd locks rank below the netpoll lock. */
		while (total < NP_REAP_MAX && (n = be->reap(pp->poll.np, ev, NP_REAP_ONE)) > 0) {
			for (i = 0; i < n; i++)
				pd_event(ev[i].token, ev[i].ready, &l);
			total += n;
			if (n < NP_REAP_ONE)
				break;
		}
		glist_inject(mp, &l);
		return l.n;
	}
	if (locked)
		lockr(&pp->poll.lock, LR_NETPOLL);
	else if (!trylockr(&pp->poll.lock, LR_NETPOLL))
		return 0;
	reap_completions(pp, &l);
	unlockr(&pp->poll.lock, LR_NETPOLL);
	glist_inject(mp, &l);
	return l.n;
}

/* Enter whatever pp's poller has prepared, even if published already. */
static void netpoll_flush_now(struct p *pp)
{
	lockr(&pp->poll.lock, LR_NETPOLL);
	netpoll.be->flush(pp->poll.np);
	WRITE_ONCE(pp->poll.unflushed, 0);
	unlockr(&pp->poll.lock, LR_NETPOLL);
}

void netpoll_flush(struct p *pp)
{
	if (!READ_ONCE(pp->poll.unflushed))
		return;
	lockr(&pp->poll.lock, LR_NETPOLL);
	if (pp->poll.unflushed) {
		netpoll.be->flush(pp->poll.np);
		WRITE_ONCE(pp->poll.unflushed, 0);
	}
	unlockr(&pp->poll.lock, LR_NETPOLL);
}

/* --- the idle M ------------------------------------------------------------------ */

bool pollm_bind(struct m *mp, struct p *pp)
{
	assert_lock_held(&sched.lock);
	if (pp->poll.m || !netpoll_p_busy(pp))
		return false;
	WRITE_ONCE(pp->poll.m, mp);
	WRITE_ONCE(mp->poll.p, pp);
	return true;
}

struct m *pollm_unbind(struct p *pp)
{
	struct m *pm = pp->poll.m;

	assert_lock_held(&sched.lock);
	if (pm) {
		WRITE_ONCE(pp->poll.m, NULL);
		WRITE_ONCE(pm->poll.p, NULL);
	}
	return pm;
}

void pollm_release(struct p *pp)
{
	if (pollm_unbind(pp))
		netpoll_wakeup(pp);
}

struct p *pollm_p(struct m *mp)
{
	return READ_ONCE(mp->poll.p);
}

void netpoll_sleep(struct m *mp, struct p *pp)
{
	int64_t when, timeout = -1;
	unsigned submit = 0;

	if (netpoll.be->completes) {
		/* Whatever is prepared (the requests of the goroutines that
		 * parked last, a re-armed wake-up read) goes in with the wait's
		 * own entry.  Their task work then runs on this M, the one
		 * that wakes for it anyway. */
		lockr(&pp->poll.lock, LR_NETPOLL);
		submit = netpoll.be->publish(pp->poll.np);
		WRITE_ONCE(pp->poll.unflushed, 0);
		unlockr(&pp->poll.lock, LR_NETPOLL);
	}
	when = timers_next(&pp->timers);
	if (when) {
		timeout = when - ki_nanotime();
		if (timeout < 0)
			timeout = 0;
		else if (timeout < TIMERS_SLACK_NS && timers_dense(&pp->timers))
			timeout = TIMERS_SLACK_NS; /* runtime/time.h, "Dense heaps" */
	}
	/* A count, not a flag: an M whose binding was just revoked may pass
	 * through here while the new pollm sleeps. */
	atomic_fetch_add(&pp->poll.sleeping, 1);
	if (!READ_ONCE(mp->nextp) && READ_ONCE(mp->poll.p) == pp &&
	    !(atomic_load(&sched.need_g0) & NEED_G0_STOP) && timeout != 0) {
		rg_probe(netpoll_sleep, mp->id, pp->id, timeout);
		netpoll.be->wait(pp->poll.np, timeout, submit);
	} else if (submit)
		netpoll_flush_now(pp);
	atomic_fetch_sub(&pp->poll.sleeping, 1);
}

void netpoll_wakeup(struct p *pp)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load(&pp->poll.sleeping))
		netpoll.be->wake(pp->poll.np);
}

/* --- sysmon ----------------------------------------------------------------------- */

int netpoll_poll_orphan(struct p *pp)
{
	if (!netpoll.be || load_relaxed(&pp->poll.waiting) <= 0)
		return 0;
	if (netpoll.be->completes && !netpoll.be->ready(pp->poll.np))
		return 0;
	return netpoll_poll(NULL, pp, false);
}

/* --- completion style --------------------------------------------------------------- */

/*
 * gopark's unlock function: the request is in; flush if enough are
 * prepared.  Then reap what completed (inline at a flush, or since): a
 * goroutine that parks on a request holds its P's netpoll lock across its
 * park, so no schedule of it reaps, and completions would
 * otherwise wait until the P runs out of work, behind every goroutine
 * queued meanwhile (a burst of new goroutines would all start before the
 * first of them is resumed).  Releases the P's netpoll lock and the poll
 * descriptor's lock (op_submit took them).
 */
static bool op_commit(struct g *gp, void *arg)
{
	struct iowait *w = arg;
	struct pollfd_desc *pd = w->pd; /* w may be gone once the netpoll lock is dropped */
	struct p *pp = w->pp;
	struct glist l = { 0 };

	(void)gp;
	/* With nothing else to run the scheduler flushes (find_runnable),
	 * or takes the requests in with its sleep (netpoll_sleep). */
	WRITE_ONCE(pp->poll.unflushed, pp->poll.unflushed + 1);
	if (pp->poll.unflushed >= NP_BATCH) {
		netpoll.be->flush(pp->poll.np);
		WRITE_ONCE(pp->poll.unflushed, 0);
	}
	/* Not from under an M asleep in this poller (see netpoll_poll). */
	if (!atomic_load(&pp->poll.sleeping) && netpoll.be->ready(pp->poll.np))
		reap_completions(pp, &l);
	unlockr(&pp->poll.lock, LR_NETPOLL);
	if (pd)
		unlockr(&pd->lock, LR_PD);
	glist_inject(getm(), &l);
	return true;
}

/*
 * Submit w->req to the current P's poller and park until it completes
 * (w->res).  The request goes in under w->pd->lock, after a check of
 * w->cancelled: a canceller holds that lock until its cancel is prepared,
 * so it either saw the request's P or finds the request already in.
 * 0, -ECANCELED (cancelled before it went in) or the backend's error.
 */
static int op_submit(struct iowait *w)
{
	struct m *mp = getm();
	struct p *pp = mp->p;
	int r;

	for (int tries = 0;; tries++) {
		if (w->pd)
			lockr(&w->pd->lock, LR_PD);
		if (w->cancelled) {
			unlockr(&w->pd->lock, LR_PD);
			return -ECANCELED;
		}
		lockr(&pp->poll.lock, LR_NETPOLL);
		WRITE_ONCE(w->pp, pp); /* cancellers read it under pd->lock or its netpoll lock */
		r = w->ended ? w->ended : netpoll.be->submit(pp->poll.np, &w->req);
		if (r == 0)
			break;
		unlockr(&pp->poll.lock, LR_NETPOLL);
		if (w->pd)
			unlockr(&w->pd->lock, LR_PD);
		if ((r != -EAGAIN && r != -EBUSY) || tries == 100)
			return r;
		/* The rings are full (completions not reaped yet): make room. */
		netpoll_poll(mp, pp, true);
		rg_yield();
		mp = getm();
		pp = mp->p;
	}
	atomic_fetch_add(&pp->poll.waiting, 1);
	gopark(op_commit, w, "IO wait");
	return 0;
}

/*
 * Whether a request ended -ECANCELED or -EINTR without anyone asking: not
 * rg_io_cancel or rg_close (w->cancelled), not its deadline.  The kernel
 * does that to the requests of a thread that exits ("Requests outlive
 * their thread" above).
 */
static bool op_lost(struct iowait *w)
{
	bool asked = false;

	if (w->res != -ECANCELED && w->res != -EINTR)
		return false;
	if (w->pd) {
		lockr(&w->pd->lock, LR_PD);
		asked = w->cancelled;
		unlockr(&w->pd->lock, LR_PD);
	}
	if (asked || ctx_wait_ctx_err(&w->cw))
		return false;
	return !(w->gp->ext->deadline && ki_nanotime() >= w->gp->ext->deadline);
}

/*
 * End a request that has no poll descriptor to cancel it through, or
 * whose deadline the kernel does not see (np_req.async: a worker's
 * blocking call ignores the linked timeout, so an open of a FIFO waited
 * on past it): cancel it on its ring, which interrupts the worker.  The
 * request's P's netpoll lock orders this against op_submit: a request not
 * in yet is not submitted (ended).
 */
static void op_end(struct iowait *w, int32_t why)
{
	struct p *pp;

	for (;;) {
		pp = READ_ONCE(w->pp);
		lockr(&pp->poll.lock, LR_NETPOLL);
		if (READ_ONCE(w->pp) == pp)
			break;
		unlockr(&pp->poll.lock, LR_NETPOLL);
	}
	if (!w->ended)
		w->ended = why;
	if (netpoll.be->cancel(pp->poll.np, (uint64_t)(uintptr_t)w) == 0) {
		netpoll.be->flush(pp->poll.np);
		WRITE_ONCE(pp->poll.unflushed, 0);
	}
	unlockr(&pp->poll.lock, LR_NETPOLL);
}

/* The deadline of an async request: a runtime timer (see op_end). */
static void op_deadline(struct timer *t)
{
	op_end(t->arg, -ETIMEDOUT);
}

/* The result of a request that ended early: timed out or cancelled. */
static int64_t op_result(const struct iowait *w, bool cancelled)
{
	int64_t r = w->res;

	if (r != -ECANCELED && r != -EINTR)
		return r;
	if (cancelled || w->ended == -ECANCELED)
		return -ECANCELED;
	if (w->ended == -ETIMEDOUT || (w->req.deadline && ki_nanotime() >= w->req.deadline))
		return -ETIMEDOUT;
	return r == -EINTR ? -ECANCELED : r;
}

static void iowait_ctx_cancel(struct ctx_wait *cw, int err);
static void netpoll_cancel_flush(void);

int64_t netpoll_op(struct np_req *req, int fd)
{
	struct g *gp = load_relaxed(&getm()->curg);
	struct iowait w;
	bool cancelled = false, again = false;
	int retries = 0, r, cerr;
	int64_t res;

	memset(&w, 0, sizeof(w));
	w.req = *req;
	w.gp = gp;
	/* A deadline already past still lets the kernel try the request once,
	 * inline, before the linked timeout ends it. */
	w.req.deadline = gp->ext->deadline;
	w.pp = getm()->p;
	if (fd >= 0) {
		r = pd_get(fd, &w.pd);
		if (r < 0)
			return r;
		w.req.poll_first = req->op == NP_OP_RECV && READ_ONCE(w.pd->connected);
		lockr(&w.pd->lock, LR_PD);
		pd_link(w.pd, &w);
		unlockr(&w.pd->lock, LR_PD);
	}
	/* Registered once w is whole: the context's cancel ends it as
	 * rg_io_cancel does, or, with no descriptor, as its deadline. */
	r = ctx_wait_begin(&w.cw, iowait_ctx_cancel, netpoll_cancel_flush);
	if (r) {
		if (w.pd) {
			lockr(&w.pd->lock, LR_PD);
			pd_unlink(w.pd, &w);
			unlockr(&w.pd->lock, LR_PD);
		}
		return r;
	}
	if (req->async && w.req.deadline) {
		w.timer.f = op_deadline;
		w.timer.arg = &w;
		timer_add(&w.timer, w.req.deadline);
	}
	for (;;) {
		w.req.deadline = req->async ? 0 : gp->ext->deadline;
		rg_probe(netpoll_submit, w.req.op, fd, gp->goid);
		r = op_submit(&w);
		if (r < 0) {
			w.res = r;
			break;
		}
		if (op_lost(&w) && retries++ < NP_RETRIES) {
			/* Submitted again, from this M: a connect still in
			 * progress is waited for instead ("Requests outlive
			 * their thread"). */
			w.req = *req;
			again = true;
			continue;
		}
		if (req->op != NP_OP_CONNECT || !again)
			break;
		if (w.req.op == NP_OP_CONNECT && w.res == -EISCONN) {
			w.res = 0;
		} else if (w.req.op == NP_OP_CONNECT && w.res == -EALREADY) {
			w.req.op = NP_OP_POLL;
			w.req.flags = POLLOUT;
			continue;
		} else if (w.req.op == NP_OP_POLL && w.res >= 0) {
			w.res = ki_sock_error(fd);
		}
		break;
	}
	rg_probe(netpoll_complete, w.req.op, fd, w.res, gp->goid);
	cerr = ctx_wait_end(&w.cw);
	w.req.deadline = gp->ext->deadline; /* for op_result */
	if (req->async && w.req.deadline)
		timer_del(&w.timer);
	if (w.pd) {
		lockr(&w.pd->lock, LR_PD);
		pd_unlink(w.pd, &w);
		cancelled = w.cancelled;
		unlockr(&w.pd->lock, LR_PD);
		if (w.res >= 0 && (req->op == NP_OP_RECV || req->op == NP_OP_SEND ||
				   (req->op == NP_OP_CONNECT && w.res == 0)))
			WRITE_ONCE(w.pd->connected, true);
	}
	res = op_result(&w, cancelled);
	if (cerr && res == -ECANCELED)
		res = cerr; /* the context's reason: -ECANCELED or -ETIMEDOUT */
	metrics_count_io(&getm()->p->metrics, req->op, res);
	return res;
}

/* --- readiness style ------------------------------------------------------------------- */

static void deadline_fire(struct timer *t)
{
	struct iowait *w = t->arg;
	struct pollfd_desc *pd = w->pd;
	struct g *gp = NULL;

	lockr(&pd->lock, LR_PD);
	if (w->queued) {
		pd_unlink(pd, w);
		w->res = -ETIMEDOUT;
		atomic_fetch_sub(&w->pp->poll.waiting, 1);
		gp = w->gp;
	}
	unlockr(&pd->lock, LR_PD);
	if (gp)
		goready(gp, NULL);
}

/*
 * Watch fd from pp's poller instead of pd->armp's: the M that will sleep
 * for the waiter is pp's, and an idle P nobody waits in would leave the
 * events unread.  The waiters already there move with it; events of the
 * old registration are dropped (seq), and re-adding an edge-triggered fd
 * reports its current readiness.  pd->lock held.
 */
static void pd_move(struct pollfd_desc *pd, int fd, struct p *pp)
{
	struct iowait *w;

	netpoll.be->disarm(pd->armp->poll.np, fd);
	for (w = pd->waiters; w; w = w->next) {
		atomic_fetch_sub(&w->pp->poll.waiting, 1);
		atomic_fetch_add(&pp->poll.waiting, 1);
		w->pp = pp;
	}
	pd->seq++;
	pd->armp = NULL;
	pd->rready = pd->wready = false;
}

static bool wait_commit(struct g *gp, void *arg)
{
	struct iowait *w = arg;

	(void)gp;
	if (w->req.deadline)
		timer_add(&w->timer, w->req.deadline);
	unlockr(&w->pd->lock, LR_PD);
	return true;
}

int netpoll_wait_fd(int fd, uint32_t mode)
{
	struct m *mp = getm();
	struct g *gp = load_relaxed(&mp->curg);
	struct p *pp = mp->p;
	struct pollfd_desc *pd;
	struct iowait w;
	uint64_t ident;
	int r = pd_get(fd, &pd);

	if (r < 0)
		return r;
	memset(&w, 0, sizeof(w));
	w.req.deadline = gp->ext->deadline;
	if (w.req.deadline && w.req.deadline <= ki_nanotime())
		return -ETIMEDOUT;
	/* Which file is behind fd now: one closed with close() rather than
	 * rg_close, its number reused, must not inherit the registration. */
	r = ki_fd_kind(fd, &ident);
	if (r < 0)
		return r;
	w.pd = pd;
	r = ctx_wait_begin(&w.cw, iowait_ctx_cancel, NULL);
	if (r)
		return r;
	lockr(&pd->lock, LR_PD);
	if (w.cancelled) {
		/* The context ended the wait before it began. */
		unlockr(&pd->lock, LR_PD);
		return ctx_wait_end(&w.cw);
	}
	if (pd->armp && pd->ident != ident) {
		pd->seq++;
		pd->armp = NULL;
		pd->rready = pd->wready = false;
	}
	if (pd->armp && pd->armp != pp)
		pd_move(pd, fd, pp);
	if (!pd->armp) {
		r = netpoll.be->arm(pp->poll.np, fd, ((uint64_t)pd->seq << 32) | (uint32_t)fd);
		if (r < 0) {
			unlockr(&pd->lock, LR_PD);
			ctx_wait_end(&w.cw);
			return r;
		}
		pd->armp = pp;
		pd->ident = ident;
	}
	if (((mode & NP_READ) && pd->rready) || ((mode & NP_WRITE) && pd->wready)) {
		if (mode & NP_READ)
			pd->rready = false;
		if (mode & NP_WRITE)
			pd->wready = false;
		unlockr(&pd->lock, LR_PD);
		ctx_wait_end(&w.cw);
		return 0;
	}
	w.gp = gp;
	w.mode = mode;
	w.pp = pd->armp;
	w.timer.f = deadline_fire;
	w.timer.arg = &w;
	pd_link(pd, &w);
	atomic_fetch_add(&w.pp->poll.waiting, 1);
	rg_probe(netpoll_submit, NP_OP_POLL, fd, w.gp->goid);
	gopark(wait_commit, &w, "IO wait");
	ctx_wait_end(&w.cw);
	rg_probe(netpoll_complete, NP_OP_POLL, fd, w.res, w.gp->goid);
	metrics_count_io(&getm()->p->metrics, NP_OP_POLL, w.res);
	if (w.req.deadline)
		timer_del(&w.timer);
	return w.res;
}

/* --- cancellation ------------------------------------------------------------------------- */

/*
 * End w's wait, as rg_io_cancel does: completion style, an ASYNC_CANCEL
 * of its request (or, not submitted yet, none: op_submit sees cancelled);
 * readiness style, w leaves pd's list with res and its goroutine goes on
 * l (or, not queued yet, netpoll_wait_fd sees cancelled).  pd->lock held.
 * Whether w was not cancelled before.
 */
static bool iowait_cancel_locked(struct pollfd_desc *pd, struct iowait *w, int32_t res, bool batch,
				 struct glist *l)
{
	const struct np_backend *be = netpoll.be;

	if (w->cancelled)
		return false;
	if (be->completes) {
		struct p *pp = w->pp;

		if (!pp)
			return false;
		w->cancelled = true;
		/* The cancel must reach the kernel before pd->lock is
		 * dropped: once w unlinks, its address may name a new
		 * request.  A plain thread flushes only its own SQE
		 * (requests belong to the thread that submits them, and it
		 * may exit); otherwise the ring's owner flushes soon, and the
		 * cancel still precedes any later request.  batch: an M that
		 * ends many waits at once (a context's cancel) leaves the flush
		 * to netpoll_cancel_flush, once per ring; the cancel precedes
		 * any later request of the same address on its ring all the
		 * same (the ring takes requests in order). */
		lockr(&pp->poll.lock, LR_NETPOLL);
		if (be->cancel(pp->poll.np, (uint64_t)(uintptr_t)w) == 0 && !(batch && getm()) &&
		    (getm() || !pp->poll.unflushed)) {
			be->flush(pp->poll.np);
			WRITE_ONCE(pp->poll.unflushed, 0);
		} else {
			WRITE_ONCE(pp->poll.unflushed, pp->poll.unflushed + 1);
		}
		unlockr(&pp->poll.lock, LR_NETPOLL);
		return true;
	}
	w->cancelled = true;
	if (w->queued) {
		pd_unlink(pd, w);
		w->res = res;
		atomic_fetch_sub(&w->pp->poll.waiting, 1);
		glist_ready(l, w->gp);
	}
	return true;
}

/* The goroutine's context was cancelled (ctx_wait): end its wait. */
static void iowait_ctx_cancel(struct ctx_wait *cw, int err)
{
	struct iowait *w = container_of(cw, struct iowait, cw);
	struct glist l = { 0 };

	if (!w->pd) {
		op_end(w, -ECANCELED);
		return;
	}
	lockr(&w->pd->lock, LR_PD);
	iowait_cancel_locked(w->pd, w, err, true, &l);
	unlockr(&w->pd->lock, LR_PD);
	glist_inject(getm(), &l);
}

/* After a context's cancel: submit the cancels it left on each ring. */
static void netpoll_cancel_flush(void)
{
	int32_t n = load_acquire(&sched.nprocs);

	if (!getm() || !netpoll.be->completes)
		return;
	for (int32_t i = 0; i < n; i++)
		netpoll_flush(sched.allp[i]);
}

int netpoll_cancel_fd(int fd, bool closing)
{
	const struct np_backend *be = netpoll.be;
	struct pollfd_desc *pd = pd_lookup(fd);
	struct glist l = { 0 };
	struct iowait *w, *next;
	int n = 0;

	if (!pd || !be)
		return 0;
	lockr(&pd->lock, LR_PD);
	if (closing) {
		pd->seq++;
		if (pd->armp)
			be->disarm(pd->armp->poll.np, fd);
		pd->armp = NULL;
		pd->rready = pd->wready = false;
		WRITE_ONCE(pd->kind, 0);
		WRITE_ONCE(pd->connected, false);
	}
	for (w = pd->waiters; w; w = next) {
		next = w->next;
		n += iowait_cancel_locked(pd, w, -ECANCELED, false, &l);
	}
	unlockr(&pd->lock, LR_PD);
	glist_inject(getm(), &l);
	return n;
}
