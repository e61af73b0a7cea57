/* SPDX-License-Identifier: MIT */
/*
 * test_rseq - the rseq layer of kernel_iface (kernel_iface/rseq.h):
 *
 *  - the mode probed (glibc's area when glibc registered one), the CPU
 *    count, krseq_thread_init/fini;
 *  - cpu_current() equals sched_getcpu() on a thread pinned to each CPU in
 *    turn, and cpu_current_node() is the CPU's node when the kernel fills
 *    node_id (else -1);
 *  - the primitives' results (success, mismatch, the wrong CPU, cpu < 0);
 *  - a per-CPU counter and a per-CPU list stay exact with 8 threads that
 *    keep changing their affinity (forced migrations): the sum is the total
 *    added, and every node is taken exactly once (an owner flag per node)
 *    and found exactly once at the end, while a thief takes whole lists
 *    from other CPUs (percpu_list_steal: stop word + fence);
 *  - a signal handler that uses the counter and the list interrupting the
 *    same operations on the same CPU (the kernel restarts the section);
 *  - membarrier fences;
 *  - child processes: mode OWN (GLIBC_TUNABLES=glibc.pthread.rseq=0, with
 *    threads that register and threads that do not), mode NONE (the same
 *    plus a seccomp filter that answers rseq() with ENOSYS), and a
 *    process that degrades to atomics in the middle of the stress when a
 *    thread under such a filter starts using the per-CPU operations.
 *
 * Every check runs in each mode: the stress and the CPU checks are shared
 * by the parent and the children.
 */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>

#include "tests/helpers.h"

#include "kernel_iface/rseq.h"

extern const unsigned int __rseq_size __attribute__((weak));

#define NTHREADS      8
#define STRESS_ITERS  TEST_SCALE(200000, 10000)
#define MIGRATE_EVERY 128 /* operations between two affinity changes */
#define NNODES	      512
#define HOLD	      8 /* nodes a worker holds at most */

#define TUNABLE_NO_RSEQ "GLIBC_TUNABLES=glibc.pthread.rseq=0"

/* The CPUs this process may run on, from its mask at start-up. */
static cpu_set_t orig_mask;
static int cpus[CPU_SETSIZE];
static int ncpus;

static void cpus_init(void)
{
	if (sched_getaffinity(0, sizeof(orig_mask), &orig_mask) != 0) {
		CPU_ZERO(&orig_mask);
		CPU_SET(0, &orig_mask);
	}
	ncpus = 0;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &orig_mask))
			cpus[ncpus++] = c;
}

/* Pin the calling thread to @cpu (-1: back to the original mask). */
static int pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return sched_setaffinity(0, sizeof(orig_mask), &orig_mask);
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

static unsigned int rnd(unsigned int *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 8;
}

/* The node of @cpu from sysfs (the "nodeN" entry of its directory), or -1. */
static int sysfs_node_of(int cpu)
{
	char path[64];
	struct dirent *de;
	int node = -1;
	DIR *d;

	snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d", cpu);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "node", 4) == 0 && de->d_name[4] >= '0' &&
		    de->d_name[4] <= '9')
			node = atoi(de->d_name + 4);
	closedir(d);
	return node;
}

/* --------------------------------------------------------------------- */
/* Checks shared by the parent and the children (GCHECK: any thread)     */
/* --------------------------------------------------------------------- */

/* On each CPU in turn: cpu_current() == sched_getcpu() == that CPU, and
 * the node is the CPU's (or -1 when untrusted or unregistered). */
static void check_cpus_pinned(bool registered)
{
	for (int i = 0; i < ncpus; i++) {
		int cpu = cpus[i], node;

		GCHECK_EQ(pin(cpu), 0);
		for (int k = 0; k < 100; k++) {
			GCHECK_EQ(cpu_current(), cpu);
			GCHECK_EQ(sched_getcpu(), cpu);
		}
		node = cpu_current_node();
		if (krseq_has_node() && registered)
			GCHECK_EQ(node, sysfs_node_of(cpu));
		else
			GCHECK_EQ(node, -1);
	}
	GCHECK_EQ(pin(-1), 0);
}

#define RETRY(call)                    \
	({                             \
		int r_;                \
		do                     \
			r_ = (call);   \
		while (r_ == -EAGAIN); \
		r_;                    \
	})

struct tnode {
	struct percpu_node link; /* first: the list's pointer is the node's */
	atomic_int owned;	 /* 1 while a thread holds it off the list */
	int id;
	struct tnode *mnext; /* in steal_race's mailbox */
};

/* The primitives' results, pinned so that @cpu stays right. */
static void check_primitives(void)
{
	struct tnode a = { .id = 1 }, b = { .id = 2 };
	intptr_t v = 5, head, load = 0;
	int cpu;

	GCHECK_EQ(pin(cpus[0]), 0);
	cpu = cpu_current();
	GCHECK_EQ(cpu, cpus[0]);

	GCHECK_EQ(RETRY(percpu_cmpeqv_storev(&v, 5, 7, cpu)), 0);
	GCHECK_EQ(v, 7);
	GCHECK_EQ(RETRY(percpu_cmpeqv_storev(&v, 5, 9, cpu)), 1);
	GCHECK_EQ(v, 7);
	GCHECK_EQ(RETRY(percpu_addv(&v, 3, cpu)), 0);
	GCHECK_EQ(v, 10);
	GCHECK_EQ(RETRY(percpu_addv(&v, -4, cpu)), 0);
	GCHECK_EQ(v, 6);

	a.link.next = &b.link;
	b.link.next = NULL;
	head = (intptr_t)&a;
	GCHECK_EQ(RETRY(percpu_cmpnev_storeoffp_load(&head, 0, offsetof(struct percpu_node, next),
						     &load, cpu)),
		  0);
	GCHECK(load == (intptr_t)&a && head == (intptr_t)&b);
	GCHECK_EQ(RETRY(percpu_cmpnev_storeoffp_load(&head, 0, offsetof(struct percpu_node, next),
						     &load, cpu)),
		  0);
	GCHECK(load == (intptr_t)&b && head == 0);
	load = 42;
	GCHECK_EQ(RETRY(percpu_cmpnev_storeoffp_load(&head, 0, offsetof(struct percpu_node, next),
						     &load, cpu)),
		  1);
	GCHECK_EQ(load, 42);

	/* A CPU the thread is not on: never done with rseq (cpu + 1 need not
	 * exist: any other number mismatches). */
	if (percpu_uses_rseq()) {
		GCHECK_EQ(percpu_cmpeqv_storev(&v, 6, 8, cpu + 1), -EAGAIN);
		GCHECK_EQ(percpu_addv(&v, 1, cpu + 1), -EAGAIN);
		GCHECK_EQ(v, 6);
	}
	GCHECK_EQ(percpu_cmpeqv_storev(&v, 6, 8, -1), -EINVAL);
	GCHECK_EQ(percpu_addv(&v, 1, -1), -EINVAL);
	GCHECK_EQ(percpu_cmpnev_storeoffp_load(&head, 0, 0, &load, -1), -EINVAL);
	GCHECK_EQ(v, 6);
	GCHECK_EQ(pin(-1), 0);
}

/* --------------------------------------------------------------------- */
/* The stress                                                            */
/* --------------------------------------------------------------------- */

struct stress {
	struct percpu_counter *counter;
	struct percpu_list *list;
	struct tnode nodes[NNODES];
	atomic_int done;      /* workers finished */
	atomic_long progress; /* operations done by all workers */
	atomic_long steals;   /* nodes taken by the thief */
	bool thief;	      /* run a thief thread */
	bool init_some;	      /* odd workers call krseq_thread_init/fini */
	int degrade_worker;   /* this worker denies itself rseq (-1: none) */
};

struct worker {
	struct stress *s;
	int id;
	int64_t added;
	pthread_t thr;
};

/* Take @tn off a list: it must not be held already. */
static void node_take(struct tnode *tn)
{
	int was = atomic_exchange(&tn->owned, 1);

	if (was != 0)
		gcheck_fail("node %d taken twice", tn->id);
}

/* Put @tn back on @l. */
static void node_put_list(struct percpu_list *l, struct tnode *tn)
{
	int cpu;

	atomic_store(&tn->owned, 0);
	cpu = percpu_list_push(l, &tn->link);
	if (cpu < 0 || cpu >= l->nr_cpus)
		gcheck_fail("percpu_list_push: %d", cpu);
}

static void node_put(struct stress *s, struct tnode *tn)
{
	node_put_list(s->list, tn);
}

static void *stress_worker(void *arg)
{
	struct worker *w = arg;
	struct stress *s = w->s;
	struct tnode *held[HOLD];
	unsigned int seed = 0x9e3779b9u * (unsigned int)(w->id + 1);
	bool own = s->init_some && (w->id & 1);
	int nheld = 0;

	if (w->id == s->degrade_worker) {
		GCHECK_EQ(SECCOMP_DENY(ENOSYS, __NR_rseq), 0);
		/* Let the others run rseq operations for a while first. */
		while (atomic_load(&s->progress) < (long)STRESS_ITERS * 2 &&
		       atomic_load(&s->done) < NTHREADS - 1)
			sched_yield();
	}
	if (own)
		GCHECK_EQ(krseq_thread_init(), 0);
	for (int i = 0; i < STRESS_ITERS; i++) {
		unsigned int x = rnd(&seed);
		intptr_t n = (intptr_t)(x % 7) + 1;
		int cpu;

		if (i % MIGRATE_EVERY == 0)
			pin(x % 5 == 0 ? -1 : cpus[(x >> 4) % (unsigned int)ncpus]);
		cpu = percpu_counter_add(s->counter, n);
		if (cpu < 0 || cpu >= s->counter->nr_cpus)
			gcheck_fail("percpu_counter_add: %d", cpu);
		w->added += n;
		if ((x & 0x100) && nheld < HOLD) {
			struct percpu_node *pn = percpu_list_pop(s->list, &cpu);

			if (cpu < 0 || cpu >= s->list->nr_cpus)
				gcheck_fail("percpu_list_pop: cpu %d", cpu);
			if (pn) {
				held[nheld] = (struct tnode *)pn;
				node_take(held[nheld++]);
			}
		} else if (nheld > 0) {
			node_put(s, held[--nheld]);
		}
		if ((i & 63) == 0)
			atomic_fetch_add(&s->progress, 64);
	}
	while (nheld > 0)
		node_put(s, held[--nheld]);
	if (own)
		GCHECK_EQ(krseq_thread_fini(), 0);
	pin(-1);
	atomic_fetch_add(&s->done, 1);
	return NULL;
}

/* Take whole lists from CPUs at random and put the nodes back. */
static void *stress_thief(void *arg)
{
	struct stress *s = arg;
	unsigned int seed = 12345;

	while (atomic_load(&s->done) < NTHREADS) {
		int cpu = cpus[rnd(&seed) % (unsigned int)ncpus];
		struct percpu_node *chain = NULL, *next;
		int r = percpu_list_steal(s->list, cpu, &chain);

		if (r < 0) {
			gcheck_fail("percpu_list_steal: %d", r);
			break;
		}
		for (int n = 0; chain && n++ <= NNODES; chain = next) {
			next = chain->next;
			node_take((struct tnode *)chain);
			atomic_fetch_add(&s->steals, 1);
			node_put(s, (struct tnode *)chain);
		}
		usleep(100);
	}
	return NULL;
}

/* Run the stress; checks the counter's sum and that every node is on a
 * list exactly once at the end.  Returns the number of thief's nodes. */
static long run_stress(bool thief, bool init_some, int degrade_worker)
{
	struct stress *s = calloc(1, sizeof(*s));
	struct worker w[NTHREADS];
	pthread_t thief_thr;
	int64_t expect = 0;
	int seen[NNODES] = { 0 };
	long steals;

	if (!s) {
		gcheck_fail("out of memory");
		return 0;
	}
	s->thief = thief;
	s->init_some = init_some;
	s->degrade_worker = degrade_worker;
	GCHECK_EQ(percpu_counter_new(&s->counter), 0);
	GCHECK_EQ(percpu_list_new(&s->list), 0);
	if (!s->counter || !s->list)
		goto out;
	for (int i = 0; i < NNODES; i++) {
		s->nodes[i].id = i;
		node_put(s, &s->nodes[i]);
	}
	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ .s = s, .id = i };
		GCHECK_EQ(pthread_create(&w[i].thr, NULL, stress_worker, &w[i]), 0);
	}
	if (thief)
		GCHECK_EQ(pthread_create(&thief_thr, NULL, stress_thief, s), 0);
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(w[i].thr, NULL);
		expect += w[i].added;
	}
	if (thief)
		pthread_join(thief_thr, NULL);

	GCHECK_EQ(percpu_counter_sum(s->counter), expect);
	for (int cpu = 0, found = 0; cpu < s->list->nr_cpus; cpu++) {
		struct percpu_node *chain = NULL;

		GCHECK_EQ(percpu_list_steal(s->list, cpu, &chain), 0);
		for (; chain && found++ <= NNODES; chain = chain->next) {
			struct tnode *tn = (struct tnode *)chain;

			if (tn < s->nodes || tn >= s->nodes + NNODES) {
				gcheck_fail("a foreign node on the list");
				break;
			}
			seen[tn->id]++;
			GCHECK_EQ(atomic_load(&tn->owned), 0);
		}
	}
	for (int i = 0; i < NNODES; i++)
		if (seen[i] != 1)
			gcheck_fail("node %d found %d times at the end", i, seen[i]);
out:
	steals = atomic_load(&s->steals);
	percpu_counter_free(s->counter);
	percpu_list_free(s->list);
	free(s);
	return steals;
}

/* --------------------------------------------------------------------- */
/* Thefts racing with the owner CPU                                      */
/* --------------------------------------------------------------------- */

#define RACE_NODES 8

/*
 * A worker on one CPU swaps the two nodes on top of its list as fast as it
 * can; a thief on another CPU takes that list again and again and hands
 * the nodes back through a mailbox.  A commit that a theft did not stop
 * would put stolen nodes back on the list: taken twice.
 */
struct steal_race {
	struct percpu_list *list;
	struct tnode nodes[RACE_NODES];
	_Atomic(struct tnode *) mailbox; /* nodes stolen, not yet back */
	atomic_int stop;
	int cpu; /* the worker's */
};

static void race_mailbox_drain(struct steal_race *sr)
{
	struct tnode *tn = atomic_exchange(&sr->mailbox, NULL), *next;

	for (int n = 0; tn; tn = next) {
		if (n++ == RACE_NODES) {
			gcheck_fail("a node twice in the mailbox");
			atomic_store(&sr->stop, 1);
			break;
		}
		next = tn->mnext;
		node_put_list(sr->list, tn);
	}
}

static void *race_worker(void *arg)
{
	struct steal_race *sr = arg;

	GCHECK_EQ(pin(sr->cpu), 0);
	while (!atomic_load(&sr->stop)) {
		struct percpu_node *a, *b;

		if (atomic_load_explicit(&sr->mailbox, memory_order_relaxed))
			race_mailbox_drain(sr);
		a = percpu_list_pop(sr->list, NULL);
		if (!a)
			continue;
		node_take((struct tnode *)a);
		b = percpu_list_pop(sr->list, NULL);
		if (b)
			node_take((struct tnode *)b);
		node_put_list(sr->list, (struct tnode *)a);
		if (b)
			node_put_list(sr->list, (struct tnode *)b);
	}
	return NULL;
}

static void check_steal_race(void)
{
	struct steal_race *sr = calloc(1, sizeof(*sr));
	long thefts = TEST_SCALE(20000, 2000), stolen = 0;
	int seen[RACE_NODES] = { 0 }, found = 0;
	pthread_t worker;

	if (!sr || percpu_list_new(&sr->list) != 0) {
		gcheck_fail("out of memory");
		free(sr);
		return;
	}
	sr->cpu = cpus[0];
	GCHECK_EQ(pin(sr->cpu), 0);
	for (int i = 0; i < RACE_NODES; i++) {
		sr->nodes[i].id = i;
		node_put_list(sr->list, &sr->nodes[i]);
	}
	GCHECK_EQ(pin(ncpus > 1 ? cpus[1] : -1), 0);
	GCHECK_EQ(pthread_create(&worker, NULL, race_worker, sr), 0);
	for (long i = 0; i < thefts && !atomic_load(&sr->stop); i++) {
		struct percpu_node *chain = NULL, *next;
		int r;

		/* Room for the worker: its operations wait while a theft is
		 * under way. */
		for (int64_t until = now_ns() + 2000; now_ns() < until;)
			;
		r = percpu_list_steal(sr->list, sr->cpu, &chain);

		if (r < 0) {
			gcheck_fail("percpu_list_steal: %d", r);
			break;
		}
		for (int n = 0; chain && n++ <= RACE_NODES; chain = next) {
			struct tnode *tn = (struct tnode *)chain;

			next = chain->next;
			node_take(tn);
			stolen++;
			tn->mnext = atomic_load(&sr->mailbox);
			while (!atomic_compare_exchange_weak(&sr->mailbox, &tn->mnext, tn))
				;
		}
	}
	atomic_store(&sr->stop, 1);
	pthread_join(worker, NULL);
	GCHECK_EQ(pin(-1), 0);

	for (struct tnode *tn = atomic_load(&sr->mailbox); tn && found <= RACE_NODES;
	     tn = tn->mnext, found++)
		seen[tn->id]++;
	for (int cpu = 0; cpu < sr->list->nr_cpus; cpu++) {
		struct percpu_node *chain = NULL;

		GCHECK_EQ(percpu_list_steal(sr->list, cpu, &chain), 0);
		for (; chain && found <= RACE_NODES; chain = chain->next, found++)
			seen[((struct tnode *)chain)->id]++;
	}
	for (int i = 0; i < RACE_NODES; i++)
		if (seen[i] != 1)
			gcheck_fail("node %d found %d times at the end", i, seen[i]);
	fprintf(stderr, "%ld thefts took %ld nodes\n", thefts, stolen);
	percpu_list_free(sr->list);
	free(sr);
}

/* --------------------------------------------------------------------- */
/* Signals                                                               */
/* --------------------------------------------------------------------- */

#define SIG_ADD	  1000
#define SIG_NODES 16

static struct percpu_counter *sig_counter;
static struct percpu_list *sig_list;
static atomic_long sig_handled;
static atomic_int sig_stop;

/* Add to the counter, and swap the two nodes on top of the list: a pop
 * interrupted between its load and its commit, if not restarted, would
 * then lose or duplicate a node. */
static void sig_handler(int sig)
{
	struct percpu_node *a, *b;
	int saved = errno;

	(void)sig;
	percpu_counter_add(sig_counter, SIG_ADD);
	a = percpu_list_pop(sig_list, NULL);
	if (a) {
		node_take((struct tnode *)a);
		b = percpu_list_pop(sig_list, NULL);
		if (b)
			node_take((struct tnode *)b);
		atomic_store(&((struct tnode *)a)->owned, 0);
		percpu_list_push(sig_list, a);
		if (b) {
			atomic_store(&((struct tnode *)b)->owned, 0);
			percpu_list_push(sig_list, b);
		}
	}
	atomic_fetch_add(&sig_handled, 1);
	errno = saved;
}

/* Signal the target at random instants, a few microseconds apart, so that
 * the target runs its own operations between two handlers. */
static void *sig_sender(void *arg)
{
	pthread_t target = *(pthread_t *)arg;
	unsigned int seed = 777;

	pin(ncpus > 1 ? cpus[1] : -1); /* not on the target's CPU */
	while (!atomic_load(&sig_stop)) {
		int64_t until = now_ns() + 1000 + rnd(&seed) % 4000;

		pthread_kill(target, SIGUSR1);
		while (now_ns() < until)
			;
	}
	return NULL;
}

/* Count the nodes of every CPU's list (taking them), at most @max. */
static int list_count(struct percpu_list *l, int max)
{
	int count = 0;

	for (int cpu = 0; cpu < l->nr_cpus; cpu++) {
		struct percpu_node *chain = NULL;

		GCHECK_EQ(percpu_list_steal(l, cpu, &chain), 0);
		for (; chain && count <= max; chain = chain->next)
			count++;
	}
	return count;
}

/*
 * The same operations in a thread and in signal handlers interrupting it
 * on its CPU, as often as signals can be sent: the sum is exact and the
 * list keeps each of its nodes once.
 */
static void check_signals(void)
{
	struct sigaction sa = { .sa_handler = sig_handler }, old;
	struct tnode nodes[SIG_NODES];
	pthread_t self = pthread_self(), sender;
	long adds = 0, want = TEST_SCALE(10000, 1000);
	int64_t deadline = now_ns() + 2000000000;

	GCHECK_EQ(percpu_counter_new(&sig_counter), 0);
	GCHECK_EQ(percpu_list_new(&sig_list), 0);
	if (!sig_counter || !sig_list)
		return;
	atomic_store(&sig_handled, 0);
	atomic_store(&sig_stop, 0);
	GCHECK_EQ(pin(cpus[0]), 0);
	for (int i = 0; i < SIG_NODES; i++) {
		nodes[i] = (struct tnode){ .id = i };
		percpu_list_push(sig_list, &nodes[i].link);
	}
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	GCHECK_EQ(sigaction(SIGUSR1, &sa, &old), 0);
	GCHECK_EQ(pthread_create(&sender, NULL, sig_sender, &self), 0);
	/* Until enough signals came (or 2 s passed). */
	while (atomic_load(&sig_handled) < want && now_ns() < deadline) {
		for (int i = 0; i < 1000; i++) {
			struct percpu_node *pn;

			percpu_counter_add(sig_counter, 1);
			adds++;
			pn = percpu_list_pop(sig_list, NULL);
			if (pn)
				percpu_list_push(sig_list, pn);
		}
	}
	atomic_store(&sig_stop, 1);
	pthread_join(sender, NULL);
	sigaction(SIGUSR1, &old, NULL);
	GCHECK_EQ(percpu_counter_sum(sig_counter), adds + SIG_ADD * atomic_load(&sig_handled));
	GCHECK_EQ(list_count(sig_list, SIG_NODES), SIG_NODES);
	GCHECK_EQ(pin(-1), 0);
	GCHECK(atomic_load(&sig_handled) >= want);
	fprintf(stderr, "%ld signals handled during %ld operations\n", atomic_load(&sig_handled),
		adds);
	percpu_counter_free(sig_counter);
	percpu_list_free(sig_list);
}

/* --------------------------------------------------------------------- */
/* Child processes                                                       */
/* --------------------------------------------------------------------- */

static void *unregistered_thread(void *arg)
{
	(void)arg;
	/* Mode OWN without krseq_thread_init: cpu reads fall back. */
	check_cpus_pinned(false);
	/* The first per-CPU operation registers the thread, which must then
	 * unregister; reads are then the fast ones. */
	check_primitives();
	check_cpus_pinned(percpu_uses_rseq());
	GCHECK_EQ(krseq_thread_fini(), 0);
	check_cpus_pinned(false);
	return NULL;
}

static int child_report(void)
{
	if (child_checks_status(0))
		return 1;
	fprintf(stderr, "TEST-OK\n");
	return 0;
}

static void child_begin(void)
{
	cpus_init();
	gcheck_reset();
	GCHECK_EQ(krseq_probe(), 0);
	fprintf(stderr, "TEST-MODE %s\n", krseq_mode_name());
	fprintf(stderr, "TEST-PERCPU %s\n", percpu_uses_rseq() ? "rseq" : "atomic");
}

static int child_own(void)
{
	pthread_t t;

	child_begin();
	GCHECK_EQ(krseq_mode(), KRSEQ_OWN);
	GCHECK_EQ(percpu_uses_rseq(), !RG_TEST_TSAN);
	check_cpus_pinned(true);
	check_primitives();
	GCHECK_EQ(pthread_create(&t, NULL, unregistered_thread, NULL), 0);
	pthread_join(t, NULL);
	check_signals();
	check_steal_race();
	run_stress(true, true, -1);
	GCHECK_EQ(percpu_uses_rseq(), !RG_TEST_TSAN);
	return child_report();
}

static int child_none(void)
{
	int r = SECCOMP_DENY(ENOSYS, __NR_rseq);

	if (r < 0) {
		fprintf(stderr, "TEST-SECCOMP-FAILED %d\n", r);
		return 4;
	}
	child_begin();
	GCHECK_EQ(krseq_mode(), KRSEQ_NONE);
	GCHECK_EQ(krseq_probe_error(), -ENOSYS);
	GCHECK(!percpu_uses_rseq());
	GCHECK(!krseq_has_node());
	GCHECK_EQ(krseq_thread_init(), 0);
	GCHECK_EQ(krseq_thread_fini(), 0);
	check_cpus_pinned(false);
	check_primitives();
	check_signals();
	check_steal_race();
	run_stress(false, true, -1);
	return child_report();
}

static int child_degrade(void)
{
	child_begin();
	GCHECK_EQ(krseq_mode(), KRSEQ_OWN);
	run_stress(false, true, 2);
	/* Worker 2 could not register: the whole process uses atomics now. */
	GCHECK(!percpu_uses_rseq());
	GCHECK_EQ(krseq_mode(), KRSEQ_OWN);
	check_cpus_pinned(true);
	check_primitives();
	return child_report();
}

static const struct child_case child_cases[] = {
	{ "own", child_own },
	{ "none", child_none },
	{ "degrade", child_degrade },
};

static void run_mode_child(const char *name, const char *mode, const char *percpu)
{
	const char *env[] = { TUNABLE_NO_RSEQ, NULL };
	struct child_result r;
	char want[64];

	run_child_case(name, env, &r);
	assert_child_exit(name, &r, 0);
	snprintf(want, sizeof(want), "TEST-MODE %s\n", mode);
	assert_child_stderr_has(name, &r, want);
	snprintf(want, sizeof(want), "TEST-PERCPU %s\n", percpu);
	assert_child_stderr_has(name, &r, want);
	assert_child_stderr_has(name, &r, "TEST-OK");
	child_result_free(&r);
}

/* --------------------------------------------------------------------- */
/* Tests                                                                 */
/* --------------------------------------------------------------------- */

static void test_probe(void **state)
{
	enum krseq_mode mode;

	(void)state;
	assert_int_equal(krseq_probe(), 0);
	assert_int_equal(krseq_probe(), 0);
	mode = krseq_mode();
	print_message("mode %s, node_id %s, per-CPU ops %s, %d CPU ids\n", krseq_mode_name(),
		      krseq_has_node() ? "trusted" : "untrusted",
		      percpu_uses_rseq() ? "rseq" : "atomic", krseq_nr_cpus());
	if (&__rseq_size && __rseq_size > 0)
		assert_int_equal(mode, KRSEQ_GLIBC);
	assert_true(mode == KRSEQ_GLIBC || mode == KRSEQ_OWN || mode == KRSEQ_NONE);
	assert_string_equal(krseq_mode_name(), mode == KRSEQ_GLIBC ? "glibc" :
					       mode == KRSEQ_OWN   ? "own" :
								     "none");
	assert_int_equal(percpu_uses_rseq(), mode != KRSEQ_NONE && !RG_TEST_TSAN);
	assert_int_equal(krseq_probe_error() == 0, mode != KRSEQ_NONE);
	assert_true(krseq_nr_cpus() >= sysconf(_SC_NPROCESSORS_CONF));
	for (int i = 0; i < ncpus; i++)
		assert_true(cpus[i] < krseq_nr_cpus());
	/* No-ops except in mode OWN; the probing thread is registered. */
	assert_int_equal(krseq_thread_init(), 0);
	assert_int_equal(krseq_thread_init(), 0);
	if (mode != KRSEQ_OWN)
		assert_int_equal(krseq_thread_fini(), 0);
}

static void test_cpu_current_pinned(void **state)
{
	(void)state;
	gcheck_reset();
	check_cpus_pinned(true);
	gcheck_assert_none();
}

static void test_cpu_node(void **state)
{
	(void)state;
	if (!krseq_has_node()) {
		assert_int_equal(cpu_current_node(), -1);
		print_message("node_id untrusted (AT_RSEQ_FEATURE_SIZE < 28): -1\n");
		return;
	}
	for (int i = 0; i < ncpus; i++) {
		assert_int_equal(pin(cpus[i]), 0);
		assert_int_equal(cpu_current_node(), sysfs_node_of(cpus[i]));
	}
	assert_int_equal(pin(-1), 0);
	/* One node here: every CPU's node is 0. */
	if (access("/sys/devices/system/node/node1", F_OK) != 0)
		assert_int_equal(cpu_current_node(), 0);
}

static void test_primitives(void **state)
{
	(void)state;
	gcheck_reset();
	check_primitives();
	gcheck_assert_none();
}

static void test_stress(void **state)
{
	(void)state;
	gcheck_reset();
	run_stress(false, false, -1);
	gcheck_assert_none();
}

static void test_stress_thief(void **state)
{
	long steals;

	(void)state;
	gcheck_reset();
	steals = run_stress(true, false, -1);
	gcheck_assert_none();
	print_message("nodes taken by the thief: %ld\n", steals);
}

static void test_steal_race(void **state)
{
	(void)state;
	gcheck_reset();
	check_steal_race();
	gcheck_assert_none();
}

static void test_signals(void **state)
{
	(void)state;
	gcheck_reset();
	check_signals();
	gcheck_assert_none();
}

static void test_fence(void **state)
{
	int r;

	(void)state;
	assert_int_equal(krseq_fence_cpu(-1), -EINVAL);
	r = krseq_fence_cpu(0);
	if (r == -ENOSYS || r == -EINVAL || r == -EPERM) {
		print_message("membarrier RSEQ unavailable (%s): fences not tested\n",
			      strerror(-r));
		return;
	}
	assert_int_equal(r, 0);
	for (int i = 0; i < ncpus; i++)
		assert_int_equal(krseq_fence_cpu(cpus[i]), 0);
	assert_int_equal(krseq_fence_all(), 0);
	/* A CPU that does not exist has nothing in flight. */
	assert_int_equal(krseq_fence_cpu(krseq_nr_cpus() + 100), 0);
}

static void test_mode_own(void **state)
{
	(void)state;
	run_mode_child("own", "own", RG_TEST_TSAN ? "atomic" : "rseq");
}

static void test_mode_none(void **state)
{
	(void)state;
	run_mode_child("none", "none", "atomic");
}

static void test_degrade(void **state)
{
	(void)state;
	run_mode_child("degrade", "own", RG_TEST_TSAN ? "atomic" : "rseq");
}

int main(int argc, char **argv)
{
	int rc = child_dispatch(argc, argv, child_cases, ARRAY_SIZE(child_cases));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe),	   cmocka_unit_test(test_cpu_current_pinned),
		cmocka_unit_test(test_cpu_node),   cmocka_unit_test(test_primitives),
		cmocka_unit_test(test_stress),	   cmocka_unit_test(test_stress_thief),
		cmocka_unit_test(test_steal_race), cmocka_unit_test(test_signals),
		cmocka_unit_test(test_fence),	   cmocka_unit_test(test_mode_own),
		cmocka_unit_test(test_mode_none),  cmocka_unit_test(test_degrade),
	};

	if (rc >= 0)
		return rc;
	cpus_init();
	test_watchdog(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
