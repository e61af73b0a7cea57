/* SPDX-License-Identifier: MIT */
/*
 * runtime/stack.h - goroutine stacks: arenas, guards and caches.
 *
 * See the design comment at the top of runtime/stack.c.
 */
#ifndef RINGO_RUNTIME_STACK_H
#define RINGO_RUNTIME_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One stack slot.  Descriptors live in their arena's table, never in the
 * stack memory itself, so a cold stack (pages given back) stays cold.  The
 * goroutine that runs on a stack keeps its struct gext at the top of it
 * (runtime/runtime.h); the allocator knows nothing of that. */
struct stk {
	char *lo;	  /* lowest usable byte, just above the guard; set when carved */
	char *hi;	  /* one past the highest byte; set when carved */
	struct stk *next; /* free-list link; owned by the list */
	bool cold;	  /* pages were given back (MADV_DONTNEED); owned by the list */
	int16_t memnode;  /* memory node of its arena (-1: none); set when carved */
};

/* Per-P cache of free stacks.  It holds only stacks whose memnode is its
 * node (stackfree sends the others home).  head, n and quota: owned by the
 * P; node: set by stackcache_init before the P first runs, read-only
 * after. */
struct stk_cache {
	struct stk *head;
	int32_t n;
	int32_t quota; /* admissions it may grant without the pool (stack_admit) */
	int16_t node;  /* memory node its stacks come from; -1: no preference */
};

enum stack_guard_mode {
	STACK_GUARD_MADVISE,  /* MADV_GUARD_INSTALL: no VMA split */
	STACK_GUARD_MPROTECT, /* PROT_NONE page: one VMA split per stack */
	STACK_GUARD_NONE,
};

/* Start-up: set the stack size (bytes, rounded up to pages, guard
 * included) and probe the guard mechanism; force_mprotect skips
 * MADV_GUARD_INSTALL.  Returns 0 or -errno.  No P needed. */
int stack_init(size_t size, bool force_mprotect);
/* Tear-down: unmap every arena.  Only when no goroutine runs. */
void stack_fini(void);

/*
 * stackcache_init - an empty cache whose stacks come from memory node node
 * (the home node of its P), or from no node in particular (-1) when
 * !node_has_memory(node) (numa/mem.h): a node the machine lacks, as in a
 * synthetic topology, or libnuma unusable.  Before the P first runs; by
 * whoever creates it.  Does not block except for the first sysfs read of
 * the node.
 */
void stackcache_init(struct stk_cache *c, int node);

/*
 * stack_admit - admit one more goroutine: from then on stackalloc cannot
 * fail for it, whichever P first runs it ("Admission" in runtime/stack.c).
 * Returns 0, or -ENOMEM (no address space for another arena) or -EAGAIN
 * (the mprotect guards' map-count limit).  The fast path takes one of the
 * cache's quota; every ADMIT_BATCH admissions the cache takes pool.lock
 * and may map an arena.  By c's owner.
 */
int stack_admit(struct stk_cache *c);
/* Give back an admission that was not used (the goroutine was not made).
 * By c's owner. */
void stack_unadmit(struct stk_cache *c);

/*
 * stackalloc - take a stack: from the cache c, then the pool of c's node
 * (warm stacks first), then a new slot carved from that node's arena; only
 * when no slot can be carved (limit reached, out of memory), a free stack
 * of any other node.  Returns NULL with *err = -ENOMEM or -EAGAIN when none
 * can be had.  By c's owner; may take pool.lock.
 */
struct stk *stackalloc(struct stk_cache *c, int *err);
/*
 * stackfree - give s back, and its goroutine's admission (to c's quota,
 * which returns a batch to the pool above a high mark).  A stack of c's
 * node goes to the cache (no
 * lock; above STK_CACHE_MAX half the cache goes to the pool); a stack of
 * another node goes straight back to its own node's pool, so that caches
 * hold local stacks only.  Pool stacks beyond the high-water mark give
 * their pages back.  By c's owner; may take pool.lock.
 */
void stackfree(struct stk_cache *c, struct stk *s);
/* Give back the pages of the stacks waiting beyond the high-water mark.
 * Called by an M going idle, and by sysmon (no lock held). */
void stack_release_pending(void);
/* Whether sysmon should call stack_release_pending: many stacks have
 * waited a while.  (any, a hint) */
bool stack_release_due(int64_t now);
/* Move every stack in c to its node's pool, and its quota back to the
 * pool (a P is being destroyed).  By c's owner, or during stop-the-world. */
void stackcache_flush(struct stk_cache *c);

/* Guard mode in use and, for mprotect guards, how many stacks the kernel's
 * map limit allows (0: no such limit).  Fixed while the runtime runs. */
enum stack_guard_mode stack_guard_mode(void);
extern int64_t stack_limit;
static inline int64_t stack_guard_limit(void)
{
	return stack_limit;
}

/*
 * stack_guard_lookup - whether addr lies in a stack guard; async-signal-safe.
 * Returns the stack whose guard it is, or NULL.
 */
struct stk *stack_guard_lookup(const void *addr);

/* Number of stacks carved so far, and pooled hot and cold, summed over the
 * memory nodes (for traces and tests).  Takes pool.lock. */
void stack_stats(int64_t *carved, int64_t *hot, int64_t *cold);

#endif /* RINGO_RUNTIME_STACK_H */
