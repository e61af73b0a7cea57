/* SPDX-License-Identifier: MIT */
/*
 * tls_echo - a TLS echo server: OpenSSL over non-blocking sockets, one
 * goroutine per connection, waiting with rg_poll.
 *
 * Build (after make install):
 *
 *   cc -O2 tls_echo.c $(pkg-config --cflags --libs ringo openssl) -o tls_echo
 *
 * Run, with a certificate and its key (a self-signed pair for a test:
 * openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1
 * -nodes -keyout key.pem -out cert.pem -days 30 -subj /CN=localhost):
 *
 *   ./tls_echo [PORT [CERT KEY]]   (default 8443, 0: any; cert.pem key.pem)
 *   openssl s_client -connect 127.0.0.1:8443 -quiet
 *
 * How it works.  OpenSSL knows nothing of goroutines; it reads and writes
 * a descriptor and, when the descriptor is non-blocking and would block,
 * says so: SSL_ERROR_WANT_READ or SSL_ERROR_WANT_WRITE.  Each connection's
 * goroutine then waits with rg_poll(fd, POLLIN or POLLOUT, timeout),
 * which parks the goroutine (its thread runs others) until the socket is
 * ready, and calls OpenSSL again: the pattern for any non-blocking C
 * library (c-ares, libpq, libcurl's multi API).  See tls_call.
 *
 * Threads.  OpenSSL keeps its error queue per thread, and a goroutine may
 * resume on another thread after any call that can park, or after
 * preemption.  So an OpenSSL call and the SSL_get_error and ERR_* calls
 * that read its outcome run with preemption disabled and nothing that
 * parks between them (tls_call); the wait comes after.
 *
 * Limits.  A connection that sends nothing for IDLE_S seconds, or whose
 * handshake does not finish in that time, is closed; so is one that
 * fails the handshake (a plain-text client, say), which costs the server
 * nothing more.  Each connection holds one 16 KiB buffer.
 *
 * Stopping.  SIGTERM and SIGINT arrive on a channel (rg_signal_notify).
 * The listener is closed (the parked rg_accept returns) and every
 * connection's wait is cancelled (rg_io_cancel: rg_poll returns
 * -ECANCELED); each goroutine sends its close_notify and closes; the main
 * goroutine waits for them and returns: exit status 0.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <ringo.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_PORT 8443
#define IDLE_S	     60
#define BUF_SIZE     16384
#define MAX_CONNS    4096

static SSL_CTX *ssl_ctx;
static int listen_fd = -1;

/* The open connections' descriptors, so that a stop can cancel their
 * waits; under conns_lock. */
static struct {
	rg_mutex lock;
	int fds[MAX_CONNS];
	int n;
	bool stopping;
} conns;
static rg_wg conns_wg;

/* Add fd; false when the server is stopping or full. */
static bool conn_add(int fd)
{
	bool ok;

	rg_mutex_lock(&conns.lock);
	ok = !conns.stopping && conns.n < MAX_CONNS;
	if (ok)
		conns.fds[conns.n++] = fd;
	rg_mutex_unlock(&conns.lock);
	return ok;
}

static void conn_remove(int fd)
{
	rg_mutex_lock(&conns.lock);
	for (int i = 0; i < conns.n; i++)
		if (conns.fds[i] == fd) {
			conns.fds[i] = conns.fds[--conns.n];
			break;
		}
	rg_mutex_unlock(&conns.lock);
}

/* One OpenSSL call on a connection, with its arguments. */
struct tls_op {
	SSL *ssl;
	int fd;
	void *buf;
	int len;
	int (*call)(struct tls_op *op);
};

static int do_accept(struct tls_op *op)
{
	return SSL_accept(op->ssl);
}

static int do_read(struct tls_op *op)
{
	return SSL_read(op->ssl, op->buf, op->len);
}

static int do_write(struct tls_op *op)
{
	return SSL_write(op->ssl, op->buf, op->len);
}

static int do_shutdown(struct tls_op *op)
{
	return SSL_shutdown(op->ssl);
}

/*
 * Run op->call, waiting for the socket whenever OpenSSL wants it: the
 * call's result once it wants nothing more (> 0 done, else *err says why:
 * SSL_get_error's answer), or -1 with *err = SSL_ERROR_SYSCALL when the
 * wait failed, *wait_r saying how (-ETIMEDOUT: idle; -ECANCELED: the
 * server stops).  SSL_write is called again with the same arguments after
 * a wait, as OpenSSL requires, and writes everything (no partial writes).
 */
static int tls_call(struct tls_op *op, int *err, int *wait_r)
{
	for (;;) {
		int r, e;
		short want;

		/* The call and the reading of its error, on one thread. */
		rg_preempt_disable();
		ERR_clear_error();
		r = op->call(op);
		e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(op->ssl, r);
		ERR_clear_error();
		rg_preempt_enable();
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			*err = e;
			return r;
		}
		want = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		*wait_r = rg_poll(op->fd, want, (int64_t)IDLE_S * 1000000000);
		if (*wait_r < 0) {
			*err = SSL_ERROR_SYSCALL;
			return -1;
		}
	}
}

static void serve(void *arg)
{
	int fd = (int)(intptr_t)arg, err = 0, wait_r = 0, n;
	struct tls_op op = { .fd = fd };
	char *buf = malloc(BUF_SIZE);
	SSL *ssl = NULL;

	if (!buf || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		goto out;
	ssl = SSL_new(ssl_ctx);
	if (!ssl || !SSL_set_fd(ssl, fd))
		goto out;
	op.ssl = ssl;
	op.call = do_accept;
	if (tls_call(&op, &err, &wait_r) <= 0)
		goto out; /* handshake failed, timed out or cancelled */
	for (;;) {
		op.call = do_read;
		op.buf = buf;
		op.len = BUF_SIZE;
		n = tls_call(&op, &err, &wait_r);
		if (n <= 0)
			break; /* the peer's close_notify, an error, idle, stopping */
		op.call = do_write;
		op.len = n;
		if (tls_call(&op, &err, &wait_r) <= 0)
			break;
	}
	if (err == SSL_ERROR_ZERO_RETURN || wait_r == -ECANCELED) {
		/* A clean end (theirs or ours): say goodbye, briefly. */
		op.call = do_shutdown;
		tls_call(&op, &err, &wait_r);
	}
out:
	SSL_free(ssl);
	free(buf);
	conn_remove(fd);
	rg_close(fd);
	rg_wg_done(&conns_wg);
}

/* Close the listener, cancel every connection's wait. */
static void stop_server(void)
{
	rg_mutex_lock(&conns.lock);
	conns.stopping = true;
	for (int i = 0; i < conns.n; i++)
		rg_io_cancel(conns.fds[i]);
	rg_mutex_unlock(&conns.lock);
	rg_close(listen_fd);
}

static void wait_for_signal(void *arg)
{
	rg_chan *signals = arg;
	int sig = 0;

	if (rg_chan_recv(signals, &sig) == 1)
		printf("tls_echo: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
	fflush(stdout);
	/* Still notified: another SIGTERM while stopping is dropped. */
	stop_server();
}

static void main_goroutine(void *arg)
{
	/* Static: notified until the process exits (see wait_for_signal). */
	static rg_chan *signals;
	int port = (int)(intptr_t)arg;
	sigset_t set;
	int r;

	signals = rg_chan_make(sizeof(int), 1);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	r = signals ? rg_signal_notify(signals, &set) : -ENOMEM;
	if (r == 0)
		r = rg_go(wait_for_signal, signals);
	if (r < 0) {
		fprintf(stderr, "tls_echo: %s\n", strerror(-r));
		exit(1);
	}
	printf("tls_echo: listening on port %d (%d Ps)\n", port, rg_gomaxprocs(0));
	fflush(stdout);
	for (;;) {
		int fd = rg_accept(listen_fd, NULL, NULL);

		if (fd < 0) {
			if (fd == -ECANCELED || fd == -EBADF)
				break; /* stopping */
			if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM) {
				rg_sleep_ns(10 * 1000000); /* out of descriptors: later */
				continue;
			}
			if (fd == -ECONNABORTED || fd == -EPERM || fd == -EPROTO)
				continue;
			fprintf(stderr, "tls_echo: accept: %s\n", strerror(-fd));
			break;
		}
		rg_wg_add(&conns_wg, 1);
		if (!conn_add(fd) || rg_go(serve, (void *)(intptr_t)fd) != 0) {
			conn_remove(fd);
			rg_close(fd);
			rg_wg_done(&conns_wg);
		}
	}
	rg_wg_wait(&conns_wg);
	printf("tls_echo: stopped\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	const char *cert = "cert.pem", *key = "key.pem";
	socklen_t len = sizeof(addr);
	int port = DEFAULT_PORT, one = 1, r;

	if (argc != 1 && argc != 2 && argc != 4) {
		fprintf(stderr, "usage: %s [PORT [CERT KEY]]   (default %d, 0: any; %s %s)\n",
			argv[0], DEFAULT_PORT, cert, key);
		return 2;
	}
	if (argc > 1) {
		char *end;
		long v = strtol(argv[1], &end, 10);

		if (*end || !*argv[1] || v < 0 || v > 65535) {
			fprintf(stderr, "%s: bad port '%s'\n", argv[0], argv[1]);
			return 2;
		}
		port = (int)v;
	}
	if (argc == 4) {
		cert = argv[2];
		key = argv[3];
	}
	signal(SIGPIPE, SIG_IGN);
	ssl_ctx = SSL_CTX_new(TLS_server_method());
	if (!ssl_ctx || SSL_CTX_use_certificate_chain_file(ssl_ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ssl_ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ssl_ctx) != 1) {
		fprintf(stderr, "%s: cannot use %s and %s:\n", argv[0], cert, key);
		ERR_print_errors_fp(stderr);
		return 1;
	}
	SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION);
	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = htons((uint16_t)port);
	if (listen_fd < 0 || setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(listen_fd, (struct sockaddr *)&addr, sizeof(addr)) || listen(listen_fd, 512) ||
	    getsockname(listen_fd, (struct sockaddr *)&addr, &len)) {
		perror("tls_echo: listen");
		return 1;
	}
	r = rg_main(NULL, main_goroutine, (void *)(intptr_t)ntohs(addr.sin_port));
	SSL_CTX_free(ssl_ctx);
	if (r) {
		fprintf(stderr, "rg_main: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}
