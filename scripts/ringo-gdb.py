# SPDX-License-Identifier: MIT
"""gdb commands for programs linked with ringo: see their goroutines.

  info goroutines          every live goroutine: id, state, wait reason,
                           its function, where it is parked; '*' marks the
                           one running on the selected thread
  goroutine N CMD...       run gdb command CMD (bt, info frame, ...) in
                           goroutine N's context: a parked goroutine's
                           saved registers, a running one's thread

libringo carries this script in its .debug_gdb_scripts section, so gdb
loads it with the library (or the program, linked statically) once its
auto-load safe-path allows that directory (`set auto-load safe-path /`,
or `add-auto-load-safe-path DIR` in ~/.gdbinit); `source ringo-gdb.py`
loads it by hand.  It reads the runtime's structures through their debug
information (runtime/runtime.h): struct g in the G slabs (sched.gslabs),
struct gext for the wait reason and the stack, the Ms on sched.allm.  A
parked goroutine's context is its saved stack pointer: the frame that
runtime/arch/x86_64/switch.S pushed (x87/MXCSR control words, r15, r14,
r13, r12, rbx, rbp, return address).
"""

import gdb

G_STATUS = {0: "idle", 1: "runnable", 2: "running", 3: "waiting", 4: "dead"}
GSLAB = 64
# The callee-saved registers in the order switch.S pushes them, above the
# control words; the return address follows.
SAVED = ["r15", "r14", "r13", "r12", "rbx", "rbp"]


def _sched():
    return gdb.parse_and_eval("sched")


def _goroutines():
    """Yield every G of every slab (a gdb.Value of struct g)."""
    slab = _sched()["gslabs"]
    while int(slab) != 0:
        gs = slab["gs"]
        for i in range(GSLAB):
            yield gs[i]
        slab = slab["next"]


def _running_on():
    """goid -> (M id, thread id) for the goroutines running on Ms."""
    out = {}
    mp = _sched()["allm"]
    while int(mp) != 0:
        curg = mp["curg"]
        if int(curg) != 0:
            out[int(curg["goid"])] = (int(mp["id"]), int(mp["tid"]))
        mp = mp["alllink"]
    return out


def _symbol(addr):
    if addr == 0:
        return "?"
    block = gdb.block_for_pc(addr)
    while block is not None and block.function is None:
        block = block.superblock
    if block is not None and block.function is not None:
        return block.function.print_name
    sym = gdb.execute("info symbol %#x" % addr, to_string=True).split(" in section")[0]
    return sym.strip() if sym and not sym.startswith("No symbol") else "%#x" % addr


def _saved_frame(g):
    """The registers a parked goroutine resumes with."""
    sp = int(g["ctx"]["sp"])
    u64 = gdb.lookup_type("unsigned long").pointer()
    words = gdb.Value(sp).cast(u64)
    regs = {name: int(words[1 + i]) for i, name in enumerate(SAVED)}
    regs["rip"] = int(words[1 + len(SAVED)])
    regs["rsp"] = sp + 8 * (2 + len(SAVED))
    return regs


def _parked_in(g):
    """The function a parked goroutine called gopark from (its wait site),
    found by walking its frame-pointer chain from the saved frame."""
    regs = _saved_frame(g)
    u64 = gdb.lookup_type("unsigned long").pointer()
    names = [_symbol(regs["rip"])]
    fp = regs["rbp"]
    lo, hi = int(g["ext"]["stack"]["lo"]), int(g["ext"]["hi"])
    while len(names) < 16 and lo <= fp < hi and fp % 8 == 0:
        words = gdb.Value(fp).cast(u64)
        names.append(_symbol(int(words[1])))
        nxt = int(words[0])
        if nxt <= fp:
            break
        fp = nxt
    if "gopark" in names:
        i = names.index("gopark")
        if i + 1 < len(names):
            return names[i + 1]
    return names[0]


def _current_goid():
    try:
        mp = gdb.parse_and_eval("tls_m")
    except gdb.error:
        return None
    if int(mp) == 0 or int(mp["curg"]) == 0:
        return None
    return int(mp["curg"]["goid"])


def _find(goid):
    for g in _goroutines():
        st = int(g["status"])
        if st in (0, 4):
            continue
        if int(g["goid"]) == goid:
            return g
    return None


class InfoGoroutines(gdb.Command):
    """info goroutines: every live goroutine of the ringo runtime."""

    def __init__(self):
        super().__init__("info goroutines", gdb.COMMAND_STACK, gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        running = _running_on()
        cur = _current_goid()
        n = 0
        print("  %6s  %-28s %s" % ("goid", "state", "function"))
        for g in _goroutines():
            st = int(g["status"])
            if st in (0, 4):
                continue
            goid = int(g["goid"])
            state = G_STATUS.get(st, str(st))
            ext = g["ext"]
            if st == 3 and int(ext) != 0 and int(ext["waitreason"]) != 0:
                state = "waiting: " + ext["waitreason"].string()
            fn = _symbol(int(g["fn"]))
            where = ""
            if goid in running:
                where = "  on M%d (thread %d)" % running[goid]
            elif st == 3 and int(ext) != 0:
                try:
                    where = "  in " + _parked_in(g)
                except gdb.error:
                    pass
            mark = "*" if goid == cur else " "
            print("%s %6d  %-28s %s%s" % (mark, goid, state, fn, where))
            n += 1
        print("%d goroutines" % n)


class GoroutineCmd(gdb.Command):
    """goroutine N CMD: run gdb command CMD (e.g. bt) in goroutine N's context."""

    def __init__(self):
        super().__init__("goroutine", gdb.COMMAND_STACK, gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        parts = arg.split(None, 1)
        if len(parts) < 2 or not parts[0].isdigit():
            raise gdb.GdbError("usage: goroutine N CMD (for example: goroutine 7 bt)")
        goid, cmd = int(parts[0]), parts[1]
        g = _find(goid)
        if g is None:
            raise gdb.GdbError("no live goroutine %d" % goid)
        running = _running_on()
        if goid in running:
            self._on_thread(running[goid][1], cmd)
            return
        if int(g["ext"]) == 0:
            raise gdb.GdbError("goroutine %d has not run yet: no stack" % goid)
        regs = _saved_frame(g)
        frame = gdb.selected_frame()
        gdb.execute("select-frame 0")
        saved = {r: int(gdb.parse_and_eval("$" + r)) for r in list(regs)}
        try:
            for r, v in regs.items():
                gdb.execute("set $%s = %d" % (r, v), to_string=True)
            gdb.execute(cmd)
        finally:
            gdb.execute("select-frame 0")
            for r, v in saved.items():
                gdb.execute("set $%s = %d" % (r, v), to_string=True)
            try:
                frame.select()
            except gdb.error:
                pass

    @staticmethod
    def _on_thread(tid, cmd):
        inferior = gdb.selected_inferior()
        here = gdb.selected_thread()
        for t in inferior.threads():
            if t.ptid[1] == tid:
                t.switch()
                try:
                    gdb.execute(cmd)
                finally:
                    here.switch()
                return
        raise gdb.GdbError("thread %d is not known to gdb" % tid)


InfoGoroutines()
GoroutineCmd()
