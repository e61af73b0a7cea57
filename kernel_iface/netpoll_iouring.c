/* SPDX-License-Identifier: MIT */
/*
 * kernel_iface/netpoll_iouring.c - the io_uring backend (completion style).
 *
 * One ring per P.  A P moves between threads, so SINGLE_ISSUER and
 * DEFER_TASKRUN are out (other threads' submissions and waits would fail).
 * The CQ is NP_CQ_ENTRIES deep, well above the SQ, and the kernel keeps
 * overflowed completions (FEAT_NODROP), so none is lost.
 *
 * Task work
 * ---------
 * Most completions are finished by task work: a socket that becomes
 * readable queues the recv on the thread that submitted it, which runs it
 * when it next enters the kernel.  With default flags the kernel also
 * interrupts that thread (an IPI) if it runs in user space: on a VM each
 * interrupt is an exit on both CPUs, and under a request/response load
 * there is one per request.  So the rings are created with
 * COOP_TASKRUN | TASKRUN_FLAG (Linux 5.19+) where the kernel has them: no
 * interrupt; the task work runs at the thread's next system call (a
 * flush, a send, a wait) or at the latest at its next timer tick, and the
 * ring's IORING_SQ_TASKRUN flag says work is pending.  reap() enters the
 * kernel for it when it finds the CQ empty and the flag set, so a P that
 * runs out of work sees its completions at once.  A sleeping thread is
 * still woken for its task work: an M asleep in a futex or in another
 * ring runs it and sleeps on.
 *
 * Waking a sleeper: with COOP_TASKRUN, wake() posts a CQE straight into
 * the ring with IORING_OP_MSG_RING, submitted on a small ring of the np's
 * own (wring, serialised by wlock: wakers are any thread).  MSG_RING needs
 * no task work, so the waiter's io_uring_enter returns whichever thread
 * runs meanwhile.  Without COOP_TASKRUN (older kernels) each ring keeps a
 * read of its own eventfd in flight; wake() writes the eventfd, the read
 * completes and the waiter returns; reap() re-arms the read.
 *
 * Deadlines are linked timeouts (IORING_OP_LINK_TIMEOUT, absolute,
 * CLOCK_MONOTONIC): the operation completes with -ECANCELED when it
 * expires.  The timeout's own completion and that of cancel requests carry
 * token 0 and are dropped.  A request forced to a worker (np_req.async,
 * IOSQE_ASYNC) never saw its linked timeout fire (an open of a FIFO
 * blocked on past it, on Linux 6.18), while an ASYNC_CANCEL interrupts it:
 * the runtime gives such requests no deadline and cancels them itself.
 *
 * io-wq: operations that cannot complete without blocking (fsync, buffered
 * writes, uncached opens) run on the kernel's worker threads of the
 * submitting thread; NP_IOWQ_BOUNDED/UNBOUNDED cap them per thread.
 */
#include "kernel_iface/netpoll.h"
#include "kernel_iface/kernel.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NP_SQ_ENTRIES	  256
#define NP_CQ_ENTRIES	  4096
#define NP_IOWQ_BOUNDED	  2
#define NP_IOWQ_UNBOUNDED 2

#define TOKEN_IGNORE 0
#define TOKEN_WAKE   1

/* IORING_RECVSEND_POLL_FIRST is known (Linux 5.19+, with IORING_OP_SOCKET);
 * set by the probe, before any ring is created. */
static bool poll_first;
/* The rings are COOP_TASKRUN | TASKRUN_FLAG and wakes are MSG_RINGs (see
 * "Task work"): coop_wanted (np_iouring_coop; RINGO_DEBUG=iouringcoop=0
 * clears it), and the kernel has them (the probe). */
static bool coop_wanted = true, coop;

void np_iouring_coop(bool on)
{
	coop_wanted = on;
}

struct np {
	struct io_uring ring;
	/* coop: the ring wakers submit their MSG_RING on; wlock held. */
	struct io_uring wring;
	bool wlock;
	/* !coop: the eventfd whose read stays in flight. */
	int efd;
	uint64_t efdbuf; /* target of the eventfd read in flight */
};

static const uint8_t needed_ops[] = {
	IORING_OP_NOP,	 IORING_OP_ACCEPT,	 IORING_OP_CONNECT,	 IORING_OP_RECV,
	IORING_OP_SEND,	 IORING_OP_READ,	 IORING_OP_WRITE,	 IORING_OP_OPENAT,
	IORING_OP_FSYNC, IORING_OP_LINK_TIMEOUT, IORING_OP_ASYNC_CANCEL, IORING_OP_POLL_ADD,
	IORING_OP_READV, IORING_OP_WRITEV,	 IORING_OP_RECVMSG,	 IORING_OP_SENDMSG,
};

static int ring_init(struct io_uring *ring, unsigned sq, unsigned cq)
{
	struct io_uring_params p;

	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
	if (coop)
		p.flags |= IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
	p.cq_entries = cq;
	return io_uring_queue_init_params(sq, ring, &p);
}

/* Queue a read of the eventfd (!coop); the ring must have room (it always
 * has after a flush). */
static int arm_wake(struct np *np)
{
	struct io_uring_sqe *sqe;

	if (coop)
		return 0;
	sqe = io_uring_get_sqe(&np->ring);
	if (!sqe) {
		io_uring_submit(&np->ring);
		sqe = io_uring_get_sqe(&np->ring);
		if (!sqe)
			return -EBUSY;
	}
	io_uring_prep_read(sqe, np->efd, &np->efdbuf, sizeof(np->efdbuf), 0);
	io_uring_sqe_set_data64(sqe, TOKEN_WAKE);
	return 0;
}

static int iouring_probe(const char **why)
{
	struct __kernel_timespec ts = { .tv_sec = 1 };
	struct io_uring_probe *probe;
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	unsigned i;
	int r;

	/* Cooperative task running first; a kernel that refuses the flags
	 * (before 5.19: -EINVAL) gets a default ring. */
	coop = coop_wanted;
	r = ring_init(&ring, 8, 16);
	if (r == -EINVAL && coop) {
		coop = false;
		r = ring_init(&ring, 8, 16);
	}
	if (r < 0) {
		*why = r == -ENOSYS ? "io_uring_setup: not implemented by this kernel" :
		       r == -EPERM  ? "io_uring_setup: not permitted (seccomp profile or "
				      "kernel.io_uring_disabled)" :
				      "io_uring_setup failed";
		return r;
	}
	r = -EOPNOTSUPP;
	*why = "the kernel lacks IORING_FEAT_EXT_ARG or IORING_FEAT_NODROP (Linux 5.11+)";
	if (!(ring.features & IORING_FEAT_EXT_ARG) || !(ring.features & IORING_FEAT_NODROP))
		goto out_exit;
	*why = "the opcode probe failed";
	probe = io_uring_get_probe_ring(&ring);
	if (!probe)
		goto out_exit;
	for (i = 0; i < sizeof(needed_ops); i++)
		if (!io_uring_opcode_supported(probe, needed_ops[i]))
			break;
	poll_first = io_uring_opcode_supported(probe, IORING_OP_SOCKET);
	if (!io_uring_opcode_supported(probe, IORING_OP_MSG_RING))
		coop = false; /* the wake-up needs it (the ring is remade below) */
	io_uring_free_probe(probe);
	*why = "a needed opcode is missing (Linux 5.6+ has them all)";
	if (i < sizeof(needed_ops))
		goto out_exit;
	/* A real round trip: a filter may allow setup but refuse enter. */
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data64(sqe, 42);
	r = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, NULL);
	if (r < 0) {
		*why = r == -EPERM ? "io_uring_enter: not permitted" : "io_uring_enter failed";
		goto out_exit;
	}
	r = cqe && cqe->user_data == 42 ? 0 : -EIO;
	*why = r ? "a NOP did not complete" : NULL;
out_exit:
	io_uring_queue_exit(&ring);
	return r;
}

static int iouring_create(struct np **out)
{
	unsigned workers[2] = { NP_IOWQ_BOUNDED, NP_IOWQ_UNBOUNDED };
	struct np *np = calloc(1, sizeof(*np));
	int r;

	if (!np)
		return -ENOMEM;
	r = ring_init(&np->ring, NP_SQ_ENTRIES, NP_CQ_ENTRIES);
	if (r < 0)
		goto err_free;
	r = io_uring_register_iowq_max_workers(&np->ring, workers);
	if (r < 0 && r != -EINVAL) /* -EINVAL: before 5.15, no cap */
		goto err_exit;
	if (coop) {
		np->efd = -1;
		r = io_uring_queue_init(2, &np->wring, 0);
		if (r < 0)
			goto err_exit;
		*out = np;
		return 0;
	}
	r = ki_eventfd();
	if (r < 0)
		goto err_exit;
	np->efd = r;
	r = arm_wake(np);
	if (r < 0)
		goto err_close;
	r = io_uring_submit(&np->ring);
	if (r < 0)
		goto err_close;
	*out = np;
	return 0;
err_close:
	ki_close(np->efd);
err_exit:
	io_uring_queue_exit(&np->ring);
err_free:
	free(np);
	return r;
}

static void iouring_destroy(struct np *np)
{
	io_uring_queue_exit(&np->ring);
	if (coop)
		io_uring_queue_exit(&np->wring);
	else
		ki_close(np->efd);
	free(np);
}

/* n free SQEs, flushing the SQ to the kernel if needed. */
static int sq_reserve(struct np *np, unsigned n)
{
	int r;

	if (io_uring_sq_space_left(&np->ring) >= n)
		return 0;
	r = io_uring_submit(&np->ring);
	if (r < 0 && r != -EBUSY && r != -EAGAIN)
		return r;
	return io_uring_sq_space_left(&np->ring) >= n ? 0 : -EAGAIN;
}

static int iouring_submit(struct np *np, struct np_req *req)
{
	struct io_uring_sqe *sqe;
	int r = sq_reserve(np, req->deadline ? 2 : 1);

	if (r)
		return r;
	sqe = io_uring_get_sqe(&np->ring);
	switch (req->op) {
	case NP_OP_ACCEPT:
		io_uring_prep_accept(sqe, req->fd, req->addr, req->addrlen, SOCK_CLOEXEC);
		break;
	case NP_OP_CONNECT:
		io_uring_prep_connect(sqe, req->fd, req->addr, (socklen_t)req->len);
		break;
	case NP_OP_RECV:
		io_uring_prep_recv(sqe, req->fd, req->buf, req->len, req->flags);
		/* A goroutine usually receives because it has just sent and
		 * waits for the answer: arm the poll at once rather than try
		 * first (the poll still finds data already there).  Not for
		 * MSG_DONTWAIT, which must try, nor before the socket was
		 * seen connected (req->poll_first): a listening socket's recv
		 * fails at once, while its poll would wait. */
		if (poll_first && req->poll_first && !(req->flags & MSG_DONTWAIT))
			sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
		break;
	case NP_OP_SEND:
		io_uring_prep_send(sqe, req->fd, req->buf, req->len, req->flags);
		break;
	case NP_OP_READ:
		io_uring_prep_read(sqe, req->fd, req->buf, (unsigned)req->len, (uint64_t)req->off);
		break;
	case NP_OP_WRITE:
		io_uring_prep_write(sqe, req->fd, req->buf, (unsigned)req->len, (uint64_t)req->off);
		break;
	case NP_OP_OPEN:
		io_uring_prep_openat(sqe, AT_FDCWD, req->buf, req->flags, req->mode);
		break;
	case NP_OP_FSYNC:
		io_uring_prep_fsync(sqe, req->fd, 0);
		break;
	case NP_OP_POLL:
		io_uring_prep_poll_add(sqe, req->fd, (unsigned)req->flags);
		break;
	case NP_OP_READV:
		io_uring_prep_readv(sqe, req->fd, req->buf, (unsigned)req->len, (uint64_t)req->off);
		break;
	case NP_OP_WRITEV:
		io_uring_prep_writev(sqe, req->fd, req->buf, (unsigned)req->len,
				     (uint64_t)req->off);
		break;
	case NP_OP_RECVMSG:
		io_uring_prep_recvmsg(sqe, req->fd, req->buf, (unsigned)req->flags);
		break;
	case NP_OP_SENDMSG:
		io_uring_prep_sendmsg(sqe, req->fd, req->buf, (unsigned)req->flags);
		break;
	case NP_OP_STATX:
		io_uring_prep_statx(sqe, req->fd, req->buf, req->flags, req->mode, req->buf2);
		break;
	case NP_OP_UNLINKAT:
		io_uring_prep_unlinkat(sqe, req->fd, req->buf, req->flags);
		break;
	case NP_OP_RENAMEAT:
		io_uring_prep_renameat(sqe, req->fd, req->buf, req->fd2, req->buf2,
				       (unsigned)req->flags);
		break;
	case NP_OP_MKDIRAT:
		io_uring_prep_mkdirat(sqe, req->fd, req->buf, req->mode);
		break;
	case NP_OP_FALLOCATE:
		io_uring_prep_fallocate(sqe, req->fd, (int)req->mode, (uint64_t)req->off,
					(uint64_t)req->len);
		break;
	default:
		return -EINVAL;
	}
	if (req->async)
		sqe->flags |= IOSQE_ASYNC;
	io_uring_sqe_set_data(sqe, req);
	if (req->deadline) {
		struct __kernel_timespec *ts = (struct __kernel_timespec *)req->ts;

		_Static_assert(sizeof(req->ts) == sizeof(*ts), "np_req.ts holds a timespec");
		ts->tv_sec = req->deadline / 1000000000;
		ts->tv_nsec = req->deadline % 1000000000;
		sqe->flags |= IOSQE_IO_LINK;
		sqe = io_uring_get_sqe(&np->ring);
		io_uring_prep_link_timeout(sqe, ts, IORING_TIMEOUT_ABS);
		io_uring_sqe_set_data64(sqe, TOKEN_IGNORE);
	}
	return 0;
}

static int iouring_cancel(struct np *np, uint64_t token)
{
	struct io_uring_sqe *sqe;
	int r = sq_reserve(np, 1);

	if (r)
		return r;
	sqe = io_uring_get_sqe(&np->ring);
	/* token 0: every request of the ring (Linux 5.19+). */
	io_uring_prep_cancel64(sqe, token, token ? 0 : IORING_ASYNC_CANCEL_ANY);
	io_uring_sqe_set_data64(sqe, TOKEN_IGNORE);
	return 0;
}

static int iouring_flush(struct np *np)
{
	int r;

	if (!io_uring_sq_ready(&np->ring))
		return 0;
	r = io_uring_submit(&np->ring);
	/* -EBUSY/-EAGAIN: the CQ is backed up; the SQEs stay queued and the
	 * next flush, after a reap, submits them. */
	return r == -EBUSY || r == -EAGAIN ? 0 : r;
}

/* io_uring_submit's first half: publish the SQ tail (the P's netpoll lock
 * held, as for submit).  The count includes requests published earlier and not yet
 * taken in (a flush refused with -EBUSY). */
static unsigned iouring_publish(struct np *np)
{
	struct io_uring_sq *sq = &np->ring.sq;

	if (sq->sqe_head != sq->sqe_tail) {
		sq->sqe_head = sq->sqe_tail;
		__atomic_store_n(sq->ktail, sq->sqe_tail, __ATOMIC_RELEASE);
	}
	return sq->sqe_tail - __atomic_load_n(sq->khead, __ATOMIC_ACQUIRE);
}

static int iouring_reap(struct np *np, struct np_event *ev, int max)
{
	struct io_uring_cqe *cqes[64];
	int n = 0;

	while (n < max) {
		unsigned i, got, want = (unsigned)(max - n) < 64 ? (unsigned)(max - n) : 64;
		bool rearm = false;

		got = io_uring_peek_batch_cqe(&np->ring, cqes, want);
		/* Completions may wait in task work (see "Task work"): this
		 * thread's runs now; another's, at its next kernel entry. */
		if (!got && n == 0 && coop &&
		    (IO_URING_READ_ONCE(*np->ring.sq.kflags) & IORING_SQ_TASKRUN)) {
			io_uring_get_events(&np->ring);
			got = io_uring_peek_batch_cqe(&np->ring, cqes, want);
		}
		if (!got)
			break;
		for (i = 0; i < got; i++) {
			uint64_t token = io_uring_cqe_get_data64(cqes[i]);

			if (token == TOKEN_WAKE) {
				rearm = true;
			} else if (token >= NP_TOKEN_MIN) {
				ev[n].token = token;
				ev[n].res = cqes[i]->res;
				/* A blocking open on a worker that was
				 * interrupted may report the kernel's
				 * internal ERESTARTSYS. */
				if (ev[n].res == -KI_ERESTARTSYS)
					ev[n].res = -EINTR;
				ev[n].ready = 0;
				n++;
			}
		}
		io_uring_cq_advance(&np->ring, got);
		if (rearm)
			arm_wake(np);
	}
	return n;
}

/* io_uring_cq_ready, with the head read atomically: any thread may ask
 * while the reaper advances it. */
static bool iouring_ready(struct np *np)
{
	unsigned tail = __atomic_load_n(np->ring.cq.ktail, __ATOMIC_ACQUIRE);

	return tail != __atomic_load_n(np->ring.cq.khead, __ATOMIC_RELAXED);
}

/*
 * Without the netpoll lock: the published requests are taken in by this entry or by
 * any flush that comes first (the kernel takes at most what is published),
 * so submit is an upper bound.
 */
static int iouring_wait(struct np *np, int64_t timeout_ns, unsigned submit)
{
	struct __kernel_timespec ts;
	struct io_uring_getevents_arg arg;
	unsigned flags = IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, want = 1;
	int saved = errno;
	long r;

	if (iouring_ready(np)) {
		if (!submit)
			return 0;
		want = 0; /* take the requests in, do not sleep */
	}
	memset(&arg, 0, sizeof(arg));
	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		arg.ts = (uint64_t)(uintptr_t)&ts;
	}
	r = syscall(__NR_io_uring_enter, np->ring.ring_fd, submit, want, flags, &arg, sizeof(arg));
	if (r < 0) {
		r = -errno;
		errno = saved;
	}
	/* -EBUSY/-EAGAIN: the CQ is backed up; what is published stays, for
	 * the next flush after a reap. */
	if (r == -ETIME || r == -EINTR || r == -EBUSY || r == -EAGAIN)
		return 0;
	return r < 0 ? (int)r : 0;
}

static int iouring_wake(struct np *np)
{
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	int r;

	if (!coop)
		return ki_eventfd_signal(np->efd);
	while (__atomic_test_and_set(&np->wlock, __ATOMIC_ACQUIRE))
		__builtin_ia32_pause();
	/* Failures post a CQE on wring (successes post none): drop them. */
	while (io_uring_peek_cqe(&np->wring, &cqe) == 0)
		io_uring_cqe_seen(&np->wring, cqe);
	sqe = io_uring_get_sqe(&np->wring);
	r = -EBUSY;
	if (sqe) {
		io_uring_prep_msg_ring(sqe, np->ring.ring_fd, 0, TOKEN_WAKE, 0);
		sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
		r = io_uring_submit(&np->wring);
	}
	__atomic_clear(&np->wlock, __ATOMIC_RELEASE);
	return r < 0 ? r : 0;
}

const struct np_backend np_iouring = {
	.name = "io_uring",
	.completes = true,
	.probe = iouring_probe,
	.create = iouring_create,
	.destroy = iouring_destroy,
	.submit = iouring_submit,
	.cancel = iouring_cancel,
	.flush = iouring_flush,
	.publish = iouring_publish,
	.reap = iouring_reap,
	.ready = iouring_ready,
	.wait = iouring_wait,
	.wake = iouring_wake,
};
