/* SPDX-License-Identifier: MIT */
/*
 * test_io_deadline - I/O deadlines (rg_set_deadline): a call waiting past
 * its goroutine's deadline returns -ETIMEDOUT, not before the deadline;
 * the deadline is the goroutine's own; a transfer cut short returns its
 * short count; a call that returned leaves nothing in flight (no later
 * write into its buffer, no data taken from the descriptor afterwards),
 * even when the data races the deadline; a deadline in the past (any
 * t < 0) has expired, and only 0 means none.
 */
#include "tests/io_helpers.h"

/* --------------------------------------------------------------------- */
/* Deadlines                                                             */
/* --------------------------------------------------------------------- */

struct dl_other {
	int fd;
	ssize_t got;
	int64_t inherited;
	rg_wg done;
};

/* A goroutine with no deadline of its own: started by one that has one. */
static void dl_other_reader(void *arg)
{
	struct dl_other *o = arg;
	char buf[8];

	o->inherited = rg_set_deadline(0);
	o->got = rg_read(o->fd, buf, sizeof(buf));
	rg_wg_done(&o->done);
}

static void deadline_main(void *arg)
{
	struct sockaddr_in addr;
	char buf[4096];
	int fds[2], pfd[2], lfd;
	int64_t dl;

	(void)arg;
	GCHECK_EQ(unix_pair(fds, 0), 0);
	GCHECK_EQ(pipe2(pfd, O_CLOEXEC), 0);
	lfd = tcp_listen(4, &addr);
	GCHECK(lfd >= 0);

	/* Save and restore. */
	GCHECK_EQ(rg_set_deadline(0), 0);
	dl = rg_now_ns() + 20 * MS;
	GCHECK_EQ(rg_set_deadline(dl), 0);
	GCHECK_EQ(rg_set_deadline(dl), dl);

	/* recv, read, accept, send on a full socket: -ETIMEDOUT at dl. */
	CHECK_TIMED_OUT(rg_recv(fds[0], buf, sizeof(buf), 0), dl);
	dl = rg_now_ns() + 20 * MS;
	rg_set_deadline(dl);
	CHECK_TIMED_OUT(rg_read(pfd[0], buf, sizeof(buf)), dl);
	dl = rg_now_ns() + 20 * MS;
	rg_set_deadline(dl);
	CHECK_TIMED_OUT(rg_accept(lfd, NULL, NULL), dl);
	fill_socket(fds[1]);
	dl = rg_now_ns() + 20 * MS;
	rg_set_deadline(dl);
	CHECK_TIMED_OUT(rg_send(fds[1], buf, sizeof(buf), 0), dl);
	/* Drain what fill_socket sent. */
	while (recv(fds[0], buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;

	/* A deadline in the past: at once, unless the call need not wait. */
	dl = rg_now_ns() - 1;
	rg_set_deadline(dl);
	CHECK_TIMED_OUT(rg_recv(fds[0], buf, sizeof(buf), 0), dl);
	GCHECK_EQ(write(fds[1], "hello", 5), 5);
	GCHECK_EQ(rg_recv(fds[0], buf, sizeof(buf), 0), 5);
	GCHECK_EQ(rg_send(fds[1], "hi", 2, 0), 2);
	GCHECK_EQ(rg_read(fds[0], buf, sizeof(buf)), 2);
	GCHECK_EQ(write(pfd[1], "p", 1), 1);
	GCHECK_EQ(rg_read(pfd[0], buf, sizeof(buf)), 1);

	/* Another goroutine is not bound by this one's deadline. */
	{
		struct dl_other o = { .fd = pfd[0] };

		rg_wg_add(&o.done, 1);
		GCHECK_EQ(rg_go(dl_other_reader, &o), 0);
		rg_set_deadline(rg_now_ns() + 5 * MS);
		rg_sleep_ns(40 * MS); /* past this goroutine's deadline */
		rg_set_deadline(0);
		GCHECK_EQ(write(pfd[1], "late", 4), 4);
		rg_wg_wait(&o.done);
		GCHECK_EQ(o.inherited, 0);
		GCHECK_EQ(o.got, 4);
	}

	/* A deadline far ahead does not stop data that comes first. */
	GCHECK_EQ(rg_set_deadline(rg_now_ns() + SLACK_NS), 0);
	GCHECK_EQ(write(fds[1], "now", 3), 3);
	GCHECK_EQ(rg_recv(fds[0], buf, sizeof(buf), 0), 3);
	/* The farthest deadline there is: no overflow makes it fire now. */
	rg_set_deadline(INT64_MAX);
	{
		struct short_ctx sc = { .wfd = fds[1], .rfd = fds[0], .ack = rg_chan_make(0, 1) };

		rg_wg_add(&sc.done, 1);
		GCHECK_EQ(rg_go(short_writer, &sc), 0);
		atomic_store(&sc.reading, 1);
		GCHECK(recv_all(fds[0], buf, 10) == 0);
		GCHECK_EQ(pat_diff(buf, 10, 2, 0), -1);
		GCHECK_EQ(rg_chan_send(sc.ack, NULL), 0);
		rg_wg_wait(&sc.done);
		rg_chan_free(sc.ack);
	}
	rg_set_deadline(0);

	/* Cleared: the call waits for data again. */
	GCHECK_EQ(rg_set_deadline(0), 0);
	rg_close(lfd);
	rg_close(fds[0]);
	rg_close(fds[1]);
	rg_close(pfd[0]);
	rg_close(pfd[1]);
}

static void *deadline_thread(void *arg)
{
	atomic_int *ok = arg;

	atomic_store(ok, rg_set_deadline(rg_now_ns() + MS) == -EPERM ? 1 : 2);
	return NULL;
}

static void test_deadline(void **state)
{
	atomic_int ok = 0;
	pthread_t th;

	(void)state;
	RUN_FOR_PROCS(deadline_main, NULL, 1, 2);
	/* Plain threads have no deadline. */
	assert_int_equal(rg_set_deadline(rg_now_ns() + MS), -EPERM);
	assert_int_equal(pthread_create(&th, NULL, deadline_thread, &ok), 0);
	pthread_join(th, NULL);
	assert_int_equal(atomic_load(&ok), 1);
}

/*
 * After a call timed out, the kernel never writes into its buffer and the
 * data that comes later stays in the descriptor.  The buffer is freed
 * (ASan), or checked against a pattern, or lies in a stack frame that is
 * gone by the time the data comes.
 */
#define LATE_ROUNDS TEST_SCALE(10, 5)
#define LATE_LEN    4096

/* Send @len bytes to @peer, give a stale call time to run, then expect
 * them all, unread, in @fd. */
static void expect_data_left(int peer, int fd, size_t len, uint64_t seed)
{
	char out[LATE_LEN], in[LATE_LEN + 1];
	ssize_t n;

	pat_fill(out, len, seed, 0);
	GCHECK_EQ(write(peer, out, len), len);
	rg_sleep_ns(10 * MS);
	n = read_sent(fd, in, len);
	if (n != (ssize_t)len)
		gcheck_fail("after a timed-out call, %zu bytes sent, %zd left to read", len, n);
	else
		GCHECK_EQ(pat_diff(in, len, seed, 0), -1);
}

static __attribute__((noinline)) ssize_t late_recv_on_stack(int fd, bool use_read)
{
	char buf[LATE_LEN];
	ssize_t r;

	memset(buf, 0x5a, sizeof(buf));
	rg_set_deadline(rg_now_ns() + 3 * MS);
	r = use_read ? rg_read(fd, buf, sizeof(buf)) : rg_recv(fd, buf, sizeof(buf), 0);
	rg_set_deadline(0);
	GCHECK(all_bytes(buf, 0x5a, sizeof(buf)));
	return r;
}

/* A frame of about the same size where the one above was. */
static __attribute__((noinline)) void late_canary_on_stack(int peer, int fd, uint64_t seed)
{
	volatile char canary[LATE_LEN];

	for (size_t i = 0; i < sizeof(canary); i++)
		canary[i] = (char)0xc3;
	expect_data_left(peer, fd, 100, seed);
	for (size_t i = 0; i < sizeof(canary); i++)
		if (canary[i] != (char)0xc3) {
			gcheck_fail("a stack frame was written at byte %zu", i);
			break;
		}
}

/* Pipes use rg_read, sockets rg_recv. */
static void late_write_body(int fd, int peer, bool use_read, void *arg)
{
	(void)arg;
	for (int r = 0; r < LATE_ROUNDS; r++) {
		char *buf = malloc(LATE_LEN);
		int64_t dl = rg_now_ns() + 3 * MS;

		/* A heap buffer, freed at once. */
		rg_set_deadline(dl);
		CHECK_TIMED_OUT(
			use_read ? rg_read(fd, buf, LATE_LEN) : rg_recv(fd, buf, LATE_LEN, 0), dl);
		rg_set_deadline(0);
		free(buf);
		expect_data_left(peer, fd, LATE_LEN, (uint64_t)r);

		/* A heap buffer kept, with a pattern. */
		buf = malloc(LATE_LEN);
		memset(buf, 0x77, LATE_LEN);
		dl = rg_now_ns() + 3 * MS;
		rg_set_deadline(dl);
		CHECK_TIMED_OUT(
			use_read ? rg_read(fd, buf, LATE_LEN) : rg_recv(fd, buf, LATE_LEN, 0), dl);
		rg_set_deadline(0);
		expect_data_left(peer, fd, 1000, (uint64_t)r + 100);
		GCHECK(all_bytes(buf, 0x77, LATE_LEN));
		free(buf);

		/* A stack buffer whose frame is gone. */
		GCHECK_EQ(late_recv_on_stack(fd, use_read), -ETIMEDOUT);
		late_canary_on_stack(peer, fd, (uint64_t)r + 200);
	}
}

static void late_write_main(void *arg)
{
	over_streams(late_write_body, arg, true);
}

static void test_deadline_no_late_write(void **state)
{
	(void)state;
	RUN_FOR_PROCS(late_write_main, NULL, 1, 2);
}

/*
 * Data racing the deadline: whatever the call returns, the bytes it
 * reports plus those left in the socket are exactly the bytes sent, in
 * order.
 */
#define RACE_ROUNDS TEST_SCALE(300, 100)

struct race_ctx {
	int peer;
	int64_t delay;
	rg_wg done;
};

static void race_sender(void *arg)
{
	struct race_ctx *rc = arg;
	char out[64];

	rg_sleep_ns(rc->delay);
	pat_fill(out, sizeof(out), 9, 0);
	GCHECK_EQ(rg_send(rc->peer, out, sizeof(out), 0), sizeof(out));
	rg_wg_done(&rc->done);
}

static void race_main(void *arg)
{
	uint64_t seed = 0x2545f4914f6cdd1dULL;
	int fds[2], timed_out = 0, got_data = 0;

	(void)arg;
	GCHECK_EQ(unix_pair(fds, 0), 0);
	for (int r = 0; r < RACE_ROUNDS; r++) {
		struct race_ctx rc = { .peer = fds[1] };
		char in[64], *buf = malloc(64);
		ssize_t n, left;

		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		rc.delay = (int64_t)(seed % 2000) * 1000;
		rg_wg_add(&rc.done, 1);
		GCHECK_EQ(rg_go(race_sender, &rc), 0);
		rg_set_deadline(rg_now_ns() + (int64_t)((seed >> 20) % 2000) * 1000);
		n = rg_recv(fds[0], buf, 64, 0);
		rg_set_deadline(0);
		rg_wg_wait(&rc.done);
		if (n == -ETIMEDOUT) {
			timed_out++;
			n = 0;
		} else if (n > 0 && n <= 64) {
			got_data++;
			GCHECK_EQ(pat_diff(buf, (size_t)n, 9, 0), -1);
		} else {
			gcheck_fail("rg_recv racing its deadline returned %zd", n);
			n = 0;
		}
		free(buf);
		left = read_sent(fds[0], in, (size_t)(64 - n));
		if (n + left != 64) {
			gcheck_fail("round %d: %zd bytes returned, %zd left, 64 sent", r, n, left);
			break;
		}
		GCHECK_EQ(pat_diff(in, (size_t)left, 9, (uint64_t)n), -1);
	}
	GCHECK_EQ(timed_out + got_data, RACE_ROUNDS);
	rg_close(fds[0]);
	rg_close(fds[1]);
}

static void test_deadline_race(void **state)
{
	(void)state;
	RUN_FOR_PROCS(race_main, NULL, 1, 2);
}

/*
 * A deadline that ends a call which had transferred part of its data: the
 * call returns that count (a short count), never -ETIMEDOUT, and exactly
 * those bytes went through.
 */
#define PART_LEN ((size_t)4 * MiB)

static void partial_deadline_body(int fd, int peer, bool is_pipe, void *arg)
{
	unsigned char *big = arg;
	unsigned char *in = malloc(PART_LEN + 1);
	int small = 64 * KiB;
	int64_t dl;
	ssize_t n, got;

	(void)is_pipe;
	if (!in) {
		gcheck_fail("out of memory");
		return;
	}
	/* Small fixed buffers: PART_LEN never fits in them. */
	GCHECK_EQ(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	GCHECK_EQ(setsockopt(peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	/* A send larger than the socket can hold, nobody reading. */
	dl = rg_now_ns() + 30 * MS;
	rg_set_deadline(dl);
	n = rg_send(fd, big, PART_LEN, 0);
	rg_set_deadline(0);
	if (n <= 0 || (size_t)n >= PART_LEN) {
		gcheck_fail("a send cut short by its deadline returned %zd", n);
	} else {
		got = read_sent(peer, in, (size_t)n);
		if (got != n)
			gcheck_fail("send returned %zd, the peer got %zd", n, got);
		else
			GCHECK_EQ(memcmp(in, big, (size_t)n), 0);
	}

	/* MSG_WAITALL for 10 bytes, 5 come: those 5 at the deadline. */
	GCHECK_EQ(write(peer, big, 5), 5);
	dl = rg_now_ns() + 30 * MS;
	rg_set_deadline(dl);
	n = rg_recv(fd, in, 10, MSG_WAITALL);
	rg_set_deadline(0);
	if (n == 5) {
		GCHECK_EQ(memcmp(in, big, 5), 0);
	} else {
		gcheck_fail("a MSG_WAITALL recv of 10 with 5 there returned %zd", n);
		if (n == -ETIMEDOUT && read_sent(fd, in, 5) != 5)
			gcheck_fail("and the 5 bytes are gone");
	}
	free(in);
}

static void partial_deadline_main(void *arg)
{
	over_streams(partial_deadline_body, arg, false);
}

static void test_deadline_partial(void **state)
{
	unsigned char *big = malloc(PART_LEN);

	(void)state;
	assert_non_null(big);
	pat_fill(big, PART_LEN, 8, 0);
	RUN_FOR_PROCS(partial_deadline_main, big, 1, 2);
	free(big);
}

/* --------------------------------------------------------------------- */
/* Deadlines in the past                                                 */
/* --------------------------------------------------------------------- */

/* rg_set_deadline(t) for any t < 0 means "already expired", as Go's
 * SetDeadline in the past; only 0 means none. */
static void past_deadline_main(void *arg)
{
	static const int64_t past[] = { -5, -1, INT64_MIN, 1 };
	char buf[8];
	int fds[2];

	(void)arg;
	GCHECK_EQ(unix_pair(fds, 0), 0);
	for (size_t i = 0; i < ARRAY_SIZE(past); i++) {
		int64_t t0 = rg_now_ns(), old;
		ssize_t r;

		GCHECK_EQ(rg_set_deadline(past[i]), 0);
		r = rg_recv(fds[0], buf, sizeof(buf), 0);
		GCHECK_EQ(r, -ETIMEDOUT);
		GCHECK(rg_now_ns() - t0 < SLACK_NS);
		/* What it returns restores the same expired deadline. */
		old = rg_set_deadline(0);
		GCHECK(old != 0);
		rg_set_deadline(old);
		GCHECK_EQ(rg_read(fds[0], buf, sizeof(buf)), -ETIMEDOUT);
		/* Data already there needs no wait. */
		GCHECK_EQ(write(fds[1], "x", 1), 1);
		GCHECK_EQ(rg_recv(fds[0], buf, sizeof(buf), 0), 1);
		GCHECK_EQ(rg_set_deadline(0), old);
	}
	/* 0: no deadline, the call waits for its data. */
	{
		struct short_ctx sc = { .wfd = fds[1], .rfd = fds[0], .ack = rg_chan_make(0, 1) };

		rg_wg_add(&sc.done, 1);
		GCHECK_EQ(rg_go(short_writer, &sc), 0);
		atomic_store(&sc.reading, 1);
		GCHECK(recv_all(fds[0], buf, 1) == 0);
		GCHECK_EQ(rg_chan_send(sc.ack, NULL), 0);
		rg_wg_wait(&sc.done);
		rg_chan_free(sc.ack);
	}
	rg_close(fds[0]);
	rg_close(fds[1]);
}

static void test_deadline_in_past_expires(void **state)
{
	(void)state;
	RUN_FOR_PROCS(past_deadline_main, NULL, 1, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_deadline_no_late_write),
		cmocka_unit_test(test_deadline_race),
		cmocka_unit_test(test_deadline_partial),
		cmocka_unit_test(test_deadline_in_past_expires),
	};

	io_raise_fd_limit();
	test_watchdog(120);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
