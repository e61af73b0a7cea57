/* SPDX-License-Identifier: MIT */
/*
 * runtime/netpoll.h - what runtime/io.c uses of the netpoller.
 *
 * See the design comment at the top of runtime/netpoll.c.  Every function
 * here is called by a goroutine (with a P) unless it says otherwise.
 */
#ifndef RINGO_RUNTIME_NETPOLL_H
#define RINGO_RUNTIME_NETPOLL_H

#include <stdbool.h>
#include <stdint.h>

#include "kernel_iface/netpoll.h"

/* The backend in use; NULL while no runtime runs.  (any) */
const struct np_backend *netpoll_backend(void);

/* enum ki_fd_kind of fd, remembered until rg_close(fd) (a hint: a
 * descriptor closed with close() and reused may be misjudged), or -errno. */
int netpoll_fd_kind(int fd);
/* The same, asked of the kernel again and remembered (for error paths). */
int netpoll_fd_kind_check(int fd);
/* A recv, send or connect on fd succeeded without netpoll_op: remember the
 * socket as connected (the hint that lets a recv wait for data first). */
void netpoll_fd_connected(int fd);
/* Make fd O_NONBLOCK (readiness backends need it for accept and connect).
 * 0 or -errno. */
int netpoll_set_nonblock(int fd);

/*
 * Completion backends: submit req (on fd, -1 for none) to the current P's
 * poller and park until it completes.  The result, or -ETIMEDOUT when the
 * goroutine's deadline ended it, or -ECANCELED when rg_io_cancel/rg_close
 * did.
 */
int64_t netpoll_op(struct np_req *req, int fd);

/*
 * Readiness backends: park until fd may be ready for mode (NP_READ or
 * NP_WRITE).  0 (try again), -ETIMEDOUT or -ECANCELED as above, or the
 * backend's error when fd cannot be watched.
 */
int netpoll_wait_fd(int fd, uint32_t mode);

/* Wake every goroutine waiting on fd with -ECANCELED; closing also forgets
 * fd (its kind, its registration).  The number woken.  (any) */
int netpoll_cancel_fd(int fd, bool closing);

/* The calling goroutine's deadline (0: none).  (any: 0 on plain threads) */
int64_t netpoll_deadline(void);

#endif /* RINGO_RUNTIME_NETPOLL_H */
