/* SPDX-License-Identifier: MIT */
/*
 * kernel_iface/kernel.h - the only door to the kernel.
 *
 * Every other layer reaches system calls, memory mappings, signals, threads
 * and clocks through these wrappers.  Each returns 0 (or a value) on success
 * and -errno on failure; none of them touches errno as seen by the caller's
 * goroutine (errno belongs to the M, see include/ringo.h).
 *
 * All functions may be called from any thread, with or without a P, and,
 * where noted, from a signal handler (async-signal-safe).
 */
#ifndef RINGO_KERNEL_IFACE_KERNEL_H
#define RINGO_KERNEL_IFACE_KERNEL_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* --- futex (private, 32-bit) --------------------------------------------- */

/* Sleep while *addr == val.  timeout_ns < 0 waits forever (relative time).
 * Returns 0 when woken (possibly spuriously), -EAGAIN if *addr != val,
 * -ETIMEDOUT, -EINTR. */
int ki_futex_wait(const uint32_t *addr, uint32_t val, int64_t timeout_ns);
/* Wake up to n sleepers on addr.  Returns the number woken or -errno.
 * Async-signal-safe. */
int ki_futex_wake(const uint32_t *addr, int n);

/* --- threads ------------------------------------------------------------- */

pid_t ki_gettid(void); /* async-signal-safe */
int ki_tgkill(pid_t tgid, pid_t tid, int sig);
pid_t ki_getpid(void);
/* Create a joinable thread with a stack of stack_size bytes (0: default)
 * and name it (at most 15 characters). */
int ki_thread_create(pthread_t *thr, void *(*fn)(void *), void *arg, size_t stack_size,
		     const char *name);
int ki_thread_join(pthread_t thr);
/* The calling thread's stack bounds [*lo, *lo + *size). */
int ki_thread_stack(void **lo, size_t *size);
/* The number of CPUs in the calling thread's affinity mask (>= 1), or -errno. */
int ki_affinity_count(void);
/* Count the live threads of this process whose tid is not in tids[0..n),
 * reading /proc/self/task.  Returns the count or -errno. */
int ki_count_other_threads(const pid_t *tids, int n);
/* Yield the CPU to another thread (sched_yield). */
void ki_osyield(void);

/* --- memory -------------------------------------------------------------- */

size_t ki_page_size(void);
/* Anonymous private mapping; noreserve adds MAP_NORESERVE.  *out on success. */
int ki_mmap_anon(size_t len, bool noreserve, void **out);
int ki_munmap(void *addr, size_t len);
int ki_madvise(void *addr, size_t len, int advice);
int ki_mprotect(void *addr, size_t len, int prot);
/* vm.max_map_count, or -errno. */
long ki_max_map_count(void);

/* MADV_GUARD_INSTALL (Linux 6.13+), absent from older kernel headers. */
#define KI_MADV_GUARD_INSTALL 102

/* --- signals ------------------------------------------------------------- */

int ki_sigaction(int sig, const struct sigaction *act, struct sigaction *old);
int ki_sigaltstack(const stack_t *ss, stack_t *old);
/* Block SIGPIPE in the calling thread (*old: the mask before); restore
 * *old, first discarding SIGPIPEs raised on this thread meanwhile. */
int ki_sigpipe_block(sigset_t *old);
void ki_sigpipe_restore(const sigset_t *old);

/* --- descriptors (kernel_iface/io.c) ----------------------------------- */

/* The libc calls of the same name: the result or -errno.  They block as the
 * descriptor says (the netpoller calls them on non-blocking attempts). */
int ki_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
int ki_connect(int fd, const struct sockaddr *addr, socklen_t len);
ssize_t ki_recv(int fd, void *buf, size_t len, int flags);
ssize_t ki_send(int fd, const void *buf, size_t len, int flags);
ssize_t ki_read(int fd, void *buf, size_t len);
ssize_t ki_write(int fd, const void *buf, size_t len);
ssize_t ki_pread(int fd, void *buf, size_t len, off_t off);
ssize_t ki_pwrite(int fd, const void *buf, size_t len, off_t off);
/* One-buffer preadv2/pwritev2 (flags: RWF_NOWAIT ...; off -1: the file
 * position). */
ssize_t ki_preadv2(int fd, void *buf, size_t len, off_t off, int flags);
ssize_t ki_pwritev2(int fd, const void *buf, size_t len, off_t off, int flags);
int ki_open(const char *path, int flags, mode_t mode);
int ki_close(int fd); /* EINTR counts as closed (Linux releases the fd) */
int ki_fsync(int fd);
int ki_fcntl(int fd, int cmd, int arg);
/* The pending error of a socket (SO_ERROR) as -errno, 0 if none. */
int ki_sock_error(int fd);
/* A non-blocking, close-on-exec eventfd, and a write of 1 to it (a full
 * counter counts as done).  ki_eventfd_signal is async-signal-safe. */
int ki_eventfd(void);
int ki_eventfd_signal(int efd);

/* What a descriptor is, for choosing how to wait on it. */
enum ki_fd_kind {
	KI_FD_SOCKET = 1, /* recv/send with MSG_DONTWAIT never block */
	KI_FD_FILE,	  /* regular file, block device, directory: always "ready" */
	KI_FD_STREAM,	  /* pipe, FIFO, tty, character device, eventfd... */
};
/* The kind of fd (enum ki_fd_kind) or -errno (-EBADF); *ident (if not
 * NULL) tells the open file apart from others (device, inode). */
int ki_fd_kind(int fd, uint64_t *ident);

/* --- clocks and output --------------------------------------------------- */

/* CLOCK_MONOTONIC in nanoseconds.  Async-signal-safe (vDSO). */
int64_t ki_nanotime(void);
/* Sleep for ns nanoseconds (the thread, not a goroutine). */
void ki_usleep_ns(int64_t ns);
/* Write all of buf to fd, retrying short writes and EINTR.
 * Async-signal-safe.  Returns 0 or -errno. */
int ki_write_all(int fd, const void *buf, size_t len);
/* Terminate the process now with status (no atexit handlers). */
_Noreturn void ki_exit(int status);

#endif /* RINGO_KERNEL_IFACE_KERNEL_H */
