/* SPDX-License-Identifier: MIT */
/*
 * runtime/dns.c - rg_getaddrinfo: name lookups that park the goroutine,
 * not its thread.
 *
 * Where nsswitch.conf asks for /etc/hosts and DNS only, lookups go to
 * c-ares on the calling goroutine (runtime/dns_cares.c, which says when).
 * Otherwise they are glibc's getaddrinfo, run on a small pool of helper
 * threads (at most DNS_THREADS, started on demand, kept for the life of
 * the process, idle on a condition variable), so that they follow
 * nsswitch.conf's modules (mDNS, LDAP, systemd-resolved's...) and the
 * caching daemons exactly as every other program on the machine does;
 * so do lookups with no host (nothing to ask a server).  This file is that
 * pool.
 *
 * A request (struct dnsreq) is queued under dns.lock; the goroutine then
 * waits on the request's channel in rg_select, with the earlier of its
 * timeout and its I/O deadline.  A helper takes the request, runs
 * getaddrinfo with no lock held, stores the result and closes the channel.
 * Two references keep the request alive, the waiter's and the helper's:
 * a waiter that gives up (-ETIMEDOUT) drops its own and returns at once;
 * the helper, finishing later, frees the result nobody will read.  So a
 * lookup that times out costs its helper thread until glibc gives up (its
 * own timeouts, resolv.conf's), never the goroutine.
 *
 * While a request is in flight nothing is a deadlock (dns_busy, read by
 * checkdead): a helper will wake its goroutine.  The helpers are not Ms;
 * checkdead knows their thread ids (dns_threads, which takes no lock:
 * checkdead holds sched.lock).  Lock order: dns.lock before the runtime's
 * locks (a helper closes the channel under it); nothing takes dns.lock
 * while it holds a runtime lock.  When the runtime ends (dns_fini), the
 * requests still queued are dropped, and those being looked up will wake
 * nothing: the helper sees their epoch has passed.
 *
 * Calls in progress.  A goroutine takes dns.lock, starts helpers and
 * frees results between ki_call_enter and ki_call_exit: a wait there (for
 * the lock, for glibc's thread creation) is the runtime's, and the SIGURG
 * handler must not give the goroutine's P away in it ("Blocked calls
 * nobody annotated", runtime/preempt.c).  Nothing in between parks.
 *
 * Errors become -errno (see rg_getaddrinfo in ringo.h): EAI_NONAME and
 * EAI_NODATA -ENOENT, EAI_AGAIN -EAGAIN, EAI_FAIL -EIO, EAI_MEMORY -ENOMEM,
 * EAI_FAMILY -EAFNOSUPPORT, EAI_SERVICE and EAI_SOCKTYPE -ESOCKTNOSUPPORT,
 * EAI_BADFLAGS -EINVAL, EAI_SYSTEM the errno it left.
 */
#include "runtime/dns.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "ringo.h"
#include "kernel_iface/kernel.h"
#include "runtime/preempt.h"
#include "runtime/runtime.h"

struct dnsreq {
	struct dnsreq *next; /* dns.queue; dns.lock */
	char *host, *service;
	struct addrinfo hints;
	bool has_hints;
	struct addrinfo *res; /* the helper's result */
	int err;	      /* the helper's -errno, 0 */
	rg_chan *done;	      /* closed by the helper */
	int refs;	      /* waiter and helper; dns.lock */
	bool taken;	      /* a helper has it; dns.lock */
	uint64_t epoch;	      /* dns.epoch when it was queued */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct dnsreq *queue, **tail;	 /* lock */
	int nthreads, nidle;		 /* lock */
	_Atomic pid_t tids[DNS_THREADS]; /* each helper writes its own; read without the lock */
	_Atomic int inflight;		 /* requests queued or running */
	/* Runtimes ended (dns_fini); lock.  A request of an earlier one has
	 * no goroutine to wake any more. */
	uint64_t epoch;
} dns = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static int eai_errno(int eai, int saved_errno)
{
	switch (eai) {
	case 0:
		return 0;
	case EAI_NONAME:
#ifdef EAI_NODATA
	case EAI_NODATA:
#endif
		return -ENOENT;
	case EAI_AGAIN:
		return -EAGAIN;
	case EAI_MEMORY:
		return -ENOMEM;
	case EAI_FAMILY:
#ifdef EAI_ADDRFAMILY
	case EAI_ADDRFAMILY:
#endif
		return -EAFNOSUPPORT;
	case EAI_SERVICE:
	case EAI_SOCKTYPE:
		return -ESOCKTNOSUPPORT;
	case EAI_BADFLAGS:
		return -EINVAL;
	case EAI_SYSTEM:
		return saved_errno ? -saved_errno : -EIO;
	case EAI_FAIL:
	default:
		return -EIO;
	}
}

static int lookup(const char *host, const char *service, const struct addrinfo *hints,
		  struct addrinfo **res)
{
	int eai, r;

	errno = 0;
	eai = getaddrinfo(host, service, hints, res);
	r = eai_errno(eai, errno);
	if (r)
		*res = NULL;
	return r;
}

/* Drop a reference; free at the last.  dns.lock held. */
static void req_unref(struct dnsreq *rq)
{
	if (--rq->refs)
		return;
	if (rq->res)
		freeaddrinfo(rq->res);
	rg_chan_free(rq->done);
	rt_free(rq->host);
	rt_free(rq->service);
	rt_free(rq);
}

static void *helper_main(void *arg)
{
	sigset_t all;
	int slot = (int)(intptr_t)arg;

	/* Signals are the runtime's and the program's threads' business. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	atomic_store(&dns.tids[slot], ki_gettid());
	pthread_mutex_lock(&dns.lock);
	for (;;) {
		struct dnsreq *rq;

		while (!dns.queue) {
			dns.nidle++;
			pthread_cond_wait(&dns.cond, &dns.lock);
			dns.nidle--;
		}
		rq = dns.queue;
		dns.queue = rq->next;
		if (!dns.queue)
			dns.tail = &dns.queue;
		rq->taken = true;
		pthread_mutex_unlock(&dns.lock);
		rq->err =
			lookup(rq->host, rq->service, rq->has_hints ? &rq->hints : NULL, &rq->res);
		/* The waiter is runnable before the count drops.  Its runtime
		 * may have ended meanwhile (rg_main returned while it waited):
		 * then nothing is woken, and the waiter's reference goes too. */
		pthread_mutex_lock(&dns.lock);
		if (rq->epoch == dns.epoch)
			rg_chan_close(rq->done);
		else
			rq->refs--;
		atomic_fetch_sub(&dns.inflight, 1);
		req_unref(rq);
	}
	return NULL;
}

/* Queue rq and make sure a helper will take it.  0 or -errno. */
static int enqueue(struct dnsreq *rq)
{
	pthread_attr_t attr;
	pthread_t th;
	int r = 0;

	ki_call_enter(); /* "Calls in progress" above */
	pthread_mutex_lock(&dns.lock);
	if (!dns.nidle && dns.nthreads < DNS_THREADS) {
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		r = -pthread_create(&th, &attr, helper_main, (void *)(intptr_t)dns.nthreads);
		pthread_attr_destroy(&attr);
		if (r == 0)
			dns.nthreads++;
		else if (dns.nthreads > 0)
			r = 0; /* the others will take it */
	}
	if (r == 0) {
		if (!dns.tail)
			dns.tail = &dns.queue;
		rq->next = NULL;
		rq->epoch = dns.epoch;
		*dns.tail = rq;
		dns.tail = &rq->next;
		rq->refs = 2;
		atomic_fetch_add(&dns.inflight, 1);
		pthread_cond_signal(&dns.cond);
	}
	pthread_mutex_unlock(&dns.lock);
	ki_call_exit();
	return r;
}

int rg_getaddrinfo(const char *host, const char *service, const struct addrinfo *hints,
		   struct addrinfo **res, int64_t timeout_ns)
{
	struct dnsreq *rq;
	struct g *gp;
	int64_t deadline, now;
	char v;
	rg_case rc;
	int r;

	rt_enter();
	if (!res || (!host && !service))
		return -EINVAL;
	*res = NULL;
	gp = getg();
	if (!gp)
		return lookup(host, service, hints, res);
	now = ki_nanotime();
	deadline = gp->ext->deadline;
	if (timeout_ns >= 0 && (!deadline || now + timeout_ns < deadline))
		deadline = timeout_ns > INT64_MAX - now ? INT64_MAX : now + timeout_ns;
	if (deadline && deadline <= now)
		return -ETIMEDOUT;
	if (host && dns_cares_usable(hints))
		return dns_cares_lookup(host, service, hints, res, deadline);
	rq = rt_calloc(1, sizeof(*rq));
	if (!rq)
		return -ENOMEM;
	rq->host = host ? rt_strdup(host) : NULL;
	rq->service = service ? rt_strdup(service) : NULL;
	rq->done = rg_chan_make(1, 0);
	if ((host && !rq->host) || (service && !rq->service) || !rq->done) {
		rg_chan_free(rq->done);
		rt_free(rq->host);
		rt_free(rq->service);
		rt_free(rq);
		return -ENOMEM;
	}
	if (hints) {
		rq->hints = *hints;
		rq->hints.ai_addr = NULL;
		rq->hints.ai_canonname = NULL;
		rq->hints.ai_next = NULL;
		rq->has_hints = true;
	}
	r = enqueue(rq);
	if (r < 0) {
		rq->refs = 1;
		ki_call_enter();
		req_unref(rq);
		ki_call_exit();
		return r;
	}
	rc = (rg_case){ .chan = rq->done, .op = RG_RECV, .elem = &v };
	if (deadline) {
		int64_t left = deadline - ki_nanotime();

		r = rg_select(&rc, 1, left > 0 ? left : 0);
		if (r == -EAGAIN)
			r = -ETIMEDOUT; /* the deadline came as we looked */
	} else {
		r = rg_select(&rc, 1, -1);
	}
	ki_call_enter();
	pthread_mutex_lock(&dns.lock);
	if (r == 0) {
		r = rq->err;
		*res = rq->res;
		rq->res = NULL;
	} else if (!rq->taken) {
		/* Still queued: no helper will look it up. */
		struct dnsreq **link;

		for (link = &dns.queue; *link != rq; link = &(*link)->next)
			;
		*link = rq->next;
		if (dns.tail == &rq->next)
			dns.tail = link;
		atomic_fetch_sub(&dns.inflight, 1);
		rq->refs--;
	}
	req_unref(rq);
	pthread_mutex_unlock(&dns.lock);
	ki_call_exit();
	return r;
}

void dns_fini(void)
{
	struct dnsreq *rq, *next;

	pthread_mutex_lock(&dns.lock);
	dns.epoch++;
	/* Queued ones of this runtime: nobody will look them up. */
	for (rq = dns.queue; rq; rq = next) {
		next = rq->next;
		atomic_fetch_sub(&dns.inflight, 1);
		rq->refs = 1;
		req_unref(rq);
	}
	dns.queue = NULL;
	dns.tail = &dns.queue;
	pthread_mutex_unlock(&dns.lock);
	dns_cares_fini();
}

bool dns_busy(void)
{
	return atomic_load_explicit(&dns.inflight, memory_order_relaxed) > 0;
}

int dns_threads(pid_t *tids, int max)
{
	int n = 0;

	/* No lock: checkdead calls this under sched.lock. */
	for (int i = 0; i < DNS_THREADS && n < max; i++) {
		pid_t t = atomic_load(&dns.tids[i]);

		if (t)
			tids[n++] = t;
	}
	return n;
}
