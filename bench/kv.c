/* SPDX-License-Identifier: MIT */
/*
 * kv - Redis-protocol throughput, latency and CPU cost of examples/kv_server
 * on both netpoller backends, measured by redis-benchmark.
 *
 * The server is the example program, found beside this benchmark's build
 * directory (../examples/kv_server relative to this executable).  For each
 * backend in turn, the default one (RINGO_NETPOLL unset in its environment:
 * io_uring where the kernel allows it) and then epoll (RINGO_NETPOLL=epoll),
 * a fresh server is started on a free port of 127.0.0.1 with the default
 * maxprocs; the first line it prints gives the port and its number of Ps.
 * Once it answers PING, a short redis-benchmark run warms it up, and four
 * measured runs follow (kv.h: SET then GET, at pipeline depths 1 and 16):
 *
 *   redis-benchmark -h 127.0.0.1 -p PORT -c C -n N -t set|get -P 1|16 --csv
 *
 * each giving requests/s, p50 and p99 latency, and the server's CPU time
 * (all its threads, user + system) per request.  An error reply fails the
 * run, and GET of the benchmark's key must then return a value of the size
 * its SETs wrote.
 * The server is stopped with SIGTERM and must exit with status 0 within 5
 * seconds.  redis-benchmark is itself a single-threaded event loop that
 * keeps about one CPU busy.  Twin: bench/go/kv.go, the same protocol subset
 * served by Go in-process; baseline: bench/baseline/kv_redis.c, the real
 * redis-server.
 *
 * Usage: kv [-n N] [-c C]   (defaults: N = 100000 requests per run,
 *                            C = 50 connections)
 *
 * Exit status 77 when redis-benchmark is not installed (apt-get install
 * redis-tools).
 *
 * Output, one figure per line, for T in get, set and P in 1, 16:
 *   kv_T_pP_rps: <float> req/s              redis-benchmark's requests/s
 *   kv_T_pP_p50_us: <float> us              its median latency
 *   kv_T_pP_p99_us: <float> us              its 99th percentile latency
 *   kv_T_pP_cpu_us_per_req: <float> us      server CPU time / N
 * for the default backend, and the same names with kv_epoll_ instead of kv_
 * for the epoll backend.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kv.h"

#define SERVER_REL "../examples/kv_server"

/*
 * Start the server with RINGO_NETPOLL=netpoll (NULL: unset, the default),
 * measure it into res[KV_NRUNS], stop it.  Its number of Ps into *procs.
 */
static void bench_backend(const char *server, const char *netpoll, long n, long conns,
			  struct kv_result *res, int *procs)
{
	char line[512], port0[] = "0";
	char *argv[] = { (char *)server, port0, NULL };
	pid_t pid;
	int port;
	FILE *out;

	if (netpoll ? setenv("RINGO_NETPOLL", netpoll, 1) : unsetenv("RINGO_NETPOLL"))
		kv_fail("setenv: %s", strerror(errno));
	out = kv_spawn(argv, &pid, -1);
	kv_srv.pid = pid; /* stopped on failure from now on */
	if (!fgets(line, sizeof(line), out) ||
	    sscanf(line, "kv_server: listening on port %d (%d Ps)", &port, procs) != 2)
		kv_fail("%s did not start (see its messages above)", server);
	/* Anything else it prints stays in the pipe, open until it exits. */
	kv_watch(pid, port);
	kv_wait_ready();
	kv_measure(n, conns, res);
	kv_stop();
	fclose(out);
}

int main(int argc, char **argv)
{
	char self[PATH_MAX], server[PATH_MAX + sizeof(SERVER_REL) + 1];
	struct kv_result dflt[KV_NRUNS], epoll[KV_NRUNS];
	int procs, epoll_procs;
	long n, conns;
	ssize_t len;

	kv_parse_args(argc, argv, &n, &conns);
	if (!bench_in_path("redis-benchmark")) {
		fprintf(stderr,
			"kv: redis-benchmark not found in PATH; install it (apt-get install redis-tools)\n");
		return 77;
	}

	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len < 0)
		kv_fail("readlink /proc/self/exe: %s", strerror(errno));
	self[len] = '\0';
	snprintf(server, sizeof(server), "%s/%s", dirname(self), SERVER_REL);
	if (access(server, X_OK) < 0)
		kv_fail("%s: not found (make bench-build builds it)", server);

	bench_backend(server, NULL, n, conns, dflt, &procs);
	bench_backend(server, "epoll", n, conns, epoll, &epoll_procs);

	printf("# params: n=%ld conns=%ld maxprocs=%d\n", n, conns, procs);
	kv_print("kv", dflt);
	kv_print("kv_epoll", epoll);
	return 0;
}
