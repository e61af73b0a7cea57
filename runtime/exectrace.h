/* SPDX-License-Identifier: MIT */
/*
 * runtime/exectrace.h - the execution trace: the scheduler's events
 * recorded per thread while tracing is on, written as a Chrome trace-event
 * JSON file (rg_trace_start, rg_trace_stop, RINGO_DEBUG=trace=PATH).
 *
 * See the design comment at the top of runtime/exectrace.c.  The events
 * are the USDT probes' (runtime/probes.h): rg_probe records one when
 * tracing is on.
 */
#ifndef RINGO_RUNTIME_EXECTRACE_H
#define RINGO_RUNTIME_EXECTRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/compiler.h"

#define TR_EVENTS(X)        \
	X(go_create)        \
	X(go_start)         \
	X(go_park)          \
	X(go_ready)         \
	X(go_exit)          \
	X(go_preempt)       \
	X(syscall_block)    \
	X(syscall_unblock)  \
	X(p_retake)         \
	X(steal)            \
	X(preempt_request)  \
	X(netpoll_submit)   \
	X(netpoll_complete) \
	X(netpoll_sleep)    \
	X(timer_fire)       \
	X(m_start)          \
	X(m_park)           \
	X(m_wake)

#define TR_ENUM(name) TR_##name,
enum tr_event { TR_EVENTS(TR_ENUM) TR_NEVENTS };
#undef TR_ENUM

/* Tracing is on: rg_probe records its event.  Written by rg_trace_start
 * and rg_trace_stop; read relaxed by every probe site. */
extern _Atomic bool trace_on;

/* Record event ev with up to four arguments, in the calling thread's
 * buffer.  Any thread, async-signal-safe, no lock. */
void trace_record(int ev, int64_t a, int64_t b, int64_t c, int64_t d);

/* Start tracing into path when RINGO_DEBUG=trace=PATH asked (rg_main, the
 * runtime up); write the trace that is on, if any, at its end; free the
 * buffers (teardown, every thread of the runtime joined). */
void trace_main_start(const char *path);
void trace_main_stop(void);
void trace_fini(void);

#endif /* RINGO_RUNTIME_EXECTRACE_H */
