/* SPDX-License-Identifier: MIT */
/*
 * io_helpers.h - what the I/O test programs (tests/test_io_*.c) share, on
 * top of tests/helpers.h:
 *
 *  - byte streams with a known pattern (pat_fill, pat_diff), whole
 *    transfers (send_all, recv_all), descriptors to test on (tcp_listen,
 *    tcp_connect, tcp_pair, unix_pair; over_streams runs a body on a Unix
 *    socket pair, a TCP pair and a pipe), descriptor numbers kept out of
 *    reuse (high_fd, closed_fd), a full send buffer (fill_socket), data
 *    read back with plain calls (read_sent);
 *  - waiting inside the runtime with an upper bound (wait_count, SLACK_NS),
 *    goroutines parked in a call on a descriptor (struct waiter), calls
 *    interrupted (cancel_until), a deadline checked from both sides
 *    (CHECK_TIMED_OUT), a writer that answers a waiting reader
 *    (short_writer);
 *  - the echo server and clients (echo_run), the round trip that shows a
 *    runtime's I/O works;
 *  - a scratch directory per test (tmp_dir_setup, tmp_path);
 *  - child processes with a chosen backend (run_netpoll_child).
 *
 * Every check on time is a lower bound that holds exactly (a deadline never
 * fires early) or an upper bound of seconds.  Descriptors that get closed
 * while another goroutine may still use their number are moved to high
 * numbers first, so that the number is not reused meanwhile.
 */
#ifndef RINGO_TESTS_IO_HELPERS_H
#define RINGO_TESTS_IO_HELPERS_H

#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>

#include "tests/helpers.h"

#define MS  1000000LL
#define KiB 1024
#define MiB (1024 * 1024)

/* Generous upper bound for anything that should take milliseconds. */
#define SLACK_NS ((RG_TEST_SANITIZED ? 15000 : 3000) * MS)

/* The descriptor limit, raised to the hard limit by io_raise_fd_limit(). */
static long fd_limit __attribute__((unused)) = 1024;

/* Raise the descriptor limit to the hard limit, into fd_limit: room for
 * an accept storm and for descriptors moved to high numbers. */
static inline void io_raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	fd_limit = rl.rlim_cur == RLIM_INFINITY ? 1L << 20 : (long)rl.rlim_cur;
}

/* --------------------------------------------------------------------- */
/* Byte streams and descriptors                                          */
/* --------------------------------------------------------------------- */

/* The byte at offset @off of stream @seed: depends on every byte of off. */
static inline unsigned char pat(uint64_t seed, uint64_t off)
{
	uint64_t x = off * 0x9e3779b97f4a7c15ULL + seed;

	x ^= x >> 29;
	return (unsigned char)(x ^ (x >> 17) ^ (off >> 8));
}

static inline void pat_fill(void *buf, size_t len, uint64_t seed, uint64_t off)
{
	unsigned char *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = pat(seed, off + i);
}

/* The first offset where buf differs from the stream, or -1. */
static inline long pat_diff(const void *buf, size_t len, uint64_t seed, uint64_t off)
{
	const unsigned char *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i] != pat(seed, off + i))
			return (long)(off + i);
	return -1;
}

static inline bool all_bytes(const void *buf, int byte, size_t len)
{
	const unsigned char *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i] != (unsigned char)byte)
			return false;
	return true;
}

/* Send all of buf: 0, or the first error. */
static inline int send_all(int fd, const void *buf, size_t len)
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
static inline int recv_all(int fd, void *buf, size_t len)
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
static inline int tcp_listen(int backlog, struct sockaddr_in *addr)
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
static inline void tcp_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* A TCP socket connected to @addr with rg_connect, or -errno. */
static inline int tcp_connect(const struct sockaddr_in *addr, bool nonblock)
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
static inline int tcp_pair(int fds[2])
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

static inline int unix_pair(int fds[2], int flags)
{
	return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0, fds) < 0 ? -errno : 0;
}

/*
 * Run @body on a Unix socketpair, then a TCP pair, then (@with_pipe) a
 * pipe, closing each one after: @body reads @rfd and writes @wfd (either
 * end of a socket pair does both).
 */
static inline void over_streams(void (*body)(int rfd, int wfd, bool is_pipe, void *arg), void *arg,
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
static inline int high_fd(int fd, int at)
{
	int nfd = fcntl(fd, F_DUPFD_CLOEXEC, at);
	int e = -errno;

	close(fd);
	return nfd < 0 ? e : nfd;
}

/* A descriptor number that is not open, the first from @skip on. */
static inline int closed_fd(int skip)
{
	for (int fd = (int)(fd_limit > 2000 ? 1500 : fd_limit - 150) + skip;; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF)
			return fd;
}

/* Fill the send buffer of @fd with non-blocking sends; returns the bytes sent. */
static inline size_t fill_socket(int fd)
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
static inline ssize_t read_sent(int fd, void *buf, size_t len)
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

static inline int fd_flags(int fd)
{
	return fcntl(fd, F_GETFL);
}

static inline bool fd_cloexec(int fd)
{
	int r = fcntl(fd, F_GETFD);

	return r >= 0 && (r & FD_CLOEXEC);
}

/* Yield and sleep a little until *@v reaches @want (at most SLACK_NS). */
static inline bool wait_count(atomic_int *v, int want)
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
static inline void cancel_until(int fd, int want)
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

static inline void echo_serve(void *arg)
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

static inline void echo_acceptor(void *arg)
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

static inline void echo_client(void *arg)
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
static inline void echo_run(int conns, int msgs)
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

static inline void echo_main(void *arg)
{
	(void)arg;
	echo_run(ECHO_CONNS, ECHO_MSGS);
}

/* --------------------------------------------------------------------- */
/* A reader that waits, a writer that answers it                         */
/* --------------------------------------------------------------------- */

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

static inline void short_writer(void *arg)
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

/* --------------------------------------------------------------------- */
/* Deadlines and waiters                                                 */
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

enum wait_op { W_RECV, W_SEND, W_READ, W_ACCEPT };

struct waiter {
	int fd;
	enum wait_op op;
	atomic_int *started;
	rg_wg *done;
	ssize_t got;
};

static inline void waiter_fn(void *arg)
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

static inline void start_waiters(struct waiter *w, int n, atomic_int *started, rg_wg *done)
{
	for (int i = 0; i < n; i++) {
		w[i].started = started;
		w[i].done = done;
		w[i].got = 12345;
		rg_wg_add(done, 1);
		GCHECK_EQ(rg_go(waiter_fn, &w[i]), 0);
	}
}

/* --------------------------------------------------------------------- */
/* A scratch directory per test (cmocka set-up and tear-down)            */
/* --------------------------------------------------------------------- */

static char tmp_dir[64] __attribute__((unused));

static inline int tmp_dir_setup(void **state)
{
	(void)state;
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/ringo-test-io-XXXXXX");
	return mkdtemp(tmp_dir) ? 0 : -1;
}

static inline int tmp_dir_teardown(void **state)
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

static inline void tmp_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmp_dir, name);
}

/* --------------------------------------------------------------------- */
/* Child processes on a chosen backend                                   */
/* --------------------------------------------------------------------- */

/* RINGO_NETPOLL as this process has it, or NULL. */
static inline const char *forced_backend(void)
{
	const char *e = getenv("RINGO_NETPOLL");

	return e && *e ? e : NULL;
}

/* Run child @name with RINGO_NETPOLL=@netpoll (NULL: unset) and @extra
 * (NULL: none), another NAME=VALUE of its environment. */
static inline void run_netpoll_child_env(const char *name, const char *netpoll, const char *extra,
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

static inline void run_netpoll_child(const char *name, const char *netpoll, struct child_result *r)
{
	run_netpoll_child_env(name, netpoll, NULL, r);
}

#endif /* RINGO_TESTS_IO_HELPERS_H */
