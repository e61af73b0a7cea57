/* SPDX-License-Identifier: MIT */
/*
 * fileread - N goroutines, each reading its own small file from disk.
 *
 * Before the timed region, N files of S bytes are made in a new directory
 * under $TMPDIR (default /var/tmp): file i holds the bytes
 * 'a' + (i + j) % 26.  They are written, flushed to disk with one
 * syncfs (posix_fadvise cannot drop dirty pages) and dropped from the
 * page cache with posix_fadvise(POSIX_FADV_DONTNEED), so that the reads
 * go to the disk.  Then N goroutines each rg_open their file, rg_read it
 * until end of file into a buffer of S + 1 bytes, rg_close it and check
 * its length and content (a wrong file is exit status 1).  A sampler
 * thread counts the entries of /proc/self/task every millisecond from just
 * before the first goroutine starts to after the last one ends, io_uring's
 * kernel workers included; the peak, less the sampler itself, is reported.
 * The files and the directory are removed at exit.  maxprocs is the
 * default.  Twin: bench/go/fileread.go.
 *
 * Usage: fileread [-n N] [-s S]   (defaults: N = 10000 files, S = 4096 bytes)
 *
 * Timed: from starting the first goroutine to the end of the last.
 *
 * Output, one figure per line:
 *   fileread_ms: <float> ms
 *   fileread_peak_threads: <int> threads
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ringo.h"

#include "bench.h"

#define DEFAULT_N 10000L
#define DEFAULT_S 4096L

#define FILEREAD_PROG "fileread"
#include "fileread.h"

static rg_wg wg;
static int maxprocs;
static double elapsed_ns;

static void reader(void *arg)
{
	long i = (long)(intptr_t)arg, got = 0;
	char *buf = malloc((size_t)fsize + 1);
	ssize_t n;
	int fd;

	if (!buf)
		fail("malloc", "", ENOMEM);
	fd = rg_open(paths[i], O_RDONLY, 0);
	if (fd < 0)
		fail("rg_open", paths[i], -fd);
	while (got <= fsize && (n = rg_read(fd, buf + got, (size_t)(fsize + 1 - got))) != 0) {
		if (n < 0)
			fail("rg_read", paths[i], (int)-n);
		got += n;
	}
	rg_close(fd);
	if (got != fsize) {
		fprintf(stderr, "fileread: %s: read %ld bytes, want %ld\n", paths[i], got, fsize);
		exit(1);
	}
	for (long j = 0; j < fsize; j++) {
		if (buf[j] != expected(i, j)) {
			fprintf(stderr, "fileread: %s: wrong byte at %ld\n", paths[i], j);
			exit(1);
		}
	}
	free(buf);
	rg_wg_done(&wg);
}

static void bench_main(void *arg)
{
	pthread_t tid;
	int rc;

	(void)arg;
	maxprocs = rg_gomaxprocs(0);
	peak_threads = count_threads();
	atomic_store(&sampling, 1);
	rc = pthread_create(&tid, NULL, sampler, NULL);
	if (rc)
		fail("pthread_create", "(sampler)", rc);

	double t0 = now_ns();
	for (long i = 0; i < nfiles; i++) {
		rg_wg_add(&wg, 1);
		rc = rg_go(reader, (void *)(intptr_t)i);
		if (rc < 0)
			fail("rg_go", "(reader)", -rc);
	}
	rg_wg_wait(&wg);
	elapsed_ns = now_ns() - t0;

	atomic_store(&sampling, 0);
	pthread_join(tid, NULL);
	peak_threads--; /* the sampler */
}

int main(int argc, char **argv)
{
	int rc;

	if (parse_args(argc, argv) < 0)
		return 2;

	make_files();
	rc = rg_main(NULL, bench_main, NULL);
	if (rc < 0) {
		fprintf(stderr, "fileread: rg_main: %s\n", strerror(-rc));
		return 1;
	}

	printf("# params: files=%ld size=%ld maxprocs=%d\n", nfiles, fsize, maxprocs);
	printf("fileread_ms: %.1f ms\n", elapsed_ns / 1e6);
	printf("fileread_peak_threads: %d threads\n", peak_threads);
	return 0;
}
