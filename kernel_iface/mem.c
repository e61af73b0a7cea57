/* SPDX-License-Identifier: MIT */
/*
 * kernel_iface/mem.c - anonymous mappings, advice and protection.
 */
#include "kernel_iface/kernel.h"

#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

size_t ki_page_size(void)
{
	static size_t page;

	if (!page)
		page = (size_t)sysconf(_SC_PAGESIZE);
	return page;
}

int ki_mmap_anon(size_t len, bool noreserve, void **out)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | (noreserve ? MAP_NORESERVE : 0);
	int saved = errno;
	void *p;

	ki_call_enter();
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, -1, 0);
	ki_call_exit();

	if (p == MAP_FAILED) {
		int e = -errno;

		errno = saved;
		return e;
	}
	*out = p;
	return 0;
}

#define KI_RET(expr)                      \
	do {                              \
		int saved_ = errno, r_;   \
		ki_call_enter();          \
		r_ = (expr) ? -errno : 0; \
		ki_call_exit();           \
		errno = saved_;           \
		return r_;                \
	} while (0)

int ki_munmap(void *addr, size_t len)
{
	KI_RET(munmap(addr, len) != 0);
}

int ki_madvise(void *addr, size_t len, int advice)
{
	KI_RET(madvise(addr, len, advice) != 0);
}

int ki_mprotect(void *addr, size_t len, int prot)
{
	KI_RET(mprotect(addr, len, prot) != 0);
}

long ki_max_map_count(void)
{
	FILE *f;
	long v = -ENOENT;

	ki_call_enter();
	f = fopen("/proc/sys/vm/max_map_count", "re");
	if (!f) {
		v = -errno;
	} else {
		if (fscanf(f, "%ld", &v) != 1)
			v = -EINVAL;
		fclose(f);
	}
	ki_call_exit();
	return v;
}
