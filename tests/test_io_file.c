/* SPDX-License-Identifier: MIT */
/*
 * test_io_file - the I/O calls on regular files and FIFOs (rg_open,
 * rg_read, rg_write, rg_pread, rg_pwrite, rg_fsync, rg_close):
 *
 *  - file positions, holes, O_APPEND, read-only descriptors, from
 *    goroutines and plain threads at once;
 *  - thousands of reads at once, and files read from disk (not cached) by
 *    many goroutines at once;
 *  - an open of a FIFO waits for its peer, as libc's does, and gives up at
 *    its deadline leaving no descriptor open.
 */
#include <sys/stat.h>

#include "tests/io_helpers.h"

/* --------------------------------------------------------------------- */
/* Regular files                                                         */
/* --------------------------------------------------------------------- */

#define FILE_BIG (1 * MiB)

/* Runs as a goroutine and from a plain thread; @tag names its files. */
static void file_body(const char *tag)
{
	static const size_t chunks[] = { 1, 4095, FILE_BIG };
	size_t total = 0, off;
	char path[256], name[64];
	unsigned char *buf = malloc(FILE_BIG + 4096), small[300];
	int fd, fd2;
	ssize_t n;

	if (!buf) {
		gcheck_fail("out of memory");
		return;
	}
	snprintf(name, sizeof(name), "file-%s", tag);
	tmp_path(path, sizeof(path), name);
	fd = rg_open(path, O_CREAT | O_EXCL | O_RDWR, 0600);
	GCHECK(fd >= 0);
	GCHECK(fd_cloexec(fd));
	GCHECK_EQ(rg_open(path, O_CREAT | O_EXCL | O_RDWR, 0600), -EEXIST);

	/* Sequential writes move the file position. */
	for (size_t i = 0; i < ARRAY_SIZE(chunks); i++) {
		pat_fill(buf, chunks[i], 5, total);
		GCHECK_EQ(rg_write(fd, buf, chunks[i]), chunks[i]);
		total += chunks[i];
		GCHECK_EQ(lseek(fd, 0, SEEK_CUR), total);
	}
	GCHECK_EQ(rg_fsync(fd), 0);

	/* pwrite does not move it. */
	pat_fill(small, 100, 6, 0);
	GCHECK_EQ(rg_pwrite(fd, small, 100, 5000), 100);
	GCHECK_EQ(lseek(fd, 0, SEEK_CUR), total);
	GCHECK_EQ(rg_fsync(fd), 0);

	/* pread everything back in pieces. */
	for (off = 0; off < total; off += (size_t)n) {
		size_t want = off % 3 ? 65536 : 777;

		n = rg_pread(fd, buf, want, (off_t)off);
		if (n <= 0) {
			gcheck_fail("rg_pread at %zu: %zd", off, n);
			break;
		}
		for (size_t i = 0; i < (size_t)n; i++) {
			size_t o = off + i;
			unsigned char want_b = o >= 5000 && o < 5100 ? pat(6, o - 5000) : pat(5, o);

			if (buf[i] != want_b) {
				gcheck_fail("%s: byte %zu differs", name, o);
				off = total;
				break;
			}
		}
	}
	GCHECK_EQ(rg_pread(fd, buf, 100, (off_t)total), 0);
	GCHECK_EQ(rg_pread(fd, buf, 100, -1), -EINVAL);
	GCHECK_EQ(rg_pwrite(fd, buf, 100, -1), -EINVAL);
	GCHECK_EQ(rg_pread(fd, buf, 100, (off_t)total + 12345), 0);
	GCHECK_EQ(lseek(fd, 0, SEEK_CUR), total);

	/* read from the start, in small pieces, to the end. */
	GCHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
	for (off = 0;; off += (size_t)n) {
		n = rg_read(fd, small, off % 2 ? sizeof(small) : 13);
		if (n <= 0)
			break;
		for (size_t i = 0; i < (size_t)n; i++) {
			size_t o = off + i;

			if (small[i] != (o >= 5000 && o < 5100 ? pat(6, o - 5000) : pat(5, o))) {
				gcheck_fail("%s: byte %zu read differs", name, o);
				n = -1;
				break;
			}
		}
		if (n < 0)
			break;
	}
	GCHECK_EQ(n, 0);
	GCHECK_EQ(off, total);

	/* A pwrite beyond the end leaves a hole of zeros. */
	GCHECK_EQ(rg_pwrite(fd, "end", 3, (off_t)total + 4096), 3);
	GCHECK_EQ(rg_pread(fd, buf, 4096 + 10, (off_t)total), 4096 + 3);
	GCHECK(all_bytes(buf, 0, 4096));
	GCHECK(memcmp(buf + 4096, "end", 3) == 0);
	GCHECK_EQ(rg_fsync(fd), 0);
	GCHECK_EQ(rg_close(fd), 0);

	/* O_APPEND, and a read-only descriptor. */
	fd = rg_open(path, O_WRONLY | O_APPEND, 0);
	GCHECK(fd >= 0);
	GCHECK_EQ(rg_write(fd, "tail", 4), 4);
	GCHECK_EQ(rg_close(fd), 0);
	fd2 = rg_open(path, O_RDONLY, 0);
	GCHECK(fd2 >= 0);
	GCHECK_EQ(rg_pread(fd2, buf, 16, (off_t)total + 4096), 7);
	GCHECK(memcmp(buf, "endtail", 7) == 0);
	GCHECK_EQ(rg_write(fd2, "x", 1), -EBADF);
	GCHECK_EQ(rg_pwrite(fd2, "x", 1, 0), -EBADF);
	GCHECK_EQ(rg_close(fd2), 0);
	GCHECK_EQ(unlink(path), 0);
	free(buf);
}

static void file_main(void *arg)
{
	file_body(arg);
}

static void *file_thread(void *arg)
{
	file_body(arg);
	return NULL;
}

struct file_g {
	const char *tag;
	rg_wg *wg;
};

static void file_goroutine(void *arg)
{
	struct file_g *fg = arg;

	file_body(fg->tag);
	rg_wg_done(fg->wg);
}

/* Goroutines and a plain thread at once, each on its own file. */
static void file_mixed_main(void *arg)
{
	pthread_t th;
	rg_wg wg = { 0 };
	struct file_g fg[3] = { { "g0", &wg }, { "g1", &wg }, { "g2", &wg } };

	(void)arg;
	if (pthread_create(&th, NULL, file_thread, "thread") != 0) {
		gcheck_fail("pthread_create failed");
		return;
	}
	for (int i = 0; i < 3; i++) {
		rg_wg_add(&wg, 1);
		GCHECK_EQ(rg_go(file_goroutine, &fg[i]), 0);
	}
	rg_wg_wait(&wg);
	pthread_join(th, NULL);
}

static void test_files(void **state)
{
	(void)state;
	RUN_IN_RUNTIME(1, file_main, "p1");
	RUN_IN_RUNTIME(2, file_main, "p2");
	gcheck_reset();
	file_body("plain");
	gcheck_assert_none();
	RUN_IN_RUNTIME(2, file_mixed_main, NULL);
}

/*
 * Thousands of reads at once: goroutine i reads record i of one shared
 * file with rg_pread; every 50th also opens, reads and closes a file of
 * its own.  All are started first and released together.
 */
#define MANY_READS TEST_SCALE(10000, 2000)
#define REC	   64
#define OWN_EVERY  50

struct many_ctx {
	int fd;
	rg_wg gate, done;
	atomic_int ok;
};

struct many_arg {
	struct many_ctx *ctx;
	int i;
};

static void many_reader(void *arg)
{
	struct many_arg *a = arg;
	struct many_ctx *ctx = a->ctx;
	unsigned char buf[REC];
	bool good;
	ssize_t n;

	rg_wg_wait(&ctx->gate);
	n = rg_pread(ctx->fd, buf, REC, (off_t)a->i * REC);
	good = n == REC && pat_diff(buf, REC, 7, (uint64_t)a->i * REC) < 0;
	if (!good)
		gcheck_fail("record %d: %zd bytes, content %s", a->i, n,
			    n == REC ? "wrong" : "short");
	if (good && a->i % OWN_EVERY == 0) {
		char path[256], name[32];
		int fd;

		snprintf(name, sizeof(name), "own-%d", a->i);
		tmp_path(path, sizeof(path), name);
		fd = rg_open(path, O_RDONLY, 0);
		n = fd >= 0 ? rg_read(fd, buf, REC) : fd;
		good = n == REC && pat_diff(buf, REC, (uint64_t)a->i, 0) < 0;
		if (!good)
			gcheck_fail("%s: %zd", name, n);
		if (fd >= 0)
			GCHECK_EQ(rg_close(fd), 0);
	}
	if (good)
		atomic_fetch_add(&ctx->ok, 1);
	rg_wg_done(&ctx->done);
}

static void many_main(void *arg)
{
	struct many_ctx ctx = { .fd = *(int *)arg };
	struct many_arg *args = calloc(MANY_READS, sizeof(*args));

	if (!args) {
		gcheck_fail("out of memory");
		return;
	}
	rg_wg_add(&ctx.gate, 1);
	for (int i = 0; i < MANY_READS; i++) {
		args[i] = (struct many_arg){ &ctx, i };
		rg_wg_add(&ctx.done, 1);
		if (rg_go(many_reader, &args[i]) != 0) {
			gcheck_fail("rg_go failed at %d", i);
			rg_wg_done(&ctx.done);
		}
	}
	rg_wg_done(&ctx.gate);
	rg_wg_wait(&ctx.done);
	GCHECK_EQ(atomic_load(&ctx.ok), MANY_READS);
	free(args);
}

static void test_many_file_reads(void **state)
{
	char path[256], name[32];
	unsigned char *data = malloc((size_t)MANY_READS * REC);
	int fd;

	(void)state;
	assert_non_null(data);
	pat_fill(data, (size_t)MANY_READS * REC, 7, 0);
	tmp_path(path, sizeof(path), "shared");
	fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, (size_t)MANY_READS * REC), (size_t)MANY_READS * REC);
	for (int i = 0; i < MANY_READS; i += OWN_EVERY) {
		int ofd;

		snprintf(name, sizeof(name), "own-%d", i);
		tmp_path(path, sizeof(path), name);
		ofd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
		assert_true(ofd >= 0);
		pat_fill(data, REC, (uint64_t)i, 0);
		assert_int_equal(write(ofd, data, REC), REC);
		close(ofd);
	}
	free(data);
	RUN_FOR_PROCS(many_main, &fd, 1, 2);
	rg_close(fd);
}

/*
 * Files that are not in the page cache, read at once by many goroutines:
 * each reads its whole file in pieces to the end, then one piece again
 * with rg_pread, and gets the right bytes.  The files are made in a
 * directory on disk ($TMPDIR, default /var/tmp: /tmp may be a tmpfs, whose
 * pages cannot be dropped), flushed (syncfs) and dropped from the cache
 * (POSIX_FADV_DONTNEED) before each run.  Reads that find no page cached
 * may go to the ring at once, without trying the cache first (see
 * io_rw in runtime/io.c); a pread of a pipe made meanwhile still fails
 * with -ESPIPE and leaves its data in the pipe (on the ring a read at an
 * offset would take it), and files cached and not, read together, read
 * the same.
 */
#define COLD_FILES TEST_SCALE(1000, 200)
#define COLD_PIECE 3000 /* a read's length: several per file, not page-aligned */

static size_t cold_size(int i)
{
	return (size_t)i * 1237 % 20000; /* 0 to 5 pages, some empty */
}

static int cold_dir_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	(void)state;
	snprintf(tmp_dir, sizeof(tmp_dir), "%.40s/ringo-test-io-XXXXXX",
		 tmp && *tmp ? tmp : "/var/tmp");
	return mkdtemp(tmp_dir) ? 0 : -1;
}

/* Flush the files and drop them from the page cache (best effort: a
 * tmpfs keeps them, and then the reads test the cached path). */
static void cold_drop(void)
{
	char path[256], name[32];
	int fd = open(tmp_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(syncfs(fd), 0);
	close(fd);
	for (int i = 0; i < COLD_FILES; i++) {
		snprintf(name, sizeof(name), "cold-%d", i);
		tmp_path(path, sizeof(path), name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
}

struct cold_ctx {
	rg_wg done;
	atomic_int ok;
};

struct cold_arg {
	struct cold_ctx *ctx;
	int i;
};

/* Read file i to its end, then (again) its middle piece with rg_pread. */
static bool cold_read_one(int i, bool again)
{
	size_t size = cold_size(i), got = 0, mid = size / 3;
	unsigned char *buf = malloc(size + COLD_PIECE);
	char path[256], name[32];
	bool good = false;
	ssize_t n = 0;
	int fd;

	if (!buf) {
		gcheck_fail("out of memory");
		return false;
	}
	snprintf(name, sizeof(name), "cold-%d", i);
	tmp_path(path, sizeof(path), name);
	fd = rg_open(path, O_RDONLY, 0);
	if (fd < 0) {
		gcheck_fail("%s: rg_open: %d", name, fd);
		goto out;
	}
	while (got <= size && (n = rg_read(fd, buf + got, COLD_PIECE)) > 0)
		got += (size_t)n;
	if (n < 0 || got != size || pat_diff(buf, size, (uint64_t)i, 0) >= 0) {
		gcheck_fail("%s: %zu of %zu bytes (last %zd), content %ld", name, got, size, n,
			    got == size ? pat_diff(buf, size, (uint64_t)i, 0) : -1);
		goto out;
	}
	n = again ? rg_pread(fd, buf, COLD_PIECE, (off_t)mid) : 0;
	if (again && (n != (ssize_t)(size - mid < COLD_PIECE ? size - mid : COLD_PIECE) ||
		      pat_diff(buf, (size_t)n, (uint64_t)i, mid) >= 0)) {
		gcheck_fail("%s: pread at %zu: %zd", name, mid, n);
		goto out;
	}
	good = true;
out:
	if (fd >= 0)
		GCHECK_EQ(rg_close(fd), 0);
	free(buf);
	return good;
}

static void cold_reader(void *arg)
{
	struct cold_arg *a = arg;

	if (cold_read_one(a->i, true))
		atomic_fetch_add(&a->ctx->ok, 1);
	rg_wg_done(&a->ctx->done);
}

static void cold_main(void *arg)
{
	struct cold_ctx ctx = { 0 };
	struct cold_arg *args = calloc(COLD_FILES, sizeof(*args));

	(void)arg;
	if (!args) {
		gcheck_fail("out of memory");
		return;
	}
	for (int i = 0; i < COLD_FILES; i++) {
		args[i] = (struct cold_arg){ &ctx, i };
		rg_wg_add(&ctx.done, 1);
		if (rg_go(cold_reader, &args[i]) != 0) {
			gcheck_fail("rg_go failed at %d", i);
			rg_wg_done(&ctx.done);
		}
	}
	rg_wg_wait(&ctx.done);
	GCHECK_EQ(atomic_load(&ctx.ok), COLD_FILES);
	free(args);
}

/* One goroutine: cold files of one piece one after another (a read that
 * misses the cache, then end of file: nothing that hits it), each followed
 * by preads of a pipe holding data, which must fail and leave the data
 * there. */
static void cold_pipe_main(void *arg)
{
	unsigned char data[1024], buf[sizeof(data)];
	int fds[2], files = 0;

	(void)arg;
	if (pipe2(fds, O_CLOEXEC) != 0) {
		gcheck_fail("pipe2: %s", strerror(errno));
		return;
	}
	/* More than the preads could take if they read: none blocks. */
	pat_fill(data, sizeof(data), 99, 0);
	GCHECK_EQ(rg_write(fds[1], data, sizeof(data)), (ssize_t)sizeof(data));
	for (int i = 1; i < COLD_FILES && files < 24; i++) {
		if (cold_size(i) >= COLD_PIECE || cold_size(i) == 0)
			continue;
		files++;
		GCHECK(cold_read_one(i, false));
		for (int k = 0; k < 4; k++)
			GCHECK_EQ(rg_pread(fds[0], buf, 8, 0), -ESPIPE);
	}
	GCHECK_EQ(files, 24);
	GCHECK_EQ(rg_close(fds[1]), 0);
	GCHECK_EQ(rg_read(fds[0], buf, sizeof(buf)), (ssize_t)sizeof(data));
	GCHECK_EQ(pat_diff(buf, sizeof(data), 99, 0), -1);
	GCHECK_EQ(rg_close(fds[0]), 0);
}

static void test_cold_file_reads(void **state)
{
	unsigned char *data = malloc(20000); /* above every cold_size */
	char path[256], name[32];

	(void)state;
	assert_non_null(data);
	for (int i = 0; i < COLD_FILES; i++) {
		size_t size = cold_size(i);
		int fd;

		snprintf(name, sizeof(name), "cold-%d", i);
		tmp_path(path, sizeof(path), name);
		fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
		assert_true(fd >= 0);
		pat_fill(data, size, (uint64_t)i, 0);
		assert_int_equal(write(fd, data, size), (ssize_t)size);
		close(fd);
	}
	free(data);
	cold_drop();
	RUN_IN_RUNTIME(2, cold_main, NULL);
	cold_drop();
	RUN_IN_RUNTIME(1, cold_pipe_main, NULL);
	RUN_IN_RUNTIME(2, cold_main, NULL); /* the files read since cached, the rest not */
}

/* --------------------------------------------------------------------- */
/* FIFOs                                                                 */
/* --------------------------------------------------------------------- */

struct fifo_ctx {
	char path[128];
	int flags;
	atomic_int fd; /* -1 while its open waits */
	char got;
	rg_wg done;
};

/* Opens the FIFO as told, then writes "w" or reads a byte. */
static void fifo_opener(void *arg)
{
	struct fifo_ctx *fc = arg;
	int fd = rg_open(fc->path, fc->flags, 0);

	atomic_store(&fc->fd, fd);
	if (fd >= 0 && (fc->flags & O_ACCMODE) == O_WRONLY)
		GCHECK_EQ(rg_write(fd, "w", 1), 1);
	else if (fd >= 0)
		GCHECK_EQ(rg_read(fd, &fc->got, 1), 1);
	if (fd >= 0)
		GCHECK_EQ(rg_close(fd), 0);
	rg_wg_done(&fc->done);
}

/* The number of open descriptors of this process. */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return d ? n - 1 : -1; /* the directory's own descriptor */
}

/* An open without O_NONBLOCK waits for the peer, as libc's does. */
static void fifo_wait_main(void *arg)
{
	struct fifo_ctx fc;
	int flags[] = { O_WRONLY, O_RDONLY };
	char c = 0;

	(void)arg;
	for (size_t i = 0; i < ARRAY_SIZE(flags); i++) {
		int fd, peer = flags[i] == O_WRONLY ? O_RDONLY : O_WRONLY;

		memset(&fc, 0, sizeof(fc));
		tmp_path(fc.path, sizeof(fc.path), "fifo");
		GCHECK_EQ(mkfifo(fc.path, 0600), 0);
		fc.flags = flags[i];
		atomic_store(&fc.fd, -1);
		rg_wg_add(&fc.done, 1);
		GCHECK_EQ(rg_go(fifo_opener, &fc), 0);
		rg_sleep_ns(100 * MS);
		/* Still waiting: it has no peer. */
		GCHECK_EQ(atomic_load(&fc.fd), -1);
		fd = rg_open(fc.path, peer, 0);
		GCHECK(fd >= 0);
		if (peer == O_RDONLY) {
			GCHECK_EQ(rg_read(fd, &c, 1), 1);
			GCHECK_EQ(c, 'w');
		} else {
			GCHECK_EQ(rg_write(fd, "r", 1), 1);
		}
		rg_wg_wait(&fc.done);
		GCHECK(atomic_load(&fc.fd) >= 0);
		if (peer == O_WRONLY)
			GCHECK_EQ(fc.got, 'r');
		GCHECK_EQ(rg_close(fd), 0);
		GCHECK_EQ(unlink(fc.path), 0);
	}
	/* With O_NONBLOCK, libc's answers: no reader, -ENXIO; a reader
	 * needs no writer. */
	tmp_path(fc.path, sizeof(fc.path), "fifo");
	GCHECK_EQ(mkfifo(fc.path, 0600), 0);
	GCHECK_EQ(rg_open(fc.path, O_WRONLY | O_NONBLOCK, 0), -ENXIO);
	{
		int fd = rg_open(fc.path, O_RDONLY | O_NONBLOCK, 0);

		GCHECK(fd >= 0);
		GCHECK(fd_flags(fd) & O_NONBLOCK);
		GCHECK_EQ(rg_close(fd), 0);
	}
	GCHECK_EQ(unlink(fc.path), 0);
}

static void test_fifo_open_waits_for_reader(void **state)
{
	(void)state;
	RUN_FOR_PROCS(fifo_wait_main, NULL, 1, 2);
}

/* An open waiting for its peer gives up at the deadline, leaves no
 * descriptor and no end of the FIFO open. */
static void fifo_deadline_main(void *arg)
{
	char path[128];
	int flags[] = { O_WRONLY, O_RDONLY };
	int before = count_fds();

	(void)arg;
	tmp_path(path, sizeof(path), "fifo");
	GCHECK_EQ(mkfifo(path, 0600), 0);
	for (size_t i = 0; i < ARRAY_SIZE(flags); i++) {
		int64_t dl = rg_now_ns() + 200 * MS;
		int fd;

		rg_set_deadline(dl);
		CHECK_TIMED_OUT(rg_open(path, flags[i], 0), dl);
		/* Already past: at once. */
		dl = rg_now_ns() - MS;
		rg_set_deadline(dl);
		CHECK_TIMED_OUT(rg_open(path, flags[i], 0), dl);
		rg_set_deadline(0);
		GCHECK_EQ(count_fds(), before);
		/* No reader left behind; a writer left behind would make
		 * this read say -EAGAIN instead of end of file. */
		GCHECK_EQ(open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC), -1);
		GCHECK_EQ(errno, ENXIO);
		fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		GCHECK(fd >= 0);
		GCHECK_EQ(read(fd, path + sizeof(path) - 1, 1), 0);
		close(fd);
	}
	/* A regular file opens under a deadline already past. */
	rg_set_deadline(rg_now_ns() - MS);
	{
		int fd = rg_open("/dev/null", O_RDONLY, 0);

		GCHECK(fd >= 0);
		rg_close(fd);
	}
	rg_set_deadline(0);
	GCHECK_EQ(unlink(path), 0);
}

static void test_fifo_open_deadline(void **state)
{
	(void)state;
	RUN_FOR_PROCS(fifo_deadline_main, NULL, 1, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_files, tmp_dir_setup, tmp_dir_teardown),
		cmocka_unit_test_setup_teardown(test_many_file_reads, tmp_dir_setup,
						tmp_dir_teardown),
		cmocka_unit_test_setup_teardown(test_cold_file_reads, cold_dir_setup,
						tmp_dir_teardown),
		cmocka_unit_test_setup_teardown(test_fifo_open_waits_for_reader, tmp_dir_setup,
						tmp_dir_teardown),
		cmocka_unit_test_setup_teardown(test_fifo_open_deadline, tmp_dir_setup,
						tmp_dir_teardown),
	};

	io_raise_fd_limit();
	test_watchdog(120);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
