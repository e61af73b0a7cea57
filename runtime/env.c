/* SPDX-License-Identifier: MIT */
/*
 * runtime/env.c - RINGO_MAXPROCS and RINGO_DEBUG, parsed once per rg_main.
 *
 *   RINGO_MAXPROCS=N        number of Ps (1..1024); shadows CONFIG_MAXPROCS_DEFAULT
 *   RINGO_NETPOLL=io_uring|epoll
 *                           force the poller backend; an unknown name is
 *                           reported and ignored like any malformed value; a
 *                           backend that cannot work here stops rg_main with
 *                           a message (runtime/netpoll.c)
 *   RINGO_DEBUG=k=v[,k=v]   schedtrace=MS   print a SCHED line every MS ms
 *                           scheddetail=1   add per-P, per-M and per-G lines
 *                           preemptslice=US the time slice (50..10000000 us);
 *                                           shadows CONFIG_PREEMPT_SLICE_US
 *                           asyncpreemptoff=1
 *                                           no SIGURG preemption (a goroutine
 *                                           still yields at its next call into
 *                                           the runtime), as Go's GODEBUG
 *                           blockedretakeoff=1
 *                                           sysmon does not retake the P of a
 *                                           goroutine blocked in a system call
 *                                           it made without rg_syscall_enter
 *                                           (runtime/preempt.c)
 *                           stealpolicy=flat|node|distance
 *                                           the steal order; shadows
 *                                           CONFIG_STEAL_POLICY_*
 *                           ppin=0|1        pin the M holding P i to its home
 *                                           CPU; shadows CONFIG_P_PIN
 *                           softaffinity=0|1
 *                                           hand a P to the idle M last seen
 *                                           on its home CPU; shadows
 *                                           CONFIG_SOFT_AFFINITY
 *                           maxthreads=N    the most threads (Ms), 2..1000000;
 *                                           shadows CONFIG_MAX_THREADS
 *                           iouringcoop=0   io_uring rings without
 *                                           COOP_TASKRUN: completions interrupt
 *                                           the submitting thread
 *                                           (kernel_iface/netpoll_iouring.c)
 *                           sigquit=0       leave SIGQUIT to the program (by
 *                                           default it dumps every goroutine
 *                                           to stderr and exits 2, as Go;
 *                                           runtime/dump.c)
 *                           trace=PATH      record an execution trace from the
 *                                           start to the end of rg_main and
 *                                           write it to PATH (Chrome's JSON
 *                                           trace format; PATH without commas;
 *                                           runtime/exectrace.c)
 *                           stackguard=mprotect
 *                                           use mprotect guard pages even where
 *                                           MADV_GUARD_INSTALL works (to test
 *                                           or measure the fallback)
 *                           netdns=cares|glibc
 *                                           rg_getaddrinfo's resolver: c-ares
 *                                           on the goroutine, or glibc's on
 *                                           helper threads (by default the
 *                                           first where nsswitch.conf allows;
 *                                           runtime/dns_cares.c), as Go's
 *                                           GODEBUG=netdns=go|cgo
 *   RINGO_DNS_SERVERS=host[:port][,...]
 *                           the DNS servers c-ares asks instead of
 *                           resolv.conf's (read by runtime/dns_cares.c)
 *
 * A malformed value is reported on stderr, naming the variable and the
 * offending text (its first ENV_ECHO_MAX bytes, and its length when it is
 * longer), and ignored: never silently misread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/dns.h"
#include "runtime/env.h"
#include "runtime/runtime.h"

#define ENV_ECHO_MAX 64 /* bytes of a malformed value said back */

_Static_assert(MAXPROCS_LIMIT == 1024, "RINGO_MAXPROCS's message names the limit");

/* Say "ringo: <what> \"<s[0..len), cut>\" <why>" on stderr. */
static void env_report(const char *what, const char *s, size_t len, const char *why)
{
	if (len <= ENV_ECHO_MAX)
		fprintf(stderr, "ringo: %s\"%.*s\" %s\n", what, (int)len, s, why);
	else
		fprintf(stderr, "ringo: %s\"%.*s...\" (%zu bytes) %s\n", what, ENV_ECHO_MAX, s, len,
			why);
}

/* Parse a decimal integer in [lo, hi] spanning exactly s[0..len). */
static bool parse_int(const char *s, size_t len, long long lo, long long hi, long long *out)
{
	char buf[32], *end;
	long long v;

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = 0;
	if (buf[0] < '0' || buf[0] > '9')
		return false;
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static void debug_option(struct rg_env *env, const char *opt, size_t len)
{
	const char *eq = memchr(opt, '=', len);
	size_t klen = eq ? (size_t)(eq - opt) : len;
	const char *val = eq ? eq + 1 : "";
	size_t vlen = eq ? len - klen - 1 : 0;
	long long v;

	if (klen == 10 && !memcmp(opt, "schedtrace", 10)) {
		if (parse_int(val, vlen, 0, 3600000, &v)) {
			env->schedtrace_ms = v;
			return;
		}
	} else if (klen == 11 && !memcmp(opt, "scheddetail", 11)) {
		if (parse_int(val, vlen, 0, 1, &v)) {
			env->scheddetail = v;
			return;
		}
	} else if (klen == 12 && !memcmp(opt, "preemptslice", 12)) {
		if (parse_int(val, vlen, 50, 10000000, &v)) {
			env->preemptslice_us = v;
			return;
		}
	} else if (klen == 15 && !memcmp(opt, "asyncpreemptoff", 15)) {
		if (parse_int(val, vlen, 0, 1, &v)) {
			env->asyncpreemptoff = v;
			return;
		}
	} else if (klen == 11 && !memcmp(opt, "iouringcoop", 11)) {
		if (parse_int(val, vlen, 0, 1, &v)) {
			env->iouringcoop_off = !v;
			return;
		}
	} else if (klen == 16 && !memcmp(opt, "blockedretakeoff", 16)) {
		if (parse_int(val, vlen, 0, 1, &v)) {
			env->blockedretakeoff = v;
			return;
		}
	} else if (klen == 11 && !memcmp(opt, "stealpolicy", 11)) {
		char name[16];

		if (vlen < sizeof(name)) {
			memcpy(name, val, vlen);
			name[vlen] = '\0';
			v = steal_policy_parse(name);
			if (v >= 0) {
				env->stealpolicy = (int)v + 1;
				return;
			}
		}
	} else if (klen == 4 && !memcmp(opt, "ppin", 4)) {
		if (parse_int(val, vlen, 0, 1, &v)) {
			env->ppin = (int)v + 1;
			return;
		}
	} else if (klen == 12 && !memcmp(opt, "softaffinity", 12)) {
		if (parse_int(val, vlen, 0, 1, &v)) {
			env->softaffinity = (int)v + 1;
			return;
		}
	} else if (klen == 10 && !memcmp(opt, "maxthreads", 10)) {
		if (parse_int(val, vlen, 2, 1000000, &v)) {
			env->maxthreads = (int)v;
			return;
		}
	} else if (klen == 7 && !memcmp(opt, "sigquit", 7)) {
		if (parse_int(val, vlen, 0, 1, &v)) {
			env->sigquit_off = !v;
			return;
		}
	} else if (klen == 5 && !memcmp(opt, "trace", 5)) {
		if (vlen > 0 && vlen < sizeof(env->trace)) {
			memcpy(env->trace, val, vlen);
			env->trace[vlen] = '\0';
			return;
		}
	} else if (klen == 10 && !memcmp(opt, "stackguard", 10)) {
		if (vlen == 8 && !memcmp(val, "mprotect", 8)) {
			env->stackguard_mprotect = true;
			return;
		}
	} else if (klen == 6 && !memcmp(opt, "netdns", 6)) {
		if (vlen == 5 && !memcmp(val, "cares", 5)) {
			env->netdns = DNS_NETDNS_CARES;
			return;
		}
		if (vlen == 5 && !memcmp(val, "glibc", 5)) {
			env->netdns = DNS_NETDNS_GLIBC;
			return;
		}
	} else {
		env_report("RINGO_DEBUG: unknown option ", opt, len, "ignored");
		return;
	}
	env_report("RINGO_DEBUG: malformed value in ", opt, len, "ignored");
}

void env_parse(struct rg_env *env)
{
	const char *s = getenv("RINGO_MAXPROCS");
	long long v;

	memset(env, 0, sizeof(*env));
	if (s) {
		if (parse_int(s, strlen(s), 1, MAXPROCS_LIMIT, &v))
			env->maxprocs = (int)v;
		else
			env_report("RINGO_MAXPROCS=", s, strlen(s),
				   "is not a number from 1 to 1024; ignored");
	}
	env->netpoll = getenv("RINGO_NETPOLL");
	if (env->netpoll && *env->netpoll && strcmp(env->netpoll, "io_uring") &&
	    strcmp(env->netpoll, "epoll")) {
		env_report("RINGO_NETPOLL=", env->netpoll, strlen(env->netpoll),
			   "is not a backend (io_uring or epoll); ignored");
		env->netpoll = NULL;
	}
	env->numa_topology = getenv("RINGO_NUMA_TOPOLOGY");
	s = getenv("RINGO_DEBUG");
	while (s && *s) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);

		if (len)
			debug_option(env, s, len);
		s = comma ? comma + 1 : NULL;
	}
	if (env->scheddetail && !env->schedtrace_ms)
		fprintf(stderr, "ringo: RINGO_DEBUG: scheddetail=1 needs schedtrace=MS\n");
}
