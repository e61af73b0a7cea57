/* SPDX-License-Identifier: MIT */
/*
 * dnsd - a minimal authoritative DNS server over UDP and TCP for the dns
 * benchmark and test_dns: plain C, one thread, no ringo, run as its own
 * process (scripts/dnsenv.sh starts it) so that it disturbs neither side.
 *
 * It answers every well-formed query, whatever the name:
 *   - an A query (class IN) with one A record, TTL 60, whose address is
 *     derived from the name: 10.b1.b2.b3, the low three bytes (high to
 *     low) of the 32-bit FNV-1a hash of the name in dotted form,
 *     lower-cased, without the final dot, so a client can check that the
 *     answer is its own (dns_name_addr below; bench/dns.c and
 *     bench/go/dns.go compute the same);
 *   - any other type (AAAA included) with an empty NOERROR answer
 *     (NODATA), any other class with REFUSED.
 * Labels after the first change that:
 *   - "nx": NXDOMAIN;
 *   - "drop": no answer at all (a server that never answers);
 *   - "d<MS>" (MS <= 60000): the answer leaves MS milliseconds later,
 *     without holding up other queries (a timer queue);
 *   - "tc": over UDP, a truncated answer (TC set, no records), which
 *     sends the client to TCP, where the answer is whole.
 * -d MS delays every other answer the same way.
 *
 * TCP: the same port, each message after its two-byte length, several
 * per connection, at most MAX_CONNS connections at once (further ones
 * are closed at once).  A connection that sends a malformed length or a
 * query it drops, or whose answer does not fit its socket's buffer at
 * once, is closed; one whose delayed answer outlives it gets none.
 *
 * Queries are parsed defensively: at most 512 bytes; a header that is not
 * a standard query (QR 0, opcode 0) with exactly one question and no
 * answer or authority records; a name of plain labels (no compression) of
 * at most 63 bytes each and 255 in all, inside the datagram; the type and
 * class inside the datagram.  Anything else is dropped unanswered.  The
 * question is echoed as sent; additional records (an EDNS OPT) are not.
 * At most MAX_PENDING delayed answers wait at once; further ones are
 * dropped.
 *
 * Usage: dnsd [-l ADDR] [-p PORT] [-d MS] [-v]
 *   defaults: 127.0.0.1, port 53, no delay; -v logs each query on stderr.
 * Once its sockets are bound it prints "dnsd: ready ADDR:PORT" on stdout
 * and runs until killed.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_MSG	    512	  /* classic UDP DNS */
#define MAX_NAME    255	  /* wire form */
#define MAX_DELAY   60000 /* ms */
#define MAX_PENDING 65536
#define BATCH	    64
#define MAX_CONNS   64

#define DNS_TYPE_A   1
#define DNS_CLASS_IN 1
#define RCODE_OK     0
#define RCODE_NX     3
#define RCODE_REFUSE 5

enum verdict { ANSWER, DROP };

struct reply {
	int64_t due; /* CLOCK_MONOTONIC ns */
	struct sockaddr_in to;
	int conn;     /* over TCP: its connection (conns[conn]); -1: UDP */
	uint32_t gen; /* that connection's generation when asked */
	uint16_t len;
	uint8_t buf[2 + MAX_MSG]; /* the answer; over TCP, after its length */
};

/* The TCP connections: fd -1 when the slot is free.  gen counts the
 * connections a slot has held, so a delayed answer finds its own. */
static struct conn {
	int fd;
	uint32_t gen;
	size_t have;		 /* bytes of in[] read */
	uint8_t in[2 + MAX_MSG]; /* a query after its two-byte length */
} conns[MAX_CONNS];

/* The delayed answers: a binary min-heap on due. */
static struct {
	struct reply **v;
	size_t n, cap;
} pending;

static bool verbose;

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* FNV-1a over the dotted, lower-cased name (no final dot). */
static uint32_t dns_name_hash(const char *name)
{
	uint32_t h = 2166136261u;

	for (; *name; name++) {
		h ^= (uint8_t)*name;
		h *= 16777619u;
	}
	return h;
}

/* The address dnsd answers for name (network byte order). */
static uint32_t dns_name_addr(const char *name)
{
	return htonl((10u << 24) | (dns_name_hash(name) & 0xffffff));
}

static int64_t label_delay(const char *label, size_t len)
{
	int64_t ms = 0;

	if (len < 2 || len > 6 || label[0] != 'd')
		return -1;
	for (size_t i = 1; i < len; i++) {
		if (label[i] < '0' || label[i] > '9')
			return -1;
		ms = ms * 10 + (label[i] - '0');
	}
	return ms <= MAX_DELAY ? ms : -1;
}

/* Store v at p, big-endian; the byte after it. */
static uint8_t *put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

/*
 * Parse the query q[0..len) and build its reply in r->buf.  Returns DROP
 * for a datagram to leave unanswered; else ANSWER, with r->len set and
 * *delay_ms the delay the name asks for (-1: none named).
 */
static enum verdict build_reply(const uint8_t *q, size_t len, bool tcp, struct reply *r,
				int64_t *delay_ms)
{
	char name[MAX_NAME + 1];
	size_t pos = 12, nlen = 0, qend;
	uint16_t qtype, qclass;
	int rcode = RCODE_OK, nans = 0;
	bool first = true, truncate = false;
	uint8_t *a;

	*delay_ms = -1;
	if (len < 12 || len > MAX_MSG)
		return DROP;
	if ((q[2] & 0xf8) != 0) /* QR set, or an opcode other than QUERY */
		return DROP;
	if (q[4] != 0 || q[5] != 1 || q[6] || q[7] || q[8] || q[9])
		return DROP; /* one question, no answer or authority records */
	for (;;) {
		size_t l;

		if (pos >= len)
			return DROP;
		l = q[pos];
		if (l == 0)
			break;
		if (l > 63 || pos + 1 + l > len || nlen + l + 1 > MAX_NAME)
			return DROP; /* a pointer, too long, or past the end */
		if (!first)
			name[nlen++] = '.';
		for (size_t i = 0; i < l; i++) {
			uint8_t c = q[pos + 1 + i];

			if (c == '.' || c == 0)
				return DROP;
			name[nlen + i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		}
		if (!first) {
			int64_t d = label_delay(name + nlen, l);

			if (l == 2 && memcmp(name + nlen, "nx", 2) == 0)
				rcode = RCODE_NX;
			else if (l == 4 && memcmp(name + nlen, "drop", 4) == 0)
				return DROP;
			else if (l == 2 && memcmp(name + nlen, "tc", 2) == 0)
				truncate = !tcp;
			else if (d >= 0)
				*delay_ms = d;
		}
		nlen += l;
		pos += 1 + l;
		first = false;
	}
	name[nlen] = '\0';
	qend = pos + 1 + 4;
	if (qend > len)
		return DROP;
	qtype = (uint16_t)(q[pos + 1] << 8 | q[pos + 2]);
	qclass = (uint16_t)(q[pos + 3] << 8 | q[pos + 4]);
	if (qclass != DNS_CLASS_IN)
		rcode = RCODE_REFUSE;
	else if (rcode == RCODE_OK && qtype == DNS_TYPE_A && !truncate)
		nans = 1;
	if (verbose)
		fprintf(stderr, "dnsd: %s type %u class %u over %s: rcode %d, %d answer(s)%s\n",
			name, qtype, qclass, tcp ? "TCP" : "UDP", rcode, nans,
			truncate ? ", truncated" : "");

	memcpy(r->buf, q, qend);
	r->buf[2] = (uint8_t)(0x84 | (truncate ? 0x02 : 0) | (q[2] & 0x01)); /* QR, AA, TC, RD */
	r->buf[3] = (uint8_t)(0x80 | rcode);				     /* RA */
	r->buf[6] = 0;
	r->buf[7] = (uint8_t)nans;
	memset(r->buf + 8, 0, 4); /* no authority, no additional records */
	r->len = (uint16_t)qend;
	if (nans) {
		uint32_t addr = dns_name_addr(name);

		a = r->buf + qend;
		a = put16(a, 0xc000 | 12); /* the name: a pointer to the question's */
		a = put16(a, DNS_TYPE_A);
		a = put16(a, DNS_CLASS_IN);
		a = put16(a, 0); /* TTL, 60 s */
		a = put16(a, 60);
		a = put16(a, 4); /* the address's length */
		memcpy(a, &addr, 4);
		r->len = (uint16_t)(a + 4 - r->buf);
	}
	return ANSWER;
}

static void heap_swap(size_t i, size_t j)
{
	struct reply *t = pending.v[i];

	pending.v[i] = pending.v[j];
	pending.v[j] = t;
}

static bool heap_push(struct reply *r)
{
	size_t i;

	if (pending.n == pending.cap) {
		size_t cap = pending.cap ? pending.cap * 2 : 256;
		struct reply **v;

		if (cap > MAX_PENDING)
			return false;
		v = realloc(pending.v, cap * sizeof(*v));
		if (!v)
			return false;
		pending.v = v;
		pending.cap = cap;
	}
	i = pending.n++;
	pending.v[i] = r;
	while (i > 0 && pending.v[(i - 1) / 2]->due > pending.v[i]->due) {
		heap_swap(i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	return true;
}

static struct reply *heap_pop(void)
{
	struct reply *top = pending.v[0];
	size_t i = 0;

	pending.v[0] = pending.v[--pending.n];
	for (;;) {
		size_t l = 2 * i + 1, m = i;

		if (l < pending.n && pending.v[l]->due < pending.v[m]->due)
			m = l;
		if (l + 1 < pending.n && pending.v[l + 1]->due < pending.v[m]->due)
			m = l + 1;
		if (m == i)
			break;
		heap_swap(i, m);
		i = m;
	}
	return top;
}

/* Send replies r[0..n) at once; lost ones are lost, as on a network. */
static void send_batch(int fd, struct reply **r, unsigned n)
{
	struct mmsghdr msg[BATCH];
	struct iovec iov[BATCH];
	unsigned done = 0;

	for (unsigned i = 0; i < n; i++) {
		iov[i] = (struct iovec){ r[i]->buf, r[i]->len };
		msg[i] = (struct mmsghdr){ .msg_hdr = { .msg_name = &r[i]->to,
							.msg_namelen = sizeof(r[i]->to),
							.msg_iov = &iov[i],
							.msg_iovlen = 1 } };
	}
	while (done < n) {
		int k = sendmmsg(fd, msg + done, n - done, 0);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			k = 1; /* skip the one that failed */
		done += (unsigned)k;
	}
}

static void conn_close(struct conn *c)
{
	close(c->fd);
	c->fd = -1;
	c->have = 0;
}

/* Send r, a TCP reply, on its connection if that is still the one that
 * asked; one that does not go out whole closes it. */
static void tcp_send(const struct reply *r)
{
	struct conn *c = &conns[r->conn];

	if (c->fd >= 0 && c->gen == r->gen &&
	    send(c->fd, r->buf, r->len, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)r->len)
		conn_close(c);
}

/* Send the delayed replies that are due; the time the next one is. */
static int64_t send_due(int fd)
{
	struct reply *due[BATCH];
	unsigned n = 0;
	int64_t now = mono_ns();

	while (pending.n && pending.v[0]->due <= now) {
		struct reply *r = heap_pop();

		if (r->conn >= 0) {
			tcp_send(r);
			free(r);
			continue;
		}
		due[n++] = r;
		if (n == BATCH) {
			send_batch(fd, due, n);
			while (n)
				free(due[--n]);
		}
	}
	send_batch(fd, due, n);
	while (n)
		free(due[--n]);
	return pending.n ? pending.v[0]->due : -1;
}

/* Read the queries waiting on fd, answer or queue each. */
static void serve(int fd, int64_t delay_ms)
{
	static struct reply *slot[BATCH];
	static uint8_t in[BATCH][MAX_MSG + 1];
	struct mmsghdr msg[BATCH];
	struct iovec iov[BATCH];
	struct reply *now[BATCH];
	unsigned n = 0;
	int k;

	for (int i = 0; i < BATCH; i++) {
		if (!slot[i] && !(slot[i] = malloc(sizeof(*slot[i]))))
			return;
		iov[i] = (struct iovec){ in[i], sizeof(in[i]) };
		msg[i] = (struct mmsghdr){ .msg_hdr = { .msg_name = &slot[i]->to,
							.msg_namelen = sizeof(slot[i]->to),
							.msg_iov = &iov[i],
							.msg_iovlen = 1 } };
	}
	k = recvmmsg(fd, msg, BATCH, MSG_DONTWAIT, NULL);
	for (int i = 0; i < k; i++) {
		struct reply *r = slot[i];
		struct msghdr *h = &msg[i].msg_hdr;
		int64_t d;

		if (h->msg_namelen != sizeof(r->to) || msg[i].msg_len > MAX_MSG ||
		    build_reply(in[i], msg[i].msg_len, false, r, &d) == DROP)
			continue;
		r->conn = -1;
		if (d < 0)
			d = delay_ms;
		if (d == 0) {
			now[n++] = r;
			continue;
		}
		r->due = mono_ns() + d * 1000000;
		if (heap_push(r))
			slot[i] = NULL; /* the heap has it; a new slot next time */
	}
	send_batch(fd, now, n);
}

/* Take the connections waiting on the listener lfd. */
static void tcp_accept(int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), i;

		if (fd < 0)
			return;
		for (i = 0; i < MAX_CONNS && conns[i].fd >= 0; i++)
			;
		if (i == MAX_CONNS) {
			close(fd);
			continue;
		}
		conns[i].fd = fd;
		conns[i].gen++;
		conns[i].have = 0;
	}
}

/* Answer the whole query in c->in (after its length, len bytes). */
static void tcp_answer(int i, size_t len, int64_t delay_ms)
{
	struct reply *r = malloc(sizeof(*r));
	int64_t d;

	if (!r || build_reply(conns[i].in + 2, len, true, r, &d) == DROP) {
		free(r);
		return; /* no answer, as over UDP */
	}
	memmove(r->buf + 2, r->buf, r->len);
	put16(r->buf, r->len);
	r->len += 2;
	r->conn = i;
	r->gen = conns[i].gen;
	if (d < 0)
		d = delay_ms;
	if (d == 0) {
		tcp_send(r);
		free(r);
		return;
	}
	r->due = mono_ns() + d * 1000000;
	if (!heap_push(r))
		free(r);
}

/* Read what connection i sent, and answer each whole query. */
static void tcp_serve(int i, int64_t delay_ms)
{
	struct conn *c = &conns[i];

	while (c->fd >= 0) {
		size_t want = 2;
		ssize_t k;

		if (c->have >= 2) {
			size_t len = (size_t)c->in[0] << 8 | c->in[1];

			if (len < 12 || len > MAX_MSG) {
				conn_close(c); /* not a query's length */
				return;
			}
			want += len;
		}
		if (c->have == want) {
			c->have = 0;
			tcp_answer(i, want - 2, delay_ms);
			continue;
		}
		k = recv(c->fd, c->in + c->have, want - c->have, MSG_DONTWAIT);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (k <= 0) {
			conn_close(c); /* closed by the client, or broken */
			return;
		}
		c->have += (size_t)k;
	}
}

static int usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-l ADDR] [-p PORT] [-d MS] [-v]\n", prog);
	return 2;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(53) };
	const char *host = "127.0.0.1";
	long port = 53, delay_ms = 0;
	int fd, lfd, rcvbuf = 8 << 20, one = 1;

	for (int i = 1; i < argc; i++) {
		char *end;

		if (strcmp(argv[i], "-v") == 0) {
			verbose = true;
		} else if (i + 1 < argc && strcmp(argv[i], "-l") == 0) {
			host = argv[++i];
		} else if (i + 1 < argc && strcmp(argv[i], "-p") == 0) {
			port = strtol(argv[++i], &end, 10);
			if (*end || port <= 0 || port > 65535)
				return usage(argv[0]);
		} else if (i + 1 < argc && strcmp(argv[i], "-d") == 0) {
			delay_ms = strtol(argv[++i], &end, 10);
			if (*end || delay_ms < 0 || delay_ms > MAX_DELAY)
				return usage(argv[0]);
		} else {
			return usage(argv[0]);
		}
	}
	if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
		return usage(argv[0]);
	addr.sin_port = htons((uint16_t)port);
	signal(SIGPIPE, SIG_IGN);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		perror("dnsd: socket");
		return 1;
	}
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(lfd, 128) < 0) {
		perror("dnsd: TCP socket");
		return 1;
	}
	for (int i = 0; i < MAX_CONNS; i++)
		conns[i].fd = -1;
	/* A thousand clients may send at once: room for their queries
	 * (the forced size needs CAP_NET_ADMIN; the plain one is capped). */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	printf("dnsd: ready %s:%ld\n", host, port);
	fflush(stdout);
	for (;;) {
		struct pollfd p[2 + MAX_CONNS] = { { .fd = fd, .events = POLLIN },
						   { .fd = lfd, .events = POLLIN } };
		int64_t next = send_due(fd);
		struct timespec ts, *tsp = NULL;

		for (int i = 0; i < MAX_CONNS; i++)
			p[2 + i] = (struct pollfd){ .fd = conns[i].fd, .events = POLLIN };

		if (next >= 0) {
			int64_t left = next - mono_ns();

			left = left > 0 ? left : 0;
			ts = (struct timespec){ left / 1000000000, left % 1000000000 };
			tsp = &ts;
		}
		if (ppoll(p, 2 + MAX_CONNS, tsp, NULL) < 0) {
			if (errno == EINTR)
				continue;
			perror("dnsd: ppoll");
			return 1;
		}
		if (p[0].revents & POLLIN)
			serve(fd, delay_ms);
		if (p[1].revents & POLLIN)
			tcp_accept(lfd);
		for (int i = 0; i < MAX_CONNS; i++)
			if (p[2 + i].fd >= 0 && p[2 + i].fd == conns[i].fd && p[2 + i].revents)
				tcp_serve(i, delay_ms);
	}
}
