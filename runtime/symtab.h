/* SPDX-License-Identifier: MIT */
/*
 * runtime/symtab.h - code addresses to names (runtime/symtab.c).
 */
#ifndef RINGO_RUNTIME_SYMTAB_H
#define RINGO_RUNTIME_SYMTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Read the process's modules for the describes that follow, and forget
 * them.  Any thread, not in a signal handler. */
void symtab_open(void);
void symtab_close(void);
/* "function+offset file:line" for pc (call: pc is a return address, and
 * the line is the call's), as much of it as is known, into buf[len]. */
void symtab_describe(uintptr_t pc, bool call, char *buf, size_t len);
/* The name of the function that holds pc into buf[len] (no offset, no
 * line); false, buf untouched, when no symbol names it. */
bool symtab_func_name(uintptr_t pc, char *buf, size_t len);
/* The address of the function that holds pc, 0 when no symbol does. */
uintptr_t symtab_func_start(uintptr_t pc);

#endif /* RINGO_RUNTIME_SYMTAB_H */
