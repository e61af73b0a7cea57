/* SPDX-License-Identifier: MIT */
/*
 * runtime/preempt.h - preemption (SIGURG) and the P of a blocked system
 * call nobody annotated.
 *
 * See the design comment at the top of runtime/preempt.c.  The M's side of
 * it (preempt_req, retake_req, syscall_implicit) is declared with struct m.
 */
#ifndef RINGO_RUNTIME_PREEMPT_H
#define RINGO_RUNTIME_PREEMPT_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/runtime.h"

/* Install the SIGURG handler and measure the XSAVE area; 0 or -errno. */
int preempt_init(void);
/* The smallest stack size (bytes, guard included) on which a goroutine
 * near the top of its stack can be preempted; after preempt_init. */
size_t preempt_min_stack(void);
void preempt_fini(void);
/* Whether the program replaced the SIGURG handler; says so once on
 * stderr.  sysmon, every round (it looks every 100 ms). */
void preempt_check_handler(int64_t now);
/* Ask the goroutine running on pp to yield: SIGURG, or at its next call
 * into the runtime.  sysmon. */
void preemptone(struct p *pp);
/* The requests preemptone made since rg_main.  (any) */
uint64_t preempt_requests(void);
void preempt_check_slow(struct m *mp);
/* Ask the SIGURG handler on mp, found asleep in a system call while holding
 * its P, to put it in a system call (see "Blocked calls nobody annotated"
 * in runtime/preempt.c).  sysmon. */
void retakeone(struct m *mp);
/* SIGURG to mp's thread, whose handler looks at what was asked of it:
 * preempt_req, retake_req, a dump's capture (runtime/dump.h).  (any) */
void preempt_signal(struct m *mp);

/*
 * rt_enter - the first thing every public call that may use the M's P
 * does.  A goroutine whose blocked system call lost its P to sysmon
 * ("Blocked calls nobody annotated", runtime/preempt.c) takes one back here
 * before it touches any runtime state, as rg_syscall_exit does; it may then
 * run on another M.  Returns the M the caller runs on (NULL on a plain
 * thread).
 */
static inline struct m *rt_enter(void)
{
	struct m *mp = getm();

	if (mp && unlikely(mp->syscall_implicit)) {
		exitsyscall_implicit(mp);
		mp = getm();
	}
	return mp;
}

/* A goroutine asked to yield does so at its next call into the runtime. */
static inline void preempt_check(void)
{
	struct m *mp = getm();

	if (mp && unlikely(load_relaxed(&mp->preempt_req)))
		preempt_check_slow(mp);
}

#endif /* RINGO_RUNTIME_PREEMPT_H */
