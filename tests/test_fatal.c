/* SPDX-License-Identifier: MIT */
/*
 * test_fatal - errors that end the process: deadlock detection, stack
 * overflow on a guard page and by a frame larger than the guard,
 * goroutine-only calls from a plain thread, a write into another
 * goroutine's guard page (a fault, not an overflow), and an unrelated
 * SIGSEGV that must stay a SIGSEGV.
 *
 * Each case runs in a child process (see helpers.h); the parent checks the
 * exit status and the message on stderr.  Children print "TEST-GOID n"
 * lines on stderr so that the parent knows which ids to look for.
 */
#include <pthread.h>

#include "tests/helpers.h"
#include "runtime/runtime.h"

#define OVERFLOW_MSG "fatal error: stack overflow"

/* Does @s name "goroutine @id" (not a longer number that starts the same)? */
static bool names_goroutine(const char *s, unsigned long long id, const char *suffix)
{
	char needle[64];
	size_t len;

	len = (size_t)snprintf(needle, sizeof(needle), "goroutine %llu%s", id, suffix);
	for (const char *p = s; p && (p = strstr(p, needle)); p++) {
		if (*suffix || (p[len] < '0' || p[len] > '9'))
			return true;
	}
	return false;
}

/* The ids the child printed with print_goid(), in order. */
static int collect_goids(const struct child_result *r, unsigned long long *ids, int max)
{
	int n = 0;

	for (const char *p = r->err; p && n < max && (p = strstr(p, "TEST-GOID ")); p++)
		ids[n++] = strtoull(p + 10, NULL, 10);
	return n;
}

/* --------------------------------------------------------------------- */
/* Deadlock                                                              */
/* --------------------------------------------------------------------- */

static rg_wg never; /* nobody ever calls done */

static void quick_worker(void *arg)
{
	rg_wg_done(arg);
}

/* The main goroutine waits on a WaitGroup nobody will finish. */
static void deadlock_main(void *arg)
{
	rg_wg finished = { 0 };
	int spawn = *(int *)arg;

	/* Goroutines that have come and gone do not change the verdict. */
	for (int i = 0; i < spawn; i++) {
		rg_wg_add(&finished, 1);
		rg_go(quick_worker, &finished);
	}
	rg_wg_wait(&finished);
	rg_wg_add(&never, 1);
	rg_wg_wait(&never);
}

static int child_deadlock_main(void)
{
	rg_config cfg = { .maxprocs = 1 };
	int spawn = 0;

	rg_main(&cfg, deadlock_main, &spawn);
	return 0;
}

static int child_deadlock_main_p2(void)
{
	rg_config cfg = { .maxprocs = 2 };
	int spawn = 10;

	rg_main(&cfg, deadlock_main, &spawn);
	return 0;
}

static rg_wg three_started;

static void three_worker(void *arg)
{
	(void)arg;
	print_goid();
	rg_wg_done(&three_started);
	rg_wg_wait(&never);
}

/* Three goroutines and main, all blocked. */
static void deadlock_three_main(void *arg)
{
	(void)arg;
	rg_wg_add(&never, 1);
	for (int i = 0; i < 3; i++) {
		rg_wg_add(&three_started, 1);
		rg_go(three_worker, NULL);
	}
	rg_wg_wait(&three_started);
	print_goid();
	rg_wg_wait(&never);
}

static int child_deadlock_three(void)
{
	return run_child_main(1, deadlock_three_main);
}

static int child_deadlock_three_p4(void)
{
	return run_child_main(4, deadlock_three_main);
}

static void check_deadlock(const char *name, int want_goroutines)
{
	struct child_result r;
	unsigned long long ids[8];
	int n;

	run_child_case(name, NULL, &r);
	assert_child_exit(name, &r, 2);
	assert_child_stderr_has(name, &r, DEADLOCK_MSG);
	assert_child_stderr_has(name, &r, "goroutine 1 [");
	assert_child_stderr_has(name, &r, "sync.WaitGroup.Wait");

	n = collect_goids(&r, ids, ARRAY_SIZE(ids));
	if (n != want_goroutines) {
		child_dump(name, &r);
		fail_msg("child '%s' printed %d goroutine ids, expected %d", name, n,
			 want_goroutines);
	}
	for (int i = 0; i < n; i++) {
		if (!names_goroutine(r.err, ids[i], " [sync.WaitGroup.Wait")) {
			child_dump(name, &r);
			fail_msg("child '%s': no \"goroutine %llu [sync.WaitGroup.Wait\" line",
				 name, ids[i]);
		}
	}
	child_result_free(&r);
}

static void test_deadlock_main(void **state)
{
	(void)state;
	check_deadlock("deadlock_main", 0);
}

static void test_deadlock_main_procs2(void **state)
{
	(void)state;
	check_deadlock("deadlock_main_p2", 0);
}

static void test_deadlock_three(void **state)
{
	(void)state;
	check_deadlock("deadlock_three", 4); /* three workers and main */
}

static void test_deadlock_three_procs4(void **state)
{
	(void)state;
	check_deadlock("deadlock_three_p4", 4);
}

/* --------------------------------------------------------------------- */
/* Stack overflow                                                        */
/* --------------------------------------------------------------------- */

#define SMALL_STACK (64 * 1024)

static volatile int recurse_limit = 1 << 30;

static __attribute__((__noinline__)) int recurse(int depth)
{
	volatile char frame[512];

	frame[0] = (char)depth;
	if (depth >= recurse_limit)
		return frame[0];
	return recurse(depth + 1) + frame[0];
}

static void overflow_worker(void *arg)
{
	(void)arg;
	print_goid();
	recurse(0);
}

static void yield_worker(void *arg)
{
	for (int i = 0; i < 1000; i++)
		rg_yield();
	rg_wg_done(arg);
}

static void overflow_main(void *arg)
{
	static rg_wg wg;
	int others = *(int *)arg;

	for (int i = 0; i < others; i++) {
		rg_wg_add(&wg, 1);
		rg_go(yield_worker, &wg);
	}
	rg_wg_add(&wg, 1);
	rg_go(overflow_worker, NULL); /* never calls done */
	rg_wg_wait(&wg);
}

static int child_overflow(void)
{
	rg_config cfg = { .maxprocs = 1, .stack_size = SMALL_STACK };
	int others = 0;

	rg_main(&cfg, overflow_main, &others);
	return 0;
}

static int child_overflow_p2(void)
{
	rg_config cfg = { .maxprocs = 2, .stack_size = SMALL_STACK };
	int others = 4;

	rg_main(&cfg, overflow_main, &others);
	return 0;
}

static void check_overflow(const char *name)
{
	struct child_result r;
	unsigned long long id;

	run_child_case(name, NULL, &r);
	assert_child_exit(name, &r, 2);
	assert_child_stderr_has(name, &r, OVERFLOW_MSG);
	assert_child_stderr_lacks(name, &r, DEADLOCK_MSG);
	if (collect_goids(&r, &id, 1) != 1) {
		child_dump(name, &r);
		fail_msg("child '%s' did not print its goroutine id", name);
	}
	/* The goroutine is named in the fatal message (after our own line). */
	const char *msg = strstr(r.err, OVERFLOW_MSG);
	if (!names_goroutine(msg, id, "")) {
		child_dump(name, &r);
		fail_msg("child '%s': the message does not name goroutine %llu", name, id);
	}
	child_result_free(&r);
}

static void test_stack_overflow(void **state)
{
	(void)state;
	check_overflow("overflow");
	check_overflow("overflow_p2");
}

/* --------------------------------------------------------------------- */
/* Goroutine-only calls from a plain thread                              */
/* --------------------------------------------------------------------- */

static int child_yield_outside(void)
{
	rg_yield();
	return 0;
}

static int child_exit_outside(void)
{
	rg_exit();
}

static void *yield_thread(void *arg)
{
	(void)arg;
	rg_yield();
	return NULL;
}

/* While the runtime runs, from a thread it does not own. */
static void yield_from_thread_main(void *arg)
{
	pthread_t th;

	(void)arg;
	if (pthread_create(&th, NULL, yield_thread, NULL) == 0)
		pthread_join(th, NULL);
}

static int child_yield_thread_running(void)
{
	rg_main(NULL, yield_from_thread_main, NULL);
	return 0;
}

static void check_misuse(const char *name, const char *call)
{
	struct child_result r;

	run_child_case(name, NULL, &r);
	assert_child_exit(name, &r, 2);
	assert_child_stderr_has(name, &r, call);
	assert_child_stderr_has(name, &r, "fatal error");
	child_result_free(&r);
}

static void test_goroutine_only_calls(void **state)
{
	(void)state;
	check_misuse("yield_outside", "rg_yield");
	check_misuse("exit_outside", "rg_exit");
	check_misuse("yield_thread_running", "rg_yield");
}

/* --------------------------------------------------------------------- */
/* An unrelated SIGSEGV                                                  */
/* --------------------------------------------------------------------- */

static int *volatile null_ptr;

static void segv_worker(void *arg)
{
	(void)arg;
	*null_ptr = 42;
}

static void segv_main(void *arg)
{
	static rg_wg wg;

	(void)arg;
	rg_wg_add(&wg, 1);
	rg_go(segv_worker, NULL);
	rg_wg_wait(&wg);
}

static int child_segv(void)
{
	rg_config cfg = { .maxprocs = 2, .stack_size = SMALL_STACK };

	rg_main(&cfg, segv_main, NULL);
	return 0;
}

/*
 * A fault that is not on a guard page is not a stack overflow: the
 * runtime's handler must let the default action kill the process with
 * SIGSEGV.  Under a sanitizer the sanitizer reports the fault itself and
 * exits, so only "did not succeed" is checked there.
 */
static void test_unrelated_segv(void **state)
{
	const char *name = "segv";
	struct child_result r;

	(void)state;
	run_child_case(name, NULL, &r);
	if (r.timed_out || (r.exited && r.exit_code == 0)) {
		child_dump(name, &r);
		fail_msg("child '%s' survived a null pointer write", name);
	}
	assert_child_stderr_lacks(name, &r, OVERFLOW_MSG);
	if (!RG_TEST_SANITIZED && !(r.signaled && r.signo == SIGSEGV)) {
		child_dump(name, &r);
		fail_msg("child '%s': expected death by SIGSEGV", name);
	}
	child_result_free(&r);
}

/* --------------------------------------------------------------------- */
/* Faults that are not the faulting goroutine's overflow                 */
/* --------------------------------------------------------------------- */

#define FAULT_MSG   "unexpected fault address"
#define FAULT_STACK (64 * 1024)

static rg_chan *fault_gate;
static char *volatile victim_guard; /* a byte of the victim's guard page */

static void fault_victim(void *arg)
{
	struct g *gp = getg();

	(void)arg;
	/* Its own guard page lies just below its stack. */
	victim_guard = gp->ext->stack->lo - 64;
	rg_chan_recv(fault_gate, NULL);
}

static void wild_writer(void *arg)
{
	(void)arg;
	print_goid();
	*victim_guard = 1; /* another goroutine's guard: not an overflow */
}

static void wild_main(void *arg)
{
	(void)arg;
	fault_gate = rg_chan_make(0, 0);
	rg_go(fault_victim, NULL);
	while (!victim_guard)
		rg_yield();
	rg_go(wild_writer, NULL);
	rg_chan_recv(fault_gate, NULL);
}

static int child_wild_write(void)
{
	rg_config cfg = { .maxprocs = 1, .stack_size = FAULT_STACK };

	rg_main(&cfg, wild_main, NULL);
	return 0;
}

/* Run child case name, which faults where the runtime does not own the
 * fault.  Under a sanitizer, which reports the fault itself, only "did not
 * succeed" is checked and false returned (r freed); else the report's
 * first lines are checked and true returned. */
static bool run_faulting_child(const char *name, struct child_result *r)
{
	run_child_case(name, NULL, r);
	if (RG_TEST_SANITIZED) {
		assert_false(r->exited && r->exit_code == 0);
		child_result_free(r);
		return false;
	}
	assert_child_stderr_has(name, r, FAULT_MSG);
	assert_child_stderr_has(name, r, "[signal SIGSEGV: segmentation violation");
	return true;
}

/* The child died of SIGSEGV; r is freed. */
static void expect_segv_death(const char *name, struct child_result *r)
{
	if (!(r->signaled && r->signo == SIGSEGV)) {
		child_dump(name, r);
		fail_msg("child '%s': expected death by SIGSEGV", name);
	}
	child_result_free(r);
}

/* The id that the child printed, named after "goroutine " in the report. */
static void check_fault_names_goroutine(const char *name, struct child_result *r, const char *msg)
{
	unsigned long long id;

	if (collect_goids(r, &id, 1) != 1) {
		child_dump(name, r);
		fail_msg("child '%s' did not print its goroutine id", name);
	}
	if (!names_goroutine(strstr(r->err, msg), id, " [running]")) {
		child_dump(name, r);
		fail_msg("child '%s': the report does not name goroutine %llu", name, id);
	}
}

/*
 * A write from goroutine N into another goroutine's guard page was
 * reported as "stack overflow in goroutine 0": it is Go's "unexpected
 * fault address", naming N, and the process dies of SIGSEGV.
 */
static void test_wild_write_into_other_guard(void **state)
{
	const char *name = "wild_write";
	struct child_result r;

	(void)state;
	if (!run_faulting_child(name, &r))
		return;
	assert_child_stderr_lacks(name, &r, OVERFLOW_MSG);
	check_fault_names_goroutine(name, &r, FAULT_MSG);
	expect_segv_death(name, &r);
}

/* A plain thread of the program faults while the runtime runs. */
static void *thread_segv(void *arg)
{
	(void)arg;
	fprintf(stderr, "TEST-TID %d\n", (int)gettid());
	*null_ptr = 42;
	return NULL;
}

static int64_t join_thread(void *arg)
{
	return pthread_join(*(pthread_t *)arg, NULL);
}

static void thread_segv_main(void *arg)
{
	pthread_t t;

	(void)arg;
	GCHECK_EQ(pthread_create(&t, NULL, thread_segv, NULL), 0);
	rg_blocking(join_thread, &t);
}

static int child_thread_segv(void)
{
	rg_config cfg = { .maxprocs = 1 };

	rg_main(&cfg, thread_segv_main, NULL);
	return 0;
}

/*
 * A fault on a thread that is not an M, with no handler of the program's
 * to pass it to: reported as any other unexpected fault, naming the
 * thread, and the process dies of SIGSEGV.
 */
static void test_plain_thread_fault_reported(void **state)
{
	const char *name = "thread_segv";
	struct child_result r;
	char want[96];
	const char *tid;

	(void)state;
	if (!run_faulting_child(name, &r))
		return;
	tid = strstr(r.err, "TEST-TID ");
	if (!tid) {
		child_dump(name, &r);
		fail_msg("child '%s' did not print its thread id", name);
	}
	snprintf(want, sizeof(want), "[on thread %d, which is not running a goroutine]",
		 atoi(tid + 9));
	assert_child_stderr_has(name, &r, want);
	expect_segv_death(name, &r);
}

/* A frame far larger than the guard page.  The library and the tests are
 * built with -fstack-clash-protection, which probes every page of it: the
 * first probe past the stack's end hits the guard. */
static __attribute__((__noinline__)) void large_frame(void (*volatile use)(char *, size_t))
{
	char buf[256 * 1024];

	use(buf, sizeof(buf));
}

static void use_buf(char *buf, size_t n)
{
	memset(buf, 1, n);
}

static void large_frame_worker(void *arg)
{
	(void)arg;
	print_goid();
	large_frame(use_buf);
}

static void large_frame_main(void *arg)
{
	(void)arg;
	fault_gate = rg_chan_make(0, 0);
	rg_go(fault_victim, NULL); /* a neighbour below or above */
	rg_go(large_frame_worker, NULL);
	rg_chan_recv(fault_gate, NULL);
}

static int child_large_frame(void)
{
	rg_config cfg = { .maxprocs = 1, .stack_size = FAULT_STACK };

	rg_main(&cfg, large_frame_main, NULL);
	return 0;
}

/*
 * A frame larger than the guard page (256 KiB on a 64 KiB stack) is an
 * overflow of the goroutine that made it, reported as such: it died with
 * a bare SIGSEGV, or wrote into a neighbour's stack.
 */
static void test_large_frame_overflow_reported(void **state)
{
	const char *name = "large_frame";
	struct child_result r;

	(void)state;
	run_child_case(name, NULL, &r);
	if (RG_TEST_SANITIZED) {
		assert_false(r.exited && r.exit_code == 0);
		child_result_free(&r);
		return;
	}
	assert_child_exit(name, &r, 2);
	assert_child_stderr_has(name, &r, OVERFLOW_MSG);
	check_fault_names_goroutine(name, &r, OVERFLOW_MSG);
	child_result_free(&r);
}

static const struct child_case child_cases[] = {
	{ "deadlock_main", child_deadlock_main },
	{ "deadlock_main_p2", child_deadlock_main_p2 },
	{ "deadlock_three", child_deadlock_three },
	{ "deadlock_three_p4", child_deadlock_three_p4 },
	{ "overflow", child_overflow },
	{ "overflow_p2", child_overflow_p2 },
	{ "yield_outside", child_yield_outside },
	{ "exit_outside", child_exit_outside },
	{ "yield_thread_running", child_yield_thread_running },
	{ "segv", child_segv },
	{ "wild_write", child_wild_write },
	{ "thread_segv", child_thread_segv },
	{ "large_frame", child_large_frame },
};

int main(int argc, char **argv)
{
	int rc = child_dispatch(argc, argv, child_cases, ARRAY_SIZE(child_cases));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deadlock_main),
		cmocka_unit_test(test_deadlock_main_procs2),
		cmocka_unit_test(test_deadlock_three),
		cmocka_unit_test(test_deadlock_three_procs4),
		cmocka_unit_test(test_stack_overflow),
		cmocka_unit_test(test_goroutine_only_calls),
		cmocka_unit_test(test_unrelated_segv),
		cmocka_unit_test(test_wild_write_into_other_guard),
		cmocka_unit_test(test_plain_thread_fault_reported),
		cmocka_unit_test(test_large_frame_overflow_reported),
	};

	if (rc >= 0)
		return rc;
	test_watchdog(120);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
