/* SPDX-License-Identifier: MIT */
/*
 * kernel_iface/rseq.h - restartable sequences, used for "which CPU am I on".
 *
 * What rseq is.  A thread registers a small area (struct krseq_area) with
 * the kernel (Linux 4.18+).  Whenever the thread returns to user space the
 * kernel writes the CPU it runs on into area->cpu_id (and, since 6.3, the
 * NUMA node into node_id and a per-process concurrency id into mm_cid), so
 * "which CPU am I on" is one load: cpu_current(), which the scheduler reads
 * at each new time slice, and cpu_current_node().  ringo declares no rseq
 * critical sections; area->rseq_cs stays 0.
 *
 * The three modes, chosen once by krseq_probe():
 *
 *   KRSEQ_GLIBC  glibc 2.35+ registered an area for every thread it made;
 *                it lies at the thread pointer + __rseq_offset (here 2336).
 *                A second registration would fail (EINVAL), so ringo uses
 *                glibc's.  krseq_thread_init/fini do nothing.
 *   KRSEQ_OWN    glibc did not (GLIBC_TUNABLES=glibc.pthread.rseq=0, older
 *                glibc): ringo registers its own initial-exec __thread area
 *                (krseq_own in rseq.c) per thread, at a fixed offset from the
 *                thread pointer as well.  The runtime calls
 *                krseq_thread_init() on each M; a thread that did not reads
 *                its CPU through sched_getcpu().
 *   KRSEQ_NONE   no rseq (ENOSYS before 4.18, EPERM/ENOSYS from a seccomp
 *                filter...): cpu_current() is sched_getcpu().  Still exact,
 *                only slower.
 *
 * In both rseq modes the area is at "thread pointer + krseq_global.off", so
 * the fast paths below are one load of the mode and one %fs-relative load,
 * with no __tls_get_addr even in libringo.so.
 *
 * What is trusted when.  cpu_id, once >= 0 (-1: this thread is not
 * registered, -2: glibc's registration failed), is a CPU this thread ran on
 * at its last return to user space: exact at that instant, possibly stale
 * by the time it is used.  node_id and mm_cid are trusted only when the
 * kernel says it fills them, getauxval(AT_RSEQ_FEATURE_SIZE) >= 28 (Linux
 * 6.3+; krseq_has_node()).
 *
 * Costs measured here (2-CPU VM, Linux 6.18, glibc 2.36, gcc 12 -O2; one
 * thread pinned, best of 5 x 20M calls, throughput):
 *                                 GLIBC/OWN   NONE
 *   cpu_current()                 0.3 ns      5.3 ns
 *     (sched_getcpu() itself      1.7 ns      2.7 ns)
 *   cpu_current_node()            0.5 ns
 * (NONE: cpu from sched_getcpu() through the vDSO, plus the call and
 * errno's save.)
 *
 * Callers.  Unless noted, every function may be called by any thread, with
 * or without a P, never blocks, and returns 0 (or a value) or -errno.  The
 * cpu reads are async-signal-safe once krseq_probe() has returned (the
 * runtime calls it at start-up, before any M starts).
 */
#ifndef RINGO_KERNEL_IFACE_RSEQ_H
#define RINGO_KERNEL_IFACE_RSEQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if !defined(__x86_64__)
#error "kernel_iface/rseq.h: x86-64 only (as runtime/arch/)"
#endif

/* --- the kernel ABI ----------------------------------------------------- */

/* The area the kernel updates (Linux's struct rseq, with the 6.3 fields
 * that Debian's 6.1 headers lack).  Registered with length 32. */
struct krseq_area {
	uint32_t cpu_id_start;
	uint32_t cpu_id;  /* (int32_t) < 0: not registered (KRSEQ_CPU_ID_*) */
	uint64_t rseq_cs; /* a critical section's descriptor; 0 (none used) */
	uint32_t flags;
	uint32_t node_id; /* trusted when krseq_has_node() */
	uint32_t mm_cid;  /* likewise */
	char end[];
} __attribute__((aligned(32)));

#define KRSEQ_SIG			 0x53053053 /* the registration's signature */
#define KRSEQ_AREA_LEN			 32	    /* the length registered */
#define KRSEQ_CPU_ID_UNINITIALIZED	 (-1)
#define KRSEQ_CPU_ID_REGISTRATION_FAILED (-2)
#define KRSEQ_FEATURE_SIZE_NODE		 28 /* AT_RSEQ_FEATURE_SIZE with node_id, mm_cid */

_Static_assert(offsetof(struct krseq_area, cpu_id) == 4, "rseq ABI");
_Static_assert(offsetof(struct krseq_area, rseq_cs) == 8, "rseq ABI");
_Static_assert(offsetof(struct krseq_area, node_id) == 20, "rseq ABI");
_Static_assert(offsetof(struct krseq_area, end) == 28, "rseq ABI");
_Static_assert(sizeof(struct krseq_area) == KRSEQ_AREA_LEN, "rseq ABI");

/* --- probing and threads ----------------------------------------------- */

enum krseq_mode {
	KRSEQ_UNPROBED = 0, /* before krseq_probe(); never returned */
	KRSEQ_NONE,	    /* no rseq: sched_getcpu() */
	KRSEQ_OWN,	    /* ringo's own area, registered per thread */
	KRSEQ_GLIBC,	    /* glibc's area (__rseq_offset) */
};

/*
 * Process-wide state, written once by krseq_probe() (mode last, with
 * release order) and only read afterwards; the inline readers below load
 * mode with acquire order before trusting the rest.
 */
struct krseq_global {
	int mode;      /* enum krseq_mode */
	bool node;     /* node_id and mm_cid are filled in */
	ptrdiff_t off; /* the area's offset from the thread pointer (rseq modes) */
};
extern struct krseq_global krseq_global;

/*
 * Choose the mode (above) and register the calling thread in KRSEQ_OWN
 * mode.  Idempotent and thread-safe (the first call does the work; the
 * others wait for it).  The runtime calls it once at start-up; every other
 * function calls it lazily.  Not async-signal-safe.  Returns 0 (an
 * unavailable rseq is mode NONE, not an error).
 */
int krseq_probe(void);
/* The mode (probing if needed): KRSEQ_NONE, KRSEQ_OWN or KRSEQ_GLIBC. */
enum krseq_mode krseq_mode(void);
/* "glibc", "own" or "none", for diagnostics (schedtrace, the tests). */
const char *krseq_mode_name(void);
/* Whether cpu_current_node() reads the kernel's node_id (Linux 6.3+). */
bool krseq_has_node(void);
/* Why rseq is not used in mode NONE (-errno of the registration), else 0. */
int krseq_probe_error(void);

/*
 * Register the calling thread's own area (KRSEQ_OWN; a no-op returning 0 in
 * the other modes or when already registered).  The runtime calls it first
 * thing on each M.  Any thread, not in a signal handler.  -EINVAL: another
 * area is registered for this thread (another library); -ENOSYS, -EPERM:
 * refused (seccomp).
 */
int krseq_thread_init(void);
/*
 * Unregister the calling thread's own area (KRSEQ_OWN, if registered; else
 * a no-op returning 0).  The runtime calls it before an M exits.  Skipping
 * it is harmless (the area is static TLS, which glibc hands to another
 * thread only after the kernel reported this one gone), but it lets another
 * library register the thread afterwards.
 */
int krseq_thread_fini(void);

/* --- which CPU am I on ------------------------------------------------- */

int32_t cpu_current_slow(void);
int32_t cpu_current_node_slow(void);

/* A 32-bit field of the calling thread's area (rseq modes only). */
static inline int32_t krseq_area_read32(ptrdiff_t field)
{
	int32_t v;

	__asm__ volatile("movl %%fs:(%1), %0" : "=r"(v) : "r"(krseq_global.off + field));
	return v;
}

static inline int krseq_mode_fast(void)
{
	return __atomic_load_n(&krseq_global.mode, __ATOMIC_ACQUIRE);
}

/*
 * The CPU the calling thread runs on (a CPU it ran on an instant ago: it
 * may migrate at any time), about 1 ns in the rseq modes; otherwise, and
 * for an unregistered thread in KRSEQ_OWN mode, sched_getcpu() (a few ns
 * through the vDSO).  -errno only if getcpu itself fails (it cannot on
 * x86-64).  Any thread; async-signal-safe once probed.
 */
static inline int32_t cpu_current(void)
{
	if (__builtin_expect(krseq_mode_fast() >= KRSEQ_OWN, 1)) {
		int32_t cpu = krseq_area_read32(offsetof(struct krseq_area, cpu_id));

		if (__builtin_expect(cpu >= 0, 1))
			return cpu;
	}
	return cpu_current_slow();
}

/*
 * The NUMA node of the CPU the calling thread runs on, when the kernel
 * provides it (krseq_has_node()) and this thread is registered; else -1:
 * the caller maps cpu_current() to a node with its own topology (numa/).
 */
static inline int32_t cpu_current_node(void)
{
	if (__builtin_expect(krseq_mode_fast() >= KRSEQ_OWN && krseq_global.node, 1)) {
		if (krseq_area_read32(offsetof(struct krseq_area, cpu_id)) >= 0)
			return krseq_area_read32(offsetof(struct krseq_area, node_id));
		return -1;
	}
	return cpu_current_node_slow();
}

#endif /* RINGO_KERNEL_IFACE_RSEQ_H */
