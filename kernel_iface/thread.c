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
	r = pthread_create(thr, &attr, fn, arg);
	if (!r && name)
		pthread_setname_np(*thr, name);
out_destroy:
	pthread_attr_destroy(&attr);
	return -r;
}

int ki_thread_join(pthread_t thr)
{
	return -pthread_join(thr, NULL);
}

int ki_thread_stack(void **lo, size_t *size)
{
	pthread_attr_t attr;
	int r = pthread_getattr_np(pthread_self(), &attr);

	if (r)
		return -r;
	r = pthread_attr_getstack(&attr, lo, size);
	pthread_attr_destroy(&attr);
	return -r;
}

int ki_affinity_count(void)
{
	cpu_set_t set;
	int saved = errno;

	if (sched_getaffinity(0, sizeof(set), &set) != 0) {
		int e = -errno;

		errno = saved;
		return e;
	}
	return CPU_COUNT(&set) > 0 ? CPU_COUNT(&set) : 1;
}

int ki_count_other_threads(const pid_t *tids, int n)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int count = 0;

	if (!d)
		return -errno;
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
	return count;
}

void ki_osyield(void)
{
	sched_yield();
}
