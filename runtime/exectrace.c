/* SPDX-License-Identifier: MIT */
/*
 * runtime/exectrace.c - the execution trace.
 *
 * Recording.  While trace_on is set, every probe site (rg_probe,
 * runtime/probes.h) appends its event to the calling thread's buffer: a
 * timestamp (the CPU's cycle counter, arch_cycles, converted to
 * nanoseconds when the trace is written, with the counter's rate against
 * CLOCK_MONOTONIC over the trace), the event, the thread's M and P, and
 * the probe's arguments.  A buffer belongs to one thread (an M, sysmon, or
 * a plain thread that readies goroutines), which takes it at its first
 * event of a trace (a thread-local pointer, valid for the trace's epoch),
 * so recording takes no lock; buffers are anonymous mappings of
 * TR_BUF_EVENTS events, pushed on a lock-free list, so that a signal
 * handler (the SIGURG handler's entersyscall) may record too.  A full
 * buffer drops its thread's further events and counts them; an event
 * interrupted by the same thread's signal handler may be lost.  Off, a
 * probe site costs a relaxed load and a branch.
 *
 * Writing.  rg_trace_stop clears trace_on, gathers every buffer's events
 * (each buffer publishes its count with a release store after the event),
 * sorts them by time and writes Chrome's trace-event JSON, which
 * ui.perfetto.dev and chrome://tracing open:
 *   - process "Ps": one track per P; a slice per stretch of a goroutine
 *     on it (from go_start to the event that takes it off the P: its park,
 *     its exit, a preemption, a system call, or the next go_start there),
 *     named by the goroutine's function (runtime/symtab.c: static ones
 *     too; its module and offset for addr2line where no symbol names it),
 *     with its goid and how it ended; "syscall" slices from syscall_block
 *     to syscall_unblock or the retake; instants for timers and preemption
 *     requests; steals as flow arrows from the victim's track to the
 *     thief's.
 *   - process "Ms": one track per M (and sysmon, M -1); "idle" slices
 *     from m_park to m_wake, "netpoll wait" slices from netpoll_sleep to
 *     the M's next event.
 * Every slice is a complete event ("X", start and duration), so none is
 * left open; what is still running when the trace stops ends there.
 * Buffers are kept from one trace to the next and freed at teardown.
 */

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringo.h"
#include "kernel_iface/kernel.h"
#include "runtime/exectrace.h"
#include "runtime/runtime.h"
#include "runtime/symtab.h"

#define TR_BUF_EVENTS (256 * 1024) /* events per thread and trace */

struct tr_ev {
	int64_t ts;  /* arch_cycles() when recorded; ns once converted */
	uint16_t ev; /* enum tr_event */
	int16_t p;   /* the thread's P, -1: none */
	int32_t m;   /* the thread's M, -1: not an M */
	int64_t a[4];
};

struct tr_buf {
	struct tr_buf *next;	/* tr.bufs; set before the push, read-only after */
	_Atomic uint64_t epoch; /* the trace it belongs to; its thread writes it (release) */
	_Atomic uint32_t n;	/* events written; release by its thread */
	_Atomic uint64_t dropped;
	struct tr_ev ev[TR_BUF_EVENTS];
};

_Atomic bool trace_on;

static struct {
	struct lock lock;	     /* start and stop */
	struct tr_buf *_Atomic bufs; /* every buffer, pushed with CAS */
	_Atomic uint64_t epoch;	     /* the current trace's; 0: none yet */
	int fd;			     /* the file being traced into; lock */
	int64_t cycles0, ns0;	     /* the clocks at the start; lock */
	bool main_started;	     /* RINGO_DEBUG=trace started it */
} tr;

static __thread struct tr_buf *tls_buf __attribute__((tls_model("initial-exec")));
static __thread uint64_t tls_epoch __attribute__((tls_model("initial-exec")));

/* The calling thread's buffer for the current trace, or NULL. */
static struct tr_buf *my_buf(void)
{
	uint64_t epoch = load_relaxed(&tr.epoch);
	struct tr_buf *b = tls_buf, *head;
	void *mem;

	if (b && tls_epoch == epoch)
		return b;
	/* A buffer of an earlier trace is reused: its reader is done. */
	if (b && tls_epoch != 0 && tls_epoch < epoch && tls_epoch + 1 == epoch) {
		store_relaxed(&b->dropped, 0);
		store_relaxed(&b->n, 0);
		store_release(&b->epoch, epoch);
		tls_epoch = epoch;
		return b;
	}
	if (ki_mmap_anon(sizeof(*b), true, &mem) < 0)
		return NULL;
	b = mem;
	/* Its pages now, not one fault per 85 events while recording. */
	ki_madvise(b, sizeof(*b), MADV_POPULATE_WRITE);
	store_relaxed(&b->epoch, epoch);
	head = load_relaxed(&tr.bufs);
	do
		b->next = head;
	while (!atomic_compare_exchange_weak(&tr.bufs, &head, b));
	tls_buf = b;
	tls_epoch = epoch;
	return b;
}

void trace_record(int ev, int64_t a, int64_t b, int64_t c, int64_t d)
{
	struct tr_buf *buf;
	struct m *mp;
	uint32_t i;

	if (!load_relaxed(&trace_on))
		return;
	buf = my_buf();
	if (!buf)
		return;
	i = load_relaxed(&buf->n);
	if (i >= TR_BUF_EVENTS) {
		store_relaxed(&buf->dropped, load_relaxed(&buf->dropped) + 1);
		return;
	}
	mp = getm();
	buf->ev[i] = (struct tr_ev){
		.ts = (int64_t)arch_cycles(),
		.ev = (uint16_t)ev,
		.p = (int16_t)(mp && mp->p ? mp->p->id : -1),
		.m = mp ? (int32_t)mp->id : -1,
		.a = { a, b, c, d },
	};
	store_release(&buf->n, i + 1);
}

/* --- writing -------------------------------------------------------------- */

/* Buffered output to tr.fd; the first error sticks. */
struct out {
	int fd;
	int err;
	size_t len;
	char buf[1 << 16];
};

static void out_flush(struct out *o)
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

__attribute__((format(printf, 2, 3))) static void out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (sizeof(o->buf) - o->len < 512)
		out_flush(o);
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, sizeof(o->buf) - o->len, fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < sizeof(o->buf) - o->len)
		o->len += (size_t)n;
}

/* A goroutine's function, for slice names: goid -> fn, open addressing. */
struct name_cache;

struct fnmap {
	uint64_t *goid;
	int64_t *fn;
	size_t cap; /* a power of two */
	size_t n;
	struct name_cache *names; /* the functions' names, as they are looked up */
};

static int fnmap_put(struct fnmap *m, uint64_t goid, int64_t fn)
{
	size_t i;

	if (2 * (m->n + 1) > m->cap) {
		struct fnmap big = { .cap = m->cap ? 2 * m->cap : 1024, .names = m->names };

		big.goid = rt_calloc(big.cap, sizeof(*big.goid));
		big.fn = rt_calloc(big.cap, sizeof(*big.fn));
		if (!big.goid || !big.fn) {
			rt_free(big.goid);
			rt_free(big.fn);
			return -ENOMEM;
		}
		for (i = 0; i < m->cap; i++)
			if (m->goid[i])
				fnmap_put(&big, m->goid[i], m->fn[i]);
		rt_free(m->goid);
		rt_free(m->fn);
		*m = big;
	}
	for (i = goid & (m->cap - 1); m->goid[i] && m->goid[i] != goid; i = (i + 1) & (m->cap - 1))
		;
	if (!m->goid[i])
		m->n++;
	m->goid[i] = goid;
	m->fn[i] = fn;
	return 0;
}

static int64_t fnmap_get(const struct fnmap *m, uint64_t goid)
{
	size_t i;

	if (!m->cap)
		return 0;
	for (i = goid & (m->cap - 1); m->goid[i]; i = (i + 1) & (m->cap - 1))
		if (m->goid[i] == goid)
			return m->fn[i];
	return 0;
}

/* Names of goroutine functions already looked up, by address. */
#define NAME_CACHE 256

struct name_cache {
	int64_t fn[NAME_CACHE];
	char name[NAME_CACHE][128];
};

/* The name of function fn into buf (JSON-safe: symbol characters only). */
static const char *fn_name(struct name_cache *nc, int64_t fn, uint64_t goid, char *buf, size_t len)
{
	size_t slot = ((uint64_t)fn >> 4) % NAME_CACHE, i;
	Dl_info info;
	const char *base;
	int found = 0;

	if (goid == 1 && !fn)
		return "main goroutine";
	if (fn && nc->fn[slot] == fn)
		return nc->name[slot];
	if (fn) {
		ki_call_enter(); /* the loader's lock */
		found = dladdr((void *)(uintptr_t)fn, &info);
		ki_call_exit();
	}
	if (!found) {
		snprintf(buf, len, "goroutine fn %#" PRIx64, (uint64_t)fn);
		return buf;
	}
	if (symtab_func_name((uintptr_t)fn, buf, len)) {
		/* Static functions too (runtime/symtab.c). */
	} else {
		/* No symbol names it (a stripped module): its module and
		 * offset, for addr2line -f -e MODULE OFFSET. */
		base = info.dli_fname ? strrchr(info.dli_fname, '/') : NULL;
		snprintf(buf, len, "%s+%#" PRIx64,
			 base		? base + 1 :
			 info.dli_fname ? info.dli_fname :
					  "?",
			 (uint64_t)fn - (uint64_t)(uintptr_t)info.dli_fbase);
	}
	for (i = 0; buf[i]; i++)
		if (buf[i] == '"' || buf[i] == '\\' || (unsigned char)buf[i] < 0x20)
			buf[i] = '_';
	nc->fn[slot] = fn;
	snprintf(nc->name[slot], sizeof(nc->name[slot]), "%s", buf);
	return buf;
}

static int ev_cmp(const void *x, const void *y)
{
	const struct tr_ev *a = x, *b = y;

	return (a->ts > b->ts) - (a->ts < b->ts);
}

/* What runs on a P while the trace is written. */
struct pstate {
	uint64_t goid; /* 0: none */
	int64_t since;
	int64_t syscall_since; /* 0: not in a system call */
};

static double us(int64_t ns, int64_t t0)
{
	return (double)(ns - t0) / 1000.0;
}

static void slice(struct out *o, int pid, int tid, const char *name, const char *cat, int64_t t,
		  int64_t end, int64_t t0, const char *args)
{
	out_printf(o,
		   ",\n{\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"X\",\"pid\":%d,\"tid\":%d,"
		   "\"ts\":%.3f,\"dur\":%.3f%s%s%s}",
		   name, cat, pid, tid, us(t, t0), (double)(end > t ? end - t : 0) / 1000.0,
		   args ? ",\"args\":{" : "", args ? args : "", args ? "}" : "");
}

static void instant(struct out *o, int pid, int tid, const char *name, int64_t t, int64_t t0,
		    const char *args)
{
	out_printf(
		o,
		",\n{\"name\":\"%s\",\"ph\":\"i\",\"s\":\"t\",\"pid\":%d,\"tid\":%d,\"ts\":%.3f%s%s%s}",
		name, pid, tid, us(t, t0), args ? ",\"args\":{" : "", args ? args : "",
		args ? "}" : "");
}

#define PID_PS	1
#define PID_MS	2
#define TID_NOM 1000000 /* the track of threads that are not Ms (sysmon) */

/* End the goroutine slice on P p at t, saying how it ended. */
static void p_end(struct out *o, struct pstate *ps, int p, int64_t t, int64_t t0,
		  const struct fnmap *fns, const char *how)
{
	char name[128], args[160];

	if (!ps[p].goid)
		return;
	snprintf(args, sizeof(args), "\"goid\":%" PRIu64 ",\"end\":\"%s\"", ps[p].goid, how);
	slice(o, PID_PS, p,
	      fn_name(fns->names, fnmap_get(fns, ps[p].goid), ps[p].goid, name, sizeof(name)),
	      "goroutine", ps[p].since, t, t0, args);
	ps[p].goid = 0;
}

/* The trace of n events, sorted, into o. */
static void write_events(struct out *o, struct tr_ev *evs, size_t n, uint64_t dropped)
{
	int32_t nprocs = __atomic_load_n(&sched.nallp, __ATOMIC_ACQUIRE), maxm = 0;
	struct pstate *ps = rt_calloc((size_t)nprocs + 1, sizeof(*ps));
	int64_t *mwait = NULL, t0 = n ? evs[0].ts : 0, tend = n ? evs[n - 1].ts : 0;
	const char **mwhat = NULL;
	struct fnmap fns = { 0 };
	char args[160];
	uint64_t flow = 0;
	size_t i;
	int p;

	for (i = 0; i < n; i++)
		if (evs[i].m > maxm)
			maxm = evs[i].m;
	mwait = rt_calloc((size_t)maxm + 2, sizeof(*mwait));
	mwhat = rt_calloc((size_t)maxm + 2, sizeof(*mwhat));
	fns.names = rt_calloc(1, sizeof(*fns.names));
	if (!ps || !mwait || !mwhat || !fns.names) {
		o->err = -ENOMEM;
		goto out;
	}
	out_printf(o,
		   "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"dropped_events\":%" PRIu64
		   "},\"traceEvents\":[\n",
		   dropped);
	out_printf(o,
		   "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"args\":{\"name\":\"Ps\"}}",
		   PID_PS);
	out_printf(
		o,
		",\n{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"args\":{\"name\":\"Ms\"}}",
		PID_MS);
	for (p = 0; p < nprocs; p++)
		out_printf(o,
			   ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,"
			   "\"args\":{\"name\":\"P%d\"}}",
			   PID_PS, p, p);
	for (p = 0; p <= maxm; p++)
		out_printf(o,
			   ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,"
			   "\"args\":{\"name\":\"M%d\"}}",
			   PID_MS, p, p);
	out_printf(o,
		   ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,"
		   "\"args\":{\"name\":\"sysmon and other threads\"}}",
		   PID_MS, TID_NOM);
	for (i = 0; i < n; i++) {
		const struct tr_ev *e = &evs[i];
		int mt = e->m >= 0 ? e->m : maxm + 1;

		/* The M's wait ends at its next event. */
		if (mwhat[mt]) {
			slice(o, PID_MS, e->m >= 0 ? e->m : TID_NOM, mwhat[mt], "m", mwait[mt],
			      e->ts, t0, NULL);
			mwhat[mt] = NULL;
		}
		switch (e->ev) {
		case TR_go_create:
			if (fnmap_put(&fns, (uint64_t)e->a[0], e->a[1]) < 0)
				o->err = -ENOMEM;
			break;
		case TR_go_start:
			p = (int)e->a[1];
			if (p < 0 || p >= nprocs)
				break;
			p_end(o, ps, p, e->ts, t0, &fns, "switch");
			ps[p].goid = (uint64_t)e->a[0];
			ps[p].since = e->ts;
			break;
		case TR_go_park:
		case TR_go_exit:
		case TR_go_preempt:
			p = e->p;
			if (p < 0 || p >= nprocs || ps[p].goid != (uint64_t)e->a[0])
				break;
			p_end(o, ps, p, e->ts, t0, &fns,
			      e->ev == TR_go_exit    ? "exit" :
			      e->ev == TR_go_preempt ? "preempted" :
						       "park");
			break;
		case TR_syscall_block:
			p = (int)e->a[1];
			if (p < 0 || p >= nprocs)
				break;
			p_end(o, ps, p, e->ts, t0, &fns, "syscall");
			ps[p].syscall_since = e->ts;
			break;
		case TR_syscall_unblock:
		case TR_p_retake:
			p = (int)(e->ev == TR_p_retake ? e->a[0] : e->a[1]);
			if (p < 0 || p >= nprocs || !ps[p].syscall_since)
				break;
			slice(o, PID_PS, p, e->ev == TR_p_retake ? "syscall, P retaken" : "syscall",
			      "syscall", ps[p].syscall_since, e->ts, t0, NULL);
			ps[p].syscall_since = 0;
			if (e->ev == TR_syscall_unblock && e->a[2] && !ps[p].goid) {
				/* Its P was still there: it runs on. */
				ps[p].goid = (uint64_t)e->a[0];
				ps[p].since = e->ts;
			}
			break;
		case TR_steal:
			flow++;
			snprintf(args, sizeof(args),
				 "\"goroutines\":%" PRId64 ",\"class\":%" PRId64, e->a[2], e->a[3]);
			out_printf(
				o,
				",\n{\"name\":\"steal\",\"cat\":\"steal\",\"ph\":\"s\",\"id\":%" PRIu64
				",\"pid\":%d,\"tid\":%d,\"ts\":%.3f}",
				flow, PID_PS, (int)e->a[1], us(e->ts, t0));
			out_printf(
				o,
				",\n{\"name\":\"steal\",\"cat\":\"steal\",\"ph\":\"f\",\"bp\":\"e\","
				"\"id\":%" PRIu64 ",\"pid\":%d,\"tid\":%d,\"ts\":%.3f}",
				flow, PID_PS, (int)e->a[0], us(e->ts, t0));
			instant(o, PID_PS, (int)e->a[0], "steal", e->ts, t0, args);
			break;
		case TR_preempt_request:
			instant(o, PID_PS, (int)e->a[0], "preempt request", e->ts, t0, NULL);
			break;
		case TR_timer_fire:
			snprintf(args, sizeof(args), "\"late_ns\":%" PRId64, e->a[1]);
			instant(o, PID_PS, (int)e->a[2], "timer", e->ts, t0, args);
			break;
		case TR_netpoll_sleep:
			mwhat[mt] = "netpoll wait";
			mwait[mt] = e->ts;
			break;
		case TR_m_park:
			mwhat[mt] = "idle";
			mwait[mt] = e->ts;
			break;
		default:
			break;
		}
	}
	for (p = 0; p < nprocs; p++) {
		p_end(o, ps, p, tend, t0, &fns, "running at the end");
		if (ps[p].syscall_since)
			slice(o, PID_PS, p, "syscall", "syscall", ps[p].syscall_since, tend, t0,
			      NULL);
	}
	for (p = 0; p <= maxm + 1; p++)
		if (mwhat[p])
			slice(o, PID_MS, p <= maxm ? p : TID_NOM, mwhat[p], "m", mwait[p], tend, t0,
			      NULL);
	out_printf(o, "\n]}\n");
out:
	rt_free(ps);
	rt_free(mwait);
	rt_free(mwhat);
	rt_free(fns.goid);
	rt_free(fns.fn);
	rt_free(fns.names);
}

/* Convert the events' cycle counts to CLOCK_MONOTONIC ns, with the rate
 * of the cycle counter against that clock over the whole trace. */
static void cycles_to_ns(struct tr_ev *evs, size_t n)
{
	int64_t ns1 = ki_nanotime(), cycles1 = (int64_t)arch_cycles();
	double rate =
		cycles1 > tr.cycles0 ? (double)(ns1 - tr.ns0) / (double)(cycles1 - tr.cycles0) : 1;
	size_t i;

	for (i = 0; i < n; i++)
		evs[i].ts = tr.ns0 + (int64_t)((double)(evs[i].ts - tr.cycles0) * rate);
}

/* Gather, sort and write the current trace to fd.  0 or -errno. */
static int trace_write(int fd)
{
	uint64_t epoch = load_relaxed(&tr.epoch), dropped = 0;
	struct out *o = rt_malloc(sizeof(*o));
	struct tr_ev *evs = NULL;
	struct tr_buf *b;
	size_t n = 0, k = 0;
	int r;

	if (!o)
		return -ENOMEM;
	*o = (struct out){ .fd = fd };
	for (b = load_acquire(&tr.bufs); b; b = b->next)
		if (load_acquire(&b->epoch) == epoch)
			n += load_acquire(&b->n);
	if (n) {
		evs = rt_malloc(n * sizeof(*evs));
		if (!evs) {
			rt_free(o);
			return -ENOMEM;
		}
	}
	for (b = load_acquire(&tr.bufs); b; b = b->next) {
		uint32_t m;

		if (load_acquire(&b->epoch) != epoch)
			continue;
		m = load_acquire(&b->n);
		if (m > n - k)
			m = (uint32_t)(n - k);
		memcpy(evs + k, b->ev, m * sizeof(*evs));
		k += m;
		dropped += load_relaxed(&b->dropped);
	}
	qsort(evs, k, sizeof(*evs), ev_cmp);
	cycles_to_ns(evs, k);
	symtab_open();
	write_events(o, evs, k, dropped);
	symtab_close();
	out_flush(o);
	r = o->err;
	rt_free(evs);
	rt_free(o);
	return r;
}

/* --- the API --------------------------------------------------------------- */

int rg_trace_start(const char *path)
{
	int fd, r = 0;

	if (!path || !*path)
		return -EINVAL;
	if (load_acquire(&sched.nprocs) <= 0)
		return -ESRCH;
	lockr(&tr.lock, LR_ALLG);
	if (load_relaxed(&trace_on)) {
		r = -EBUSY;
		goto out;
	}
	fd = ki_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = fd;
		goto out;
	}
	tr.fd = fd;
	tr.ns0 = ki_nanotime();
	tr.cycles0 = (int64_t)arch_cycles();
	atomic_fetch_add(&tr.epoch, 1);
	atomic_store(&trace_on, true);
out:
	unlockr(&tr.lock, LR_ALLG);
	return r;
}

int rg_trace_stop(void)
{
	int r;

	lockr(&tr.lock, LR_ALLG);
	if (!load_relaxed(&trace_on)) {
		unlockr(&tr.lock, LR_ALLG);
		return -ENOENT;
	}
	atomic_store(&trace_on, false);
	r = trace_write(tr.fd);
	if (ki_close(tr.fd) < 0 && !r)
		r = -EIO;
	tr.fd = -1;
	unlockr(&tr.lock, LR_ALLG);
	return r;
}

void trace_main_start(const char *path)
{
	int r;

	if (!path)
		return;
	r = rg_trace_start(path);
	if (r < 0)
		fprintf(stderr, "ringo: RINGO_DEBUG=trace=%s: %s; not tracing\n", path,
			strerror(-r));
	tr.main_started = r == 0;
}

void trace_main_stop(void)
{
	int r;

	/* RINGO_DEBUG's trace, or one the program did not stop: written. */
	tr.main_started = false;
	r = rg_trace_stop();
	if (r < 0 && r != -ENOENT)
		fprintf(stderr, "ringo: writing the execution trace: %s\n", strerror(-r));
}

void trace_fini(void)
{
	struct tr_buf *b = atomic_exchange(&tr.bufs, NULL), *next;

	atomic_store(&trace_on, false);
	for (; b; b = next) {
		next = b->next;
		ki_munmap(b, sizeof(*b));
	}
	/* Threads' buffer pointers are now stale: a new epoch makes them
	 * take new buffers. */
	atomic_fetch_add(&tr.epoch, 1);
}
