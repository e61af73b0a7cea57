/* SPDX-License-Identifier: MIT */
/*
 * kernel_iface/rseq.h - restartable sequences: which CPU am I on, and
 * per-CPU data without atomic instructions.
 *
 * What rseq is.  A thread registers a small area (struct krseq_area) with
 * the kernel (Linux 4.18+).  Whenever the thread returns to user space the
 * kernel writes the CPU it runs on into area->cpu_id (and, since 6.3, the
 * NUMA node into node_id and a per-process concurrency id into mm_cid), so
 * "which CPU am I on" is one load.  A thread may also declare a critical
 * section: it stores the address of a descriptor (struct krseq_cs: start,
 * length, abort address) into area->rseq_cs, checks that cpu_id is the CPU
 * whose data it is about to change, and finishes with one committing store.
 * If the thread is preempted, migrated or interrupted by a signal anywhere
 * between the start and the commit, the kernel moves it to the abort
 * address instead of resuming it (before any signal handler runs), so the
 * commit only ever happens on the CPU that was checked, with no other
 * thread of that CPU having run in between: per-CPU data is changed with
 * plain loads and stores, no lock prefix.
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
 *                its CPU through sched_getcpu(), and its first per-CPU
 *                operation registers it on the spot.
 *   KRSEQ_NONE   no rseq (ENOSYS before 4.18, EPERM/ENOSYS from a seccomp
 *                filter...): cpu_current() is sched_getcpu() and the per-CPU
 *                operations are lock-free atomic (CAS) ones on the slot of
 *                the CPU sched_getcpu() named.  Still exact, only slower.
 *
 * In both rseq modes the area is at "thread pointer + krseq_global.off", so
 * the fast paths below are one load of the mode and one %fs-relative load,
 * with no __tls_get_addr even in libringo.so.
 *
 * What is trusted when.  cpu_id, once >= 0 (-1: this thread is not
 * registered, -2: glibc's registration failed), is a CPU this thread ran on
 * at its last return to user space: exact at that instant, possibly stale
 * by the time it is used unless inside a critical section.  node_id and
 * mm_cid are trusted only when the kernel says it fills them,
 * getauxval(AT_RSEQ_FEATURE_SIZE) >= 28 (Linux 6.3+; krseq_has_node()).
 *
 * Abort rules for a critical section (all of them live in rseq.c):
 *  - no system call between start and commit (a CONFIG_DEBUG_RSEQ kernel
 *    kills the process; others do not promise to restart the section);
 *  - a signal, preemption or migration restarts it at the abort handler
 *    before the signal handler runs, so a handler may itself use the
 *    per-CPU operations (they are async-signal-safe);
 *  - the abort handler is preceded by the 4-byte signature KRSEQ_SIG,
 *    which the kernel checks before jumping there (a stray rseq_cs cannot
 *    send a thread to arbitrary code); with the 3 bytes 0f b9 3d before it
 *    the whole is one invalid instruction (ud1) that no code falls into;
 *  - the descriptors live in the "aw" section __rseq_cs (no text
 *    relocations under -fPIC), the code in the current section;
 *  - the sections are out-of-line functions of rseq.c, so they sit in
 *    ringo_text where the preemption signal never switches goroutines: a
 *    goroutine cannot move to another M (another rseq area) inside one.
 *
 * Mixing.  On one piece of per-CPU data every thread must use the same
 * kind of operation: a plain rseq commit is not atomic against a CAS made
 * from another CPU.  So the choice is process-wide (percpu_uses_rseq()),
 * and a thread that turns out unable to register in mode OWN (a seccomp
 * filter installed late, another library's registration; in mode GLIBC
 * glibc itself aborts when a new thread cannot register) switches the
 * whole process to the atomic fallback ("degrades"): every critical
 * section also checks a global stop word, which is set before
 * krseq_fence_all(), so none still in flight can commit afterwards.
 * Without membarrier RSEQ (Linux < 5.10) that switch is impossible and the
 * process stops with a message.
 *
 * Cross-CPU access (krseq_fence_cpu).  Only threads running on CPU c may
 * change CPU c's data with rseq.  Another thread that must (percpu_list_steal
 * taking a whole list) first raises a stop count that every critical section
 * on that data checks, then fences CPU c: membarrier
 * (MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, CPU c) interrupts c and restarts
 * any critical section in flight there, and a preempted one restarts when it
 * resumes, so from then on no rseq commit reaches that data until the count
 * drops; the thief changes it with atomics meanwhile.
 *
 * Costs measured here (2-CPU VM, Linux 6.18, glibc 2.36, gcc 12 -O2; one
 * thread pinned, best of 5 x 20M calls, throughput):
 *                                 GLIBC/OWN   atomic, rseq cpu   NONE
 *   cpu_current()                 0.3 ns      0.3 ns             5.3 ns
 *     (sched_getcpu() itself      1.7 ns      2.7 ns             2.7 ns)
 *   cpu_current_node()            0.5 ns
 *   percpu_list push + pop        3.8 ns      13.4 ns            17.5 ns
 *   percpu_counter_add            1.6 ns      5.6 ns             8.0 ns
 *   krseq_fence_cpu/_all          0.24 us; percpu_list_steal of another
 *                                 CPU's list 0.24 us (one fence)
 * ("atomic, rseq cpu": a degraded process; NONE: cpu from sched_getcpu()
 * through the vDSO, plus the call and errno's save.)
 * ThreadSanitizer cannot see inside the assembly, so under TSan the per-CPU
 * operations are always the atomic ones (KRSEQ_PERCPU_ASM is 0).
 *
 * Callers.  Unless noted, every function may be called by any thread, with
 * or without a P, never blocks, and returns 0 (or a value) or -errno.  The
 * per-CPU operations and cpu reads are async-signal-safe once krseq_probe()
 * has returned (the runtime calls it at start-up, before any M starts).
 */
#ifndef RINGO_KERNEL_IFACE_RSEQ_H
#define RINGO_KERNEL_IFACE_RSEQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if !defined(__x86_64__)
#error "kernel_iface/rseq.h: x86-64 only (as runtime/arch/)"
#endif

/* Under ThreadSanitizer the per-CPU operations use the atomic fallback:
 * TSan cannot see the loads and stores inside the assembly. */
#if defined(__SANITIZE_THREAD__)
#define KRSEQ_PERCPU_ASM 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define KRSEQ_PERCPU_ASM 0
#endif
#endif
#ifndef KRSEQ_PERCPU_ASM
#define KRSEQ_PERCPU_ASM 1
#endif

/* --- the kernel ABI ----------------------------------------------------- */

/* The area the kernel updates (Linux's struct rseq, with the 6.3 fields
 * that Debian's 6.1 headers lack).  Registered with length 32. */
struct krseq_area {
	uint32_t cpu_id_start;
	uint32_t cpu_id;  /* (int32_t) < 0: not registered (KRSEQ_CPU_ID_*) */
	uint64_t rseq_cs; /* the running critical section's descriptor, or 0 */
	uint32_t flags;
	uint32_t node_id; /* trusted when krseq_has_node() */
	uint32_t mm_cid;  /* likewise */
	char end[];
} __attribute__((aligned(32)));

/* A critical section's descriptor, in the section __rseq_cs. */
struct krseq_cs {
	uint32_t version; /* 0 */
	uint32_t flags;	  /* 0 */
	uint64_t start_ip;
	uint64_t post_commit_offset; /* commit end - start_ip */
	uint64_t abort_ip;	     /* preceded by KRSEQ_SIG */
} __attribute__((aligned(32)));

#define KRSEQ_SIG			 0x53053053
#define KRSEQ_AREA_LEN			 32 /* the length registered */
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
	KRSEQ_NONE,	    /* no rseq: sched_getcpu() and atomics */
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
 * Choose the mode (above), register the calling thread in KRSEQ_OWN mode,
 * and register for membarrier RSEQ fences.  Idempotent and thread-safe
 * (the first call does the work; the others wait for it).  The runtime
 * calls it once at start-up; every other function calls it lazily.  Not
 * async-signal-safe.  Returns 0 (an unavailable rseq is mode NONE, not an
 * error).
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
/* The number of CPU ids (the highest possible CPU + 1, at least
 * sysconf(_SC_NPROCESSORS_CONF)): every cpu_current() is below it. */
int krseq_nr_cpus(void);

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

/* --- restartable per-CPU operations ------------------------------------- */

/*
 * Whether the per-CPU operations use rseq critical sections (true in the
 * rseq modes, without TSan, unless the process degraded, see above) or the
 * atomic fallback.
 */
bool percpu_uses_rseq(void);

/*
 * The primitives, with librseq's semantics.  @cpu is the CPU whose data *v
 * is, normally cpu_current() read just before; the operation takes place
 * only if the calling thread is on @cpu throughout (rseq), else it returns
 * -EAGAIN and the caller reads the CPU again and retries.  With the atomic
 * fallback @cpu only has to be >= 0 and the operation is a CAS (a failed
 * exchange in percpu_cmpnev_storeoffp_load is -EAGAIN too).  -EINVAL: cpu
 * < 0.  Any thread, async-signal-safe; *v must be 8-byte aligned and only
 * ever changed by these operations (or with the cross-CPU protocol above).
 */

/* If *v == expect, *v = newv: 0; *v != expect: 1; -EAGAIN. */
int percpu_cmpeqv_storev(intptr_t *v, intptr_t expect, intptr_t newv, int cpu);
/* *v += count: 0; -EAGAIN. */
int percpu_addv(intptr_t *v, intptr_t count, int cpu);
/*
 * Pop from a list whose head is *v: if *v == expectnot, 1; else
 * *load = *v, *v = *(intptr_t *)(*v + voffp) (the next pointer): 0;
 * -EAGAIN.  The atomic fallback is a single CAS and inherits the ABA
 * problem of a lock-free stack; percpu_list below is ABA-safe in both.
 */
int percpu_cmpnev_storeoffp_load(intptr_t *v, intptr_t expectnot, long voffp, intptr_t *load,
				 int cpu);

/* --- per-CPU LIFO free list -------------------------------------------- */

/* Embedded in the caller's object; owned by the list while on it. */
struct percpu_node {
	struct percpu_node *next; /* written by push, read by pop (atomically) */
};

/*
 * One CPU's list.  head is changed by rseq commits on that CPU, or by
 * CAS (8 bytes for a push, 16 bytes {head, gen} for a removal) with the
 * atomic fallback and while stop != 0.  gen counts removals made by CAS
 * (the ABA tag).  stop counts thieves (percpu_list_steal) at work.
 */
struct percpu_head {
	struct percpu_node *head;
	uintptr_t gen;
	uint32_t stop;
} __attribute__((aligned(64)));

struct percpu_list {
	int nr_cpus; /* krseq_nr_cpus(), fixed */
	struct percpu_head heads[];
};

/* A new, empty list with a head per CPU id (about 64 bytes per CPU).
 * Allocates: no signal handlers.  -ENOMEM. */
int percpu_list_new(struct percpu_list **out);
/* Free it (NULL: nothing); its nodes are the caller's. */
void percpu_list_free(struct percpu_list *l);
/* Push @node on the calling thread's CPU's list: returns that CPU.  While
 * a thief takes that list (percpu_list_steal) it waits, about 1 us. */
int percpu_list_push(struct percpu_list *l, struct percpu_node *node);
/*
 * Pop from the calling thread's CPU's list (*cpu, if not NULL: that CPU):
 * a node, or NULL if that list was empty (other CPUs' lists are not
 * looked at).  With the atomic fallback a node may be read after another
 * thread popped it, so nodes must stay mapped while the list is in use.
 */
struct percpu_node *percpu_list_pop(struct percpu_list *l, int *cpu);
/*
 * Take CPU @cpu's whole list, from any thread (the cross-CPU protocol
 * above: in the rseq modes one membarrier fence, ~0.3 us, plus a wait for
 * critical sections in flight).  *out: the chain (through ->next, NULL
 * terminated, possibly NULL).  -EINVAL: @cpu out of range; in an rseq mode
 * without membarrier RSEQ, krseq_fence_cpu()'s error.
 */
int percpu_list_steal(struct percpu_list *l, int cpu, struct percpu_node **out);

/* --- per-CPU counter ---------------------------------------------------- */

/* One CPU's share, changed by rseq commits on that CPU or by atomic adds. */
struct percpu_slot {
	intptr_t v;
} __attribute__((aligned(64)));

struct percpu_counter {
	int nr_cpus; /* krseq_nr_cpus(), fixed */
	struct percpu_slot slots[];
};

/* A new counter at 0 (about 64 bytes per CPU).  Allocates.  -ENOMEM. */
int percpu_counter_new(struct percpu_counter **out);
void percpu_counter_free(struct percpu_counter *c);
/* Add @n to the calling thread's CPU's share: returns that CPU. */
int percpu_counter_add(struct percpu_counter *c, intptr_t n);
/*
 * The sum of all shares: exact once the adds it must see have returned in
 * threads that synchronised with the caller; a snapshot while adds run.
 */
int64_t percpu_counter_sum(const struct percpu_counter *c);

/* --- fences ------------------------------------------------------------- */

/*
 * Restart every rseq critical section in flight on CPU @cpu (one CPU) or
 * on all CPUs, in this process's threads, and order memory with them
 * (membarrier PRIVATE_EXPEDITED_RSEQ).  Blocks for an IPI round trip,
 * ~0.3 us.  Async-signal-safe, but it waits for the other CPUs.  When
 * membarrier RSEQ is unavailable, the -errno of its registration in
 * krseq_probe(): -EINVAL (Linux < 5.10), -ENOSYS, -EPERM (seccomp).
 * -EINVAL: @cpu < 0.  A CPU that is offline or does not exist has nothing
 * in flight: 0.
 */
int krseq_fence_cpu(int cpu);
int krseq_fence_all(void);

#endif /* RINGO_KERNEL_IFACE_RSEQ_H */
