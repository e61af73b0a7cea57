/* SPDX-License-Identifier: MIT */
/*
 * runtime/affinity.c - Ps and CPUs, NUMA nodes, and the counters that show
 * where work ran.
 *
 * Home CPU and node.  P i's home CPU is the (i mod n)-th of the n CPUs in
 * the affinity mask rg_main found; its home node is that CPU's node in the
 * topology in use (sched.topo: the machine's from libnuma, or a synthetic
 * one from RINGO_NUMA_TOPOLOGY, whose "p" form assigns Ps to nodes
 * directly).  Home nodes decide the steal order (numa/steal.h: the thief's
 * node first, then nodes by distance, per sched.steal_policy) and where
 * the P structure and its run queue live (node_alloc, numa/mem.h, with a
 * plain mapping when the node has no memory or does not exist), and which
 * memory node its goroutine stacks come from (stackcache_init,
 * runtime/stack.c).
 *
 * Where an M runs.  At every schedule that starts a time slice the M reads
 * its CPU from rseq (kernel_iface/rseq.h: a load from the thread's rseq
 * area, about a nanosecond; sched_getcpu() without rseq) and records it on
 * itself and its P (affinity_schedule).  A P seen on another CPU than at its
 * previous schedule counts a migration: the kernel moved the M, or the P
 * changed Ms.  Nothing else reacts to it: the M notices at its next
 * schedule, as it is.
 *
 * Soft affinity.  When a P is handed to an idle M (startm), the M last seen
 * on the P's home CPU is preferred (mget_near, among the first few idle
 * Ms), so that a P tends to run where its caches are without any system
 * call (CONFIG_SOFT_AFFINITY, RINGO_DEBUG=softaffinity=0|1; off, the most
 * recently idled M is taken, as in Go).  Hard pinning (CONFIG_P_PIN, RINGO_DEBUG=ppin=1) pins the M that
 * takes a P to its home CPU with sched_setaffinity (about 34 us per forced
 * migration here), for experiments only: it fights cpusets and CPU quotas.
 *
 * Counters (pp->stats, struct p_stats in runtime/affinity.h; read as
 * struct rg_p_stats, ringo.h): steals and stolen goroutines by distance
 * class of the victim (steal_iter_class), wake-ups by whether the woken
 * goroutine last ran on the waker's node, migrations.  Each P's are
 * written by its owner only, relaxed; rg_sched_stats sums them from any
 * thread.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ringo.h"
#include "kernel_iface/rseq.h"
#include "numa/mem.h"
#include "runtime/affinity.h"
#include "runtime/runq.h"
#include "runtime/env.h"
#include "runtime/runtime.h"

#define AFFINITY_MAX_CPUS TOPO_MAX_IDS
#define MGET_NEAR_SCAN	  8 /* idle Ms looked at for one on the home CPU */

#if IS_ENABLED(CONFIG_STEAL_POLICY_FLAT)
#define STEAL_POLICY_DEFAULT STEAL_FLAT
#elif IS_ENABLED(CONFIG_STEAL_POLICY_NODE)
#define STEAL_POLICY_DEFAULT STEAL_NODE
#else
#define STEAL_POLICY_DEFAULT STEAL_DISTANCE
#endif

int affinity_init(const struct rg_env *env)
{
	struct topo_error err;
	int n, r;

	if (env->numa_topology) {
		r = topo_parse(env->numa_topology, &sched.topo, &err);
		if (r) {
			char msg[512];

			topo_format_error(msg, sizeof(msg), env->numa_topology, &err);
			fprintf(stderr, "ringo: %s\n", msg);
			return -EINVAL;
		}
	} else {
		r = topo_from_system(&sched.topo);
		if (r)
			return r;
	}
	sched.steal_policy = env->stealpolicy ? (enum steal_policy)(env->stealpolicy - 1) :
						STEAL_POLICY_DEFAULT;
	sched.ppin = env->ppin ? env->ppin == 2 : IS_ENABLED(CONFIG_P_PIN);
	sched.softaffinity = env->softaffinity ? env->softaffinity == 2 :
						 IS_ENABLED(CONFIG_SOFT_AFFINITY);
	sched.cpus = rt_calloc(AFFINITY_MAX_CPUS, sizeof(*sched.cpus));
	if (!sched.cpus)
		return -ENOMEM;
	n = ki_affinity_cpus(sched.cpus, AFFINITY_MAX_CPUS);
	if (n < 1) {
		sched.cpus[0] = -1; /* unknown: no home CPU, the fallback node */
		n = 1;
	}
	sched.ncpus = n;
	krseq_probe();
	return 0;
}

void affinity_fini(void)
{
	rt_free(sched.cpus);
	sched.cpus = NULL;
}

void affinity_home(int32_t id, int32_t *cpu, int32_t *node)
{
	*cpu = sched.cpus[id % sched.ncpus];
	/* For a "p" topology the P index decides; for CPUs its home CPU. */
	*node = sched.topo.kind == TOPO_CPUS ? topo_node_of_cpu(&sched.topo, *cpu) :
					       topo_node_of_p(&sched.topo, id, NULL);
}

int affinity_steal_order(int32_t n)
{
	int p_node[STEAL_MAX_PROCS];
	int32_t i;

	for (i = 0; i < n; i++)
		p_node[i] = sched.allp[i]->home_node;
	return steal_order_build(&sched.steal, (uint32_t)n, sched.steal_policy, p_node,
				 &sched.topo);
}

struct p *affinity_p_alloc(int32_t id)
{
	int32_t cpu, node;
	struct p *pp;

	affinity_home(id, &cpu, &node);
	pp = node_alloc(sizeof(*pp), node); /* page-aligned, zeroed */
	if (!pp)
		return NULL;
	pp->home_cpu = cpu;
	pp->home_node = node;
	stackcache_init(&pp->stackcache, node); /* stacks from its node's memory */
	store_relaxed(&pp->stats.cpu, -1);
	store_relaxed(&pp->stats.node, -1);
	return pp;
}

void affinity_p_free(struct p *pp)
{
	node_free(pp, sizeof(*pp));
}

void affinity_minit(struct m *mp)
{
	store_relaxed(&mp->cpu, -1);
	mp->pinned_cpu = -1;
	krseq_thread_init();
}

void affinity_mexit(struct m *mp)
{
	(void)mp;
	krseq_thread_fini();
}

void affinity_schedule_slow(struct m *mp, int32_t cpu)
{
	struct p *pp = mp->p;

	store_relaxed(&mp->cpu, cpu);
	if (load_relaxed(&pp->stats.cpu) >= 0)
		store_relaxed(&pp->stats.migrations, load_relaxed(&pp->stats.migrations) + 1);
	store_relaxed(&pp->stats.cpu, cpu);
	store_relaxed(&pp->stats.node, topo_node_of_cpu(&sched.topo, cpu));
}

void affinity_pin(struct m *mp, struct p *pp)
{
	if (pp->home_cpu < 0 || mp->pinned_cpu == pp->home_cpu)
		return;
	if (ki_pin_thread(pp->home_cpu) == 0)
		mp->pinned_cpu = pp->home_cpu;
}

struct m *mget_near(struct p *pp)
{
	struct m **link = &sched.midle, *mp;
	int i;

	assert_lock_held(&sched.lock);
	for (i = 0; sched.softaffinity && i < MGET_NEAR_SCAN && (mp = *link) != NULL;
	     i++, link = &mp->schedlink) {
		if (load_relaxed(&mp->cpu) == pp->home_cpu) {
			*link = mp->schedlink;
			sched.nmidle--;
			return mp;
		}
	}
	mp = sched.midle;
	if (mp) {
		sched.midle = mp->schedlink;
		sched.nmidle--;
	}
	return mp;
}

/* A steal from another node: did a P of pp's node have goroutines queued?
 * (the steals a node-aware order should avoid) */
static void count_remote_steal(struct p *pp)
{
	int32_t n = load_relaxed(&sched.nprocs), i;

	for (i = 0; i < n; i++) {
		struct p *p2 = sched.allp[i];

		if (p2 != pp && p2->home_node == pp->home_node && runqlen(p2) > 0) {
			store_relaxed(&pp->stats.steals_remote_local_work,
				      load_relaxed(&pp->stats.steals_remote_local_work) + 1);
			return;
		}
	}
}

void affinity_count_steal(struct p *pp, uint32_t cls, uint32_t n)
{
	struct p_stats *st = &pp->stats;

	if (cls >= RG_STATS_CLASSES)
		cls = RG_STATS_CLASSES - 1;
	store_relaxed(&st->steals[cls], load_relaxed(&st->steals[cls]) + 1);
	store_relaxed(&st->stolen[cls], load_relaxed(&st->stolen[cls]) + n);
	if (cls > 0)
		count_remote_steal(pp);
}

/* --- statistics ------------------------------------------------------------ */

static void p_stats_read(const struct p *pp, struct rg_p_stats *out)
{
	int c;

	memset(out, 0, sizeof(*out));
	out->home_cpu = pp->home_cpu;
	out->home_node = pp->home_node;
	out->cpu = load_relaxed(&pp->stats.cpu);
	out->node = load_relaxed(&pp->stats.node);
	out->schedules = load_relaxed(&pp->schedtick);
	for (c = 0; c < RG_STATS_CLASSES; c++) {
		out->steals[c] = load_relaxed(&pp->stats.steals[c]);
		out->stolen[c] = load_relaxed(&pp->stats.stolen[c]);
	}
	out->steals_remote_local_work = load_relaxed(&pp->stats.steals_remote_local_work);
	out->wakeups_local = load_relaxed(&pp->stats.wake_local);
	out->wakeups_remote = load_relaxed(&pp->stats.wake_remote);
	out->migrations = load_relaxed(&pp->stats.migrations);
}

int rg_sched_p_stats(int p, struct rg_p_stats *out)
{
	int32_t n = load_acquire(&sched.nprocs);

	if (!out || p < 0)
		return -EINVAL;
	if (n <= 0 || !sched.allp)
		return -ESRCH;
	if (p >= n)
		return -EINVAL;
	p_stats_read(sched.allp[p], out);
	return 0;
}

/* The size of the first version of struct rg_sched_stats. */
#define SCHED_STATS_V1 offsetof(struct rg_sched_stats, soft_affinity)

int rg_sched_stats(struct rg_sched_stats *out)
{
	int32_t n = load_acquire(&sched.nprocs), i;
	struct rg_sched_stats s;
	uint32_t nclasses = 1;
	int c;

	if (!out || out->size < SCHED_STATS_V1)
		return -EINVAL;
	if (n <= 0 || !sched.allp)
		return -ESRCH;
	memset(&s, 0, sizeof(s));
	s.size = out->size < sizeof(s) ? out->size : (uint32_t)sizeof(s);
	s.nprocs = n;
	s.nnodes = sched.topo.nnodes;
	s.synthetic = sched.topo.synthetic;
	s.steal_policy = steal_policy_name(sched.steal_policy);
	s.rseq = krseq_mode_name();
	s.pinned = sched.ppin;
	s.soft_affinity = sched.softaffinity;
	s.total.home_cpu = s.total.home_node = s.total.cpu = s.total.node = -1;
	for (i = 0; i < n; i++) {
		struct rg_p_stats ps;
		uint32_t k = steal_order_nclasses(&sched.steal, i);

		p_stats_read(sched.allp[i], &ps);
		if (k > nclasses)
			nclasses = k;
		s.total.schedules += ps.schedules;
		for (c = 0; c < RG_STATS_CLASSES; c++) {
			s.total.steals[c] += ps.steals[c];
			s.total.stolen[c] += ps.stolen[c];
		}
		s.total.steals_remote_local_work += ps.steals_remote_local_work;
		s.total.wakeups_local += ps.wakeups_local;
		s.total.wakeups_remote += ps.wakeups_remote;
		s.total.migrations += ps.migrations;
	}
	s.nclasses = (int32_t)(nclasses < RG_STATS_CLASSES ? nclasses : RG_STATS_CLASSES);
	memcpy(out, &s, s.size);
	return 0;
}
