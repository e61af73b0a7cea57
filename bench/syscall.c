/* SPDX-License-Identifier: MIT */
/*
 * syscall - goroutines alternating computation with blocking system calls.
 *
 * P pairs of goroutines, each pair with its own pipe (blocking).  The
 * writer computes W steps of a 64-bit LCG and writes one byte, N times;
 * the reader computes W steps and reads one byte with a plain blocking
 * read(2) inside rg_blocking, N times, so that it blocks whenever its
 * writer is behind.  A read that blocks must not hold its P: sysmon
 * retakes it and another thread runs the other goroutines.  The pipe never
 * fills (N bytes at most in it), so writes never block.  maxprocs is the
 * default.  Twin: bench/go/syscall.go (syscall.Read and syscall.Write on
 * syscall.Pipe descriptors: blocking system calls, Go's entersyscall).
 *
 * Usage: syscall [-p P] [-n N] [-w W]   (defaults: P = 8 pairs,
 *                                        N = 20000 bytes, W = 2000 steps)
 *
 * Timed: from starting the first goroutine to the end of the last.
 *
 * Then the same again with the reads made without rg_blocking, as a
 * program that does not annotate its calls would: sysmon's safety net
 * retakes the P of a reader asleep in read() ("Blocked calls nobody
 * annotated" in runtime/preempt.c).  ringo only; compare it with Go's
 * syscall_reads_per_s, which makes the same plain calls.
 *
 * Output, one figure per line:
 *   syscall_reads_per_s: <float> reads/s         P N / elapsed
 *   syscall_ms: <float> ms                       elapsed
 *   syscall_plain_reads_per_s: <float> reads/s   the same, unannotated
 */

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ringo.h"

#include "bench.h"

#define DEFAULT_P 8L
#define DEFAULT_N 20000L
#define DEFAULT_W 2000L

static long pairs = DEFAULT_P, rounds = DEFAULT_N, work = DEFAULT_W;
static int (*fds)[2];
static rg_wg wg;
static int maxprocs;
static double elapsed_ns;
static volatile uint64_t sink;
static bool plain; /* read() without rg_blocking */

static void compute(uint64_t *x)
{
	for (long i = 0; i < work; i++)
		*x = *x * 6364136223846793005ull + 1442695040888963407ull;
}

static int64_t read_byte(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char c;
	ssize_t n = read(fd, &c, 1);

	return n < 0 ? -errno : n;
}

static void reader(void *arg)
{
	long i = (long)(intptr_t)arg;
	uint64_t x = (uint64_t)i;

	for (long k = 0; k < rounds; k++) {
		int64_t r;

		compute(&x);
		if (plain)
			r = read_byte((void *)(intptr_t)fds[i][0]);
		else
			r = rg_blocking(read_byte, (void *)(intptr_t)fds[i][0]);
		if (r != 1) {
			fprintf(stderr, "syscall: read: %s\n", r < 0 ? strerror((int)-r) : "EOF");
			exit(1);
		}
	}
	sink += x;
	rg_wg_done(&wg);
}

static void writer(void *arg)
{
	long i = (long)(intptr_t)arg;
	uint64_t x = (uint64_t)i + 1;

	for (long k = 0; k < rounds; k++) {
		compute(&x);
		if (write(fds[i][1], "x", 1) != 1) {
			fprintf(stderr, "syscall: write: %s\n", strerror(errno));
			exit(1);
		}
	}
	sink += x;
	rg_wg_done(&wg);
}

static void start(void (*fn)(void *), long i)
{
	int rc = rg_go(fn, (void *)(intptr_t)i);

	if (rc < 0) {
		fprintf(stderr, "syscall: rg_go: %s\n", strerror(-rc));
		exit(1);
	}
}

static void bench_main(void *arg)
{
	(void)arg;
	maxprocs = rg_gomaxprocs(0);

	double t0 = now_ns();
	for (long i = 0; i < pairs; i++) {
		rg_wg_add(&wg, 2);
		start(reader, i);
		start(writer, i);
	}
	rg_wg_wait(&wg);
	elapsed_ns = now_ns() - t0;
}

int main(int argc, char **argv)
{
	int rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-p") == 0 && i + 1 < argc) {
			pairs = parse_count_flag(argv[0], "-p", argv[++i]);
		} else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			rounds = parse_count_flag(argv[0], "-n", argv[++i]);
		} else if (strcmp(argv[i], "-w") == 0 && i + 1 < argc) {
			work = parse_count_flag(argv[0], "-w", argv[++i]);
		} else {
			fprintf(stderr,
				"usage: %s [-p P] [-n N] [-w W]   (defaults: P = %ld pairs, N = %ld bytes, W = %ld steps)\n",
				argv[0], DEFAULT_P, DEFAULT_N, DEFAULT_W);
			return 2;
		}
	}
	if (rounds > 65536) {
		fprintf(stderr, "syscall: -n at most 65536 (a pipe's capacity)\n");
		return 2;
	}
	fds = calloc((size_t)pairs, sizeof(*fds));
	if (!fds) {
		fprintf(stderr, "syscall: out of memory\n");
		return 1;
	}
	for (long i = 0; i < pairs; i++) {
		if (pipe2(fds[i], O_CLOEXEC)) {
			fprintf(stderr, "syscall: pipe2: %s\n", strerror(errno));
			return 1;
		}
	}
	rc = rg_main(NULL, bench_main, NULL);
	if (rc < 0) {
		fprintf(stderr, "syscall: rg_main: %s\n", strerror(-rc));
		return 1;
	}
	printf("# params: pairs=%ld rounds=%ld work=%ld maxprocs=%d\n", pairs, rounds, work,
	       maxprocs);
	printf("syscall_reads_per_s: %.0f reads/s\n",
	       (double)pairs * (double)rounds / elapsed_ns * 1e9);
	printf("syscall_ms: %.1f ms\n", elapsed_ns / 1e6);
	plain = true;
	rc = rg_main(NULL, bench_main, NULL);
	if (rc < 0) {
		fprintf(stderr, "syscall: rg_main: %s\n", strerror(-rc));
		return 1;
	}
	printf("syscall_plain_reads_per_s: %.0f reads/s\n",
	       (double)pairs * (double)rounds / elapsed_ns * 1e9);
	return 0;
}
