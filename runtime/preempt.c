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
 * Blocked calls nobody annotated.  A goroutine that calls read() on a pipe
 * without rg_syscall_enter keeps its P while the thread sleeps.  sysmon
 * notices a P whose schedtick has not moved while work waits for it, reads
 * the M's /proc/self/task/TID/syscall, and if the thread sleeps in a system
 * call the kernel restarts after a handler (ki_syscall_restarts: read,
 * write, accept, recv, futex waits without a timeout...), sets
 * mp->retake_req and sends SIGURG.  The signal interrupts the call; before
 * the kernel restarts it (SA_RESTART), the handler checks, on the thread
 * itself, that the program made the call and not the runtime:
 *
 *   - the M runs a goroutine and holds its P and no runtime lock, and the
 *     goroutine did not disable preemption;
 *   - no call of the runtime's is in progress on the thread (ki_incall ==
 *     0): every call by which the runtime may sleep in the kernel, its own
 *     or the C library's and other libraries' on its behalf (thread
 *     creation, a pthread mutex, malloc, c-ares), is bracketed
 *     (kernel_iface/kernel.h), so a sleep outside one is the program's;
 *     test_syscall makes thread creation sleep to check it;
 *   - the kernel rewound the context to restart the call: the interrupted
 *     PC is at a syscall instruction, outside the runtime's code, and the
 *     call in rax is one ki_syscall_restarts accepts.
 *
 * Then it does what rg_syscall_enter does (entersyscall: the P goes to
 * P_SYSCALL) and marks the M (mp->syscall_implicit); the call restarts and
 * sleeps on, and sysmon hands the P to another M at once.  When the call
 * returns, the goroutine runs on without a P (as in rg_blocking) until it
 * calls into the runtime: every public call that may use the P begins with
 * rt_enter, which takes a P back exactly as rg_syscall_exit does.  Costs
 * and limits: sysmon reads /proc (an open, a read, a close: ~10 us) only
 * for a P that has not switched for a round while work waits, backing off
 * to once per time slice for a goroutine that computes; the program sees
 * its call restarted, never EINTR; calls with a timeout (sleep, poll,
 * epoll_wait, select, timed futex waits) are not retaken, since the kernel
 * would fail them with EINTR: annotate those with rg_blocking.  Off under
 * ThreadSanitizer and with RINGO_DEBUG=blockedretakeoff=1.
 *
 * Goroutine dumps use the same signal to walk the goroutine an M runs
 * (runtime/dump.c): the handler answers mp->capture first, then goes on as
 * above.
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
#include <stdio.h>
#include <string.h>
#include <ucontext.h>

#include "ringo.h"
#include "kernel_iface/kernel.h"
#include "runtime/preempt.h"
#include "runtime/probes.h"
#include "runtime/runtime.h"

/*
 * Stack that the scheduler's path needs below the interrupted frame, on
 * top of the XSAVE area: gopreempt, the timers and completions it runs
 * (up to goready starting an M: pthread_create), the switch.  About 3 KiB
 * was measured for a plain preemption; the rest is margin, doubled for
 * the sanitizers' larger frames.  A 16 KiB stack (the smallest allowed)
 * leaves room for it above the guard page (rg_main warns when a stack size
 * and this CPU's XSAVE area do not: preempt_min_stack).
 */
#if defined(RG_SAN_BUILD)
#define PREEMPT_STACK_NEED (16 * 1024)
#else
#define PREEMPT_STACK_NEED (8 * 1024)
#endif
/* Refusals for want of stack before the notice (runtime/preempt.c). */
#define PREEMPT_ROOM_NOTICE 100

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
	_Atomic uint32_t norooms; /* preemptions refused for want of stack */
	int64_t handler_checked;  /* when sysmon last looked at SIGURG; sysmon only */
	bool handler_lost;	  /* the program replaced the handler; sysmon only */
} pr;

/* In the handler: async-signal-safe. */
__attribute__((no_sanitize("address", "thread", "undefined"))) static void
preempt_room_notice(const struct g *gp)
{
	char buf[320];
	int n = snprintf(buf, sizeof(buf),
			 "ringo: %d preemptions were refused because the goroutine (the last: "
			 "goroutine %llu) had less than %zu bytes of its %zu-byte stack left; "
			 "one that loops there cannot be preempted: raise rg_config.stack_size\n",
			 PREEMPT_ROOM_NOTICE, (unsigned long long)gp->goid,
			 (size_t)(PREEMPT_STACK_NEED + preempt_xsave_size), sched.stack_size);

	if (n > 0)
		ki_write_all(2, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

size_t preempt_min_stack(void)
{
	size_t page = ki_page_size();

	/* The guard, the need, and 1 KiB for the goroutine's own frames. */
	return (page + PREEMPT_STACK_NEED + preempt_xsave_size + 1024 + page - 1) & ~(page - 1);
}

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
	struct gext *x;

	if (!gp || !mp->p || mp->locks || mp->after.op != AFTER_NONE)
		return false;
	x = gp->ext;
	if (!x || x->preemptoff)
		return false;
	if (sp > (uintptr_t)x->hi)
		return false;
	if (sp < (uintptr_t)x->stack->lo + PREEMPT_STACK_NEED + preempt_xsave_size) {
		/* Deep in its stack: it may be refused for as long as it loops
		 * there.  Say so once, rather than never preempt in silence. */
		if (atomic_fetch_add(&pr.norooms, 1) + 1 == PREEMPT_ROOM_NOTICE)
			preempt_room_notice(gp);
		return false;
	}
	return pc_preemptible((uintptr_t)uc->uc_mcontext.gregs[REG_RIP]);
}

/* Whether the thread was interrupted asleep in a restartable system call
 * that the program, not the runtime, made ("Blocked calls nobody
 * annotated" above). */
__attribute__((no_sanitize("address", "thread", "undefined"))) static bool
retake_safe(struct m *mp, const ucontext_t *uc)
{
	const greg_t *gr = uc->uc_mcontext.gregs;
	struct g *gp = load_relaxed(&mp->curg);
	uintptr_t pc = (uintptr_t)gr[REG_RIP];
	unsigned long args[6];
	uint16_t insn;

	if (!gp || !mp->p || mp->locks || mp->after.op != AFTER_NONE || ki_incall)
		return false;
	if (!gp->ext || gp->ext->preemptoff || load_relaxed(&mp->p->status) != P_RUNNING)
		return false;
	if (pc >= (uintptr_t)__start_ringo_text && pc < (uintptr_t)__stop_ringo_text)
		return false;
	memcpy(&insn, (const void *)pc, sizeof(insn));
	if (insn != 0x050f) /* syscall: the kernel rewound the PC to restart it */
		return false;
	args[0] = (unsigned long)gr[REG_RDI];
	args[1] = (unsigned long)gr[REG_RSI];
	args[2] = (unsigned long)gr[REG_RDX];
	args[3] = (unsigned long)gr[REG_R10];
	args[4] = (unsigned long)gr[REG_R8];
	args[5] = (unsigned long)gr[REG_R9];
	return ki_syscall_restarts((long)gr[REG_RAX], args);
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
	bool asked = mp && dump_capture_signal(mp, uc);

	if (mp && sched.blocked_retake && atomic_exchange(&mp->retake_req, 0)) {
		if (retake_safe(mp, uc)) {
			entersyscall(mp, mp->p);
			mp->syscall_implicit = true;
		}
		return;
	}
	/* Ours only if sysmon sent it: with asynchronous preemption off
	 * (asyncpreemptoff, TSan) a request is for the cooperative check. */
	if (!mp || !sched.async_preempt || !atomic_exchange(&mp->preempt_req, 0)) {
		if (asked)
			return;
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
	gopreempt();
}

void preempt_check_slow(struct m *mp)
{
	store_relaxed(&mp->preempt_req, 0);
	if (load_relaxed(&mp->curg) && mp->p && !mp->locks && !mp->curg->ext->preemptoff)
		gopreempt();
}

/* Requests made by preemptone; sysmon alone writes it. */
static _Atomic uint64_t npreempt_requests;

uint64_t preempt_requests(void)
{
	return load_relaxed(&npreempt_requests);
}

void preemptone(struct p *pp)
{
	struct m *mp = __atomic_load_n(&pp->m, __ATOMIC_ACQUIRE);

	/* The running G is not looked into: sysmon does not own it. */
	if (!mp || !load_relaxed(&mp->curg))
		return;
	rg_probe(preempt_request, pp->id);
	store_relaxed(&npreempt_requests, load_relaxed(&npreempt_requests) + 1);
	atomic_store(&mp->preempt_req, 1);
	if (sched.async_preempt)
		preempt_signal(mp);
}

void retakeone(struct m *mp)
{
	atomic_store(&mp->retake_req, 1);
	preempt_signal(mp);
}

void preempt_signal(struct m *mp)
{
	ki_tgkill(ki_getpid(), READ_ONCE(mp->tid), SIGURG);
}

int preempt_init(void)
{
	unsigned a, b, c, d;
	struct sigaction sa;
	int r;

	store_relaxed(&npreempt_requests, 0);
	preempt_use_xsave = 0;
	preempt_xsave_size = 512; /* FXSAVE */
	atomic_store(&pr.norooms, 0);
	pr.handler_checked = 0;
	pr.handler_lost = false;
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

/*
 * The program replaced the runtime's SIGURG handler (sigaction or signal
 * after rg_main): preemption has stopped.  sysmon looks every
 * PREEMPT_HANDLER_CHECK_NS and says so once, as Go reports a changed
 * signal handler.  A handler installed before rg_main is chained to
 * instead (see the top of this file).
 */
#define PREEMPT_HANDLER_CHECK_NS 100000000LL

void preempt_check_handler(int64_t now)
{
	struct sigaction cur;

	if (!pr.installed || pr.handler_lost || now - pr.handler_checked < PREEMPT_HANDLER_CHECK_NS)
		return;
	pr.handler_checked = now;
	if (ki_sigaction(SIGURG, NULL, &cur) || cur.sa_sigaction == preempt_handler)
		return;
	pr.handler_lost = true;
	fprintf(stderr, "ringo: the SIGURG handler was replaced after rg_main started: "
			"goroutines that never call into the runtime are no longer preempted, "
			"and blocked system calls no longer give their P back (install it "
			"before rg_main: the runtime then passes it the signals that are not "
			"its own)\n");
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
		gp->ext->preemptoff++;
}

void rg_preempt_enable(void)
{
	struct g *gp = getg();

	if (!gp)
		return;
	if (gp->ext->preemptoff <= 0)
		throw("rg_preempt_enable without rg_preempt_disable");
	gp->ext->preemptoff--;
}
