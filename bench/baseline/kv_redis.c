/* SPDX-License-Identifier: MIT */
/*
 * kv_redis - the kv benchmark (bench/kv.c) run against the real Redis
 * server: the baseline the harness shows beside ringo's kv_server and Go.
 *
 * redis-server is started as
 *
 *   redis-server --port PORT --bind 127.0.0.1 --save "" --appendonly no
 *                --daemonize no --io-threads 1 --dir TMPDIR/kv_redis.XXXXXX
 *                --logfile ""
 *
 * on a free port (one the kernel gave to a socket bound to port 0, closed
 * just before), without persistence and with its default single I/O
 * thread, in a directory of its own under $TMPDIR (default /tmp) that is
 * removed at the end; its log goes to stderr.  Once it answers PING, the
 * same redis-benchmark runs as for kv_server's default backend (kv.h: a
 * warm-up, then SET and GET at pipeline depths 1 and 16) measure it, CPU
 * time per request included (redis-server's, all its threads).  It is then
 * stopped with SIGTERM (no save points, so nothing is written) and must
 * exit with status 0 within 5 seconds.
 *
 * Usage: kv_redis [-n N] [-c C]   (defaults: N = 100000 requests per run,
 *                                  C = 50 connections)
 *
 * Exit status 77 when redis-server or redis-benchmark is not installed
 * (apt-get install redis-server redis-tools).
 *
 * Output, one figure per line (the names of bench/kv.c's default backend),
 * for T in get, set and P in 1, 16:
 *   kv_T_pP_rps: <float> req/s              redis-benchmark's requests/s
 *   kv_T_pP_p50_us: <float> us              its median latency
 *   kv_T_pP_p99_us: <float> us              its 99th percentile latency
 *   kv_T_pP_cpu_us_per_req: <float> us      server CPU time / N
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../kv.h"

static char dir[PATH_MAX];

/* Remove the server's directory and what it may have left there. */
static void remove_dir(void)
{
	static const char *const leftovers[] = { "dump.rdb", "temp.rdb" };
	char path[PATH_MAX + 32];

	if (!*dir)
		return;
	for (size_t i = 0; i < sizeof(leftovers) / sizeof(leftovers[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, leftovers[i]);
		unlink(path);
	}
	if (rmdir(dir) < 0)
		fprintf(stderr, "kv_redis: cannot remove %s: %s\n", dir, strerror(errno));
	*dir = '\0';
}

/* A port of 127.0.0.1 that nothing listens on now. */
static int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd, port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		kv_fail("a free port of 127.0.0.1: %s", strerror(errno));
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

int main(int argc, char **argv)
{
	struct kv_result res[KV_NRUNS];
	const char *tmp = getenv("TMPDIR");
	char parg[16];
	long n, conns;
	pid_t pid;
	int port;

	kv_parse_args(argc, argv, &n, &conns);
	if (!bench_in_path("redis-server") || !bench_in_path("redis-benchmark")) {
		fprintf(stderr,
			"kv_redis: redis-server or redis-benchmark not found in PATH; install them (apt-get install redis-server redis-tools)\n");
		return 77;
	}

	kv_atfail = remove_dir;
	snprintf(dir, sizeof(dir), "%s/kv_redis.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		fprintf(stderr, "kv_redis: mkdtemp %s: %s\n", dir, strerror(errno));
		return 1;
	}
	port = free_port();
	snprintf(parg, sizeof(parg), "%d", port);
	const char *conf[][2] = {
		{ "--port", parg },	  { "--bind", "127.0.0.1" }, { "--save", "" },
		{ "--appendonly", "no" }, { "--daemonize", "no" },   { "--io-threads", "1" },
		{ "--dir", dir },	  { "--logfile", "" },
	};
	char *sargv[KV_ARGV_MAX(conf)];

	kv_argv(sargv, "redis-server", conf, sizeof(conf) / sizeof(conf[0]));
	kv_spawn(sargv, &pid, STDERR_FILENO);
	kv_watch(pid, port);
	kv_wait_ready();
	kv_measure(n, conns, res);
	kv_stop();
	remove_dir();

	printf("# params: n=%ld conns=%ld io_threads=1\n", n, conns);
	kv_print("kv", res);
	return 0;
}
