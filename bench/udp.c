/* SPDX-License-Identifier: MIT */
/*
 * udp - UDP echo over loopback with rg_recvmsg and rg_sendmsg.
 *
 * A server socket on 127.0.0.1 is read by two server goroutines, each of
 * which receives a datagram with rg_recvmsg (learning its source address)
 * and sends it back there with rg_sendmsg.  C sender goroutines, each with
 * its own socket, do N round trips of S bytes: send to the server, receive
 * the echo (rg_recvmsg, with a deadline of 1 s: a datagram lost on the way
 * counts as lost rather than hang), check it.  maxprocs is the default.
 * Twin: bench/go/udp.go (ReadMsgUDP, WriteMsgUDP).
 *
 * Usage: udp [-c C] [-n N] [-s S]   (defaults: C = 64 senders, N = 2000
 *                                   round trips each, S = 64 bytes)
 *
 * Timed: from the start of the first sender to the end of the last.
 *
 * Output, one figure per line:
 *   udp_rps: <float> req/s       C * N / elapsed
 *   udp_lost: <int> datagrams    round trips whose echo did not come
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ringo.h"

#include "bench.h"

#define DEFAULT_C 64L
#define DEFAULT_N 2000L
#define DEFAULT_S 64L
#define SERVERS	  2

static struct {
	long senders, rounds, size;
	int maxprocs;
	int sfd;
	struct sockaddr_in saddr;
	rg_wg done;
	long lost, bad;
	double elapsed_ns;
} P;

static int udp_socket(struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)addr, sizeof(*addr)) ||
	    getsockname(fd, (struct sockaddr *)addr, &len))
		return -1;
	return fd;
}

static void server(void *arg)
{
	char buf[65536];
	struct sockaddr_in from;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr msg = { .msg_name = &from, .msg_iov = &iov, .msg_iovlen = 1 };

	(void)arg;
	for (;;) {
		ssize_t n;

		msg.msg_namelen = sizeof(from);
		iov.iov_len = sizeof(buf);
		n = rg_recvmsg(P.sfd, &msg, 0);
		if (n < 0)
			break; /* cancelled at the end */
		iov.iov_len = (size_t)n;
		rg_sendmsg(P.sfd, &msg, 0);
	}
}

static void sender(void *arg)
{
	char *out = malloc((size_t)P.size), *in = malloc((size_t)P.size + 1);
	struct sockaddr_in me;
	struct iovec oiov = { out, (size_t)P.size }, iiov = { in, (size_t)P.size + 1 };
	struct msghdr omsg = { .msg_name = &P.saddr,
			       .msg_namelen = sizeof(P.saddr),
			       .msg_iov = &oiov,
			       .msg_iovlen = 1 };
	struct msghdr imsg = { .msg_iov = &iiov, .msg_iovlen = 1 };
	int fd = udp_socket(&me);
	long lost = 0, bad = 0;

	(void)arg;
	if (fd < 0 || !out || !in) {
		__atomic_fetch_add(&P.bad, P.rounds, __ATOMIC_RELAXED);
		goto out;
	}
	for (long r = 0; r < P.rounds; r++) {
		ssize_t n;

		memset(out, (int)(r & 0xff), (size_t)P.size);
		memcpy(out, &r, sizeof(r) < (size_t)P.size ? sizeof(r) : (size_t)P.size);
		rg_set_deadline(rg_now_ns() + 1000000000LL);
		if (rg_sendmsg(fd, &omsg, 0) != P.size) {
			bad++;
			continue;
		}
		n = rg_recvmsg(fd, &imsg, 0);
		if (n == -ETIMEDOUT)
			lost++;
		else if (n != P.size || memcmp(in, out, (size_t)P.size) != 0)
			bad++;
	}
	__atomic_fetch_add(&P.lost, lost, __ATOMIC_RELAXED);
	__atomic_fetch_add(&P.bad, bad, __ATOMIC_RELAXED);
out:
	if (fd >= 0)
		rg_close(fd);
	free(out);
	free(in);
	rg_wg_done(&P.done);
}

static void bench_main(void *arg)
{
	double t0;

	(void)arg;
	P.maxprocs = rg_gomaxprocs(0);
	for (int i = 0; i < SERVERS; i++)
		rg_go(server, NULL);
	rg_wg_add(&P.done, (int)P.senders);
	t0 = now_ns();
	for (long i = 0; i < P.senders; i++)
		rg_go(sender, NULL);
	rg_wg_wait(&P.done);
	P.elapsed_ns = now_ns() - t0;
	rg_close(P.sfd); /* the servers' rg_recvmsg returns -ECANCELED */
}

int main(int argc, char **argv)
{
	int rc;

	P.senders = DEFAULT_C;
	P.rounds = DEFAULT_N;
	P.size = DEFAULT_S;
	for (int i = 1; i < argc; i++) {
		if (i + 1 < argc && strcmp(argv[i], "-c") == 0)
			P.senders = parse_count_flag(argv[0], "-c", argv[++i]);
		else if (i + 1 < argc && strcmp(argv[i], "-n") == 0)
			P.rounds = parse_count(argv[0], argv[++i]);
		else if (i + 1 < argc && strcmp(argv[i], "-s") == 0)
			P.size = parse_count_flag(argv[0], "-s", argv[++i]);
		else {
			fprintf(stderr, "usage: %s [-c C] [-n N] [-s S]\n", argv[0]);
			return 2;
		}
	}
	if (P.size > 65000) {
		fprintf(stderr, "%s: -s: at most 65000 bytes\n", argv[0]);
		return 2;
	}
	P.sfd = udp_socket(&P.saddr);
	if (P.sfd < 0) {
		perror("udp: socket");
		return 1;
	}
	rc = rg_main(NULL, bench_main, NULL);
	if (rc != 0 || P.bad) {
		fprintf(stderr, "udp: %s (%ld bad round trips)\n", rc ? "rg_main failed" : "errors",
			P.bad);
		return 1;
	}
	printf("# params: c=%ld n=%ld s=%ld maxprocs=%d\n", P.senders, P.rounds, P.size,
	       P.maxprocs);
	printf("udp_rps: %.1f req/s\n", (double)(P.senders * P.rounds) / (P.elapsed_ns / 1e9));
	printf("udp_lost: %ld datagrams\n", P.lost);
	return 0;
}
