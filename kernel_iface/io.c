/* SPDX-License-Identifier: MIT */
/*
 * kernel_iface/io.c - descriptor system calls, as plain (blocking or not,
 * as the descriptor says) calls returning the result or -errno.
 *
 * The netpoller backends (netpoll_iouring.c, netpoll_epoll.c) use these for
 * the attempts that must not block; runtime/io.c uses them for plain
 * threads, where the call simply blocks.
 */
#include "kernel_iface/kernel.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* Evaluate a libc call; its result, or -errno with errno left as it was. */
#define KI_CALL(expr)                   \
	({                              \
		int saved_ = errno;     \
		__typeof__(expr) r_;    \
		ki_call_enter();        \
		r_ = (expr);            \
		ki_call_exit();         \
		if (r_ < 0) {           \
			r_ = -errno;    \
			errno = saved_; \
		}                       \
		r_;                     \
	})

int ki_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	return KI_CALL(accept4(fd, addr, len, flags));
}

int ki_socket(int domain, int type, int protocol)
{
	return KI_CALL(socket(domain, type, protocol));
}

int ki_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	return KI_CALL(connect(fd, addr, len));
}

ssize_t ki_recv(int fd, void *buf, size_t len, int flags)
{
	return KI_CALL(recv(fd, buf, len, flags));
}

ssize_t ki_send(int fd, const void *buf, size_t len, int flags)
{
	return KI_CALL(send(fd, buf, len, flags));
}

ssize_t ki_read(int fd, void *buf, size_t len)
{
	return KI_CALL(read(fd, buf, len));
}

ssize_t ki_write(int fd, const void *buf, size_t len)
{
	return KI_CALL(write(fd, buf, len));
}

ssize_t ki_pread(int fd, void *buf, size_t len, off_t off)
{
	return KI_CALL(pread(fd, buf, len, off));
}

ssize_t ki_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	return KI_CALL(pwrite(fd, buf, len, off));
}

ssize_t ki_preadv2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	return KI_CALL(preadv2(fd, iov, cnt, off, flags));
}

ssize_t ki_pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	return KI_CALL(pwritev2(fd, iov, cnt, off, flags));
}

ssize_t ki_recvmsg(int fd, struct msghdr *msg, int flags)
{
	return KI_CALL(recvmsg(fd, msg, flags));
}

ssize_t ki_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	return KI_CALL(sendmsg(fd, msg, flags));
}

ssize_t ki_sendfile(int out_fd, int in_fd, off_t *off, size_t count)
{
	return KI_CALL(sendfile(out_fd, in_fd, off, count));
}

ssize_t ki_splice(int fd_in, off_t *off_in, int fd_out, off_t *off_out, size_t len,
		  unsigned int flags)
{
	return KI_CALL(splice(fd_in, off_in, fd_out, off_out, len, flags));
}

int ki_shutdown(int fd, int how)
{
	return KI_CALL(shutdown(fd, how));
}

int ki_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *buf)
{
	return KI_CALL(statx(dirfd, path, flags, mask, buf));
}

int ki_unlinkat(int dirfd, const char *path, int flags)
{
	return KI_CALL(unlinkat(dirfd, path, flags));
}

int ki_renameat2(int olddirfd, const char *old, int newdirfd, const char *new, unsigned flags)
{
	return KI_CALL(renameat2(olddirfd, old, newdirfd, new, flags));
}

int ki_mkdirat(int dirfd, const char *path, mode_t mode)
{
	return KI_CALL(mkdirat(dirfd, path, mode));
}

int ki_fallocate(int fd, int mode, off_t off, off_t len)
{
	return KI_CALL(fallocate(fd, mode, off, len));
}

int ki_ftruncate(int fd, off_t len)
{
	return KI_CALL(ftruncate(fd, len));
}

int ki_open(const char *path, int flags, mode_t mode)
{
	return KI_CALL(open(path, flags, mode));
}

int ki_close(int fd)
{
	int r = KI_CALL(close(fd));

	/* Linux releases the descriptor even when close reports EINTR. */
	return r == -EINTR ? 0 : r;
}

int ki_fsync(int fd)
{
	return KI_CALL(fsync(fd));
}

int ki_fcntl(int fd, int cmd, int arg)
{
	return KI_CALL(fcntl(fd, cmd, arg));
}

int ki_eventfd(void)
{
	return KI_CALL(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
}

int ki_eventfd_signal(int efd)
{
	uint64_t one = 1;
	ssize_t r = KI_CALL(write(efd, &one, sizeof(one)));

	/* EAGAIN: the counter is full, so a wake-up is pending anyway. */
	return r < 0 && r != -EAGAIN ? (int)r : 0;
}

static int mode_kind(mode_t mode)
{
	if (S_ISSOCK(mode))
		return KI_FD_SOCKET;
	if (S_ISREG(mode) || S_ISBLK(mode) || S_ISDIR(mode))
		return KI_FD_FILE;
	return S_ISFIFO(mode) ? KI_FD_FIFO : KI_FD_STREAM;
}

int ki_fd_kind(int fd, uint64_t *ident)
{
	struct stat st;
	int r = KI_CALL(fstat(fd, &st));

	if (r < 0)
		return r;
	if (ident)
		*ident = (uint64_t)st.st_ino ^ ((uint64_t)st.st_dev << 40) ^
			 ((uint64_t)st.st_mode << 32);
	return mode_kind(st.st_mode);
}

int ki_path_kind(const char *path)
{
	struct stat st;
	int r = KI_CALL(stat(path, &st));

	return r < 0 ? r : mode_kind(st.st_mode);
}

int ki_fifo_poke(const char *path, int flags)
{
	int r = ki_path_kind(path);

	if (r < 0 || r != KI_FD_FIFO)
		return r < 0 ? r : -EINVAL;
	r = ki_open(path,
		    ((flags & O_ACCMODE) == O_RDONLY ? O_WRONLY : O_RDONLY) | O_NONBLOCK |
			    O_CLOEXEC | O_NOCTTY,
		    0);
	return r < 0 ? r : ki_close(r);
}

int ki_poll_now(int fd, short events)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int r;

	/* poll(2) is never restarted after a handler (SIGURG's). */
	do
		r = KI_CALL(poll(&pfd, 1, 0));
	while (r == -EINTR);
	return r <= 0 ? r : pfd.revents;
}

int ki_poll_wait(int fd, short events, int64_t timeout_ns)
{
	int64_t until = timeout_ns > 0 ? ki_nanotime() + timeout_ns : 0;
	struct pollfd pfd = { .fd = fd, .events = events };
	struct timespec ts;
	int r;

	for (;;) {
		if (timeout_ns >= 0) {
			int64_t left = timeout_ns ? until - ki_nanotime() : 0;

			if (left < 0)
				left = 0;
			ts.tv_sec = left / 1000000000;
			ts.tv_nsec = left % 1000000000;
		}
		r = KI_CALL(ppoll(&pfd, 1, timeout_ns >= 0 ? &ts : NULL, NULL));
		if (r != -EINTR)
			return r <= 0 ? r : pfd.revents;
	}
}

int ki_pollset_create(void)
{
	return KI_CALL(epoll_create1(EPOLL_CLOEXEC));
}

int ki_pollset_add(int set, int fd, short events)
{
	struct epoll_event ev = { .events = (events & POLLIN ? EPOLLIN : 0u) |
					    (events & POLLOUT ? EPOLLOUT : 0u),
				  .data.fd = fd };

	return KI_CALL(epoll_ctl(set, EPOLL_CTL_ADD, fd, &ev));
}

int ki_pollset_ready(int set, int *fds, short *revents, int max)
{
	struct epoll_event ev[16];
	int n;

	if (max > (int)(sizeof(ev) / sizeof(ev[0])))
		max = (int)(sizeof(ev) / sizeof(ev[0]));
	do
		n = KI_CALL(epoll_wait(set, ev, max, 0));
	while (n == -EINTR);
	for (int i = 0; i < n; i++) {
		fds[i] = ev[i].data.fd;
		revents[i] = (short)((ev[i].events & EPOLLIN ? POLLIN : 0) |
				     (ev[i].events & EPOLLOUT ? POLLOUT : 0) |
				     (ev[i].events & EPOLLERR ? POLLERR : 0) |
				     (ev[i].events & EPOLLHUP ? POLLHUP : 0));
	}
	return n;
}

int ki_sock_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);
	int r = KI_CALL(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len));

	return r < 0 ? r : -err;
}
