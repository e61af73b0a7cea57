/* SPDX-License-Identifier: MIT */
/*
 * runtime/metrics.c - the runtime's metrics, as a struct (rg_metrics) and
 * in Prometheus's text exposition format (rg_metrics_format,
 * rg_metrics_write).
 *
 * Most figures already exist where their mechanism keeps them and are
 * only summed here: the Ps' ticks and steal counters, the scheduler's
 * counts of Ms and Ps, the run queues, the stack pool.  What exists for
 * metrics alone is each P's struct p_metrics (runtime/metrics.h), written
 * by the P's owner without atomics read-modify-write: the latency
 * histograms, the slices that ended in a yield, the I/O requests by
 * operation and result, the timers fired; and sysmon's own counts of
 * preemption requests and retakes (runtime/preempt.c, runtime/sysmon.c).
 *
 * The latency histograms are sampled, as Go's runtime samples 1 goroutine
 * in 8: only goroutines whose id is a multiple of METRICS_SAMPLE are
 * timed, with a clock read when they park, when they are readied and when
 * they run (struct gext's tracked_ns): goready and the netpoller's
 * injection call metrics_ready, execute metrics_run.  Park durations are
 * added by the P that readies them (sysmon's and plain threads' wake-ups
 * are not counted), scheduling latencies by the P that runs them.
 *
 * A snapshot is not atomic: counters are read one after the other while
 * the program runs, so sums may be off by what happened meanwhile.
 * Goroutines are counted by walking every G under allglock.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ringo.h"
#include "kernel_iface/kernel.h"
#include "runtime/metrics.h"
#include "runtime/preempt.h"
#include "runtime/runtime.h"

_Static_assert((int)RG_IO_ACCEPT == NP_OP_ACCEPT && (int)RG_IO_CONNECT == NP_OP_CONNECT &&
		       (int)RG_IO_RECV == NP_OP_RECV && (int)RG_IO_SEND == NP_OP_SEND &&
		       (int)RG_IO_READ == NP_OP_READ && (int)RG_IO_WRITE == NP_OP_WRITE &&
		       (int)RG_IO_OPEN == NP_OP_OPEN && (int)RG_IO_FSYNC == NP_OP_FSYNC &&
		       (int)RG_IO_POLL == NP_OP_POLL && RG_IO_OPS == METRICS_IO_OPS,
	       "enum rg_io_op follows enum np_opcode");
_Static_assert(IO_RESULTS == 4, "rg_metrics.io has four results");

/* The size of the first version of struct rg_metrics. */
#define METRICS_V1 sizeof(struct rg_metrics)

int64_t rg_metrics_bucket_ns(int i)
{
	int64_t b = 1000;

	if (i < 0 || i >= RG_METRICS_BUCKETS)
		return -EINVAL;
	if (i == RG_METRICS_BUCKETS - 1)
		return INT64_MAX;
	while (i-- > 0)
		b *= 4;
	return b;
}

void metrics_hist_add(struct hist *h, int64_t ns)
{
	int i = 0;

	if (ns < 0)
		ns = 0;
	while (i < RG_METRICS_BUCKETS - 1 && ns > rg_metrics_bucket_ns(i))
		i++;
	store_relaxed(&h->buckets[i], load_relaxed(&h->buckets[i]) + 1);
	store_relaxed(&h->sum_ns, load_relaxed(&h->sum_ns) + ns);
}

void metrics_ready(struct p_metrics *pm, struct gext *x)
{
	int64_t now = ki_nanotime();

	if (pm && x->tracked_ns)
		metrics_hist_add(&pm->park[x->parkclass], now - x->tracked_ns);
	x->tracked_ns = now;
}

void metrics_run(struct p_metrics *pm, struct gext *x)
{
	if (x->tracked_ns)
		metrics_hist_add(&pm->sched_latency, ki_nanotime() - x->tracked_ns);
	x->tracked_ns = 0;
}

int metrics_park_class(const char *reason)
{
	if (!reason)
		return RG_PARK_OTHER;
	if (strncmp(reason, "chan ", 5) == 0 || strncmp(reason, "select", 6) == 0)
		return RG_PARK_CHAN;
	if (strcmp(reason, "IO wait") == 0)
		return RG_PARK_IO;
	if (strcmp(reason, "sleep") == 0)
		return RG_PARK_SLEEP;
	if (strncmp(reason, "sync.", 5) == 0 || strncmp(reason, "sema", 4) == 0)
		return RG_PARK_SYNC;
	return RG_PARK_OTHER;
}

void metrics_count_io(struct p_metrics *pm, int op, int64_t res)
{
	int r = res >= 0	  ? IO_OK :
		res == -ETIMEDOUT ? IO_TIMEDOUT :
		res == -ECANCELED ? IO_CANCELED :
				    IO_ERROR;
	_Atomic uint64_t *c;

	/* The vectored and message forms count with their plain op. */
	static const uint8_t plain[] = {
		[NP_OP_READV] = NP_OP_READ,
		[NP_OP_WRITEV] = NP_OP_WRITE,
		[NP_OP_RECVMSG] = NP_OP_RECV,
		[NP_OP_SENDMSG] = NP_OP_SEND,
	};

	if (op >= METRICS_IO_OPS && op < (int)ARRAY_SIZE(plain))
		op = plain[op];
	if (op < 0 || op >= METRICS_IO_OPS)
		return;
	c = &pm->io[op][r];
	store_relaxed(c, load_relaxed(c) + 1);
}

/* --- the snapshot --------------------------------------------------------- */

static void hist_sum(struct rg_histogram *out, const struct hist *h)
{
	int i;

	for (i = 0; i < RG_METRICS_BUCKETS; i++) {
		uint64_t n = load_relaxed(&h->buckets[i]);

		out->buckets[i] += n;
		out->count += n;
	}
	out->sum_ns += load_relaxed(&h->sum_ns);
}

static void count_goroutines(struct rg_metrics *m)
{
	struct gslab *slab;
	struct g *gp;

	lockr(&sched.allglock, LR_ALLG);
	for_each_g(slab, gp)
	{
		switch (load_relaxed(&gp->status)) {
		case G_RUNNING:
			m->goroutines_running++;
			break;
		case G_RUNNABLE:
			m->goroutines_runnable++;
			break;
		case G_WAITING:
			m->goroutines_waiting++;
			break;
		default:
			break;
		}
	}
	unlockr(&sched.allglock, LR_ALLG);
	m->goroutines = m->goroutines_running + m->goroutines_runnable + m->goroutines_waiting;
}

static void sum_ps(struct rg_metrics *m, int32_t n)
{
	int32_t i;
	int c, r;

	for (i = 0; i < n; i++) {
		struct p *pp = sched.allp[i];
		struct p_metrics *pm = &pp->metrics;

		m->goroutines_created += load_relaxed(&pp->gcreated);
		m->runq_local += runqlen(pp) + (runq_has_next(pp) ? 1 : 0);
		m->syscalls += load_relaxed(&pp->syscalltick);
		for (c = 0; c < RG_STATS_CLASSES; c++) {
			m->steals[c] += load_relaxed(&pp->stats.steals[c]);
			m->stolen[c] += load_relaxed(&pp->stats.stolen[c]);
		}
		m->preempts += load_relaxed(&pm->preempts);
		for (c = 0; c < METRICS_IO_OPS; c++)
			for (r = 0; r < IO_RESULTS; r++)
				m->io[c][r] += load_relaxed(&pm->io[c][r]);
		m->timers_fired += load_relaxed(&pm->timers_fired);
		hist_sum(&m->sched_latency, &pm->sched_latency);
		for (c = 0; c < RG_PARK_CLASSES; c++)
			hist_sum(&m->park[c], &pm->park[c]);
	}
}

int rg_metrics(struct rg_metrics *out)
{
	int32_t n = load_acquire(&sched.nprocs);
	int64_t carved, hot, cold;
	struct rg_metrics m;

	if (!out || out->size < METRICS_V1)
		return -EINVAL;
	if (n <= 0 || !sched.allp)
		return -ESRCH;
	memset(&m, 0, sizeof(m));
	m.size = sizeof(m);
	m.procs = n;
	m.procs_idle = load_relaxed(&sched.npidle);
	lockr(&sched.lock, LR_SCHED);
	m.threads = sched.mcount;
	m.threads_idle = sched.nmidle;
	unlockr(&sched.lock, LR_SCHED);
	m.threads_spinning = load_relaxed(&sched.nmspinning);
	m.runq_global = load_relaxed(&sched.runqsize);
	count_goroutines(&m);
	sum_ps(&m, n);
	m.preempt_requests = preempt_requests();
	m.retakes = sysmon_retakes();
	stack_stats(&carved, &hot, &cold);
	m.stack_bytes_carved = carved * (int64_t)sched.stack_size;
	m.stack_bytes_pooled = hot * (int64_t)sched.stack_size;
	m.stack_bytes_cold = cold * (int64_t)sched.stack_size;
	memcpy(out, &m, out->size < sizeof(m) ? out->size : sizeof(m));
	out->size = out->size < sizeof(m) ? out->size : (uint32_t)sizeof(m);
	return 0;
}

/* --- Prometheus's text format ----------------------------------------------- */

/* Text into buf[cap], counting the length of all of it (as snprintf). */
struct text {
	char *buf;
	size_t cap;
	size_t len;
};

__attribute__((format(printf, 2, 3))) static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(t->len < t->cap ? t->buf + t->len : NULL,
		      t->len < t->cap ? t->cap - t->len : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		t->len += (size_t)n;
}

static void family(struct text *t, const char *name, const char *type, const char *help)
{
	put(t, "# HELP ringo_%s %s\n# TYPE ringo_%s %s\n", name, help, name, type);
}

static void hist_put(struct text *t, const char *name, const char *labels,
		     const struct rg_histogram *h)
{
	uint64_t cum = 0;
	int i;

	for (i = 0; i < RG_METRICS_BUCKETS - 1; i++) {
		cum += h->buckets[i];
		put(t, "ringo_%s_bucket{%s%sle=\"%g\"} %" PRIu64 "\n", name, labels,
		    *labels ? "," : "", (double)rg_metrics_bucket_ns(i) / 1e9, cum);
	}
	cum += h->buckets[i];
	put(t, "ringo_%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, *labels ? "," : "",
	    cum);
	put(t, "ringo_%s_sum%s%s%s %.9f\n", name, *labels ? "{" : "", labels, *labels ? "}" : "",
	    (double)h->sum_ns / 1e9);
	put(t, "ringo_%s_count%s%s%s %" PRIu64 "\n", name, *labels ? "{" : "", labels,
	    *labels ? "}" : "", cum);
}

static const char *const park_names[RG_PARK_CLASSES] = { "chan", "io", "sleep", "sync", "other" };
static const char *const io_names[RG_IO_OPS] = { "accept", "connect", "recv",  "send", "read",
						 "write",  "open",    "fsync", "poll" };
static const char *const io_results[4] = { "ok", "error", "timeout", "canceled" };

static void format(struct text *t, const struct rg_metrics *m)
{
	char labels[64];
	int i, r;

	family(t, "goroutines", "gauge", "Live goroutines by state.");
	put(t, "ringo_goroutines{state=\"running\"} %" PRId64 "\n", m->goroutines_running);
	put(t, "ringo_goroutines{state=\"runnable\"} %" PRId64 "\n", m->goroutines_runnable);
	put(t, "ringo_goroutines{state=\"waiting\"} %" PRId64 "\n", m->goroutines_waiting);
	family(t, "goroutines_created_total", "counter", "Goroutines created since rg_main.");
	put(t, "ringo_goroutines_created_total %" PRId64 "\n", m->goroutines_created);
	family(t, "procs", "gauge", "Ps (GOMAXPROCS) by state.");
	put(t, "ringo_procs{state=\"running\"} %d\n", m->procs - m->procs_idle);
	put(t, "ringo_procs{state=\"idle\"} %d\n", m->procs_idle);
	family(t, "threads", "gauge", "Ms (OS threads) by state.");
	put(t, "ringo_threads{state=\"idle\"} %d\n", m->threads_idle);
	put(t, "ringo_threads{state=\"spinning\"} %d\n", m->threads_spinning);
	put(t, "ringo_threads{state=\"other\"} %d\n",
	    m->threads - m->threads_idle - m->threads_spinning);
	family(t, "runqueue_goroutines", "gauge", "Goroutines waiting on run queues.");
	put(t, "ringo_runqueue_goroutines{queue=\"global\"} %" PRId64 "\n", m->runq_global);
	put(t, "ringo_runqueue_goroutines{queue=\"local\"} %" PRId64 "\n", m->runq_local);
	family(t, "steals_total", "counter", "Successful steals, by distance class of the victim.");
	for (i = 0; i < RG_STATS_CLASSES; i++)
		put(t, "ringo_steals_total{class=\"%d\"} %" PRIu64 "\n", i, m->steals[i]);
	family(t, "stolen_goroutines_total", "counter",
	       "Goroutines taken by steals, by distance class of the victim.");
	for (i = 0; i < RG_STATS_CLASSES; i++)
		put(t, "ringo_stolen_goroutines_total{class=\"%d\"} %" PRIu64 "\n", i,
		    m->stolen[i]);
	family(t, "preempt_requests_total", "counter",
	       "Requests by sysmon that a goroutine yield.");
	put(t, "ringo_preempt_requests_total %" PRIu64 "\n", m->preempt_requests);
	family(t, "preemptions_total", "counter", "Time slices that ended in a yield.");
	put(t, "ringo_preemptions_total %" PRIu64 "\n", m->preempts);
	family(t, "syscalls_total", "counter",
	       "System calls that released their P (rg_syscall_enter, blocked calls found).");
	put(t, "ringo_syscalls_total %" PRIu64 "\n", m->syscalls);
	family(t, "retakes_total", "counter", "Ps taken by sysmon from Ms in system calls.");
	put(t, "ringo_retakes_total %" PRIu64 "\n", m->retakes);
	family(t, "io_requests_total", "counter", "I/O requests ended, by operation and result.");
	for (i = 0; i < RG_IO_OPS; i++)
		for (r = 0; r < 4; r++)
			put(t, "ringo_io_requests_total{op=\"%s\",result=\"%s\"} %" PRIu64 "\n",
			    io_names[i], io_results[r], m->io[i][r]);
	family(t, "timers_fired_total", "counter", "Timers that ran.");
	put(t, "ringo_timers_fired_total %" PRIu64 "\n", m->timers_fired);
	family(t, "stack_bytes", "gauge", "Goroutine stacks' address space.");
	put(t, "ringo_stack_bytes{state=\"in_use\"} %" PRId64 "\n",
	    m->stack_bytes_carved - m->stack_bytes_pooled - m->stack_bytes_cold);
	put(t, "ringo_stack_bytes{state=\"free\"} %" PRId64 "\n", m->stack_bytes_pooled);
	put(t, "ringo_stack_bytes{state=\"released\"} %" PRId64 "\n", m->stack_bytes_cold);
	family(t, "sched_latency_seconds", "histogram",
	       "Time from ready to running, sampled (1 goroutine in 8).");
	hist_put(t, "sched_latency_seconds", "", &m->sched_latency);
	family(t, "park_seconds", "histogram",
	       "Time parked before being readied, by wait class, sampled (1 goroutine in 8).");
	for (i = 0; i < RG_PARK_CLASSES; i++) {
		snprintf(labels, sizeof(labels), "reason=\"%s\"", park_names[i]);
		hist_put(t, "park_seconds", labels, &m->park[i]);
	}
}

ssize_t rg_metrics_format(char *buf, size_t len)
{
	struct rg_metrics m = RG_METRICS_INIT;
	struct text t = { buf, buf ? len : 0, 0 };
	int r = rg_metrics(&m);

	if (r < 0)
		return r;
	if (t.cap)
		buf[0] = '\0';
	format(&t, &m);
	return (ssize_t)t.len;
}

int rg_metrics_write(int fd)
{
	size_t cap = 0;
	char *buf = NULL;
	ssize_t n, off = 0;
	int tries, r = 0;

	/* Counters may grow a digit between the sizing and the text. */
	for (tries = 0; tries < 4; tries++) {
		n = rg_metrics_format(buf, cap);
		if (n < 0 || (size_t)n < cap)
			break;
		rt_free(buf);
		cap = (size_t)n + 1024;
		buf = rt_malloc(cap);
		if (!buf)
			return -ENOMEM;
	}
	if (n < 0 || (size_t)n >= cap) {
		rt_free(buf);
		return n < 0 ? (int)n : -EAGAIN;
	}
	while (off < n) {
		ssize_t w = rg_write(fd, buf + off, (size_t)(n - off));

		if (w < 0) {
			r = (int)w;
			break;
		}
		off += w;
	}
	rt_free(buf);
	return r;
}
