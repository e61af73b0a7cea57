#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Run ringo's benchmarks against their Go twins and print one comparison table.

Usage:
    bench.py --profile quick|full --build DIR [--only NAME] [--rounds R]
             [--json FILE] [--timeout S]

Benchmarks are discovered as pairs of executables DIR/bench/<name> (C, linked
with ringo) and DIR/bench/go/<name> (Go twin).  A benchmark may also have a
baseline, DIR/bench/baseline/<name> or DIR/bench/baseline/<name>_<how> (for
example echo_epoll): a plain C program doing the same work without ringo, run
as a third side (its table columns are named after <how>, "redis" for
kv_redis, when every baseline shown has the same one).  Every round runs
each side of each benchmark, alternating the order (ringo, go, baseline /
baseline, go, ringo) from one round to the next.  Each run prints lines of
the form

    name: value unit

(one figure per line); every other line is ignored, except "# params: ..."
lines, which are compared between the two sides as a sanity check (for a
baseline: the key=value pairs it shares with the ringo side).

Every run and the summary are written as JSON to DIR/bench/results.json (or
--json FILE); scripts/bench_plot.py then draws them, as SVG and PNG, under
DIR/bench/plots/ (ratios: ringo/go and ringo/baseline per figure; latency:
the latency figures' rounds), when matplotlib can be imported.

A benchmark named in WRAPPERS runs inside a command, on every side: dns
under scripts/dnsenv.sh, with its own DNS server in private namespaces.

A run that exits with status 77 is skipped (something it needs is missing:
the last line of its stderr says what); it is listed as such and is not a
failure.

Exit status: 0 when every run succeeded or was skipped, 1 when a run failed
(non-zero exit, timeout, or no figures printed), 2 for usage or discovery
errors.

Only the Python standard library is used (the pictures need matplotlib,
which is optional).
"""

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

# --------------------------------------------------------------------------
# Profiles: rounds, and the arguments given to both the C binary and its Go
# twin.  A benchmark missing from a profile's table runs with no arguments
# (its defaults).
# --------------------------------------------------------------------------
PROFILES = {
    "quick": {
        "rounds": 3,
        "args": {
            "spawn": ["-n", "1000000"],
            "yield": ["-n", "2000000"],
            "pingpong": ["-n", "200000"],
            "skynet": [],  # full size: 1,000,000 leaves, well under 1 s a run
            "park": ["-n", "200000"],
            "mutex": ["-n", "2000000"],
            "echo": ["-n", "1000"],  # 100 connections, 100,000 round trips
            "http": ["-d", "3"],  # wrk -t1 -c100 for 3 s
            "fileread": ["-n", "2000"],  # making 10,000 files takes seconds
            "sleep": [],  # default: 10,000 goroutines x 100 sleeps of 1 ms
            "syscall": ["-n", "5000"],  # 8 pairs x 5,000 blocking reads
            "steal": ["-n", "50000"],  # 50,000 tasks, 3 policies on 2 synthetic nodes
            "preempt": ["-t", "10"],  # 10 trials at each slice
            "timerlat": ["-n", "50"],  # 50 sleeps in each of 4 scenarios
            "idle": ["-d", "1"],  # 1 s of an idle runtime
            "kv": ["-n", "50000"],  # redis-benchmark -c50: 50,000 SETs/GETs a run, P 1 and 16
            "pollwake": ["-n", "50000"],  # 50,000 round trips through rg_poll / RawConn.Read
            "udp": ["-n", "1000"],  # 64 senders x 1,000 UDP round trips
            "ctxcancel": [],  # default: 10,000 goroutines woken by one cancel, 5 rounds
            "timers": ["-n", "200000"],  # 200,000 live timers: create, reset, stop
            "tickers": ["-d", "2"],  # 100,000 tickers at 100 ms, measured for 2 s
            "dns": ["-n", "5"],  # 1,000 goroutines x 5 lookups, at once and 2 ms late
        },
    },
    "full": {
        "rounds": 7,
        "args": {
            "spawn": [],  # default: 1,000,000 goroutines
            "yield": [],  # default: 10,000,000 yields per goroutine
            "pingpong": [],  # default: 2,000,000 round trips, at maxprocs 1 and 2
            "skynet": [],  # default: 1,000,000 leaves, 1,111,111 goroutines
            "park": [],  # default: 1,000,000 parked goroutines (GBs of RSS)
            "mutex": [],  # default: 10,000,000 increments by 8 goroutines, maxprocs 2
            "echo": [],  # default: 100 connections x 5,000 round trips of 64 bytes
            "http": [],  # default: wrk -t1 -c100 for 10 s
            "fileread": [],  # default: 10,000 files of 4 KiB, read cold
            "sleep": [],  # default: 10,000 goroutines x 100 sleeps of 1 ms
            "syscall": [],  # default: 8 pairs x 20,000 blocking reads, 2,000 LCG steps
            "steal": [],  # default: 200,000 tasks of 2,000 LCG steps, 3 policies
            "preempt": [],  # default: 20 trials at each slice
            "timerlat": [],  # default: 100 sleeps in each of 4 scenarios
            "idle": [],  # default: 10 s of an idle runtime
            "kv": [],  # default: redis-benchmark -c50, 100,000 SETs/GETs a run, P 1 and 16
            "pollwake": [],  # default: 100,000 round trips through rg_poll / RawConn.Read
            "udp": [],  # default: 64 senders x 2,000 UDP round trips of 64 bytes
            "ctxcancel": ["-r", "9"],  # 10,000 goroutines woken by one cancel, 9 rounds
            "timers": [],  # default: 1,000,000 live timers: create, reset, stop
            "tickers": [],  # default: 100,000 tickers at 100 ms, measured for 3 s
            "dns": [],  # default: 1,000 goroutines x 10 lookups, at once and 2 ms late
        },
    },
}

# Figures only the ringo side prints (its knobs have no Go counterpart), by
# benchmark: name prefixes.  No "printed only by" warning for them.
RINGO_ONLY = {
    "preempt": ("preempt_slice1ms_",),
    "syscall": ("syscall_plain_",),
    "steal": ("steal_flat_", "steal_node_", "steal_distance_"),
    "http": ("http_epoll_",),
    "kv": ("kv_epoll_",),
    "dns": ("dns_glibc_",),
}

# Benchmarks whose every side runs inside a wrapper, by name: a function of
# the build directory that gives the command put before the program.  dns:
# scripts/dnsenv.sh runs it against its own DNS server, bench/tools/dnsd, in
# private mount and network namespaces (exit 77 where they cannot be made).
SCRIPTS_DIR = os.path.dirname(os.path.abspath(__file__))
WRAPPERS = {
    "dns": lambda build: [os.path.join(SCRIPTS_DIR, "dnsenv.sh"),
                          os.path.join(build, "bench", "tools", "dnsd")],
}

RUN_TIMEOUT_S = 120
STDERR_TAIL_LINES = 15

SIDES = ("ringo", "go")
BASELINE = "baseline"
ALL_SIDES = SIDES + (BASELINE,)
EXIT_SKIP = 77

# Units for which a lower value is better; units ending in "/s" are rates,
# for which a higher value is better.  Other units get no verdict.
LOWER_IS_BETTER = {"ns", "us", "ms", "s", "B", "KiB", "MiB", "GiB", "bytes", "%",
                   "threads"}

METRIC_RE = re.compile(
    r"^\s*([A-Za-z_][A-Za-z0-9_.\-]*):\s+"
    r"([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s+(\S+)\s*$"
)
PARAMS_RE = re.compile(r"^#\s*params:\s*(.*?)\s*$")
NAME_RE = re.compile(r"^[A-Za-z0-9_\-]+$")


def eprint(*a):
    print(*a, file=sys.stderr, flush=True)


def die(msg):
    eprint(f"bench.py: {msg}")
    sys.exit(2)


# --------------------------------------------------------------------------
# Machine description
# --------------------------------------------------------------------------
def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, val = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware", "cpu model"):
                    if val.strip():
                        return val.strip()
    except OSError:
        pass
    return "unknown"


def ncpus():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 0


def go_version_of_binary(path):
    """The Go version recorded in a Go executable's build info, or None."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    magic = b"\xff Go buildinf:"
    at = data.find(magic)
    if at < 0 or len(data) < at + 33:
        return None
    flags = data[at + 15]
    if not flags & 0x2:  # pre-1.18 layout: version behind pointers; skip
        return None
    pos = at + 32
    length, shift = 0, 0
    while pos < len(data):
        b = data[pos]
        pos += 1
        length |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    version = data[pos:pos + length].decode("ascii", errors="replace")
    return version if version.startswith("go") else None


def go_version(go_binaries):
    for path in go_binaries:
        v = go_version_of_binary(path)
        if v:
            return v
    go = shutil.which("go")
    if go:
        try:
            out = subprocess.run([go, "version"], capture_output=True, text=True,
                                 timeout=30).stdout.split()
            if len(out) >= 3:
                return out[2]
        except (OSError, subprocess.SubprocessError):
            pass
    return "unknown"


def header_lines(go_binaries, profile, rounds):
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    lines = [
        f"date: {date} | kernel: {os.uname().release} | cpu: {cpu_model()} | "
        f"nproc: {ncpus()} | go: {go_version(go_binaries)}",
        f"profile: {profile}, {rounds} round{'s' if rounds != 1 else ''}",
    ]
    env = [f"{k}={os.environ[k]}" for k in ("GOMAXPROCS", "RINGO_MAXPROCS",
                                            "RINGO_DEBUG", "GODEBUG", "GOGC")
           if k in os.environ]
    if env:
        lines.append("environment: " + " ".join(env))
    return lines


# --------------------------------------------------------------------------
# Discovery and running
# --------------------------------------------------------------------------
def is_exe(path):
    return os.path.isfile(path) and os.access(path, os.X_OK)


def discover(build):
    cdir = os.path.join(build, "bench")
    godir = os.path.join(cdir, "go")
    if not os.path.isdir(cdir):
        die(f"no benchmarks: {cdir} does not exist (build first)")

    def names(d):
        if not os.path.isdir(d):
            return set()
        return {n for n in os.listdir(d)
                if NAME_RE.match(n) and is_exe(os.path.join(d, n))}

    cnames, gonames = names(cdir), names(godir)
    errors = []
    for n in sorted(cnames - gonames):
        errors.append(f"C benchmark {os.path.join(cdir, n)} has no Go twin "
                      f"{os.path.join(godir, n)}")
    for n in sorted(gonames - cnames):
        errors.append(f"Go benchmark {os.path.join(godir, n)} has no C twin "
                      f"{os.path.join(cdir, n)}")
    if errors:
        die("\nbench.py: ".join(errors))
    if not cnames:
        die(f"no benchmarks found in {cdir}")
    benches = {n: {"ringo": os.path.join(cdir, n), "go": os.path.join(godir, n)}
               for n in sorted(cnames)}
    # The baseline of benchmark <name> is <name> or <name>_<how> (echo_epoll).
    basedir = os.path.join(cdir, BASELINE)
    for b in sorted(names(basedir)):
        owners = [n for n in benches if b == n or b.startswith(n + "_")]
        path = os.path.join(basedir, b)
        if not owners:
            eprint(f"bench.py: ignoring baseline {path}: no benchmark of that name")
            continue
        n = max(owners, key=len)
        if BASELINE in benches[n]:
            die(f"benchmark {n} has two baselines: {benches[n][BASELINE]} and {path}")
        benches[n][BASELINE] = path
    return benches


def decimals_of(text):
    """Digits after the point as printed; None for exponent notation."""
    if "e" in text or "E" in text:
        return None
    _, dot, frac = text.partition(".")
    return len(frac) if dot else 0


def parse_output(text):
    metrics, params, dups = {}, None, []
    for line in text.splitlines():
        m = METRIC_RE.match(line)
        if m:
            name, text, unit = m.group(1), m.group(2), m.group(3)
            if name in metrics:
                dups.append(name)
            metrics[name] = (float(text), unit, decimals_of(text))
            continue
        p = PARAMS_RE.match(line)
        if p:
            params = p.group(1)
    return metrics, params, dups


def tail(text, n=STDERR_TAIL_LINES):
    lines = text.rstrip("\n").splitlines()
    cut = lines[-n:]
    if len(lines) > n:
        cut.insert(0, f"... ({len(lines) - n} earlier lines)")
    return "\n".join("    | " + l for l in cut) if cut else "    | (empty)"


def run_one(bench, side, cmd, rnd, timeout):
    rec = {"bench": bench, "side": side, "round": rnd, "cmd": cmd,
           "rc": None, "timed_out": False, "wall_s": None,
           "metrics": {}, "params": None, "error": None, "skipped": None}
    t0 = time.monotonic()
    out, err = "", ""
    try:
        # Own session, so that a timeout kills everything the run started.
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, errors="replace",
                             start_new_session=True)
    except OSError as e:
        err = str(e)
        rec["error"] = f"cannot run: {e}"
    else:
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            rec["timed_out"] = True
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            out, err = p.communicate()
        except BaseException:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            p.wait()
            raise
        rec["rc"] = p.returncode
    rec["wall_s"] = time.monotonic() - t0

    metrics, params, dups = parse_output(out)
    rec["metrics"] = {k: {"value": v, "unit": u, "decimals": d}
                      for k, (v, u, d) in metrics.items()}
    rec["params"] = params
    if rec["error"] is None and rec["rc"] == EXIT_SKIP:
        last = err.strip().splitlines()
        rec["skipped"] = last[-1] if last else f"exit status {EXIT_SKIP}"
        rec["metrics"] = {}
    elif rec["error"] is None:
        if rec["timed_out"]:
            rec["error"] = f"timed out after {timeout} s"
        elif rec["rc"] != 0:
            rec["error"] = (f"exit status {rec['rc']}" if rec["rc"] > 0
                            else f"killed by signal {-rec['rc']}")
        elif not metrics:
            rec["error"] = "printed no 'name: value unit' line"
    if rec["error"]:
        rec["stderr_tail"] = err[-8192:]
        rec["stdout_tail"] = out[-2048:]
    if dups:
        rec["duplicates"] = dups
    return rec, err


# --------------------------------------------------------------------------
# Summary table
# --------------------------------------------------------------------------
def fmt(v, decimals):
    """v with as many decimals as the benchmarks printed (general form when
    they used exponent notation)."""
    if v is None:
        return "-"
    if decimals is None:
        return f"{v:.4g}"
    return f"{v:.{decimals}f}"


def direction(unit):
    if unit in LOWER_IS_BETTER:
        return -1
    if unit.endswith("/s"):
        return 1
    return 0


def summarize(runs, bench_order):
    """One row per (benchmark, metric), in benchmark then first-seen order."""
    rows = {}
    for r in runs:
        if r["error"]:
            continue  # figures of a failed run are not trusted
        for name, mv in r["metrics"].items():
            key = (r["bench"], name)
            row = rows.setdefault(key, {"bench": r["bench"], "metric": name,
                                        "units": {}, "ringo": [], "go": [],
                                        BASELINE: [], "decimals": 0})
            row[r["side"]].append(mv["value"])
            row["units"].setdefault(r["side"], mv["unit"])
            d = mv["decimals"]
            if d is None or row["decimals"] is None:
                row["decimals"] = None
            else:
                row["decimals"] = max(row["decimals"], d)
            if row["units"][r["side"]] != mv["unit"]:
                row["unit_conflict"] = True
    order = {b: i for i, b in enumerate(bench_order)}
    out = []
    for key in sorted(rows, key=lambda k: order.get(k[0], len(order))):
        row = rows[key]
        units = set(row["units"].values())
        if len(units) == 1:
            row["unit"] = units.pop()
        else:
            row["unit"] = "/".join(row["units"].get(s, "?") for s in ALL_SIDES
                                   if s in row["units"])
            row["unit_mismatch"] = True
        if row.pop("unit_conflict", False):
            row["unit_mismatch"] = True
        for s in ALL_SIDES:
            v = row[s]
            row[s + "_median"] = statistics.median(v) if v else None
            row[s + "_min"] = min(v) if v else None
            row[s + "_max"] = max(v) if v else None
        rm, gm = row["ringo_median"], row["go_median"]
        bm = row[BASELINE + "_median"]
        row["ratio"] = rm / gm if (rm is not None and gm) else None
        row["ratio_" + BASELINE] = rm / bm if (rm is not None and bm) else None
        d = direction(row["unit"]) if not row.get("unit_mismatch") else 0
        verdict = ""
        if d and rm is not None and gm is not None:
            overlap = (row["ringo_min"] <= row["go_max"]
                       and row["go_min"] <= row["ringo_max"])
            if overlap or rm == gm or len(row["ringo"]) < 2 or len(row["go"]) < 2:
                verdict = "~"
            elif (rm < gm) == (d < 0):
                verdict = "ringo"
            else:
                verdict = "go"
        row["better"] = verdict
        del row["units"]
        out.append(row)
    return out


def baseline_label(benches, rows):
    """What the baseline columns are called: the <how> of the baselines
    shown (kv_redis: "redis") when they all have the same one, else
    "baseline"."""
    hows = {os.path.basename(benches[n][BASELINE])[len(n) + 1:]
            for n in {r["bench"] for r in rows if r[BASELINE]}}
    return hows.pop() if len(hows) == 1 and "" not in hows else BASELINE


def render_table(rows, label=BASELINE):
    """The table; with two more columns, the baseline's median and the ratio
    ringo/baseline (named after label), when some benchmark has a baseline."""
    with_base = any(r[BASELINE] for r in rows)
    head = ["metric", "unit", "ringo (median)", "go (median)", "ringo/go",
            "better", "ringo min..max", "go min..max"]
    right = {2, 3, 4, len(head)}
    if with_base:
        head += [f"{label} (median)", f"ringo/{label}"]
        right |= {len(head) - 2, len(head) - 1, len(head)}
    head.append("n")
    body = []
    for r in rows:
        def rng(s):
            if r[s + "_min"] is None:
                return "-"
            return f"{fmt(r[s + '_min'], dec)}..{fmt(r[s + '_max'], dec)}"

        def ratio(v):
            return f"{v:.2f}" if v is not None else "-"
        dec = r["decimals"]
        n = f"{len(r['ringo'])}/{len(r['go'])}"
        cells = [r["metric"], r["unit"], fmt(r["ringo_median"], dec),
                 fmt(r["go_median"], dec), ratio(r["ratio"]),
                 r["better"] or "-", rng("ringo"), rng("go")]
        if with_base:
            cells += [fmt(r[BASELINE + "_median"], dec), ratio(r["ratio_" + BASELINE])]
            if r[BASELINE]:
                n += f"/{len(r[BASELINE])}"
        body.append(cells + [n])
    widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]

    def line(cells):
        parts = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(cells, widths))]
        return " | ".join(parts).rstrip()

    sep = "-+-".join("-" * w for w in widths)
    return "\n".join([line(head), sep] + [line(b) for b in body])


def plot(json_path, out):
    """Draw the run with bench_plot.py, which prints the paths it wrote (or
    why it drew nothing).  The pictures do not decide the exit status."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_plot.py")
    sys.stdout.flush()
    try:
        rc = subprocess.run([sys.executable, script, json_path, "--out", out],
                            stdin=subprocess.DEVNULL, timeout=300).returncode
    except (OSError, subprocess.SubprocessError) as e:
        rc = e
    if rc != 0:
        eprint(f"bench.py: drawing the plots failed ({rc}); redraw with: "
               f"python3 {script} {json_path}")


# --------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(
        description="Compare ringo's benchmarks with their Go twins.")
    ap.add_argument("--profile", choices=sorted(PROFILES), required=True)
    ap.add_argument("--build", required=True, metavar="DIR",
                    help="build directory holding bench/<name> and bench/go/<name>")
    ap.add_argument("--only", action="append", metavar="NAME",
                    help="run only this benchmark (repeatable, or comma-separated)")
    ap.add_argument("--rounds", type=int, metavar="R",
                    help="override the profile's number of rounds")
    ap.add_argument("--json", metavar="FILE",
                    help="write the raw samples here (default: DIR/bench/results.json)")
    ap.add_argument("--timeout", type=float, default=RUN_TIMEOUT_S, metavar="S",
                    help=f"per-run timeout in seconds (default {RUN_TIMEOUT_S})")
    a = ap.parse_args()

    prof = PROFILES[a.profile]
    rounds = a.rounds if a.rounds is not None else prof["rounds"]
    if rounds < 1:
        ap.error("--rounds must be at least 1")

    benches = discover(a.build)
    if a.only:
        wanted = [n for o in a.only for n in o.split(",") if n]
        unknown = [n for n in wanted if n not in benches]
        if unknown:
            die(f"unknown benchmark(s): {', '.join(unknown)}"
                f" (have: {', '.join(benches)})")
        benches = {n: benches[n] for n in benches if n in wanted}

    names = list(benches)
    go_bins = [benches[n]["go"] for n in names]
    print(f"bench: {len(names)} benchmark(s) [{', '.join(names)}], profile {a.profile}, "
          f"{rounds} round(s), each C binary then its Go twin (then its baseline, "
          f"if any), order alternating", flush=True)
    for n in names:
        args = prof["args"].get(n, [])
        wrapper = WRAPPERS[n](a.build) if n in WRAPPERS else []
        print(f"  {n}: args: {' '.join(args) if args else '(defaults)'}"
              + (f", under {' '.join(wrapper)}" if wrapper else ""), flush=True)

    runs, failures, skips, warnings = [], [], [], []
    seen_params = {}
    t_start = time.monotonic()
    interrupted = False
    try:
        for rnd in range(rounds):
            for n in names:
                args = prof["args"].get(n, [])
                wrapper = WRAPPERS[n](a.build) if n in WRAPPERS else []
                sides = tuple(s for s in ALL_SIDES if s in benches[n])
                sides = sides if rnd % 2 == 0 else sides[::-1]
                shown = []
                for side in sides:
                    rec, err = run_one(n, side, wrapper + [benches[n][side]] + args,
                                       rnd + 1, a.timeout)
                    runs.append(rec)
                    if rec["error"]:
                        failures.append(rec)
                        shown.append(f"{side} FAILED")
                        eprint(f"\n[{rnd + 1}/{rounds}] {n} ({side}): {rec['error']}: "
                               f"{' '.join(rec['cmd'])}")
                        eprint("  stderr tail:")
                        eprint(tail(err))
                    elif rec["skipped"]:
                        skips.append(rec)
                        shown.append(f"{side} skipped")
                    else:
                        shown.append(f"{side} {rec['wall_s']:.2f}s")
                    if rec.get("duplicates"):
                        warnings.append(f"{n} ({side}): printed "
                                        f"{', '.join(sorted(set(rec['duplicates'])))} "
                                        "more than once; the last value was kept")
                    if rec["params"] is not None and not rec["error"] and not rec["skipped"]:
                        seen_params.setdefault(n, {}).setdefault(side, set()).add(
                            rec["params"])
                print(f"[{rnd + 1}/{rounds}] {n:<12} " + "   ".join(shown), flush=True)
    except KeyboardInterrupt:
        interrupted = True
        eprint("\ninterrupted; summarizing the runs done so far")

    # Sanity checks between twins.
    for n, by_side in seen_params.items():
        r, g = by_side.get("ringo", set()), by_side.get("go", set())
        if r and g and r != g:
            warnings.append(f"{n}: the twins report different parameters: "
                            f"ringo [{'; '.join(sorted(r))}] vs go [{'; '.join(sorted(g))}]")
        for rp in r:
            for bp in by_side.get(BASELINE, set()):
                rkv = dict(kv.split("=", 1) for kv in rp.split() if "=" in kv)
                bkv = dict(kv.split("=", 1) for kv in bp.split() if "=" in kv)
                diff = [k for k in rkv if k in bkv and rkv[k] != bkv[k]]
                if diff:
                    warnings.append(f"{n}: the baseline reports different parameters "
                                    f"({', '.join(diff)}): ringo [{rp}] vs baseline [{bp}]")
    rows = summarize(runs, names)
    for row in rows:
        if row.get("unit_mismatch"):
            warnings.append(f"{row['metric']}: the twins use different units "
                            f"({row['unit']}); no ratio verdict")
        for s, other in (("ringo", "go"), ("go", "ringo")):
            ran = any(r["bench"] == row["bench"] and r["side"] == s
                      and not r["error"] and not r["skipped"] for r in runs)
            expected = other == "ringo" and row["metric"].startswith(
                RINGO_ONLY.get(row["bench"], ()))
            if row[other] and not row[s] and ran and not expected:
                warnings.append(f"{row['metric']}: printed only by the {other} side")

    print()
    for h in header_lines(go_bins, a.profile, rounds):
        print(h)
    print(f"elapsed: {time.monotonic() - t_start:.1f} s")
    print()
    if rows:
        label = baseline_label(benches, rows)
        print(render_table(rows, label))
        print()
        print("medians over the rounds; ringo/go < 1 means ringo's figure is smaller;"
              " lower is better for times, sizes and threads, higher for /s;")
        print("better: '~' when the min..max ranges overlap or a side has fewer than"
              f" 2 samples; n: samples ringo/go[/{label}]")
        if any(r[BASELINE] for r in rows):
            progs = ", ".join(os.path.basename(benches[n][BASELINE]) for n in names
                              if any(r["bench"] == n and r[BASELINE] for r in rows))
            print(f"{label}: the same work in plain C without ringo"
                  f" (bench/baseline/: {progs}); ringo/{label} as ringo/go")
    else:
        print("(no figures collected)")
    for w in warnings:
        print(f"warning: {w}")
    if skips:
        print(f"\n{len(skips)} run(s) skipped:")
        for f in skips:
            print(f"  round {f['round']} {f['bench']} ({f['side']}): {f['skipped']}")
    if failures:
        print(f"\n{len(failures)} run(s) FAILED:")
        for f in failures:
            print(f"  round {f['round']} {f['bench']} ({f['side']}): {f['error']}")

    json_path = a.json or os.path.join(a.build, "bench", "results.json")
    doc = {
        "header": header_lines(go_bins, a.profile, rounds),
        "profile": a.profile,
        "rounds": rounds,
        "args": {n: prof["args"].get(n, []) for n in names},
        "runs": runs,
        "summary": rows,
        "warnings": warnings,
        "interrupted": interrupted,
    }
    try:
        with open(json_path, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
    except OSError as e:
        eprint(f"bench.py: cannot write {json_path}: {e}")
        return 1
    print(f"raw samples written to {json_path}")
    plot(json_path, os.path.join(a.build, "bench", "plots"))

    if interrupted:
        return 130
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
