/* SPDX-License-Identifier: MIT */
/*
 * ringo.h - the public API of ringo, a Go-style M:N runtime for C on Linux.
 *
 * The model (see README.md): goroutines (G) are multiplexed onto OS threads
 * (M); an M must hold one of GOMAXPROCS logical processors (P) to run
 * goroutines.  Every function below says who may call it:
 *
 *   any      - any thread, inside or outside the runtime;
 *   goroutine- only code running as a goroutine.  From a plain thread the
 *              call returns -EPERM, or, for a void function, is a fatal
 *              error whose message names the call.
 *
 * Errors are returned as negative errno values.  errno and __thread
 * variables belong to the M (the OS thread), not to the goroutine: a
 * goroutine that parks may resume on another thread, so do not keep the
 * address of errno or of a __thread variable across a call that can park.
 */
#ifndef RINGO_H
#define RINGO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

#define RINGO_VERSION_MAJOR 0
#define RINGO_VERSION_MINOR 1
#define RINGO_VERSION_PATCH 0
#define RINGO_VERSION ((RINGO_VERSION_MAJOR << 16) | (RINGO_VERSION_MINOR << 8) | RINGO_VERSION_PATCH)

/* ===================================================================== */
/* Runtime                                                               */
/* ===================================================================== */

/* The library's version, RINGO_VERSION of the build that was linked. (any) */
int rg_version(void);

typedef struct rg_config {
	int    maxprocs;    /* number of Ps; 0: RINGO_MAXPROCS, else the default */
	size_t stack_size;  /* virtual bytes per goroutine stack; 0: the default */
} rg_config;            /* zero-initialised means all defaults; fields may be added */

/*
 * rg_main - start the runtime and run fn(arg) as goroutine 1.  (any plain thread)
 *
 * cfg may be NULL.  The calling thread becomes the runtime's first M.
 * Returns 0 when fn returns: goroutines still alive are abandoned, as in Go
 * (rg_main returns once every M has reached a scheduling point).  Returns
 * -EINVAL for a bad cfg, -ENOMEM/-EAGAIN if the runtime cannot start, and
 * -EBUSY while a runtime is already running.  It may be called again after
 * it returned.
 *
 * Environment, read once per call: RINGO_MAXPROCS=N and
 * RINGO_DEBUG=schedtrace=MS[,scheddetail=1].  Malformed values are reported
 * on stderr and ignored.
 */
int rg_main(const rg_config *cfg, void (*fn)(void *), void *arg);

/*
 * rg_gomaxprocs - set the number of Ps to n, or query it when n <= 0.
 * Returns the previous value.  Changing it stops the world: every other
 * goroutine is paused at its next scheduling point.  (goroutine; -EPERM
 * from a plain thread)
 */
int rg_gomaxprocs(int n);

/* ===================================================================== */
/* Goroutines                                                            */
/* ===================================================================== */

/*
 * rg_go - start fn(arg) as a new goroutine.  (goroutine)
 * Returns 0, -ENOMEM when no memory is left for it, -EAGAIN when no more
 * guarded stacks can be made; never aborts.  The new goroutine runs next on
 * this P (Go's runnext) unless another readied goroutine displaces it.
 */
int rg_go(void (*fn)(void *), void *arg);

/* rg_yield - runtime.Gosched: let other goroutines run.  (goroutine) */
void rg_yield(void);

/* rg_exit - runtime.Goexit: end the calling goroutine.  (goroutine) */
_Noreturn void rg_exit(void);

/* rg_goid - the calling goroutine's id; 1 for the main goroutine, 0 from a
 * plain thread.  (any) */
uint64_t rg_goid(void);

/* rg_num_goroutine - live goroutines, like runtime.NumGoroutine.  (any;
 * 0 when no runtime runs) */
int rg_num_goroutine(void);

/* ===================================================================== */
/* Sync                                                                  */
/* ===================================================================== */

/*
 * rg_wg - sync.WaitGroup.  The zero value is ready to use.  Waiting parks
 * the goroutine, never the M; from a plain thread it blocks that thread.
 * A counter that goes negative is a fatal error.  (any)
 */
typedef struct rg_wg {
	_Alignas(8) unsigned char opaque_[16];
} rg_wg;

void rg_wg_add(rg_wg *wg, int delta);
void rg_wg_done(rg_wg *wg);
void rg_wg_wait(rg_wg *wg);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif /* RINGO_H */
