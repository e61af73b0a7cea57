/* SPDX-License-Identifier: MIT */
/*
 * test_trace - the execution trace (rg_trace_start, rg_trace_stop,
 * RINGO_DEBUG=trace=PATH): the argument and state checks, and for a known
 * program a trace that tests/trace_check.py accepts (Chrome trace-event
 * JSON, slices closed, no P running two goroutines at once) with a slice
 * for every goroutine it ran.
 *
 * Exit status 77 (skipped) for the trace checks when python3 is missing.
 */
#include <sys/stat.h>

#include "tests/helpers.h"

#define WORKERS 100

static char path[64];

static void test_no_runtime(void **state)
{
	(void)state;
	assert_int_equal(rg_trace_start("/tmp/x"), -ESRCH);
	assert_int_equal(rg_trace_start(NULL), -EINVAL);
	assert_int_equal(rg_trace_stop(), -ENOENT);
}

/* Run trace_check.py on path; the number of goroutines it saw, or -1. */
static int check_trace(const char *file)
{
	char *argv[] = { "python3", "tests/trace_check.py", (char *)file, NULL };
	static char out[4096];
	const char *p;
	int rc = tool_run(argv, -1, out, sizeof(out), 60);

	if (rc != 0) {
		print_error("trace_check.py %s: %s\n", file, out);
		return -1;
	}
	p = strstr(out, "OK goroutines=");
	return p ? atoi(p + 14) : -1;
}

struct work {
	rg_chan *c;
	rg_wg wg;
};

static void worker(void *arg)
{
	struct work *w = arg;
	int v = 0;

	assert_int_equal(rg_chan_send(w->c, &v), 0);
	rg_sleep_ns(1000 * 1000);
	rg_wg_done(&w->wg);
}

static void traced_main(void *arg)
{
	struct work w = { .c = rg_chan_make(sizeof(int), 0) };
	int i, v;

	(void)arg;
	assert_non_null(w.c);
	rg_wg_add(&w.wg, WORKERS);
	for (i = 0; i < WORKERS; i++)
		assert_int_equal(rg_go(worker, &w), 0);
	for (i = 0; i < WORKERS; i++)
		assert_int_equal(rg_chan_recv(w.c, &v), 1);
	rg_wg_wait(&w.wg);
	rg_chan_free(w.c);
}

static void api_main(void *arg)
{
	(void)arg;
	assert_int_equal(rg_trace_stop(), -ENOENT);
	assert_int_equal(rg_trace_start("/nonexistent-dir/trace.json"), -ENOENT);
	assert_int_equal(rg_trace_start(""), -EINVAL);
	assert_int_equal(rg_trace_start(path), 0);
	assert_int_equal(rg_trace_start(path), -EBUSY);
	traced_main(NULL);
	assert_int_equal(rg_trace_stop(), 0);
	assert_int_equal(rg_trace_stop(), -ENOENT);
}

/* Whether the file at p holds s. */
static bool file_has(const char *p, const char *s)
{
	static char text[4 << 20];
	FILE *f = fopen(p, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	return strstr(text, s) != NULL;
}

static bool have_python3(void)
{
	char *argv[] = { "python3", "-c", "import json", NULL };
	char out[256];

	return tool_run(argv, -1, out, sizeof(out), 30) == 0;
}

static void test_known_program(void **state)
{
	static const int procs[] = { 1, 2 };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(procs); i++) {
		RUN_IN_RUNTIME(procs[i], api_main, NULL);
		if (!have_python3()) {
			print_message("python3 is missing; the trace is not checked\n");
			unlink(path);
			skip();
		}
		/* The workers, and the main goroutine. */
		assert_true(check_trace(path) >= WORKERS + 1);
		/* worker is static: named from the symbol table. */
		assert_true(file_has(path, "\"name\":\"worker\""));
		unlink(path);
	}
}

/* RINGO_DEBUG=trace=PATH traces the whole of rg_main. */
static int child_traced(void)
{
	return run_child_main(2, traced_main);
}

static const struct child_case child_cases[] = {
	{ "traced", child_traced },
};

static void test_ringo_debug(void **state)
{
	char env[96];
	struct child_result r;
	struct stat st;

	(void)state;
	snprintf(env, sizeof(env), "RINGO_DEBUG=trace=%s", path);
	assert_int_equal(child_run("traced", (const char *const[]){ env, NULL }, &r), 0);
	if (!r.exited || r.exit_code != 0)
		fail_msg("child: %s", r.err ? r.err : "");
	child_result_free(&r);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size > 1000);
	if (have_python3())
		assert_true(check_trace(path) >= WORKERS + 1);
	unlink(path);
}

int main(int argc, char **argv)
{
	int rc = child_dispatch(argc, argv, child_cases, ARRAY_SIZE(child_cases));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_runtime),
		cmocka_unit_test(test_known_program),
		cmocka_unit_test(test_ringo_debug),
	};

	if (rc >= 0)
		return rc;
	snprintf(path, sizeof(path), "/tmp/rg-trace-%d.json", (int)getpid());
	test_watchdog(120);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
