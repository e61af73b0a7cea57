/* SPDX-License-Identifier: MIT */
/*
 * test_lockrank.c - lock-order checking (debug builds: CONFIG_DEBUG_CHECKS
 * or any sanitizer build) and the per-M count of runtime locks held.  A
 * plain build skips the inversion case; make test runs this program again
 * built with CONFIG_DEBUG_CHECKS=y (DEBUG_TESTS in the Makefile).
 */
#include "tests/helpers.h"

#include "runtime/runtime.h"

static struct lock la, lb;

static void count_main(void *arg)
{
	struct m *mp = getm();

	(void)arg;
	GCHECK_EQ(mp->locks, 0);
	lockr(&la, LR_SCHED);
	lockr(&lb, LR_ALLG);
	GCHECK_EQ(mp->locks, 2);
	unlockr(&lb, LR_ALLG);
	unlockr(&la, LR_SCHED);
	GCHECK_EQ(mp->locks, 0);
}

static void test_locks_counted(void **state)
{
	(void)state;
	RUN_IN_RUNTIME(1, count_main, NULL);
}

static void inverted_main(void *arg)
{
	(void)arg;
	lockr(&lb, LR_ALLG);
	lockr(&la, LR_SCHED); /* out of order */
	unlockr(&la, LR_SCHED);
	unlockr(&lb, LR_ALLG);
}

static int child_inverted(void)
{
	return rg_main(NULL, inverted_main, NULL) ? 1 : 0;
}

static void test_inversion_is_fatal(void **state)
{
	struct child_result r;

	(void)state;
	if (!RG_DEBUG)
		skip(); /* the check is compiled out */
	run_child_case("inverted", NULL, &r);
	assert_child_exit("inverted", &r, 2);
	assert_child_stderr_has(
		"inverted", &r,
		"fatal error: lock order: taking sched.lock while holding sched.allglock");
	child_result_free(&r);
}

int main(int argc, char **argv)
{
	static const struct child_case cases[] = {
		{ "inverted", child_inverted },
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_locks_counted),
		cmocka_unit_test(test_inversion_is_fatal),
	};
	int rc = child_dispatch(argc, argv, cases, ARRAY_SIZE(cases));

	if (rc >= 0)
		return rc;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
