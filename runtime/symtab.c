/* SPDX-License-Identifier: MIT */
/*
 * runtime/symtab.c - code addresses to names, for goroutine dumps.
 *
 * elfutils' libdwfl reads the process's modules (/proc/PID/maps), their
 * symbol tables (.symtab included, so static functions have names) and
 * their DWARF line tables: function+offset and file:line.  The library is
 * loaded with dlopen when a dump first needs it (libdw.so.1, Debian's
 * libdw1), so that a program that never dumps, or a machine without it,
 * pays nothing; without it, dladdr names what the dynamic symbol tables
 * name and the rest is shown as module+offset, for addr2line.  Each dump
 * reads the modules afresh (symtab_open ... symtab_close), so that
 * libraries loaded since the last one are known.
 *
 * This is the only file that includes <elfutils/libdwfl.h>.  Not
 * async-signal-safe (libdwfl allocates): dumps run on ordinary threads.
 */
#include <dlfcn.h>
#include <elfutils/libdwfl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "runtime/runtime.h"
#include "runtime/symtab.h"

static struct {
	struct lock lock; /* everything below */
	void *handle;
	Dwfl *dwfl;
	Dwfl_Callbacks cb;
	char *debuginfo_path;
	Dwfl *(*begin)(const Dwfl_Callbacks *);
	int (*proc_report)(Dwfl *, pid_t);
	int (*report_end)(Dwfl *, int (*)(Dwfl_Module *, void *, const char *, Dwarf_Addr, void *),
			  void *);
	Dwfl_Module *(*addrmodule)(Dwfl *, Dwarf_Addr);
	const char *(*addrinfo)(Dwfl_Module *, GElf_Addr, GElf_Off *, GElf_Sym *, GElf_Word *,
				Elf **, Dwarf_Addr *);
	Dwfl_Line *(*getsrc)(Dwfl_Module *, Dwarf_Addr);
	const char *(*lineinfo)(Dwfl_Line *, Dwarf_Addr *, int *, int *, Dwarf_Word *,
				Dwarf_Word *);
	void (*end)(Dwfl *);
} st;

/* Load libdw and report the process's modules.  st.lock held. */
static void dwfl_open(void)
{
	void *h;

	h = dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return;
	st.begin = dlsym(h, "dwfl_begin");
	st.proc_report = dlsym(h, "dwfl_linux_proc_report");
	st.report_end = dlsym(h, "dwfl_report_end");
	st.addrmodule = dlsym(h, "dwfl_addrmodule");
	st.addrinfo = dlsym(h, "dwfl_module_addrinfo");
	st.getsrc = dlsym(h, "dwfl_module_getsrc");
	st.lineinfo = dlsym(h, "dwfl_lineinfo");
	st.end = dlsym(h, "dwfl_end");
	st.cb.find_elf = dlsym(h, "dwfl_linux_proc_find_elf");
	st.cb.find_debuginfo = dlsym(h, "dwfl_standard_find_debuginfo");
	st.cb.debuginfo_path = &st.debuginfo_path;
	if (!st.begin || !st.proc_report || !st.report_end || !st.addrmodule || !st.addrinfo ||
	    !st.getsrc || !st.lineinfo || !st.end || !st.cb.find_elf || !st.cb.find_debuginfo)
		goto err_close;
	st.dwfl = st.begin(&st.cb);
	if (!st.dwfl)
		goto err_close;
	if (st.proc_report(st.dwfl, getpid()) != 0 || st.report_end(st.dwfl, NULL, NULL) != 0)
		goto err_end;
	st.handle = h;
	return;
err_end:
	st.end(st.dwfl);
	st.dwfl = NULL;
err_close:
	dlclose(h);
}

static void describe(uintptr_t pc, bool call, char *buf, size_t len)
{
	/* A return address names the call's line: look up the call. */
	uintptr_t at = call && pc ? pc - 1 : pc;
	const char *name = NULL, *file = NULL;
	GElf_Off off = 0;
	GElf_Sym sym;
	Dl_info info;
	int line = 0;

	memset(&info, 0, sizeof(info));
	lock(&st.lock);
	if (st.dwfl) {
		Dwfl_Module *mod = st.addrmodule(st.dwfl, at);
		Dwfl_Line *l;
		Dwarf_Addr a;

		if (mod) {
			name = st.addrinfo(mod, at, &off, &sym, NULL, NULL, NULL);
			l = st.getsrc(mod, at);
			if (l)
				file = st.lineinfo(l, &a, &line, NULL, NULL, NULL);
		}
	}
	if (name && file)
		snprintf(buf, len, "%s+%#" PRIx64 " %s:%d", name, (uint64_t)(off + (pc - at)), file,
			 line);
	else if (name)
		snprintf(buf, len, "%s+%#" PRIx64, name, (uint64_t)(off + (pc - at)));
	unlock(&st.lock);
	if (name)
		return;
	if (dladdr((void *)at, &info) && info.dli_sname)
		snprintf(buf, len, "%s+%#" PRIxPTR, info.dli_sname, pc - (uintptr_t)info.dli_saddr);
	else if (info.dli_fname)
		snprintf(buf, len, "%s+%#" PRIxPTR, info.dli_fname, pc - (uintptr_t)info.dli_fbase);
	else
		snprintf(buf, len, "%#" PRIxPTR, pc);
}

static bool func_name(uintptr_t pc, char *buf, size_t len)
{
	const char *name = NULL;
	GElf_Off off = 0;
	GElf_Sym sym;
	Dl_info info;

	lock(&st.lock);
	if (st.dwfl) {
		Dwfl_Module *mod = st.addrmodule(st.dwfl, pc);

		if (mod)
			name = st.addrinfo(mod, pc, &off, &sym, NULL, NULL, NULL);
		if (name)
			snprintf(buf, len, "%s", name);
	}
	unlock(&st.lock);
	if (name)
		return true;
	if (!dladdr((void *)pc, &info) || !info.dli_sname)
		return false;
	snprintf(buf, len, "%s", info.dli_sname);
	return true;
}

static uintptr_t func_start(uintptr_t pc)
{
	uintptr_t start = 0;
	GElf_Off off = 0;
	GElf_Sym sym;
	Dl_info info;

	lock(&st.lock);
	if (st.dwfl) {
		Dwfl_Module *mod = st.addrmodule(st.dwfl, pc);

		if (mod && st.addrinfo(mod, pc, &off, &sym, NULL, NULL, NULL))
			start = pc - (uintptr_t)off;
	}
	unlock(&st.lock);
	if (!start && dladdr((void *)pc, &info) && info.dli_sname)
		start = (uintptr_t)info.dli_saddr;
	return start;
}

/* Each call below is a call in progress (ki_call_enter): libdw and the
 * loader allocate, read files and take the C library's locks, and a wait
 * there is the runtime's, not the program's ("Blocked calls nobody
 * annotated", runtime/preempt.c). */

void symtab_open(void)
{
	ki_call_enter();
	lock(&st.lock);
	if (!st.dwfl)
		dwfl_open();
	unlock(&st.lock);
	ki_call_exit();
}

void symtab_close(void)
{
	ki_call_enter();
	lock(&st.lock);
	if (st.dwfl)
		st.end(st.dwfl);
	if (st.handle)
		dlclose(st.handle);
	st.dwfl = NULL;
	st.handle = NULL;
	unlock(&st.lock);
	ki_call_exit();
}

void symtab_describe(uintptr_t pc, bool call, char *buf, size_t len)
{
	ki_call_enter();
	describe(pc, call, buf, len);
	ki_call_exit();
}

bool symtab_func_name(uintptr_t pc, char *buf, size_t len)
{
	bool r;

	ki_call_enter();
	r = func_name(pc, buf, len);
	ki_call_exit();
	return r;
}

uintptr_t symtab_func_start(uintptr_t pc)
{
	uintptr_t r;

	ki_call_enter();
	r = func_start(pc);
	ki_call_exit();
	return r;
}
