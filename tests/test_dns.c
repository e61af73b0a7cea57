/* SPDX-License-Identifier: MIT */
/*
 * test_dns - rg_getaddrinfo:
 *
 *  - localhost and numeric addresses resolve, with the port of the
 *    service, from goroutines and from a plain thread;
 *  - 200 goroutines resolving at once all succeed, on at most DNS_THREADS
 *    helper threads besides the runtime's;
 *  - a timeout already spent, or a deadline already past, answers
 *    -ETIMEDOUT without a lookup; lookups with tiny timeouts either
 *    answer or time out, and nothing leaks (the sanitizers watch);
 *  - resolver errors come back as -errno: -ENOENT (a name that cannot
 *    resolve), -ESOCKTNOSUPPORT, -EINVAL; bad arguments -EINVAL.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include "tests/helpers.h"

#define MS 1000000LL

/* The first IPv4 address and port of res. */
static bool first_v4(const struct addrinfo *res, char *addr, size_t len, int *port)
{
	for (; res; res = res->ai_next)
		if (res->ai_family == AF_INET) {
			const struct sockaddr_in *sin = (const void *)res->ai_addr;

			inet_ntop(AF_INET, &sin->sin_addr, addr, (socklen_t)len);
			*port = ntohs(sin->sin_port);
			return true;
		}
	return false;
}

static void resolve_body(void)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	char addr[64];
	int port = 0;

	GCHECK_EQ(rg_getaddrinfo("localhost", "80", &hints, &res, 10000 * MS), 0);
	GCHECK(res && first_v4(res, addr, sizeof(addr), &port));
	GCHECK_EQ(strcmp(addr, "127.0.0.1"), 0);
	GCHECK_EQ(port, 80);
	freeaddrinfo(res);
	GCHECK_EQ(rg_getaddrinfo("10.1.2.3", "443", &hints, &res, -1), 0);
	GCHECK(res && first_v4(res, addr, sizeof(addr), &port));
	GCHECK_EQ(strcmp(addr, "10.1.2.3"), 0);
	GCHECK_EQ(port, 443);
	freeaddrinfo(res);
	/* Errors: a name with AI_NUMERICHOST cannot resolve; a socket type
	 * no service has; a service name with AI_NUMERICSERV. */
	hints.ai_flags = AI_NUMERICHOST;
	GCHECK_EQ(rg_getaddrinfo("localhost", NULL, &hints, &res, -1), -ENOENT);
	GCHECK(res == NULL);
	hints.ai_flags = 0;
	hints.ai_socktype = 12345;
	GCHECK_EQ(rg_getaddrinfo("127.0.0.1", "80", &hints, &res, -1), -ESOCKTNOSUPPORT);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = 0x40000000; /* no such flag */
	GCHECK_EQ(rg_getaddrinfo("127.0.0.1", "80", &hints, &res, -1), -EINVAL);
	GCHECK_EQ(rg_getaddrinfo(NULL, NULL, NULL, &res, -1), -EINVAL);
	GCHECK_EQ(rg_getaddrinfo("localhost", NULL, NULL, NULL, -1), -EINVAL);
}

static void resolve_main(void *arg)
{
	(void)arg;
	resolve_body();
}

static void test_resolve(void **state)
{
	(void)state;
	RUN_FOR_PROCS(resolve_main, NULL, 1, 2);
	gcheck_reset();
	resolve_body(); /* a plain thread */
	gcheck_assert_none();
}

/* --------------------------------------------------------------------- */
/* Many at once; timeouts                                                */
/* --------------------------------------------------------------------- */

#define LOOKUPS TEST_SCALE(200, 50)

static int count_threads(void)
{
	char buf[256];
	int n = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(buf, sizeof(buf), f))
		if (sscanf(buf, "Threads: %d", &n) == 1)
			break;
	if (f)
		fclose(f);
	return n;
}

struct many {
	atomic_int ok;
	rg_wg wg;
};

static void lookup_one(void *arg)
{
	struct many *m = arg;
	struct addrinfo hints = { .ai_family = AF_INET };
	struct addrinfo *res = NULL;

	if (rg_getaddrinfo("localhost", "8080", &hints, &res, 30000 * MS) == 0 && res) {
		atomic_fetch_add(&m->ok, 1);
		freeaddrinfo(res);
	}
	rg_wg_done(&m->wg);
}

static void many_main(void *arg)
{
	struct many m = { 0 };
	int before = count_threads();

	(void)arg;
	rg_wg_add(&m.wg, LOOKUPS);
	for (int i = 0; i < LOOKUPS; i++)
		GCHECK_EQ(rg_go(lookup_one, &m), 0);
	rg_wg_wait(&m.wg);
	GCHECK_EQ(atomic_load(&m.ok), LOOKUPS);
	/* The helpers, however many lookups: a handful of threads. */
	GCHECK(count_threads() <= before + 8 + 4);
}

static void test_many(void **state)
{
	(void)state;
	RUN_FOR_PROCS(many_main, NULL, 1, 2);
}

static void timeout_main(void *arg)
{
	struct addrinfo *res = NULL;
	int ok = 0, timed_out = 0;

	(void)arg;
	GCHECK_EQ(rg_getaddrinfo("localhost", NULL, NULL, &res, 0), -ETIMEDOUT);
	rg_set_deadline(1);
	GCHECK_EQ(rg_getaddrinfo("localhost", NULL, NULL, &res, -1), -ETIMEDOUT);
	rg_set_deadline(0);
	/* Tiny timeouts: either outcome, each whole (a result to free, or
	 * none), and the abandoned lookups end on their helpers. */
	for (int i = 0; i < TEST_SCALE(200, 50); i++) {
		int r = rg_getaddrinfo("localhost", "22", NULL, &res, 1 + i % 50000);

		if (r == 0) {
			GCHECK(res != NULL);
			freeaddrinfo(res);
			ok++;
		} else {
			GCHECK_EQ(r, -ETIMEDOUT);
			GCHECK(res == NULL);
			timed_out++;
		}
	}
	GCHECK(ok + timed_out > 0);
	rg_sleep_ns(50 * MS); /* the helpers finish what was abandoned */
}

static void test_timeouts(void **state)
{
	(void)state;
	RUN_FOR_PROCS(timeout_main, NULL, 1, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_timeouts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
