/* SPDX-License-Identifier: MIT */
/*
 * runtime/lock.c - futex mutex and notes (see runtime/lock.h).
 */
#include "runtime/lock.h"

#include <errno.h>

#include "kernel_iface/kernel.h"
#include "runtime/compiler.h"

#define LOCK_SPIN 100

void lock_slow(struct lock *l)
{
	uint32_t v;
	int i;

	for (i = 0; i < LOCK_SPIN; i++) {
		cpu_relax();
		v = load_relaxed(&l->key);
		if (v == 0 && trylock(l))
			return;
	}
	/* Mark contended and sleep until we take it from 0. */
	while (atomic_exchange_explicit(&l->key, 2, memory_order_acquire) != 0)
		ki_futex_wait((const uint32_t *)&l->key, 2, -1);
}

void unlock_slow(struct lock *l)
{
	ki_futex_wake((const uint32_t *)&l->key, 1);
}

void notesleep(struct note *n)
{
	while (load_acquire(&n->key) == 0)
		ki_futex_wait((const uint32_t *)&n->key, 0, -1);
}

bool notetsleep(struct note *n, int64_t timeout_ns)
{
	int64_t deadline = ki_nanotime() + timeout_ns;

	while (load_acquire(&n->key) == 0) {
		int64_t left = deadline - ki_nanotime();

		if (left <= 0)
			return false;
		ki_futex_wait((const uint32_t *)&n->key, 0, left);
	}
	return true;
}

void notewakeup(struct note *n)
{
	store_release(&n->key, 1);
	ki_futex_wake((const uint32_t *)&n->key, 1);
}
