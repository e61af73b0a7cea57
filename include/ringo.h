/* SPDX-License-Identifier: MIT */
/*
 * ringo.h - the public API of ringo, a Go-style M:N runtime for C on Linux.
 *
 * The model (see README.md): goroutines (G) are multiplexed onto OS threads
 * (M); an M must hold one of GOMAXPROCS logical processors (P) to run
 * goroutines.  Every function below says who may call it:
 *
 *   any      - any thread, inside or outside the runtime;
 *   goroutine- only code running as a goroutine.  From a plain thread the
 *              call returns -EPERM, or, for a void function, is a fatal
 *              error whose message names the call.
 *
 * Errors are returned as negative errno values.  errno and __thread
 * variables belong to the M (the OS thread), not to the goroutine: a
 * goroutine that parks may resume on another thread, so do not keep the
 * address of errno or of a __thread variable across a call that can park.
 */
#ifndef RINGO_H
#define RINGO_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

#define RINGO_VERSION_MAJOR 0
#define RINGO_VERSION_MINOR 1
#define RINGO_VERSION_PATCH 0
#define RINGO_VERSION \
	((RINGO_VERSION_MAJOR << 16) | (RINGO_VERSION_MINOR << 8) | RINGO_VERSION_PATCH)

/* ===================================================================== */
/* Runtime                                                               */
/* ===================================================================== */

/* The library's version, RINGO_VERSION of the build that was linked. (any) */
int rg_version(void);

typedef struct rg_config {
	int maxprocs;	   /* number of Ps; 0: RINGO_MAXPROCS, else the default */
	size_t stack_size; /* virtual bytes per goroutine stack, 16 KiB to 1 GiB, guard
			    * page included; 0: the default.  Build with
			    * -fstack-clash-protection, so that a frame larger than
			    * the guard hits it (README.md, "Stacks") */
	int max_threads;   /* most threads (Ms); 0: RINGO_DEBUG=maxthreads, else 10000 */
} rg_config;		   /* zero-initialised means all defaults; fields may be added */

/*
 * rg_main - start the runtime and run fn(arg) as goroutine 1.  (any plain thread)
 *
 * cfg may be NULL.  The calling thread becomes the runtime's first M.
 * Returns 0 when fn returns: goroutines still alive are abandoned, as in Go
 * (rg_main returns once every M has reached a scheduling point: goroutines
 * still running are preempted at once, so this takes a few milliseconds;
 * one that cannot be preempted, or one blocked in a system call, holds
 * rg_main back until it calls into the runtime or the call returns, and
 * after a second a line on stderr names it).  If fn calls rg_exit instead,
 * rg_main returns 0 when the last goroutine has ended.  Returns
 * -EINVAL for a bad cfg, -ENOMEM/-EAGAIN if the runtime cannot start, and
 * -EBUSY while a runtime is already running.  It may be called again after
 * it returned.
 *
 * Environment, read once per call: RINGO_MAXPROCS=N, RINGO_NETPOLL=
 * io_uring|epoll and RINGO_DEBUG=k=v[,k=v] with schedtrace=MS,
 * scheddetail=1, preemptslice=US, asyncpreemptoff=1, blockedretakeoff=1,
 * iouringcoop=0, stealpolicy=flat|node|distance, ppin=0|1, softaffinity=0|1, maxthreads=N,
 * stackguard=mprotect, and RINGO_NUMA_TOPOLOGY (README.md, docs/numa.md).
 * Malformed values (an unknown RINGO_NETPOLL name included) are reported
 * on stderr, their first 64 bytes quoted, and ignored; a RINGO_NETPOLL
 * backend that cannot work here makes rg_main fail.
 */
int rg_main(const rg_config *cfg, void (*fn)(void *), void *arg);

/*
 * rg_gomaxprocs - set the number of Ps to n, or query it when n <= 0.
 * Returns the previous value.  Changing it stops the world: every other
 * goroutine is paused at its next scheduling point.  (goroutine; -EPERM
 * from a plain thread)
 */
int rg_gomaxprocs(int n);

/*
 * Scheduler statistics, for experiments (docs/numa.md).  Counters start at
 * 0 with each rg_main and only grow; read them twice and subtract.
 *
 * Steal distance classes: class 0 is the thief's own NUMA node; class c > 0
 * is the c-th nearest distance from the thief's node among the nodes that
 * have Ps (with RINGO_DEBUG=stealpolicy=node every other node is class 1;
 * with flat, every P counts by its real class all the same).
 */
#define RG_STATS_CLASSES 8 /* classes kept; farther ones count in the last */

struct rg_p_stats {
	int32_t home_cpu;		   /* the i-th CPU of the affinity mask (P i) */
	int32_t home_node;		   /* its node, in the topology in use */
	int32_t cpu;			   /* the CPU its M last scheduled on (-1: never ran) */
	int32_t node;			   /* that CPU's node */
	uint64_t schedules;		   /* goroutines it started running */
	uint64_t steals[RG_STATS_CLASSES]; /* successful steals, by class of the victim */
	uint64_t stolen[RG_STATS_CLASSES]; /* goroutines those steals took */
	uint64_t steals_remote_local_work; /* steals from another node while a P
						* of its own node had goroutines queued */
	uint64_t wakeups_local;		   /* goroutines it readied that last ran on its node */
	uint64_t wakeups_remote;	   /* ... that last ran on another node */
	uint64_t migrations;		   /* schedules on another CPU than the one before */
};

struct rg_sched_stats {
	uint32_t size;		  /* in: sizeof(struct rg_sched_stats) (RG_SCHED_STATS_INIT) */
	int32_t nprocs;		  /* Ps in use */
	int32_t nnodes;		  /* nodes of the topology in use */
	int32_t synthetic;	  /* 1 when RINGO_NUMA_TOPOLOGY set it */
	const char *steal_policy; /* "flat", "node" or "distance" */
	const char *rseq;	  /* how the current CPU is read: "glibc", "own", "none" */
	int32_t pinned;		  /* 1 when Ms are pinned to their P's home CPU */
	int32_t nclasses;	  /* classes in use (<= RG_STATS_CLASSES) */
	struct rg_p_stats total;  /* sums over the Ps (home_cpu ... node: -1) */
	int32_t soft_affinity;	  /* 1 when a P goes to the M last on its home CPU */
};

#define RG_SCHED_STATS_INIT                           \
	{                                             \
		.size = sizeof(struct rg_sched_stats) \
	}

/*
 * rg_sched_stats - the scheduler's counters, summed over the Ps.  out->size
 * must be set to the size the caller was built with (fields are only ever
 * added at the end).  Returns 0, -EINVAL (NULL, or a size smaller than the
 * first version's), -ESRCH when no runtime runs.  (any)
 */
int rg_sched_stats(struct rg_sched_stats *out);
/*
 * rg_sched_p_stats - the counters of P p (0 <= p < nprocs).  Returns 0,
 * -EINVAL, -ESRCH when no runtime runs.  (any)
 */
int rg_sched_p_stats(int p, struct rg_p_stats *out);

/*
 * Metrics: a snapshot of the runtime for monitoring, as a struct
 * (rg_metrics) or in Prometheus's text exposition format
 * (rg_metrics_format, rg_metrics_write: every name starts with "ringo_").
 *
 * Latency histograms have RG_METRICS_BUCKETS buckets: bucket i counts the
 * samples of at most rg_metrics_bucket_ns(i) = 1 us * 4^i, the last one
 * the longer ones.  They are sampled, as Go's: only goroutines whose id is
 * a multiple of 8 are timed.  sched_latency is the time a goroutine waits
 * on a run queue after it was readied (or preempted), until it runs; park
 * the time it waited before it was readied, by class of its wait reason.
 * A goroutine that yields (rg_yield) is not timed: yield loops would pay
 * for it on every switch.
 */
#define RG_METRICS_BUCKETS 12

enum rg_park_class {
	RG_PARK_CHAN,  /* chan send, chan receive, select */
	RG_PARK_IO,    /* IO wait */
	RG_PARK_SLEEP, /* sleep */
	RG_PARK_SYNC,  /* sync.*: mutexes, WaitGroups, conds, semaphores, once */
	RG_PARK_OTHER,
	RG_PARK_CLASSES,
};

/* The I/O requests counted, by operation (the poller's).  The vectored
 * and message calls count with their plain operation: rg_readv and
 * rg_preadv as reads, rg_recvmsg and rg_recvfrom as receives, and so on. */
enum rg_io_op {
	RG_IO_ACCEPT,
	RG_IO_CONNECT,
	RG_IO_RECV,
	RG_IO_SEND,
	RG_IO_READ,
	RG_IO_WRITE,
	RG_IO_OPEN,
	RG_IO_FSYNC,
	RG_IO_POLL, /* a readiness wait (epoll), or rg_poll-style waits */
	RG_IO_OPS,
};

struct rg_histogram {
	uint64_t buckets[RG_METRICS_BUCKETS]; /* samples per bucket (not cumulative) */
	uint64_t count;			      /* their sum */
	int64_t sum_ns;			      /* the sum of the samples */
};

struct rg_metrics {
	uint32_t size; /* in: sizeof(struct rg_metrics) (RG_METRICS_INIT) */
	int32_t procs, procs_idle;
	int32_t threads, threads_idle, threads_spinning;
	int64_t goroutines; /* live: running, runnable and waiting */
	int64_t goroutines_running, goroutines_runnable, goroutines_waiting;
	int64_t goroutines_created;	   /* since rg_main */
	int64_t runq_global;		   /* goroutines on the global run queue */
	int64_t runq_local;		   /* ... on the Ps' queues, runnext included */
	uint64_t steals[RG_STATS_CLASSES]; /* successful steals, by class of the victim */
	uint64_t stolen[RG_STATS_CLASSES]; /* goroutines they took */
	uint64_t preempt_requests;	   /* sysmon asked a goroutine to yield */
	uint64_t preempts;		   /* time slices that ended in a yield */
	uint64_t syscalls;		   /* rg_syscall_enter calls, and blocked calls found */
	uint64_t retakes;		   /* Ps sysmon took from Ms in system calls */
	uint64_t io[RG_IO_OPS][4];	   /* requests ended: ok, error, timed out, canceled */
	uint64_t timers_fired;
	int64_t stack_bytes_carved; /* address space of the stacks carved so far */
	int64_t stack_bytes_pooled; /* of them, free stacks whose pages are kept */
	int64_t stack_bytes_cold;   /* free stacks whose pages were given back */
	struct rg_histogram sched_latency;
	struct rg_histogram park[RG_PARK_CLASSES];
};

#define RG_METRICS_INIT                           \
	{                                         \
		.size = sizeof(struct rg_metrics) \
	}

/*
 * rg_metrics - fill *out.  out->size must be set to the size the caller was
 * built with.  Returns 0, -EINVAL (NULL, or a size smaller than the first
 * version's), -ESRCH when no runtime runs.  Walks every goroutine (under
 * a lock that rg_go takes for new slabs only): a few milliseconds for a
 * million goroutines.  (any)
 */
int rg_metrics(struct rg_metrics *out);
/* The upper bound of histogram bucket i (ns), INT64_MAX for the last;
 * -EINVAL beyond.  (any) */
int64_t rg_metrics_bucket_ns(int i);
/*
 * rg_metrics_format - the metrics in Prometheus's text format (version
 * 0.0.4) into buf[len], NUL-terminated when len > 0.  Returns the length of
 * the whole text (as snprintf: more than len - 1 means it was cut), or
 * -ESRCH when no runtime runs.  (any)
 */
ssize_t rg_metrics_format(char *buf, size_t len);
/* rg_metrics_write - the same text written to fd with rg_write (all of it:
 * a short write is continued).  0 or -errno.  (any) */
int rg_metrics_write(int fd);

/*
 * The execution trace: every scheduler event (the USDT probes', see
 * docs/observability.md) recorded per thread, written as Chrome's
 * trace-event JSON, which ui.perfetto.dev and chrome://tracing open: a
 * track per P with a slice per stretch of a goroutine (named by its
 * function), system calls, timers, preemption requests and steals; a
 * track per M with its idle times and poller waits.  RINGO_DEBUG=trace=PATH
 * traces a whole rg_main.
 *
 * rg_trace_start - create or truncate path and start recording.  0,
 * -EINVAL (no path), -ESRCH (no runtime runs), -EBUSY (a trace is on), or
 * open(2)'s -errno.  (any)
 * rg_trace_stop - stop recording and write the trace; it blocks its thread
 * (not only its goroutine) while it writes.  0, -ENOENT (no trace is on),
 * -ENOMEM, or write(2)'s -errno.  A trace still on when rg_main returns is
 * written then.  (any)
 */
int rg_trace_start(const char *path);
int rg_trace_stop(void);

/*
 * rg_dump - every goroutine to fd, as Go prints them on SIGQUIT: its id,
 * its state or wait reason, its stack (function+offset and file:line,
 * where the debug information has them; through elfutils' libdw when
 * libdw.so.1 is installed, else the names the dynamic symbol tables give
 * and module+offset for the rest), and where it was created.  The calling
 * goroutine comes first; one running on another thread is named with its
 * thread, without a stack.  0, -EBADF, -ESRCH (no runtime runs), -ENOMEM
 * or write(2)'s -errno.  Blocks its thread while it writes.  (any)
 *
 * SIGQUIT does the same to stderr and exits with status 2, as Go does,
 * unless RINGO_DEBUG=sigquit=0 leaves SIGQUIT to the program.
 */
int rg_dump(int fd);

/* ===================================================================== */
/* Goroutines                                                            */
/* ===================================================================== */

/*
 * rg_go - start fn(arg) as a new goroutine.  (goroutine)
 * Returns 0, -ENOMEM when no memory is left for it (address space for its
 * stack included: the slot is reserved here, its pages are touched only
 * when it runs), -EAGAIN when no more guarded stacks can be made; never
 * aborts, and a goroutine it admitted always gets its stack.  A program
 * that checks the result can shed load: as goroutines end, rg_go admits
 * new ones again.  The new goroutine runs next on
 * this P (Go's runnext) unless another readied goroutine displaces it.
 */
int rg_go(void (*fn)(void *), void *arg);

/* rg_yield - runtime.Gosched: let other goroutines run.  (goroutine) */
void rg_yield(void);

/*
 * rg_exit - runtime.Goexit: end the calling goroutine.  Called by the
 * main goroutine (fn of rg_main), the others run on, and rg_main returns
 * when the last of them has ended; if they all block for ever instead,
 * that is the deadlock report.  (goroutine)
 */
_Noreturn void rg_exit(void);

/*
 * rg_syscall_enter / rg_syscall_exit - bracket a system call (or any call)
 * that may block the thread, as Go's entersyscall/exitsyscall: the
 * goroutine's P is released cheaply, and if the call blocks while other
 * goroutines wait, the runtime's monitor gives the P to another thread
 * (after about 20 us).  Between the two the goroutine must not call into
 * the runtime (park, spawn, use channels): that is a fatal error.  After
 * rg_syscall_exit the goroutine may run on another thread: read errno
 * before it.  From a plain thread both do nothing.  (any)
 */
void rg_syscall_enter(void);
void rg_syscall_exit(void);

/* rg_blocking - fn(arg) between rg_syscall_enter and rg_syscall_exit; its
 * result, or -EINVAL for a NULL fn.  fn should return -errno on failure
 * rather than leave it in errno.  (any) */
int64_t rg_blocking(int64_t (*fn)(void *arg), void *arg);

/*
 * rg_preempt_disable / rg_preempt_enable - a region in which the calling
 * goroutine is not preempted by the runtime's signal (it still yields
 * where it calls into the runtime).  Nestable; an enable without a
 * disable is a fatal error.  Outside such regions a goroutine that runs
 * longer than its time slice (10 ms; RINGO_DEBUG=preemptslice=US) without
 * a scheduling point is interrupted by SIGURG, at an instruction of the
 * program's own code, and yields.  (goroutine; nothing on plain threads)
 */
void rg_preempt_disable(void);
void rg_preempt_enable(void);

/*
 * rg_lock_os_thread / rg_unlock_os_thread - runtime.LockOSThread: until
 * as many unlocks as locks, the calling goroutine runs only on its current
 * thread and that thread runs no other goroutine (for thread-local state:
 * TLS of a library, a namespace, credentials...).  A goroutine that exits
 * locked takes its thread with it: no other goroutine runs there again
 * and the thread ends (requests it had submitted for other goroutines are
 * submitted again by the runtime).  Switches are slower while any
 * goroutine is locked.  Unlocking
 * an unlocked goroutine does nothing.  (goroutine; nothing on plain
 * threads)
 */
void rg_lock_os_thread(void);
void rg_unlock_os_thread(void);

/* rg_goid - the calling goroutine's id; 1 for the main goroutine, 0 from a
 * plain thread.  (any) */
uint64_t rg_goid(void);

/* rg_num_goroutine - live goroutines, like runtime.NumGoroutine.  (any;
 * 0 when no runtime runs) */
int rg_num_goroutine(void);

/* ===================================================================== */
/* Channels                                                              */
/* ===================================================================== */

/*
 * rg_chan - a Go channel of elements of elem_size bytes (0 allowed), with
 * a buffer of cap elements (0: unbuffered).  Every operation may be called
 * from goroutines (blocking parks the goroutine, never the M) and from
 * plain threads (blocking blocks the thread).  Waiters are served FIFO; a
 * value sent to a waiting receiver is copied straight into its element.
 * Elements are copied with memcpy.
 */
typedef struct rg_chan rg_chan;

/* A new channel, or NULL with errno EINVAL (elem_size > 65536 or the
 * buffer size overflows) or ENOMEM.  (any) */
rg_chan *rg_chan_make(size_t elem_size, size_t cap);
/* Send *elem: 0; -EPIPE if c is or becomes closed (nothing is sent).  A
 * NULL c blocks forever, as a nil channel does.  (any) */
int rg_chan_send(rg_chan *c, const void *elem);
/* Receive into elem (may be NULL): 1 when a value was received; 0 when c
 * is closed and drained (elem zeroed).  A NULL c blocks forever.  (any) */
int rg_chan_recv(rg_chan *c, void *elem);
/* Like send and recv, but -EAGAIN instead of blocking.  (any) */
int rg_chan_try_send(rg_chan *c, const void *elem);
int rg_chan_try_recv(rg_chan *c, void *elem);
/* Close c: 0; -EPIPE if it was already closed.  Waiting receivers get 0,
 * waiting senders -EPIPE.  (any) */
int rg_chan_close(rg_chan *c);
/* Buffered elements and buffer size.  (any) */
size_t rg_chan_len(const rg_chan *c);
size_t rg_chan_cap(const rg_chan *c);
/* Free c (NULL is ignored).  Safe as soon as no goroutine or thread is
 * blocked on it: one woken from an operation on c never touches c again.
 * A fatal error if some are still blocked on it.  Any later call on c (a
 * second free, a send, a receive, rg_select...) is a fatal error naming
 * the call, as long as the memory has not been reused: a freed channel
 * whose memory went to another allocation, another channel in the worst
 * case, cannot be told from a live one.  (any) */
void rg_chan_free(rg_chan *c);

enum { RG_SEND = 1, RG_RECV = 2 };

typedef struct rg_case {
	rg_chan *chan; /* NULL: never ready (a nil channel) */
	int op;	       /* RG_SEND or RG_RECV */
	void *elem;    /* the value to send, or where to receive (may be NULL) */
	int ok;	       /* RG_RECV, set when chosen: 1 a value, 0 closed */
} rg_case;

/*
 * rg_select - Go's select over n cases.  Returns the index of the case
 * that proceeded (a RG_RECV case sets ok).  timeout_ns < 0 blocks; 0 is
 * Go's default: -EAGAIN when no case is ready; > 0 gives up after that
 * long with -ETIMEDOUT.  A send
 * case whose channel is closed makes it return -EPIPE with no case taken.
 * Among ready cases the choice is uniformly random.  -EINVAL for a bad op
 * or n < 0.  (any)
 */
int rg_select(rg_case *cases, int n, int64_t timeout_ns);

/* ===================================================================== */
/* Sync                                                                  */
/* ===================================================================== */

/*
 * The zero value of every type below is ready to use.  Blocking parks the
 * goroutine, never the M; from a plain thread it blocks the thread.
 * Misuse (unlocking an unlocked mutex, a negative WaitGroup counter,
 * releasing more than was acquired) is a fatal error naming the call and
 * the goroutine.  (any, for every function here)
 */

/*
 * rg_wg - sync.WaitGroup.
 */
typedef struct rg_wg {
	_Alignas(8) unsigned char opaque_[16];
} rg_wg;

void rg_wg_add(rg_wg *wg, int delta);
void rg_wg_done(rg_wg *wg);
/* 0 once the counter is zero, or the err of the goroutine's context
 * (rg_ctx_attach) when it is cancelled first. */
int rg_wg_wait(rg_wg *wg);

/* rg_mutex - sync.Mutex: spins briefly, then parks; waiters are served in
 * order once one has waited over 1 ms (Go's starvation mode).  A context
 * does not end a lock's wait (as in Go): a mutex is held briefly. */
typedef struct rg_mutex {
	_Alignas(8) unsigned char opaque_[8];
} rg_mutex;

void rg_mutex_lock(rg_mutex *m);
void rg_mutex_unlock(rg_mutex *m);
/* 0 when acquired, -EBUSY when held by someone else. */
int rg_mutex_trylock(rg_mutex *m);

/* rg_rwmutex - sync.RWMutex: a waiting writer blocks new readers, so
 * writers are not starved. */
typedef struct rg_rwmutex {
	_Alignas(8) unsigned char opaque_[24];
} rg_rwmutex;

void rg_rwmutex_lock(rg_rwmutex *rw);
void rg_rwmutex_unlock(rg_rwmutex *rw);
void rg_rwmutex_rlock(rg_rwmutex *rw);
void rg_rwmutex_runlock(rg_rwmutex *rw);
int rg_rwmutex_trylock(rg_rwmutex *rw);	 /* 0 or -EBUSY */
int rg_rwmutex_tryrlock(rg_rwmutex *rw); /* 0 or -EBUSY */

/* rg_cond - sync.Cond over an rg_mutex (passed to wait, which must hold it). */
typedef struct rg_cond {
	_Alignas(8) unsigned char opaque_[32];
} rg_cond;

/* 0 once signalled, or the err of the goroutine's context when it is
 * cancelled first (or already was: then m is not released at all); m is
 * held again either way.  A cancelled waiter passes on a signal meant
 * for it, so none is lost. */
int rg_cond_wait(rg_cond *c, rg_mutex *m);
void rg_cond_signal(rg_cond *c);
void rg_cond_broadcast(rg_cond *c);

/* rg_once - sync.Once: fn(arg) runs once; every caller returns after it
 * has returned. */
typedef struct rg_once {
	_Alignas(8) unsigned char opaque_[16];
} rg_once;

void rg_once_do(rg_once *o, void (*fn)(void *), void *arg);

/*
 * rg_sema - a weighted semaphore (golang.org/x/sync/semaphore): acquirers
 * are served FIFO, so a large request is not starved by small ones.  The
 * zero value has no capacity; rg_sema_init sets it (before any use).
 */
typedef struct rg_sema {
	_Alignas(8) unsigned char opaque_[48];
} rg_sema;

void rg_sema_init(rg_sema *s, int64_t capacity);
/* 0; -EINVAL if n < 0 or n exceeds the capacity (it could never succeed);
 * the err of the goroutine's context when it is cancelled before the
 * tokens were granted (0 means they were: release them). */
int rg_sema_acquire(rg_sema *s, int64_t n);
/* 0 or -EAGAIN (also -EINVAL as acquire). */
int rg_sema_try_acquire(rg_sema *s, int64_t n);
/* Release n; a fatal error if more than is held. */
void rg_sema_release(rg_sema *s, int64_t n);

/* ===================================================================== */
/* Contexts                                                              */
/* ===================================================================== */

/*
 * Contexts: cancellation and deadlines that flow from a parent to its
 * children, as Go's context package.  A context is cancelled once: by
 * rg_ctx_cancel or rg_ctx_free (err -ECANCELED), or when its deadline
 * passes (-ETIMEDOUT), or when its parent is (the parent's err).  Then
 * its done channel closes: a goroutine waits for that in rg_select (an
 * RG_RECV case on rg_ctx_done(ctx), which proceeds with ok = 0) or
 * rg_chan_recv.  A NULL parent is the background: never cancelled.  A
 * child's deadline is never later than its parent's.
 *
 * Memory: the maker owns a context and frees it with rg_ctx_free, which
 * cancels it (and its children) first, as Go's `defer cancel()` does;
 * children may be freed before or after their parent.  A context made
 * from a freed parent, and any call on a freed context, is a fatal error
 * or worse: free it when nothing uses it any more.  NULL where a context
 * is needed is a fatal error naming the call.  Calls are (any) while the
 * runtime runs; the makers return NULL when no runtime runs or memory is
 * short.
 */
typedef struct rg_ctx rg_ctx;

rg_ctx *rg_ctx_with_cancel(rg_ctx *parent);
/* deadline_ns: an absolute rg_now_ns() time; one already past (or <= 0)
 * makes a context born timed out. */
rg_ctx *rg_ctx_with_deadline(rg_ctx *parent, int64_t deadline_ns);
rg_ctx *rg_ctx_with_timeout(rg_ctx *parent, int64_t timeout_ns);
/* Cancel ctx and its children (-ECANCELED); nothing if already cancelled. */
void rg_ctx_cancel(rg_ctx *ctx);
/* 0 while ctx is live, else why it was cancelled: -ECANCELED or
 * -ETIMEDOUT. */
int rg_ctx_err(const rg_ctx *ctx);
/* The channel that closes when ctx is cancelled (do not close or free it). */
rg_chan *rg_ctx_done(const rg_ctx *ctx);
/* ctx's deadline, 0 for none. */
int64_t rg_ctx_deadline(const rg_ctx *ctx);
/* Cancel ctx, then release it.  NULL: nothing. */
void rg_ctx_free(rg_ctx *ctx);

/*
 * rg_ctx_attach - run the calling goroutine under ctx (NULL: none); returns
 * the context it had.  While one is attached, every call of the goroutine
 * that waits ends when the context is cancelled, returning its err
 * (-ECANCELED or -ETIMEDOUT): the channel operations (rg_chan_send,
 * rg_chan_recv), rg_select, rg_sleep_ns, the I/O calls, rg_poll,
 * rg_getaddrinfo, rg_wg_wait, rg_sema_acquire and rg_cond_wait.  Each has
 * happened or not, never half: a send that returned the err did not
 * send, a receive did not receive, an I/O call that returned it moved no
 * data (its request is cancelled, or finished first and returns its
 * result), a semaphore that returned it granted nothing.  Once the
 * context is cancelled they fail at once, except that an I/O call that
 * can complete without waiting may (the calls try first).  Mutexes do
 * not look at it (as in Go).  A context freed (rg_ctx_free) while
 * goroutines still run under it stays readable to them, cancelled, until
 * they detach or exit.  The attachment goes with the goroutine when it
 * ends.  From a plain thread: NULL, nothing attached.  (any)
 */
rg_ctx *rg_ctx_attach(rg_ctx *ctx);
/* rg_go_ctx - rg_go, the new goroutine starting with ctx attached (NULL:
 * plain rg_go).  -ENOMEM besides rg_go's errors.  (goroutine) */
int rg_go_ctx(rg_ctx *ctx, void (*fn)(void *), void *arg);

/* ===================================================================== */
/* Signals                                                               */
/* ===================================================================== */

/*
 * rg_signal_notify - deliver the signals of set to channel c, as Go's
 * signal.Notify: c must carry ints (rg_chan_make(sizeof(int), ...)); each
 * signal that arrives is sent as its number, without blocking, so a full
 * channel misses it: make c buffered.  Several channels may ask for one
 * signal; each gets it.  A later call for the same c adds to its set.
 * While any channel asks for a signal the runtime handles it (its
 * previous disposition comes back with rg_signal_stop or when the runtime
 * ends); no thread's signal mask changes.  Asking for SIGQUIT takes it
 * from the goroutine dump.  While any channel waits for signals the
 * deadlock report is off: a signal may come.  -EINVAL for a NULL
 * argument, an empty set, a channel of another size, or a signal no
 * channel may take: SIGURG (the runtime's preemption), SIGKILL, SIGSTOP,
 * and the faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP); -ESRCH when
 * no runtime runs.  (any)
 */
int rg_signal_notify(rg_chan *c, const sigset_t *set);
/* rg_signal_stop - stop every delivery to c: once it returns nothing more
 * is sent to c, and the signals no channel asks for any more get their
 * previous disposition back.  -ENOENT if c was not asked for, -EINVAL
 * for NULL.  (any) */
int rg_signal_stop(rg_chan *c);

/* ===================================================================== */
/* Time                                                                  */
/* ===================================================================== */

/* rg_now_ns - CLOCK_MONOTONIC in nanoseconds, the clock of every deadline
 * and timeout below.  (any) */
int64_t rg_now_ns(void);

/*
 * rg_sleep_ns - sleep for at least ns nanoseconds.  A goroutine parks (its
 * M runs others; the P's timer heap wakes it); a plain thread sleeps.
 * Timers, sleeps and deadlines fire as soon as they are due, except on a
 * P holding 1,024 timers or more, whose timers due within a millisecond
 * of each other fire together, at most 1 ms late (Go's are all so).
 * ns <= 0 returns at once, as Go's time.Sleep does.  0, or the err of the
 * goroutine's context (rg_ctx_attach) when it is cancelled first.  (any)
 */
int rg_sleep_ns(int64_t ns);

/*
 * Timers and tickers: Go's time.Timer, time.AfterFunc and time.Ticker, on
 * the per-P timer heaps.  A timer's channel (rg_timer_chan) has one slot of
 * int64_t: the rg_now_ns() time the timer was due for.  rg_timer_func runs
 * fn(arg) as a new goroutine when the time comes.  Stop and Reset have Go
 * 1.23's semantics: once they return, no value of an earlier arming can be
 * received from the channel.  rg_timer_stop returns true if it stopped
 * the timer before it fired, or before its value was received (the value
 * is then dropped), or before its function started; false otherwise.
 * rg_timer_reset stops it the same way, returns what that stop returned,
 * and arms it again for d_ns from now.  A ticker sends every period_ns on
 * its channel, counted from when each tick was due; a receiver that falls
 * behind misses ticks (the slot stays full) rather than getting a burst.
 * Durations <= 0 fire at once.  The makers return NULL when no runtime
 * runs, memory is short, or (tickers) period_ns <= 0, or (rg_timer_func)
 * fn is NULL.  rg_timer_free stops the timer and frees it and its
 * channel; no goroutine may wait on the channel then.  NULL timers are
 * fatal errors naming the call, as are rg_timer_reset on a ticker and
 * rg_ticker_reset on a timer.  Calls are (any) while the runtime runs.
 */
typedef struct rg_timer rg_timer;

rg_timer *rg_timer_new(int64_t d_ns);
rg_timer *rg_timer_func(int64_t d_ns, void (*fn)(void *), void *arg);
rg_timer *rg_ticker_new(int64_t period_ns);
/* The channel of a timer or ticker; NULL for rg_timer_func's. */
rg_chan *rg_timer_chan(const rg_timer *t);
/*
 * rg_after - Go's time.After: a channel that receives the rg_now_ns() time
 * ns from now (one slot of int64_t), for an rg_select case.  The channel
 * belongs to the calling goroutine: the runtime frees it when the
 * goroutine ends, or sooner, at a later rg_after of the goroutine, once it
 * has fired and its value was received; so a loop that receives from it
 * may ask for a fresh one each time.  One that fired and was never
 * received stays until the goroutine ends: in a loop where another case
 * usually wins, use rg_select's timeout or one rg_timer reset each time.
 * Once its value was received, do not use it again.  Do not free it, nor
 * share it with goroutines that may outlive its owner.  NULL from a plain thread or when memory is short.
 * (goroutine)
 */
rg_chan *rg_after(int64_t ns);
bool rg_timer_stop(rg_timer *t);
bool rg_timer_reset(rg_timer *t, int64_t d_ns);
/* A new period, from now; 0, or -EINVAL for period_ns <= 0. */
int rg_ticker_reset(rg_timer *t, int64_t period_ns);
void rg_timer_free(rg_timer *t);

/* ===================================================================== */
/* I/O                                                                   */
/* ===================================================================== */

/*
 * The calls below take the arguments of the libc call of the same name and
 * return its result, or -errno (never errno: see the top of this file).
 * From a goroutine a call that must wait parks the goroutine, never its M:
 * the netpoller (io_uring, or epoll where io_uring is refused; see
 * rg_netpoll_backend) readies it when the operation completes.  They work
 * on blocking and non-blocking descriptors alike.  On the epoll backend
 * a socket given to rg_accept or rg_connect is made O_NONBLOCK (as Go does),
 * and descriptors must be closed with rg_close to be forgotten.  Writes to
 * a broken pipe or socket return -EPIPE: SIGPIPE is blocked on the
 * runtime's threads.  From a plain thread they are the plain blocking
 * calls.  (any)
 *
 * Deadlines: every call that can wait gives up at the calling goroutine's
 * deadline (rg_set_deadline) with -ETIMEDOUT.  Whatever it returns, nothing
 * the call started is still in flight: the kernel will not write into buf
 * after the call returned.  A call interrupted by rg_io_cancel or rg_close
 * of its descriptor returns -ECANCELED.  Partial transfers are returned as
 * such (a short count); only a call that transferred nothing fails.
 *
 * Short writes: unlike Go's Write, which loops until every byte went, the
 * writes and sends here return after one transfer, as the libc calls do:
 * a count short of the request (a socket or pipe that filled up, a
 * deadline or a cancellation after some bytes went) leaves the rest to
 * the caller.  rg_sendfile alone loops until done; rg_splice makes one
 * transfer.
 *
 * Errors are libc's: -EBADF for a number that is not open, -ENOTSOCK for
 * rg_recv/rg_send on what is not a socket, and so on.
 *
 * rg_open of a FIFO without O_NONBLOCK waits for the other end, as
 * open(2) does, until the deadline; with O_NONBLOCK it answers at once
 * as open(2) does.  On the epoll backend, a FIFO open that reaches its
 * deadline is ended by opening the other end for an instant, which other
 * processes waiting to open that FIFO the same way may notice.
 */
int rg_accept(int fd, struct sockaddr *addr, socklen_t *addrlen); /* new fd, O_CLOEXEC */
int rg_connect(int fd, const struct sockaddr *addr, socklen_t addrlen);
ssize_t rg_recv(int fd, void *buf, size_t len, int flags);
ssize_t rg_send(int fd, const void *buf, size_t len, int flags); /* MSG_NOSIGNAL always */
ssize_t rg_read(int fd, void *buf, size_t len);
ssize_t rg_write(int fd, const void *buf, size_t len);
ssize_t rg_pread(int fd, void *buf, size_t len, off_t off);
ssize_t rg_pwrite(int fd, const void *buf, size_t len, off_t off);
int rg_open(const char *path, int flags, mode_t mode); /* O_CLOEXEC is added */
int rg_fsync(int fd);
/* Vectored reads and writes: readv(2)'s iovec arrays (at most IOV_MAX;
 * 0 buffers return 0). */
ssize_t rg_readv(int fd, const struct iovec *iov, int cnt);
ssize_t rg_writev(int fd, const struct iovec *iov, int cnt);
ssize_t rg_preadv(int fd, const struct iovec *iov, int cnt, off_t off);
ssize_t rg_pwritev(int fd, const struct iovec *iov, int cnt, off_t off);
/* Messages, for datagram sockets (the sender's address, ancillary data)
 * and stream sockets alike: one message, or what one receive returns, per
 * call.  MSG_NOSIGNAL is added to sends. */
ssize_t rg_recvmsg(int fd, struct msghdr *msg, int flags);
ssize_t rg_sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t rg_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
		    socklen_t *addrlen);
ssize_t rg_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr,
		  socklen_t addrlen);
/* shutdown(2); it never waits. */
int rg_shutdown(int fd, int how);
/* sendfile(2) from the file in_fd to the socket or pipe out_fd, which is
 * made O_NONBLOCK: waits for room while out_fd is full and goes on until
 * count bytes went, end of file, or an error (a short count then, if any
 * went).  The reads of in_fd happen inside the call and may block the
 * thread on a page-cache miss. */
ssize_t rg_sendfile(int out_fd, int in_fd, off_t *off, size_t count);
/* splice(2) between a pipe and another descriptor (or two pipes): one
 * transfer of up to len bytes, 0 at the end of fd_in's data, waiting while
 * fd_in has nothing or fd_out has no room.  Each end that is not a
 * regular file is made O_NONBLOCK.  With SPLICE_F_NONBLOCK, one attempt:
 * -EAGAIN rather than a wait.  A regular file's end is read or written
 * inside the call, as rg_sendfile's. */
ssize_t rg_splice(int fd_in, off_t *off_in, int fd_out, off_t *off_out, size_t len,
		  unsigned int flags);
/* File-system calls (a request on the ring on io_uring, where the kernel
 * has it; elsewhere the plain call, which blocks the thread but not the
 * other goroutines).  rg_renameat takes renameat2(2)'s flags. */
struct statx;
int rg_statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *buf);
int rg_unlinkat(int dirfd, const char *path, int flags);
int rg_renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
		unsigned int flags);
int rg_mkdirat(int dirfd, const char *path, mode_t mode);
int rg_fallocate(int fd, int mode, off_t off, off_t len);
int rg_ftruncate(int fd, off_t len);
/* Close fd; goroutines waiting on it first return -ECANCELED. */
int rg_close(int fd);

/*
 * rg_set_deadline - set the calling goroutine's I/O deadline: an absolute
 * rg_now_ns() time after which its blocking I/O calls return -ETIMEDOUT;
 * 0 means none.  A deadline already past (any negative value included, as
 * Go's SetDeadline in the past) makes them fail at once unless they
 * complete without waiting.  Returns the previous deadline, so that a
 * function can save and restore it (a negative one reads back as 1, as
 * past).  From a plain thread: -EPERM.  (goroutine)
 */
int64_t rg_set_deadline(int64_t deadline_ns);

/*
 * rg_poll - wait until fd is ready for one of events (POLLIN, POLLOUT,
 * POLLPRI, POLLRDHUP, and their RDNORM/WRNORM forms), as poll(2) with one
 * descriptor: returns the events that are ready (revents: POLLERR and
 * POLLHUP are always reported), for any descriptor poll(2) accepts:
 * sockets, pipes, FIFOs, eventfd, signalfd, timerfd, inotify, a library's
 * descriptor.  It waits for readiness only and reads or writes nothing:
 * the way to drive a non-blocking library (OpenSSL, c-ares, libpq...)
 * from a goroutine, as Go's RawConn.Read/Write or Tokio's AsyncFd.
 * timeout_ns < 0 waits without a limit; 0 returns at once, -EAGAIN when
 * nothing is ready; > 0 gives up after that long with -ETIMEDOUT.  The
 * goroutine's deadline (rg_set_deadline) applies too (-ETIMEDOUT), and
 * rg_io_cancel or rg_close of fd end the wait with -ECANCELED.  -EBADF for
 * a number that is not open, -EINVAL for other bits in events.  A plain
 * thread blocks in ppoll(2).  A signalfd reports the signals pending for
 * the process and for the thread that polls, which may be any of the
 * runtime's: send it process-directed signals, blocked on every thread.
 * (any)
 */
int rg_poll(int fd, short events, int64_t timeout_ns);

/*
 * rg_getaddrinfo - getaddrinfo(3) that parks the calling goroutine, not
 * its thread.  Where nsswitch.conf's hosts line names only files and dns,
 * the lookup is c-ares's, on the calling goroutine: /etc/hosts, then DNS
 * queries it waits for in the netpoller (no thread); elsewhere (mDNS,
 * LDAP, systemd-resolved's modules...), and for no host, AI_NUMERICHOST
 * or what else c-ares lacks, glibc's, on one of a few helper threads of
 * the runtime.  RINGO_DEBUG=netdns=cares|glibc forces one, as Go's
 * GODEBUG=netdns.  The goroutine waits at most timeout_ns (< 0: no limit),
 * not past its I/O deadline (rg_set_deadline): -ETIMEDOUT then; and not
 * past its context's cancel (-ECANCELED).  A c-ares query is then
 * cancelled; a glibc lookup finishes on its helper, unseen.  On success
 * *res is the list to free with freeaddrinfo(3), in glibc's form either
 * way: with no socket type in the hints, one entry per address and type
 * (stream, datagram, and raw when there is no service).  Errors are
 * -errno: -ENOENT for a name that does not resolve (EAI_NONAME,
 * EAI_NODATA), -EAGAIN for a temporary failure (EAI_AGAIN; c-ares: no
 * answer, SERVFAIL, refused), -EIO for a permanent one (EAI_FAIL),
 * -EAFNOSUPPORT (EAI_FAMILY), -ESOCKTNOSUPPORT (EAI_SERVICE,
 * EAI_SOCKTYPE), -EINVAL (EAI_BADFLAGS, or no host and no service, or
 * res NULL), -ENOMEM, and EAI_SYSTEM's errno.  A plain thread calls
 * getaddrinfo itself, with no limit.  (any)
 */
struct addrinfo;
int rg_getaddrinfo(const char *host, const char *service, const struct addrinfo *hints,
		   struct addrinfo **res, int64_t timeout_ns);

/* rg_io_cancel - make every call waiting on fd return -ECANCELED (the fd
 * stays open).  Returns the number of calls interrupted.  (any) */
int rg_io_cancel(int fd);

/* rg_netpoll_backend - "io_uring" or "epoll" while the runtime runs, NULL
 * otherwise.  RINGO_NETPOLL=io_uring|epoll forces one.  (any) */
const char *rg_netpoll_backend(void);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif /* RINGO_H */
