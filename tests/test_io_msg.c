/* SPDX-License-Identifier: MIT */
/*
 * test_io_msg - the vectored, message and file-to-socket calls, on both
 * backends (make test runs it again with RINGO_NETPOLL=epoll):
 *
 *  - rg_readv/rg_writev on a socket pair and a pipe, with a reader that
 *    must wait; rg_preadv/rg_pwritev at offsets of a regular file; the
 *    argument checks (-EINVAL, 0 buffers);
 *  - UDP echo: 64 senders, each on its own socket, send numbered
 *    datagrams with rg_sendto and wait for each echo with rg_recvfrom;
 *    the server answers each to its source address (rg_recvfrom,
 *    rg_sendto): every datagram comes back, to its sender, from the
 *    server's address;
 *  - rg_sendmsg/rg_recvmsg pass a descriptor (SCM_RIGHTS) that works;
 *  - a waiting rg_recvmsg ends at the deadline (-ETIMEDOUT) and with
 *    rg_io_cancel (-ECANCELED);
 *  - rg_shutdown ends the peer's stream; rg_sendfile sends 4 MiB of a file
 *    through a socket the reader drains slowly, every byte in order;
 *  - rg_splice relays 4 MiB from one socket through a pipe to another,
 *    with a writer that pauses (the relay waits for data) and a reader
 *    that drains slowly (it waits for room), every byte in order; a file
 *    at an offset into a pipe; SPLICE_F_NONBLOCK, the deadline, and the
 *    errors of descriptors that are closed or not pipes;
 *  - the file-system calls: rg_mkdirat, rg_statx, rg_renameat (and
 *    RENAME_NOREPLACE's -EEXIST), rg_fallocate, rg_ftruncate, rg_unlinkat,
 *    each checked against what stat(2) and readdir see, and their errors;
 *  - the same calls from a plain thread.
 */
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include "tests/io_helpers.h"

/* --------------------------------------------------------------------- */
/* Vectored                                                              */
/* --------------------------------------------------------------------- */

struct vec_ctx {
	int rfd;
	size_t want;
	unsigned char *got;
	rg_wg done;
};

/* Reads want bytes into three buffers at a time. */
static void vec_reader(void *arg)
{
	struct vec_ctx *vc = arg;
	size_t have = 0;

	while (have < vc->want) {
		size_t left = vc->want - have, a = left / 3, b = left / 3;
		struct iovec iov[3] = {
			{ vc->got + have, a },
			{ vc->got + have + a, b },
			{ vc->got + have + a + b, left - a - b },
		};
		ssize_t r = rg_readv(vc->rfd, iov, 3);

		GCHECK(r > 0);
		if (r <= 0)
			break;
		have += (size_t)r;
	}
	rg_wg_done(&vc->done);
}

static void vec_stream(int rfd, int wfd, bool is_pipe, void *arg)
{
	static unsigned char out[256 * KiB], in[256 * KiB];
	struct vec_ctx vc = { .rfd = rfd, .want = sizeof(out), .got = in };
	size_t sent = 0;

	(void)is_pipe;
	(void)arg;
	pat_fill(out, sizeof(out), 7, 0);
	memset(in, 0, sizeof(in));
	rg_wg_add(&vc.done, 1);
	GCHECK_EQ(rg_go(vec_reader, &vc), 0);
	rg_sleep_ns(2 * MS); /* the reader waits first */
	while (sent < sizeof(out)) {
		size_t left = sizeof(out) - sent, a = left > 1000 ? 1000 : left;
		struct iovec iov[2] = { { out + sent, a }, { out + sent + a, left - a } };
		ssize_t r = rg_writev(wfd, iov, 2);

		GCHECK(r > 0);
		if (r <= 0)
			break;
		sent += (size_t)r;
	}
	rg_wg_wait(&vc.done);
	GCHECK_EQ(pat_diff(in, sizeof(in), 7, 0), -1);
}

static void vec_main(void *arg)
{
	char path[64], a[8] = "abcdefg", b[8] = "hijklmn", x[8], y[8];
	struct iovec wv[2] = { { a, 7 }, { b, 7 } }, rv[2] = { { x, 3 }, { y, 4 } };
	int fd;

	(void)arg;
	over_streams(vec_stream, NULL, true);
	/* A regular file, at offsets. */
	snprintf(path, sizeof(path), "/tmp/ringo-vec-%d", (int)getpid());
	fd = rg_open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	GCHECK(fd >= 0);
	unlink(path);
	GCHECK_EQ(rg_pwritev(fd, wv, 2, 100), 14);
	GCHECK_EQ(rg_preadv(fd, rv, 2, 105), 7);
	GCHECK_EQ(memcmp(x, "fgh", 3), 0);
	GCHECK_EQ(memcmp(y, "ijkl", 4), 0);
	GCHECK_EQ(rg_writev(fd, wv, 1), 7); /* at the file position: 0 */
	GCHECK_EQ(rg_readv(fd, rv, 1), 3);  /* after it: zeros */
	GCHECK_EQ(memcmp(x, "\0\0\0", 3), 0);
	/* Argument checks. */
	GCHECK_EQ(rg_readv(fd, rv, 0), 0);
	GCHECK_EQ(rg_readv(fd, rv, -1), -EINVAL);
	GCHECK_EQ(rg_writev(fd, wv, IOV_MAX + 1), -EINVAL);
	GCHECK_EQ(rg_preadv(fd, rv, 2, -1), -EINVAL);
	GCHECK_EQ(rg_pwritev(fd, wv, 2, -5), -EINVAL);
	GCHECK_EQ(rg_readv(closed_fd(-1), rv, 2), -EBADF);
	rg_close(fd);
}

static void test_vectored(void **state)
{
	(void)state;
	RUN_FOR_PROCS(vec_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* UDP echo                                                              */
/* --------------------------------------------------------------------- */

#define SENDERS TEST_SCALE(64, 16)
#define DGRAMS	TEST_SCALE(50, 10)

struct udp_ctx {
	int sfd;
	struct sockaddr_in saddr;
	atomic_int echoed;
	rg_wg senders;
};

struct dgram {
	uint32_t sender, seq;
	char pad[56]; /* 64 bytes in all */
};

static int udp_socket(struct sockaddr_in *addr)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	socklen_t len = sizeof(*addr);

	if (fd < 0)
		return -1;
	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)addr, sizeof(*addr)) ||
	    getsockname(fd, (struct sockaddr *)addr, &len)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Echo every datagram to where it came from until the socket is
 * cancelled. */
static void udp_server(void *arg)
{
	struct udp_ctx *uc = arg;

	for (;;) {
		struct sockaddr_in from;
		socklen_t flen = sizeof(from);
		struct dgram d;
		ssize_t r = rg_recvfrom(uc->sfd, &d, sizeof(d), 0, (struct sockaddr *)&from, &flen);

		if (r == -ECANCELED)
			break;
		GCHECK_EQ(r, (ssize_t)sizeof(d));
		GCHECK_EQ(flen, (socklen_t)sizeof(from));
		GCHECK_EQ(rg_sendto(uc->sfd, &d, (size_t)r, 0, (struct sockaddr *)&from, flen), r);
		atomic_fetch_add(&uc->echoed, 1);
	}
}

struct sender_arg {
	struct udp_ctx *uc;
	uint32_t id;
};

static void udp_sender(void *arg)
{
	struct sender_arg *sa = arg;
	struct udp_ctx *uc = sa->uc;
	struct sockaddr_in me;
	int fd = udp_socket(&me);

	GCHECK(fd >= 0);
	for (uint32_t seq = 0; seq < DGRAMS; seq++) {
		struct dgram d = { .sender = sa->id, .seq = seq }, e;
		struct sockaddr_in from;
		socklen_t flen = sizeof(from);

		memset(d.pad, (int)(seq & 0xff), sizeof(d.pad));
		GCHECK_EQ(rg_sendto(fd, &d, sizeof(d), 0, (struct sockaddr *)&uc->saddr,
				    sizeof(uc->saddr)),
			  (ssize_t)sizeof(d));
		GCHECK_EQ(rg_recvfrom(fd, &e, sizeof(e), 0, (struct sockaddr *)&from, &flen),
			  (ssize_t)sizeof(e));
		GCHECK_EQ(memcmp(&d, &e, sizeof(d)), 0);
		GCHECK_EQ(from.sin_port, uc->saddr.sin_port);
		GCHECK_EQ(from.sin_addr.s_addr, uc->saddr.sin_addr.s_addr);
	}
	rg_close(fd);
	rg_wg_done(&uc->senders);
}

static void udp_main(void *arg)
{
	static struct sender_arg sa[SENDERS];
	struct udp_ctx uc = { 0 };

	(void)arg;
	uc.sfd = udp_socket(&uc.saddr);
	GCHECK(uc.sfd >= 0);
	GCHECK_EQ(rg_go(udp_server, &uc), 0);
	rg_wg_add(&uc.senders, SENDERS);
	for (uint32_t i = 0; i < SENDERS; i++) {
		sa[i] = (struct sender_arg){ &uc, i };
		GCHECK_EQ(rg_go(udp_sender, &sa[i]), 0);
	}
	rg_wg_wait(&uc.senders);
	/* The server counts each echo after its send: the last may lag. */
	GCHECK(wait_count(&uc.echoed, SENDERS * DGRAMS));
	GCHECK_EQ(atomic_load(&uc.echoed), SENDERS * DGRAMS);
	cancel_until(uc.sfd, 1);
	rg_close(uc.sfd);
}

static void test_udp_echo(void **state)
{
	(void)state;
	RUN_FOR_PROCS(udp_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* Ancillary data; deadline and cancel                                   */
/* --------------------------------------------------------------------- */

struct msg_ctx {
	int fd;
	ssize_t result;
	atomic_int started;
	rg_wg done;
};

static void msg_waiter(void *arg)
{
	struct msg_ctx *mc = arg;
	char c;
	struct iovec iov = { &c, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	atomic_fetch_add(&mc->started, 1);
	mc->result = rg_recvmsg(mc->fd, &msg, 0);
	rg_wg_done(&mc->done);
}

static void msg_main(void *arg)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msg_ctx mc = { 0 };
	char c = 'f', got[4];
	struct iovec iov = { &c, 1 };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;
	int sv[2], p[2], passed;

	(void)arg;
	GCHECK_EQ(unix_pair(sv, 0), 0);
	GCHECK_EQ(pipe2(p, O_CLOEXEC), 0);
	/* Send the pipe's write end across. */
	memset(u.buf, 0, sizeof(u.buf));
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &p[1], sizeof(int));
	GCHECK_EQ(rg_sendmsg(sv[0], &msg, 0), 1);
	memset(&u, 0, sizeof(u));
	c = 0;
	msg.msg_controllen = sizeof(u.buf);
	GCHECK_EQ(rg_recvmsg(sv[1], &msg, 0), 1);
	GCHECK_EQ(c, 'f');
	cm = CMSG_FIRSTHDR(&msg);
	GCHECK(cm && cm->cmsg_type == SCM_RIGHTS);
	if (cm) {
		memcpy(&passed, CMSG_DATA(cm), sizeof(int));
		GCHECK_EQ(rg_write(passed, "ok", 2), 2);
		GCHECK_EQ(rg_read(p[0], got, 2), 2);
		GCHECK_EQ(memcmp(got, "ok", 2), 0);
		rg_close(passed);
	}
	/* The deadline ends a waiting receive. */
	rg_set_deadline(rg_now_ns() + 10 * MS);
	msg.msg_control = NULL;
	msg.msg_controllen = 0;
	GCHECK_EQ(rg_recvmsg(sv[1], &msg, 0), -ETIMEDOUT);
	rg_set_deadline(0);
	/* So does rg_io_cancel. */
	mc.fd = sv[1];
	rg_wg_add(&mc.done, 1);
	GCHECK_EQ(rg_go(msg_waiter, &mc), 0);
	GCHECK(wait_count(&mc.started, 1));
	cancel_until(sv[1], 1);
	rg_wg_wait(&mc.done);
	GCHECK_EQ(mc.result, -ECANCELED);
	/* shutdown: the peer reads the end of the stream. */
	GCHECK_EQ(rg_shutdown(sv[0], SHUT_WR), 0);
	GCHECK_EQ(rg_recv(sv[1], got, 1, 0), 0);
	GCHECK_EQ(rg_shutdown(sv[0], 99), -EINVAL);
	GCHECK_EQ(rg_recvmsg(sv[0], NULL, 0), -EFAULT);
	rg_close(sv[0]);
	rg_close(sv[1]);
	rg_close(p[0]);
	rg_close(p[1]);
}

static void test_msg(void **state)
{
	(void)state;
	RUN_FOR_PROCS(msg_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* sendfile                                                              */
/* --------------------------------------------------------------------- */

#define SF_SIZE (4 * MiB)

struct sf_ctx {
	int rfd;
	unsigned char *got;
	size_t have;
	rg_wg done;
};

/* Drains slowly at first, so that the sender waits for room. */
static void sf_reader(void *arg)
{
	struct sf_ctx *sc = arg;

	while (sc->have < SF_SIZE) {
		ssize_t r = rg_recv(sc->rfd, sc->got + sc->have, SF_SIZE - sc->have, 0);

		GCHECK(r > 0);
		if (r <= 0)
			break;
		sc->have += (size_t)r;
		if (sc->have < SF_SIZE / 8)
			rg_sleep_ns(MS);
	}
	rg_wg_done(&sc->done);
}

static void sendfile_main(void *arg)
{
	unsigned char *data = malloc(SF_SIZE), *got = malloc(SF_SIZE);
	struct sf_ctx sc = { .got = got };
	char path[64];
	off_t off = 0;
	int fd, sv[2];

	(void)arg;
	GCHECK(data && got);
	pat_fill(data, SF_SIZE, 11, 0);
	snprintf(path, sizeof(path), "/tmp/ringo-sendfile-%d", (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	GCHECK(fd >= 0);
	unlink(path);
	GCHECK_EQ(write(fd, data, SF_SIZE), (ssize_t)SF_SIZE);
	GCHECK_EQ(unix_pair(sv, 0), 0);
	sc.rfd = sv[1];
	rg_wg_add(&sc.done, 1);
	GCHECK_EQ(rg_go(sf_reader, &sc), 0);
	GCHECK_EQ(rg_sendfile(sv[0], fd, &off, SF_SIZE), (ssize_t)SF_SIZE);
	GCHECK_EQ(off, (off_t)SF_SIZE);
	rg_wg_wait(&sc.done);
	GCHECK_EQ(sc.have, (size_t)SF_SIZE);
	GCHECK_EQ(pat_diff(got, SF_SIZE, 11, 0), -1);
	/* Past the end of the file: 0, nothing sent. */
	GCHECK_EQ(rg_sendfile(sv[0], fd, &off, 100), 0);
	GCHECK_EQ(rg_sendfile(sv[0], closed_fd(-1), NULL, 100), -EBADF);
	close(fd);
	rg_close(sv[0]);
	rg_close(sv[1]);
	free(data);
	free(got);
}

static void test_sendfile(void **state)
{
	(void)state;
	RUN_FOR_PROCS(sendfile_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* splice                                                                */
/* --------------------------------------------------------------------- */

#define SP_SIZE	 (4 * MiB)
#define SP_CHUNK (64 * 1024)

struct sp_ctx {
	int src, dst; /* the writer's and the reader's ends */
	unsigned char *got;
	size_t have;
	rg_wg done;
};

/* Writes the pattern in chunks, pausing now and then, so that the relay
 * finds its socket empty and waits. */
static void sp_writer(void *arg)
{
	struct sp_ctx *sc = arg;
	unsigned char *buf = malloc(SP_CHUNK);
	size_t sent = 0;
	int n = 0;

	GCHECK(buf != NULL);
	while (buf && sent < SP_SIZE) {
		size_t len = SP_SIZE - sent < SP_CHUNK ? SP_SIZE - sent : SP_CHUNK;
		int r;

		pat_fill(buf, len, 12, sent);
		r = send_all(sc->src, buf, len);
		GCHECK_EQ(r, 0);
		if (r < 0)
			break;
		sent += len;
		if (++n % 8 == 0)
			rg_sleep_ns(MS);
	}
	rg_shutdown(sc->src, SHUT_WR);
	free(buf);
	rg_wg_done(&sc->done);
}

/* Drains slowly at first, so that the relay finds its socket full. */
static void sp_reader(void *arg)
{
	struct sp_ctx *sc = arg;

	for (;;) {
		ssize_t r = rg_read(sc->dst, sc->got + sc->have, SP_SIZE + 1 - sc->have);

		GCHECK(r >= 0);
		if (r <= 0)
			break;
		sc->have += (size_t)r;
		if (sc->have < SP_SIZE / 8)
			rg_sleep_ns(MS);
	}
	rg_wg_done(&sc->done);
}

static void splice_relay(void)
{
	struct sp_ctx sc = { .got = malloc(SP_SIZE + 1) };
	int a[2], b[2], p[2];
	size_t moved = 0;

	GCHECK(sc.got != NULL);
	GCHECK_EQ(unix_pair(a, 0), 0);
	GCHECK_EQ(unix_pair(b, 0), 0);
	GCHECK_EQ(pipe2(p, O_CLOEXEC), 0);
	sc.src = a[0];
	sc.dst = b[1];
	rg_wg_add(&sc.done, 2);
	GCHECK_EQ(rg_go(sp_writer, &sc), 0);
	GCHECK_EQ(rg_go(sp_reader, &sc), 0);
	/* The relay: socket a into the pipe, the pipe into socket b. */
	for (;;) {
		ssize_t in = rg_splice(a[1], NULL, p[1], NULL, SP_CHUNK, SPLICE_F_MOVE), out;

		GCHECK(in >= 0);
		if (in <= 0)
			break;
		while (in > 0) {
			out = rg_splice(p[0], NULL, b[0], NULL, (size_t)in, SPLICE_F_MOVE);
			GCHECK(out > 0);
			if (out <= 0)
				goto end;
			in -= out;
			moved += (size_t)out;
		}
	}
end:
	GCHECK_EQ(moved, (size_t)SP_SIZE);
	rg_shutdown(b[0], SHUT_WR);
	rg_wg_wait(&sc.done);
	GCHECK_EQ(sc.have, (size_t)SP_SIZE);
	GCHECK_EQ(pat_diff(sc.got, SP_SIZE, 12, 0), -1);
	rg_close(a[0]);
	rg_close(a[1]);
	rg_close(b[0]);
	rg_close(b[1]);
	rg_close(p[0]);
	rg_close(p[1]);
	free(sc.got);
}

/* A file at an offset into a pipe, and the calls that must fail. */
static void splice_file_and_errors(void)
{
	unsigned char data[8192], got[8192];
	char path[64];
	off_t off = 1000;
	int fd, p[2], sv[2];

	pat_fill(data, sizeof(data), 13, 0);
	snprintf(path, sizeof(path), "/tmp/ringo-splice-%d", (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	GCHECK(fd >= 0);
	unlink(path);
	GCHECK_EQ(write(fd, data, sizeof(data)), (ssize_t)sizeof(data));
	GCHECK_EQ(pipe2(p, O_CLOEXEC), 0);
	GCHECK_EQ(rg_splice(fd, &off, p[1], NULL, 3000, 0), 3000);
	GCHECK_EQ(off, 4000);
	GCHECK_EQ(rg_read(p[0], got, sizeof(got)), 3000);
	GCHECK_EQ(memcmp(got, data + 1000, 3000), 0);
	/* At the end of the file: 0. */
	off = sizeof(data);
	GCHECK_EQ(rg_splice(fd, &off, p[1], NULL, 100, 0), 0);
	/* An empty pipe: SPLICE_F_NONBLOCK says so, the deadline ends the
	 * wait. */
	GCHECK_EQ(unix_pair(sv, 0), 0);
	GCHECK_EQ(rg_splice(p[0], NULL, sv[0], NULL, 100, SPLICE_F_NONBLOCK), -EAGAIN);
	rg_set_deadline(rg_now_ns() + 10 * MS);
	GCHECK_EQ(rg_splice(p[0], NULL, sv[0], NULL, 100, 0), -ETIMEDOUT);
	GCHECK_EQ(rg_splice(sv[1], NULL, p[1], NULL, 100, 0), -ETIMEDOUT);
	rg_set_deadline(0);
	/* Neither end a pipe; a closed descriptor. */
	GCHECK_EQ(rg_splice(fd, NULL, sv[0], NULL, 100, 0), -EINVAL);
	GCHECK_EQ(rg_splice(closed_fd(-1), NULL, p[1], NULL, 100, 0), -EBADF);
	close(fd);
	rg_close(sv[0]);
	rg_close(sv[1]);
	rg_close(p[0]);
	rg_close(p[1]);
}

static void splice_main(void *arg)
{
	(void)arg;
	splice_relay();
	splice_file_and_errors();
}

static void test_splice(void **state)
{
	(void)state;
	RUN_FOR_PROCS(splice_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* File-system calls                                                     */
/* --------------------------------------------------------------------- */

static void fs_body(void)
{
	char dir[64], a[96], b[96];
	struct statx stx;
	struct stat st;
	int dfd, fd;

	snprintf(dir, sizeof(dir), "/tmp/ringo-fs-%d", (int)getpid());
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	GCHECK_EQ(rg_mkdirat(AT_FDCWD, dir, 0700), 0);
	GCHECK_EQ(rg_mkdirat(AT_FDCWD, dir, 0700), -EEXIST);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	GCHECK(dfd >= 0);
	fd = openat(dfd, "a", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	GCHECK(fd >= 0);
	/* fallocate, then statx sees the size. */
	GCHECK_EQ(rg_fallocate(fd, 0, 0, 1 << 20), 0);
	GCHECK_EQ(rg_statx(dfd, "a", 0, STATX_SIZE | STATX_MODE, &stx), 0);
	GCHECK_EQ(stx.stx_size, (uint64_t)(1 << 20));
	GCHECK(S_ISREG(stx.stx_mode));
	GCHECK_EQ(rg_ftruncate(fd, 123), 0);
	GCHECK_EQ(fstat(fd, &st), 0);
	GCHECK_EQ(st.st_size, 123);
	GCHECK_EQ(rg_fallocate(fd, 0, 0, 0), -EINVAL);
	GCHECK_EQ(rg_ftruncate(fd, -1), -EINVAL);
	close(fd);
	/* rename, with RENAME_NOREPLACE refusing an existing target. */
	GCHECK_EQ(rg_renameat(dfd, "a", AT_FDCWD, b, 0), 0);
	GCHECK_EQ(stat(a, &st), -1);
	GCHECK_EQ(stat(b, &st), 0);
	fd = openat(dfd, "a", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	GCHECK(fd >= 0);
	close(fd);
	GCHECK_EQ(rg_renameat(AT_FDCWD, a, AT_FDCWD, b, RENAME_NOREPLACE), -EEXIST);
	GCHECK_EQ(rg_statx(AT_FDCWD, "/nonexistent/x", 0, STATX_SIZE, &stx), -ENOENT);
	/* unlink both, then the directory. */
	GCHECK_EQ(rg_unlinkat(dfd, "a", 0), 0);
	GCHECK_EQ(rg_unlinkat(AT_FDCWD, b, 0), 0);
	GCHECK_EQ(rg_unlinkat(dfd, "a", 0), -ENOENT);
	GCHECK_EQ(rg_unlinkat(AT_FDCWD, dir, 0), -EISDIR);
	close(dfd);
	GCHECK_EQ(rg_unlinkat(AT_FDCWD, dir, AT_REMOVEDIR), 0);
	GCHECK_EQ(rg_statx(AT_FDCWD, dir, 0, STATX_SIZE, NULL), -EFAULT);
}

static void fs_main(void *arg)
{
	(void)arg;
	fs_body();
}

static void test_fs(void **state)
{
	(void)state;
	RUN_FOR_PROCS(fs_main, NULL, 1, 2);
	gcheck_reset();
	fs_body(); /* a plain thread */
	gcheck_assert_none();
}

/* --------------------------------------------------------------------- */
/* Plain threads                                                         */
/* --------------------------------------------------------------------- */

static void test_plain_thread(void **state)
{
	char a[4] = "abc", b[4] = { 0 };
	struct iovec wv = { a, 3 }, rv = { b, 3 };
	struct sockaddr_in saddr, from;
	socklen_t flen = sizeof(from);
	int sv[2], p[2], ufd;

	(void)state;
	assert_int_equal(unix_pair(sv, 0), 0);
	assert_int_equal(rg_writev(sv[0], &wv, 1), 3);
	assert_int_equal(rg_readv(sv[1], &rv, 1), 3);
	assert_memory_equal(a, b, 3);
	ufd = udp_socket(&saddr);
	assert_true(ufd >= 0);
	assert_int_equal(rg_sendto(ufd, "u", 1, 0, (struct sockaddr *)&saddr, sizeof(saddr)), 1);
	assert_int_equal(rg_recvfrom(ufd, b, 1, 0, (struct sockaddr *)&from, &flen), 1);
	assert_int_equal(b[0], 'u');
	assert_int_equal(from.sin_port, saddr.sin_port);
	/* splice, blocking as the plain call does. */
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(rg_writev(sv[0], &wv, 1), 3);
	assert_int_equal(rg_splice(sv[1], NULL, p[1], NULL, 3, 0), 3);
	assert_int_equal(rg_read(p[0], b, 3), 3);
	assert_memory_equal(a, b, 3);
	close(p[0]);
	close(p[1]);
	assert_int_equal(rg_shutdown(sv[0], SHUT_RDWR), 0);
	close(ufd);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectored),     cmocka_unit_test(test_udp_echo),
		cmocka_unit_test(test_msg),	     cmocka_unit_test(test_sendfile),
		cmocka_unit_test(test_splice),	     cmocka_unit_test(test_fs),
		cmocka_unit_test(test_plain_thread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
