#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Run one ringo program under several RINGO_* settings and compare them.

Usage:
    variants.py [--rounds R] [--timeout S] [--json FILE]
                --variant NAME=ENV [--variant NAME=ENV ...] -- PROGRAM [ARGS...]

ENV is what the variant adds to the environment: either a RINGO_DEBUG value
("softaffinity=0,ppin=0"), or VAR=VALUE pairs separated by spaces
("RINGO_DEBUG=ppin=1 RINGO_NUMA_TOPOLOGY=p0-1;p2-3"); an empty ENV runs
the program as it is.  The first variant is the reference.  Every round
runs each variant once, the order rotated by one from one round to the
next, so that a variant is not always the first (or the last) to run on a
machine whose speed drifts.  The program prints lines "name: value unit",
as the benchmarks in bench/ do; the table gives, per figure, each variant's
median, its min..max, and its median over the reference's.

An experiment is one variable, for example soft affinity, pinning and
neither on pingpong:

    scripts/variants.py --rounds 9 --variant soft= \\
        --variant neither=softaffinity=0 --variant pinned=ppin=1 \\
        -- build/bench/pingpong -n 300000

Exit status: 0, or 1 when a run failed (non-zero exit, timeout, no
figures), 2 for usage errors.  Only the Python standard library is used.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import fmt, parse_output  # noqa: E402


def variant_env(spec):
    """The environment additions of one variant's ENV text."""
    spec = spec.strip()
    if not spec:
        return {}
    if not any(w.partition("=")[0].startswith("RINGO_") for w in spec.split()):
        return {"RINGO_DEBUG": spec}
    env = {}
    for word in spec.split():
        var, eq, val = word.partition("=")
        if not eq or not var:
            raise ValueError(f"'{word}' is not VAR=VALUE")
        env[var] = val
    return env


def parse_variants(specs):
    variants = []
    for spec in specs:
        name, eq, rest = spec.partition("=")
        if not eq or not name:
            raise ValueError(f"--variant '{spec}': expected NAME=ENV")
        if any(name == n for n, _ in variants):
            raise ValueError(f"--variant '{spec}': {name} given twice")
        variants.append((name, variant_env(rest)))
    return variants


def run(cmd, extra, timeout):
    env = dict(os.environ)
    env.update(extra)
    try:
        p = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout} s"
    except OSError as e:
        return None, str(e)
    metrics, _, _ = parse_output(p.stdout)
    if p.returncode != 0:
        return None, f"exit status {p.returncode}: {p.stderr.strip()[-300:]}"
    if not metrics:
        return None, "no figures printed"
    return metrics, None


def main():
    ap = argparse.ArgumentParser(
        description="Compare one program under several RINGO_* settings.")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--json", help="write every run's figures here")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=ENV")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    try:
        variants = parse_variants(a.variant)
    except ValueError as e:
        ap.error(str(e))
    if len(variants) < 2:
        ap.error("give at least two --variant")
    if not cmd:
        ap.error("no program given (after --)")
    if a.rounds < 1:
        ap.error("--rounds must be at least 1")

    samples = {name: {} for name, _ in variants}  # name -> metric -> [values]
    units, decimals, order, log, failures = {}, {}, [], [], 0
    for rnd in range(a.rounds):
        k = rnd % len(variants)
        for name, extra in variants[k:] + variants[:k]:
            metrics, err = run(cmd, extra, a.timeout)
            log.append({"round": rnd, "variant": name, "env": extra, "error": err,
                        "metrics": {m: v[0] for m, v in (metrics or {}).items()}})
            if err:
                failures += 1
                print(f"variants: round {rnd + 1}, {name}: {err}", file=sys.stderr)
                continue
            for m, (v, unit, dec) in metrics.items():
                if m not in units:
                    order.append(m)
                units[m] = unit
                decimals[m] = dec if m not in decimals else max_dec(decimals[m], dec)
                samples[name].setdefault(m, []).append(v)

    ref = variants[0][0]
    print(f"program: {' '.join(cmd)}")
    print(f"rounds: {a.rounds}, order rotated each round; reference: {ref}")
    for name, extra in variants:
        shown = " ".join(f"{k}={v}" for k, v in extra.items()) or "(nothing added)"
        print(f"  {name}: {shown}")
    width = max([len(m) for m in order] + [6])
    print(f"{'metric':<{width}} | {'unit':<7} | {'variant':<12} | {'median':>14} | "
          f"{'min..max':<24} | /{ref}")
    for m in order:
        base = samples[ref].get(m)
        base_med = statistics.median(base) if base else None
        for name, _ in variants:
            vals = samples[name].get(m)
            if not vals:
                continue
            med = statistics.median(vals)
            ratio = f"{med / base_med:.3f}" if base_med else "-"
            rng = f"{fmt(min(vals), decimals[m])}..{fmt(max(vals), decimals[m])}"
            print(f"{m:<{width}} | {units[m]:<7} | {name:<12} | "
                  f"{fmt(med, decimals[m]):>14} | {rng:<24} | {ratio}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"cmd": cmd, "variants": dict(variants), "runs": log}, f, indent=1)
    return 1 if failures else 0


def max_dec(a, b):
    if a is None or b is None:
        return None
    return max(a, b)


if __name__ == "__main__":
    sys.exit(main())
