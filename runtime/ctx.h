/* SPDX-License-Identifier: MIT */
/*
 * runtime/ctx.h - contexts attached to goroutines (runtime/ctx.c): what
 * the channel operations, select and sleep ask of them.
 */
#ifndef RINGO_RUNTIME_CTX_H
#define RINGO_RUNTIME_CTX_H

#include <stdint.h>

#include "ringo.h"

/* The calling goroutine's attached context, or NULL (a plain thread
 * too).  (any) */
rg_ctx *ctx_current(void);
/* rg_select's work over n cases plus ctx's done channel: the chosen case,
 * or ctx's err when that channel won or ctx was already cancelled, or
 * rg_select's errors.  (goroutine) */
int ctx_select(rg_case *cases, int n, int64_t timeout_ns, rg_ctx *ctx);
/* rg_select without the attached context (runtime/chan.c). */
int select_cases(rg_case *cases, int n, int64_t timeout_ns);

#endif /* RINGO_RUNTIME_CTX_H */
