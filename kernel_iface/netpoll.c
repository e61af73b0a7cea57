/* SPDX-License-Identifier: MIT */
/*
 * kernel_iface/netpoll.c - choosing the poller backend (see netpoll.h).
 */
#include "kernel_iface/netpoll.h"

#include <errno.h>
#include <string.h>

int np_select(const char *force, const struct np_backend **out, bool *fell_back, const char **why)
{
	int r;

	*fell_back = false;
	*why = NULL;
	if (force && *force && strcmp(force, "io_uring") && strcmp(force, "epoll")) {
		*why = "unknown backend (io_uring or epoll)";
		return -EINVAL;
	}
	if (!force || !*force || !strcmp(force, "io_uring")) {
		r = np_iouring.probe(why);
		if (r == 0) {
			*out = &np_iouring;
			return 0;
		}
		if (force && *force)
			return r;
		*fell_back = true;
	}
	{
		const char *ewhy;

		r = np_epoll.probe(&ewhy);
		if (r) {
			*why = ewhy;
			return r;
		}
	}
	*out = &np_epoll;
	return 0;
}
