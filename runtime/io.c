/* SPDX-License-Identifier: MIT */
/*
 * runtime/io.c - the I/O API: rg_read, rg_recv, rg_accept, ...
 *
 * Each call has three ways to run:
 *
 *   - a plain thread (no goroutine): the libc call, blocking as the
 *     descriptor says;
 *   - io_uring (completion): regular files first try the call with
 *     RWF_NOWAIT (a page-cache hit costs one system call and no park),
 *     except reads on an M whose attempts keep missing the cache (see
 *     nowait_skip); everything else, and files that would block, become a
 *     request on the P's ring (netpoll_op) and the goroutine parks until
 *     it completes;
 *   - epoll (readiness): every call is first tried without blocking
 *     (MSG_DONTWAIT, RWF_NOWAIT; accept and connect need O_NONBLOCK, which
 *     they set on the descriptor, as Go does) and on EAGAIN the goroutine
 *     waits for readiness (netpoll_wait_fd) and tries again; regular files
 *     cannot be waited for, so their calls block the thread, with the P
 *     handed to another M if the call blocks (rg_syscall_enter).
 *
 * Deadlines (rg_set_deadline) and cancellation are the netpoller's: see
 * runtime/netpoll.c.
 *
 * Errors are libc's.  On io_uring, recv and send first check that fd is a
 * socket with the kind the netpoller remembers (no system call once
 * known), so a file answers -ENOTSOCK rather than whatever the ring's
 * poll makes of it, and a number that is not open answers -EBADF.
 *
 * FIFOs
 * -----
 * An open without O_NONBLOCK of a FIFO for reading or for writing waits
 * for the other end, as libc's does, and gives up at the deadline with
 * nothing left open.
 *
 *   - io_uring: the ring's first attempt never blocks (the kernel adds
 *     O_NONBLOCK), so a writer with no reader gets -ENXIO and a reader
 *     returns at once.  The first goes to a kernel worker (async), where
 *     the open blocks; the second too, once an fstat of the new
 *     descriptor says FIFO and a poll of it says no writer came yet (no
 *     data, no hang-up).  A writer that arrives and leaves between that
 *     poll and the worker's wait does not end the second open, so it
 *     gives up every FIFO_RECHECK_NS and the poll is made again: such a
 *     writer is seen that much later at most.  That fstat is the cost, paid by every open
 *     for reading without O_NONBLOCK; its answer is remembered, so the
 *     descriptor's first rg_read or rg_write does not pay its own.
 *   - epoll: an open without a deadline or a context blocks the thread,
 *     as any open does there.  Under either a stat of the path first (the
 *     cost, paid by those opens only) tells a FIFO, whose open still
 *     blocks the thread while a poker goroutine waits for the deadline or
 *     the context's cancel and then opens the other end for an instant,
 *     without blocking (ki_fifo_poke), every OPEN_POKE_NS until the open
 *     has returned; the descriptor it returned is closed and the call
 *     says -ETIMEDOUT or the context's err.  A
 *     signal cannot end the wait: SIGURG restarts it.  What another
 *     process sees: at the deadline a peer that opens and closes at once,
 *     so another opener waiting on the same FIFO in the same direction is
 *     released too, and then reads end of file or writes get EPIPE.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <limits.h>
#include <sys/uio.h>

#include "ringo.h"
#include "kernel_iface/kernel.h"
#include "runtime/ctx.h"
#include "runtime/netpoll.h"
#include "runtime/preempt.h"
#include "runtime/runtime.h"
#include "runtime/sync.h"

/* How a call waits: a plain thread blocks in the system call; a goroutine
 * parks on its P's poller, in the backend's style. */
enum io_style {
	IO_THREAD,     /* a plain thread: the system call as is */
	IO_READINESS,  /* epoll: try without blocking, wait for readiness */
	IO_COMPLETION, /* io_uring: the operation goes to the ring */
};

static enum io_style io_style(void)
{
	if (!getg())
		return IO_THREAD;
	return netpoll_backend()->completes ? IO_COMPLETION : IO_READINESS;
}

/* Readiness style: repeat attempt until it does not say EAGAIN. */
#define RETRY_READY(fd, mode, attempt)                      \
	({                                                  \
		__typeof__(attempt) r_;                     \
		for (;;) {                                  \
			int w_;                             \
			r_ = (attempt);                     \
			if (r_ != -EAGAIN)                  \
				break;                      \
			w_ = netpoll_wait_fd((fd), (mode)); \
			if (w_ < 0) {                       \
				r_ = w_;                    \
				break;                      \
			}                                   \
		}                                           \
		r_;                                         \
	})

/* Readiness style, a regular file: block the thread, not the P. */
#define BLOCKING(call)               \
	({                           \
		__typeof__(call) r_; \
		rg_syscall_enter();  \
		r_ = (call);         \
		rg_syscall_exit();   \
		r_;                  \
	})

int rg_accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	struct np_req req = { .op = NP_OP_ACCEPT, .fd = fd, .addr = addr, .addrlen = addrlen };
	int r;

	rt_enter();
	switch (io_style()) {
	case IO_COMPLETION:
		return (int)netpoll_op(&req, fd);
	case IO_READINESS:
		r = netpoll_set_nonblock(fd);
		if (r < 0)
			return r;
		return RETRY_READY(fd, NP_READ, ki_accept4(fd, addr, addrlen, SOCK_CLOEXEC));
	case IO_THREAD:
	default:
		return ki_accept4(fd, addr, addrlen, SOCK_CLOEXEC);
	}
}

int rg_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	struct np_req req = {
		.op = NP_OP_CONNECT, .fd = fd, .addr = (struct sockaddr *)addr, .len = addrlen
	};
	int r;

	rt_enter();
	switch (io_style()) {
	case IO_COMPLETION:
		return (int)netpoll_op(&req, fd);
	case IO_READINESS:
		r = netpoll_set_nonblock(fd);
		if (r < 0)
			return r;
		r = ki_connect(fd, addr, addrlen);
		if (r != -EINPROGRESS)
			return r;
		/* Non-blocking connect: writable when it is done. */
		r = netpoll_wait_fd(fd, NP_WRITE);
		return r < 0 ? r : ki_sock_error(fd);
	case IO_THREAD:
	default:
		return ki_connect(fd, addr, addrlen);
	}
}

/* Readiness style recv: MSG_DONTWAIT is one attempt, as asked; MSG_WAITALL
 * gathers until len bytes, EOF or an error, as the blocking call would. */
static ssize_t recv_ready(int fd, void *buf, size_t len, int flags)
{
	size_t got = 0;
	ssize_t r;

	if (flags & MSG_DONTWAIT)
		return ki_recv(fd, buf, len, flags);
	do {
		r = RETRY_READY(fd, NP_READ,
				ki_recv(fd, (char *)buf + got, len - got, flags | MSG_DONTWAIT));
		if (r <= 0)
			return got ? (ssize_t)got : r;
		got += (size_t)r;
	} while ((flags & MSG_WAITALL) && !(flags & MSG_PEEK) && got < len);
	return (ssize_t)got;
}

/*
 * Completion style: recv and send need a socket.  The kind remembered for
 * fd answers at no cost; one that says "not a socket" is checked again
 * (the number may have been closed with close() and reused), so only a
 * call that fails pays a system call.  -EBADF, -ENOTSOCK, or 0.
 */
static int need_socket(int fd)
{
	int kind = netpoll_fd_kind(fd);

	if (kind == KI_FD_SOCKET)
		return 0;
	if (kind > 0)
		kind = netpoll_fd_kind_check(fd);
	return kind == KI_FD_SOCKET ? 0 : kind < 0 ? kind : -ENOTSOCK;
}

ssize_t rg_recv(int fd, void *buf, size_t len, int flags)
{
	struct np_req req = { .op = NP_OP_RECV, .fd = fd, .buf = buf, .len = len, .flags = flags };
	ssize_t r;

	rt_enter();
	switch (io_style()) {
	case IO_COMPLETION:
		r = need_socket(fd);
		if (r < 0)
			return r;
		r = netpoll_op(&req, fd);
		/* A recv that waits for data first (a socket seen connected)
		 * says -EAGAIN when the number now names something else. */
		if (r == -EAGAIN && !(flags & MSG_DONTWAIT)) {
			int kind = netpoll_fd_kind_check(fd);

			if (kind != KI_FD_SOCKET)
				return kind < 0 ? kind : -ENOTSOCK;
		}
		return r;
	case IO_READINESS:
		return recv_ready(fd, buf, len, flags);
	case IO_THREAD:
	default:
		return ki_recv(fd, buf, len, flags);
	}
}

ssize_t rg_send(int fd, const void *buf, size_t len, int flags)
{
	struct np_req req = { .op = NP_OP_SEND,
			      .fd = fd,
			      .buf = (void *)buf,
			      .len = len,
			      .flags = flags | MSG_NOSIGNAL };

	ssize_t r;

	rt_enter();
	switch (io_style()) {
	case IO_COMPLETION:
		r = need_socket(fd);
		if (r < 0)
			return r;
		/* Try first: a socket nearly always has room for what a
		 * goroutine sends, and a send done at once needs no request,
		 * no park and no completion.  Only a full socket buffer goes
		 * to the ring (MSG_DONTWAIT: this attempt is all). */
		r = ki_send(fd, buf, len, flags | MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r != -EAGAIN || (flags & MSG_DONTWAIT)) {
			if (r > 0)
				netpoll_fd_connected(fd);
			return r;
		}
		return netpoll_op(&req, fd);
	case IO_READINESS:
		if (flags & MSG_DONTWAIT)
			return ki_send(fd, buf, len, flags | MSG_NOSIGNAL);
		return RETRY_READY(fd, NP_WRITE,
				   ki_send(fd, buf, len, flags | MSG_DONTWAIT | MSG_NOSIGNAL));
	case IO_THREAD:
	default:
		return ki_send(fd, buf, len, flags | MSG_NOSIGNAL);
	}
}

/*
 * Messages: recvmsg and sendmsg, and recvfrom and sendto on top of them.
 * Completion style: both are tried first without waiting, and go to the
 * ring only when that says EAGAIN: a datagram server finds its next
 * datagram there most of the time, and the try saves the request, the
 * park and the completion (bench/udp: 1.35x the round trips per second
 * of sending every recvmsg to the ring; bench/RESULTS.md).
 * Readiness style: MSG_DONTWAIT, and a wait for readiness on EAGAIN.
 * Either way one message per call (MSG_WAITALL is the kernel's to honour
 * within one receive), and the msghdr, which the kernel reads and
 * updates, stays the caller's: the call returns only once the kernel is
 * done with it.
 */
ssize_t rg_recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct np_req req = { .op = NP_OP_RECVMSG, .fd = fd, .buf = msg, .flags = flags };
	ssize_t r;

	rt_enter();
	if (!msg)
		return -EFAULT;
	switch (io_style()) {
	case IO_COMPLETION:
		r = need_socket(fd);
		if (r < 0)
			return r;
		r = ki_recvmsg(fd, msg, flags | MSG_DONTWAIT);
		if (r != -EAGAIN || (flags & MSG_DONTWAIT))
			return r;
		return netpoll_op(&req, fd);
	case IO_READINESS:
		if (flags & MSG_DONTWAIT)
			return ki_recvmsg(fd, msg, flags);
		return RETRY_READY(fd, NP_READ, ki_recvmsg(fd, msg, flags | MSG_DONTWAIT));
	case IO_THREAD:
	default:
		return ki_recvmsg(fd, msg, flags);
	}
}

ssize_t rg_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct np_req req = {
		.op = NP_OP_SENDMSG, .fd = fd, .buf = (void *)msg, .flags = flags | MSG_NOSIGNAL
	};
	ssize_t r;

	rt_enter();
	if (!msg)
		return -EFAULT;
	switch (io_style()) {
	case IO_COMPLETION:
		r = need_socket(fd);
		if (r < 0)
			return r;
		r = ki_sendmsg(fd, msg, flags | MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r != -EAGAIN || (flags & MSG_DONTWAIT))
			return r;
		return netpoll_op(&req, fd);
	case IO_READINESS:
		if (flags & MSG_DONTWAIT)
			return ki_sendmsg(fd, msg, flags | MSG_NOSIGNAL);
		return RETRY_READY(fd, NP_WRITE,
				   ki_sendmsg(fd, msg, flags | MSG_DONTWAIT | MSG_NOSIGNAL));
	case IO_THREAD:
	default:
		return ki_sendmsg(fd, msg, flags | MSG_NOSIGNAL);
	}
}

ssize_t rg_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
		    socklen_t *addrlen)
{
	struct iovec iov = { buf, len };
	struct msghdr msg = { .msg_name = addr,
			      .msg_namelen = addr && addrlen ? *addrlen : 0,
			      .msg_iov = &iov,
			      .msg_iovlen = 1 };
	ssize_t r;

	if (addr && !addrlen)
		return -EFAULT;
	r = rg_recvmsg(fd, &msg, flags);
	if (r >= 0 && addr)
		*addrlen = msg.msg_namelen;
	return r;
}

ssize_t rg_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr,
		  socklen_t addrlen)
{
	struct iovec iov = { (void *)buf, len };
	struct msghdr msg = { .msg_name = (void *)addr,
			      .msg_namelen = addr ? addrlen : 0,
			      .msg_iov = &iov,
			      .msg_iovlen = 1 };

	return rg_sendmsg(fd, &msg, flags);
}

/* shutdown(2) never waits. */
int rg_shutdown(int fd, int how)
{
	rt_enter();
	return ki_shutdown(fd, how);
}

/* A goroutine's wait until fd is ready for mode (NP_READ, NP_WRITE), in
 * the backend's style: a poll request on the ring, or the epoll
 * registration.  0, or the wait's -errno (deadline, cancellation). */
static int wait_ready(enum io_style style, int fd, int mode)
{
	if (style == IO_COMPLETION) {
		struct np_req req = { .op = NP_OP_POLL,
				      .fd = fd,
				      .flags = mode == NP_READ ? POLLIN : POLLOUT };
		ssize_t r = netpoll_op(&req, fd);

		return r < 0 ? (int)r : 0;
	}
	return netpoll_wait_fd(fd, mode);
}

/*
 * sendfile: the socket (or pipe) out_fd is made O_NONBLOCK and waited for
 * when full, on both backends; the reads of in_fd, a file, are the
 * kernel's inside the call and may block the thread on a page-cache miss.
 * Loops until count bytes went or an error or end of file, as Go's
 * sendfile does; a count short of the request only at end of file or
 * when an error follows bytes sent.
 */
ssize_t rg_sendfile(int out_fd, int in_fd, off_t *off, size_t count)
{
	enum io_style style;
	size_t done = 0;
	ssize_t r = 0;

	rt_enter();
	style = io_style();
	if (style == IO_THREAD)
		return ki_sendfile(out_fd, in_fd, off, count);
	r = netpoll_set_nonblock(out_fd);
	if (r < 0)
		return r;
	while (done < count) {
		r = ki_sendfile(out_fd, in_fd, off, count - done);
		if (r > 0) {
			done += (size_t)r;
			continue;
		}
		if (r != -EAGAIN)
			break;
		r = wait_ready(style, out_fd, NP_WRITE);
		if (r < 0)
			break;
	}
	return done ? (ssize_t)done : r;
}

/*
 * splice: one transfer, as splice(2) makes, on both backends the kernel's
 * call made non-blocking (SPLICE_F_NONBLOCK for the pipe, O_NONBLOCK set
 * on the other end unless it is a regular file) and a wait for readiness
 * when it says EAGAIN.  Which end to wait for is asked of fd_in: not
 * readable, wait for it; readable (or a file, always), the EAGAIN was
 * fd_out's, full.  The ring's own IORING_OP_SPLICE is not used: a splice
 * that cannot go at once would be handed to a kernel worker thread that
 * blocks there, where a poll request costs nothing while it waits.  A
 * caller's SPLICE_F_NONBLOCK makes it one attempt, no wait.
 */
static int splice_nonblock(int fd)
{
	int kind = netpoll_fd_kind(fd);

	if (kind < 0)
		return kind;
	return kind == KI_FD_FILE ? 0 : netpoll_set_nonblock(fd);
}

ssize_t rg_splice(int fd_in, off_t *off_in, int fd_out, off_t *off_out, size_t len,
		  unsigned int flags)
{
	enum io_style style;
	ssize_t r;

	rt_enter();
	style = io_style();
	if (style == IO_THREAD || (flags & SPLICE_F_NONBLOCK))
		return ki_splice(fd_in, off_in, fd_out, off_out, len, flags);
	r = splice_nonblock(fd_in);
	if (r == 0)
		r = splice_nonblock(fd_out);
	if (r < 0)
		return r;
	for (;;) {
		int in;

		r = ki_splice(fd_in, off_in, fd_out, off_out, len, flags | SPLICE_F_NONBLOCK);
		if (r != -EAGAIN)
			return r;
		in = ki_poll_now(fd_in, POLLIN);
		if (in < 0)
			return in;
		r = in ? wait_ready(style, fd_out, NP_WRITE) : wait_ready(style, fd_in, NP_READ);
		if (r < 0)
			return r;
	}
}

/*
 * read, pread (off >= 0) and write, pwrite: one attempt that cannot block,
 * RWF_NOWAIT (a regular file served from the page cache, a pipe or socket
 * with data or room), then the ring, or on epoll a wait for readiness; a
 * regular file cannot be waited for (arm says -EPERM): its call blocks the
 * thread.  A descriptor that refuses RWF_NOWAIT is made O_NONBLOCK.
 */
/* A read or a write: one buffer (iov[0], vec false) or cnt of them, at
 * off (-1: the file position). */
struct rw {
	bool wr, vec;
	int fd;
	const struct iovec *iov;
	int cnt;
	off_t off;
};

/* The plain call: read/write at the file position (off < 0) or p*, and
 * their vectored forms. */
static ssize_t io_plain(const struct rw *rw)
{
	void *buf = rw->iov[0].iov_base;
	size_t len = rw->iov[0].iov_len;

	if (rw->vec)
		return rw->wr ? ki_pwritev2(rw->fd, rw->iov, rw->cnt, rw->off, 0) :
				ki_preadv2(rw->fd, rw->iov, rw->cnt, rw->off, 0);
	if (rw->off < 0)
		return rw->wr ? ki_write(rw->fd, buf, len) : ki_read(rw->fd, buf, len);
	return rw->wr ? ki_pwrite(rw->fd, buf, len, rw->off) : ki_pread(rw->fd, buf, len, rw->off);
}

/*
 * Completion style, reads of regular files: whether to skip the RWF_NOWAIT
 * attempt and go to the ring at once.  An attempt on pages that are not
 * cached is no free miss: it starts their readahead itself, one plug and
 * one doorbell of the device per file (a VM exit on a virtual disk), then
 * says -EAGAIN, and the read on the ring waits for that I/O.  Reads that
 * go to the ring together are issued together, under one plug, adjacent
 * blocks merged.  So an M whose last NOWAIT_MISSES attempts all missed
 * (a cold workload) sends its reads to the ring and tries one read in
 * NOWAIT_PROBE still, so that pages cached again are seen soon; one hit
 * (bytes from the cache) and it tries every read again.  An attempt that
 * returns 0 (end of file) says nothing either way.  Per M, as the M runs
 * (no migration inside the runtime's code): a hint, no lock.
 */
#define NOWAIT_MISSES 8
#define NOWAIT_PROBE  16

static __thread struct {
	uint32_t misses;  /* attempts in a row that said -EAGAIN, up to NOWAIT_MISSES */
	uint32_t skipped; /* reads sent to the ring at once since the last probe */
} nowait __attribute__((tls_model("initial-exec")));

static bool nowait_skip(void)
{
	if (nowait.misses < NOWAIT_MISSES)
		return false;
	if (++nowait.skipped < NOWAIT_PROBE)
		return true;
	nowait.skipped = 0;
	return false;
}

static void nowait_learn(ssize_t r)
{
	if (r > 0)
		nowait.misses = 0;
	else if (r == -EAGAIN && nowait.misses < NOWAIT_MISSES)
		nowait.misses++;
}

static ssize_t io_rw(const struct rw *rw)
{
	struct np_req req = { .fd = rw->fd, .off = rw->off };
	enum io_style style = io_style();
	uint32_t ev = rw->wr ? NP_WRITE : NP_READ;
	bool wr = rw->wr;
	off_t off = rw->off;
	int fd = rw->fd;
	ssize_t r;

	if (style == IO_THREAD)
		return io_plain(rw);
	if (rw->vec) {
		req.op = wr ? NP_OP_WRITEV : NP_OP_READV;
		req.buf = (void *)rw->iov;
		req.len = (size_t)rw->cnt;
	} else {
		req.op = wr ? NP_OP_WRITE : NP_OP_READ;
		req.buf = rw->iov[0].iov_base;
		req.len = rw->iov[0].iov_len;
	}
	if (style == IO_COMPLETION && off < 0) {
		r = netpoll_fd_kind(fd);
		if (r < 0)
			return r;
		if (r != KI_FD_FILE)
			return netpoll_op(&req, fd); /* the ring tries it first itself */
	}
	/* A pread's descriptor may be no file (a pipe's -ESPIPE): checked
	 * only when the attempt is skipped. */
	if (style == IO_COMPLETION && !wr && nowait_skip() &&
	    (off < 0 || netpoll_fd_kind(fd) == KI_FD_FILE))
		return netpoll_op(&req, fd);
	for (;;) {
		r = wr ? ki_pwritev2(fd, rw->iov, rw->cnt, off, RWF_NOWAIT) :
			 ki_preadv2(fd, rw->iov, rw->cnt, off, RWF_NOWAIT);
		if (style == IO_COMPLETION && !wr)
			nowait_learn(r);
		if (r == -EOPNOTSUPP && style == IO_READINESS && netpoll_set_nonblock(fd) == 0)
			r = io_plain(rw);
		if (r != -EAGAIN && r != -EOPNOTSUPP)
			return r;
		if (style == IO_COMPLETION)
			return netpoll_op(&req, fd);
		r = netpoll_wait_fd(fd, ev);
		if (r == -EPERM) /* a regular file */
			break;
		if (r < 0)
			return r;
	}
	return BLOCKING(io_plain(rw));
}

/* One buffer. */
static ssize_t io_rw1(bool wr, int fd, const void *buf, size_t len, off_t off)
{
	struct iovec iov = { (void *)buf, len };
	struct rw rw = { .wr = wr, .fd = fd, .iov = &iov, .cnt = 1, .off = off };

	return io_rw(&rw);
}

/* cnt buffers: what readv(2) accepts. */
static ssize_t io_rwv(bool wr, int fd, const struct iovec *iov, int cnt, off_t off)
{
	struct rw rw = { .wr = wr, .vec = true, .fd = fd, .iov = iov, .cnt = cnt, .off = off };

	if (cnt < 0 || cnt > IOV_MAX)
		return -EINVAL;
	if (cnt == 0)
		return 0;
	if (!iov)
		return -EFAULT;
	return io_rw(&rw);
}

ssize_t rg_read(int fd, void *buf, size_t len)
{
	rt_enter();
	return io_rw1(false, fd, buf, len, -1);
}

ssize_t rg_write(int fd, const void *buf, size_t len)
{
	rt_enter();
	return io_rw1(true, fd, buf, len, -1);
}

ssize_t rg_pread(int fd, void *buf, size_t len, off_t off)
{
	rt_enter();
	return off < 0 ? -EINVAL : io_rw1(false, fd, buf, len, off);
}

ssize_t rg_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	rt_enter();
	return off < 0 ? -EINVAL : io_rw1(true, fd, buf, len, off);
}

ssize_t rg_readv(int fd, const struct iovec *iov, int cnt)
{
	rt_enter();
	return io_rwv(false, fd, iov, cnt, -1);
}

ssize_t rg_writev(int fd, const struct iovec *iov, int cnt)
{
	rt_enter();
	return io_rwv(true, fd, iov, cnt, -1);
}

ssize_t rg_preadv(int fd, const struct iovec *iov, int cnt, off_t off)
{
	rt_enter();
	return off < 0 ? -EINVAL : io_rwv(false, fd, iov, cnt, off);
}

ssize_t rg_pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	rt_enter();
	return off < 0 ? -EINVAL : io_rwv(true, fd, iov, cnt, off);
}

/*
 * Opening a FIFO (see "FIFOs" at the top).  Completion style: the ring's
 * first attempt does not block, so an open for writing with no reader
 * says -ENXIO, and one for reading returns at once: both go again to the
 * kernel's workers, where the open waits for the peer under the linked
 * timeout.  The reader keeps its first descriptor until the second is
 * open, so that a writer already there never sees the FIFO without a
 * reader.
 */
#define FIFO_RECHECK_NS 50000000 /* a FIFO reader's second open looks at its first this often */

static int open_ring(const char *path, int flags, mode_t mode)
{
	struct np_req req = { .op = NP_OP_OPEN,
			      .fd = -1,
			      .buf = (void *)path,
			      .flags = flags | O_CLOEXEC,
			      .mode = mode };
	int64_t dl = netpoll_deadline();
	int fd = (int)netpoll_op(&req, -1), fifo;

	if (flags & (O_NONBLOCK | O_PATH))
		return fd;
	req.async = true;
	if (fd == -ENXIO && (flags & O_ACCMODE) == O_WRONLY)
		return (int)netpoll_op(&req, -1);
	if (fd < 0 || (flags & O_ACCMODE) != O_RDONLY || netpoll_fd_kind_check(fd) != KI_FD_FIFO)
		return fd;
	for (;;) {
		int64_t step = ki_nanotime() + FIFO_RECHECK_NS;

		/* A writer came since (data, or it left: hang-up): libc's
		 * open would have returned; the second waits for another. */
		if (ki_poll_now(fd, POLLIN) != 0)
			return fd;
		rg_set_deadline(dl && dl < step ? dl : step);
		fifo = (int)netpoll_op(&req, -1);
		rg_set_deadline(dl);
		if (fifo != -ETIMEDOUT || (dl && ki_nanotime() >= dl) || ctx_current_err())
			break;
	}
	netpoll_cancel_fd(fd, true);
	ki_close(fd);
	return fifo;
}

/* Readiness style, a FIFO under a deadline or a context: the poker of an
 * open_wait. */
struct open_wait {
	const char *path;
	int flags;
	int64_t deadline; /* 0: none */
	rg_ctx *ctx;	  /* the opener's, or NULL */
	rg_chan *done;	  /* closed by the opener once its open returned */
	rg_wg idle;	  /* the poker returned */
	int poked;	  /* the poker's: why it poked (-ETIMEDOUT, the context's
			   * err) or 0; the opener reads it after idle */
};

#define OPEN_POKE_NS 1000000 /* the poker tries again this often */

/* From the deadline on, or once the context is cancelled, open the other
 * end for an instant until the opener's open returns. */
static void open_poker(void *arg)
{
	struct open_wait *ow = arg;
	rg_case c[2] = {
		{ .chan = ow->done, .op = RG_RECV },
		{ .chan = ow->ctx ? rg_ctx_done(ow->ctx) : NULL, .op = RG_RECV },
	};
	int64_t t = ow->deadline ? ow->deadline - rg_now_ns() : -1;
	int r;

	while ((r = rg_select(c, 2, t < 0 && ow->deadline ? 0 : t)) != 0) {
		if (!ow->poked)
			ow->poked = r == 1 ? rg_ctx_err(ow->ctx) : -ETIMEDOUT;
		c[1].chan = NULL; /* closed: it would be ready every time */
		ki_fifo_poke(ow->path, ow->flags);
		t = OPEN_POKE_NS;
	}
	rg_wg_done(&ow->idle);
}

static int open_ready(const char *path, int flags, mode_t mode)
{
	struct open_wait ow = { .path = path, .flags = flags };
	int fd;

	ow.deadline = netpoll_deadline();
	ow.ctx = ctx_current();
	if (ow.ctx && rg_ctx_err(ow.ctx))
		return rg_ctx_err(ow.ctx);
	if ((!ow.deadline && !ow.ctx) || (flags & (O_NONBLOCK | O_PATH)) ||
	    ((flags & O_ACCMODE) != O_RDONLY && (flags & O_ACCMODE) != O_WRONLY) ||
	    ki_path_kind(path) != KI_FD_FIFO)
		return BLOCKING(ki_open(path, flags | O_CLOEXEC, mode));
	ow.done = rg_chan_make(0, 0);
	if (!ow.done)
		return -ENOMEM;
	rg_wg_add(&ow.idle, 1);
	fd = rg_go(open_poker, &ow);
	if (fd == 0)
		fd = BLOCKING(ki_open(path, flags | O_CLOEXEC, mode));
	else
		rg_wg_done(&ow.idle);
	rg_chan_close(ow.done);
	wg_wait_all(&ow.idle);
	rg_chan_free(ow.done);
	if (ow.poked) {
		if (fd >= 0)
			ki_close(fd);
		fd = ow.poked;
	}
	return fd;
}

int rg_open(const char *path, int flags, mode_t mode)
{
	rt_enter();
	switch (io_style()) {
	case IO_COMPLETION:
		return open_ring(path, flags, mode);
	case IO_READINESS:
		return open_ready(path, flags, mode);
	case IO_THREAD:
	default:
		return ki_open(path, flags | O_CLOEXEC, mode);
	}
}

int rg_fsync(int fd)
{
	struct np_req req = { .op = NP_OP_FSYNC, .fd = fd };

	rt_enter();
	switch (io_style()) {
	case IO_COMPLETION:
		return (int)netpoll_op(&req, fd);
	case IO_READINESS:
		return BLOCKING(ki_fsync(fd));
	case IO_THREAD:
	default:
		return ki_fsync(fd);
	}
}

/*
 * File-system calls.  Completion style: a request on the ring, and the
 * plain call (blocking the thread, not the P) when the ring says -EINVAL:
 * a kernel without the opcode says so, and arguments the kernel refuses
 * get -EINVAL again from the plain call.  Readiness style: the plain call,
 * blocking the thread, not the P.  A plain thread: the plain call.
 */
#define FS_CALL(reqp, fd, plain)                            \
	({                                                  \
		int r_;                                     \
		switch (io_style()) {                       \
		case IO_COMPLETION:                         \
			r_ = (int)netpoll_op((reqp), (fd)); \
			if (r_ == -EINVAL)                  \
				r_ = BLOCKING(plain);       \
			break;                              \
		case IO_READINESS:                          \
			r_ = BLOCKING(plain);               \
			break;                              \
		case IO_THREAD:                             \
		default:                                    \
			r_ = (plain);                       \
			break;                              \
		}                                           \
		r_;                                         \
	})

int rg_statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *buf)
{
	struct np_req req = { .op = NP_OP_STATX,
			      .fd = dirfd,
			      .buf = (void *)path,
			      .flags = flags,
			      .mode = mask,
			      .buf2 = buf };

	rt_enter();
	if (!path || !buf)
		return -EFAULT;
	return FS_CALL(&req, -1, ki_statx(dirfd, path, flags, mask, buf));
}

int rg_unlinkat(int dirfd, const char *path, int flags)
{
	struct np_req req = {
		.op = NP_OP_UNLINKAT, .fd = dirfd, .buf = (void *)path, .flags = flags
	};

	rt_enter();
	if (!path)
		return -EFAULT;
	return FS_CALL(&req, -1, ki_unlinkat(dirfd, path, flags));
}

int rg_renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
		unsigned int flags)
{
	struct np_req req = { .op = NP_OP_RENAMEAT,
			      .fd = olddirfd,
			      .buf = (void *)oldpath,
			      .fd2 = newdirfd,
			      .buf2 = (void *)newpath,
			      .flags = (int)flags };

	rt_enter();
	if (!oldpath || !newpath)
		return -EFAULT;
	return FS_CALL(&req, -1, ki_renameat2(olddirfd, oldpath, newdirfd, newpath, flags));
}

int rg_mkdirat(int dirfd, const char *path, mode_t mode)
{
	struct np_req req = { .op = NP_OP_MKDIRAT, .fd = dirfd, .buf = (void *)path, .mode = mode };

	rt_enter();
	if (!path)
		return -EFAULT;
	return FS_CALL(&req, -1, ki_mkdirat(dirfd, path, mode));
}

int rg_fallocate(int fd, int mode, off_t off, off_t len)
{
	struct np_req req = { .op = NP_OP_FALLOCATE,
			      .fd = fd,
			      .mode = (mode_t)mode,
			      .off = off,
			      .len = (size_t)len };

	rt_enter();
	if (off < 0 || len <= 0)
		return -EINVAL;
	return FS_CALL(&req, fd, ki_fallocate(fd, mode, off, len));
}

/* io_uring has no ftruncate on the kernels liburing 2.3 knows: the plain
 * call, blocking the thread but not the P. */
int rg_ftruncate(int fd, off_t len)
{
	rt_enter();
	if (len < 0)
		return -EINVAL;
	if (io_style() == IO_THREAD)
		return ki_ftruncate(fd, len);
	return BLOCKING(ki_ftruncate(fd, len));
}

int rg_close(int fd)
{
	rt_enter();
	if (fd < 0)
		return -EBADF;
	if (netpoll_backend())
		netpoll_cancel_fd(fd, true);
	return ki_close(fd);
}

/*
 * rg_poll.  Completion style: a one-shot poll request on the ring (the
 * kernel looks at the descriptor as it takes the request, so a ready one
 * completes at once).  Readiness style: poll(2) with no timeout, then a
 * wait for the epoll edge and poll(2) again, until it reports something:
 * the edge says only that something may have changed.  Both give up at
 * the earlier of the timeout and the goroutine's deadline, which the
 * call narrows for its duration.
 */
#define POLL_EVENTS \
	(POLLIN | POLLPRI | POLLOUT | POLLRDHUP | POLLRDNORM | POLLRDBAND | POLLWRNORM | POLLWRBAND)

static int poll_result(int r)
{
	return r > 0 && (r & POLLNVAL) ? -EBADF : r;
}

int rg_poll(int fd, short events, int64_t timeout_ns)
{
	struct np_req req = { .op = NP_OP_POLL, .fd = fd, .flags = events };
	enum io_style style;
	uint32_t mode;
	struct g *gp;
	int64_t saved;
	int r;

	rt_enter();
	if (fd < 0)
		return -EBADF;
	if (events & ~POLL_EVENTS)
		return -EINVAL;
	style = io_style();
	if (style == IO_THREAD) {
		r = poll_result(ki_poll_wait(fd, events, timeout_ns));
		return r == 0 ? (timeout_ns ? -ETIMEDOUT : -EAGAIN) : r;
	}
	if (style == IO_READINESS || timeout_ns == 0) {
		r = poll_result(ki_poll_now(fd, events));
		if (r != 0)
			return r;
		if (timeout_ns == 0)
			return -EAGAIN;
	}
	gp = getg();
	saved = gp->ext->deadline;
	if (timeout_ns > 0) {
		int64_t until = ki_nanotime() + timeout_ns;

		if (!saved || until < saved)
			gp->ext->deadline = until;
	}
	if (style == IO_COMPLETION) {
		r = poll_result((int)netpoll_op(&req, fd));
	} else {
		mode = (events & (POLLIN | POLLPRI | POLLRDHUP | POLLRDNORM | POLLRDBAND) ?
				NP_READ :
				0) |
		       (events & (POLLOUT | POLLWRNORM | POLLWRBAND) ? NP_WRITE : 0);
		do {
			r = netpoll_wait_fd(fd, mode ? mode : NP_READ | NP_WRITE);
			if (r == 0)
				r = poll_result(ki_poll_now(fd, events));
		} while (r == 0);
	}
	gp->ext->deadline = saved;
	return r;
}

int rg_io_cancel(int fd)
{
	rt_enter();
	if (fd < 0)
		return -EBADF;
	return netpoll_backend() ? netpoll_cancel_fd(fd, false) : 0;
}

int64_t rg_set_deadline(int64_t deadline_ns)
{
	struct g *gp;
	int64_t old;

	rt_enter();
	gp = getg();

	if (!gp)
		return -EPERM;
	old = gp->ext->deadline;
	/* Any time before 1 is as past as 1, which keeps 0 for "none". */
	gp->ext->deadline = deadline_ns < 0 ? 1 : deadline_ns;
	return old;
}
