/* SPDX-License-Identifier: MIT */
/*
 * kernel_iface/signal.c - signal dispositions, alternate signal stacks, and
 * what a thread interrupted in a system call was doing.
 */
#include "kernel_iface/kernel.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int ki_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	int saved = errno;
	int r = sigaction(sig, act, old) ? -errno : 0;

	errno = saved;
	return r;
}

int ki_sigaltstack(const stack_t *ss, stack_t *old)
{
	int saved = errno;
	int r = sigaltstack(ss, old) ? -errno : 0;

	errno = saved;
	return r;
}

int ki_sigpipe_block(sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	return -pthread_sigmask(SIG_BLOCK, &set, old);
}

void ki_sigpipe_restore(const sigset_t *old)
{
	struct timespec zero = { 0, 0 };
	sigset_t set;
	int saved = errno;

	if (sigismember(old, SIGPIPE) != 1) {
		/* Discard the SIGPIPEs our writes raised on this thread before
		 * the caller's mask lets them through. */
		sigemptyset(&set);
		sigaddset(&set, SIGPIPE);
		while (sigtimedwait(&set, NULL, &zero) == SIGPIPE)
			;
	}
	pthread_sigmask(SIG_SETMASK, old, NULL);
	errno = saved;
}

int ki_thread_syscall(pid_t tid, long *nr, unsigned long args[6])
{
	char path[64], buf[256];
	int saved = errno, fd, i;
	ssize_t n;
	char *p, *end;
	long v;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto err;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		goto err;
	buf[n] = '\0';
	/* "running", "-1 SP PC" (asleep outside a system call) or
	 * "NR ARG0 ... ARG5 SP PC", the arguments in hexadecimal. */
	v = strtol(buf, &end, 10);
	if (end == buf || v < 0) {
		errno = saved;
		return 0;
	}
	*nr = v;
	for (i = 0, p = end; i < 6; i++, p = end) {
		args[i] = strtoul(p, &end, 16);
		if (end == p) {
			errno = saved;
			return -EPROTO;
		}
	}
	errno = saved;
	return 1;
err:
	i = -errno;
	errno = saved;
	return i;
}

bool ki_syscall_restarts(long nr, const unsigned long args[6])
{
	switch (nr) {
	case SYS_read:
	case SYS_write:
	case SYS_readv:
	case SYS_writev:
	case SYS_pread64:
	case SYS_pwrite64:
	case SYS_preadv:
	case SYS_pwritev:
	case SYS_preadv2:
	case SYS_pwritev2:
	case SYS_recvfrom:
	case SYS_recvmsg:
	case SYS_sendto:
	case SYS_sendmsg:
	case SYS_accept:
	case SYS_accept4:
	case SYS_wait4:
	case SYS_waitid:
	case SYS_flock:
	case SYS_open:
	case SYS_openat:
		return true;
	case SYS_futex:
		/* A wait with a timeout ends in EINTR (restart block). */
		switch (args[1] & FUTEX_CMD_MASK) {
		case FUTEX_WAIT:
		case FUTEX_WAIT_BITSET:
			return args[3] == 0;
		default:
			return false;
		}
	default:
		return false;
	}
}
