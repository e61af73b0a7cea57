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
 * warm pages); a cache above STK_CACHE_MAX moves half of itself to its
 * node's pool.  The pool keeps STK_HOT_MAX stacks resident; stacks beyond
 * that high-water mark give their pages back with MADV_DONTNEED (the guard
 * stays), so RSS follows the live goroutine count.  That costs a TLB
 * shoot-down per call, so it is done off the goroutines' path: when an M
 * goes idle (stack_release_pending, from stopm), in sorted batches with
 * neighbours in one call (release_batch), and by sysmon once
 * STK_PENDING_MAX stacks have waited for STK_PENDING_WAIT_NS
 * (stack_release_due), so that a burst of exits is over first; only past
 * STK_PENDING_HARD does an exiting goroutine's M release a batch itself.
 * Pending stacks stay usable until then.  (Releasing on the exit path
 * from STK_PENDING_MAX on cost 10,000 goroutines woken together 2.5x their
 * time: bench/ctxcancel, bench/RESULTS.md.)
 *
 * Nodes.  A P's stacks come from the memory of its home node (pp->home_node,
 * runtime/affinity.c), so that a goroutine's frames are local to the CPUs
 * that run it.  The pool is split by memory node: pool.nodes[n + 1] holds
 * the free stacks of node n, carved from that node's own arenas, which are
 * bound to it with node_bind (mbind MPOL_PREFERRED, numa/mem.h) right after
 * mmap, before any page is touched, so the kernel takes their pages from
 * that node while it has free memory and from others when it has none.
 * Each P's cache names its node (stackcache_init) and each stack its
 * arena's (memnode).  The fallback is pool.nodes[0], "no node": arenas with
 * no policy, for the caches of Ps whose home node cannot hold memory (a
 * node the machine lacks, as in a synthetic topology, or libnuma unusable).
 * A goroutine that started on one node and exits on a P of another gives
 * its stack back to its own node's pool, not to that P's cache: caches hold only local stacks, so the next
 * goroutine a P starts gets local pages without a lock, and a remote free
 * pays the lock instead (a machine with one node pays one compare).  Only
 * when no slot can be carved for a node (the mprotect limit, or no memory)
 * does stackalloc take a free stack of another node rather than fail; that
 * stack goes home when freed.  The high-water mark STK_HOT_MAX is per node;
 * STK_PENDING_MAX counts the stacks of all nodes.
 *
 * Admission.  rg_go promises -ENOMEM or -EAGAIN rather than a goroutine
 * that cannot get a stack when it first runs, while the stack itself is
 * still taken only then.  So every goroutine is admitted when it is made
 * (stack_admit) against the slots of the arenas mapped so far: admitted
 * goroutines, plus the stacks that the other Ps' caches may hold out of
 * reach (STK_CACHE_MAX + 1 each), never exceed the slots mapped (capped by
 * the mprotect guards' limit), so that a goroutine that got in always finds
 * a slot: in its cache, in a pool, or uncarved in some arena (carve takes
 * one from any node's arena when its own node has none).  An admission
 * that would pass the slots maps a new arena first, and fails when the
 * kernel refuses one (RLIMIT_AS, say: arenas are then tried smaller, down
 * to ARENA_MIN_SLOTS slots, before giving up).  An arena is mapped only
 * if ARENA_HEADROOM more address space is there after it, so that a
 * program that spawns until rg_go refuses still has room for threads and
 * malloc.  Admissions are handed to
 * each P's cache ADMIT_BATCH at a time (its quota), so rg_go's fast path
 * takes no lock and no atomic; an exiting goroutine's admission goes back
 * to the quota of the P it exits on, which returns a batch to the pool
 * above ADMIT_HIGH.  Only the address space is reserved up front: pages
 * are touched when a goroutine runs, as before.
 *
 * Locking: pool.lock protects every node's lists, their counters and
 * carving (one lock for all nodes: it is taken only off the caches' fast
 * path); the arena table is append-only and published with a release
 * store so that the signal handler can read it without a lock.
 */
#include "runtime/stack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kernel_iface/kernel.h"
#include "numa/mem.h"
#include "numa/topology.h"
#include "runtime/compiler.h"
#include "runtime/lock.h"
#include "runtime/runtime.h"
#include "runtime/san.h"

#define STK_CACHE_MAX	    32
#define STK_HOT_MAX	    256 /* per node */
#define STK_RELEASE_BATCH   256
#define STK_PENDING_MAX	    8192	     /* all nodes: sysmon releases */
#define STK_PENDING_HARD    65536	     /* all nodes: the exiting goroutine's M releases */
#define STK_PENDING_WAIT_NS (10 * 1000000LL) /* over STK_PENDING_MAX this long: sysmon */
#define ARENA_BYTES	    (1ul << 30)
#define ARENA_MIN_SLOTS	    64
#define ARENA_HEADROOM	    (128ul << 20)     /* address space left to threads and malloc */
#define ADMIT_BATCH	    64		      /* admissions a cache takes from the pool at once */
#define ADMIT_HIGH	    (2 * ADMIT_BATCH) /* a cache returns a batch above this */
#define MAX_ARENAS	    8192
#define NODE_NONE	    (-1)		 /* a stack or cache of no node */
#define POOL_NODES	    (TOPO_MAX_NODES + 1) /* pool.nodes[node + 1] */

struct arena {
	char *base;
	size_t len;
	uint32_t nslots;
	uint32_t ncarved; /* pool.lock */
	int16_t node;	  /* memory node it is bound to, or NODE_NONE; fixed */
	struct stk slots[];
};

/* The free stacks of one memory node: those carved from its arenas.  Every
 * field is protected by pool.lock. */
struct node_pool {
	struct stk *hot;     /* warm, up to STK_HOT_MAX */
	struct stk *pending; /* beyond the high-water mark, to give back */
	struct stk *cold;    /* pages given back */
	int64_t nhot;
	int64_t ncold;
	struct arena *arena; /* its latest arena: carve() takes slots from it */
};

static struct {
	struct lock lock;
	/* Fixed after stack_init. */
	size_t size; /* slot size, guard included */
	size_t guard;
	enum stack_guard_mode mode;
	/* Free stacks by memory node, [0]: NODE_NONE; pool.lock. */
	struct node_pool nodes[POOL_NODES];
	int32_t nused;	  /* nodes[nused..] are empty and have no arena; pool.lock */
	int64_t npending; /* on every node's pending list; pool.lock (READ_ONCE without it) */
	/* When npending last rose past STK_PENDING_MAX (0: not over, or
	 * released since); written under pool.lock or by the releaser, read
	 * by sysmon. */
	_Atomic int64_t over_since;
	int64_t ncarved;		  /* pool.lock */
	int64_t nslots;			  /* slots of every arena mapped; pool.lock */
	int64_t admitted;		  /* admissions handed to caches ("Admission"); pool.lock */
	struct arena *arenas[MAX_ARENAS]; /* every node's; append-only */
	_Atomic int32_t narenas;
} pool;

enum stack_guard_mode stack_guard_mode(void)
{
	return pool.mode;
}

int64_t stack_limit;

/* The pool of memory node node (NODE_NONE included). */
static struct node_pool *node_pool(int node)
{
	rg_assert(node >= NODE_NONE && node < TOPO_MAX_NODES);
	return &pool.nodes[node + 1];
}

void stackcache_init(struct stk_cache *c, int node)
{
	c->head = NULL;
	c->n = 0;
	c->quota = 0;
	c->node = node_has_memory(node) ? (int16_t)node : NODE_NONE;
}

/* A new arena of nslots slots for node, not yet published. */
static int arena_new(int node, uint32_t nslots, struct arena **out)
{
	struct arena *a;
	void *base;
	int r;

	a = rt_calloc(1, sizeof(*a) + nslots * sizeof(struct stk));
	if (!a)
		return -ENOMEM;
	a->len = (size_t)nslots * pool.size;
	/* Only with ARENA_HEADROOM to spare after it: mapped, then let go. */
	r = ki_mmap_anon(a->len + ARENA_HEADROOM, true, &base);
	if (r)
		goto err_free;
	ki_munmap((char *)base + a->len, ARENA_HEADROOM);
	/* Before any page is touched.  A no-op for NODE_NONE; should mbind
	 * be refused, the pages follow the default policy, and the stacks
	 * still belong to node's pool. */
	ki_call_enter(); /* libnuma: /sys reads, the first time */
	(void)node_bind(base, a->len, node);
	ki_call_exit();
	a->base = base;
	a->nslots = nslots;
	a->node = (int16_t)node;
	ki_madvise(base, a->len, MADV_NOHUGEPAGE);
	*out = a;
	return 0;
err_free:
	rt_free(a);
	return r;
}

/* Map a new arena for node and publish it: ARENA_BYTES, or smaller when
 * the kernel refuses that much address space, down to ARENA_MIN_SLOTS
 * slots.  pool.lock held. */
static int arena_map(int node, struct arena **out)
{
	uint32_t nslots = ARENA_BYTES / pool.size;
	struct arena *a = NULL;
	int32_t n;
	int r;

	assert_lock_held(&pool.lock);
	n = load_relaxed(&pool.narenas);
	if (n == MAX_ARENAS)
		return -ENOMEM;
	if (nslots < ARENA_MIN_SLOTS)
		nslots = ARENA_MIN_SLOTS;
	while ((r = arena_new(node, nslots, &a)) == -ENOMEM && nslots > ARENA_MIN_SLOTS)
		nslots = nslots / 2 > ARENA_MIN_SLOTS ? nslots / 2 : ARENA_MIN_SLOTS;
	if (r)
		return r;
	pool.arenas[n] = a;
	store_release(&pool.narenas, n + 1);
	pool.nslots += a->nslots;
	if (pool.nused < node + 2)
		pool.nused = node + 2;
	*out = a;
	return 0;
}

/* An arena with uncarved slots: node's (NODE_NONE included), or any
 * node's when any_node.  pool.lock held. */
static struct arena *arena_with_room(int node, bool any_node)
{
	int32_t i, n = load_relaxed(&pool.narenas);

	for (i = n - 1; i >= 0; i--) {
		struct arena *a = pool.arenas[i];

		if (a->ncarved < a->nslots && (any_node || a->node == node))
			return a;
	}
	return NULL;
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

/* Carve a new slot for node from its latest arena, mapping a new one when
 * it is full; pool.lock held. */
static int carve(int node, struct stk **out)
{
	struct node_pool *np = node_pool(node);
	struct arena *a = np->arena;
	struct stk *s;
	char *slot;
	int r;

	assert_lock_held(&pool.lock);
	if (stack_limit && pool.ncarved >= stack_limit)
		return -EAGAIN;
	if (!a || a->ncarved == a->nslots) {
		/* One mapped for an admission, else a new one; with no address
		 * space left, any node's slot rather than none. */
		a = arena_with_room(node, false);
		if (!a && (r = arena_map(node, &a)) != 0) {
			a = arena_with_room(node, true);
			if (!a)
				return r;
		}
		if (a->node == node)
			np->arena = a;
	}
	slot = a->base + (size_t)a->ncarved * pool.size;
	r = guard_install(slot);
	if (r)
		return r == -ENOMEM && pool.mode == STACK_GUARD_MPROTECT ? -EAGAIN : r;
	s = &a->slots[a->ncarved++];
	s->lo = slot + pool.guard;
	s->hi = slot + pool.size;
	s->cold = false;
	s->memnode = a->node;
	pool.ncarved++;
	*out = s;
	return 0;
}

/* Put s, which has run since it was pooled (warm), in its node's pool:
 * hot up to the high-water mark, pending beyond.  pool.lock held. */
static void node_put(struct stk *s)
{
	struct node_pool *np = node_pool(s->memnode);

	if (np->nhot < STK_HOT_MAX) {
		s->next = np->hot;
		np->hot = s;
		np->nhot++;
	} else {
		s->next = np->pending;
		np->pending = s;
		WRITE_ONCE(pool.npending, pool.npending + 1);
	}
}

int stack_init(size_t size, bool force_mprotect)
{
	size_t page = ki_page_size();
	void *scratch;
	long maps;
	int r;

	pool.size = (size + page - 1) & ~(page - 1);
	pool.guard = page;
	memset(pool.nodes, 0, sizeof(pool.nodes));
	pool.nused = 0;
	pool.npending = pool.ncarved = 0;
	pool.nslots = pool.admitted = 0;
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
	/* Probe on a scratch mapping, so that no node's arena is mapped before
	 * a P asks for it: MADV_GUARD_INSTALL answers EINVAL on kernels that
	 * lack it. */
	if (pool.mode == STACK_GUARD_MADVISE) {
		r = ki_mmap_anon(2 * pool.guard, true, &scratch);
		if (r)
			return r;
		r = ki_madvise(scratch, pool.guard, KI_MADV_GUARD_INSTALL);
		ki_munmap(scratch, 2 * pool.guard);
		if (r == -EINVAL)
			pool.mode = STACK_GUARD_MPROTECT;
		else if (r)
			return r;
	}
	if (pool.mode == STACK_GUARD_MPROTECT) {
		maps = ki_max_map_count();
		stack_limit = maps > 2048 ? (maps - 1024) / 2 : 1024;
	}
	return 0;
}

void stack_fini(void)
{
	int32_t i, n = load_relaxed(&pool.narenas);

	store_release(&pool.narenas, 0);
	for (i = 0; i < n; i++) {
		struct arena *a = pool.arenas[i];

		/* The next runtime may map its arenas here again: no poison of
		 * goroutines that never returned may outlive the mapping. */
		san_stack_reuse(a->base, (size_t)a->ncarved * pool.size);
		ki_munmap(a->base, a->len);
		rt_free(a);
		pool.arenas[i] = NULL;
	}
	memset(pool.nodes, 0, sizeof(pool.nodes));
	pool.nused = 0;
	pool.npending = pool.ncarved = 0;
	pool.nslots = pool.admitted = 0;
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

/* A free stack of np, warm ones first: hot, then those waiting to be given
 * back, then cold.  pool.lock held. */
static struct stk *node_get(struct node_pool *np)
{
	struct stk *s = list_pop(&np->hot, &np->nhot);

	if (!s)
		s = list_pop(&np->pending, &pool.npending);
	if (!s)
		s = list_pop(&np->cold, &np->ncold);
	return s;
}

static struct stk *pool_get(int node, int *err)
{
	struct stk *s;
	int32_t i;
	int r;

	lockr(&pool.lock, LR_STACK);
	s = node_get(node_pool(node));
	if (!s && (r = carve(node, &s)) != 0) {
		/* No new slot: a stack of another node rather than none. */
		for (i = 0; !s && i < pool.nused; i++)
			s = node_get(&pool.nodes[i]);
		if (!s)
			*err = r;
	}
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

/* The slots admissions may use: those mapped, less what the caches may
 * hold out of reach, within the mprotect limit.  pool.lock held. */
static int64_t admit_room(void)
{
	int64_t slots = pool.nslots;

	if (stack_limit && slots > stack_limit)
		slots = stack_limit;
	/* A P's own cache is within its reach: the others' are not. */
	return slots -
	       ((int64_t)__atomic_load_n(&sched.nallp, __ATOMIC_ACQUIRE) - 1) * (STK_CACHE_MAX + 1);
}

int stack_admit(struct stk_cache *c)
{
	int64_t want = ADMIT_BATCH;
	struct arena *a = NULL;
	int r = 0;

	if (likely(c->quota > 0)) {
		c->quota--;
		return 0;
	}
	lockr(&pool.lock, LR_STACK);
	while (pool.admitted + want > admit_room()) {
		if (stack_limit && pool.nslots >= stack_limit)
			r = -EAGAIN; /* the guards' limit: no arena helps */
		else
			r = arena_map(c->node, &a);
		if (r) {
			/* No more room: what is left, if anything. */
			want = admit_room() - pool.admitted;
			break;
		}
	}
	if (want > 0) {
		pool.admitted += want;
		c->quota += (int32_t)want - 1;
		r = 0;
	}
	unlockr(&pool.lock, LR_STACK);
	return r;
}

void stack_unadmit(struct stk_cache *c)
{
	c->quota++;
}

/* Return a batch of c's quota to the pool. */
static void admit_return(struct stk_cache *c, int32_t n)
{
	lockr(&pool.lock, LR_STACK);
	pool.admitted -= n;
	c->quota -= n;
	unlockr(&pool.lock, LR_STACK);
}

struct stk *stackalloc(struct stk_cache *c, int *err)
{
	struct stk *s = c->head;

	if (likely(s != NULL)) {
		rg_assert(s->memnode == c->node);
		c->head = s->next;
		c->n--;
		return s;
	}
	return pool_get(c->node, err);
}

/* Give back the pages of up to STK_RELEASE_BATCH pending stacks, of any
 * nodes.  No lock held on entry.  Returns how many. */
static int release_pending(void)
{
	struct stk *batch[STK_RELEASE_BATCH];
	int n = 0, i;
	int32_t k;

	lockr(&pool.lock, LR_STACK);
	for (k = 0; k < pool.nused && n < STK_RELEASE_BATCH; k++) {
		struct node_pool *np = &pool.nodes[k];

		while (n < STK_RELEASE_BATCH && np->pending)
			batch[n++] = list_pop(&np->pending, &pool.npending);
	}
	unlockr(&pool.lock, LR_STACK);
	if (!n)
		return 0;
	release_batch(batch, n);
	lockr(&pool.lock, LR_STACK);
	for (i = 0; i < n; i++) {
		struct node_pool *np = node_pool(batch[i]->memnode);

		batch[i]->next = np->cold;
		np->cold = batch[i];
		np->ncold++;
	}
	unlockr(&pool.lock, LR_STACK);
	return n;
}

void stack_release_pending(void)
{
	store_relaxed(&pool.over_since, 0);
	if (!READ_ONCE(pool.npending))
		return;
	while (release_pending() > 0)
		;
}

/* Move n stacks from the head of c to their node's pool.  Those beyond
 * the high-water mark wait on the pending list, still usable, until an M
 * goes idle (stack_release_pending) or STK_PENDING_MAX of them wait.  No
 * lock held on entry. */
static void pool_put(struct stk_cache *c, int32_t n)
{
	struct stk *s;
	bool over, hard;

	lockr(&pool.lock, LR_STACK);
	while (n-- > 0 && (s = c->head) != NULL) {
		c->head = s->next;
		c->n--;
		/* Stacks in a cache have run since they were pooled: warm. */
		node_put(s);
	}
	over = pool.npending >= STK_PENDING_MAX;
	hard = pool.npending >= STK_PENDING_HARD;
	unlockr(&pool.lock, LR_STACK);
	if (hard)
		release_pending();
	else if (over && !load_relaxed(&pool.over_since))
		store_relaxed(&pool.over_since, ki_nanotime());
}

bool stack_release_due(int64_t now)
{
	int64_t since = load_relaxed(&pool.over_since);

	return since && now - since >= STK_PENDING_WAIT_NS;
}

void stackfree(struct stk_cache *c, struct stk *s)
{
	if (unlikely(++c->quota > ADMIT_HIGH))
		admit_return(c, ADMIT_BATCH);
	san_stack_reuse(s->lo, (size_t)(s->hi - s->lo));
	s->cold = false; /* it ran: its pages are resident again */
	s->next = c->head;
	c->head = s;
	c->n++;
	if (unlikely(s->memnode != c->node))
		pool_put(c, 1); /* another node's stack: straight back home */
	else if (unlikely(c->n > STK_CACHE_MAX))
		pool_put(c, STK_CACHE_MAX / 2);
}

void stackcache_flush(struct stk_cache *c)
{
	pool_put(c, c->n);
	admit_return(c, c->quota);
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
	int32_t i;

	lockr(&pool.lock, LR_STACK);
	*carved = pool.ncarved;
	*hot = *cold = 0;
	for (i = 0; i < pool.nused; i++) {
		*hot += pool.nodes[i].nhot;
		*cold += pool.nodes[i].ncold;
	}
	unlockr(&pool.lock, LR_STACK);
}
