/* SPDX-License-Identifier: MIT */
/*
 * echo_epoll - the echo benchmark (bench/echo.c) without ringo: the same
 * clients and server in one process, written as two hand-made
 * edge-triggered epoll reactors in plain C, the usual way to serve many
 * connections from few threads.  It is the baseline the harness shows
 * beside ringo and Go.
 *
 * The server reactor runs on its own thread: it accepts on 127.0.0.1 (a
 * free port) and echoes what each connection sends (recv into a 4 KiB
 * buffer, send of all of it; what the socket does not take waits for
 * EPOLLOUT).  The client reactor runs on the main thread: C non-blocking
 * connections (TCP_NODELAY on both ends, as on the other sides), each doing
 * N rounds of: send S bytes, receive S bytes, check them; the time of each
 * round (CLOCK_MONOTONIC before the send and after the last byte) goes to
 * the connection's own slice of one sample array.  Two threads, one per
 * reactor, so that the work can use two CPUs as ringo and Go do with
 * maxprocs 2, and clients cost what an event loop costs, not a thread
 * each.
 *
 * Usage: echo_epoll [-c C] [-n N] [-s S]   (defaults: C = 100 connections,
 *                                           N = 5000 rounds each, S = 64 bytes)
 *
 * Timed: from after the last connect to the end of the last round.
 *
 * Output, one figure per line (the names of bench/echo.c):
 *   echo_rps: <float> req/s       C * N / elapsed
 *   echo_p50_us: <float> us       median round trip
 *   echo_p99_us: <float> us       99th percentile round trip
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../bench.h"

#define DEFAULT_C  100L
#define DEFAULT_N  5000L
#define DEFAULT_S  64L
#define SERVER_BUF 4096
#define MAX_EVENTS 256

/* A server-side connection: what was received and not yet sent back. */
struct sconn {
	int fd;
	size_t off, len;
	char buf[SERVER_BUF];
};

/* A client connection and the round it is in. */
struct client {
	int fd;
	long id, round;
	size_t sent, got;
	int64_t t0;
	int64_t *lat;
	char *req, *resp;
};

static long conns = DEFAULT_C, rounds = DEFAULT_N, size = DEFAULT_S;
static int listen_fd, stop_fd;

static void fail(const char *what)
{
	fprintf(stderr, "echo_epoll: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int64_t clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void set_nonblock_nodelay(int fd)
{
	int one = 1;

	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		fail("fcntl/setsockopt");
}

/* Echo on c until the socket has nothing more to read or takes no more;
 * 0, or -1 when the connection is finished (closed or failed). */
static int sconn_progress(struct sconn *c)
{
	for (;;) {
		while (c->off < c->len) {
			ssize_t n = send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);

			if (n < 0)
				return errno == EAGAIN ? 0 : -1;
			c->off += (size_t)n;
		}
		ssize_t n = recv(c->fd, c->buf, sizeof(c->buf), 0);

		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		if (n == 0)
			return -1;
		c->off = 0;
		c->len = (size_t)n;
	}
}

static void *server_reactor(void *arg)
{
	struct epoll_event ev = { .events = EPOLLIN }, evs[MAX_EVENTS];
	int ep = epoll_create1(EPOLL_CLOEXEC);

	(void)arg;
	if (ep < 0)
		fail("epoll_create1");
	ev.data.ptr = NULL;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &ev) < 0)
		fail("epoll_ctl (listener)");
	ev.data.ptr = &stop_fd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, stop_fd, &ev) < 0)
		fail("epoll_ctl (eventfd)");

	for (;;) {
		int n = epoll_wait(ep, evs, MAX_EVENTS, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fail("epoll_wait (server)");
		}
		for (int i = 0; i < n; i++) {
			struct sconn *c = evs[i].data.ptr;

			if (evs[i].data.ptr == &stop_fd) {
				close(ep);
				return NULL;
			}
			if (!c) { /* the listener: accept everything pending */
				int fd;

				while ((fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
					c = calloc(1, sizeof(*c));
					if (!c)
						fail("calloc");
					c->fd = fd;
					set_nonblock_nodelay(fd);
					ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
					ev.data.ptr = c;
					if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
						fail("epoll_ctl (connection)");
				}
				if (errno != EAGAIN)
					fail("accept4");
				continue;
			}
			if (sconn_progress(c) < 0) {
				close(c->fd);
				free(c);
			}
		}
	}
}

/* Advance client c until its socket would block; 1 when its last round is
 * done, 0 otherwise. */
static int client_progress(struct client *c)
{
	while (c->round < rounds) {
		if (c->sent < (size_t)size) {
			ssize_t n =
				send(c->fd, c->req + c->sent, (size_t)size - c->sent, MSG_NOSIGNAL);

			if (n < 0) {
				if (errno == EAGAIN)
					return 0;
				fail("send");
			}
			c->sent += (size_t)n;
			continue;
		}
		ssize_t n = recv(c->fd, c->resp + c->got, (size_t)size - c->got, 0);

		if (n < 0) {
			if (errno == EAGAIN)
				return 0;
			fail("recv");
		}
		if (n == 0) {
			errno = ECONNRESET;
			fail("recv");
		}
		c->got += (size_t)n;
		if (c->got < (size_t)size)
			continue;
		c->lat[c->round] = clock_ns() - c->t0;
		if (memcmp(c->req, c->resp, (size_t)size) != 0) {
			fprintf(stderr, "echo_epoll: client %ld round %ld: wrong reply\n", c->id,
				c->round);
			exit(1);
		}
		if (++c->round == rounds)
			return 1;
		c->t0 = clock_ns();
		memset(c->req, 'a' + (int)((c->id + c->round) % 26), (size_t)size);
		c->sent = c->got = 0;
	}
	return 1;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t alen = sizeof(addr);
	struct epoll_event ev, evs[MAX_EVENTS];
	pthread_t server;
	int ep, rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			conns = parse_count_flag(argv[0], "-c", argv[++i]);
		} else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			rounds = parse_count_flag(argv[0], "-n", argv[++i]);
		} else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc) {
			size = parse_count_flag(argv[0], "-s", argv[++i]);
		} else {
			fprintf(stderr,
				"usage: %s [-c C] [-n N] [-s S]   (defaults: C = %ld connections, N = %ld rounds each, S = %ld bytes)\n",
				argv[0], DEFAULT_C, DEFAULT_N, DEFAULT_S);
			return 2;
		}
	}

	size_t total = (size_t)conns * (size_t)rounds;
	int64_t *lat = malloc(total * sizeof(*lat));
	struct client *cl = calloc((size_t)conns, sizeof(*cl));

	if (!lat || !cl)
		fail("malloc");

	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(listen_fd, 1024) < 0 ||
	    getsockname(listen_fd, (struct sockaddr *)&addr, &alen) < 0)
		fail("listen on 127.0.0.1");
	stop_fd = eventfd(0, EFD_CLOEXEC);
	if (stop_fd < 0)
		fail("eventfd");
	rc = pthread_create(&server, NULL, server_reactor, NULL);
	if (rc) {
		errno = rc;
		fail("pthread_create");
	}

	/* The clients: connected (blocking) before the timed region. */
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		fail("epoll_create1");
	for (long i = 0; i < conns; i++) {
		struct client *c = &cl[i];

		c->id = i;
		c->lat = lat + i * rounds;
		c->req = malloc((size_t)size);
		c->resp = malloc((size_t)size);
		if (!c->req || !c->resp)
			fail("malloc");
		c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c->fd < 0)
			fail("socket");
		if (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
			fail("connect");
		set_nonblock_nodelay(c->fd);
	}

	double t0 = now_ns();
	long left = conns;

	for (long i = 0; i < conns; i++) {
		struct client *c = &cl[i];

		c->t0 = clock_ns();
		memset(c->req, 'a' + (int)(c->id % 26), (size_t)size);
		ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
		ev.data.ptr = c;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
			fail("epoll_ctl (client)");
	}
	while (left > 0) {
		int n = epoll_wait(ep, evs, MAX_EVENTS, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fail("epoll_wait (clients)");
		}
		for (int i = 0; i < n; i++) {
			struct client *c = evs[i].data.ptr;

			if (c->round < rounds && client_progress(c))
				left--;
		}
	}
	double elapsed_ns = now_ns() - t0;

	if (eventfd_write(stop_fd, 1) < 0)
		fail("eventfd_write");
	pthread_join(server, NULL);
	for (long i = 0; i < conns; i++)
		close(cl[i].fd);

	qsort(lat, total, sizeof(*lat), cmp_int64);
	printf("# params: conns=%ld rounds=%ld size=%ld threads=2\n", conns, rounds, size);
	printf("echo_rps: %.0f req/s\n", (double)total / (elapsed_ns / 1e9));
	printf("echo_p50_us: %.1f us\n", (double)percentile(lat, total, 50) / 1e3);
	printf("echo_p99_us: %.1f us\n", (double)percentile(lat, total, 99) / 1e3);
	return 0;
}
