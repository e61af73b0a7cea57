/* SPDX-License-Identifier: MIT */
/*
 * runtime/dump.c - goroutine dumps: every goroutine with its state, its
 * stack and its creator, as Go prints them (rg_dump, SIGQUIT, the
 * deadlock report).
 *
 * A parked or runnable goroutine's stack is walked from its saved context:
 * the frame runtime/arch/x86_64/switch.S pushed holds its frame pointer and
 * return address (see ctx_init), and from there the chain of saved frame
 * pointers, which the library and the examples keep
 * (-fno-omit-frame-pointer).  The walk stays inside the goroutine's stack
 * ([ext->stack->lo, ext->hi)), needs each frame above the one before, and
 * stops after DUMP_MAX_FRAMES: a frame of code built without frame
 * pointers ends it, or skips to wherever that code left rbp.  The
 * goroutine that dumps is walked from its own frame.  A goroutine running
 * on another M is walked on that M: the dump asks through mp->capture and
 * SIGURG, and the M's handler (runtime/preempt.c) walks from the
 * interrupted registers, within the goroutine's stack, and answers; the
 * dump waits up to CAPTURE_WAIT_NS for it, and names the goroutine with its
 * M alone when the answer does not come (a thread with SIGURG blocked;
 * always under ThreadSanitizer, which delivers the signal late).  The
 * signal's side effects are preemption's (runtime/preempt.c).  A waiting
 * goroutine's wait is timed from the park, by sysmon's clock.  Names come
 * from runtime/symtab.c.
 *
 * A dump reads goroutines that others may change meanwhile (one that
 * parks or runs on): it takes allglock to walk the G slabs, reads each
 * G's fields once, and reads only memory that stays mapped while the
 * runtime runs (stacks, slabs), so it may show a stale frame but never
 * faults.  It runs on an ordinary thread (not in a signal handler:
 * symtab allocates); SIGQUIT's dump runs on sysmon's.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>

#include "ringo.h"
#include "kernel_iface/kernel.h"
#include "runtime/dump.h"
#include "runtime/preempt.h"
#include "runtime/san.h"
#include "runtime/runtime.h"
#include "runtime/symtab.h"

/* How long a dump waits for an M's handler to walk its goroutine. */
#define CAPTURE_WAIT_NS (200 * 1000000LL)

struct dout {
	int fd;
	int err;
	size_t len;
	char buf[4096];
};

static void dflush(struct dout *o)
{
	size_t off = 0;

	while (!o->err && off < o->len) {
		ssize_t n = ki_write(o->fd, o->buf + off, o->len - off);

		if (n < 0)
			o->err = (int)n;
		else
			off += (size_t)n;
	}
	o->len = 0;
}

__attribute__((format(printf, 2, 3))) static void dprint(struct dout *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (sizeof(o->buf) - o->len < 512)
		dflush(o);
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, sizeof(o->buf) - o->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n < sizeof(o->buf) - o->len ? (size_t)n :
								sizeof(o->buf) - o->len - 1;
}

/* What a dump shows of one goroutine, taken under sched.lock and
 * allglock, printed after they are released (the printing writes to fd,
 * which may be a pipe a goroutine of this process reads). */
struct gsnap {
	uint64_t goid;
	uint32_t status;
	const char *reason;
	uintptr_t gopc;
	int64_t waitsince; /* sysmon_clock when it parked (0: unknown) */
	int64_t mid;	   /* running on this M (-1: none known) */
	pid_t tid;
	bool captured; /* its M's handler walked it (running goroutines) */
	int nframes;
	uintptr_t pcs[DUMP_MAX_FRAMES];
};

#define DUMP_BATCH 256 /* goroutines per snapshot */

/* The return addresses from pc and frame pointer fp, inside [lo, hi).
 * Not instrumented: it reads other goroutines' stacks, which they may be
 * changing (a goroutine that runs on meanwhile), as the sanitizers would
 * say; the reads stay inside stacks that stay mapped. */
__attribute__((no_sanitize("address", "thread"))) static int
walk(uintptr_t *pcs, uintptr_t pc, uintptr_t fp, uintptr_t lo, uintptr_t hi)
{
	int n = 0;

	while (n < DUMP_MAX_FRAMES && pc) {
		const uintptr_t *f = (const uintptr_t *)fp;
		uintptr_t next;

		pcs[n++] = pc;
		if (fp < lo || fp + 16 > hi || fp % 8)
			break;
		next = f[0];
		pc = f[1];
		if (next <= fp)
			break;
		fp = next;
	}
	return n;
}

/* The same from a saved context: switch.S's frame, at sp, holds the
 * control words, r15..rbx, rbp and the return address (ctx_init). */
__attribute__((no_sanitize("address", "thread"))) static int walk_saved(uintptr_t *pcs, void *sp,
									uintptr_t lo, uintptr_t hi)
{
	const uintptr_t *f = sp;

	if ((uintptr_t)sp < lo || (uintptr_t)sp + 64 > hi)
		return 0;
	return walk(pcs, f[7], f[6], lo, hi);
}

/* The capture states (struct m_capture), with the one only the handler
 * sets while it walks. */
enum { CAPTURE_WALKING = CAPTURE_DONE + 1 };

__attribute__((no_sanitize("address", "thread", "undefined"))) bool
dump_capture_signal(struct m *mp, const void *ucv)
{
	const ucontext_t *uc = ucv;
	struct m_capture *c = &mp->capture;
	uint32_t asked = CAPTURE_ASKED;
	struct g *gp = c->gp;
	struct gext *x;
	uintptr_t sp;

	if (load_relaxed(&c->state) != CAPTURE_ASKED ||
	    !atomic_compare_exchange_strong(&c->state, &asked, CAPTURE_WALKING))
		return false;
	c->n = 0;
	x = load_relaxed(&mp->curg) == gp ? READ_ONCE(gp->ext) : NULL;
	sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
	/* On gp's stack (not on g0's, in the scheduler): walk from the
	 * interrupted instruction. */
	if (x && sp >= (uintptr_t)x->stack->lo && sp + 8 <= (uintptr_t)x->hi) {
		c->sp_word = *(const uintptr_t *)sp;
		c->n = walk(c->pcs, (uintptr_t)uc->uc_mcontext.gregs[REG_RIP],
			    (uintptr_t)uc->uc_mcontext.gregs[REG_RBP], sp, (uintptr_t)x->hi);
	}
	atomic_store(&c->state, CAPTURE_DONE);
	ki_futex_wake((const uint32_t *)&c->state, 1);
	return true;
}

/*
 * A walk that starts at an interrupted instruction misses a caller when
 * that instruction's function has not pushed a frame: a leaf that needs
 * no stack (gcc builds those without a frame even with
 * -fno-omit-frame-pointer), or a function stopped on its first
 * instruction.  Its caller's return address is then the word at the
 * stack pointer: put it second.  Functions are recognised by their first
 * bytes: [endbr64] push %rbp; mov %rsp,%rbp.
 */
static int leaf_fixup(uintptr_t *pcs, int n, uintptr_t sp_word)
{
	uintptr_t start = symtab_func_start(pcs[0]);
	const uint8_t *code = (const uint8_t *)start;
	size_t at;

	if (!start || n < 1 || n >= DUMP_MAX_FRAMES || !symtab_func_start(sp_word - 1))
		return n;
	at = code[0] == 0xf3 && code[1] == 0x0f && code[2] == 0x1e && code[3] == 0xfa ? 4 : 0;
	if (code[at] == 0x55 && pcs[0] > start + at)
		return n; /* the frame is pushed: the chain has the caller */
	memmove(pcs + 2, pcs + 1, (size_t)(n - 1) * sizeof(*pcs));
	pcs[1] = sp_word;
	return n + 1;
}

/* Ask mp's handler for the frames of gp, which it runs; how many it got
 * (0: none, gp moved on or the signal did not come in time).  sched.lock
 * held: mp stays in allm, and no other dump asks. */
static int capture(struct m *mp, struct g *gp, uintptr_t *pcs)
{
	struct m_capture *c = &mp->capture;
	int64_t deadline = ki_nanotime() + CAPTURE_WAIT_NS;
	uint32_t st, asked = CAPTURE_ASKED;
	int n = 0;

	/* ThreadSanitizer delivers the signal late, on a copy of the
	 * context: no walk there. */
	if (RG_TSAN || mp == getm())
		return 0;
	c->gp = gp;
	atomic_store(&c->state, CAPTURE_ASKED);
	preempt_signal(mp);
	while ((st = atomic_load(&c->state)) != CAPTURE_DONE) {
		int64_t left = deadline - ki_nanotime();

		if (left <= 0 && st == CAPTURE_ASKED &&
		    atomic_compare_exchange_strong(&c->state, &asked, CAPTURE_IDLE))
			return 0; /* the handler will find nothing asked */
		/* Walking: the handler is about to finish. */
		ki_futex_wait((const uint32_t *)&c->state, st, left > 0 ? left : 1000000);
	}
	n = c->n;
	memcpy(pcs, c->pcs, (size_t)n * sizeof(*pcs));
	atomic_store(&c->state, CAPTURE_IDLE);
	return n ? leaf_fixup(pcs, n, c->sp_word) : 0;
}

/* The M running gp, or NULL.  sched.lock held. */
static struct m *running_on(struct g *gp)
{
	struct m *mp;

	for (mp = sched.allm; mp; mp = mp->alllink)
		if (load_relaxed(&mp->curg) == gp)
			return mp;
	return NULL;
}

static void snap(struct gsnap *s, struct g *gp, struct g *self, const uintptr_t *selfframe)
{
	struct gext *x = READ_ONCE(gp->ext);
	struct m *mp;

	s->goid = READ_ONCE(gp->goid);
	s->status = load_relaxed(&gp->status);
	s->reason = s->status == G_WAITING && x ? READ_ONCE(x->waitreason) : NULL;
	s->gopc = READ_ONCE(gp->gopc);
	s->waitsince = s->status == G_WAITING && x ? READ_ONCE(x->waitsince) : 0;
	s->mid = -1;
	s->captured = false;
	s->nframes = 0;
	if (gp == self) {
		s->nframes = walk(s->pcs, selfframe[1], selfframe[0], (uintptr_t)x->stack->lo,
				  (uintptr_t)x->hi);
	} else if (s->status == G_RUNNING) {
		mp = running_on(gp);
		if (mp) {
			s->mid = mp->id;
			s->tid = mp->tid;
			s->nframes = capture(mp, gp, s->pcs);
			s->captured = s->nframes > 0;
		}
	} else if (x) {
		s->nframes = walk_saved(s->pcs, READ_ONCE(gp->ctx.sp), (uintptr_t)x->stack->lo,
					(uintptr_t)x->hi);
	}
}

static void print(struct dout *o, const struct gsnap *s)
{
	int64_t waited = s->waitsince ? (ki_nanotime() - s->waitsince) / 1000000000 : 0;
	char name[512], since[32] = "";
	int i;

	/* As Go: the wait from a minute on; seconds below that, which Go
	 * does not show. */
	if (waited >= 60)
		snprintf(since, sizeof(since), ", %" PRId64 " minutes", waited / 60);
	else if (waited >= 1)
		snprintf(since, sizeof(since), ", %" PRId64 " seconds", waited);
	dprint(o, "goroutine %" PRIu64 " [%s%s]:\n", s->goid,
	       s->reason	       ? s->reason :
	       s->status == G_RUNNABLE ? "runnable" :
	       s->status == G_RUNNING  ? "running" :
					 "waiting",
	       since);
	for (i = 0; i < s->nframes; i++) {
		symtab_describe(s->pcs[i], true, name, sizeof(name));
		dprint(o, "%s\n", name);
	}
	if (s->nframes == DUMP_MAX_FRAMES)
		dprint(o, "...additional frames elided...\n");
	if (s->status == G_RUNNING && s->mid >= 0 && !s->nframes)
		dprint(o, "(running on M%" PRId64 ", thread %d: its stack could not be taken)\n",
		       s->mid, (int)s->tid);
	if (s->gopc) {
		symtab_describe(s->gopc, true, name, sizeof(name));
		dprint(o, "created by %s\n", name);
	}
	dprint(o, "\n");
}

/* sched_locked: the caller holds sched.lock (the deadlock report) and
 * the process is ending: nothing in it reads fd. */
static int dump(int fd, bool sched_locked)
{
	struct dout *o = rt_malloc(sizeof(*o));
	struct gsnap *snaps = rt_malloc(DUMP_BATCH * sizeof(*snaps));
	const uintptr_t *selfframe = __builtin_frame_address(0);
	struct g *self = getg();
	struct gslab *slab = NULL;
	int idx = 0, n, i, r;
	bool first = true, done = false;

	if (!o || !snaps) {
		rt_free(o);
		rt_free(snaps);
		return -ENOMEM;
	}
	o->fd = fd;
	o->err = 0;
	o->len = 0;
	symtab_open();
	/* The dumping goroutine first, then the slabs in batches; slabs are
	 * never freed while the runtime runs, so a batch resumes where the
	 * last one stopped. */
	while (!done) {
		n = 0;
		if (!sched_locked)
			lockr(&sched.lock, LR_SCHED);
		lockr(&sched.allglock, LR_ALLG);
		if (first) {
			if (self)
				snap(&snaps[n++], self, self, selfframe);
			slab = sched.gslabs;
			first = false;
		}
		for (; slab && n < DUMP_BATCH; slab = slab->next, idx = 0) {
			for (; idx < GSLAB && n < DUMP_BATCH; idx++) {
				struct g *gp = &slab->gs[idx];
				uint32_t st = load_relaxed(&gp->status);

				if (gp != self && st != G_DEAD && st != G_IDLE)
					snap(&snaps[n++], gp, self, selfframe);
			}
			if (idx < GSLAB)
				break;
		}
		done = !slab;
		unlockr(&sched.allglock, LR_ALLG);
		if (!sched_locked)
			unlockr(&sched.lock, LR_SCHED);
		for (i = 0; i < n; i++)
			print(o, &snaps[i]);
	}
	symtab_close();
	dflush(o);
	r = o->err;
	rt_free(snaps);
	rt_free(o);
	return r;
}

int dump_goroutines(int fd)
{
	return dump(fd, false);
}

void dump_stack_here(int fd)
{
	const uintptr_t *f = __builtin_frame_address(0);
	struct g *gp = getg();
	struct gext *x = gp ? gp->ext : NULL;
	struct dout o = { .fd = fd };
	uintptr_t pcs[DUMP_MAX_FRAMES];
	char name[512];
	int i, n;

	if (!x)
		return;
	n = walk(pcs, f[1], f[0], (uintptr_t)x->stack->lo, (uintptr_t)x->hi);
	symtab_open();
	for (i = 0; i < n; i++) {
		symtab_describe(pcs[i], true, name, sizeof(name));
		dprint(&o, "%s\n", name);
	}
	symtab_close();
	dprint(&o, "\n");
	dflush(&o);
}

int dump_goroutines_locked(int fd)
{
	assert_lock_held(&sched.lock);
	return dump(fd, true);
}

int rg_dump(int fd)
{
	if (fd < 0)
		return -EBADF;
	if (load_acquire(&sched.nprocs) <= 0)
		return -ESRCH;
	return dump_goroutines(fd);
}
