/* SPDX-License-Identifier: MIT */
/*
 * ctxcancel - how long one cancel takes to reach many waiting goroutines.
 *
 * N goroutines wait, a third in each way: in rg_select on two channels
 * (the done channel of a shared context, rg_ctx_done, and a channel nobody
 * sends on); in rg_recv on a socket of their own that nobody writes to,
 * running under the context (rg_go_ctx); in rg_sleep_ns for a minute,
 * under the context.  Once all are waiting (an atomic count, then a few
 * yields), the main goroutine cancels the context and waits for every
 * goroutine to return (an rg_wg); the time from the cancel to the end of
 * that wait is reported.  Each round makes a new context and new
 * goroutines (the sockets stay); the median of R rounds is printed.
 * maxprocs is the default.  Twin: bench/go/ctxcancel.go
 * (context.WithCancel; select on ctx.Done(); a net.Conn's Read ended by a
 * watcher goroutine's SetReadDeadline, as Go before context.AfterFunc
 * does it; a select of ctx.Done() and a timer).
 *
 * Usage: ctxcancel [-n N] [-r R] [-k select|recv|sleep]
 *        (defaults: N = 10000 goroutines, R = 5 rounds, a third waiting
 *        each way; -k: every goroutine waits that way)
 *
 * Output, one figure per line:
 *   ctxcancel_us: <float> us     median time from cancel to all returned
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ringo.h"

#include "bench.h"

#define DEFAULT_N 10000L
#define DEFAULT_R 5L

static struct {
	long n, rounds;
	int maxprocs;
	rg_ctx *ctx;
	rg_chan *never;
	long waiting;
	rg_wg wg;
	double *us;
	int (*sp)[2]; /* a socket pair per reader: it waits on sp[i][0] */
	int kind;     /* -1: a third each; 0, 1, 2: all select, recv, sleep */
	int err;
} P;

static void selecter(void *arg)
{
	char v;
	int x;
	rg_case cs[2] = {
		{ .chan = rg_ctx_done(P.ctx), .op = RG_RECV, .elem = &v },
		{ .chan = P.never, .op = RG_RECV, .elem = &x },
	};

	(void)arg;
	__atomic_fetch_add(&P.waiting, 1, __ATOMIC_RELAXED);
	if (rg_select(cs, 2, -1) != 0)
		P.err = 1;
	rg_wg_done(&P.wg);
}

static void reader(void *arg)
{
	char b;

	__atomic_fetch_add(&P.waiting, 1, __ATOMIC_RELAXED);
	if (rg_recv(P.sp[(long)arg][0], &b, 1, 0) != -ECANCELED)
		P.err = 1;
	rg_wg_done(&P.wg);
}

static void sleeper(void *arg)
{
	(void)arg;
	__atomic_fetch_add(&P.waiting, 1, __ATOMIC_RELAXED);
	if (rg_sleep_ns(60000000000LL) != -ECANCELED)
		P.err = 1;
	rg_wg_done(&P.wg);
}

static void bench_main(void *arg)
{
	(void)arg;
	P.maxprocs = rg_gomaxprocs(0);
	P.never = rg_chan_make(sizeof(int), 0);
	for (long r = 0; r < P.rounds; r++) {
		double t0;

		P.ctx = rg_ctx_with_cancel(NULL);
		__atomic_store_n(&P.waiting, 0, __ATOMIC_RELAXED);
		rg_wg_add(&P.wg, (int)P.n);
		for (long i = 0; i < P.n; i++) {
			/* The i-th waiter's way: the mix, or one way for all. */
			long j = P.kind >= 0 ? P.kind + 3 * (i / 3) : i;
			int e = j % 3 == 0 ? rg_go(selecter, NULL) :
				j % 3 == 1 ? rg_go_ctx(P.ctx, reader, (void *)(j / 3)) :
					     rg_go_ctx(P.ctx, sleeper, NULL);

			if (e != 0) {
				P.err = 1;
				return;
			}
		}
		while (__atomic_load_n(&P.waiting, __ATOMIC_RELAXED) < P.n)
			rg_yield();
		for (int i = 0; i < 100; i++)
			rg_yield();
		t0 = now_ns();
		rg_ctx_cancel(P.ctx);
		rg_wg_wait(&P.wg);
		P.us[r] = (now_ns() - t0) / 1000.0;
		rg_ctx_free(P.ctx);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int kind_of(const char *s)
{
	static const char *const kinds[] = { "select", "recv", "sleep" };

	for (int k = 0; k < 3; k++)
		if (strcmp(s, kinds[k]) == 0)
			return k;
	return -2;
}

int main(int argc, char **argv)
{
	int rc;

	P.n = DEFAULT_N;
	P.rounds = DEFAULT_R;
	P.kind = -1;
	for (int i = 1; i < argc; i++) {
		if (i + 1 < argc && strcmp(argv[i], "-n") == 0)
			P.n = parse_count(argv[0], argv[++i]);
		else if (i + 1 < argc && strcmp(argv[i], "-r") == 0)
			P.rounds = parse_count_flag(argv[0], "-r", argv[++i]);
		else if (i + 1 < argc && strcmp(argv[i], "-k") == 0 &&
			 (P.kind = kind_of(argv[i + 1])) >= 0)
			i++;
		else {
			fprintf(stderr, "usage: %s [-n N] [-r R] [-k select|recv|sleep]\n",
				argv[0]);
			return 2;
		}
	}
	P.us = calloc((size_t)P.rounds, sizeof(*P.us));
	P.sp = calloc((size_t)(P.n / 3 + 1), sizeof(*P.sp));
	if (!P.us || !P.sp)
		return 1;
	{
		struct rlimit rl;

		/* Two descriptors per reader. */
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	for (long i = 0; i < P.n / 3 + 1; i++)
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, P.sp[i]) != 0) {
			perror("ctxcancel: socketpair");
			return 1;
		}
	rc = rg_main(NULL, bench_main, NULL);
	if (rc != 0 || P.err) {
		fprintf(stderr, "ctxcancel: %s\n", rc ? "rg_main failed" : "a goroutine failed");
		return 1;
	}
	qsort(P.us, (size_t)P.rounds, sizeof(*P.us), cmp_double);
	printf("# params: n=%ld r=%ld k=%s maxprocs=%d\n", P.n, P.rounds,
	       P.kind < 0 ? "mix" : (const char *[]){ "select", "recv", "sleep" }[P.kind],
	       P.maxprocs);
	printf("ctxcancel_us: %.1f us\n", P.us[P.rounds / 2]);
	return 0;
}
