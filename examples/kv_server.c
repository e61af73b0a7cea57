/* SPDX-License-Identifier: MIT */
/*
 * kv_server.c - an in-memory key-value server speaking the Redis protocol.
 *
 *   make examples && build/examples/kv_server [PORT [MAXPROCS]]
 *   redis-cli -p 6379 set greeting hello
 *   redis-cli -p 6379 get greeting
 *   redis-benchmark -p 6379 -t get,set -n 100000 -c 50 -P 16 -q
 *
 * (redis-cli and redis-benchmark: apt-get install redis-tools; built
 * against an installed ringo: README.md, "Linking a program with ringo").
 *
 * The default port is 6379; port 0 picks a free one.  The server listens
 * on 127.0.0.1 only: it has no authentication.  The first line it prints
 * (flushed at once) names the port and the number of Ps:
 * "kv_server: listening on port 6379 (2 Ps)".  RINGO_NETPOLL picks the
 * poller, as for every ringo program.
 *
 * Commands (names in any case; replies and error texts as Redis 7 gives
 * them, in RESP2):
 *
 *   PING [message]        +PONG, or the message as a bulk string
 *   ECHO message          the message
 *   SET key value [NX|XX] [EX seconds|PX milliseconds|KEEPTTL]
 *                         +OK, or nil when NX or XX says not to set
 *   GET key               the value, or nil
 *   DEL key...            how many keys were deleted
 *   INCR key              the value plus one (a missing key counts as 0)
 *   EXISTS key...         how many of the keys exist (repeats count again)
 *   DBSIZE                the number of keys
 *   FLUSHALL [ASYNC|SYNC] +OK once every key is gone
 *   QUIT                  +OK, then the connection is closed
 *   CONFIG GET pattern... the parameters matching the glob patterns:
 *                         save "", appendonly "no", port, databases 1,
 *                         proto-max-bulk-len (what redis-benchmark asks)
 *   COMMAND [COUNT|DOCS|INFO [name...]]
 *                         the command table: one [name, arity, flags,
 *                         first key, last key, key step] entry per command,
 *                         their count, no docs (an empty reply, which
 *                         redis-cli accepts), the entries named
 *
 * An unknown command gets "-ERR unknown command 'x', with args beginning
 * with: ...", a wrong number of arguments "-ERR wrong number of arguments
 * for 'x' command".  Keys and values are binary-safe byte strings.
 *
 * The protocol.  A command is a RESP array of bulk strings
 * ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"), or an inline line ("GET k\r\n") split
 * as redis-cli and Redis split it: blanks separate arguments, "..." with
 * \n, \xHH... escapes and '...' quote them.  Malformed input is answered
 * as Redis answers it, "-ERR Protocol error: ..." (a bulk length that is
 * negative, not a number or over 512 MiB, an array count over INT_MAX, an
 * inline line or a header line of more than 64 KiB with no end in sight,
 * unbalanced quotes), and the connection is closed after that reply.  An
 * array that never completes is not an error: the rest may still come.
 *
 * Connections.  One goroutine per connection.  It appends what rg_recv
 * gives to its read buffer, parses the commands there in place (an
 * argument is an offset and a length into the buffer, no copy), executes
 * every complete one, gathers the replies in its reply buffer and sends
 * them with one rg_send loop: a pipeline of commands costs one receive and
 * one send.  An incomplete command stays at the front of the buffer for
 * the next rg_recv, with the parser's state, so a large argument is not
 * parsed again as it arrives.  The read buffer starts at IN_SIZE and
 * doubles only when it is full of one incomplete command: memory follows
 * what the client actually sent, never the lengths it announced, and one
 * command is at most MAX_QUERY bytes.  Both buffers shrink back after a
 * large command.  After QUIT or a protocol error the connection is shut
 * down for writing and drained for up to LINGER_NS before it is closed, so
 * that the client reads the last reply rather than a reset.
 *
 * Data.  A hash table (SipHash-1-3 with a random key, chained buckets) cut
 * into NSHARDS shards by the top bits of the hash, each shard with its own
 * rg_rwmutex: GET and EXISTS take it as readers, the rest as writers, and
 * commands on different keys rarely meet on a lock.  A command on several
 * keys (DEL, EXISTS) takes their shards one at a time.  An entry is one
 * allocation, key and value together; a SET that fits the value's room
 * writes in place and allocates nothing.  Expiry times are milliseconds of
 * rg_now_ns()'s clock: an expired key is absent to every command, a write
 * that meets it frees it, and a sweeper goroutine frees the others, a few
 * buckets of each shard every SWEEP_NS.
 *
 * Stopping.  SIGTERM and SIGINT arrive on a channel (rg_signal_notify, as
 * Go's signal.Notify), which a goroutine waits on.  Every other goroutine
 * runs under one root context (rg_go_ctx; the main goroutine attaches it
 * with rg_ctx_attach), so the stop is one rg_ctx_cancel: the accept loop's
 * rg_accept, the sweeper's sleep and every connection waiting for a
 * request return -ECANCELED, as Go's http.Server.Shutdown closes idle
 * connections.  A connection in the middle of a request finishes it: its
 * replies, refused under the cancelled context, are sent again without
 * it, for at most STOP_FLUSH_NS, and then it closes as after QUIT.  The
 * main goroutine waits for the connection goroutines (an rg_wg), prints a
 * last line and returns; rg_main returns and the exit status is 0.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <ringo.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_PORT  6379
#define BACKLOG	      4096
#define IN_SIZE	      16384	    /* a connection's read buffer, to start with */
#define OUT_SIZE      16384	    /* its reply buffer, to start with */
#define OUT_FLUSH     65536	    /* replies beyond this are sent before the next command */
#define ARGV_SIZE     16	    /* argument slots, to start with and to shrink back to */
#define MAX_INLINE    (64 << 10)    /* an inline line or a header line (PROTO_INLINE_MAX_SIZE) */
#define MAX_BULK      (512LL << 20) /* a bulk string (Redis's proto-max-bulk-len) */
#define MAX_QUERY     (1LL << 30)   /* all the bytes of one command */
#define SHARD_BITS    6
#define NSHARDS	      (1 << SHARD_BITS)
#define LINGER_NS     1000000000LL /* how long a closing connection is drained */
#define SWEEP_NS      100000000LL  /* the expiry sweeper's period */
#define SWEEP_BUCKETS 256	   /* buckets of each shard it looks at per period */
#define RETRY_NS      10000000LL   /* the pause after accept runs out of descriptors */
#define STOP_FLUSH_NS 1000000000LL /* how long a stopping server sends a request's replies */

/* ===================================================================== */
/* The table                                                             */
/* ===================================================================== */

/* A key and its value, in one allocation. */
struct entry {
	struct entry *next; /* in its bucket */
	uint64_t hash;
	int64_t expire_ms;   /* when it expires (now_ms()); 0: never */
	uint32_t klen;	     /* the key's length */
	uint32_t vlen, vcap; /* the value's length and its room */
	char data[];	     /* the key, then the value's room */
};

/* A shard: every field is under lock (readers may only read). */
struct shard {
	_Alignas(64) rg_rwmutex lock; /* a cache line of its own for each shard */
	struct entry **buckets;	      /* nbuckets chains, NULL until the first key */
	size_t nbuckets;	      /* 0 or a power of 2 */
	size_t count;		      /* keys, expired ones not yet freed included */
	size_t nexpiring;	      /* keys with an expiry time */
	size_t sweep;		      /* the next bucket the sweeper looks at */
};

static struct shard shards[NSHARDS];
static uint64_t hash_key[2]; /* SipHash's key, random, set before rg_main */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND(v0, v1, v2, v3)                                          \
	do {                                                              \
		v0 += v1, v1 = ROTL(v1, 13), v1 ^= v0, v0 = ROTL(v0, 32); \
		v2 += v3, v3 = ROTL(v3, 16), v3 ^= v2;                    \
		v0 += v3, v3 = ROTL(v3, 21), v3 ^= v0;                    \
		v2 += v1, v1 = ROTL(v1, 17), v1 ^= v2, v2 = ROTL(v2, 32); \
	} while (0)

/* SipHash-1-3 of [p, p + len) under hash_key: keys a client chooses cannot
 * be made to collide without knowing it. */
static uint64_t hash_bytes(const char *p, size_t len)
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ hash_key[0], v1 = 0x646f72616e646f6dULL ^ hash_key[1];
	uint64_t v2 = 0x6c7967656e657261ULL ^ hash_key[0], v3 = 0x7465646279746573ULL ^ hash_key[1];
	uint64_t m, last = (uint64_t)len << 56;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&m, p + i, 8);
		v3 ^= m;
		SIPROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	m = 0;
	memcpy(&m, p + i, len - i); /* little-endian: the last bytes low */
	m |= last;
	v3 ^= m;
	SIPROUND(v0, v1, v2, v3);
	v0 ^= m;
	v2 ^= 0xff;
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

static struct shard *shard_of(uint64_t hash)
{
	return &shards[hash >> (64 - SHARD_BITS)];
}

/* Milliseconds of rg_now_ns()'s clock, the clock of expiry times. */
static int64_t now_ms(void)
{
	return rg_now_ns() / 1000000;
}

/* Has e expired?  *now is read from the clock the first time it is needed
 * (0: not yet), so keys without expiry cost no clock read. */
static bool expired(const struct entry *e, int64_t *now)
{
	if (!e->expire_ms)
		return false;
	if (!*now)
		*now = now_ms();
	return e->expire_ms <= *now;
}

static char *entry_value(struct entry *e)
{
	return e->data + e->klen;
}

/* The entry of a key, expired or not, or NULL.  (s->lock held, read or write) */
static struct entry *shard_lookup(struct shard *s, uint64_t h, const char *key, size_t klen)
{
	struct entry *e;

	if (!s->nbuckets)
		return NULL;
	for (e = s->buckets[h & (s->nbuckets - 1)]; e; e = e->next)
		if (e->hash == h && e->klen == klen && memcmp(e->data, key, klen) == 0)
			return e;
	return NULL;
}

/* The link that points to a key's entry, or the NULL link at the end of
 * its chain.  (s->lock held for writing; s->nbuckets > 0) */
static struct entry **shard_link(struct shard *s, uint64_t h, const char *key, size_t klen)
{
	struct entry **link = &s->buckets[h & (s->nbuckets - 1)];

	for (; *link; link = &(*link)->next)
		if ((*link)->hash == h && (*link)->klen == klen &&
		    memcmp((*link)->data, key, klen) == 0)
			break;
	return link;
}

/* Unlink *link's entry and return it, for the caller to free once it has
 * unlocked.  (s->lock held for writing) */
static struct entry *shard_unlink(struct shard *s, struct entry **link)
{
	struct entry *e = *link;

	*link = e->next;
	s->count--;
	if (e->expire_ms)
		s->nexpiring--;
	return e;
}

/* Double the buckets (or make the first 16).  A failure leaves the table
 * as it was, with longer chains.  (s->lock held for writing) */
static bool shard_grow(struct shard *s)
{
	size_t n = s->nbuckets ? s->nbuckets * 2 : 16;
	struct entry **b = calloc(n, sizeof(*b));

	if (!b)
		return false;
	for (size_t i = 0; i < s->nbuckets; i++) {
		struct entry *e = s->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(s->buckets);
	s->buckets = b;
	s->nbuckets = n;
	s->sweep &= n - 1;
	return true;
}

static void entry_set_expiry(struct shard *s, struct entry *e, int64_t expire_ms)
{
	s->nexpiring += (expire_ms != 0) - (e->expire_ms != 0);
	e->expire_ms = expire_ms;
}

/* A new entry for a key and a value.  NULL when out of memory. */
static struct entry *entry_new(uint64_t h, const char *key, size_t klen, const char *val,
			       size_t vlen)
{
	struct entry *e = malloc(sizeof(*e) + klen + vlen);

	if (!e)
		return NULL;
	*e = (struct entry){ .hash = h, .klen = (uint32_t)klen };
	e->vlen = e->vcap = (uint32_t)vlen;
	memcpy(e->data, key, klen);
	memcpy(entry_value(e), val, vlen);
	return e;
}

/*
 * Set a key's value at *link (from shard_link; *link is NULL for a new
 * key).  The expiry time becomes expire_ms, or stays with keep_ttl.  The
 * value is written in place when it fits the entry's room without wasting
 * half of it; otherwise the entry is replaced, and the old one is put in
 * *old for the caller to free once it has unlocked.  False when out of
 * memory (nothing changed).  (s->lock held for writing)
 */
static bool shard_store(struct shard *s, struct entry **link, uint64_t h, const char *key,
			size_t klen, const char *val, size_t vlen, int64_t expire_ms, bool keep_ttl,
			struct entry **old)
{
	struct entry *e = *link, *n;

	*old = NULL;
	if (e && vlen <= e->vcap && e->vcap <= 2 * vlen + 64) {
		memcpy(entry_value(e), val, vlen);
		e->vlen = (uint32_t)vlen;
	} else {
		n = entry_new(h, key, klen, val, vlen);
		if (!n)
			return false;
		if (e) {
			n->next = e->next;
			n->expire_ms = e->expire_ms; /* entry_set_expiry counts from it */
			*old = e;
		} else {
			n->next = NULL;
			s->count++;
		}
		*link = e = n;
	}
	if (!keep_ttl)
		entry_set_expiry(s, e, expire_ms);
	return true;
}

/*
 * For a write to a key: the link to its entry, or the NULL link where a
 * new entry goes, with room made for one more key first.  A key found
 * expired is unlinked into *dead, for the caller to free once it has
 * unlocked.  NULL when out of memory.  (s->lock held for writing)
 */
static struct entry **shard_link_live(struct shard *s, uint64_t h, const char *key, size_t klen,
				      struct entry **dead)
{
	struct entry **link;
	int64_t now = 0;

	if ((!s->nbuckets || s->count >= s->nbuckets) && !shard_grow(s) && !s->nbuckets)
		return NULL;
	link = shard_link(s, h, key, klen);
	if (*link && expired(*link, &now)) {
		*dead = shard_unlink(s, link);
		link = shard_link(s, h, key, klen);
	}
	return link;
}

static void free_chain(struct entry *e)
{
	while (e) {
		struct entry *next = e->next;

		free(e);
		e = next;
	}
}

/* Remove every key of every shard. */
static void db_flush(void)
{
	for (int i = 0; i < NSHARDS; i++) {
		struct shard *s = &shards[i];
		struct entry **b;
		size_t n;

		rg_rwmutex_lock(&s->lock);
		b = s->buckets;
		n = s->nbuckets;
		s->buckets = NULL;
		s->nbuckets = s->count = s->nexpiring = s->sweep = 0;
		rg_rwmutex_unlock(&s->lock);
		for (size_t j = 0; j < n; j++)
			free_chain(b[j]);
		free(b);
	}
}

/* Free the expired keys of the next SWEEP_BUCKETS buckets of s. */
static void sweep_shard(struct shard *s, int64_t now)
{
	struct entry *dead = NULL;

	rg_rwmutex_lock(&s->lock);
	for (int i = 0; s->nexpiring && i < SWEEP_BUCKETS; i++) {
		struct entry **link = &s->buckets[s->sweep];

		while (*link) {
			struct entry *e = *link;

			if (e->expire_ms && e->expire_ms <= now) {
				e = shard_unlink(s, link);
				e->next = dead;
				dead = e;
			} else {
				link = &e->next;
			}
		}
		s->sweep = (s->sweep + 1) & (s->nbuckets - 1);
	}
	rg_rwmutex_unlock(&s->lock);
	free_chain(dead);
}

/* The expiry sweeper: frees keys that expired and that nobody touches. */
static void sweeper(void *arg)
{
	(void)arg;
	for (;;) {
		int64_t now;

		if (rg_sleep_ns(SWEEP_NS) < 0)
			return; /* the server stops */
		now = now_ms();
		for (int i = 0; i < NSHARDS; i++)
			sweep_shard(&shards[i], now);
	}
}

/* ===================================================================== */
/* Connections                                                           */
/* ===================================================================== */

/* An argument of the command being parsed: where it is in the read buffer,
 * as an offset from the command's first byte (the buffer may move before
 * the command is complete), and its length. */
struct arg {
	uint32_t off, len;
};

enum conn_state {
	CONN_OPEN,
	CONN_CLOSING, /* QUIT or a protocol error: send the replies, then close */
	CONN_BROKEN,  /* the peer is gone, or no memory: close at once */
};

/* A connection, owned by its goroutine but for prev and next. */
struct conn {
	int fd;
	enum conn_state state;

	char *in; /* what was received; [start, in_len) is not executed */
	size_t in_cap, in_len;
	size_t start;	     /* the first byte of the command being parsed */
	size_t pos;	     /* the next byte to parse */
	long long multibulk; /* bulk strings of the command still to come; 0: none */
	long long bulk;	     /* the next bulk string's length; -1: its "$" line first */
	struct arg *argv;    /* the command's arguments so far */
	int argc, argv_cap;

	char *out; /* replies not sent yet */
	size_t out_cap, out_len;
};

static rg_ctx *root;		/* every goroutine's but the signal waiter's */
static atomic_int conns_open;	/* connection goroutines running */
static atomic_int conns_closed; /* how many ran when the stop came */
static rg_wg conns_wg;		/* one per connection goroutine */
static int listen_fd;
static int port;
static bool accept_failed; /* the accept loop stopped on an error (main goroutine) */

static struct conn *conn_new(int fd)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->fd = fd;
	c->bulk = -1;
	c->in = malloc(IN_SIZE);
	c->out = malloc(OUT_SIZE);
	c->argv = malloc(ARGV_SIZE * sizeof(*c->argv));
	if (!c->in || !c->out || !c->argv) {
		free(c->in);
		free(c->out);
		free(c->argv);
		free(c);
		return NULL;
	}
	c->in_cap = IN_SIZE;
	c->out_cap = OUT_SIZE;
	c->argv_cap = ARGV_SIZE;
	return c;
}

static void conn_free(struct conn *c)
{
	if (!c)
		return;
	free(c->in);
	free(c->out);
	free(c->argv);
	free(c);
}

/* Stop accepting and end every connection (see "Stopping" above). */
static void stop_server(void)
{
	if (!rg_ctx_err(root))
		atomic_store(&conns_closed, atomic_load(&conns_open));
	rg_ctx_cancel(root);
}

/* ===================================================================== */
/* Replies                                                               */
/* ===================================================================== */

/* Room for n more bytes of replies, or NULL when out of memory (the
 * connection is then broken). */
static char *out_reserve(struct conn *c, size_t n)
{
	size_t cap = c->out_cap;
	char *p;

	if (cap - c->out_len >= n)
		return c->out + c->out_len;
	while (cap - c->out_len < n)
		cap *= 2;
	p = realloc(c->out, cap);
	if (!p) {
		c->state = CONN_BROKEN;
		return NULL;
	}
	c->out = p;
	c->out_cap = cap;
	return p + c->out_len;
}

static void reply(struct conn *c, const char *s, size_t len)
{
	char *o = out_reserve(c, len);

	if (o) {
		memcpy(o, s, len);
		c->out_len += len;
	}
}

#define REPLY(c, literal) reply((c), literal, sizeof(literal) - 1)

/* Write v in decimal at o; the end of what was written (at most 20 bytes). */
static char *put_ll(char *o, long long v)
{
	char tmp[24], *t = tmp + sizeof(tmp);
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	do {
		*--t = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--t = '-';
	memcpy(o, t, (size_t)(tmp + sizeof(tmp) - t));
	return o + (tmp + sizeof(tmp) - t);
}

/* A line "<type><n>\r\n": an integer (':'), an array header ('*') or a
 * bulk string header ('$'). */
static void reply_num(struct conn *c, char type, long long n)
{
	char *o = out_reserve(c, 24), *p;

	if (!o)
		return;
	*o = type;
	p = put_ll(o + 1, n);
	*p++ = '\r';
	*p++ = '\n';
	c->out_len += (size_t)(p - o);
}

static void reply_bulk(struct conn *c, const char *s, size_t len)
{
	char *o = out_reserve(c, len + 26), *p;

	if (!o)
		return;
	*o = '$';
	p = put_ll(o + 1, (long long)len);
	*p++ = '\r';
	*p++ = '\n';
	memcpy(p, s, len);
	p += len;
	*p++ = '\r';
	*p++ = '\n';
	c->out_len += (size_t)(p - o);
}

static void reply_cstr(struct conn *c, const char *s)
{
	reply_bulk(c, s, strlen(s));
}

/* "-ERR <message>\r\n", with carriage returns and line feeds of the
 * message made blanks, as Redis does. */
static void __attribute__((format(printf, 2, 3))) reply_error(struct conn *c, const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	n = (size_t)n < sizeof(msg) ? n : (int)sizeof(msg) - 1;
	for (int i = 0; i < n; i++)
		if (msg[i] == '\r' || msg[i] == '\n')
			msg[i] = ' ';
	REPLY(c, "-ERR ");
	reply(c, msg, (size_t)n);
	REPLY(c, "\r\n");
}

/* Send the queued replies; a failure breaks the connection.  A reply
 * buffer that grew goes back to OUT_SIZE. */
static void flush(struct conn *c)
{
	size_t done = 0;

	while (done < c->out_len && c->state != CONN_BROKEN) {
		ssize_t n = rg_send(c->fd, c->out + done, c->out_len - done, 0);

		if (n == -ECANCELED && rg_ctx_attach(NULL) == root) {
			/* The server stops: this request's replies go out
			 * without the root context, within STOP_FLUSH_NS, and
			 * then the connection closes. */
			rg_set_deadline(rg_now_ns() + STOP_FLUSH_NS);
			if (c->state == CONN_OPEN)
				c->state = CONN_CLOSING;
			continue;
		}
		if (n < 0)
			c->state = CONN_BROKEN;
		else
			done += (size_t)n;
	}
	c->out_len = 0;
	if (c->out_cap > OUT_SIZE) {
		char *p = realloc(c->out, OUT_SIZE);

		if (p) {
			c->out = p;
			c->out_cap = OUT_SIZE;
		}
	}
}

/* ===================================================================== */
/* Parsing                                                               */
/* ===================================================================== */

enum { PARSE_ERROR = -1, PARSE_MORE = 0, PARSE_DONE = 1 };

/* Reply "Protocol error: ..." and close the connection after the reply;
 * PARSE_ERROR. */
static int __attribute__((format(printf, 2, 3)))
protocol_error(struct conn *c, const char *fmt, ...)
{
	char msg[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	reply_error(c, "Protocol error: %s", msg);
	c->state = CONN_CLOSING;
	return PARSE_ERROR;
}

/* Redis's string2ll: an optional '-' and digits without a leading zero
 * ("0" itself is fine), within a long long.  False otherwise. */
static bool parse_ll(const char *p, size_t len, long long *out)
{
	bool neg = len > 1 && p[0] == '-';
	unsigned long long v = 0, max = neg ? (unsigned long long)LLONG_MAX + 1 : LLONG_MAX;
	size_t i = neg;

	if (len == 1 && p[0] == '0') {
		*out = 0;
		return true;
	}
	if (i >= len || p[i] < '1' || p[i] > '9')
		return false;
	for (; i < len; i++) {
		if (p[i] < '0' || p[i] > '9' || v > (max - (unsigned)(p[i] - '0')) / 10)
			return false;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	*out = neg ? (long long)(0ULL - v) : (long long)v;
	return true;
}

/* The address of argument i of the command being executed, and its length. */
static char *arg(const struct conn *c, int i)
{
	return c->in + c->start + c->argv[i].off;
}

static size_t arg_len(const struct conn *c, int i)
{
	return c->argv[i].len;
}

/* Is argument i the word w (w in lower case), without case? */
static bool arg_is(const struct conn *c, int i, const char *w)
{
	size_t len = strlen(w);

	return arg_len(c, i) == len && strncasecmp(arg(c, i), w, len) == 0;
}

/* Add the argument [p, p + len) of the read buffer. */
static int add_arg(struct conn *c, const char *p, size_t len)
{
	if (c->argc == c->argv_cap) {
		struct arg *a = realloc(c->argv, 2 * (size_t)c->argv_cap * sizeof(*a));

		if (!a) {
			c->state = CONN_BROKEN;
			return PARSE_ERROR;
		}
		c->argv = a;
		c->argv_cap *= 2;
	}
	c->argv[c->argc].off = (uint32_t)(p - (c->in + c->start));
	c->argv[c->argc].len = (uint32_t)len;
	c->argc++;
	return PARSE_DONE;
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

static int hex_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* The byte that "\<ch>" stands for inside double quotes. */
static char unescape(char ch)
{
	switch (ch) {
	case 'n':
		return '\n';
	case 'r':
		return '\r';
	case 't':
		return '\t';
	case 'b':
		return '\b';
	case 'a':
		return '\a';
	default:
		return ch;
	}
}

/*
 * Read one argument of an inline line from *pp (not a blank; end is the
 * line's end) and write it in place (the text without its quotes and
 * escapes is never longer); as Redis's sdssplitargs.  Returns its length,
 * or -1 for unbalanced quotes or a closing quote not followed by a blank.
 */
static long inline_word(char **pp, char *end)
{
	char *p = *pp, *w = p, *start = p;
	bool dq = false, sq = false;

	for (;; p++) {
		char ch = p < end ? *p : '\0';

		if (dq && ch == '\\' && end - p > 3 && p[1] == 'x' && hex_value(p[2]) >= 0 &&
		    hex_value(p[3]) >= 0) {
			*w++ = (char)(hex_value(p[2]) << 4 | hex_value(p[3]));
			p += 3;
		} else if (dq && ch == '\\' && end - p > 1) {
			*w++ = unescape(*++p);
		} else if ((dq && ch == '"') || (sq && ch == '\'')) {
			if (p + 1 < end && !is_blank(p[1]))
				return -1;
			p++;
			break;
		} else if (sq && ch == '\\' && end - p > 1 && p[1] == '\'') {
			*w++ = *++p;
		} else if ((dq || sq) && p == end) {
			return -1;
		} else if (dq || sq) {
			*w++ = ch;
		} else if (p == end || ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t') {
			break;
		} else if (ch == '"') {
			dq = true;
		} else if (ch == '\'') {
			sq = true;
		} else {
			*w++ = ch;
		}
	}
	*pp = p;
	return w - start;
}

/* An inline command: a line, split into arguments in place. */
static int parse_inline(struct conn *c)
{
	char *p = c->in + c->pos, *end = c->in + c->in_len;
	char *nl = memchr(p, '\n', (size_t)(end - p)), *nul;

	if (!nl)
		return end - p > MAX_INLINE ? protocol_error(c, "too big inline request") :
					      PARSE_MORE;
	c->pos = (size_t)(nl + 1 - c->in);
	end = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
	nul = memchr(p, '\0', (size_t)(end - p)); /* Redis reads the line as a C string */
	if (nul)
		end = nul;
	for (;;) {
		char *word;
		long len;

		while (p < end && is_blank(*p))
			p++;
		if (p == end)
			return PARSE_DONE;
		word = p;
		len = inline_word(&p, end);
		if (len < 0)
			return protocol_error(c, "unbalanced quotes in request");
		if (add_arg(c, word, (size_t)len) < 0)
			return PARSE_ERROR;
	}
}

/* Find the header line ("*N" or "$N") at c->pos: *eol is its '\r', when
 * that and the byte after it have arrived.  what names it in the error for
 * a line too long. */
static int header_line(struct conn *c, const char *what, char **eol)
{
	char *p = c->in + c->pos, *end = c->in + c->in_len;
	char *cr = memchr(p, '\r', (size_t)(end - p));

	if (cr && cr + 1 < end) {
		*eol = cr;
		return PARSE_DONE;
	}
	if (end - p > MAX_INLINE)
		return protocol_error(c, "too big %s count string", what);
	return PARSE_MORE;
}

/* The "*N" line of a multibulk command; N <= 0 is an empty command. */
static int parse_count(struct conn *c)
{
	char *p = c->in + c->pos, *eol;
	long long n;
	int r = header_line(c, "mbulk", &eol);

	if (r != PARSE_DONE)
		return r;
	if (!parse_ll(p + 1, (size_t)(eol - p - 1), &n) || n > INT_MAX)
		return protocol_error(c, "invalid multibulk length");
	c->pos = (size_t)(eol + 2 - c->in);
	c->multibulk = n > 0 ? n : 0;
	return PARSE_DONE;
}

/* The next bulk string of a multibulk command: its "$N" line, then N bytes
 * and a line end (not checked, as Redis does not). */
static int parse_bulk(struct conn *c)
{
	char *p = c->in + c->pos, *eol;
	long long n;
	int r;

	if (c->bulk < 0) {
		r = header_line(c, "bulk", &eol);
		if (r != PARSE_DONE)
			return r;
		if (*p != '$')
			return protocol_error(c, "expected '$', got '%c'", *p);
		if (!parse_ll(p + 1, (size_t)(eol - p - 1), &n) || n < 0 || n > MAX_BULK)
			return protocol_error(c, "invalid bulk length");
		c->pos = (size_t)(eol + 2 - c->in);
		c->bulk = n;
	}
	if (c->in_len - c->pos < (size_t)c->bulk + 2)
		return PARSE_MORE;
	if (add_arg(c, c->in + c->pos, (size_t)c->bulk) < 0)
		return PARSE_ERROR;
	c->pos += (size_t)c->bulk + 2;
	c->bulk = -1;
	c->multibulk--;
	return PARSE_DONE;
}

/*
 * Parse on from c->pos: PARSE_DONE when a whole command is in c->argv
 * (argc 0: an empty one, to skip), PARSE_MORE when the rest has not
 * arrived (the state is kept for the next call), PARSE_ERROR with the
 * connection closing or broken.
 */
static int parse_command(struct conn *c)
{
	int r;

	if (c->multibulk == 0) {
		if (c->pos == c->in_len)
			return PARSE_MORE;
		if (c->in[c->pos] != '*')
			return parse_inline(c);
		r = parse_count(c);
		if (r != PARSE_DONE)
			return r;
	}
	while (c->multibulk > 0) {
		r = parse_bulk(c);
		if (r != PARSE_DONE)
			return r;
	}
	return PARSE_DONE;
}

/* ===================================================================== */
/* Commands                                                              */
/* ===================================================================== */

struct command {
	const char *name;     /* lower case; "parent|sub" for a subcommand */
	int arity;	      /* n: exactly n arguments (the name included); -n: n or more */
	const char *flags[4]; /* for COMMAND */
	int first_key, last_key, key_step;
	void (*fn)(struct conn *c);
};

static void reply_arity(struct conn *c, const char *name)
{
	reply_error(c, "wrong number of arguments for '%s' command", name);
}

static bool check_arity(struct conn *c, const char *name, int arity, int argc)
{
	if ((arity > 0 && argc != arity) || (arity < 0 && argc < -arity)) {
		reply_arity(c, name);
		return false;
	}
	return true;
}

/* "%.*s" of an argument at most max bytes long, as Redis prints it: as a C
 * string, so up to its first NUL. */
static int printable_len(const char *p, size_t len, size_t max)
{
	const char *nul = memchr(p, '\0', len);

	if (nul)
		len = (size_t)(nul - p);
	return (int)(len < max ? len : max);
}

static void reply_unknown_subcommand(struct conn *c, const char *parent)
{
	reply_error(c, "unknown subcommand '%.*s'. Try %s HELP.",
		    printable_len(arg(c, 1), arg_len(c, 1), 128), arg(c, 1), parent);
}

static void cmd_ping(struct conn *c)
{
	if (c->argc > 2)
		reply_arity(c, "ping");
	else if (c->argc == 2)
		reply_bulk(c, arg(c, 1), arg_len(c, 1));
	else
		REPLY(c, "+PONG\r\n");
}

static void cmd_echo(struct conn *c)
{
	reply_bulk(c, arg(c, 1), arg_len(c, 1));
}

static void cmd_get(struct conn *c)
{
	uint64_t h = hash_bytes(arg(c, 1), arg_len(c, 1));
	struct shard *s = shard_of(h);
	struct entry *e;
	int64_t now = 0;

	rg_rwmutex_rlock(&s->lock);
	e = shard_lookup(s, h, arg(c, 1), arg_len(c, 1));
	if (e && !expired(e, &now))
		reply_bulk(c, entry_value(e), e->vlen);
	else
		REPLY(c, "$-1\r\n");
	rg_rwmutex_runlock(&s->lock);
}

/* SET's options. */
struct set_options {
	bool nx, xx, keep_ttl;
	int64_t unit_ms; /* EX: 1000, PX: 1; 0: neither */
	int expire_arg;	 /* the argument of EX or PX */
};

/* Parse SET's options as Redis does: false (and the reply sent) on a
 * syntax error or a bad expiry time; *expire_ms is when the key expires
 * (0: never). */
static bool parse_set_options(struct conn *c, struct set_options *o, int64_t *expire_ms)
{
	long long v;
	int64_t now;

	*o = (struct set_options){ 0 };
	for (int i = 3; i < c->argc; i++) {
		bool ex = arg_is(c, i, "ex"), px = arg_is(c, i, "px");

		if (arg_is(c, i, "nx") && !o->xx) {
			o->nx = true;
		} else if (arg_is(c, i, "xx") && !o->nx) {
			o->xx = true;
		} else if (arg_is(c, i, "keepttl") && !o->unit_ms) {
			o->keep_ttl = true;
		} else if ((ex || px) && i + 1 < c->argc && !o->keep_ttl &&
			   o->unit_ms != (ex ? 1 : 1000)) {
			o->unit_ms = ex ? 1000 : 1;
			o->expire_arg = ++i;
		} else {
			reply_error(c, "syntax error");
			return false;
		}
	}
	*expire_ms = 0;
	if (!o->unit_ms)
		return true;
	if (!parse_ll(arg(c, o->expire_arg), arg_len(c, o->expire_arg), &v)) {
		reply_error(c, "value is not an integer or out of range");
		return false;
	}
	now = now_ms();
	if (v <= 0 || v > LLONG_MAX / o->unit_ms || v * o->unit_ms > LLONG_MAX - now) {
		reply_error(c, "invalid expire time in 'set' command");
		return false;
	}
	*expire_ms = now + v * o->unit_ms;
	return true;
}

static void cmd_set(struct conn *c)
{
	const char *key = arg(c, 1);
	size_t klen = arg_len(c, 1);
	uint64_t h = hash_bytes(key, klen);
	struct shard *s = shard_of(h);
	struct entry **link, *dead = NULL, *old = NULL;
	struct set_options o;
	int64_t expire_ms;
	bool ok = true, skip;

	if (!parse_set_options(c, &o, &expire_ms))
		return;
	rg_rwmutex_lock(&s->lock);
	link = shard_link_live(s, h, key, klen, &dead);
	skip = link && ((o.nx && *link) || (o.xx && !*link));
	if (link && !skip)
		ok = shard_store(s, link, h, key, klen, arg(c, 2), arg_len(c, 2), expire_ms,
				 o.keep_ttl, &old);
	rg_rwmutex_unlock(&s->lock);
	free(dead);
	free(old);
	if (!link || !ok)
		reply_error(c, "out of memory");
	else if (skip)
		REPLY(c, "$-1\r\n");
	else
		REPLY(c, "+OK\r\n");
}

static void cmd_del(struct conn *c)
{
	long long deleted = 0;

	for (int i = 1; i < c->argc; i++) {
		uint64_t h = hash_bytes(arg(c, i), arg_len(c, i));
		struct shard *s = shard_of(h);
		struct entry *old = NULL;
		int64_t now = 0;

		rg_rwmutex_lock(&s->lock);
		if (s->nbuckets) {
			struct entry **link = shard_link(s, h, arg(c, i), arg_len(c, i));

			if (*link) {
				deleted += !expired(*link, &now);
				old = shard_unlink(s, link);
			}
		}
		rg_rwmutex_unlock(&s->lock);
		free(old);
	}
	reply_num(c, ':', deleted);
}

static void cmd_exists(struct conn *c)
{
	long long found = 0;

	for (int i = 1; i < c->argc; i++) {
		uint64_t h = hash_bytes(arg(c, i), arg_len(c, i));
		struct shard *s = shard_of(h);
		struct entry *e;
		int64_t now = 0;

		rg_rwmutex_rlock(&s->lock);
		e = shard_lookup(s, h, arg(c, i), arg_len(c, i));
		found += e && !expired(e, &now);
		rg_rwmutex_runlock(&s->lock);
	}
	reply_num(c, ':', found);
}

/* INCR under the shard's lock: NULL and the new value in *v, or the
 * error.  *dead and *old as for shard_link_live and shard_store. */
static const char *incr_locked(struct shard *s, uint64_t h, const char *key, size_t klen,
			       long long *v, struct entry **dead, struct entry **old)
{
	struct entry **link = shard_link_live(s, h, key, klen, dead);
	char digits[24];

	*v = 0;
	if (!link)
		return "out of memory";
	if (*link) {
		struct entry *e = *link;

		if (!parse_ll(entry_value(e), e->vlen, v))
			return "value is not an integer or out of range";
		if (*v == LLONG_MAX)
			return "increment or decrement would overflow";
	}
	++*v;
	if (!shard_store(s, link, h, key, klen, digits, (size_t)(put_ll(digits, *v) - digits), 0,
			 true, old))
		return "out of memory";
	return NULL;
}

static void cmd_incr(struct conn *c)
{
	uint64_t h = hash_bytes(arg(c, 1), arg_len(c, 1));
	struct shard *s = shard_of(h);
	struct entry *dead = NULL, *old = NULL;
	const char *err;
	long long v;

	rg_rwmutex_lock(&s->lock);
	err = incr_locked(s, h, arg(c, 1), arg_len(c, 1), &v, &dead, &old);
	rg_rwmutex_unlock(&s->lock);
	free(dead);
	free(old);
	if (err)
		reply_error(c, "%s", err);
	else
		reply_num(c, ':', v);
}

static void cmd_dbsize(struct conn *c)
{
	long long n = 0;

	for (int i = 0; i < NSHARDS; i++) {
		rg_rwmutex_rlock(&shards[i].lock);
		n += (long long)shards[i].count;
		rg_rwmutex_runlock(&shards[i].lock);
	}
	reply_num(c, ':', n);
}

static void cmd_flushall(struct conn *c)
{
	if (c->argc > 2 || (c->argc == 2 && !arg_is(c, 1, "async") && !arg_is(c, 1, "sync"))) {
		reply_error(c, "syntax error");
		return;
	}
	db_flush();
	REPLY(c, "+OK\r\n");
}

static void cmd_quit(struct conn *c)
{
	REPLY(c, "+OK\r\n");
	c->state = CONN_CLOSING;
}

/* CONFIG GET's parameters. */
struct param {
	const char *name;
	const char *value; /* NULL: the port */
};

static const struct param params[] = {
	{ "save", "" },
	{ "appendonly", "no" },
	{ "port", NULL },
	{ "databases", "1" },
	{ "proto-max-bulk-len", "536870912" },
};

/* Does argument i, a glob pattern, match name, without case? */
static bool pattern_matches(struct conn *c, int i, const char *name)
{
	size_t len = arg_len(c, i);
	char *pat;
	bool match;

	if (memchr(arg(c, i), '\0', len))
		return false; /* no name has a NUL */
	pat = malloc(len + 1);
	if (!pat)
		return false;
	for (size_t j = 0; j < len; j++)
		pat[j] = (char)((arg(c, i)[j] >= 'A' && arg(c, i)[j] <= 'Z') ? arg(c, i)[j] + 32 :
									       arg(c, i)[j]);
	pat[len] = '\0';
	match = fnmatch(pat, name, 0) == 0;
	free(pat);
	return match;
}

static bool param_wanted(struct conn *c, const char *name)
{
	for (int i = 2; i < c->argc; i++)
		if (pattern_matches(c, i, name))
			return true;
	return false;
}

static void cmd_config(struct conn *c)
{
	char port_str[16];
	int n = 0;

	if (!arg_is(c, 1, "get")) {
		reply_unknown_subcommand(c, "CONFIG");
		return;
	}
	if (!check_arity(c, "config|get", -3, c->argc))
		return;
	snprintf(port_str, sizeof(port_str), "%d", port);
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++)
		n += param_wanted(c, params[i].name);
	reply_num(c, '*', 2 * n);
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		if (!param_wanted(c, params[i].name))
			continue;
		reply_cstr(c, params[i].name);
		reply_cstr(c, params[i].value ? params[i].value : port_str);
	}
}

static void cmd_command(struct conn *c);

static const struct command commands[] = {
	{ "get", 2, { "readonly", "fast" }, 1, 1, 1, cmd_get },
	{ "set", -3, { "write", "denyoom" }, 1, 1, 1, cmd_set },
	{ "ping", -1, { "fast" }, 0, 0, 0, cmd_ping },
	{ "incr", 2, { "write", "denyoom", "fast" }, 1, 1, 1, cmd_incr },
	{ "del", -2, { "write" }, 1, -1, 1, cmd_del },
	{ "exists", -2, { "readonly", "fast" }, 1, -1, 1, cmd_exists },
	{ "echo", 2, { "fast" }, 0, 0, 0, cmd_echo },
	{ "dbsize", 1, { "readonly", "fast" }, 0, 0, 0, cmd_dbsize },
	{ "flushall", -1, { "write" }, 0, 0, 0, cmd_flushall },
	{ "quit", -1, { "fast" }, 0, 0, 0, cmd_quit },
	{ "config", -2, { "admin" }, 0, 0, 0, cmd_config },
	{ "command", -1, { "loading", "stale" }, 0, 0, 0, cmd_command },
};

#define NCOMMANDS ((int)(sizeof(commands) / sizeof(commands[0])))

static const struct command *lookup_command(const char *name, size_t len)
{
	for (int i = 0; i < NCOMMANDS; i++)
		if (strlen(commands[i].name) == len &&
		    strncasecmp(commands[i].name, name, len) == 0)
			return &commands[i];
	return NULL;
}

/* COMMAND's entry for cmd: name, arity, flags, first key, last key, step. */
static void reply_command_info(struct conn *c, const struct command *cmd)
{
	int nflags = 0;

	while (nflags < 4 && cmd->flags[nflags])
		nflags++;
	reply_num(c, '*', 6);
	reply_cstr(c, cmd->name);
	reply_num(c, ':', cmd->arity);
	reply_num(c, '*', nflags);
	for (int i = 0; i < nflags; i++) {
		REPLY(c, "+");
		reply(c, cmd->flags[i], strlen(cmd->flags[i]));
		REPLY(c, "\r\n");
	}
	reply_num(c, ':', cmd->first_key);
	reply_num(c, ':', cmd->last_key);
	reply_num(c, ':', cmd->key_step);
}

static void cmd_command(struct conn *c)
{
	if (c->argc == 1 || (arg_is(c, 1, "info") && c->argc == 2)) {
		reply_num(c, '*', NCOMMANDS);
		for (int i = 0; i < NCOMMANDS; i++)
			reply_command_info(c, &commands[i]);
	} else if (arg_is(c, 1, "info")) {
		reply_num(c, '*', c->argc - 2);
		for (int i = 2; i < c->argc; i++) {
			const struct command *cmd = lookup_command(arg(c, i), arg_len(c, i));

			if (cmd)
				reply_command_info(c, cmd);
			else
				REPLY(c, "*-1\r\n");
		}
	} else if (arg_is(c, 1, "count")) {
		if (check_arity(c, "command|count", 2, c->argc))
			reply_num(c, ':', NCOMMANDS);
	} else if (arg_is(c, 1, "docs")) {
		REPLY(c, "*0\r\n");
	} else {
		reply_unknown_subcommand(c, "COMMAND");
	}
}

/* Redis's reply to an unknown command: its name and the start of its
 * arguments, each cut to what fits in 128 bytes. */
static void reply_unknown_command(struct conn *c)
{
	char args[200];
	size_t n = 0;

	args[0] = '\0';
	for (int i = 1; i < c->argc && n < 128; i++)
		n += (size_t)snprintf(args + n, sizeof(args) - n, "'%.*s' ",
				      printable_len(arg(c, i), arg_len(c, i), 128 - n), arg(c, i));
	reply_error(c, "unknown command '%.*s', with args beginning with: %s",
		    printable_len(arg(c, 0), arg_len(c, 0), 128), arg(c, 0), args);
}

static void execute(struct conn *c)
{
	const struct command *cmd = lookup_command(arg(c, 0), arg_len(c, 0));

	if (!cmd)
		reply_unknown_command(c);
	else if (check_arity(c, cmd->name, cmd->arity, c->argc))
		cmd->fn(c);
}

/* ===================================================================== */
/* Serving a connection                                                  */
/* ===================================================================== */

/* Resize the read buffer to cap bytes (>= in_len). */
static bool resize_in(struct conn *c, size_t cap)
{
	char *p = realloc(c->in, cap);

	if (!p)
		return false;
	c->in = p;
	c->in_cap = cap;
	return true;
}

/*
 * After the complete commands: move the incomplete one to the front of
 * the read buffer, and make room for more of it.  The buffer doubles when
 * the command fills it, up to MAX_QUERY, and shrinks back to IN_SIZE when
 * what is left would fit half of that.
 */
static void make_room(struct conn *c)
{
	if (c->start) {
		memmove(c->in, c->in + c->start, c->in_len - c->start);
		c->in_len -= c->start;
		c->pos -= c->start;
		c->start = 0;
	}
	if (c->in_len < c->in_cap) {
		if (c->in_cap > IN_SIZE && c->in_len <= IN_SIZE / 2)
			resize_in(c, IN_SIZE);
		return;
	}
	if (c->in_cap >= MAX_QUERY) {
		reply_error(c, "Protocol error: a command longer than %lld bytes", MAX_QUERY);
		c->state = CONN_CLOSING;
	} else if (!resize_in(c, 2 * c->in_cap)) {
		c->state = CONN_BROKEN;
	}
}

/* The command was executed: parse the next one from where it ended. */
static void next_command(struct conn *c)
{
	c->start = c->pos;
	c->argc = 0;
	if (c->argv_cap > 64 * ARGV_SIZE) {
		struct arg *a = realloc(c->argv, ARGV_SIZE * sizeof(*a));

		if (a) {
			c->argv = a;
			c->argv_cap = ARGV_SIZE;
		}
	}
}

/* Execute every complete command received, queueing their replies (sent
 * on the way when they pass OUT_FLUSH). */
static void process_input(struct conn *c)
{
	for (;;) {
		int r = parse_command(c);

		if (r == PARSE_MORE) {
			make_room(c);
			return;
		}
		if (r == PARSE_ERROR)
			return;
		if (c->argc > 0)
			execute(c);
		next_command(c);
		if (c->out_len >= OUT_FLUSH)
			flush(c);
		if (c->state != CONN_OPEN)
			return;
	}
}

/* End a connection whose last reply was sent: no more sending, then drop
 * what the client still sends until it closes, for at most LINGER_NS, so
 * that unread input does not make the kernel reset the connection before
 * the client has read the reply. */
static void linger(struct conn *c)
{
	shutdown(c->fd, SHUT_WR);
	rg_ctx_attach(NULL); /* a stopping server lingers too */
	rg_set_deadline(rg_now_ns() + LINGER_NS);
	while (rg_recv(c->fd, c->in, c->in_cap, 0) > 0)
		;
	rg_set_deadline(0);
}

static void serve_conn(struct conn *c)
{
	while (c->state == CONN_OPEN) {
		ssize_t n = rg_recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);

		if (n <= 0)
			return; /* closed by the client, an error, or the stop */
		c->in_len += (size_t)n;
		process_input(c);
		flush(c);
	}
	if (c->state == CONN_CLOSING)
		linger(c);
}

static void serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	struct conn *c = conn_new(fd);

	atomic_fetch_add(&conns_open, 1);
	if (!c)
		fprintf(stderr, "kv_server: out of memory for a connection; closing it\n");
	if (c)
		serve_conn(c);
	rg_close(fd);
	conn_free(c);
	atomic_fetch_sub(&conns_open, 1);
	rg_wg_done(&conns_wg);
}

/* ===================================================================== */
/* Accepting, signals, start-up                                          */
/* ===================================================================== */

static void start_conn(int fd)
{
	int one = 1, r;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	rg_wg_add(&conns_wg, 1);
	r = rg_go_ctx(root, serve, (void *)(intptr_t)fd);
	if (r < 0) {
		fprintf(stderr, "kv_server: cannot start a goroutine (%s); dropping a connection\n",
			strerror(-r));
		rg_close(fd);
		rg_wg_done(&conns_wg);
	}
}

/* Accept connections until the stop, or an unexpected error. */
static void accept_loop(void)
{
	for (;;) {
		int fd = rg_accept(listen_fd, NULL, NULL);

		if (fd >= 0) {
			start_conn(fd);
			continue;
		}
		if (rg_ctx_err(root))
			return;
		if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM) {
			rg_sleep_ns(RETRY_NS); /* out of descriptors: let some close */
			continue;
		}
		if (fd == -ECONNABORTED || fd == -EINTR || fd == -EPROTO)
			continue;
		fprintf(stderr, "kv_server: accept: %s\n", strerror(-fd));
		accept_failed = true;
		stop_server();
		return;
	}
}

/* Wait for SIGTERM or SIGINT on the signal channel, then stop the server. */
static void wait_for_signal(void *arg)
{
	rg_chan *signals = arg;
	int sig = 0;

	if (rg_chan_recv(signals, &sig) == 1)
		printf("kv_server: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
	fflush(stdout);
	/* Still notified: another SIGTERM while stopping is dropped (the
	 * channel is full), not the default action. */
	stop_server();
}

static void main_goroutine(void *arg)
{
	/* Static: notified until the process exits (see wait_for_signal). */
	static rg_chan *signals;
	sigset_t stop_signals;
	int r, closed;

	(void)arg;
	signals = rg_chan_make(sizeof(int), 1);
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	r = signals ? rg_signal_notify(signals, &stop_signals) : -ENOMEM;
	if (r < 0) {
		fprintf(stderr, "kv_server: rg_signal_notify: %s\n", strerror(-r));
		exit(1);
	}
	root = rg_ctx_with_cancel(NULL);
	if (!root) {
		fprintf(stderr, "kv_server: out of memory\n");
		exit(1);
	}
	printf("kv_server: listening on port %d (%d Ps)\n", port, rg_gomaxprocs(0));
	fflush(stdout);
	r = rg_go(wait_for_signal, signals);
	if (r == 0)
		r = rg_go_ctx(root, sweeper, NULL);
	if (r < 0) {
		fprintf(stderr, "kv_server: cannot start a goroutine: %s\n", strerror(-r));
		exit(1);
	}
	rg_ctx_attach(root);
	accept_loop();
	rg_ctx_attach(NULL);
	rg_wg_wait(&conns_wg);
	rg_close(listen_fd);
	db_flush();
	closed = atomic_load(&conns_closed);
	rg_ctx_free(root);
	printf("kv_server: stopped, %d connection%s closed\n", closed, closed == 1 ? "" : "s");
	fflush(stdout);
}

/* A number in [min, max] from s, or -1. */
static int parse_arg(const char *s, int min, int max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	return (int)v;
}

/* Listen on 127.0.0.1:port; the socket, or -1 (errno set). */
static int listen_on(int *port_inout)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(*port_inout) };
	socklen_t alen = sizeof(addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, BACKLOG) < 0 ||
	    getsockname(fd, (struct sockaddr *)&addr, &alen) < 0) {
		int err = errno;

		if (fd >= 0)
			close(fd);
		errno = err;
		return -1;
	}
	*port_inout = ntohs(addr.sin_port);
	return fd;
}

/* Each connection is a descriptor: allow as many as the hard limit. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void seed_hash(void)
{
	if (getrandom(hash_key, sizeof(hash_key), 0) != (ssize_t)sizeof(hash_key)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		hash_key[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
		hash_key[1] = (uint64_t)ts.tv_sec * 0xbf58476d1ce4e5b9ULL ^ (uintptr_t)&ts;
	}
}

int main(int argc, char **argv)
{
	rg_config cfg = { 0 };
	int r;

	port = argc > 1 ? parse_arg(argv[1], 0, 65535) : DEFAULT_PORT;
	if (argc > 2)
		cfg.maxprocs = parse_arg(argv[2], 0, 1024);
	if (argc > 3 || port < 0 || cfg.maxprocs < 0) {
		fprintf(stderr, "usage: %s [PORT [MAXPROCS]]   (default port %d)\n", argv[0],
			DEFAULT_PORT);
		return 2;
	}
	raise_fd_limit();
	seed_hash();
	listen_fd = listen_on(&port);
	if (listen_fd < 0) {
		fprintf(stderr, "%s: port %d: %s\n", argv[0], port, strerror(errno));
		return 1;
	}
	r = rg_main(&cfg, main_goroutine, NULL);
	if (r) {
		fprintf(stderr, "rg_main: %s\n", strerror(-r));
		return 1;
	}
	return accept_failed ? 1 : 0;
}
