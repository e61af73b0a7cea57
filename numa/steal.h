/* SPDX-License-Identifier: MIT */
/*
 * numa/steal.h - the order in which an M without work visits other Ps.
 *
 * The scheduler asks for an iteration over the Ps [0, count) starting from
 * a random seed; every P is visited exactly once per pass.  The flat order
 * (Go's randomOrder) starts at a random P and walks with a random stride
 * coprime with count, so concurrent thieves do not convoy on one victim.
 * The NUMA-aware orders (same node first, then by distance) implement the
 * same iteration over tiers; the scheduler does not know which is in use.
 *
 * steal_order_init may be called only while no M is stealing (start-up and
 * stop-the-world); iteration may run concurrently from any M.
 */
#ifndef RINGO_NUMA_STEAL_H
#define RINGO_NUMA_STEAL_H

#include <stdint.h>

#define STEAL_MAX_COPRIMES 1024

struct steal_order {
	uint32_t count;
	uint32_t ncoprimes;
	uint32_t coprimes[STEAL_MAX_COPRIMES]; /* values in [1, count] coprime with count */
};

struct steal_iter {
	uint32_t i, count, pos, inc;
};

/* Set up the order for count Ps (1 <= count <= STEAL_MAX_COPRIMES).
 * Returns 0 or -EINVAL. */
int steal_order_init(struct steal_order *o, uint32_t count);

/* Begin a pass for the thief P self, seeded by rnd. */
static inline void steal_iter_start(const struct steal_order *o, int32_t self, uint32_t rnd,
				    struct steal_iter *it)
{
	(void)self;
	it->i = 0;
	it->count = o->count;
	it->pos = rnd % o->count;
	it->inc = o->coprimes[(rnd / o->count) % o->ncoprimes];
}

static inline int steal_iter_done(const struct steal_iter *it)
{
	return it->i == it->count;
}

/* The P index of the current step. */
static inline uint32_t steal_iter_p(const struct steal_iter *it)
{
	return it->pos;
}

static inline void steal_iter_next(struct steal_iter *it)
{
	it->i++;
	it->pos = (it->pos + it->inc) % it->count;
}

#endif /* RINGO_NUMA_STEAL_H */
