/* SPDX-License-Identifier: MIT */
/*
 * fileread_uring - the fileread benchmark (bench/fileread.c) without
 * ringo: one thread, one io_uring (liburing), plain system calls for the
 * rest.  It is the baseline the harness shows beside ringo and Go: what the
 * disk allows for this work when nothing but the reads themselves costs.
 *
 * The files are made exactly as bench/fileread.c makes them (written,
 * flushed with one syncfs, dropped from the page cache with
 * posix_fadvise(POSIX_FADV_DONTNEED)).  Then, timed, up to QD files are
 * being read at once: a file's turn starts with a plain blocking open
 * (O_RDONLY | O_CLOEXEC) and a read of S + 1 bytes at offset 0 put on the
 * ring; each completion moves its file on, as a goroutine's loop would:
 * more bytes read, then a read of the rest at the new offset; end of file
 * (0), then close(2), the same checks of length and content (a wrong file
 * is exit status 1) and the next file's turn in its slot.  Submissions go
 * in with the wait for completions (io_uring_submit_and_wait), one system
 * call per round of completions.  A sampler thread counts the entries of
 * /proc/self/task every millisecond, as on the ringo side; the peak, less
 * the sampler itself, is reported.
 *
 * Usage: fileread_uring [-n N] [-s S]   (defaults: N = 10000 files,
 *                                        S = 4096 bytes)
 *
 * Timed: from the first open to the end of the last file.
 *
 * Output, one figure per line (the names of bench/fileread.c):
 *   fileread_ms: <float> ms
 *   fileread_peak_threads: <int> threads
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../bench.h"

#define DEFAULT_N 10000L
#define DEFAULT_S 4096L
#define QD	  256 /* files being read at once; the ring's size */

/* A file being read: which one, its descriptor, what came so far. */
struct slot {
	long file;
	int fd;
	long got;
	char *buf; /* S + 1 bytes */
};

#define FILEREAD_PROG "fileread_uring"
#include "../fileread.h"

/* Queue the read of what s's file has left, at its current offset. */
static void queue_read(struct io_uring *ring, struct slot *s)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe)
		fail("io_uring_get_sqe", "", EBUSY); /* never: one SQE per slot */
	io_uring_prep_read(sqe, s->fd, s->buf + s->got, (unsigned)(fsize + 1 - s->got),
			   (uint64_t)s->got);
	io_uring_sqe_set_data(sqe, s);
}

/* Start reading file i in s. */
static void start_file(struct io_uring *ring, struct slot *s, long i)
{
	s->file = i;
	s->got = 0;
	s->fd = open(paths[i], O_RDONLY | O_CLOEXEC);
	if (s->fd < 0)
		fail("open", paths[i], errno);
	queue_read(ring, s);
}

/* s's file is read to its end: close and check it. */
static void finish_file(struct slot *s)
{
	close(s->fd);
	if (s->got != fsize) {
		fprintf(stderr, "fileread_uring: %s: read %ld bytes, want %ld\n", paths[s->file],
			s->got, fsize);
		exit(1);
	}
	for (long j = 0; j < fsize; j++) {
		if (s->buf[j] != expected(s->file, j)) {
			fprintf(stderr, "fileread_uring: %s: wrong byte at %ld\n", paths[s->file],
				j);
			exit(1);
		}
	}
}

/* Read every file, QD at a time; the elapsed nanoseconds. */
static double read_all(void)
{
	struct slot slots[QD];
	struct io_uring ring;
	long next = 0, done = 0;
	double t0;
	int rc, i;

	rc = io_uring_queue_init(QD, &ring, 0);
	if (rc < 0)
		fail("io_uring_queue_init", "", -rc);
	for (i = 0; i < QD; i++) {
		slots[i].buf = malloc((size_t)fsize + 1);
		if (!slots[i].buf)
			fail("malloc", "", ENOMEM);
	}

	t0 = now_ns();
	for (i = 0; i < QD && next < nfiles; i++)
		start_file(&ring, &slots[i], next++);
	while (done < nfiles) {
		struct io_uring_cqe *cqes[QD];
		unsigned n, k;

		rc = io_uring_submit_and_wait(&ring, 1);
		if (rc < 0 && rc != -EINTR)
			fail("io_uring_submit_and_wait", "", -rc);
		n = io_uring_peek_batch_cqe(&ring, cqes, QD);
		for (k = 0; k < n; k++) {
			struct slot *s = io_uring_cqe_get_data(cqes[k]);
			int res = cqes[k]->res;

			if (res < 0)
				fail("read", paths[s->file], -res);
			s->got += res;
			if (res > 0 && s->got <= fsize) {
				queue_read(&ring, s);
				continue;
			}
			finish_file(s);
			done++;
			if (next < nfiles)
				start_file(&ring, s, next++);
		}
		io_uring_cq_advance(&ring, n);
	}
	t0 = now_ns() - t0;

	for (i = 0; i < QD; i++)
		free(slots[i].buf);
	io_uring_queue_exit(&ring);
	return t0;
}

int main(int argc, char **argv)
{
	double elapsed_ns;
	pthread_t tid;
	int rc;

	if (parse_args(argc, argv) < 0)
		return 2;

	make_files();
	peak_threads = count_threads();
	atomic_store(&sampling, 1);
	rc = pthread_create(&tid, NULL, sampler, NULL);
	if (rc)
		fail("pthread_create", "(sampler)", rc);
	elapsed_ns = read_all();
	atomic_store(&sampling, 0);
	pthread_join(tid, NULL);
	peak_threads--; /* the sampler */

	printf("# params: files=%ld size=%ld qd=%d\n", nfiles, fsize, QD);
	printf("fileread_ms: %.1f ms\n", elapsed_ns / 1e6);
	printf("fileread_peak_threads: %d threads\n", peak_threads);
	return 0;
}
