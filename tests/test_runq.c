/* SPDX-License-Identifier: MIT */
/*
 * test_runq.c - per-P run queues, the global queue and the steal order,
 * on bare Ps with no runtime running (as Go tests its run queue).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/runtime.h"

#define NG 4096

static struct g *gs;

static struct p *newp(int id)
{
	struct p *pp = aligned_alloc(CACHELINE, sizeof(*pp));

	memset(pp, 0, sizeof(*pp));
	pp->id = id;
	return pp;
}

static int gidx(struct g *gp)
{
	return (int)(gp - gs);
}

static int setup(void **state)
{
	(void)state;
	gs = aligned_alloc(CACHELINE, sizeof(struct g) * NG);
	memset(gs, 0, sizeof(struct g) * NG);
	memset(&sched, 0, sizeof(sched));
	store_relaxed(&sched.nprocs, 2);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	globrunq_fini();
	free(gs);
	return 0;
}

static void drain_global(void)
{
	bool inherit;
	struct p *tmp = newp(99);

	while (load_relaxed(&sched.runqsize) > 0) {
		lock(&sched.lock);
		globrunqget(tmp, 1);
		unlock(&sched.lock);
	}
	while (runqget(tmp, &inherit))
		;
	free(tmp);
}

static void test_fifo(void **state)
{
	struct p *pp = newp(0);
	bool inherit;
	int i;

	(void)state;
	assert_true(runqempty(pp));
	assert_null(runqget(pp, &inherit));
	for (i = 0; i < 100; i++)
		runqput(pp, &gs[i], false);
	assert_false(runqempty(pp));
	assert_int_equal(runqlen(pp), 100);
	for (i = 0; i < 100; i++) {
		struct g *gp = runqget(pp, &inherit);

		assert_non_null(gp);
		assert_int_equal(gidx(gp), i);
		assert_false(inherit);
	}
	assert_true(runqempty(pp));
	free(pp);
}

static void test_runnext(void **state)
{
	struct p *pp = newp(0);
	bool inherit;
	struct g *gp;

	(void)state;
	runqput(pp, &gs[1], false);
	runqput(pp, &gs[2], true);
	runqput(pp, &gs[3], true); /* kicks 2 to the tail */
	gp = runqget(pp, &inherit);
	assert_int_equal(gidx(gp), 3);
	assert_true(inherit);
	gp = runqget(pp, &inherit);
	assert_int_equal(gidx(gp), 1);
	assert_false(inherit);
	gp = runqget(pp, &inherit);
	assert_int_equal(gidx(gp), 2);
	assert_null(runqget(pp, &inherit));
	free(pp);
}

static void test_overflow_to_global(void **state)
{
	struct p *pp = newp(0);
	char *seen = calloc(NG, 1);
	bool inherit;
	struct g *gp;
	int i;

	(void)state;
	for (i = 0; i < RUNQ_SIZE + 1; i++)
		runqput(pp, &gs[i], false);
	/* Half the ring plus the new G moved to the global queue. */
	assert_int_equal(runqlen(pp), RUNQ_SIZE / 2);
	assert_int_equal(load_relaxed(&sched.runqsize), RUNQ_SIZE / 2 + 1);
	while ((gp = runqget(pp, &inherit)) != NULL)
		seen[gidx(gp)]++;
	while (load_relaxed(&sched.runqsize) > 0) {
		lock(&sched.lock);
		gp = globrunqget(pp, 0);
		unlock(&sched.lock);
		seen[gidx(gp)]++;
		while ((gp = runqget(pp, &inherit)) != NULL)
			seen[gidx(gp)]++;
	}
	for (i = 0; i < RUNQ_SIZE + 1; i++)
		assert_int_equal(seen[i], 1);
	free(seen);
	free(pp);
}

static void test_globrunqget_share(void **state)
{
	struct p *pp = newp(0);
	struct g *gp;
	int i;

	(void)state;
	lock(&sched.lock);
	for (i = 0; i < 11; i++)
		globrunqput(&gs[i]);
	/* 11 queued, 2 Ps: take 11/2 + 1 = 6, one returned, five local. */
	gp = globrunqget(pp, 0);
	unlock(&sched.lock);
	assert_int_equal(gidx(gp), 0);
	assert_int_equal(runqlen(pp), 5);
	assert_int_equal(load_relaxed(&sched.runqsize), 5);
	lock(&sched.lock);
	gp = globrunqget(pp, 1); /* max 1 */
	unlock(&sched.lock);
	assert_int_equal(gidx(gp), 6);
	assert_int_equal(load_relaxed(&sched.runqsize), 4);
	drain_global();
	free(pp);
}

static void test_global_grows(void **state)
{
	struct p *pp = newp(0);
	int i;

	(void)state;
	lock(&sched.lock);
	for (i = 0; i < 3000; i++)
		globrunqput(&gs[i]);
	for (i = 0; i < 3000; i++) {
		struct g *gp = globrunqget(pp, 1);

		assert_int_equal(gidx(gp), i);
	}
	assert_null(globrunqget(pp, 1));
	unlock(&sched.lock);
	free(pp);
}

static void test_steal_half(void **state)
{
	struct p *victim = newp(0), *thief = newp(1);
	bool inherit;
	struct g *gp;
	int i;

	(void)state;
	for (i = 0; i < 100; i++)
		runqput(victim, &gs[i], false);
	gp = runqsteal(thief, victim, false);
	assert_non_null(gp);
	/* Steals n - n/2 = 50: the last one is returned, 49 queued. */
	assert_int_equal(gidx(gp), 49);
	assert_int_equal(runqlen(thief), 49);
	assert_int_equal(runqlen(victim), 50);
	for (i = 0; i < 49; i++) {
		gp = runqget(thief, &inherit);
		assert_int_equal(gidx(gp), i);
	}
	gp = runqget(victim, &inherit);
	assert_int_equal(gidx(gp), 50);
	free(victim);
	free(thief);
}

static void test_steal_runnext(void **state)
{
	struct p *victim = newp(0), *thief = newp(1);
	struct g *gp;

	(void)state;
	store_relaxed(&victim->status, P_IDLE);
	runqput(victim, &gs[7], true);
	assert_null(runqsteal(thief, victim, false));
	gp = runqsteal(thief, victim, true);
	assert_non_null(gp);
	assert_int_equal(gidx(gp), 7);
	assert_true(runqempty(victim));
	assert_true(runqempty(thief));
	free(victim);
	free(thief);
}

/* --- stress: one owner, several thieves; no G lost or duplicated --------- */

#define THIEVES 3
#define ROUNDS	(RUNQ_SIZE * 64)

static _Atomic int seen[NG];
static _Atomic bool producer_done;
static _Atomic long consumed;
static struct p *stress_ps[THIEVES + 1];

static void consume(struct g *gp)
{
	atomic_fetch_add(&seen[gidx(gp)], 1);
	atomic_fetch_add(&consumed, 1);
}

static void *thief_main(void *arg)
{
	struct p *self = stress_ps[(long)arg];
	struct p *victim = stress_ps[0];
	bool inherit;
	struct g *gp;

	for (;;) {
		bool done = load_acquire(&producer_done);

		gp = runqsteal(self, victim, true);
		if (gp)
			consume(gp);
		while ((gp = runqget(self, &inherit)) != NULL)
			consume(gp);
		if (done && runqempty(victim))
			break;
	}
	return NULL;
}

static void test_stress_no_loss(void **state)
{
	pthread_t th[THIEVES];
	long i, total = 0;
	bool inherit;
	struct g *gp;
	int k;

	(void)state;
	for (i = 0; i <= THIEVES; i++)
		stress_ps[i] = newp((int)i);
	store_relaxed(&stress_ps[0]->status, P_RUNNING);
	for (i = 0; i < NG; i++)
		atomic_store(&seen[i], 0);
	for (i = 0; i < THIEVES; i++)
		pthread_create(&th[i], NULL, thief_main, (void *)(i + 1));
	/* The owner cycles Gs through its queue: each G index is used many
	 * times, but only once it has been consumed, so it is in at most one
	 * queue at a time. */
	for (k = 0; k < ROUNDS / NG + 1; k++) {
		for (i = 0; i < NG; i++) {
			runqput(stress_ps[0], &gs[i], (i & 7) == 0);
			total++;
			if ((i & 3) == 0 && (gp = runqget(stress_ps[0], &inherit)) != NULL)
				consume(gp);
		}
		/* Drain our queue and the global one, and wait for the thieves
		 * to finish this round's Gs. */
		while (atomic_load(&consumed) < total) {
			while ((gp = runqget(stress_ps[0], &inherit)) != NULL)
				consume(gp);
			while (load_relaxed(&sched.runqsize) > 0) {
				lock(&sched.lock);
				gp = globrunqget(stress_ps[0], 1);
				unlock(&sched.lock);
				if (gp)
					consume(gp);
			}
			sched_yield();
		}
		for (i = 0; i < NG; i++) {
			assert_int_equal(atomic_load(&seen[i]), k + 1);
		}
	}
	store_release(&producer_done, true);
	for (i = 0; i < THIEVES; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(atomic_load(&consumed), total);
	for (i = 0; i <= THIEVES; i++) {
		assert_true(runqempty(stress_ps[i]));
		free(stress_ps[i]);
	}
}

/* --- steal order ----------------------------------------------------------- */

static void test_steal_order_visits_each_once(void **state)
{
	static struct steal_order o;
	uint32_t count, seed;

	(void)state;
	assert_int_equal(steal_order_init(&o, 0), -EINVAL);
	for (count = 1; count <= 64; count++) {
		assert_int_equal(steal_order_init(&o, count), 0);
		for (seed = 0; seed < 200; seed++) {
			char hit[64] = { 0 };
			struct steal_iter it;
			uint32_t n = 0;

			for (steal_iter_start(&o, 0, seed * 2654435761u, &it);
			     !steal_iter_done(&it); steal_iter_next(&it)) {
				uint32_t p = steal_iter_p(&it);

				assert_true(p < count);
				assert_int_equal(hit[p], 0);
				hit[p] = 1;
				n++;
			}
			assert_int_equal(n, count);
		}
	}
}

static void test_steal_order_varies(void **state)
{
	static struct steal_order o;
	uint32_t firsts[8] = { 0 }, seed;
	int distinct = 0, i;

	(void)state;
	steal_order_init(&o, 8);
	for (seed = 0; seed < 1000; seed++) {
		struct steal_iter it;

		steal_iter_start(&o, 0, seed * 2654435761u, &it);
		firsts[steal_iter_p(&it)]++;
	}
	for (i = 0; i < 8; i++)
		distinct += firsts[i] > 0;
	assert_int_equal(distinct, 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fifo),
		cmocka_unit_test(test_runnext),
		cmocka_unit_test(test_overflow_to_global),
		cmocka_unit_test(test_globrunqget_share),
		cmocka_unit_test(test_global_grows),
		cmocka_unit_test(test_steal_half),
		cmocka_unit_test(test_steal_runnext),
		cmocka_unit_test(test_stress_no_loss),
		cmocka_unit_test(test_steal_order_visits_each_once),
		cmocka_unit_test(test_steal_order_varies),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
