/* SPDX-License-Identifier: MIT */
/*
 * kernel_iface/rseq.c - rseq registration: the mode probe (glibc's area,
 * ringo's own per-thread area, or none), registering and unregistering a
 * thread's own area, and the slow paths of cpu_current() and
 * cpu_current_node() (see the design comment in rseq.h).
 */
#include "kernel_iface/rseq.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kernel_iface/kernel.h"

#ifndef AT_RSEQ_FEATURE_SIZE
#define AT_RSEQ_FEATURE_SIZE 27
#endif
#define KRSEQ_FLAG_UNREGISTER 1 /* RSEQ_FLAG_UNREGISTER */

/* glibc 2.35+: the registered area of every thread, at the thread pointer
 * + __rseq_offset, when __rseq_size > 0.  Weak: absent in older glibc. */
extern const unsigned int __rseq_size __attribute__((weak));
extern const ptrdiff_t __rseq_offset __attribute__((weak));

struct krseq_global krseq_global;

/* Written by probe_once() before krseq_global.mode, read-only afterwards. */
static int probe_err; /* mode NONE: -errno of the registration */
static pthread_once_t probe_control = PTHREAD_ONCE_INIT;

/*
 * The area of mode OWN, one per thread.  Initial-exec, so that it lies in
 * the static TLS block at the same offset from the thread pointer in every
 * thread (krseq_global.off) and lives until the thread has exited.
 */
static __thread struct krseq_area krseq_own __attribute__((tls_model("initial-exec"))) = {
	.cpu_id = (uint32_t)KRSEQ_CPU_ID_UNINITIALIZED,
};

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

static void probe_once(void)
{
	unsigned int glibc_size = &__rseq_size ? __rseq_size : 0;
	int mode = KRSEQ_NONE, r;

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
	__atomic_store_n(&krseq_global.mode, mode, __ATOMIC_RELEASE);
}

int krseq_probe(void)
{
	if (krseq_mode_fast() == KRSEQ_UNPROBED) {
		ki_call_enter(); /* a second caller waits for the first */
		pthread_once(&probe_control, probe_once);
		ki_call_exit();
	}
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
