/* SPDX-License-Identifier: MIT */
/*
 * runtime/dns.h - name lookups on helper threads (rg_getaddrinfo,
 * runtime/dns.c): what deadlock detection asks of them.
 */
#ifndef RINGO_RUNTIME_DNS_H
#define RINGO_RUNTIME_DNS_H

#include <stdbool.h>
#include <sys/types.h>

/* Whether a lookup is queued or running: a helper will wake a goroutine.
 * (any, a hint) */
bool dns_busy(void);
/* The helper threads' ids, up to max, into tids; how many.  (any) */
int dns_threads(pid_t *tids, int max);

/* The runtime ends: forget its requests (teardown, every goroutine
 * gone). */
void dns_fini(void);

/* The most helper threads there are. */
#define DNS_THREADS 8

#endif /* RINGO_RUNTIME_DNS_H */
