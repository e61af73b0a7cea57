/* SPDX-License-Identifier: MIT */
/*
 * numa/topology.h - which CPUs (or Ps) belong to which NUMA node, and how
 * far the nodes are from each other.
 *
 * Where a topology comes from
 * ---------------------------
 * topo_from_system reads the machine's topology through libnuma.  Node
 * numbers are the kernel's, so a node of a struct topo can be handed to
 * node_alloc (numa/mem.h) as it is.  Nodes without CPUs (memory only, or
 * holes in the kernel's node numbering) are kept, with no CPUs: they can
 * hold memory but own no P.
 *
 * topo_parse reads a synthetic topology from a string, the value of the
 * environment variable RINGO_NUMA_TOPOLOGY, so that the NUMA-aware steal
 * orders can be exercised on a single-node machine.  Its nodes usually do
 * not exist in the machine: numa/mem.h falls back to plain memory for them.
 *
 * Node sets hold either CPU numbers (every system topology, and synthetic
 * "cpu" ones) or P indices (synthetic "p" ones, which say directly which P
 * is on which node whatever CPU it runs on).  topo_node_of_p hides the
 * difference from the scheduler.
 *
 * Syntax of RINGO_NUMA_TOPOLOGY
 * -----------------------------
 *	topology  := nodes [ "/" distances ]
 *	nodes     := node { ";" node }           node i is the i-th, from 0
 *	node      := ( "p" | "cpu" ) ranges      all nodes use the same kind
 *	ranges    := range { "," range }
 *	range     := N [ "-" N ]                 inclusive, start <= end
 *	distances := row { ";" row }             nnodes rows
 *	row       := N { "," N }                 nnodes entries, row i = from node i
 *
 * N is a decimal number.  Blanks (spaces and tabs) may stand before and
 * after any token, but not inside a number or keyword.  Rules:
 *  - at most TOPO_MAX_NODES nodes; ids (CPUs or Ps) below TOPO_MAX_IDS;
 *  - every id is listed once, in one node;
 *  - "p" topologies list the Ps 0..k-1 without holes (a P >= k is mapped
 *    periodically, see topo_node_of_p); "cpu" ones may have holes;
 *  - distances are 1..255 (Linux convention: 10 = local); without them,
 *    10 on the diagonal and 20 elsewhere; the matrix may be asymmetric, but
 *    the local distance must be strictly the smallest of its row.
 *
 * Examples:
 *	p0-1;p2-3                       2 nodes of 2 Ps, distances 10/20
 *	p0-1;p2-3/10,20;20,10           the same, explicitly
 *	p0,2;p1,3                       even Ps on node 0, odd Ps on node 1
 *	cpu0-3;cpu4-7;cpu8-11;cpu12-15/10,16,16,22;16,10,22,16;16,22,10,16;22,16,16,10
 *
 * Concurrency: a struct topo is built once (start-up) and read-only after;
 * the readers below take no lock and may run anywhere, signal handlers
 * included (topo_from_system and topo_parse excepted).
 */
#ifndef RINGO_NUMA_TOPOLOGY_H
#define RINGO_NUMA_TOPOLOGY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOPO_MAX_NODES 64
#define TOPO_MAX_IDS   4096 /* CPU numbers and P indices are below this */
#define TOPO_NO_NODE   0xff /* node_of[] of an id no node lists */

#define TOPO_DISTANCE_LOCAL  10 /* defaults, as in the kernel's SLIT */
#define TOPO_DISTANCE_REMOTE 20

enum topo_kind {
	TOPO_CPUS, /* node sets hold CPU numbers */
	TOPO_PS,   /* node sets hold P indices (synthetic only) */
};

struct topo {
	int nnodes;			/* 1..TOPO_MAX_NODES */
	enum topo_kind kind;		/* what the node sets hold */
	bool synthetic;			/* from topo_parse, not the machine */
	int nids;			/* 1 + the highest id listed, 0 if none */
	int nlisted;			/* ids listed in all nodes; == nids for TOPO_PS */
	int fallback_node;		/* node of an unlisted CPU: the first node listing one */
	int node_count[TOPO_MAX_NODES]; /* ids listed in each node */
	/* distance[from][to], 1..255, distance[n][n] local (10 on Linux). */
	uint8_t distance[TOPO_MAX_NODES][TOPO_MAX_NODES];
	/* The node sets: node_of[id] is the node listing id, or TOPO_NO_NODE. */
	uint8_t node_of[TOPO_MAX_IDS];
};

/* Where and why topo_parse failed. */
struct topo_error {
	int pos;	 /* 0-based offset of the offending character */
	const char *msg; /* static string, e.g. "expected a number" */
};

/*
 * Fill t with the machine's topology (libnuma).  Where libnuma is not
 * usable (numa_available() < 0: no NUMA support in the kernel, or blocked
 * system calls) the result is one node holding every configured CPU at
 * distance 10.  Nodes numbered TOPO_MAX_NODES and above are left out (their
 * CPUs become unlisted, see topo_node_of_cpu), as are CPUs numbered
 * TOPO_MAX_IDS and above.  Unknown distances default to 10 / 20.
 * Returns 0; may allocate and read sysfs (start-up only).
 */
int topo_from_system(struct topo *t);

/*
 * Parse s (syntax above) into t, which is marked synthetic.  Returns 0, or
 * -EINVAL with *err set (t is then unspecified).  Pure: no allocation, no
 * global state, any thread; uses about 20 KiB of stack (not for a
 * goroutine's stack).
 */
int topo_parse(const char *s, struct topo *t, struct topo_error *err);

/*
 * Format a parse error as
 *	RINGO_NUMA_TOPOLOGY: <msg> at position <pos>: "<value>"
 *	    <value>
 *	    <blanks>^
 * (no trailing newline; control characters in value shown as '?') into
 * buf, truncated to len bytes including the NUL.  Returns what snprintf
 * would: the length of the whole text.
 */
int topo_format_error(char *buf, size_t len, const char *value, const struct topo_error *err);

/*
 * Describe t in a few lines (nodes, their members as ranges, the distance
 * matrix) into buf, for RINGO_DEBUG=scheddetail and diagnostics; each line
 * ends in '\n'.  Truncated to len bytes including the NUL; returns the
 * length of the whole text, as snprintf.
 */
int topo_describe(const struct topo *t, char *buf, size_t len);

/* Whether node lists id (a CPU or a P, after t->kind). */
static inline bool topo_node_has(const struct topo *t, int node, int id)
{
	return id >= 0 && id < TOPO_MAX_IDS && t->node_of[id] == node;
}

/*
 * The node of CPU cpu.  A CPU no node lists (negative, too large, offline
 * when the topology was read, left out of a synthetic "cpu" topology) is on
 * t->fallback_node, node 0 unless node 0 has no CPUs.  For a "p" topology,
 * where no CPU is known, every CPU is on the fallback node.
 */
static inline int topo_node_of_cpu(const struct topo *t, int cpu)
{
	if (t->kind != TOPO_CPUS || cpu < 0 || cpu >= TOPO_MAX_IDS ||
	    t->node_of[cpu] == TOPO_NO_NODE)
		return t->fallback_node;
	return t->node_of[cpu];
}

/*
 * The node of P p.  CPU topologies: the node of its home CPU p_home_cpu[p]
 * (p_home_cpu == NULL means P i's home CPU is CPU i; a negative home CPU,
 * meaning unpinned, gives the fallback node).  P topologies: the node
 * listing p; a P beyond the k listed ones maps periodically, to the node of
 * P (p mod k), so "p0-1;p2-3" puts P4, P5 on node 0 and P6, P7 on node 1.
 * A negative p gives the fallback node.
 */
static inline int topo_node_of_p(const struct topo *t, int p, const int *p_home_cpu)
{
	if (p < 0)
		return t->fallback_node;
	if (t->kind == TOPO_CPUS)
		return topo_node_of_cpu(t, p_home_cpu ? p_home_cpu[p] : p);
	if (t->nlisted <= 0)
		return t->fallback_node;
	return t->node_of[p % t->nlisted];
}

#endif /* RINGO_NUMA_TOPOLOGY_H */
