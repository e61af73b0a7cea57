/* SPDX-License-Identifier: MIT */
/*
 * runtime/metrics.h - the runtime's metrics: what rg_metrics reports and
 * rg_metrics_write prints in Prometheus's text format.
 *
 * See the design comment at the top of runtime/metrics.c.
 */
#ifndef RINGO_RUNTIME_METRICS_H
#define RINGO_RUNTIME_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "ringo.h"
#include "kernel_iface/netpoll.h"
#include "runtime/compiler.h"

/* Results of I/O requests, as counted (metrics_count_io). */
enum io_result {
	IO_OK,
	IO_ERROR, /* any other -errno */
	IO_TIMEDOUT,
	IO_CANCELED,
	IO_RESULTS,
};
#define METRICS_IO_OPS (NP_OP_POLL + 1) /* enum np_opcode */

/* A latency histogram: counts per bucket of rg_metrics_bucket_ns (not
 * cumulative), and the sum of the samples.  Written by one thread. */
struct hist {
	_Atomic uint64_t buckets[RG_METRICS_BUCKETS];
	_Atomic int64_t sum_ns;
};

/*
 * A P's metrics, pp->metrics: written by the P's owner, relaxed (timers
 * too: fired, with an atomic add, by whichever M or sysmon runs them), read
 * by rg_metrics from any thread.  Only metrics.c touches the fields; the
 * owner counts through the functions below.
 */
struct p_metrics {
	struct hist sched_latency cacheline_aligned;	 /* runnable -> running, sampled */
	struct hist park[RG_PARK_CLASSES];		 /* waiting -> runnable, sampled */
	_Atomic uint64_t preempts;			 /* slices that ended in gopreempt */
	_Atomic uint64_t io[METRICS_IO_OPS][IO_RESULTS]; /* completed requests */
	_Atomic uint64_t timers_fired;			 /* atomic add */
};

/*
 * Sampling.  As Go's runtime does (1 in 8 goroutines), the latencies of
 * only the goroutines whose id is a multiple of METRICS_SAMPLE are
 * measured: each sample costs a clock read, which would otherwise double
 * the cost of a switch.
 */
#define METRICS_SAMPLE 8
static inline bool metrics_sampled(uint64_t goid)
{
	return unlikely(goid % METRICS_SAMPLE == 0);
}

struct gext;

/* A sampled goroutine's wait ended, or its wait for a P: add ns to the
 * histogram.  The owner of its P. */
void metrics_hist_add(struct hist *h, int64_t ns);
/* A sampled goroutine (x: its gext) is made runnable: its park ends,
 * counted in pm (the P that readies it; NULL: none, not counted), and its
 * wait for a P begins.  Every path that readies a goroutine calls it. */
void metrics_ready(struct p_metrics *pm, struct gext *x);
/* A sampled goroutine runs on the P whose metrics are pm: its wait for a
 * P ends.  Its owner. */
void metrics_run(struct p_metrics *pm, struct gext *x);
/* The class of a wait reason (RG_PARK_*). */
int metrics_park_class(const char *reason);

static inline void metrics_count_preempt(struct p_metrics *pm)
{
	store_relaxed(&pm->preempts, load_relaxed(&pm->preempts) + 1);
}

/* A request of op (enum np_opcode) ended with res (a result or -errno).
 * The owner of the P the goroutine runs on. */
void metrics_count_io(struct p_metrics *pm, int op, int64_t res);

static inline void metrics_count_timer(struct p_metrics *pm)
{
	atomic_fetch_add_explicit(&pm->timers_fired, 1, memory_order_relaxed);
}

#endif /* RINGO_RUNTIME_METRICS_H */
