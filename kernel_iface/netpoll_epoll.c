/* SPDX-License-Identifier: MIT */
/*
 * kernel_iface/netpoll_epoll.c - the epoll backend (readiness style), used
 * where io_uring is refused.
 *
 * One epoll instance per P.  A descriptor is registered once, edge-
 * triggered, for reading and writing (as Go's netpoller does): the runtime
 * remembers readiness that arrives while nobody waits, so no edge is lost.
 * An eventfd in the set lets wake() end a wait; wait() polls the epoll
 * descriptor itself (readable when events are queued) without consuming
 * them, so that reap() alone, serialised, takes events.
 */
#include "kernel_iface/netpoll.h"
#include "kernel_iface/kernel.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define TOKEN_WAKE 1

struct np {
	int epfd;
	int efd;
};

static int epoll_probe(const char **why)
{
	int fd = epoll_create1(EPOLL_CLOEXEC);

	if (fd < 0) {
		*why = "epoll_create1 failed";
		return -errno;
	}
	close(fd);
	*why = NULL;
	return 0;
}

static int epoll_np_create(struct np **out)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.u64 = TOKEN_WAKE };
	struct np *np = calloc(1, sizeof(*np));
	int r;

	if (!np)
		return -ENOMEM;
	np->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (np->epfd < 0) {
		r = -errno;
		goto err_free;
	}
	r = ki_eventfd();
	if (r < 0)
		goto err_close_ep;
	np->efd = r;
	if (epoll_ctl(np->epfd, EPOLL_CTL_ADD, np->efd, &ev) < 0) {
		r = -errno;
		goto err_close_efd;
	}
	*out = np;
	return 0;
err_close_efd:
	ki_close(np->efd);
err_close_ep:
	ki_close(np->epfd);
err_free:
	free(np);
	return r;
}

static void epoll_np_destroy(struct np *np)
{
	ki_close(np->efd);
	ki_close(np->epfd);
	free(np);
}

static int epoll_arm(struct np *np, int fd, uint64_t token)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		.data.u64 = token,
	};
	int saved = errno, r = 0;

	if (epoll_ctl(np->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		r = -errno;
		if (r == -EEXIST && epoll_ctl(np->epfd, EPOLL_CTL_MOD, fd, &ev) == 0)
			r = 0;
	}
	errno = saved;
	return r;
}

static int epoll_disarm(struct np *np, int fd)
{
	int saved = errno, r = 0;

	if (epoll_ctl(np->epfd, EPOLL_CTL_DEL, fd, NULL) < 0)
		r = -errno;
	errno = saved;
	return r == -ENOENT || r == -EBADF ? 0 : r;
}

static int epoll_reap(struct np *np, struct np_event *ev, int max)
{
	struct epoll_event evs[64];
	int i, n, out = 0, saved = errno;

	if (max > 64)
		max = 64;
	n = epoll_wait(np->epfd, evs, max, 0);
	if (n < 0) {
		n = -errno;
		errno = saved;
		return n == -EINTR ? 0 : n;
	}
	for (i = 0; i < n; i++) {
		uint32_t e = evs[i].events;

		if (evs[i].data.u64 == TOKEN_WAKE) {
			uint64_t v;

			while (read(np->efd, &v, sizeof(v)) > 0)
				;
			continue;
		}
		ev[out].token = evs[i].data.u64;
		ev[out].res = 0;
		ev[out].ready = 0;
		if (e & (EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			ev[out].ready |= NP_READ;
		if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR))
			ev[out].ready |= NP_WRITE;
		out++;
	}
	errno = saved;
	return out;
}

static bool epoll_ready(struct np *np)
{
	(void)np;
	return false;
}

static int epoll_np_wait(struct np *np, int64_t timeout_ns, unsigned submit)
{
	struct pollfd pfd = { .fd = np->epfd, .events = POLLIN };
	struct timespec ts, *tsp = NULL;
	int saved = errno, r;

	(void)submit; /* readiness style: nothing is ever published */
	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		tsp = &ts;
	}
	r = ppoll(&pfd, 1, tsp, NULL);
	if (r < 0) {
		r = -errno;
		errno = saved;
	}
	return r == -EINTR ? 0 : r < 0 ? r : 0;
}

static int epoll_wake(struct np *np)
{
	return ki_eventfd_signal(np->efd);
}

const struct np_backend np_epoll = {
	.name = "epoll",
	.completes = false,
	.probe = epoll_probe,
	.create = epoll_np_create,
	.destroy = epoll_np_destroy,
	.arm = epoll_arm,
	.disarm = epoll_disarm,
	.reap = epoll_reap,
	.ready = epoll_ready,
	.wait = epoll_np_wait,
	.wake = epoll_wake,
};
