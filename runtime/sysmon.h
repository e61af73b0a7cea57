/* SPDX-License-Identifier: MIT */
/*
 * runtime/sysmon.h - sysmon, the monitor thread.
 *
 * See the design comment at the top of runtime/sysmon.c.
 */
#ifndef RINGO_RUNTIME_SYSMON_H
#define RINGO_RUNTIME_SYSMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * What sysmon remembers of a P between its rounds, pp->sm.  Only sysmon's
 * thread touches these fields (so they need no lock); it reads the P's
 * ticks, relaxed, and notes when it first saw each value.
 */
struct p_sysmon {
	uint32_t switchtick;  /* switchtick at the last look (sysmon_runnext) */
	bool next;	      /* runnext was set at that look */
	uint32_t nptick;      /* switchtick at the last poller check (sysmon_pollers) */
	int64_t npsince;      /* when that switchtick was first seen */
	uint32_t timertick;   /* switchtick + 1 when it last preempted for a timer */
	uint32_t syscalltick; /* syscalltick at the last look (sysmon_retake) */
	int64_t syscallwhen;  /* when it was first seen */
	uint32_t schedtick;   /* schedtick at the last look (sysmon_preempt) */
	int64_t schedwhen;    /* when it was first seen */
	int64_t probe_at;     /* next look at a blocked M's system call (sysmon_probe) */
	int64_t probe_wait;   /* the wait before the look after it */
	uint32_t retake_tick; /* syscalltick expected after a retake request */
	bool retake_sent;     /* a retake request is out for this P */
};

/* Start and stop the monitor thread (rg_main); 0 or -errno. */
int sysmon_start(void);
void sysmon_stop(void);
/* Its thread id, 0 when not running (deadlock detection skips it). */
pid_t sysmon_tid(void);
/* A P starts running: wake sysmon if it sleeps because every P was idle.
 * Any thread; cheap when it does not sleep so. */
void sysmon_wake(void);
/* Work waits behind a system call: have sysmon look now if it sleeps
 * long (and poll fast for a while).  Any thread. */
void sysmon_kick(void);
/* Have sysmon dump every goroutine to stderr and exit 2 (SIGQUIT).
 * Async-signal-safe. */
void sysmon_dump_request(void);
/* Have sysmon deliver the signals queued for channels (runtime/signotify.c)
 * at once.  Async-signal-safe. */
void sysmon_signal_request(void);
/* Ps it took from Ms in system calls since rg_main.  (any) */
uint64_t sysmon_retakes(void);

/*
 * sysmon_clock - ki_nanotime() as sysmon last read it: at each of its
 * rounds (every 20 us to 10 ms while a P runs) and when a P wakes it from
 * its idle sleep.  A load, for stamps that need no precision (how long a
 * goroutine has waited, in dumps); 0 before sysmon's first round.
 */
extern _Atomic int64_t sysmon_clock_ns;

static inline int64_t sysmon_clock(void)
{
	return atomic_load_explicit(&sysmon_clock_ns, memory_order_relaxed);
}

#endif /* RINGO_RUNTIME_SYSMON_H */
