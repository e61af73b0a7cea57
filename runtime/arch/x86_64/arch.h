/* SPDX-License-Identifier: MIT */
/*
 * runtime/arch/x86_64/arch.h - what the scheduler needs of the machine on
 * x86-64: a goroutine's saved context, its first frame, the read of the
 * thread's M, and the cycle counter.
 *
 * A context is a stack pointer; the registers the SysV ABI makes
 * callee-saved sit on the stack it points to, in the order switch.S pushes
 * them (switch.S says which).  ctx_init lays out that frame for a context
 * that has never run, so that the first ctx_switch to it "returns" into
 * ctx_entry, which calls entry(arg).
 */
#ifndef RINGO_RUNTIME_ARCH_X86_64_ARCH_H
#define RINGO_RUNTIME_ARCH_X86_64_ARCH_H

#include <stdint.h>

struct ctx {
	void *sp; /* saved stack pointer; the rest is on the stack */
};

/* runtime/arch/x86_64/switch.S */
void ctx_switch(struct ctx *from, struct ctx *to);
void ctx_entry(void);

/* Prepare c to start entry(arg) on the stack that ends at hi. */
static inline void ctx_init(struct ctx *c, void *hi, void (*entry)(void *), void *arg)
{
	uint64_t *sp = (uint64_t *)((uintptr_t)hi & ~(uintptr_t)15);

	sp[-1] = (uint64_t)(uintptr_t)ctx_entry; /* ret target */
	sp[-2] = 0;				 /* rbp: end of frame chain */
	sp[-3] = 0;				 /* rbx */
	sp[-4] = (uint64_t)(uintptr_t)entry;	 /* r12 */
	sp[-5] = (uint64_t)(uintptr_t)arg;	 /* r13 */
	sp[-6] = 0;				 /* r14 */
	sp[-7] = 0;				 /* r15 */
	sp[-8] = 0x1f80ull | (0x037full << 32);	 /* MXCSR, x87 control word */
	c->sp = &sp[-8];
}

/*
 * arch_cycles - the CPU's time-stamp counter: a cheap clock for recording
 * events (runtime/exectrace.c converts it to nanoseconds against
 * CLOCK_MONOTONIC at the trace's start and end).  Assumes an invariant TSC
 * (constant_tsc, nonstop_tsc), as every x86-64 CPU of the last decade has.
 */
static inline uint64_t arch_cycles(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/*
 * ARCH_TLS_LOAD_PTR - the value of the initial-exec __thread pointer sym
 * of the running thread, read through asm volatile so that the compiler
 * never keeps the value (or the TLS address) across a call that can switch
 * goroutines: the goroutine may resume on another thread.
 */
#define ARCH_TLS_LOAD_PTR(sym)                                           \
	({                                                               \
		void *tls_v_;                                            \
		__asm__ volatile("movq " #sym "@gottpoff(%%rip), %0\n\t" \
				 "movq %%fs:(%0), %0"                    \
				 : "=r"(tls_v_));                        \
		tls_v_;                                                  \
	})

#endif /* RINGO_RUNTIME_ARCH_X86_64_ARCH_H */
