/* SPDX-License-Identifier: MIT */
/*
 * http - HTTP/1.1 keep-alive throughput, latency and CPU cost of
 * examples/http_hello on both netpoll backends, measured by wrk.
 *
 * The server is the example program, found beside this benchmark's build
 * directory (../examples/http_hello relative to this executable).  Each
 * measurement starts it afresh on a free port of 127.0.0.1 with the
 * default maxprocs and RINGO_NETPOLL=io_uring or RINGO_NETPOLL=epoll in its
 * environment, reads the port and its number of Ps from the first line it
 * prints, notes the server's CPU time (utime + stime of /proc/PID/stat),
 * runs
 *
 *   wrk -t T -c C -d Ds --latency http://127.0.0.1:PORT/
 *
 * against it, notes the CPU time again and stops the server with SIGTERM.
 * wrk's report gives requests/s, the number of requests and the latency
 * percentiles of its "Latency Distribution".  wrk runs on T threads (1 by
 * default, so that on a 2-CPU machine it leaves the server one CPU and a
 * share of the other).
 *
 * R rounds (1 by default) each measure both backends, the order
 * alternating from one round to the next (io_uring, epoll; epoll,
 * io_uring; ...).  Requests/s and the latencies are the medians of the
 * rounds; the CPU time per request is the server's CPU time over all
 * rounds divided by all the requests wrk made.  The default backend,
 * io_uring, is reported under the names the Go twin uses, epoll under
 * http_epoll_*.  Where io_uring cannot work (the io_uring server does not
 * start), epoll is the default: it is measured alone and reported under
 * the Go twin's names.  Twin: bench/go/http.go, a net/http server driven
 * by the same wrk command.
 *
 * Usage: http [-d D] [-c C] [-t T] [-r R]   (defaults: D = 10 seconds,
 *        C = 100 connections, T = 1 wrk thread, R = 1 round)
 *
 * Exit status 77 when wrk is not installed (apt-get install wrk).
 *
 * Output, one figure per line:
 *   http_rps: <float> req/s            wrk's Requests/sec, io_uring
 *   http_p50_us: <float> us            wrk's 50% latency, io_uring
 *   http_p99_us: <float> us            wrk's 99% latency, io_uring
 *   http_cpu_us_per_req: <float> us    the server's CPU time per request
 *   http_epoll_rps, http_epoll_p50_us, http_epoll_p99_us,
 *   http_epoll_cpu_us_per_req          the same on epoll
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define DEFAULT_D  10L
#define DEFAULT_C  100L
#define DEFAULT_T  1L
#define DEFAULT_R  1L
#define MAX_R	   100L
#define SERVER_REL "../examples/http_hello"

static pid_t server_pid;

static void stop_server(void)
{
	if (server_pid > 0) {
		kill(server_pid, SIGTERM);
		waitpid(server_pid, NULL, 0);
		server_pid = 0;
	}
}

static void fail(const char *fmt, const char *arg)
{
	fprintf(stderr, "http: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	stop_server();
	exit(1);
}

/* Start argv[0] with its stdout on a pipe and, unless netpoll is NULL,
 * RINGO_NETPOLL=netpoll in its environment; the read end as a FILE. */
static FILE *spawn(char *const argv[], pid_t *pid, int search, const char *netpoll)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) < 0)
		fail("pipe: %s", strerror(errno));
	*pid = fork();
	if (*pid < 0)
		fail("fork: %s", strerror(errno));
	if (*pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		if (netpoll)
			setenv("RINGO_NETPOLL", netpoll, 1);
		if (search)
			execvp(argv[0], argv);
		else
			execv(argv[0], argv);
		fprintf(stderr, "http: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	return fdopen(fds[0], "r");
}

/* A wrk time such as "56.00us", "1.23ms" or "2.01s" in microseconds, or -1. */
static double wrk_time_us(const char *s)
{
	char unit[8];
	double v;

	if (sscanf(s, "%lf%7s", &v, unit) != 2)
		return -1;
	if (strcmp(unit, "us") == 0)
		return v;
	if (strcmp(unit, "ms") == 0)
		return v * 1e3;
	if (strcmp(unit, "s") == 0)
		return v * 1e6;
	if (strcmp(unit, "m") == 0)
		return v * 60e6;
	return -1;
}

/* The CPU time (user + system) process pid has used, in seconds. */
static double cpu_seconds(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long utime, stime;
	size_t len;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		fail("the server's CPU time: %s", strerror(errno));
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	/* "PID (COMM) STATE PPID ...": utime and stime are fields 14 and 15;
	 * COMM may hold spaces and parentheses, so start after the last ')'. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
			 &stime) != 2)
		fail("%s: cannot parse utime and stime", path);
	return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* What one backend measured over the rounds. */
struct backend {
	const char *name;   /* RINGO_NETPOLL */
	const char *prefix; /* of its figures' names */
	int runs;
	double rps[MAX_R], p50[MAX_R], p99[MAX_R];
	double cpu_s, requests; /* totals over the runs */
};

struct params {
	const char *server;
	long dur, conns, threads;
	int procs; /* the server's Ps, as it reported them */
};

/*
 * One measurement of b: start the server on b's backend, run wrk against
 * it, stop it.  Returns 0, or -1 if the server did not start (it says why
 * on stderr); any other failure ends the benchmark.
 */
static int measure(struct backend *b, struct params *pp)
{
	char *sargv[] = { (char *)pp->server, "0", NULL };
	char line[512], targ[32], carg[32], darg[32], url[64];
	double rps = -1, p50 = -1, p99 = -1, requests = -1, cpu0;
	int port, status;
	pid_t wrk_pid;
	FILE *f;

	/* The server, and the port and Ps it reports. */
	f = spawn(sargv, &server_pid, 0, b->name);
	if (!f)
		fail("fdopen: %s", strerror(errno));
	if (!fgets(line, sizeof(line), f) ||
	    sscanf(line, "http_hello: listening on port %d (%d Ps)", &port, &pp->procs) != 2) {
		fclose(f);
		stop_server();
		return -1;
	}
	fclose(f);

	/* wrk */
	snprintf(targ, sizeof(targ), "%ld", pp->threads);
	snprintf(carg, sizeof(carg), "%ld", pp->conns);
	snprintf(darg, sizeof(darg), "%lds", pp->dur);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	char *wargv[] = { "wrk", "-t", targ, "-c", carg, "-d", darg, "--latency", url, NULL };

	fprintf(stderr, "RINGO_NETPOLL=%s:\n", b->name);
	cpu0 = cpu_seconds(server_pid);
	f = spawn(wargv, &wrk_pid, 1, NULL);
	if (!f)
		fail("fdopen: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char *p = line + strspn(line, " \t");
		int pct;

		fputs(line, stderr); /* wrk's report, for the record */
		if (sscanf(p, "Requests/sec: %lf", &rps) == 1)
			continue;
		if (strstr(p, " requests in ")) {
			requests = strtod(p, NULL);
			continue;
		}
		if (strncmp(p, "Non-2xx or 3xx responses:", 25) == 0)
			fail("%s", "the server gave error responses");
		if (sscanf(p, "%d%%", &pct) == 1) {
			char *t = strchr(p, '%') + 1;

			if (pct == 50)
				p50 = wrk_time_us(t);
			else if (pct == 99)
				p99 = wrk_time_us(t);
		}
	}
	fclose(f);
	if (waitpid(wrk_pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		fail("%s", "wrk failed (see its messages above)");
	b->cpu_s += cpu_seconds(server_pid) - cpu0;
	stop_server();
	if (rps <= 0 || requests <= 0 || p50 < 0 || p99 < 0)
		fail("%s", "wrk's report has no Requests/sec, request count or 50%/99% latency");
	b->rps[b->runs] = rps;
	b->p50[b->runs] = p50;
	b->p99[b->runs] = p99;
	b->requests += requests;
	b->runs++;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void report(struct backend *b)
{
	printf("%s_rps: %.0f req/s\n", b->prefix, median(b->rps, b->runs));
	printf("%s_p50_us: %.1f us\n", b->prefix, median(b->p50, b->runs));
	printf("%s_p99_us: %.1f us\n", b->prefix, median(b->p99, b->runs));
	printf("%s_cpu_us_per_req: %.2f us\n", b->prefix, b->cpu_s * 1e6 / b->requests);
}

int main(int argc, char **argv)
{
	struct backend io_uring = { .name = "io_uring", .prefix = "http" };
	struct backend epoll = { .name = "epoll", .prefix = "http_epoll" };
	struct params pp = { .dur = DEFAULT_D, .conns = DEFAULT_C, .threads = DEFAULT_T };
	char self[PATH_MAX], server[PATH_MAX + sizeof(SERVER_REL) + 1];
	long rounds = DEFAULT_R;
	bool have_io_uring = true;
	ssize_t len;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-d") == 0 && i + 1 < argc) {
			pp.dur = parse_count_flag(argv[0], "-d", argv[++i]);
		} else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			pp.conns = parse_count_flag(argv[0], "-c", argv[++i]);
		} else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) {
			pp.threads = parse_count_flag(argv[0], "-t", argv[++i]);
		} else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc) {
			rounds = parse_count_flag(argv[0], "-r", argv[++i]);
		} else {
			rounds = 0;
		}
	}
	if (rounds < 1 || rounds > MAX_R) {
		fprintf(stderr,
			"usage: %s [-d D] [-c C] [-t T] [-r R]   (defaults: D = %ld seconds, C = %ld connections, T = %ld wrk thread, R = %ld round, at most %ld)\n",
			argv[0], DEFAULT_D, DEFAULT_C, DEFAULT_T, DEFAULT_R, MAX_R);
		return 2;
	}
	if (!bench_in_path("wrk")) {
		fprintf(stderr, "http: wrk not found in PATH; install it (apt-get install wrk)\n");
		return 77;
	}

	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len < 0)
		fail("readlink /proc/self/exe: %s", strerror(errno));
	self[len] = '\0';
	snprintf(server, sizeof(server), "%s/%s", dirname(self), SERVER_REL);
	if (access(server, X_OK) < 0)
		fail("%s: not found (make bench-build builds it)", server);
	pp.server = server;

	for (long r = 0; r < rounds; r++) {
		struct backend *order[2] = { &io_uring, &epoll };

		if (r % 2) {
			order[0] = &epoll;
			order[1] = &io_uring;
		}
		for (int i = 0; i < 2; i++) {
			if (order[i] == &io_uring && !have_io_uring)
				continue;
			if (measure(order[i], &pp) == 0)
				continue;
			if (order[i] != &io_uring || io_uring.runs > 0)
				fail("%s did not start (see its messages above)", server);
			fprintf(stderr, "http: io_uring cannot work here; epoll, the default, is "
					"measured alone\n");
			have_io_uring = false;
			epoll.prefix = io_uring.prefix;
		}
	}

	printf("# params: duration=%ld conns=%ld wrk_threads=%ld maxprocs=%d\n", pp.dur, pp.conns,
	       pp.threads, pp.procs);
	if (have_io_uring) {
		printf("# backends: io_uring (http_*) and epoll (http_epoll_*), %ld round(s), "
		       "the order alternating\n",
		       rounds);
		report(&io_uring);
	} else {
		printf("# backends: epoll (http_*; io_uring cannot work here), %ld round(s)\n",
		       rounds);
	}
	report(&epoll);
	return 0;
}
