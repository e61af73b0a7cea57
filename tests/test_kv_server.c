/* SPDX-License-Identifier: MIT */
/*
 * test_kv_server.c - the example Redis-protocol server, examples/kv_server,
 * driven by redis-cli, redis-benchmark and raw sockets.
 *
 * The server is the built example (../examples/kv_server relative to this
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
 *  - redis-cli: PING, SET/GET, INCR, DEL, EXISTS, DBSIZE, FLUSHALL, an
 *    unknown command, several commands on its standard input (it asks
 *    COMMAND DOCS first); `redis-cli --pipe` with 10,000 SETs, after which
 *    DBSIZE says 10000; redis-benchmark runs (GET and SET, pipelined or
 *    not) that end without an error or a warning.
 *  - raw sockets, comparing the bytes received with the exact replies
 *    Redis 7 gives: inline commands and their quoting, pipelines sent in
 *    one write or a few bytes at a time, error texts (unknown command,
 *    arity, syntax, integers), SET's NX/XX/EX/PX/KEEPTTL, CONFIG GET,
 *    QUIT; binary values of 100 KB and 2 MB, in pieces.
 *  - malformed input, each case on its own connection: an error reply
 *    ("-ERR Protocol error: ...") and the end of the stream, or for a
 *    command that never completes, nothing; never a crash: a fresh
 *    connection is answered after each.  Bulk lengths -5, 2^40, over
 *    512 MiB, multibulk counts 2^40 and 2^31, non-numbers, 100 KB lines
 *    without a line end, unbalanced quotes.  Commands that announce 512 MiB
 *    or 10^9 arguments and send a little: the server's peak RSS (VmHWM of
 *    /proc/PID/status, reset through clear_refs) grows by less than 64 MB
 *    over all the cases.
 *  - 5,000 idle connections open at once (1,000 under TSan; RLIMIT_NOFILE
 *    raised to its hard limit here, the server raises its own): each
 *    answered PING, and the server still answers a new one.
 *  - SIGTERM to a second server holding idle connections, an incomplete
 *    command and a client that does not read its replies (the server is
 *    blocked sending): exit status 0 within STOP_TIMEOUT_S, and its last
 *    line says how many connections it closed.
 *
 * Exit status 77 (skipped) when redis-cli or redis-benchmark is not
 * installed.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "tests/helpers.h"

#define SERVER_REL "../examples/kv_server"

/* Seconds a client waits for the server before the test fails. */
#define IO_TIMEOUT_S (RG_TEST_SANITIZED ? 30 : 10)
/* Seconds the server may take to exit after SIGTERM. */
#define STOP_TIMEOUT_S (RG_TEST_SANITIZED ? 20 : 5)
/* Idle connections held open at once.  Under TSan each of the server's
 * goroutines is a TSan fiber, about 1 MB of memory and milliseconds to
 * make: 1,000 of them keep the test well inside its time limit. */
#define IDLE_CONNS (RG_TEST_TSAN ? 1000 : 5000)
/* How much the server's peak RSS may grow over the malformed cases. */
#define RSS_GROWTH_KB (64 * 1024)

#define PONG	   "+PONG\r\n"
#define OK	   "+OK\r\n"
#define NIL	   "$-1\r\n"
#define PROTO(msg) "-ERR Protocol error: " msg "\r\n"

static char server_path[PATH_MAX];
static bool stop_failed; /* a server did not exit cleanly (cmocka only prints it) */

struct server {
	pid_t pid;
	int port;
	int out_fd; /* its stdout */
	char port_str[8];
	const char *netpoll; /* RINGO_NETPOLL it was started with; NULL: inherited */
};

/* The server of the group running now. */
static struct server srv;

/* --------------------------------------------------------------------- */
/* Programs                                                              */
/* --------------------------------------------------------------------- */

/* Run redis-cli against the group's server with the given arguments and
 * standard input (-1: none); it must succeed.  Its output in out. */
#define cli_in(out, stdin_fd, ...)                                                             \
	do {                                                                                   \
		char *argv_[] = { "redis-cli",	"-h",	     "127.0.0.1", "-p",                \
				  srv.port_str, __VA_ARGS__, NULL };                           \
		int rc_ = tool_run(argv_, (stdin_fd), (out), sizeof(out), IO_TIMEOUT_S * 3);   \
		if (rc_ != 0)                                                                  \
			fail_msg("redis-cli failed (status %d); its output:\n%s", rc_, (out)); \
	} while (0)

#define cli(out, ...) cli_in(out, -1, __VA_ARGS__)

/* redis-cli ARGS must print exactly want. */
#define cli_expect(want, ...)                                                                   \
	do {                                                                                    \
		char out_[4096];                                                                \
		cli(out_, __VA_ARGS__);                                                         \
		if (strcmp(out_, (want)) != 0)                                                  \
			fail_msg("redis-cli %s printed \"%s\", not \"%s\"", #__VA_ARGS__, out_, \
				 (want));                                                       \
	} while (0)

/* An unlinked temporary file holding len bytes of data, at offset 0. */
static int temp_file(const char *data, size_t len)
{
	FILE *f = tmpfile();
	int fd;

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fflush(f), 0);
	fd = dup(fileno(f));
	fclose(f);
	assert_true(fd >= 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* --------------------------------------------------------------------- */
/* The server                                                            */
/* --------------------------------------------------------------------- */

/* Start a server with RINGO_NETPOLL=netpoll (NULL: as this process has it)
 * and read its port.  0 or -1. */
static int server_start(struct server *s, const char *netpoll)
{
	struct example ex;

	s->netpoll = netpoll;
	if (example_start(&ex, server_path, netpoll) < 0)
		return -1;
	s->pid = ex.pid;
	s->port = ex.port;
	s->out_fd = ex.out_fd;
	snprintf(s->port_str, sizeof(s->port_str), "%d", s->port);
	return 0;
}

/* SIGTERM: the server must exit with status 0 within STOP_TIMEOUT_S.  Its
 * output after the first line goes to out[cap].  0 or -1 (said why). */
static int server_stop(struct server *s, char *out, size_t cap)
{
	struct example ex = { .pid = s->pid, .port = s->port, .out_fd = s->out_fd };

	return example_stop(&ex, STOP_TIMEOUT_S, out, cap);
}

static int setup_inherited(void **state)
{
	(void)state;
	return server_start(&srv, NULL);
}

static int setup_epoll(void **state)
{
	(void)state;
	return server_start(&srv, "epoll");
}

static int teardown(void **state)
{
	char out[1024];

	(void)state;
	if (server_stop(&srv, out, sizeof(out)) < 0) {
		stop_failed = true;
		return -1;
	}
	return 0;
}

/* A field of /proc/PID/status in kB ("VmRSS:"), or -1. */
static long proc_status_kb(pid_t pid, const char *field)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, strlen(field)) == 0)
			kb = strtol(line + strlen(field), NULL, 10);
	fclose(f);
	return kb;
}

/* Reset the peak RSS (VmHWM) of pid to its RSS; false if refused. */
static bool reset_peak_rss(pid_t pid)
{
	char path[64];
	int fd;
	bool ok;

	snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)pid);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ok = write(fd, "5", 1) == 1;
	close(fd);
	return ok;
}

/* --------------------------------------------------------------------- */
/* Raw connections                                                       */
/* --------------------------------------------------------------------- */

/* A connection to port, whose reads and writes fail after IO_TIMEOUT_S. */
static int dial_port(int port)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	assert_true(fd >= 0);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
	assert_int_equal(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		fail_msg("connect to port %d: %s", port, strerror(errno));
	return fd;
}

static int dial(void)
{
	return dial_port(srv.port);
}

/* Close fd with a reset, leaving no TIME_WAIT behind. */
static void close_reset(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* Read exactly len bytes into buf; fails the test on an error or the end
 * of the stream. */
static void recv_exact(int fd, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = recv(fd, buf + got, len - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fail_msg("after %zu of %zu bytes: %s", got, len,
				 n ? strerror(errno) : "end of stream");
		got += (size_t)n;
	}
}

/* Print bytes readably: control characters and others escaped. */
static const char *escaped(const char *p, size_t len, char *buf, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 5 < cap; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch == '\r')
			o += (size_t)snprintf(buf + o, cap - o, "\\r");
		else if (ch == '\n')
			o += (size_t)snprintf(buf + o, cap - o, "\\n");
		else if (ch < 0x20 || ch >= 0x7f)
			o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", ch);
		else
			buf[o++] = (char)ch;
	}
	buf[o] = '\0';
	return buf;
}

/* Read exactly the len bytes of want and compare them. */
static void expect_bytes_len(int fd, const char *want, size_t len)
{
	char *buf = malloc(len + 1), e1[512], e2[512];

	assert_non_null(buf);
	recv_exact(fd, buf, len);
	if (memcmp(buf, want, len) != 0)
		fail_msg("received \"%s\", expected \"%s\"", escaped(buf, len, e1, sizeof(e1)),
			 escaped(want, len, e2, sizeof(e2)));
	free(buf);
}

static void expect_bytes(int fd, const char *want)
{
	expect_bytes_len(fd, want, strlen(want));
}

/* The end of the stream must come next (a reset counts: the server may
 * close while this side still sends). */
static void expect_eof(int fd)
{
	char extra[256], e[600];
	ssize_t n;

	while ((n = recv(fd, extra, sizeof(extra), 0)) < 0 && errno == EINTR)
		;
	if (n > 0)
		fail_msg("more than expected: \"%s\"", escaped(extra, (size_t)n, e, sizeof(e)));
	if (n < 0 && errno != ECONNRESET)
		fail_msg("no end of stream: %s", strerror(errno));
}

/* The server answers PING on a new connection. */
static void expect_alive(void)
{
	int fd = dial();

	send_str(fd, "PING\r\n");
	expect_bytes(fd, PONG);
	close(fd);
}

/* Send req on a new connection: the replies must be want, and the
 * connection must stay open (closed: the end of the stream follows). */
static void exchange_len(const char *req, size_t len, const char *want, bool closed)
{
	int fd = dial();

	send_bytes(fd, req, len);
	expect_bytes(fd, want);
	if (closed)
		expect_eof(fd);
	else
		expect_alive();
	close(fd);
}

static void exchange(const char *req, const char *want)
{
	exchange_len(req, strlen(req), want, false);
}

static void exchange_closed(const char *req, const char *want)
{
	exchange_len(req, strlen(req), want, true);
}

/* A RESP command from n arguments. */
static char *resp_command(int n, const char *const *args, const size_t *lens, size_t *len_out)
{
	size_t cap = 32, len = 0;
	char *buf;

	for (int i = 0; i < n; i++)
		cap += lens[i] + 32;
	buf = malloc(cap);
	assert_non_null(buf);
	len += (size_t)snprintf(buf, cap, "*%d\r\n", n);
	for (int i = 0; i < n; i++) {
		len += (size_t)snprintf(buf + len, cap - len, "$%zu\r\n", lens[i]);
		memcpy(buf + len, args[i], lens[i]);
		len += lens[i];
		memcpy(buf + len, "\r\n", 2);
		len += 2;
	}
	*len_out = len;
	return buf;
}

/* --------------------------------------------------------------------- */
/* redis-cli and redis-benchmark                                         */
/* --------------------------------------------------------------------- */

static void test_cli_commands(void **state)
{
	char out[4096];

	(void)state;
	cli_expect("OK\n", "flushall");
	cli_expect("PONG\n", "ping");
	cli_expect("hello\n", "ping", "hello");
	cli_expect("OK\n", "set", "greeting", "hello world");
	cli_expect("hello world\n", "get", "greeting");
	cli_expect("\n", "get", "missing");
	cli_expect("1\n", "incr", "counter");
	cli_expect("2\n", "incr", "counter");
	cli_expect("2\n", "exists", "greeting", "counter", "missing");
	cli_expect("2\n", "dbsize");
	cli_expect("1\n", "del", "counter", "missing");
	cli_expect("1\n", "dbsize");
	cli_expect("OK\n", "flushall");
	cli_expect("0\n", "dbsize");
	cli_expect("0\n", "exists", "greeting");
	/* Errors: redis-cli adds an empty line after them. */
	cli(out, "nosuch", "x");
	assert_has(out, "ERR unknown command 'nosuch', with args beginning with: 'x' \n");
	cli(out, "get");
	assert_has(out, "ERR wrong number of arguments for 'get' command\n");

	/* Commands on its standard input: it first asks for COMMAND DOCS. */
	{
		static const char cmds[] = "SET a 41\nINCR a\nGET a\nPING\nECHO \"x y\"\n";
		int fd = temp_file(cmds, sizeof(cmds) - 1);

		cli_in(out, fd, "--no-raw");
		close(fd);
		assert_string_equal(out, "OK\n(integer) 42\n\"42\"\nPONG\n\"x y\"\n");
	}
}

/* redis-cli --pipe: 10,000 SETs in one stream, then DBSIZE. */
static void test_cli_pipe(void **state)
{
	enum { N = 10000 };
	char *cmds = malloc(N * 64), out[4096];
	size_t len = 0;
	int fd;

	(void)state;
	assert_non_null(cmds);
	for (int i = 0; i < N; i++)
		len += (size_t)sprintf(cmds + len, "SET key:%d value:%d\r\n", i, i);
	fd = temp_file(cmds, len);
	free(cmds);
	cli_expect("OK\n", "flushall");
	cli_in(out, fd, "--pipe");
	close(fd);
	assert_has(out, "errors: 0, replies: 10000");
	cli_expect("10000\n", "dbsize");
	cli_expect("value:9999\n", "get", "key:9999");
	cli_expect("OK\n", "flushall");
}

static void run_benchmark(const char *pipeline)
{
	char *argv[] = { "redis-benchmark",
			 "-h",
			 "127.0.0.1",
			 "-p",
			 srv.port_str,
			 "-n",
			 "2000",
			 "-c",
			 "10",
			 "-t",
			 "get,set",
			 "-P",
			 (char *)pipeline,
			 "-q",
			 NULL };
	char out[8192];
	int rc = tool_run(argv, -1, out, sizeof(out), IO_TIMEOUT_S * 3);

	if (rc != 0)
		fail_msg("redis-benchmark -P %s failed (status %d); its output:\n%s", pipeline, rc,
			 out);
	assert_has(out, "SET: ");
	assert_has(out, "GET: ");
	assert_lacks(out, "WARN");
	assert_lacks(out, "ERR");
}

/* redis-benchmark asks CONFIG GET save and appendonly first: no warning. */
static void test_benchmark(void **state)
{
	char out[256];

	(void)state;
	run_benchmark("1");
	run_benchmark("16");
	cli(out, "get", "key:__rand_int__");
	assert_int_equal(strlen(out), 4); /* its SETs write 3 bytes */
}

/* --------------------------------------------------------------------- */
/* Raw sockets: replies                                                  */
/* --------------------------------------------------------------------- */

/* A request and its exact reply; the lengths come from the literals, which
 * may hold NULs. */
#define X(req, reply)                                          \
	{                                                      \
		req, sizeof(req) - 1, reply, sizeof(reply) - 1 \
	}

static const struct exchange {
	const char *req;
	size_t req_len;
	const char *reply;
	size_t reply_len;
} exchanges[] = {
	X("PING\r\n", PONG),
	X("*1\r\n$4\r\nPING\r\n", PONG),
	X("ping hello\r\n", "$5\r\nhello\r\n"),
	X("ECHO \"a b\\x00c\\n\"\r\n", "$6\r\na b\0c\n\r\n"),
	X("PING\nPING\n\r\n\r\nPING\r\n", PONG PONG PONG),
	X("*-1\r\n*0\r\nPING\r\n", PONG),
	X("*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n", PONG PONG), /* Redis skips two bytes */
	X("foo a b\r\n", "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n"),
	X("*2\r\n$3\r\nf\no\r\n$4\r\na\rb\0\r\n",
	  "-ERR unknown command 'f o', with args beginning with: 'a b' \r\n"),
	X("get\r\n", "-ERR wrong number of arguments for 'get' command\r\n"),
	X("GET a b\r\n", "-ERR wrong number of arguments for 'get' command\r\n"),
	X("ping a b\r\n", "-ERR wrong number of arguments for 'ping' command\r\n"),
	X("echo\r\n", "-ERR wrong number of arguments for 'echo' command\r\n"),
	X("del\r\nexists\r\nincr\r\n", "-ERR wrong number of arguments for 'del' command\r\n"
				       "-ERR wrong number of arguments for 'exists' command\r\n"
				       "-ERR wrong number of arguments for 'incr' command\r\n"),
	X("dbsize x\r\n", "-ERR wrong number of arguments for 'dbsize' command\r\n"),
	X("set k v foo\r\n", "-ERR syntax error\r\n"),
	X("set k v nx xx\r\n", "-ERR syntax error\r\n"),
	X("set k v ex 10 px 10\r\n", "-ERR syntax error\r\n"),
	X("set k v keepttl ex 10\r\n", "-ERR syntax error\r\n"),
	X("set k v ex\r\n", "-ERR syntax error\r\n"),
	X("set k v ex 0\r\n", "-ERR invalid expire time in 'set' command\r\n"),
	X("set k v px -1\r\n", "-ERR invalid expire time in 'set' command\r\n"),
	X("set k v ex 9223372036854775\r\n", "-ERR invalid expire time in 'set' command\r\n"),
	X("set k v ex abc\r\n", "-ERR value is not an integer or out of range\r\n"),
	X("set k v ex 10 ex 20\r\n", OK),
	X("set n abc\r\nincr n\r\n", OK "-ERR value is not an integer or out of range\r\n"),
	X("set n 01\r\nincr n\r\n", OK "-ERR value is not an integer or out of range\r\n"),
	X("set n 9223372036854775807\r\nincr n\r\n",
	  OK "-ERR increment or decrement would overflow\r\n"),
	X("set n -2\r\nincr n\r\nincr n\r\nincr n\r\nget n\r\n",
	  OK ":-1\r\n:0\r\n:1\r\n$1\r\n1\r\n"),
	X("del n2\r\nincr n2\r\nincr n2\r\n", ":0\r\n:1\r\n:2\r\n"),
	X("set \"a b\" 'c d'\r\nget \"a b\"\r\n", OK "$3\r\nc d\r\n"),
	X("set 'a\\'b' \"x\\ty\"\r\nget \"a'b\"\r\n", OK "$3\r\nx\ty\r\n"),
	X("set k1 1\r\nset k2 2\r\ndel k1 k2 k3 k1\r\nexists k1 k2\r\n", OK OK ":2\r\n:0\r\n"),
	X("set k1 1\r\nexists k1 k1 k2\r\n", OK ":2\r\n"),
	X("set x v nx\r\nset x w xx\r\nget x\r\nset x z NX\r\nget x\r\n"
	  "set nokey v XX\r\nget nokey\r\ndel x\r\n",
	  OK OK "$1\r\nw\r\n" NIL "$1\r\nw\r\n" NIL NIL ":1\r\n"),
	X("config get save\r\n", "*2\r\n$4\r\nsave\r\n$0\r\n\r\n"),
	X("CONFIG GET appendonly\r\n", "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n"),
	X("config get SAV? nothing\r\n", "*2\r\n$4\r\nsave\r\n$0\r\n\r\n"),
	X("config get nothing\r\n", "*0\r\n"),
	X("config get\r\n", "-ERR wrong number of arguments for 'config|get' command\r\n"),
	X("config\r\n", "-ERR wrong number of arguments for 'config' command\r\n"),
	X("config foo\r\n", "-ERR unknown subcommand 'foo'. Try CONFIG HELP.\r\n"),
	X("command foo\r\n", "-ERR unknown subcommand 'foo'. Try COMMAND HELP.\r\n"),
	X("command docs\r\n", "*0\r\n"),
	X("command info get nosuch\r\n", "*2\r\n*6\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n"
					 "+fast\r\n:1\r\n:1\r\n:1\r\n*-1\r\n"),
	X("flushall foo\r\n", "-ERR syntax error\r\n"),
};

/* Exact replies, as Redis 7 gives them, each exchange on a new
 * connection. */
static void test_replies(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(exchanges); i++) {
		int fd = dial();

		print_message("exchange %zu\n", i);
		send_bytes(fd, exchanges[i].req, exchanges[i].req_len);
		expect_bytes_len(fd, exchanges[i].reply, exchanges[i].reply_len);
		close(fd);
	}
	expect_alive();
}

/* QUIT answers +OK and closes: what follows it is not executed. */
static void test_quit(void **state)
{
	(void)state;
	exchange_closed("SET q 1\r\nQUIT\r\nSET q 2\r\n", OK OK);
	exchange("GET q\r\n", "$1\r\n1\r\n");
}

/* A pipeline arriving a few bytes at a time gets the same replies. */
static void test_pipeline_in_pieces(void **state)
{
	static const char req[] = "*3\r\n$3\r\nSET\r\n$5\r\npiece\r\n$3\r\nabc\r\n"
				  "GET piece\r\n"
				  "*2\r\n$3\r\nGET\r\n$5\r\npiece\r\n"
				  "set \"p 2\" 'x'\r\n*1\r\n$4\r\nPING\r\n";
	int fd = dial();

	(void)state;
	for (size_t off = 0, len = sizeof(req) - 1; off < len; off += 3) {
		send_bytes(fd, req + off, len - off < 3 ? len - off : 3);
		usleep(500);
	}
	expect_bytes(fd, OK "$3\r\nabc\r\n$3\r\nabc\r\n" OK PONG);
	/* Many commands in one write: more replies than one send of the server. */
	{
		enum { N = 20000 };
		char *many = malloc(N * 16);
		size_t len = 0;

		assert_non_null(many);
		for (int i = 0; i < N; i++)
			len += (size_t)sprintf(many + len, "GET piece\r\n");
		send_bytes(fd, many, len);
		for (int i = 0; i < N; i++)
			expect_bytes(fd, "$3\r\nabc\r\n");
		free(many);
	}
	close(fd);
}

/* Fill len bytes with every byte value, "\r\n" and NUL included. */
static void fill_binary(char *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245 + 12345;
		p[i] = (char)(seed >> 16);
	}
}

/* Binary values of 100 KB and 2 MB, sent in pieces, read back whole. */
static void test_big_values(void **state)
{
	static const size_t sizes[] = { 100 * 1024, 2 * 1024 * 1024 };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		size_t vlen = sizes[i], len, hlen;
		char *val = malloc(vlen), *req, head[32];
		const char *args[] = { "SET", "big", val };
		size_t lens[] = { 3, 3, vlen };
		int fd = dial();

		assert_non_null(val);
		fill_binary(val, vlen, (unsigned)i);
		req = resp_command(3, args, lens, &len);
		for (size_t off = 0; off < len; off += 7777) {
			send_bytes(fd, req + off, len - off < 7777 ? len - off : 7777);
			if (off < 4 * 7777)
				usleep(2000);
		}
		expect_bytes(fd, OK);
		send_str(fd, "GET big\r\nPING\r\n");
		hlen = (size_t)snprintf(head, sizeof(head), "$%zu\r\n", vlen);
		expect_bytes_len(fd, head, hlen);
		expect_bytes_len(fd, val, vlen);
		expect_bytes(fd, "\r\n" PONG);
		close(fd);
		free(req);
		free(val);
	}
}

/* A 100 KB text value through redis-cli -x (the value from stdin). */
static void test_cli_big_value(void **state)
{
	enum { N = 100 * 1024 };
	static char val[N + 1], out[N + 64];
	int fd;

	(void)state;
	for (size_t i = 0; i < N; i++)
		val[i] = (char)('a' + i % 26);
	fd = temp_file(val, N);
	cli_in(out, fd, "-x", "set", "bigtext");
	close(fd);
	assert_string_equal(out, "OK\n");
	cli(out, "get", "bigtext");
	assert_int_equal(strlen(out), N + 1);
	assert_memory_equal(out, val, N);
	assert_int_equal(out[N], '\n');
}

/* SET's NX, XX, PX, EX and KEEPTTL; an expired key is absent to GET,
 * EXISTS, INCR and SET NX. */
static void test_expiry(void **state)
{
	int fd = dial();

	(void)state;
	send_str(fd, "set e1 v PX 150\r\nset e2 v EX 100\r\nset e3 v px 150\r\n"
		     "set e3 w KEEPTTL\r\nset e4 v px 150\r\nset e4 w\r\nset e5 5 px 150\r\n"
		     "get e1\r\nget e3\r\nexists e1 e2 e3 e4 e5\r\n");
	expect_bytes(fd, OK OK OK OK OK OK OK "$1\r\nv\r\n$1\r\nw\r\n:5\r\n");
	usleep(400 * 1000);
	send_str(fd, "get e1\r\nget e2\r\nget e3\r\nget e4\r\nexists e1 e2 e3 e4 e5\r\n"
		     "incr e5\r\nset e1 x nx\r\nget e1\r\ndel e2 e3\r\n");
	expect_bytes(fd, NIL "$1\r\nv\r\n" NIL "$1\r\nw\r\n:2\r\n:1\r\n" OK "$1\r\nx\r\n:1\r\n");
	close(fd);
}

/* --------------------------------------------------------------------- */
/* Raw sockets: malformed input                                          */
/* --------------------------------------------------------------------- */

static void exchange_error(const char *req, size_t len, const char *want)
{
	char e[256];

	print_message("malformed: %s\n", escaped(req, len < 40 ? len : 40, e, sizeof(e)));
	exchange_len(req, len, want, true);
}

/* A request of len bytes: prefix, then fill up to len. */
static char *long_request(const char *prefix, char fill, size_t len)
{
	char *p = malloc(len);
	size_t plen = strlen(prefix);

	assert_non_null(p);
	memcpy(p, prefix, plen);
	memset(p + plen, fill, len - plen);
	return p;
}

/* Send req and close without waiting: a command that never completes. */
static void send_and_close(const char *req, size_t len)
{
	int fd = dial();

	send_bytes(fd, req, len);
	usleep(20000);
	close(fd);
	expect_alive();
}

static void test_malformed(void **state)
{
	static const char *const bad[][2] = {
		{ "*1\r\n$-5\r\n", PROTO("invalid bulk length") },
		{ "*1\r\n$1099511627776\r\n", PROTO("invalid bulk length") },
		{ "*2\r\n$3\r\nGET\r\n$1099511627776\r\n", PROTO("invalid bulk length") },
		{ "*1\r\n$536870913\r\n", PROTO("invalid bulk length") },
		{ "*1\r\n$abc\r\n", PROTO("invalid bulk length") },
		{ "*1\r\n$04\r\nPING\r\n", PROTO("invalid bulk length") },
		{ "*1099511627776\r\n", PROTO("invalid multibulk length") },
		{ "*2147483648\r\n", PROTO("invalid multibulk length") },
		{ "*abc\r\n", PROTO("invalid multibulk length") },
		{ "*01\r\n$4\r\nPING\r\n", PROTO("invalid multibulk length") },
		{ "*1\r\nfoo\r\n", PROTO("expected '$', got 'f'") },
		{ "*1\r\n\r\n", PROTO("expected '$', got ' '") },
		{ "set \"a b\"c d\r\n", PROTO("unbalanced quotes in request") },
		{ "get 'abc\r\n", PROTO("unbalanced quotes in request") },
		{ "get \"abc\\\"\r\n", PROTO("unbalanced quotes in request") },
		/* What came before the error is answered first. */
		{ "SET k v\r\nPING\r\n*1\r\n$-5\r\nPING\r\n",
		  OK PONG PROTO("invalid bulk length") },
	};
	static const struct {
		const char *prefix, *want;
		char fill;
	} lines[] = {
		{ "", PROTO("too big inline request"), 'x' },
		{ "*", PROTO("too big mbulk count string"), '1' },
		{ "*1\r\n$", PROTO("too big bulk count string"), '1' },
		{ "*2\r\n$3\r\nGET\r\n$", PROTO("too big bulk count string"), '9' },
	};
	long rss0, peak;
	bool peak_reset;

	(void)state;
	expect_alive();
	rss0 = proc_status_kb(srv.pid, "VmRSS:");
	peak_reset = reset_peak_rss(srv.pid);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		exchange_error(bad[i][0], strlen(bad[i][0]), bad[i][1]);
	/* 100 KB lines that never end. */
	for (size_t i = 0; i < ARRAY_SIZE(lines); i++) {
		char *req = long_request(lines[i].prefix, lines[i].fill, 100 * 1024);

		exchange_error(req, 100 * 1024, lines[i].want);
		free(req);
	}
	/* Commands that never complete: no reply, and the connection closed
	 * by the client; what they announce is never allocated. */
	{
		static const char truncated[] = "*3\r\n$3\r\nSET\r\n$1\r\nk";
		char *big = long_request("*2\r\n$3\r\nGET\r\n$536870912\r\n", 'v', 256 * 1024);

		send_and_close(truncated, sizeof(truncated) - 1);
		send_and_close(big, 256 * 1024);
		free(big);
		/* 100,000 of the 10^9 arguments announced. */
		big = long_request("*1000000000\r\n", 'x', 13 + 100000 * 7);
		for (size_t off = 13; off < 13 + 100000 * 7; off += 7)
			memcpy(big + off, "$1\r\na\r\n", 7);
		send_and_close(big, 13 + 100000 * 7);
		free(big);
	}
	expect_alive();
	peak = proc_status_kb(srv.pid, peak_reset ? "VmHWM:" : "VmRSS:");
	print_message("server RSS %ld kB before, %s %ld kB after\n", rss0,
		      peak_reset ? "peak" : "RSS", peak);
	assert_true(rss0 > 0 && peak > 0);
	if (peak - rss0 >= RSS_GROWTH_KB)
		fail_msg("the server's %s grew from %ld kB to %ld kB",
			 peak_reset ? "peak RSS" : "RSS", rss0, peak);
}

/* --------------------------------------------------------------------- */
/* Many connections, stopping                                            */
/* --------------------------------------------------------------------- */

/* IDLE_CONNS connections open at once, each answered, then a new one. */
static void test_idle_connections(void **state)
{
	enum { BATCH = 500 };
	struct rlimit rl;
	int *fds;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < IDLE_CONNS + 100) {
		print_message("RLIMIT_NOFILE is %lu: too low for %d connections\n",
			      (unsigned long)rl.rlim_cur, IDLE_CONNS);
		skip();
	}
	fds = calloc(IDLE_CONNS, sizeof(*fds));
	assert_non_null(fds);
	for (int i = 0; i < IDLE_CONNS; i += BATCH) {
		for (int j = i; j < i + BATCH; j++) {
			fds[j] = dial();
			send_str(fds[j], "PING\r\n");
		}
		for (int j = i; j < i + BATCH; j++)
			expect_bytes(fds[j], PONG);
	}
	print_message("%d connections open\n", IDLE_CONNS);
	expect_alive();
	cli_expect("PONG\n", "ping");
	send_str(fds[0], "PING\r\n");
	send_str(fds[IDLE_CONNS - 1], "PING\r\n");
	expect_bytes(fds[0], PONG);
	expect_bytes(fds[IDLE_CONNS - 1], PONG);
	for (int i = 0; i < IDLE_CONNS; i++)
		close_reset(fds[i]);
	free(fds);
	expect_alive();
}

/* SIGTERM to a server with open connections: idle ones, one with half a
 * command, one whose client reads nothing while the server sends it
 * replies (the server's rg_send waits).  Exit status 0, and the last line
 * counts the connections it closed. */
static void test_sigterm(void **state)
{
	enum { IDLE = 10, VLEN = 1 << 20 };
	struct server s2;
	int fds[IDLE + 2], sent;
	char out[1024], *val = malloc(VLEN), *req;
	const char *args[] = { "SET", "v", val };
	size_t lens[] = { 3, 1, VLEN }, len;

	(void)state;
	assert_non_null(val);
	memset(val, 'v', VLEN);
	assert_int_equal(server_start(&s2, srv.netpoll), 0);
	for (int i = 0; i < IDLE + 2; i++)
		fds[i] = dial_port(s2.port);
	for (int i = 0; i < IDLE; i++) {
		send_str(fds[i], "PING\r\n");
		expect_bytes(fds[i], PONG);
	}
	send_str(fds[IDLE], "*3\r\n$3\r\nSET\r\n$1\r\n");
	req = resp_command(3, args, lens, &len);
	send_bytes(fds[IDLE + 1], req, len);
	expect_bytes(fds[IDLE + 1], OK);
	/* 64 MB of replies that nobody reads. */
	for (sent = 0; sent < 64; sent++)
		send_str(fds[IDLE + 1], "GET v\r\n");
	usleep(200 * 1000);
	if (server_stop(&s2, out, sizeof(out)) < 0)
		fail_msg("the server did not stop cleanly on SIGTERM");
	assert_has(out, "kv_server: SIGTERM, stopping\n");
	assert_has(out, "kv_server: stopped, 12 connections closed\n");
	for (int i = 0; i < IDLE + 2; i++)
		close(fds[i]);
	free(req);
	free(val);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cli_commands),
		cmocka_unit_test(test_cli_pipe),
		cmocka_unit_test(test_benchmark),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_quit),
		cmocka_unit_test(test_pipeline_in_pieces),
		cmocka_unit_test(test_big_values),
		cmocka_unit_test(test_cli_big_value),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_idle_connections),
		cmocka_unit_test(test_sigterm),
	};
	struct rlimit rl;
	int rc;

	(void)argc;
	(void)argv;
	if (!tool_in_path("redis-cli") || !tool_in_path("redis-benchmark")) {
		fprintf(stderr, "test_kv_server: redis-cli and redis-benchmark are needed "
				"(apt-get install redis-tools)\n");
		return 77;
	}
	if (example_path(server_path, sizeof(server_path), SERVER_REL) < 0)
		return 1;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	test_watchdog(50);

	if (getenv("RINGO_NETPOLL")) {
		rc = cmocka_run_group_tests_name(getenv("RINGO_NETPOLL"), tests, setup_inherited,
						 teardown);
	} else {
		rc = cmocka_run_group_tests_name("default backend", tests, setup_inherited,
						 teardown);
		rc |= cmocka_run_group_tests_name("epoll", tests, setup_epoll, teardown);
	}
	return rc || stop_failed ? 1 : 0;
}
