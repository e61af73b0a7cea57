#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Draw the figures of a bench.py run.

Usage:
    bench_plot.py RESULTS.json [--out DIR]

RESULTS.json is what scripts/bench.py writes (BUILD/bench/results.json by
default).  Two pictures go to DIR (default: the plots/ folder beside the
JSON file), each as SVG and PNG:

  ratios    one row per figure: the ratio ringo/go, and ringo/<baseline>
            where the benchmark has a baseline side, taken round by round
            (the sides of one round run back to back); the point is the
            median over the rounds, the whiskers the min..max.  The ratio
            axis is logarithmic with a line at 1.0.  Each row is shaded
            on the side of 1.0 where ringo's figure is the better one,
            green, and the other side red; which way is better comes from
            the unit, as in bench.py's table (bench.direction: lower for
            times, sizes and threads, higher for rates).  Figures that only
            one side prints, whose sides use different units, or that are
            zero, have no ratio and are listed under the picture.
  latency   the latency figures (names with a p50, p90, p95, p99, p999 or
            max part, or "lat", in a unit of time): one panel per figure
            with every round's value of each side, its median (bar) and
            min..max (line).  Not drawn when the run has none.

The paths written are printed, one per line.  matplotlib is optional (Debian
package python3-matplotlib): without it one line says the plots were skipped
and the exit status is 0.  Exit status 2 for an unreadable JSON file or a
bad command line.
"""

import argparse
import json
import math
import os
import re
import statistics
import sys
import textwrap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import ALL_SIDES, BASELINE, RINGO_ONLY, direction  # noqa: E402

TIME_UNITS = {"ns", "us", "ms", "s"}
LATENCY_RE = re.compile(r"(?:^|_)(?:p50|p90|p95|p99|p999|p9999|max)(?:_|$)|lat")

COLOR = {"ringo": "#7d3c98", "go": "#00add8", BASELINE: "#7f8c8d"}
BETTER_BG, WORSE_BG = "#dff3e4", "#fbe3e0"
BETTER_FG, WORSE_FG, EVEN_FG = "#1e8449", "#c0392b", "#34495e"
SYSTEM_PYTHON = "/usr/bin/python3"


def die(msg):
    print(f"bench_plot.py: {msg}", file=sys.stderr)
    sys.exit(2)


# --------------------------------------------------------------------------
# Reading a run
# --------------------------------------------------------------------------
def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        die(f"cannot read {path}: {e}")
    if not isinstance(doc, dict) or not isinstance(doc.get("runs"), list) \
            or not isinstance(doc.get("summary"), list):
        die(f"{path}: not a bench.py results file (no 'runs' and 'summary')")
    return doc


def samples_by_round(doc):
    """{(bench, metric): {side: {round: value}}}, from the runs that did not
    fail (bench.py leaves a failed run's figures out of its table too)."""
    out = {}
    for r in doc["runs"]:
        if r.get("error") or r.get("skipped"):
            continue
        for name, mv in r.get("metrics", {}).items():
            out.setdefault((r["bench"], name), {}).setdefault(
                r["side"], {})[r["round"]] = mv["value"]
    return out


def baseline_names(doc):
    """{bench: what its baseline is called}: the <how> of
    bench/baseline/<bench>_<how> (kv_redis: "redis"), else "baseline"."""
    out = {}
    for r in doc["runs"]:
        if r["side"] == BASELINE and r.get("cmd"):
            prog = os.path.basename(r["cmd"][0])
            how = prog[len(r["bench"]) + 1:] if prog.startswith(r["bench"] + "_") else ""
            out[r["bench"]] = how or BASELINE
    return out


def title_lines(doc, what):
    head = doc.get("header") or []
    rounds = doc.get("rounds", "?")
    prof = f"profile {doc.get('profile', '?')}, {rounds} round{'' if rounds == 1 else 's'}"
    lines = [f"{what} ({prof})"]
    if head:
        lines.append(head[0])
    lines += [h for h in head[2:] if h.startswith("environment:")]
    if doc.get("interrupted"):
        lines.append("(interrupted run: only the rounds done)")
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Ratios
# --------------------------------------------------------------------------
def ratio_rows(doc, samples, bnames):
    """One entry per figure with a ratio; and the figures without one: the
    ringo-only ones (bench.RINGO_ONLY) as one "prefix* (count)" each."""
    rows, without, only = [], [], {}
    for s in doc["summary"]:
        key = (s["bench"], s["metric"])
        by_side = samples.get(key, {})
        ringo = by_side.get("ringo", {})
        d = 0 if s.get("unit_mismatch") else direction(s["unit"])
        ratios = []
        for other in ("go", BASELINE):
            theirs = by_side.get(other, {})
            per_round = [ringo[k] / theirs[k] for k in sorted(ringo)
                         if k in theirs and theirs[k] > 0 and ringo[k] > 0]
            if not per_round:
                continue
            label = "go" if other == "go" else bnames.get(s["bench"], BASELINE)
            ratios.append({"side": other, "label": label,
                           "median": statistics.median(per_round),
                           "min": min(per_round), "max": max(per_round)})
        if s.get("unit_mismatch") or not ratios:
            prefix = [p for p in RINGO_ONLY.get(s["bench"], ()) if s["metric"].startswith(p)]
            if prefix and not by_side.get("go"):
                if prefix[0] not in only:
                    without.append(prefix[0])
                only[prefix[0]] = only.get(prefix[0], 0) + 1
            else:
                without.append(s["metric"])
            continue
        rows.append({"bench": s["bench"], "metric": s["metric"], "unit": s["unit"],
                     "dir": d, "ratios": ratios})
    return rows, [f"{w}* ({only[w]}, ringo only)" if w in only else w for w in without]


def verdict(rt, d):
    """+1 when every round has ringo better, -1 when every round has it
    worse, 0 when the rounds straddle 1.0 or the unit gives no direction."""
    if d == 0:
        return 0
    if rt["max"] < 1.0:
        return 1 if d < 0 else -1
    if rt["min"] > 1.0:
        return 1 if d > 0 else -1
    return 0


def ratio_ticks(lo, hi):
    """Tick values for a log axis from lo to hi: thirds, halves and 0.8/1.25
    steps within a decade, powers of two up to a few, 1-2-5 beyond."""
    span = math.log10(hi / lo)
    if span <= 1.1:
        cand = [0.25, 0.33, 0.5, 0.67, 0.8, 1, 1.25, 1.5, 2, 3, 4]
    elif span <= 2.6:
        cand = [2.0 ** e for e in range(-8, 9)]
    else:
        cand = [t * 10.0 ** e for e in range(-6, 7) for t in (1, 2, 5)]
    return [t for t in cand if lo <= t <= hi]


def ratio_text(v):
    return f"{v:.2g}" if v < 0.1 else f"{v:.2f}"


def draw_ratios(plt, doc, rows, without, out):
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    lo = min(rt["min"] for r in rows for rt in r["ratios"])
    hi = max(rt["max"] for r in rows for rt in r["ratios"])
    # At least 0.5..2, so that 1.0 has room on both sides; a margin beyond.
    pad = 10 ** (0.06 * max(1.0, math.log10(max(hi, 2.0) / min(lo, 0.5))))
    xlim = (min(lo, 0.5) / pad, max(hi, 2.0) * pad)

    # Geometry in inches: names on the left, two text columns on the right.
    n = len(rows)
    row_h = 0.4 if n <= 40 else 0.32
    left = 0.3 + 0.078 * max(len(r["metric"]) for r in rows)
    right = 3.3
    fig_w = max(11.0, left + right + 5.0)
    width = int(fig_w * 0.97 / 0.055)  # characters of 7.5 pt text
    note = textwrap.wrap("point: median over the rounds of ringo's figure divided by "
                         "the other side's in the same round; whiskers: the smallest "
                         "and largest of those ratios.  A row's left half is ringo's "
                         "better side when lower is better, its right half when "
                         "higher is.", width)
    if without:
        note += textwrap.wrap("no ratio (printed by one side only, in different units, "
                              "or zero): " + ", ".join(without), width)
    top = 1.05 if n > 12 else 0.8
    bottom = 1.35 + 0.15 * len(note)
    fig_h = top + bottom + row_h * n
    fig = plt.figure(figsize=(fig_w, fig_h))
    ax = fig.add_axes([left / fig_w, bottom / fig_h, (fig_w - left - right) / fig_w,
                       row_h * n / fig_h])
    ax.set_xscale("log")
    ax.set_xlim(*xlim)
    ax.set_ylim(n - 0.5, -0.5)

    def side_text(y, text, dx, va="center", **kw):
        ax.annotate(text, xy=(1.0, y), xycoords=("axes fraction", "data"),
                    xytext=(dx, 0), textcoords="offset points", va=va,
                    ha="left", fontsize=8, annotation_clip=False, **kw)

    for i, r in enumerate(rows):
        d = r["dir"]
        if d:
            lbg, rbg = (BETTER_BG, WORSE_BG) if d < 0 else (WORSE_BG, BETTER_BG)
            ax.fill_betweenx([i - 0.5, i + 0.5], xlim[0], 1.0, color=lbg, lw=0)
            ax.fill_betweenx([i - 0.5, i + 0.5], 1.0, xlim[1], color=rbg, lw=0)
        k = len(r["ratios"])
        texts = []
        for j, rt in enumerate(r["ratios"]):
            y = i + (j - (k - 1) / 2) * 0.32
            v = verdict(rt, d)
            c = BETTER_FG if v > 0 else WORSE_FG if v < 0 else EVEN_FG
            ax.plot([rt["min"], rt["max"]], [y, y], color=c, lw=1.6, zorder=3)
            for x in (rt["min"], rt["max"]):
                ax.plot([x, x], [y - 0.1, y + 0.1], color=c, lw=1.6, zorder=3)
            if rt["side"] == "go":
                ax.plot([rt["median"]], [y], "o", color=c, ms=7, mec="white", mew=0.8,
                        zorder=4)
            else:
                ax.plot([rt["median"]], [y], "D", color=c, ms=6, mec="white", mew=0.8,
                        zorder=4)
            texts.append(f"{rt['label']} {ratio_text(rt['median'])}")
        how = {-1: "lower is better", 1: "higher is better", 0: "no direction"}[d]
        side_text(i, f"{r['unit']}, {how}", 8, color="#555555")
        side_text(i, "   ".join(texts), 118, family="monospace")
    side_text(-0.5, "unit, ringo's better way", 8, color="#555555", va="bottom",
              style="italic")
    side_text(-0.5, "median ratio ringo/...", 118, color="#555555", va="bottom",
              style="italic")
    for i in range(1, n):
        same = rows[i]["bench"] == rows[i - 1]["bench"]
        ax.axhline(i - 0.5, color="white" if same else "#777777",
                   lw=0.6 if same else 0.9, zorder=2)

    ax.axvline(1.0, color="black", lw=1.5, zorder=2)
    ax.set_yticks(range(n))
    ax.set_yticklabels([r["metric"] for r in rows], fontsize=9, family="monospace")
    ax.tick_params(axis="y", length=0)
    ax.xaxis.set_major_locator(FixedLocator(ratio_ticks(*xlim)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.tick_params(axis="x", labelsize=9, top=True, labeltop=n > 12)
    ax.grid(axis="x", color="#aaaaaa", lw=0.5, zorder=1)
    ax.set_axisbelow(True)
    ax.set_xlabel("ratio ringo / other side (log scale; 1.0: the same figure)",
                  fontsize=9)

    legend = [Line2D([], [], marker="o", color=EVEN_FG, label="ringo / go")]
    if any(rt["side"] == BASELINE for r in rows for rt in r["ratios"]):
        legend.append(Line2D([], [], marker="D", ms=5, color=EVEN_FG,
                             label="ringo / baseline (named on the right)"))
    legend += [
        Patch(color=BETTER_BG, label="ringo's figure better"),
        Patch(color=WORSE_BG, label="ringo's figure worse"),
        Line2D([], [], color=BETTER_FG, lw=2, label="better in every round"),
        Line2D([], [], color=WORSE_FG, lw=2, label="worse in every round"),
        Line2D([], [], color=EVEN_FG, lw=2, label="rounds on both sides of 1.0"),
    ]
    fig.legend(handles=legend, loc="upper center", ncol=4, fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, (0.3 + 0.15 * len(note) + 0.5) / fig_h))
    fig.text(0.012, 0.12 / fig_h, "\n".join(note), fontsize=7.5, color="#444444",
             va="bottom", linespacing=1.35)
    fig.text(0.012, 1 - 0.1 / fig_h,
             title_lines(doc, "ringo vs go and the baselines, figure by figure"),
             fontsize=10, va="top", linespacing=1.5)
    return save(fig, plt, out, "ratios")


# --------------------------------------------------------------------------
# Latency distributions
# --------------------------------------------------------------------------
def latency_rows(doc, samples, bnames):
    rows = []
    for s in doc["summary"]:
        if s.get("unit_mismatch") or s["unit"] not in TIME_UNITS:
            continue
        if not LATENCY_RE.search(s["metric"]):
            continue
        by_side = samples.get((s["bench"], s["metric"]), {})
        sides = [(side, bnames.get(s["bench"], BASELINE) if side == BASELINE else side,
                  [by_side[side][k] for k in sorted(by_side[side])])
                 for side in ALL_SIDES if by_side.get(side)]
        if sides:
            rows.append({"bench": s["bench"], "metric": s["metric"], "unit": s["unit"],
                         "sides": sides})
    return rows


def draw_latency(plt, doc, rows, out):
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ncol = min(4, len(rows))
    nrow = math.ceil(len(rows) / ncol)
    fig_w, panel_h = max(10.0, 3.0 * ncol + 0.4), 2.15
    fig_h = 1.75 + panel_h * nrow
    fig, axes = plt.subplots(nrow, ncol, figsize=(fig_w, fig_h), squeeze=False)
    for ax in axes.flat[len(rows):]:
        ax.set_visible(False)
    for ax, r in zip(axes.flat, rows):
        allv = [v for _, _, vals in r["sides"] for v in vals]
        lo, hi = min(allv), max(allv)
        logy = lo > 0 and hi / lo > 20
        for x, (side, label, vals) in enumerate(r["sides"]):
            c = COLOR[side]
            m = len(vals)
            xs = [x + (0.3 * (j / (m - 1) - 0.5) if m > 1 else 0) for j in range(m)]
            ax.plot([x, x], [min(vals), max(vals)], color=c, lw=1, alpha=0.6, zorder=2)
            ax.scatter(xs, vals, s=16, color=c, alpha=0.75, edgecolor="none", zorder=3)
            med = statistics.median(vals)
            ax.plot([x - 0.28, x + 0.28], [med, med], color=c, lw=2.4, zorder=4)
        ax.set_xticks(range(len(r["sides"])))
        ax.set_xticklabels([label for _, label, _ in r["sides"]], fontsize=8)
        half = max(len(r["sides"]) / 2, 1.2)  # one side alone: a narrow strip
        ax.set_xlim((len(r["sides"]) - 1) / 2 - half, (len(r["sides"]) - 1) / 2 + half)
        if logy:
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        else:
            ax.set_ylim(0, hi * 1.12 if hi > 0 else 1)
        ax.set_title(r["metric"], fontsize=8.5, family="monospace")
        ax.set_ylabel(r["unit"] + (" (log)" if logy else ""), fontsize=8)
        ax.tick_params(axis="y", labelsize=7.5)
        ax.grid(axis="y", color="#dddddd", lw=0.5)
        ax.set_axisbelow(True)

    legend = [Line2D([], [], marker="o", ls="", color=COLOR["ringo"], label="ringo"),
              Line2D([], [], marker="o", ls="", color=COLOR["go"], label="go")]
    bases = sorted({label for r in rows for side, label, _ in r["sides"]
                    if side == BASELINE})
    if bases:
        legend.append(Line2D([], [], marker="o", ls="", color=COLOR[BASELINE],
                             label=f"baseline ({', '.join(bases)}): without ringo"))
    legend += [Line2D([], [], color="#333333", lw=2.4, label="median over the rounds"),
               Line2D([], [], color="#333333", lw=1, label="min..max")]
    fig.legend(handles=legend, loc="lower center", ncol=len(legend), fontsize=8,
               frameon=False, bbox_to_anchor=(0.5, 0.05 / fig_h))
    dirs = {direction(r["unit"]) for r in rows}
    what = "latency figures, every round of each side"
    if dirs == {-1}:
        what += "; lower is better"
    fig.suptitle(title_lines(doc, what), fontsize=10, x=0.01, ha="left", y=0.995,
                 va="top")
    fig.subplots_adjust(left=0.07 if ncol > 2 else 0.14, right=0.98,
                        top=1 - 1.0 / fig_h, bottom=0.75 / fig_h,
                        hspace=0.55, wspace=0.35)
    return save(fig, plt, out, "latency")


# --------------------------------------------------------------------------
def save(fig, plt, out, name):
    paths = []
    for ext, kw in (("svg", {}), ("png", {"dpi": 110})):
        p = os.path.join(out, f"{name}.{ext}")
        fig.savefig(p, **kw)
        paths.append(p)
    plt.close(fig)
    return paths


def remove_stale(out, name):
    """A picture this run has nothing for must not outlive an older run's."""
    for ext in ("svg", "png"):
        try:
            os.unlink(os.path.join(out, f"{name}.{ext}"))
        except FileNotFoundError:
            pass


def main():
    ap = argparse.ArgumentParser(
        description="Draw the ratios and latency pictures of a bench.py run.")
    ap.add_argument("json", metavar="RESULTS.json",
                    help="what bench.py wrote (BUILD/bench/results.json)")
    ap.add_argument("--out", metavar="DIR",
                    help="where to write the pictures (default: plots/ beside the JSON)")
    a = ap.parse_args()
    doc = load(a.json)
    out = a.out or os.path.join(os.path.dirname(os.path.abspath(a.json)), "plots")

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        # Debian's python3-matplotlib serves the system interpreter, which
        # may not be the one running this (a virtualenv, pyenv).
        if os.path.exists(SYSTEM_PYTHON) and \
                os.path.realpath(sys.executable) != os.path.realpath(SYSTEM_PYTHON):
            sys.stdout.flush()
            os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON] + sys.argv)
        print(f"plots: skipped, {sys.executable} cannot import matplotlib ({e}); "
              "install python3-matplotlib to get them")
        return 0

    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        die(f"cannot make {out}: {e}")
    samples = samples_by_round(doc)
    bnames = baseline_names(doc)
    plt.rcParams["svg.fonttype"] = "none"  # text stays text in the SVG

    paths = []
    rows, without = ratio_rows(doc, samples, bnames)
    if rows:
        paths += draw_ratios(plt, doc, rows, without, out)
    else:
        remove_stale(out, "ratios")
        print("plots: no figure printed by ringo and another side; no ratios picture")
    lat = latency_rows(doc, samples, bnames)
    if lat:
        paths += draw_latency(plt, doc, lat, out)
    else:
        remove_stale(out, "latency")
        print("plots: no latency figures in this run; no latency picture")
    for p in paths:
        print(f"plot: {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
