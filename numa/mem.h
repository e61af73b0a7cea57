/* SPDX-License-Identifier: MIT */
/*
 * numa/mem.h - memory on a NUMA node, with a clean fallback.
 *
 * Node numbers are the kernel's (those of topo_from_system).  A node that
 * cannot hold our memory - libnuma unusable (numa_available() < 0), a node
 * the machine does not have (synthetic topologies name such nodes freely),
 * a node without memory, or one outside our cpuset's allowed memory nodes -
 * is never an error: the memory comes from wherever the kernel's default
 * policy puts it.
 *
 * libnuma reports failures through numa_error()/numa_warn(), which print to
 * stderr (and may exit).  A program may define those symbols to take them
 * over; a library must not, or it would hijack the application's.  So these
 * functions check the preconditions first (node_has_memory) and call
 * libnuma only where it cannot fail for a reason it would report; mbind
 * itself is called directly, which reports nothing.
 *
 * All functions may be called from any thread, with or without a P; none
 * blocks except in the kernel (mmap, mbind, the first sysfs read of a node).
 */
#ifndef RINGO_NUMA_MEM_H
#define RINGO_NUMA_MEM_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Whether node can hold memory for us: libnuma is usable, the node exists,
 * is in our allowed memory nodes, is below TOPO_MAX_NODES and has memory
 * (numa_node_size64 > 0).  The answer for each node is read once and kept.
 */
bool node_has_memory(int node);

/*
 * len bytes (rounded up to pages) of zeroed, readable and writable memory,
 * page-aligned.  When node_has_memory(node), the pages are bound to node
 * (numa_alloc_onnode: strict, MPOL_BIND - if the node runs out, the
 * allocation does not spill to another node); otherwise a plain anonymous
 * mapping.  Returns NULL only when mmap fails or len is 0.  Free with
 * node_free.
 */
void *node_alloc(size_t len, int node);

/* Free memory from node_alloc; len as given to it.  (numa_free is munmap.) */
void node_free(void *p, size_t len);

/*
 * Prefer node for the pages of [addr, addr + len) (mbind MPOL_PREFERRED:
 * they spill to other nodes when node is full), for example a stack arena
 * mapped elsewhere.  addr must be page-aligned.  Pages already touched are
 * not moved.  Returns 0, or -errno from mbind (-EINVAL for a bad range);
 * returns 0 doing nothing when !node_has_memory(node).
 */
int node_bind(void *addr, size_t len, int node);

#endif /* RINGO_NUMA_MEM_H */
