/* SPDX-License-Identifier: MIT */
/*
 * test_rseq - the rseq layer of kernel_iface (kernel_iface/rseq.h):
 *
 *  - the mode probed (glibc's area when glibc registered one),
 *    krseq_thread_init/fini;
 *  - cpu_current() equals sched_getcpu() on a thread pinned to each CPU in
 *    turn, and cpu_current_node() is the CPU's node when the kernel fills
 *    node_id (else -1);
 *  - child processes: mode OWN (GLIBC_TUNABLES=glibc.pthread.rseq=0, with
 *    a thread that reads its CPU unregistered, then registers and
 *    unregisters) and mode NONE (the same plus a seccomp filter that
 *    answers rseq() with ENOSYS).
 *
 * The CPU checks run in each mode: they are shared by the parent and the
 * children.
 */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>

#include "tests/helpers.h"

#include "kernel_iface/rseq.h"

extern const unsigned int __rseq_size __attribute__((weak));

#define TUNABLE_NO_RSEQ "GLIBC_TUNABLES=glibc.pthread.rseq=0"

/* The CPUs this process may run on, from its mask at start-up. */
static cpu_set_t orig_mask;
static int cpus[CPU_SETSIZE];
static int ncpus;

static void cpus_init(void)
{
	if (sched_getaffinity(0, sizeof(orig_mask), &orig_mask) != 0) {
		CPU_ZERO(&orig_mask);
		CPU_SET(0, &orig_mask);
	}
	ncpus = 0;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &orig_mask))
			cpus[ncpus++] = c;
}

/* Pin the calling thread to @cpu (-1: back to the original mask). */
static int pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return sched_setaffinity(0, sizeof(orig_mask), &orig_mask);
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

/* The node of @cpu from sysfs (the "nodeN" entry of its directory), or -1. */
static int sysfs_node_of(int cpu)
{
	char path[64];
	struct dirent *de;
	int node = -1;
	DIR *d;

	snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d", cpu);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "node", 4) == 0 && de->d_name[4] >= '0' &&
		    de->d_name[4] <= '9')
			node = atoi(de->d_name + 4);
	closedir(d);
	return node;
}

/* --------------------------------------------------------------------- */
/* Checks shared by the parent and the children (GCHECK: any thread)     */
/* --------------------------------------------------------------------- */

/* On each CPU in turn: cpu_current() == sched_getcpu() == that CPU, and
 * the node is the CPU's (or -1 when untrusted or unregistered). */
static void check_cpus_pinned(bool registered)
{
	for (int i = 0; i < ncpus; i++) {
		int cpu = cpus[i], node;

		GCHECK_EQ(pin(cpu), 0);
		for (int k = 0; k < 100; k++) {
			GCHECK_EQ(cpu_current(), cpu);
			GCHECK_EQ(sched_getcpu(), cpu);
		}
		node = cpu_current_node();
		if (krseq_has_node() && registered)
			GCHECK_EQ(node, sysfs_node_of(cpu));
		else
			GCHECK_EQ(node, -1);
	}
	GCHECK_EQ(pin(-1), 0);
}

/* --------------------------------------------------------------------- */
/* Child processes                                                       */
/* --------------------------------------------------------------------- */

static void *unregistered_thread(void *arg)
{
	(void)arg;
	/* Mode OWN without krseq_thread_init: cpu reads fall back. */
	check_cpus_pinned(false);
	/* Registered: reads are the fast ones; unregistered again: slow. */
	GCHECK_EQ(krseq_thread_init(), 0);
	GCHECK_EQ(krseq_thread_init(), 0);
	check_cpus_pinned(true);
	GCHECK_EQ(krseq_thread_fini(), 0);
	GCHECK_EQ(krseq_thread_fini(), 0);
	check_cpus_pinned(false);
	return NULL;
}

static int child_report(void)
{
	if (child_checks_status(0))
		return 1;
	fprintf(stderr, "TEST-OK\n");
	return 0;
}

static void child_begin(void)
{
	cpus_init();
	gcheck_reset();
	GCHECK_EQ(krseq_probe(), 0);
	fprintf(stderr, "TEST-MODE %s\n", krseq_mode_name());
}

static int child_own(void)
{
	pthread_t t;

	child_begin();
	GCHECK_EQ(krseq_mode(), KRSEQ_OWN);
	GCHECK_EQ(krseq_probe_error(), 0);
	check_cpus_pinned(true);
	GCHECK_EQ(pthread_create(&t, NULL, unregistered_thread, NULL), 0);
	pthread_join(t, NULL);
	return child_report();
}

static int child_none(void)
{
	int r = SECCOMP_DENY(ENOSYS, __NR_rseq);

	if (r < 0) {
		fprintf(stderr, "TEST-SECCOMP-FAILED %d\n", r);
		return 4;
	}
	child_begin();
	GCHECK_EQ(krseq_mode(), KRSEQ_NONE);
	GCHECK_EQ(krseq_probe_error(), -ENOSYS);
	GCHECK(!krseq_has_node());
	GCHECK_EQ(krseq_thread_init(), 0);
	GCHECK_EQ(krseq_thread_fini(), 0);
	check_cpus_pinned(false);
	return child_report();
}

static const struct child_case child_cases[] = {
	{ "own", child_own },
	{ "none", child_none },
};

static void run_mode_child(const char *name, const char *mode)
{
	const char *env[] = { TUNABLE_NO_RSEQ, NULL };
	struct child_result r;
	char want[64];

	run_child_case(name, env, &r);
	assert_child_exit(name, &r, 0);
	snprintf(want, sizeof(want), "TEST-MODE %s\n", mode);
	assert_child_stderr_has(name, &r, want);
	assert_child_stderr_has(name, &r, "TEST-OK");
	child_result_free(&r);
}

/* --------------------------------------------------------------------- */
/* Tests                                                                 */
/* --------------------------------------------------------------------- */

static void test_probe(void **state)
{
	enum krseq_mode mode;

	(void)state;
	assert_int_equal(krseq_probe(), 0);
	assert_int_equal(krseq_probe(), 0);
	mode = krseq_mode();
	print_message("mode %s, node_id %s\n", krseq_mode_name(),
		      krseq_has_node() ? "trusted" : "untrusted");
	if (&__rseq_size && __rseq_size > 0)
		assert_int_equal(mode, KRSEQ_GLIBC);
	assert_true(mode == KRSEQ_GLIBC || mode == KRSEQ_OWN || mode == KRSEQ_NONE);
	assert_string_equal(krseq_mode_name(), mode == KRSEQ_GLIBC ? "glibc" :
					       mode == KRSEQ_OWN   ? "own" :
								     "none");
	assert_int_equal(krseq_probe_error() == 0, mode != KRSEQ_NONE);
	/* No-ops except in mode OWN; the probing thread is registered. */
	assert_int_equal(krseq_thread_init(), 0);
	assert_int_equal(krseq_thread_init(), 0);
	if (mode != KRSEQ_OWN)
		assert_int_equal(krseq_thread_fini(), 0);
}

static void test_cpu_current_pinned(void **state)
{
	(void)state;
	gcheck_reset();
	check_cpus_pinned(true);
	gcheck_assert_none();
}

static void test_cpu_node(void **state)
{
	(void)state;
	if (!krseq_has_node()) {
		assert_int_equal(cpu_current_node(), -1);
		print_message("node_id untrusted (AT_RSEQ_FEATURE_SIZE < 28): -1\n");
		return;
	}
	for (int i = 0; i < ncpus; i++) {
		assert_int_equal(pin(cpus[i]), 0);
		assert_int_equal(cpu_current_node(), sysfs_node_of(cpus[i]));
	}
	assert_int_equal(pin(-1), 0);
	/* One node here: every CPU's node is 0. */
	if (access("/sys/devices/system/node/node1", F_OK) != 0)
		assert_int_equal(cpu_current_node(), 0);
}

static void test_mode_own(void **state)
{
	(void)state;
	run_mode_child("own", "own");
}

static void test_mode_none(void **state)
{
	(void)state;
	run_mode_child("none", "none");
}

int main(int argc, char **argv)
{
	int rc = child_dispatch(argc, argv, child_cases, ARRAY_SIZE(child_cases));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe),	  cmocka_unit_test(test_cpu_current_pinned),
		cmocka_unit_test(test_cpu_node),  cmocka_unit_test(test_mode_own),
		cmocka_unit_test(test_mode_none),
	};

	if (rc >= 0)
		return rc;
	cpus_init();
	test_watchdog(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
