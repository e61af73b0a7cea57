/* SPDX-License-Identifier: MIT */
/*
 * test_io_cancel - what interrupts the calls waiting on a descriptor:
 * rg_io_cancel(fd) and rg_close(fd), from a goroutine or a plain thread,
 * wake them with -ECANCELED; afterwards the descriptor works (after
 * rg_io_cancel) or is really closed (after rg_close: the peer sees the end
 * of the stream).
 */
#include "tests/io_helpers.h"

/* --------------------------------------------------------------------- */
/* rg_io_cancel, rg_close while waiting                                  */
/* --------------------------------------------------------------------- */

struct cancel_thread_arg {
	int fd, want;
	atomic_int total;
};

static void *cancel_thread(void *arg)
{
	struct cancel_thread_arg *ca = arg;
	int64_t until = now_ns() + SLACK_NS;

	while (atomic_load(&ca->total) < ca->want && now_ns() < until) {
		int r = rg_io_cancel(ca->fd);

		if (r > 0)
			atomic_fetch_add(&ca->total, r);
		usleep(500);
	}
	return NULL;
}

/* A reader and a writer on one socket, a reader on a pipe, an acceptor. */
static void cancel_body(bool from_thread)
{
	struct sockaddr_in addr;
	int fds[2], pfd[2], lfd;
	atomic_int started = 0;
	rg_wg done = { 0 };
	struct waiter w[4];
	char buf[4096];
	int fdv[3];

	GCHECK_EQ(unix_pair(fds, 0), 0);
	GCHECK_EQ(pipe2(pfd, O_CLOEXEC), 0);
	lfd = tcp_listen(4, &addr);
	GCHECK(lfd >= 0);
	fill_socket(fds[0]);
	w[0] = (struct waiter){ .fd = fds[0], .op = W_RECV };
	w[1] = (struct waiter){ .fd = fds[0], .op = W_SEND };
	w[2] = (struct waiter){ .fd = pfd[0], .op = W_READ };
	w[3] = (struct waiter){ .fd = lfd, .op = W_ACCEPT };
	start_waiters(w, 4, &started, &done);
	GCHECK(wait_count(&started, 4));

	fdv[0] = fds[0];
	fdv[1] = pfd[0];
	fdv[2] = lfd;
	for (int i = 0; i < 3; i++) {
		int want = i == 0 ? 2 : 1;

		if (from_thread) {
			struct cancel_thread_arg ca = { .fd = fdv[i], .want = want };
			pthread_t th;

			if (pthread_create(&th, NULL, cancel_thread, &ca) != 0) {
				gcheck_fail("pthread_create failed");
				break;
			}
			pthread_join(th, NULL);
			GCHECK_EQ(atomic_load(&ca.total), want);
		} else {
			cancel_until(fdv[i], want);
		}
	}
	rg_wg_wait(&done);
	for (int i = 0; i < 4; i++)
		if (w[i].got != -ECANCELED)
			gcheck_fail("waiter %d: %zd, not -ECANCELED", i, w[i].got);

	/* Nothing waits any more; the descriptors still work. */
	GCHECK_EQ(rg_io_cancel(fds[0]), 0);
	GCHECK_EQ(rg_io_cancel(pfd[0]), 0);
	while (recv(fds[1], buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	GCHECK_EQ(rg_send(fds[0], "ok", 2, 0), 2);
	GCHECK_EQ(recv_all(fds[1], buf, 2), 0);
	GCHECK_EQ(write(fds[1], "ok", 2), 2);
	GCHECK_EQ(recv_all(fds[0], buf, 2), 0);
	GCHECK_EQ(write(pfd[1], "ok", 2), 2);
	GCHECK_EQ(rg_read(pfd[0], buf, sizeof(buf)), 2);
	{
		int c = tcp_connect(&addr, false), a = rg_accept(lfd, NULL, NULL);

		GCHECK(c >= 0 && a >= 0);
		rg_close(c);
		rg_close(a);
	}
	rg_close(fds[0]);
	rg_close(fds[1]);
	rg_close(pfd[0]);
	rg_close(pfd[1]);
	rg_close(lfd);
}

static void cancel_main(void *arg)
{
	(void)arg;
	cancel_body(false);
	cancel_body(true);
	/* No waiter: nothing to interrupt. */
	GCHECK_EQ(rg_io_cancel(0), 0);
}

static void test_io_cancel(void **state)
{
	(void)state;
	RUN_FOR_PROCS(cancel_main, NULL, 1, 2);
}

/*
 * rg_close of a descriptor others wait on: they return -ECANCELED (or,
 * at maxprocs > 1 where one may not have started waiting yet, -EBADF), and
 * the descriptor is really closed: the peer sees the end of the stream.
 */
struct close_ctx {
	int procs;
	bool from_thread; /* rg_close from a plain thread */
};

struct close_fds {
	int fd[3];
};

static void *close_thread(void *arg)
{
	struct close_fds *cf = arg;

	for (int i = 0; i < 3; i++)
		GCHECK_EQ(rg_close(cf->fd[i]), 0);
	return NULL;
}

static void close_main(void *arg)
{
	struct close_ctx *cc = arg;
	struct sockaddr_in addr;
	int fds[2], pfd[2], lfd, r;
	atomic_int started = 0;
	rg_wg done = { 0 };
	struct waiter w[5];
	char buf[16];

	GCHECK_EQ(unix_pair(fds, 0), 0);
	GCHECK_EQ(pipe2(pfd, O_CLOEXEC), 0);
	lfd = tcp_listen(4, &addr);
	GCHECK(lfd >= 0);
	fds[0] = high_fd(fds[0], 900);
	pfd[0] = high_fd(pfd[0], 910);
	lfd = high_fd(lfd, 920);
	GCHECK(fds[0] >= 900 && pfd[0] >= 910 && lfd >= 920);
	fill_socket(fds[0]);
	w[0] = (struct waiter){ .fd = fds[0], .op = W_RECV };
	w[1] = (struct waiter){ .fd = fds[0], .op = W_SEND };
	w[2] = (struct waiter){ .fd = pfd[0], .op = W_READ };
	w[3] = (struct waiter){ .fd = lfd, .op = W_ACCEPT };
	w[4] = (struct waiter){ .fd = lfd, .op = W_ACCEPT };
	start_waiters(w, 5, &started, &done);
	if (cc->procs == 1)
		await_count(&started, 5); /* all parked in their calls */
	else
		GCHECK(wait_count(&started, 5));
	rg_sleep_ns(5 * MS);

	if (cc->from_thread) {
		struct close_fds cf = { { fds[0], pfd[0], lfd } };
		pthread_t th;

		if (pthread_create(&th, NULL, close_thread, &cf) == 0)
			pthread_join(th, NULL);
		else
			gcheck_fail("pthread_create failed");
	} else {
		GCHECK_EQ(rg_close(fds[0]), 0);
		GCHECK_EQ(rg_close(pfd[0]), 0);
		GCHECK_EQ(rg_close(lfd), 0);
	}
	rg_wg_wait(&done);
	for (int i = 0; i < 5; i++) {
		if (w[i].got == -ECANCELED || (cc->procs > 1 && w[i].got == -EBADF))
			continue;
		gcheck_fail("waiter %d: %zd after rg_close, not -ECANCELED", i, w[i].got);
	}
	/* Really closed. */
	GCHECK_EQ(rg_recv(fds[1], buf, sizeof(buf), MSG_DONTWAIT) > 0, 1);
	while ((r = (int)recv(fds[1], buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		;
	GCHECK_EQ(r, 0);
	GCHECK_EQ(rg_write(pfd[1], "x", 1), -EPIPE);
	GCHECK_EQ(tcp_connect(&addr, false), -ECONNREFUSED);
	GCHECK_EQ(rg_close(fds[1]), 0);
	GCHECK_EQ(rg_close(pfd[1]), 0);
}

static void test_close_while_waiting(void **state)
{
	struct close_ctx cc;
	struct sigaction sa = { .sa_handler = SIG_IGN }, old;

	(void)state;
	/* Writing to the pipe whose read end is closed must not kill us. */
	sigaction(SIGPIPE, &sa, &old);
	for (int t = 0; t <= 1; t++) {
		cc = (struct close_ctx){ .procs = 1, .from_thread = t };
		RUN_IN_RUNTIME(1, close_main, &cc);
		cc = (struct close_ctx){ .procs = 2, .from_thread = t };
		RUN_IN_RUNTIME(2, close_main, &cc);
	}
	sigaction(SIGPIPE, &old, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_io_cancel),
		cmocka_unit_test(test_close_while_waiting),
	};

	io_raise_fd_limit();
	test_watchdog(120);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
