/* SPDX-License-Identifier: MIT */
/*
 * runtime/io.c - the I/O API (rg_read, rg_recv, ...).
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>

#include "ringo.h"
#include "kernel_iface/kernel.h"
#include "runtime/runtime.h"

int64_t rg_now_ns(void)
{
	return ki_nanotime();
}

void rg_sleep_ns(int64_t ns)
{
	if (ns > 0)
		ki_usleep_ns(ns);
}

int rg_accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	return ki_accept4(fd, addr, addrlen, SOCK_CLOEXEC);
}

int rg_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	return ki_connect(fd, addr, addrlen);
}

ssize_t rg_recv(int fd, void *buf, size_t len, int flags)
{
	return ki_recv(fd, buf, len, flags);
}

ssize_t rg_send(int fd, const void *buf, size_t len, int flags)
{
	return ki_send(fd, buf, len, flags | MSG_NOSIGNAL);
}

ssize_t rg_read(int fd, void *buf, size_t len)
{
	return ki_read(fd, buf, len);
}

ssize_t rg_write(int fd, const void *buf, size_t len)
{
	return ki_write(fd, buf, len);
}

ssize_t rg_pread(int fd, void *buf, size_t len, off_t off)
{
	return ki_pread(fd, buf, len, off);
}

ssize_t rg_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	return ki_pwrite(fd, buf, len, off);
}

int rg_open(const char *path, int flags, mode_t mode)
{
	return ki_open(path, flags | O_CLOEXEC, mode);
}

int rg_fsync(int fd)
{
	return ki_fsync(fd);
}

int rg_close(int fd)
{
	return ki_close(fd);
}

int64_t rg_set_deadline(int64_t deadline_ns)
{
	(void)deadline_ns;
	return -EPERM;
}

int rg_io_cancel(int fd)
{
	(void)fd;
	return 0;
}

const char *rg_netpoll_backend(void)
{
	return NULL;
}
