/* SPDX-License-Identifier: MIT */
/*
 * http_hello.c - a small HTTP/1.1 server answering "Hello, World!".
 *
 * One goroutine per connection.  It appends what it receives to a buffer,
 * answers every complete request head in it (a head ends at its first empty
 * line, "\r\n\r\n"), sends those answers together in one write, and keeps
 * the incomplete rest for the next rg_recv: requests may arrive in pieces
 * or several at once (pipelining).  Memory per connection is the two
 * buffers on the goroutine's stack, whatever the client sends.
 *
 * What it answers:
 *  - GET: 200 "Hello, World!" (text/plain); HEAD: the same headers, no
 *    body; any other method: 405 with "Allow: GET, HEAD".  Every target
 *    gets the same answer, but /metrics: the runtime's metrics in
 *    Prometheus's text format (rg_metrics_format), for a scraper.
 *  - A body announced by Content-Length is read and dropped, however many
 *    reads it spans.  Transfer-Encoding (chunked bodies) is not supported:
 *    501 and the connection is closed.  A Content-Length above MAX_BODY:
 *    413 and close.
 *  - Keep-alive: HTTP/1.1 keeps the connection unless the request's
 *    Connection header lists "close"; HTTP/1.0 closes it after the answer
 *    unless the request lists "keep-alive" (the answer then says
 *    "Connection: keep-alive").  Header names and Connection tokens are
 *    compared without case.
 *  - A malformed request (request line, header line without a colon or
 *    with control characters, Content-Length, an HTTP/1.1 request without
 *    exactly one Host) gets 400, an HTTP version other than 1.x gets 505, a
 *    head longer than IN_SIZE gets 431, each with "Connection: close".
 *    Bad bytes are noticed as they arrive, before the head is complete.
 *
 * Idle connections: a connection that sends nothing for IDLE_S seconds
 * (the third argument; 60 by default, 0 for none) is closed, as Go's
 * http.Server.IdleTimeout and nginx's keepalive_timeout do; one that
 * stopped in the middle of a request head or body is answered 408 first.
 * So a client that opens connections and sends nothing, or a byte at a
 * time (slowloris), holds a goroutine at most IDLE_S seconds per step.
 *
 * A connection ending after an answer is shut down for writing and then
 * read until the client closes it (at most LINGER_NS), so that what the
 * client still sends does not make the kernel reset the connection before
 * the client has read the answer.  SIGTERM and SIGINT stop the server: a
 * goroutine receives them from a channel (rg_signal_notify, Go's
 * signal.Notify) and cancels the root context that the main goroutine and
 * every connection run under (rg_ctx_attach, rg_go_ctx).  That ends the
 * main goroutine's rg_accept and every connection waiting for a request
 * (-ECANCELED); a connection in the middle of a request sends its answer
 * without the context, within STOP_SEND_NS, and then closes, as Go's
 * http.Server.Shutdown lets active connections finish.  The main goroutine
 * waits for the connections, returns, so does rg_main, and the exit
 * status is 0.
 *
 *   make examples && build/examples/http_hello 8080 [MAXPROCS [IDLE_S]]
 *   curl http://127.0.0.1:8080/
 *   wrk -t1 -c100 -d10s http://127.0.0.1:8080/
 *
 * (the clients: apt-get install curl wrk).  Port 0 picks a free port; the
 * first line printed names the port and the number of Ps ("http_hello:
 * listening on port 8080 (2 Ps)").  Built against an installed ringo:
 * README.md, "Linking a program with ringo".
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <ringo.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define IN_SIZE	     8192	  /* the longest request head */
#define OUT_SIZE     16384	  /* answers gathered for one write */
#define MAX_REPLY    256	  /* the longest answer respond() writes */
#define MAX_BODY     (64 << 20)	  /* the longest request body accepted */
#define LINGER_NS    1000000000LL /* how long a closing connection is drained */
#define STOP_SEND_NS 1000000000LL /* how long a stopping server sends an answer */
#define IDLE_S	     60		  /* the default idle timeout, seconds */

struct request {
	int status;	 /* 200, or the status of the answer */
	bool head;	 /* HEAD: the answer has no body */
	bool http10;	 /* an HTTP/1.0 request */
	bool keep_alive; /* the connection stays open after the answer */
	bool metrics;	 /* the target is /metrics */
	long body;	 /* Content-Length: bytes to read and drop */
};

static int listen_fd;
static int port;
static sigset_t stop_signals; /* SIGTERM and SIGINT */
static rg_ctx *root;	      /* cancelled to stop the server */
static rg_wg conns;	      /* the connection goroutines */
static int64_t idle_ns;	      /* a connection silent this long is closed; 0: never */

/* A request header's name: "!#$%&'*+-.^_`|~", digits and letters. */
static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* A control character other than tab (bytes >= 0x80 are allowed). */
static bool is_ctl(char c)
{
	return ((unsigned char)c < 0x20 && c != '\t') || c == 0x7f;
}

/* The end of the request head starting at p: its "\r\n\r\n", or NULL. */
static char *find_head_end(char *p, char *end)
{
	for (char *q = p; (q = memchr(q, '\n', (size_t)(end - q))); q++)
		if (q - p >= 3 && q[-1] == '\r' && q[-2] == '\n' && q[-3] == '\r')
			return q - 3;
	return NULL;
}

/* The end of the line starting at p (its "\r\n"), or end. */
static char *find_eol(char *p, char *end)
{
	for (char *q = p; (q = memchr(q, '\n', (size_t)(end - q))); q++)
		if (q > p && q[-1] == '\r')
			return q - 1;
	return end;
}

/* Is [p, end) the token tok, without case? */
static bool token_is(const char *p, const char *end, const char *tok)
{
	size_t len = strlen(tok);

	return (size_t)(end - p) == len && strncasecmp(p, tok, len) == 0;
}

/* Does the comma-separated list [p, end) ("close", "Keep-Alive, Upgrade")
 * hold the token tok, without case? */
static bool list_has(const char *p, const char *end, const char *tok)
{
	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *t_end = comma ? comma : end, *q = t_end;

		while (p < q && (*p == ' ' || *p == '\t'))
			p++;
		while (q > p && (q[-1] == ' ' || q[-1] == '\t'))
			q--;
		if (token_is(p, q, tok))
			return true;
		p = t_end + 1;
	}
	return false;
}

/* Parse "METHOD SP TARGET SP HTTP/1.x" in [p, end) into r; 0 or a status. */
static int parse_request_line(char *p, char *end, struct request *r)
{
	char *method = p, *sp;

	while (p < end && is_tchar(*p))
		p++;
	if (p == method || p == end || *p != ' ')
		return 400;
	r->head = p - method == 4 && memcmp(method, "HEAD", 4) == 0;
	if (!r->head && !(p - method == 3 && memcmp(method, "GET", 3) == 0))
		r->status = 405;
	sp = ++p;
	while (p < end && *p != ' ' && !is_ctl(*p))
		p++;
	if (p == sp || p == end || *p != ' ')
		return 400;
	r->metrics = p - sp == 8 && memcmp(sp, "/metrics", 8) == 0;
	p++;
	if (end - p != 8 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.' || p[5] < '0' || p[5] > '9' ||
	    p[7] < '0' || p[7] > '9')
		return 400;
	if (p[5] != '1')
		return 505;
	r->http10 = p[7] == '0';
	return 0;
}

/* A Content-Length value: its number (MAX_BODY + 1 for any larger one), or
 * -1 if it is not a number. */
static long parse_length(const char *p, const char *end)
{
	long n = 0;

	if (p == end)
		return -1;
	for (; p < end; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		n = n > MAX_BODY ? n : n * 10 + (*p - '0');
	}
	return n;
}

/* Parse the request head [p, end) (without its empty line) into r; 0 or a
 * status. */
static int parse_head(char *p, char *end, struct request *r)
{
	char *eol = find_eol(p, end);
	bool close = false, keep_alive = false, chunked = false;
	int hosts = 0, err;
	long length = -1;

	err = parse_request_line(p, eol, r);
	if (err)
		return err;
	for (p = eol + 2; p < end; p = eol + 2) {
		char *name = p, *name_end, *v, *v_end;

		eol = find_eol(p, end);
		while (p < eol && is_tchar(*p))
			p++;
		if (p == name || p == eol || *p != ':')
			return 400; /* no name, no colon, or a folded line */
		name_end = p++;
		while (p < eol && (*p == ' ' || *p == '\t'))
			p++;
		v = p;
		for (v_end = v; p < eol; p++) {
			if (is_ctl(*p))
				return 400;
			if (*p != ' ' && *p != '\t')
				v_end = p + 1;
		}
		if (token_is(name, name_end, "Host")) {
			hosts++;
		} else if (token_is(name, name_end, "Content-Length")) {
			long n = parse_length(v, v_end);

			if (n > MAX_BODY)
				return 413;
			if (n < 0 || (length >= 0 && n != length))
				return 400;
			length = n;
		} else if (token_is(name, name_end, "Transfer-Encoding")) {
			chunked = true;
		} else if (token_is(name, name_end, "Connection")) {
			close |= list_has(v, v_end, "close");
			keep_alive |= list_has(v, v_end, "keep-alive");
		}
	}
	if (!r->http10 && hosts != 1)
		return 400;
	if (chunked)
		return 501;
	r->keep_alive = r->http10 ? keep_alive && !close : !close;
	r->body = length > 0 ? length : 0;
	return 0;
}

/* Is the incomplete head [p, end) already malformed?  0, or the status to
 * answer: a control character, a line feed without its carriage return,
 * or a complete first line that is not a request line. */
static int check_partial(char *p, char *end)
{
	struct request r = { 0 };
	char *eol = find_eol(p, end);

	for (char *q = p; q < end; q++) {
		if (*q == '\n' && (q == p || q[-1] != '\r'))
			return 400;
		if (*q == '\r' && q + 1 < end && q[1] != '\n')
			return 400;
		if (is_ctl(*q) && *q != '\r' && *q != '\n')
			return 400;
	}
	return eol < end ? parse_request_line(p, eol, &r) : 0;
}

static char *put(char *o, const char *s)
{
	size_t len = strlen(s);

	memcpy(o, s, len);
	return o + len;
}

/* Write the answer to r at out; its length (at most MAX_REPLY). */
static size_t respond(char *out, const struct request *r)
{
	char *o = out;

	switch (r->status) {
	case 200:
		o = put(o, "HTTP/1.1 200 OK\r\n"
			   "Content-Type: text/plain; charset=utf-8\r\n"
			   "Content-Length: 13\r\n");
		break;
	case 405:
		o = put(o, "HTTP/1.1 405 Method Not Allowed\r\n"
			   "Allow: GET, HEAD\r\n"
			   "Content-Length: 0\r\n");
		break;
	case 408:
		o = put(o, "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n");
		break;
	case 413:
		o = put(o, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n");
		break;
	case 431:
		o = put(o, "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n");
		break;
	case 501:
		o = put(o, "HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\n");
		break;
	case 505:
		o = put(o, "HTTP/1.1 505 HTTP Version Not Supported\r\nContent-Length: 0\r\n");
		break;
	default:
		o = put(o, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n");
		break;
	}
	if (!r->keep_alive)
		o = put(o, "Connection: close\r\n");
	else if (r->http10)
		o = put(o, "Connection: keep-alive\r\n");
	o = put(o, "\r\n");
	if (r->status == 200 && !r->head)
		o = put(o, "Hello, World!");
	return (size_t)(o - out);
}

/* Send all of buf; 0, or -1 if the connection failed. */
static int send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = rg_send(fd, buf, len, 0);

		if (n == -ECANCELED && rg_ctx_attach(NULL) == root) {
			/* The server stops: this answer goes out without the
			 * root context, and then the connection closes. */
			rg_set_deadline(rg_now_ns() + STOP_SEND_NS);
			continue;
		}
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* End a connection whose last answer was sent: no more sending, then drop
 * what the client still sends until it closes, for at most LINGER_NS. */
static void linger_close(int fd, char *buf, size_t size)
{
	shutdown(fd, SHUT_WR);
	rg_ctx_attach(NULL); /* a stopping server lingers too */
	rg_set_deadline(rg_now_ns() + LINGER_NS);
	while (rg_recv(fd, buf, size, 0) > 0)
		;
	rg_close(fd);
}

/* Send the metrics as the answer to r (after what is queued at out); 0,
 * or -1 if the connection failed or memory ran out. */
static int send_metrics(int fd, char *out, size_t *nout, const struct request *r)
{
	ssize_t len = rg_metrics_format(NULL, 0);
	size_t cap = len > 0 ? (size_t)len + 4096 : 0, n = 0;
	char *body = cap ? malloc(cap) : NULL;
	int rc = -1;

	if (!body)
		goto out;
	if (*nout + MAX_REPLY > OUT_SIZE) {
		if (send_all(fd, out, *nout) < 0)
			goto out;
		*nout = 0;
	}
	len = rg_metrics_format(body, cap);
	if (len < 0 || (size_t)len >= cap)
		goto out;
	n = (size_t)snprintf(out + *nout, MAX_REPLY,
			     "HTTP/1.1 200 OK\r\n"
			     "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
			     "Content-Length: %zd\r\n%s\r\n",
			     len,
			     !r->keep_alive ? "Connection: close\r\n" :
			     r->http10	    ? "Connection: keep-alive\r\n" :
					      "");
	rc = send_all(fd, out, *nout + n);
	*nout = 0;
	if (!rc && !r->head)
		rc = send_all(fd, body, (size_t)len);
out:
	free(body);
	return rc;
}

/* Add the answer to r to the nout bytes at out, first sending them if it
 * might not fit; 0, or -1 if the connection failed. */
static int queue_reply(int fd, char *out, size_t *nout, const struct request *r)
{
	if (r->metrics && r->status == 200)
		return send_metrics(fd, out, nout, r);
	if (*nout + MAX_REPLY > OUT_SIZE) {
		if (send_all(fd, out, *nout) < 0)
			return -1;
		*nout = 0;
	}
	*nout += respond(out + *nout, r);
	return 0;
}

static void serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char in[IN_SIZE], out[OUT_SIZE];
	size_t len = 0; /* bytes in in[] */
	long skip = 0;	/* body bytes still to drop */
	bool keep_alive = true, closing = false;
	struct request r;
	ssize_t n;

	for (;;) {
		if (closing)
			break;
		rg_set_deadline(idle_ns ? rg_now_ns() + idle_ns : 0);
		n = rg_recv(fd, in + len, sizeof(in) - len, 0);
		if (n == -ETIMEDOUT && (len || skip)) {
			/* Silent in the middle of a request: 408, and close. */
			size_t nout = 0;

			r = (struct request){ .status = 408 };
			if (queue_reply(fd, out, &nout, &r) < 0 || send_all(fd, out, nout) < 0)
				goto out;
			closing = true;
			break;
		}
		if (n <= 0)
			break; /* closed, failed, idle (-ETIMEDOUT), or the server stops */
		/* The answers must leave within IDLE_S too (a client that does
		 * not read them). */
		rg_set_deadline(idle_ns ? rg_now_ns() + idle_ns : 0);
		char *p = in, *end = in + len + n, *head_end;
		size_t nout = 0;
		int err;

		for (;;) {
			long drop = skip < end - p ? skip : end - p;

			p += drop;
			skip -= drop;
			if (skip)
				break; /* the body goes on in the next read */
			if (!keep_alive) {
				closing = true;
				break;
			}
			while (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
				p += 2; /* empty lines before a request are ignored */
			head_end = find_head_end(p, end);
			if (!head_end)
				break;
			r = (struct request){ .status = 200 };
			err = parse_head(p, head_end, &r);
			if (err)
				r = (struct request){ .status = err };
			p = head_end + 4;
			if (queue_reply(fd, out, &nout, &r) < 0)
				goto out;
			keep_alive = r.keep_alive;
			skip = r.body;
		}
		/* Keep the start of the next request, unless it is already bad. */
		len = (size_t)(end - p);
		memmove(in, p, len);
		if (!closing && len) {
			err = check_partial(in, in + len);
			if (!err && len == sizeof(in))
				err = 431;
			if (err) {
				r = (struct request){ .status = err };
				if (queue_reply(fd, out, &nout, &r) < 0)
					goto out;
				closing = true;
			}
		}
		if (nout && send_all(fd, out, nout) < 0)
			goto out;
		if (rg_ctx_err(root))
			closing = true; /* answered; the server stops */
	}
	if (closing) {
		linger_close(fd, in, sizeof(in));
		rg_wg_done(&conns);
		return;
	}
out:
	rg_close(fd);
	rg_wg_done(&conns);
}

/* On SIGTERM or SIGINT, cancel the root context (see the top).  The
 * signals stay notified: one more while stopping is dropped. */
static void wait_signal(void *arg)
{
	int sig;

	if (rg_chan_recv(arg, &sig) == 1)
		rg_ctx_cancel(root);
}

static void main_goroutine(void *arg)
{
	/* Static: notified until the process exits (see wait_for_signal). */
	static rg_chan *signals;
	int r;

	(void)arg;
	signals = rg_chan_make(sizeof(int), 1);
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	r = signals ? rg_signal_notify(signals, &stop_signals) : -ENOMEM;
	if (r < 0) {
		fprintf(stderr, "rg_signal_notify: %s\n", strerror(-r));
		exit(1);
	}
	root = rg_ctx_with_cancel(NULL);
	if (!root) {
		fprintf(stderr, "rg_ctx_with_cancel: out of memory\n");
		exit(1);
	}
	printf("http_hello: listening on port %d (%d Ps)\n", port, rg_gomaxprocs(0));
	fflush(stdout);
	if (rg_go(wait_signal, signals) < 0) {
		fprintf(stderr, "rg_go: cannot start a goroutine\n");
		exit(1);
	}
	rg_ctx_attach(root);

	for (;;) {
		int fd = rg_accept(listen_fd, NULL, NULL), one = 1;

		if (fd == -ECANCELED)
			break; /* the stop */
		if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM) {
			rg_sleep_ns(10000000); /* out of descriptors: let some close */
			continue;
		}
		if (fd == -ECONNABORTED || fd == -EINTR)
			continue;
		if (fd < 0) {
			fprintf(stderr, "rg_accept: %s\n", strerror(-fd));
			exit(1);
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		rg_wg_add(&conns, 1);
		if (rg_go_ctx(root, serve, (void *)(intptr_t)fd) < 0) {
			fprintf(stderr, "rg_go: cannot start a goroutine; dropping a connection\n");
			rg_close(fd);
			rg_wg_done(&conns);
		}
	}
	rg_ctx_attach(NULL);
	rg_wg_wait(&conns);
	rg_close(listen_fd);
	rg_ctx_free(root);
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t alen = sizeof(addr);
	rg_config cfg = { 0 };
	int one = 1, idle, r;

	port = argc > 1 ? atoi(argv[1]) : 8080;
	if (argc > 2)
		cfg.maxprocs = atoi(argv[2]);
	idle = argc > 3 ? atoi(argv[3]) : IDLE_S;
	if (argc > 4 || port < 0 || port > 65535 || cfg.maxprocs < 0 || idle < 0) {
		fprintf(stderr,
			"usage: %s [PORT [MAXPROCS [IDLE_S]]]   (default port 8080, MAXPROCS 0: "
			"the CPUs, IDLE_S 60, 0: no idle timeout)\n",
			argv[0]);
		return 2;
	}
	idle_ns = (int64_t)idle * 1000000000LL;
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
