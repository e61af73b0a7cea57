/* SPDX-License-Identifier: MIT */
/*
 * runtime/signotify.c - signals delivered as values on channels:
 * rg_signal_notify and rg_signal_stop, as Go's signal.Notify and
 * signal.Stop.
 *
 * A signal some channel asks for gets the runtime's handler, installed by
 * the first rg_signal_notify that names it, with the disposition found
 * then saved; it is put back when no channel asks for it any more
 * (rg_signal_stop) or when the runtime ends.  The handler runs on
 * whichever thread the kernel picks (an M, a plain thread) and does two
 * async-signal-safe things: it sets the signal's bit in sn.pending and
 * asks sysmon for a round (sysmon_signal_request).  sysmon takes the bits
 * (signotify_deliver) and, for each, sends the signal number to every
 * channel that asked for it, without blocking: a channel that is full
 * misses that delivery, as with Go, so make it buffered.  Deliveries of
 * one signal that come before sysmon has taken the first are one
 * delivery (standard signals are not queued either).  No thread's mask
 * changes, so a notified signal can never hit a thread where it would
 * still take its default action.
 *
 * Nothing is a deadlock while a channel waits for signals: a goroutine
 * blocked receiving from it may be woken by the next signal
 * (signotify_active, read by checkdead).
 *
 * Lock order: sn.lock (LR_SIGNAL) comes before the channels' locks:
 * signotify_deliver holds it while it sends, so that once rg_signal_stop
 * (which takes it) returns, nothing more is sent to that channel.
 */
#include "runtime/signotify.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "ringo.h"
#include "kernel_iface/kernel.h"
#include "runtime/runtime.h"
#include "runtime/sysmon.h"

#define NSIGS 64 /* signals 1..64: bit sig - 1 */

struct sub {
	rg_chan *c;
	sigset_t set;
};

static struct {
	struct lock lock;
	struct sub *subs; /* the channels and what they asked for; lock */
	int nsubs, cap;	  /* lock */
	/* Signals whose handler is ours, and what was there before; lock. */
	uint64_t installed;
	struct sigaction old[NSIGS + 1];
	/* Signals the handler saw and sysmon has not taken yet. */
	_Atomic uint64_t pending;
	_Atomic int nactive; /* nsubs, for signotify_active; written under lock */
} sn;

static uint64_t bit(int sig)
{
	return 1ull << (sig - 1);
}

static void notify_handler(int sig)
{
	if (sig >= 1 && sig <= NSIGS) {
		atomic_fetch_or(&sn.pending, bit(sig));
		sysmon_signal_request();
	}
}

/* Signals no channel may take: the runtime's own, the ones that cannot be
 * caught, and faults, which a handler cannot return from. */
static bool refused(int sig)
{
	return sig == SIGURG || sig == SIGKILL || sig == SIGSTOP || sig == SIGSEGV ||
	       sig == SIGBUS || sig == SIGFPE || sig == SIGILL || sig == SIGTRAP || sig < 1 ||
	       sig > NSIGS;
}

/* Whether some channel still asks for sig.  sn.lock held. */
static bool wanted(int sig)
{
	for (int i = 0; i < sn.nsubs; i++)
		if (sigismember(&sn.subs[i].set, sig) == 1)
			return true;
	return false;
}

/* Put back the disposition of every installed signal no channel asks
 * for.  sn.lock held. */
static void uninstall_unwanted(void)
{
	for (int sig = 1; sig <= NSIGS; sig++)
		if ((sn.installed & bit(sig)) && !wanted(sig)) {
			ki_sigaction(sig, &sn.old[sig], NULL);
			sn.installed &= ~bit(sig);
		}
}

int rg_signal_notify(rg_chan *c, const sigset_t *set)
{
	struct sigaction sa;
	bool any = false;
	int sig, r = 0, i;

	if (!c || !set)
		return -EINVAL;
	if (chan_elemsize(c) != sizeof(int))
		return -EINVAL;
	if (load_acquire(&sched.nprocs) <= 0)
		return -ESRCH;
	for (sig = 1; sig < _NSIG; sig++) {
		if (sigismember(set, sig) != 1)
			continue;
		if (refused(sig))
			return -EINVAL;
		any = true;
	}
	if (!any)
		return -EINVAL;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = notify_handler;
	sa.sa_flags = SA_ONSTACK | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	lockr(&sn.lock, LR_SIGNAL);
	for (i = 0; i < sn.nsubs && sn.subs[i].c != c; i++)
		;
	if (i == sn.nsubs) {
		if (sn.nsubs == sn.cap) {
			int cap = sn.cap ? 2 * sn.cap : 8;
			struct sub *s = rt_realloc(sn.subs, sizeof(*s) * (size_t)cap);

			if (!s) {
				r = -ENOMEM;
				goto out;
			}
			sn.subs = s;
			sn.cap = cap;
		}
		sn.subs[i].c = c;
		sigemptyset(&sn.subs[i].set);
		sn.nsubs++;
		atomic_store(&sn.nactive, sn.nsubs);
	}
	/* As Go's Notify: the set adds to what c already gets. */
	for (sig = 1; sig <= NSIGS; sig++) {
		if (sigismember(set, sig) != 1)
			continue;
		sigaddset(&sn.subs[i].set, sig);
		if (sn.installed & bit(sig))
			continue;
		r = ki_sigaction(sig, &sa, &sn.old[sig]);
		if (r < 0)
			break;
		sn.installed |= bit(sig);
	}
	if (r < 0) {
		/* Leave nothing half done: c asks for nothing new. */
		sn.subs[i] = sn.subs[--sn.nsubs];
		atomic_store(&sn.nactive, sn.nsubs);
		uninstall_unwanted();
	}
out:
	unlockr(&sn.lock, LR_SIGNAL);
	return r;
}

int rg_signal_stop(rg_chan *c)
{
	int i, r = -ENOENT;

	if (!c)
		return -EINVAL;
	lockr(&sn.lock, LR_SIGNAL);
	for (i = 0; i < sn.nsubs; i++)
		if (sn.subs[i].c == c) {
			sn.subs[i] = sn.subs[--sn.nsubs];
			atomic_store(&sn.nactive, sn.nsubs);
			uninstall_unwanted();
			r = 0;
			break;
		}
	unlockr(&sn.lock, LR_SIGNAL);
	return r;
}

void signotify_deliver(void)
{
	uint64_t pending = atomic_exchange(&sn.pending, 0);

	if (!pending)
		return;
	lockr(&sn.lock, LR_SIGNAL);
	for (int sig = 1; sig <= NSIGS; sig++) {
		if (!(pending & bit(sig)))
			continue;
		for (int i = 0; i < sn.nsubs; i++) {
			rg_case send = { .chan = sn.subs[i].c, .op = RG_SEND, .elem = &sig };

			if (sigismember(&sn.subs[i].set, sig) == 1)
				(void)rg_select(&send, 1, 0); /* full or closed: missed */
		}
	}
	unlockr(&sn.lock, LR_SIGNAL);
}

bool signotify_active(void)
{
	return atomic_load_explicit(&sn.nactive, memory_order_relaxed) > 0;
}

void signotify_fini(void)
{
	lockr(&sn.lock, LR_SIGNAL);
	sn.nsubs = 0;
	atomic_store(&sn.nactive, 0);
	uninstall_unwanted();
	rt_free(sn.subs);
	sn.subs = NULL;
	sn.cap = 0;
	atomic_store(&sn.pending, 0);
	unlockr(&sn.lock, LR_SIGNAL);
}
