/* SPDX-License-Identifier: MIT */
/*
 * primes.c - count the primes below N with one goroutine per block,
 * joined by a WaitGroup.
 *
 *   make examples && build/examples/primes 10000000
 *   RINGO_MAXPROCS=1 RINGO_DEBUG=schedtrace=100 build/examples/primes 50000000
 *
 * The second prints the scheduler's state on stderr every 100 ms
 * (schedtrace), one P running every block.  Built against an installed
 * ringo: README.md, "Linking a program with ringo".
 */
#include <ringo.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define BLOCK 100000

struct job {
	long limit;
	_Atomic long count;
	rg_wg wg;
};

struct block {
	struct job *job;
	long lo, hi;
};

static int is_prime(long n)
{
	if (n < 2)
		return 0;
	for (long d = 2; d * d <= n; d++)
		if (n % d == 0)
			return 0;
	return 1;
}

static void count_block(void *arg)
{
	struct block *b = arg;
	long n = 0;

	for (long i = b->lo; i < b->hi; i++) {
		n += is_prime(i);
		if ((i & 0xfff) == 0)
			rg_yield(); /* be fair to the other blocks on this P */
	}
	atomic_fetch_add(&b->job->count, n);
	rg_wg_done(&b->job->wg);
	free(b);
}

static void main_goroutine(void *arg)
{
	struct job *job = arg;

	for (long lo = 0; lo < job->limit; lo += BLOCK) {
		struct block *b = malloc(sizeof(*b));
		int r;

		if (!b) {
			perror("malloc");
			exit(1);
		}
		*b = (struct block){ job, lo, lo + BLOCK < job->limit ? lo + BLOCK : job->limit };
		rg_wg_add(&job->wg, 1);
		r = rg_go(count_block, b);
		if (r) {
			fprintf(stderr, "rg_go: error %d\n", r);
			exit(1);
		}
	}
	rg_wg_wait(&job->wg);
	printf("%ld primes below %ld (%d Ps)\n", atomic_load(&job->count), job->limit,
	       rg_gomaxprocs(0));
}

int main(int argc, char **argv)
{
	struct job job = { .limit = argc > 1 ? atol(argv[1]) : 1000000 };
	int r = rg_main(NULL, main_goroutine, &job);

	if (r) {
		fprintf(stderr, "rg_main: error %d\n", r);
		return 1;
	}
	return 0;
}
