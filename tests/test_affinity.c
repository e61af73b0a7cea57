/* SPDX-License-Identifier: MIT */
/*
 * test_affinity - Ps, CPUs and NUMA nodes in a running runtime:
 *
 *  - rg_sched_stats / rg_sched_p_stats: errors (NULL, short size, no
 *    runtime), the topology and policy in use, home CPUs from the affinity
 *    mask, the CPU each P last ran on, totals equal to the sum of the Ps;
 *  - a synthetic topology (RINGO_NUMA_TOPOLOGY="p0-1;p2-3") with each
 *    steal policy: an imbalanced load is stolen and counted by class, and
 *    with the node policy no steal crosses nodes while the thief's node has
 *    queued work (beyond a few racing ones);
 *  - a malformed RINGO_NUMA_TOPOLOGY makes rg_main fail with -EINVAL and a
 *    message naming the position;
 *  - RINGO_DEBUG=ppin=1 pins every M running a goroutine to one CPU;
 *    softaffinity=0,ppin=0 (neither) reads back and still runs the load;
 *    a caller built with the first, shorter rg_sched_stats gets no more;
 *  - the runtime runs with glibc's rseq registration turned off (it
 *    registers its own area), and with rseq refused by a seccomp filter
 *    (it reads CPUs with sched_getcpu()), and reads CPUs correctly.
 */
#include <pthread.h>
#include <sched.h>

#include "tests/helpers.h"

/* --------------------------------------------------------------------- */
/* Statistics                                                            */
/* --------------------------------------------------------------------- */

static rg_wg yield_wg;

static void yielder(void *arg)
{
	(void)arg;
	for (int i = 0; i < 20; i++)
		rg_yield();
	rg_wg_done(&yield_wg);
}

static void stats_main(void *arg)
{
	struct rg_sched_stats st = RG_SCHED_STATS_INIT, small = { .size = 8 }, v1;
	struct rg_p_stats ps, sum;
	cpu_set_t set;
	int n = rg_gomaxprocs(0), i, cpu = -1, k = 0;

	(void)arg;
	rg_wg_add(&yield_wg, 5);
	for (i = 0; i < 5; i++)
		GCHECK_EQ(rg_go(yielder, NULL), 0);
	rg_wg_wait(&yield_wg);
	GCHECK_EQ(rg_sched_stats(NULL), -EINVAL);
	GCHECK_EQ(rg_sched_stats(&small), -EINVAL);
	GCHECK_EQ(rg_sched_p_stats(n, &ps), -EINVAL);
	GCHECK_EQ(rg_sched_p_stats(-1, &ps), -EINVAL);
	GCHECK_EQ(rg_sched_stats(&st), 0);
	GCHECK_EQ(st.nprocs, n);
	GCHECK(st.nnodes >= 1);
	GCHECK(st.steal_policy && st.rseq);
	GCHECK(st.nclasses >= 1 && st.nclasses <= RG_STATS_CLASSES);
	/* Every yield starts a time slice when the yielders share one P; with
	 * more Ps a yield finding nothing else to run returns at once. */
	GCHECK(n > 1 ? st.total.schedules > 0 : st.total.schedules >= 100);
	GCHECK_EQ(st.soft_affinity, 1); /* CONFIG_SOFT_AFFINITY's default */
	/* A caller built with the first version of the struct: nothing is
	 * written past its size. */
	memset(&v1, 0xab, sizeof(v1));
	v1.size = offsetof(struct rg_sched_stats, soft_affinity);
	GCHECK_EQ(rg_sched_stats(&v1), 0);
	GCHECK_EQ(v1.nprocs, n);
	GCHECK_EQ((uint32_t)v1.soft_affinity, 0xababababu);
	/* Home CPUs: the affinity mask's CPUs in order, wrapping around. */
	GCHECK_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
	memset(&sum, 0, sizeof(sum));
	for (i = 0; i < n; i++) {
		GCHECK_EQ(rg_sched_p_stats(i, &ps), 0);
		do
			cpu = (cpu + 1) % CPU_SETSIZE;
		while (!CPU_ISSET(cpu, &set) && ++k < 2 * CPU_SETSIZE);
		GCHECK_EQ(ps.home_cpu, cpu);
		GCHECK(ps.home_node >= 0 && ps.home_node < st.nnodes);
		sum.schedules += ps.schedules;
		sum.migrations += ps.migrations;
	}
	/* Totals are the sums of the Ps (counters only grow meanwhile). */
	GCHECK(sum.schedules >= st.total.schedules);
	GCHECK(sum.migrations >= st.total.migrations);
	GCHECK_EQ(rg_sched_stats(&st), 0);
	GCHECK(sum.schedules <= st.total.schedules);
	GCHECK(sum.migrations <= st.total.migrations);
	GCHECK_EQ(rg_sched_p_stats(0, &ps), 0);
	GCHECK(ps.cpu >= 0 && CPU_ISSET(ps.cpu, &set)); /* P0 ran this goroutine */
}

static void test_stats(void **state)
{
	struct rg_sched_stats st = RG_SCHED_STATS_INIT;
	struct rg_p_stats ps;

	(void)state;
	assert_int_equal(rg_sched_stats(&st), -ESRCH);
	assert_int_equal(rg_sched_p_stats(0, &ps), -ESRCH);
	RUN_FOR_PROCS(stats_main, NULL, 1, 2);
	assert_int_equal(rg_sched_stats(&st), -ESRCH);
}

/* --------------------------------------------------------------------- */
/* Steals on a synthetic topology (children: the environment)           */
/* --------------------------------------------------------------------- */

#define NTASKS (RG_TEST_ASAN || RG_TEST_TSAN ? 4000 : 40000)

static rg_wg task_wg;
static _Atomic uint64_t task_sink;

static void task(void *arg)
{
	uint64_t x = (uint64_t)(uintptr_t)arg;

	for (int i = 0; i < 2000; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	atomic_fetch_add(&task_sink, x);
	rg_wg_done(&task_wg);
}

static struct rg_sched_stats steal_stats;

static void spawner_main(void *arg)
{
	(void)arg;
	for (long i = 0; i < NTASKS; i++) {
		uint64_t x = (uint64_t)i;

		for (int k = 0; k < 1000; k++)
			x = x * 6364136223846793005ull + 1442695040888963407ull;
		atomic_fetch_add(&task_sink, x);
		rg_wg_add(&task_wg, 1);
		GCHECK_EQ(rg_go(task, (void *)(uintptr_t)i), 0);
	}
	rg_wg_wait(&task_wg);
	steal_stats.size = sizeof(steal_stats);
	GCHECK_EQ(rg_sched_stats(&steal_stats), 0);
}

/* Prints what the parent checks. */
static int child_steal(void)
{
	rg_config cfg = { .maxprocs = 4 };
	uint64_t steals = 0, stolen = 0, cross = 0;
	int rc = rg_main(&cfg, spawner_main, NULL);

	if (rc || atomic_load(&gcheck_failures))
		return 1;
	for (int c = 0; c < RG_STATS_CLASSES; c++) {
		steals += steal_stats.total.steals[c];
		stolen += steal_stats.total.stolen[c];
		if (c > 0)
			cross += steal_stats.total.steals[c];
	}
	fprintf(stderr, "policy %s\nnnodes %d\nsynthetic %d\nnclasses %d\n",
		steal_stats.steal_policy, steal_stats.nnodes, steal_stats.synthetic,
		steal_stats.nclasses);
	fprintf(stderr, "steals %llu\nstolen %llu\ncross %llu\navoidable %llu\n",
		(unsigned long long)steals, (unsigned long long)stolen, (unsigned long long)cross,
		(unsigned long long)steal_stats.total.steals_remote_local_work);
	return 0;
}

static void run_steal(const char *policy, long *steals, long *avoidable)
{
	char debug[64];
	const char *env[] = { "RINGO_NUMA_TOPOLOGY=p0-1;p2-3", debug, NULL };
	struct child_result r;
	long v;

	snprintf(debug, sizeof(debug), "RINGO_DEBUG=stealpolicy=%s", policy);
	run_child_case("steal", env, &r);
	assert_child_exit("steal", &r, 0);
	assert_child_stderr_has("steal", &r, policy);
	assert_true(child_find_int(&r, "nnodes ", &v));
	assert_int_equal(v, 2);
	assert_true(child_find_int(&r, "synthetic ", &v));
	assert_int_equal(v, 1);
	assert_true(child_find_int(&r, "nclasses ", &v));
	assert_int_equal(v, 2);
	assert_true(child_find_int(&r, "steals ", steals));
	assert_true(child_find_int(&r, "stolen ", &v));
	assert_true(v >= *steals); /* each steal takes at least one */
	assert_true(child_find_int(&r, "avoidable ", avoidable));
	child_result_free(&r);
}

static void test_steal_policies(void **state)
{
	long steals, avoidable;

	(void)state;
	run_steal("flat", &steals, &avoidable);
	run_steal("distance", &steals, &avoidable);
	/* The thieves of node 1 live on steals from node 0, and P1 on P0:
	 * unless the other Ms got no CPU while P0 ran everything (a loaded
	 * machine, a sanitizer build), which another run rules out. */
	for (int tries = 0; tries < 3; tries++) {
		run_steal("node", &steals, &avoidable);
		if (steals > 0)
			break;
	}
	assert_true(steals > 0);
	/* Same node first: a remote steal while the node had work is a race
	 * (the work arrived after the thief looked). */
	assert_true(avoidable * 10 <= steals + 10);
}

/* --------------------------------------------------------------------- */
/* A malformed topology                                                  */
/* --------------------------------------------------------------------- */

static void nop_main(void *arg)
{
	(void)arg;
}

static int child_bad_topology(void)
{
	return rg_main(NULL, nop_main, NULL) == -EINVAL ? 0 : 1;
}

static void test_bad_topology(void **state)
{
	static const char *const env[] = { "RINGO_NUMA_TOPOLOGY=p0-1;p1-2", NULL };
	struct child_result r;

	(void)state;
	run_child_case("bad_topology", env, &r);
	assert_child_exit("bad_topology", &r, 0);
	assert_child_stderr_has("bad_topology", &r, "RINGO_NUMA_TOPOLOGY");
	assert_child_stderr_has("bad_topology", &r, "position 6");
	child_result_free(&r);
}

/* --------------------------------------------------------------------- */
/* Hard pinning                                                          */
/* --------------------------------------------------------------------- */

static rg_wg pin_wg;
static atomic_int pin_bad;

static void pin_check(void *arg)
{
	cpu_set_t set;

	(void)arg;
	for (int i = 0; i < 50; i++) {
		if (sched_getaffinity(0, sizeof(set), &set) || CPU_COUNT(&set) != 1 ||
		    !CPU_ISSET(sched_getcpu(), &set))
			atomic_store(&pin_bad, 1);
		rg_yield();
	}
	rg_wg_done(&pin_wg);
}

static void pin_yield(void *arg)
{
	(void)arg;
	for (int i = 0; i < 50; i++)
		rg_yield();
	rg_wg_done(&pin_wg);
}

static void pin_main(void *arg)
{
	struct rg_sched_stats st = RG_SCHED_STATS_INIT;

	(void)arg;
	rg_wg_add(&pin_wg, 4);
	for (int i = 0; i < 4; i++)
		GCHECK_EQ(rg_go(pin_check, NULL), 0);
	rg_wg_wait(&pin_wg);
	GCHECK_EQ(rg_sched_stats(&st), 0);
	GCHECK_EQ(st.pinned, 1);
	GCHECK_EQ(st.soft_affinity, 1);
}

static int child_pin(void)
{
	rg_config cfg = { .maxprocs = 2 };

	if (child_checks_status(rg_main(&cfg, pin_main, NULL)))
		return 1;
	return atomic_load(&pin_bad) ? 3 : 0;
}

static void test_pin(void **state)
{
	static const char *const env[] = { "RINGO_DEBUG=ppin=1", NULL };
	struct child_result r;

	(void)state;
	run_child_case("pin", env, &r);
	assert_child_exit("pin", &r, 0);
	child_result_free(&r);
}

/* Neither soft affinity nor pinning: the switches read back, and work
 * still spreads over the Ps. */
static void nosoft_main(void *arg)
{
	struct rg_sched_stats st = RG_SCHED_STATS_INIT;

	(void)arg;
	rg_wg_add(&pin_wg, 4);
	for (int i = 0; i < 4; i++)
		GCHECK_EQ(rg_go(pin_yield, NULL), 0);
	rg_wg_wait(&pin_wg);
	GCHECK_EQ(rg_sched_stats(&st), 0);
	GCHECK_EQ(st.pinned, 0);
	GCHECK_EQ(st.soft_affinity, 0);
	GCHECK(st.total.schedules > 0);
}

static int child_nosoft(void)
{
	rg_config cfg = { .maxprocs = 2 };

	return child_checks_status(rg_main(&cfg, nosoft_main, NULL));
}

static void test_no_affinity(void **state)
{
	static const char *const env[] = { "RINGO_DEBUG=softaffinity=0,ppin=0", NULL };
	struct child_result r;

	(void)state;
	run_child_case("nosoft", env, &r);
	assert_child_exit("nosoft", &r, 0);
	child_result_free(&r);
}

/* --------------------------------------------------------------------- */
/* Without glibc's rseq                                                  */
/* --------------------------------------------------------------------- */

static void rseq_main(void *arg)
{
	struct rg_sched_stats st = RG_SCHED_STATS_INIT;
	struct rg_p_stats ps;

	(void)arg;
	for (int i = 0; i < 100; i++)
		rg_yield();
	GCHECK_EQ(rg_sched_stats(&st), 0);
	fprintf(stderr, "rseq %s\n", st.rseq);
	GCHECK_EQ(rg_sched_p_stats(0, &ps), 0);
	GCHECK(ps.cpu >= 0);
}

static int child_rseq(void)
{
	return child_checks_status(rg_main(NULL, rseq_main, NULL));
}

/* rseq refused (glibc's registration off and a seccomp filter answering
 * ENOSYS): the runtime reads CPUs with sched_getcpu(). */
static int child_rseq_denied(void)
{
	if (SECCOMP_DENY(ENOSYS, __NR_rseq))
		return 4;
	return child_rseq();
}

static void test_own_rseq(void **state)
{
	static const char *const env[] = { "GLIBC_TUNABLES=glibc.pthread.rseq=0", NULL };
	struct child_result r;

	(void)state;
	run_child_case("rseq", env, &r);
	assert_child_exit("rseq", &r, 0);
	assert_child_stderr_has("rseq", &r, "rseq own");
	child_result_free(&r);
	run_child_case("rseq", NULL, &r);
	assert_child_exit("rseq", &r, 0);
	assert_child_stderr_has("rseq", &r, "rseq glibc");
	child_result_free(&r);
	run_child_case("rseq_denied", env, &r);
	assert_child_exit("rseq_denied", &r, 0);
	assert_child_stderr_has("rseq_denied", &r, "rseq none");
	child_result_free(&r);
}

static const struct child_case child_cases[] = {
	{ "steal", child_steal },   { "bad_topology", child_bad_topology }, { "pin", child_pin },
	{ "nosoft", child_nosoft }, { "rseq_denied", child_rseq_denied },   { "rseq", child_rseq },
};

int main(int argc, char **argv)
{
	int rc = child_dispatch(argc, argv, child_cases, ARRAY_SIZE(child_cases));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stats),	     cmocka_unit_test(test_steal_policies),
		cmocka_unit_test(test_bad_topology), cmocka_unit_test(test_pin),
		cmocka_unit_test(test_no_affinity),  cmocka_unit_test(test_own_rseq),
	};

	if (rc >= 0)
		return rc;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
