/* SPDX-License-Identifier: MIT */
/*
 * test_io - the I/O calls (rg_accept, rg_connect, rg_recv, rg_send,
 * rg_read, rg_write, rg_pread, rg_pwrite, rg_open, rg_fsync, rg_close),
 * I/O deadlines (rg_set_deadline), rg_io_cancel and the netpoller backend
 * (rg_netpoll_backend, RINGO_NETPOLL):
 *
 *  - an echo server and its clients in one runtime, many connections;
 *  - large transfers in short pieces, short reads returned as such, the
 *    recv flags MSG_PEEK, MSG_WAITALL and MSG_DONTWAIT;
 *  - end of file, a reset from the peer, bad descriptors and other errors
 *    passed through as -errno;
 *  - deadlines: -ETIMEDOUT not before the deadline, per goroutine, a
 *    transfer cut short returns its short count, and a call that returned
 *    leaves nothing in flight (no later write into its buffer, no data
 *    taken from the descriptor afterwards);
 *  - rg_io_cancel and rg_close wake the calls waiting on a descriptor with
 *    -ECANCELED;
 *  - an accept storm, a refused connect, blocking and non-blocking
 *    descriptors (neither switched to the other), regular files, thousands
 *    of file reads at once, files read from disk (not cached) by many
 *    goroutines at once, completed requests not held back by a burst of
 *    new goroutines, descriptor numbers used again, plain threads
 *    (plain blocking calls), waiters left behind by a runtime that ended;
 *  - a completion for a P whose M computes without a scheduling point is
 *    still delivered (sysmon reaps it; another P runs the goroutine);
 *  - the backend: RINGO_NETPOLL forces one, a bad value is reported, and
 *    in a child process whose seccomp filter refuses io_uring the runtime
 *    falls back to epoll with one notice, or fails to start when io_uring
 *    is forced.
 *
 * Every check on time is a lower bound that holds exactly (a deadline never
 * fires early) or an upper bound of seconds.  Descriptors that get closed
 * while another goroutine may still use their number are moved to high
 * numbers first, so that the number is not reused meanwhile.
 */
#include <dirent.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/io_uring.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "tests/helpers.h"

#define MS  1000000LL
#define KiB 1024
#define MiB (1024 * 1024)

/* Generous upper bound for anything that should take milliseconds. */
#define SLACK_NS ((RG_TEST_SANITIZED ? 15000 : 3000) * MS)

/* The descriptor limit, raised to the hard limit in main(). */
static long fd_limit;

/* --------------------------------------------------------------------- */
/* Helpers                                                               */
/* --------------------------------------------------------------------- */

/* The byte at offset @off of stream @seed: depends on every byte of off. */
static unsigned char pat(uint64_t seed, uint64_t off)
{
	uint64_t x = off * 0x9e3779b97f4a7c15ULL + seed;

	x ^= x >> 29;
	return (unsigned char)(x ^ (x >> 17) ^ (off >> 8));
}

static void pat_fill(void *buf, size_t len, uint64_t seed, uint64_t off)
{
	unsigned char *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = pat(seed, off + i);
}

/* The first offset where buf differs from the stream, or -1. */
static long pat_diff(const void *buf, size_t len, uint64_t seed, uint64_t off)
{
	const unsigned char *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i] != pat(seed, off + i))
			return (long)(off + i);
	return -1;
}

static bool all_bytes(const void *buf, int byte, size_t len)
{
	const unsigned char *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i] != (unsigned char)byte)
			return false;
	return true;
}

/* Send all of buf: 0, or the first error. */
static int send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = rg_send(fd, p, len, 0);

		if (n < 0)
			return (int)n;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Receive exactly len bytes: 0, -ENODATA at end of file, or the error. */
static int recv_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = rg_recv(fd, p, len, 0);

		if (n < 0)
			return (int)n;
		if (n == 0)
			return -ENODATA;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A TCP listener on 127.0.0.1, any port; its address in *@addr. */
static int tcp_listen(int backlog, struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)addr, sizeof(*addr)) < 0 ||
	    (backlog > 0 && listen(fd, backlog) < 0) ||
	    getsockname(fd, (struct sockaddr *)addr, &len) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

/* No Nagle: small echoes would wait for delayed acknowledgements. */
static void tcp_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* A TCP socket connected to @addr with rg_connect, or -errno. */
static int tcp_connect(const struct sockaddr_in *addr, bool nonblock)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	int r;

	if (fd < 0)
		return -errno;
	tcp_nodelay(fd);
	r = rg_connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
	if (r < 0) {
		rg_close(fd);
		return r;
	}
	return fd;
}

/* A connected TCP pair through a fresh listener: 0 or -errno. */
static int tcp_pair(int fds[2])
{
	struct sockaddr_in addr;
	int lfd = tcp_listen(1, &addr);

	if (lfd < 0)
		return lfd;
	fds[0] = tcp_connect(&addr, false);
	if (fds[0] < 0) {
		rg_close(lfd);
		return fds[0];
	}
	fds[1] = rg_accept(lfd, NULL, NULL);
	rg_close(lfd);
	if (fds[1] < 0) {
		rg_close(fds[0]);
		return fds[1];
	}
	return 0;
}

static int unix_pair(int fds[2], int flags)
{
	return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0, fds) < 0 ? -errno : 0;
}

/*
 * Run @body on a Unix socketpair, then a TCP pair, then (@with_pipe) a
 * pipe, closing each one after: @body reads @rfd and writes @wfd (either
 * end of a socket pair does both).
 */
static void over_streams(void (*body)(int rfd, int wfd, bool is_pipe, void *arg), void *arg,
			 bool with_pipe)
{
	int fds[2];

	for (int kind = 0; kind < (with_pipe ? 3 : 2); kind++) {
		int r = kind == 0 ? unix_pair(fds, 0) :
			kind == 1 ? tcp_pair(fds) :
				    (pipe2(fds, O_CLOEXEC) < 0 ? -errno : 0);

		GCHECK_EQ(r, 0);
		if (r)
			continue;
		body(fds[0], fds[1], kind == 2, arg);
		rg_close(fds[0]);
		rg_close(fds[1]);
	}
}

/* Move @fd to the lowest free number >= @at: nobody else gets that number
 * soon after it is closed.  Returns the new descriptor, or -errno. */
static int high_fd(int fd, int at)
{
	int nfd = fcntl(fd, F_DUPFD_CLOEXEC, at);
	int e = -errno;

	close(fd);
	return nfd < 0 ? e : nfd;
}

/* A descriptor number that is not open, the first from @skip on. */
static int closed_fd(int skip)
{
	for (int fd = (int)(fd_limit > 2000 ? 1500 : fd_limit - 150) + skip;; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF)
			return fd;
}

/* Fill the send buffer of @fd with non-blocking sends; returns the bytes sent. */
static size_t fill_socket(int fd)
{
	static char junk[4096];
	size_t total = 0;
	ssize_t n;

	while ((n = send(fd, junk, sizeof(junk), MSG_DONTWAIT | MSG_NOSIGNAL)) > 0)
		total += (size_t)n;
	return total;
}

/*
 * Read @len bytes that were written to @fd's peer before the call, with
 * plain calls (loopback TCP may deliver them a little later): returns the
 * bytes read, less than @len if they did not all come within SLACK_NS.
 * Then nothing more may be ready.
 */
static ssize_t read_sent(int fd, void *buf, size_t len)
{
	int64_t until = now_ns() + SLACK_NS;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t got = 0;

	while (got < len) {
		int64_t left_ms = (until - now_ns()) / MS;
		ssize_t n;

		if (left_ms <= 0 || poll(&p, 1, (int)left_ms) <= 0)
			break;
		n = read(fd, (char *)buf + got, len - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got == len && poll(&p, 1, 0) == 1 && (p.revents & POLLIN))
		return (ssize_t)len + 1;
	return (ssize_t)got;
}

static int fd_flags(int fd)
{
	return fcntl(fd, F_GETFL);
}

static bool fd_cloexec(int fd)
{
	int r = fcntl(fd, F_GETFD);

	return r >= 0 && (r & FD_CLOEXEC);
}

/* Yield and sleep a little until *@v reaches @want (at most SLACK_NS). */
static bool wait_count(atomic_int *v, int want)
{
	int64_t until = rg_now_ns() + SLACK_NS;

	while (atomic_load(v) < want) {
		if (rg_now_ns() > until)
			return false;
		rg_sleep_ns(MS / 4);
	}
	return true;
}

/* Call rg_io_cancel(@fd) until it has interrupted @want calls in all. */
static void cancel_until(int fd, int want)
{
	int64_t until = rg_now_ns() + SLACK_NS;
	int total = 0;

	while (total < want && rg_now_ns() < until) {
		int r = rg_io_cancel(fd);

		GCHECK(r >= 0);
		if (r > 0)
			total += r;
		if (total < want)
			rg_sleep_ns(MS / 2);
	}
	GCHECK_EQ(total, want);
}

/* --------------------------------------------------------------------- */
/* Echo: many connections, server and clients in one runtime             */
/* --------------------------------------------------------------------- */

#define ECHO_CONNS TEST_SCALE(64, 32)
#define ECHO_MSGS  TEST_SCALE(20, 8)

struct echo_ctx {
	struct sockaddr_in addr;
	int lfd;
	int conns;
	int msgs;
	atomic_int served;
	atomic_long bytes;
	rg_wg servers, clients;
};

struct echo_client {
	struct echo_ctx *ctx;
	int id;
};

struct echo_conn {
	struct echo_ctx *ctx;
	int fd;
};

static void echo_serve(void *arg)
{
	struct echo_conn *ec = arg;
	struct echo_ctx *ctx = ec->ctx;
	int fd = ec->fd;
	char buf[4096];
	ssize_t n;

	free(ec);
	while ((n = rg_recv(fd, buf, sizeof(buf), 0)) > 0) {
		int r = send_all(fd, buf, (size_t)n);

		if (r < 0) {
			gcheck_fail("echo send: %s", strerror(-r));
			break;
		}
		atomic_fetch_add(&ctx->bytes, n);
	}
	if (n < 0)
		gcheck_fail("echo recv: %s", strerror((int)-n));
	GCHECK_EQ(rg_close(fd), 0);
	atomic_fetch_add(&ctx->served, 1);
	rg_wg_done(&ctx->servers);
}

static void echo_acceptor(void *arg)
{
	struct echo_ctx *ctx = arg;

	for (int i = 0; i < ctx->conns; i++) {
		int fd = rg_accept(ctx->lfd, NULL, NULL);
		struct echo_conn *ec;

		if (fd < 0) {
			gcheck_fail("rg_accept: %s", strerror(-fd));
			break;
		}
		GCHECK(fd_cloexec(fd));
		tcp_nodelay(fd);
		ec = malloc(sizeof(*ec));
		if (!ec) {
			gcheck_fail("out of memory");
			rg_close(fd);
			break;
		}
		*ec = (struct echo_conn){ ctx, fd };
		rg_wg_add(&ctx->servers, 1);
		if (rg_go(echo_serve, ec) != 0) {
			gcheck_fail("rg_go failed");
			rg_wg_done(&ctx->servers);
			free(ec);
			rg_close(fd);
		}
	}
	rg_wg_done(&ctx->servers);
}

static void echo_client(void *arg)
{
	struct echo_client *cl = arg;
	struct echo_ctx *ctx = cl->ctx;
	size_t cap = 3 * 4096 + 17;
	char *out = malloc(cap), *in = malloc(cap);
	uint64_t off = 0;
	int fd, flags;

	fd = tcp_connect(&ctx->addr, false);
	if (fd < 0 || !out || !in) {
		gcheck_fail("client %d: connect: %s", cl->id, strerror(-fd));
		goto out;
	}
	/* Every other client uses a non-blocking socket. */
	if (cl->id % 2)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	flags = fd_flags(fd);
	for (int m = 0; m < ctx->msgs; m++) {
		size_t len = 1 + ((size_t)cl->id * 131 + (size_t)m * 977) % cap;
		int r;

		pat_fill(out, len, (uint64_t)cl->id, off);
		r = send_all(fd, out, len);
		if (r == 0)
			r = recv_all(fd, in, len);
		if (r < 0) {
			gcheck_fail("client %d message %d: %s", cl->id, m, strerror(-r));
			break;
		}
		if (memcmp(in, out, len) != 0) {
			gcheck_fail("client %d message %d: echo differs", cl->id, m);
			break;
		}
		off += len;
	}
	GCHECK_EQ(fd_flags(fd), flags);
	GCHECK_EQ(shutdown(fd, SHUT_WR), 0);
	GCHECK_EQ(rg_recv(fd, in, cap, 0), 0); /* the server closed too */
	GCHECK_EQ(rg_close(fd), 0);
out:
	free(out);
	free(in);
	rg_wg_done(&ctx->clients);
}

/* The echo round trip, as a goroutine body: @conns clients of @msgs messages. */
static void echo_run(int conns, int msgs)
{
	struct echo_ctx ctx = { .conns = conns, .msgs = msgs };
	struct echo_client *cl = calloc((size_t)conns, sizeof(*cl));

	ctx.lfd = tcp_listen(conns, &ctx.addr);
	if (ctx.lfd < 0 || !cl) {
		gcheck_fail("listen: %s", strerror(-ctx.lfd));
		free(cl);
		return;
	}
	rg_wg_add(&ctx.servers, 1);
	GCHECK_EQ(rg_go(echo_acceptor, &ctx), 0);
	for (int i = 0; i < conns; i++) {
		cl[i] = (struct echo_client){ &ctx, i };
		rg_wg_add(&ctx.clients, 1);
		if (rg_go(echo_client, &cl[i]) != 0) {
			gcheck_fail("rg_go failed");
			rg_wg_done(&ctx.clients);
		}
	}
	rg_wg_wait(&ctx.clients);
	rg_wg_wait(&ctx.servers);
	GCHECK_EQ(atomic_load(&ctx.served), conns);
	GCHECK_EQ(rg_close(ctx.lfd), 0);
	free(cl);
}

static void echo_main(void *arg)
{
	(void)arg;
	echo_run(ECHO_CONNS, ECHO_MSGS);
}

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

/*
 * A read asking for more than is there returns what is there, whether the
 * data came before the call or while it waited.  The writer then waits for
 * the reader's word (at most SLACK_NS, then it unblocks it and fails).
 */
struct short_ctx {
	int wfd, rfd;
	bool pipe;
	rg_chan *ack;
	atomic_int reading;
	rg_wg done;
};

static void short_writer(void *arg)
{
	struct short_ctx *sc = arg;
	char msg[10];
	rg_case cs[1] = { { .chan = sc->ack, .op = RG_RECV } };

	pat_fill(msg, sizeof(msg), 2, 0);
	GCHECK(wait_count(&sc->reading, 1));
	rg_sleep_ns(5 * MS); /* the reader most likely waits by now */
	GCHECK_EQ(sc->pipe ? rg_write(sc->wfd, msg, sizeof(msg)) :
			     rg_send(sc->wfd, msg, sizeof(msg), 0),
		  sizeof(msg));
	if (rg_select(cs, 1, SLACK_NS) != 0) {
		gcheck_fail("a read of 4096 bytes waited for more than the 10 sent");
		memset(msg, 0, sizeof(msg));
		for (int i = 0; i < 410; i++)
			write(sc->wfd, msg, sizeof(msg));
	}
	rg_wg_done(&sc->done);
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
/* Deadlines                                                             */
/* --------------------------------------------------------------------- */

/* Check that a call given @deadline returned -ETIMEDOUT in time. */
#define CHECK_TIMED_OUT(call, deadline)                                                            \
	do {                                                                                       \
		long long r_ = (long long)(call), late_ = rg_now_ns() - (deadline);                \
		if (r_ != -ETIMEDOUT)                                                              \
			gcheck_fail("%s:%d: %s returned %lld, not -ETIMEDOUT", __FILE__, __LINE__, \
				    #call, r_);                                                    \
		else if (late_ < 0)                                                                \
			gcheck_fail("%s:%d: %s timed out %lld ns early", __FILE__, __LINE__,       \
				    #call, -late_);                                                \
		else if (late_ > SLACK_NS)                                                         \
			gcheck_fail("%s:%d: %s timed out %lld ms late", __FILE__, __LINE__, #call, \
				    late_ / MS);                                                   \
	} while (0)

struct dl_other {
	int fd;
	ssize_t got;
	int64_t inherited;
	rg_wg done;
};

/* A goroutine with no deadline of its own: started by one that has one. */
static void dl_other_reader(void *arg)
{
	struct dl_other *o = arg;
	char buf[8];

	o->inherited = rg_set_deadline(0);
	o->got = rg_read(o->fd, buf, sizeof(buf));
	rg_wg_done(&o->done);
}

static void deadline_main(void *arg)
{
	struct sockaddr_in addr;
	char buf[4096];
	int fds[2], pfd[2], lfd;
	int64_t dl;

	(void)arg;
	GCHECK_EQ(unix_pair(fds, 0), 0);
	GCHECK_EQ(pipe2(pfd, O_CLOEXEC), 0);
	lfd = tcp_listen(4, &addr);
	GCHECK(lfd >= 0);

	/* Save and restore. */
	GCHECK_EQ(rg_set_deadline(0), 0);
	dl = rg_now_ns() + 20 * MS;
	GCHECK_EQ(rg_set_deadline(dl), 0);
	GCHECK_EQ(rg_set_deadline(dl), dl);

	/* recv, read, accept, send on a full socket: -ETIMEDOUT at dl. */
	CHECK_TIMED_OUT(rg_recv(fds[0], buf, sizeof(buf), 0), dl);
	dl = rg_now_ns() + 20 * MS;
	rg_set_deadline(dl);
	CHECK_TIMED_OUT(rg_read(pfd[0], buf, sizeof(buf)), dl);
	dl = rg_now_ns() + 20 * MS;
	rg_set_deadline(dl);
	CHECK_TIMED_OUT(rg_accept(lfd, NULL, NULL), dl);
	fill_socket(fds[1]);
	dl = rg_now_ns() + 20 * MS;
	rg_set_deadline(dl);
	CHECK_TIMED_OUT(rg_send(fds[1], buf, sizeof(buf), 0), dl);
	/* Drain what fill_socket sent. */
	while (recv(fds[0], buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;

	/* A deadline in the past: at once, unless the call need not wait. */
	dl = rg_now_ns() - 1;
	rg_set_deadline(dl);
	CHECK_TIMED_OUT(rg_recv(fds[0], buf, sizeof(buf), 0), dl);
	GCHECK_EQ(write(fds[1], "hello", 5), 5);
	GCHECK_EQ(rg_recv(fds[0], buf, sizeof(buf), 0), 5);
	GCHECK_EQ(rg_send(fds[1], "hi", 2, 0), 2);
	GCHECK_EQ(rg_read(fds[0], buf, sizeof(buf)), 2);
	GCHECK_EQ(write(pfd[1], "p", 1), 1);
	GCHECK_EQ(rg_read(pfd[0], buf, sizeof(buf)), 1);

	/* Another goroutine is not bound by this one's deadline. */
	{
		struct dl_other o = { .fd = pfd[0] };

		rg_wg_add(&o.done, 1);
		GCHECK_EQ(rg_go(dl_other_reader, &o), 0);
		rg_set_deadline(rg_now_ns() + 5 * MS);
		rg_sleep_ns(40 * MS); /* past this goroutine's deadline */
		rg_set_deadline(0);
		GCHECK_EQ(write(pfd[1], "late", 4), 4);
		rg_wg_wait(&o.done);
		GCHECK_EQ(o.inherited, 0);
		GCHECK_EQ(o.got, 4);
	}

	/* A deadline far ahead does not stop data that comes first. */
	GCHECK_EQ(rg_set_deadline(rg_now_ns() + SLACK_NS), 0);
	GCHECK_EQ(write(fds[1], "now", 3), 3);
	GCHECK_EQ(rg_recv(fds[0], buf, sizeof(buf), 0), 3);
	/* The farthest deadline there is: no overflow makes it fire now. */
	rg_set_deadline(INT64_MAX);
	{
		struct short_ctx sc = { .wfd = fds[1], .rfd = fds[0], .ack = rg_chan_make(0, 1) };

		rg_wg_add(&sc.done, 1);
		GCHECK_EQ(rg_go(short_writer, &sc), 0);
		atomic_store(&sc.reading, 1);
		GCHECK(recv_all(fds[0], buf, 10) == 0);
		GCHECK_EQ(pat_diff(buf, 10, 2, 0), -1);
		GCHECK_EQ(rg_chan_send(sc.ack, NULL), 0);
		rg_wg_wait(&sc.done);
		rg_chan_free(sc.ack);
	}
	rg_set_deadline(0);

	/* Cleared: the call waits for data again. */
	GCHECK_EQ(rg_set_deadline(0), 0);
	rg_close(lfd);
	rg_close(fds[0]);
	rg_close(fds[1]);
	rg_close(pfd[0]);
	rg_close(pfd[1]);
}

static void *deadline_thread(void *arg)
{
	atomic_int *ok = arg;

	atomic_store(ok, rg_set_deadline(rg_now_ns() + MS) == -EPERM ? 1 : 2);
	return NULL;
}

static void test_deadline(void **state)
{
	atomic_int ok = 0;
	pthread_t th;

	(void)state;
	RUN_FOR_PROCS(deadline_main, NULL, 1, 2);
	/* Plain threads have no deadline. */
	assert_int_equal(rg_set_deadline(rg_now_ns() + MS), -EPERM);
	assert_int_equal(pthread_create(&th, NULL, deadline_thread, &ok), 0);
	pthread_join(th, NULL);
	assert_int_equal(atomic_load(&ok), 1);
}

/*
 * After a call timed out, the kernel never writes into its buffer and the
 * data that comes later stays in the descriptor.  The buffer is freed
 * (ASan), or checked against a pattern, or lies in a stack frame that is
 * gone by the time the data comes.
 */
#define LATE_ROUNDS TEST_SCALE(10, 5)
#define LATE_LEN    4096

/* Send @len bytes to @peer, give a stale call time to run, then expect
 * them all, unread, in @fd. */
static void expect_data_left(int peer, int fd, size_t len, uint64_t seed)
{
	char out[LATE_LEN], in[LATE_LEN + 1];
	ssize_t n;

	pat_fill(out, len, seed, 0);
	GCHECK_EQ(write(peer, out, len), len);
	rg_sleep_ns(10 * MS);
	n = read_sent(fd, in, len);
	if (n != (ssize_t)len)
		gcheck_fail("after a timed-out call, %zu bytes sent, %zd left to read", len, n);
	else
		GCHECK_EQ(pat_diff(in, len, seed, 0), -1);
}

static __attribute__((noinline)) ssize_t late_recv_on_stack(int fd, bool use_read)
{
	char buf[LATE_LEN];
	ssize_t r;

	memset(buf, 0x5a, sizeof(buf));
	rg_set_deadline(rg_now_ns() + 3 * MS);
	r = use_read ? rg_read(fd, buf, sizeof(buf)) : rg_recv(fd, buf, sizeof(buf), 0);
	rg_set_deadline(0);
	GCHECK(all_bytes(buf, 0x5a, sizeof(buf)));
	return r;
}

/* A frame of about the same size where the one above was. */
static __attribute__((noinline)) void late_canary_on_stack(int peer, int fd, uint64_t seed)
{
	volatile char canary[LATE_LEN];

	for (size_t i = 0; i < sizeof(canary); i++)
		canary[i] = (char)0xc3;
	expect_data_left(peer, fd, 100, seed);
	for (size_t i = 0; i < sizeof(canary); i++)
		if (canary[i] != (char)0xc3) {
			gcheck_fail("a stack frame was written at byte %zu", i);
			break;
		}
}

/* Pipes use rg_read, sockets rg_recv. */
static void late_write_body(int fd, int peer, bool use_read, void *arg)
{
	(void)arg;
	for (int r = 0; r < LATE_ROUNDS; r++) {
		char *buf = malloc(LATE_LEN);
		int64_t dl = rg_now_ns() + 3 * MS;

		/* A heap buffer, freed at once. */
		rg_set_deadline(dl);
		CHECK_TIMED_OUT(
			use_read ? rg_read(fd, buf, LATE_LEN) : rg_recv(fd, buf, LATE_LEN, 0), dl);
		rg_set_deadline(0);
		free(buf);
		expect_data_left(peer, fd, LATE_LEN, (uint64_t)r);

		/* A heap buffer kept, with a pattern. */
		buf = malloc(LATE_LEN);
		memset(buf, 0x77, LATE_LEN);
		dl = rg_now_ns() + 3 * MS;
		rg_set_deadline(dl);
		CHECK_TIMED_OUT(
			use_read ? rg_read(fd, buf, LATE_LEN) : rg_recv(fd, buf, LATE_LEN, 0), dl);
		rg_set_deadline(0);
		expect_data_left(peer, fd, 1000, (uint64_t)r + 100);
		GCHECK(all_bytes(buf, 0x77, LATE_LEN));
		free(buf);

		/* A stack buffer whose frame is gone. */
		GCHECK_EQ(late_recv_on_stack(fd, use_read), -ETIMEDOUT);
		late_canary_on_stack(peer, fd, (uint64_t)r + 200);
	}
}

static void late_write_main(void *arg)
{
	over_streams(late_write_body, arg, true);
}

static void test_deadline_no_late_write(void **state)
{
	(void)state;
	RUN_FOR_PROCS(late_write_main, NULL, 1, 2);
}

/*
 * Data racing the deadline: whatever the call returns, the bytes it
 * reports plus those left in the socket are exactly the bytes sent, in
 * order.
 */
#define RACE_ROUNDS TEST_SCALE(300, 100)

struct race_ctx {
	int peer;
	int64_t delay;
	rg_wg done;
};

static void race_sender(void *arg)
{
	struct race_ctx *rc = arg;
	char out[64];

	rg_sleep_ns(rc->delay);
	pat_fill(out, sizeof(out), 9, 0);
	GCHECK_EQ(rg_send(rc->peer, out, sizeof(out), 0), sizeof(out));
	rg_wg_done(&rc->done);
}

static void race_main(void *arg)
{
	uint64_t seed = 0x2545f4914f6cdd1dULL;
	int fds[2], timed_out = 0, got_data = 0;

	(void)arg;
	GCHECK_EQ(unix_pair(fds, 0), 0);
	for (int r = 0; r < RACE_ROUNDS; r++) {
		struct race_ctx rc = { .peer = fds[1] };
		char in[64], *buf = malloc(64);
		ssize_t n, left;

		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		rc.delay = (int64_t)(seed % 2000) * 1000;
		rg_wg_add(&rc.done, 1);
		GCHECK_EQ(rg_go(race_sender, &rc), 0);
		rg_set_deadline(rg_now_ns() + (int64_t)((seed >> 20) % 2000) * 1000);
		n = rg_recv(fds[0], buf, 64, 0);
		rg_set_deadline(0);
		rg_wg_wait(&rc.done);
		if (n == -ETIMEDOUT) {
			timed_out++;
			n = 0;
		} else if (n > 0 && n <= 64) {
			got_data++;
			GCHECK_EQ(pat_diff(buf, (size_t)n, 9, 0), -1);
		} else {
			gcheck_fail("rg_recv racing its deadline returned %zd", n);
			n = 0;
		}
		free(buf);
		left = read_sent(fds[0], in, (size_t)(64 - n));
		if (n + left != 64) {
			gcheck_fail("round %d: %zd bytes returned, %zd left, 64 sent", r, n, left);
			break;
		}
		GCHECK_EQ(pat_diff(in, (size_t)left, 9, (uint64_t)n), -1);
	}
	GCHECK_EQ(timed_out + got_data, RACE_ROUNDS);
	rg_close(fds[0]);
	rg_close(fds[1]);
}

static void test_deadline_race(void **state)
{
	(void)state;
	RUN_FOR_PROCS(race_main, NULL, 1, 2);
}

/*
 * A deadline that ends a call which had transferred part of its data: the
 * call returns that count (a short count), never -ETIMEDOUT, and exactly
 * those bytes went through.
 */
#define PART_LEN ((size_t)4 * MiB)

static void partial_deadline_body(int fd, int peer, bool is_pipe, void *arg)
{
	unsigned char *big = arg;
	unsigned char *in = malloc(PART_LEN + 1);
	int small = 64 * KiB;
	int64_t dl;
	ssize_t n, got;

	(void)is_pipe;
	if (!in) {
		gcheck_fail("out of memory");
		return;
	}
	/* Small fixed buffers: PART_LEN never fits in them. */
	GCHECK_EQ(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	GCHECK_EQ(setsockopt(peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	/* A send larger than the socket can hold, nobody reading. */
	dl = rg_now_ns() + 30 * MS;
	rg_set_deadline(dl);
	n = rg_send(fd, big, PART_LEN, 0);
	rg_set_deadline(0);
	if (n <= 0 || (size_t)n >= PART_LEN) {
		gcheck_fail("a send cut short by its deadline returned %zd", n);
	} else {
		got = read_sent(peer, in, (size_t)n);
		if (got != n)
			gcheck_fail("send returned %zd, the peer got %zd", n, got);
		else
			GCHECK_EQ(memcmp(in, big, (size_t)n), 0);
	}

	/* MSG_WAITALL for 10 bytes, 5 come: those 5 at the deadline. */
	GCHECK_EQ(write(peer, big, 5), 5);
	dl = rg_now_ns() + 30 * MS;
	rg_set_deadline(dl);
	n = rg_recv(fd, in, 10, MSG_WAITALL);
	rg_set_deadline(0);
	if (n == 5) {
		GCHECK_EQ(memcmp(in, big, 5), 0);
	} else {
		gcheck_fail("a MSG_WAITALL recv of 10 with 5 there returned %zd", n);
		if (n == -ETIMEDOUT && read_sent(fd, in, 5) != 5)
			gcheck_fail("and the 5 bytes are gone");
	}
	free(in);
}

static void partial_deadline_main(void *arg)
{
	over_streams(partial_deadline_body, arg, false);
}

static void test_deadline_partial(void **state)
{
	unsigned char *big = malloc(PART_LEN);

	(void)state;
	assert_non_null(big);
	pat_fill(big, PART_LEN, 8, 0);
	RUN_FOR_PROCS(partial_deadline_main, big, 1, 2);
	free(big);
}

/* --------------------------------------------------------------------- */
/* rg_io_cancel, rg_close while waiting                                  */
/* --------------------------------------------------------------------- */

enum wait_op { W_RECV, W_SEND, W_READ, W_ACCEPT };

struct waiter {
	int fd;
	enum wait_op op;
	atomic_int *started;
	rg_wg *done;
	ssize_t got;
};

static void waiter_fn(void *arg)
{
	struct waiter *w = arg;
	char buf[4096] = { 0 };

	atomic_fetch_add(w->started, 1);
	switch (w->op) {
	case W_RECV:
		w->got = rg_recv(w->fd, buf, sizeof(buf), 0);
		break;
	case W_SEND:
		w->got = rg_send(w->fd, buf, sizeof(buf), 0);
		break;
	case W_READ:
		w->got = rg_read(w->fd, buf, sizeof(buf));
		break;
	case W_ACCEPT:
		w->got = rg_accept(w->fd, NULL, NULL);
		break;
	}
	rg_wg_done(w->done);
}

static void start_waiters(struct waiter *w, int n, atomic_int *started, rg_wg *done)
{
	for (int i = 0; i < n; i++) {
		w[i].started = started;
		w[i].done = done;
		w[i].got = 12345;
		rg_wg_add(done, 1);
		GCHECK_EQ(rg_go(waiter_fn, &w[i]), 0);
	}
}

struct cancel_thread_arg {
	int fd, want;
	atomic_int total;
};

static void *cancel_thread(void *arg)
{
	struct cancel_thread_arg *ca = arg;
	int64_t until = now_ns() + SLACK_NS;

	while (atomic_load(&ca->total) < ca->want && now_ns() < until) {
		int r = rg_io_cancel(ca->fd);

		if (r > 0)
			atomic_fetch_add(&ca->total, r);
		usleep(500);
	}
	return NULL;
}

/* A reader and a writer on one socket, a reader on a pipe, an acceptor. */
static void cancel_body(bool from_thread)
{
	struct sockaddr_in addr;
	int fds[2], pfd[2], lfd;
	atomic_int started = 0;
	rg_wg done = { 0 };
	struct waiter w[4];
	char buf[4096];
	int fdv[3];

	GCHECK_EQ(unix_pair(fds, 0), 0);
	GCHECK_EQ(pipe2(pfd, O_CLOEXEC), 0);
	lfd = tcp_listen(4, &addr);
	GCHECK(lfd >= 0);
	fill_socket(fds[0]);
	w[0] = (struct waiter){ .fd = fds[0], .op = W_RECV };
	w[1] = (struct waiter){ .fd = fds[0], .op = W_SEND };
	w[2] = (struct waiter){ .fd = pfd[0], .op = W_READ };
	w[3] = (struct waiter){ .fd = lfd, .op = W_ACCEPT };
	start_waiters(w, 4, &started, &done);
	GCHECK(wait_count(&started, 4));

	fdv[0] = fds[0];
	fdv[1] = pfd[0];
	fdv[2] = lfd;
	for (int i = 0; i < 3; i++) {
		int want = i == 0 ? 2 : 1;

		if (from_thread) {
			struct cancel_thread_arg ca = { .fd = fdv[i], .want = want };
			pthread_t th;

			if (pthread_create(&th, NULL, cancel_thread, &ca) != 0) {
				gcheck_fail("pthread_create failed");
				break;
			}
			pthread_join(th, NULL);
			GCHECK_EQ(atomic_load(&ca.total), want);
		} else {
			cancel_until(fdv[i], want);
		}
	}
	rg_wg_wait(&done);
	for (int i = 0; i < 4; i++)
		if (w[i].got != -ECANCELED)
			gcheck_fail("waiter %d: %zd, not -ECANCELED", i, w[i].got);

	/* Nothing waits any more; the descriptors still work. */
	GCHECK_EQ(rg_io_cancel(fds[0]), 0);
	GCHECK_EQ(rg_io_cancel(pfd[0]), 0);
	while (recv(fds[1], buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	GCHECK_EQ(rg_send(fds[0], "ok", 2, 0), 2);
	GCHECK_EQ(recv_all(fds[1], buf, 2), 0);
	GCHECK_EQ(write(fds[1], "ok", 2), 2);
	GCHECK_EQ(recv_all(fds[0], buf, 2), 0);
	GCHECK_EQ(write(pfd[1], "ok", 2), 2);
	GCHECK_EQ(rg_read(pfd[0], buf, sizeof(buf)), 2);
	{
		int c = tcp_connect(&addr, false), a = rg_accept(lfd, NULL, NULL);

		GCHECK(c >= 0 && a >= 0);
		rg_close(c);
		rg_close(a);
	}
	rg_close(fds[0]);
	rg_close(fds[1]);
	rg_close(pfd[0]);
	rg_close(pfd[1]);
	rg_close(lfd);
}

static void cancel_main(void *arg)
{
	(void)arg;
	cancel_body(false);
	cancel_body(true);
	/* No waiter: nothing to interrupt. */
	GCHECK_EQ(rg_io_cancel(0), 0);
}

static void test_io_cancel(void **state)
{
	(void)state;
	RUN_FOR_PROCS(cancel_main, NULL, 1, 2);
}

/*
 * rg_close of a descriptor others wait on: they return -ECANCELED (or,
 * at maxprocs > 1 where one may not have started waiting yet, -EBADF), and
 * the descriptor is really closed: the peer sees the end of the stream.
 */
struct close_ctx {
	int procs;
	bool from_thread; /* rg_close from a plain thread */
};

struct close_fds {
	int fd[3];
};

static void *close_thread(void *arg)
{
	struct close_fds *cf = arg;

	for (int i = 0; i < 3; i++)
		GCHECK_EQ(rg_close(cf->fd[i]), 0);
	return NULL;
}

static void close_main(void *arg)
{
	struct close_ctx *cc = arg;
	struct sockaddr_in addr;
	int fds[2], pfd[2], lfd, r;
	atomic_int started = 0;
	rg_wg done = { 0 };
	struct waiter w[5];
	char buf[16];

	GCHECK_EQ(unix_pair(fds, 0), 0);
	GCHECK_EQ(pipe2(pfd, O_CLOEXEC), 0);
	lfd = tcp_listen(4, &addr);
	GCHECK(lfd >= 0);
	fds[0] = high_fd(fds[0], 900);
	pfd[0] = high_fd(pfd[0], 910);
	lfd = high_fd(lfd, 920);
	GCHECK(fds[0] >= 900 && pfd[0] >= 910 && lfd >= 920);
	fill_socket(fds[0]);
	w[0] = (struct waiter){ .fd = fds[0], .op = W_RECV };
	w[1] = (struct waiter){ .fd = fds[0], .op = W_SEND };
	w[2] = (struct waiter){ .fd = pfd[0], .op = W_READ };
	w[3] = (struct waiter){ .fd = lfd, .op = W_ACCEPT };
	w[4] = (struct waiter){ .fd = lfd, .op = W_ACCEPT };
	start_waiters(w, 5, &started, &done);
	if (cc->procs == 1)
		await_count(&started, 5); /* all parked in their calls */
	else
		GCHECK(wait_count(&started, 5));
	rg_sleep_ns(5 * MS);

	if (cc->from_thread) {
		struct close_fds cf = { { fds[0], pfd[0], lfd } };
		pthread_t th;

		if (pthread_create(&th, NULL, close_thread, &cf) == 0)
			pthread_join(th, NULL);
		else
			gcheck_fail("pthread_create failed");
	} else {
		GCHECK_EQ(rg_close(fds[0]), 0);
		GCHECK_EQ(rg_close(pfd[0]), 0);
		GCHECK_EQ(rg_close(lfd), 0);
	}
	rg_wg_wait(&done);
	for (int i = 0; i < 5; i++) {
		if (w[i].got == -ECANCELED || (cc->procs > 1 && w[i].got == -EBADF))
			continue;
		gcheck_fail("waiter %d: %zd after rg_close, not -ECANCELED", i, w[i].got);
	}
	/* Really closed. */
	GCHECK_EQ(rg_recv(fds[1], buf, sizeof(buf), MSG_DONTWAIT) > 0, 1);
	while ((r = (int)recv(fds[1], buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		;
	GCHECK_EQ(r, 0);
	GCHECK_EQ(rg_write(pfd[1], "x", 1), -EPIPE);
	GCHECK_EQ(tcp_connect(&addr, false), -ECONNREFUSED);
	GCHECK_EQ(rg_close(fds[1]), 0);
	GCHECK_EQ(rg_close(pfd[1]), 0);
}

static void test_close_while_waiting(void **state)
{
	struct close_ctx cc;
	struct sigaction sa = { .sa_handler = SIG_IGN }, old;

	(void)state;
	/* Writing to the pipe whose read end is closed must not kill us. */
	sigaction(SIGPIPE, &sa, &old);
	for (int t = 0; t <= 1; t++) {
		cc = (struct close_ctx){ .procs = 1, .from_thread = t };
		RUN_IN_RUNTIME(1, close_main, &cc);
		cc = (struct close_ctx){ .procs = 2, .from_thread = t };
		RUN_IN_RUNTIME(2, close_main, &cc);
	}
	sigaction(SIGPIPE, &old, NULL);
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
/* Regular files                                                         */
/* --------------------------------------------------------------------- */

static char tmp_dir[64];

static int tmp_dir_setup(void **state)
{
	(void)state;
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/ringo-test-io-XXXXXX");
	return mkdtemp(tmp_dir) ? 0 : -1;
}

static int tmp_dir_teardown(void **state)
{
	DIR *d = opendir(tmp_dir);
	struct dirent *e;
	char path[512];

	(void)state;
	while (d && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", tmp_dir, e->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	return rmdir(tmp_dir) == 0 ? 0 : -1;
}

static void tmp_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmp_dir, name);
}

#define FILE_BIG (1 * MiB)

/* Runs as a goroutine and from a plain thread; @tag names its files. */
static void file_body(const char *tag)
{
	static const size_t chunks[] = { 1, 4095, FILE_BIG };
	size_t total = 0, off;
	char path[256], name[64];
	unsigned char *buf = malloc(FILE_BIG + 4096), small[300];
	int fd, fd2;
	ssize_t n;

	if (!buf) {
		gcheck_fail("out of memory");
		return;
	}
	snprintf(name, sizeof(name), "file-%s", tag);
	tmp_path(path, sizeof(path), name);
	fd = rg_open(path, O_CREAT | O_EXCL | O_RDWR, 0600);
	GCHECK(fd >= 0);
	GCHECK(fd_cloexec(fd));
	GCHECK_EQ(rg_open(path, O_CREAT | O_EXCL | O_RDWR, 0600), -EEXIST);

	/* Sequential writes move the file position. */
	for (size_t i = 0; i < ARRAY_SIZE(chunks); i++) {
		pat_fill(buf, chunks[i], 5, total);
		GCHECK_EQ(rg_write(fd, buf, chunks[i]), chunks[i]);
		total += chunks[i];
		GCHECK_EQ(lseek(fd, 0, SEEK_CUR), total);
	}
	GCHECK_EQ(rg_fsync(fd), 0);

	/* pwrite does not move it. */
	pat_fill(small, 100, 6, 0);
	GCHECK_EQ(rg_pwrite(fd, small, 100, 5000), 100);
	GCHECK_EQ(lseek(fd, 0, SEEK_CUR), total);
	GCHECK_EQ(rg_fsync(fd), 0);

	/* pread everything back in pieces. */
	for (off = 0; off < total; off += (size_t)n) {
		size_t want = off % 3 ? 65536 : 777;

		n = rg_pread(fd, buf, want, (off_t)off);
		if (n <= 0) {
			gcheck_fail("rg_pread at %zu: %zd", off, n);
			break;
		}
		for (size_t i = 0; i < (size_t)n; i++) {
			size_t o = off + i;
			unsigned char want_b = o >= 5000 && o < 5100 ? pat(6, o - 5000) : pat(5, o);

			if (buf[i] != want_b) {
				gcheck_fail("%s: byte %zu differs", name, o);
				off = total;
				break;
			}
		}
	}
	GCHECK_EQ(rg_pread(fd, buf, 100, (off_t)total), 0);
	GCHECK_EQ(rg_pread(fd, buf, 100, -1), -EINVAL);
	GCHECK_EQ(rg_pwrite(fd, buf, 100, -1), -EINVAL);
	GCHECK_EQ(rg_pread(fd, buf, 100, (off_t)total + 12345), 0);
	GCHECK_EQ(lseek(fd, 0, SEEK_CUR), total);

	/* read from the start, in small pieces, to the end. */
	GCHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
	for (off = 0;; off += (size_t)n) {
		n = rg_read(fd, small, off % 2 ? sizeof(small) : 13);
		if (n <= 0)
			break;
		for (size_t i = 0; i < (size_t)n; i++) {
			size_t o = off + i;

			if (small[i] != (o >= 5000 && o < 5100 ? pat(6, o - 5000) : pat(5, o))) {
				gcheck_fail("%s: byte %zu read differs", name, o);
				n = -1;
				break;
			}
		}
		if (n < 0)
			break;
	}
	GCHECK_EQ(n, 0);
	GCHECK_EQ(off, total);

	/* A pwrite beyond the end leaves a hole of zeros. */
	GCHECK_EQ(rg_pwrite(fd, "end", 3, (off_t)total + 4096), 3);
	GCHECK_EQ(rg_pread(fd, buf, 4096 + 10, (off_t)total), 4096 + 3);
	GCHECK(all_bytes(buf, 0, 4096));
	GCHECK(memcmp(buf + 4096, "end", 3) == 0);
	GCHECK_EQ(rg_fsync(fd), 0);
	GCHECK_EQ(rg_close(fd), 0);

	/* O_APPEND, and a read-only descriptor. */
	fd = rg_open(path, O_WRONLY | O_APPEND, 0);
	GCHECK(fd >= 0);
	GCHECK_EQ(rg_write(fd, "tail", 4), 4);
	GCHECK_EQ(rg_close(fd), 0);
	fd2 = rg_open(path, O_RDONLY, 0);
	GCHECK(fd2 >= 0);
	GCHECK_EQ(rg_pread(fd2, buf, 16, (off_t)total + 4096), 7);
	GCHECK(memcmp(buf, "endtail", 7) == 0);
	GCHECK_EQ(rg_write(fd2, "x", 1), -EBADF);
	GCHECK_EQ(rg_pwrite(fd2, "x", 1, 0), -EBADF);
	GCHECK_EQ(rg_close(fd2), 0);
	GCHECK_EQ(unlink(path), 0);
	free(buf);
}

static void file_main(void *arg)
{
	file_body(arg);
}

static void *file_thread(void *arg)
{
	file_body(arg);
	return NULL;
}

struct file_g {
	const char *tag;
	rg_wg *wg;
};

static void file_goroutine(void *arg)
{
	struct file_g *fg = arg;

	file_body(fg->tag);
	rg_wg_done(fg->wg);
}

/* Goroutines and a plain thread at once, each on its own file. */
static void file_mixed_main(void *arg)
{
	pthread_t th;
	rg_wg wg = { 0 };
	struct file_g fg[3] = { { "g0", &wg }, { "g1", &wg }, { "g2", &wg } };

	(void)arg;
	if (pthread_create(&th, NULL, file_thread, "thread") != 0) {
		gcheck_fail("pthread_create failed");
		return;
	}
	for (int i = 0; i < 3; i++) {
		rg_wg_add(&wg, 1);
		GCHECK_EQ(rg_go(file_goroutine, &fg[i]), 0);
	}
	rg_wg_wait(&wg);
	pthread_join(th, NULL);
}

static void test_files(void **state)
{
	(void)state;
	RUN_IN_RUNTIME(1, file_main, "p1");
	RUN_IN_RUNTIME(2, file_main, "p2");
	gcheck_reset();
	file_body("plain");
	gcheck_assert_none();
	RUN_IN_RUNTIME(2, file_mixed_main, NULL);
}

/*
 * Thousands of reads at once: goroutine i reads record i of one shared
 * file with rg_pread; every 50th also opens, reads and closes a file of
 * its own.  All are started first and released together.
 */
#define MANY_READS TEST_SCALE(10000, 2000)
#define REC	   64
#define OWN_EVERY  50

struct many_ctx {
	int fd;
	rg_wg gate, done;
	atomic_int ok;
};

struct many_arg {
	struct many_ctx *ctx;
	int i;
};

static void many_reader(void *arg)
{
	struct many_arg *a = arg;
	struct many_ctx *ctx = a->ctx;
	unsigned char buf[REC];
	bool good;
	ssize_t n;

	rg_wg_wait(&ctx->gate);
	n = rg_pread(ctx->fd, buf, REC, (off_t)a->i * REC);
	good = n == REC && pat_diff(buf, REC, 7, (uint64_t)a->i * REC) < 0;
	if (!good)
		gcheck_fail("record %d: %zd bytes, content %s", a->i, n,
			    n == REC ? "wrong" : "short");
	if (good && a->i % OWN_EVERY == 0) {
		char path[256], name[32];
		int fd;

		snprintf(name, sizeof(name), "own-%d", a->i);
		tmp_path(path, sizeof(path), name);
		fd = rg_open(path, O_RDONLY, 0);
		n = fd >= 0 ? rg_read(fd, buf, REC) : fd;
		good = n == REC && pat_diff(buf, REC, (uint64_t)a->i, 0) < 0;
		if (!good)
			gcheck_fail("%s: %zd", name, n);
		if (fd >= 0)
			GCHECK_EQ(rg_close(fd), 0);
	}
	if (good)
		atomic_fetch_add(&ctx->ok, 1);
	rg_wg_done(&ctx->done);
}

static void many_main(void *arg)
{
	struct many_ctx ctx = { .fd = *(int *)arg };
	struct many_arg *args = calloc(MANY_READS, sizeof(*args));

	if (!args) {
		gcheck_fail("out of memory");
		return;
	}
	rg_wg_add(&ctx.gate, 1);
	for (int i = 0; i < MANY_READS; i++) {
		args[i] = (struct many_arg){ &ctx, i };
		rg_wg_add(&ctx.done, 1);
		if (rg_go(many_reader, &args[i]) != 0) {
			gcheck_fail("rg_go failed at %d", i);
			rg_wg_done(&ctx.done);
		}
	}
	rg_wg_done(&ctx.gate);
	rg_wg_wait(&ctx.done);
	GCHECK_EQ(atomic_load(&ctx.ok), MANY_READS);
	free(args);
}

static void test_many_file_reads(void **state)
{
	char path[256], name[32];
	unsigned char *data = malloc((size_t)MANY_READS * REC);
	int fd;

	(void)state;
	assert_non_null(data);
	pat_fill(data, (size_t)MANY_READS * REC, 7, 0);
	tmp_path(path, sizeof(path), "shared");
	fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, (size_t)MANY_READS * REC), (size_t)MANY_READS * REC);
	for (int i = 0; i < MANY_READS; i += OWN_EVERY) {
		int ofd;

		snprintf(name, sizeof(name), "own-%d", i);
		tmp_path(path, sizeof(path), name);
		ofd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
		assert_true(ofd >= 0);
		pat_fill(data, REC, (uint64_t)i, 0);
		assert_int_equal(write(ofd, data, REC), REC);
		close(ofd);
	}
	free(data);
	RUN_FOR_PROCS(many_main, &fd, 1, 2);
	rg_close(fd);
}

/*
 * Files that are not in the page cache, read at once by many goroutines:
 * each reads its whole file in pieces to the end, then one piece again
 * with rg_pread, and gets the right bytes.  The files are made in a
 * directory on disk ($TMPDIR, default /var/tmp: /tmp may be a tmpfs, whose
 * pages cannot be dropped), flushed (syncfs) and dropped from the cache
 * (POSIX_FADV_DONTNEED) before each run.  Reads that find no page cached
 * may go to the ring at once, without trying the cache first (see
 * io_rw in runtime/io.c); a pread of a pipe made meanwhile still fails
 * with -ESPIPE and leaves its data in the pipe (on the ring a read at an
 * offset would take it), and files cached and not, read together, read
 * the same.
 */
#define COLD_FILES TEST_SCALE(1000, 200)
#define COLD_PIECE 3000 /* a read's length: several per file, not page-aligned */

static size_t cold_size(int i)
{
	return (size_t)i * 1237 % 20000; /* 0 to 5 pages, some empty */
}

static int cold_dir_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	(void)state;
	snprintf(tmp_dir, sizeof(tmp_dir), "%.40s/ringo-test-io-XXXXXX",
		 tmp && *tmp ? tmp : "/var/tmp");
	return mkdtemp(tmp_dir) ? 0 : -1;
}

/* Flush the files and drop them from the page cache (best effort: a
 * tmpfs keeps them, and then the reads test the cached path). */
static void cold_drop(void)
{
	char path[256], name[32];
	int fd = open(tmp_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(syncfs(fd), 0);
	close(fd);
	for (int i = 0; i < COLD_FILES; i++) {
		snprintf(name, sizeof(name), "cold-%d", i);
		tmp_path(path, sizeof(path), name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
}

struct cold_ctx {
	rg_wg done;
	atomic_int ok;
};

struct cold_arg {
	struct cold_ctx *ctx;
	int i;
};

/* Read file i to its end, then (again) its middle piece with rg_pread. */
static bool cold_read_one(int i, bool again)
{
	size_t size = cold_size(i), got = 0, mid = size / 3;
	unsigned char *buf = malloc(size + COLD_PIECE);
	char path[256], name[32];
	bool good = false;
	ssize_t n = 0;
	int fd;

	if (!buf) {
		gcheck_fail("out of memory");
		return false;
	}
	snprintf(name, sizeof(name), "cold-%d", i);
	tmp_path(path, sizeof(path), name);
	fd = rg_open(path, O_RDONLY, 0);
	if (fd < 0) {
		gcheck_fail("%s: rg_open: %d", name, fd);
		goto out;
	}
	while (got <= size && (n = rg_read(fd, buf + got, COLD_PIECE)) > 0)
		got += (size_t)n;
	if (n < 0 || got != size || pat_diff(buf, size, (uint64_t)i, 0) >= 0) {
		gcheck_fail("%s: %zu of %zu bytes (last %zd), content %ld", name, got, size, n,
			    got == size ? pat_diff(buf, size, (uint64_t)i, 0) : -1);
		goto out;
	}
	n = again ? rg_pread(fd, buf, COLD_PIECE, (off_t)mid) : 0;
	if (again && (n != (ssize_t)(size - mid < COLD_PIECE ? size - mid : COLD_PIECE) ||
		      pat_diff(buf, (size_t)n, (uint64_t)i, mid) >= 0)) {
		gcheck_fail("%s: pread at %zu: %zd", name, mid, n);
		goto out;
	}
	good = true;
out:
	if (fd >= 0)
		GCHECK_EQ(rg_close(fd), 0);
	free(buf);
	return good;
}

static void cold_reader(void *arg)
{
	struct cold_arg *a = arg;

	if (cold_read_one(a->i, true))
		atomic_fetch_add(&a->ctx->ok, 1);
	rg_wg_done(&a->ctx->done);
}

static void cold_main(void *arg)
{
	struct cold_ctx ctx = { 0 };
	struct cold_arg *args = calloc(COLD_FILES, sizeof(*args));

	(void)arg;
	if (!args) {
		gcheck_fail("out of memory");
		return;
	}
	for (int i = 0; i < COLD_FILES; i++) {
		args[i] = (struct cold_arg){ &ctx, i };
		rg_wg_add(&ctx.done, 1);
		if (rg_go(cold_reader, &args[i]) != 0) {
			gcheck_fail("rg_go failed at %d", i);
			rg_wg_done(&ctx.done);
		}
	}
	rg_wg_wait(&ctx.done);
	GCHECK_EQ(atomic_load(&ctx.ok), COLD_FILES);
	free(args);
}

/* One goroutine: cold files of one piece one after another (a read that
 * misses the cache, then end of file: nothing that hits it), each followed
 * by preads of a pipe holding data, which must fail and leave the data
 * there. */
static void cold_pipe_main(void *arg)
{
	unsigned char data[1024], buf[sizeof(data)];
	int fds[2], files = 0;

	(void)arg;
	if (pipe2(fds, O_CLOEXEC) != 0) {
		gcheck_fail("pipe2: %s", strerror(errno));
		return;
	}
	/* More than the preads could take if they read: none blocks. */
	pat_fill(data, sizeof(data), 99, 0);
	GCHECK_EQ(rg_write(fds[1], data, sizeof(data)), (ssize_t)sizeof(data));
	for (int i = 1; i < COLD_FILES && files < 24; i++) {
		if (cold_size(i) >= COLD_PIECE || cold_size(i) == 0)
			continue;
		files++;
		GCHECK(cold_read_one(i, false));
		for (int k = 0; k < 4; k++)
			GCHECK_EQ(rg_pread(fds[0], buf, 8, 0), -ESPIPE);
	}
	GCHECK_EQ(files, 24);
	GCHECK_EQ(rg_close(fds[1]), 0);
	GCHECK_EQ(rg_read(fds[0], buf, sizeof(buf)), (ssize_t)sizeof(data));
	GCHECK_EQ(pat_diff(buf, sizeof(data), 99, 0), -1);
	GCHECK_EQ(rg_close(fds[0]), 0);
}

static void test_cold_file_reads(void **state)
{
	unsigned char *data = malloc(20000); /* above every cold_size */
	char path[256], name[32];

	(void)state;
	assert_non_null(data);
	for (int i = 0; i < COLD_FILES; i++) {
		size_t size = cold_size(i);
		int fd;

		snprintf(name, sizeof(name), "cold-%d", i);
		tmp_path(path, sizeof(path), name);
		fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
		assert_true(fd >= 0);
		pat_fill(data, size, (uint64_t)i, 0);
		assert_int_equal(write(fd, data, size), (ssize_t)size);
		close(fd);
	}
	free(data);
	cold_drop();
	RUN_IN_RUNTIME(2, cold_main, NULL);
	cold_drop();
	RUN_IN_RUNTIME(1, cold_pipe_main, NULL);
	RUN_IN_RUNTIME(2, cold_main, NULL); /* the files read since cached, the rest not */
}

/*
 * A burst of new goroutines does not hold back the ones whose requests
 * completed: each of BURST goroutines opens (on io_uring, a request on the
 * ring: it parks) and closes a cached file, and the first open to return
 * must do so before the last goroutine of the burst started.  The opens
 * complete as soon as the P submits them; were completions reaped only
 * when the P runs out of work, every goroutine of the burst would start
 * (and hold its stack) before the first resumed.
 */
#define BURST TEST_SCALE(2000, 500)

struct burst_ctx {
	rg_wg done;
	atomic_int started;
	atomic_int first_back; /* started when the first open returned; -1: none yet */
	char path[256];
};

static void burst_opener(void *arg)
{
	struct burst_ctx *ctx = arg;
	int expect = -1, fd;

	atomic_fetch_add(&ctx->started, 1);
	fd = rg_open(ctx->path, O_RDONLY, 0);
	atomic_compare_exchange_strong(&ctx->first_back, &expect, atomic_load(&ctx->started));
	if (fd >= 0)
		GCHECK_EQ(rg_close(fd), 0);
	else
		gcheck_fail("rg_open: %d", fd);
	rg_wg_done(&ctx->done);
}

static void burst_main(void *arg)
{
	struct burst_ctx *ctx = arg;

	for (int i = 0; i < BURST; i++) {
		rg_wg_add(&ctx->done, 1);
		if (rg_go(burst_opener, ctx) != 0) {
			gcheck_fail("rg_go failed at %d", i);
			rg_wg_done(&ctx->done);
		}
	}
	rg_wg_wait(&ctx->done);
	GCHECK(atomic_load(&ctx->first_back) > 0);
	GCHECK(atomic_load(&ctx->first_back) < BURST);
}

static void test_completions_not_behind_new_goroutines(void **state)
{
	struct burst_ctx ctx = { .first_back = -1 };
	int fd;

	(void)state;
	tmp_path(ctx.path, sizeof(ctx.path), "burst");
	fd = open(ctx.path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	RUN_IN_RUNTIME(1, burst_main, &ctx);
}

/* --------------------------------------------------------------------- */
/* Plain threads                                                         */
/* --------------------------------------------------------------------- */

struct plain_ctx {
	int fds[2];
	atomic_int state; /* 1: thread about to read; 2: thread done */
	ssize_t got;
	char buf[16];
};

/* A plain thread's calls block the thread: it waits for a goroutine. */
static void *plain_reader(void *arg)
{
	struct plain_ctx *pc = arg;

	atomic_store(&pc->state, 1);
	pc->got = rg_recv(pc->fds[0], pc->buf, sizeof(pc->buf), 0);
	atomic_store(&pc->state, 2);
	return NULL;
}

static void plain_main(void *arg)
{
	struct plain_ctx *pc = arg;
	pthread_t th;
	const char *be = rg_netpoll_backend();

	if (pthread_create(&th, NULL, plain_reader, pc) != 0) {
		gcheck_fail("pthread_create failed");
		return;
	}
	GCHECK(wait_count(&pc->state, 1));
	rg_sleep_ns(20 * MS);
	GCHECK_EQ(atomic_load(&pc->state), 1);
	GCHECK_EQ(rg_send(pc->fds[1], "plain", 5, 0), 5);
	GCHECK(wait_count(&pc->state, 2));
	pthread_join(th, NULL);
	GCHECK_EQ(pc->got, 5);
	GCHECK(memcmp(pc->buf, "plain", 5) == 0);
	GCHECK(be != NULL);
}

/* Without a runtime: the plain calls, on the test thread. */
static void plain_no_runtime(void)
{
	int fds[2];
	char buf[16];

	assert_null(rg_netpoll_backend());
	assert_int_equal(rg_set_deadline(rg_now_ns() + MS), -EPERM);
	assert_int_equal(unix_pair(fds, 0), 0);
	assert_int_equal(rg_send(fds[0], "abc", 3, 0), 3);
	assert_int_equal(rg_recv(fds[1], buf, sizeof(buf), 0), 3);
	assert_int_equal(rg_write(fds[1], "de", 2), 2);
	assert_int_equal(rg_read(fds[0], buf, sizeof(buf)), 2);
	assert_int_equal(memcmp(buf, "de", 2), 0);
	assert_int_equal(rg_io_cancel(fds[0]), 0);
	assert_int_equal(rg_close(fds[1]), 0);
	assert_int_equal(rg_recv(fds[0], buf, sizeof(buf), 0), 0);
	assert_int_equal(rg_close(fds[0]), 0);
}

static void test_plain_thread(void **state)
{
	struct plain_ctx pc = { 0 };

	(void)state;
	plain_no_runtime();
	assert_int_equal(unix_pair(pc.fds, 0), 0);
	RUN_IN_RUNTIME(1, plain_main, &pc);
	rg_close(pc.fds[0]);
	rg_close(pc.fds[1]);
	memset(&pc, 0, sizeof(pc));
	assert_int_equal(unix_pair(pc.fds, 0), 0);
	RUN_IN_RUNTIME(2, plain_main, &pc);
	rg_close(pc.fds[0]);
	rg_close(pc.fds[1]);
	plain_no_runtime();
}

/* --------------------------------------------------------------------- */
/* Waiters left behind by a runtime that ended                           */
/* --------------------------------------------------------------------- */

static int left_fds[2], left_lfd;
static char left_buf[4096];

static void left_reader(void *arg)
{
	(void)arg;
	rg_recv(left_fds[0], left_buf, sizeof(left_buf), 0);
}

static void left_acceptor(void *arg)
{
	(void)arg;
	rg_accept(left_lfd, NULL, NULL);
}

static void left_main(void *arg)
{
	(void)arg;
	GCHECK_EQ(rg_go(left_reader, NULL), 0);
	GCHECK_EQ(rg_go(left_acceptor, NULL), 0);
	rg_sleep_ns(5 * MS);
}

static void test_waiters_left_behind(void **state)
{
	struct sockaddr_in addr;

	(void)state;
	assert_int_equal(unix_pair(left_fds, 0), 0);
	left_lfd = tcp_listen(4, &addr);
	assert_true(left_lfd >= 0);
	RUN_FOR_PROCS(left_main, NULL, 1, 2);
	/* Nothing the abandoned reads started is still in flight: data sent
	 * now stays in the socket, and their buffer is never written. */
	memset(left_buf, 0x3c, sizeof(left_buf));
	assert_int_equal(write(left_fds[1], "after", 5), 5);
	usleep(20000);
	{
		char b[8];

		assert_int_equal(recv(left_fds[0], b, sizeof(b), MSG_DONTWAIT), 5);
		assert_memory_equal(b, "after", 5);
		for (size_t i = 0; i < sizeof(left_buf); i++)
			assert_int_equal(left_buf[i], 0x3c);
	}
	/* The next runtime works. */
	RUN_IN_RUNTIME(2, echo_main, NULL);
	rg_close(left_fds[0]);
	rg_close(left_fds[1]);
	rg_close(left_lfd);
}

/* --------------------------------------------------------------------- */
/* The backend                                                           */
/* --------------------------------------------------------------------- */

static const char *forced_backend(void)
{
	const char *e = getenv("RINGO_NETPOLL");

	return e && *e ? e : NULL;
}

static void backend_check(void)
{
	const char *be = rg_netpoll_backend(), *forced = forced_backend();

	if (!be) {
		gcheck_fail("rg_netpoll_backend() is NULL in a running runtime");
		return;
	}
	GCHECK(strcmp(be, "io_uring") == 0 || strcmp(be, "epoll") == 0);
	if (forced && strcmp(be, forced) != 0)
		gcheck_fail("RINGO_NETPOLL=%s, but the backend is %s", forced, be);
}

static void *backend_thread(void *arg)
{
	(void)arg;
	backend_check();
	return NULL;
}

static void backend_main(void *arg)
{
	pthread_t th;

	(void)arg;
	backend_check();
	if (pthread_create(&th, NULL, backend_thread, NULL) == 0)
		pthread_join(th, NULL);
}

static void test_backend(void **state)
{
	(void)state;
	assert_null(rg_netpoll_backend());
	RUN_FOR_PROCS(backend_main, NULL, 1, 2);
	assert_null(rg_netpoll_backend());
}

/* Can this process set up an io_uring at all? */
static bool io_uring_available(void)
{
	struct io_uring_params p;
	long fd;

	memset(&p, 0, sizeof(p));
	fd = syscall(__NR_io_uring_setup, 4, &p);
	if (fd < 0)
		return false;
	close((int)fd);
	return true;
}

#if defined(__x86_64__)
#define SECCOMP_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SECCOMP_ARCH AUDIT_ARCH_AARCH64
#endif

/* A seccomp filter under which the io_uring calls fail with EPERM. */
static int deny_io_uring(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SECCOMP_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_enter, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_register, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
	};
	struct sock_fprog prog = { .len = ARRAY_SIZE(f), .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return -errno;
	if (io_uring_available()) {
		fprintf(stderr, "TEST-SECCOMP-INEFFECTIVE\n");
		return -EINVAL;
	}
	return 0;
}

/* Report the backend and do an echo round trip; the child's status. */
static void child_echo_main(void *arg)
{
	const char *be = rg_netpoll_backend();

	(void)arg;
	fprintf(stderr, "TEST-BACKEND %s\n", be ? be : "(null)");
	fprintf(stderr, "TEST-RAN\n");
	echo_run(8, 4);
}

static int child_echo(void)
{
	rg_config cfg = { .maxprocs = 2 };
	int r;

	gcheck_reset();
	r = rg_main(&cfg, child_echo_main, NULL);
	if (r != 0) {
		fprintf(stderr, "TEST-RG-MAIN %d\n", r);
		return 3;
	}
	return child_checks_status(0);
}

static int child_seccomp_echo(void)
{
	int r = deny_io_uring();

	if (r < 0) {
		fprintf(stderr, "TEST-SECCOMP-FAILED %d\n", r);
		return 4;
	}
	return child_echo();
}

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

static const struct child_case child_cases[] = {
	{ "echo", child_echo },
	{ "seccomp_echo", child_seccomp_echo },
	{ "broken_pipe", child_broken_pipe },
};

/* Run child @name with RINGO_NETPOLL=@netpoll (NULL: unset) and @extra
 * (NULL: none), another NAME=VALUE of its environment. */
static void run_netpoll_child_env(const char *name, const char *netpoll, const char *extra,
				  struct child_result *r)
{
	const char *inherited = getenv("RINGO_NETPOLL");
	char *saved = inherited ? strdup(inherited) : NULL;
	char entry[128];
	const char *env[3] = { NULL, NULL, NULL };
	int rc, n = 0;

	if (netpoll) {
		snprintf(entry, sizeof(entry), "RINGO_NETPOLL=%s", netpoll);
		env[n++] = entry;
	}
	env[n] = extra;
	unsetenv("RINGO_NETPOLL");
	rc = child_run(name, env, r);
	if (saved) {
		setenv("RINGO_NETPOLL", saved, 1);
		free(saved);
	}
	if (rc < 0)
		fail_msg("cannot start child '%s': %s", name, strerror(-rc));
}

static void run_netpoll_child(const char *name, const char *netpoll, struct child_result *r)
{
	run_netpoll_child_env(name, netpoll, NULL, r);
}

/* Lines of the child's stderr that contain @needle, not counting ours. */
static int count_lines_with(const struct child_result *r, const char *needle)
{
	int n = 0;

	for (const char *line = r->err; line && *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char *copy = strndup(line, len);

		if (copy && strncmp(copy, "TEST-", 5) != 0 && strstr(copy, needle))
			n++;
		free(copy);
		line = end ? end + 1 : line + len;
	}
	return n;
}

static void expect_backend(const char *name, const struct child_result *r, const char *be)
{
	char want[64];

	assert_child_exit(name, r, 0);
	snprintf(want, sizeof(want), "TEST-BACKEND %s\n", be);
	assert_child_stderr_has(name, r, want);
}

static void test_backend_forced(void **state)
{
	struct child_result r;
	bool uring = io_uring_available();

	(void)state;
	run_netpoll_child("echo", "epoll", &r);
	expect_backend("echo", &r, "epoll");
	child_result_free(&r);

	run_netpoll_child("echo", "io_uring", &r);
	if (uring) {
		expect_backend("echo", &r, "io_uring");
	} else {
		if (!r.exited || r.exit_code == 0) {
			child_dump("echo", &r);
			fail_msg("RINGO_NETPOLL=io_uring without io_uring did not fail");
		}
		assert_child_stderr_has("echo", &r, "io_uring");
	}
	child_result_free(&r);

	/* The default: io_uring where it works, without a word. */
	run_netpoll_child("echo", NULL, &r);
	expect_backend("echo", &r, uring ? "io_uring" : "epoll");
	if (uring && count_lines_with(&r, "epoll") != 0) {
		child_dump("echo", &r);
		fail_msg("a notice about epoll although io_uring works");
	}
	child_result_free(&r);
}

/* The io_uring rings without COOP_TASKRUN (eventfd wake-ups, completions
 * that interrupt their submitter) still serve: the kernel's other mode. */
static void test_iouring_coop_off(void **state)
{
	struct child_result r;

	(void)state;
	if (!io_uring_available())
		skip();
	run_netpoll_child_env("echo", "io_uring", "RINGO_DEBUG=iouringcoop=0", &r);
	expect_backend("echo", &r, "io_uring");
	child_result_free(&r);
}

/* In a child process with SIGPIPE at its default action. */
/* --------------------------------------------------------------------- */
/* A completion behind a goroutine that computes                        */
/* --------------------------------------------------------------------- */

#define BUSY_NS (600 * MS)

struct busy_ctx {
	int fds[2];
	atomic_llong got_at; /* when the waiter had its data, 0 before */
};

static void busy_waiter(void *arg)
{
	struct busy_ctx *bc = arg;
	char c;

	GCHECK_EQ(rg_recv(bc->fds[0], &c, 1, 0), 1);
	atomic_store(&bc->got_at, now_ns());
}

static void *busy_sender(void *arg)
{
	struct busy_ctx *bc = arg;

	usleep(20000);
	if (write(bc->fds[1], "x", 1) != 1)
		abort();
	return NULL;
}

/*
 * The waiter parks on this P's poller; then this goroutine computes
 * without a scheduling point for BUSY_NS while the other P is idle.  The
 * data comes 20 ms in: sysmon must reap it and another P run the waiter
 * long before the computation ends.
 */
static void busy_main(void *arg)
{
	struct busy_ctx *bc = arg;
	volatile uint64_t sink = 0;
	pthread_t thr;
	int64_t start, end;

	GCHECK_EQ(unix_pair(bc->fds, 0), 0);
	GCHECK_EQ(rg_go(busy_waiter, bc), 0);
	rg_sleep_ns(5 * MS); /* the waiter parks in its recv */
	GCHECK_EQ(pthread_create(&thr, NULL, busy_sender, bc), 0);
	start = now_ns();
	while ((end = now_ns()) - start < BUSY_NS && !atomic_load(&bc->got_at))
		sink += (uint64_t)end;
	/* Keep the P a while longer: the waiter must not need it. */
	while (now_ns() - start < 30 * MS)
		sink++;
	pthread_join(thr, NULL);
	while (!atomic_load(&bc->got_at))
		rg_sleep_ns(MS);
	GCHECK(atomic_load(&bc->got_at) - start < BUSY_NS / 2);
	rg_close(bc->fds[0]);
	rg_close(bc->fds[1]);
}

static void test_completion_behind_computation(void **state)
{
	struct busy_ctx bc = { 0 };

	(void)state;
	RUN_IN_RUNTIME(2, busy_main, &bc);
}

static void test_broken_pipe(void **state)
{
	struct child_result r;

	(void)state;
	run_netpoll_child("broken_pipe", forced_backend(), &r);
	assert_child_exit("broken_pipe", &r, 0);
	assert_child_stderr_has("broken_pipe", &r, "TEST-DONE");
	child_result_free(&r);
}

static void test_backend_bad_value(void **state)
{
	struct child_result r;

	(void)state;
	run_netpoll_child("echo", "bogus", &r);
	/* Reported, then either ignored or fatal at start-up; never a crash. */
	if (r.timed_out || !r.exited ||
	    (r.exit_code != 0 && r.exit_code != 2 && r.exit_code != 3)) {
		child_dump("echo", &r);
		fail_msg("RINGO_NETPOLL=bogus: the child did not end cleanly");
	}
	assert_child_stderr_has("echo", &r, "RINGO_NETPOLL");
	assert_child_stderr_has("echo", &r, "bogus");
	child_result_free(&r);
}

static void test_seccomp_fallback(void **state)
{
	struct child_result r;
	int n;

	(void)state;
	run_netpoll_child("seccomp_echo", NULL, &r);
	expect_backend("seccomp_echo", &r, "epoll");
	n = count_lines_with(&r, "epoll");
	if (n != 1) {
		child_dump("seccomp_echo", &r);
		fail_msg("%d notices about falling back to epoll, expected exactly 1", n);
	}
	child_result_free(&r);

	/* Forced epoll under the filter: no notice needed, no failure. */
	run_netpoll_child("seccomp_echo", "epoll", &r);
	expect_backend("seccomp_echo", &r, "epoll");
	child_result_free(&r);

	/* Forced io_uring under the filter: a start-up failure naming it. */
	run_netpoll_child("seccomp_echo", "io_uring", &r);
	if (r.timed_out || !r.exited || r.exit_code == 0 || r.exit_code == 4) {
		child_dump("seccomp_echo", &r);
		fail_msg("RINGO_NETPOLL=io_uring with io_uring refused did not fail at start-up");
	}
	assert_child_stderr_lacks("seccomp_echo", &r, "TEST-RAN");
	if (count_lines_with(&r, "io_uring") == 0) {
		child_dump("seccomp_echo", &r);
		fail_msg("the start-up failure does not name io_uring");
	}
	child_result_free(&r);
}

/* --------------------------------------------------------------------- */
/* FIFOs                                                                 */
/* --------------------------------------------------------------------- */

struct fifo_ctx {
	char path[128];
	int flags;
	atomic_int fd; /* -1 while its open waits */
	char got;
	rg_wg done;
};

/* Opens the FIFO as told, then writes "w" or reads a byte. */
static void fifo_opener(void *arg)
{
	struct fifo_ctx *fc = arg;
	int fd = rg_open(fc->path, fc->flags, 0);

	atomic_store(&fc->fd, fd);
	if (fd >= 0 && (fc->flags & O_ACCMODE) == O_WRONLY)
		GCHECK_EQ(rg_write(fd, "w", 1), 1);
	else if (fd >= 0)
		GCHECK_EQ(rg_read(fd, &fc->got, 1), 1);
	if (fd >= 0)
		GCHECK_EQ(rg_close(fd), 0);
	rg_wg_done(&fc->done);
}

/* The number of open descriptors of this process. */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return d ? n - 1 : -1; /* the directory's own descriptor */
}

/* An open without O_NONBLOCK waits for the peer, as libc's does. */
static void fifo_wait_main(void *arg)
{
	struct fifo_ctx fc;
	int flags[] = { O_WRONLY, O_RDONLY };
	char c = 0;

	(void)arg;
	for (size_t i = 0; i < ARRAY_SIZE(flags); i++) {
		int fd, peer = flags[i] == O_WRONLY ? O_RDONLY : O_WRONLY;

		memset(&fc, 0, sizeof(fc));
		tmp_path(fc.path, sizeof(fc.path), "fifo");
		GCHECK_EQ(mkfifo(fc.path, 0600), 0);
		fc.flags = flags[i];
		atomic_store(&fc.fd, -1);
		rg_wg_add(&fc.done, 1);
		GCHECK_EQ(rg_go(fifo_opener, &fc), 0);
		rg_sleep_ns(100 * MS);
		/* Still waiting: it has no peer. */
		GCHECK_EQ(atomic_load(&fc.fd), -1);
		fd = rg_open(fc.path, peer, 0);
		GCHECK(fd >= 0);
		if (peer == O_RDONLY) {
			GCHECK_EQ(rg_read(fd, &c, 1), 1);
			GCHECK_EQ(c, 'w');
		} else {
			GCHECK_EQ(rg_write(fd, "r", 1), 1);
		}
		rg_wg_wait(&fc.done);
		GCHECK(atomic_load(&fc.fd) >= 0);
		if (peer == O_WRONLY)
			GCHECK_EQ(fc.got, 'r');
		GCHECK_EQ(rg_close(fd), 0);
		GCHECK_EQ(unlink(fc.path), 0);
	}
	/* With O_NONBLOCK, libc's answers: no reader, -ENXIO; a reader
	 * needs no writer. */
	tmp_path(fc.path, sizeof(fc.path), "fifo");
	GCHECK_EQ(mkfifo(fc.path, 0600), 0);
	GCHECK_EQ(rg_open(fc.path, O_WRONLY | O_NONBLOCK, 0), -ENXIO);
	{
		int fd = rg_open(fc.path, O_RDONLY | O_NONBLOCK, 0);

		GCHECK(fd >= 0);
		GCHECK(fd_flags(fd) & O_NONBLOCK);
		GCHECK_EQ(rg_close(fd), 0);
	}
	GCHECK_EQ(unlink(fc.path), 0);
}

static void test_fifo_open_waits_for_reader(void **state)
{
	(void)state;
	RUN_FOR_PROCS(fifo_wait_main, NULL, 1, 2);
}

/* An open waiting for its peer gives up at the deadline, leaves no
 * descriptor and no end of the FIFO open. */
static void fifo_deadline_main(void *arg)
{
	char path[128];
	int flags[] = { O_WRONLY, O_RDONLY };
	int before = count_fds();

	(void)arg;
	tmp_path(path, sizeof(path), "fifo");
	GCHECK_EQ(mkfifo(path, 0600), 0);
	for (size_t i = 0; i < ARRAY_SIZE(flags); i++) {
		int64_t dl = rg_now_ns() + 200 * MS;
		int fd;

		rg_set_deadline(dl);
		CHECK_TIMED_OUT(rg_open(path, flags[i], 0), dl);
		/* Already past: at once. */
		dl = rg_now_ns() - MS;
		rg_set_deadline(dl);
		CHECK_TIMED_OUT(rg_open(path, flags[i], 0), dl);
		rg_set_deadline(0);
		GCHECK_EQ(count_fds(), before);
		/* No reader left behind; a writer left behind would make
		 * this read say -EAGAIN instead of end of file. */
		GCHECK_EQ(open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC), -1);
		GCHECK_EQ(errno, ENXIO);
		fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		GCHECK(fd >= 0);
		GCHECK_EQ(read(fd, path + sizeof(path) - 1, 1), 0);
		close(fd);
	}
	/* A regular file opens under a deadline already past. */
	rg_set_deadline(rg_now_ns() - MS);
	{
		int fd = rg_open("/dev/null", O_RDONLY, 0);

		GCHECK(fd >= 0);
		rg_close(fd);
	}
	rg_set_deadline(0);
	GCHECK_EQ(unlink(path), 0);
}

static void test_fifo_open_deadline(void **state)
{
	(void)state;
	RUN_FOR_PROCS(fifo_deadline_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* Deadlines in the past                                                 */
/* --------------------------------------------------------------------- */

/* rg_set_deadline(t) for any t < 0 means "already expired", as Go's
 * SetDeadline in the past; only 0 means none. */
static void past_deadline_main(void *arg)
{
	static const int64_t past[] = { -5, -1, INT64_MIN, 1 };
	char buf[8];
	int fds[2];

	(void)arg;
	GCHECK_EQ(unix_pair(fds, 0), 0);
	for (size_t i = 0; i < ARRAY_SIZE(past); i++) {
		int64_t t0 = rg_now_ns(), old;
		ssize_t r;

		GCHECK_EQ(rg_set_deadline(past[i]), 0);
		r = rg_recv(fds[0], buf, sizeof(buf), 0);
		GCHECK_EQ(r, -ETIMEDOUT);
		GCHECK(rg_now_ns() - t0 < SLACK_NS);
		/* What it returns restores the same expired deadline. */
		old = rg_set_deadline(0);
		GCHECK(old != 0);
		rg_set_deadline(old);
		GCHECK_EQ(rg_read(fds[0], buf, sizeof(buf)), -ETIMEDOUT);
		/* Data already there needs no wait. */
		GCHECK_EQ(write(fds[1], "x", 1), 1);
		GCHECK_EQ(rg_recv(fds[0], buf, sizeof(buf), 0), 1);
		GCHECK_EQ(rg_set_deadline(0), old);
	}
	/* 0: no deadline, the call waits for its data. */
	{
		struct short_ctx sc = { .wfd = fds[1], .rfd = fds[0], .ack = rg_chan_make(0, 1) };

		rg_wg_add(&sc.done, 1);
		GCHECK_EQ(rg_go(short_writer, &sc), 0);
		atomic_store(&sc.reading, 1);
		GCHECK(recv_all(fds[0], buf, 1) == 0);
		GCHECK_EQ(rg_chan_send(sc.ack, NULL), 0);
		rg_wg_wait(&sc.done);
		rg_chan_free(sc.ack);
	}
	rg_close(fds[0]);
	rg_close(fds[1]);
}

static void test_deadline_in_past_expires(void **state)
{
	(void)state;
	RUN_FOR_PROCS(past_deadline_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* Requests of a thread that exits                                       */
/* --------------------------------------------------------------------- */

/*
 * On io_uring a request belongs to the thread that submitted it, and the
 * kernel cancels it when that thread exits.  A goroutine that exits locked
 * to its thread ends the thread; the requests it submitted for other
 * goroutines (a recv, an accept, a connect still in progress) must still
 * give their goroutines the right result.  On epoll nothing is in flight:
 * the same program must simply work.
 */
#define LOST_N 4

struct lost_ctx {
	int sv[LOST_N][2]; /* recv */
	int lfd;	   /* accept */
	struct sockaddr_in laddr;
	int clfd, cfd, held; /* connect: a full listener, the socket, the queued one */
	struct sockaddr_in caddr;
	atomic_int waiting;
	rg_wg workers, victims;
};

struct lost_arg {
	struct lost_ctx *lc;
	int i; /* 0..LOST_N-1: recv; LOST_N: accept; LOST_N + 1: connect */
};

static void lost_victim(void *arg)
{
	struct lost_arg *la = arg;
	struct lost_ctx *lc = la->lc;
	char c = 0;
	ssize_t r;

	atomic_fetch_add(&lc->waiting, 1);
	if (la->i < LOST_N) {
		r = rg_recv(lc->sv[la->i][0], &c, 1, 0);
		if (r != 1 || c != 'a' + la->i)
			gcheck_fail("recv %d: %zd (%s)", la->i, r, r < 0 ? strerror((int)-r) : "");
	} else if (la->i == LOST_N) {
		r = rg_accept(lc->lfd, NULL, NULL);
		if (r < 0)
			gcheck_fail("accept: %zd (%s)", r, strerror((int)-r));
		else
			GCHECK_EQ(rg_send((int)r, "A", 1, 0), 1);
		if (r >= 0)
			rg_close((int)r);
	} else {
		r = rg_connect(lc->cfd, (struct sockaddr *)&lc->caddr, sizeof(lc->caddr));
		if (r != 0)
			gcheck_fail("connect: %zd (%s)", r, strerror((int)-r));
		else
			GCHECK_EQ(rg_send(lc->cfd, "C", 1, 0), 1);
	}
	rg_wg_done(&lc->victims);
}

/* Starts a victim, whose request this M submits, then exits locked. */
static void lost_worker(void *arg)
{
	struct lost_arg *la = arg;

	GCHECK_EQ(rg_go(lost_victim, la), 0);
	rg_yield();
	rg_lock_os_thread();
	rg_wg_done(&la->lc->workers);
}

static void lost_main(void *arg)
{
	struct lost_ctx *lc = arg;
	struct lost_arg la[LOST_N + 2];
	char c = 0;
	int fd;

	/* The main goroutine keeps the caller's thread, which never ends. */
	rg_lock_os_thread();
	for (int i = 0; i < LOST_N + 2; i++) {
		la[i] = (struct lost_arg){ lc, i };
		rg_wg_add(&lc->workers, 1);
		rg_wg_add(&lc->victims, 1);
		GCHECK_EQ(rg_go(lost_worker, &la[i]), 0);
	}
	rg_wg_wait(&lc->workers);
	while (atomic_load(&lc->waiting) < LOST_N + 2)
		rg_sleep_ns(MS);
	rg_sleep_ns(100 * MS); /* the workers' threads end; the victims still wait */
	/* A victim that failed leaves this goroutine nothing to wait for. */
	rg_set_deadline(rg_now_ns() + SLACK_NS);
	for (int i = 0; i < LOST_N; i++)
		GCHECK_EQ(rg_send(lc->sv[i][1], (char[]){ (char)('a' + i) }, 1, 0), 1);
	fd = tcp_connect(&lc->laddr, false);
	GCHECK(fd >= 0);
	GCHECK_EQ(rg_recv(fd, &c, 1, 0), 1);
	GCHECK_EQ(c, 'A');
	rg_close(fd);
	/* Room in the listener: the connect's next SYN gets through. */
	fd = rg_accept(lc->clfd, NULL, NULL);
	GCHECK(fd >= 0);
	rg_close(fd);
	rg_wg_wait(&lc->victims);
	fd = rg_accept(lc->clfd, NULL, NULL);
	GCHECK(fd >= 0);
	GCHECK_EQ(rg_recv(fd, &c, 1, 0), 1);
	GCHECK_EQ(c, 'C');
	rg_close(fd);
	rg_set_deadline(0);
}

static void test_requests_of_exited_thread(void **state)
{
	struct lost_ctx lc;

	(void)state;
	memset(&lc, 0, sizeof(lc));
	for (int i = 0; i < LOST_N; i++)
		assert_int_equal(unix_pair(lc.sv[i], 0), 0);
	lc.lfd = tcp_listen(4, &lc.laddr);
	assert_true(lc.lfd >= 0);
	/* A listener with a backlog of 0 holds one connection; the next
	 * one's SYN is dropped until it is accepted, so its connect stays in
	 * progress (the SYN is sent again after about a second). */
	lc.clfd = tcp_listen(0, &lc.caddr);
	assert_true(lc.clfd >= 0);
	assert_int_equal(listen(lc.clfd, 0), 0);
	lc.held = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(lc.held, (struct sockaddr *)&lc.caddr, sizeof(lc.caddr)), 0);
	lc.cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lc.cfd >= 0);
	RUN_IN_RUNTIME(2, lost_main, &lc);
	for (int i = 0; i < LOST_N; i++) {
		close(lc.sv[i][0]);
		close(lc.sv[i][1]);
	}
	close(lc.lfd);
	close(lc.clfd);
	close(lc.held);
	close(lc.cfd);
}

int main(int argc, char **argv)
{
	int rc = child_dispatch(argc, argv, child_cases, ARRAY_SIZE(child_cases));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_echo),
		cmocka_unit_test(test_partial_transfers),
		cmocka_unit_test(test_short_reads),
		cmocka_unit_test(test_recv_flags),
		cmocka_unit_test(test_eof),
		cmocka_unit_test(test_peer_reset),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_deadline_no_late_write),
		cmocka_unit_test(test_deadline_race),
		cmocka_unit_test(test_deadline_partial),
		cmocka_unit_test(test_io_cancel),
		cmocka_unit_test(test_close_while_waiting),
		cmocka_unit_test(test_accept_storm),
		cmocka_unit_test(test_connect_refused),
		cmocka_unit_test(test_blocking_and_nonblocking),
		cmocka_unit_test(test_fd_reuse),
		cmocka_unit_test_setup_teardown(test_files, tmp_dir_setup, tmp_dir_teardown),
		cmocka_unit_test_setup_teardown(test_many_file_reads, tmp_dir_setup,
						tmp_dir_teardown),
		cmocka_unit_test_setup_teardown(test_cold_file_reads, cold_dir_setup,
						tmp_dir_teardown),
		cmocka_unit_test_setup_teardown(test_completions_not_behind_new_goroutines,
						tmp_dir_setup, tmp_dir_teardown),
		cmocka_unit_test(test_plain_thread),
		cmocka_unit_test(test_waiters_left_behind),
		cmocka_unit_test(test_backend),
		cmocka_unit_test(test_backend_forced),
		cmocka_unit_test(test_iouring_coop_off),
		cmocka_unit_test(test_backend_bad_value),
		cmocka_unit_test(test_broken_pipe),
		cmocka_unit_test(test_completion_behind_computation),
		cmocka_unit_test(test_seccomp_fallback),
		cmocka_unit_test_setup_teardown(test_fifo_open_waits_for_reader, tmp_dir_setup,
						tmp_dir_teardown),
		cmocka_unit_test_setup_teardown(test_fifo_open_deadline, tmp_dir_setup,
						tmp_dir_teardown),
		cmocka_unit_test(test_deadline_in_past_expires),
		cmocka_unit_test(test_requests_of_exited_thread),
	};
	struct rlimit rl;

	/* Room for the accept storm. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		if (rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
			getrlimit(RLIMIT_NOFILE, &rl);
		}
		fd_limit = rl.rlim_cur == RLIM_INFINITY ? 1L << 20 : (long)rl.rlim_cur;
	} else {
		fd_limit = 1024;
	}
	if (rc >= 0)
		return rc;
	test_watchdog(180);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
