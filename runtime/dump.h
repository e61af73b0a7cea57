/* SPDX-License-Identifier: MIT */
/*
 * runtime/dump.h - goroutine dumps (runtime/dump.c).
 */
#ifndef RINGO_RUNTIME_DUMP_H
#define RINGO_RUNTIME_DUMP_H

#include <stdbool.h>
#include <stdint.h>

/* Frames shown per goroutine. */
#define DUMP_MAX_FRAMES 64

struct g;
struct m;

/*
 * An M's side of a dump that wants the stack of the goroutine it runs
 * (mp->capture): the dumping thread sets gp and state CAPTURE_ASKED under
 * sched.lock and sends SIGURG; the M's handler (runtime/preempt.c) walks
 * the interrupted context if it still runs gp, fills pcs and n, and sets
 * CAPTURE_DONE.  Only the handler writes pcs and n; one dump at a time
 * asks (sched.lock).
 */
enum { CAPTURE_IDLE, CAPTURE_ASKED, CAPTURE_DONE };

struct m_capture {
	_Atomic uint32_t state;
	struct g *gp;	   /* the goroutine whose stack is wanted */
	int n;		   /* frames in pcs; 0: gp was not running there */
	uintptr_t sp_word; /* the word at the interrupted stack pointer */
	uintptr_t pcs[DUMP_MAX_FRAMES];
};

/* In the SIGURG handler on mp, first: answer a dump's request.  True if
 * there was one (the signal was the runtime's).  uc: the ucontext_t. */
bool dump_capture_signal(struct m *mp, const void *uc);

/* Every goroutine, its stack and its creator, to fd; the calling
 * goroutine first.  0 or -errno.  Any thread but a signal handler; takes
 * sched.lock and allglock for a moment per batch of goroutines, never
 * while it writes. */
int dump_goroutines(int fd);
/* The same with sched.lock held by the caller, for a report that ends the
 * process (the deadlock report). */
int dump_goroutines_locked(int fd);
/* The running goroutine's stack from the caller's frame on, to fd (a
 * fatal error's).  Nothing on g0 or a plain thread. */
void dump_stack_here(int fd);

#endif /* RINGO_RUNTIME_DUMP_H */
