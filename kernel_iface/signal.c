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
