/* SPDX-License-Identifier: MIT */
/*
 * runtime/env.h - the runtime's knobs from the environment: RINGO_MAXPROCS,
 * RINGO_NETPOLL, RINGO_NUMA_TOPOLOGY and RINGO_DEBUG.
 *
 * See the design comment at the top of runtime/env.c.
 */
#ifndef RINGO_RUNTIME_ENV_H
#define RINGO_RUNTIME_ENV_H

#include <stdbool.h>
#include <stdint.h>

struct rg_env {
	int maxprocs;	       /* 0: not set */
	int64_t schedtrace_ms; /* 0: off */
	bool scheddetail;
	bool stackguard_mprotect;
	int maxthreads;		 /* 0: not set */
	int64_t preemptslice_us; /* 0: not set */
	bool asyncpreemptoff;
	bool blockedretakeoff;
	bool sigquit_off; /* sigquit=0: SIGQUIT is the program's */
	bool iouringcoop_off;
	int stealpolicy;	   /* 0: not set, else enum steal_policy + 1 */
	int ppin;		   /* 0: not set, 1: off, 2: on */
	int softaffinity;	   /* 0: not set, 1: off, 2: on */
	int netdns;		   /* DNS_NETDNS_* (runtime/dns.h) */
	const char *netpoll;	   /* RINGO_NETPOLL, NULL: not set */
	const char *numa_topology; /* RINGO_NUMA_TOPOLOGY, NULL: not set */
	char trace[4096];	   /* trace=PATH, "": not set */
};
/* Parse RINGO_MAXPROCS and RINGO_DEBUG; report malformed values on stderr. */
void env_parse(struct rg_env *env);

#endif /* RINGO_RUNTIME_ENV_H */
