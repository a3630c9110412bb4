#!/usr/bin/python3
"""GPTailor search histories (compress --method gptailor, OUT.history.jsonl) as a PNG: every trial's
objective against its trial number, one colour per fidelity (windows per file), and the incumbent
(the best trial at the highest fidelity so far) as a step line; several histories side by side
(e.g. tpe and random) in one panel each. Drawn by gnuplot (Debian's gnuplot-nox).

  tools/plot_gptailor.py -o docs/gptailor.png OUT.history.jsonl [OTHER.history.jsonl ...]
"""
import argparse
import json
import os

from plot_common import draw, fail as fail_as

COLOURS = ["#bbbbbb", "#66ccee", "#4477aa", "#228833", "#aa3377"]


def fail(msg):
    fail_as("plot_gptailor", msg)


def load(path):
    try:
        with open(path) as f:
            lines = [json.loads(l) for l in f if l.strip()]
    except (OSError, ValueError) as e:
        fail(f"{path}: {e}")
    if not lines or "gptailor_history" not in lines[0]:
        fail(f"{path}: not a GPTailor history (no \"gptailor_history\" header)")
    return lines[0], lines[1:]


def script(png, panels):
    rows = len(panels)
    s = [f"set terminal pngcairo noenhanced size 900,{rows * 300 + 40} font 'sans,9'", f"set output '{png}'",
         f"set multiplot layout {rows},1 title 'GPTailor search (lower objective is better)' font 'sans,11'",
         "set grid", "set key top right", "set xlabel 'trial'", "set ylabel 'objective'"]
    for title, dat, inc, budgets in panels:
        s.append(f"set title '{title}'")
        plots = [f"'{dat}' using 1:($2 == {b} ? $3 : NaN) with points pt 7 ps 0.6 lc rgb '{COLOURS[i % len(COLOURS)]}' "
                 f"title '{b} windows/file'" for i, b in enumerate(budgets)]
        plots.append(f"'{inc}' using 1:2 with steps lw 2 lc rgb '#cc3311' title 'incumbent (highest fidelity)'")
        s.append("plot " + ", ".join(plots))
    s.append("unset multiplot")
    return "\n".join(s) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--out", required=True, help="the PNG to write")
    ap.add_argument("history", nargs="+")
    a = ap.parse_args()
    runs = [(p,) + load(p) for p in a.history]

    def make(tmp, png):
        panels = []
        for i, (path, head, trials) in enumerate(runs):
            dat, inc = os.path.join(tmp, f"t{i}.dat"), os.path.join(tmp, f"i{i}.dat")
            with open(dat, "w") as f:
                for t in trials:
                    f.write(f"{t['trial']} {t['budget']} {t['objective']}\n")
            with open(inc, "w") as f:
                top = max(head["budgets"])
                for t in trials:
                    if t["budget"] == top or any(u["budget"] == top for u in trials[: t["trial"]]):
                        f.write(f"{t['trial']} {t['best_objective']}\n")
            title = (f"{os.path.basename(path)}: {head['optimizer']}, seed {head['seed']}, {len(head['candidates'])} "
                     f"candidates, remove {head['remove']}, {len(trials)} trials")
            panels.append((title, dat, inc, head["budgets"]))
        return script(png, panels)

    draw("plot_gptailor", a.out, make)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
