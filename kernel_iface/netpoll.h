/* SPDX-License-Identifier: MIT */
/*
 * kernel_iface/netpoll.h - the poller contract: how the runtime waits for
 * descriptors, and the two backends that implement it.
 *
 * The runtime keeps one poller (struct np) per P.  A backend is one of two
 * styles, told by np_backend.completes:
 *
 *   completion (io_uring, netpoll_iouring.c): the runtime hands the whole
 *     operation (struct np_req: recv this buffer, open this path...) to
 *     submit(); the kernel performs it and reap() reports its result.  The
 *     deadline travels with the request (a linked timeout), so an expired
 *     request completes, cancelled, like any other; an async request
 *     (np_req.async) gets none, since a blocking call on a worker does not
 *     see it: the runtime cancels that one itself at its deadline.
 *   readiness (epoll, netpoll_epoll.c): the runtime makes the attempt
 *     itself with a call that cannot block, and when the descriptor is not
 *     ready arm()s it once (edge-triggered, read and write) and waits;
 *     reap() reports that the descriptor became readable or writable, and
 *     the runtime tries again.  Deadlines are the runtime's timers.
 *
 * Either way reap() yields events (token, result, readiness) and the
 * runtime (runtime/netpoll.c) turns them into runnable goroutines: the
 * scheduler only ever sees goroutines.
 *
 * Threads.  submit, cancel, flush and reap on one np must be serialised by
 * the caller (the runtime holds that P's netpoll lock); they never block.
 * wait and wake may be called by any thread at any time, wait without that
 * lock: wait sleeps until reap may find something, wake is called, or the
 * timeout passes; it does not consume events.  wake is async-signal-safe.
 * A completion backend's requests belong to the thread that submitted them
 * (the thread whose flush, or whose submit that made room, passed them to
 * the kernel), and the kernel cancels them when that thread exits: they
 * complete with -ECANCELED, or -EINTR for a blocking call on a worker.  A
 * runtime thread may exit while requests it submitted for other
 * goroutines are in flight; the runtime submits such a request again (see
 * "Requests outlive their thread" in runtime/netpoll.c).
 *
 * Every function returns 0 (or a count) or -errno.
 */
#ifndef RINGO_KERNEL_IFACE_NETPOLL_H
#define RINGO_KERNEL_IFACE_NETPOLL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct np; /* a backend's per-P state */

/* Operations of a completion backend. */
enum np_opcode {
	NP_OP_ACCEPT,  /* fd, addr, addrlen; O_CLOEXEC */
	NP_OP_CONNECT, /* fd, addr (const), addrlen value in len */
	NP_OP_RECV,    /* fd, buf, len, flags */
	NP_OP_SEND,    /* fd, buf, len, flags */
	NP_OP_READ,    /* fd, buf, len, off (-1: file position) */
	NP_OP_WRITE,   /* fd, buf, len, off (-1: file position) */
	NP_OP_OPEN,    /* path, flags, mode */
	NP_OP_FSYNC,   /* fd */
	NP_OP_POLL,    /* fd, events (POLLIN, POLLOUT...) in flags: completes with the
			* events that are ready, one-shot */
	NP_OP_READV,   /* fd, iovec array in buf, its count in len, off (-1: file position) */
	NP_OP_WRITEV,  /* the same */
	NP_OP_RECVMSG, /* fd, struct msghdr in buf, flags */
	NP_OP_SENDMSG, /* fd, struct msghdr (const) in buf, flags */
	/* File-system calls: a kernel without the opcode fails them with
	 * -EINVAL, which the runtime answers with the plain call. */
	NP_OP_STATX,	 /* dir fd, path in buf, flags, mask in mode, struct statx in buf2 */
	NP_OP_UNLINKAT,	 /* dir fd, path in buf, flags */
	NP_OP_RENAMEAT,	 /* old dir fd, old path in buf, new dir fd2, new path in buf2, flags */
	NP_OP_MKDIRAT,	 /* dir fd, path in buf, mode */
	NP_OP_FALLOCATE, /* fd, mode, off, len */
};

/*
 * One operation in flight: owned by the runtime (it lives in the waiting
 * goroutine's frame) from submit until reap reports it.  The backend
 * reports it by its token, (uint64_t)(uintptr_t)req.
 */
struct np_req {
	uint8_t op; /* enum np_opcode */
	int fd;
	int flags;
	void *buf; /* buffer, or const path (NP_OP_OPEN) */
	size_t len;
	off_t off;
	struct sockaddr *addr;
	socklen_t *addrlen;
	mode_t mode;
	int fd2;    /* a second descriptor (NP_OP_RENAMEAT) */
	void *buf2; /* a second buffer or path (NP_OP_STATX, NP_OP_RENAMEAT) */
	/* NP_OP_RECV: fd is a socket seen connected, so wait for data before
	 * the first attempt (a hint: a listening socket, whose recv fails at
	 * once, would wait). */
	bool poll_first;
	/* Run where the operation may block (io_uring: the kernel's worker
	 * threads) rather than try it first without blocking: an open of a
	 * FIFO then waits for its peer.  The runtime gives such a request no
	 * deadline and cancels it at its deadline itself. */
	bool async;
	int64_t deadline; /* absolute CLOCK_MONOTONIC ns; 0: none */
	int64_t ts[2];	  /* the backend's copy of the deadline */
};

/* Readiness bits of an event. */
#define NP_READ	 1u
#define NP_WRITE 2u

/* Tokens 0 and 1 are the backends' own (ignored and wake-up events). */
#define NP_TOKEN_MIN 2

struct np_event {
	uint64_t token; /* req (completion) or what arm() was given (readiness) */
	int32_t res;	/* completion: the operation's result or -errno */
	uint32_t ready; /* readiness: NP_READ | NP_WRITE (errors and hang-ups: both) */
};

struct np_backend {
	const char *name;
	bool completes; /* completion style (else readiness) */
	/* Whether this backend works in this process: 0, or -errno with a
	 * reason in why (static string).  Called once, before create. */
	int (*probe)(const char **why);
	int (*create)(struct np **out);
	void (*destroy)(struct np *np);
	/* Completion style (NULL otherwise).  submit prepares req (it reaches
	 * the kernel at the next flush or wait); cancel asks the kernel to end
	 * the request with token early (it still completes, through reap);
	 * token 0 cancels every request of np. */
	int (*submit)(struct np *np, struct np_req *req);
	int (*cancel)(struct np *np, uint64_t token);
	int (*flush)(struct np *np);
	/* Completion style: make what submit prepared visible to the kernel
	 * without entering it, under submit's serialisation; returns how many
	 * requests wait to be taken in, which a wait(submit) takes in with
	 * its own entry (an M about to sleep saves a system call). */
	unsigned (*publish)(struct np *np);
	/* Readiness style (NULL otherwise): watch fd for readability and
	 * writability, edge-triggered, reporting token; any thread.  -EPERM:
	 * fd cannot be watched (a regular file: always ready). */
	int (*arm)(struct np *np, int fd, uint64_t token);
	int (*disarm)(struct np *np, int fd);
	/* Both.  reap stores up to max events; never blocks. */
	int (*reap)(struct np *np, struct np_event *ev, int max);
	/* A cheap hint, any thread: events are waiting for reap.  A backend
	 * that cannot tell without a system call says false. */
	bool (*ready)(struct np *np);
	/* Sleep until an event, a wake or timeout_ns (< 0: none), first
	 * taking in up to submit published requests (completion style). */
	int (*wait)(struct np *np, int64_t timeout_ns, unsigned submit);
	int (*wake)(struct np *np);
};

extern const struct np_backend np_iouring;
/* Whether the io_uring backend may use COOP_TASKRUN (on by default; see
 * kernel_iface/netpoll_iouring.c).  Before np_select. */
void np_iouring_coop(bool on);
extern const struct np_backend np_epoll;

/*
 * np_select - pick the backend: force is "io_uring", "epoll" or NULL/""
 * (io_uring when its probe passes, else epoll).  On success *out is set;
 * *fell_back says io_uring was wanted but refused, with the reason in
 * *why.  -EINVAL for an unknown name, or the probe's error when the
 * forced backend cannot work here (*why says why).
 */
int np_select(const char *force, const struct np_backend **out, bool *fell_back, const char **why);

#endif /* RINGO_KERNEL_IFACE_NETPOLL_H */
