/* SPDX-License-Identifier: MIT */
/*
 * test_metrics - rg_metrics, rg_metrics_format and rg_metrics_write: the
 * argument checks; goroutine counts, sampled park and scheduling latency
 * histograms, I/O results and timers for a known program; and the
 * Prometheus text: every sample line parses, every family is declared
 * before its samples, histogram buckets are cumulative and end at _count.
 */
#include <ctype.h>
#include <fcntl.h>
#include <sys/socket.h>

#include "tests/helpers.h"

#define PARKED 64

static void test_no_runtime(void **state)
{
	struct rg_metrics m = RG_METRICS_INIT;
	char buf[16];

	(void)state;
	assert_int_equal(rg_metrics(NULL), -EINVAL);
	m.size = 4;
	assert_int_equal(rg_metrics(&m), -EINVAL);
	m.size = sizeof(m);
	assert_int_equal(rg_metrics(&m), -ESRCH);
	assert_int_equal(rg_metrics_format(buf, sizeof(buf)), -ESRCH);
	assert_int_equal(rg_metrics_write(1), -ESRCH);
	assert_int_equal(rg_metrics_bucket_ns(0), 1000);
	assert_int_equal(rg_metrics_bucket_ns(1), 4000);
	assert_true(rg_metrics_bucket_ns(RG_METRICS_BUCKETS - 1) == INT64_MAX);
	assert_int_equal(rg_metrics_bucket_ns(RG_METRICS_BUCKETS), -EINVAL);
	assert_int_equal(rg_metrics_bucket_ns(-1), -EINVAL);
}

/* --------------------------------------------------------------------- */
/* A known program                                                       */
/* --------------------------------------------------------------------- */

struct parked {
	rg_chan *c;
	rg_wg wg;
	_Atomic int sampled; /* parked goroutines whose id is a multiple of 8 */
};

static void parker(void *arg)
{
	struct parked *p = arg;
	int v;

	if (rg_goid() % 8 == 0)
		atomic_fetch_add(&p->sampled, 1);
	assert_int_equal(rg_chan_recv(p->c, &v), 1);
	rg_wg_done(&p->wg);
}

static uint64_t io_sum(const struct rg_metrics *m, int result)
{
	uint64_t n = 0;

	for (int op = 0; op < RG_IO_OPS; op++)
		n += m->io[op][result];
	return n;
}

static void known_main(void *arg)
{
	struct rg_metrics m = RG_METRICS_INIT, before = RG_METRICS_INIT;
	struct parked p = { .c = rg_chan_make(sizeof(int), 0) };
	int i, fds[2], sv[2];
	char c = 'x';

	(void)arg;
	assert_non_null(p.c);
	assert_int_equal(rg_metrics(&before), 0);
	rg_wg_add(&p.wg, PARKED);
	for (i = 0; i < PARKED; i++)
		assert_int_equal(rg_go(parker, &p), 0);
	/* Wait until every parker parked (slow under sanitizers). */
	for (i = 0; i < 10000; i++) {
		assert_int_equal(rg_metrics(&m), 0);
		if (m.goroutines_waiting >= PARKED)
			break;
		rg_sleep_ns(1000 * 1000);
	}
	assert_int_equal(m.size, sizeof(m));
	assert_true(m.goroutines_waiting >= PARKED);
	assert_true(m.goroutines_running >= 1);
	assert_int_equal(m.goroutines,
			 m.goroutines_running + m.goroutines_runnable + m.goroutines_waiting);
	assert_true(m.goroutines_created - before.goroutines_created >= PARKED);
	assert_true(m.procs >= 1 && m.procs_idle >= 0 && m.procs_idle <= m.procs);
	assert_true(m.threads >= m.procs - m.procs_idle);
	assert_true(m.stack_bytes_carved > 0);
	for (i = 0; i < PARKED; i++)
		assert_int_equal(rg_chan_send(p.c, &i), 0);
	rg_wg_wait(&p.wg);

	/* I/O: a pipe read that succeeds, a recv that times out. */
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	assert_int_equal(rg_write(fds[1], &c, 1), 1);
	assert_int_equal(rg_read(fds[0], &c, 1), 1);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	rg_set_deadline(rg_now_ns() + 2 * 1000 * 1000);
	assert_int_equal(rg_recv(sv[0], &c, 1, 0), -ETIMEDOUT);
	rg_set_deadline(0);
	for (i = 0; i < 3; i++)
		rg_sleep_ns(1000 * 1000);

	assert_int_equal(rg_metrics(&m), 0);
	assert_true(io_sum(&m, 2) - io_sum(&before, 2) >= 1); /* timed out */
	assert_true(m.timers_fired - before.timers_fired >= 3);
	/* Every sampled parker's wait was timed by the main goroutine's P,
	 * and its wait for a P after it. */
	assert_true(m.park[RG_PARK_CHAN].count - before.park[RG_PARK_CHAN].count >=
		    (uint64_t)atomic_load(&p.sampled));
	assert_true(m.sched_latency.count - before.sched_latency.count >=
		    (uint64_t)atomic_load(&p.sampled));
	for (int k = 0; k < RG_PARK_CLASSES; k++) {
		uint64_t n = 0;

		for (i = 0; i < RG_METRICS_BUCKETS; i++)
			n += m.park[k].buckets[i];
		assert_int_equal(n, m.park[k].count);
	}
	rg_close(fds[0]);
	rg_close(fds[1]);
	rg_close(sv[0]);
	rg_close(sv[1]);
	rg_chan_free(p.c);
}

static void test_known_program(void **state)
{
	(void)state;
	RUN_FOR_PROCS(known_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* The text format                                                       */
/* --------------------------------------------------------------------- */

#define TEXT_MAX (256 * 1024)

/* Check one exposition: declared families, parsable samples, histograms
 * cumulative up to +Inf == _count.  Returns the number of samples. */
static int check_text(char *text)
{
	char declared[64][64];
	int ndeclared = 0, samples = 0;
	double last_bucket = -1;
	char last_hist[128] = "";

	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		char name[128], *p = line, *sp;
		double v;
		int i;

		if (strncmp(line, "# TYPE ", 7) == 0) {
			assert_true(ndeclared < 64);
			assert_int_equal(sscanf(line + 7, "%63s", declared[ndeclared]), 1);
			ndeclared++;
			continue;
		}
		if (line[0] == '#') {
			assert_true(strncmp(line, "# HELP ringo_", 13) == 0);
			continue;
		}
		assert_true(strncmp(line, "ringo_", 6) == 0);
		for (i = 0; (isalnum((unsigned char)*p) || *p == '_') && i < 127; i++)
			name[i] = *p++;
		name[i] = '\0';
		if (*p == '{') {
			char *end = strchr(p, '}');

			assert_non_null(end);
			p = end + 1;
		}
		assert_true(*p == ' ');
		sp = p + 1;
		v = strtod(sp, &p);
		assert_true(p != sp && *p == '\0');
		assert_true(v >= 0);
		/* The family: the name, or the name less _bucket/_sum/_count. */
		for (i = 0; i < ndeclared; i++) {
			size_t n = strlen(declared[i]);

			if (strncmp(name, declared[i], n) == 0 &&
			    (name[n] == '\0' || strcmp(name + n, "_bucket") == 0 ||
			     strcmp(name + n, "_sum") == 0 || strcmp(name + n, "_count") == 0))
				break;
		}
		if (i == ndeclared)
			fail_msg("sample %s has no TYPE line before it", name);
		if (strstr(name, "_bucket")) {
			char key[128];

			snprintf(key, sizeof(key), "%.*s", (int)(strstr(line, "le=") - line), line);
			if (strcmp(key, last_hist) != 0) {
				snprintf(last_hist, sizeof(last_hist), "%s", key);
				last_bucket = -1;
			}
			assert_true(v >= last_bucket); /* cumulative */
			last_bucket = v;
		} else if (strstr(name, "_count") && strstr(name, "seconds")) {
			assert_true(v == last_bucket); /* +Inf came last */
		}
		samples++;
	}
	return samples;
}

static void text_main(void *arg)
{
	char *text = malloc(TEXT_MAX), *copy;
	ssize_t n, m;
	int fds[2];
	size_t got = 0;

	(void)arg;
	assert_non_null(text);
	n = rg_metrics_format(NULL, 0);
	assert_true(n > 1000);
	m = rg_metrics_format(text, 16);
	assert_true(m >= n - 64 && strlen(text) == 15); /* cut, NUL-terminated */
	n = rg_metrics_format(text, TEXT_MAX);
	assert_true(n > 0 && n < TEXT_MAX);
	assert_has(text, "# TYPE ringo_goroutines gauge");
	assert_has(text, "ringo_park_seconds_bucket{reason=\"chan\",le=\"+Inf\"}");
	assert_has(text, "ringo_io_requests_total{op=\"recv\",result=\"timeout\"}");
	assert_true(check_text(text) > 100);

	/* rg_metrics_write through a pipe: the same text, parsable. */
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	assert_int_equal(fcntl(fds[1], F_SETPIPE_SZ, 1 << 20) > 0, 1);
	assert_int_equal(rg_metrics_write(fds[1]), 0);
	rg_close(fds[1]);
	for (;;) {
		ssize_t r = rg_read(fds[0], text + got, TEXT_MAX - 1 - got);

		assert_true(r >= 0);
		if (r == 0)
			break;
		got += (size_t)r;
	}
	text[got] = '\0';
	rg_close(fds[0]);
	copy = strdup(text);
	assert_non_null(copy);
	assert_true(check_text(copy) > 100);
	free(copy);
	free(text);
}

static void test_text_format(void **state)
{
	(void)state;
	RUN_IN_RUNTIME(2, text_main, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_runtime),
		cmocka_unit_test(test_known_program),
		cmocka_unit_test(test_text_format),
	};

	test_watchdog(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
