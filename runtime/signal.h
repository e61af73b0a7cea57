/* SPDX-License-Identifier: MIT */
/*
 * runtime/signal.h - the runtime's signal handling.
 *
 * SIGSEGV and SIGBUS are caught on a per-M alternate stack.  A fault inside
 * a goroutine stack's guard is a stack overflow and is reported as a fatal
 * error naming the goroutine and its stack size; any other fault goes to
 * the handler that was installed before (or the default action), as if the
 * runtime were not there.  Later, SIGURG preemption lives here too.
 */
#ifndef RINGO_RUNTIME_SIGNAL_H
#define RINGO_RUNTIME_SIGNAL_H

struct m;

/* Install the process-wide handlers (rg_main start-up); 0 or -errno. */
int signal_init(void);
/* Restore the handlers found by signal_init. */
void signal_fini(void);
/* Per-M set-up on the M's own thread: the alternate signal stack. */
int signal_minit(struct m *mp);
/* Undo signal_minit on the M's own thread. */
void signal_unminit(struct m *mp);

#endif /* RINGO_RUNTIME_SIGNAL_H */
