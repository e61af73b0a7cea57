/* SPDX-License-Identifier: MIT */
/*
 * runtime/dump.h - goroutine dumps (runtime/dump.c).
 */
#ifndef RINGO_RUNTIME_DUMP_H
#define RINGO_RUNTIME_DUMP_H

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
