/* SPDX-License-Identifier: MIT */
/*
 * runtime/dns.h - name lookups (rg_getaddrinfo): glibc's on helper
 * threads (runtime/dns.c), what deadlock detection asks of them, and
 * c-ares's on the calling goroutine (runtime/dns_cares.c).
 */
#ifndef RINGO_RUNTIME_DNS_H
#define RINGO_RUNTIME_DNS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct addrinfo;

/* Whether a lookup is queued or running: a helper will wake a goroutine.
 * (any, a hint) */
bool dns_busy(void);
/* The helper threads' ids, up to max, into tids; how many.  (any) */
int dns_threads(pid_t *tids, int max);

/* The runtime ends: forget its requests (teardown, every goroutine
 * gone). */
void dns_fini(void);

/* The resolver asked for (RINGO_DEBUG=netdns=...): the default
 * (runtime/dns_cares.c says which), c-ares, or glibc's on helper threads. */
enum { DNS_NETDNS_AUTO, DNS_NETDNS_CARES, DNS_NETDNS_GLIBC };

/* runtime/dns_cares.c.  A runtime starts: decide whether c-ares serves
 * its lookups (netdns, nsswitch.conf).  (rg_main, before any goroutine) */
void dns_cares_init(int netdns);
/* Whether a lookup with these hints goes to c-ares.  (any) */
bool dns_cares_usable(const struct addrinfo *hints);
/* rg_getaddrinfo through c-ares, until deadline (0: none); -errno, or 0
 * and *res.  (goroutine) */
int dns_cares_lookup(const char *host, const char *service, const struct addrinfo *hints,
		     struct addrinfo **res, int64_t deadline);
/* The runtime ends: destroy the idle channels. */
void dns_cares_fini(void);

/* The most helper threads there are. */
#define DNS_THREADS 8

#endif /* RINGO_RUNTIME_DNS_H */
