/* SPDX-License-Identifier: MIT */
/*
 * kernel_iface/thread.c - OS threads (the Ms), their stacks and affinity.
 */
#include "kernel_iface/kernel.h"

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>

int ki_thread_create(pthread_t *thr, void *(*fn)(void *), void *arg, size_t stack_size,
		     const char *name)
{
	pthread_attr_t attr;
	int r;

	r = pthread_attr_init(&attr);
	if (r)
		return -r;
	if (stack_size) {
		r = pthread_attr_setstacksize(&attr, stack_size);
		if (r)
			goto out_destroy;
	}
	/* glibc may wait for its stack cache's lock, and naming the thread
	 * writes to /proc. */
	ki_call_enter();
	r = pthread_create(thr, &attr, fn, arg);
	if (!r && name)
		pthread_setname_np(*thr, name);
	ki_call_exit();
out_destroy:
	pthread_attr_destroy(&attr);
	return -r;
}

int ki_thread_join(pthread_t thr)
{
	int r;

	ki_call_enter();
	r = pthread_join(thr, NULL);
	ki_call_exit();
	return -r;
}

int ki_thread_stack(void **lo, size_t *size)
{
	pthread_attr_t attr;
	int r;

	ki_call_enter(); /* the main thread's reads /proc/self/maps */
	r = pthread_getattr_np(pthread_self(), &attr);
	if (!r) {
		r = pthread_attr_getstack(&attr, lo, size);
		pthread_attr_destroy(&attr);
	}
	ki_call_exit();
	return -r;
}

/*
 * Affinity masks are CPU_ALLOC'd: the kernel may know more CPUs
 * (nr_cpu_ids) than a cpu_set_t holds (CPU_SETSIZE, 1024), and then
 * sched_getaffinity with a smaller mask fails with EINVAL.  Masks larger
 * than AFFINITY_MAX_CPUS are not tried (Linux allows at most 8192 CPUs).
 */
#define AFFINITY_MAX_CPUS (1 << 16)

/* CPU_ALLOC and CPU_FREE are malloc and free: calls in progress. */
static cpu_set_t *cpuset_alloc(int ncpus)
{
	cpu_set_t *set;

	ki_call_enter();
	set = CPU_ALLOC(ncpus);
	ki_call_exit();
	return set;
}

static void cpuset_free(cpu_set_t *set)
{
	ki_call_enter();
	CPU_FREE(set);
	ki_call_exit();
}

/* The calling thread's mask through *setp (cpuset_free it), of *sizep bytes. */
static int affinity_get(cpu_set_t **setp, size_t *sizep)
{
	int ncpus;

	for (ncpus = CPU_SETSIZE;; ncpus *= 2) {
		cpu_set_t *set = cpuset_alloc(ncpus);
		size_t size = CPU_ALLOC_SIZE(ncpus);
		int e;

		if (!set)
			return -ENOMEM;
		if (sched_getaffinity(0, size, set) == 0) {
			*setp = set;
			*sizep = size;
			return 0;
		}
		e = errno;
		cpuset_free(set);
		if (e != EINVAL || ncpus >= AFFINITY_MAX_CPUS)
			return -e;
	}
}

int ki_affinity_count(void)
{
	cpu_set_t *set;
	size_t size;
	int saved = errno;
	int r = affinity_get(&set, &size);

	if (r == 0) {
		r = CPU_COUNT_S(size, set) > 0 ? CPU_COUNT_S(size, set) : 1;
		cpuset_free(set);
	}
	errno = saved;
	return r;
}

int ki_affinity_cpus(int *cpus, int max)
{
	cpu_set_t *set;
	size_t size;
	int saved = errno;
	int r, cpu, i;

	if (max < 0 || (max > 0 && !cpus))
		return -EINVAL;
	r = affinity_get(&set, &size);
	if (r < 0)
		goto out;
	r = CPU_COUNT_S(size, set);
	if (max == 0)
		goto out_free_set;
	if (r > max) {
		r = -ERANGE;
		goto out_free_set;
	}
	for (cpu = 0, i = 0; i < r && (size_t)cpu < size * 8; cpu++)
		if (CPU_ISSET_S(cpu, size, set))
			cpus[i++] = cpu;
out_free_set:
	cpuset_free(set);
out:
	errno = saved;
	return r;
}

int ki_set_affinity(const int *cpus, int n)
{
	cpu_set_t *set;
	size_t size;
	int saved = errno;
	int i, top = 0, r = 0;

	if (n <= 0 || !cpus)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (cpus[i] < 0 || cpus[i] >= AFFINITY_MAX_CPUS)
			return -EINVAL;
		if (cpus[i] > top)
			top = cpus[i];
	}
	set = cpuset_alloc(top + 1);
	if (!set)
		return -ENOMEM;
	size = CPU_ALLOC_SIZE(top + 1);
	CPU_ZERO_S(size, set);
	for (i = 0; i < n; i++)
		CPU_SET_S(cpus[i], size, set);
	if (sched_setaffinity(0, size, set) != 0)
		r = -errno;
	cpuset_free(set);
	errno = saved;
	return r;
}

int ki_pin_thread(int cpu)
{
	return ki_set_affinity(&cpu, 1);
}

int ki_count_other_threads(const pid_t *tids, int n)
{
	DIR *d;
	struct dirent *de;
	int count = 0;

	ki_call_enter();
	d = opendir("/proc/self/task");
	if (!d) {
		count = -errno;
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		pid_t tid;
		int i;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		tid = (pid_t)atoi(de->d_name);
		for (i = 0; i < n && tids[i] != tid; i++)
			;
		if (i == n)
			count++;
	}
	closedir(d);
out:
	ki_call_exit();
	return count;
}

void ki_osyield(void)
{
	sched_yield();
}
