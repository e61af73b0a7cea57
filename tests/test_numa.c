/* SPDX-License-Identifier: MIT */
/*
 * test_numa.c - the NUMA layer on its own, without the runtime: parsing
 * RINGO_NUMA_TOPOLOGY, the machine's topology, the steal orders of every
 * policy over synthetic topologies, and node-local memory with its
 * fallback.
 */
#include <errno.h>
#include <glob.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <numaif.h>

#include "numa/mem.h"
#include "numa/steal.h"
#include "numa/topology.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define NSEEDS 200
#else
#define NSEEDS 1000
#endif

#define SEED(i) ((uint32_t)(i)*2654435761u)

static struct topo topo;
static struct steal_order order;

static void parse_ok(const char *s, struct topo *t)
{
	struct topo_error err = { 0, NULL };
	int rc = topo_parse(s, t, &err);

	if (rc)
		print_error("topo_parse(\"%s\"): %s at %d\n", s, err.msg, err.pos);
	assert_int_equal(rc, 0);
}

/* --- RINGO_NUMA_TOPOLOGY: good strings ------------------------------------- */

static void test_parse_two_nodes(void **state)
{
	static const char *const same[] = {
		"p0-1;p2-3",
		"p0-1;p2-3/10,20;20,10",
		" p 0 - 1 ; p2-3 / 10 , 20 ; 20,10 ",
		"p0,1;p2,3",
	};
	unsigned int i;
	int p;

	(void)state;
	for (i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		parse_ok(same[i], &topo);
		assert_int_equal(topo.nnodes, 2);
		assert_int_equal(topo.kind, TOPO_PS);
		assert_true(topo.synthetic);
		assert_int_equal(topo.nids, 4);
		assert_int_equal(topo.nlisted, 4);
		assert_int_equal(topo.fallback_node, 0);
		assert_int_equal(topo.node_count[0], 2);
		assert_int_equal(topo.node_count[1], 2);
		for (p = 0; p < 4; p++) {
			assert_int_equal(topo.node_of[p], p / 2);
			assert_true(topo_node_has(&topo, p / 2, p));
			assert_false(topo_node_has(&topo, 1 - p / 2, p));
		}
		assert_int_equal(topo.node_of[4], TOPO_NO_NODE);
		assert_int_equal(topo.distance[0][0], 10);
		assert_int_equal(topo.distance[0][1], 20);
		assert_int_equal(topo.distance[1][0], 20);
		assert_int_equal(topo.distance[1][1], 10);
	}
}

static void test_parse_interleaved_and_periodic(void **state)
{
	int p;

	(void)state;
	parse_ok("p0,2;p1,3", &topo);
	for (p = 0; p < 4; p++)
		assert_int_equal(topo.node_of[p], p % 2);
	/* Ps beyond the listed ones map periodically. */
	parse_ok("p0-1;p2-3", &topo);
	for (p = 0; p < 16; p++)
		assert_int_equal(topo_node_of_p(&topo, p, NULL), (p % 4) / 2);
	assert_int_equal(topo_node_of_p(&topo, -1, NULL), 0);
	/* A "p" topology knows no CPUs: all on the fallback node. */
	assert_int_equal(topo_node_of_cpu(&topo, 3), 0);
}

static void test_parse_cpu_four_nodes(void **state)
{
	static const uint8_t want[4][4] = {
		{ 10, 16, 16, 22 },
		{ 16, 10, 22, 16 },
		{ 16, 22, 10, 16 },
		{ 22, 16, 16, 10 },
	};
	int home[4] = { 15, 0, 9, -1 };
	int n, m, cpu;

	(void)state;
	parse_ok("cpu0-3;cpu4-7;cpu8-11;cpu12-15/10,16,16,22;16,10,22,16;16,22,10,16;22,16,16,10",
		 &topo);
	assert_int_equal(topo.nnodes, 4);
	assert_int_equal(topo.kind, TOPO_CPUS);
	assert_true(topo.synthetic);
	assert_int_equal(topo.nids, 16);
	for (n = 0; n < 4; n++) {
		assert_int_equal(topo.node_count[n], 4);
		for (m = 0; m < 4; m++)
			assert_int_equal(topo.distance[n][m], want[n][m]);
	}
	for (cpu = 0; cpu < 16; cpu++)
		assert_int_equal(topo_node_of_cpu(&topo, cpu), cpu / 4);
	/* Unknown CPUs are on the fallback node. */
	assert_int_equal(topo_node_of_cpu(&topo, 16), 0);
	assert_int_equal(topo_node_of_cpu(&topo, -1), 0);
	assert_int_equal(topo_node_of_cpu(&topo, 1 << 20), 0);
	/* A P's node is its home CPU's; no table: P i on CPU i. */
	assert_int_equal(topo_node_of_p(&topo, 0, home), 3);
	assert_int_equal(topo_node_of_p(&topo, 1, home), 0);
	assert_int_equal(topo_node_of_p(&topo, 2, home), 2);
	assert_int_equal(topo_node_of_p(&topo, 3, home), 0);
	assert_int_equal(topo_node_of_p(&topo, 5, NULL), 1);
}

static void test_parse_cpu_holes(void **state)
{
	(void)state;
	/* CPU topologies may leave CPUs out; node 0 is the fallback. */
	parse_ok("cpu0-1,8;cpu4-5/10,30;40,10", &topo);
	assert_int_equal(topo.nids, 9);
	assert_int_equal(topo.nlisted, 5);
	assert_int_equal(topo.node_count[0], 3);
	assert_int_equal(topo_node_of_cpu(&topo, 8), 0);
	assert_int_equal(topo_node_of_cpu(&topo, 5), 1);
	assert_int_equal(topo_node_of_cpu(&topo, 2), 0);
	assert_int_equal(topo.distance[0][1], 30);
	assert_int_equal(topo.distance[1][0], 40);
	parse_ok("p0-1/10", &topo);
	assert_int_equal(topo.nnodes, 1);
	parse_ok("p0-4095", &topo);
	assert_int_equal(topo.nids, TOPO_MAX_IDS);
}

/* "p0;p1;...": n nodes of one P; *last is where the last node starts. */
static char *many_nodes(int n, int *last)
{
	char *s = malloc((size_t)n * 8 + 1);
	int i, len = 0;

	for (i = 0; i < n; i++) {
		*last = len + (i ? 1 : 0);
		len += sprintf(s + len, i ? ";p%d" : "p%d", i);
	}
	return s;
}

static void test_parse_64_nodes(void **state)
{
	int last;
	char *s = many_nodes(TOPO_MAX_NODES, &last);

	(void)state;
	parse_ok(s, &topo);
	assert_int_equal(topo.nnodes, TOPO_MAX_NODES);
	assert_int_equal(topo.node_of[63], 63);
	free(s);
}

/* --- RINGO_NUMA_TOPOLOGY: bad strings ------------------------------------ */

struct bad {
	const char *s;
	int pos;
	const char *msg;
};

static const struct bad bads[] = {
	{ "", 0, "empty topology" },
	{ "  ", 0, "empty topology" },
	{ "p0-1;", 5, "expected \"p\" or \"cpu\"" },
	{ "p0-1,", 5, "expected a number" },
	{ "p0-1;p2-3/", 10, "expected a number" },
	{ "p0;;p1", 3, "expected \"p\" or \"cpu\"" },
	{ "p0-1;p1-2", 6, "P listed in two nodes" },
	{ "cpu0-3;cpu3", 10, "CPU listed in two nodes" },
	{ "p0,0", 3, "P listed twice" },
	{ "p0-1;p2-3/10,20", 15, "distance matrix is not N x N" },
	{ "p0-1;p2-3/10,20,30;20,10", 16, "distance matrix is not N x N" },
	{ "p0-1;p2-3/10;20,10", 12, "distance matrix is not N x N" },
	{ "p0-1;p2-3/10,20;20,10;10,20", 22, "distance matrix is not N x N" },
	{ "p0-1;p2-3/10,20;20,10;", 22, "distance matrix is not N x N" },
	{ "px", 1, "expected a number" },
	{ "p0-a", 3, "expected a number" },
	{ "q0", 0, "expected \"p\" or \"cpu\"" },
	{ "p0-1x", 4, "expected \",\", \";\" or \"/\"" },
	{ "p0-1;p2-3/10,20;20,10x", 21, "expected \",\" or \";\"" },
	{ "p3-1", 3, "range end before start" },
	{ "p0-1;cpu2-3", 5, "all nodes must be \"p\" or all \"cpu\"" },
	{ "cpu0-3;p4", 7, "all nodes must be \"p\" or all \"cpu\"" },
	{ "p0-1;p2-3/30,20;20,10", 10, "local distance must be smallest in its row" },
	{ "p0-1;p2-3/10,20;10,10", 19, "local distance must be smallest in its row" },
	{ "p0-1;p2-3/10,0;20,10", 13, "distance must be 1..255" },
	{ "p0-1;p2-3/10,256;20,10", 13, "distance must be 1..255" },
	{ "p0;p2", 4, "Ps must be numbered 0..N-1 without holes" },
	{ "p1-2", 1, "Ps must be numbered 0..N-1 without holes" },
	{ "p0-4096", 3, "P number too large" },
	{ "p99999999999999", 1, "P number too large" },
};

static void test_parse_errors(void **state)
{
	struct topo_error err;
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		err.pos = -1;
		err.msg = NULL;
		if (topo_parse(bads[i].s, &topo, &err) != -EINVAL) {
			print_error("\"%s\" parsed\n", bads[i].s);
			fail();
		}
		if (err.pos != bads[i].pos || !err.msg || strcmp(err.msg, bads[i].msg)) {
			print_error("\"%s\": got \"%s\" at %d, want \"%s\" at %d\n", bads[i].s,
				    err.msg ? err.msg : "(null)", err.pos, bads[i].msg,
				    bads[i].pos);
			fail();
		}
	}
}

static void test_parse_65_nodes(void **state)
{
	struct topo_error err;
	int last;
	char *s = many_nodes(TOPO_MAX_NODES + 1, &last);

	(void)state;
	assert_int_equal(topo_parse(s, &topo, &err), -EINVAL);
	assert_string_equal(err.msg, "too many nodes");
	assert_int_equal(err.pos, last);
	free(s);
}

static void test_format_error(void **state)
{
	const char *value = "p0-1;p1-2";
	struct topo_error err;
	char buf[256], small[16];
	int n;

	(void)state;
	assert_int_equal(topo_parse(value, &topo, &err), -EINVAL);
	n = topo_format_error(buf, sizeof(buf), value, &err);
	assert_string_equal(buf, "RINGO_NUMA_TOPOLOGY: P listed in two nodes at position 6: "
				 "\"p0-1;p1-2\"\n"
				 "    p0-1;p1-2\n"
				 "          ^");
	assert_int_equal(n, (int)strlen(buf));
	/* Truncation as snprintf: the full length, a terminated prefix. */
	assert_int_equal(topo_format_error(small, sizeof(small), value, &err), n);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_memory_equal(small, buf, sizeof(small) - 1);
	/* Control characters are shown as '?', keeping the caret aligned. */
	assert_int_equal(topo_parse("p0\t\n", &topo, &err), -EINVAL);
	topo_format_error(buf, sizeof(buf), "p0\t\n", &err);
	assert_non_null(strstr(buf, "at position 3: \"p0??\"\n    p0??\n       ^"));
}

static void test_describe(void **state)
{
	char buf[1024];
	int n;

	(void)state;
	parse_ok("p0-1,4;p2-3,5/10,21;21,10", &topo);
	n = topo_describe(&topo, buf, sizeof(buf));
	assert_int_equal(n, (int)strlen(buf));
	assert_non_null(strstr(buf, "2 nodes, synthetic"));
	assert_non_null(strstr(buf, "node 0: Ps 0-1,4 (3)\n"));
	assert_non_null(strstr(buf, "node 1: Ps 2-3,5 (3)\n"));
	assert_non_null(strstr(buf, "    0:  10  21\n"));
	assert_int_equal(topo_describe(&topo, buf, 8), n);
	assert_int_equal(strlen(buf), 7);
	assert_int_equal(topo_describe(&topo, NULL, 0), n);
}

/* --- the machine ------------------------------------------------------------ */

static void test_topo_from_system(void **state)
{
	char buf[4096];
	cpu_set_t cpus;
	glob_t g;
	int cpu, nsys = 0, n;

	(void)state;
	if (glob("/sys/devices/system/node/node[0-9]*", 0, NULL, &g) == 0)
		nsys = (int)g.gl_pathc;
	globfree(&g);
	assert_int_equal(topo_from_system(&topo), 0);
	assert_false(topo.synthetic);
	assert_int_equal(topo.kind, TOPO_CPUS);
	assert_true(topo.nnodes >= 1);
	for (n = 0; n < topo.nnodes; n++)
		if (topo.node_count[n])
			assert_int_equal(topo.distance[n][n], 10);
	/* Every CPU we may run on is listed. */
	assert_int_equal(sched_getaffinity(0, sizeof(cpus), &cpus), 0);
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &cpus))
			continue;
		assert_int_not_equal(topo.node_of[cpu], TOPO_NO_NODE);
		assert_int_equal(topo_node_of_cpu(&topo, cpu), topo.node_of[cpu]);
	}
	if (nsys <= 1) {
		/* This machine: one node holding every CPU, distance 10. */
		assert_int_equal(topo.nnodes, 1);
		assert_int_equal(topo.distance[0][0], 10);
		assert_int_equal(topo.fallback_node, 0);
		assert_true(topo.node_count[0] >= CPU_COUNT(&cpus));
		for (cpu = 0; cpu < CPU_SETSIZE; cpu++)
			if (CPU_ISSET(cpu, &cpus))
				assert_int_equal(topo_node_of_p(&topo, cpu, NULL), 0);
	}
	assert_true(topo_describe(&topo, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "from the system"));
}

/* --- steal orders ----------------------------------------------------------- */

/* Go's randomOrder, as numa/steal.h implemented it before the policies. */
static void old_flat_order(uint32_t count, uint32_t rnd, uint32_t *out)
{
	uint32_t cop[STEAL_MAX_PROCS], ncop = 0, i, a, b, t, pos, inc;

	for (i = 1; i <= count; i++) {
		for (a = i, b = count; b; t = a % b, a = b, b = t)
			;
		if (a == 1)
			cop[ncop++] = i;
	}
	pos = rnd % count;
	inc = cop[(rnd / count) % ncop];
	for (i = 0; i < count; i++) {
		out[i] = pos;
		pos = (pos + inc) % count;
	}
}

/* The class a victim on node m should have for a thief on node n. */
static uint32_t want_class(const struct topo *t, const bool *has_ps, enum steal_policy pol, int n,
			   int m)
{
	uint8_t seen[256] = { 0 };
	uint32_t below = 0;
	int k;

	if (m == n)
		return 0;
	if (pol == STEAL_NODE)
		return 1;
	for (k = 0; k < t->nnodes; k++) {
		uint8_t d = t->distance[n][k];

		if (k != n && has_ps[k] && d < t->distance[n][m] && !seen[d]) {
			seen[d] = 1;
			below++;
		}
	}
	return below + 1;
}

/*
 * For every thief and NSEEDS seeds: each P once per pass; the right class
 * at each step; classes (NODE, DISTANCE) and distances (DISTANCE) never
 * decrease; FLAT is the old order.  Each tier's first victim covers the
 * whole tier over the seeds.
 */
static void check_policy(const char *spec, uint32_t count, enum steal_policy pol)
{
	int p_node[64];
	bool has_ps[TOPO_MAX_NODES] = { false };
	uint32_t self, s, i, old[64], first_seen[64];

	assert_true(count <= 64);
	parse_ok(spec, &topo);
	for (i = 0; i < count; i++) {
		p_node[i] = topo_node_of_p(&topo, (int)i, NULL);
		has_ps[p_node[i]] = true;
	}
	assert_int_equal(steal_order_build(&order, count, pol, p_node, &topo), 0);
	for (self = 0; self < count; self++) {
		int n = p_node[self];

		memset(first_seen, 0, sizeof(first_seen));
		for (s = 0; s < NSEEDS; s++) {
			uint8_t hit[64] = { 0 };
			uint32_t prev_class = 0, prev_dist = 0, steps = 0;
			struct steal_iter it;

			old_flat_order(count, SEED(s), old);
			for (steal_iter_start(&order, (int32_t)self, SEED(s), &it);
			     !steal_iter_done(&it); steal_iter_next(&it)) {
				uint32_t p = steal_iter_p(&it), cls = steal_iter_class(&it);
				uint32_t d = topo.distance[n][p_node[p]];

				assert_true(p < count);
				assert_int_equal(hit[p], 0);
				hit[p] = 1;
				assert_int_equal(cls, want_class(&topo, has_ps, pol, n, p_node[p]));
				assert_true(cls < steal_order_nclasses(&order, (int32_t)self));
				if (pol == STEAL_FLAT)
					assert_int_equal(p, old[steps]);
				else
					assert_true(steps == 0 || cls >= prev_class);
				if (pol == STEAL_DISTANCE) {
					assert_true(steps == 0 || d >= prev_dist);
					assert_int_equal(steal_order_class_distance(&order, n, cls),
							 d);
				}
				if (pol != STEAL_DISTANCE && cls == 0)
					assert_int_equal(steal_order_class_distance(&order, n, 0),
							 d);
				if (steps == 0 || cls != prev_class)
					first_seen[p]++;
				prev_class = cls;
				prev_dist = d;
				steps++;
			}
			assert_int_equal(steps, count);
		}
		/* Each tier's first victim took every P of the tier. */
		for (i = 0; pol != STEAL_FLAT && i < count; i++)
			assert_true(first_seen[i] > 0);
	}
}

static void test_steal_two_nodes(void **state)
{
	(void)state;
	check_policy("p0-1;p2-3", 4, STEAL_FLAT);
	check_policy("p0-1;p2-3", 4, STEAL_NODE);
	check_policy("p0-1;p2-3", 4, STEAL_DISTANCE);
	assert_int_equal(steal_order_nclasses(&order, 0), 2);
	assert_int_equal(steal_order_class_distance(&order, 0, 0), 10);
	assert_int_equal(steal_order_class_distance(&order, 1, 1), 20);
	assert_int_equal(steal_order_class_distance(&order, 1, 2), 0);
	assert_int_equal(steal_order_class_distance(&order, 2, 0), 0);
	/* More Ps than listed: periodic. */
	check_policy("p0-1;p2-3", 8, STEAL_NODE);
	check_policy("p0-1;p2-3", 8, STEAL_DISTANCE);
	check_policy("p0-1;p2-3", 8, STEAL_FLAT);
}

static const char *const four_nodes = "p0-3;p4-7;p8-11;p12-15/"
				      "10,16,16,22;16,10,22,16;16,22,10,16;22,16,16,10";

static void test_steal_four_nodes(void **state)
{
	(void)state;
	check_policy(four_nodes, 16, STEAL_FLAT);
	check_policy(four_nodes, 16, STEAL_NODE);
	assert_int_equal(steal_order_nclasses(&order, 5), 2);
	assert_int_equal(steal_order_class_distance(&order, 1, 1), 16);
	check_policy(four_nodes, 16, STEAL_DISTANCE);
	assert_int_equal(steal_order_nclasses(&order, 5), 3);
	assert_int_equal(steal_order_class_distance(&order, 1, 0), 10);
	assert_int_equal(steal_order_class_distance(&order, 1, 1), 16);
	assert_int_equal(steal_order_class_distance(&order, 1, 2), 22);
	/* Fewer Ps than listed: the order covers only [0, count). */
	check_policy(four_nodes, 6, STEAL_DISTANCE);
	assert_int_equal(steal_order_nclasses(&order, 5), 2);
}

/* 8 nodes of 1..5 Ps, an asymmetric matrix with ties within rows. */
static const char *const eight_nodes = "p0;p1-2;p3-5;p6-9;p10-14;p15-16;p17-19;p20/"
				       "10,12,17,21,28,28,32,40;"
				       "13,10,15,21,30,25,33,40;"
				       "17,16,10,14,22,22,30,35;"
				       "22,21,14,10,16,20,26,31;"
				       "27,30,21,16,10,12,18,24;"
				       "29,26,23,19,13,10,17,22;"
				       "31,33,29,25,18,16,10,11;"
				       "40,41,35,31,24,22,12,10";

static void test_steal_eight_nodes_asymmetric(void **state)
{
	(void)state;
	check_policy(eight_nodes, 21, STEAL_FLAT);
	check_policy(eight_nodes, 21, STEAL_NODE);
	check_policy(eight_nodes, 21, STEAL_DISTANCE);
	/* Node 0: 12, 17, 21, 28 (nodes 4 and 5), 32, 40. */
	assert_int_equal(steal_order_nclasses(&order, 0), 7);
	assert_int_equal(order.ntiers[0], 7);
	assert_int_equal(order.tiers[0][4].size, 5 + 2);
	assert_int_equal(steal_order_class_distance(&order, 0, 4), 28);
	/* Node 2: 14, 16, 17, 22 (nodes 4 and 5), 30, 35. */
	assert_int_equal(steal_order_nclasses(&order, 3), 7);
	assert_int_equal(steal_order_class_distance(&order, 2, 4), 22);
	check_policy(eight_nodes, 40, STEAL_DISTANCE);
}

/* Over many seeds the first victim is every P of the thief's node, and
 * the first victim after the own node is every P of the next tier. */
static void test_steal_starts_vary(void **state)
{
	int p_node[16];
	uint32_t first[16], next[16], self, s, i;
	struct steal_iter it;

	(void)state;
	parse_ok(four_nodes, &topo);
	for (i = 0; i < 16; i++)
		p_node[i] = topo_node_of_p(&topo, (int)i, NULL);
	assert_int_equal(steal_order_build(&order, 16, STEAL_DISTANCE, p_node, &topo), 0);
	for (self = 0; self < 16; self++) {
		memset(first, 0, sizeof(first));
		memset(next, 0, sizeof(next));
		for (s = 0; s < 1000; s++) {
			steal_iter_start(&order, (int32_t)self, SEED(s), &it);
			first[steal_iter_p(&it)]++;
			while (steal_iter_class(&it) == 0)
				steal_iter_next(&it);
			next[steal_iter_p(&it)]++;
		}
		for (i = 0; i < 16; i++) {
			int cls = topo.distance[p_node[self]][p_node[i]] == 16;

			assert_true(p_node[i] == p_node[self] ? first[i] > 0 : first[i] == 0);
			assert_true(cls ? next[i] > 0 : next[i] == 0);
		}
	}
}

/* Strides vary too: over many seeds, the second victim of a tier is not
 * always the same one given the first. */
static void test_steal_strides_vary(void **state)
{
	int p_node[64];
	uint32_t s, i, second[64] = { 0 };
	int distinct = 0;
	struct steal_iter it;

	(void)state;
	parse_ok("p0-31;p32-63", &topo);
	for (i = 0; i < 64; i++)
		p_node[i] = topo_node_of_p(&topo, (int)i, NULL);
	assert_int_equal(steal_order_build(&order, 64, STEAL_NODE, p_node, &topo), 0);
	for (s = 0; s < 4000; s++) {
		steal_iter_start(&order, 0, SEED(s), &it);
		if (steal_iter_p(&it) != 0)
			continue;
		steal_iter_next(&it);
		second[steal_iter_p(&it)]++;
	}
	for (i = 0; i < 64; i++)
		distinct += second[i] > 0;
	assert_true(distinct >= 8);
}

/* The largest order: 1024 Ps on 64 nodes, 64 distinct distances. */
static void test_steal_largest(void **state)
{
	static int p_node[STEAL_MAX_PROCS];
	size_t cap = 64 * 8 + 64 * 64 * 4 + 2, len = 0;
	char *s = malloc(cap);
	uint32_t self, seed, i;
	int n, m;

	(void)state;
	for (n = 0; n < 64; n++)
		len += (size_t)sprintf(s + len, "%sp%d-%d", n ? ";" : "", n * 16, n * 16 + 15);
	for (n = 0; n < 64; n++)
		for (m = 0; m < 64; m++)
			len += (size_t)sprintf(s + len, "%s%d", m ? "," : (n ? ";" : "/"),
					       10 + 2 * abs(n - m) + (m > n));
	parse_ok(s, &topo);
	free(s);
	for (i = 0; i < STEAL_MAX_PROCS; i++)
		p_node[i] = topo_node_of_p(&topo, (int)i, NULL);
	assert_int_equal(steal_order_build(&order, STEAL_MAX_PROCS, STEAL_DISTANCE, p_node, &topo),
			 0);
	assert_int_equal(steal_order_nclasses(&order, 0), 64);
	assert_int_equal(steal_order_nclasses(&order, 16 * 32), 64);
	for (self = 0; self < STEAL_MAX_PROCS; self += 37) {
		for (seed = 0; seed < 20; seed++) {
			uint8_t hit[STEAL_MAX_PROCS] = { 0 };
			uint32_t prev = 0, steps = 0;
			struct steal_iter it;

			for (steal_iter_start(&order, (int32_t)self, SEED(seed), &it);
			     !steal_iter_done(&it); steal_iter_next(&it)) {
				uint32_t p = steal_iter_p(&it);

				assert_int_equal(hit[p], 0);
				hit[p] = 1;
				assert_true(steal_iter_class(&it) >= prev);
				prev = steal_iter_class(&it);
				steps++;
			}
			assert_int_equal(steps, STEAL_MAX_PROCS);
		}
	}
}

/* FLAT without a topology is the old order for every size. */
static void test_steal_flat_is_old_order(void **state)
{
	uint32_t count, s, i, old[STEAL_MAX_PROCS];
	struct steal_iter it;

	(void)state;
	for (count = 1; count <= STEAL_MAX_PROCS; count += count < 70 ? 1 : 97) {
		assert_int_equal(steal_order_init(&order, count), 0);
		assert_int_equal(steal_order_nclasses(&order, 0), 1);
		for (s = 0; s < 50; s++) {
			old_flat_order(count, SEED(s) ^ count, old);
			i = 0;
			for (steal_iter_start(&order, (int32_t)(s % count), SEED(s) ^ count, &it);
			     !steal_iter_done(&it); steal_iter_next(&it)) {
				assert_int_equal(steal_iter_p(&it), old[i++]);
				assert_int_equal(steal_iter_class(&it), 0);
			}
			assert_int_equal(i, count);
		}
	}
}

/* Many thieves iterate one shared order at once (TSan: no hidden writes). */
#define READERS 4

static _Atomic int reader_errors;

static void *reader_main(void *arg)
{
	uint32_t seed, self = (uint32_t)(uintptr_t)arg;
	struct steal_iter it;

	for (seed = 0; seed < 2000; seed++) {
		uint8_t hit[64] = { 0 };
		uint32_t steps = 0, prev = 0;

		for (steal_iter_start(&order, (int32_t)self, SEED(seed) + self, &it);
		     !steal_iter_done(&it); steal_iter_next(&it)) {
			uint32_t p = steal_iter_p(&it), cls = steal_iter_class(&it);

			if (p >= 64 || hit[p]++ || cls < prev)
				reader_errors++;
			prev = cls;
			steps++;
		}
		if (steps != 64)
			reader_errors++;
	}
	return NULL;
}

static void test_steal_concurrent_readers(void **state)
{
	pthread_t th[READERS];
	int p_node[64], i;

	(void)state;
	parse_ok(four_nodes, &topo);
	for (i = 0; i < 64; i++)
		p_node[i] = topo_node_of_p(&topo, i, NULL);
	assert_int_equal(steal_order_build(&order, 64, STEAL_DISTANCE, p_node, &topo), 0);
	for (i = 0; i < READERS; i++)
		assert_int_equal(
			pthread_create(&th[i], NULL, reader_main, (void *)(uintptr_t)(i * 17)), 0);
	for (i = 0; i < READERS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(reader_errors, 0);
}

static void test_steal_build_errors(void **state)
{
	int p_node[4] = { 0, 0, 1, 1 };

	(void)state;
	parse_ok("p0-1;p2-3", &topo);
	assert_int_equal(steal_order_init(&order, 0), -EINVAL);
	assert_int_equal(steal_order_init(&order, STEAL_MAX_PROCS + 1), -EINVAL);
	assert_int_equal(steal_order_build(&order, 4, STEAL_NODE, NULL, NULL), -EINVAL);
	assert_int_equal(steal_order_build(&order, 4, STEAL_DISTANCE, p_node, NULL), -EINVAL);
	assert_int_equal(steal_order_build(&order, 4, STEAL_FLAT, NULL, &topo), -EINVAL);
	assert_int_equal(steal_order_build(&order, 4, (enum steal_policy)3, p_node, &topo),
			 -EINVAL);
	p_node[3] = 2;
	assert_int_equal(steal_order_build(&order, 4, STEAL_NODE, p_node, &topo), -EINVAL);
	p_node[3] = -1;
	assert_int_equal(steal_order_build(&order, 4, STEAL_NODE, p_node, &topo), -EINVAL);
	p_node[3] = 1;
	assert_int_equal(steal_order_build(&order, 4, STEAL_NODE, p_node, &topo), 0);
	assert_int_equal(steal_order_build(&order, 4, STEAL_FLAT, p_node, &topo), 0);
}

/* A node with no P (memory only) makes no tier and no class. */
static void test_steal_memory_only_node(void **state)
{
	int p_node[4] = { 0, 0, 2, 2 };

	(void)state;
	parse_ok("cpu0-1;cpu2;cpu3-4/10,11,20;11,10,20;20,20,10", &topo);
	assert_int_equal(steal_order_build(&order, 4, STEAL_DISTANCE, p_node, &topo), 0);
	assert_int_equal(steal_order_nclasses(&order, 0), 2);
	assert_int_equal(steal_order_class_distance(&order, 0, 1), 20);
	assert_int_equal(order.ntiers[0], 2);
	assert_int_equal(order.tiers[0][0].size, 2);
	assert_int_equal(order.tiers[0][1].size, 2);
}

static void test_policy_names(void **state)
{
	(void)state;
	assert_string_equal(steal_policy_name(STEAL_FLAT), "flat");
	assert_string_equal(steal_policy_name(STEAL_NODE), "node");
	assert_string_equal(steal_policy_name(STEAL_DISTANCE), "distance");
	assert_string_equal(steal_policy_name((enum steal_policy)7), "?");
	assert_int_equal(steal_policy_parse("flat"), STEAL_FLAT);
	assert_int_equal(steal_policy_parse("node"), STEAL_NODE);
	assert_int_equal(steal_policy_parse("distance"), STEAL_DISTANCE);
	assert_int_equal(steal_policy_parse("Node"), -EINVAL);
	assert_int_equal(steal_policy_parse(""), -EINVAL);
	assert_int_equal(steal_policy_parse(NULL), -EINVAL);
}

/* --- node-local memory --------------------------------------------------- */

#define MEM_LEN (1 << 20)

static void check_usable(unsigned char *p, size_t len)
{
	size_t i;

	assert_non_null(p);
	assert_int_equal((uintptr_t)p % 4096, 0);
	for (i = 0; i < len; i += 512)
		assert_int_equal(p[i], 0);
	memset(p, 0xa5, len);
	assert_int_equal(p[len - 1], 0xa5);
}

/* The policy of the page at p, if the kernel lets us ask. */
static int policy_of(void *p, unsigned long *mask)
{
	int mode = -1;

	*mask = 0;
	if (get_mempolicy(&mode, mask, sizeof(*mask) * 8 + 1, p, MPOL_F_ADDR) < 0)
		return -1;
	return mode;
}

static void test_node_alloc(void **state)
{
	unsigned long mask;
	unsigned char *p;
	int mode;

	(void)state;
	assert_false(node_has_memory(40));
	assert_false(node_has_memory(-1));
	assert_false(node_has_memory(1 << 20));
	assert_null(node_alloc(0, 0));

	p = node_alloc(MEM_LEN, 0);
	check_usable(p, MEM_LEN);
	mode = policy_of(p, &mask);
	if (node_has_memory(0) && mode >= 0) {
		assert_int_equal(mode, MPOL_BIND);
		assert_int_equal(mask, 1);
	}
	node_free(p, MEM_LEN);

	/* A node the machine does not have: plain memory. */
	p = node_alloc(MEM_LEN, 40);
	check_usable(p, MEM_LEN);
	mode = policy_of(p, &mask);
	if (mode >= 0)
		assert_int_equal(mode, MPOL_DEFAULT);
	node_free(p, MEM_LEN);
	node_free(NULL, 0);
}

static void test_node_bind(void **state)
{
	unsigned long mask;
	unsigned char *p;
	int mode;

	(void)state;
	p = node_alloc(MEM_LEN, 40);
	assert_non_null(p);
	assert_int_equal(node_bind(p, MEM_LEN, 40), 0);
	assert_int_equal(node_bind(p, MEM_LEN, -1), 0);
	check_usable(p, MEM_LEN);
	mode = policy_of(p, &mask);
	if (mode >= 0)
		assert_int_equal(mode, MPOL_DEFAULT);
	if (node_has_memory(0)) {
		assert_int_equal(node_bind(p, MEM_LEN, 0), 0);
		mode = policy_of(p + MEM_LEN / 2, &mask);
		if (mode >= 0) {
			assert_int_equal(mode, MPOL_PREFERRED);
			assert_int_equal(mask, 1);
		}
		/* Not page-aligned: mbind's error comes back. */
		assert_int_equal(node_bind(p + 1, 4096, 0), -EINVAL);
	}
	/* Still usable after the binds. */
	memset(p, 0x5a, MEM_LEN);
	assert_int_equal(p[MEM_LEN / 2], 0x5a);
	node_free(p, MEM_LEN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_two_nodes),
		cmocka_unit_test(test_parse_interleaved_and_periodic),
		cmocka_unit_test(test_parse_cpu_four_nodes),
		cmocka_unit_test(test_parse_cpu_holes),
		cmocka_unit_test(test_parse_64_nodes),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_65_nodes),
		cmocka_unit_test(test_format_error),
		cmocka_unit_test(test_describe),
		cmocka_unit_test(test_topo_from_system),
		cmocka_unit_test(test_steal_flat_is_old_order),
		cmocka_unit_test(test_steal_two_nodes),
		cmocka_unit_test(test_steal_four_nodes),
		cmocka_unit_test(test_steal_eight_nodes_asymmetric),
		cmocka_unit_test(test_steal_starts_vary),
		cmocka_unit_test(test_steal_strides_vary),
		cmocka_unit_test(test_steal_largest),
		cmocka_unit_test(test_steal_concurrent_readers),
		cmocka_unit_test(test_steal_build_errors),
		cmocka_unit_test(test_steal_memory_only_node),
		cmocka_unit_test(test_policy_names),
		cmocka_unit_test(test_node_alloc),
		cmocka_unit_test(test_node_bind),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
