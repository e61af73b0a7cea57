/* SPDX-License-Identifier: MIT */
/*
 * runtime/compiler.h - compiler helpers, configuration access and atomics.
 */
#ifndef RINGO_RUNTIME_COMPILER_H
#define RINGO_RUNTIME_COMPILER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "generated/autoconf.h"

#define likely(x)			__builtin_expect(!!(x), 1)
#define unlikely(x)			__builtin_expect(!!(x), 0)
#define CACHELINE			64
#define cacheline_aligned		__attribute__((aligned(CACHELINE)))
#define ARRAY_SIZE(a)			(sizeof(a) / sizeof((a)[0]))
#define noinline			__attribute__((noinline))
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* IS_ENABLED(CONFIG_FOO): 1 if the bool option is set, else 0, usable in C
 * expressions so that code is compiled (and checked) in every configuration. */
#define RG_ARG_PLACEHOLDER_1		  0,
#define RG_TAKE_SECOND(ignored, val, ...) val
#define RG_IS_DEFINED3(arg1_or_junk)	  RG_TAKE_SECOND(arg1_or_junk 1, 0, 0)
#define RG_IS_DEFINED2(val)		  RG_IS_DEFINED3(RG_ARG_PLACEHOLDER_##val)
#define IS_ENABLED(option)		  RG_IS_DEFINED2(option)

/* Relaxed and acquire/release shorthands for fields shared between Ms.
 * Each such field's declaration says which of these it needs. */
#define load_relaxed(p)	    atomic_load_explicit((p), memory_order_relaxed)
#define load_acquire(p)	    atomic_load_explicit((p), memory_order_acquire)
#define store_relaxed(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define store_release(p, v) atomic_store_explicit((p), (v), memory_order_release)
#define cas(p, oldp, v)	    atomic_compare_exchange_strong((p), (oldp), (v))
#define cas_release(p, oldp, v)                                                         \
	atomic_compare_exchange_strong_explicit((p), (oldp), (v), memory_order_release, \
						memory_order_relaxed)

/* Plain (non-_Atomic) fields read by another M without a lock, e.g. by
 * schedtrace: every access on both sides goes through these. */
#define READ_ONCE(x)	 __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

static inline void cpu_relax(void)
{
	__builtin_ia32_pause();
}

#endif /* RINGO_RUNTIME_COMPILER_H */
