#!/usr/bin/python3
"""Perplexity and zero-shot accuracy against the number of removed blocks, one line per method, from
the JSON files of `depthfuse eval --json`; drawn by gnuplot (Debian's gnuplot-nox) into a PNG.

  tools/plot_results.py -o docs/eval-depth.png --base docs/results/base-16L.json \
      ShortGPT=docs/results/bi-2.json,docs/results/bi-4.json SLEB=docs/results/sleb-2.json

Removed blocks = the base's blocks - a file's blocks; the base is every line's first point. One
panel per perplexity file and per task present in every file (or those named by --only), and the
mean accuracy over the tasks: acc solid, acc_norm dashed, chance dotted.
"""
import argparse
import math
import os

from plot_common import draw, fail as fail_as, load_report

COLUMNS = 4


def fail(msg):
    fail_as("plot_results", msg)


def load(path):
    return load_report("plot_results", path, ("blocks", "perplexity", "tasks"), "depthfuse eval --json report")


def parse_methods(specs):
    methods = []
    for spec in specs:
        name, sep, files = spec.partition("=")
        if not sep or not name or not files:
            fail(f"'{spec}': expected METHOD=FILE.json[,FILE.json...]")
        methods.append((name, [load(p) for p in files.split(",")]))
    return methods


def panels(reports, only):
    """(kind, key) for the perplexity files and tasks every report has, in the base's order"""
    base = reports[0]
    ppl = [k for k in base["perplexity"] if all(k in r["perplexity"] for r in reports)]
    tasks = [k for k in base["tasks"] if all(k in r["tasks"] for r in reports)]
    if only:
        missing = [k for k in only if k not in ppl + tasks]
        if missing:
            fail(f"--only: not in every report: {', '.join(missing)}")
        ppl, tasks = [k for k in ppl if k in only], [k for k in tasks if k in only]
    out = [("ppl", k) for k in ppl] + [("task", k) for k in tasks]
    if len(tasks) > 1:
        out.append(("mean", tasks))
    if not out:
        fail("the reports have no perplexity file or task in common")
    return out


def point(report, kind, key):
    """(y, y2) of one report in one panel: perplexity; acc and acc_norm; mean acc and acc_norm"""
    if kind == "ppl":
        return report["perplexity"][key], None
    if kind == "task":
        t = report["tasks"][key]
        return t["acc"], t.get("acc_norm")
    accs = [report["tasks"][k]["acc"] for k in key]
    norms = [report["tasks"][k].get("acc_norm", report["tasks"][k]["acc"]) for k in key]
    return sum(accs) / len(accs), sum(norms) / len(norms)


def chance(report, kind, key):
    if kind == "task":
        return report["tasks"][key]["chance"]
    if kind == "mean":
        return sum(report["tasks"][k]["chance"] for k in key) / len(key)
    return None


def write_data(tmp, lines, base_blocks, plist):
    """one file per (line, panel): removed blocks, y, y2 ("NaN" when absent)"""
    files = {}
    for li, (name, reports) in enumerate(lines):
        for pi, (kind, key) in enumerate(plist):
            rows = sorted((base_blocks - r["blocks"],) + point(r, kind, key) for r in reports)
            path = os.path.join(tmp, f"l{li}_p{pi}.dat")
            with open(path, "w") as f:
                for x, y, y2 in rows:
                    f.write(f"{x} {y} {'NaN' if y2 is None else y2}\n")
            files[li, pi] = path
    return files


def title(kind, key):
    if kind == "ppl":
        return f"perplexity: {key}"
    if kind == "task":
        return key
    return f"mean over {len(key)} tasks"


def yrange(lines, kind, key, base):
    """the data (and the chance level) with a margin: 10% on the log scale of perplexity, 0.03 of accuracy"""
    ys = [y for _, reports in lines for r in reports for y in point(r, kind, key) if y is not None]
    if kind == "ppl":
        return min(ys) / 1.1, max(ys) * 1.1
    ys.append(chance(base, kind, key))
    return max(0.0, min(ys) - 0.03), min(1.0, max(ys) + 0.03)


def legend(lines):
    """a cell of its own, so that no panel's data hides under it"""
    s = ["unset border", "unset tics", "unset xlabel", "unset ylabel", "unset title", "unset grid",
         "set xrange [0:1]", "set yrange [0:1]", "set key center center font 'sans,10' spacing 1.3",
         "set label 1 'solid: perplexity or acc; dashed: acc_norm' at graph 0.5, graph 0.02 center"]
    items = []
    for li, (name, _) in enumerate(lines):
        items.append(f"NaN with linespoints lw 2 pt 7 lc {li + 1} title '{name}'")
        items.append(f"NaN with linespoints lw 1 dt 2 pt 6 lc {li + 1} title '{name}: acc_norm'")
    items.append("NaN with lines dt 3 lc 'gray40' title 'chance'")
    return s + ["plot " + ", ".join(items)]


def script(out, lines, plist, files, base, max_removed, pruned):
    rows = math.ceil((len(plist) + 1) / COLUMNS)   # + the legend's cell
    cols = min(COLUMNS, len(plist) + 1)
    name = f"{os.path.basename(base['model'])} ({base['blocks']} blocks)" + (" and its pruned versions" if pruned else "")
    s = [f"set terminal pngcairo noenhanced size {cols * 420},{rows * 320 + 40} font 'sans,9'",
         f"set output '{out}'",
         f"set multiplot layout {rows},{cols} title 'depthfuse eval: {name}' font 'sans,11'",
         f"set xrange [-0.5:{max(max_removed, 1) + 0.5}]", "set xtics 1" if max_removed <= 12 else "set xtics auto",
         "set xlabel 'removed blocks'", "set grid", "unset key"]
    for pi, (kind, key) in enumerate(plist):
        s.append(f"set title '{title(kind, key)}'")
        lo, hi = yrange(lines, kind, key, base)
        s.append("set logscale y" if kind == "ppl" and hi / lo > 8 else "unset logscale y")  # log once it spans decades
        s += ["set ylabel '%s'" % ("perplexity" if kind == "ppl" else "accuracy"),
              f"set yrange [{lo:g}:{hi:g}]"]
        plots = []
        for li, (name, _) in enumerate(lines):
            f = files[li, pi]
            plots.append(f"'{f}' using 1:2 with linespoints lw 2 pt 7 lc {li + 1}")
            if kind != "ppl":
                plots.append(f"'{f}' using 1:3 with linespoints lw 1 dt 2 pt 6 lc {li + 1}")
        c = chance(base, kind, key)
        if c is not None:
            plots.append(f"{c} with lines dt 3 lc 'gray40'")
        s.append("plot " + ", \\\n     ".join(plots))
    s += legend(lines)
    s.append("unset multiplot")
    return "\n".join(s) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--out", required=True, help="the PNG to write")
    ap.add_argument("--base", required=True, help="the unpruned model's report (0 removed blocks)")
    ap.add_argument("--only", help="comma-separated perplexity files and tasks to draw (default: all shared)")
    ap.add_argument("methods", nargs="*", metavar="METHOD=FILE.json[,FILE.json...]")
    a = ap.parse_args()
    base = load(a.base)
    methods = parse_methods(a.methods)
    lines = [(name, [base] + reports) for name, reports in methods] or [(os.path.basename(base["model"]), [base])]
    reports = [r for _, rs in lines for r in rs]
    plist = panels(reports, a.only.split(",") if a.only else None)
    max_removed = max(base["blocks"] - r["blocks"] for r in reports)
    draw("plot_results", a.out, lambda tmp, png: script(png, lines, plist, write_data(tmp, lines, base["blocks"], plist),
                                                         base, max_removed, bool(methods)))
    print(f"{a.out}: {len(plist)} panels, {len(lines)} line(s)")


if __name__ == "__main__":
    main()
