/* SPDX-License-Identifier: MIT */
/*
 * fileread.h - what bench/fileread.c and its plain liburing baseline
 * (bench/baseline/fileread_uring.c) share: the files, made in a temporary
 * directory, flushed and dropped from the page cache so that every read
 * goes to the disk, removed at exit; the byte expected at each offset; and
 * the sampler of the process's thread count; the command line.
 *
 * The includer defines FILEREAD_PROG (its name, for error messages) and
 * DEFAULT_N/DEFAULT_S, and includes <dirent.h>, <errno.h>, <fcntl.h>,
 * <stdatomic.h>, <stdio.h>, <stdlib.h>, <string.h>, <time.h>, <unistd.h>.
 */
#ifndef RINGO_BENCH_FILEREAD_H
#define RINGO_BENCH_FILEREAD_H

static long nfiles = DEFAULT_N, fsize = DEFAULT_S;
static char dir[4096];
static char **paths;
static long made; /* files created so far, removed at exit */

static atomic_int sampling;
static int peak_threads;

static void fail(const char *what, const char *path, int err)
{
	fprintf(stderr, FILEREAD_PROG ": %s %s: %s\n", what, path, strerror(err));
	exit(1);
}

static void remove_files(void)
{
	for (long i = 0; i < made; i++)
		unlink(paths[i]);
	if (dir[0])
		rmdir(dir);
}

static char expected(long file, long at)
{
	return (char)('a' + (file + at) % 26);
}

/* Write the files, flush them, then drop them from the page cache. */
static void make_files(void)
{
	const char *tmp = getenv("TMPDIR");
	char *buf = malloc((size_t)fsize);
	int fd;

	snprintf(dir, sizeof(dir), "%s/ringo-fileread.XXXXXX", tmp && *tmp ? tmp : "/var/tmp");
	paths = calloc((size_t)nfiles, sizeof(*paths));
	if (!buf || !paths)
		fail("malloc", "", ENOMEM);
	if (!mkdtemp(dir))
		fail("mkdtemp", dir, errno);
	atexit(remove_files);

	for (long i = 0; i < nfiles; i++) {
		if (asprintf(&paths[i], "%s/f%ld", dir, i) < 0)
			fail("malloc", "", ENOMEM);
		for (long j = 0; j < fsize; j++)
			buf[j] = expected(i, j);
		fd = open(paths[i], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			fail("create", paths[i], errno);
		made = i + 1;
		if (write(fd, buf, (size_t)fsize) != fsize)
			fail("write", paths[i], errno ? errno : EIO);
		close(fd);
	}

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || syncfs(fd) < 0)
		fail("syncfs", dir, errno);
	close(fd);

	for (long i = 0; i < nfiles; i++) {
		int rc;

		fd = open(paths[i], O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			fail("open", paths[i], errno);
		rc = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		if (rc)
			fail("posix_fadvise", paths[i], rc);
		close(fd);
	}
	free(buf);
}

/* The number of threads of this process: entries of /proc/self/task. */
static int count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		fail("opendir", "/proc/self/task", errno);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void *sampler(void *arg)
{
	struct timespec ms = { 0, 1000000 };

	(void)arg;
	while (atomic_load(&sampling)) {
		int n = count_threads();

		if (n > peak_threads)
			peak_threads = n;
		nanosleep(&ms, NULL);
	}
	return NULL;
}

/* -n N (files) and -s S (bytes each); -1 after a usage message. */
static int parse_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			nfiles = parse_count_flag(argv[0], "-n", argv[++i]);
		} else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc) {
			fsize = parse_count_flag(argv[0], "-s", argv[++i]);
		} else {
			fprintf(stderr,
				"usage: %s [-n N] [-s S]   (defaults: N = %ld files, S = %ld bytes)\n",
				argv[0], DEFAULT_N, DEFAULT_S);
			return -1;
		}
	}
	return 0;
}

#endif /* RINGO_BENCH_FILEREAD_H */
