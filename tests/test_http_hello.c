/* SPDX-License-Identifier: MIT */
/*
 * test_http_hello.c - the example HTTP server, examples/http_hello, driven
 * by curl, ab and raw sockets.
 *
 * The server is the built example (../examples/http_hello relative to this
 * binary; the Makefile builds the examples before the tests), started as a
 * child on port 0 with its stdout on a pipe: its first line names the port.
 * Each group of tests runs against one server, and the groups cover both
 * netpoll backends: one server with RINGO_NETPOLL unset (io_uring where it
 * works) and one with RINGO_NETPOLL=epoll; when RINGO_NETPOLL is set in
 * this process's environment, only a server with that backend is run.
 * After a group the server is sent SIGTERM and must exit with status 0 (a
 * sanitizer report makes it exit otherwise).
 *
 * What is checked:
 *  - curl: GET over HTTP/1.1 and HTTP/1.0, HEAD (curl -I), /metrics
 *    (the runtime's metrics), POST with a body (405 with "Allow: GET,
 *    HEAD"), and which connections are reused
 *    (curl's num_connects): HTTP/1.1 keeps the connection, HTTP/1.0 closes
 *    it unless the request asks for keep-alive.
 *  - ab: 2000 requests on 10 connections, each request on its own
 *    connection (ab speaks HTTP/1.0 and waits for the close) and with -k
 *    (keep-alive); all must complete, none fail.
 *  - raw sockets, comparing the bytes received with the exact answers:
 *    pipelined requests answered in order, bodies (Content-Length) split
 *    across writes and longer than the server's buffer dropped, HTTP/1.0
 *    closing and keep-alive, "Connection: close" and token lists, empty
 *    lines before a request, malformed requests (400 and a close, 505,
 *    501, 413), garbage that never ends a head (400 at once), and a 100 KB
 *    header line (431 and a close).  After each test a fresh connection
 *    must still be answered.
 *  - the idle timeout, on a second server started with IDLE_S 1: a
 *    connection that sends nothing is closed, one that stopped within a
 *    request head gets 408 and a close, one that was answered and then
 *    said nothing is closed; none before the second has passed.
 *
 * Exit status 77 (skipped) when curl or ab is not installed.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "tests/helpers.h"

#define SERVER_REL "../examples/http_hello"

/* Seconds a client waits for the server before the test fails. */
#define IO_TIMEOUT_S (RG_TEST_SANITIZED ? 30 : 10)

#define OK_HEAD                                       \
	"HTTP/1.1 200 OK\r\n"                         \
	"Content-Type: text/plain; charset=utf-8\r\n" \
	"Content-Length: 13\r\n"
#define HELLO	 "Hello, World!"
#define OK	 OK_HEAD "\r\n" HELLO
#define OK_CLOSE OK_HEAD "Connection: close\r\n\r\n" HELLO
#define OK_KEEP	 OK_HEAD "Connection: keep-alive\r\n\r\n" HELLO
#define HEAD_OK	 OK_HEAD "\r\n"
#define NOT_ALLOWED \
	"HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\nContent-Length: 0\r\n\r\n"
#define ERROR(status) "HTTP/1.1 " status "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
#define BAD_REQUEST   ERROR("400 Bad Request")

#define GET11 "GET / HTTP/1.1\r\nHost: test\r\n\r\n"
#define GET10 "GET / HTTP/1.0\r\n\r\n"

static char server_path[PATH_MAX];
static bool stop_failed; /* a server did not exit cleanly (cmocka only prints it) */

/* The server of the group running now. */
static struct {
	pid_t pid;
	int port;
	int out_fd; /* its stdout */
	char url[64];
} srv;

/* --------------------------------------------------------------------- */
/* Programs                                                              */
/* --------------------------------------------------------------------- */

/* Run a tool that must succeed; its output in out[cap]. */
#define run_ok(out, ...)                                                                          \
	do {                                                                                      \
		char *argv_[] = { __VA_ARGS__, NULL };                                            \
		int rc_ = tool_run(argv_, -1, (out), sizeof(out), IO_TIMEOUT_S * 3);              \
		if (rc_ != 0)                                                                     \
			fail_msg("%s failed (status %d); its output:\n%s", argv_[0], rc_, (out)); \
	} while (0)

/* --------------------------------------------------------------------- */
/* The server                                                            */
/* --------------------------------------------------------------------- */

/* Start the server with RINGO_NETPOLL=@netpoll (NULL: as this process has
 * it) and read its port.  (group set-up) */
static int server_start(const char *netpoll)
{
	struct example ex;

	if (example_start(&ex, server_path, netpoll) < 0)
		return -1;
	srv.pid = ex.pid;
	srv.port = ex.port;
	srv.out_fd = ex.out_fd;
	snprintf(srv.url, sizeof(srv.url), "http://127.0.0.1:%d/", srv.port);
	return 0;
}

/* A server with this process's RINGO_NETPOLL, if any (io_uring where it
 * works, when it has none). */
static int setup_inherited(void **state)
{
	(void)state;
	return server_start(NULL);
}

static int setup_epoll(void **state)
{
	(void)state;
	return server_start("epoll");
}

/* SIGTERM: the server must exit with status 0 within CHILD_TIMEOUT_S. */
static int server_stop(void **state)
{
	struct example ex = { .pid = srv.pid, .port = srv.port, .out_fd = srv.out_fd };

	(void)state;
	if (example_stop(&ex, CHILD_TIMEOUT_S, NULL, 0) < 0) {
		stop_failed = true;
		return -1;
	}
	return 0;
}

/* --------------------------------------------------------------------- */
/* Raw connections                                                       */
/* --------------------------------------------------------------------- */

/* A connection to the server, whose reads and writes fail after
 * IO_TIMEOUT_S. */
static int dial(void)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(srv.port) };
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		fail_msg("connect to port %d: %s", srv.port, strerror(errno));
	return fd;
}

/* Read exactly the bytes of want and compare them. */
static void expect_bytes(int fd, const char *want)
{
	size_t len = strlen(want), got = 0;
	char *buf = malloc(len + 1);

	assert_non_null(buf);
	while (got < len) {
		ssize_t n = recv(fd, buf + got, len - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			buf[got] = '\0';
			fail_msg("after %zu of %zu bytes: %s; received:\n%s\nexpected:\n%s", got,
				 len, n ? strerror(errno) : "end of stream", buf, want);
		}
		got += (size_t)n;
	}
	buf[len] = '\0';
	if (memcmp(buf, want, len) != 0)
		fail_msg("received:\n%s\nexpected:\n%s", buf, want);
	free(buf);
}

/* Read exactly want, then the end of the stream; close fd. */
static void expect_bytes_then_close(int fd, const char *want)
{
	char extra[256];
	ssize_t n;

	expect_bytes(fd, want);
	while ((n = recv(fd, extra, sizeof(extra) - 1, 0)) < 0 && errno == EINTR)
		;
	if (n > 0) {
		extra[n] = '\0';
		fail_msg("more than expected after the answer:\n%s", extra);
	}
	if (n < 0)
		fail_msg("no end of stream after the answer: %s", strerror(errno));
	close(fd);
}

/* The server answers a new connection (after what a test did to it). */
static void expect_alive(void)
{
	int fd = dial();

	send_str(fd, "GET /alive HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
	expect_bytes_then_close(fd, OK_CLOSE);
}

/* A request on a new connection; the answer must be want and a close. */
static void exchange_closed(const char *req, size_t len, const char *want)
{
	int fd = dial();

	send_bytes(fd, req, len);
	expect_bytes_then_close(fd, want);
}

/* --------------------------------------------------------------------- */
/* curl and ab                                                           */
/* --------------------------------------------------------------------- */

static void test_curl_get(void **state)
{
	char out[8192];

	(void)state;
	run_ok(out, "curl", "-sS", "-i", "--noproxy", "*", "--max-time", "20", srv.url);
	assert_has(out, "HTTP/1.1 200 OK\r\n");
	assert_has(out, "Content-Length: 13\r\n");
	assert_has(out, "Content-Type: text/plain; charset=utf-8\r\n");
	assert_has(out, "\r\n\r\n" HELLO);
	assert_lacks(out, "Connection:");
}

static void test_curl_head(void **state)
{
	char out[8192];

	(void)state;
	run_ok(out, "curl", "-sS", "-I", "--noproxy", "*", "--max-time", "20", srv.url);
	assert_has(out, "HTTP/1.1 200 OK\r\n");
	assert_has(out, "Content-Length: 13\r\n");
	assert_lacks(out, HELLO);
}

/* /metrics: the runtime's metrics in Prometheus's text format, twice over
 * one connection, HEAD without the body. */
static void test_curl_metrics(void **state)
{
	char url[96], out[65536];

	(void)state;
	snprintf(url, sizeof(url), "%smetrics", srv.url);
	run_ok(out, "curl", "-sS", "-i", "--noproxy", "*", "--max-time", "20", url, url);
	assert_has(out, "HTTP/1.1 200 OK\r\n");
	assert_has(out, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n");
	assert_has(out, "# TYPE ringo_goroutines gauge\n");
	assert_has(out, "ringo_io_requests_total{op=\"accept\",result=\"ok\"}");
	assert_has(out, "ringo_park_seconds_count{reason=\"io\"}");
	assert_true(strstr(strstr(out, "ringo_goroutines gauge") + 1, "ringo_goroutines gauge"));
	run_ok(out, "curl", "-sS", "-I", "--noproxy", "*", "--max-time", "20", url);
	assert_has(out, "HTTP/1.1 200 OK\r\n");
	assert_lacks(out, "ringo_goroutines");
}

static void test_curl_http10(void **state)
{
	char out[8192];

	(void)state;
	run_ok(out, "curl", "-sS", "-i", "--http1.0", "--noproxy", "*", "--max-time", "20",
	       srv.url);
	assert_has(out, "HTTP/1.1 200 OK\r\n");
	assert_has(out, "Connection: close\r\n");
	assert_has(out, "\r\n\r\n" HELLO);
}

static void test_curl_post(void **state)
{
	char out[8192];

	(void)state;
	run_ok(out, "curl", "-sS", "-i", "--noproxy", "*", "--max-time", "20", "-d",
	       "name=value&other=thing", srv.url);
	assert_has(out, "HTTP/1.1 405 Method Not Allowed\r\n");
	assert_has(out, "Allow: GET, HEAD\r\n");
	assert_lacks(out, HELLO);
}

/* curl's num_connects for two requests: "1 0" when the second reused the
 * first one's connection, "1 1" when the server had closed it. */
static void test_curl_reuse(void **state)
{
	char out[8192];

	(void)state;
	run_ok(out, "curl", "-sS", "--noproxy", "*", "--max-time", "20", "-o", "/dev/null", "-o",
	       "/dev/null", "-w", "%{num_connects} ", srv.url, srv.url);
	assert_string_equal(out, "1 0 ");
	run_ok(out, "curl", "-sS", "--http1.0", "--noproxy", "*", "--max-time", "20", "-o",
	       "/dev/null", "-o", "/dev/null", "-w", "%{num_connects} ", srv.url, srv.url);
	assert_string_equal(out, "1 1 ");
	run_ok(out, "curl", "-sS", "--http1.0", "-H", "Connection: keep-alive", "--noproxy", "*",
	       "--max-time", "20", "-o", "/dev/null", "-o", "/dev/null", "-w", "%{num_connects} ",
	       srv.url, srv.url);
	assert_string_equal(out, "1 0 ");
}

static void check_ab(const char *out)
{
	assert_has(out, "Complete requests:      2000\n");
	assert_has(out, "Failed requests:        0\n");
	assert_lacks(out, "Non-2xx responses");
}

static void test_ab(void **state)
{
	char out[16384];

	(void)state;
	run_ok(out, "ab", "-q", "-s", "20", "-n", "2000", "-c", "10", srv.url);
	check_ab(out);
	assert_lacks(out, "Keep-Alive requests");
}

static void test_ab_keepalive(void **state)
{
	char out[16384];

	(void)state;
	run_ok(out, "ab", "-q", "-k", "-s", "20", "-n", "2000", "-c", "10", srv.url);
	check_ab(out);
	assert_has(out, "Keep-Alive requests:    2000\n");
}

/* --------------------------------------------------------------------- */
/* Raw sockets                                                           */
/* --------------------------------------------------------------------- */

/* Several requests in one write are answered in order; a HEAD has no body;
 * the connection stays open between them. */
static void test_pipelined(void **state)
{
	int fd = dial();

	(void)state;
	send_str(fd, GET11 GET11 "HEAD / HTTP/1.1\r\nHost: test\r\n\r\n" GET11
				 "PUT /x HTTP/1.1\r\nHost: test\r\n\r\n" GET11);
	expect_bytes(fd, OK OK HEAD_OK OK NOT_ALLOWED OK);
	/* Many small ones at once: more answers than one write of the server. */
	for (int i = 0; i < 300; i++)
		send_str(fd, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	for (int i = 0; i < 300; i++)
		expect_bytes(fd, OK_KEEP);
	send_str(fd, GET11 "GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n" GET11);
	expect_bytes_then_close(fd, OK OK_CLOSE);
	expect_alive();
}

/* A request arriving a few bytes at a time. */
static void test_request_in_pieces(void **state)
{
	const char *req = "GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
	int fd = dial();

	(void)state;
	for (size_t off = 0, len = strlen(req); off < len; off += 3) {
		send_bytes(fd, req + off, len - off < 3 ? len - off : 3);
		usleep(1000);
	}
	expect_bytes_then_close(fd, OK_CLOSE);
	expect_alive();
}

/* Bodies announced by Content-Length are dropped, whether they come with
 * the head, after it in pieces, or longer than the server's buffer. */
static void test_bodies(void **state)
{
	static char big[50000];
	int fd = dial();

	(void)state;
	send_str(fd, "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\nhello");
	usleep(20000);
	send_str(fd, "wor");
	usleep(20000);
	send_str(fd, "ld" GET11 "GET / HTTP/1.1\r\nHost: test\r\ncontent-length: 5\r\n\r\nGET /");
	expect_bytes(fd, NOT_ALLOWED OK OK);

	memset(big, 'x', sizeof(big));
	send_str(fd, "PUT / HTTP/1.1\r\nHost: test\r\nContent-Length: 50000\r\n\r\n");
	for (size_t off = 0; off < sizeof(big); off += 7000) {
		send_bytes(fd, big + off, sizeof(big) - off < 7000 ? sizeof(big) - off : 7000);
		usleep(2000);
	}
	send_str(fd, "GET / HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n");
	expect_bytes(fd, NOT_ALLOWED OK);

	/* HTTP/1.0 with a body: answered, then closed once the body is read. */
	send_str(fd, "GET / HTTP/1.0\r\nContent-Length: 4\r\n\r\nab");
	usleep(20000);
	send_str(fd, "cd");
	expect_bytes_then_close(fd, OK_CLOSE);
	expect_alive();
}

/* HTTP/1.0 closes after the answer unless the request asks for keep-alive;
 * HTTP/1.1 keeps the connection unless the request asks to close it. */
static void test_keep_alive(void **state)
{
	int fd;

	(void)state;
	exchange_closed(GET10, strlen(GET10), OK_CLOSE);
	/* Requests after the one that closes are not answered. */
	exchange_closed(GET10 GET10, strlen(GET10 GET10), OK_CLOSE);
	exchange_closed("GET / HTTP/1.0\r\nConnection: Upgrade\r\n\r\n" GET10,
			strlen("GET / HTTP/1.0\r\nConnection: Upgrade\r\n\r\n" GET10), OK_CLOSE);

	fd = dial();
	send_str(fd, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
	expect_bytes(fd, OK_KEEP);
	send_str(fd, "GET / HTTP/1.0\r\nCONNECTION: upgrade ,\tkeep-alive \r\n\r\n");
	expect_bytes(fd, OK_KEEP);
	send_str(fd, "HEAD / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n");
	expect_bytes(fd, OK_HEAD "Connection: keep-alive\r\n\r\n");
	send_str(fd, "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n");
	expect_bytes_then_close(fd, OK_CLOSE);

	fd = dial();
	send_str(fd, "GET / HTTP/1.1\r\nHost: test\r\nConnection: keep-alive, Upgrade\r\n\r\n");
	expect_bytes(fd, OK);
	send_str(fd, "\r\n" GET11); /* an empty line before a request is ignored */
	expect_bytes(fd, OK);
	send_str(fd, "GET / HTTP/1.1\r\nconnection: Upgrade, CLOSE\r\nHost: test\r\n\r\n" GET11);
	expect_bytes_then_close(fd, OK_CLOSE);

	fd = dial();
	send_str(fd, "HEAD / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
	expect_bytes_then_close(fd, OK_HEAD "Connection: close\r\n\r\n");
	expect_alive();
}

/* Malformed requests: 400 and a close.  Each is also sent after a good
 * request on the same connection, which is answered first. */
static void test_malformed(void **state)
{
	static const char *const bad[] = {
		"GET /\r\n\r\n",					   /* no version */
		"GET\r\n\r\n",						   /* no target */
		"GET / HTTP/1.1 x\r\nHost: test\r\n\r\n",		   /* a third space */
		"GET  / HTTP/1.1\r\nHost: test\r\n\r\n",		   /* an empty target */
		"G(T / HTTP/1.1\r\nHost: test\r\n\r\n",			   /* a bad method */
		"GET / HTTP/1\r\nHost: test\r\n\r\n",			   /* a bad version */
		"GET / http/1.1\r\nHost: test\r\n\r\n",			   /* a bad version */
		"GET / HTTP/1.1\r\nHost: test\r\nNoColonHere\r\n\r\n",	   /* no colon */
		"GET / HTTP/1.1\r\nHost : test\r\n\r\n",		   /* space before colon */
		"GET / HTTP/1.1\r\n: test\r\nHost: test\r\n\r\n",	   /* no name */
		"GET / HTTP/1.1\r\nHost: test\r\nX: a\r\n folded\r\n\r\n", /* obs-fold */
		"GET / HTTP/1.1\r\nHost: test\r\nX: a\x01z\r\n\r\n",	   /* a control char */
		"GET / HTTP/1.1\r\nHost: test\r\nX: a\rz\r\n\r\n",	   /* a lone CR */
		"GET / HTTP/1.1\r\n\r\n",				   /* no Host */
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",		   /* two Hosts */
		"GET / HTTP/1.1\r\nHost: test\r\nContent-Length: -1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: test\r\nContent-Length: abc\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: test\r\nContent-Length: 1 2\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: test\r\nContent-Length:\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: test\r\nContent-Length: 0x10\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: test\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"hello world\r\n\r\n",
		/* Never a complete head: noticed as the bytes arrive. */
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", /* a TLS hello */
		"hello\r\n",
		"GET / HTTP/1.1\nHost: test\n\n", /* bare line feeds */
		"GET / HTTP/1.1\r\nHost: te\0st\r\n",
	};
	static const size_t bad_len[ARRAY_SIZE(bad)] = {
		[ARRAY_SIZE(bad) - 1] = sizeof("GET / HTTP/1.1\r\nHost: te\0st\r\n") - 1,
	};
	char req[512];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		size_t len = bad_len[i] ? bad_len[i] : strlen(bad[i]);

		print_message("bad request %zu\n", i);
		exchange_closed(bad[i], len, BAD_REQUEST);
		memcpy(req, GET11, strlen(GET11));
		memcpy(req + strlen(GET11), bad[i], len);
		exchange_closed(req, strlen(GET11) + len, OK BAD_REQUEST);
	}
	expect_alive();
}

/* Requests this server does not serve: another major version (505),
 * chunked bodies (501), bodies over its limit (413); each closes. */
static void test_unsupported(void **state)
{
	static const char *const reqs[][2] = {
		{ "GET / HTTP/2.0\r\nHost: test\r\n\r\n", ERROR("505 HTTP Version Not Supported") },
		{ "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", ERROR("505 HTTP Version Not Supported") },
		{ "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
		  "5\r\nhello\r\n0\r\n\r\n",
		  ERROR("501 Not Implemented") },
		{ "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 99999999999999999999999\r\n\r\n",
		  ERROR("413 Content Too Large") },
		{ "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 1000000000\r\n\r\n",
		  ERROR("413 Content Too Large") },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(reqs); i++)
		exchange_closed(reqs[i][0], strlen(reqs[i][0]), reqs[i][1]);
	expect_alive();
}

/* A 100 KB header line: 431 (the head does not fit the server's buffer)
 * and a close, without waiting for the rest of the line. */
static void test_huge_header(void **state)
{
	static char line[100 * 1024];
	char head[16];
	int fd;

	(void)state;
	memset(line, 'a', sizeof(line));

	/* The whole line, then the end of the head. */
	fd = dial();
	send_str(fd, "GET / HTTP/1.1\r\nHost: test\r\nX-Big: ");
	send_bytes(fd, line, sizeof(line));
	send_str(fd, "\r\n\r\n");
	expect_bytes_then_close(fd, ERROR("431 Request Header Fields Too Large"));

	/* Only the start of the line: the server answers when its buffer is full. */
	fd = dial();
	send_str(fd, GET11 "GET / HTTP/1.1\r\nX-Big: ");
	send_bytes(fd, line, 16384);
	expect_bytes(fd, OK);
	expect_bytes(fd, ERROR("431 Request Header Fields Too Large"));
	assert_int_equal(recv(fd, head, sizeof(head), 0), 0);
	close(fd);
	expect_alive();
}

/* Many connections at once, some left open while others come and go. */
static void test_idle_connections(void **state)
{
	int fds[50];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
		fds[i] = dial();
		send_str(fds[i], GET11);
	}
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		expect_bytes(fds[i], OK);
	expect_alive();
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		close(fds[i]);
	expect_alive();
}

/* SIGTERM to a server holding connections, idle and with half a request:
 * it closes every one (each client reads the end of the stream) and exits
 * with status 0.  A second server, so the group's stays up. */
static void test_stop_with_connections(void **state)
{
	struct example ex;
	int fds[11], port = srv.port;
	char c;

	(void)state;
	assert_int_equal(example_start(&ex, server_path, getenv("RINGO_NETPOLL")), 0);
	srv.port = ex.port; /* dial() the second server */
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
		fds[i] = dial();
		send_str(fds[i], i ? GET11 : "GET / HTTP/1.1\r\nHost: x\r\n");
	}
	for (size_t i = 1; i < ARRAY_SIZE(fds); i++)
		expect_bytes(fds[i], OK);
	srv.port = port;
	if (example_stop(&ex, CHILD_TIMEOUT_S, NULL, 0) < 0)
		fail_msg("the server did not stop cleanly on SIGTERM with connections open");
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
		assert_int_equal(recv(fds[i], &c, 1, 0), 0);
		close(fds[i]);
	}
	expect_alive();
}

/* A second server with an idle timeout of 1 s. */
static void test_idle_timeout(void **state)
{
	struct example ex;
	int fds[3], port = srv.port;
	int64_t t0;
	char c;

	(void)state;
	assert_int_equal(example_start_args(&ex, server_path, getenv("RINGO_NETPOLL"), "0", "1"),
			 0);
	srv.port = ex.port;
	t0 = now_ns();
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		fds[i] = dial();
	send_str(fds[1], "GET / HTTP/1.1\r\nHost: x\r\n");
	send_str(fds[2], GET11);
	expect_bytes(fds[2], OK);
	/* Silent: the end of the stream, after the second. */
	assert_int_equal(recv(fds[0], &c, 1, 0), 0);
	assert_true(now_ns() - t0 >= 1000000000LL);
	/* Half a head: 408 first. */
	expect_bytes(fds[1], ERROR("408 Request Timeout"));
	assert_int_equal(recv(fds[1], &c, 1, 0), 0);
	/* Answered, then silent. */
	assert_int_equal(recv(fds[2], &c, 1, 0), 0);
	expect_alive();
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		close(fds[i]);
	srv.port = port;
	if (example_stop(&ex, CHILD_TIMEOUT_S, NULL, 0) < 0)
		fail_msg("the server with an idle timeout did not stop cleanly on SIGTERM");
	expect_alive();
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_curl_get),
		cmocka_unit_test(test_curl_head),
		cmocka_unit_test(test_curl_metrics),
		cmocka_unit_test(test_curl_http10),
		cmocka_unit_test(test_curl_post),
		cmocka_unit_test(test_curl_reuse),
		cmocka_unit_test(test_ab),
		cmocka_unit_test(test_ab_keepalive),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_request_in_pieces),
		cmocka_unit_test(test_bodies),
		cmocka_unit_test(test_keep_alive),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_unsupported),
		cmocka_unit_test(test_huge_header),
		cmocka_unit_test(test_idle_connections),
		cmocka_unit_test(test_stop_with_connections),
		cmocka_unit_test(test_idle_timeout),
	};
	int rc;

	(void)argc;
	(void)argv;
	if (!tool_in_path("curl") || !tool_in_path("ab")) {
		fprintf(stderr, "test_http_hello: curl and ab are needed "
				"(apt-get install curl apache2-utils)\n");
		return 77;
	}
	if (example_path(server_path, sizeof(server_path), SERVER_REL) < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	test_watchdog(50);

	if (getenv("RINGO_NETPOLL")) {
		rc = cmocka_run_group_tests_name(getenv("RINGO_NETPOLL"), tests, setup_inherited,
						 server_stop);
	} else {
		rc = cmocka_run_group_tests_name("default backend", tests, setup_inherited,
						 server_stop);
		rc |= cmocka_run_group_tests_name("epoll", tests, setup_epoll, server_stop);
	}
	return rc || stop_failed ? 1 : 0;
}
