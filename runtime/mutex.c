/* SPDX-License-Identifier: MIT */
/*
 * runtime/mutex.c - rg_mutex, sync.Mutex.
 *
 * Fairness (Go's two modes)
 * -------------------------
 * Normal mode: waiters queue FIFO on the mutex's semaphore, but a woken
 * waiter does not own the mutex; it competes with goroutines that are
 * arriving right now, which are already running and usually win.  A
 * waiter that loses queues again at the head of the queue (lifo).  This
 * gives the best throughput: the mutex goes to whoever is on a CPU.
 *
 * Starvation mode: once a waiter has waited more than 1 ms it sets
 * MUTEX_STARVING.  Unlock then hands the mutex directly to the first
 * waiter (semrelease with handoff: the count goes to it and the unlocker
 * yields so that it runs next), newcomers neither take the mutex nor spin
 * but queue at the tail, and the woken waiter owns the mutex without
 * setting MUTEX_LOCKED through a race.  The waiter that takes ownership
 * switches back to normal mode when it is the last waiter or when it
 * waited less than 1 ms itself.
 *
 * state (struct mutex, runtime/sync.h): MUTEX_LOCKED, MUTEX_WOKEN (a
 * waiter is awake, so unlock need not wake another), MUTEX_STARVING, and
 * the number of waiters blocked on sema above MUTEX_WAITER_SHIFT.  Every
 * transition is one CAS on state; the uncontended lock and unlock are one
 * atomic each.
 *
 * Spinning: a goroutine that finds the mutex held (in normal mode) spins
 * a few times before blocking when that can pay off: more than one P, at
 * least one other P running goroutines (the holder may be running), and
 * nothing else runnable on its own P.  There is no preemption, so the
 * spin is short and bounded.  Plain threads spin the same bounded amount.
 */
#include <errno.h>

#include "ringo.h"
#include "kernel_iface/kernel.h"
#include "runtime/preempt.h"
#include "runtime/runtime.h"
#include "runtime/sema.h"
#include "runtime/sync.h"

_Static_assert(sizeof(struct mutex) <= sizeof(rg_mutex), "rg_mutex too small");
_Static_assert(_Alignof(struct mutex) <= _Alignof(rg_mutex), "rg_mutex misaligned");

#define STARVATION_THRESHOLD_NS 1000000
#define ACTIVE_SPIN		4  /* spin iterations before blocking */
#define ACTIVE_SPIN_CNT		30 /* pause instructions per iteration */

static const char reason_lock[] = "sync.Mutex.Lock";

/* Go's sync_runtime_canSpin. */
static bool mutex_canspin(int iter)
{
	struct m *mp;
	int32_t procs;

	if (iter >= ACTIVE_SPIN)
		return false;
	mp = getm();
	if (!mp || !load_relaxed(&mp->curg))
		return true; /* a plain thread: bounded by iter */
	procs = load_relaxed(&sched.nprocs);
	if (procs <= load_relaxed(&sched.npidle) + load_relaxed(&sched.nmspinning) + 1)
		return false;
	return runqempty(mp->p);
}

static void mutex_dospin(void)
{
	int i;

	for (i = 0; i < ACTIVE_SPIN_CNT; i++)
		cpu_relax();
}

static noinline void mutex_lock_slow(struct mutex *m, const char *reason)
{
	int64_t wait_start = 0;
	bool starving = false, awoke = false;
	int iter = 0;
	int32_t old = atomic_load(&m->state);

	for (;;) {
		int32_t want;

		/* Spin only in normal mode while the mutex is held: in
		 * starvation mode it goes to the first waiter anyway. */
		if ((old & (MUTEX_LOCKED | MUTEX_STARVING)) == MUTEX_LOCKED &&
		    mutex_canspin(iter)) {
			/* Tell unlock not to wake anyone: we are awake. */
			if (!awoke && !(old & MUTEX_WOKEN) && (old >> MUTEX_WAITER_SHIFT) != 0 &&
			    atomic_compare_exchange_strong(&m->state, &old, old | MUTEX_WOKEN))
				awoke = true;
			mutex_dospin();
			iter++;
			old = atomic_load(&m->state);
			continue;
		}
		want = old;
		/* A starving mutex belongs to the first waiter: newcomers queue. */
		if (!(old & MUTEX_STARVING))
			want |= MUTEX_LOCKED;
		if (old & (MUTEX_LOCKED | MUTEX_STARVING))
			want += 1 << MUTEX_WAITER_SHIFT;
		/* Enter starvation mode, but only while the mutex is held:
		 * unlock expects a starving mutex to have waiters. */
		if (starving && (old & MUTEX_LOCKED))
			want |= MUTEX_STARVING;
		if (awoke) {
			if (!(want & MUTEX_WOKEN))
				throw("sync: inconsistent mutex state (rg_mutex_lock %p)",
				      (void *)m);
			want &= ~MUTEX_WOKEN;
		}
		if (!atomic_compare_exchange_strong(&m->state, &old, want))
			continue; /* old was reloaded */
		if (!(old & (MUTEX_LOCKED | MUTEX_STARVING)))
			return; /* took it with the CAS */
		/* Blocked: a waiter that already waited keeps its turn. */
		{
			bool lifo = wait_start != 0;

			if (!wait_start)
				wait_start = ki_nanotime();
			semacquire_mutex(&m->sema, lifo, reason);
		}
		starving = starving || ki_nanotime() - wait_start > STARVATION_THRESHOLD_NS;
		old = atomic_load(&m->state);
		if (old & MUTEX_STARVING) {
			/* Handed to us: MUTEX_LOCKED is clear and we are still
			 * counted as a waiter. */
			int32_t delta = MUTEX_LOCKED - (1 << MUTEX_WAITER_SHIFT);

			if ((old & (MUTEX_LOCKED | MUTEX_WOKEN)) ||
			    (old >> MUTEX_WAITER_SHIFT) == 0)
				throw("sync: inconsistent mutex state (rg_mutex_lock %p)",
				      (void *)m);
			/* Leave starvation mode when we are the last waiter or
			 * did not wait long: two goroutines could otherwise
			 * keep handing it to each other. */
			if (!starving || (old >> MUTEX_WAITER_SHIFT) == 1)
				delta -= MUTEX_STARVING;
			atomic_fetch_add(&m->state, delta);
			return;
		}
		awoke = true;
		iter = 0;
	}
}

void mutex_lock(struct mutex *m, const char *reason)
{
	int32_t unlocked = 0;

	if (likely(atomic_compare_exchange_strong(&m->state, &unlocked, MUTEX_LOCKED)))
		return;
	mutex_lock_slow(m, reason);
}

bool mutex_trylock(struct mutex *m)
{
	int32_t old = atomic_load_explicit(&m->state, memory_order_relaxed);

	if (old & (MUTEX_LOCKED | MUTEX_STARVING))
		return false;
	/* Waiters may be queued; the barging rule of normal mode applies. */
	return atomic_compare_exchange_strong(&m->state, &old, old | MUTEX_LOCKED);
}

/* state: the value unlock left, MUTEX_LOCKED already subtracted. */
static noinline void mutex_unlock_slow(struct mutex *m, int32_t state)
{
	int32_t old, want;

	if (!((state + MUTEX_LOCKED) & MUTEX_LOCKED))
		throw("sync: unlock of unlocked mutex (rg_mutex_unlock %p)", (void *)m);
	if (state & MUTEX_STARVING) {
		/* Hand the mutex to the first waiter; it finds MUTEX_LOCKED
		 * clear and takes ownership.  Newcomers see MUTEX_STARVING
		 * and queue. */
		semrelease(&m->sema, true);
		return;
	}
	old = state;
	for (;;) {
		/* No waiters, or someone already took the mutex, is awake,
		 * or it went into starvation mode: nobody to wake. */
		if ((old >> MUTEX_WAITER_SHIFT) == 0 ||
		    (old & (MUTEX_LOCKED | MUTEX_WOKEN | MUTEX_STARVING)))
			return;
		want = (old - (1 << MUTEX_WAITER_SHIFT)) | MUTEX_WOKEN;
		if (atomic_compare_exchange_strong(&m->state, &old, want)) {
			semrelease(&m->sema, false);
			return;
		}
	}
}

void mutex_unlock(struct mutex *m)
{
	int32_t state = atomic_fetch_sub(&m->state, MUTEX_LOCKED) - MUTEX_LOCKED;

	if (unlikely(state != 0))
		mutex_unlock_slow(m, state);
}

void rg_mutex_lock(rg_mutex *m)
{
	rt_enter();
	mutex_lock((struct mutex *)m, reason_lock);
}

void rg_mutex_unlock(rg_mutex *m)
{
	rt_enter();
	mutex_unlock((struct mutex *)m);
}

int rg_mutex_trylock(rg_mutex *m)
{
	rt_enter();
	return mutex_trylock((struct mutex *)m) ? 0 : -EBUSY;
}
