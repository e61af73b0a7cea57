/* SPDX-License-Identifier: MIT */
/*
 * runtime/lock.h - the runtime's own mutex and one-shot notes.
 *
 * struct lock is a futex mutex (0 unlocked, 1 locked, 2 locked with
 * sleepers) that spins briefly before sleeping.  It blocks the thread, not
 * the goroutine: hold it only for short, non-blocking critical sections.
 * Usable with or without a P, from any thread; zero-initialised is unlocked.
 *
 * struct note is a one-shot event for parking Ms (Go's note): notesleep
 * blocks the thread until notewakeup; noteclear re-arms it.  Exactly one
 * thread sleeps on a note.
 */
#ifndef RINGO_RUNTIME_LOCK_H
#define RINGO_RUNTIME_LOCK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct lock {
	_Atomic uint32_t key;
};

struct note {
	_Atomic uint32_t key;
};

void lock_slow(struct lock *l);
void unlock_slow(struct lock *l);

static inline void lock(struct lock *l)
{
	uint32_t z = 0;

	if (__builtin_expect(!atomic_compare_exchange_strong_explicit(
				     &l->key, &z, 1, memory_order_acquire, memory_order_relaxed),
			     0))
		lock_slow(l);
}

static inline bool trylock(struct lock *l)
{
	uint32_t z = 0;

	return atomic_compare_exchange_strong_explicit(&l->key, &z, 1, memory_order_acquire,
						       memory_order_relaxed);
}

static inline void unlock(struct lock *l)
{
	if (__builtin_expect(atomic_exchange_explicit(&l->key, 0, memory_order_release) == 2, 0))
		unlock_slow(l);
}

static inline bool lock_held(struct lock *l)
{
	return atomic_load_explicit(&l->key, memory_order_relaxed) != 0;
}

static inline void noteclear(struct note *n)
{
	atomic_store_explicit(&n->key, 0, memory_order_relaxed);
}

void notesleep(struct note *n);
/* Sleep until woken or timeout_ns passes; true if woken. */
bool notetsleep(struct note *n, int64_t timeout_ns);
void notewakeup(struct note *n);

#endif /* RINGO_RUNTIME_LOCK_H */
