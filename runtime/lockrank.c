/* SPDX-License-Identifier: MIT */
/*
 * runtime/lockrank.c - checking the lock order (debug builds).
 *
 * Each M keeps the ranks of the runtime locks it holds, in the order it
 * took them.  A lock may be taken only when its rank is above every rank
 * held (the order is written in runtime/runtime.h), except that channel
 * locks may be stacked (select takes them in address order); locks are
 * released in the reverse order.  Anything else is a fatal error naming both locks, so
 * that a lock-order inversion shows up in the first test that takes the
 * two paths, not as a rare deadlock.
 */
#include "runtime/runtime.h"

static const char *rank_name(unsigned r)
{
	static const char *const names[] = {
		[LR_SIGNAL] = "signal channels", [LR_CTX] = "contexts",
		[LR_CTXWAIT] = "context wait",	 [LR_TIMEROBJ] = "rg_timer",
		[LR_CHAN] = "channel",		 [LR_SEMA] = "semaphore bucket",
		[LR_PD] = "poll descriptor",	 [LR_TIMERS] = "timers",
		[LR_NETPOLL] = "netpoll",	 [LR_SCHED] = "sched.lock",
		[LR_GFREE] = "sched.gflock",	 [LR_STACK] = "stack pool",
		[LR_ALLG] = "sched.allglock",
	};

	return r < ARRAY_SIZE(names) && names[r] ? names[r] : "?";
}

void lockrank_acquire(struct m *mp, enum lock_rank r)
{
	int top = mp->nlockranks - 1;

	if (top >= 0 && mp->lockranks[top] == r && r == LR_CHAN) {
		mp->lockrankn[top]++;
		return;
	}
	if (top >= 0 && mp->lockranks[top] >= r)
		throw("lock order: taking %s while holding %s", rank_name(r),
		      rank_name(mp->lockranks[top]));
	if (top + 1 >= (int)ARRAY_SIZE(mp->lockranks))
		throw("lock order: M%ld holds too many kinds of runtime locks", (long)mp->id);
	mp->lockranks[top + 1] = (uint8_t)r;
	mp->lockrankn[top + 1] = 1;
	mp->nlockranks = top + 2;
}

void lockrank_release(struct m *mp, enum lock_rank r)
{
	int top = mp->nlockranks - 1;

	if (top < 0 || mp->lockranks[top] != r)
		throw("lock order: releasing %s, which is not the last lock taken (%s)",
		      rank_name(r), top >= 0 ? rank_name(mp->lockranks[top]) : "none held");
	if (--mp->lockrankn[top] == 0)
		mp->nlockranks = top;
}
