/* SPDX-License-Identifier: MIT */
/*
 * runtime/dns_cares.c - rg_getaddrinfo's DNS resolver: c-ares, driven by
 * the calling goroutine with rg_poll.  No thread: a lookup is a UDP
 * query on a socket the goroutine waits on in the netpoller.
 *
 * Which resolver (dns_cares_usable, decided once per runtime): this one
 * when RINGO_DEBUG=netdns=cares, or, by default, when nsswitch.conf's
 * hosts line names nothing but "files" and "dns" (c-ares reads
 * /etc/hosts and asks DNS servers, in that line's order, and knows no
 * other source); otherwise, or with netdns=glibc, glibc's getaddrinfo on
 * the helper threads of runtime/dns.c.  That is Go's rule for its own
 * resolver against cgo's.  A call with flags c-ares lacks (AI_IDN...)
 * goes to glibc too, as do AI_NUMERICHOST, families other than IPv4 and
 * IPv6 and socket types other than streams and datagrams.  bench/dns measured the choice (bench/RESULTS.md):
 * with a server that answers in 2 ms the helper threads top out at
 * DNS_THREADS lookups per round trip, c-ares did 12x that, with a third
 * less CPU per lookup and no thread, and a query that is never answered
 * is cancelled rather than holding a thread for glibc's own timeout.
 *
 * Channels.  A c-ares channel costs several lookups to make (it reads
 * resolv.conf and seeds its query ids: about 210 us here), so the idle
 * ones wait in a pool (at most POOL_MAX, as many as lookups were in
 * flight at once; cares.lock) and a lookup takes one for itself: no two
 * goroutines ever share a channel, which c-ares does not allow without a
 * lock.  A channel closes its socket once its query is done, as glibc's
 * and Go's resolvers do, so the idle ones hold no descriptor: with
 * ARES_FLAG_STAYOPEN (one socket per idle channel) a burst of a thousand
 * lookups would leave a thousand sockets open, where a program at the
 * usual limit of 1,024 descriptors needs them for its connections.  (The
 * open socket saved about 10% of the CPU per lookup: not kept.)  A channel
 * made before /etc/resolv.conf last changed (its mtime or inode, looked at
 * once a second at most) is destroyed rather than reused.  RINGO_DNS_SERVERS
 * (c-ares's "host[:port],..." form) replaces resolv.conf's servers.  The
 * pool is emptied when the runtime ends (dns_cares_fini).
 *
 * A lookup (dns_cares_lookup): ares_getaddrinfo on the channel, then, until
 * its callback has run: wait with rg_poll on the channel's socket for what
 * c-ares asks (ares_getsock; on all its sockets at once, through a
 * pollset, when it has several, as during a retry over TCP), no longer
 * than c-ares's next retry (ares_timeout) nor the caller's deadline, and
 * let c-ares read or retry (ares_process_fd).  Its sockets are opened by
 * c-ares (non-blocking) and closed through rg_close (sock_close), so the
 * netpoller forgets them.  At the deadline, or when the goroutine's
 * context is cancelled, ares_cancel ends the query (its callback runs at
 * once, ARES_ECANCELLED) and the channel goes back to the pool: nothing is
 * left in flight.
 *
 * Calls in progress.  Every call into c-ares, and the pool's lock, is
 * bracketed by ki_call_enter and ki_call_exit (CARES): c-ares allocates,
 * reads resolv.conf and /etc/hosts, and a wait of the C library's there is
 * the runtime's, which the SIGURG handler must not take for the program's
 * and give the goroutine's P away in ("Blocked calls nobody annotated",
 * runtime/preempt.c).  Nothing c-ares calls back parks: its sockets are
 * non-blocking, and sock_close's rg_close only forgets the descriptor.
 *
 * The answer becomes a glibc addrinfo list (to_addrinfo), so that
 * freeaddrinfo(3) frees it as it frees getaddrinfo's: one allocation per
 * entry, its address after it, and the canonical name in an allocation of
 * its own.  With no socket type in the hints there is one entry per
 * address and type, as glibc gives (SOCK_STREAM, SOCK_DGRAM, and SOCK_RAW
 * when no service was asked for).
 */
#include "runtime/dns.h"

#include <ares.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "ringo.h"
#include "kernel_iface/kernel.h"
#include "runtime/ctx.h"
#include "runtime/runtime.h"

#define POOL_MAX	1024	     /* idle channels kept */
#define RESOLV_CHECK_NS 1000000000LL /* how often resolv.conf is looked at */
#define RESOLV_CONF	"/etc/resolv.conf"
#define NSSWITCH_CONF	"/etc/nsswitch.conf"
#define MAX_STEP_NS	1000000LL /* a wait with no socket open */
#define GAI_CARES_FLAGS \
	(AI_PASSIVE | AI_CANONNAME | AI_V4MAPPED | AI_ALL | AI_ADDRCONFIG | AI_NUMERICSERV)

/* A call into c-ares as a call in progress ("Calls in progress" above). */
#define CARES(stmt)              \
	do {                     \
		ki_call_enter(); \
		stmt;            \
		ki_call_exit();  \
	} while (0)

struct pooled {
	ares_channel ch;
	uint64_t gen; /* cares.gen when it was made */
};

static struct {
	pthread_mutex_t lock;
	struct pooled idle[POOL_MAX]; /* lock */
	int nidle;		      /* lock */
	/* resolv.conf's identity and the generation it makes; lock */
	uint64_t gen;
	struct statx_timestamp mtime;
	uint64_t ino;
	int64_t checked; /* when it was last looked at; lock */
	/* Per runtime (dns_cares_init): whether to use c-ares, and how. */
	bool usable;
	bool lib_ok;	 /* ares_library_init succeeded (once per process) */
	char lookups[3]; /* "fb", "bf", "f" or "b": files and DNS, in order */
	char *servers;	 /* RINGO_DNS_SERVERS, or NULL */
} cares = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* --- the choice ----------------------------------------------------------- */

/* nsswitch.conf's hosts line as c-ares lookups ("fb"...): true when it
 * names only files and dns (each at most once, no [action]). */
static bool nsswitch_lookups(char out[3])
{
	FILE *f = fopen(NSSWITCH_CONF, "re");
	char line[512];
	bool ok = false;

	if (!f)
		return false; /* glibc's default then has more than c-ares */
	while (fgets(line, sizeof(line), f)) {
		char *save, *tok, *p = line + strspn(line, " \t");
		int n = 0;

		if (strncmp(p, "hosts:", 6))
			continue;
		ok = true;
		for (tok = strtok_r(p + 6, " \t\n", &save); tok;
		     tok = strtok_r(NULL, " \t\n", &save)) {
			char c = !strcmp(tok, "files") ? 'f' : !strcmp(tok, "dns") ? 'b' : 0;

			if (tok[0] == '#')
				break;
			if (!c || n == 2 || (n == 1 && out[0] == c)) {
				ok = false;
				break;
			}
			out[n++] = c;
		}
		out[n] = '\0';
		ok = ok && n > 0;
		break;
	}
	fclose(f);
	return ok;
}

void dns_cares_init(int netdns)
{
	char lookups[3] = "fb";
	const char *servers = getenv("RINGO_DNS_SERVERS");

	cares.usable = false;
	if (netdns == DNS_NETDNS_GLIBC)
		return;
	if (netdns != DNS_NETDNS_CARES && !nsswitch_lookups(lookups))
		return;
	pthread_mutex_lock(&cares.lock);
	if (!cares.lib_ok)
		cares.lib_ok = ares_library_init(ARES_LIB_INIT_ALL) == ARES_SUCCESS;
	memcpy(cares.lookups, lookups, sizeof(lookups));
	rt_free(cares.servers);
	cares.servers = servers && *servers ? rt_strdup(servers) : NULL;
	cares.usable = cares.lib_ok;
	pthread_mutex_unlock(&cares.lock);
}

bool dns_cares_usable(const struct addrinfo *hints)
{
	if (!cares.usable)
		return false;
	if (!hints)
		return true;
	/* What glibc alone answers: flags c-ares lacks (and AI_NUMERICHOST,
	 * which asks no server), other families and socket types (glibc's
	 * errors for them). */
	return !(hints->ai_flags & ~GAI_CARES_FLAGS) &&
	       (hints->ai_family == AF_UNSPEC || hints->ai_family == AF_INET ||
		hints->ai_family == AF_INET6) &&
	       (hints->ai_socktype == 0 || hints->ai_socktype == SOCK_STREAM ||
		hints->ai_socktype == SOCK_DGRAM);
}

/* --- channels --------------------------------------------------------------- */

/* The socket functions c-ares calls: the kernel's calls, with its -1 and
 * errno convention. */
static ares_ssize_t errno_ret(ssize_t r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

/* c-ares leaves a socket it did not open itself as it is: non-blocking
 * here, or its reads would block the M. */
static ares_socket_t sock_open(int domain, int type, int protocol, void *user)
{
	(void)user;
	return (ares_socket_t)errno_ret(
		ki_socket(domain, type | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol));
}

/* rg_close: the netpoller forgets the descriptor. */
static int sock_close(ares_socket_t fd, void *user)
{
	(void)user;
	return (int)errno_ret(rg_close(fd));
}

static int sock_connect(ares_socket_t fd, const struct sockaddr *addr, ares_socklen_t len,
			void *user)
{
	(void)user;
	return (int)errno_ret(ki_connect(fd, addr, len));
}

static ares_ssize_t sock_recvfrom(ares_socket_t fd, void *buf, size_t len, int flags,
				  struct sockaddr *from, ares_socklen_t *fromlen, void *user)
{
	struct iovec iov = { buf, len };
	struct msghdr msg = { .msg_name = from,
			      .msg_namelen = from && fromlen ? *fromlen : 0,
			      .msg_iov = &iov,
			      .msg_iovlen = 1 };
	ssize_t r = ki_recvmsg(fd, &msg, flags);

	(void)user;
	if (r >= 0 && from && fromlen)
		*fromlen = msg.msg_namelen;
	return errno_ret(r);
}

static ares_ssize_t sock_sendv(ares_socket_t fd, const struct iovec *iov, int cnt, void *user)
{
	struct msghdr msg = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)cnt };

	(void)user;
	return errno_ret(ki_sendmsg(fd, &msg, MSG_NOSIGNAL));
}

static const struct ares_socket_functions sock_funcs = {
	.asocket = sock_open,
	.aclose = sock_close,
	.aconnect = sock_connect,
	.arecvfrom = sock_recvfrom,
	.asendv = sock_sendv,
};

/* Bump cares.gen if resolv.conf changed since it was last looked at (at
 * most once every RESOLV_CHECK_NS).  cares.lock held. */
static void resolv_check(int64_t now)
{
	struct statx st;

	if (cares.checked && now - cares.checked < RESOLV_CHECK_NS)
		return;
	cares.checked = now;
	if (ki_statx(AT_FDCWD, RESOLV_CONF, 0, STATX_INO | STATX_MTIME, &st) < 0)
		memset(&st, 0, sizeof(st));
	if (st.stx_ino != cares.ino || st.stx_mtime.tv_sec != cares.mtime.tv_sec ||
	    st.stx_mtime.tv_nsec != cares.mtime.tv_nsec) {
		cares.ino = st.stx_ino;
		cares.mtime = st.stx_mtime;
		cares.gen++;
	}
}

/* A channel of the current generation: from the pool, or new.  0 or
 * -errno. */
static int chan_take(struct pooled *out)
{
	struct ares_options opts = { .flags = 0 };
	char lookups[3], *servers = NULL;
	bool want_servers;
	int r;

	pthread_mutex_lock(&cares.lock);
	resolv_check(ki_nanotime());
	while (cares.nidle > 0) {
		struct pooled p = cares.idle[--cares.nidle];

		if (p.gen == cares.gen) {
			pthread_mutex_unlock(&cares.lock);
			*out = p;
			return 0;
		}
		/* Made before resolv.conf changed: destroyed, without the lock. */
		pthread_mutex_unlock(&cares.lock);
		ares_destroy(p.ch);
		pthread_mutex_lock(&cares.lock);
	}
	out->gen = cares.gen;
	memcpy(lookups, cares.lookups, sizeof(lookups));
	want_servers = cares.servers != NULL;
	if (want_servers)
		servers = rt_strdup(cares.servers);
	pthread_mutex_unlock(&cares.lock);
	if (want_servers && !servers)
		return -ENOMEM;
	opts.lookups = lookups;
	r = ares_init_options(&out->ch, &opts, ARES_OPT_FLAGS | ARES_OPT_LOOKUPS);
	if (r == ARES_SUCCESS && servers &&
	    ares_set_servers_ports_csv(out->ch, servers) != ARES_SUCCESS) {
		ares_destroy(out->ch);
		r = ARES_EBADSTR;
	}
	rt_free(servers);
	if (r != ARES_SUCCESS)
		return r == ARES_ENOMEM ? -ENOMEM : -EIO;
	ares_set_socket_functions(out->ch, &sock_funcs, NULL);
	return 0;
}

/* chan_take, as a call in progress. */
static int chan_get(struct pooled *out)
{
	int r;

	CARES(r = chan_take(out));
	return r;
}

static void chan_put(struct pooled *p)
{
	ki_call_enter();
	pthread_mutex_lock(&cares.lock);
	if (cares.usable && cares.nidle < POOL_MAX && p->gen == cares.gen) {
		cares.idle[cares.nidle++] = *p;
		p = NULL;
	}
	pthread_mutex_unlock(&cares.lock);
	if (p)
		ares_destroy(p->ch);
	ki_call_exit();
}

void dns_cares_fini(void)
{
	pthread_mutex_lock(&cares.lock);
	cares.usable = false;
	while (cares.nidle > 0) {
		ares_channel ch = cares.idle[--cares.nidle].ch;

		pthread_mutex_unlock(&cares.lock);
		ares_destroy(ch);
		pthread_mutex_lock(&cares.lock);
	}
	pthread_mutex_unlock(&cares.lock);
}

/* --- a lookup ----------------------------------------------------------------- */

struct lookup {
	bool done;
	int status;
	struct ares_addrinfo *ai;
};

static void lookup_done(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct lookup *l = arg;

	(void)timeouts;
	l->done = true;
	l->status = status;
	l->ai = ai;
}

/* c-ares's status as rg_getaddrinfo's -errno (glibc's EAI_* mapped as
 * runtime/dns.c maps them). */
static int status_errno(int status)
{
	switch (status) {
	case ARES_SUCCESS:
		return 0;
	case ARES_ENOTFOUND:
	case ARES_ENODATA:
	case ARES_ENONAME:
	case ARES_EBADNAME:
		return -ENOENT;
	case ARES_ETIMEOUT:
	case ARES_ESERVFAIL:
	case ARES_ECONNREFUSED:
	case ARES_EREFUSED:
		return -EAGAIN;
	case ARES_ENOMEM:
		return -ENOMEM;
	case ARES_EBADFAMILY:
		return -EAFNOSUPPORT;
	case ARES_ESERVICE:
		return -ESOCKTNOSUPPORT;
	case ARES_EBADFLAGS:
		return -EINVAL;
	default:
		return -EIO;
	}
}

/* c-ares's turn on fd, for what rg_poll said of it (rev). */
static void process(ares_channel ch, ares_socket_t fd, int rev)
{
	CARES(ares_process_fd(ch, rev & (POLLIN | POLLERR | POLLHUP) ? fd : ARES_SOCKET_BAD,
			      rev & (POLLOUT | POLLERR) ? fd : ARES_SOCKET_BAD));
}

/* What a wait of step's ended with: rev (poll bits) on fd, or -errno.
 * Its own timeout is c-ares's next retry, so -ETIMEDOUT gives c-ares
 * its turn for retries, unless the goroutine's deadline or context
 * ended the wait. */
static int step_end(ares_channel ch, ares_socket_t fd, int rev)
{
	if (rev == -ETIMEDOUT) {
		int r = ctx_current_err();

		if (r < 0)
			return r; /* the context's deadline, not the wait's */
		/* Its retries. */
		process(ch, ARES_SOCKET_BAD, 0);
		return 0;
	}
	if (rev < 0)
		return rev;
	process(ch, fd, rev);
	return 0;
}

/* step's wait when the channel has several sockets open (a TCP retry
 * after a truncated answer beside its UDP socket, a second server): all
 * of them at once, in a pollset (kernel_iface) that rg_poll waits on,
 * then c-ares's turn on the first that is ready. */
static int step_set(ares_channel ch, const ares_socket_t *socks, const short *ev, int n,
		    int64_t wait_ns)
{
	int set = ki_pollset_create(), r = 0, fd = ARES_SOCKET_BAD;
	short rev = 0;

	if (set < 0)
		return set;
	for (int i = 0; i < n && r == 0; i++)
		if (ev[i])
			r = ki_pollset_add(set, socks[i], ev[i]);
	if (r == 0) {
		r = rg_poll(set, POLLIN, wait_ns);
		if (r > 0) {
			r = ki_pollset_ready(set, &fd, &rev, 1);
			r = r > 0 ? rev : r == 0 ? -ETIMEDOUT : r; /* none now: a retry's turn */
		}
		r = step_end(ch, fd, r);
	}
	rg_close(set);
	return r;
}

/* One wait for what the channel asks, at most wait_ns, then c-ares's
 * turn: on a socket that is ready, or for its retries.  c-ares may close
 * or open sockets in its turn, so one turn per call: the caller asks
 * ares_getsock again.  0, or the wait's -errno other than its own
 * timeout (a deadline, the context). */
static int step(ares_channel ch, int64_t wait_ns)
{
	ares_socket_t socks[ARES_GETSOCK_MAXNUM];
	/* The bits as ares_getsock sets them: readable i at bit i, writable
	 * at bit i + ARES_GETSOCK_MAXNUM (read unsigned: c-ares's own macros
	 * shift into the sign bit). */
	unsigned bits;
	short ev[ARES_GETSOCK_MAXNUM];
	int n = 0, i;

	CARES(bits = (unsigned)ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM));
	for (i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
		ev[i] = (short)((bits & (1u << i) ? POLLIN : 0) |
				(bits & (1u << (i + ARES_GETSOCK_MAXNUM)) ? POLLOUT : 0));
		if (ev[i])
			n = i + 1;
	}
	if (n == 0) { /* nothing to wait on: only retries to make */
		rg_sleep_ns(wait_ns < 0 || wait_ns > MAX_STEP_NS ? MAX_STEP_NS : wait_ns);
		process(ch, ARES_SOCKET_BAD, 0);
		return ctx_current_err();
	}
	if (n > 1)
		return step_set(ch, socks, ev, n, wait_ns);
	return step_end(ch, socks[0], rg_poll(socks[0], ev[0], wait_ns));
}

/* Append to *tail one glibc-style entry for node with socktype/protocol;
 * false when out of memory. */
static bool add_entry(struct addrinfo ***tail, const struct ares_addrinfo_node *node, int socktype,
		      int protocol)
{
	struct addrinfo *ai = rt_calloc(1, sizeof(*ai) + (size_t)node->ai_addrlen);

	if (!ai)
		return false;
	ai->ai_flags = node->ai_flags;
	ai->ai_family = node->ai_family;
	ai->ai_socktype = socktype;
	ai->ai_protocol = protocol;
	ai->ai_addrlen = (socklen_t)node->ai_addrlen;
	ai->ai_addr = (struct sockaddr *)(ai + 1);
	memcpy(ai->ai_addr, node->ai_addr, (size_t)node->ai_addrlen);
	**tail = ai;
	*tail = &ai->ai_next;
	return true;
}

static int to_addrinfo(const struct ares_addrinfo *in, const struct addrinfo *hints, bool service,
		       struct addrinfo **res)
{
	static const int types[][2] = { { SOCK_STREAM, IPPROTO_TCP },
					{ SOCK_DGRAM, IPPROTO_UDP },
					{ SOCK_RAW, 0 } };
	struct addrinfo *head = NULL, **tail = &head;
	int ntypes = service ? 2 : 3;

	for (const struct ares_addrinfo_node *n = in->nodes; n; n = n->ai_next) {
		bool ok = true;

		if (hints && (hints->ai_socktype || hints->ai_protocol)) {
			ok = add_entry(&tail, n,
				       hints->ai_socktype ? hints->ai_socktype : n->ai_socktype,
				       hints->ai_protocol ? hints->ai_protocol : n->ai_protocol);
		} else {
			for (int i = 0; i < ntypes && ok; i++)
				ok = add_entry(&tail, n, types[i][0], types[i][1]);
		}
		if (!ok) {
			freeaddrinfo(head);
			return -ENOMEM;
		}
	}
	if (!head)
		return -ENOENT;
	if (hints && (hints->ai_flags & AI_CANONNAME)) {
		const char *name = in->cnames ? in->cnames->name : in->name;

		if (name && !(head->ai_canonname = rt_strdup(name))) {
			freeaddrinfo(head);
			return -ENOMEM;
		}
	}
	*res = head;
	return 0;
}

int dns_cares_lookup(const char *host, const char *service, const struct addrinfo *hints,
		     struct addrinfo **res, int64_t deadline)
{
	struct ares_addrinfo_hints ah = { 0 };
	struct lookup l = { 0 };
	struct pooled p;
	int r = chan_get(&p);

	if (r < 0)
		return r;
	if (hints) {
		ah.ai_flags = ((hints->ai_flags & AI_PASSIVE) ? ARES_AI_PASSIVE : 0) |
			      ((hints->ai_flags & AI_CANONNAME) ? ARES_AI_CANONNAME : 0) |
			      ((hints->ai_flags & AI_V4MAPPED) ? ARES_AI_V4MAPPED : 0) |
			      ((hints->ai_flags & AI_ALL) ? ARES_AI_ALL : 0) |
			      ((hints->ai_flags & AI_ADDRCONFIG) ? ARES_AI_ADDRCONFIG : 0) |
			      ((hints->ai_flags & AI_NUMERICSERV) ? ARES_AI_NUMERICSERV : 0);
		ah.ai_family = hints->ai_family;
		ah.ai_socktype = hints->ai_socktype;
		ah.ai_protocol = hints->ai_protocol;
	}
	CARES(ares_getaddrinfo(p.ch, host, service, &ah, lookup_done, &l));
	while (!l.done) {
		struct timeval tv;
		int64_t wait = -1, now = ki_nanotime();
		bool retry;

		if (deadline && now >= deadline) {
			r = -ETIMEDOUT;
			break;
		}
		CARES(retry = ares_timeout(p.ch, NULL, &tv) != NULL);
		if (retry)
			wait = (int64_t)tv.tv_sec * 1000000000LL + (int64_t)tv.tv_usec * 1000;
		if (deadline && (wait < 0 || deadline - now < wait))
			wait = deadline - now;
		r = step(p.ch, wait);
		if (r < 0)
			break;
	}
	if (!l.done)
		CARES(ares_cancel(p.ch)); /* lookup_done runs now: ARES_ECANCELLED */
	chan_put(&p);
	if (r == 0)
		r = status_errno(l.status);
	if (r == 0)
		CARES(r = to_addrinfo(l.ai, hints, service != NULL, res));
	if (l.ai)
		CARES(ares_freeaddrinfo(l.ai));
	return r;
}
