/* SPDX-License-Identifier: MIT */
/*
 * runtime/signal.c - stack-overflow reporting (see runtime/signal.h).
 */
#include "runtime/signal.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "kernel_iface/kernel.h"
#include "runtime/runtime.h"

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

static void report_overflow(const void *addr, struct stk *s)
{
	struct m *mp = tls_m;
	struct g *gp = mp ? load_relaxed(&mp->curg) : NULL;
	unsigned long long goid = gp && gp->stack == s ? (unsigned long long)gp->goid : 0;
	char buf[512];
	int n;

	n = snprintf(buf, sizeof(buf),
		     "fatal error: stack overflow in goroutine %llu: its %zu-byte stack is "
		     "exhausted (fault at %p in the guard page)\n"
		     "raise the stack size with rg_config.stack_size or CONFIG_STACK_SIZE_KB "
		     "(now %zu KiB), or move large buffers off the stack\n\n"
		     "goroutine %llu [running]:\n",
		     goid, sched.stack_size, addr, sched.stack_size / 1024, goid);
	if (n > 0)
		ki_write_all(2, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	ki_exit(2);
}

static void fault_handler(int sig, siginfo_t *si, void *uc)
{
	struct sigaction *old = old_action(sig);
	struct stk *s = sig == SIGSEGV ? stack_guard_lookup(si->si_addr) : NULL;

	if (s)
		report_overflow(si->si_addr, s);
	/* Not ours: behave as if we had never been installed. */
	if (old && (old->sa_flags & SA_SIGINFO) && old->sa_sigaction) {
		old->sa_sigaction(sig, si, uc);
	} else if (old && old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
		old->sa_handler(sig);
	} else {
		/* Restore the default action; returning re-executes the faulting
		 * instruction, which now kills the process with this signal. */
		struct sigaction dfl;

		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigemptyset(&dfl.sa_mask);
		ki_sigaction(sig, &dfl, NULL);
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

void signal_fini(void)
{
	size_t i;

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
	r = ki_sigaltstack(&ss, &mp->old_altstack);
	if (r) {
		ki_munmap(p, ALTSTACK_SIZE);
		return r;
	}
	mp->altstack = p;
	mp->altstack_size = ALTSTACK_SIZE;
	/* A write to a broken pipe returns -EPIPE to the goroutine instead of
	 * killing the process (as Go does for descriptors other than 1 and 2;
	 * rg_send adds MSG_NOSIGNAL). */
	ki_sigpipe_block(&mp->old_sigmask);
	return 0;
}

void signal_unminit(struct m *mp)
{
	if (!mp->altstack)
		return;
	/* Restore what the thread had (m0: the caller's own alternate stack). */
	if (mp->old_altstack.ss_flags & SS_DISABLE || !mp->old_altstack.ss_sp) {
		stack_t ss = { .ss_sp = NULL, .ss_flags = SS_DISABLE, .ss_size = 0 };

		ki_sigaltstack(&ss, NULL);
	} else {
		ki_sigaltstack(&mp->old_altstack, NULL);
	}
	ki_munmap(mp->altstack, mp->altstack_size);
	mp->altstack = NULL;
	ki_sigpipe_restore(&mp->old_sigmask);
}
