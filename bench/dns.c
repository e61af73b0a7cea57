/* SPDX-License-Identifier: MIT */
/*
 * dns - name lookups from many goroutines against a local DNS server,
 * through rg_getaddrinfo with each of its resolvers: c-ares on the
 * goroutine (RINGO_DEBUG=netdns=cares, the default where nsswitch.conf
 * asks for files and DNS only) and glibc's on the runtime's helper
 * threads (netdns=glibc), one rg_main each.  Twin: bench/go/dns.go (Go's
 * own resolver).
 *
 * It runs under scripts/dnsenv.sh: private namespaces in which
 * /etc/resolv.conf names 127.0.0.1 (timeout:1 attempts:1) and
 * bench/tools/dnsd answers there.  dnsd answers a name with the address
 * 10.b1.b2.b3 taken from the name's FNV-1a hash, so every answer is
 * checked to be the name's own; a label "d<MS>" delays the answer MS ms,
 * "drop" leaves the query unanswered.  Without that server (the first
 * nameserver of /etc/resolv.conf is not 127.0.0.1, or a probe lookup is
 * not answered right) it exits 77.
 *
 * Each resolver in turn, c-ares first (the helper threads, once started,
 * stay for the life of the process), after a warm-up (G goroutines look
 * up one name each, untimed: the resolver's channels or threads are then
 * there, as in a program that has run a while), does three phases:
 *   at once   G goroutines each look up N distinct names (no cache can
 *             help) that dnsd answers at once, one after the other;
 *   delayed   the same with names that dnsd answers D ms late: the pool's
 *             8 threads bound it to 8 lookups in flight, c-ares to none;
 *   timeout   8 goroutines (as many as the pool has threads) each look up
 *             a name dnsd never answers, with a 50 ms timeout: how long
 *             until they have -ETIMEDOUT; then one goroutine looks up a
 *             name answered at once: how long that takes (the pool's
 *             threads stay in glibc until its own timeout, 1 s here).
 * Every lookup is for an IPv4 address only (ai_family AF_INET, Go's
 * "ip4"), so each one is one A query on every side, with a 10 s timeout
 * outside the timeout phase.  A sampler thread counts the entries of
 * /proc/self/task every millisecond during a resolver's phases; the peak,
 * less the sampler, is reported.  maxprocs is the default.
 *
 * Usage: dns [-c G] [-n N] [-d D]   (defaults: G = 1000 goroutines, N = 10
 *                                   lookups each, D = 2 ms)
 *
 * Timed: each phase from starting its first goroutine to the end of its
 * last; latency: each lookup's own, rg_now_ns around the call.
 *
 * Output, one figure per line, PFX dns_ for c-ares, dns_glibc_ for the
 * helper threads:
 *   PFXlookups_per_s: <float> lookups/s       at once: G * N / elapsed
 *   PFXp50_us, PFXp99_us: <float> us          at once: latency
 *   PFXcpu_us_per_lookup: <float> us          at once: process CPU time
 *                                             (getrusage) / (G * N)
 *   PFXdelay_lookups_per_s: <float> lookups/s delayed
 *   PFXdelay_p50_us, PFXdelay_p99_us: <float> us
 *   PFXpeak_threads: <int> threads            during the three phases
 *   PFXtimeout_ms: <float> ms                 the last -ETIMEDOUT
 *   PFXafter_timeout_ms: <float> ms           the lookup after them
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ringo.h"

#include "bench.h"

#define DEFAULT_G	   1000L
#define DEFAULT_N	   10L
#define DEFAULT_D	   2L
#define LOOKUP_TIMEOUT_NS  10000000000LL /* outside the timeout phase */
#define DROP_LOOKUPS	   8		 /* rg_getaddrinfo's helper threads */
#define DROP_TIMEOUT_NS	   50000000LL
#define NAME_MAX_LEN	   96
#define SAMPLE_INTERVAL_NS 1000000L

struct resolver {
	const char *prefix; /* of its figures */
	char tag;	    /* first letter of its names */
	const char *netdns; /* RINGO_DEBUG=netdns= */
	/* 0 with the address in *addr, or -errno (-ETIMEDOUT after timeout_ns);
	 * slot: the goroutine's index. */
	int (*lookup)(long slot, const char *name, int64_t timeout_ns, uint32_t *addr);
};

struct figures {
	double rate, p50_us, p99_us, cpu_us;
	double delay_rate, delay_p50_us, delay_p99_us;
	int peak_threads;
	double timeout_ms, after_ms;
};

static struct {
	long g, n, d;
	int maxprocs;
	const struct resolver *res;
	int phase; /* 0 at once, 1 delayed */
	int64_t *lat;
	int64_t drop_ns[DROP_LOOKUPS];
	rg_wg done;
	atomic_long bad;
} P;

static atomic_int sampling, peak_threads;

/* ---------------------------------------------------------------------------
 * Names and the addresses dnsd gives them */

/* FNV-1a of the name, lower-cased, without its final dot: dnsd's answer
 * is 10.b1.b2.b3, its low three bytes (bench/tools/dnsd.c). */
static uint32_t name_addr(const char *name)
{
	uint32_t h = 2166136261u;
	size_t len = strlen(name);

	if (len && name[len - 1] == '.')
		len--;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)name[i];

		h ^= c >= 'A' && c <= 'Z' ? c + 32 : c;
		h *= 16777619u;
	}
	return htonl((10u << 24) | (h & 0xffffff));
}

static void bad(const char *what, const char *name, int err)
{
	if (atomic_fetch_add(&P.bad, 1) < 5)
		fprintf(stderr, "dns: %s %s: %s\n", what, name,
			err ? strerror(-err) : "wrong answer");
}

/* ---------------------------------------------------------------------------
 * rg_getaddrinfo */

static int rg_lookup(long slot, const char *name, int64_t timeout_ns, uint32_t *addr)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai;
	int r;

	(void)slot;
	r = rg_getaddrinfo(name, NULL, &hints, &ai, timeout_ns);
	if (r < 0)
		return r;
	if (ai->ai_next || ai->ai_family != AF_INET) {
		freeaddrinfo(ai);
		return -EPROTO; /* one IPv4 address, and nothing else */
	}
	*addr = ((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr;
	freeaddrinfo(ai);
	return 0;
}

/* rg_getaddrinfo with each resolver (RINGO_DEBUG=netdns=...), c-ares
 * first: the helper threads, once started, stay for the life of the
 * process. */
static const struct resolver resolvers[] = {
	{ "dns_", 'c', "cares", rg_lookup },
	{ "dns_glibc_", 'p', "glibc", rg_lookup },
};

/* ---------------------------------------------------------------------------
 * The phases */

static int count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void *sampler(void *arg)
{
	struct timespec tick = { 0, SAMPLE_INTERVAL_NS };

	(void)arg;
	while (atomic_load(&sampling)) {
		int t = count_threads();

		if (t > atomic_load(&peak_threads))
			atomic_store(&peak_threads, t);
		nanosleep(&tick, NULL);
	}
	return NULL;
}

static void name_of(char *buf, const char *kind, long g, long i)
{
	if (P.phase == 0)
		snprintf(buf, NAME_MAX_LEN, "%c%s-%ld-%ld.bench.", P.res->tag, kind, g, i);
	else
		snprintf(buf, NAME_MAX_LEN, "%c%s-%ld-%ld.d%ld.bench.", P.res->tag, kind, g, i,
			 P.d);
}

static void looker(void *arg)
{
	long g = (long)(intptr_t)arg;
	char name[NAME_MAX_LEN];

	for (long i = 0; i < P.n; i++) {
		uint32_t addr = 0;
		int64_t t0;
		int r;

		name_of(name, P.phase ? "d" : "a", g, i);
		t0 = rg_now_ns();
		r = P.res->lookup(g, name, LOOKUP_TIMEOUT_NS, &addr);
		P.lat[g * P.n + i] = rg_now_ns() - t0;
		if (r < 0 || addr != name_addr(name))
			bad("lookup", name, r);
	}
	rg_wg_done(&P.done);
}

static void warmer(void *arg)
{
	long g = (long)(intptr_t)arg;
	char name[NAME_MAX_LEN];
	uint32_t addr = 0;
	int r;

	snprintf(name, sizeof(name), "%cw-%ld.bench.", P.res->tag, g);
	r = P.res->lookup(g, name, LOOKUP_TIMEOUT_NS, &addr);
	if (r < 0 || addr != name_addr(name))
		bad("lookup", name, r);
	rg_wg_done(&P.done);
}

/* Untimed: G goroutines look up one name each, so that what a resolver
 * keeps between lookups (c-ares channels, helper threads) is there, as
 * in a program that has run a while. */
static void warm_up(void)
{
	rg_wg_add(&P.done, (int)P.g);
	for (long g = 0; g < P.g; g++) {
		if (rg_go(warmer, (void *)(intptr_t)g) < 0) {
			fprintf(stderr, "dns: rg_go failed\n");
			exit(1);
		}
	}
	rg_wg_wait(&P.done);
}

/* One phase of G * N lookups (0 at once, 1 delayed): its rate and
 * latencies. */
static void run_phase(int phase, double *rate, double *p50_us, double *p99_us)
{
	size_t total = (size_t)(P.g * P.n);
	double t0;

	P.phase = phase;
	rg_wg_add(&P.done, (int)P.g);
	t0 = now_ns();
	for (long g = 0; g < P.g; g++) {
		if (rg_go(looker, (void *)(intptr_t)g) < 0) {
			fprintf(stderr, "dns: rg_go failed\n");
			exit(1);
		}
	}
	rg_wg_wait(&P.done);
	*rate = (double)total / ((now_ns() - t0) / 1e9);
	qsort(P.lat, total, sizeof(*P.lat), cmp_int64);
	*p50_us = (double)percentile(P.lat, total, 50) / 1e3;
	*p99_us = (double)percentile(P.lat, total, 99) / 1e3;
}

static void dropper(void *arg)
{
	long k = (long)(intptr_t)arg;
	char name[NAME_MAX_LEN];
	uint32_t addr;
	int64_t t0 = rg_now_ns();
	int r;

	snprintf(name, sizeof(name), "%ct-%ld.drop.bench.", P.res->tag, k);
	r = P.res->lookup(k, name, DROP_TIMEOUT_NS, &addr);
	P.drop_ns[k] = rg_now_ns() - t0;
	if (r != -ETIMEDOUT)
		bad("unanswered lookup", name, r ? r : -EPROTO);
	rg_wg_done(&P.done);
}

/* DROP_LOOKUPS unanswered lookups at once, then one answered one. */
static void run_timeouts(struct figures *f)
{
	char name[NAME_MAX_LEN];
	uint32_t addr = 0;
	int64_t t0, worst = 0;
	int r;

	rg_wg_add(&P.done, DROP_LOOKUPS);
	for (long k = 0; k < DROP_LOOKUPS; k++)
		rg_go(dropper, (void *)(intptr_t)k);
	rg_wg_wait(&P.done);
	for (int k = 0; k < DROP_LOOKUPS; k++)
		worst = P.drop_ns[k] > worst ? P.drop_ns[k] : worst;
	f->timeout_ms = (double)worst / 1e6;

	snprintf(name, sizeof(name), "%cafter.bench.", P.res->tag);
	t0 = rg_now_ns();
	r = P.res->lookup(0, name, LOOKUP_TIMEOUT_NS, &addr);
	f->after_ms = (double)(rg_now_ns() - t0) / 1e6;
	if (r < 0 || addr != name_addr(name))
		bad("lookup", name, r);
}

static void run_resolver(const struct resolver *res, struct figures *f)
{
	struct rusage r0, r1;
	pthread_t tid;

	P.res = res;
	atomic_store(&peak_threads, count_threads());
	atomic_store(&sampling, 1);
	if (pthread_create(&tid, NULL, sampler, NULL)) {
		fprintf(stderr, "dns: pthread_create failed\n");
		exit(1);
	}
	warm_up();
	getrusage(RUSAGE_SELF, &r0);
	run_phase(0, &f->rate, &f->p50_us, &f->p99_us);
	getrusage(RUSAGE_SELF, &r1);
	f->cpu_us = ((double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) * 1e6 +
		     (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) +
		     (double)(r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1e6 +
		     (double)(r1.ru_stime.tv_usec - r0.ru_stime.tv_usec)) /
		    (double)(P.g * P.n);
	run_phase(1, &f->delay_rate, &f->delay_p50_us, &f->delay_p99_us);
	run_timeouts(f);
	atomic_store(&sampling, 0);
	pthread_join(tid, NULL);
	f->peak_threads = atomic_load(&peak_threads) - 1; /* the sampler */
}

static struct figures figs[sizeof(resolvers) / sizeof(resolvers[0])];

static void bench_main(void *arg)
{
	size_t i = (size_t)(uintptr_t)arg;

	P.maxprocs = rg_gomaxprocs(0);
	run_resolver(&resolvers[i], &figs[i]);
}

/* ---------------------------------------------------------------------------
 * The environment */

/* Is dnsd the resolver's server?  If not, exit 77 saying why. */
static void check_server(void)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai;
	char line[256], ns[64] = "";
	FILE *f = fopen("/etc/resolv.conf", "r");
	int r;

	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, " nameserver %63s", ns) == 1)
			break;
	}
	if (f)
		fclose(f);
	if (strcmp(ns, "127.0.0.1") != 0) {
		fprintf(stderr, "dns: /etc/resolv.conf does not name 127.0.0.1 first: "
				"run under scripts/dnsenv.sh BUILD/bench/tools/dnsd\n");
		exit(77);
	}
	r = getaddrinfo("probe.bench.", NULL, &hints, &ai);
	if (r != 0 ||
	    ((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr != name_addr("probe.bench.")) {
		fprintf(stderr, "dns: no dnsd answering on 127.0.0.1:53 (%s)\n",
			r ? gai_strerror(r) : "a wrong address");
		exit(77);
	}
	freeaddrinfo(ai);
}

int main(int argc, char **argv)
{
	struct rlimit rl;
	int rc = 0;

	P.g = DEFAULT_G;
	P.n = DEFAULT_N;
	P.d = DEFAULT_D;
	for (int i = 1; i < argc; i++) {
		if (i + 1 < argc && strcmp(argv[i], "-c") == 0)
			P.g = parse_count_flag(argv[0], "-c", argv[++i]);
		else if (i + 1 < argc && strcmp(argv[i], "-n") == 0)
			P.n = parse_count(argv[0], argv[++i]);
		else if (i + 1 < argc && strcmp(argv[i], "-d") == 0)
			P.d = parse_count_flag(argv[0], "-d", argv[++i]);
		else {
			fprintf(stderr, "usage: %s [-c G] [-n N] [-d D]\n", argv[0]);
			return 2;
		}
	}
	if (P.d > 60000 || P.g < DROP_LOOKUPS || P.g > 1000000 || P.n > 1000000) {
		fprintf(stderr, "%s: -d at most 60000 ms, -c %d to 1000000, -n at most 1000000\n",
			argv[0], DROP_LOOKUPS);
		return 2;
	}
	/* A socket per lookup in flight (c-ares channels), as Go raises it
	 * too. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	check_server();
	P.lat = malloc((size_t)(P.g * P.n) * sizeof(*P.lat));
	if (!P.lat)
		return 1;
	for (size_t i = 0; i < sizeof(resolvers) / sizeof(resolvers[0]) && rc == 0; i++) {
		char v[32];

		snprintf(v, sizeof(v), "netdns=%s", resolvers[i].netdns);
		setenv("RINGO_DEBUG", v, 1);
		rc = rg_main(NULL, bench_main, (void *)(uintptr_t)i);
	}
	if (rc != 0 || P.bad) {
		fprintf(stderr, "dns: %s (%ld bad lookups)\n", rc ? "rg_main failed" : "errors",
			atomic_load(&P.bad));
		return 1;
	}
	printf("# params: c=%ld n=%ld d=%ld maxprocs=%d\n", P.g, P.n, P.d, P.maxprocs);
	for (size_t i = 0; i < sizeof(resolvers) / sizeof(resolvers[0]); i++) {
		const char *p = resolvers[i].prefix;
		struct figures *f = &figs[i];

		printf("%slookups_per_s: %.1f lookups/s\n", p, f->rate);
		printf("%sp50_us: %.1f us\n", p, f->p50_us);
		printf("%sp99_us: %.1f us\n", p, f->p99_us);
		printf("%scpu_us_per_lookup: %.1f us\n", p, f->cpu_us);
		printf("%sdelay_lookups_per_s: %.1f lookups/s\n", p, f->delay_rate);
		printf("%sdelay_p50_us: %.1f us\n", p, f->delay_p50_us);
		printf("%sdelay_p99_us: %.1f us\n", p, f->delay_p99_us);
		printf("%speak_threads: %d threads\n", p, f->peak_threads);
		printf("%stimeout_ms: %.1f ms\n", p, f->timeout_ms);
		printf("%safter_timeout_ms: %.1f ms\n", p, f->after_ms);
	}
	return 0;
}
