/* SPDX-License-Identifier: MIT */
/*
 * numa/steal.c - building the steal orders (see numa/steal.h).
 */
#include "numa/steal.h"

#include <errno.h>
#include <string.h>

_Static_assert(sizeof(struct steal_order) < 300 * 1024, "struct steal_order too large");
_Static_assert(STEAL_MAX_NODES <= 255, "node numbers are stored in uint8_t");
_Static_assert((uint64_t)STEAL_MAX_NODES *STEAL_MAX_PROCS <= UINT32_MAX, "perm offsets");

#define NO_CLASS 0xff

static const char *const policy_names[] = {
	[STEAL_FLAT] = "flat",
	[STEAL_NODE] = "node",
	[STEAL_DISTANCE] = "distance",
};

const char *steal_policy_name(enum steal_policy pol)
{
	if ((unsigned int)pol >= sizeof(policy_names) / sizeof(policy_names[0]))
		return "?";
	return policy_names[pol];
}

int steal_policy_parse(const char *s)
{
	unsigned int i;

	for (i = 0; s && i < sizeof(policy_names) / sizeof(policy_names[0]); i++)
		if (!strcmp(s, policy_names[i]))
			return (int)i;
	return -EINVAL;
}

static uint32_t gcd(uint32_t a, uint32_t b)
{
	while (b) {
		uint32_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* A bijective 32-bit mixer (Chris Wellons' lowbias32). */
static uint32_t steal_mix(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	x *= 0x846ca68bu;
	x ^= x >> 16;
	return x;
}

/*
 * Tier it->tier: a start in [0, size) from the high half of r * size, a
 * stride index from the low half times nstrides (Lemire's multiply-shift
 * reduction, no division).
 */
void steal_iter_tier(struct steal_iter *it)
{
	const struct steal_order *o = it->o;
	const struct steal_tier *t = &o->tiers[it->node][it->tier];
	uint64_t m = (uint64_t)steal_mix(it->rnd + it->tier * 0x9e3779b9u) * t->size;

	it->perm = o->perm + t->start;
	it->size = t->size;
	it->left = t->size;
	it->pos = (uint32_t)(m >> 32);
	it->inc = o->strides[t->size][((m & 0xffffffffu) * o->nstrides[t->size]) >> 32];
}

/* The flat order's table: every value in [1, count] coprime with count. */
static void flat_coprimes(struct steal_order *o)
{
	uint32_t i;

	o->ncoprimes = 0;
	for (i = 1; i <= o->count; i++)
		if (gcd(i, o->count) == 1)
			o->coprimes[o->ncoprimes++] = (uint16_t)i;
}

/* Up to STEAL_STRIDES coprimes of s spread evenly over all of them. */
static void fill_strides(struct steal_order *o, uint32_t s)
{
	uint32_t factors[8], nfactors = 0, n = s, f, c, k, phi = 0, idx = 0, next = 0;

	if (o->nstrides[s])
		return;
	for (f = 2; f * f <= n; f++) {
		if (n % f)
			continue;
		factors[nfactors++] = f;
		while (n % f == 0)
			n /= f;
	}
	if (n > 1)
		factors[nfactors++] = n;
	phi = s;
	for (k = 0; k < nfactors; k++)
		phi = phi / factors[k] * (factors[k] - 1);
	/* The j-th stride is the (j * phi / STEAL_STRIDES)-th coprime. */
	for (c = 1; c <= s && o->nstrides[s] < STEAL_STRIDES; c++) {
		for (k = 0; k < nfactors && c % factors[k]; k++)
			;
		if (k < nfactors)
			continue;
		if (idx++ != next)
			continue;
		o->strides[s][o->nstrides[s]++] = (uint16_t)c;
		next = phi <= STEAL_STRIDES ? idx : (uint32_t)o->nstrides[s] * phi / STEAL_STRIDES;
	}
}

/* Classes of every victim node for a thief on node n (steal.h, "Classes"). */
static void node_classes(struct steal_order *o, int n, const struct topo *t, const bool *has_ps,
			 bool by_node)
{
	uint8_t dist[STEAL_MAX_NODES];
	uint32_t ndist = 0, i, j, m;
	uint8_t d;

	for (m = 0; m < o->nnodes; m++) {
		if ((int)m == n || !has_ps[m])
			continue;
		d = t->distance[n][m];
		for (i = 0; i < ndist && dist[i] < d; i++)
			;
		if (i < ndist && dist[i] == d)
			continue;
		for (j = ndist++; j > i; j--)
			dist[j] = dist[j - 1];
		dist[i] = d;
	}
	memset(o->node_class[n], NO_CLASS, sizeof(o->node_class[n]));
	o->node_class[n][n] = 0;
	o->class_distance[n][0] = t->distance[n][n];
	for (m = 0; m < o->nnodes; m++) {
		if ((int)m == n || !has_ps[m])
			continue;
		for (i = 0; dist[i] != t->distance[n][m]; i++)
			;
		o->node_class[n][m] = (uint8_t)(by_node ? 1 : i + 1);
	}
	if (by_node) {
		o->nclasses[n] = ndist ? 2 : 1;
		o->class_distance[n][1] = ndist ? dist[0] : 0;
		return;
	}
	o->nclasses[n] = (uint8_t)(ndist + 1);
	for (i = 0; i < ndist; i++)
		o->class_distance[n][i + 1] = dist[i];
}

/* Node n's Ps sorted by class (a counting sort), one tier per class. */
static void node_tiers(struct steal_order *o, int n)
{
	uint32_t cnt[STEAL_MAX_NODES] = { 0 }, at[STEAL_MAX_NODES];
	uint32_t base = (uint32_t)n * STEAL_MAX_PROCS, pos = base, c, p;
	const uint8_t *cls = o->node_class[n];

	for (p = 0; p < o->count; p++)
		cnt[cls[o->p_node[p]]]++;
	o->ntiers[n] = 0;
	for (c = 0; c < o->nclasses[n]; c++) {
		at[c] = pos;
		if (!cnt[c])
			continue;
		o->tiers[n][o->ntiers[n]++] = (struct steal_tier){ .start = pos,
								   .size = (uint16_t)cnt[c],
								   .cls = (uint16_t)c };
		fill_strides(o, cnt[c]);
		pos += cnt[c];
	}
	for (p = 0; p < o->count; p++)
		o->perm[at[cls[o->p_node[p]]]++] = (uint16_t)p;
}

static int check_args(uint32_t count, enum steal_policy pol, const int *p_node,
		      const struct topo *t)
{
	uint32_t p;

	if (count == 0 || count > STEAL_MAX_PROCS || (unsigned int)pol > STEAL_DISTANCE)
		return -EINVAL;
	if (!p_node != !t || (pol != STEAL_FLAT && !t))
		return -EINVAL;
	if (t && (t->nnodes < 1 || t->nnodes > STEAL_MAX_NODES))
		return -EINVAL;
	for (p = 0; t && p < count; p++)
		if (p_node[p] < 0 || p_node[p] >= t->nnodes)
			return -EINVAL;
	return 0;
}

/* The flat order needs no topology; classes come from one when given. */
static void build_flat(struct steal_order *o)
{
	uint32_t n, p;

	flat_coprimes(o);
	for (p = 0; p < o->count; p++)
		o->perm[p] = (uint16_t)p;
	for (n = 0; n < o->nnodes; n++) {
		o->ntiers[n] = 1;
		o->tiers[n][0] = (struct steal_tier){ .start = 0, .size = (uint16_t)o->count };
	}
}

int steal_order_build(struct steal_order *o, uint32_t count, enum steal_policy pol,
		      const int *p_node, const struct topo *t)
{
	bool has_ps[STEAL_MAX_NODES] = { false };
	uint32_t n, p;

	if (check_args(count, pol, p_node, t))
		return -EINVAL;
	o->count = count;
	o->policy = pol;
	o->nnodes = t ? (uint32_t)t->nnodes : 1;
	o->ncoprimes = 0;
	memset(o->nstrides, 0, sizeof(o->nstrides));
	for (p = 0; p < count; p++) {
		o->p_node[p] = p_node ? (uint8_t)p_node[p] : 0;
		has_ps[o->p_node[p]] = true;
	}
	for (n = 0; n < o->nnodes; n++) {
		if (t) {
			node_classes(o, (int)n, t, has_ps, pol == STEAL_NODE);
		} else {
			o->nclasses[n] = 1;
			o->node_class[n][0] = 0;
			o->class_distance[n][0] = TOPO_DISTANCE_LOCAL;
		}
	}
	if (pol == STEAL_FLAT) {
		build_flat(o);
		return 0;
	}
	for (n = 0; n < o->nnodes; n++)
		node_tiers(o, (int)n);
	return 0;
}

int steal_order_init(struct steal_order *o, uint32_t count)
{
	return steal_order_build(o, count, STEAL_FLAT, NULL, NULL);
}

uint32_t steal_order_nclasses(const struct steal_order *o, int32_t self)
{
	return o->nclasses[(uint32_t)self < o->count ? o->p_node[self] : 0];
}

uint32_t steal_order_class_distance(const struct steal_order *o, int node, uint32_t cls)
{
	if (node < 0 || (uint32_t)node >= o->nnodes || cls >= o->nclasses[node])
		return 0;
	return o->class_distance[node][cls];
}
