/* SPDX-License-Identifier: MIT */
/*
 * http - HTTP/1.1 keep-alive throughput and latency of examples/http_hello,
 * measured by wrk.
 *
 * The server is the example program, found beside this benchmark's build
 * directory (../examples/http_hello relative to this executable): it is
 * started on a free port of 127.0.0.1 with the default maxprocs, and the
 * first line it prints gives the port and its number of Ps.  Then
 *
 *   wrk -t T -c C -d Ds --latency http://127.0.0.1:PORT/
 *
 * runs against it, and its report is parsed: requests/s and the latency
 * percentiles of its "Latency Distribution".  wrk runs on T threads (1 by
 * default, so that on a 2-CPU machine it leaves the server one CPU and a
 * share of the other).  The server is then stopped with SIGTERM.  Twin:
 * bench/go/http.go, a net/http server driven by the same wrk command.
 *
 * Usage: http [-d D] [-c C] [-t T]   (defaults: D = 10 seconds,
 *                                     C = 100 connections, T = 1 wrk thread)
 *
 * Exit status 77 when wrk is not installed (apt-get install wrk).
 *
 * Output, one figure per line:
 *   http_rps: <float> req/s       wrk's Requests/sec
 *   http_p50_us: <float> us       wrk's 50% latency
 *   http_p99_us: <float> us       wrk's 99% latency
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define DEFAULT_D  10L
#define DEFAULT_C  100L
#define DEFAULT_T  1L
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

/* Is prog an executable in one of $PATH's directories? */
static int in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char dir[PATH_MAX], file[PATH_MAX + 64];

	while (path && *path) {
		size_t len = strcspn(path, ":");

		snprintf(dir, sizeof(dir), "%.*s", (int)len, path);
		snprintf(file, sizeof(file), "%s/%s", len ? dir : ".", prog);
		if (access(file, X_OK) == 0)
			return 1;
		path += len + (path[len] == ':');
	}
	return 0;
}

/* Start argv[0] with its stdout on a pipe; the read end as a FILE. */
static FILE *spawn(char *const argv[], pid_t *pid, int search)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) < 0)
		fail("pipe: %s", strerror(errno));
	*pid = fork();
	if (*pid < 0)
		fail("fork: %s", strerror(errno));
	if (*pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
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

int main(int argc, char **argv)
{
	long dur = DEFAULT_D, conns = DEFAULT_C, threads = DEFAULT_T;
	char self[PATH_MAX], server[PATH_MAX + sizeof(SERVER_REL) + 1], line[512];
	double rps = -1, p50 = -1, p99 = -1;
	int port, procs, status;
	ssize_t len;
	pid_t wrk_pid;
	FILE *f;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-d") == 0 && i + 1 < argc) {
			dur = parse_count_flag(argv[0], "-d", argv[++i]);
		} else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			conns = parse_count_flag(argv[0], "-c", argv[++i]);
		} else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) {
			threads = parse_count_flag(argv[0], "-t", argv[++i]);
		} else {
			fprintf(stderr,
				"usage: %s [-d D] [-c C] [-t T]   (defaults: D = %ld seconds, C = %ld connections, T = %ld wrk thread)\n",
				argv[0], DEFAULT_D, DEFAULT_C, DEFAULT_T);
			return 2;
		}
	}
	if (!in_path("wrk")) {
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

	/* The server, and the port and Ps it reports. */
	char *sargv[] = { server, "0", NULL };

	f = spawn(sargv, &server_pid, 0);
	if (!f || !fgets(line, sizeof(line), f) ||
	    sscanf(line, "http_hello: listening on port %d (%d Ps)", &port, &procs) != 2)
		fail("%s did not start (see its messages above)", server);
	fclose(f);

	/* wrk */
	char targ[32], carg[32], darg[32], url[64];

	snprintf(targ, sizeof(targ), "%ld", threads);
	snprintf(carg, sizeof(carg), "%ld", conns);
	snprintf(darg, sizeof(darg), "%lds", dur);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	char *wargv[] = { "wrk", "-t", targ, "-c", carg, "-d", darg, "--latency", url, NULL };

	f = spawn(wargv, &wrk_pid, 1);
	if (!f)
		fail("fdopen: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char *p = line + strspn(line, " \t");
		int pct;

		fputs(line, stderr); /* wrk's report, for the record */
		if (sscanf(p, "Requests/sec: %lf", &rps) == 1)
			continue;
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
	stop_server();
	if (rps <= 0 || p50 < 0 || p99 < 0)
		fail("%s", "wrk's report has no Requests/sec or 50%/99% latency");

	printf("# params: duration=%ld conns=%ld wrk_threads=%ld maxprocs=%d\n", dur, conns,
	       threads, procs);
	printf("http_rps: %.0f req/s\n", rps);
	printf("http_p50_us: %.1f us\n", p50);
	printf("http_p99_us: %.1f us\n", p99);
	return 0;
}
