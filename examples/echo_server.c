/* SPDX-License-Identifier: MIT */
/*
 * echo_server.c - a TCP echo server: one goroutine per connection.
 *
 * The main goroutine accepts connections with rg_accept and starts a
 * goroutine for each; that goroutine sends back whatever it receives
 * (rg_recv, rg_send) until the peer closes.  A goroutine waiting for data
 * parks, so thousands of idle connections cost thousands of goroutines,
 * not thousands of threads.
 *
 * Run it, and from another terminal send it a line: bash's /dev/tcp is the
 * client, nothing to install ("hello" comes back).  Ctrl-C stops it.
 *
 *   make examples && build/examples/echo_server 7777
 *   (exec 3<>/dev/tcp/127.0.0.1/7777; echo hello >&3; head -n1 <&3)
 *
 * Built against an installed ringo: README.md, "Linking a program with
 * ringo".
 */
#include <netinet/in.h>
#include <ringo.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Echo everything received on fd back to it, then close it. */
static void serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[4096];
	ssize_t n;

	while ((n = rg_recv(fd, buf, sizeof(buf), 0)) > 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t w = rg_send(fd, buf + off, (size_t)(n - off), 0);

			if (w < 0)
				goto out;
			off += w;
		}
	}
out:
	rg_close(fd);
}

static void main_goroutine(void *arg)
{
	int lfd = *(int *)arg;

	for (;;) {
		int fd = rg_accept(lfd, NULL, NULL);

		if (fd < 0) {
			fprintf(stderr, "rg_accept: %s\n", strerror(-fd));
			exit(1);
		}
		if (rg_go(serve, (void *)(intptr_t)fd) < 0) {
			fprintf(stderr, "rg_go: cannot start a goroutine; dropping a connection\n");
			rg_close(fd);
		}
	}
}

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 7777;
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1, lfd, r;

	if (port < 0 || port > 65535) {
		fprintf(stderr, "usage: %s [PORT]   (default 7777)\n", argv[0]);
		return 2;
	}
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(lfd, 1024) < 0) {
		fprintf(stderr, "%s: port %d: ", argv[0], port);
		perror("listen");
		return 1;
	}
	printf("echo server listening on port %d\n", port);
	fflush(stdout);

	r = rg_main(NULL, main_goroutine, &lfd);
	if (r) {
		fprintf(stderr, "rg_main: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
