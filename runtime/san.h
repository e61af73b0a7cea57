/* SPDX-License-Identifier: MIT */
/*
 * runtime/san.h - teaching AddressSanitizer and ThreadSanitizer about
 * goroutine switches.
 *
 * Every ctx_switch is bracketed:
 *   san_switch_begin(from, to, exiting)   just before the switch
 *   san_switch_end(self)                  first thing after it, on the
 *                                         context that resumed
 * ASan learns the new stack bounds (__sanitizer_start_switch_fiber /
 * __sanitizer_finish_switch_fiber, with a NULL fake-stack save for a G that
 * exits); TSan switches fibers (__tsan_switch_to_fiber), each G owning one
 * fiber while it has a stack.  Without sanitizers these compile to nothing.
 */
#ifndef RINGO_RUNTIME_SAN_H
#define RINGO_RUNTIME_SAN_H

#include <stddef.h>

#ifndef __has_feature
#define __has_feature(x) 0
#endif

#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#define RG_ASAN 1
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#else
#define RG_ASAN 0
#endif

#if defined(__SANITIZE_THREAD__) || __has_feature(thread_sanitizer)
#define RG_TSAN 1
#include <sanitizer/tsan_interface.h>
#else
#define RG_TSAN 0
#endif

/* clang links the ASan runtime into the executable itself (gcc uses
 * libasan.so): its allocator and interceptors, with their spin locks, then
 * lie in the program's code, where the preemption signal may switch
 * goroutines (runtime/preempt.c), and a goroutine preempted holding one
 * would leave the next one on its M spinning. */
#if RG_ASAN && defined(__clang__)
#define RG_SAN_RUNTIME_IN_PROGRAM 1
#else
#define RG_SAN_RUNTIME_IN_PROGRAM 0
#endif

static inline void san_switch_begin(void **fake_stack_save, const void *to_lo, size_t to_size,
				    void *to_tsan)
{
#if RG_ASAN
	__sanitizer_start_switch_fiber(fake_stack_save, to_lo, to_size);
#else
	(void)fake_stack_save;
	(void)to_lo;
	(void)to_size;
#endif
#if RG_TSAN
	__tsan_switch_to_fiber(to_tsan, 0);
#else
	(void)to_tsan;
#endif
}

static inline void san_switch_end(void *fake_stack)
{
#if RG_ASAN
	__sanitizer_finish_switch_fiber(fake_stack, NULL, NULL);
#else
	(void)fake_stack;
#endif
}

/* Threads a sanitizer runtime may run in the process besides ours (TSan
 * starts a background thread with the first pthread_create); deadlock
 * detection does not count them as plain threads that could wake
 * goroutines. */
#define SAN_RUNTIME_THREADS (RG_TSAN ? 1 : 0)

static inline void *san_fiber_create(void)
{
#if RG_TSAN
	return __tsan_create_fiber(0);
#else
	return NULL;
#endif
}

static inline void *san_fiber_current(void)
{
#if RG_TSAN
	return __tsan_get_current_fiber();
#else
	return NULL;
#endif
}

static inline void san_fiber_destroy(void *fiber)
{
#if RG_TSAN
	if (fiber)
		__tsan_destroy_fiber(fiber);
#else
	(void)fiber;
#endif
}

/* A stack is about to host another goroutine: forget stale poisoning left
 * by frames of a goroutine that never returned. */
static inline void san_stack_reuse(void *lo, size_t size)
{
#if RG_ASAN
	ASAN_UNPOISON_MEMORY_REGION(lo, size);
#else
	(void)lo;
	(void)size;
#endif
}

#endif /* RINGO_RUNTIME_SAN_H */
