/* SPDX-License-Identifier: MIT */
/*
 * numa/steal.h - the order in which an M without work visits other Ps.
 *
 * The scheduler asks for an iteration over the Ps [0, count) for a thief P
 * starting from a random seed; every P is visited exactly once per pass
 * (the thief itself included: the caller skips it, and the Ps >= the
 * current number of procs).  Which policy is in use is invisible to it.
 *
 * Policies and tiers
 * ------------------
 * A pass is a sequence of tiers, each a set of Ps visited completely before
 * the next one starts:
 *   STEAL_FLAT      one tier, all Ps: Go's randomOrder.
 *   STEAL_NODE      tier 0 the Ps on the thief's node, tier 1 all others.
 *   STEAL_DISTANCE  tier 0 the thief's node, then one tier per distinct
 *                   distance from the thief's node, nearest first; nodes
 *                   at equal distance share a tier.
 * So under NODE and DISTANCE a thief takes work from a P that shares its
 * memory and caches when there is any, and crosses the interconnect as
 * little as it can otherwise.  Only nodes that own Ps make tiers; a node
 * with no P (memory only) never appears.
 *
 * Classes
 * -------
 * The distance class of a victim says how far it is from the thief: 0 =
 * same node; k >= 1 = the k-th smallest distance from the thief's node to
 * a node owning Ps.  Under NODE all remote Ps are class 1.  Under FLAT the
 * classes are those of DISTANCE (when a topology was given, else all 0), so
 * the runtime's per-class steal counters compare policies.  Along a pass
 * the class never decreases under NODE and DISTANCE.
 *
 * Randomisation
 * -------------
 * Many Ms go idle at once (a burst of work just ended) and start passes
 * together.  If they all began at the same victim and walked the same way
 * they would convoy: every thief hits the same run queue's cache line, and
 * the losers find it empty.  So every tier is walked as Go's randomOrder
 * walks all Ps: from a random start, with a random stride coprime with the
 * tier's size (which visits each P of the tier once: pos += stride mod
 * size).  Tier 0 starts from the thief's seed, each later tier from a
 * fresh mix of it, so two thieves that meet in one tier separate in the
 * next.  FLAT keeps randomOrder's exact arithmetic (start = rnd % count,
 * stride = coprime number (rnd / count) mod their number), so its order is
 * unchanged.  For the other policies the strides of a tier size s are up
 * to STEAL_STRIDES coprimes of s spread over [1, s] (all of them when there
 * are fewer).
 *
 * Cost
 * ----
 * All lists are precomputed by steal_order_build: per node, its Ps sorted
 * by tier (perm), the tiers' bounds, and the strides per tier size.  A step
 * is an add, a compare and a decrement; a P is one load; entering a tier
 * (steal_iter_tier, out of line) is a 32-bit hash, two multiplications
 * and a few loads, a few times per pass.
 * No allocation, no lock, no write to shared memory.
 *
 * Concurrency: steal_order_init and steal_order_build may be called only
 * while no M is stealing (start-up and stop-the-world); everything else
 * reads a const struct steal_order and may run concurrently from any M.
 */
#ifndef RINGO_NUMA_STEAL_H
#define RINGO_NUMA_STEAL_H

#include <stdint.h>

#include "numa/topology.h"

#define STEAL_MAX_PROCS	   1024
#define STEAL_MAX_NODES	   TOPO_MAX_NODES
#define STEAL_MAX_COPRIMES STEAL_MAX_PROCS
#define STEAL_STRIDES	   16 /* strides kept per tier size */

enum steal_policy {
	STEAL_FLAT,	/* Go's randomOrder over all Ps */
	STEAL_NODE,	/* own node first, then all other Ps */
	STEAL_DISTANCE, /* own node first, then by increasing distance */
};

struct steal_tier {
	uint32_t start; /* its Ps are perm[start, start + size) */
	uint16_t size;	/* >= 1 */
	uint16_t cls;	/* the distance class of its Ps (NODE, DISTANCE) */
};

/*
 * About 210 KiB, embedded in the scheduler (sched.steal).  Written only by
 * steal_order_build; read-only afterwards.
 */
struct steal_order {
	uint32_t count;		  /* Ps in a pass, 1..STEAL_MAX_PROCS */
	uint32_t ncoprimes;	  /* entries of coprimes[] */
	enum steal_policy policy; /* how tiers are made */
	uint32_t nnodes;	  /* nodes of the topology, 1 without one */
	/* FLAT: the values in [1, count] coprime with count, ascending. */
	uint16_t coprimes[STEAL_MAX_COPRIMES];
	uint8_t p_node[STEAL_MAX_PROCS]; /* node of each P (0 without topology) */
	/* Per thief node: its tiers, in visiting order. */
	uint8_t ntiers[STEAL_MAX_NODES];
	struct steal_tier tiers[STEAL_MAX_NODES][STEAL_MAX_NODES];
	/* Per thief node: its classes, each victim node's class (0xff for a
	 * node owning no P) and the distance of each class. */
	uint8_t nclasses[STEAL_MAX_NODES];
	uint8_t node_class[STEAL_MAX_NODES][STEAL_MAX_NODES];
	uint8_t class_distance[STEAL_MAX_NODES][STEAL_MAX_NODES];
	/* Strides of a tier of size s: strides[s][0, nstrides[s]), filled
	 * for the sizes that occur. */
	uint8_t nstrides[STEAL_MAX_PROCS + 1];
	uint16_t strides[STEAL_MAX_PROCS + 1][STEAL_STRIDES];
	/* Node n's Ps in tier order: perm[n * STEAL_MAX_PROCS, + count);
	 * FLAT uses perm[0, count) = 0, 1, ... for every node. */
	uint16_t perm[STEAL_MAX_NODES * STEAL_MAX_PROCS];
};

/* One pass, on the thief's stack. */
struct steal_iter {
	uint32_t i, count;    /* steps taken, steps in the pass */
	uint32_t pos, inc;    /* position in the tier, stride */
	uint32_t size, left;  /* the tier's size, steps left in it */
	uint32_t tier, node;  /* tier index, the thief's node */
	uint32_t rnd;	      /* the pass's seed */
	const uint16_t *perm; /* the tier's Ps */
	const struct steal_order *o;
};

/*
 * Set up the flat order for count Ps (1 <= count <= STEAL_MAX_PROCS), all
 * on one node: steal_order_build(o, count, STEAL_FLAT, NULL, NULL).
 * Returns 0 or -EINVAL.
 */
int steal_order_init(struct steal_order *o, uint32_t count);

/*
 * Set up the order of policy pol for count Ps (1..STEAL_MAX_PROCS), P i
 * being on node p_node[i] of topology t (0 <= p_node[i] < t->nnodes; see
 * topo_node_of_p).  Only t's distances and number of nodes are read.
 * p_node and t may be NULL (both) for STEAL_FLAT only; with them, FLAT
 * still reports distance classes.  Returns 0, or -EINVAL for a bad
 * argument (o is then unspecified).  Takes O(nodes * (count + nodes^2))
 * plus O(s) per distinct tier size s; no allocation.
 */
int steal_order_build(struct steal_order *o, uint32_t count, enum steal_policy pol,
		      const int *p_node, const struct topo *t);

/* "flat", "node", "distance"; "?" for anything else. */
const char *steal_policy_name(enum steal_policy pol);

/* The policy named s (as steal_policy_name writes it), or -EINVAL. */
int steal_policy_parse(const char *s);

/* Enter tier it->tier of the current pass (steal_iter_start/next). */
void steal_iter_tier(struct steal_iter *it);

/* Begin a pass for the thief P self (0 <= self < count; anything else is
 * taken as a P on node 0), seeded by rnd. */
static inline void steal_iter_start(const struct steal_order *o, int32_t self, uint32_t rnd,
				    struct steal_iter *it)
{
	it->o = o;
	it->i = 0;
	it->count = o->count;
	it->node = (uint32_t)self < o->count ? o->p_node[self] : 0;
	it->tier = 0;
	it->rnd = rnd;
	if (o->policy == STEAL_FLAT) {
		it->perm = o->perm;
		it->size = o->count;
		it->left = o->count;
		it->pos = rnd % o->count;
		it->inc = o->coprimes[(rnd / o->count) % o->ncoprimes];
		return;
	}
	steal_iter_tier(it);
}

static inline int steal_iter_done(const struct steal_iter *it)
{
	return it->i == it->count;
}

/* The P index of the current step. */
static inline uint32_t steal_iter_p(const struct steal_iter *it)
{
	return it->perm[it->pos];
}

/* The distance class of the current step's P (see "Classes"). */
static inline uint32_t steal_iter_class(const struct steal_iter *it)
{
	return it->o->node_class[it->node][it->o->p_node[steal_iter_p(it)]];
}

static inline void steal_iter_next(struct steal_iter *it)
{
	it->i++;
	if (--it->left == 0) {
		if (it->i < it->count) {
			it->tier++;
			steal_iter_tier(it);
		}
		return;
	}
	it->pos += it->inc;
	if (it->pos >= it->size)
		it->pos -= it->size;
}

/* Number of distance classes seen by the thief P self (1 + the number of
 * distinct remote distances to nodes owning Ps; 1 or 2 under NODE). */
uint32_t steal_order_nclasses(const struct steal_order *o, int32_t self);

/* The distance (10 = local) of class cls for a thief on node; under NODE
 * class 1 holds several distances and reports the smallest.  0 if node or
 * cls is out of range. */
uint32_t steal_order_class_distance(const struct steal_order *o, int node, uint32_t cls);

#endif /* RINGO_NUMA_STEAL_H */
