/* SPDX-License-Identifier: MIT */
/*
 * kv.h - what the kv benchmark (bench/kv.c) and its baseline
 * (bench/baseline/kv_redis.c) share: driving a Redis-protocol server that
 * runs in another process with redis-benchmark.  As in bench.h, every
 * function is static inline; the Go twin (bench/go/kv.go) does the same
 * steps in Go.
 *
 * The program starts the server (kv_spawn) and names it with kv_watch: its
 * pid and port, one server at a time, in kv_srv.  kv_wait_ready waits until
 * it answers PING with +PONG.  kv_measure warms it up with a short
 * redis-benchmark run (SET and GET, min(N, 10000) requests), then does the
 * measured runs of kv_runs[], in this order:
 *
 *   redis-benchmark -h 127.0.0.1 -p PORT -c C -n N -t set -P 1 --csv
 *   ... -t get -P 1, -t set -P 16, -t get -P 16
 *
 * (-P is the number of commands each connection pipelines; SET comes first
 * so that GET finds its key).  redis-benchmark stops with status 1 at the
 * first error reply, which fails the run.
 * From each run's CSV report come requests/s and the p50 and p99 latencies;
 * around each run the server's CPU time is read (user + system, all its
 * threads: the process CPU-time clock of clock_getcpuclockid, in
 * nanoseconds, or utime + stime of /proc/PID/stat, in clock ticks, where
 * that clock cannot be had), which gives the CPU it spent per request.
 * After the last run, GET of the benchmark's key must return a value of the
 * size its SETs wrote (3 bytes).  kv_stop sends SIGTERM and wants exit
 * status 0 within 5 seconds.  kv_print prints the figures, kv_T_pP_rps and
 * so on.
 *
 * A failure prints "PROG: message" on stderr, kills the server (SIGKILL),
 * calls the program's kv_atfail (if set) and exits with status 1.
 */
#ifndef RINGO_BENCH_KV_H
#define RINGO_BENCH_KV_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define KV_DEFAULT_N 100000L
#define KV_DEFAULT_C 50L
#define KV_WARMUP_N  10000L
#define KV_WAIT_S    5 /* seconds to come up, to answer, to exit after SIGTERM */

/* The measured runs: redis-benchmark's test, its CSV name, the pipeline depth. */
static const struct kv_run {
	const char *test, *csv;
	int pipeline;
} kv_runs[] = { { "set", "SET", 1 },
		{ "get", "GET", 1 },
		{ "set", "SET", 16 },
		{ "get", "GET", 16 } };

#define KV_NRUNS (sizeof(kv_runs) / sizeof(kv_runs[0]))

/* The figures of one run. */
struct kv_result {
	double rps, p50_us, p99_us, cpu_us;
};

/* The server being measured; pid 0 when there is none. */
static struct {
	pid_t pid;
	int port, have_clock;
	clockid_t clock;
} kv_srv;

/* The program's own clean-up on failure, after the server is stopped. */
static void (*kv_atfail)(void);

/* Print "PROG: message", kill the server, clean up, exit with status 1. */
static inline void __attribute__((noreturn, format(printf, 1, 2))) kv_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", program_invocation_short_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	if (kv_srv.pid > 0) {
		kill(kv_srv.pid, SIGKILL);
		waitpid(kv_srv.pid, NULL, 0);
		kv_srv.pid = 0;
	}
	if (kv_atfail)
		kv_atfail();
	exit(1);
}

/*
 * The command line, -n N and -c C, into *n and *conns (set to the defaults
 * first); anything else prints the usage and exits 2.
 */
static inline void kv_parse_args(int argc, char **argv, long *n, long *conns)
{
	*n = KV_DEFAULT_N;
	*conns = KV_DEFAULT_C;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			*n = parse_count(argv[0], argv[++i]);
		} else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			*conns = parse_count_flag(argv[0], "-c", argv[++i]);
		} else {
			fprintf(stderr,
				"usage: %s [-n N] [-c C]   (defaults: N = %ld requests per run, C = %ld connections)\n",
				argv[0], KV_DEFAULT_N, KV_DEFAULT_C);
			exit(2);
		}
	}
}

/* The size of an argv array for the options opts[][2] of kv_argv. */
#define KV_ARGV_MAX(opts) (2 * (sizeof(opts) / sizeof((opts)[0])) + 2)

/*
 * Fill argv with prog, then the nopts options of opts, each a name and a
 * value (none when NULL), then NULL; argv must have KV_ARGV_MAX(opts) slots.
 */
static inline void kv_argv(char **argv, const char *prog, const char *opts[][2], size_t nopts)
{
	*argv++ = (char *)prog;
	for (size_t i = 0; i < nopts; i++) {
		*argv++ = (char *)opts[i][0];
		if (opts[i][1])
			*argv++ = (char *)opts[i][1];
	}
	*argv = NULL;
}

/*
 * Start argv[0] (looked up in $PATH when it has no '/').  Its stdout is
 * out_fd, or, when out_fd is -1, a pipe whose read end is returned as a
 * FILE; NULL otherwise.
 */
static inline FILE *kv_spawn(char *const argv[], pid_t *pid, int out_fd)
{
	int fds[2] = { -1, -1 };
	FILE *f = NULL;

	if (out_fd < 0 && pipe2(fds, O_CLOEXEC) < 0)
		kv_fail("pipe: %s", strerror(errno));
	*pid = fork();
	if (*pid < 0)
		kv_fail("fork: %s", strerror(errno));
	if (*pid == 0) {
		dup2(out_fd < 0 ? fds[1] : out_fd, STDOUT_FILENO);
		execvp(argv[0], argv);
		fprintf(stderr, "%s: cannot run %s: %s\n", program_invocation_short_name, argv[0],
			strerror(errno));
		_exit(127);
	}
	if (out_fd < 0) {
		close(fds[1]);
		f = fdopen(fds[0], "r");
		if (!f)
			kv_fail("fdopen: %s", strerror(errno));
	}
	return f;
}

/* From now on, measure the server pid, listening on port. */
static inline void kv_watch(pid_t pid, int port)
{
	kv_srv.pid = pid;
	kv_srv.port = port;
	kv_srv.have_clock = clock_getcpuclockid(pid, &kv_srv.clock) == 0;
}

/* The server's CPU time so far (user + system, all threads), in ns. */
static inline double kv_cpu_ns(void)
{
	unsigned long long utime, stime;
	char path[64], buf[1024], *p;
	struct timespec ts;
	ssize_t len;
	int fd;

	if (kv_srv.have_clock && clock_gettime(kv_srv.clock, &ts) == 0)
		return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;

	/* Fields 14 and 15 of /proc/PID/stat, counted after the ")" of comm. */
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)kv_srv.pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		kv_fail("cannot read the server's CPU time: %s: %s", path, strerror(errno));
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		kv_fail("%s: empty", path);
	buf[len] = '\0';
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
			 &stime) != 2)
		kv_fail("%s: no utime and stime", path);
	return (double)(utime + stime) * 1e9 / (double)sysconf(_SC_CLK_TCK);
}

/* Does s (n bytes) match want, where '?' stands for any byte? */
static inline int kv_match(const char *s, size_t n, const char *want)
{
	if (n != strlen(want))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (want[i] != '?' && want[i] != s[i])
			return 0;
	return 1;
}

/*
 * Send req to the server on a new connection and read the reply, up to
 * strlen(want) bytes, into got (NUL-terminated).  0 when it matches want
 * (kv_match), 1 when it does not, -1 when the connection was refused.
 */
static inline int kv_roundtrip(const char *req, const char *want, char *got, size_t gotsz)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)kv_srv.port) };
	struct timeval tv = { .tv_sec = KV_WAIT_S };
	size_t wantlen = strlen(want), n = 0;
	int fd, rc = 1;

	got[0] = '\0';
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		kv_fail("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = errno == ECONNREFUSED ? -1 : 1;
	} else if (write(fd, req, strlen(req)) == (ssize_t)strlen(req)) {
		while (n < wantlen && n < gotsz - 1) {
			ssize_t r = read(fd, got + n, gotsz - 1 - n);

			if (r <= 0)
				break;
			n += (size_t)r;
		}
		got[n] = '\0';
		rc = kv_match(got, n, want) ? 0 : 1;
	}
	close(fd);
	return rc;
}

/* Check that the server answers req with want (kv_match). */
static inline void kv_expect(const char *what, const char *req, const char *want)
{
	char got[256];

	if (kv_roundtrip(req, want, got, sizeof(got)) == 0)
		return;
	for (char *p = got; *p; p++) /* one line of output */
		if (*p == '\r' || *p == '\n')
			*p = ' ';
	kv_fail("%s: unexpected reply '%s'", what, got);
}

/*
 * Wait until the server answers PING with +PONG: KV_WAIT_S seconds at most,
 * while it is running.
 */
static inline void kv_wait_ready(void)
{
	static const char ping[] = "*1\r\n$4\r\nPING\r\n";
	double deadline = now_ns() + KV_WAIT_S * 1e9;
	char got[64];
	int status;

	for (;;) {
		int rc = kv_roundtrip(ping, "+PONG\r\n", got, sizeof(got));

		if (rc == 0)
			return;
		if (rc > 0)
			kv_expect("PING", ping, "+PONG\r\n"); /* the reply, and failure */
		if (waitpid(kv_srv.pid, &status, WNOHANG) == kv_srv.pid) {
			kv_srv.pid = 0;
			kv_fail("the server exited before answering PING (see its messages above)");
		}
		if (now_ns() > deadline)
			kv_fail("the server does not accept connections after %d s", KV_WAIT_S);
		usleep(10000);
	}
}

/*
 * The n-th field (0-based) of a line of redis-benchmark's CSV, unquoted,
 * into out; 0 on success.
 */
static inline int kv_csv_field(const char *line, int n, char *out, size_t outsz)
{
	const char *p = line;
	size_t len;

	for (int i = 0; i < n; i++) {
		p = strchr(p, ',');
		if (!p)
			return -1;
		p++;
	}
	len = strcspn(p, ",\r\n");
	if (len >= 2 && p[0] == '"' && p[len - 1] == '"') {
		p++;
		len -= 2;
	}
	if (len >= outsz)
		return -1;
	memcpy(out, p, len);
	out[len] = '\0';
	return 0;
}

/* The column of a CSV header line named name, or -1. */
static inline int kv_csv_column(const char *header, const char *name)
{
	char field[64];

	for (int i = 0; kv_csv_field(header, i, field, sizeof(field)) == 0; i++)
		if (strcmp(field, name) == 0)
			return i;
	return -1;
}

/* The number in column col of line, or -1. */
static inline double kv_csv_number(const char *line, int col)
{
	char field[64], *end;
	double v;

	if (col < 0 || kv_csv_field(line, col, field, sizeof(field)) < 0)
		return -1;
	v = strtod(field, &end);
	return end == field || *end ? -1 : v;
}

/* The i-th of kv_runs[], with n requests on conns connections. */
static inline void kv_run(size_t i, long n, long conns, struct kv_result *res)
{
	char parg[16], narg[32], carg[32], pipearg[16], line[1024];
	int status, header = 0, rps_col = -1, p50_col = -1, p99_col = -1;
	double cpu0, cpu1;
	pid_t pid;
	FILE *f;

	snprintf(parg, sizeof(parg), "%d", kv_srv.port);
	snprintf(narg, sizeof(narg), "%ld", n);
	snprintf(carg, sizeof(carg), "%ld", conns);
	snprintf(pipearg, sizeof(pipearg), "%d", kv_runs[i].pipeline);
	const char *opts[][2] = {
		{ "-h", "127.0.0.1" },	   { "-p", parg },    { "-c", carg },	 { "-n", narg },
		{ "-t", kv_runs[i].test }, { "-P", pipearg }, { "--csv", NULL },
	};
	char *argv[KV_ARGV_MAX(opts)];

	res->rps = res->p50_us = res->p99_us = -1;
	kv_argv(argv, "redis-benchmark", opts, sizeof(opts) / sizeof(opts[0]));
	cpu0 = kv_cpu_ns();
	f = kv_spawn(argv, &pid, -1);
	while (fgets(line, sizeof(line), f)) {
		char name[32];

		fputs(line, stderr); /* redis-benchmark's report, for the record */
		if (strncmp(line, "\"test\",", 7) == 0) {
			header = 1;
			rps_col = kv_csv_column(line, "rps");
			p50_col = kv_csv_column(line, "p50_latency_ms");
			p99_col = kv_csv_column(line, "p99_latency_ms");
		} else if (header && kv_csv_field(line, 0, name, sizeof(name)) == 0 &&
			   strcmp(name, kv_runs[i].csv) == 0) {
			res->rps = kv_csv_number(line, rps_col);
			res->p50_us = kv_csv_number(line, p50_col) * 1e3;
			res->p99_us = kv_csv_number(line, p99_col) * 1e3;
		}
	}
	fclose(f);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		kv_fail("redis-benchmark failed (an error reply? see its messages above)");
	cpu1 = kv_cpu_ns();
	if (res->rps <= 0 || res->p50_us < 0 || res->p99_us < 0)
		kv_fail("redis-benchmark's CSV has no rps, p50 and p99 for %s", kv_runs[i].csv);
	res->cpu_us = (cpu1 - cpu0) / 1e3 / (double)n;
}

/* Warm the server up, do the measured runs into res[KV_NRUNS], check GET. */
static inline void kv_measure(long n, long conns, struct kv_result *res)
{
	static const char get[] = "*2\r\n$3\r\nGET\r\n$16\r\nkey:__rand_int__\r\n";
	long warm = n < KV_WARMUP_N ? n : KV_WARMUP_N;
	struct kv_result ignored;

	kv_run(0, warm, conns, &ignored); /* set, P 1 */
	kv_run(1, warm, conns, &ignored); /* get, P 1 */
	for (size_t i = 0; i < KV_NRUNS; i++)
		kv_run(i, n, conns, &res[i]);
	/* redis-benchmark's SETs write 3 random bytes of its own choosing. */
	kv_expect("GET key:__rand_int__", get, "$3\r\n???\r\n");
}

/* Stop the server with SIGTERM; it must exit with status 0 in KV_WAIT_S s. */
static inline void kv_stop(void)
{
	int status = 0;

	kill(kv_srv.pid, SIGTERM);
	for (int i = 0; i < KV_WAIT_S * 100; i++) {
		pid_t w = waitpid(kv_srv.pid, &status, WNOHANG);

		if (w == kv_srv.pid) {
			kv_srv.pid = 0;
			break;
		}
		if (w < 0)
			kv_fail("waitpid: %s", strerror(errno));
		usleep(10000);
	}
	if (kv_srv.pid > 0) {
		kill(kv_srv.pid, SIGKILL);
		kv_fail("the server did not exit within %d s of SIGTERM", KV_WAIT_S);
	}
	if (!WIFEXITED(status))
		kv_fail("the server was killed by signal %d on SIGTERM", WTERMSIG(status));
	if (WEXITSTATUS(status))
		kv_fail("the server exited with status %d on SIGTERM", WEXITSTATUS(status));
}

/* prefix_T_P_rps and the others, get before set: the names read best so. */
static inline void kv_print(const char *prefix, const struct kv_result *res)
{
	for (size_t p = 0; p < KV_NRUNS; p += 2) {
		for (size_t i = p + 2; i-- > p;) {
			const struct kv_result *r = &res[i];
			const char *t = kv_runs[i].test;
			int pl = kv_runs[i].pipeline;

			printf("%s_%s_p%d_rps: %.0f req/s\n", prefix, t, pl, r->rps);
			printf("%s_%s_p%d_p50_us: %.0f us\n", prefix, t, pl, r->p50_us);
			printf("%s_%s_p%d_p99_us: %.0f us\n", prefix, t, pl, r->p99_us);
			printf("%s_%s_p%d_cpu_us_per_req: %.2f us\n", prefix, t, pl, r->cpu_us);
		}
	}
}

#endif /* RINGO_BENCH_KV_H */
