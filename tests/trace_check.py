#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Check an execution trace written by ringo (rg_trace_stop, RINGO_DEBUG=trace).

Usage: trace_check.py TRACE.json

Checks that the file is Chrome trace-event JSON; that every slice is a
complete event with a duration >= 0; that the goroutine slices of one P
never overlap (a P runs one goroutine at a time); that each goroutine's
slices carry one name; and that steal flows come in start/finish pairs.
Prints "OK goroutines=N slices=M steals=S" and exits 0, or prints what
is wrong and exits 1.  Used by tests/test_trace.c.
"""

import collections
import json
import sys


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        trace = json.load(f)
    events = trace["traceEvents"]
    by_p = collections.defaultdict(list)
    names = {}
    flows = collections.Counter()
    slices = 0
    for e in events:
        ph = e["ph"]
        if ph in ("B", "E"):
            print("open-ended slice:", e)
            return 1
        if ph == "X":
            slices += 1
            if e["dur"] < 0:
                print("negative duration:", e)
                return 1
            if e.get("cat") == "goroutine":
                goid = e["args"]["goid"]
                by_p[e["tid"]].append((e["ts"], e["ts"] + e["dur"], goid))
                if names.setdefault(goid, e["name"]) != e["name"]:
                    print("goroutine", goid, "has two names:", names[goid], e["name"])
                    return 1
        elif ph in ("s", "f"):
            flows[(e["id"], ph)] += 1
    for p, spans in by_p.items():
        spans.sort()
        for (s0, e0, g0), (s1, e1, g1) in zip(spans, spans[1:]):
            if s1 < e0 - 0.002:  # microseconds, printed with 3 decimals
                print(f"P{p} runs goroutines {g0} and {g1} at once: [{s0}, {e0}] and [{s1}, {e1}]")
                return 1
    ids = {i for i, _ in flows}
    for i in ids:
        if flows[(i, "s")] != 1 or flows[(i, "f")] != 1:
            print("steal flow", i, "is not one start and one finish")
            return 1
    print(f"OK goroutines={len(names)} slices={slices} steals={len(ids)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
