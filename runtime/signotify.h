/* SPDX-License-Identifier: MIT */
/*
 * runtime/signotify.h - signals delivered on channels (rg_signal_notify,
 * runtime/signotify.c).
 */
#ifndef RINGO_RUNTIME_SIGNOTIFY_H
#define RINGO_RUNTIME_SIGNOTIFY_H

#include <stdbool.h>

/* Deliver the signals the handler queued since the last call.  sysmon,
 * when sysmon_signal_request woke it. */
void signotify_deliver(void);
/* Whether a channel waits for signals: a goroutine blocked on it may be
 * woken from outside, so nothing is a deadlock.  (any, a hint) */
bool signotify_active(void);
/* Forget every channel and restore the dispositions (rg_main's end). */
void signotify_fini(void);

#endif /* RINGO_RUNTIME_SIGNOTIFY_H */
