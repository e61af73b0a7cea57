/* SPDX-License-Identifier: MIT */
/*
 * runtime/probes.h - USDT probes: the scheduler's events, for perf,
 * bpftrace and SystemTap.
 *
 * Every probe is a statically defined tracing point of provider "ringo"
 * (<sys/sdt.h>, Debian's systemtap-sdt-dev): a single nop in the code and
 * a note in the ELF section .note.stapsdt that says where the nop is and
 * where its arguments live (registers or memory, as the compiler placed
 * them).  Unattached, a probe costs that nop and having its arguments in
 * registers: values the code has at hand at that point, so a few
 * instructions (callgrind: 26 per pingpong round trip, which fires six
 * probes, 2% of its instructions and no measurable time).  Semaphores,
 * which skip a probe and its arguments until a tool attaches, were
 * measured and not kept: their load and branch cost as much (see
 * bench/RESULTS.md).  A tool that attaches (perf probe sdt_ringo:NAME, bpftrace
 * usdt:PATH:ringo:NAME) turns the nop into a breakpoint that reads the
 * arguments.  docs/observability.md lists the probes with their arguments
 * and gives working one-liners.
 *
 * The probes, by mechanism (goids are uint64_t, P and M ids int):
 *   goroutines   go_create(goid, fn, creator goid)   rg_go
 *                go_start(goid, p)                   a P switches to it, or it takes an
 *                                                    idle P back from a system call
 *                go_park(goid, reason)               gopark; reason: a C string
 *                go_ready(goid, p)                   goready, on the waker's thread;
 *                                                    p -1: to the global queue
 *                go_exit(goid)                       it returned or called rg_exit
 *                go_preempt(goid, p)                 it yields at the end of its slice
 *   system calls syscall_block(goid, p)              rg_syscall_enter, or the
 *                                                    SIGURG handler for a blocked call
 *                syscall_unblock(goid, p, fast)      rg_syscall_exit; fast: its P was
 *                                                    still there
 *                p_retake(p)                         sysmon took P p from its M in a call
 *   stealing     steal(thief p, victim p, n, class)  n goroutines; class: the
 *                                                    victim's distance class (numa/steal.h)
 *   preemption   preempt_request(p)                  sysmon asks P p's goroutine to yield
 *   netpoller    netpoll_submit(op, fd, goid)        a request goes to the P's poller
 *                                                    (enum np_op; epoll: a readiness
 *                                                    wait, NP_OP_POLL)
 *                netpoll_complete(op, fd, res, goid) its goroutine resumes with res
 *                                                    (a result or -errno)
 *                netpoll_sleep(m, p, timeout ns)     an idle M sleeps in P p's poller
 *   timers       timer_fire(when, late ns, p)        a timer of P p's heap runs
 *   Ms           m_start(m)                          a new M's thread starts
 *                m_park(m)                           an M with nothing to do sleeps
 *                m_wake(m)                           it wakes (startm, or the runtime stops)
 */
#ifndef RINGO_RUNTIME_PROBES_H
#define RINGO_RUNTIME_PROBES_H

#include "runtime/compiler.h"

#define SDT_USE_VARIADIC 1 /* STAP_PROBEV */
#include <sys/sdt.h>

#include "runtime/exectrace.h"

/* The probe's arguments, as the trace records them: four, 0 for those it
 * lacks. */
#define TR_ARGS(...)		  TR_ARGS_(__VA_ARGS__, 0, 0, 0, 0)
#define TR_ARGS_(a, b, c, d, ...) (int64_t)(a), (int64_t)(b), (int64_t)(c), (int64_t)(d)

/* rg_probe(name, args...) - the probe ringo:name with its arguments (at
 * most 4 here, each an integer or a pointer), and the trace's event while
 * tracing is on (runtime/exectrace.c). */
#define rg_probe(name, ...)                                            \
	do {                                                           \
		STAP_PROBEV(ringo, name, __VA_ARGS__);                 \
		if (unlikely(load_relaxed(&trace_on)))                 \
			trace_record(TR_##name, TR_ARGS(__VA_ARGS__)); \
	} while (0)

#endif /* RINGO_RUNTIME_PROBES_H */
