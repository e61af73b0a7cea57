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
 * Each of those with either resolver: c-ares on the goroutine
 * (RINGO_DEBUG=netdns=cares), glibc's on helper threads (netdns=glibc).
 *
 * c-ares asking a DNS server: dnsd (bench/tools/dnsd.c), started on a
 * free port of 127.0.0.1 and named by RINGO_DNS_SERVERS:
 *  - 200 goroutines resolve distinct names, each answered 30 ms late,
 *    all at once: every address is dnsd's for that name, and no helper
 *    thread is started (the test runs first, before any glibc lookup);
 *  - a name dnsd says does not exist: -ENOENT;
 *  - a name dnsd never answers: -ETIMEDOUT at the timeout, at the
 *    goroutine's deadline, -ECANCELED when its context is cancelled; the
 *    next lookup is answered at once (the query was cancelled, not left
 *    in flight);
 *  - with no socket type in the hints, one entry per address and type,
 *    as glibc; AI_CANONNAME names the host;
 *  - an answer truncated over UDP is asked again over TCP, c-ares's UDP
 *    socket still open beside the TCP one: the lookup waits on both at
 *    once (a few waits in all, where polling would take one a
 *    millisecond) and gets the whole answer, also when it comes late.
 *
 * c-ares reading /etc/resolv.conf, in a child run under scripts/dnsenv.sh
 * (its own mount and network namespaces, dnsd on 127.0.0.1:53, a private
 * resolv.conf; skipped where namespaces cannot be made): a lookup is
 * answered; once resolv.conf names a server that is not there, the pooled
 * channel is not reused and lookups fail; once it names dnsd again, they
 * are answered again.
 */
#include <arpa/inet.h>
#include <libgen.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "runtime/dns.h"
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

/* --------------------------------------------------------------------- */
/* Either resolver                                                       */
/* --------------------------------------------------------------------- */

/* Run test with RINGO_DEBUG=netdns=which. */
static void with_netdns(const char *which, void (*test)(void **), void **state)
{
	char v[32];

	snprintf(v, sizeof(v), "netdns=%s", which);
	setenv("RINGO_DEBUG", v, 1);
	test(state);
	unsetenv("RINGO_DEBUG");
}

static void test_resolve_glibc(void **state)
{
	with_netdns("glibc", test_resolve, state);
}

static void test_many_glibc(void **state)
{
	with_netdns("glibc", test_many, state);
}

static void test_timeouts_glibc(void **state)
{
	with_netdns("glibc", test_timeouts, state);
}

static void test_resolve_cares(void **state)
{
	with_netdns("cares", test_resolve, state);
}

static void test_many_cares(void **state)
{
	with_netdns("cares", test_many, state);
}

static void test_timeouts_cares(void **state)
{
	with_netdns("cares", test_timeouts, state);
}

/* --------------------------------------------------------------------- */
/* c-ares against a server                                               */
/* --------------------------------------------------------------------- */

static struct {
	pid_t pid;
	char servers[64];
} D;

/* dnsd's answer for name (no final dot): 10.b1.b2.b3 from its FNV-1a. */
static uint32_t dnsd_addr(const char *name)
{
	uint32_t h = 2166136261u;

	for (; *name && strcmp(name, ".") != 0; name++) {
		h ^= (uint8_t)*name;
		h *= 16777619u;
	}
	return htonl((10u << 24) | (h & 0xffffff));
}

/* Start dnsd, next to this program's build, on a port free for UDP and
 * TCP. */
static int dnsd_start(void **state)
{
	char self[4096], path[4200], port[16], line[128];
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ufd = -1, out[2];
	FILE *f;

	(void)state;
	if (n <= 0 || fd < 0 || pipe2(out, O_CLOEXEC) < 0)
		return -1;
	self[n] = '\0';
	snprintf(path, sizeof(path), "%s/../bench/tools/dnsd", dirname(self));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int tries = 0; ufd < 0; tries++) {
		a.sin_port = 0;
		if (tries == 20 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    getsockname(fd, (struct sockaddr *)&a, &alen) < 0)
			return -1;
		ufd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (ufd >= 0 && bind(ufd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			close(ufd); /* taken for UDP: another port */
			ufd = -1;
			close(fd);
			fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		}
	}
	close(ufd); /* a port free a moment ago: dnsd takes it */
	close(fd);
	snprintf(port, sizeof(port), "%d", ntohs(a.sin_port));
	snprintf(D.servers, sizeof(D.servers), "127.0.0.1:%s", port);
	D.pid = fork();
	if (D.pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives the test */
		dup2(out[1], 1);
		execl(path, "dnsd", "-p", port, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	f = fdopen(out[0], "r");
	if (D.pid < 0 || !f || !fgets(line, sizeof(line), f) || strncmp(line, "dnsd: ready", 11)) {
		fprintf(stderr, "test_dns: %s did not start\n", path);
		return -1;
	}
	fclose(f);
	return 0;
}

static int dnsd_stop(void **state)
{
	(void)state;
	if (D.pid > 0) {
		kill(D.pid, SIGKILL);
		waitpid(D.pid, NULL, 0);
	}
	return 0;
}

/* name's first IPv4 address through rg_getaddrinfo: 0 and *addr, or
 * -errno. */
static int resolve_v4(const char *name, int64_t timeout, uint32_t *addr)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_DGRAM };
	struct addrinfo *res = NULL;
	int r = rg_getaddrinfo(name, NULL, &hints, &res, timeout);

	if (r == 0) {
		GCHECK(res != NULL && res->ai_family == AF_INET);
		*addr = ((const struct sockaddr_in *)(const void *)res->ai_addr)->sin_addr.s_addr;
		freeaddrinfo(res);
	}
	return r;
}

struct wire {
	atomic_int ok;
	rg_wg wg;
};

static void wire_one(void *arg)
{
	struct wire *w = arg;
	char name[64];
	uint32_t addr = 0;
	int i = atomic_fetch_add(&w->ok, 0x10000) >> 16; /* a number of its own */

	snprintf(name, sizeof(name), "h%d.d30.ringo.test", i);
	if (resolve_v4(name, 10000 * MS, &addr) == 0 && addr == dnsd_addr(name))
		atomic_fetch_add(&w->ok, 1);
	rg_wg_done(&w->wg);
}

struct wire_ctx {
	rg_ctx *ctx;
	rg_wg done;
};

/* Under a context cancelled after 20 ms. */
static void wire_ctx(void *arg)
{
	struct wire_ctx *wc = arg;
	uint32_t addr;

	rg_ctx_attach(wc->ctx);
	GCHECK_EQ(resolve_v4("x.drop.ringo.test", -1, &addr), -ECANCELED);
	rg_wg_done(&wc->done);
}

static void wire_main(void *arg)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_flags = AI_CANONNAME };
	struct addrinfo *res = NULL, *ai;
	struct wire w = { 0 };
	int n = 0, stream = 0, dgram = 0, raw = 0;
	pid_t tids[DNS_THREADS];
	uint32_t addr = 0;
	struct wire_ctx wc = { 0 };
	int64_t t0;

	(void)arg;
	rg_wg_add(&w.wg, LOOKUPS);
	for (int i = 0; i < LOOKUPS; i++)
		GCHECK_EQ(rg_go(wire_one, &w), 0);
	rg_wg_wait(&w.wg);
	GCHECK_EQ(atomic_load(&w.ok) & 0xffff, LOOKUPS);
	GCHECK_EQ(dns_threads(tids, DNS_THREADS), 0); /* no helper started */
	GCHECK_EQ(resolve_v4("a.nx.ringo.test", 10000 * MS, &addr), -ENOENT);
	/* Never answered: the timeout, the deadline, the context. */
	t0 = rg_now_ns();
	GCHECK_EQ(resolve_v4("a.drop.ringo.test", 50 * MS, &addr), -ETIMEDOUT);
	GCHECK(rg_now_ns() - t0 >= 50 * MS);
	GCHECK_EQ(resolve_v4("b.ringo.test", 10000 * MS, &addr), 0);
	GCHECK_EQ(addr, dnsd_addr("b.ringo.test"));
	rg_set_deadline(rg_now_ns() + 30 * MS);
	GCHECK_EQ(resolve_v4("b.drop.ringo.test", -1, &addr), -ETIMEDOUT);
	rg_set_deadline(0);
	wc.ctx = rg_ctx_with_cancel(NULL);
	GCHECK(wc.ctx != NULL);
	rg_wg_add(&wc.done, 1);
	GCHECK_EQ(rg_go(wire_ctx, &wc), 0);
	rg_sleep_ns(20 * MS);
	rg_ctx_cancel(wc.ctx);
	rg_wg_wait(&wc.done);
	rg_ctx_free(wc.ctx);
	/* Entries as glibc's: each type, the canonical name first. */
	GCHECK_EQ(rg_getaddrinfo("c.ringo.test", NULL, &hints, &res, 10000 * MS), 0);
	GCHECK(res && res->ai_canonname && strcmp(res->ai_canonname, "c.ringo.test") == 0);
	for (ai = res; ai; ai = ai->ai_next, n++) {
		const struct sockaddr_in *sin = (const void *)ai->ai_addr;

		GCHECK_EQ(sin->sin_addr.s_addr, dnsd_addr("c.ringo.test"));
		stream += ai->ai_socktype == SOCK_STREAM && ai->ai_protocol == IPPROTO_TCP;
		dgram += ai->ai_socktype == SOCK_DGRAM && ai->ai_protocol == IPPROTO_UDP;
		raw += ai->ai_socktype == SOCK_RAW;
	}
	GCHECK(n == 3 && stream == 1 && dgram == 1 && raw == 1);
	freeaddrinfo(res);
	hints.ai_flags = 0;
	GCHECK_EQ(rg_getaddrinfo("c.ringo.test", "80", &hints, &res, 10000 * MS), 0);
	n = 0;
	for (ai = res; ai; ai = ai->ai_next, n++)
		GCHECK_EQ(ntohs(((const struct sockaddr_in *)(const void *)ai->ai_addr)->sin_port),
			  80);
	GCHECK_EQ(n, 2);
	freeaddrinfo(res);
	/* Truncated over UDP: asked again over TCP, at once and late. */
	GCHECK_EQ(resolve_v4("t.tc.ringo.test", 10000 * MS, &addr), 0);
	GCHECK_EQ(addr, dnsd_addr("t.tc.ringo.test"));
	{
		struct rg_metrics m0 = RG_METRICS_INIT, m1 = RG_METRICS_INIT;
		uint64_t polls = 0;

		GCHECK_EQ(rg_metrics(&m0), 0);
		t0 = rg_now_ns();
		GCHECK_EQ(resolve_v4("s.tc.d150.ringo.test", 10000 * MS, &addr), 0);
		GCHECK(rg_now_ns() - t0 >= 300 * MS); /* 150 ms over UDP, 150 over TCP */
		GCHECK_EQ(addr, dnsd_addr("s.tc.d150.ringo.test"));
		GCHECK_EQ(rg_metrics(&m1), 0);
		for (int k = 0; k < 4; k++)
			polls += m1.io[RG_IO_POLL][k] - m0.io[RG_IO_POLL][k];
		/* Waits, not a poll each millisecond of the 150 on TCP. */
		if (polls > 40)
			gcheck_fail("a late answer over TCP took %llu waits",
				    (unsigned long long)polls);
	}
}

static void test_cares_server(void **state)
{
	(void)state;
	setenv("RINGO_DNS_SERVERS", D.servers, 1);
	setenv("RINGO_DEBUG", "netdns=cares", 1);
	RUN_FOR_PROCS(wire_main, NULL, 1, 2);
	unsetenv("RINGO_DEBUG");
	unsetenv("RINGO_DNS_SERVERS");
}

/* Point resolv.conf at server (inside dnsenv.sh only: see child_resolv). */
static void resolv_write(const char *server)
{
	FILE *f = fopen("/etc/resolv.conf", "w");

	GCHECK(f != NULL);
	if (!f)
		return;
	fprintf(f, "nameserver %s\noptions timeout:1 attempts:1\n", server);
	GCHECK_EQ(fclose(f), 0);
}

static void resolv_main(void *arg)
{
	uint32_t addr = 0;

	(void)arg;
	GCHECK_EQ(resolve_v4("a.ringo.test", 5000 * MS, &addr), 0);
	GCHECK_EQ(addr, dnsd_addr("a.ringo.test"));
	/* Changed: the channel in the pool knows the old server only. */
	resolv_write("127.0.0.2");
	rg_sleep_ns(1100 * MS); /* resolv.conf is looked at once a second */
	GCHECK(resolve_v4("b.ringo.test", 3000 * MS, &addr) < 0);
	resolv_write("127.0.0.1");
	rg_sleep_ns(1100 * MS);
	GCHECK_EQ(resolve_v4("c.ringo.test", 5000 * MS, &addr), 0);
	GCHECK_EQ(addr, dnsd_addr("c.ringo.test"));
}

/* Run by scripts/dnsenv.sh: its /etc/resolv.conf is a file of its own,
 * already unlinked (no link left), which this may rewrite; anything else
 * is refused, so that the machine's is never touched. */
static int child_resolv(void)
{
	struct stat st;

	if (stat("/etc/resolv.conf", &st) < 0 || st.st_nlink != 0) {
		fprintf(stderr, "test_dns: /etc/resolv.conf is not dnsenv.sh's own\n");
		return 3;
	}
	setenv("RINGO_DEBUG", "netdns=cares", 1);
	unsetenv("RINGO_DNS_SERVERS");
	return child_checks_status(run_child_main(2, resolv_main));
}

static const struct child_case child_cases[] = {
	{ "resolv", child_resolv },
};

static void test_resolv_conf_change(void **state)
{
	char self[4096], dir[4096], dnsd[4200];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	int status = -1;
	pid_t pid;

	(void)state;
	assert_true(n > 0);
	self[n] = '\0';
	memcpy(dir, self, (size_t)n + 1);
	snprintf(dnsd, sizeof(dnsd), "%s/../bench/tools/dnsd", dirname(dir));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		unsetenv("RINGO_DEBUG");
		execl("/bin/bash", "bash", "scripts/dnsenv.sh", dnsd, self, CHILD_FLAG, "resolv",
		      (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		skip(); /* no namespaces here: dnsenv.sh said why */
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(int argc, char **argv)
{
	int rc = child_dispatch(argc, argv, child_cases, ARRAY_SIZE(child_cases));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cares_server),   cmocka_unit_test(test_resolve_cares),
		cmocka_unit_test(test_many_cares),     cmocka_unit_test(test_timeouts_cares),
		cmocka_unit_test(test_resolve_glibc),  cmocka_unit_test(test_many_glibc),
		cmocka_unit_test(test_timeouts_glibc), cmocka_unit_test(test_resolv_conf_change),
	};

	if (rc >= 0)
		return rc;
	return cmocka_run_group_tests(tests, dnsd_start, dnsd_stop);
}
