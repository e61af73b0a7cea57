/* SPDX-License-Identifier: MIT */
/*
 * test_io_poll - rg_poll, readiness of any descriptor, on both backends
 * (make test runs it again with RINGO_NETPOLL=epoll):
 *
 *  - every kind of descriptor: a socket pair, a pipe (both ends, and the
 *    hang-up of a closed writer), a FIFO, an eventfd, a signalfd, a
 *    timerfd, an inotify descriptor: not ready, then a goroutine parked
 *    in rg_poll is woken by the event, and the events it returns say so;
 *  - POLLOUT of a full socket comes back when the peer drains it;
 *  - a regular file is always ready, as poll(2) says;
 *  - timeout 0 is a look (-EAGAIN), a timeout or the goroutine's deadline
 *    ends the wait with -ETIMEDOUT and the deadline is the caller's again
 *    afterwards; rg_io_cancel and rg_close end it with -ECANCELED;
 *  - many goroutines waiting on one descriptor are all woken;
 *  - misuse: -EBADF for a number that is not open, -EINVAL for unknown
 *    events; a plain thread waits in ppoll(2).
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>

#include "tests/io_helpers.h"

/* A goroutine that waits in rg_poll and reports what it returned. */
struct poller {
	int fd;
	short events;
	int64_t timeout_ns;
	atomic_int started;
	atomic_int done;
	int result;
	rg_wg wg;
};

static void poller_main(void *arg)
{
	struct poller *pl = arg;

	atomic_fetch_add(&pl->started, 1);
	pl->result = rg_poll(pl->fd, pl->events, pl->timeout_ns);
	atomic_fetch_add(&pl->done, 1);
	rg_wg_done(&pl->wg);
}

/* Start a poller on fd, let it park, check it has not returned. */
static void start_poller(struct poller *pl, int fd, short events, int64_t timeout_ns)
{
	memset(pl, 0, sizeof(*pl));
	pl->fd = fd;
	pl->events = events;
	pl->timeout_ns = timeout_ns;
	rg_wg_add(&pl->wg, 1);
	GCHECK_EQ(rg_go(poller_main, pl), 0);
	GCHECK(wait_count(&pl->started, 1));
	rg_sleep_ns(5 * MS); /* parked by now */
	GCHECK_EQ(atomic_load(&pl->done), 0);
}

/* The poller's result, once it has returned. */
static int poller_result(struct poller *pl)
{
	rg_wg_wait(&pl->wg);
	return pl->result;
}

/* --------------------------------------------------------------------- */
/* Every kind of descriptor                                              */
/* --------------------------------------------------------------------- */

static void kinds_main(void *arg)
{
	struct poller pl;
	struct itimerspec its = { .it_value = { .tv_nsec = 20 * MS } };
	char fifo[64], buf[512];
	uint64_t one = 1;
	sigset_t set;
	int sv[2], p[2], efd, sfd, tfd, ifd, rfd, wfd, dfd;

	(void)arg;
	/* A socket pair. */
	GCHECK_EQ(unix_pair(sv, 0), 0);
	GCHECK_EQ(rg_poll(sv[0], POLLIN, 0), -EAGAIN);
	GCHECK_EQ(rg_poll(sv[0], POLLOUT, 0), POLLOUT);
	start_poller(&pl, sv[0], POLLIN, -1);
	GCHECK_EQ(rg_send(sv[1], "x", 1, 0), 1);
	GCHECK_EQ(poller_result(&pl), POLLIN);
	/* Readiness stays until the data is read: rg_poll reads nothing. */
	GCHECK_EQ(rg_poll(sv[0], POLLIN, -1), POLLIN);
	GCHECK_EQ(rg_recv(sv[0], buf, 1, 0), 1);
	/* POLLRDHUP when the peer shuts its side. */
	start_poller(&pl, sv[0], POLLIN | POLLRDHUP, -1);
	GCHECK_EQ(shutdown(sv[1], SHUT_WR), 0);
	GCHECK((poller_result(&pl) & POLLRDHUP) != 0);
	rg_close(sv[0]);
	rg_close(sv[1]);

	/* A pipe: data, then the hang-up of the closed writer. */
	GCHECK_EQ(pipe2(p, O_CLOEXEC), 0);
	start_poller(&pl, p[0], POLLIN, -1);
	GCHECK_EQ(rg_write(p[1], "y", 1), 1);
	GCHECK_EQ(poller_result(&pl), POLLIN);
	GCHECK_EQ(rg_read(p[0], buf, 1), 1);
	start_poller(&pl, p[0], POLLIN, -1);
	rg_close(p[1]);
	GCHECK((poller_result(&pl) & POLLHUP) != 0);
	rg_close(p[0]);

	/* A FIFO opened non-blocking at both ends. */
	snprintf(fifo, sizeof(fifo), "/tmp/ringo-poll-%d", (int)getpid());
	unlink(fifo);
	GCHECK_EQ(mkfifo(fifo, 0600), 0);
	rfd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	wfd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	GCHECK(rfd >= 0 && wfd >= 0);
	start_poller(&pl, rfd, POLLIN, -1);
	GCHECK_EQ(write(wfd, "z", 1), 1);
	GCHECK_EQ(poller_result(&pl), POLLIN);
	rg_close(rfd);
	rg_close(wfd);
	unlink(fifo);

	/* An eventfd. */
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	GCHECK(efd >= 0);
	start_poller(&pl, efd, POLLIN, -1);
	GCHECK_EQ(write(efd, &one, sizeof(one)), (ssize_t)sizeof(one));
	GCHECK_EQ(poller_result(&pl), POLLIN);
	rg_close(efd);

	/* A signalfd: SIGUSR1, blocked on every thread (test_kinds blocks
	 * it before the runtime starts its threads), sent to the process. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	GCHECK(sfd >= 0);
	GCHECK_EQ(rg_poll(sfd, POLLIN, 0), -EAGAIN);
	start_poller(&pl, sfd, POLLIN, -1);
	GCHECK_EQ(kill(getpid(), SIGUSR1), 0);
	GCHECK_EQ(poller_result(&pl), POLLIN);
	{
		struct signalfd_siginfo si;

		GCHECK_EQ(read(sfd, &si, sizeof(si)), (ssize_t)sizeof(si));
		GCHECK_EQ((int)si.ssi_signo, SIGUSR1);
	}
	rg_close(sfd);

	/* A timerfd that fires in 20 ms. */
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	GCHECK(tfd >= 0);
	GCHECK_EQ(timerfd_settime(tfd, 0, &its, NULL), 0);
	start_poller(&pl, tfd, POLLIN, -1);
	GCHECK_EQ(poller_result(&pl), POLLIN);
	rg_close(tfd);

	/* inotify: a file created in a watched directory. */
	ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	GCHECK(ifd >= 0);
	snprintf(buf, sizeof(buf), "/tmp/ringo-poll-dir-%d", (int)getpid());
	GCHECK_EQ(mkdir(buf, 0700), 0);
	GCHECK(inotify_add_watch(ifd, buf, IN_CREATE) >= 0);
	start_poller(&pl, ifd, POLLIN, -1);
	strcat(buf, "/f");
	dfd = open(buf, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	GCHECK(dfd >= 0);
	GCHECK_EQ(poller_result(&pl), POLLIN);
	/* A regular file is always ready, as poll(2) says. */
	GCHECK_EQ(rg_poll(dfd, POLLOUT, -1), POLLOUT);
	close(dfd);
	unlink(buf);
	buf[strlen(buf) - 2] = '\0';
	rmdir(buf);
	rg_close(ifd);
}

static void test_kinds(void **state)
{
	sigset_t set, old;

	(void)state;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	assert_int_equal(pthread_sigmask(SIG_BLOCK, &set, &old), 0);
	RUN_FOR_PROCS(kinds_main, NULL, 1, 2);
	assert_int_equal(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
}

/* POLLOUT of a full socket returns once the peer drains it. */
static void writable_main(void *arg)
{
	struct poller pl;
	char buf[64 * KiB];
	int sv[2];
	size_t filled;

	(void)arg;
	GCHECK_EQ(unix_pair(sv, 0), 0);
	filled = fill_socket(sv[0]);
	GCHECK(filled > 0);
	GCHECK_EQ(rg_poll(sv[0], POLLOUT, 0), -EAGAIN);
	start_poller(&pl, sv[0], POLLOUT, -1);
	while (filled > 0) {
		ssize_t n = rg_recv(sv[1], buf, sizeof(buf), 0);

		GCHECK(n > 0);
		filled -= (size_t)n;
	}
	GCHECK_EQ(poller_result(&pl), POLLOUT);
	rg_close(sv[0]);
	rg_close(sv[1]);
}

static void test_writable(void **state)
{
	(void)state;
	RUN_FOR_PROCS(writable_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* Timeouts, deadlines, cancellation                                     */
/* --------------------------------------------------------------------- */

static void ends_main(void *arg)
{
	struct poller pl;
	int64_t t0, old;
	int sv[2];

	(void)arg;
	GCHECK_EQ(unix_pair(sv, 0), 0);
	/* The timeout: at least that long, -ETIMEDOUT. */
	t0 = rg_now_ns();
	GCHECK_EQ(rg_poll(sv[0], POLLIN, 20 * MS), -ETIMEDOUT);
	GCHECK(rg_now_ns() - t0 >= 20 * MS);
	/* The deadline, earlier than the timeout, ends it; and it is the
	 * caller's again afterwards. */
	old = rg_set_deadline(rg_now_ns() + 20 * MS);
	GCHECK_EQ(old, 0);
	GCHECK_EQ(rg_poll(sv[0], POLLIN, 10000 * MS), -ETIMEDOUT);
	old = rg_set_deadline(0);
	GCHECK(old > 0);
	/* A deadline already past fails a wait at once, but not a look that
	 * finds the descriptor ready. */
	rg_set_deadline(1);
	GCHECK_EQ(rg_poll(sv[0], POLLIN, -1), -ETIMEDOUT);
	GCHECK_EQ(rg_poll(sv[0], POLLOUT, -1), POLLOUT);
	rg_set_deadline(0);
	/* A timeout shorter than the deadline leaves the deadline as set. */
	rg_set_deadline(rg_now_ns() + 60000 * MS);
	GCHECK_EQ(rg_poll(sv[0], POLLIN, 5 * MS), -ETIMEDOUT);
	GCHECK(rg_set_deadline(0) > rg_now_ns() + 50000 * MS);
	/* rg_io_cancel, then rg_close. */
	start_poller(&pl, sv[0], POLLIN, -1);
	cancel_until(sv[0], 1);
	GCHECK_EQ(poller_result(&pl), -ECANCELED);
	start_poller(&pl, sv[0], POLLIN, -1);
	GCHECK_EQ(rg_close(sv[0]), 0);
	GCHECK_EQ(poller_result(&pl), -ECANCELED);
	rg_close(sv[1]);
}

static void test_ends(void **state)
{
	(void)state;
	RUN_FOR_PROCS(ends_main, NULL, 1, 2);
}

/* Many goroutines on one descriptor: one event wakes them all. */
#define MANY 64

static void many_main(void *arg)
{
	static struct poller pl[MANY];
	int sv[2];

	(void)arg;
	GCHECK_EQ(unix_pair(sv, 0), 0);
	for (int i = 0; i < MANY; i++) {
		memset(&pl[i], 0, sizeof(pl[i]));
		pl[i].fd = sv[0];
		pl[i].events = POLLIN;
		pl[i].timeout_ns = -1;
		rg_wg_add(&pl[i].wg, 1);
		GCHECK_EQ(rg_go(poller_main, &pl[i]), 0);
	}
	for (int i = 0; i < MANY; i++)
		GCHECK(wait_count(&pl[i].started, 1));
	rg_sleep_ns(5 * MS);
	GCHECK_EQ(rg_send(sv[1], "x", 1, 0), 1);
	for (int i = 0; i < MANY; i++)
		GCHECK_EQ(poller_result(&pl[i]), POLLIN);
	rg_close(sv[0]);
	rg_close(sv[1]);
}

static void test_many_waiters(void **state)
{
	(void)state;
	RUN_FOR_PROCS(many_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* Misuse; plain threads                                                 */
/* --------------------------------------------------------------------- */

static void misuse_main(void *arg)
{
	int sv[2];

	(void)arg;
	GCHECK_EQ(rg_poll(-1, POLLIN, 0), -EBADF);
	GCHECK_EQ(rg_poll(closed_fd(-1), POLLIN, -1), -EBADF);
	GCHECK_EQ(rg_poll(closed_fd(-1), POLLIN, 10 * MS), -EBADF);
	GCHECK_EQ(unix_pair(sv, 0), 0);
	GCHECK_EQ(rg_poll(sv[0], (short)0x4000, -1), -EINVAL);
	/* No events asked: only an error or a hang-up ends the wait. */
	GCHECK_EQ(rg_poll(sv[0], 0, 5 * MS), -ETIMEDOUT);
	rg_close(sv[1]);
	GCHECK((rg_poll(sv[0], 0, -1) & POLLHUP) != 0);
	rg_close(sv[0]);
}

static void test_misuse(void **state)
{
	(void)state;
	RUN_FOR_PROCS(misuse_main, NULL, 1, 2);
}

static void test_plain_thread(void **state)
{
	int sv[2];
	int64_t t0;

	(void)state;
	assert_int_equal(unix_pair(sv, 0), 0);
	assert_int_equal(rg_poll(sv[0], POLLIN, 0), -EAGAIN);
	t0 = now_ns();
	assert_int_equal(rg_poll(sv[0], POLLIN, 10 * MS), -ETIMEDOUT);
	assert_true(now_ns() - t0 >= 10 * MS);
	assert_int_equal(rg_poll(sv[0], POLLOUT, -1), POLLOUT);
	assert_int_equal(rg_poll(-1, POLLIN, -1), -EBADF);
	assert_int_equal(rg_poll(sv[0], (short)0x4000, -1), -EINVAL);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kinds),  cmocka_unit_test(test_writable),
		cmocka_unit_test(test_ends),   cmocka_unit_test(test_many_waiters),
		cmocka_unit_test(test_misuse), cmocka_unit_test(test_plain_thread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
