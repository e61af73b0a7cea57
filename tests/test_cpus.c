/* SPDX-License-Identifier: MIT */
/*
 * test_cpus - how many CPUs the runtime may use (kernel_iface/cgroup.c and
 * the affinity calls of kernel_iface/thread.c):
 *
 *  - ki_cgroup_cpu_limit on fake cgroup trees in a mkdtemp directory (a
 *    fake /proc/self/cgroup beside a fake /sys/fs/cgroup): no limit
 *    ("max 100000"), 1.5 and 0.5 CPUs, nested cgroups where the parent or
 *    the child is tighter, missing cpu.max files, malformed ones
 *    (-EINVAL), cgroup v1-only and hybrid /proc/self/cgroup contents, a
 *    cgroup path that is not under the mount (another namespace: the
 *    mount's own cpu.max counts), and the real system's files;
 *  - ki_default_procs follows Go 1.25's rule, min(CPUs in the mask,
 *    max(ceil(limit), 2)), checked with the mask narrowed to 1..4 CPUs;
 *  - ki_affinity_cpus lists what sched_getaffinity says, ascending;
 *  - ki_pin_thread moves the calling thread (sched_getcpu() equals the CPU
 *    afterwards) and only it, and ki_set_affinity restores the mask.
 */
#include <ftw.h>
#include <pthread.h>
#include <sched.h>
#include <sys/stat.h>

#include "tests/helpers.h"

#include "kernel_iface/kernel.h"

#define MAX_CPUS 4096

static char tmp[] = "/tmp/ringo-test-cpus-XXXXXX";
static char proc_file[sizeof(tmp) + 32]; /* the fake /proc/self/cgroup */
static char root[sizeof(tmp) + 32];	 /* the fake /sys/fs/cgroup */

/* --------------------------------------------------------------------- */
/* Fake cgroup trees                                                     */
/* --------------------------------------------------------------------- */

static void mkdir_p(const char *path)
{
	char buf[512];
	char *p;

	snprintf(buf, sizeof(buf), "%s", path);
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			fail_msg("mkdir %s: %s", buf, strerror(errno));
		*p = '/';
	}
	if (mkdir(buf, 0755) != 0 && errno != EEXIST)
		fail_msg("mkdir %s: %s", buf, strerror(errno));
}

static void write_file(const char *path, const char *content)
{
	FILE *f = fopen(path, "w");

	if (!f)
		fail_msg("fopen %s: %s", path, strerror(errno));
	fputs(content, f);
	assert_int_equal(fclose(f), 0);
}

/* The fake /proc/self/cgroup. */
static void put_proc(const char *content)
{
	write_file(proc_file, content);
}

/* root/dir/cpu.max (dir "" for the root itself), creating dir. */
static void put_cpu_max(const char *dir, const char *content)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", root, dir);
	mkdir_p(path);
	snprintf(path, sizeof(path), "%s/%s/cpu.max", root, dir);
	write_file(path, content);
}

/* A cgroup directory without a cpu.max file. */
static void put_dir(const char *dir)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", root, dir);
	mkdir_p(path);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int tree_setup(void **state)
{
	(void)state;
	memcpy(tmp + sizeof(tmp) - 7, "XXXXXX", 6);
	if (!mkdtemp(tmp))
		return -1;
	snprintf(proc_file, sizeof(proc_file), "%s/proc_self_cgroup", tmp);
	snprintf(root, sizeof(root), "%s/cgroup", tmp);
	return mkdir(root, 0755);
}

static int tree_teardown(void **state)
{
	(void)state;
	return nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int ncpus(void)
{
	int n = ki_affinity_count();

	assert_true(n >= 1);
	return n;
}

/* ki_cgroup_cpu_limit on the fake tree: its result, *limit set to -1 first. */
static int fake_limit(double *limit)
{
	*limit = -1;
	return ki_cgroup_cpu_limit(proc_file, root, limit);
}

static int min_int(int a, int b)
{
	return a < b ? a : b;
}

/* --------------------------------------------------------------------- */
/* ki_cgroup_cpu_limit                                                   */
/* --------------------------------------------------------------------- */

static void test_no_limit(void **state)
{
	double limit;

	(void)state;
	put_proc("0::/a\n");
	put_cpu_max("a", "max 100000\n");
	assert_int_equal(fake_limit(&limit), 0);
	assert_true(limit == -1); /* untouched */
	assert_int_equal(ki_default_procs(proc_file, root), ncpus());
}

static void test_one_and_a_half(void **state)
{
	double limit;

	(void)state;
	put_proc("0::/a\n");
	put_cpu_max("a", "150000 100000\n");
	assert_int_equal(fake_limit(&limit), 1);
	assert_true(limit == 1.5);
	/* ceil(1.5) = 2, or 1 on a machine (mask) with one CPU */
	assert_int_equal(ki_default_procs(proc_file, root), min_int(ncpus(), 2));
}

static void test_half(void **state)
{
	double limit;

	(void)state;
	put_proc("0::/a\n");
	put_cpu_max("a", "50000 100000\n");
	assert_int_equal(fake_limit(&limit), 1);
	assert_true(limit == 0.5);
	/* Go's minimum of 2, unless the mask has one CPU */
	assert_int_equal(ki_default_procs(proc_file, root), min_int(ncpus(), 2));
}

static void test_nested_parent_tighter(void **state)
{
	double limit;

	(void)state;
	put_proc("0::/a/b/c\n");
	put_cpu_max("a", "100000 100000\n");
	put_cpu_max("a/b", "300000 100000\n");
	put_cpu_max("a/b/c", "max 100000\n");
	assert_int_equal(fake_limit(&limit), 1);
	assert_true(limit == 1.0);
}

static void test_nested_child_tighter(void **state)
{
	double limit;

	(void)state;
	put_proc("0::/a/b\n");
	put_cpu_max("a", "200000 50000\n");  /* 4 CPUs */
	put_cpu_max("a/b", "30000 10000\n"); /* 3 CPUs */
	assert_int_equal(fake_limit(&limit), 1);
	assert_true(limit == 3.0);
}

/* The root's own cpu.max counts too (a namespaced container's root). */
static void test_nested_root_tighter(void **state)
{
	double limit;

	(void)state;
	put_proc("0::/a/b\n");
	put_cpu_max("", "250000 100000\n");
	put_cpu_max("a/b", "500000 100000\n");
	assert_int_equal(fake_limit(&limit), 1);
	assert_true(limit == 2.5);
}

static void test_missing_cpu_max(void **state)
{
	double limit;

	(void)state;
	put_proc("0::/a/b/c\n");
	put_dir("a/b/c");
	assert_int_equal(fake_limit(&limit), 0);
	assert_int_equal(ki_default_procs(proc_file, root), ncpus());

	/* only a middle one has a limit */
	put_cpu_max("a/b", "120000 100000\n");
	assert_int_equal(fake_limit(&limit), 1);
	assert_true(limit == 1.2);
}

static void test_formats_accepted(void **state)
{
	double limit;

	(void)state;
	put_proc("0::/a/\n");		   /* a trailing slash in the path */
	put_cpu_max("a", "150000 100000"); /* no newline */
	assert_int_equal(fake_limit(&limit), 1);
	assert_true(limit == 1.5);
	put_cpu_max("a", "max 100000");
	assert_int_equal(fake_limit(&limit), 0);
	put_cpu_max("a", "17592186044416 1000000\n"); /* the largest quota, 2^44 */
	assert_int_equal(fake_limit(&limit), 1);
	assert_true(limit == 17592186044416.0 / 1000000.0);
	assert_int_equal(ki_default_procs(proc_file, root), ncpus());
}

static void test_malformed_cpu_max(void **state)
{
	static const char *const bad[] = {
		"",
		"\n",
		"max",
		"max\n",
		"100000\n",
		"abc 100000\n",
		"max abc\n",
		"150000 abc\n",
		"0 100000\n",
		"150000 0\n",
		"max 0\n",
		"-1 100000\n",
		"150000 -100000\n",
		"+150000 100000\n",
		" 150000 100000\n",
		"150000  100000\n",
		"150000\t100000\n",
		"150000 100000 5\n",
		"150000 100000\n\n",
		"150000 100000x\n",
		"1500000000000000000000 100000\n",
		"150000 100000                                                    \n",
	};
	double limit;

	(void)state;
	put_proc("0::/a\n");
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		put_cpu_max("a", bad[i]);
		if (fake_limit(&limit) != -EINVAL)
			fail_msg("cpu.max \"%s\": got %d, want -EINVAL", bad[i],
				 fake_limit(&limit));
		/* an unreadable cgroup counts as no limit */
		assert_int_equal(ki_default_procs(proc_file, root), ncpus());
	}

	/* a malformed ancestor is an error too */
	put_cpu_max("a", "max 100000\n");
	put_cpu_max("", "garbage\n");
	assert_int_equal(fake_limit(&limit), -EINVAL);
}

static void test_cgroup_v1_only(void **state)
{
	double limit;

	(void)state;
	put_proc("12:cpu,cpuacct:/user.slice\n"
		 "4:memory:/user.slice\n"
		 "1:name=systemd:/user.slice/session-1.scope\n");
	put_cpu_max("user.slice", "50000 100000\n"); /* not looked at */
	assert_int_equal(fake_limit(&limit), -ENOENT);
	assert_int_equal(ki_default_procs(proc_file, root), ncpus());
}

/* cgroup v1 controllers beside the unified hierarchy's "0::" line. */
static void test_cgroup_hybrid(void **state)
{
	double limit;

	(void)state;
	put_proc("12:cpu,cpuacct:/user.slice\n"
		 "1:name=systemd:/user.slice\n"
		 "0::/user.slice\n");
	put_cpu_max("user.slice", "50000 100000\n");
	assert_int_equal(fake_limit(&limit), 1);
	assert_true(limit == 0.5);
}

static void test_bad_proc_file(void **state)
{
	double limit;

	(void)state;
	/* missing */
	assert_int_equal(fake_limit(&limit), -ENOENT);
	assert_int_equal(ki_default_procs(proc_file, root), ncpus());
	/* empty */
	put_proc("");
	assert_int_equal(fake_limit(&limit), -ENOENT);
	/* not an absolute path */
	put_proc("0::a\n");
	assert_int_equal(fake_limit(&limit), -EINVAL);
	/* no limit pointer */
	put_proc("0::/\n");
	assert_int_equal(ki_cgroup_cpu_limit(proc_file, root, NULL), -EINVAL);
}

/* "0::/" in a container with its own cgroup namespace: the mount is the
 * container's cgroup. */
static void test_namespace_root(void **state)
{
	double limit;

	(void)state;
	put_proc("0::/\n");
	assert_int_equal(fake_limit(&limit), 0);
	put_cpu_max("", "200000 100000\n");
	assert_int_equal(fake_limit(&limit), 1);
	assert_true(limit == 2.0);
}

/* A path that is not under the mount: only the mount's cpu.max is read. */
static void test_namespace_fallback(void **state)
{
	char slash_root[sizeof(root) + 2];
	double limit;

	(void)state;
	put_cpu_max("", "200000 100000\n");
	put_cpu_max("docker", "50000 100000\n"); /* not this process's */

	put_proc("0::/docker/0123abcd\n"); /* root/docker/0123abcd missing */
	assert_int_equal(fake_limit(&limit), 1);
	assert_true(limit == 2.0);

	/* outside the namespace's root: even if root/a/x existed */
	put_cpu_max("a/x", "10000 100000\n");
	put_proc("0::/../../a/x\n");
	assert_int_equal(fake_limit(&limit), 1);
	assert_true(limit == 2.0);

	/* a trailing slash on the root changes nothing */
	snprintf(slash_root, sizeof(slash_root), "%s/", root);
	put_proc("0::/docker\n");
	limit = -1;
	assert_int_equal(ki_cgroup_cpu_limit(proc_file, slash_root, &limit), 1);
	assert_true(limit == 0.5);
}

/* The real files: whatever this machine has, the answers are sane. */
static void test_real_system(void **state)
{
	double limit = -1;
	int r, procs;

	(void)state;
	r = ki_cgroup_cpu_limit(NULL, NULL, &limit);
	print_message("cgroup cpu limit: %d (%g); %d CPUs in the mask\n", r, limit, ncpus());
	assert_true(r == 0 || r == 1 || r == -ENOENT);
	if (r == 1)
		assert_true(limit > 0);
	procs = ki_default_procs(NULL, NULL);
	assert_true(procs >= 1 && procs <= ncpus());
}

/* --------------------------------------------------------------------- */
/* ki_default_procs: Go 1.25's rounding, with the mask narrowed          */
/* --------------------------------------------------------------------- */

struct procs_case {
	const char *cpu_max;
	double limit;
};

static const struct procs_case procs_cases[] = {
	{ "10000 100000\n", 0.1 },  { "50000 100000\n", 0.5 },	{ "100000 100000\n", 1.0 },
	{ "150000 100000\n", 1.5 }, { "200000 100000\n", 2.0 }, { "250000 100000\n", 2.5 },
	{ "320000 100000\n", 3.2 }, { "400000 100000\n", 4.0 }, { "10000000 100000\n", 100.0 },
};

/* Go's rule written out: min(CPUs, max(ceil(limit), 2)). */
static int go_procs(int cpus, double limit)
{
	int lim = (int)limit < limit ? (int)limit + 1 : (int)limit;

	return min_int(cpus, lim < 2 ? 2 : lim);
}

struct rule_arg {
	const int *cpus; /* the original mask */
	int k;		 /* narrow it to cpus[0..k) */
};

/* The fake root of procs_cases[i] (i == ARRAY_SIZE: no limit). */
static void case_root(size_t i, char *buf, size_t len)
{
	snprintf(buf, len, "%s/c%zu", root, i);
}

static void *rule_thread(void *p)
{
	struct rule_arg *a = p;
	char croot[sizeof(root) + 32];

	GCHECK_EQ(ki_set_affinity(a->cpus, a->k), 0);
	GCHECK_EQ(ki_affinity_count(), a->k);
	for (size_t i = 0; i < ARRAY_SIZE(procs_cases); i++) {
		const struct procs_case *c = &procs_cases[i];
		int got;

		case_root(i, croot, sizeof(croot));
		got = ki_default_procs(proc_file, croot);
		if (got != go_procs(a->k, c->limit))
			gcheck_fail("%d CPUs, limit %g: %d Ps, want %d", a->k, c->limit, got,
				    go_procs(a->k, c->limit));
	}
	case_root(ARRAY_SIZE(procs_cases), croot, sizeof(croot));
	GCHECK_EQ(ki_default_procs(proc_file, croot), a->k);
	return NULL;
}

static void test_default_procs_rule(void **state)
{
	static int cpus[MAX_CPUS];
	int n = ki_affinity_cpus(cpus, MAX_CPUS);
	char dir[64];

	(void)state;
	assert_true(n >= 1);
	/* spot checks of the rule itself */
	assert_int_equal(go_procs(1, 0.5), 1);
	assert_int_equal(go_procs(8, 0.5), 2);
	assert_int_equal(go_procs(8, 1.5), 2);
	assert_int_equal(go_procs(8, 2.5), 3);
	assert_int_equal(go_procs(2, 2.5), 2);

	/* one tree per case, root/cN/a, all made here: the threads only read */
	put_proc("0::/a\n");
	for (size_t i = 0; i <= ARRAY_SIZE(procs_cases); i++) {
		snprintf(dir, sizeof(dir), "c%zu/a", i);
		put_cpu_max(dir,
			    i < ARRAY_SIZE(procs_cases) ? procs_cases[i].cpu_max : "max 100000\n");
	}
	gcheck_reset();
	/* in other threads, so that this one's mask is never narrowed */
	for (int k = 1; k <= min_int(n, 5); k++) {
		struct rule_arg a = { .cpus = cpus, .k = k };
		pthread_t thr;

		assert_int_equal(pthread_create(&thr, NULL, rule_thread, &a), 0);
		assert_int_equal(pthread_join(thr, NULL), 0);
	}
	gcheck_assert_none();
	if (n < 4)
		print_message("only %d CPUs: the rule was checked on 1..%d\n", n, n);
}

/* --------------------------------------------------------------------- */
/* Affinity                                                              */
/* --------------------------------------------------------------------- */

/* The calling thread's mask from sched_getaffinity, as a sorted list. */
static int mask_cpus(int *cpus, int max)
{
	size_t size = CPU_ALLOC_SIZE(1 << 16);
	cpu_set_t *set = CPU_ALLOC(1 << 16);
	int n = 0;

	assert_non_null(set);
	assert_int_equal(sched_getaffinity(0, size, set), 0);
	for (int cpu = 0; cpu < (1 << 16); cpu++)
		if (CPU_ISSET_S(cpu, size, set) && n < max)
			cpus[n++] = cpu;
	CPU_FREE(set);
	return n;
}

static void test_affinity_cpus(void **state)
{
	static int want[MAX_CPUS], got[MAX_CPUS];
	int n;

	(void)state;
	n = mask_cpus(want, MAX_CPUS);
	assert_int_equal(ki_affinity_cpus(got, MAX_CPUS), n);
	assert_memory_equal(got, want, n * sizeof(int));
	for (int i = 1; i < n; i++)
		assert_true(got[i - 1] < got[i]);
	assert_int_equal(ki_affinity_count(), n);

	/* just the count; an exact fit; too small; bad arguments */
	assert_int_equal(ki_affinity_cpus(NULL, 0), n);
	assert_int_equal(ki_affinity_cpus(got, n), n);
	if (n > 1)
		assert_int_equal(ki_affinity_cpus(got, n - 1), -ERANGE);
	assert_int_equal(ki_affinity_cpus(got, -1), -EINVAL);
	assert_int_equal(ki_affinity_cpus(NULL, 1), -EINVAL);
}

struct pin_arg {
	const int *cpus;
	int n;
};

/* Pin this thread to each CPU of the mask in turn, then restore it. */
static void *pin_thread(void *p)
{
	struct pin_arg *a = p;
	int one[1], *after = calloc(MAX_CPUS, sizeof(int));
	int step = a->n > 64 ? a->n / 64 : 1;

	for (int i = 0; i < a->n; i += step) {
		int cpu = a->cpus[i];

		GCHECK_EQ(ki_pin_thread(cpu), 0);
		GCHECK_EQ(sched_getcpu(), cpu);
		GCHECK_EQ(ki_affinity_cpus(one, 1), 1);
		GCHECK_EQ(one[0], cpu);
	}
	/* the last CPU too, then back to the first */
	GCHECK_EQ(ki_pin_thread(a->cpus[a->n - 1]), 0);
	GCHECK_EQ(sched_getcpu(), a->cpus[a->n - 1]);
	GCHECK_EQ(ki_pin_thread(a->cpus[0]), 0);
	GCHECK_EQ(sched_getcpu(), a->cpus[0]);

	GCHECK_EQ(ki_set_affinity(a->cpus, a->n), 0);
	GCHECK(after != NULL);
	if (after) {
		GCHECK_EQ(ki_affinity_cpus(after, MAX_CPUS), a->n);
		GCHECK(memcmp(after, a->cpus, a->n * sizeof(int)) == 0);
	}
	free(after);
	return NULL;
}

static void test_pin_thread(void **state)
{
	static int cpus[MAX_CPUS], after[MAX_CPUS];
	struct pin_arg a = { .cpus = cpus };
	pthread_t thr;

	(void)state;
	a.n = ki_affinity_cpus(cpus, MAX_CPUS);
	assert_true(a.n >= 1);

	/* another thread: only that thread moves */
	gcheck_reset();
	assert_int_equal(pthread_create(&thr, NULL, pin_thread, &a), 0);
	assert_int_equal(pthread_join(thr, NULL), 0);
	gcheck_assert_none();
	assert_int_equal(ki_affinity_cpus(after, MAX_CPUS), a.n);
	assert_memory_equal(after, cpus, a.n * sizeof(int));

	/* this thread */
	pin_thread(&a);
	gcheck_assert_none();
}

/* A thread created while pinned inherits the pin. */
static void *report_mask(void *p)
{
	int *out = p;

	out[0] = ki_affinity_cpus(out + 1, 1);
	out[2] = sched_getcpu();
	return NULL;
}

static void test_pin_inherited(void **state)
{
	static int cpus[MAX_CPUS];
	int n = ki_affinity_cpus(cpus, MAX_CPUS), out[3];
	pthread_t thr;

	(void)state;
	assert_true(n >= 1);
	assert_int_equal(ki_pin_thread(cpus[n - 1]), 0);
	assert_int_equal(pthread_create(&thr, NULL, report_mask, out), 0);
	assert_int_equal(pthread_join(thr, NULL), 0);
	assert_int_equal(ki_set_affinity(cpus, n), 0);
	assert_int_equal(out[0], 1);
	assert_int_equal(out[1], cpus[n - 1]);
	assert_int_equal(out[2], cpus[n - 1]);
}

static void test_affinity_errors(void **state)
{
	static int cpus[MAX_CPUS], after[MAX_CPUS];
	int n = ki_affinity_cpus(cpus, MAX_CPUS);
	int neg[2] = { 0, -1 };

	(void)state;
	assert_int_equal(ki_pin_thread(-1), -EINVAL);
	assert_int_equal(ki_set_affinity(NULL, 1), -EINVAL);
	assert_int_equal(ki_set_affinity(cpus, 0), -EINVAL);
	assert_int_equal(ki_set_affinity(neg, 2), -EINVAL);
	/* a CPU number no machine has (Linux allows 8192 at most) */
	assert_int_equal(ki_pin_thread(60000), -EINVAL);
	assert_int_equal(ki_pin_thread(1 << 30), -EINVAL);
	/* the failures left the mask alone, and errno too */
	errno = 1234;
	assert_int_equal(ki_pin_thread(60000), -EINVAL);
	assert_int_equal(errno, 1234);
	assert_int_equal(ki_affinity_cpus(after, MAX_CPUS), n);
	assert_memory_equal(after, cpus, n * sizeof(int));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_no_limit, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_one_and_a_half, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_half, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_nested_parent_tighter, tree_setup,
						tree_teardown),
		cmocka_unit_test_setup_teardown(test_nested_child_tighter, tree_setup,
						tree_teardown),
		cmocka_unit_test_setup_teardown(test_nested_root_tighter, tree_setup,
						tree_teardown),
		cmocka_unit_test_setup_teardown(test_missing_cpu_max, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_formats_accepted, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_malformed_cpu_max, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_cgroup_v1_only, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_cgroup_hybrid, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_bad_proc_file, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_namespace_root, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_namespace_fallback, tree_setup, tree_teardown),
		cmocka_unit_test(test_real_system),
		cmocka_unit_test_setup_teardown(test_default_procs_rule, tree_setup, tree_teardown),
		cmocka_unit_test(test_affinity_cpus),
		cmocka_unit_test(test_pin_thread),
		cmocka_unit_test(test_pin_inherited),
		cmocka_unit_test(test_affinity_errors),
	};

	test_watchdog(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
