/* SPDX-License-Identifier: MIT */
/*
 * runtime/signal.c - fault reporting (see runtime/signal.h).
 *
 * A SIGSEGV or SIGBUS is a stack overflow of the goroutine that faulted
 * only when the address proves it: it lies in that goroutine's own guard
 * page, or the goroutine's stack pointer has left its stack (a frame
 * larger than the guard jumped over it) and the address lies below the
 * stack.  Then the message names the goroutine and its stack size, and
 * the process exits with status 2, as Go's.  A fault in another
 * goroutine's guard page is a wild access, not an overflow: it is
 * reported as Go reports an unexpected fault, naming the goroutine that
 * faulted, and the process dies of the signal.  Any other fault goes to
 * the handler installed before rg_main; with none, it is reported the same
 * way, and the default action kills the process.
 */
#include "runtime/signal.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>

#include "kernel_iface/kernel.h"
#include "runtime/runtime.h"
#include "runtime/sysmon.h"

#define ALTSTACK_SIZE (64 * 1024)

static const int fault_signals[] = { SIGSEGV, SIGBUS };
static struct sigaction old_actions[ARRAY_SIZE(fault_signals)];

static struct sigaction *old_action(int sig)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(fault_signals); i++)
		if (fault_signals[i] == sig)
			return &old_actions[i];
	return NULL;
}

static void write_buf(const char *buf, int n, size_t size)
{
	if (n > 0)
		ki_write_all(2, buf, (size_t)n < size ? (size_t)n : size - 1);
}

static void report_overflow(const void *addr, struct g *gp, bool in_guard)
{
	char buf[640];
	int n;

	n = snprintf(
		buf, sizeof(buf),
		"fatal error: stack overflow in goroutine %llu: its %zu-byte stack is "
		"exhausted (fault at %p %s)\n"
		"raise the stack size with rg_config.stack_size or CONFIG_STACK_SIZE_KB "
		"(now %zu KiB), or move large buffers off the stack%s\n\n"
		"goroutine %llu [running]:\n",
		(unsigned long long)gp->goid, sched.stack_size, addr,
		in_guard ? "in the guard page" : "below the stack: a frame larger than the guard",
		sched.stack_size / 1024,
		in_guard ?
			"" :
			" (build with -fstack-clash-protection so that such frames touch the guard)",
		(unsigned long long)gp->goid);
	write_buf(buf, n, sizeof(buf));
	ki_exit(2);
}

/* Go's report of an unexpected fault, naming the goroutine (or thread)
 * that faulted. */
static void report_fault(int sig, const siginfo_t *si, const ucontext_t *uc, struct m *mp,
			 struct g *gp, bool guard)
{
	char buf[640];
	int n;

	n = snprintf(buf, sizeof(buf),
		     "unexpected fault address %p%s\nfatal error: fault\n"
		     "[signal %s: %s code=%#x addr=%p pc=%#llx]\n\n",
		     si->si_addr, guard ? " (the guard page of another goroutine's stack)" : "",
		     sig == SIGSEGV ? "SIGSEGV" : "SIGBUS",
		     sig == SIGSEGV ? "segmentation violation" : "bus error", (unsigned)si->si_code,
		     si->si_addr, (unsigned long long)uc->uc_mcontext.gregs[REG_RIP]);
	write_buf(buf, n, sizeof(buf));
	if (gp)
		n = snprintf(buf, sizeof(buf), "goroutine %llu [running]:\n",
			     (unsigned long long)gp->goid);
	else if (mp)
		n = snprintf(buf, sizeof(buf), "[on the scheduler stack of M%ld]\n", (long)mp->id);
	else
		n = snprintf(buf, sizeof(buf), "[on thread %d, which is not running a goroutine]\n",
			     (int)ki_gettid());
	write_buf(buf, n, sizeof(buf));
}

/* Restore the default action: returning re-executes the faulting
 * instruction, which now kills the process with this signal. */
static void fault_default(int sig)
{
	struct sigaction dfl;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	ki_sigaction(sig, &dfl, NULL);
}

static void fault_handler(int sig, siginfo_t *si, void *ucv)
{
	struct sigaction *old = old_action(sig);
	const ucontext_t *uc = ucv;
	const char *addr = si->si_addr, *sp = (const char *)uc->uc_mcontext.gregs[REG_RSP];
	struct stk *s = sig == SIGSEGV ? stack_guard_lookup(addr) : NULL;
	struct m *mp = tls_m;
	struct g *gp = mp ? load_relaxed(&mp->curg) : NULL;
	struct gext *x = gp ? READ_ONCE(gp->ext) : NULL;
	struct stk *own = x ? x->stack : NULL;

	if (own && s == own)
		report_overflow(addr, gp, true);
	/* The stack pointer left the stack downwards, and the fault is below
	 * it: a frame larger than the guard page jumped over it. */
	if (own && sp < own->lo && addr < own->lo && addr >= sp - 4096)
		report_overflow(addr, gp, false);
	if (s) {
		/* Another goroutine's guard: a wild access by this one. */
		report_fault(sig, si, uc, mp, gp, true);
		fault_default(sig);
		return;
	}
	/* Not ours: behave as if we had never been installed. */
	if (old && (old->sa_flags & SA_SIGINFO) && old->sa_sigaction) {
		old->sa_sigaction(sig, si, ucv);
	} else if (old && old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
		old->sa_handler(sig);
	} else {
		report_fault(sig, si, uc, mp, gp, false);
		fault_default(sig);
	}
}

int signal_init(void)
{
	struct sigaction sa;
	size_t i;
	int r;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = fault_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < ARRAY_SIZE(fault_signals); i++) {
		r = ki_sigaction(fault_signals[i], &sa, &old_actions[i]);
		if (r)
			goto err_restore;
	}
	return 0;
err_restore:
	while (i-- > 0)
		ki_sigaction(fault_signals[i], &old_actions[i], NULL);
	return r;
}

/* SIGQUIT: sysmon dumps every goroutine and exits (runtime/dump.c). */
static struct sigaction old_quit;
static bool quit_installed;

static void quit_handler(int sig)
{
	(void)sig;
	sysmon_dump_request();
}

int signal_sigquit_init(void)
{
	struct sigaction sa;
	int r;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = quit_handler;
	sa.sa_flags = SA_ONSTACK | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	r = ki_sigaction(SIGQUIT, &sa, &old_quit);
	quit_installed = r == 0;
	return r;
}

void signal_fini(void)
{
	size_t i;

	if (quit_installed)
		ki_sigaction(SIGQUIT, &old_quit, NULL);
	quit_installed = false;
	for (i = 0; i < ARRAY_SIZE(fault_signals); i++)
		ki_sigaction(fault_signals[i], &old_actions[i], NULL);
}

int signal_minit(struct m *mp)
{
	stack_t ss;
	void *p;
	int r;

	r = ki_mmap_anon(ALTSTACK_SIZE, false, &p);
	if (r)
		return r;
	ss.ss_sp = p;
	ss.ss_size = ALTSTACK_SIZE;
	ss.ss_flags = 0;
	r = ki_sigaltstack(&ss, &mp->sig.old_altstack);
	if (r) {
		ki_munmap(p, ALTSTACK_SIZE);
		return r;
	}
	mp->sig.altstack = p;
	mp->sig.altstack_size = ALTSTACK_SIZE;
	/* A write to a broken pipe returns -EPIPE to the goroutine instead of
	 * killing the process (as Go does for descriptors other than 1 and 2;
	 * rg_send adds MSG_NOSIGNAL). */
	ki_sigpipe_block(&mp->sig.old_sigmask);
	return 0;
}

void signal_unminit(struct m *mp)
{
	if (!mp->sig.altstack)
		return;
	/* Restore what the thread had (m0: the caller's own alternate stack). */
	if (mp->sig.old_altstack.ss_flags & SS_DISABLE || !mp->sig.old_altstack.ss_sp) {
		stack_t ss = { .ss_sp = NULL, .ss_flags = SS_DISABLE, .ss_size = 0 };

		ki_sigaltstack(&ss, NULL);
	} else {
		ki_sigaltstack(&mp->sig.old_altstack, NULL);
	}
	ki_munmap(mp->sig.altstack, mp->sig.altstack_size);
	mp->sig.altstack = NULL;
	ki_sigpipe_restore(&mp->sig.old_sigmask);
}
