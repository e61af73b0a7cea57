/* SPDX-License-Identifier: MIT */
/*
 * pollwake - the wake-up of a goroutine waiting for a descriptor's
 * readiness (rg_poll), as a library driven from a goroutine sees it.
 *
 * Two pipes, both ends non-blocking.  An echo goroutine reads a byte from
 * the first pipe and writes it to the second; the main goroutine writes a
 * byte to the first and reads it back from the second, N times.  Every
 * read is tried first and, on EAGAIN, waits with rg_poll(fd, POLLIN) and
 * is tried again: the shape of Go's RawConn.Read, whose function is called
 * until it says done, with a wait for readiness between calls.  So each
 * round trip is two wake-ups through the netpoller.  maxprocs is the
 * default.  Twin: bench/go/pollwake.go.
 *
 * Usage: pollwake [-n N]      (default N = 100000 round trips)
 *
 * Output, one figure per line:
 *   pollwake_ns_per_roundtrip: <float> ns
 */

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ringo.h"

#include "bench.h"

#define DEFAULT_N 100000L

struct params {
	long n;
	int maxprocs;
	int ping[2], pong[2];
	const char *err; /* what failed, NULL if nothing */
	double ns;
	rg_wg wg;
};

/* One byte from fd: read, and on EAGAIN wait for readiness and again. */
static int read_byte(int fd, char *c)
{
	for (;;) {
		ssize_t r = read(fd, c, 1);
		int w;

		if (r == 1)
			return 0;
		if (r == 0 || errno != EAGAIN)
			return -1;
		w = rg_poll(fd, POLLIN, -1);
		if (w < 0)
			return w;
	}
}

static void echo(void *arg)
{
	struct params *p = arg;
	char c;

	for (long i = 0; i < p->n; i++) {
		if (read_byte(p->ping[0], &c) < 0 || write(p->pong[1], &c, 1) != 1) {
			p->err = "echo: read or write";
			break;
		}
	}
	rg_wg_done(&p->wg);
}

static void bench_main(void *arg)
{
	struct params *p = arg;
	double t0;
	char c = 'x';

	p->maxprocs = rg_gomaxprocs(0);
	rg_wg_add(&p->wg, 1);
	if (rg_go(echo, p) != 0) {
		p->err = "rg_go";
		return;
	}
	t0 = now_ns();
	for (long i = 0; i < p->n; i++) {
		if (write(p->ping[1], &c, 1) != 1 || read_byte(p->pong[0], &c) < 0) {
			p->err = "main: read or write";
			break;
		}
	}
	p->ns = (now_ns() - t0) / (double)p->n;
	rg_wg_wait(&p->wg);
}

int main(int argc, char **argv)
{
	struct params p = { .n = parse_n_args(argc, argv, DEFAULT_N, "round trips") };
	int rc;

	if (pipe2(p.ping, O_NONBLOCK | O_CLOEXEC) || pipe2(p.pong, O_NONBLOCK | O_CLOEXEC)) {
		perror("pipe2");
		return 1;
	}
	rc = rg_main(NULL, bench_main, &p);
	if (rc != 0 || p.err) {
		fprintf(stderr, "pollwake: %s\n", p.err ? p.err : "rg_main failed");
		return 1;
	}
	printf("# params: n=%ld maxprocs=%d\n", p.n, p.maxprocs);
	printf("pollwake_ns_per_roundtrip: %.1f ns\n", p.ns);
	return 0;
}
