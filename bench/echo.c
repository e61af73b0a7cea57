/* SPDX-License-Identifier: MIT */
/*
 * echo - TCP round trips between client and server goroutines of one
 * process, over loopback.
 *
 * The main goroutine listens on 127.0.0.1 (a free port) and starts an
 * acceptor goroutine, which starts one server goroutine per accepted
 * connection: it echoes what it receives (rg_recv into a 4 KiB buffer,
 * rg_send of all of it) until the client closes.  The main goroutine then
 * starts C client goroutines; each connects (rg_connect, TCP_NODELAY on both
 * ends, as Go does by default), reports on a WaitGroup that it is ready and
 * waits for a start channel to be closed.  Then each does N rounds: send S
 * bytes, receive S bytes, check them; the time of each round (rg_now_ns
 * before the send and after the last byte) goes to the client's own slice
 * of one sample array.  maxprocs is the default.  Twin: bench/go/echo.go;
 * baseline: bench/baseline/echo_epoll.c, the same work with epoll reactors.
 *
 * Usage: echo [-c C] [-n N] [-s S]   (defaults: C = 100 connections,
 *                                     N = 5000 rounds each, S = 64 bytes)
 *
 * Timed: from closing the start channel to the end of the last client.
 *
 * Output, one figure per line:
 *   echo_rps: <float> req/s       C * N / elapsed
 *   echo_p50_us: <float> us       median round trip
 *   echo_p99_us: <float> us       99th percentile round trip
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ringo.h"

#include "bench.h"

#define DEFAULT_C  100L
#define DEFAULT_N  5000L
#define DEFAULT_S  64L
#define SERVER_BUF 4096

struct params {
	long conns, rounds, size;
	int maxprocs;
	int lfd;
	struct sockaddr_in addr;
	int64_t *lat; /* conns * rounds round-trip times, ns */
	rg_chan *start;
	rg_wg ready, done;
	double elapsed_ns;
};

static struct params P;

/* Print "echo: WHAT: error" and end the process with status 1. */
static void fail(const char *what, long rc)
{
	fprintf(stderr, "echo: %s: %s\n", what, strerror((int)-rc));
	exit(1);
}

/* Send all of buf; 0 or -errno. */
static long send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = rg_send(fd, buf, len, 0);

		if (n < 0)
			return n;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void server(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[SERVER_BUF];
	ssize_t n;

	while ((n = rg_recv(fd, buf, sizeof(buf), 0)) > 0)
		if (send_all(fd, buf, (size_t)n) < 0)
			break;
	rg_close(fd);
}

static void acceptor(void *arg)
{
	(void)arg;
	for (long i = 0; i < P.conns; i++) {
		int one = 1, fd = rg_accept(P.lfd, NULL, NULL), rc;

		if (fd < 0)
			fail("rg_accept", fd);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		rc = rg_go(server, (void *)(intptr_t)fd);
		if (rc < 0)
			fail("rg_go (server)", rc);
	}
}

static void client(void *arg)
{
	long id = (long)(intptr_t)arg;
	int64_t *lat = P.lat + id * P.rounds;
	char *req = malloc((size_t)P.size), *resp = malloc((size_t)P.size);
	int one = 1, fd;
	long rc;

	if (!req || !resp)
		fail("malloc", -ENOMEM);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fail("socket", -errno);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	rc = rg_connect(fd, (struct sockaddr *)&P.addr, sizeof(P.addr));
	if (rc < 0)
		fail("rg_connect", rc);
	rg_wg_done(&P.ready);
	rg_chan_recv(P.start, NULL); /* returns when closed */

	for (long r = 0; r < P.rounds; r++) {
		int64_t t0 = rg_now_ns();
		size_t got = 0;

		memset(req, 'a' + (int)((id + r) % 26), (size_t)P.size);
		rc = send_all(fd, req, (size_t)P.size);
		if (rc < 0)
			fail("rg_send", rc);
		while (got < (size_t)P.size) {
			ssize_t n = rg_recv(fd, resp + got, (size_t)P.size - got, 0);

			if (n <= 0)
				fail("rg_recv", n ? n : -ECONNRESET);
			got += (size_t)n;
		}
		lat[r] = rg_now_ns() - t0;
		if (memcmp(req, resp, (size_t)P.size) != 0) {
			fprintf(stderr, "echo: client %ld round %ld: wrong reply\n", id, r);
			exit(1);
		}
	}
	rg_close(fd);
	free(req);
	free(resp);
	rg_wg_done(&P.done);
}

static void bench_main(void *arg)
{
	socklen_t alen = sizeof(P.addr);
	long rc;

	(void)arg;
	P.maxprocs = rg_gomaxprocs(0);
	P.addr.sin_family = AF_INET;
	P.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	P.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (P.lfd < 0 || bind(P.lfd, (struct sockaddr *)&P.addr, sizeof(P.addr)) < 0 ||
	    listen(P.lfd, 1024) < 0 || getsockname(P.lfd, (struct sockaddr *)&P.addr, &alen) < 0)
		fail("listen on 127.0.0.1", -errno);
	P.start = rg_chan_make(0, 0);
	if (!P.start)
		fail("rg_chan_make", -errno);
	rc = rg_go(acceptor, NULL);
	if (rc < 0)
		fail("rg_go (acceptor)", rc);

	for (long i = 0; i < P.conns; i++) {
		rg_wg_add(&P.ready, 1);
		rg_wg_add(&P.done, 1);
		rc = rg_go(client, (void *)(intptr_t)i);
		if (rc < 0)
			fail("rg_go (client)", rc);
	}
	rg_wg_wait(&P.ready);

	double t0 = now_ns();
	rg_chan_close(P.start);
	rg_wg_wait(&P.done);
	P.elapsed_ns = now_ns() - t0;
}

int main(int argc, char **argv)
{
	P.conns = DEFAULT_C;
	P.rounds = DEFAULT_N;
	P.size = DEFAULT_S;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			P.conns = parse_count_flag(argv[0], "-c", argv[++i]);
		} else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			P.rounds = parse_count_flag(argv[0], "-n", argv[++i]);
		} else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc) {
			P.size = parse_count_flag(argv[0], "-s", argv[++i]);
		} else {
			fprintf(stderr,
				"usage: %s [-c C] [-n N] [-s S]   (defaults: C = %ld connections, N = %ld rounds each, S = %ld bytes)\n",
				argv[0], DEFAULT_C, DEFAULT_N, DEFAULT_S);
			return 2;
		}
	}

	size_t total = (size_t)P.conns * (size_t)P.rounds;
	P.lat = malloc(total * sizeof(*P.lat));
	if (!P.lat) {
		fprintf(stderr, "echo: malloc of %zu samples failed\n", total);
		return 1;
	}

	int rc = rg_main(NULL, bench_main, NULL);
	if (rc < 0) {
		fprintf(stderr, "echo: rg_main: %s\n", strerror(-rc));
		return 1;
	}

	qsort(P.lat, total, sizeof(*P.lat), cmp_int64);
	printf("# params: conns=%ld rounds=%ld size=%ld maxprocs=%d\n", P.conns, P.rounds, P.size,
	       P.maxprocs);
	printf("echo_rps: %.0f req/s\n", (double)total / (P.elapsed_ns / 1e9));
	printf("echo_p50_us: %.1f us\n", (double)percentile(P.lat, total, 50) / 1e3);
	printf("echo_p99_us: %.1f us\n", (double)percentile(P.lat, total, 99) / 1e3);
	free(P.lat);
	return 0;
}
