/* SPDX-License-Identifier: MIT */
/*
 * runtime/signal.h - the runtime's signal handling.
 *
 * SIGSEGV and SIGBUS are caught on a per-M alternate stack.  A fault that
 * proves a stack overflow of the running goroutine (in its guard page, or
 * below its stack with the stack pointer gone past the bottom) is reported
 * as a fatal error naming the goroutine and its stack size; a fault in
 * another goroutine's guard page is reported as Go's "unexpected fault
 * address", naming the goroutine that faulted, and kills the process with
 * the signal; any other fault goes to the handler that was installed
 * before, or, with none, is reported the same way before the default
 * action (runtime/signal.c).  SIGURG belongs to runtime/preempt.c.
 */
#ifndef RINGO_RUNTIME_SIGNAL_H
#define RINGO_RUNTIME_SIGNAL_H

#include <signal.h>
#include <stddef.h>

struct m;

/* An M's signal state, mp->sig: set up and undone on the M's own thread by
 * signal_minit and signal_unminit, which alone touch it. */
struct m_signal {
	void *altstack; /* its alternate signal stack */
	size_t altstack_size;
	stack_t old_altstack; /* m0 only: the caller's, restored at exit */
	sigset_t old_sigmask; /* the mask before SIGPIPE was blocked, restored at exit */
};

/* Install the process-wide handlers (rg_main start-up); 0 or -errno. */
int signal_init(void);
/* Dump every goroutine on SIGQUIT and exit 2 (RINGO_DEBUG=sigquit=0 not
 * set); signal_fini restores the program's.  0 or -errno. */
int signal_sigquit_init(void);
/* Restore the handlers found by signal_init. */
void signal_fini(void);
/* Per-M set-up on the M's own thread: the alternate signal stack, SIGPIPE
 * blocked.  0 or -errno. */
int signal_minit(struct m *mp);
/* Undo signal_minit on the M's own thread. */
void signal_unminit(struct m *mp);

#endif /* RINGO_RUNTIME_SIGNAL_H */
