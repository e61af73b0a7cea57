/* SPDX-License-Identifier: MIT */
/*
 * kernel_iface/signal.c - signal dispositions and alternate signal stacks.
 */
#include "kernel_iface/kernel.h"

#include <errno.h>

int ki_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	int saved = errno;
	int r = sigaction(sig, act, old) ? -errno : 0;

	errno = saved;
	return r;
}

int ki_sigaltstack(const stack_t *ss, stack_t *old)
{
	int saved = errno;
	int r = sigaltstack(ss, old) ? -errno : 0;

	errno = saved;
	return r;
}

int ki_sigpipe_block(sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	return -pthread_sigmask(SIG_BLOCK, &set, old);
}

void ki_sigpipe_restore(const sigset_t *old)
{
	struct timespec zero = { 0, 0 };
	sigset_t set;
	int saved = errno;

	if (sigismember(old, SIGPIPE) != 1) {
		/* Discard the SIGPIPEs our writes raised on this thread before
		 * the caller's mask lets them through. */
		sigemptyset(&set);
		sigaddset(&set, SIGPIPE);
		while (sigtimedwait(&set, NULL, &zero) == SIGPIPE)
			;
	}
	pthread_sigmask(SIG_SETMASK, old, NULL);
	errno = saved;
}
