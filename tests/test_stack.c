/* SPDX-License-Identifier: MIT */
/*
 * test_stack.c - goroutine stacks: reuse through the caches, pages given
 * back above the high-water mark, guard modes and the mprotect fallback,
 * stacks on their P's memory node and frees that go home.
 */
#include <numaif.h>
#include <pthread.h>

#include "tests/helpers.h"

#include "numa/mem.h"
#include "runtime/runtime.h"
#include "runtime/stack.h"

/* --- reuse ------------------------------------------------------------------ */

static void noop(void *arg)
{
	rg_wg_done(arg);
}

static void reuse_main(void *arg)
{
	int64_t carved, hot, cold;
	rg_wg wg = { 0 };
	int round, i;

	(void)arg;
	/* ThreadSanitizer makes a fiber per goroutine (a 768 KiB memset):
	 * 2,000 goroutines make the point there. */
	for (round = 0; round < (RG_TEST_TSAN ? 20 : 200); round++) {
		for (i = 0; i < 100; i++) {
			rg_wg_add(&wg, 1);
			GCHECK_EQ(rg_go(noop, &wg), 0);
		}
		rg_wg_wait(&wg);
	}
	stack_stats(&carved, &hot, &cold);
	/* 20,000 goroutines (2,000), at most 101 alive at a time: the caches
	 * recycle stacks, so only a few hundred slots are ever carved. */
	GCHECK(carved <= 400);
}

static void test_reuse(void **state)
{
	(void)state;
	RUN_FOR_PROCS(reuse_main, NULL, 1, 2);
}

/* --- RSS follows the live goroutine count ------------------------------------ */

#define TOUCH (48 * 1024)

struct rss_state {
	rg_wg started, gate, done;
};

static long rss_kib(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static noinline void touch_stack(void)
{
	volatile char buf[TOUCH];

	for (size_t i = 0; i < sizeof(buf); i += 1024)
		buf[i] = (char)(i >> 10);
	/* The array escapes, so the compiler must lay it out whole (clang
	 * otherwise packs the bytes written into a small frame). */
	__asm__ volatile("" : : "r"(buf) : "memory");
}

struct later {
	rg_wg wg;
	int ms;
};

static void *wake_later(void *arg)
{
	struct later *l = arg;

	usleep((useconds_t)l->ms * 1000);
	rg_wg_done(&l->wg);
	return NULL;
}

/* Block the calling goroutine about ms while nothing else runs, so that
 * every M parks. */
static void idle_for_ms(int ms)
{
	struct later l = { .ms = ms };
	pthread_t th;

	rg_wg_add(&l.wg, 1);
	GCHECK_EQ(pthread_create(&th, NULL, wake_later, &l), 0);
	rg_wg_wait(&l.wg);
	pthread_join(th, NULL);
}

static void rss_worker(void *arg)
{
	struct rss_state *st = arg;

	touch_stack();
	rg_wg_done(&st->started);
	rg_wg_wait(&st->gate);
	rg_wg_done(&st->done);
}

static void rss_main(void *arg)
{
	int n = TEST_SCALE(3000, 600), i;
	struct rss_state st = { 0 };
	int64_t carved, hot, cold;
	long base, peak, after;

	(void)arg;
	base = rss_kib();
	rg_wg_add(&st.gate, 1);
	for (i = 0; i < n; i++) {
		rg_wg_add(&st.started, 1);
		rg_wg_add(&st.done, 1);
		GCHECK_EQ(rg_go(rss_worker, &st), 0);
	}
	rg_wg_wait(&st.started);
	peak = rss_kib();
	rg_wg_done(&st.gate);
	rg_wg_wait(&st.done);
	/* Let the last ones finish exiting, then let every M go idle: idle Ms
	 * give the pages of stacks beyond the high-water mark back. */
	for (i = 0; i < 100; i++)
		rg_yield();
	idle_for_ms(50);
	after = rss_kib();
	stack_stats(&carved, &hot, &cold);
	GCHECK(carved >= n);
	GCHECK(cold > 0);
	if (!RG_TEST_SANITIZED) {
		/* ASan keeps large frames on its fake stacks, off ours. */
		GCHECK(peak - base >= (long)n * TOUCH / 1024 / 2);
		GCHECK(after - base <= (peak - base) / 2);
	}
}

static void test_rss_follows_live(void **state)
{
	(void)state;
	RUN_IN_RUNTIME(2, rss_main, NULL);
}

/* --- guard modes ----------------------------------------------------------- */

static void mode_main(void *arg)
{
	(void)arg;
	printf("mode=%d limit=%lld\n", (int)stack_guard_mode(), (long long)stack_guard_limit());
	fprintf(stderr, "mode=%d limit=%lld\n", (int)stack_guard_mode(),
		(long long)stack_guard_limit());
}

static int child_mode(void)
{
	return rg_main(NULL, mode_main, NULL) ? 1 : 0;
}

static void test_guard_modes(void **state)
{
	const char *env[] = { "RINGO_DEBUG=stackguard=mprotect", NULL };
	struct child_result r;
	int mode = -1;
	long long limit = -1;

	(void)state;
	run_child_case("mode", NULL, &r);
	assert_child_exit("mode", &r, 0);
	assert_int_equal(sscanf(r.err, "mode=%d limit=%lld", &mode, &limit), 2);
	/* MADV_GUARD_INSTALL where the kernel has it, mprotect otherwise. */
	assert_true(mode == STACK_GUARD_MADVISE || mode == STACK_GUARD_MPROTECT);
	assert_true(mode == STACK_GUARD_MADVISE ? limit == 0 : limit > 1000);
	child_result_free(&r);

	run_child_case("mode", env, &r);
	assert_child_exit("mode", &r, 0);
	assert_int_equal(sscanf(r.err, "mode=%d limit=%lld", &mode, &limit), 2);
	assert_int_equal(mode, STACK_GUARD_MPROTECT);
	assert_true(limit > 1000);
	child_result_free(&r);
}

/* --- the mprotect fallback ------------------------------------------------------ */

static volatile int depth_limit = 1 << 30;

static noinline int recurse(int depth)
{
	volatile char frame[512];

	frame[0] = (char)depth;
	if (depth >= depth_limit)
		return frame[0];
	return recurse(depth + 1) + frame[0];
}

static void overflow_worker(void *arg)
{
	(void)arg;
	recurse(0);
}

static void overflow_main(void *arg)
{
	rg_wg wg = { 0 };

	(void)arg;
	rg_wg_add(&wg, 1);
	rg_go(overflow_worker, NULL);
	rg_wg_wait(&wg);
}

static int child_overflow(void)
{
	rg_config cfg = { .maxprocs = 1, .stack_size = 64 * 1024 };

	rg_main(&cfg, overflow_main, NULL);
	return 0;
}

static void test_overflow_mprotect(void **state)
{
	const char *env[] = { "RINGO_DEBUG=stackguard=mprotect", NULL };
	struct child_result r;

	(void)state;
	run_child_case("overflow", env, &r);
	assert_child_exit("overflow", &r, 2);
	assert_child_stderr_has("overflow", &r, "fatal error: stack overflow in goroutine 2");
	assert_child_stderr_has("overflow", &r, "65536-byte stack");
	child_result_free(&r);
}

static void park_worker(void *arg)
{
	rg_wg_wait(arg);
}

static void limit_main(void *arg)
{
	rg_wg gate = { 0 };
	long n = 0;
	int r = 0;

	(void)arg;
	rg_wg_add(&gate, 1);
	while (n < 200000 && (r = rg_go(park_worker, &gate)) == 0) {
		n++;
		if ((n & 255) == 0)
			rg_yield(); /* let them run and take their stacks */
	}
	fprintf(stderr, "spawned=%ld r=%d limit=%lld\n", n, r, (long long)stack_guard_limit());
	rg_wg_done(&gate);
}

static int child_limit(void)
{
	rg_config cfg = { .maxprocs = 1, .stack_size = 16 * 1024 };

	return rg_main(&cfg, limit_main, NULL) ? 1 : 0;
}

static void test_mprotect_limit(void **state)
{
	const char *env[] = { "RINGO_DEBUG=stackguard=mprotect", NULL };
	struct child_result r;
	long spawned = 0;
	long long limit = 0;
	int rc = 0;
	const char *line;

	(void)state;
	/* TSan counts each goroutine stack as a fiber, and dies past 8128. */
	if (RG_TEST_TSAN)
		skip();
	run_child_case("limit", env, &r);
	assert_child_exit("limit", &r, 0);
	/* rg_go refuses with -EAGAIN, and says why, before the kernel's map
	 * limit is hit. */
	assert_child_stderr_has("limit", &r, "vm.max_map_count");
	line = strstr(r.err, "spawned=");
	assert_non_null(line);
	assert_int_equal(sscanf(line, "spawned=%ld r=%d limit=%lld", &spawned, &rc, &limit), 3);
	assert_int_equal(rc, -EAGAIN);
	assert_true(spawned + 1 >= limit - 1 && spawned < limit);
	child_result_free(&r);
}

/* --- memory nodes ------------------------------------------------------------ */

#define NODE_ABSENT 7 /* a node this machine lacks (checked) */

/* The NUMA policy of the page at addr: its mode, and its node mask in
 * *mask (first word).  Returns 0 or -errno. */
static int policy_at(const void *addr, int *mode, unsigned long *mask)
{
	unsigned long m[1024 / (8 * sizeof(unsigned long))] = { 0 };

	if (get_mempolicy(mode, m, 1024, (void *)addr, MPOL_F_ADDR) < 0)
		return -errno;
	*mask = m[0];
	return 0;
}

/* Whether this machine can run the node tests: node 0 has memory, node
 * NODE_ABSENT does not, and get_mempolicy answers. */
static bool nodes_testable(void)
{
	unsigned long mask;
	int mode, x;

	return node_has_memory(0) && !node_has_memory(NODE_ABSENT) &&
	       policy_at(&x, &mode, &mask) == 0;
}

static void node_policy_main(void *arg)
{
	struct stk_cache c0, cx;
	struct stk *s0, *sx;
	unsigned long mask = 0;
	int mode = -1, err = 0;

	(void)arg;
	/* The main goroutine runs on a stack of its P's home node, 0. */
	GCHECK_EQ(policy_at(__builtin_frame_address(0), &mode, &mask), 0);
	GCHECK_EQ(mode, MPOL_PREFERRED);
	GCHECK_EQ(mask, 1ul);

	stackcache_init(&c0, 0);
	stackcache_init(&cx, NODE_ABSENT);
	GCHECK_EQ(c0.node, 0);
	GCHECK_EQ(cx.node, -1); /* the clean fallback */
	GCHECK(c0.head == NULL && c0.n == 0 && cx.head == NULL && cx.n == 0);

	s0 = stackalloc(&c0, &err);
	GCHECK(s0 != NULL);
	if (!s0)
		return;
	GCHECK_EQ(s0->memnode, 0);
	GCHECK_EQ(policy_at(s0->lo, &mode, &mask), 0);
	GCHECK_EQ(mode, MPOL_PREFERRED);
	GCHECK_EQ(mask, 1ul);
	GCHECK_EQ(policy_at(s0->hi - 1, &mode, &mask), 0);
	GCHECK_EQ(mode, MPOL_PREFERRED);

	sx = stackalloc(&cx, &err);
	GCHECK(sx != NULL);
	if (!sx)
		return;
	GCHECK_EQ(sx->memnode, -1);
	GCHECK_EQ(policy_at(sx->lo, &mode, &mask), 0);
	GCHECK_EQ(mode, MPOL_DEFAULT);

	/* Each into its own node's cache: kept there. */
	stackfree(&c0, s0);
	stackfree(&cx, sx);
	GCHECK(c0.n == 1 && c0.head == s0);
	GCHECK(cx.n == 1 && cx.head == sx);
	stackcache_flush(&c0);
	stackcache_flush(&cx);
	GCHECK(c0.n == 0 && c0.head == NULL && cx.n == 0 && cx.head == NULL);
}

static void test_node_policy(void **state)
{
	(void)state;
	if (!nodes_testable())
		skip();
	RUN_IN_RUNTIME(1, node_policy_main, NULL);
}

static void free_home_main(void *arg)
{
	struct stk_cache c0, cx;
	struct stk *s0, *sx;
	int64_t carved, hot, cold, carved2, hot2, cold2;
	int err = 0;

	(void)arg;
	stackcache_init(&c0, 0);
	stackcache_init(&cx, NODE_ABSENT);
	s0 = stackalloc(&c0, &err);
	sx = stackalloc(&cx, &err);
	GCHECK(s0 != NULL && sx != NULL);
	if (!s0 || !sx)
		return;
	GCHECK(s0->memnode == 0 && sx->memnode == -1);

	/* Freed on the wrong node: back to its own node's pool, not into
	 * the cache it was freed to. */
	stack_stats(&carved, &hot, &cold);
	stackfree(&cx, s0);
	GCHECK_EQ(cx.n, 0);
	GCHECK(cx.head == NULL);
	stackfree(&c0, sx);
	GCHECK_EQ(c0.n, 0);
	GCHECK(c0.head == NULL);
	stack_stats(&carved2, &hot2, &cold2);
	GCHECK_EQ(carved2, carved);
	GCHECK_EQ(hot2, hot + 2);

	/* The next stack of each node's cache is the one that went home. */
	GCHECK(stackalloc(&c0, &err) == s0);
	GCHECK(stackalloc(&cx, &err) == sx);
	GCHECK(c0.n == 0 && cx.n == 0);
	stackfree(&c0, s0);
	stackfree(&cx, sx);
	stackcache_flush(&c0);
	stackcache_flush(&cx);
}

static void test_free_goes_home(void **state)
{
	(void)state;
	if (!nodes_testable())
		skip();
	RUN_IN_RUNTIME(1, free_home_main, NULL);
}

/* Two Ps on two nodes ("p0;p1"; node 1 absent on a one-node machine):
 * goroutines yield, are stolen across the nodes and exit on either, so
 * their stacks go home. */
static void hop(void *arg)
{
	int i;

	for (i = 0; i < 4; i++)
		rg_yield();
	rg_wg_done(arg);
}

#define TWO_NODES_ROUNDS (RG_TEST_TSAN ? 20 : 100) /* of 100 goroutines */

static void two_nodes_main(void *arg)
{
	int64_t carved, hot, cold;
	rg_wg wg = { 0 };
	int round, i;

	(void)arg;
	for (round = 0; round < TWO_NODES_ROUNDS; round++) {
		for (i = 0; i < 100; i++) {
			rg_wg_add(&wg, 1);
			if (rg_go(hop, &wg))
				exit(1);
		}
		rg_wg_wait(&wg);
	}
	stack_stats(&carved, &hot, &cold);
	fprintf(stderr, "node0=%d node1=%d carved=%lld\n", sched.allp[0]->stackcache.node,
		sched.allp[1]->stackcache.node, (long long)carved);
}

static int child_two_nodes(void)
{
	rg_config cfg = { .maxprocs = 2 };

	return rg_main(&cfg, two_nodes_main, NULL) ? 1 : 0;
}

static void test_two_nodes(void **state)
{
	const char *env[] = { "RINGO_NUMA_TOPOLOGY=p0;p1", NULL };
	struct child_result r;
	long n0 = -2, n1 = -2, carved = -1;

	(void)state;
	if (!nodes_testable())
		skip();
	run_child_case("two_nodes", env, &r);
	assert_child_exit("two_nodes", &r, 0);
	assert_true(child_find_int(&r, "node0=", &n0));
	assert_true(child_find_int(&r, "node1=", &n1));
	assert_true(child_find_int(&r, "carved=", &carved));
	assert_int_equal(n0, 0);
	/* Node 1: the machine's, or, where it has none, the fallback. */
	assert_int_equal(n1, node_has_memory(1) ? 1 : -1);
	/* 10,000 goroutines (2,000 under TSan), at most 101 alive at a time,
	 * on two nodes. */
	assert_true(carved > 0 && carved <= 600);
	child_result_free(&r);
}

/* --- admission under an address-space limit ---------------------------------- */

static rg_chan *as_gate;

static void as_blocker(void *arg)
{
	(void)arg;
	rg_chan_recv(as_gate, NULL);
}

static void as_main(void *arg)
{
	int n = 0, again = 0, r;

	(void)arg;
	/* Goroutines that never end, until rg_go says there is no room. */
	while ((r = rg_go(as_blocker, NULL)) == 0 && n < 1000000)
		if (++n % 64 == 0)
			rg_yield(); /* let them take their stacks */
	GCHECK(r == -ENOMEM || r == -EAGAIN);
	GCHECK(n > 100);
	/* Shed the load: they end, and rg_go admits goroutines again. */
	rg_chan_close(as_gate);
	for (int i = 0; i < 50; i++)
		rg_sleep_ns(1000000);
	for (int i = 0; i < 100; i++)
		again += rg_go(as_blocker, NULL) == 0;
	GCHECK_EQ(again, 100);
	fprintf(stderr, "spawned=%d r=%d\n", n, r);
}

static int child_rlimit_as(void)
{
	/* One P, so one M: a thread the runtime could not create would be
	 * fatal, as in Go, and is not what this tests. */
	rg_config cfg = { .maxprocs = 1 };
	const char *mb = getenv("RG_TEST_AS_MB");
	unsigned long pages = 0;
	struct rlimit rl;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f || !mb || fscanf(f, "%lu", &pages) != 1)
		return 1;
	fclose(f);
	rl.rlim_cur = rl.rlim_max =
		pages * (unsigned long)getpagesize() + strtoul(mb, NULL, 10) * 1024 * 1024;
	if (setrlimit(RLIMIT_AS, &rl))
		return 1;
	as_gate = rg_chan_make(0, 0);
	if (!as_gate)
		return 1;
	return child_checks_status(rg_main(&cfg, as_main, NULL));
}

/*
 * Under RLIMIT_AS, rg_go returned 0 and the goroutine died at its first
 * run ("fatal error: cannot allocate a stack"): the arena was mapped only
 * then.  Now rg_go says -ENOMEM (or -EAGAIN) and a program that sheds load
 * goes on.
 */
static void test_rg_go_enomem_under_rlimit_as(void **state)
{
	static const char *const limits[] = { "RG_TEST_AS_MB=256", "RG_TEST_AS_MB=1500" };

	(void)state;
	/* The sanitizers map terabytes of shadow memory up front. */
	if (RG_TEST_SANITIZED)
		skip();
	for (size_t i = 0; i < ARRAY_SIZE(limits); i++) {
		const char *env[] = { limits[i], NULL };
		struct child_result r;

		run_child_case("rlimit_as", env, &r);
		assert_child_stderr_lacks("rlimit_as", &r, "fatal error");
		assert_child_exit("rlimit_as", &r, 0);
		assert_child_stderr_has("rlimit_as", &r, "spawned=");
		child_result_free(&r);
	}
}

int main(int argc, char **argv)
{
	static const struct child_case cases[] = {
		{ "mode", child_mode },		  { "overflow", child_overflow },
		{ "limit", child_limit },	  { "two_nodes", child_two_nodes },
		{ "rlimit_as", child_rlimit_as },
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reuse),
		cmocka_unit_test(test_rss_follows_live),
		cmocka_unit_test(test_guard_modes),
		cmocka_unit_test(test_overflow_mprotect),
		cmocka_unit_test(test_mprotect_limit),
		cmocka_unit_test(test_node_policy),
		cmocka_unit_test(test_free_goes_home),
		cmocka_unit_test(test_two_nodes),
		cmocka_unit_test(test_rg_go_enomem_under_rlimit_as),
	};
	int rc = child_dispatch(argc, argv, cases, ARRAY_SIZE(cases));

	if (rc >= 0)
		return rc;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
