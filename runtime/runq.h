/* SPDX-License-Identifier: MIT */
/*
 * runtime/runq.h - per-P run queues and the global run queue.
 *
 * See the design comment at the top of runtime/runq.c.  Every function
 * here works on bare Ps with no M (tests use them so).
 */
#ifndef RINGO_RUNTIME_RUNQ_H
#define RINGO_RUNTIME_RUNQ_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/compiler.h"

#define RUNQ_SIZE 256 /* per-P ring; must be a power of two */

struct g;
struct p;

/*
 * A P's run queue, pp->runq.  head is advanced by the owner and by
 * thieves with CAS; tail is written only by the owner (release store);
 * ring[i] is written by the owner before the tail that covers it.  next
 * (Go's runnext) holds a G readied by the running G: it runs next,
 * inheriting the time slice; written by the owner and by thieves (CAS).
 * Each on its own cache line: thieves and the owner write them at once.
 * Only runq.c touches these fields.
 */
struct p_runq {
	_Atomic uint32_t head cacheline_aligned;
	_Atomic uint32_t tail cacheline_aligned;
	struct g *_Atomic ring[RUNQ_SIZE] cacheline_aligned;
	struct g *_Atomic next cacheline_aligned;
};

/* An empty queue (a new P, before it is published). */
void runq_init(struct p_runq *rq);
/* Forget what the queue holds: the goroutines are abandoned (teardown,
 * every M stopped). */
void runq_fini(struct p_runq *rq);

/* Whether pp has nothing to run, runnext included.  (any) */
bool runqempty(struct p *pp);
/* Gs in pp's ring, runnext not counted (a snapshot).  (any) */
uint32_t runqlen(struct p *pp);
/* Whether pp's runnext holds a G.  (any; a snapshot) */
bool runq_has_next(struct p *pp);
/* Whether pp's runnext G has waited past a grace period while pp did not
 * switch: thieves may take it.  (any) */
bool runnext_stalled(struct p *pp);
/* Put gp on pp's queue: in runnext if next (what was there goes to the
 * ring), else at the ring's tail; half the ring moves to the global
 * queue when it is full.  Owner. */
void runqput(struct p *pp, struct g *gp, bool next);
/* Put gp in runnext; true if a G it displaced went to the ring.  Owner. */
bool runqput_next(struct p *pp, struct g *gp);
/* The next G: runnext first (*inherit: it keeps the time slice), then
 * the ring's head; NULL when empty.  Owner. */
struct g *runqget(struct p *pp, bool *inherit);
/* Move half of victim's ring (runnext too when steal_runnext) to pp's,
 * and return one G to run, or NULL.  Owner of pp, any victim. */
struct g *runqsteal(struct p *pp, struct p *victim, bool steal_runnext);

/* The global queue; sched.lock held.  globrunqget moves up to max (0: a
 * fair share) to pp's ring and returns one to run. */
void globrunqput(struct g *gp);
void globrunqputbatch(struct g *const *batch, int32_t n);
struct g *globrunqget(struct p *pp, int32_t max);
/* Free the global queue's array (teardown). */
void globrunq_fini(void);

#endif /* RINGO_RUNTIME_RUNQ_H */
