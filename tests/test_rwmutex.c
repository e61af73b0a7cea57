/* SPDX-License-Identifier: MIT */
/*
 * test_rwmutex - rg_rwmutex, sync.RWMutex: readers hold it together,
 * writers alone; a waiting writer is not starved by a stream of readers;
 * trylock and tryrlock; plain threads mixed with goroutines; the fatal
 * errors and the wait reasons of a deadlock.
 */
#include <pthread.h>

#include "tests/helpers.h"

#include "runtime/sync.h"

/* --------------------------------------------------------------------- */
/* Many readers at once                                                  */
/* --------------------------------------------------------------------- */

#define NREADERS 50

struct readers {
	rg_rwmutex rw;
	rg_wg wg;
	_Atomic int inside;
};

static void reader_waits_for_all(void *arg)
{
	struct readers *r = arg;

	rg_rwmutex_rlock(&r->rw);
	atomic_fetch_add(&r->inside, 1);
	/* Only returns if every reader holds the lock at the same time. */
	while (atomic_load(&r->inside) < NREADERS)
		rg_yield();
	rg_rwmutex_runlock(&r->rw);
	rg_wg_done(&r->wg);
}

static void readers_main(void *arg)
{
	struct readers r = { 0 };

	(void)arg;
	rg_wg_add(&r.wg, NREADERS);
	for (int i = 0; i < NREADERS; i++)
		GCHECK_EQ(rg_go(reader_waits_for_all, &r), 0);
	rg_wg_wait(&r.wg);
	/* All gone: a writer gets it at once. */
	GCHECK_EQ(rg_rwmutex_trylock(&r.rw), 0);
	rg_rwmutex_unlock(&r.rw);
}

static void test_many_readers(void **state)
{
	(void)state;
	RUN_FOR_PROCS(readers_main, NULL, 1, 4);
}

/* --------------------------------------------------------------------- */
/* Writers exclude everyone                                              */
/* --------------------------------------------------------------------- */

#define EX_WRITERS 8
#define EX_READERS 32
#define EX_ITERS   TEST_SCALE(2000, 300)

struct excl {
	rg_rwmutex rw;
	rg_wg wg;
	_Atomic int readers;
	_Atomic int writers;
	long value; /* rw */
};

static struct excl excl;

static void excl_writer(void *arg)
{
	struct excl *e = &excl;

	(void)arg;
	for (int i = 0; i < EX_ITERS; i++) {
		rg_rwmutex_lock(&e->rw);
		GCHECK_EQ(atomic_fetch_add(&e->writers, 1), 0);
		GCHECK_EQ(atomic_load(&e->readers), 0);
		e->value++;
		if ((i & 7) == 0)
			rg_yield();
		atomic_fetch_sub(&e->writers, 1);
		rg_rwmutex_unlock(&e->rw);
	}
	rg_wg_done(&e->wg);
}

static void excl_reader(void *arg)
{
	struct excl *e = &excl;
	long last = 0;

	(void)arg;
	for (int i = 0; i < EX_ITERS; i++) {
		rg_rwmutex_rlock(&e->rw);
		atomic_fetch_add(&e->readers, 1);
		GCHECK_EQ(atomic_load(&e->writers), 0);
		GCHECK(e->value >= last);
		last = e->value;
		if ((i & 3) == 0)
			rg_yield();
		atomic_fetch_sub(&e->readers, 1);
		rg_rwmutex_runlock(&e->rw);
	}
	rg_wg_done(&e->wg);
}

static void excl_main(void *arg)
{
	(void)arg;
	memset(&excl, 0, sizeof(excl));
	rg_wg_add(&excl.wg, EX_WRITERS + EX_READERS);
	for (int i = 0; i < EX_WRITERS + EX_READERS; i++)
		GCHECK_EQ(rg_go(i % 5 == 0 && i / 5 < EX_WRITERS ? excl_writer : excl_reader, NULL),
			  0);
	rg_wg_wait(&excl.wg);
	GCHECK_EQ(excl.value, (long)EX_WRITERS * EX_ITERS);
}

static void test_writer_exclusion(void **state)
{
	(void)state;
	RUN_FOR_PROCS(excl_main, NULL, 1, 2, 8);
}

/* --------------------------------------------------------------------- */
/* A writer is not starved by readers                                    */
/* --------------------------------------------------------------------- */

/*
 * STREAM_R readers take the read lock over and over, yielding while they
 * hold it, so that at every moment some reader holds it: without writer
 * preference the lock would never be free for a writer.  A writer that
 * asks for the lock must get it once the readers inside when it asked
 * have left: with one P, within STREAM_R reader cycles.  Readers give up
 * after STREAM_MAX cycles, so a starved writer fails instead of hanging.
 */
#define STREAM_R      8
#define STREAM_MAX    200000
#define STREAM_WRITES 20

struct stream {
	rg_rwmutex rw;
	rg_wg wg;
	_Atomic long cycles;
	_Atomic bool stop;
	long worst; /* most reader cycles one write waited for */
};

static void stream_reader(void *arg)
{
	struct stream *s = arg;

	while (!atomic_load(&s->stop) && atomic_load(&s->cycles) < STREAM_MAX) {
		rg_rwmutex_rlock(&s->rw);
		atomic_fetch_add(&s->cycles, 1);
		rg_yield();
		rg_rwmutex_runlock(&s->rw);
	}
	rg_wg_done(&s->wg);
}

static void stream_main(void *arg)
{
	struct stream *s = arg;

	memset(s, 0, sizeof(*s));
	rg_wg_add(&s->wg, STREAM_R);
	for (int i = 0; i < STREAM_R; i++)
		GCHECK_EQ(rg_go(stream_reader, s), 0);
	for (int w = 0; w < STREAM_WRITES; w++) {
		long before;

		for (int i = 0; i < 3 * STREAM_R; i++)
			rg_yield(); /* let the readers get going */
		before = atomic_load(&s->cycles);
		rg_rwmutex_lock(&s->rw);
		if (atomic_load(&s->cycles) - before > s->worst)
			s->worst = atomic_load(&s->cycles) - before;
		rg_rwmutex_unlock(&s->rw);
	}
	atomic_store(&s->stop, true);
	rg_wg_wait(&s->wg);
}

static void test_writer_not_starved(void **state)
{
	static struct stream s;

	(void)state;
	RUN_IN_RUNTIME(1, stream_main, &s);
	assert_true(s.worst <= STREAM_R);
	RUN_IN_RUNTIME(4, stream_main, &s);
	/* Several Ps: readers keep running while the writer announces
	 * itself, but never for long. */
	assert_true(s.worst < STREAM_MAX / 10);
}

/* --------------------------------------------------------------------- */
/* trylock and tryrlock                                                  */
/* --------------------------------------------------------------------- */

static void try_checks(rg_rwmutex *rw)
{
	GCHECK_EQ(rg_rwmutex_trylock(rw), 0);
	GCHECK_EQ(rg_rwmutex_trylock(rw), -EBUSY);
	GCHECK_EQ(rg_rwmutex_tryrlock(rw), -EBUSY);
	rg_rwmutex_unlock(rw);
	GCHECK_EQ(rg_rwmutex_tryrlock(rw), 0);
	GCHECK_EQ(rg_rwmutex_tryrlock(rw), 0);
	GCHECK_EQ(rg_rwmutex_trylock(rw), -EBUSY);
	rg_rwmutex_runlock(rw);
	GCHECK_EQ(rg_rwmutex_trylock(rw), -EBUSY);
	rg_rwmutex_runlock(rw);
	GCHECK_EQ(rg_rwmutex_trylock(rw), 0);
	rg_rwmutex_unlock(rw);
	rg_rwmutex_rlock(rw);
	rg_rwmutex_runlock(rw);
	rg_rwmutex_lock(rw);
	rg_rwmutex_unlock(rw);
}

struct pending {
	rg_rwmutex rw;
	rg_wg wg;
};

static void pending_writer(void *arg)
{
	struct pending *p = arg;

	rg_rwmutex_lock(&p->rw);
	rg_rwmutex_unlock(&p->rw);
	rg_wg_done(&p->wg);
}

static void try_main(void *arg)
{
	struct pending p = { 0 };
	rg_rwmutex rw = { 0 };

	(void)arg;
	try_checks(&rw);
	/* A writer waiting for a reader turns new readers away. */
	rg_rwmutex_rlock(&p.rw);
	rg_wg_add(&p.wg, 1);
	GCHECK_EQ(rg_go(pending_writer, &p), 0);
	while (atomic_load(&((struct rwmutex *)&p.rw)->reader_count) >= 0)
		rg_yield();
	GCHECK_EQ(rg_rwmutex_tryrlock(&p.rw), -EBUSY);
	GCHECK_EQ(rg_rwmutex_trylock(&p.rw), -EBUSY);
	rg_rwmutex_runlock(&p.rw);
	rg_wg_wait(&p.wg);
	try_checks(&p.rw);
}

static void test_trylock(void **state)
{
	(void)state;
	RUN_FOR_PROCS(try_main, NULL, 1, 2);
}

/* --------------------------------------------------------------------- */
/* Plain threads mixed with goroutines                                   */
/* --------------------------------------------------------------------- */

#define MIX_THREADS 4
#define MIX_ITERS   TEST_SCALE(5000, 500)

static void *mix_thread(void *arg)
{
	bool writer = (intptr_t)arg & 1;

	for (int i = 0; i < MIX_ITERS; i++) {
		if (writer) {
			rg_rwmutex_lock(&excl.rw);
			if (atomic_fetch_add(&excl.writers, 1) != 0 || atomic_load(&excl.readers))
				gcheck_fail("writer thread not alone");
			excl.value++;
			atomic_fetch_sub(&excl.writers, 1);
			rg_rwmutex_unlock(&excl.rw);
		} else {
			rg_rwmutex_rlock(&excl.rw);
			atomic_fetch_add(&excl.readers, 1);
			if (atomic_load(&excl.writers))
				gcheck_fail("reader thread saw a writer");
			atomic_fetch_sub(&excl.readers, 1);
			rg_rwmutex_runlock(&excl.rw);
		}
	}
	return NULL;
}

static void mix_main(void *arg)
{
	pthread_t th[MIX_THREADS];

	(void)arg;
	memset(&excl, 0, sizeof(excl));
	for (int i = 0; i < MIX_THREADS; i++)
		GCHECK_EQ(pthread_create(&th[i], NULL, mix_thread, (void *)(intptr_t)i), 0);
	rg_wg_add(&excl.wg, 2 * EX_WRITERS);
	for (int i = 0; i < 2 * EX_WRITERS; i++)
		GCHECK_EQ(rg_go(i & 1 ? excl_writer : excl_reader, NULL), 0);
	rg_wg_wait(&excl.wg);
	for (int i = 0; i < MIX_THREADS; i++)
		pthread_join(th[i], NULL);
	GCHECK_EQ(excl.value, (long)EX_WRITERS * EX_ITERS + (MIX_THREADS / 2) * MIX_ITERS);
}

static void test_plain_threads(void **state)
{
	(void)state;
	RUN_FOR_PROCS(mix_main, NULL, 1, 4);
}

/* --------------------------------------------------------------------- */
/* Fatal errors and deadlocks                                            */
/* --------------------------------------------------------------------- */

static rg_rwmutex child_rw;

static void runlock_unlocked_main(void *arg)
{
	(void)arg;
	rg_rwmutex_runlock(&child_rw);
}

static void unlock_unlocked_main(void *arg)
{
	(void)arg;
	rg_rwmutex_unlock(&child_rw);
}

static void unlock_rlocked_main(void *arg)
{
	(void)arg;
	rg_rwmutex_rlock(&child_rw);
	rg_rwmutex_unlock(&child_rw);
}

static void lock_then_rlock_main(void *arg)
{
	(void)arg;
	rg_rwmutex_lock(&child_rw);
	rg_rwmutex_rlock(&child_rw);
}

static void rlock_then_lock_main(void *arg)
{
	(void)arg;
	rg_rwmutex_rlock(&child_rw);
	rg_rwmutex_lock(&child_rw);
}

static void second_writer(void *arg)
{
	(void)arg;
	rg_rwmutex_lock(&child_rw);
}

static void lock_twice_main(void *arg)
{
	(void)arg;
	rg_rwmutex_lock(&child_rw);
	rg_go(second_writer, NULL);
	rg_rwmutex_lock(&child_rw);
}

static int child_runlock_unlocked(void)
{
	return run_runtime(1, 0, runlock_unlocked_main, NULL) ? 1 : 0;
}

static int child_unlock_unlocked(void)
{
	return run_runtime(1, 0, unlock_unlocked_main, NULL) ? 1 : 0;
}

static int child_unlock_rlocked(void)
{
	return run_runtime(1, 0, unlock_rlocked_main, NULL) ? 1 : 0;
}

static int child_lock_then_rlock(void)
{
	return run_runtime(2, 0, lock_then_rlock_main, NULL) ? 1 : 0;
}

static int child_rlock_then_lock(void)
{
	return run_runtime(2, 0, rlock_then_lock_main, NULL) ? 1 : 0;
}

static int child_lock_twice(void)
{
	return run_runtime(2, 0, lock_twice_main, NULL) ? 1 : 0;
}

static void test_fatal_errors(void **state)
{
	(void)state;
	expect_fatal("runlock_unlocked", "fatal error: sync: RUnlock of unlocked RWMutex",
		     "rg_rwmutex_runlock", "goroutine 1 [running]", NULL);
	expect_fatal("unlock_unlocked", "fatal error: sync: Unlock of unlocked RWMutex",
		     "rg_rwmutex_unlock", NULL);
	expect_fatal("unlock_rlocked", "fatal error: sync: Unlock of unlocked RWMutex", NULL);
}

static void test_deadlock_reports_wait_reasons(void **state)
{
	(void)state;
	expect_fatal("lock_then_rlock", "fatal error: all goroutines are asleep - deadlock!",
		     "goroutine 1 [sync.RWMutex.RLock]", NULL);
	expect_fatal("rlock_then_lock", "goroutine 1 [sync.RWMutex.Lock]", NULL);
	/* A writer behind another writer waits on the internal mutex. */
	expect_fatal("lock_twice", "goroutine 1 [sync.RWMutex.Lock]",
		     "goroutine 2 [sync.RWMutex.Lock]", NULL);
}

int main(int argc, char **argv)
{
	static const struct child_case cases[] = {
		{ "runlock_unlocked", child_runlock_unlocked },
		{ "unlock_unlocked", child_unlock_unlocked },
		{ "unlock_rlocked", child_unlock_rlocked },
		{ "lock_then_rlock", child_lock_then_rlock },
		{ "rlock_then_lock", child_rlock_then_lock },
		{ "lock_twice", child_lock_twice },
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_readers),
		cmocka_unit_test(test_writer_exclusion),
		cmocka_unit_test(test_writer_not_starved),
		cmocka_unit_test(test_trylock),
		cmocka_unit_test(test_plain_threads),
		cmocka_unit_test(test_fatal_errors),
		cmocka_unit_test(test_deadlock_reports_wait_reasons),
	};
	int rc = child_dispatch(argc, argv, cases, ARRAY_SIZE(cases));

	if (rc >= 0)
		return rc;
	test_watchdog(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
