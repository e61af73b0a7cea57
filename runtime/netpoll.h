/* SPDX-License-Identifier: MIT */
/*
 * runtime/netpoll.h - the netpoller: what the scheduler and runtime/io.c
 * use of it.
 *
 * See the design comment at the top of runtime/netpoll.c.  Every function
 * for io.c is called by a goroutine (with a P) unless it says otherwise.
 */
#ifndef RINGO_RUNTIME_NETPOLL_H
#define RINGO_RUNTIME_NETPOLL_H

#include <stdbool.h>
#include <stdint.h>

#include "kernel_iface/netpoll.h"
#include "runtime/compiler.h"
#include "runtime/lock.h"

struct m;
struct p;

/*
 * A P's poller, pp->poll.  np is created with the P (netpoll_p_init) and
 * lives until the runtime stops; lock (LR_NETPOLL) serialises its submit,
 * cancel, flush and reap.  m is the M that sleeps in np while the P idles
 * (its pollm: "The idle M" in runtime/netpoll.c).  Only netpoll.c touches
 * these fields; the scheduler asks through the functions below.
 */
struct p_poll {
	struct np *np cacheline_aligned;
	struct lock lock;
	_Atomic int32_t waiting;   /* goroutines waiting on np (atomic) */
	uint32_t unflushed;	   /* requests prepared, not flushed; lock */
	struct m *m;		   /* the pollm; sched.lock (READ_ONCE without it) */
	_Atomic uint32_t sleeping; /* Ms in (or entering) np's wait */
};

/* An M's side of the pollm binding, mp->poll.  netpoll.c's. */
struct m_poll {
	struct p *p; /* the idle P whose poller this M waits in; sched.lock (READ_ONCE) */
};

/* --- for the scheduler ------------------------------------------------------ */

/* Choose the backend (RINGO_NETPOLL, probes); 0 or -errno after printing
 * why on stderr.  rg_main, before the Ps exist. */
int netpoll_init(const char *force);
/* Drain and destroy every P's poller, forget the descriptors (teardown,
 * every M stopped but the caller). */
void netpoll_fini(void);
/* Create pp's poller.  0 or -errno.  Before pp first runs. */
int netpoll_p_init(struct p *pp);

/* Goroutines wait on the poller ps: a hint, read without a lock.  (any) */
static inline bool netpoll_p_waiting(struct p_poll *ps)
{
	return load_relaxed(&ps->waiting) > 0;
}
/* Whether pp has goroutines waiting on its poller or timers pending:
 * then an idle pp needs an M waiting in its poller.  (any) */
bool netpoll_p_busy(struct p *pp);
/*
 * Non-blocking: take pp's completions and make their goroutines runnable,
 * into mp's P (or the global queue when mp is NULL); locked says whether
 * to wait for pp's netpoll lock or give up when it is taken.  Returns the
 * number made runnable.  netpoll_poll_ready does it only when the backend
 * can tell without a system call that something completed, and never
 * waits for the lock.
 */
int netpoll_poll(struct m *mp, struct p *pp, bool locked);
int netpoll_poll_ready(struct m *mp, struct p *pp);
/* Push pp's prepared requests to the kernel.  (any, no lock) */
void netpoll_flush(struct p *pp);

/*
 * The idle M (pollm).  An M that releases a busy P waits in that P's
 * poller.  The binding is under sched.lock:
 *   pollm_bind     mp becomes idle pp's pollm, if pp is busy and has none
 *   pollm_unbind   pp leaves the idle list with its pollm, or the pollm
 *                  takes pp back: clear the binding, return the M (or NULL)
 *   pollm_release  pp leaves the idle list to someone else: unbind and
 *                  wake the M, which then parks as a plain idle M
 *   pollm_p        the P mp is bound to, or NULL (READ_ONCE: mp's own
 *                  thread may read it without the lock)
 * netpoll_sleep (no lock) waits in the bound P's poller until it has
 * events, its next timer, or netpoll_wakeup; it returns at once when mp
 * was handed a P (mp->nextp) or unbound meanwhile.
 */
bool pollm_bind(struct m *mp, struct p *pp);
/* Whether an M waits in the poller ps (a hint without sched.lock).  (any) */
static inline bool pollm_bound(struct p_poll *ps)
{
	return READ_ONCE(ps->m) != NULL;
}
struct m *pollm_unbind(struct p *pp);
void pollm_release(struct p *pp);
struct p *pollm_p(struct m *mp);
void netpoll_sleep(struct m *mp, struct p *pp);
/* End netpoll_sleep of pp's pollm, if one sleeps.  (any) */
void netpoll_wakeup(struct p *pp);
/* sysmon: take the completions of pp, which nobody else serves (the
 * global queue gets them); whether the backend may have some is asked
 * first.  Returns the number made runnable. */
int netpoll_poll_orphan(struct p *pp);

/* --- for runtime/io.c -------------------------------------------------------- */

/* The backend in use; NULL while no runtime runs.  (any) */
const struct np_backend *netpoll_backend(void);

/* enum ki_fd_kind of fd, remembered until rg_close(fd) (a hint: a
 * descriptor closed with close() and reused may be misjudged), or -errno. */
int netpoll_fd_kind(int fd);
/* The same, asked of the kernel again and remembered (for error paths). */
int netpoll_fd_kind_check(int fd);
/* A recv, send or connect on fd succeeded without netpoll_op: remember the
 * socket as connected (the hint that lets a recv wait for data first). */
void netpoll_fd_connected(int fd);
/* Make fd O_NONBLOCK (readiness backends need it for accept and connect).
 * 0 or -errno. */
int netpoll_set_nonblock(int fd);

/*
 * Completion backends: submit req (on fd, -1 for none) to the current P's
 * poller and park until it completes.  The result, or -ETIMEDOUT when the
 * goroutine's deadline ended it, or -ECANCELED when rg_io_cancel/rg_close
 * did.
 */
int64_t netpoll_op(struct np_req *req, int fd);

/*
 * Readiness backends: park until fd may be ready for mode (NP_READ,
 * NP_WRITE, or both: either wakes).  0 (try again), -ETIMEDOUT or -ECANCELED as above, or the
 * backend's error when fd cannot be watched.
 */
int netpoll_wait_fd(int fd, uint32_t mode);

/* Wake every goroutine waiting on fd with -ECANCELED; closing also forgets
 * fd (its kind, its registration).  The number woken.  (any) */
int netpoll_cancel_fd(int fd, bool closing);

/* The calling goroutine's deadline (0: none).  (any: 0 on plain threads) */
int64_t netpoll_deadline(void);

#endif /* RINGO_RUNTIME_NETPOLL_H */
