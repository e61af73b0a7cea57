/* SPDX-License-Identifier: MIT */
/*
 * runtime/affinity.h - Ps and CPUs, NUMA nodes, and the counters that show
 * where work ran.
 *
 * See the design comment at the top of runtime/affinity.c.
 */
#ifndef RINGO_RUNTIME_AFFINITY_H
#define RINGO_RUNTIME_AFFINITY_H

#include <stdbool.h>
#include <stdint.h>

#include "ringo.h"
#include "kernel_iface/rseq.h"
#include "runtime/compiler.h"

struct g;
struct m;
struct p;
struct rg_env;

/*
 * Where a P's M last scheduled, and the counters of rg_sched_p_stats,
 * pp->stats.  The P's owner writes them (relaxed), anyone reads them; on
 * cache lines of their own.  Only affinity.c writes them.
 */
struct p_stats {
	_Atomic int32_t cpu cacheline_aligned; /* -1: not yet scheduled */
	_Atomic int32_t node;
	_Atomic uint64_t steals[RG_STATS_CLASSES]; /* by class of the victim */
	_Atomic uint64_t stolen[RG_STATS_CLASSES];
	_Atomic uint64_t steals_remote_local_work;
	_Atomic uint64_t wake_local, wake_remote, migrations;
};

/* Topology, steal policy, pinning and the affinity mask's CPUs, from the
 * environment (rg_main).  0, -EINVAL for a bad RINGO_NUMA_TOPOLOGY (said on
 * stderr), -ENOMEM. */
int affinity_init(const struct rg_env *env);
void affinity_fini(void);
/* P id's home CPU and node. */
void affinity_home(int32_t id, int32_t *cpu, int32_t *node);
/* A zeroed P on its home node (home_cpu, home_node and its stats set), or
 * NULL. */
struct p *affinity_p_alloc(int32_t id);
void affinity_p_free(struct p *pp);
/* Rebuild sched.steal for n Ps (stop-the-world).  0 or -EINVAL. */
int affinity_steal_order(int32_t n);
/* Per-thread set-up and tear-down of an M (rseq registration). */
void affinity_minit(struct m *mp);
void affinity_mexit(struct m *mp);
/* Pin mp to pp's home CPU (sched.ppin).  mp's thread. */
void affinity_pin(struct m *mp, struct p *pp);
/* An idle M, preferring one last seen on pp's home CPU.  sched.lock. */
struct m *mget_near(struct p *pp);

void affinity_schedule_slow(struct m *mp, int32_t cpu);
/* At a schedule that starts a time slice on mp's P, whose stats are st:
 * where is this M now?  (mp's thread; see "Where an M runs" in
 * runtime/affinity.c) */
static inline void affinity_schedule(struct m *mp, struct p_stats *st)
{
	int32_t cpu = cpu_current();

	if (unlikely(cpu != load_relaxed(&st->cpu)))
		affinity_schedule_slow(mp, cpu);
}

/* Count a steal by pp of n goroutines from a victim of class cls.  Owner
 * of pp. */
void affinity_count_steal(struct p *pp, uint32_t cls, uint32_t n);

/* Count a wake-up by the P whose stats are st; local: the woken goroutine
 * last ran on that P's node.  Owner of the P. */
static inline void affinity_count_wake(struct p_stats *st, bool local)
{
	_Atomic uint64_t *c = local ? &st->wake_local : &st->wake_remote;

	store_relaxed(c, load_relaxed(c) + 1);
}

#endif /* RINGO_RUNTIME_AFFINITY_H */
