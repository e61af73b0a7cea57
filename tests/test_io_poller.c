/* SPDX-License-Identifier: MIT */
/*
 * test_io_poller - how completions reach their goroutines, whoever holds
 * the P or the thread:
 *
 *  - completed requests are not held back by a burst of new goroutines;
 *  - plain threads' calls block the thread, and work without a runtime;
 *  - waiters left behind by a runtime that ended have nothing in flight,
 *    and the next runtime works;
 *  - a completion for a P whose M computes without a scheduling point is
 *    still delivered (sysmon reaps it; another P runs the goroutine);
 *  - on io_uring, requests submitted by a thread that exits still give
 *    their goroutines the right result.
 */
#include "tests/io_helpers.h"

/* --------------------------------------------------------------------- */
/* Completions and a burst of new goroutines                             */
/* --------------------------------------------------------------------- */

/*
 * A burst of new goroutines does not hold back the ones whose requests
 * completed: each of BURST goroutines opens (on io_uring, a request on the
 * ring: it parks) and closes a cached file, and the first open to return
 * must do so before the last goroutine of the burst started.  The opens
 * complete as soon as the P submits them; were completions reaped only
 * when the P runs out of work, every goroutine of the burst would start
 * (and hold its stack) before the first resumed.
 */
#define BURST TEST_SCALE(2000, 500)

struct burst_ctx {
	rg_wg done;
	atomic_int started;
	atomic_int first_back; /* started when the first open returned; -1: none yet */
	char path[256];
};

static void burst_opener(void *arg)
{
	struct burst_ctx *ctx = arg;
	int expect = -1, fd;

	atomic_fetch_add(&ctx->started, 1);
	fd = rg_open(ctx->path, O_RDONLY, 0);
	atomic_compare_exchange_strong(&ctx->first_back, &expect, atomic_load(&ctx->started));
	if (fd >= 0)
		GCHECK_EQ(rg_close(fd), 0);
	else
		gcheck_fail("rg_open: %d", fd);
	rg_wg_done(&ctx->done);
}

static void burst_main(void *arg)
{
	struct burst_ctx *ctx = arg;

	for (int i = 0; i < BURST; i++) {
		rg_wg_add(&ctx->done, 1);
		if (rg_go(burst_opener, ctx) != 0) {
			gcheck_fail("rg_go failed at %d", i);
			rg_wg_done(&ctx->done);
		}
	}
	rg_wg_wait(&ctx->done);
	GCHECK(atomic_load(&ctx->first_back) > 0);
	GCHECK(atomic_load(&ctx->first_back) < BURST);
}

static void test_completions_not_behind_new_goroutines(void **state)
{
	struct burst_ctx ctx = { .first_back = -1 };
	int fd;

	(void)state;
	tmp_path(ctx.path, sizeof(ctx.path), "burst");
	fd = open(ctx.path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	RUN_IN_RUNTIME(1, burst_main, &ctx);
}

/* --------------------------------------------------------------------- */
/* Plain threads                                                         */
/* --------------------------------------------------------------------- */

struct plain_ctx {
	int fds[2];
	atomic_int state; /* 1: thread about to read; 2: thread done */
	ssize_t got;
	char buf[16];
};

/* A plain thread's calls block the thread: it waits for a goroutine. */
static void *plain_reader(void *arg)
{
	struct plain_ctx *pc = arg;

	atomic_store(&pc->state, 1);
	pc->got = rg_recv(pc->fds[0], pc->buf, sizeof(pc->buf), 0);
	atomic_store(&pc->state, 2);
	return NULL;
}

static void plain_main(void *arg)
{
	struct plain_ctx *pc = arg;
	pthread_t th;
	const char *be = rg_netpoll_backend();

	if (pthread_create(&th, NULL, plain_reader, pc) != 0) {
		gcheck_fail("pthread_create failed");
		return;
	}
	GCHECK(wait_count(&pc->state, 1));
	rg_sleep_ns(20 * MS);
	GCHECK_EQ(atomic_load(&pc->state), 1);
	GCHECK_EQ(rg_send(pc->fds[1], "plain", 5, 0), 5);
	GCHECK(wait_count(&pc->state, 2));
	pthread_join(th, NULL);
	GCHECK_EQ(pc->got, 5);
	GCHECK(memcmp(pc->buf, "plain", 5) == 0);
	GCHECK(be != NULL);
}

/* Without a runtime: the plain calls, on the test thread. */
static void plain_no_runtime(void)
{
	int fds[2];
	char buf[16];

	assert_null(rg_netpoll_backend());
	assert_int_equal(rg_set_deadline(rg_now_ns() + MS), -EPERM);
	assert_int_equal(unix_pair(fds, 0), 0);
	assert_int_equal(rg_send(fds[0], "abc", 3, 0), 3);
	assert_int_equal(rg_recv(fds[1], buf, sizeof(buf), 0), 3);
	assert_int_equal(rg_write(fds[1], "de", 2), 2);
	assert_int_equal(rg_read(fds[0], buf, sizeof(buf)), 2);
	assert_int_equal(memcmp(buf, "de", 2), 0);
	assert_int_equal(rg_io_cancel(fds[0]), 0);
	assert_int_equal(rg_close(fds[1]), 0);
	assert_int_equal(rg_recv(fds[0], buf, sizeof(buf), 0), 0);
	assert_int_equal(rg_close(fds[0]), 0);
}

static void test_plain_thread(void **state)
{
	struct plain_ctx pc = { 0 };

	(void)state;
	plain_no_runtime();
	assert_int_equal(unix_pair(pc.fds, 0), 0);
	RUN_IN_RUNTIME(1, plain_main, &pc);
	rg_close(pc.fds[0]);
	rg_close(pc.fds[1]);
	memset(&pc, 0, sizeof(pc));
	assert_int_equal(unix_pair(pc.fds, 0), 0);
	RUN_IN_RUNTIME(2, plain_main, &pc);
	rg_close(pc.fds[0]);
	rg_close(pc.fds[1]);
	plain_no_runtime();
}

/* --------------------------------------------------------------------- */
/* Waiters left behind by a runtime that ended                           */
/* --------------------------------------------------------------------- */

static int left_fds[2], left_lfd;
static char left_buf[4096];

static void left_reader(void *arg)
{
	(void)arg;
	rg_recv(left_fds[0], left_buf, sizeof(left_buf), 0);
}

static void left_acceptor(void *arg)
{
	(void)arg;
	rg_accept(left_lfd, NULL, NULL);
}

static void left_main(void *arg)
{
	(void)arg;
	GCHECK_EQ(rg_go(left_reader, NULL), 0);
	GCHECK_EQ(rg_go(left_acceptor, NULL), 0);
	rg_sleep_ns(5 * MS);
}

static void test_waiters_left_behind(void **state)
{
	struct sockaddr_in addr;

	(void)state;
	assert_int_equal(unix_pair(left_fds, 0), 0);
	left_lfd = tcp_listen(4, &addr);
	assert_true(left_lfd >= 0);
	RUN_FOR_PROCS(left_main, NULL, 1, 2);
	/* Nothing the abandoned reads started is still in flight: data sent
	 * now stays in the socket, and their buffer is never written. */
	memset(left_buf, 0x3c, sizeof(left_buf));
	assert_int_equal(write(left_fds[1], "after", 5), 5);
	usleep(20000);
	{
		char b[8];

		assert_int_equal(recv(left_fds[0], b, sizeof(b), MSG_DONTWAIT), 5);
		assert_memory_equal(b, "after", 5);
		for (size_t i = 0; i < sizeof(left_buf); i++)
			assert_int_equal(left_buf[i], 0x3c);
	}
	/* The next runtime works. */
	RUN_IN_RUNTIME(2, echo_main, NULL);
	rg_close(left_fds[0]);
	rg_close(left_fds[1]);
	rg_close(left_lfd);
}

/* --------------------------------------------------------------------- */
/* A completion behind a goroutine that computes                        */
/* --------------------------------------------------------------------- */

#define BUSY_NS (600 * MS)

struct busy_ctx {
	int fds[2];
	atomic_llong got_at; /* when the waiter had its data, 0 before */
};

static void busy_waiter(void *arg)
{
	struct busy_ctx *bc = arg;
	char c;

	GCHECK_EQ(rg_recv(bc->fds[0], &c, 1, 0), 1);
	atomic_store(&bc->got_at, now_ns());
}

static void *busy_sender(void *arg)
{
	struct busy_ctx *bc = arg;

	usleep(20000);
	if (write(bc->fds[1], "x", 1) != 1)
		abort();
	return NULL;
}

/*
 * The waiter parks on this P's poller; then this goroutine computes
 * without a scheduling point for BUSY_NS while the other P is idle.  The
 * data comes 20 ms in: sysmon must reap it and another P run the waiter
 * long before the computation ends.
 */
static void busy_main(void *arg)
{
	struct busy_ctx *bc = arg;
	volatile uint64_t sink = 0;
	pthread_t thr;
	int64_t start, end;

	GCHECK_EQ(unix_pair(bc->fds, 0), 0);
	GCHECK_EQ(rg_go(busy_waiter, bc), 0);
	rg_sleep_ns(5 * MS); /* the waiter parks in its recv */
	GCHECK_EQ(pthread_create(&thr, NULL, busy_sender, bc), 0);
	start = now_ns();
	while ((end = now_ns()) - start < BUSY_NS && !atomic_load(&bc->got_at))
		sink += (uint64_t)end;
	/* Keep the P a while longer: the waiter must not need it. */
	while (now_ns() - start < 30 * MS)
		sink++;
	pthread_join(thr, NULL);
	while (!atomic_load(&bc->got_at))
		rg_sleep_ns(MS);
	GCHECK(atomic_load(&bc->got_at) - start < BUSY_NS / 2);
	rg_close(bc->fds[0]);
	rg_close(bc->fds[1]);
}

static void test_completion_behind_computation(void **state)
{
	struct busy_ctx bc = { 0 };

	(void)state;
	RUN_IN_RUNTIME(2, busy_main, &bc);
}

/* --------------------------------------------------------------------- */
/* Requests of a thread that exits                                       */
/* --------------------------------------------------------------------- */

/*
 * On io_uring a request belongs to the thread that submitted it, and the
 * kernel cancels it when that thread exits.  A goroutine that exits locked
 * to its thread ends the thread; the requests it submitted for other
 * goroutines (a recv, an accept, a connect still in progress) must still
 * give their goroutines the right result.  On epoll nothing is in flight:
 * the same program must simply work.
 */
#define LOST_N 4

struct lost_ctx {
	int sv[LOST_N][2]; /* recv */
	int lfd;	   /* accept */
	struct sockaddr_in laddr;
	int clfd, cfd, held; /* connect: a full listener, the socket, the queued one */
	struct sockaddr_in caddr;
	atomic_int waiting;
	rg_wg workers, victims;
};

struct lost_arg {
	struct lost_ctx *lc;
	int i; /* 0..LOST_N-1: recv; LOST_N: accept; LOST_N + 1: connect */
};

static void lost_victim(void *arg)
{
	struct lost_arg *la = arg;
	struct lost_ctx *lc = la->lc;
	char c = 0;
	ssize_t r;

	atomic_fetch_add(&lc->waiting, 1);
	if (la->i < LOST_N) {
		r = rg_recv(lc->sv[la->i][0], &c, 1, 0);
		if (r != 1 || c != 'a' + la->i)
			gcheck_fail("recv %d: %zd (%s)", la->i, r, r < 0 ? strerror((int)-r) : "");
	} else if (la->i == LOST_N) {
		r = rg_accept(lc->lfd, NULL, NULL);
		if (r < 0)
			gcheck_fail("accept: %zd (%s)", r, strerror((int)-r));
		else
			GCHECK_EQ(rg_send((int)r, "A", 1, 0), 1);
		if (r >= 0)
			rg_close((int)r);
	} else {
		r = rg_connect(lc->cfd, (struct sockaddr *)&lc->caddr, sizeof(lc->caddr));
		if (r != 0)
			gcheck_fail("connect: %zd (%s)", r, strerror((int)-r));
		else
			GCHECK_EQ(rg_send(lc->cfd, "C", 1, 0), 1);
	}
	rg_wg_done(&lc->victims);
}

/* Starts a victim, whose request this M submits, then exits locked. */
static void lost_worker(void *arg)
{
	struct lost_arg *la = arg;

	GCHECK_EQ(rg_go(lost_victim, la), 0);
	rg_yield();
	rg_lock_os_thread();
	rg_wg_done(&la->lc->workers);
}

static void lost_main(void *arg)
{
	struct lost_ctx *lc = arg;
	struct lost_arg la[LOST_N + 2];
	char c = 0;
	int fd;

	/* The main goroutine keeps the caller's thread, which never ends. */
	rg_lock_os_thread();
	for (int i = 0; i < LOST_N + 2; i++) {
		la[i] = (struct lost_arg){ lc, i };
		rg_wg_add(&lc->workers, 1);
		rg_wg_add(&lc->victims, 1);
		GCHECK_EQ(rg_go(lost_worker, &la[i]), 0);
	}
	rg_wg_wait(&lc->workers);
	while (atomic_load(&lc->waiting) < LOST_N + 2)
		rg_sleep_ns(MS);
	rg_sleep_ns(100 * MS); /* the workers' threads end; the victims still wait */
	/* A victim that failed leaves this goroutine nothing to wait for. */
	rg_set_deadline(rg_now_ns() + SLACK_NS);
	for (int i = 0; i < LOST_N; i++)
		GCHECK_EQ(rg_send(lc->sv[i][1], (char[]){ (char)('a' + i) }, 1, 0), 1);
	fd = tcp_connect(&lc->laddr, false);
	GCHECK(fd >= 0);
	GCHECK_EQ(rg_recv(fd, &c, 1, 0), 1);
	GCHECK_EQ(c, 'A');
	rg_close(fd);
	/* Room in the listener: the connect's next SYN gets through. */
	fd = rg_accept(lc->clfd, NULL, NULL);
	GCHECK(fd >= 0);
	rg_close(fd);
	rg_wg_wait(&lc->victims);
	fd = rg_accept(lc->clfd, NULL, NULL);
	GCHECK(fd >= 0);
	GCHECK_EQ(rg_recv(fd, &c, 1, 0), 1);
	GCHECK_EQ(c, 'C');
	rg_close(fd);
	rg_set_deadline(0);
}

static void test_requests_of_exited_thread(void **state)
{
	struct lost_ctx lc;

	(void)state;
	memset(&lc, 0, sizeof(lc));
	for (int i = 0; i < LOST_N; i++)
		assert_int_equal(unix_pair(lc.sv[i], 0), 0);
	lc.lfd = tcp_listen(4, &lc.laddr);
	assert_true(lc.lfd >= 0);
	/* A listener with a backlog of 0 holds one connection; the next
	 * one's SYN is dropped until it is accepted, so its connect stays in
	 * progress (the SYN is sent again after about a second). */
	lc.clfd = tcp_listen(0, &lc.caddr);
	assert_true(lc.clfd >= 0);
	assert_int_equal(listen(lc.clfd, 0), 0);
	lc.held = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(lc.held, (struct sockaddr *)&lc.caddr, sizeof(lc.caddr)), 0);
	lc.cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lc.cfd >= 0);
	RUN_IN_RUNTIME(2, lost_main, &lc);
	for (int i = 0; i < LOST_N; i++) {
		close(lc.sv[i][0]);
		close(lc.sv[i][1]);
	}
	close(lc.lfd);
	close(lc.clfd);
	close(lc.held);
	close(lc.cfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_completions_not_behind_new_goroutines,
						tmp_dir_setup, tmp_dir_teardown),
		cmocka_unit_test(test_plain_thread),
		cmocka_unit_test(test_waiters_left_behind),
		cmocka_unit_test(test_completion_behind_computation),
		cmocka_unit_test(test_requests_of_exited_thread),
	};

	io_raise_fd_limit();
	test_watchdog(120);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
