/* SPDX-License-Identifier: MIT */
/*
 * http_hello.c - a minimal HTTP/1.1 server answering "Hello, World!".
 *
 * One goroutine per connection.  Connections are kept alive: a goroutine
 * reads requests until the client closes or sends "Connection: close".
 * Requests may arrive in pieces or several at once (pipelining), so the
 * goroutine appends what it receives to a buffer, answers every complete
 * request in it (a request ends at its first empty line, "\r\n\r\n"; bodies
 * are not supported), sends the answers together and keeps the incomplete
 * rest for the next rg_recv.
 *
 *   make examples && build/examples/http_hello 8080 [MAXPROCS]
 *   curl http://127.0.0.1:8080/
 *   wrk -t1 -c100 -d10s http://127.0.0.1:8080/
 *
 * Port 0 picks a free port; the first line printed names the port and the
 * number of Ps ("http_hello: listening on port 8080 (2 Ps)").
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <ringo.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define RESPONSE                                      \
	"HTTP/1.1 200 OK\r\n"                         \
	"Content-Type: text/plain; charset=utf-8\r\n" \
	"Content-Length: 13\r\n"                      \
	"\r\n"                                        \
	"Hello, World!"
#define TOO_LARGE                                          \
	"HTTP/1.1 431 Request Header Fields Too Large\r\n" \
	"Content-Length: 0\r\n"                            \
	"Connection: close\r\n"                            \
	"\r\n"

static int listen_fd;
static int port;

/* Send all of buf; 0, or -1 if the connection failed. */
static int send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = rg_send(fd, buf, len, 0);

		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Does the request head (NUL-terminated, without its final empty line) ask
 * to close the connection? */
static int wants_close(const char *head)
{
	return strcasestr(head, "\r\nConnection: close") != NULL;
}

static void serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char in[8192], out[16384];
	size_t len = 0, olen = 0;
	int closing = 0;
	ssize_t n;

	while (!closing && (n = rg_recv(fd, in + len, sizeof(in) - len, 0)) > 0) {
		char *p = in, *end;

		len += (size_t)n;
		/* Answer every complete request in the buffer. */
		while (!closing && (end = memmem(p, (size_t)(in + len - p), "\r\n\r\n", 4))) {
			*end = '\0';
			closing = wants_close(p);
			p = end + 4;
			if (olen + sizeof(RESPONSE) - 1 > sizeof(out)) {
				if (send_all(fd, out, olen) < 0)
					goto out;
				olen = 0;
			}
			memcpy(out + olen, RESPONSE, sizeof(RESPONSE) - 1);
			olen += sizeof(RESPONSE) - 1;
		}
		if (olen && send_all(fd, out, olen) < 0)
			goto out;
		olen = 0;
		/* Keep the start of the next request. */
		len = (size_t)(in + len - p);
		memmove(in, p, len);
		if (len == sizeof(in)) {
			send_all(fd, TOO_LARGE, sizeof(TOO_LARGE) - 1);
			break;
		}
	}
out:
	rg_close(fd);
}

static void main_goroutine(void *arg)
{
	(void)arg;
	printf("http_hello: listening on port %d (%d Ps)\n", port, rg_gomaxprocs(0));
	fflush(stdout);

	for (;;) {
		int fd = rg_accept(listen_fd, NULL, NULL), one = 1;

		if (fd < 0) {
			fprintf(stderr, "rg_accept: %s\n", strerror(-fd));
			exit(1);
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (rg_go(serve, (void *)(intptr_t)fd) < 0) {
			fprintf(stderr, "rg_go: cannot start a goroutine; dropping a connection\n");
			rg_close(fd);
		}
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t alen = sizeof(addr);
	rg_config cfg = { 0 };
	int one = 1, r;

	port = argc > 1 ? atoi(argv[1]) : 8080;
	if (argc > 2)
		cfg.maxprocs = atoi(argv[2]);
	if (argc > 3 || port < 0 || port > 65535 || cfg.maxprocs < 0) {
		fprintf(stderr, "usage: %s [PORT [MAXPROCS]]   (default port 8080)\n", argv[0]);
		return 2;
	}
	addr.sin_port = htons(port);
	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 ||
	    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(listen_fd, 1024) < 0 ||
	    getsockname(listen_fd, (struct sockaddr *)&addr, &alen) < 0) {
		fprintf(stderr, "%s: port %d: ", argv[0], port);
		perror("listen");
		return 1;
	}
	port = ntohs(addr.sin_port);

	r = rg_main(&cfg, main_goroutine, NULL);
	if (r) {
		fprintf(stderr, "rg_main: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
