/* SPDX-License-Identifier: MIT */
/*
 * test_io_net - the I/O calls on sockets and pipes (rg_accept, rg_connect,
 * rg_recv, rg_send, rg_read, rg_write, rg_close) do what the plain calls
 * do, from goroutines at one P and at several:
 *
 *  - an echo server and its clients in one runtime, many connections;
 *  - large transfers in short pieces, short reads returned as such, the
 *    recv flags MSG_PEEK, MSG_WAITALL and MSG_DONTWAIT;
 *  - end of file, a reset from the peer, bad descriptors and other errors
 *    passed through as -errno, and -EPIPE without SIGPIPE;
 *  - an accept storm, a refused connect, blocking and non-blocking
 *    descriptors (neither switched to the other, but for what the epoll
 *    backend documents), descriptor numbers used again.
 */
#include "tests/io_helpers.h"

/* --------------------------------------------------------------------- */
/* Echo: many connections, server and clients in one runtime             */
/* --------------------------------------------------------------------- */

static void test_echo(void **state)
{
	(void)state;
	RUN_FOR_PROCS(echo_main, NULL, 1, 2, 4);
}

/* --------------------------------------------------------------------- */
/* Large transfers in pieces; short reads                                */
/* --------------------------------------------------------------------- */

#define BIG_LEN ((size_t)TEST_SCALE(4 * MiB, 1 * MiB))

struct big_ctx {
	int wfd, rfd;
	bool use_rw; /* rg_read/rg_write instead of rg_recv/rg_send */
	unsigned char *data;
	atomic_long short_writes;
	rg_wg done;
};

static void big_writer(void *arg)
{
	struct big_ctx *bc = arg;
	size_t off = 0;

	/* One call for all that is left: short counts come back as such. */
	while (off < BIG_LEN) {
		ssize_t n = bc->use_rw ? rg_write(bc->wfd, bc->data + off, BIG_LEN - off) :
					 rg_send(bc->wfd, bc->data + off, BIG_LEN - off, 0);

		if (n <= 0) {
			gcheck_fail("writing at %zu: %zd", off, n);
			break;
		}
		if ((size_t)n < BIG_LEN - off)
			atomic_fetch_add(&bc->short_writes, 1);
		off += (size_t)n;
	}
	rg_wg_done(&bc->done);
}

static void big_reader(void *arg)
{
	static const size_t sizes[] = { 1, 7, 100, 1000, 4096, 3, 65536, 4095 };
	struct big_ctx *bc = arg;
	unsigned char *buf = malloc(65536);
	size_t off = 0;
	int k = 0;

	while (buf && off < BIG_LEN) {
		size_t want = sizes[k++ % ARRAY_SIZE(sizes)];
		ssize_t n;
		long d;

		if (want > BIG_LEN - off)
			want = BIG_LEN - off;
		n = bc->use_rw ? rg_read(bc->rfd, buf, want) : rg_recv(bc->rfd, buf, want, 0);
		if (n <= 0 || (size_t)n > want) {
			gcheck_fail("reading %zu at %zu: %zd", want, off, n);
			break;
		}
		d = pat_diff(buf, (size_t)n, 1, off);
		if (d >= 0) {
			gcheck_fail("byte %ld differs", d);
			break;
		}
		off += (size_t)n;
	}
	GCHECK_EQ(off, BIG_LEN);
	free(buf);
	rg_wg_done(&bc->done);
}

/* Pipes use rg_read/rg_write, sockets rg_recv/rg_send. */
static void big_transfer(int rfd, int wfd, bool is_pipe, void *data)
{
	struct big_ctx bc = { .wfd = wfd, .rfd = rfd, .use_rw = is_pipe, .data = data };

	rg_wg_add(&bc.done, 2);
	GCHECK_EQ(rg_go(big_reader, &bc), 0);
	GCHECK_EQ(rg_go(big_writer, &bc), 0);
	rg_wg_wait(&bc.done);
}

static void big_main(void *arg)
{
	over_streams(big_transfer, arg, true);
}

static void test_partial_transfers(void **state)
{
	unsigned char *data = malloc(BIG_LEN);

	(void)state;
	assert_non_null(data);
	pat_fill(data, BIG_LEN, 1, 0);
	RUN_FOR_PROCS(big_main, data, 1, 2);
	free(data);
}
static void short_body(int rfd, int wfd, bool pipe, void *arg)
{
	struct short_ctx sc = { .wfd = wfd, .rfd = rfd, .pipe = pipe, .ack = rg_chan_make(0, 1) };
	char buf[4096], msg[10];
	ssize_t n;
	size_t got = 0;

	(void)arg;
	/* Data there before the call. */
	pat_fill(msg, sizeof(msg), 3, 0);
	GCHECK_EQ(write(wfd, msg, sizeof(msg)), sizeof(msg));
	n = pipe ? rg_read(rfd, buf, sizeof(buf)) : rg_recv(rfd, buf, sizeof(buf), 0);
	GCHECK_EQ(n, sizeof(msg));
	GCHECK(memcmp(buf, msg, sizeof(msg)) == 0);

	/* Data arriving while the call waits: whatever came, at least 1 byte. */
	rg_wg_add(&sc.done, 1);
	GCHECK_EQ(rg_go(short_writer, &sc), 0);
	atomic_store(&sc.reading, 1);
	while (got < 10) {
		n = pipe ? rg_read(rfd, buf + got, sizeof(buf) - got) :
			   rg_recv(rfd, buf + got, sizeof(buf) - got, 0);
		if (n <= 0 || (size_t)n > 10 - got) {
			gcheck_fail("short read returned %zd after %zu bytes", n, got);
			break;
		}
		got += (size_t)n;
	}
	GCHECK_EQ(pat_diff(buf, got, 2, 0), -1);
	GCHECK_EQ(rg_chan_send(sc.ack, NULL), 0);
	rg_wg_wait(&sc.done);
	rg_chan_free(sc.ack);
}

static void short_main(void *arg)
{
	over_streams(short_body, arg, true);
}

static void test_short_reads(void **state)
{
	(void)state;
	RUN_FOR_PROCS(short_main, NULL, 1, 2);
}

/* recv flags mean what they mean to recv(2): MSG_PEEK, MSG_WAITALL, MSG_DONTWAIT. */
struct waitall_ctx {
	int wfd;
	atomic_int reading;
	rg_wg done;
};

static void waitall_writer(void *arg)
{
	struct waitall_ctx *wc = arg;
	char msg[10];

	pat_fill(msg, sizeof(msg), 4, 0);
	GCHECK(wait_count(&wc->reading, 1));
	rg_sleep_ns(5 * MS);
	GCHECK_EQ(rg_send(wc->wfd, msg, 5, 0), 5);
	rg_sleep_ns(10 * MS);
	GCHECK_EQ(rg_send(wc->wfd, msg + 5, 5, 0), 5);
	rg_wg_done(&wc->done);
}

/*
 * A call that must not wait, guarded: should it wait anyway, a byte
 * written to @wfd after SLACK_NS releases it, so that the check fails
 * instead of hanging.
 */
struct rescue {
	int wfd;
	atomic_int done;
	rg_wg wg;
};

static void rescue_fn(void *arg)
{
	struct rescue *rs = arg;
	int64_t until = rg_now_ns() + SLACK_NS;

	while (!atomic_load(&rs->done) && rg_now_ns() < until)
		rg_sleep_ns(MS);
	if (!atomic_load(&rs->done))
		GCHECK_EQ(write(rs->wfd, "!", 1), 1);
	rg_wg_done(&rs->wg);
}

static ssize_t recv_dontwait_guarded(int rfd, int wfd, void *buf, size_t len)
{
	struct rescue rs = { .wfd = wfd };
	ssize_t n;

	rg_wg_add(&rs.wg, 1);
	GCHECK_EQ(rg_go(rescue_fn, &rs), 0);
	n = rg_recv(rfd, buf, len, MSG_DONTWAIT);
	atomic_store(&rs.done, 1);
	rg_wg_wait(&rs.wg);
	return n;
}

static void flags_body(int rfd, int wfd, bool is_pipe, void *arg)
{
	struct waitall_ctx wc = { .wfd = wfd };
	char buf[16];

	(void)is_pipe;
	(void)arg;
	GCHECK_EQ(recv_dontwait_guarded(rfd, wfd, buf, sizeof(buf)), -EAGAIN);
	GCHECK_EQ(write(wfd, "peek!", 5), 5);
	for (int i = 0; i < 2; i++) {
		int64_t until = rg_now_ns() + SLACK_NS;
		ssize_t n;

		/* TCP may hand the bytes over in more than one piece. */
		while ((n = rg_recv(rfd, buf, sizeof(buf), MSG_PEEK)) > 0 && n < 5 &&
		       rg_now_ns() < until)
			rg_sleep_ns(MS);
		GCHECK_EQ(n, 5);
	}
	GCHECK_EQ(recv_all(rfd, buf, 5), 0);
	GCHECK(memcmp(buf, "peek!", 5) == 0);
	GCHECK_EQ(recv_dontwait_guarded(rfd, wfd, buf, sizeof(buf)), -EAGAIN);

	rg_wg_add(&wc.done, 1);
	GCHECK_EQ(rg_go(waitall_writer, &wc), 0);
	atomic_store(&wc.reading, 1);
	GCHECK_EQ(rg_recv(rfd, buf, 10, MSG_WAITALL), 10);
	GCHECK_EQ(pat_diff(buf, 10, 4, 0), -1);
	rg_wg_wait(&wc.done);
}

static void flags_main(void *arg)
{
	over_streams(flags_body, arg, false);
}

static void test_recv_flags(void **state)
{
	(void)state;
	RUN_FOR_PROCS(flags_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* End of file, reset by the peer                                        */
/* --------------------------------------------------------------------- */

struct eof_ctx {
	int fd;
	bool use_read;
	ssize_t got;
	atomic_int started;
	rg_wg done;
};

static void eof_reader(void *arg)
{
	struct eof_ctx *ec = arg;
	char buf[64];

	atomic_store(&ec->started, 1);
	ec->got = ec->use_read ? rg_read(ec->fd, buf, sizeof(buf)) :
				 rg_recv(ec->fd, buf, sizeof(buf), 0);
	rg_wg_done(&ec->done);
}

/* Start a reader on fds[0], let it wait, then end fds[1] by @how. */
static ssize_t eof_while_waiting(int fd, int peer, bool use_read, int how)
{
	struct eof_ctx ec = { .fd = fd, .use_read = use_read };

	rg_wg_add(&ec.done, 1);
	GCHECK_EQ(rg_go(eof_reader, &ec), 0);
	GCHECK(wait_count(&ec.started, 1));
	rg_sleep_ns(2 * MS);
	if (how == SHUT_WR)
		GCHECK_EQ(shutdown(peer, SHUT_WR), 0);
	else
		GCHECK_EQ(rg_close(peer), 0);
	rg_wg_wait(&ec.done);
	return ec.got;
}

static void eof_main(void *arg)
{
	char buf[16];
	int fds[2];

	(void)arg;
	/* Peer closed before the call; again and again. */
	GCHECK_EQ(unix_pair(fds, 0), 0);
	GCHECK_EQ(rg_close(fds[1]), 0);
	for (int i = 0; i < 3; i++)
		GCHECK_EQ(rg_recv(fds[0], buf, sizeof(buf), 0), 0);
	GCHECK_EQ(rg_close(fds[0]), 0);

	/* Data, then the close: the data first, then 0. */
	GCHECK_EQ(tcp_pair(fds), 0);
	GCHECK_EQ(rg_send(fds[1], "abc", 3, 0), 3);
	GCHECK_EQ(rg_close(fds[1]), 0);
	GCHECK_EQ(recv_all(fds[0], buf, 3), 0);
	GCHECK(memcmp(buf, "abc", 3) == 0);
	GCHECK_EQ(rg_recv(fds[0], buf, sizeof(buf), 0), 0);
	GCHECK_EQ(rg_close(fds[0]), 0);

	/* Waiting when the peer closes. */
	GCHECK_EQ(unix_pair(fds, 0), 0);
	GCHECK_EQ(eof_while_waiting(fds[0], fds[1], false, -1), 0);
	GCHECK_EQ(rg_close(fds[0]), 0);
	GCHECK_EQ(tcp_pair(fds), 0);
	GCHECK_EQ(eof_while_waiting(fds[0], fds[1], false, -1), 0);
	GCHECK_EQ(rg_close(fds[0]), 0);

	/* Half close: 0 for the reader, the other direction still works. */
	GCHECK_EQ(tcp_pair(fds), 0);
	GCHECK_EQ(eof_while_waiting(fds[0], fds[1], false, SHUT_WR), 0);
	GCHECK_EQ(rg_send(fds[0], "xy", 2, 0), 2);
	GCHECK_EQ(recv_all(fds[1], buf, 2), 0);
	GCHECK(memcmp(buf, "xy", 2) == 0);
	GCHECK_EQ(rg_close(fds[0]), 0);
	GCHECK_EQ(rg_close(fds[1]), 0);

	/* A pipe whose write end closes. */
	GCHECK_EQ(pipe2(fds, O_CLOEXEC), 0);
	GCHECK_EQ(eof_while_waiting(fds[0], fds[1], true, -1), 0);
	GCHECK_EQ(rg_read(fds[0], buf, sizeof(buf)), 0);
	GCHECK_EQ(rg_close(fds[0]), 0);
}

static void test_eof(void **state)
{
	(void)state;
	RUN_FOR_PROCS(eof_main, NULL, 1, 2);
}

/* Close with SO_LINGER 0: the peer gets a reset. */
static void reset_close(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	GCHECK_EQ(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	GCHECK_EQ(rg_close(fd), 0);
}

static void reset_main(void *arg)
{
	struct pollfd p;
	char buf[16];
	int fds[2];
	ssize_t r;

	(void)arg;
	/* Waiting in recv when the reset comes. */
	GCHECK_EQ(tcp_pair(fds), 0);
	{
		struct eof_ctx ec = { .fd = fds[0] };

		rg_wg_add(&ec.done, 1);
		GCHECK_EQ(rg_go(eof_reader, &ec), 0);
		GCHECK(wait_count(&ec.started, 1));
		rg_sleep_ns(2 * MS);
		reset_close(fds[1]);
		rg_wg_wait(&ec.done);
		GCHECK_EQ(ec.got, -ECONNRESET);
	}
	/* Then sending: the connection is gone, and no SIGPIPE. */
	r = rg_send(fds[0], "a", 1, 0);
	GCHECK(r == -EPIPE || r == -ECONNRESET);
	GCHECK_EQ(rg_close(fds[0]), 0);

	/* The reset came before the calls. */
	GCHECK_EQ(tcp_pair(fds), 0);
	reset_close(fds[1]);
	p = (struct pollfd){ .fd = fds[0], .events = POLLIN };
	GCHECK_EQ(poll(&p, 1, (int)(SLACK_NS / MS)), 1);
	r = rg_send(fds[0], "a", 1, 0);
	GCHECK(r == -EPIPE || r == -ECONNRESET);
	r = rg_send(fds[0], "a", 1, 0);
	GCHECK(r == -EPIPE || r == -ECONNRESET);
	GCHECK_EQ(rg_close(fds[0]), 0);

	GCHECK_EQ(tcp_pair(fds), 0);
	reset_close(fds[1]);
	p = (struct pollfd){ .fd = fds[0], .events = POLLIN };
	GCHECK_EQ(poll(&p, 1, (int)(SLACK_NS / MS)), 1);
	GCHECK_EQ(rg_recv(fds[0], buf, sizeof(buf), 0), -ECONNRESET);
	GCHECK_EQ(rg_close(fds[0]), 0);
}

static void test_peer_reset(void **state)
{
	(void)state;
	RUN_FOR_PROCS(reset_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* Errors passed through                                                 */
/* --------------------------------------------------------------------- */

/* @disturb: rg_close(fd) and rg_io_cancel(fd) as well; not where a
 * goroutine uses the same number at the same time (they interrupt its
 * calls, which then return -ECANCELED). */
static void bad_fd_calls(int fd, bool disturb)
{
	struct sockaddr_in addr = { .sin_family = AF_INET,
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				    .sin_port = htons(9) };
	char buf[16] = { 0 };
	int r;

	GCHECK_EQ(rg_recv(fd, buf, sizeof(buf), 0), -EBADF);
	GCHECK_EQ(rg_send(fd, buf, sizeof(buf), 0), -EBADF);
	GCHECK_EQ(rg_read(fd, buf, sizeof(buf)), -EBADF);
	GCHECK_EQ(rg_write(fd, buf, sizeof(buf)), -EBADF);
	GCHECK_EQ(rg_pread(fd, buf, sizeof(buf), 0), -EBADF);
	GCHECK_EQ(rg_pwrite(fd, buf, sizeof(buf), 0), -EBADF);
	GCHECK_EQ(rg_fsync(fd), -EBADF);
	GCHECK_EQ(rg_accept(fd, NULL, NULL), -EBADF);
	GCHECK_EQ(rg_connect(fd, (struct sockaddr *)&addr, sizeof(addr)), -EBADF);
	if (disturb) {
		GCHECK_EQ(rg_close(fd), -EBADF);
		r = rg_io_cancel(fd);
		GCHECK(r == 0 || r == -EBADF);
	}
}

/* Runs as a goroutine and from a plain thread (@in_thread). */
static void errors_body(bool in_thread)
{
	char buf[16] = { 0 };
	int fds[2], lfd, fd;
	struct sockaddr_in addr;

	bad_fd_calls(-1, !in_thread);
	bad_fd_calls(closed_fd(in_thread ? 100 : 0), true);

	/* A pipe is not a socket, nor seekable, nor syncable. */
	GCHECK_EQ(pipe2(fds, O_CLOEXEC), 0);
	GCHECK_EQ(write(fds[1], "z", 1), 1); /* nothing waits, whatever happens */
	GCHECK_EQ(rg_recv(fds[0], buf, sizeof(buf), 0), -ENOTSOCK);
	GCHECK_EQ(rg_send(fds[1], buf, sizeof(buf), 0), -ENOTSOCK);
	GCHECK_EQ(rg_pread(fds[0], buf, sizeof(buf), 0), -ESPIPE);
	GCHECK_EQ(rg_pwrite(fds[1], buf, sizeof(buf), 0), -ESPIPE);
	GCHECK_EQ(rg_fsync(fds[1]), -EINVAL);
	/* Wrong direction. */
	GCHECK_EQ(rg_write(fds[0], buf, sizeof(buf)), -EBADF);
	GCHECK_EQ(rg_read(fds[1], buf, sizeof(buf)), -EBADF);
	GCHECK_EQ(rg_close(fds[0]), 0);
	GCHECK_EQ(rg_close(fds[1]), 0);

	/* accept on a socket that does not listen. */
	lfd = tcp_listen(0, &addr);
	GCHECK(lfd >= 0);
	GCHECK_EQ(rg_accept(lfd, NULL, NULL), -EINVAL);
	GCHECK_EQ(rg_close(lfd), 0);

	/* Opening. */
	GCHECK_EQ(rg_open("/nonexistent-ringo-dir/x", O_RDONLY, 0), -ENOENT);
	GCHECK_EQ(rg_open("/", O_WRONLY, 0), -EISDIR);
	fd = rg_open("/dev/null", O_RDWR, 0);
	GCHECK(fd >= 0);
	GCHECK(fd_cloexec(fd));
	GCHECK_EQ(rg_read(fd, buf, sizeof(buf)), 0);
	GCHECK_EQ(rg_write(fd, buf, sizeof(buf)), sizeof(buf));
	GCHECK_EQ(rg_close(fd), 0);
}

static void errors_main(void *arg)
{
	(void)arg;
	errors_body(false);
	/* A deadline in the past does not hide an error that needs no wait. */
	rg_set_deadline(rg_now_ns() - MS);
	bad_fd_calls(closed_fd(0), true);
	rg_set_deadline(0);
}

static void *errors_thread(void *arg)
{
	(void)arg;
	errors_body(true);
	return NULL;
}

static void errors_with_thread_main(void *arg)
{
	pthread_t th;

	(void)arg;
	if (pthread_create(&th, NULL, errors_thread, NULL) != 0) {
		gcheck_fail("pthread_create failed");
		return;
	}
	errors_body(false);
	pthread_join(th, NULL);
}

static void test_errors(void **state)
{
	(void)state;
	RUN_IN_RUNTIME(1, errors_main, NULL);
	RUN_IN_RUNTIME(2, errors_with_thread_main, NULL);
	gcheck_reset();
	errors_body(true);
	gcheck_assert_none();
}

/* --------------------------------------------------------------------- */
/* Accept storm                                                          */
/* --------------------------------------------------------------------- */

#define STORM_ACCEPTORS 4

struct storm_ctx {
	struct sockaddr_in addr;
	int lfd, n;
	atomic_uchar *seen;
	atomic_int accepted, acceptors_left;
	rg_wg connectors;
};

struct storm_conn {
	struct storm_ctx *ctx;
	uint32_t id;
};

static void storm_acceptor(void *arg)
{
	struct storm_ctx *ctx = arg;

	for (;;) {
		struct sockaddr_in peer = { 0 };
		socklen_t plen = sizeof(peer);
		int fd = rg_accept(ctx->lfd, (struct sockaddr *)&peer, &plen);
		uint32_t id;
		int r;

		if (fd == -ECANCELED)
			break;
		if (fd < 0) {
			gcheck_fail("rg_accept: %s", strerror(-fd));
			break;
		}
		GCHECK(fd_cloexec(fd));
		GCHECK_EQ(plen, sizeof(peer));
		GCHECK_EQ(peer.sin_family, AF_INET);
		GCHECK_EQ(peer.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
		r = recv_all(fd, &id, sizeof(id));
		if (r < 0 || id >= (uint32_t)ctx->n)
			gcheck_fail("accepted connection: %d, id %u", r, id);
		else
			GCHECK_EQ(atomic_fetch_add(&ctx->seen[id], 1), 0);
		atomic_fetch_add(&ctx->accepted, 1);
		GCHECK_EQ(rg_close(fd), 0);
	}
	atomic_fetch_sub(&ctx->acceptors_left, 1);
}

static void storm_connector(void *arg)
{
	struct storm_conn *sc = arg;
	int fd = tcp_connect(&sc->ctx->addr, false);
	char c;

	if (fd < 0) {
		gcheck_fail("connect %u: %s", sc->id, strerror(-fd));
	} else {
		GCHECK_EQ(send_all(fd, &sc->id, sizeof(sc->id)), 0);
		GCHECK_EQ(rg_recv(fd, &c, 1, 0), 0); /* the server closes */
		GCHECK_EQ(rg_close(fd), 0);
	}
	rg_wg_done(&sc->ctx->connectors);
}

static void storm_main(void *arg)
{
	struct storm_ctx *ctx = arg;
	struct storm_conn *conns = calloc((size_t)ctx->n, sizeof(*conns));
	int64_t until;

	ctx->lfd = tcp_listen(ctx->n, &ctx->addr);
	if (ctx->lfd < 0 || !conns) {
		gcheck_fail("listen: %s", strerror(-ctx->lfd));
		free(conns);
		return;
	}
	atomic_store(&ctx->acceptors_left, STORM_ACCEPTORS);
	for (int i = 0; i < STORM_ACCEPTORS; i++)
		GCHECK_EQ(rg_go(storm_acceptor, ctx), 0);
	for (int i = 0; i < ctx->n; i++) {
		conns[i] = (struct storm_conn){ ctx, (uint32_t)i };
		rg_wg_add(&ctx->connectors, 1);
		if (rg_go(storm_connector, &conns[i]) != 0) {
			gcheck_fail("rg_go failed");
			rg_wg_done(&ctx->connectors);
		}
	}
	rg_wg_wait(&ctx->connectors);
	GCHECK_EQ(atomic_load(&ctx->accepted), ctx->n);
	for (int i = 0; i < ctx->n; i++)
		if (atomic_load(&ctx->seen[i]) != 1) {
			gcheck_fail("connection %d accepted %d times", i,
				    atomic_load(&ctx->seen[i]));
			break;
		}
	/* The acceptors wait on: interrupt them. */
	until = rg_now_ns() + SLACK_NS;
	while (atomic_load(&ctx->acceptors_left) > 0 && rg_now_ns() < until) {
		GCHECK(rg_io_cancel(ctx->lfd) >= 0);
		rg_sleep_ns(MS);
	}
	GCHECK_EQ(atomic_load(&ctx->acceptors_left), 0);
	GCHECK_EQ(rg_close(ctx->lfd), 0);
	free(conns);
}

static void test_accept_storm(void **state)
{
	int n = TEST_SCALE(1000, 300);

	(void)state;
	/* Two descriptors per connection, at most. */
	if (2 * n + 100 > fd_limit)
		n = (int)(fd_limit - 100) / 2;
	for (int procs = 2; procs >= 1; procs--) {
		struct storm_ctx ctx = { .n = procs == 2 ? n : n / 2 };

		ctx.seen = calloc((size_t)ctx.n, sizeof(*ctx.seen));
		assert_non_null(ctx.seen);
		RUN_IN_RUNTIME(procs, storm_main, &ctx);
		free(ctx.seen);
	}
}

/* --------------------------------------------------------------------- */
/* Connecting                                                            */
/* --------------------------------------------------------------------- */

/* Runs as a goroutine and from a plain thread. */
static void refused_body(void)
{
	struct sockaddr_in addr;
	/* Bound and never listening: its port refuses, and nobody else gets it. */
	int bound = tcp_listen(0, &addr);

	GCHECK(bound >= 0);
	GCHECK_EQ(tcp_connect(&addr, false), -ECONNREFUSED);
	GCHECK_EQ(tcp_connect(&addr, false), -ECONNREFUSED);
	rg_close(bound);
}

static void refused_main(void *arg)
{
	struct sockaddr_in addr;
	int bound = tcp_listen(0, &addr);

	(void)arg;
	refused_body();
	/* A non-blocking socket: the call waits for the outcome as well. */
	GCHECK(bound >= 0);
	GCHECK_EQ(tcp_connect(&addr, true), -ECONNREFUSED);
	rg_close(bound);
}

static void test_connect_refused(void **state)
{
	(void)state;
	RUN_FOR_PROCS(refused_main, NULL, 1, 2);
	gcheck_reset();
	refused_body();
	gcheck_assert_none();
}

/* --------------------------------------------------------------------- */
/* Blocking and non-blocking descriptors                                 */
/* --------------------------------------------------------------------- */

struct nb_ctx {
	int rfd, wfd;
	bool sock;
	atomic_int reading;
	ssize_t got;
	char buf[64];
	rg_wg done;
};

static void nb_reader(void *arg)
{
	struct nb_ctx *nc = arg;

	atomic_store(&nc->reading, 1);
	nc->got = nc->sock ? rg_recv(nc->rfd, nc->buf, sizeof(nc->buf), 0) :
			     rg_read(nc->rfd, nc->buf, sizeof(nc->buf));
	rg_wg_done(&nc->done);
}

static void nb_writer(void *arg)
{
	struct nb_ctx *nc = arg;

	while (atomic_load(&nc->reading) == 0)
		rg_yield();
	rg_sleep_ns(10 * MS);
	GCHECK_EQ(nc->sock ? rg_send(nc->wfd, "later", 5, 0) : rg_write(nc->wfd, "later", 5), 5);
	rg_wg_done(&nc->done);
}

/* A reader waits, a writer writes later; the flags stay as they were. */
static void nb_round(int rfd, int wfd, bool sock)
{
	struct nb_ctx nc = { .rfd = rfd, .wfd = wfd, .sock = sock };
	int rflags = fd_flags(rfd), wflags = fd_flags(wfd);

	rg_wg_add(&nc.done, 2);
	GCHECK_EQ(rg_go(nb_reader, &nc), 0);
	GCHECK_EQ(rg_go(nb_writer, &nc), 0);
	rg_wg_wait(&nc.done);
	GCHECK_EQ(nc.got, 5);
	GCHECK(memcmp(nc.buf, "later", 5) == 0);
	GCHECK_EQ(fd_flags(rfd), rflags);
	GCHECK_EQ(fd_flags(wfd), wflags);
}

static bool backend_is_epoll(void)
{
	const char *be = rg_netpoll_backend();

	return be && strcmp(be, "epoll") == 0;
}

/*
 * Sockets given to rg_accept and rg_connect: on io_uring their flags stay
 * as they were; on epoll they are made O_NONBLOCK (include/ringo.h), and
 * never the reverse.
 */
static void nb_check_given(int fd, int flags_before)
{
	if (backend_is_epoll())
		GCHECK_EQ(fd_flags(fd), flags_before | O_NONBLOCK);
	else
		GCHECK_EQ(fd_flags(fd), flags_before);
}

static void nb_accept_connect(bool nonblock)
{
	struct sockaddr_in addr;
	int lfd = tcp_listen(4, &addr), c, a, lflags;
	int cflags = O_RDWR | (nonblock ? O_NONBLOCK : 0);

	GCHECK(lfd >= 0);
	if (nonblock)
		fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
	lflags = fd_flags(lfd);
	/* The accept waits for a connection made later. */
	{
		struct waiter w = { .fd = lfd, .op = W_ACCEPT };
		atomic_int started = 0;
		rg_wg done = { 0 };

		start_waiters(&w, 1, &started, &done);
		GCHECK(wait_count(&started, 1));
		rg_sleep_ns(10 * MS);
		c = tcp_connect(&addr, nonblock);
		GCHECK(c >= 0);
		rg_wg_wait(&done);
		a = (int)w.got;
	}
	GCHECK(a >= 0);
	nb_check_given(lfd, lflags);
	if (c >= 0 && a >= 0) {
		/* The accepted socket is blocking, whatever the listener is. */
		GCHECK_EQ(fd_flags(a) & O_NONBLOCK, 0);
		nb_check_given(c, cflags);
		nb_round(c, a, true);
		nb_round(a, c, true);
	}
	rg_close(c);
	rg_close(a);
	rg_close(lfd);
}

static void nb_main(void *arg)
{
	int fds[2];

	(void)arg;
	for (int nonblock = 0; nonblock <= 1; nonblock++) {
		int fl = nonblock ? O_NONBLOCK : 0;

		GCHECK_EQ(pipe2(fds, O_CLOEXEC | fl), 0);
		nb_round(fds[0], fds[1], false);
		GCHECK_EQ(!!(fd_flags(fds[0]) & O_NONBLOCK), nonblock);
		rg_close(fds[0]);
		rg_close(fds[1]);

		GCHECK_EQ(unix_pair(fds, nonblock ? SOCK_NONBLOCK : 0), 0);
		nb_round(fds[0], fds[1], true);
		nb_round(fds[1], fds[0], true);
		GCHECK_EQ(!!(fd_flags(fds[0]) & O_NONBLOCK), nonblock);
		rg_close(fds[0]);
		rg_close(fds[1]);

		nb_accept_connect(nonblock);
	}
}

static void test_blocking_and_nonblocking(void **state)
{
	(void)state;
	RUN_FOR_PROCS(nb_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* Descriptor numbers used again                                         */
/* --------------------------------------------------------------------- */

/*
 * One number holds a socket, a pipe, a regular file, a socket again, each
 * closed with rg_close (and, on io_uring, also with plain close(2); the
 * epoll backend needs rg_close) before the next: nothing the runtime
 * remembers about the number outlives the descriptor.
 */
#define REUSE_FD 950

/* Put @fd at number @num; returns @num or -1. */
static int move_to(int fd, int num)
{
	int r = dup2(fd, num);

	close(fd);
	return r;
}

static void reuse_close(int fd, bool use_rg)
{
	if (use_rg)
		GCHECK_EQ(rg_close(fd), 0);
	else
		GCHECK_EQ(close(fd), 0);
}

static void reuse_body(bool use_rg)
{
	int fds[2], num = REUSE_FD;
	char buf[8];

	for (int round = 0; round < 2; round++) {
		GCHECK_EQ(unix_pair(fds, 0), 0);
		GCHECK_EQ(move_to(fds[0], num), num);
		nb_round(num, fds[1], true);
		nb_round(fds[1], num, true);
		reuse_close(num, use_rg);
		rg_close(fds[1]);

		GCHECK_EQ(pipe2(fds, O_CLOEXEC), 0);
		GCHECK_EQ(move_to(fds[0], num), num);
		nb_round(num, fds[1], false);
		reuse_close(num, use_rg);
		rg_close(fds[1]);

		GCHECK_EQ(move_to(open("/proc/self/exe", O_RDONLY | O_CLOEXEC), num), num);
		GCHECK_EQ(rg_pread(num, buf, 4, 0), 4);
		GCHECK(memcmp(buf,
			      "\x7f"
			      "ELF",
			      4) == 0);
		GCHECK_EQ(rg_read(num, buf, 4), 4);
		GCHECK(memcmp(buf,
			      "\x7f"
			      "ELF",
			      4) == 0);
		reuse_close(num, use_rg);

		GCHECK_EQ(pipe2(fds, O_CLOEXEC), 0);
		GCHECK_EQ(move_to(fds[1], num), num);
		nb_round(fds[0], num, false);
		reuse_close(num, use_rg);
		rg_close(fds[0]);
	}
}

static void reuse_main(void *arg)
{
	(void)arg;
	reuse_body(true);
	if (!backend_is_epoll())
		reuse_body(false);
}

static void test_fd_reuse(void **state)
{
	(void)state;
	RUN_FOR_PROCS(reuse_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* A broken pipe                                                         */
/* --------------------------------------------------------------------- */

/* Writes to a pipe and a socket whose other end is closed: -EPIPE, and
 * no SIGPIPE ends the process. */
static void broken_pipe_main(void *arg)
{
	int fds[2];

	(void)arg;
	GCHECK_EQ(pipe2(fds, O_CLOEXEC), 0);
	GCHECK_EQ(rg_close(fds[0]), 0);
	GCHECK_EQ(rg_write(fds[1], "x", 1), -EPIPE);
	GCHECK_EQ(rg_close(fds[1]), 0);
	GCHECK_EQ(unix_pair(fds, 0), 0);
	GCHECK_EQ(rg_close(fds[0]), 0);
	GCHECK_EQ(rg_write(fds[1], "x", 1), -EPIPE);
	GCHECK_EQ(rg_send(fds[1], "x", 1, 0), -EPIPE);
	GCHECK_EQ(rg_close(fds[1]), 0);
	fprintf(stderr, "TEST-DONE\n");
}

static int child_broken_pipe(void)
{
	rg_config cfg = { .maxprocs = 2 };

	gcheck_reset();
	if (rg_main(&cfg, broken_pipe_main, NULL) != 0)
		return 3;
	return child_checks_status(0);
}

/* In a child process with SIGPIPE at its default action. */
static void test_broken_pipe(void **state)
{
	struct child_result r;

	(void)state;
	run_netpoll_child("broken_pipe", forced_backend(), &r);
	assert_child_exit("broken_pipe", &r, 0);
	assert_child_stderr_has("broken_pipe", &r, "TEST-DONE");
	child_result_free(&r);
}

int main(int argc, char **argv)
{
	static const struct child_case cases[] = {
		{ "broken_pipe", child_broken_pipe },
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_echo),
		cmocka_unit_test(test_partial_transfers),
		cmocka_unit_test(test_short_reads),
		cmocka_unit_test(test_recv_flags),
		cmocka_unit_test(test_eof),
		cmocka_unit_test(test_peer_reset),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_accept_storm),
		cmocka_unit_test(test_connect_refused),
		cmocka_unit_test(test_blocking_and_nonblocking),
		cmocka_unit_test(test_fd_reuse),
		cmocka_unit_test(test_broken_pipe),
	};
	int rc = child_dispatch(argc, argv, cases, ARRAY_SIZE(cases));

	if (rc >= 0)
		return rc;
	io_raise_fd_limit();
	test_watchdog(120);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
