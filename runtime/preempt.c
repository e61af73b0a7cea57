/* SPDX-License-Identifier: MIT */
/*
 * runtime/preempt.c - asynchronous preemption with SIGURG.
 *
 * A goroutine that runs past its time slice (sched.preempt_slice_ns,
 * CONFIG_PREEMPT_SLICE_US, RINGO_DEBUG=preemptslice=US) without calling
 * into the runtime is interrupted: sysmon sees that its P's schedtick has
 * not moved for a slice (sysmon_preempt in runtime/sysmon.c), marks the M
 * (mp->preempt_req) and sends it SIGURG with tgkill.
 *
 * Safe points.  The handler preempts only if all of these hold, and
 * otherwise returns (sysmon asks again next round; the goroutine also
 * yields at its next call into the runtime):
 *
 *   - the M runs a goroutine, holds its P (not in rg_syscall_enter) and no
 *     runtime lock (mp->locks);
 *   - the goroutine did not disable preemption (rg_preempt_disable);
 *   - the interrupted PC is in the program's own code: inside the main
 *     executable's text and outside the runtime's (the library's code is
 *     in the section ringo_text, see the Makefile).  Never inside libc, the
 *     dynamic loader or the vDSO: a goroutine preempted inside malloc while
 *     holding its lock would deadlock the next goroutine on that thread;
 *   - the interrupted stack pointer is on the goroutine's stack with room
 *     for the trampoline's frame and the scheduler's.
 *
 * How.  Switching goroutines inside the handler would leave SIGURG blocked
 * and the signal frame live on a stack that may resume on another thread.
 * Instead the handler rewrites the interrupted context so that the signal
 * returns into async_preempt (runtime/arch/x86_64/preempt.S), as if the
 * goroutine had called it: it saves the flags, the general registers and
 * the full XSAVE state, calls async_preempt_park (a yield), and on resume
 * restores everything and returns to the interrupted instruction.
 *
 * Under ThreadSanitizer, which delivers asynchronous signals later and on a
 * copy of the context, no signal is sent (sched.async_preempt is false).
 *
 * Side effects a program can see, as with Go: SIGURG is handled with
 * SA_RESTART, so most interrupted system calls are restarted, but those the
 * kernel never restarts (nanosleep, poll, select, epoll_wait...) may fail
 * with EINTR; a SIGURG handler the program installed before rg_main is
 * called for every SIGURG that is not the runtime's own.
 */
#include <cpuid.h>
#include <errno.h>
#include <link.h>
#include <string.h>
#include <ucontext.h>

#include "ringo.h"
#include "kernel_iface/kernel.h"
#include "runtime/runtime.h"

/* Stack the trampoline and the scheduler need below the interrupted frame. */
#define PREEMPT_STACK_NEED (16 * 1024)

/* Read by async_preempt. */
uint64_t preempt_xsave_size __attribute__((visibility("hidden")));
uint8_t preempt_use_xsave __attribute__((visibility("hidden")));

void async_preempt(void);
void async_preempt_park(void);

/* Bounds of the library's code (the linker defines them for ringo_text). */
extern const char __start_ringo_text[] __attribute__((weak, visibility("hidden")));
extern const char __stop_ringo_text[] __attribute__((weak, visibility("hidden")));

static struct {
	uintptr_t text_lo, text_hi; /* the main executable's code */
	struct sigaction old;	    /* SIGURG before rg_main */
	bool installed;
} pr;

static int find_text(struct dl_phdr_info *info, size_t size, void *data)
{
	int i;

	(void)size;
	(void)data;
	/* The first object is the main program. */
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
			pr.text_lo = info->dlpi_addr + ph->p_vaddr;
			pr.text_hi = pr.text_lo + ph->p_memsz;
			break;
		}
	}
	return 1;
}

__attribute__((no_sanitize("address", "thread", "undefined"))) static bool
pc_preemptible(uintptr_t pc)
{
	if (pc < pr.text_lo || pc >= pr.text_hi)
		return false; /* libc, the loader, the vDSO, other libraries */
	return !(pc >= (uintptr_t)__start_ringo_text && pc < (uintptr_t)__stop_ringo_text);
}

__attribute__((no_sanitize("address", "thread", "undefined"))) static bool
preempt_safe(struct m *mp, const ucontext_t *uc)
{
	struct g *gp = load_relaxed(&mp->curg);
	uintptr_t sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
	struct stk *s;

	if (!gp || !mp->p || mp->locks || mp->after.op != AFTER_NONE)
		return false;
	s = gp->stack;
	if (!s || s->preemptoff)
		return false;
	if (sp < (uintptr_t)s->lo + PREEMPT_STACK_NEED + preempt_xsave_size ||
	    sp > (uintptr_t)s->hi)
		return false;
	return pc_preemptible((uintptr_t)uc->uc_mcontext.gregs[REG_RIP]);
}

/* Not instrumented: it runs on the signal stack, between any two
 * instructions of the goroutine (the sanitizers' own handlers chain to
 * it). */
__attribute__((no_sanitize("address", "thread", "undefined"))) static void
preempt_handler(int sig, siginfo_t *si, void *ucv)
{
	struct m *mp = tls_m;
	ucontext_t *uc = ucv;
	greg_t *gr = uc->uc_mcontext.gregs;
	uint64_t *sp;

	/* Ours only if sysmon sent it: with asynchronous preemption off
	 * (asyncpreemptoff, TSan) a request is for the cooperative check. */
	if (!mp || !sched.async_preempt || !atomic_exchange(&mp->preempt_req, 0)) {
		/* Not ours: the program's own SIGURG. */
		if ((pr.old.sa_flags & SA_SIGINFO) && pr.old.sa_sigaction)
			pr.old.sa_sigaction(sig, si, ucv);
		else if (pr.old.sa_handler != SIG_DFL && pr.old.sa_handler != SIG_IGN)
			pr.old.sa_handler(sig);
		return;
	}
	if (!preempt_safe(mp, uc))
		return;
	/* Return into async_preempt as if called at the interrupted PC,
	 * below the interrupted code's red zone. */
	sp = (uint64_t *)((uintptr_t)gr[REG_RSP] - 128) - 1;
	*sp = (uint64_t)gr[REG_RIP];
	gr[REG_RSP] = (greg_t)(uintptr_t)sp;
	gr[REG_RIP] = (greg_t)(uintptr_t)async_preempt;
}

/* Called by async_preempt on the goroutine's stack, every register saved. */
void async_preempt_park(void)
{
	rg_yield();
}

void preempt_check_slow(struct m *mp)
{
	store_relaxed(&mp->preempt_req, 0);
	if (load_relaxed(&mp->curg) && mp->p && !mp->locks && !mp->curg->stack->preemptoff)
		rg_yield();
}

void preemptone(struct p *pp)
{
	struct m *mp = __atomic_load_n(&pp->m, __ATOMIC_ACQUIRE);

	if (!mp || !load_relaxed(&mp->curg))
		return;
	atomic_store(&mp->preempt_req, 1);
	if (sched.async_preempt)
		ki_tgkill(ki_getpid(), READ_ONCE(mp->tid), SIGURG);
}

int preempt_init(void)
{
	unsigned a, b, c, d;
	struct sigaction sa;
	int r;

	preempt_use_xsave = 0;
	preempt_xsave_size = 512; /* FXSAVE */
	if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_OSXSAVE) &&
	    __get_cpuid_count(0xd, 0, &a, &b, &c, &d) && b >= 576) {
		preempt_use_xsave = 1;
		preempt_xsave_size = b; /* for the components XCR0 enables */
	}
	dl_iterate_phdr(find_text, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = preempt_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	r = ki_sigaction(SIGURG, &sa, &pr.old);
	pr.installed = r == 0;
	return r;
}

void preempt_fini(void)
{
	if (pr.installed)
		ki_sigaction(SIGURG, &pr.old, NULL);
	pr.installed = false;
}

void rg_preempt_disable(void)
{
	struct g *gp = getg();

	if (gp)
		gp->stack->preemptoff++;
}

void rg_preempt_enable(void)
{
	struct g *gp = getg();

	if (!gp)
		return;
	if (gp->stack->preemptoff <= 0)
		throw("rg_preempt_enable without rg_preempt_disable");
	gp->stack->preemptoff--;
}
