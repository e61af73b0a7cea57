/* SPDX-License-Identifier: MIT */
/*
 * numa/mem.c - node-local memory with a fallback (see numa/mem.h).
 */
#include "numa/mem.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include <numa.h>
#include <numaif.h>

#include "numa/topology.h"

/* Cached answers: 0 not known yet, 1 yes, -1 no.  Racing first readers
 * compute the same answer, so relaxed atomics are enough. */
static _Atomic int libnuma_state;
static _Atomic signed char node_mem_state[TOPO_MAX_NODES];

static bool libnuma_usable(void)
{
	int ok = atomic_load_explicit(&libnuma_state, memory_order_relaxed);

	if (!ok) {
		ok = numa_available() < 0 ? -1 : 1;
		atomic_store_explicit(&libnuma_state, ok, memory_order_relaxed);
	}
	return ok > 0;
}

bool node_has_memory(int node)
{
	int ok;

	if (node < 0 || node >= TOPO_MAX_NODES || !libnuma_usable())
		return false;
	ok = atomic_load_explicit(&node_mem_state[node], memory_order_relaxed);
	if (!ok) {
		/* numa_all_nodes_ptr: the nodes we may allocate on (existing
		 * ones in our cpuset's mems_allowed). */
		ok = node <= numa_max_node() &&
				     numa_bitmask_isbitset(numa_all_nodes_ptr,
							   (unsigned int)node) &&
				     numa_node_size64(node, NULL) > 0 ?
			     1 :
			     -1;
		atomic_store_explicit(&node_mem_state[node], (signed char)ok, memory_order_relaxed);
	}
	return ok > 0;
}

void *node_alloc(size_t len, int node)
{
	void *p;

	if (len == 0)
		return NULL;
	if (node_has_memory(node))
		return numa_alloc_onnode(len, node);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void node_free(void *p, size_t len)
{
	if (p)
		munmap(p, len);
}

int node_bind(void *addr, size_t len, int node)
{
	unsigned long mask;

	if (!node_has_memory(node))
		return 0;
	mask = 1UL << node;
	/* maxnode counts the bits of mask plus one (as libnuma passes it). */
	if (mbind(addr, len, MPOL_PREFERRED, &mask, sizeof(mask) * 8 + 1, 0) < 0)
		return -errno;
	return 0;
}
