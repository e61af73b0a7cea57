/* SPDX-License-Identifier: MIT */
/*
 * test_ctx - contexts (rg_ctx_*):
 *
 *  - cancel: err goes from 0 to -ECANCELED once, the done channel closes
 *    (a select on it proceeds with ok = 0), again does nothing;
 *  - the tree: cancelling a parent cancels every descendant with its
 *    reason, a child's cancel leaves the parent live, a child of a
 *    cancelled parent is born cancelled;
 *  - deadlines: a timeout cancels with -ETIMEDOUT no earlier than asked; a
 *    child's deadline is the earlier of its own and its parent's; one
 *    already past is born timed out;
 *  - one cancel wakes 1,000 goroutines selecting on the done channel;
 *  - memory: parents freed before children, a context freed while its
 *    timer is armed (the sanitizers watch), concurrent makes, cancels and
 *    frees on a shared parent;
 *  - attached contexts (rg_ctx_attach, rg_go_ctx): a blocked receive,
 *    send, select and sleep end with the context's err when it is
 *    cancelled or its deadline passes, and fail at once once it is; a
 *    cancelled send did not send (the value is not in the channel);
 *    operations that complete first are untouched; detaching restores
 *    plain behaviour; a race of cancels with sends delivers every value
 *    exactly once (sent and received, or reported as not sent);
 *  - the waits beyond channels (a socket's recv, accept, a pipe's read,
 *    rg_poll, an open of a FIFO, WaitGroup, weighted semaphore, Cond) end
 *    with the context's err when it is cancelled, when its deadline
 *    passes and at once when it already was, on both backends, and leave
 *    nothing behind: no byte read, no connection taken, no token granted,
 *    no WaitGroup waiter counted, no Cond signal swallowed;
 *  - deadlines that fall as those waits complete: a byte stream read under
 *    random short timeouts arrives whole and in order, a semaphore shared
 *    under them never exceeds its capacity and gets every token back, a
 *    WaitGroup whose waiters time out as it reaches zero stays usable;
 *  - a context freed while a goroutine waits under it ends the wait, and
 *    stays readable, cancelled, until the goroutine ends;
 *  - a plain thread makes contexts with deadlines while the runtime runs;
 *  - misuse: no runtime (NULL), a NULL context (fatal, naming the call).
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/helpers.h"

#define MS 1000000LL

/* Whether ctx's done channel is closed, without waiting. */
static bool is_done(rg_ctx *ctx)
{
	char v;
	rg_case rc = { .chan = rg_ctx_done(ctx), .op = RG_RECV, .elem = &v };

	return rg_select(&rc, 1, 0) == 0 && rc.ok == 0;
}

/* Wait for ctx's done channel; false if it did not close within 10 s. */
static bool wait_done(rg_ctx *ctx)
{
	char v;
	rg_case rc = { .chan = rg_ctx_done(ctx), .op = RG_RECV, .elem = &v };

	return rg_select(&rc, 1, 10000 * MS) == 0 && rc.ok == 0;
}

static void cancel_main(void *arg)
{
	rg_ctx *p, *c, *g, *c2, *late;

	(void)arg;
	p = rg_ctx_with_cancel(NULL);
	GCHECK(p != NULL);
	GCHECK_EQ(rg_ctx_err(p), 0);
	GCHECK(!is_done(p));
	GCHECK_EQ(rg_ctx_deadline(p), 0);
	c = rg_ctx_with_cancel(p);
	g = rg_ctx_with_cancel(c);
	c2 = rg_ctx_with_cancel(p);
	/* A child's cancel leaves its parent and sibling live. */
	rg_ctx_cancel(c2);
	GCHECK_EQ(rg_ctx_err(c2), -ECANCELED);
	GCHECK(is_done(c2));
	GCHECK_EQ(rg_ctx_err(p), 0);
	GCHECK_EQ(rg_ctx_err(c), 0);
	/* The parent's cancel reaches every descendant. */
	rg_ctx_cancel(p);
	GCHECK_EQ(rg_ctx_err(p), -ECANCELED);
	GCHECK_EQ(rg_ctx_err(c), -ECANCELED);
	GCHECK_EQ(rg_ctx_err(g), -ECANCELED);
	GCHECK(is_done(g));
	rg_ctx_cancel(p); /* again: nothing */
	GCHECK_EQ(rg_ctx_err(p), -ECANCELED);
	/* Born cancelled. */
	late = rg_ctx_with_cancel(g);
	GCHECK_EQ(rg_ctx_err(late), -ECANCELED);
	GCHECK(is_done(late));
	/* Parents first: the children stay readable until freed. */
	rg_ctx_free(p);
	rg_ctx_free(c);
	GCHECK_EQ(rg_ctx_err(g), -ECANCELED);
	rg_ctx_free(late);
	rg_ctx_free(g);
	rg_ctx_free(c2);
	rg_ctx_free(NULL);
}

static void test_cancel(void **state)
{
	(void)state;
	RUN_FOR_PROCS(cancel_main, NULL, 1, 2);
}

static void deadline_main(void *arg)
{
	rg_ctx *t, *child, *longer, *past, *p, *c;
	int64_t t0 = rg_now_ns();

	(void)arg;
	t = rg_ctx_with_timeout(NULL, 20 * MS);
	GCHECK(rg_ctx_deadline(t) >= t0 + 20 * MS);
	child = rg_ctx_with_timeout(t, 10000 * MS);
	longer = rg_ctx_with_deadline(t, rg_now_ns() + 60000 * MS);
	/* The parent's earlier deadline is the children's. */
	GCHECK_EQ(rg_ctx_deadline(child), rg_ctx_deadline(t));
	GCHECK_EQ(rg_ctx_deadline(longer), rg_ctx_deadline(t));
	GCHECK(wait_done(t));
	GCHECK(rg_now_ns() - t0 >= 20 * MS);
	GCHECK_EQ(rg_ctx_err(t), -ETIMEDOUT);
	GCHECK(wait_done(child));
	GCHECK_EQ(rg_ctx_err(child), -ETIMEDOUT);
	GCHECK_EQ(rg_ctx_err(longer), -ETIMEDOUT);
	/* Past: born timed out. */
	past = rg_ctx_with_deadline(NULL, rg_now_ns() - 1);
	GCHECK_EQ(rg_ctx_err(past), -ETIMEDOUT);
	GCHECK(is_done(past));
	/* A cancel before the deadline wins: -ECANCELED, and the timer that
	 * is still armed goes with the free. */
	p = rg_ctx_with_timeout(NULL, 30 * MS);
	c = rg_ctx_with_cancel(p);
	rg_ctx_cancel(p);
	GCHECK_EQ(rg_ctx_err(c), -ECANCELED);
	rg_sleep_ns(40 * MS);
	GCHECK_EQ(rg_ctx_err(p), -ECANCELED);
	rg_ctx_free(c);
	rg_ctx_free(p);
	/* Freed with its timer armed: nothing fires into freed memory. */
	for (int i = 0; i < 100; i++)
		rg_ctx_free(rg_ctx_with_timeout(NULL, (i % 5) * MS));
	rg_sleep_ns(10 * MS);
	rg_ctx_free(longer);
	rg_ctx_free(child);
	rg_ctx_free(t);
	rg_ctx_free(past);
}

static void test_deadline(void **state)
{
	(void)state;
	RUN_FOR_PROCS(deadline_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* Fan-out; concurrency                                                  */
/* --------------------------------------------------------------------- */

#define WAITERS TEST_SCALE(1000, 200)

struct fan {
	rg_ctx *ctx;
	rg_chan *never;
	atomic_int waiting, woken;
	rg_wg wg;
};

static void fan_waiter(void *arg)
{
	struct fan *f = arg;
	char v;
	int x;
	rg_case cs[2] = {
		{ .chan = f->never, .op = RG_RECV, .elem = &x },
		{ .chan = rg_ctx_done(f->ctx), .op = RG_RECV, .elem = &v },
	};

	atomic_fetch_add(&f->waiting, 1);
	if (rg_select(cs, 2, -1) == 1 && cs[1].ok == 0 && rg_ctx_err(f->ctx) == -ECANCELED)
		atomic_fetch_add(&f->woken, 1);
	rg_wg_done(&f->wg);
}

static void fan_main(void *arg)
{
	struct fan f = { 0 };

	(void)arg;
	f.ctx = rg_ctx_with_cancel(NULL);
	f.never = rg_chan_make(sizeof(int), 0);
	rg_wg_add(&f.wg, WAITERS);
	for (int i = 0; i < WAITERS; i++)
		GCHECK_EQ(rg_go(fan_waiter, &f), 0);
	while (atomic_load(&f.waiting) < WAITERS)
		rg_sleep_ns(MS);
	rg_sleep_ns(2 * MS);
	rg_ctx_cancel(f.ctx);
	rg_wg_wait(&f.wg);
	GCHECK_EQ(atomic_load(&f.woken), WAITERS);
	rg_ctx_free(f.ctx);
	rg_chan_free(f.never);
}

static void test_fan_out(void **state)
{
	(void)state;
	RUN_FOR_PROCS(fan_main, NULL, 1, 2);
}

struct churn {
	rg_ctx *root;
	rg_wg wg;
};

/* Children of a shared root made, cancelled, given deadlines, freed. */
static void churner(void *arg)
{
	struct churn *ch = arg;

	for (int i = 0; i < TEST_SCALE(2000, 300); i++) {
		rg_ctx *c = i % 3 ? rg_ctx_with_cancel(ch->root) :
				    rg_ctx_with_timeout(ch->root, (i % 7) * 100000);
		rg_ctx *g = rg_ctx_with_cancel(c);

		GCHECK(c && g);
		if (i % 2)
			rg_ctx_cancel(c);
		if (i % 4 == 0)
			rg_yield();
		if (i % 5) {
			rg_ctx_free(g);
			rg_ctx_free(c);
		} else {
			rg_ctx_free(c);
			rg_ctx_free(g);
		}
	}
	rg_wg_done(&ch->wg);
}

static void churn_main(void *arg)
{
	struct churn ch = { 0 };

	(void)arg;
	ch.root = rg_ctx_with_cancel(NULL);
	rg_wg_add(&ch.wg, 4);
	for (int i = 0; i < 4; i++)
		GCHECK_EQ(rg_go(churner, &ch), 0);
	rg_wg_wait(&ch.wg);
	GCHECK_EQ(rg_ctx_err(ch.root), 0);
	rg_ctx_free(ch.root);
}

static void test_churn(void **state)
{
	(void)state;
	RUN_FOR_PROCS(churn_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* Attached contexts                                                     */
/* --------------------------------------------------------------------- */

enum blocked_op {
	B_RECV,
	B_SEND,
	B_SELECT,
	B_SLEEP,
	/* The waits a context ends through its registration (struct
	 * waits): a socket's recv, an accept, a pipe's read, rg_poll, an
	 * open of a FIFO nobody opens (a request with no descriptor), a
	 * WaitGroup, a weighted semaphore, a Cond. */
	B_IO_RECV,
	B_IO_ACCEPT,
	B_IO_READ,
	B_IO_POLL,
	B_IO_OPEN,
	B_WG,
	B_SEMA,
	B_COND,
};

struct waits {
	int sp[2];     /* a socket pair: recv waits on sp[0] */
	int lfd;       /* a listening socket nobody connects to */
	int pfd[2];    /* a pipe: read waits on pfd[0] */
	char fifo[64]; /* a FIFO nobody opens for writing */
	rg_wg wg;      /* counter 1 until the end */
	rg_sema sema;  /* capacity 1, held by the test */
	rg_cond cond;
	rg_mutex mu;
};

struct blocked {
	rg_ctx *ctx;
	rg_chan *c;
	struct waits *w;
	enum blocked_op op;
	atomic_int started;
	int result;
	rg_wg wg;
};

static void blocked_main(void *arg)
{
	struct blocked *b = arg;
	int v = 42;
	rg_case cs[2] = {
		{ .chan = b->c, .op = RG_RECV, .elem = &v },
		{ .chan = NULL, .op = RG_RECV, .elem = &v },
	};

	atomic_store(&b->started, 1);
	switch (b->op) {
	case B_RECV:
		b->result = rg_chan_recv(b->c, &v);
		break;
	case B_SEND:
		b->result = rg_chan_send(b->c, &v);
		break;
	case B_SELECT:
		b->result = rg_select(cs, 2, -1);
		break;
	case B_SLEEP:
		b->result = rg_sleep_ns(60000 * MS);
		break;
	case B_IO_RECV: {
		char byte;

		b->result = (int)rg_recv(b->w->sp[0], &byte, 1, 0);
		break;
	}
	case B_IO_ACCEPT:
		b->result = rg_accept(b->w->lfd, NULL, NULL);
		break;
	case B_IO_READ: {
		char byte;

		b->result = (int)rg_read(b->w->pfd[0], &byte, 1);
		break;
	}
	case B_IO_POLL:
		b->result = rg_poll(b->w->pfd[0], POLLIN, -1);
		break;
	case B_IO_OPEN:
		b->result = rg_open(b->w->fifo, O_RDONLY, 0);
		break;
	case B_WG:
		b->result = rg_wg_wait(&b->w->wg);
		break;
	case B_SEMA:
		b->result = rg_sema_acquire(&b->w->sema, 1);
		break;
	case B_COND:
		rg_mutex_lock(&b->w->mu);
		b->result = rg_cond_wait(&b->w->cond, &b->w->mu);
		rg_mutex_unlock(&b->w->mu);
		break;
	}
	rg_wg_done(&b->wg);
}

/* Start op under ctx, let it block, end ctx with cancel (or wait for its
 * deadline), and return what op returned. */
static int block_then_end_w(enum blocked_op op, rg_chan *c, struct waits *w, rg_ctx *ctx,
			    bool cancel)
{
	struct blocked b = { .ctx = ctx, .c = c, .w = w, .op = op };

	rg_wg_add(&b.wg, 1);
	GCHECK_EQ(rg_go_ctx(ctx, blocked_main, &b), 0);
	while (!atomic_load(&b.started))
		rg_sleep_ns(MS);
	rg_sleep_ns(5 * MS);
	if (cancel)
		rg_ctx_cancel(ctx);
	rg_wg_wait(&b.wg);
	return b.result;
}

static int block_then_end(enum blocked_op op, rg_chan *c, rg_ctx *ctx, bool cancel)
{
	return block_then_end_w(op, c, NULL, ctx, cancel);
}

static void attach_main(void *arg)
{
	static const enum blocked_op ops[] = { B_RECV, B_SEND, B_SELECT, B_SLEEP };
	rg_chan *c = rg_chan_make(sizeof(int), 0);
	int v = 0;

	(void)arg;
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
		rg_ctx *ctx = rg_ctx_with_cancel(NULL), *t = rg_ctx_with_timeout(NULL, 20 * MS);

		GCHECK_EQ(block_then_end(ops[i], c, ctx, true), -ECANCELED);
		GCHECK_EQ(block_then_end(ops[i], c, t, false), -ETIMEDOUT);
		rg_ctx_free(ctx);
		rg_ctx_free(t);
	}
	/* The cancelled send did not send: nothing waits in c. */
	GCHECK_EQ(rg_chan_try_recv(c, &v), -EAGAIN);
	{
		rg_ctx *ctx = rg_ctx_with_cancel(NULL), *old;
		rg_chan *buf = rg_chan_make(sizeof(int), 1);
		rg_case cs = { .chan = buf, .op = RG_RECV, .elem = &v };

		old = rg_ctx_attach(ctx);
		GCHECK(old == NULL);
		/* Live: operations that can complete do. */
		GCHECK_EQ(rg_chan_send(buf, &v), 0);
		GCHECK_EQ(rg_select(&cs, 1, -1), 0);
		GCHECK_EQ(cs.ok, 1);
		GCHECK_EQ(rg_sleep_ns(MS), 0);
		/* Cancelled: everything fails at once, nothing happens. */
		rg_ctx_cancel(ctx);
		GCHECK_EQ(rg_chan_send(buf, &v), -ECANCELED);
		GCHECK_EQ(rg_chan_len(buf), 0u);
		GCHECK_EQ(rg_chan_recv(buf, &v), -ECANCELED);
		GCHECK_EQ(rg_sleep_ns(MS), -ECANCELED);
		GCHECK_EQ(rg_select(&cs, 1, 0), -ECANCELED);
		/* Non-blocking calls do not look at it. */
		GCHECK_EQ(rg_chan_try_send(buf, &v), 0);
		/* Detached: plain again. */
		GCHECK(rg_ctx_attach(NULL) == ctx);
		GCHECK_EQ(rg_chan_recv(buf, &v), 1);
		GCHECK_EQ(rg_sleep_ns(MS), 0);
		rg_ctx_free(ctx);
		rg_chan_free(buf);
	}
	rg_chan_free(c);
}

static void test_attached(void **state)
{
	(void)state;
	RUN_FOR_PROCS(attach_main, NULL, 1, 2);
}

struct cond_waiter {
	struct waits *w;
	rg_chan *woke;
};

static void plain_cond_waiter(void *arg)
{
	struct cond_waiter *cw = arg;
	int one = 1;

	rg_mutex_lock(&cw->w->mu);
	GCHECK_EQ(rg_cond_wait(&cw->w->cond, &cw->w->mu), 0);
	rg_mutex_unlock(&cw->w->mu);
	GCHECK_EQ(rg_chan_send(cw->woke, &one), 0);
}

/* The waits beyond channels end with the context's err, when it is
 * cancelled, when its deadline passes, and at once when it already was;
 * and each leaves nothing behind: no byte read, no connection taken, no
 * token granted, no waiter counted, no Cond signal swallowed. */
static void waits_main(void *arg)
{
	static const enum blocked_op ops[] = { B_IO_RECV, B_IO_ACCEPT, B_IO_READ, B_IO_POLL,
					       B_IO_OPEN, B_WG,	       B_SEMA,	  B_COND };
	struct waits w;
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t salen = sizeof(sa);
	struct cond_waiter cw;
	char byte = 0;
	int v, cfd;

	(void)arg;
	memset(&w, 0, sizeof(w));
	GCHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, w.sp), 0);
	w.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	GCHECK(w.lfd >= 0);
	GCHECK_EQ(bind(w.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	GCHECK_EQ(listen(w.lfd, 8), 0);
	GCHECK_EQ(getsockname(w.lfd, (struct sockaddr *)&sa, &salen), 0);
	GCHECK_EQ(pipe2(w.pfd, O_CLOEXEC), 0);
	snprintf(w.fifo, sizeof(w.fifo), "/tmp/ringo-test-ctx-%d-%d", (int)getpid(),
		 rg_gomaxprocs(0));
	unlink(w.fifo);
	GCHECK_EQ(mkfifo(w.fifo, 0600), 0);
	rg_wg_add(&w.wg, 1);
	rg_sema_init(&w.sema, 1);
	GCHECK_EQ(rg_sema_acquire(&w.sema, 1), 0);

	for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
		rg_ctx *ctx = rg_ctx_with_cancel(NULL), *t = rg_ctx_with_timeout(NULL, 20 * MS);
		rg_ctx *dead = rg_ctx_with_cancel(NULL);

		rg_ctx_cancel(dead);
		GCHECK_EQ(block_then_end_w(ops[i], NULL, &w, ctx, true), -ECANCELED);
		GCHECK_EQ(block_then_end_w(ops[i], NULL, &w, t, false), -ETIMEDOUT);
		GCHECK_EQ(block_then_end_w(ops[i], NULL, &w, dead, false), -ECANCELED);
		rg_ctx_free(ctx);
		rg_ctx_free(t);
		rg_ctx_free(dead);
	}

	/* Nothing was consumed: what comes now goes to plain callers. */
	GCHECK_EQ(rg_write(w.sp[1], "s", 1), 1);
	GCHECK_EQ(rg_recv(w.sp[0], &byte, 1, 0), 1);
	GCHECK_EQ(byte, 's');
	GCHECK_EQ(rg_write(w.pfd[1], "p", 1), 1);
	GCHECK_EQ(rg_poll(w.pfd[0], POLLIN, 10000 * MS), POLLIN);
	GCHECK_EQ(rg_read(w.pfd[0], &byte, 1), 1);
	GCHECK_EQ(byte, 'p');
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	GCHECK_EQ(rg_connect(cfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	v = rg_accept(w.lfd, NULL, NULL);
	GCHECK(v >= 0);
	rg_close(v);
	rg_close(cfd);
	/* The WaitGroup counts no cancelled waiter: its wait ends at zero. */
	rg_wg_done(&w.wg);
	GCHECK_EQ(rg_wg_wait(&w.wg), 0);
	rg_wg_add(&w.wg, 1); /* reusable */
	rg_wg_done(&w.wg);
	/* The semaphore granted nothing to a cancelled waiter. */
	rg_sema_release(&w.sema, 1);
	GCHECK_EQ(rg_sema_try_acquire(&w.sema, 1), 0);
	rg_sema_release(&w.sema, 1);
	/* Two cancelled Cond waiters left their tickets: one signal still
	 * wakes the waiter behind them. */
	cw = (struct cond_waiter){ &w, rg_chan_make(sizeof(int), 1) };
	GCHECK_EQ(rg_go(plain_cond_waiter, &cw), 0);
	rg_sleep_ns(5 * MS);
	rg_mutex_lock(&w.mu);
	rg_cond_signal(&w.cond);
	rg_mutex_unlock(&w.mu);
	{
		rg_case rc = { .chan = cw.woke, .op = RG_RECV, .elem = &v };

		GCHECK_EQ(rg_select(&rc, 1, 10000 * MS), 0);
	}
	rg_chan_free(cw.woke);
	rg_close(w.sp[0]);
	rg_close(w.sp[1]);
	rg_close(w.lfd);
	rg_close(w.pfd[0]);
	rg_close(w.pfd[1]);
	unlink(w.fifo);
}

/* A context freed while a goroutine waits under it: the wait ends with
 * -ECANCELED, later calls fail the same way (the context stays readable
 * until the goroutine ends), and the memory goes with the goroutine (the
 * sanitizers watch). */
struct freed_arg {
	int fd;
	atomic_int stage;
	int r1, r2;
	rg_wg wg;
};

static void freed_waiter(void *arg)
{
	struct freed_arg *fa = arg;
	char b;

	atomic_store(&fa->stage, 1);
	fa->r1 = (int)rg_recv(fa->fd, &b, 1, 0);
	fa->r2 = rg_sleep_ns(MS);
	rg_wg_done(&fa->wg);
}

static void freed_main(void *arg)
{
	int sp[2];
	rg_ctx *ctx = rg_ctx_with_cancel(NULL);
	struct freed_arg fa = { 0 };

	(void)arg;
	GCHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	fa.fd = sp[0];
	rg_wg_add(&fa.wg, 1);
	GCHECK_EQ(rg_go_ctx(ctx, freed_waiter, &fa), 0);
	while (!atomic_load(&fa.stage))
		rg_sleep_ns(MS);
	rg_sleep_ns(5 * MS);
	rg_ctx_free(ctx);
	GCHECK_EQ(rg_wg_wait(&fa.wg), 0);
	GCHECK_EQ(fa.r1, -ECANCELED);
	GCHECK_EQ(fa.r2, -ECANCELED);
	rg_close(sp[0]);
	rg_close(sp[1]);
}

static void test_freed_while_attached(void **state)
{
	(void)state;
	RUN_FOR_PROCS(freed_main, NULL, 1, 2);
}

static void test_waits(void **state)
{
	(void)state;
	RUN_FOR_PROCS(waits_main, NULL, 1, 2);
}

/* Deadlines that fall as the waits complete: each wait has one outcome
 * and nothing is lost.  A reader under a short random timeout takes
 * bytes as a writer sends them (the stream arrives whole and in order);
 * acquirers under short timeouts share a semaphore (it never hands out
 * more than its capacity, and every token comes back); waiters time out
 * as a WaitGroup reaches zero (it stays usable). */
#define WRACE_BYTES  TEST_SCALE(20000, 4000)
#define WRACE_ACQ    TEST_SCALE(2000, 400)
#define WRACE_ACQERS 8

struct wrace {
	int sp[2];
	rg_sema sema;
	atomic_int held, granted, timedout;
	rg_wg wg;
	unsigned seed;
};

static int64_t wrace_timeout(unsigned *seed)
{
	return 1000 + (int64_t)(rand_r(seed) % 60000); /* 1-61 us */
}

static void wrace_writer(void *arg)
{
	struct wrace *wr = arg;
	unsigned seed = wr->seed;

	for (int i = 0; i < WRACE_BYTES; i++) {
		char b = (char)(i % 251);

		GCHECK_EQ(rg_write(wr->sp[1], &b, 1), 1);
		if (rand_r(&seed) % 4 == 0)
			rg_sleep_ns(wrace_timeout(&seed) / 4);
	}
	rg_wg_done(&wr->wg);
}

static void wrace_acquirer(void *arg)
{
	struct wrace *wr = arg;
	unsigned seed = (unsigned)(uintptr_t)&seed;

	for (int i = 0; i < WRACE_ACQ; i++) {
		rg_ctx *t = rg_ctx_with_timeout(NULL, wrace_timeout(&seed));
		rg_ctx *old = rg_ctx_attach(t);
		int r = rg_sema_acquire(&wr->sema, 1);

		rg_ctx_attach(old);
		rg_ctx_free(t);
		if (r == 0) {
			GCHECK(atomic_fetch_add(&wr->held, 1) < 2);
			atomic_fetch_add(&wr->granted, 1);
			if (rand_r(&seed) % 2)
				rg_yield();
			atomic_fetch_sub(&wr->held, 1);
			rg_sema_release(&wr->sema, 1);
		} else {
			GCHECK_EQ(r, -ETIMEDOUT);
			atomic_fetch_add(&wr->timedout, 1);
		}
	}
	rg_wg_done(&wr->wg);
}

struct wrace_wg {
	rg_wg wg, done;
};

static void wrace_wg_waiter(void *arg)
{
	struct wrace_wg *ww = arg;
	int r = rg_wg_wait(&ww->wg);

	GCHECK(r == 0 || r == -ETIMEDOUT);
	rg_wg_done(&ww->done);
}

static void wrace_main(void *arg)
{
	struct wrace wr;
	unsigned seed = 12345;
	int got = 0;

	(void)arg;
	memset(&wr, 0, sizeof(wr));
	wr.seed = seed;
	GCHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, wr.sp), 0);
	rg_sema_init(&wr.sema, 2);
	rg_wg_add(&wr.wg, 1 + WRACE_ACQERS);
	GCHECK_EQ(rg_go(wrace_writer, &wr), 0);
	for (int i = 0; i < WRACE_ACQERS; i++)
		GCHECK_EQ(rg_go(wrace_acquirer, &wr), 0);

	/* The reader: this goroutine, each recv under its own timeout. */
	while (got < WRACE_BYTES) {
		char buf[64];
		rg_ctx *t = rg_ctx_with_timeout(NULL, wrace_timeout(&seed));
		rg_ctx *old = rg_ctx_attach(t);
		ssize_t n = rg_recv(wr.sp[0], buf, sizeof(buf), 0);

		rg_ctx_attach(old);
		rg_ctx_free(t);
		if (n == -ETIMEDOUT)
			continue;
		GCHECK(n > 0);
		if (n <= 0)
			break;
		for (ssize_t k = 0; k < n; k++, got++)
			if (buf[k] != (char)(got % 251)) {
				gcheck_fail("byte %d: %d", got, buf[k]);
				got = WRACE_BYTES;
				break;
			}
	}
	rg_wg_wait(&wr.wg);
	GCHECK_EQ(atomic_load(&wr.granted) + atomic_load(&wr.timedout), WRACE_ACQERS * WRACE_ACQ);
	GCHECK_EQ(rg_sema_try_acquire(&wr.sema, 2), 0); /* every token came back */
	rg_sema_release(&wr.sema, 2);

	/* WaitGroup: waiters time out as the counter reaches zero. */
	for (int round = 0; round < TEST_SCALE(200, 40); round++) {
		struct wrace_wg ww = { 0 };
		rg_ctx *t = rg_ctx_with_timeout(NULL, wrace_timeout(&seed));

		rg_wg_add(&ww.wg, 1);
		rg_wg_add(&ww.done, 4);
		for (int i = 0; i < 4; i++)
			GCHECK_EQ(rg_go_ctx(t, wrace_wg_waiter, &ww), 0);
		rg_sleep_ns(wrace_timeout(&seed));
		rg_wg_done(&ww.wg);
		GCHECK_EQ(rg_wg_wait(&ww.done), 0);
		/* Reusable: a waiter count left behind would make this wait
		 * block or throw. */
		rg_wg_add(&ww.wg, 1);
		rg_wg_done(&ww.wg);
		GCHECK_EQ(rg_wg_wait(&ww.wg), 0);
		rg_ctx_free(t);
	}
	rg_close(wr.sp[0]);
	rg_close(wr.sp[1]);
}

static void test_wait_race(void **state)
{
	(void)state;
	RUN_FOR_PROCS(wrace_main, NULL, 1, 2);
}

/* Senders under contexts cancelled at random moments, one receiver: each
 * value is either received once or reported as not sent. */
#define RACE_SENDERS 16
#define RACE_VALUES  TEST_SCALE(300, 60)

struct race {
	rg_chan *c;
	rg_ctx *ctx[RACE_SENDERS];
	atomic_int sent, unsent;
	rg_wg wg;
};

struct race_arg {
	struct race *rc;
	int id;
};

static void race_sender(void *arg)
{
	struct race_arg *ra = arg;
	struct race *rc = ra->rc;

	for (int i = 0; i < RACE_VALUES; i++) {
		int v = ra->id * RACE_VALUES + i;
		int r = rg_chan_send(rc->c, &v);

		if (r == 0)
			atomic_fetch_add(&rc->sent, 1);
		else if (r == -ECANCELED)
			atomic_fetch_add(&rc->unsent, 1);
		else
			gcheck_fail("send: %d", r);
	}
	rg_wg_done(&rc->wg);
}

static void race_main(void *arg)
{
	static struct race_arg ra[RACE_SENDERS];
	static unsigned char seen[RACE_SENDERS * RACE_VALUES];
	struct race rc = { 0 };
	int received = 0, v;

	(void)arg;
	memset(seen, 0, sizeof(seen));
	rc.c = rg_chan_make(sizeof(int), 4);
	rg_wg_add(&rc.wg, RACE_SENDERS);
	for (int i = 0; i < RACE_SENDERS; i++) {
		rc.ctx[i] = rg_ctx_with_cancel(NULL);
		ra[i] = (struct race_arg){ &rc, i };
		GCHECK_EQ(rg_go_ctx(rc.ctx[i], race_sender, &ra[i]), 0);
	}
	/* Receive for a while, cancelling a sender now and then. */
	for (int k = 0;
	     atomic_load(&rc.sent) + atomic_load(&rc.unsent) < RACE_SENDERS * RACE_VALUES ||
	     rg_chan_len(rc.c) > 0;
	     k++) {
		if (k % 97 == 0 && k / 97 < RACE_SENDERS)
			rg_ctx_cancel(rc.ctx[k / 97]);
		if (rg_chan_try_recv(rc.c, &v) == 1) {
			GCHECK(v >= 0 && v < RACE_SENDERS * RACE_VALUES);
			GCHECK_EQ(seen[v]++, 0);
			received++;
		} else {
			rg_yield();
		}
		if (k > 10000000)
			break;
	}
	rg_wg_wait(&rc.wg);
	while (rg_chan_try_recv(rc.c, &v) == 1) {
		GCHECK_EQ(seen[v]++, 0);
		received++;
	}
	GCHECK_EQ(received, atomic_load(&rc.sent));
	GCHECK_EQ(atomic_load(&rc.sent) + atomic_load(&rc.unsent), RACE_SENDERS * RACE_VALUES);
	for (int i = 0; i < RACE_SENDERS; i++)
		rg_ctx_free(rc.ctx[i]);
	rg_chan_free(rc.c);
}

static void test_cancel_race(void **state)
{
	(void)state;
	RUN_FOR_PROCS(race_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* A plain thread; misuse                                                */
/* --------------------------------------------------------------------- */

static void *plain_thread(void *arg)
{
	rg_ctx *t = rg_ctx_with_timeout(NULL, 10 * MS);
	int64_t until = now_ns() + 10000 * MS;

	(void)arg;
	if (!t)
		return (void *)1;
	while (rg_ctx_err(t) == 0 && now_ns() < until)
		usleep(1000);
	if (rg_ctx_err(t) != -ETIMEDOUT)
		return (void *)2;
	rg_ctx_free(t);
	return NULL;
}

static void plain_main(void *arg)
{
	pthread_t th;
	void *ret = (void *)-1;

	(void)arg;
	GCHECK_EQ(pthread_create(&th, NULL, plain_thread, NULL), 0);
	/* The runtime keeps running while the thread waits: sleep here. */
	rg_sleep_ns(50 * MS);
	rg_syscall_enter();
	GCHECK_EQ(pthread_join(th, &ret), 0);
	rg_syscall_exit();
	GCHECK(ret == NULL);
}

static void test_plain_thread(void **state)
{
	(void)state;
	assert_null(rg_ctx_with_cancel(NULL)); /* no runtime */
	RUN_IN_RUNTIME(2, plain_main, NULL);
}

static void null_main(void *arg)
{
	(void)arg;
	rg_ctx_cancel(NULL);
}

static int child_null(void)
{
	return run_child_main(1, null_main);
}

static const struct child_case child_cases[] = {
	{ "null", child_null },
};

static void test_null_is_fatal(void **state)
{
	struct child_result r;

	(void)state;
	assert_int_equal(child_run("null", NULL, &r), 0);
	assert_true(r.exited && r.exit_code == 2);
	assert_has(r.err, "fatal error: rg_ctx_cancel: NULL context");
	child_result_free(&r);
}

int main(int argc, char **argv)
{
	int rc = child_dispatch(argc, argv, child_cases, ARRAY_SIZE(child_cases));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_fan_out),
		cmocka_unit_test(test_churn),
		cmocka_unit_test(test_attached),
		cmocka_unit_test(test_waits),
		cmocka_unit_test(test_wait_race),
		cmocka_unit_test(test_cancel_race),
		cmocka_unit_test(test_freed_while_attached),
		cmocka_unit_test(test_plain_thread),
		cmocka_unit_test(test_null_is_fatal),
	};

	if (rc >= 0)
		return rc;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
