/* SPDX-License-Identifier: MIT */
/*
 * test_env - the environment rg_main() reads: RINGO_MAXPROCS and
 * RINGO_DEBUG (schedtrace, scheddetail), their precedence against
 * rg_config.maxprocs, and malformed values (reported, then ignored).
 *
 * Each case runs in a child process started with the variables under test
 * (see helpers.h).  A child reports what it saw as "TEST-MAXPROCS n" on
 * stderr, next to whatever the runtime printed there.
 */
#include "tests/helpers.h"

#define TRACE_RUN_MS 300

static void report_main(void *arg)
{
	(void)arg;
	fprintf(stderr, "TEST-MAXPROCS %d\n", rg_gomaxprocs(0));
}

static int child_report(void)
{
	return rg_main(NULL, report_main, NULL) == 0 ? 0 : 1;
}

static int child_report_cfg2(void)
{
	rg_config cfg = { .maxprocs = 2 };

	return rg_main(&cfg, report_main, NULL) == 0 ? 0 : 1;
}

static void report_second_main(void *arg)
{
	(void)arg;
	fprintf(stderr, "TEST-SECOND %d\n", rg_gomaxprocs(0));
}

/* "read once per call": a second rg_main() sees a changed variable. */
static int child_reread(void)
{
	setenv("RINGO_MAXPROCS", "2", 1);
	if (rg_main(NULL, report_main, NULL) != 0)
		return 1;
	setenv("RINGO_MAXPROCS", "3", 1);
	return rg_main(NULL, report_second_main, NULL) == 0 ? 0 : 1;
}

struct busy {
	int64_t until;
	rg_wg wg;
};

static void busy_worker(void *arg)
{
	struct busy *b = arg;

	while (now_ns() < b->until) {
		usleep(1000);
		rg_yield();
	}
	rg_wg_done(&b->wg);
}

/* Keep the runtime running, with some scheduling going on, for a while. */
static void busy_main(void *arg)
{
	struct busy b = { .until = now_ns() + (int64_t)TRACE_RUN_MS * 1000000 };

	(void)arg;
	for (int i = 0; i < 2; i++) {
		rg_wg_add(&b.wg, 1);
		if (rg_go(busy_worker, &b) != 0)
			rg_wg_done(&b.wg);
	}
	while (now_ns() < b.until)
		usleep(10000); /* blocks this M: fine for a test */
	rg_wg_wait(&b.wg);
	report_main(NULL);
}

static int child_busy(void)
{
	return rg_main(NULL, busy_main, NULL) == 0 ? 0 : 1;
}

static void backend_main(void *arg)
{
	(void)arg;
	fprintf(stderr, "TEST-BACKEND %s\n", rg_netpoll_backend());
}

static int child_backend(void)
{
	int rc = rg_main(NULL, backend_main, NULL);

	if (rc)
		fprintf(stderr, "TEST-RC %d\n", rc);
	return rc == 0 ? 0 : 1;
}

static const struct child_case child_cases[] = {
	{ "report", child_report },   { "report_cfg2", child_report_cfg2 },
	{ "reread", child_reread },   { "busy", child_busy },
	{ "backend", child_backend },
};

/* Run @name with @env; it must exit 0 and report maxprocs, which is returned. */
static long run_reporting(const char *name, const char *const *env, struct child_result *r)
{
	long procs = -1;

	run_child_case(name, env, r);
	assert_child_exit(name, r, 0);
	if (!child_find_int(r, "TEST-MAXPROCS ", &procs)) {
		child_dump(name, r);
		fail_msg("child '%s' did not report maxprocs", name);
	}
	return procs;
}

static long default_procs(void)
{
	struct child_result r;
	long procs = run_reporting("report", NULL, &r);

	child_result_free(&r);
	return procs;
}

/* Lines of @s starting with "SCHED ". */
static int count_sched_lines(const char *s, const char *const *must_have, const char **first)
{
	int n = 0;

	*first = NULL;
	for (const char *line = s; line && *line;) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);

		if (strncmp(line, "SCHED ", 6) == 0) {
			bool all = true;

			for (const char *const *f = must_have; *f; f++) {
				const char *hit = memmem(line, len, *f, strlen(*f));

				all = all && hit;
			}
			if (all) {
				n++;
				if (!*first)
					*first = line;
			}
		}
		line = eol ? eol + 1 : NULL;
	}
	return n;
}

/* --------------------------------------------------------------------- */
/* RINGO_MAXPROCS                                                        */
/* --------------------------------------------------------------------- */

static void test_maxprocs_default(void **state)
{
	long procs;

	(void)state;
	procs = default_procs();
	assert_true(procs >= 1);
	print_message("default maxprocs: %ld\n", procs);
}

static void test_maxprocs_env(void **state)
{
	static const char *const values[] = { "1", "3", "7" };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(values); i++) {
		char var[64];
		const char *env[] = { var, NULL };
		struct child_result r;

		snprintf(var, sizeof(var), "RINGO_MAXPROCS=%s", values[i]);
		assert_int_equal(run_reporting("report", env, &r), atol(values[i]));
		assert_child_stderr_lacks("report", &r, "RINGO_MAXPROCS");
		child_result_free(&r);
	}
}

static void test_maxprocs_malformed(void **state)
{
	static const char *const values[] = { "abc", "0", "-3", "99999999999", "3x" };
	long dflt = default_procs();

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(values); i++) {
		char var[64];
		const char *env[] = { var, NULL };
		struct child_result r;
		long procs;

		snprintf(var, sizeof(var), "RINGO_MAXPROCS=%s", values[i]);
		procs = run_reporting("report", env, &r);
		assert_child_stderr_has(var, &r, "RINGO_MAXPROCS");
		if (procs != dflt) {
			child_dump(var, &r);
			fail_msg("%s: maxprocs %ld, expected the default %ld", var, procs, dflt);
		}
		child_result_free(&r);
	}
}

/* cfg->maxprocs > 0 wins over RINGO_MAXPROCS; 0 defers to it. */
static void test_cfg_overrides_env(void **state)
{
	const char *env3[] = { "RINGO_MAXPROCS=3", NULL };
	struct child_result r;

	(void)state;
	assert_int_equal(run_reporting("report_cfg2", env3, &r), 2);
	child_result_free(&r);
	assert_int_equal(run_reporting("report", env3, &r), 3);
	child_result_free(&r);
	assert_int_equal(run_reporting("report_cfg2", NULL, &r), 2);
	child_result_free(&r);
}

static void test_env_read_per_call(void **state)
{
	struct child_result r;
	long second = -1;

	(void)state;
	assert_int_equal(run_reporting("reread", NULL, &r), 2);
	if (!child_find_int(&r, "TEST-SECOND ", &second)) {
		child_dump("reread", &r);
		fail_msg("child 'reread' did not report its second run");
	}
	assert_int_equal(second, 3);
	child_result_free(&r);
}

/* --------------------------------------------------------------------- */
/* RINGO_DEBUG                                                           */
/* --------------------------------------------------------------------- */

static const char *const sched_fields[] = {
	"gomaxprocs=",	"idleprocs=", "threads=", "spinningthreads=",
	"idlethreads=", "runqueue=",  NULL,
};

static void test_schedtrace(void **state)
{
	const char *env[] = { "RINGO_DEBUG=schedtrace=50", "RINGO_MAXPROCS=3", NULL };
	const char *with_procs[] = { "gomaxprocs=3", NULL };
	const char *first;
	struct child_result r;
	int n;

	(void)state;
	assert_int_equal(run_reporting("busy", env, &r), 3);
	assert_child_stderr_lacks("busy", &r, "RINGO_DEBUG");
	n = count_sched_lines(r.err, sched_fields, &first);
	if (n < 1) {
		child_dump("busy", &r);
		fail_msg("no complete SCHED line in a %d ms run with schedtrace=50", TRACE_RUN_MS);
	}
	if (count_sched_lines(r.err, with_procs, &first) < 1) {
		child_dump("busy", &r);
		fail_msg("no SCHED line says gomaxprocs=3");
	}
	print_message("%d SCHED lines in %d ms\n", n, TRACE_RUN_MS);
	child_result_free(&r);
}

static void test_schedtrace_off_by_default(void **state)
{
	const char *any[] = { NULL };
	const char *first;
	struct child_result r;

	(void)state;
	run_reporting("busy", NULL, &r);
	if (count_sched_lines(r.err, any, &first) != 0) {
		child_dump("busy", &r);
		fail_msg("SCHED lines printed without RINGO_DEBUG");
	}
	child_result_free(&r);
}

static void test_scheddetail(void **state)
{
	const char *env[] = { "RINGO_DEBUG=schedtrace=50,scheddetail=1", "RINGO_MAXPROCS=2", NULL };
	const char *first;
	struct child_result r;

	(void)state;
	assert_int_equal(run_reporting("busy", env, &r), 2);
	assert_child_stderr_lacks("busy", &r, "RINGO_DEBUG");
	if (count_sched_lines(r.err, sched_fields, &first) < 1) {
		child_dump("busy", &r);
		fail_msg("no complete SCHED line with scheddetail=1");
	}
	assert_child_stderr_has("busy", &r, "P0:");
	assert_child_stderr_has("busy", &r, "P1:");
	child_result_free(&r);
}

static void test_debug_malformed(void **state)
{
	static const char *const values[] = { "schedtrace=xyz", "bogus=1", "schedtrace",
					      "netdns=bind" };
	const char *any[] = { NULL };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(values); i++) {
		char var[64];
		const char *env[] = { var, "RINGO_MAXPROCS=2", NULL };
		const char *first;
		struct child_result r;

		snprintf(var, sizeof(var), "RINGO_DEBUG=%s", values[i]);
		/* Reported, ignored, and the runtime runs normally. */
		assert_int_equal(run_reporting("busy", env, &r), 2);
		assert_child_stderr_has(var, &r, "RINGO_DEBUG");
		if (count_sched_lines(r.err, any, &first) != 0) {
			child_dump(var, &r);
			fail_msg("%s: SCHED lines printed", var);
		}
		child_result_free(&r);
	}
}

/* RINGO_NETPOLL=bogus made rg_main fail with -EINVAL, while malformed
 * values are reported and ignored: it is, and the default backend runs. */
static void test_netpoll_unknown_ignored(void **state)
{
	const char *env[] = { "RINGO_NETPOLL=bogus", NULL };
	struct child_result r;

	(void)state;
	run_child_case("backend", env, &r);
	assert_child_exit("backend", &r, 0);
	assert_child_stderr_has("backend", &r, "RINGO_NETPOLL=\"bogus\"");
	assert_child_stderr_has("backend", &r, "ignored");
	assert_child_stderr_has("backend", &r, "TEST-BACKEND ");
	child_result_free(&r);
}

/* A 100 KB RINGO_DEBUG value was echoed in full: at most 64 bytes of it
 * are, and its length. */
static void test_debug_huge_value_truncated(void **state)
{
	const size_t n = 100000;
	char *var = malloc(n + 32);
	const char *env[] = { var, NULL };
	struct child_result r;
	size_t len;

	(void)state;
	assert_non_null(var);
	len = (size_t)sprintf(var, "RINGO_DEBUG=schedtrace=");
	memset(var + len, '7', n);
	var[len + n] = '\0';
	run_child_case("backend", env, &r);
	assert_child_exit("backend", &r, 0);
	assert_child_stderr_has("backend", &r, "RINGO_DEBUG: malformed value");
	assert_child_stderr_has("backend", &r, "(100011 bytes)");
	if (r.err_len > 1024) {
		child_dump("backend", &r);
		fail_msg("%zu bytes on stderr for one malformed value", r.err_len);
	}
	child_result_free(&r);
	free(var);
}

int main(int argc, char **argv)
{
	int rc = child_dispatch(argc, argv, child_cases, ARRAY_SIZE(child_cases));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_maxprocs_default),
		cmocka_unit_test(test_maxprocs_env),
		cmocka_unit_test(test_maxprocs_malformed),
		cmocka_unit_test(test_cfg_overrides_env),
		cmocka_unit_test(test_env_read_per_call),
		cmocka_unit_test(test_schedtrace),
		cmocka_unit_test(test_schedtrace_off_by_default),
		cmocka_unit_test(test_scheddetail),
		cmocka_unit_test(test_debug_malformed),
		cmocka_unit_test(test_netpoll_unknown_ignored),
		cmocka_unit_test(test_debug_huge_value_truncated),
	};

	if (rc >= 0)
		return rc;
	test_watchdog(120);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
