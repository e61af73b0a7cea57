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
#include <sys/uio.h>
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

/* --- calls in progress ------------------------------------------------------ */

/*
 * ki_incall counts the calls of this thread that are in progress inside
 * kernel_iface (every wrapper that can sleep in the kernel brackets its call
 * with ki_call_enter/ki_call_exit) and inside the C library or another
 * library on the runtime's behalf: runtime/runtime.h's allocation wrappers,
 * and every other call by which the runtime may wait there while a
 * goroutine is current (thread creation, a pthread mutex, stdio, the
 * loader, c-ares, libdw, libnuma).  The SIGURG handler reads it on the same
 * thread: a thread found asleep in a system call while the count is 0 was
 * put there by the program's own code, not by the runtime (see "Blocked
 * calls nobody annotated" in runtime/preempt.c); one the runtime put there
 * and lost its P in would go on using a P it no longer holds.  Nothing
 * parks between the two (gopark checks, with debug checks on): the count
 * belongs to the M.
 */
extern __thread uint32_t ki_incall __attribute__((tls_model("initial-exec")));

static inline void ki_call_enter(void)
{
	ki_incall++;
	__asm__ volatile("" ::: "memory");
}

static inline void ki_call_exit(void)
{
	__asm__ volatile("" ::: "memory");
	ki_incall--;
}

/* --- signals ------------------------------------------------------------- */

int ki_sigaction(int sig, const struct sigaction *act, struct sigaction *old);
int ki_sigaltstack(const stack_t *ss, stack_t *old);
/* Block SIGPIPE in the calling thread (*old: the mask before); restore
 * *old, first discarding SIGPIPEs raised on this thread meanwhile. */
int ki_sigpipe_block(sigset_t *old);
void ki_sigpipe_restore(const sigset_t *old);
/* The system call the thread tid of this process is blocked in, read from
 * /proc/self/task/TID/syscall: 1 with *nr and args[0..6) set when it sleeps
 * in one, 0 when it runs or sleeps outside a system call (a page fault),
 * -errno when the file cannot be read.  Costs an open, a read and a close
 * (a few microseconds); for sysmon, never on a hot path. */
int ki_thread_syscall(pid_t tid, long *nr, unsigned long args[6]);
/* Whether the kernel restarts system call nr, made with args, after a
 * handler installed with SA_RESTART returns: the calls that sleep until
 * data, a peer or a lock arrives (read, write, their vector and socket
 * forms, accept, wait4, flock, open of a FIFO, futex waits without a
 * timeout).  Sleeps with a timeout (nanosleep, poll, epoll_wait, select,
 * timed futex waits) fail with EINTR instead, so they are excluded.
 * Async-signal-safe. */
bool ki_syscall_restarts(long nr, const unsigned long args[6]);

/* --- descriptors (kernel_iface/io.c) ----------------------------------- */

/* The libc calls of the same name: the result or -errno.  They block as the
 * descriptor says (the netpoller calls them on non-blocking attempts). */
int ki_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
int ki_socket(int domain, int type, int protocol);
int ki_connect(int fd, const struct sockaddr *addr, socklen_t len);
ssize_t ki_recv(int fd, void *buf, size_t len, int flags);
ssize_t ki_send(int fd, const void *buf, size_t len, int flags);
ssize_t ki_read(int fd, void *buf, size_t len);
ssize_t ki_write(int fd, const void *buf, size_t len);
ssize_t ki_pread(int fd, void *buf, size_t len, off_t off);
ssize_t ki_pwrite(int fd, const void *buf, size_t len, off_t off);
/* One-buffer preadv2/pwritev2 (flags: RWF_NOWAIT ...; off -1: the file
 * position). */
/* Vectored, at off (-1: the file position), with RWF_* flags. */
ssize_t ki_preadv2(int fd, const struct iovec *iov, int cnt, off_t off, int flags);
ssize_t ki_pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags);
ssize_t ki_recvmsg(int fd, struct msghdr *msg, int flags);
ssize_t ki_sendmsg(int fd, const struct msghdr *msg, int flags);
/* sendfile(2): count bytes of in_fd from *off (NULL: its position) to
 * out_fd. */
ssize_t ki_sendfile(int out_fd, int in_fd, off_t *off, size_t count);
/* splice(2): up to len bytes between two descriptors, one a pipe. */
ssize_t ki_splice(int fd_in, off_t *off_in, int fd_out, off_t *off_out, size_t len,
		  unsigned int flags);
int ki_shutdown(int fd, int how);
struct statx;
int ki_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *buf);
int ki_unlinkat(int dirfd, const char *path, int flags);
int ki_renameat2(int olddirfd, const char *old, int newdirfd, const char *new, unsigned flags);
int ki_mkdirat(int dirfd, const char *path, mode_t mode);
int ki_fallocate(int fd, int mode, off_t off, off_t len);
int ki_ftruncate(int fd, off_t len);
int ki_open(const char *path, int flags, mode_t mode);
int ki_close(int fd); /* EINTR counts as closed (Linux releases the fd) */
int ki_fsync(int fd);
int ki_fcntl(int fd, int cmd, int arg);
/* The events of fd ready now among events (poll with no timeout): a
 * mask, 0 for none, or -errno (never -EINTR). */
int ki_poll_now(int fd, short events);
/* The same, waiting up to timeout_ns (< 0: no limit) for one of them; 0
 * when the time is up.  Restarted after a signal with the time left. */
int ki_poll_wait(int fd, short events, int64_t timeout_ns);
/* The pending error of a socket (SO_ERROR) as -errno, 0 if none. */
int ki_sock_error(int fd);
/* A set of descriptors to wait on together: an epoll instance
 * (close-on-exec, level-triggered), itself readable while one of them is
 * ready, so that one wait in the netpoller covers them all.
 * ki_pollset_add adds fd for events (POLLIN, POLLOUT); ki_pollset_ready
 * gives up to max of those ready now, without waiting, with their poll
 * bits (POLLERR and POLLHUP too): how many, or -errno.  The set is closed
 * as any descriptor. */
int ki_pollset_create(void);
int ki_pollset_add(int set, int fd, short events);
int ki_pollset_ready(int set, int *fds, short *revents, int max);
/* A non-blocking, close-on-exec eventfd, and a write of 1 to it (a full
 * counter counts as done).  ki_eventfd_signal is async-signal-safe. */
int ki_eventfd(void);
int ki_eventfd_signal(int efd);

/* What a descriptor is, for choosing how to wait on it. */
enum ki_fd_kind {
	KI_FD_SOCKET = 1, /* recv/send with MSG_DONTWAIT never block */
	KI_FD_FILE,	  /* regular file, block device, directory: always "ready" */
	KI_FD_STREAM,	  /* pipe, tty, character device, eventfd... */
	KI_FD_FIFO,	  /* a named pipe: a stream whose open may wait for its peer */
};
/* The kind of fd (enum ki_fd_kind) or -errno (-EBADF); *ident (if not
 * NULL) tells the open file apart from others (device, inode). */
int ki_fd_kind(int fd, uint64_t *ident);
/* The kind of what path names (stat: symbolic links followed), or -errno. */
int ki_path_kind(const char *path);
/* If path names a FIFO, open it for an instant, without blocking, in the
 * direction opposite to flags' access mode (O_RDONLY or O_WRONLY), so that
 * an open of it waiting for its peer returns.  0, -ENXIO when no reader
 * waits for a writer yet, -EINVAL when path is no FIFO (nothing opened),
 * or -errno. */
int ki_fifo_poke(const char *path, int flags);

/* The kernel's "restart the system call" code, which an interrupted
 * request of a worker thread may report as its result. */
#define KI_ERESTARTSYS 512

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

/* --- CPUs: cgroup quota, affinity (kernel_iface/cgroup.c, thread.c) ----- */

/*
 * None of these is async-signal-safe (they allocate); any thread may call
 * them, with or without a P.  The cgroup calls read files and so may block
 * briefly: call them where a start-up or sysmon-style delay is acceptable
 * (rg_main before the Ps exist, sysmon), not on a hot path.
 */

/* The cgroup v2 CPU limit of this process, in CPUs (quota / period): the
 * smallest of the cpu.max files of its cgroup and every ancestor up to the
 * root (design comment at the top of kernel_iface/cgroup.c).  NULL
 * arguments mean "/proc/self/cgroup" and "/sys/fs/cgroup" (tests pass fake
 * ones).  If root + the cgroup's path is not a directory (another cgroup
 * namespace), only cgroup_root/cpu.max is read.  Returns 1 with *limit set
 * when there is a limit; 0 when there is none ("max PERIOD" everywhere, or
 * no cpu.max: no cpu controller); -ENOENT when proc_self_cgroup is missing
 * or has no "0::" line (cgroup v1 only); -EINVAL for a malformed cpu.max
 * or a NULL limit; other -errno from reading the files. */
int ki_cgroup_cpu_limit(const char *proc_self_cgroup, const char *cgroup_root, double *limit);
/* The default number of Ps, as Go 1.25 computes GOMAXPROCS: the CPUs in
 * the calling thread's affinity mask (ki_affinity_count), lowered to the
 * cgroup limit rounded up and raised to at least 2 when that is smaller
 * (so a 1 CPU mask always gives 1, a 0.5 or 1.5 CPU quota gives 2, a 2.5
 * CPU quota 3).  A cgroup that cannot be read counts as no limit.
 * Arguments as for ki_cgroup_cpu_limit.  Returns >= 1 or -errno (from
 * ki_affinity_count). */
int ki_default_procs(const char *proc_self_cgroup, const char *cgroup_root);
/* The CPU numbers of the calling thread's affinity mask, ascending, in
 * cpus[0..max): P i's home CPU is cpus[i].  Returns their count; with max
 * 0 only the count (cpus may be NULL).  -ERANGE if more than max (size
 * cpus with ki_affinity_count), -EINVAL if max < 0, -ENOMEM, -errno. */
int ki_affinity_cpus(int *cpus, int max);
/* Set the calling thread's affinity mask to cpus[0..n) (n >= 1; CPU
 * numbers of any size, duplicates allowed), e.g. to restore what
 * ki_affinity_cpus returned.  Other threads keep theirs; threads the
 * caller creates afterwards inherit it.  Returns 0, -EINVAL (n < 1, a
 * negative CPU, or no CPU of the set online and allowed by the cpuset
 * cgroup), -ENOMEM, -errno. */
int ki_set_affinity(const int *cpus, int n);
/* Pin the calling thread to one CPU: ki_set_affinity(&cpu, 1).  The
 * thread runs on cpu before this returns (sched_getcpu() == cpu). */
int ki_pin_thread(int cpu);

#endif /* RINGO_KERNEL_IFACE_KERNEL_H */
