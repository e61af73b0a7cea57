/* SPDX-License-Identifier: MIT */
/*
 * kernel_iface/sys.c - futexes, thread ids, clocks and raw output.
 */
#include "kernel_iface/kernel.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

__thread uint32_t ki_incall __attribute__((tls_model("initial-exec")));

int ki_futex_wait(const uint32_t *addr, uint32_t val, int64_t timeout_ns)
{
	struct timespec ts, *tsp = NULL;
	int saved = errno;
	long r;

	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		tsp = &ts;
	}
	ki_call_enter();
	r = syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, tsp, NULL, 0);
	ki_call_exit();
	if (r < 0) {
		r = -errno;
		errno = saved;
	}
	return (int)r;
}

int ki_futex_wake(const uint32_t *addr, int n)
{
	int saved = errno;
	long r = syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);

	if (r < 0) {
		r = -errno;
		errno = saved;
	}
	return (int)r;
}

pid_t ki_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

pid_t ki_getpid(void)
{
	return getpid();
}

int ki_tgkill(pid_t tgid, pid_t tid, int sig)
{
	int saved = errno;
	long r = syscall(SYS_tgkill, tgid, tid, sig);

	if (r < 0) {
		r = -errno;
		errno = saved;
	}
	return (int)r;
}

int64_t ki_nanotime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void ki_usleep_ns(int64_t ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };
	int saved = errno;

	ki_call_enter();
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	ki_call_exit();
	errno = saved;
}

int ki_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	int saved = errno;

	while (len > 0) {
		ssize_t n;

		ki_call_enter();
		n = write(fd, p, len);
		ki_call_exit();
		if (n < 0) {
			if (errno == EINTR)
				continue;
			n = -errno;
			errno = saved;
			return (int)n;
		}
		p += n;
		len -= (size_t)n;
	}
	errno = saved;
	return 0;
}

_Noreturn void ki_exit(int status)
{
	_exit(status);
}
