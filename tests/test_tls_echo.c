/* SPDX-License-Identifier: MIT */
/*
 * test_tls_echo.c - the example TLS echo server, examples/tls_echo
 * (OpenSSL over non-blocking sockets, waiting with rg_poll), driven by
 * openssl s_client and by OpenSSL clients in this process.
 *
 * A self-signed certificate is made with openssl req in a temporary
 * directory, where the server runs (it reads cert.pem and key.pem there).
 * Each group runs against one server, on each netpoll backend (only the
 * one RINGO_NETPOLL names, when set).  After a group the server is sent
 * SIGTERM while a client is still connected, and must exit with status 0.
 *
 * What is checked:
 *  - openssl s_client: a line sent comes back;
 *  - 16 clients at once, each sending 200 messages of its own pattern
 *    and sizes up to 16 KiB, get every byte back in order;
 *  - a client that speaks plain text instead of TLS is dropped, and the
 *    server still answers the next one;
 *  - a client that connects and sends nothing holds no other up.
 *
 * Exit status 77 (skipped) when the openssl program is not installed.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "tests/helpers.h"

#define SERVER_REL   "../examples/tls_echo"
#define IO_TIMEOUT_S (RG_TEST_SANITIZED ? 30 : 10)

static char server_path[PATH_MAX], dir[PATH_MAX];
static struct example srv;

/* --------------------------------------------------------------------- */
/* Clients                                                               */
/* --------------------------------------------------------------------- */

static int dial(void)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(srv.port) };
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

#define CLIENTS	 16
#define MESSAGES 200

struct client {
	int id;
	const char *err; /* NULL: every byte came back */
};

/* A blocking OpenSSL client: MESSAGES messages, each read back whole. */
static void *client_main(void *arg)
{
	struct client *c = arg;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	unsigned char *out = malloc(16384), *in = malloc(16384);
	SSL *ssl = NULL;
	int fd = dial();

	c->err = NULL;
	if (!ctx || !out || !in || fd < 0) {
		c->err = "set-up or connect";
		goto out;
	}
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1) {
		c->err = "handshake";
		goto out;
	}
	for (int m = 0; m < MESSAGES && !c->err; m++) {
		int len = 1 + (int)((unsigned)(c->id * 7919 + m * 104729) % 16384), got = 0;

		for (int i = 0; i < len; i++)
			out[i] = (unsigned char)(c->id * 31 + m * 7 + i);
		if (SSL_write(ssl, out, len) != len) {
			c->err = "write";
			break;
		}
		while (got < len) {
			int n = SSL_read(ssl, in + got, len - got);

			if (n <= 0) {
				c->err = "read";
				break;
			}
			got += n;
		}
		if (!c->err && memcmp(in, out, (size_t)len) != 0)
			c->err = "bytes differ";
	}
	SSL_shutdown(ssl);
out:
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	free(out);
	free(in);
	return NULL;
}

static void test_many_clients(void **state)
{
	pthread_t th[CLIENTS];
	struct client cl[CLIENTS];

	(void)state;
	for (int i = 0; i < CLIENTS; i++) {
		cl[i].id = i;
		assert_int_equal(pthread_create(&th[i], NULL, client_main, &cl[i]), 0);
	}
	for (int i = 0; i < CLIENTS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < CLIENTS; i++)
		if (cl[i].err)
			fail_msg("client %d: %s", i, cl[i].err);
}

/* openssl s_client: a line goes there and back.  Its stdin stays open
 * until the echo is read, then it is stopped. */
static void test_s_client(void **state)
{
	char port[16], buf[4096];
	int in[2], out[2];
	size_t len = 0;
	int64_t deadline = now_ns() + (int64_t)IO_TIMEOUT_S * 1000000000;
	pid_t pid;
	bool seen = false;

	(void)state;
	snprintf(port, sizeof(port), "127.0.0.1:%d", srv.port);
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(in[0], 0);
		dup2(out[1], 1);
		if (null >= 0)
			dup2(null, 2); /* its certificate chatter */
		execlp("openssl", "openssl", "s_client", "-connect", port, "-quiet", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	assert_int_equal(write(in[1], "hello over tls\n", 15), 15);
	while (!seen && now_ns() < deadline && len + 1 < sizeof(buf)) {
		struct pollfd pfd = { .fd = out[0], .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = read(out[0], buf + len, sizeof(buf) - len - 1);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		seen = strstr(buf, "hello over tls\n") != NULL;
	}
	close(in[1]);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	close(out[0]);
	if (!seen)
		fail_msg("s_client did not get the line back; it printed:\n%.*s", (int)len, buf);
}

/* Plain text instead of a ClientHello: dropped; the next client works. */
static void test_plain_text_dropped(void **state)
{
	static const char req[] = "GET / HTTP/1.0\r\n\r\n";
	struct client c = { .id = 99 };
	char buf[256];
	ssize_t n;
	int fd = dial();

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(send(fd, req, sizeof(req) - 1, 0), (ssize_t)sizeof(req) - 1);
	/* The server ends the connection (an alert, then the end). */
	do
		n = recv(fd, buf, sizeof(buf), 0);
	while (n > 0);
	assert_true(n == 0 || errno == ECONNRESET);
	close(fd);
	client_main(&c);
	if (c.err)
		fail_msg("the next client: %s", c.err);
}

/* A silent connection holds nobody up; it stays open at the stop. */
static int silent_fd = -1;

static void test_silent_client(void **state)
{
	struct client c = { .id = 7 };

	(void)state;
	silent_fd = dial();
	assert_true(silent_fd >= 0);
	client_main(&c);
	if (c.err)
		fail_msg("a client next to a silent one: %s", c.err);
}

/* --------------------------------------------------------------------- */
/* Groups                                                                */
/* --------------------------------------------------------------------- */

static int start(const char *netpoll)
{
	return example_start(&srv, server_path, netpoll) < 0 ? -1 : 0;
}

static int setup_inherited(void **state)
{
	(void)state;
	return start(NULL);
}

static int setup_epoll(void **state)
{
	(void)state;
	return start("epoll");
}

static int stop(void **state)
{
	int r;

	(void)state;
	r = example_stop(&srv, CHILD_TIMEOUT_S, NULL, 0);
	if (silent_fd >= 0)
		close(silent_fd);
	silent_fd = -1;
	return r < 0 ? -1 : 0;
}

static bool make_certificate(void)
{
	char *argv[] = { "openssl",
			 "req",
			 "-x509",
			 "-newkey",
			 "ec",
			 "-pkeyopt",
			 "ec_paramgen_curve:prime256v1",
			 "-nodes",
			 "-keyout",
			 "key.pem",
			 "-out",
			 "cert.pem",
			 "-days",
			 "2",
			 "-subj",
			 "/CN=localhost",
			 NULL };
	char out[4096];

	return tool_run(argv, -1, out, sizeof(out), 60) == 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_s_client),
		cmocka_unit_test(test_many_clients),
		cmocka_unit_test(test_plain_text_dropped),
		cmocka_unit_test(test_silent_client),
	};
	const char *forced = getenv("RINGO_NETPOLL");
	char *check[] = { "openssl", "version", NULL };
	char out[256];
	int failed = 0;

	(void)argc;
	signal(SIGPIPE, SIG_IGN);
	if (tool_run(check, -1, out, sizeof(out), 30) != 0) {
		printf("openssl is not installed: skipped\n");
		return 77;
	}
	if (!realpath(argv[0], server_path))
		return 1;
	*strrchr(server_path, '/') = '\0';
	strncat(server_path, "/" SERVER_REL, sizeof(server_path) - strlen(server_path) - 1);
	snprintf(dir, sizeof(dir), "/tmp/ringo-tls-%d", (int)getpid());
	if (mkdir(dir, 0700) < 0 || chdir(dir) < 0 || !make_certificate()) {
		fprintf(stderr, "cannot make a certificate in %s\n", dir);
		return 1;
	}
	if (forced && *forced) {
		failed = cmocka_run_group_tests_name(forced, tests, setup_inherited, stop);
	} else {
		failed = cmocka_run_group_tests_name("default backend", tests, setup_inherited,
						     stop);
		failed |= cmocka_run_group_tests_name("epoll", tests, setup_epoll, stop);
	}
	unlink("cert.pem");
	unlink("key.pem");
	if (chdir("/") == 0)
		rmdir(dir);
	return failed;
}
