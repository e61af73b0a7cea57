/* SPDX-License-Identifier: MIT */
/*
 * test_usdt - the USDT probes (runtime/probes.h): every probe is in the
 * binary's .note.stapsdt notes under provider "ringo", and, where perf can
 * attach (root, perf installed, uprobes in the kernel), a known program
 * fires go_create, go_park and go_exit exactly as often as it should.
 *
 * The perf case probes this test binary (which links libringo.a) and runs
 * it again as a child; it removes its probes and its build-id cache entry
 * afterwards.  Where perf cannot attach, the case is skipped.
 */
#include <sys/stat.h>

#include "tests/helpers.h"

#define WORKERS 200 /* goroutines the child creates */

static const char *const probes[] = {
	"go_create",	   "go_start",	     "go_park",		 "go_ready",	  "go_exit",
	"go_preempt",	   "syscall_block",  "syscall_unblock",	 "p_retake",	  "steal",
	"preempt_request", "netpoll_submit", "netpoll_complete", "netpoll_sleep", "timer_fire",
	"m_start",	   "m_park",	     "m_wake",
};

static char exe[PATH_MAX];

/* --------------------------------------------------------------------- */
/* The child: WORKERS goroutines, each parked once on a channel           */
/* --------------------------------------------------------------------- */

struct work {
	rg_chan *c;
	rg_wg wg;
};

static void worker(void *arg)
{
	struct work *w = arg;
	int v;

	if (rg_chan_recv(w->c, &v) != 1)
		abort();
	rg_wg_done(&w->wg);
}

static void workload_main(void *arg)
{
	struct work w = { .c = rg_chan_make(sizeof(int), 0) };
	int i;

	(void)arg;
	if (!w.c)
		abort();
	rg_wg_add(&w.wg, WORKERS);
	for (i = 0; i < WORKERS; i++)
		if (rg_go(worker, &w) != 0)
			abort();
	/* Let every worker park before the first send. */
	while (rg_num_goroutine() < WORKERS + 1)
		rg_yield();
	rg_sleep_ns(20 * 1000 * 1000);
	for (i = 0; i < WORKERS; i++)
		if (rg_chan_send(w.c, &i) != 0)
			abort();
	rg_wg_wait(&w.wg);
	rg_chan_free(w.c);
}

static int child_workload(void)
{
	return run_child_main(2, workload_main) == 0 ? 0 : 1;
}

static const struct child_case child_cases[] = {
	{ "workload", child_workload },
};

/* --------------------------------------------------------------------- */
/* The notes                                                             */
/* --------------------------------------------------------------------- */

static char out[1 << 20];

static void test_probe_notes(void **state)
{
	char *argv[] = { "readelf", "-n", exe, NULL };
	size_t i;

	(void)state;
	if (tool_run(argv, -1, out, sizeof(out), 30) != 0)
		fail_msg("readelf -n %s failed: %s", exe, out);
	assert_has(out, "stapsdt");
	assert_has(out, "Provider: ringo");
	for (i = 0; i < ARRAY_SIZE(probes); i++) {
		char needle[64];

		snprintf(needle, sizeof(needle), "Name: %s\n", probes[i]);
		if (!strstr(out, needle))
			fail_msg("probe ringo:%s is missing from %s", probes[i], exe);
	}
}

/* --------------------------------------------------------------------- */
/* perf sees them                                                         */
/* --------------------------------------------------------------------- */

/* Run perf with args; 0 on success, else -1 with its output in out. */
static int perf(char *const args[])
{
	char *argv[16] = { "perf" };
	int i;

	for (i = 0; args[i] && i < 14; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	return tool_run(argv, -1, out, sizeof(out), 60) == 0 ? 0 : -1;
}

static int count_lines(const char *s, const char *needle)
{
	int n = 0;

	for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

static void perf_cleanup(void)
{
	perf((char *[]){ "probe", "-q", "-d", "sdt_ringo:*", NULL });
	perf((char *[]){ "buildid-cache", "--remove", exe, NULL });
}

static void test_perf_counts(void **state)
{
	static const char *const events[] = { "go_create", "go_park", "go_exit" };
	char dir[] = "/tmp/rg-usdt-XXXXXX", data[64], evarg[3][64];
	char *version[] = { "version", NULL };
	size_t i;
	int creates, exits, parks;

	(void)state;
	if (geteuid() != 0 || perf(version) != 0) {
		print_message("perf needs root and the perf tool; skipped\n");
		skip();
	}
	assert_non_null(mkdtemp(dir));
	snprintf(data, sizeof(data), "%s/perf.data", dir);
	perf_cleanup();
	if (perf((char *[]){ "buildid-cache", "--add", exe, NULL }) != 0) {
		print_message("perf buildid-cache failed: %s; skipped\n", out);
		rmdir(dir);
		skip();
	}
	for (i = 0; i < ARRAY_SIZE(events); i++) {
		snprintf(evarg[i], sizeof(evarg[i]), "sdt_ringo:%s", events[i]);
		if (perf((char *[]){ "probe", "-q", "-x", exe, "-a", evarg[i], NULL }) != 0) {
			print_message("perf probe cannot attach (%s); skipped\n", out);
			perf_cleanup();
			rmdir(dir);
			skip();
		}
	}
	if (perf((char *[]){ "record", "-q", "-o", data, "-e", evarg[0], "-e", evarg[1], "-e",
			     evarg[2], "--", exe, CHILD_FLAG, "workload", NULL }) != 0) {
		perf_cleanup();
		fail_msg("perf record failed: %s", out);
	}
	if (perf((char *[]){ "script", "-i", data, "-F", "event", NULL }) != 0) {
		perf_cleanup();
		fail_msg("perf script failed: %s", out);
	}
	creates = count_lines(out, "sdt_ringo:go_create:");
	exits = count_lines(out, "sdt_ringo:go_exit:");
	parks = count_lines(out, "sdt_ringo:go_park:");
	perf_cleanup(); /* it reuses out */
	unlink(data);
	rmdir(dir);
	/* Every worker was created, parked on the channel and exited;
	 * goroutine 1 exits too.  Other parks (the sleep, the WaitGroup,
	 * yields are not parks) come on top. */
	assert_int_equal(creates, WORKERS);
	assert_int_equal(exits, WORKERS + 1);
	assert_true(parks >= WORKERS);
}

int main(int argc, char **argv)
{
	int rc = child_dispatch(argc, argv, child_cases, ARRAY_SIZE(child_cases));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe_notes),
		cmocka_unit_test(test_perf_counts),
	};
	ssize_t n;

	if (rc >= 0)
		return rc;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return 1;
	exe[n] = '\0';
	test_watchdog(120);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
