/* SPDX-License-Identifier: MIT */
/*
 * kernel_iface/rseq.c - rseq registration, the per-CPU critical sections
 * and their atomic fallback (see the design comment in rseq.h).
 */
#include "kernel_iface/rseq.h"
#include "kernel_iface/kernel.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef AT_RSEQ_FEATURE_SIZE
#define AT_RSEQ_FEATURE_SIZE 27
#endif
#ifndef AT_RSEQ_ALIGN
#define AT_RSEQ_ALIGN 28
#endif
#define KRSEQ_FLAG_UNREGISTER 1 /* RSEQ_FLAG_UNREGISTER */

/* glibc 2.35+: the registered area of every thread, at the thread pointer
 * + __rseq_offset, when __rseq_size > 0.  Weak: absent in older glibc. */
extern const unsigned int __rseq_size __attribute__((weak));
extern const ptrdiff_t __rseq_offset __attribute__((weak));

struct krseq_global krseq_global;

/* Written by probe_once() before krseq_global.mode, read-only afterwards. */
static int probe_err;	   /* mode NONE: -errno of the registration */
static int membarrier_err; /* 0: fences work; else -errno of the registration */
static int nr_cpus;	   /* krseq_nr_cpus() */
static pthread_once_t probe_control = PTHREAD_ONCE_INIT;

/*
 * The area of mode OWN, one per thread.  Initial-exec, so that it lies in
 * the static TLS block at the same offset from the thread pointer in every
 * thread (krseq_global.off) and lives until the thread has exited.
 */
static __thread struct krseq_area krseq_own __attribute__((tls_model("initial-exec"))) = {
	.cpu_id = (uint32_t)KRSEQ_CPU_ID_UNINITIALIZED,
};

/*
 * The global stop word of every critical section: non-zero makes them all
 * abort.  1 from the probe when the atomic fallback is the rule (mode
 * NONE, TSan), or set by percpu_degrade(); never cleared.  Read inside the
 * sections, and by percpu_rseq_on() to choose the path.
 */
static uint32_t percpu_gstop;
/* The per-data stop word of the sections that have none. */
static const uint32_t percpu_nostop;

/* --- probing ------------------------------------------------------------ */

static struct krseq_area *area_self(void)
{
	return (struct krseq_area *)((char *)__builtin_thread_pointer() + krseq_global.off);
}

static int sys_rseq(struct krseq_area *area, int flags)
{
	int saved = errno;
	long r = syscall(SYS_rseq, area, KRSEQ_AREA_LEN, flags, KRSEQ_SIG);

	if (r < 0) {
		r = -errno;
		errno = saved;
	}
	return (int)r;
}

static int sys_membarrier(int cmd, unsigned int flags, int cpu)
{
	int saved = errno;
	long r = syscall(SYS_membarrier, cmd, flags, cpu);

	if (r < 0) {
		r = -errno;
		errno = saved;
	}
	return (int)r;
}

/* The highest possible CPU id + 1, from /sys/devices/system/cpu/possible
 * ("0-3,8-11"), or 0 if it cannot be read. */
static int possible_cpus(void)
{
	char buf[256];
	int fd = open("/sys/devices/system/cpu/possible", O_RDONLY | O_CLOEXEC);
	ssize_t n;
	char *p;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = buf + strcspn(buf, "\n");
	while (p > buf && p[-1] >= '0' && p[-1] <= '9')
		p--;
	return (int)strtol(p, NULL, 10) + 1;
}

static void probe_once(void)
{
	unsigned int glibc_size = &__rseq_size ? __rseq_size : 0;
	long conf = sysconf(_SC_NPROCESSORS_CONF);
	int mode = KRSEQ_NONE, r;

	nr_cpus = possible_cpus();
	if (conf > nr_cpus)
		nr_cpus = (int)conf;
	if (nr_cpus < 1)
		nr_cpus = 1;

	if (glibc_size > 0 && &__rseq_offset) {
		krseq_global.off = __rseq_offset;
		if ((int32_t)area_self()->cpu_id >= 0)
			mode = KRSEQ_GLIBC;
	}
	if (mode == KRSEQ_NONE) {
		krseq_global.off = (char *)&krseq_own - (char *)__builtin_thread_pointer();
		r = sys_rseq(&krseq_own, 0);
		if (r == 0)
			mode = KRSEQ_OWN;
		else
			probe_err = r;
	}
	krseq_global.node = mode != KRSEQ_NONE &&
			    getauxval(AT_RSEQ_FEATURE_SIZE) >= KRSEQ_FEATURE_SIZE_NODE;
	membarrier_err = sys_membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ, 0, 0);
	if (membarrier_err > 0)
		membarrier_err = 0;
	if (mode == KRSEQ_NONE || !KRSEQ_PERCPU_ASM)
		__atomic_store_n(&percpu_gstop, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&krseq_global.mode, mode, __ATOMIC_RELEASE);
}

int krseq_probe(void)
{
	if (krseq_mode_fast() == KRSEQ_UNPROBED)
		pthread_once(&probe_control, probe_once);
	return 0;
}

enum krseq_mode krseq_mode(void)
{
	krseq_probe();
	return (enum krseq_mode)krseq_mode_fast();
}

const char *krseq_mode_name(void)
{
	switch (krseq_mode()) {
	case KRSEQ_GLIBC:
		return "glibc";
	case KRSEQ_OWN:
		return "own";
	default:
		return "none";
	}
}

bool krseq_has_node(void)
{
	krseq_probe();
	return krseq_global.node;
}

int krseq_probe_error(void)
{
	krseq_probe();
	return probe_err;
}

int krseq_nr_cpus(void)
{
	krseq_probe();
	return nr_cpus;
}

int krseq_thread_init(void)
{
	int r;

	if (krseq_mode() != KRSEQ_OWN || (int32_t)krseq_own.cpu_id >= 0)
		return 0;
	r = sys_rseq(&krseq_own, 0);
	return r == -EBUSY ? 0 : r;
}

int krseq_thread_fini(void)
{
	if (krseq_mode() != KRSEQ_OWN || (int32_t)krseq_own.cpu_id < 0)
		return 0;
	return sys_rseq(&krseq_own, KRSEQ_FLAG_UNREGISTER);
}

/* --- which CPU am I on: slow paths ------------------------------------- */

int32_t cpu_current_slow(void)
{
	int saved, cpu;

	if (krseq_mode_fast() == KRSEQ_UNPROBED) {
		krseq_probe();
		if (krseq_mode_fast() >= KRSEQ_OWN) {
			cpu = krseq_area_read32(offsetof(struct krseq_area, cpu_id));
			if (cpu >= 0)
				return cpu;
		}
	}
	saved = errno;
	cpu = sched_getcpu();
	if (cpu < 0)
		cpu = -errno;
	errno = saved;
	return cpu;
}

int32_t cpu_current_node_slow(void)
{
	if (krseq_mode_fast() != KRSEQ_UNPROBED)
		return -1;
	krseq_probe();
	return cpu_current_node();
}

/* --- fences ------------------------------------------------------------- */

static int fence(unsigned int flags, int cpu)
{
	krseq_probe();
	if (membarrier_err)
		return membarrier_err;
	return sys_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, flags, cpu);
}

int krseq_fence_cpu(int cpu)
{
	if (cpu < 0)
		return -EINVAL;
	return fence(MEMBARRIER_CMD_FLAG_CPU, cpu);
}

int krseq_fence_all(void)
{
	return fence(0, 0);
}

/* --- choosing the path -------------------------------------------------- */

/* Whether the per-CPU operations use critical sections (probing first:
 * every operation must know the process-wide choice). */
static inline bool percpu_rseq_on(void)
{
	if (__builtin_expect(krseq_mode_fast() == KRSEQ_UNPROBED, 0))
		krseq_probe();
	return KRSEQ_PERCPU_ASM && !__atomic_load_n(&percpu_gstop, __ATOMIC_RELAXED);
}

bool percpu_uses_rseq(void)
{
	return percpu_rseq_on();
}

/*
 * Switch the process to the atomic fallback for good: a thread cannot use
 * rseq.  Raise the global stop word, then fence every CPU so that
 * no critical section that read it as 0 can still commit.
 */
static void percpu_degrade(void)
{
	static const char msg[] =
		"ringo: fatal error: a thread cannot register rseq and membarrier RSEQ is "
		"unavailable to switch the per-CPU operations to atomics\n";

	__atomic_store_n(&percpu_gstop, 1, __ATOMIC_SEQ_CST);
	if (krseq_fence_all() < 0) {
		ki_write_all(2, msg, sizeof(msg) - 1);
		abort();
	}
}

/*
 * After an abort: if the calling thread has no area registered (mode OWN,
 * no krseq_thread_init; or glibc's registration failed), register it now,
 * or degrade.  The caller then retries.
 */
static void percpu_thread_fix(void)
{
	int r = -EINVAL;

	if (krseq_area_read32(offsetof(struct krseq_area, cpu_id)) >= 0)
		return;
	if (krseq_mode_fast() == KRSEQ_OWN)
		r = krseq_thread_init();
	if (r < 0)
		percpu_degrade();
}

/*
 * After an abort of a list operation: wait while a thief holds the list
 * stopped (about a microsecond); yield now and then, in case the thief is
 * waiting for this very CPU.
 */
static void percpu_wait_stop(const uint32_t *stop, unsigned int *spins)
{
	if (!__atomic_load_n(stop, __ATOMIC_RELAXED))
		return;
	if (++*spins % 128 == 0)
		ki_osyield();
	else
		__builtin_ia32_pause();
}

/* The calling thread's CPU for the atomic fallback: any index is correct
 * there (every change is atomic), the CPU only spreads the contention. */
static inline int percpu_cpu_any(int n)
{
	int cpu = cpu_current();

	return cpu >= 0 && cpu < n ? cpu : 0;
}

/* --- critical sections (x86-64) ---------------------------------------- */

/*
 * CS(body) is the assembly of one critical section, with local labels
 *   1  start_ip: after the descriptor's address went to area->rseq_cs
 *   2  post-commit ip (start_ip + post_commit_offset): the end of @body,
 *      whose last instruction is the single committing store
 *   3  the descriptor, in __rseq_cs ("aw": no text relocations)
 *   4  abort_ip, after the signature, in subsection 1 of the current
 *      section (out of the straight-line path, still in ringo_text)
 * Between 1 and @body it checks the global stop word, the data's stop word
 * and the CPU.  No system call may sit between 1 and 2.  Operands: [off]
 * the area's offset from %fs, [cpu], [gstop], [stop] (CS_INPUTS); labels:
 * abort (and what @body jumps to).
 */
#define CS(body)                             \
	".pushsection __rseq_cs, \"aw\"\n\t" \
	".balign 32\n"                       \
	"3:\n\t"                             \
	".long 0, 0\n\t"                     \
	".quad 1f, 2f - 1f, 4f\n\t"          \
	".popsection\n\t"                    \
	"leaq 3b(%%rip), %%rax\n\t"          \
	"movq %%rax, %%fs:8(%[off])\n"       \
	"1:\n\t"                             \
	"cmpl $0, %[gstop]\n\t"              \
	"jnz 4f\n\t"                         \
	"cmpl $0, %[stop]\n\t"               \
	"jnz 4f\n\t"                         \
	"cmpl %[cpu], %%fs:4(%[off])\n\t"    \
	"jnz 4f\n\t" body "2:\n\t"           \
	".subsection 1\n\t"                  \
	".byte 0x0f, 0xb9, 0x3d\n\t"         \
	".long 0x53053053\n" /* KRSEQ_SIG */ \
	"4:\n\t"                             \
	"jmp %l[abort]\n\t"                  \
	".previous\n\t"

_Static_assert(KRSEQ_SIG == 0x53053053, "the signature in CS()");

#define CS_INPUTS(cpu, stop) \
	[off] "r"(krseq_global.off), [cpu] "r"(cpu), [gstop] "m"(percpu_gstop), [stop] "m"(*(stop))

static inline int cs_cmpeqv_storev(intptr_t *v, intptr_t expect, intptr_t newv, int cpu,
				   const uint32_t *stop)
{
	__asm__ goto(CS("cmpq %[v], %[expect]\n\t"
			"jnz %l[cmpfail]\n\t"
			"movq %[newv], %[v]\n")
		     : /* no outputs */
		     : CS_INPUTS(cpu, stop), [v] "m"(*v), [expect] "r"(expect), [newv] "r"(newv)
		     : "memory", "cc", "rax"
		     : abort, cmpfail);
	return 0;
abort:
	return -EAGAIN;
cmpfail:
	return 1;
}

static inline int cs_addv(intptr_t *v, intptr_t count, int cpu, const uint32_t *stop)
{
	__asm__ goto(CS("addq %[count], %[v]\n")
		     : /* no outputs */
		     : CS_INPUTS(cpu, stop), [v] "m"(*v), [count] "r"(count)
		     : "memory", "cc", "rax"
		     : abort);
	return 0;
abort:
	return -EAGAIN;
}

/* *load is written before the commit: on an abort it holds garbage. */
static inline int cs_cmpnev_storeoffp_load(intptr_t *v, intptr_t expectnot, long voffp,
					   intptr_t *load, int cpu, const uint32_t *stop)
{
	__asm__ goto(CS("movq %[v], %%rax\n\t"
			"cmpq %%rax, %[expectnot]\n\t"
			"je %l[cmpfail]\n\t"
			"movq %%rax, %[load]\n\t"
			"addq %[voffp], %%rax\n\t"
			"movq (%%rax), %%rax\n\t"
			"movq %%rax, %[v]\n")
		     : /* no outputs */
		     : CS_INPUTS(cpu, stop), [v] "m"(*v), [expectnot] "r"(expectnot),
		       [voffp] "r"(voffp), [load] "m"(*load)
		     : "memory", "cc", "rax"
		     : abort, cmpfail);
	return 0;
abort:
	return -EAGAIN;
cmpfail:
	return 1;
}

/*
 * 16-byte compare-and-swap of a list head's {head, gen}: lock cmpxchg16b,
 * or under TSan the __sync builtin, which TSan sees (gcc inlines it with
 * the cx16 target; clang sends it to TSan's runtime).
 */
#if KRSEQ_PERCPU_ASM
static inline bool cas16(struct percpu_head *h, struct percpu_node *oh, uintptr_t og,
			 struct percpu_node *nh, uintptr_t ng)
{
	bool ok;

	__asm__ volatile("lock cmpxchg16b (%[p])"
			 : "=@ccz"(ok), "+a"(oh), "+d"(og)
			 : [p] "r"(h), "b"(nh), "c"(ng)
			 : "memory");
	return ok;
}
#else
__attribute__((target("cx16"))) static inline bool cas16(struct percpu_head *h,
							 struct percpu_node *oh, uintptr_t og,
							 struct percpu_node *nh, uintptr_t ng)
{
	unsigned __int128 o = (unsigned __int128)og << 64 | (uintptr_t)oh;
	unsigned __int128 n = (unsigned __int128)ng << 64 | (uintptr_t)nh;

	return __sync_bool_compare_and_swap((unsigned __int128 *)h, o, n);
}
#endif

/* --- the primitives ------------------------------------------------------ */

int percpu_cmpeqv_storev(intptr_t *v, intptr_t expect, intptr_t newv, int cpu)
{
	int r;

	if (cpu < 0)
		return -EINVAL;
	if (!percpu_rseq_on())
		return __atomic_compare_exchange_n(v, &expect, newv, false, __ATOMIC_SEQ_CST,
						   __ATOMIC_RELAXED) ?
			       0 :
			       1;
	r = cs_cmpeqv_storev(v, expect, newv, cpu, &percpu_nostop);
	if (r == -EAGAIN)
		percpu_thread_fix();
	return r;
}

int percpu_addv(intptr_t *v, intptr_t count, int cpu)
{
	int r;

	if (cpu < 0)
		return -EINVAL;
	if (!percpu_rseq_on()) {
		__atomic_fetch_add(v, count, __ATOMIC_RELAXED);
		return 0;
	}
	r = cs_addv(v, count, cpu, &percpu_nostop);
	if (r == -EAGAIN)
		percpu_thread_fix();
	return r;
}

int percpu_cmpnev_storeoffp_load(intptr_t *v, intptr_t expectnot, long voffp, intptr_t *load,
				 int cpu)
{
	intptr_t head, next;
	int r;

	if (cpu < 0)
		return -EINVAL;
	if (percpu_rseq_on()) {
		r = cs_cmpnev_storeoffp_load(v, expectnot, voffp, load, cpu, &percpu_nostop);
		if (r == -EAGAIN)
			percpu_thread_fix();
		return r;
	}
	head = __atomic_load_n(v, __ATOMIC_ACQUIRE);
	if (head == expectnot)
		return 1;
	next = __atomic_load_n((intptr_t *)(head + voffp), __ATOMIC_RELAXED);
	if (!__atomic_compare_exchange_n(v, &head, next, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
		return -EAGAIN;
	*load = head;
	return 0;
}

/* --- per-CPU list ---------------------------------------------------------- */

/* A zeroed, cache-line aligned object of base bytes followed by one
 * per_cpu-byte slot per CPU id; *nr_cpus is that count.  NULL: no memory. */
static void *percpu_zalloc(size_t base, size_t per_cpu, int *nr_cpus)
{
	int n = krseq_nr_cpus();
	size_t size = base + (size_t)n * per_cpu;
	void *obj;

	if (posix_memalign(&obj, 64, size))
		return NULL;
	memset(obj, 0, size);
	*nr_cpus = n;
	return obj;
}

int percpu_list_new(struct percpu_list **out)
{
	int n;
	struct percpu_list *l =
		percpu_zalloc(sizeof(struct percpu_list), sizeof(struct percpu_head), &n);

	if (!l)
		return -ENOMEM;
	l->nr_cpus = n;
	*out = l;
	return 0;
}

void percpu_list_free(struct percpu_list *l)
{
	free(l);
}

static int list_push_atomic(struct percpu_list *l, struct percpu_node *node)
{
	int cpu = percpu_cpu_any(l->nr_cpus);
	struct percpu_head *h = &l->heads[cpu];
	struct percpu_node *old = __atomic_load_n(&h->head, __ATOMIC_RELAXED);

	do
		__atomic_store_n(&node->next, old, __ATOMIC_RELAXED);
	while (!__atomic_compare_exchange_n(&h->head, &old, node, true, __ATOMIC_RELEASE,
					    __ATOMIC_RELAXED));
	return cpu;
}

/* Remove the whole chain or its first node from @h with a 16-byte CAS,
 * counting the removal in gen (the ABA tag). */
static struct percpu_node *head_take_atomic(struct percpu_head *h, bool all)
{
	for (;;) {
		/* gen before head: see gen unchanged at the CAS, and no node
		 * was removed in between, so head->next was stable. */
		uintptr_t gen = __atomic_load_n(&h->gen, __ATOMIC_ACQUIRE);
		struct percpu_node *head = __atomic_load_n(&h->head, __ATOMIC_ACQUIRE);
		struct percpu_node *next;

		if (!head)
			return NULL;
		next = all ? NULL : __atomic_load_n(&head->next, __ATOMIC_RELAXED);
		if (cas16(h, head, gen, next, gen + 1))
			return head;
	}
}

int percpu_list_push(struct percpu_list *l, struct percpu_node *node)
{
	unsigned int spins = 0;

	for (;;) {
		struct percpu_node *head;
		struct percpu_head *h;
		int cpu, r;

		if (!percpu_rseq_on())
			return list_push_atomic(l, node);
		cpu = krseq_area_read32(offsetof(struct krseq_area, cpu_id));
		if (cpu < 0) {
			percpu_thread_fix();
			continue;
		}
		if (cpu >= l->nr_cpus)
			return -ERANGE; /* cannot happen: nr_cpus covers every id */
		h = &l->heads[cpu];
		head = __atomic_load_n(&h->head, __ATOMIC_RELAXED);
		__atomic_store_n(&node->next, head, __ATOMIC_RELAXED);
		r = cs_cmpeqv_storev((intptr_t *)&h->head, (intptr_t)head, (intptr_t)node, cpu,
				     &h->stop);
		if (r == 0)
			return cpu;
		if (r < 0)
			percpu_wait_stop(&h->stop, &spins);
	}
}

struct percpu_node *percpu_list_pop(struct percpu_list *l, int *cpup)
{
	unsigned int spins = 0;

	for (;;) {
		struct percpu_head *h;
		intptr_t node;
		int cpu, r;

		if (!percpu_rseq_on()) {
			cpu = percpu_cpu_any(l->nr_cpus);
			if (cpup)
				*cpup = cpu;
			return head_take_atomic(&l->heads[cpu], false);
		}
		cpu = krseq_area_read32(offsetof(struct krseq_area, cpu_id));
		if (cpu < 0) {
			percpu_thread_fix();
			continue;
		}
		if (cpup)
			*cpup = cpu;
		if (cpu >= l->nr_cpus)
			return NULL; /* cannot happen */
		h = &l->heads[cpu];
		r = cs_cmpnev_storeoffp_load((intptr_t *)&h->head, 0,
					     offsetof(struct percpu_node, next), &node, cpu,
					     &h->stop);
		if (r == 0)
			return (struct percpu_node *)node;
		if (r == 1)
			return NULL;
		percpu_wait_stop(&h->stop, &spins);
	}
}

int percpu_list_steal(struct percpu_list *l, int cpu, struct percpu_node **out)
{
	struct percpu_head *h;
	bool stopped = false;
	int r;

	if (cpu < 0 || cpu >= l->nr_cpus)
		return -EINVAL;
	h = &l->heads[cpu];
	if (percpu_rseq_on()) {
		/* Stop new commits on h, then restart those in flight. */
		__atomic_fetch_add(&h->stop, 1, __ATOMIC_SEQ_CST);
		stopped = true;
		r = krseq_fence_cpu(cpu);
		if (r < 0)
			goto out_unstop;
	}
	*out = head_take_atomic(h, true);
	r = 0;
out_unstop:
	if (stopped)
		__atomic_fetch_sub(&h->stop, 1, __ATOMIC_RELEASE);
	return r;
}

/* --- per-CPU counter -------------------------------------------------------- */

int percpu_counter_new(struct percpu_counter **out)
{
	int n;
	struct percpu_counter *c =
		percpu_zalloc(sizeof(struct percpu_counter), sizeof(struct percpu_slot), &n);

	if (!c)
		return -ENOMEM;
	c->nr_cpus = n;
	*out = c;
	return 0;
}

void percpu_counter_free(struct percpu_counter *c)
{
	free(c);
}

int percpu_counter_add(struct percpu_counter *c, intptr_t n)
{
	for (;;) {
		int cpu;

		if (!percpu_rseq_on()) {
			cpu = percpu_cpu_any(c->nr_cpus);
			__atomic_fetch_add(&c->slots[cpu].v, n, __ATOMIC_RELAXED);
			return cpu;
		}
		cpu = krseq_area_read32(offsetof(struct krseq_area, cpu_id));
		if (cpu < 0) {
			percpu_thread_fix();
			continue;
		}
		if (cpu >= c->nr_cpus)
			return -ERANGE; /* cannot happen */
		if (cs_addv(&c->slots[cpu].v, n, cpu, &percpu_nostop) == 0)
			return cpu;
	}
}

int64_t percpu_counter_sum(const struct percpu_counter *c)
{
	int64_t sum = 0;

	for (int i = 0; i < c->nr_cpus; i++)
		sum += __atomic_load_n(&c->slots[i].v, __ATOMIC_RELAXED);
	return sum;
}
