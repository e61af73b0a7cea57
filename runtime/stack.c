/* SPDX-License-Identifier: MIT */
/*
 * runtime/stack.c - goroutine stacks.
 *
 * Arenas.  Stacks are fixed-size slots carved from large anonymous
 * MAP_NORESERVE arenas: virtual space is cheap, and only the pages a
 * goroutine touches become resident.  Arenas are marked MADV_NOHUGEPAGE so
 * that a transparent huge page never turns a small stack into 2 MiB of RSS.
 * Arenas are unmapped only when the runtime stops.
 *
 * Guards.  The lowest page of each slot is a guard.  On Linux 6.13+ it is
 * installed with MADV_GUARD_INSTALL, which does not split the VMA, so a
 * million guarded stacks fit under vm.max_map_count.  Older kernels answer
 * EINVAL and we fall back to mprotect(PROT_NONE), where each guard splits
 * the arena's VMA: about max_map_count / 2 stacks.  The probe runs once at
 * start-up; CONFIG_STACK_GUARD_* can force a mode.  A fault in a guard is
 * reported by the SIGSEGV handler in runtime/signal.c.
 *
 * Caches.  A goroutine gets its stack only when it first runs (rg_go stores
 * fn/arg in the G), and gives it back when it exits, so a burst of spawns
 * costs stacks only for goroutines that have started and not finished.
 * Free stacks go to the P's cache (no lock, LIFO so the next goroutine gets
 * warm pages); a cache above STK_CACHE_MAX moves half of itself to the
 * global pool.  The pool keeps STK_HOT_MAX stacks resident; stacks beyond
 * that high-water mark give their pages back with MADV_DONTNEED (the guard
 * stays), so RSS follows the live goroutine count.  That costs a TLB
 * shoot-down per call, so it is done off the goroutines' path: when an M
 * goes idle (stack_release_pending, from stopm), in sorted batches with
 * neighbours in one call (release_batch); only when STK_PENDING_MAX stacks
 * wait does an exiting goroutine's M release a batch itself.  Pending
 * stacks stay usable until then.
 *
 * Locking: pool.lock protects the hot/cold lists and carving; the arena
 * table is append-only and published with a release store so that the
 * signal handler can read it without a lock.
 */
#include "runtime/stack.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "kernel_iface/kernel.h"
#include "runtime/compiler.h"
#include "runtime/lock.h"
#include "runtime/runtime.h"
#include "runtime/san.h"

#define STK_CACHE_MAX	  32
#define STK_HOT_MAX	  256
#define STK_RELEASE_BATCH 256
#define STK_PENDING_MAX	  8192
#define ARENA_BYTES	  (1ul << 30)
#define ARENA_MIN_SLOTS	  64
#define MAX_ARENAS	  8192

struct arena {
	char *base;
	size_t len;
	uint32_t nslots;
	uint32_t ncarved; /* pool.lock */
	struct stk slots[];
};

static struct {
	struct lock lock;
	size_t size; /* slot size, guard included */
	size_t guard;
	enum stack_guard_mode mode;
	struct stk *hot; /* pool.lock */
	int64_t nhot;
	struct stk *pending; /* beyond the high-water mark, to give back; pool.lock */
	int64_t npending;    /* pool.lock (READ_ONCE without it) */
	struct stk *cold;    /* pool.lock */
	int64_t ncold;
	int64_t ncarved;
	struct arena *arenas[MAX_ARENAS]; /* append-only */
	_Atomic int32_t narenas;
} pool;

enum stack_guard_mode stack_guard_mode(void)
{
	return pool.mode;
}

int64_t stack_limit;

static int arena_new(struct arena **out)
{
	uint32_t nslots = ARENA_BYTES / pool.size;
	struct arena *a;
	void *base;
	int r;

	if (nslots < ARENA_MIN_SLOTS)
		nslots = ARENA_MIN_SLOTS;
	if (load_relaxed(&pool.narenas) == MAX_ARENAS)
		return -ENOMEM;
	a = rt_calloc(1, sizeof(*a) + nslots * sizeof(struct stk));
	if (!a)
		return -ENOMEM;
	a->len = (size_t)nslots * pool.size;
	r = ki_mmap_anon(a->len, true, &base);
	if (r)
		goto err_free;
	a->base = base;
	a->nslots = nslots;
	ki_madvise(base, a->len, MADV_NOHUGEPAGE);
	*out = a;
	return 0;
err_free:
	rt_free(a);
	return r;
}

static int guard_install(char *slot)
{
	switch (pool.mode) {
	case STACK_GUARD_MADVISE:
		return ki_madvise(slot, pool.guard, KI_MADV_GUARD_INSTALL);
	case STACK_GUARD_MPROTECT:
		return ki_mprotect(slot, pool.guard, PROT_NONE);
	default:
		return 0;
	}
}

/* Carve a new slot; pool.lock held. */
static int carve(struct stk **out)
{
	int32_t n = load_relaxed(&pool.narenas);
	struct arena *a = n ? pool.arenas[n - 1] : NULL;
	struct stk *s;
	char *slot;
	int r;

	if (stack_limit && pool.ncarved >= stack_limit)
		return -EAGAIN;
	if (!a || a->ncarved == a->nslots) {
		r = arena_new(&a);
		if (r)
			return r;
		pool.arenas[n] = a;
		store_release(&pool.narenas, n + 1);
	}
	slot = a->base + (size_t)a->ncarved * pool.size;
	r = guard_install(slot);
	if (r)
		return r == -ENOMEM && pool.mode == STACK_GUARD_MPROTECT ? -EAGAIN : r;
	s = &a->slots[a->ncarved++];
	s->lo = slot + pool.guard;
	s->hi = slot + pool.size;
	s->cold = false;
	pool.ncarved++;
	*out = s;
	return 0;
}

int stack_init(size_t size, bool force_mprotect)
{
	size_t page = ki_page_size();
	struct stk *probe;
	long maps;
	int r;

	pool.size = (size + page - 1) & ~(page - 1);
	pool.guard = page;
	pool.hot = pool.pending = pool.cold = NULL;
	pool.nhot = pool.npending = pool.ncold = pool.ncarved = 0;
	stack_limit = 0;
	store_relaxed(&pool.narenas, 0);
	if (IS_ENABLED(CONFIG_STACK_GUARD_NONE)) {
		pool.mode = STACK_GUARD_NONE;
		pool.guard = 0;
		return 0;
	}
	pool.mode = IS_ENABLED(CONFIG_STACK_GUARD_MPROTECT) || force_mprotect ?
			    STACK_GUARD_MPROTECT :
			    STACK_GUARD_MADVISE;
	/* Probe by carving the first slot: MADV_GUARD_INSTALL answers EINVAL
	 * on kernels that lack it. */
	lockr(&pool.lock, LR_STACK);
	r = carve(&probe);
	if (r == -EINVAL && pool.mode == STACK_GUARD_MADVISE) {
		pool.mode = STACK_GUARD_MPROTECT;
		r = guard_install(pool.arenas[0]->base);
		if (!r) {
			struct arena *a = pool.arenas[0];

			probe = &a->slots[a->ncarved++];
			probe->lo = a->base + pool.guard;
			probe->hi = a->base + pool.size;
			pool.ncarved++;
		}
	}
	if (!r) {
		probe->next = pool.hot;
		pool.hot = probe;
		pool.nhot++;
	}
	unlockr(&pool.lock, LR_STACK);
	if (pool.mode == STACK_GUARD_MPROTECT) {
		maps = ki_max_map_count();
		stack_limit = maps > 2048 ? (maps - 1024) / 2 : 1024;
	}
	return r;
}

void stack_fini(void)
{
	int32_t i, n = load_relaxed(&pool.narenas);

	store_release(&pool.narenas, 0);
	for (i = 0; i < n; i++) {
		ki_munmap(pool.arenas[i]->base, pool.arenas[i]->len);
		rt_free(pool.arenas[i]);
		pool.arenas[i] = NULL;
	}
	pool.hot = pool.pending = pool.cold = NULL;
	pool.nhot = pool.npending = pool.ncold = pool.ncarved = 0;
}

static struct stk *list_pop(struct stk **list, int64_t *n)
{
	struct stk *s = *list;

	if (s) {
		*list = s->next;
		WRITE_ONCE(*n, *n - 1);
	}
	return s;
}

static struct stk *pool_get(int *err)
{
	struct stk *s;

	lockr(&pool.lock, LR_STACK);
	/* Warm stacks first: hot, then those waiting to be given back. */
	s = list_pop(&pool.hot, &pool.nhot);
	if (!s)
		s = list_pop(&pool.pending, &pool.npending);
	if (!s)
		s = list_pop(&pool.cold, &pool.ncold);
	if (!s)
		*err = carve(&s);
	unlockr(&pool.lock, LR_STACK);
	return s;
}

static int stk_addr_cmp(const void *a, const void *b)
{
	const struct stk *x = *(struct stk *const *)a, *y = *(struct stk *const *)b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/*
 * Give back the pages of a batch of stacks: sorted by address, runs of
 * neighbouring slots go in one madvise (guards keep their state under
 * MADV_DONTNEED), since every call costs a TLB shoot-down on every CPU
 * the process runs on.  No lock held.
 */
static void release_batch(struct stk **batch, int n)
{
	int i = 0;

	qsort(batch, (size_t)n, sizeof(*batch), stk_addr_cmp);
	while (i < n) {
		char *lo = batch[i]->lo, *hi = batch[i]->hi;

		batch[i++]->cold = true;
		while (i < n && batch[i]->lo == hi + pool.guard) {
			hi = batch[i]->hi;
			batch[i++]->cold = true;
		}
		ki_madvise(lo, (size_t)(hi - lo), MADV_DONTNEED);
	}
}

struct stk *stackalloc(struct stk_cache *c, int *err)
{
	struct stk *s = c->head;

	if (likely(s != NULL)) {
		c->head = s->next;
		c->n--;
		return s;
	}
	return pool_get(err);
}

/* Give back the pages of up to STK_RELEASE_BATCH pending stacks.  No lock
 * held on entry.  Returns how many. */
static int release_pending(void)
{
	struct stk *batch[STK_RELEASE_BATCH];
	int n = 0, i;

	lockr(&pool.lock, LR_STACK);
	while (n < STK_RELEASE_BATCH && pool.pending)
		batch[n++] = list_pop(&pool.pending, &pool.npending);
	unlockr(&pool.lock, LR_STACK);
	if (!n)
		return 0;
	release_batch(batch, n);
	lockr(&pool.lock, LR_STACK);
	for (i = 0; i < n; i++) {
		batch[i]->next = pool.cold;
		pool.cold = batch[i];
		pool.ncold++;
	}
	unlockr(&pool.lock, LR_STACK);
	return n;
}

void stack_release_pending(void)
{
	if (!READ_ONCE(pool.npending))
		return;
	while (release_pending() > 0)
		;
}

/* Move n stacks from the head of c to the pool.  Those beyond the
 * high-water mark wait on the pending list, still usable, until an M goes
 * idle (stack_release_pending) or STK_PENDING_MAX of them wait.  No lock
 * held on entry. */
static void pool_put(struct stk_cache *c, int32_t n)
{
	struct stk *s;
	bool over;

	lockr(&pool.lock, LR_STACK);
	while (n-- > 0 && (s = c->head) != NULL) {
		c->head = s->next;
		c->n--;
		/* Stacks in a cache have run since they were pooled: warm. */
		if (pool.nhot < STK_HOT_MAX) {
			s->next = pool.hot;
			pool.hot = s;
			pool.nhot++;
		} else {
			s->next = pool.pending;
			pool.pending = s;
			WRITE_ONCE(pool.npending, pool.npending + 1);
		}
	}
	over = pool.npending >= STK_PENDING_MAX;
	unlockr(&pool.lock, LR_STACK);
	if (over)
		release_pending();
}

void stackfree(struct stk_cache *c, struct stk *s)
{
	san_stack_reuse(s->lo, (size_t)(s->hi - s->lo));
	s->cold = false; /* it ran: its pages are resident again */
	s->next = c->head;
	c->head = s;
	if (unlikely(++c->n > STK_CACHE_MAX))
		pool_put(c, STK_CACHE_MAX / 2);
}

void stackcache_flush(struct stk_cache *c)
{
	pool_put(c, c->n);
}

struct stk *stack_guard_lookup(const void *addr)
{
	int32_t i, n = load_acquire(&pool.narenas);
	const char *p = addr;

	if (!pool.guard)
		return NULL;
	for (i = 0; i < n; i++) {
		struct arena *a = pool.arenas[i];
		size_t off, idx;

		if (p < a->base || p >= a->base + a->len)
			continue;
		off = (size_t)(p - a->base);
		idx = off / pool.size;
		if (off - idx * pool.size < pool.guard)
			return &a->slots[idx];
		return NULL;
	}
	return NULL;
}

void stack_stats(int64_t *carved, int64_t *hot, int64_t *cold)
{
	lockr(&pool.lock, LR_STACK);
	*carved = pool.ncarved;
	*hot = pool.nhot;
	*cold = pool.ncold;
	unlockr(&pool.lock, LR_STACK);
}
