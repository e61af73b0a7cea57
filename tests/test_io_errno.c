/* SPDX-License-Identifier: MIT */
/*
 * test_io_errno - the I/O calls answer what libc answers.
 *
 * A table of calls (recv, send, read, write, pread, pwrite, accept,
 * connect, fsync) by kinds of descriptor (bad numbers, a closed one, a
 * directory, read-only and write-only files, both ends of a pipe, an
 * eventfd, a connected Unix socket, TCP sockets unconnected, listening
 * with and without a pending connection): each call runs once as the
 * plain libc call from the test thread, and once from a goroutine, each
 * on a fresh descriptor of that kind, and the goroutine's result must be
 * libc's (-errno for errno; a descriptor for a descriptor).  Every
 * descriptor is in a state where the libc call does not block, and the
 * goroutine's call runs under a deadline, so that a call that waits where
 * libc does not shows up as -ETIMEDOUT rather than a hang.  rg_open gets
 * the same treatment over a table of paths and flags.
 *
 * The binary runs on io_uring and again with RINGO_NETPOLL=epoll.
 */
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "tests/helpers.h"

#define MS 1000000LL

/* The deadline of each goroutine call: libc answers these at once. */
#define CALL_DEADLINE_NS ((RG_TEST_SANITIZED ? 10000 : 2000) * MS)

static char tmp_dir[64];
static char file_path[128];
static char fifo_path[128];

/* A loopback port nobody listens on. */
static struct sockaddr_in refused_addr;

/* --------------------------------------------------------------------- */
/* Descriptors                                                           */
/* --------------------------------------------------------------------- */

/* A descriptor under test and the ones that keep it in its state. */
struct fixture {
	int fd;
	int extra[3];
};

/* From a goroutine, rg_close: what the runtime remembers of a descriptor
 * (its kind, whether it was connected) is forgotten then. */
static void fixture_close(struct fixture *f, bool in_runtime)
{
	if (f->fd >= 0 && in_runtime)
		rg_close(f->fd);
	else if (f->fd >= 0)
		close(f->fd);
	for (size_t i = 0; i < ARRAY_SIZE(f->extra); i++)
		if (f->extra[i] >= 0)
			close(f->extra[i]);
}

/* A TCP listener on 127.0.0.1; its address in *addr. */
static int tcp_listener(struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)addr, sizeof(*addr)) < 0 || listen(fd, 8) < 0 ||
	    getsockname(fd, (struct sockaddr *)addr, &len) < 0)
		return -1;
	return fd;
}

enum kind {
	K_MINUS_ONE,
	K_HUGE,
	K_CLOSED,
	K_DIR,
	K_FILE_RO,
	K_FILE_WO,
	K_PIPE_R,
	K_PIPE_W,
	K_EVENTFD,
	K_UNIX,
	K_TCP_UNCONNECTED,
	K_TCP_LISTEN_IDLE,
	K_TCP_LISTEN_PENDING,
	K_NKINDS,
};

static const char *const kind_names[K_NKINDS] = {
	"fd -1",
	"fd INT32_MAX",
	"a closed fd",
	"a directory",
	"a read-only file",
	"a write-only file",
	"a pipe's read end",
	"a pipe's write end",
	"an eventfd",
	"a Unix socket",
	"an unconnected TCP socket",
	"an idle TCP listener",
	"a TCP listener with a connection",
};

/* A descriptor of kind k, in a state where no call blocks. */
static int fixture_make(enum kind k, struct fixture *f)
{
	struct sockaddr_in addr;
	int p[2];

	f->fd = -1;
	for (size_t i = 0; i < ARRAY_SIZE(f->extra); i++)
		f->extra[i] = -1;
	switch (k) {
	case K_MINUS_ONE:
		return -1;
	case K_HUGE:
		return INT32_MAX;
	case K_CLOSED:
		/* High enough that nothing the runtime opens takes it. */
		for (int fd = 900;; fd++)
			if (fcntl(fd, F_GETFD) < 0 && errno == EBADF)
				return fd;
	case K_DIR:
		return f->fd = open(tmp_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	case K_FILE_RO:
		return f->fd = open(file_path, O_RDONLY | O_CLOEXEC);
	case K_FILE_WO:
		return f->fd = open(file_path, O_WRONLY | O_CLOEXEC);
	case K_PIPE_R:
	case K_PIPE_W:
		if (pipe2(p, O_CLOEXEC) < 0 || write(p[1], "data", 4) != 4)
			return -1;
		f->fd = p[k == K_PIPE_W];
		f->extra[0] = p[k != K_PIPE_W];
		return f->fd;
	case K_EVENTFD:
		return f->fd = eventfd(1, EFD_CLOEXEC);
	case K_UNIX:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0 ||
		    write(p[1], "data", 4) != 4)
			return -1;
		f->fd = p[0];
		f->extra[0] = p[1];
		return f->fd;
	case K_TCP_UNCONNECTED:
		return f->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	case K_TCP_LISTEN_IDLE:
		return f->fd = tcp_listener(&addr);
	case K_TCP_LISTEN_PENDING:
		f->fd = tcp_listener(&addr);
		f->extra[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (f->fd < 0 || f->extra[0] < 0 ||
		    connect(f->extra[0], (struct sockaddr *)&addr, sizeof(addr)) < 0)
			return -1;
		return f->fd;
	default:
		return -1;
	}
}

/* --------------------------------------------------------------------- */
/* Calls                                                                 */
/* --------------------------------------------------------------------- */

enum call {
	C_RECV,
	C_SEND,
	C_READ,
	C_WRITE,
	C_PREAD,
	C_PWRITE,
	C_ACCEPT,
	C_CONNECT,
	C_FSYNC,
	C_NCALLS,
};

static const char *const call_names[C_NCALLS] = {
	"recv", "send", "read", "write", "pread", "pwrite", "accept", "connect", "fsync",
};

/* Whether the libc call would block on that kind: not compared. */
static bool call_blocks(enum call c, enum kind k)
{
	return c == C_ACCEPT && k == K_TCP_LISTEN_IDLE;
}

/* Calls whose success is a new descriptor: any descriptor will do. */
static bool call_returns_fd(enum call c)
{
	return c == C_ACCEPT;
}

/* An eventfd takes 8-byte writes; everything else takes them too. */
static const uint64_t one = 1;

static long long libc_call(enum call c, int fd)
{
	char buf[16];
	long long r;

	switch (c) {
	case C_RECV:
		r = recv(fd, buf, sizeof(buf), 0);
		break;
	case C_SEND:
		r = send(fd, &one, sizeof(one), MSG_NOSIGNAL);
		break;
	case C_READ:
		r = read(fd, buf, sizeof(buf));
		break;
	case C_WRITE:
		r = write(fd, &one, sizeof(one));
		break;
	case C_PREAD:
		r = pread(fd, buf, sizeof(buf), 0);
		break;
	case C_PWRITE:
		r = pwrite(fd, &one, sizeof(one), 0);
		break;
	case C_ACCEPT:
		r = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		break;
	case C_CONNECT:
		r = connect(fd, (struct sockaddr *)&refused_addr, sizeof(refused_addr));
		break;
	case C_FSYNC:
		r = fsync(fd);
		break;
	default:
		return -EINVAL;
	}
	return r < 0 ? -errno : r;
}

static long long rg_call(enum call c, int fd)
{
	char buf[16];

	switch (c) {
	case C_RECV:
		return rg_recv(fd, buf, sizeof(buf), 0);
	case C_SEND:
		return rg_send(fd, &one, sizeof(one), 0);
	case C_READ:
		return rg_read(fd, buf, sizeof(buf));
	case C_WRITE:
		return rg_write(fd, &one, sizeof(one));
	case C_PREAD:
		return rg_pread(fd, buf, sizeof(buf), 0);
	case C_PWRITE:
		return rg_pwrite(fd, &one, sizeof(one), 0);
	case C_ACCEPT:
		return rg_accept(fd, NULL, NULL);
	case C_CONNECT:
		return rg_connect(fd, (struct sockaddr *)&refused_addr, sizeof(refused_addr));
	case C_FSYNC:
		return rg_fsync(fd);
	default:
		return -EINVAL;
	}
}

/* libc's answers, found before the runtime starts. */
static long long expected[C_NCALLS][K_NKINDS];

static void libc_answers(void)
{
	for (int c = 0; c < C_NCALLS; c++) {
		for (int k = 0; k < K_NKINDS; k++) {
			struct fixture f;
			int fd;

			if (call_blocks(c, k))
				continue;
			fd = fixture_make(k, &f);
			assert_true(fd >= 0 || k == K_MINUS_ONE);
			expected[c][k] = libc_call(c, fd);
			if (call_returns_fd(c) && expected[c][k] >= 0)
				close((int)expected[c][k]);
			fixture_close(&f, false);
		}
	}
}

/* --------------------------------------------------------------------- */
/* The table, from goroutines                                            */
/* --------------------------------------------------------------------- */

struct one_call {
	enum call c;
	enum kind k;
	rg_wg done;
};

static void one_call_fn(void *arg)
{
	struct one_call *oc = arg;
	long long want = expected[oc->c][oc->k], got;
	struct fixture f;
	int fd = fixture_make(oc->k, &f);

	rg_set_deadline(rg_now_ns() + CALL_DEADLINE_NS);
	got = rg_call(oc->c, fd);
	rg_set_deadline(0);
	if (call_returns_fd(oc->c) && got >= 0) {
		close((int)got);
		got = want >= 0 ? want : got;
	}
	if (got != want) {
		/* Every mismatch on stderr, the first in the failure. */
		fprintf(stderr, "mismatch: %s on %s: %lld, libc: %lld\n", call_names[oc->c],
			kind_names[oc->k], got, want);
		gcheck_fail("%s on %s: %lld (%s), libc: %lld (%s)", call_names[oc->c],
			    kind_names[oc->k], got, got < 0 ? strerror((int)-got) : "ok", want,
			    want < 0 ? strerror((int)-want) : "ok");
	}
	fixture_close(&f, true);
	rg_wg_done(&oc->done);
}

static void table_main(void *arg)
{
	(void)arg;
	for (int c = 0; c < C_NCALLS; c++) {
		for (int k = 0; k < K_NKINDS; k++) {
			struct one_call oc = { .c = c, .k = k };

			if (call_blocks(c, k))
				continue;
			rg_wg_add(&oc.done, 1);
			GCHECK_EQ(rg_go(one_call_fn, &oc), 0);
			rg_wg_wait(&oc.done);
		}
	}
}

static void test_errno_table(void **state)
{
	(void)state;
	libc_answers();
	RUN_FOR_PROCS(table_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* Opening                                                               */
/* --------------------------------------------------------------------- */

struct open_case {
	const char *what;
	const char *path; /* NULL: file_path; "fifo": fifo_path */
	int flags;
};

static const struct open_case open_cases[] = {
	{ "a missing file", "/nonexistent-ringo-dir/x", O_RDONLY },
	{ "a file as a directory", "file/", O_RDONLY },
	{ "a directory for writing", "/", O_WRONLY },
	{ "a directory with O_DIRECTORY", "/", O_RDONLY | O_DIRECTORY },
	{ "a file with O_DIRECTORY", "file", O_RDONLY | O_DIRECTORY },
	{ "an existing file with O_CREAT|O_EXCL", "file", O_WRONLY | O_CREAT | O_EXCL },
	{ "an empty path", "", O_RDONLY },
	{ "a FIFO with no reader, O_WRONLY|O_NONBLOCK", "fifo", O_WRONLY | O_NONBLOCK },
	{ "a FIFO with no writer, O_RDONLY|O_NONBLOCK", "fifo", O_RDONLY | O_NONBLOCK },
	{ "a FIFO, O_RDWR", "fifo", O_RDWR },
	{ "a file, bad access mode", "file", O_ACCMODE },
};

static const char *open_path(const struct open_case *oc, char *buf, size_t len)
{
	if (!strcmp(oc->path, "file") || !strcmp(oc->path, "file/")) {
		snprintf(buf, len, "%s%s", file_path, oc->path[4] ? "/" : "");
		return buf;
	}
	return !strcmp(oc->path, "fifo") ? fifo_path : oc->path;
}

static long long open_expected[ARRAY_SIZE(open_cases)];

static void open_main(void *arg)
{
	char buf[160];

	(void)arg;
	for (size_t i = 0; i < ARRAY_SIZE(open_cases); i++) {
		const struct open_case *oc = &open_cases[i];
		int r;

		rg_set_deadline(rg_now_ns() + CALL_DEADLINE_NS);
		r = rg_open(open_path(oc, buf, sizeof(buf)), oc->flags, 0600);
		rg_set_deadline(0);
		if (r >= 0)
			close(r);
		if ((r >= 0) != (open_expected[i] >= 0) || (r < 0 && r != open_expected[i]))
			gcheck_fail("open %s: %d (%s), libc: %lld (%s)", oc->what, r,
				    r < 0 ? strerror(-r) : "ok", open_expected[i],
				    open_expected[i] < 0 ? strerror((int)-open_expected[i]) : "ok");
	}
}

static void test_open_errno_table(void **state)
{
	char buf[160];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(open_cases); i++) {
		const struct open_case *oc = &open_cases[i];
		int r = open(open_path(oc, buf, sizeof(buf)), oc->flags | O_CLOEXEC, 0600);

		open_expected[i] = r < 0 ? -errno : r;
		if (r >= 0)
			close(r);
	}
	RUN_FOR_PROCS(open_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* Regressions                                                           */
/* --------------------------------------------------------------------- */

/* recv on a regular file or a directory: -ENOTSOCK, not -EAGAIN (which a
 * caller retries forever). */
static void recv_on_file_main(void *arg)
{
	char buf[16];
	int fd;

	(void)arg;
	rg_set_deadline(rg_now_ns() + CALL_DEADLINE_NS);
	fd = open(file_path, O_RDONLY | O_CLOEXEC);
	GCHECK(fd >= 0);
	GCHECK_EQ(rg_recv(fd, buf, sizeof(buf), 0), -ENOTSOCK);
	GCHECK_EQ(rg_recv(fd, buf, sizeof(buf), MSG_DONTWAIT), -ENOTSOCK);
	GCHECK_EQ(rg_send(fd, buf, sizeof(buf), 0), -ENOTSOCK);
	GCHECK_EQ(rg_close(fd), 0);
	fd = open(tmp_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	GCHECK(fd >= 0);
	GCHECK_EQ(rg_recv(fd, buf, sizeof(buf), 0), -ENOTSOCK);
	/* The same number, closed with close() and reused for a socket
	 * and then for a file: the remembered kind does not decide. */
	close(fd);
	GCHECK_EQ(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), fd);
	GCHECK_EQ(rg_recv(fd, buf, sizeof(buf), 0), -ENOTCONN);
	close(fd);
	GCHECK_EQ(open(file_path, O_RDONLY | O_CLOEXEC), fd);
	GCHECK_EQ(rg_recv(fd, buf, sizeof(buf), 0), -ENOTSOCK);
	GCHECK_EQ(rg_close(fd), 0);
	rg_set_deadline(0);
}

static void test_recv_on_file_enotsock(void **state)
{
	(void)state;
	RUN_IN_RUNTIME(1, recv_on_file_main, NULL);
}

/* Descriptor numbers no process can have open: -EBADF, whatever the
 * call, and no table of that size is allocated. */
static void huge_fd_main(void *arg)
{
	static const int fds[] = { INT32_MAX, INT32_MAX - 1, 1 << 30, 1 << 24, -2, INT32_MIN };
	char buf[16];

	(void)arg;
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
		int fd = fds[i];

		GCHECK_EQ(rg_read(fd, buf, sizeof(buf)), -EBADF);
		GCHECK_EQ(rg_write(fd, buf, sizeof(buf)), -EBADF);
		GCHECK_EQ(rg_recv(fd, buf, sizeof(buf), 0), -EBADF);
		GCHECK_EQ(rg_send(fd, buf, sizeof(buf), 0), -EBADF);
		GCHECK_EQ(rg_pread(fd, buf, sizeof(buf), 0), -EBADF);
		GCHECK_EQ(rg_accept(fd, NULL, NULL), -EBADF);
		GCHECK_EQ(rg_fsync(fd), -EBADF);
		GCHECK_EQ(rg_io_cancel(fd), fd < 0 ? -EBADF : 0);
		GCHECK_EQ(rg_close(fd), -EBADF);
	}
}

static void test_read_huge_fd_ebadf(void **state)
{
	(void)state;
	RUN_IN_RUNTIME(1, huge_fd_main, NULL);
}

/* --------------------------------------------------------------------- */

static int setup(void **state)
{
	struct sockaddr_in addr;
	int fd;

	(void)state;
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/ringo-test-errno-XXXXXX");
	if (!mkdtemp(tmp_dir))
		return -1;
	snprintf(file_path, sizeof(file_path), "%s/file", tmp_dir);
	snprintf(fifo_path, sizeof(fifo_path), "%s/fifo", tmp_dir);
	fd = open(file_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, "hello, world", 12) != 12 || close(fd) < 0)
		return -1;
	if (mkfifo(fifo_path, 0600) < 0)
		return -1;
	/* A port that was just free: connecting to it is refused. */
	fd = tcp_listener(&addr);
	if (fd < 0)
		return -1;
	close(fd);
	refused_addr = addr;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(file_path);
	unlink(fifo_path);
	return rmdir(tmp_dir) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errno_table),
		cmocka_unit_test(test_open_errno_table),
		cmocka_unit_test(test_recv_on_file_enotsock),
		cmocka_unit_test(test_read_huge_fd_ebadf),
	};

	(void)argc;
	(void)argv;
	/* libc's side gets EPIPE, as the runtime's threads do. */
	signal(SIGPIPE, SIG_IGN);
	test_watchdog(120);
	return cmocka_run_group_tests(tests, setup, teardown);
}
