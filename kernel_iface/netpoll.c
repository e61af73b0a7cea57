/* SPDX-License-Identifier: MIT */
/*
 * kernel_iface/netpoll.c - choosing the poller backend (see netpoll.h).
 *
 * The backends are a table in order of preference.  Without a forced name
 * the first whose probe passes is taken; *fell_back then says that a
 * preferred one was refused, and *why gives the first refusal's reason.
 */
#include "kernel_iface/netpoll.h"

#include <errno.h>
#include <string.h>

static const struct np_backend *const backends[] = { &np_iouring, &np_epoll };

#define NBACKENDS (sizeof(backends) / sizeof(backends[0]))

int np_select(const char *force, const struct np_backend **out, bool *fell_back, const char **why)
{
	const char *first_why = NULL, *bwhy;
	size_t i;
	int r = -ENODEV;

	*fell_back = false;
	*why = NULL;
	if (force && *force) {
		for (i = 0; i < NBACKENDS; i++)
			if (!strcmp(force, backends[i]->name))
				break;
		if (i == NBACKENDS) {
			*why = "unknown backend (io_uring or epoll)";
			return -EINVAL;
		}
		r = backends[i]->probe(why);
		if (r == 0)
			*out = backends[i];
		return r;
	}
	for (i = 0; i < NBACKENDS; i++) {
		bwhy = NULL;
		r = backends[i]->probe(&bwhy);
		if (r == 0) {
			*out = backends[i];
			*fell_back = i > 0;
			*why = first_why;
			return 0;
		}
		if (!first_why)
			first_why = bwhy;
	}
	/* Every backend refused: the last one's reason. */
	*why = bwhy;
	return r;
}
