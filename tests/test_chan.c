/* SPDX-License-Identifier: MIT */
/*
 * test_chan - rg_chan, Go's channels: making them and its errors; the
 * non-blocking operations, len and cap; unbuffered, buffered and zero-size
 * channels; FIFO order of buffered values and of blocked senders and
 * receivers; close (waiting receivers get 0 and a zeroed element, waiting
 * senders -EPIPE, buffered values are still delivered); nil channels;
 * freeing a channel as soon as its last operation returned; channels shared
 * by goroutines and plain threads; the deadlock reports of blocked channel
 * operations; a conservation stress test over many producers and consumers.
 *
 * select has its own binary, test_select.
 *
 * Tests that need goroutines to be blocked in a known order run with
 * maxprocs 1: nothing preempts a goroutine, so one that announced it is
 * about to block has parked by the time the main goroutine runs again.
 */
#include <pthread.h>

#include "tests/helpers.h"

/* Yield (and sleep a little) until *@done reaches @want, then join. */
static void join_threads_when_done(pthread_t *th, int n, atomic_int *done, int want)
{
	int64_t until = now_ns() + 30000000000LL;

	while (atomic_load(done) < want && now_ns() < until) {
		usleep(200);
		rg_yield();
	}
	GCHECK_EQ(atomic_load(done), want);
	for (int i = 0; i < n; i++) {
		if (atomic_load(done) >= want)
			pthread_join(th[i], NULL);
		else
			pthread_detach(th[i]);
	}
}

static bool all_bytes(const void *p, int byte, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != (unsigned char)byte)
			return false;
	return true;
}

static const int procs_123[] = { 1, 2, 4 };

/* --------------------------------------------------------------------- */
/* rg_chan_make                                                          */
/* --------------------------------------------------------------------- */

static void expect_make_fails(size_t elem_size, size_t cap, int want_errno)
{
	rg_chan *c;

	errno = 0;
	c = rg_chan_make(elem_size, cap);
	if (c) {
		rg_chan_free(c);
		fail_msg("rg_chan_make(%zu, %zu) succeeded", elem_size, cap);
	}
	if (errno != want_errno)
		fail_msg("rg_chan_make(%zu, %zu): errno %d, expected %d", elem_size, cap, errno,
			 want_errno);
}

static void expect_make_works(size_t elem_size, size_t cap)
{
	rg_chan *c = rg_chan_make(elem_size, cap);

	if (!c)
		fail_msg("rg_chan_make(%zu, %zu) failed: %s", elem_size, cap, strerror(errno));
	assert_int_equal(rg_chan_cap(c), cap);
	assert_int_equal(rg_chan_len(c), 0);
	rg_chan_free(c);
}

static void test_make(void **state)
{
	(void)state;
	expect_make_works(0, 0);
	expect_make_works(0, 1);
	expect_make_works(0, 1 << 20); /* no buffer memory for zero-size elements */
	expect_make_works(1, 0);
	expect_make_works(8, 1);
	expect_make_works(24, 1000);
	expect_make_works(65536, 0);
	expect_make_works(65536, 2);

	expect_make_fails(65537, 0, EINVAL);
	expect_make_fails(65537, 4, EINVAL);
	expect_make_fails(SIZE_MAX, 1, EINVAL);
	/* elem_size * cap overflows; the second wraps to exactly 0. */
	expect_make_fails(8, SIZE_MAX / 4, EINVAL);
	expect_make_fails(65536, SIZE_MAX / 65536 + 1, EINVAL);
	expect_make_fails(2, SIZE_MAX / 2 + 1, EINVAL);

	/*
	 * Sizes that do not overflow the multiplication but cannot be
	 * allocated.  Sanitizer allocators abort on such requests instead of
	 * failing, so only without them.
	 */
	if (!RG_TEST_SANITIZED) {
		rg_chan *c;

		errno = 0;
		c = rg_chan_make(1, SIZE_MAX); /* the header on top overflows */
		assert_null(c);
		assert_true(errno == EINVAL || errno == ENOMEM);
		errno = 0;
		c = rg_chan_make(65536, (size_t)1 << 40); /* 2^56 bytes */
		assert_null(c);
		assert_true(errno == EINVAL || errno == ENOMEM);
	}
	rg_chan_free(NULL);
}

/* --------------------------------------------------------------------- */
/* Non-blocking operations from a plain thread, no runtime               */
/* --------------------------------------------------------------------- */

/* A buffered channel: FIFO, len, full, empty, close with values left. */
static void test_buffered_plain(void **state)
{
	rg_chan *c = rg_chan_make(sizeof(int), 3);
	int v;

	(void)state;
	assert_non_null(c);
	assert_int_equal(rg_chan_cap(c), 3);
	assert_int_equal(rg_chan_len(c), 0);
	assert_int_equal(rg_chan_try_recv(c, &v), -EAGAIN);

	for (int i = 0; i < 3; i++) {
		assert_int_equal(rg_chan_try_send(c, &i), 0);
		assert_int_equal(rg_chan_len(c), i + 1);
	}
	v = 99;
	assert_int_equal(rg_chan_try_send(c, &v), -EAGAIN);
	assert_int_equal(rg_chan_len(c), 3);

	/* Blocking operations that need not block work from a plain thread. */
	assert_int_equal(rg_chan_recv(c, &v), 1);
	assert_int_equal(v, 0);
	v = 3;
	assert_int_equal(rg_chan_send(c, &v), 0);
	for (int i = 1; i <= 3; i++) {
		v = -1;
		assert_int_equal(i % 2 ? rg_chan_try_recv(c, &v) : rg_chan_recv(c, &v), 1);
		assert_int_equal(v, i);
	}
	assert_int_equal(rg_chan_len(c), 0);
	assert_int_equal(rg_chan_try_recv(c, &v), -EAGAIN);

	/* A NULL elem discards the value. */
	v = 5;
	assert_int_equal(rg_chan_send(c, &v), 0);
	assert_int_equal(rg_chan_recv(c, NULL), 1);
	assert_int_equal(rg_chan_len(c), 0);

	/* Closed with values in the buffer: they are still delivered. */
	v = 10;
	assert_int_equal(rg_chan_send(c, &v), 0);
	v = 11;
	assert_int_equal(rg_chan_try_send(c, &v), 0);
	assert_int_equal(rg_chan_close(c), 0);
	assert_int_equal(rg_chan_len(c), 2);
	assert_int_equal(rg_chan_close(c), -EPIPE);
	v = 12;
	assert_int_equal(rg_chan_send(c, &v), -EPIPE);
	assert_int_equal(rg_chan_try_send(c, &v), -EPIPE);
	assert_int_equal(rg_chan_len(c), 2);
	assert_int_equal(rg_chan_cap(c), 3);
	v = 0x5a5a;
	assert_int_equal(rg_chan_try_recv(c, &v), 1);
	assert_int_equal(v, 10);
	assert_int_equal(rg_chan_recv(c, &v), 1);
	assert_int_equal(v, 11);

	/* Then closed and drained: 0 and a zeroed element, every time. */
	for (int i = 0; i < 3; i++) {
		v = -1;
		assert_int_equal(rg_chan_recv(c, &v), 0);
		assert_int_equal(v, 0);
		v = -1;
		assert_int_equal(rg_chan_try_recv(c, &v), 0);
		assert_int_equal(v, 0);
	}
	assert_int_equal(rg_chan_recv(c, NULL), 0);
	assert_int_equal(rg_chan_try_recv(c, NULL), 0);
	assert_int_equal(rg_chan_len(c), 0);
	rg_chan_free(c);
}

static void test_unbuffered_plain(void **state)
{
	rg_chan *c = rg_chan_make(sizeof(long), 0);
	long v = 7;

	(void)state;
	assert_non_null(c);
	assert_int_equal(rg_chan_cap(c), 0);
	assert_int_equal(rg_chan_len(c), 0);
	/* Nobody waits on the other side. */
	assert_int_equal(rg_chan_try_send(c, &v), -EAGAIN);
	assert_int_equal(rg_chan_try_recv(c, &v), -EAGAIN);
	assert_int_equal(rg_chan_len(c), 0);

	assert_int_equal(rg_chan_close(c), 0);
	assert_int_equal(rg_chan_close(c), -EPIPE);
	assert_int_equal(rg_chan_try_send(c, &v), -EPIPE);
	assert_int_equal(rg_chan_send(c, &v), -EPIPE);
	v = -1;
	assert_int_equal(rg_chan_recv(c, &v), 0);
	assert_int_equal(v, 0);
	v = -1;
	assert_int_equal(rg_chan_try_recv(c, &v), 0);
	assert_int_equal(v, 0);
	rg_chan_free(c);
}

/* elem_size 0: signals only; the buffer counts them. */
static void test_zero_size_plain(void **state)
{
	char dummy = 'x';
	rg_chan *c = rg_chan_make(0, 2);
	rg_chan *u = rg_chan_make(0, 0);

	(void)state;
	assert_non_null(c);
	assert_non_null(u);
	assert_int_equal(rg_chan_try_send(c, &dummy), 0);
	assert_int_equal(rg_chan_send(c, &dummy), 0);
	assert_int_equal(rg_chan_try_send(c, &dummy), -EAGAIN);
	assert_int_equal(rg_chan_len(c), 2);
	assert_int_equal(rg_chan_try_recv(c, NULL), 1);
	assert_int_equal(rg_chan_recv(c, &dummy), 1);
	assert_int_equal(dummy, 'x'); /* nothing is copied */
	assert_int_equal(rg_chan_try_recv(c, NULL), -EAGAIN);
	assert_int_equal(rg_chan_try_send(c, &dummy), 0);
	assert_int_equal(rg_chan_close(c), 0);
	assert_int_equal(rg_chan_recv(c, NULL), 1);
	assert_int_equal(rg_chan_recv(c, NULL), 0);
	assert_int_equal(rg_chan_try_recv(c, NULL), 0);

	assert_int_equal(rg_chan_try_send(u, &dummy), -EAGAIN);
	assert_int_equal(rg_chan_try_recv(u, NULL), -EAGAIN);
	assert_int_equal(rg_chan_close(u), 0);
	assert_int_equal(rg_chan_recv(u, NULL), 0);
	assert_int_equal(rg_chan_send(u, &dummy), -EPIPE);
	rg_chan_free(c);
	rg_chan_free(u);
}

/* --------------------------------------------------------------------- */
/* Nil channels                                                          */
/* --------------------------------------------------------------------- */

static void nil_main(void *arg)
{
	int v = 1;

	(void)arg;
	GCHECK_EQ(rg_chan_try_send(NULL, &v), -EAGAIN);
	GCHECK_EQ(rg_chan_try_recv(NULL, &v), -EAGAIN);
	GCHECK_EQ(v, 1);
	GCHECK_EQ(rg_chan_try_recv(NULL, NULL), -EAGAIN);
	rg_chan_free(NULL);
}

static void test_nil_nonblocking(void **state)
{
	(void)state;
	nil_main(NULL); /* a plain thread, no runtime */
	gcheck_assert_none();
	RUN_IN_RUNTIME(1, nil_main, NULL);
}

/* --------------------------------------------------------------------- */
/* Unbuffered: rendezvous and ping-pong                                  */
/* --------------------------------------------------------------------- */

struct rendezvous_ctx {
	rg_chan *c;
	atomic_int sent; /* sends that returned */
	rg_wg done;
};

static void rendezvous_sender(void *arg)
{
	struct rendezvous_ctx *ctx = arg;

	for (int i = 0; i < 2; i++) {
		GCHECK_EQ(rg_chan_send(ctx->c, &i), 0);
		atomic_fetch_add(&ctx->sent, 1);
	}
	rg_wg_done(&ctx->done);
}

/* A send returns only once a receiver took the value (cap 0), or once the
 * buffer had room (cap 1: the first send returns at once, the second not). */
static void rendezvous_main(void *arg)
{
	struct rendezvous_ctx *ctx = arg;
	size_t cap = rg_chan_cap(ctx->c);
	int v = -1;

	rg_wg_add(&ctx->done, 1);
	GCHECK_EQ(rg_go(rendezvous_sender, ctx), 0);
	settle_yields();
	usleep(2000);
	settle_yields();
	GCHECK_EQ(atomic_load(&ctx->sent), (int)cap);
	GCHECK_EQ(rg_chan_len(ctx->c), cap);
	GCHECK_EQ(rg_chan_recv(ctx->c, &v), 1);
	GCHECK_EQ(v, 0);
	GCHECK_EQ(rg_chan_recv(ctx->c, &v), 1);
	GCHECK_EQ(v, 1);
	rg_wg_wait(&ctx->done);
	GCHECK_EQ(atomic_load(&ctx->sent), 2);
	GCHECK_EQ(rg_chan_len(ctx->c), 0);
}

static void test_send_waits_for_receiver(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(procs_123); i++) {
		for (size_t cap = 0; cap <= 1; cap++) {
			struct rendezvous_ctx ctx = { .c = rg_chan_make(sizeof(int), cap) };

			assert_non_null(ctx.c);
			RUN_IN_RUNTIME(procs_123[i], rendezvous_main, &ctx);
			rg_chan_free(ctx.c);
		}
	}
}

#define PINGPONG_N TEST_SCALE(20000, 2000)

struct pingpong_ctx {
	rg_chan *ping, *pong;
	rg_wg done;
};

static void pong_worker(void *arg)
{
	struct pingpong_ctx *ctx = arg;
	uint64_t v;

	while (rg_chan_recv(ctx->ping, &v) == 1) {
		v = v * 2 + 1;
		GCHECK_EQ(rg_chan_send(ctx->pong, &v), 0);
	}
	rg_wg_done(&ctx->done);
}

static void pingpong_main(void *arg)
{
	struct pingpong_ctx *ctx = arg;
	uint64_t v;

	ctx->ping = rg_chan_make(sizeof(uint64_t), 0);
	ctx->pong = rg_chan_make(sizeof(uint64_t), 0);
	rg_wg_add(&ctx->done, 1);
	GCHECK_EQ(rg_go(pong_worker, ctx), 0);
	for (uint64_t i = 0; i < PINGPONG_N; i++) {
		GCHECK_EQ(rg_chan_send(ctx->ping, &i), 0);
		GCHECK_EQ(rg_chan_recv(ctx->pong, &v), 1);
		GCHECK_EQ(v, i * 2 + 1);
	}
	GCHECK_EQ(rg_chan_close(ctx->ping), 0);
	rg_wg_wait(&ctx->done);
	rg_chan_free(ctx->ping);
	rg_chan_free(ctx->pong);
}

static void test_unbuffered_pingpong(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(procs_123); i++) {
		struct pingpong_ctx ctx = { 0 };

		RUN_IN_RUNTIME(procs_123[i], pingpong_main, &ctx);
	}
}

/* --------------------------------------------------------------------- */
/* FIFO order of buffered values                                         */
/* --------------------------------------------------------------------- */

#define FIFO_N TEST_SCALE(20000, 2000)

/* A 24-byte element, so that whole elements are copied. */
struct rec {
	uint64_t seq;
	uint64_t inv;
	uint64_t tag;
};

#define REC_TAG 0x0123456789abcdefULL

struct fifo_ctx {
	rg_chan *c;
	size_t cap;
	rg_wg done;
};

static void fifo_producer(void *arg)
{
	struct fifo_ctx *ctx = arg;

	for (uint64_t i = 0; i < FIFO_N; i++) {
		struct rec r = { .seq = i, .inv = ~i, .tag = REC_TAG };

		GCHECK_EQ(rg_chan_send(ctx->c, &r), 0);
	}
	GCHECK_EQ(rg_chan_close(ctx->c), 0);
	rg_wg_done(&ctx->done);
}

/* One producer, one consumer: values arrive in the order they were sent. */
static void fifo_main(void *arg)
{
	struct fifo_ctx *ctx = arg;
	uint64_t next = 0;
	struct rec r;
	int rc;

	ctx->c = rg_chan_make(sizeof(struct rec), ctx->cap);
	rg_wg_add(&ctx->done, 1);
	GCHECK_EQ(rg_go(fifo_producer, ctx), 0);
	while ((rc = rg_chan_recv(ctx->c, &r)) == 1) {
		GCHECK_EQ(r.seq, next);
		GCHECK_EQ(r.inv, ~r.seq);
		GCHECK_EQ(r.tag, REC_TAG);
		GCHECK(rg_chan_len(ctx->c) <= ctx->cap);
		next = r.seq + 1;
	}
	GCHECK_EQ(rc, 0);
	GCHECK_EQ(next, FIFO_N);
	GCHECK_EQ(r.seq | r.inv | r.tag, 0); /* zeroed by the closed channel */
	rg_wg_wait(&ctx->done);
	rg_chan_free(ctx->c);
}

static void test_buffer_fifo(void **state)
{
	static const int procs[] = { 1, 2, 8 };
	static const size_t caps[] = { 0, 1, 7, 1024 };

	(void)state;
	for (size_t p = 0; p < ARRAY_SIZE(procs); p++) {
		for (size_t k = 0; k < ARRAY_SIZE(caps); k++) {
			struct fifo_ctx ctx = { .cap = caps[k] };

			RUN_IN_RUNTIME(procs[p], fifo_main, &ctx);
		}
	}
}

/* --------------------------------------------------------------------- */
/* FIFO order of blocked senders and receivers                           */
/* --------------------------------------------------------------------- */

#define QUEUE_K	     16
#define PREFILL_BASE 1000

struct queue_ctx;

struct queue_arg {
	struct queue_ctx *ctx;
	int i;
};

struct queue_ctx {
	rg_chan *c;
	int prefill; /* values put in the buffer before the goroutines block */
	atomic_int started;
	rg_wg done;
	int results[QUEUE_K];
	struct queue_arg args[QUEUE_K];
};

static void queued_sender(void *arg)
{
	struct queue_arg *a = arg;

	atomic_fetch_add(&a->ctx->started, 1);
	GCHECK_EQ(rg_chan_send(a->ctx->c, &a->i), 0);
	rg_wg_done(&a->ctx->done);
}

static void queued_receiver(void *arg)
{
	struct queue_arg *a = arg;
	int v = -1;

	atomic_fetch_add(&a->ctx->started, 1);
	GCHECK_EQ(rg_chan_recv(a->ctx->c, &v), 1);
	a->ctx->results[a->i] = v;
	rg_wg_done(&a->ctx->done);
}

static void start_queued(struct queue_ctx *ctx, void (*fn)(void *))
{
	for (int i = 0; i < QUEUE_K; i++) {
		ctx->args[i] = (struct queue_arg){ ctx, i };
		rg_wg_add(&ctx->done, 1);
		GCHECK_EQ(rg_go(fn, &ctx->args[i]), 0);
		await_count(&ctx->started, i + 1); /* parked before the next starts */
	}
}

/*
 * Senders block in the order 0..K-1; the receiver gets the buffered values
 * first, then theirs in that order (a full buffer takes the first waiting
 * sender's value as its head is received).
 */
static void senders_fifo_main(void *arg)
{
	struct queue_ctx *ctx = arg;
	int v;

	for (int i = 0; i < ctx->prefill; i++) {
		v = PREFILL_BASE + i;
		GCHECK_EQ(rg_chan_try_send(ctx->c, &v), 0);
	}
	start_queued(ctx, queued_sender);
	GCHECK_EQ(rg_chan_len(ctx->c), (size_t)ctx->prefill);
	for (int i = 0; i < ctx->prefill; i++) {
		GCHECK_EQ(rg_chan_recv(ctx->c, &v), 1);
		GCHECK_EQ(v, PREFILL_BASE + i);
		GCHECK_EQ(rg_chan_len(ctx->c), (size_t)ctx->prefill); /* refilled */
	}
	for (int i = 0; i < QUEUE_K; i++) {
		GCHECK_EQ(rg_chan_recv(ctx->c, &v), 1);
		GCHECK_EQ(v, i);
	}
	rg_wg_wait(&ctx->done);
	GCHECK_EQ(rg_chan_len(ctx->c), 0);
	GCHECK_EQ(rg_chan_try_recv(ctx->c, &v), -EAGAIN);
}

/* Receivers block in the order 0..K-1; value i goes to receiver i, straight
 * into its element: the buffer stays empty. */
static void receivers_fifo_main(void *arg)
{
	struct queue_ctx *ctx = arg;

	start_queued(ctx, queued_receiver);
	for (int i = 0; i < QUEUE_K; i++) {
		GCHECK_EQ(rg_chan_send(ctx->c, &i), 0);
		GCHECK_EQ(rg_chan_len(ctx->c), 0);
	}
	rg_wg_wait(&ctx->done);
	for (int i = 0; i < QUEUE_K; i++)
		GCHECK_EQ(ctx->results[i], i);
}

static void test_waiters_fifo(void **state)
{
	(void)state;
	for (size_t cap = 0; cap <= 4; cap += 2) {
		struct queue_ctx ctx = { .c = rg_chan_make(sizeof(int), cap), .prefill = (int)cap };

		assert_non_null(ctx.c);
		RUN_IN_RUNTIME(1, senders_fifo_main, &ctx);
		rg_chan_free(ctx.c);

		memset(&ctx, 0, sizeof(ctx));
		ctx.c = rg_chan_make(sizeof(int), cap);
		assert_non_null(ctx.c);
		RUN_IN_RUNTIME(1, receivers_fifo_main, &ctx);
		rg_chan_free(ctx.c);
	}
}

/* --------------------------------------------------------------------- */
/* Large and zero-size elements between goroutines                       */
/* --------------------------------------------------------------------- */

#define BIG_ELEM 65536
#define BIG_N	 16

struct big_ctx {
	rg_chan *c;
	unsigned char *out; /* BIG_ELEM bytes, the producer's */
	rg_wg done;
};

static void big_producer(void *arg)
{
	struct big_ctx *ctx = arg;

	for (int i = 0; i < BIG_N; i++) {
		memset(ctx->out, 1 + i * 7, BIG_ELEM);
		ctx->out[i * 1000] = 0xee; /* one byte differs, at a moving place */
		GCHECK_EQ(rg_chan_send(ctx->c, ctx->out), 0);
	}
	rg_wg_done(&ctx->done);
}

static void big_main(void *arg)
{
	struct big_ctx *ctx = arg;
	unsigned char *in = malloc(BIG_ELEM);

	if (!in) {
		gcheck_fail("malloc failed");
		return;
	}
	rg_wg_add(&ctx->done, 1);
	GCHECK_EQ(rg_go(big_producer, ctx), 0);
	for (int i = 0; i < BIG_N; i++) {
		GCHECK_EQ(rg_chan_recv(ctx->c, in), 1);
		GCHECK_EQ(in[i * 1000], 0xee);
		in[i * 1000] = (unsigned char)(1 + i * 7);
		GCHECK(all_bytes(in, 1 + i * 7, BIG_ELEM));
	}
	rg_wg_wait(&ctx->done);
	free(in);
}

static void test_big_elements(void **state)
{
	(void)state;
	for (int procs = 1; procs <= 2; procs++) {
		for (size_t cap = 0; cap <= 2; cap += 2) {
			struct big_ctx ctx = { .c = rg_chan_make(BIG_ELEM, cap),
					       .out = malloc(BIG_ELEM) };

			assert_non_null(ctx.c);
			assert_non_null(ctx.out);
			RUN_IN_RUNTIME(procs, big_main, &ctx);
			rg_chan_free(ctx.c);
			free(ctx.out);
		}
	}
}

#define SIGNAL_N 64

struct signal_ctx {
	rg_chan *c;    /* elem_size 0 */
	rg_chan *stop; /* elem_size 0, closed as a broadcast */
	atomic_int stopped;
	rg_wg done;
};

static void signal_worker(void *arg)
{
	struct signal_ctx *ctx = arg;
	char dummy = 0;

	GCHECK_EQ(rg_chan_send(ctx->c, &dummy), 0);
	GCHECK_EQ(rg_chan_recv(ctx->stop, NULL), 0);
	atomic_fetch_add(&ctx->stopped, 1);
	rg_wg_done(&ctx->done);
}

/* Zero-size channels as signals: N "I am here", then a close as broadcast. */
static void signal_main(void *arg)
{
	struct signal_ctx *ctx = arg;

	ctx->c = rg_chan_make(0, 0);
	ctx->stop = rg_chan_make(0, 0);
	for (int i = 0; i < SIGNAL_N; i++) {
		rg_wg_add(&ctx->done, 1);
		GCHECK_EQ(rg_go(signal_worker, ctx), 0);
	}
	for (int i = 0; i < SIGNAL_N; i++)
		GCHECK_EQ(rg_chan_recv(ctx->c, NULL), 1);
	GCHECK_EQ(rg_chan_try_recv(ctx->c, NULL), -EAGAIN);
	settle_yields();
	GCHECK_EQ(atomic_load(&ctx->stopped), 0);
	GCHECK_EQ(rg_chan_close(ctx->stop), 0);
	rg_wg_wait(&ctx->done);
	GCHECK_EQ(atomic_load(&ctx->stopped), SIGNAL_N);
	rg_chan_free(ctx->c);
	rg_chan_free(ctx->stop);
}

static void test_zero_size_signals(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(procs_123); i++) {
		struct signal_ctx ctx = { 0 };

		RUN_IN_RUNTIME(procs_123[i], signal_main, &ctx);
	}
}

/* --------------------------------------------------------------------- */
/* Close wakes every waiter                                              */
/* --------------------------------------------------------------------- */

#define CLOSE_K	   32
#define CLOSE_ELEM 16

struct close_ctx {
	rg_chan *c;
	size_t elem_size;
	int procs;
	bool prefilled; /* one value in the (cap 1) buffer before the senders */
	atomic_int started;
	atomic_int finished;
	rg_wg done;
};

static void closed_receiver(void *arg)
{
	struct close_ctx *ctx = arg;
	unsigned char elem[CLOSE_ELEM];

	memset(elem, 0xaa, sizeof(elem));
	atomic_fetch_add(&ctx->started, 1);
	GCHECK_EQ(rg_chan_recv(ctx->c, elem), 0);
	GCHECK(all_bytes(elem, 0, ctx->elem_size));
	GCHECK(all_bytes(elem + ctx->elem_size, 0xaa, sizeof(elem) - ctx->elem_size));
	atomic_fetch_add(&ctx->finished, 1);
	rg_wg_done(&ctx->done);
}

static void closed_sender(void *arg)
{
	struct close_ctx *ctx = arg;
	unsigned char elem[CLOSE_ELEM];

	memset(elem, 0x77, sizeof(elem));
	atomic_fetch_add(&ctx->started, 1);
	GCHECK_EQ(rg_chan_send(ctx->c, elem), -EPIPE);
	atomic_fetch_add(&ctx->finished, 1);
	rg_wg_done(&ctx->done);
}

static void start_close_waiters(struct close_ctx *ctx, void (*fn)(void *))
{
	for (int i = 0; i < CLOSE_K; i++) {
		rg_wg_add(&ctx->done, 1);
		GCHECK_EQ(rg_go(fn, ctx), 0);
	}
	if (ctx->procs == 1)
		await_count(&ctx->started, CLOSE_K); /* all parked */
	else
		settle_yields(); /* most parked; the rest find it closed */
	GCHECK_EQ(atomic_load(&ctx->finished), 0);
}

static void close_receivers_main(void *arg)
{
	struct close_ctx *ctx = arg;

	start_close_waiters(ctx, closed_receiver);
	GCHECK_EQ(rg_chan_close(ctx->c), 0);
	rg_wg_wait(&ctx->done);
	GCHECK_EQ(atomic_load(&ctx->finished), CLOSE_K);
	GCHECK_EQ(rg_chan_close(ctx->c), -EPIPE);
}

static void close_senders_main(void *arg)
{
	struct close_ctx *ctx = arg;
	unsigned char elem[CLOSE_ELEM];

	if (ctx->prefilled) {
		memset(elem, 0x11, sizeof(elem));
		GCHECK_EQ(rg_chan_try_send(ctx->c, elem), 0);
	}
	start_close_waiters(ctx, closed_sender);
	GCHECK_EQ(rg_chan_close(ctx->c), 0);
	rg_wg_wait(&ctx->done);
	GCHECK_EQ(atomic_load(&ctx->finished), CLOSE_K);
	/* Only the value sent before the close is there. */
	if (ctx->prefilled) {
		memset(elem, 0, sizeof(elem));
		GCHECK_EQ(rg_chan_recv(ctx->c, elem), 1);
		GCHECK(all_bytes(elem, 0x11, ctx->elem_size));
	}
	GCHECK_EQ(rg_chan_recv(ctx->c, elem), 0);
	GCHECK_EQ(rg_chan_len(ctx->c), 0);
}

static void test_close_wakes_waiters(void **state)
{
	static const size_t elem_sizes[] = { 0, 1, CLOSE_ELEM };

	(void)state;
	for (size_t p = 0; p < ARRAY_SIZE(procs_123); p++) {
		for (size_t e = 0; e < ARRAY_SIZE(elem_sizes); e++) {
			for (size_t cap = 0; cap <= 1; cap++) {
				struct close_ctx ctx = { .elem_size = elem_sizes[e],
							 .procs = procs_123[p] };

				ctx.c = rg_chan_make(ctx.elem_size, cap);
				assert_non_null(ctx.c);
				RUN_IN_RUNTIME(ctx.procs, close_receivers_main, &ctx);
				rg_chan_free(ctx.c);

				memset(&ctx, 0, sizeof(ctx));
				ctx.elem_size = elem_sizes[e];
				ctx.procs = procs_123[p];
				ctx.prefilled = cap == 1;
				ctx.c = rg_chan_make(ctx.elem_size, cap);
				assert_non_null(ctx.c);
				RUN_IN_RUNTIME(ctx.procs, close_senders_main, &ctx);
				rg_chan_free(ctx.c);
			}
		}
	}
}

/* --------------------------------------------------------------------- */
/* Freeing as soon as nobody is blocked                                  */
/* --------------------------------------------------------------------- */

/*
 * Skynet: every inner node starts 10 children, receives their 10 results
 * on its own channel and frees that channel at once, then sends the sum
 * up.  The last child may still be on its way out of rg_chan_send when the
 * parent frees: the runtime must not touch the channel from a woken
 * goroutine (ASan catches it).  Leaves are numbered 0..10^depth-1.
 * TSan starts goroutines slowly: smaller trees, more of them.
 */
#define SKY_DEPTH  (RG_TEST_TSAN ? 2 : TEST_SCALE(4, 3))
#define SKY_ROUNDS (RG_TEST_TSAN ? 5 : TEST_SCALE(3, 2))

struct sky {
	rg_chan *parent;
	int level;
	size_t cap;
	uint64_t num;
};

static void skynet(void *arg)
{
	struct sky me = *(struct sky *)arg;
	struct sky kids[10];
	uint64_t sum = 0, v;
	int spawned = 0;
	rg_chan *c;

	if (me.level == 0) {
		GCHECK_EQ(rg_chan_send(me.parent, &me.num), 0);
		return;
	}
	c = rg_chan_make(sizeof(uint64_t), me.cap);
	if (!c) {
		gcheck_fail("rg_chan_make failed: %s", strerror(errno));
		GCHECK_EQ(rg_chan_send(me.parent, &sum), 0);
		return;
	}
	for (int i = 0; i < 10; i++) {
		kids[i] = (struct sky){ c, me.level - 1, me.cap, me.num * 10 + (uint64_t)i };
		if (rg_go(skynet, &kids[i]) == 0)
			spawned++;
		else
			gcheck_fail("rg_go failed");
	}
	for (int i = 0; i < spawned; i++) {
		GCHECK_EQ(rg_chan_recv(c, &v), 1);
		sum += v;
	}
	rg_chan_free(c);
	GCHECK_EQ(rg_chan_send(me.parent, &sum), 0);
}

static void skynet_main(void *arg)
{
	size_t cap = *(size_t *)arg;
	uint64_t leaves = 1, sum = 0;

	for (int i = 0; i < SKY_DEPTH; i++)
		leaves *= 10;
	for (int r = 0; r < SKY_ROUNDS; r++) {
		rg_chan *root = rg_chan_make(sizeof(uint64_t), 0);
		struct sky top = { root, SKY_DEPTH, cap, 0 };

		GCHECK_EQ(rg_go(skynet, &top), 0);
		GCHECK_EQ(rg_chan_recv(root, &sum), 1);
		rg_chan_free(root);
		GCHECK_EQ(sum, leaves * (leaves - 1) / 2);
	}
}

static void test_free_skynet(void **state)
{
	static const int procs[] = { 1, 2, 8 };
	static const size_t caps[] = { 0, 3, 10 };

	(void)state;
	for (size_t p = 0; p < ARRAY_SIZE(procs); p++) {
		for (size_t k = 0; k < ARRAY_SIZE(caps); k++) {
			size_t cap = caps[k];

			RUN_IN_RUNTIME(procs[p], skynet_main, &cap);
		}
	}
}

/* The same, tight: 10 senders, receive 10, free, again and again. */
#define FANIN_ROUNDS (RG_TEST_TSAN ? 60 : TEST_SCALE(3000, 300))

static void fanin_sender(void *arg)
{
	uint64_t v = 1;

	GCHECK_EQ(rg_chan_send(arg, &v), 0);
}

static void fanin_main(void *arg)
{
	size_t cap = *(size_t *)arg;

	for (int r = 0; r < FANIN_ROUNDS; r++) {
		rg_chan *c = rg_chan_make(sizeof(uint64_t), cap);
		uint64_t v, sum = 0;

		for (int i = 0; i < 10; i++)
			GCHECK_EQ(rg_go(fanin_sender, c), 0);
		for (int i = 0; i < 10; i++) {
			GCHECK_EQ(rg_chan_recv(c, &v), 1);
			sum += v;
		}
		rg_chan_free(c);
		GCHECK_EQ(sum, 10);
	}
}

static void test_free_after_fan_in(void **state)
{
	static const int procs[] = { 1, 2, 8 };

	(void)state;
	for (size_t p = 0; p < ARRAY_SIZE(procs); p++) {
		for (size_t cap = 0; cap <= 4; cap += 4)
			RUN_IN_RUNTIME(procs[p], fanin_main, &cap);
	}
}

/*
 * Close, then free at once: the woken waiters are no longer blocked on the
 * channel, so this is allowed; they must return 0 / -EPIPE without
 * touching it.  maxprocs 1, so that all are parked at the close.
 */
#define CLOSE_FREE_ROUNDS TEST_SCALE(200, 40)

static void close_free_main(void *arg)
{
	(void)arg;
	for (int r = 0; r < CLOSE_FREE_ROUNDS; r++) {
		struct close_ctx ctx = { .elem_size = 8, .procs = 1 };
		bool senders = r % 2;

		ctx.c = rg_chan_make(ctx.elem_size, (size_t)(r % 4 >= 2));
		if (senders && rg_chan_cap(ctx.c)) {
			uint64_t v = 1;

			GCHECK_EQ(rg_chan_try_send(ctx.c, &v), 0);
		}
		start_close_waiters(&ctx, senders ? closed_sender : closed_receiver);
		GCHECK_EQ(rg_chan_close(ctx.c), 0);
		rg_chan_free(ctx.c);
		rg_wg_wait(&ctx.done);
		GCHECK_EQ(atomic_load(&ctx.finished), CLOSE_K);
	}
}

static void test_free_after_close(void **state)
{
	(void)state;
	RUN_IN_RUNTIME(1, close_free_main, NULL);
}

/*
 * A plain thread and a goroutine hand values over fresh unbuffered
 * channels; whoever receives frees the channel at once, while the other
 * side may still be waking up from its send (a thread on a futex, or a
 * parked goroutine).
 */
#define HANDOFF_ROUNDS TEST_SCALE(2000, 300)

struct handoff_ctx {
	rg_chan *ctl; /* carries the channel of each round to the thread */
	atomic_int thread_done;
};

static void *handoff_thread(void *arg)
{
	struct handoff_ctx *ctx = arg;
	rg_chan *c;
	int r = 0, v;

	while (rg_chan_recv(ctx->ctl, &c) == 1) {
		if (r % 2 == 0) {
			GCHECK_EQ(rg_chan_send(c, &r), 0); /* the goroutine frees c */
		} else {
			v = -1;
			GCHECK_EQ(rg_chan_recv(c, &v), 1);
			GCHECK_EQ(v, r);
			rg_chan_free(c);
		}
		r++;
	}
	GCHECK_EQ(r, HANDOFF_ROUNDS);
	atomic_store(&ctx->thread_done, 1);
	return NULL;
}

static void handoff_main(void *arg)
{
	struct handoff_ctx *ctx = arg;
	pthread_t th;
	int v;

	ctx->ctl = rg_chan_make(sizeof(rg_chan *), 1);
	if (pthread_create(&th, NULL, handoff_thread, ctx) != 0) {
		gcheck_fail("pthread_create failed");
		return;
	}
	for (int r = 0; r < HANDOFF_ROUNDS; r++) {
		rg_chan *c = rg_chan_make(sizeof(int), 0);

		GCHECK_EQ(rg_chan_send(ctx->ctl, &c), 0);
		if (r % 2 == 0) {
			v = -1;
			GCHECK_EQ(rg_chan_recv(c, &v), 1);
			GCHECK_EQ(v, r);
			rg_chan_free(c);
		} else {
			GCHECK_EQ(rg_chan_send(c, &r), 0); /* the thread frees c */
		}
	}
	GCHECK_EQ(rg_chan_close(ctx->ctl), 0);
	join_threads_when_done(&th, 1, &ctx->thread_done, 1);
	rg_chan_free(ctx->ctl);
}

static void test_free_after_thread_handoff(void **state)
{
	(void)state;
	for (int procs = 1; procs <= 2; procs++) {
		struct handoff_ctx ctx = { 0 };

		RUN_IN_RUNTIME(procs, handoff_main, &ctx);
	}
}

/* --------------------------------------------------------------------- */
/* Plain threads and goroutines on one channel                           */
/* --------------------------------------------------------------------- */

#define MIX_PER TEST_SCALE(5000, 500)
#define MIX_MAX 4

struct mix_ctx;

struct mix_arg {
	struct mix_ctx *ctx;
	int id; /* producers: which range of values */
};

struct mix_ctx {
	rg_chan *c;
	int gprod, tprod, gcons, tcons; /* goroutine/thread producers/consumers */
	atomic_int tprod_done, tcons_done;
	rg_wg gprod_done, gcons_done;
	atomic_uchar *seen;
	atomic_ullong count, sum;
	struct mix_arg args[2 * MIX_MAX];
};

static uint32_t mix_total(const struct mix_ctx *ctx)
{
	return (uint32_t)(ctx->gprod + ctx->tprod) * MIX_PER;
}

static void mix_produce(struct mix_arg *a)
{
	for (uint64_t v = (uint64_t)a->id * MIX_PER; v < (uint64_t)(a->id + 1) * MIX_PER; v++)
		GCHECK_EQ(rg_chan_send(a->ctx->c, &v), 0);
}

static void mix_consume(struct mix_ctx *ctx)
{
	uint64_t v, sum = 0, n = 0;
	int rc;

	while ((rc = rg_chan_recv(ctx->c, &v)) == 1) {
		if (v >= mix_total(ctx)) {
			gcheck_fail("received %llu, out of range", (unsigned long long)v);
			continue;
		}
		GCHECK_EQ(atomic_fetch_add(&ctx->seen[v], 1), 0);
		sum += v;
		n++;
	}
	GCHECK_EQ(rc, 0);
	atomic_fetch_add(&ctx->sum, sum);
	atomic_fetch_add(&ctx->count, n);
}

static void mix_gproducer(void *arg)
{
	struct mix_arg *a = arg;

	mix_produce(a);
	rg_wg_done(&a->ctx->gprod_done);
}

static void *mix_tproducer(void *arg)
{
	struct mix_arg *a = arg;

	mix_produce(a);
	atomic_fetch_add(&a->ctx->tprod_done, 1);
	return NULL;
}

static void mix_gconsumer(void *arg)
{
	struct mix_ctx *ctx = arg;

	mix_consume(ctx);
	rg_wg_done(&ctx->gcons_done);
}

static void *mix_tconsumer(void *arg)
{
	struct mix_ctx *ctx = arg;

	mix_consume(ctx);
	atomic_fetch_add(&ctx->tcons_done, 1);
	return NULL;
}

static void mix_main(void *arg)
{
	struct mix_ctx *ctx = arg;
	pthread_t tprod[MIX_MAX], tcons[MIX_MAX];
	int id = 0, ntprod = 0, ntcons = 0;
	uint64_t total = mix_total(ctx);

	for (int i = 0; i < ctx->gcons; i++) {
		rg_wg_add(&ctx->gcons_done, 1);
		GCHECK_EQ(rg_go(mix_gconsumer, ctx), 0);
	}
	for (int i = 0; i < ctx->tcons; i++)
		if (pthread_create(&tcons[ntcons], NULL, mix_tconsumer, ctx) == 0)
			ntcons++;
	for (int i = 0; i < ctx->gprod; i++, id++) {
		ctx->args[id] = (struct mix_arg){ ctx, id };
		rg_wg_add(&ctx->gprod_done, 1);
		GCHECK_EQ(rg_go(mix_gproducer, &ctx->args[id]), 0);
	}
	for (int i = 0; i < ctx->tprod; i++, id++) {
		ctx->args[id] = (struct mix_arg){ ctx, id };
		if (pthread_create(&tprod[ntprod], NULL, mix_tproducer, &ctx->args[id]) == 0)
			ntprod++;
	}
	GCHECK_EQ(ntcons, ctx->tcons);
	GCHECK_EQ(ntprod, ctx->tprod);

	rg_wg_wait(&ctx->gprod_done);
	join_threads_when_done(tprod, ntprod, &ctx->tprod_done, ntprod);
	GCHECK_EQ(rg_chan_close(ctx->c), 0);
	rg_wg_wait(&ctx->gcons_done);
	join_threads_when_done(tcons, ntcons, &ctx->tcons_done, ntcons);

	GCHECK_EQ(atomic_load(&ctx->count), total);
	GCHECK_EQ(atomic_load(&ctx->sum), total * (total - 1) / 2);
	for (uint64_t v = 0; v < total; v++)
		if (atomic_load(&ctx->seen[v]) != 1) {
			gcheck_fail("value %llu received %d times", (unsigned long long)v,
				    atomic_load(&ctx->seen[v]));
			break;
		}
}

static void test_threads_and_goroutines(void **state)
{
	static const struct {
		int gprod, tprod, gcons, tcons;
	} shapes[] = {
		{ 0, 1, 4, 0 }, /* a thread feeds goroutines */
		{ 4, 0, 0, 2 }, /* goroutines feed threads */
		{ 2, 2, 2, 2 }, /* both on both sides */
	};

	(void)state;
	for (int procs = 1; procs <= 2; procs++) {
		for (size_t s = 0; s < ARRAY_SIZE(shapes); s++) {
			for (size_t cap = 0; cap <= 8; cap += 8) {
				struct mix_ctx ctx = { .gprod = shapes[s].gprod,
						       .tprod = shapes[s].tprod,
						       .gcons = shapes[s].gcons,
						       .tcons = shapes[s].tcons };

				ctx.c = rg_chan_make(sizeof(uint64_t), cap);
				ctx.seen = calloc(mix_total(&ctx), sizeof(*ctx.seen));
				assert_non_null(ctx.c);
				assert_non_null(ctx.seen);
				RUN_IN_RUNTIME(procs, mix_main, &ctx);
				rg_chan_free(ctx.c);
				free(ctx.seen);
			}
		}
	}
}

/* Plain threads only, no runtime at all: blocking on both sides. */
static void *plain_pong(void *arg)
{
	rg_chan **ch = arg;
	uint64_t v;

	while (rg_chan_recv(ch[0], &v) == 1) {
		v = ~v;
		if (rg_chan_send(ch[1], &v) != 0)
			break;
	}
	return NULL;
}

static void test_plain_threads_no_runtime(void **state)
{
	struct mix_ctx ctx = { .tprod = 2, .tcons = 2 };
	rg_chan *ch[2];
	pthread_t th[4];
	uint64_t total, v;

	(void)state;
	gcheck_reset();
	/* Ping-pong over two unbuffered channels. */
	ch[0] = rg_chan_make(sizeof(uint64_t), 0);
	ch[1] = rg_chan_make(sizeof(uint64_t), 0);
	assert_non_null(ch[0]);
	assert_non_null(ch[1]);
	assert_int_equal(pthread_create(&th[0], NULL, plain_pong, ch), 0);
	for (uint64_t i = 0; i < (uint64_t)TEST_SCALE(5000, 500); i++) {
		assert_int_equal(rg_chan_send(ch[0], &i), 0);
		assert_int_equal(rg_chan_recv(ch[1], &v), 1);
		assert_true(v == ~i);
	}
	assert_int_equal(rg_chan_close(ch[0]), 0);
	pthread_join(th[0], NULL);
	rg_chan_free(ch[0]);
	rg_chan_free(ch[1]);

	/* Two producers, two consumers, conservation. */
	for (size_t cap = 0; cap <= 8; cap += 8) {
		memset(&ctx, 0, sizeof(ctx));
		ctx.tprod = 2;
		ctx.tcons = 2;
		total = mix_total(&ctx);
		ctx.c = rg_chan_make(sizeof(uint64_t), cap);
		ctx.seen = calloc(total, sizeof(*ctx.seen));
		assert_non_null(ctx.c);
		assert_non_null(ctx.seen);
		for (int i = 0; i < 2; i++)
			assert_int_equal(pthread_create(&th[i], NULL, mix_tconsumer, &ctx), 0);
		for (int i = 0; i < 2; i++) {
			ctx.args[i] = (struct mix_arg){ &ctx, i };
			assert_int_equal(
				pthread_create(&th[2 + i], NULL, mix_tproducer, &ctx.args[i]), 0);
		}
		pthread_join(th[2], NULL);
		pthread_join(th[3], NULL);
		assert_int_equal(rg_chan_close(ctx.c), 0);
		pthread_join(th[0], NULL);
		pthread_join(th[1], NULL);
		gcheck_assert_none();
		assert_int_equal(atomic_load(&ctx.count), total);
		assert_true(atomic_load(&ctx.sum) == total * (total - 1) / 2);
		for (uint64_t i = 0; i < total; i++)
			assert_int_equal(atomic_load(&ctx.seen[i]), 1);
		rg_chan_free(ctx.c);
		free(ctx.seen);
	}
}

/* --------------------------------------------------------------------- */
/* Stress: many producers and consumers, every value exactly once        */
/* --------------------------------------------------------------------- */

#define STRESS_PROD  8
#define STRESS_CONS  8
#define STRESS_PER   TEST_SCALE(10000, 600)
#define STRESS_TOTAL ((uint64_t)STRESS_PROD * STRESS_PER)

struct stress_ctx;

struct stress_arg {
	struct stress_ctx *ctx;
	int id;
};

struct stress_ctx {
	rg_chan *c;
	size_t cap;
	bool try_ops; /* odd-numbered producers/consumers use try_send/try_recv */
	atomic_uchar *seen;
	atomic_ullong count, sum;
	rg_wg prod_done, cons_done;
	struct stress_arg prod[STRESS_PROD], cons[STRESS_CONS];
};

static void stress_producer(void *arg)
{
	struct stress_arg *a = arg;
	struct stress_ctx *ctx = a->ctx;
	bool try_ops = ctx->try_ops && a->id % 2;
	int rc;

	for (uint64_t v = (uint64_t)a->id * STRESS_PER; v < (uint64_t)(a->id + 1) * STRESS_PER;
	     v++) {
		if (try_ops) {
			while ((rc = rg_chan_try_send(ctx->c, &v)) == -EAGAIN)
				rg_yield();
			GCHECK_EQ(rc, 0);
		} else {
			GCHECK_EQ(rg_chan_send(ctx->c, &v), 0);
		}
	}
	rg_wg_done(&ctx->prod_done);
}

static void stress_consumer(void *arg)
{
	struct stress_arg *a = arg;
	struct stress_ctx *ctx = a->ctx;
	bool try_ops = ctx->try_ops && a->id % 2;
	uint64_t v, sum = 0, n = 0;
	int rc;

	for (;;) {
		rc = try_ops ? rg_chan_try_recv(ctx->c, &v) : rg_chan_recv(ctx->c, &v);
		if (rc == -EAGAIN) {
			rg_yield();
			continue;
		}
		if (rc != 1)
			break;
		GCHECK(rg_chan_len(ctx->c) <= ctx->cap);
		if (v >= STRESS_TOTAL) {
			gcheck_fail("received %llu, out of range", (unsigned long long)v);
			continue;
		}
		GCHECK_EQ(atomic_fetch_add(&ctx->seen[v], 1), 0);
		sum += v;
		n++;
	}
	GCHECK_EQ(rc, 0);
	atomic_fetch_add(&ctx->sum, sum);
	atomic_fetch_add(&ctx->count, n);
	rg_wg_done(&ctx->cons_done);
}

static void stress_main(void *arg)
{
	struct stress_ctx *ctx = arg;

	ctx->c = rg_chan_make(sizeof(uint64_t), ctx->cap);
	for (int i = 0; i < STRESS_CONS; i++) {
		ctx->cons[i] = (struct stress_arg){ ctx, i };
		rg_wg_add(&ctx->cons_done, 1);
		GCHECK_EQ(rg_go(stress_consumer, &ctx->cons[i]), 0);
	}
	for (int i = 0; i < STRESS_PROD; i++) {
		ctx->prod[i] = (struct stress_arg){ ctx, i };
		rg_wg_add(&ctx->prod_done, 1);
		GCHECK_EQ(rg_go(stress_producer, &ctx->prod[i]), 0);
	}
	rg_wg_wait(&ctx->prod_done);
	GCHECK_EQ(rg_chan_close(ctx->c), 0);
	rg_wg_wait(&ctx->cons_done);

	GCHECK_EQ(atomic_load(&ctx->count), STRESS_TOTAL);
	GCHECK_EQ(atomic_load(&ctx->sum), STRESS_TOTAL * (STRESS_TOTAL - 1) / 2);
	for (uint64_t v = 0; v < STRESS_TOTAL; v++)
		if (atomic_load(&ctx->seen[v]) != 1) {
			gcheck_fail("value %llu received %d times", (unsigned long long)v,
				    atomic_load(&ctx->seen[v]));
			break;
		}
	GCHECK_EQ(rg_chan_len(ctx->c), 0);
	rg_chan_free(ctx->c);
}

static void run_stress(bool try_ops)
{
	static const int procs[] = { 1, 2, 8 };
	static const size_t caps[] = { 0, 1, 64 };

	for (size_t p = 0; p < ARRAY_SIZE(procs); p++) {
		for (size_t k = 0; k < ARRAY_SIZE(caps); k++) {
			struct stress_ctx ctx = { .cap = caps[k], .try_ops = try_ops };

			ctx.seen = calloc(STRESS_TOTAL, sizeof(*ctx.seen));
			assert_non_null(ctx.seen);
			RUN_IN_RUNTIME(procs[p], stress_main, &ctx);
			free(ctx.seen);
		}
	}
}

static void test_stress_conservation(void **state)
{
	(void)state;
	run_stress(false);
}

static void test_stress_conservation_try(void **state)
{
	(void)state;
	run_stress(true);
}

/* --------------------------------------------------------------------- */
/* Deadlock reports and fatal errors (child processes)                   */
/* --------------------------------------------------------------------- */

static void recv_block_main(void *arg)
{
	rg_chan *c = rg_chan_make(sizeof(int), 0);
	int v;

	(void)arg;
	rg_chan_recv(c, &v);
}

static void send_block_main(void *arg)
{
	rg_chan *c = rg_chan_make(sizeof(int), 0);
	int v = 1;

	(void)arg;
	rg_chan_send(c, &v);
}

static void send_full_main(void *arg)
{
	rg_chan *c = rg_chan_make(sizeof(int), 1);
	int v = 1;

	(void)arg;
	rg_chan_send(c, &v);
	rg_chan_send(c, &v);
}

static void nil_recv_main(void *arg)
{
	int v;

	(void)arg;
	rg_chan_recv(NULL, &v);
}

static void nil_send_main(void *arg)
{
	int v = 1;

	(void)arg;
	rg_chan_send(NULL, &v);
}

static rg_chan *workers_c;
static rg_wg workers_started;

static void blocked_worker(void *arg)
{
	int v;

	print_goid();
	rg_wg_done(&workers_started);
	rg_chan_recv(arg ? NULL : workers_c, &v);
}

/* Three workers blocked receiving (one on a nil channel), main sending. */
static void workers_block_main(void *arg)
{
	rg_chan *d = rg_chan_make(sizeof(int), 0);
	int v = 1;

	(void)arg;
	workers_c = rg_chan_make(sizeof(int), 0);
	rg_wg_add(&workers_started, 3);
	rg_go(blocked_worker, NULL);
	rg_go(blocked_worker, NULL);
	rg_go(blocked_worker, (void *)1);
	rg_wg_wait(&workers_started);
	rg_chan_send(d, &v);
}

static int child_recv_block(void)
{
	return run_child_main(1, recv_block_main);
}

static int child_send_block(void)
{
	return run_child_main(2, send_block_main);
}

static int child_send_full(void)
{
	return run_child_main(1, send_full_main);
}

static int child_nil_recv(void)
{
	return run_child_main(1, nil_recv_main);
}

static int child_nil_send(void)
{
	return run_child_main(2, nil_send_main);
}

static int child_workers_block(void)
{
	return run_child_main(2, workers_block_main);
}

/* Freeing a channel somebody is blocked on. */
static rg_chan *free_c;
static atomic_int free_blocked;

static void free_recv_worker(void *arg)
{
	int v;

	(void)arg;
	atomic_store(&free_blocked, 1);
	rg_chan_recv(free_c, &v);
}

static void free_send_worker(void *arg)
{
	int v = 1;

	(void)arg;
	atomic_store(&free_blocked, 1);
	rg_chan_send(free_c, &v);
}

static void (*free_worker)(void *);

static void free_blocked_main(void *arg)
{
	(void)arg;
	free_c = rg_chan_make(sizeof(int), 0);
	rg_go(free_worker, NULL);
	await_count(&free_blocked, 1);
	rg_chan_free(free_c); /* fatal */
}

static _Atomic pid_t free_tid;

static void *free_recv_thread(void *arg)
{
	int v;

	(void)arg;
	atomic_store(&free_tid, gettid());
	rg_chan_recv(free_c, &v);
	return NULL;
}

/* The scheduling state of thread @tid ('R', 'S', ...), or 0. */
static char thread_state(pid_t tid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

/* Wait until the thread sleeps (in the channel's wait: nothing else can
 * block it), for at most 10 s. */
static void await_thread_blocked(void)
{
	int64_t until = now_ns() + 10000000000LL;

	while (!atomic_load(&free_tid))
		usleep(100);
	while (thread_state(atomic_load(&free_tid)) != 'S' && now_ns() < until)
		usleep(1000);
	usleep(10000);
}

static void free_thread_main(void *arg)
{
	pthread_t th;

	(void)arg;
	free_c = rg_chan_make(sizeof(int), 0);
	if (pthread_create(&th, NULL, free_recv_thread, NULL) != 0)
		return;
	await_thread_blocked();
	rg_chan_free(free_c); /* fatal */
}

static int child_free_recv(void)
{
	free_worker = free_recv_worker;
	return run_child_main(1, free_blocked_main);
}

static int child_free_send(void)
{
	free_worker = free_send_worker;
	return run_child_main(1, free_blocked_main);
}

static int child_free_thread(void)
{
	return run_child_main(2, free_thread_main);
}

/* No runtime: a thread blocked, the main thread frees. */
static int child_free_plain(void)
{
	pthread_t th;

	free_c = rg_chan_make(sizeof(int), 0);
	if (pthread_create(&th, NULL, free_recv_thread, NULL) != 0)
		return 98;
	await_thread_blocked();
	rg_chan_free(free_c); /* fatal */
	return 0;
}

/* --------------------------------------------------------------------- */
/* A freed channel used again                                            */
/* --------------------------------------------------------------------- */

static const char *uaf_op; /* which call the child makes after the free */

static void uaf_main(void *arg)
{
	rg_chan *c = rg_chan_make(sizeof(int), 1);
	int v = 1;

	(void)arg;
	print_goid();
	rg_chan_free(c);
	if (!strcmp(uaf_op, "free"))
		rg_chan_free(c);
	else if (!strcmp(uaf_op, "try_recv"))
		rg_chan_try_recv(c, &v);
	else if (!strcmp(uaf_op, "send"))
		rg_chan_send(c, &v);
	else if (!strcmp(uaf_op, "close"))
		rg_chan_close(c);
	else if (!strcmp(uaf_op, "len"))
		(void)rg_chan_len(c);
	fprintf(stderr, "TEST-SURVIVED\n");
}

static int child_uaf(void)
{
	uaf_op = getenv("RG_TEST_UAF_OP");
	if (!uaf_op)
		return 98;
	return run_child_main(1, uaf_main);
}

static const struct child_case child_cases[] = {
	{ "recv_block", child_recv_block },
	{ "send_block", child_send_block },
	{ "send_full", child_send_full },
	{ "nil_recv", child_nil_recv },
	{ "nil_send", child_nil_send },
	{ "workers_block", child_workers_block },
	{ "free_recv", child_free_recv },
	{ "free_send", child_free_send },
	{ "free_thread", child_free_thread },
	{ "free_plain", child_free_plain },
	{ "uaf", child_uaf },
};

static void test_deadlock_reports(void **state)
{
	(void)state;
	expect_deadlock("recv_block", "goroutine 1 [chan receive]:");
	expect_deadlock("send_block", "goroutine 1 [chan send]:");
	expect_deadlock("send_full", "goroutine 1 [chan send]:");
}

static void test_deadlock_nil_chan(void **state)
{
	(void)state;
	expect_deadlock("nil_recv", "goroutine 1 [chan receive (nil chan)]:");
	expect_deadlock("nil_send", "goroutine 1 [chan send (nil chan)]:");
}

/* Every blocked goroutine is listed with its own reason. */
static void test_deadlock_workers(void **state)
{
	const char *name = "workers_block";
	unsigned long long ids[3];
	struct child_result r;
	int n = 0, nil = 0, plain = 0;

	(void)state;
	run_child_case(name, NULL, &r);
	assert_child_exit(name, &r, 2);
	assert_child_stderr_has(name, &r, DEADLOCK_MSG);
	assert_child_stderr_has(name, &r, "goroutine 1 [chan send]:");
	for (const char *p = r.err; n < 3 && (p = strstr(p, "TEST-GOID ")); p++)
		ids[n++] = strtoull(p + 10, NULL, 10);
	if (n != 3) {
		child_dump(name, &r);
		fail_msg("child '%s' printed %d goroutine ids, expected 3", name, n);
	}
	for (int i = 0; i < 3; i++) {
		char line[96];

		/* "[reason]:", or "[reason, N seconds]:" after a long wait. */
		snprintf(line, sizeof(line), "goroutine %llu [chan receive]:", ids[i]);
		plain += strstr(r.err, line) != NULL;
		snprintf(line, sizeof(line), "goroutine %llu [chan receive, ", ids[i]);
		plain += strstr(r.err, line) != NULL;
		snprintf(line, sizeof(line), "goroutine %llu [chan receive (nil chan)]:", ids[i]);
		nil += strstr(r.err, line) != NULL;
		snprintf(line, sizeof(line), "goroutine %llu [chan receive (nil chan), ", ids[i]);
		nil += strstr(r.err, line) != NULL;
	}
	if (plain != 2 || nil != 1) {
		child_dump(name, &r);
		fail_msg("child '%s': %d \"chan receive\" and %d \"(nil chan)\" workers, "
			 "expected 2 and 1",
			 name, plain, nil);
	}
	child_result_free(&r);
}

static void test_free_blocked_fatal(void **state)
{
	static const char *const names[] = { "free_recv", "free_send", "free_thread",
					     "free_plain" };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		struct child_result r;

		run_child_case(names[i], NULL, &r);
		assert_child_exit(names[i], &r, 2);
		assert_child_stderr_has(names[i], &r, "fatal error");
		assert_child_stderr_has(names[i], &r, "rg_chan_free");
		assert_child_stderr_lacks(names[i], &r, DEADLOCK_MSG);
		child_result_free(&r);
	}
}

/* A second rg_chan_free, or any call on a freed channel, locked freed
 * memory and hung; it is a fatal error naming the call.  (Under ASan, and
 * clang's TSan, the sanitizer reports the use after free itself.) */
static void check_uaf(const char *op, const char *call)
{
	char env0[64];
	const char *env[] = { env0, NULL };
	struct child_result r;

	snprintf(env0, sizeof(env0), "RG_TEST_UAF_OP=%s", op);
	run_child_case("uaf", env, &r);
	if (r.timed_out || (r.exited && r.exit_code == 0)) {
		child_dump("uaf", &r);
		fail_msg("%s on a freed channel: the child %s", call,
			 r.timed_out ? "hung" : "went on");
	}
	if (!RG_TEST_SANITIZED) { /* the sanitizers may see the use after free first */
		assert_child_exit("uaf", &r, 2);
		assert_child_stderr_has("uaf", &r, "fatal error: ");
		assert_child_stderr_has("uaf", &r, call);
		assert_child_stderr_has("uaf", &r, "was freed");
		assert_child_stderr_lacks("uaf", &r, "TEST-SURVIVED");
	}
	child_result_free(&r);
}

static void test_chan_double_free_fatal(void **state)
{
	(void)state;
	check_uaf("free", "rg_chan_free");
}

static void test_chan_use_after_free_fatal(void **state)
{
	(void)state;
	check_uaf("try_recv", "rg_chan_try_recv");
	check_uaf("send", "rg_chan_send");
	check_uaf("close", "rg_chan_close");
	check_uaf("len", "rg_chan_len");
}

int main(int argc, char **argv)
{
	int rc = child_dispatch(argc, argv, child_cases, ARRAY_SIZE(child_cases));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_make),
		cmocka_unit_test(test_buffered_plain),
		cmocka_unit_test(test_unbuffered_plain),
		cmocka_unit_test(test_zero_size_plain),
		cmocka_unit_test(test_nil_nonblocking),
		cmocka_unit_test(test_send_waits_for_receiver),
		cmocka_unit_test(test_unbuffered_pingpong),
		cmocka_unit_test(test_buffer_fifo),
		cmocka_unit_test(test_waiters_fifo),
		cmocka_unit_test(test_big_elements),
		cmocka_unit_test(test_zero_size_signals),
		cmocka_unit_test(test_close_wakes_waiters),
		cmocka_unit_test(test_free_skynet),
		cmocka_unit_test(test_free_after_fan_in),
		cmocka_unit_test(test_free_after_close),
		cmocka_unit_test(test_free_after_thread_handoff),
		cmocka_unit_test(test_threads_and_goroutines),
		cmocka_unit_test(test_plain_threads_no_runtime),
		cmocka_unit_test(test_stress_conservation),
		cmocka_unit_test(test_stress_conservation_try),
		cmocka_unit_test(test_deadlock_reports),
		cmocka_unit_test(test_deadlock_nil_chan),
		cmocka_unit_test(test_deadlock_workers),
		cmocka_unit_test(test_free_blocked_fatal),
		cmocka_unit_test(test_chan_double_free_fatal),
		cmocka_unit_test(test_chan_use_after_free_fatal),
	};

	if (rc >= 0)
		return rc;
	test_watchdog(180);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
