#!/usr/bin/python3
"""Block-importance bar charts from `depthfuse importance --json` (or `prune --json`) reports, one
panel per report, drawn by gnuplot (Debian's gnuplot-nox) into a PNG.

  tools/plot_importance.py -o docs/importance.png docs/results/importance-mi.json \
      docs/results/importance-bi.json docs/results/importance-sleb.json

One-shot reports (mi, bi) show every block's score; greedy reports (sleb, mi --iterative) show
every block's score before the first removal. Removed blocks (the report's "removed", or the
greedy removal order) are drawn in a second colour and labelled with their removal step.
"""
import argparse
import os

from plot_common import draw, fail as fail_as, load_report

LABELS = {"mi": "Macro Influence (FuseGPT): 1 - mean cos(last output, without the block)",
          "bi": "Block Influence (ShortGPT): 1 - mean cos(block input, block output)",
          "sleb": "SLEB: calibration perplexity without the block"}


def fail(msg):
    fail_as("plot_importance", msg)


def load(path):
    return load_report("plot_importance", path, ("metric", "blocks"), "depthfuse importance report")


def scores(r):
    """(score per block, {block: removal step}) of one report"""
    if "first_step_scores" in r:
        per_block = r["first_step_scores"]
    else:
        per_block = [None] * len(r["blocks"])
        for b in r["blocks"]:
            per_block[b["block"]] = b["score"]
    order = r.get("removed", r.get("removal_order", []))
    return per_block, {b: i + 1 for i, b in enumerate(order)}


def script(png, panels):
    rows = len(panels)
    s = [f"set terminal pngcairo noenhanced size 900,{rows * 260 + 40} font 'sans,9'", f"set output '{png}'",
         f"set multiplot layout {rows},1 title 'block importance ({os.path.basename(panels[0][0]['model'])}; "
         f"lower = less important)' font 'sans,11'",
         "set style fill solid 0.8 border -1", "set boxwidth 0.7", "set grid ytics", "unset key",
         "set xlabel 'block'", "set xtics 1"]
    for r, dat, n in panels:
        s.append(f"set title '{LABELS.get(r['metric'], r['metric'])}  [{r['samples']} x {r['seq_len']} tokens]'")
        s.append(f"set xrange [-0.7:{n - 0.3}]")
        s.append("set logscale y")  # block 0 dwarfs the rest on a linear scale
        s.append("set ylabel 'perplexity'" if r["metric"] == "sleb" else "set ylabel 'score'")
        s.append(f"plot '{dat}' using 1:($3 == 0 ? $2 : NaN) with boxes lc rgb '#4477aa', "
                 f"'' using 1:($3 > 0 ? $2 : NaN) with boxes lc rgb '#cc3311', "
                 f"'' using 1:($3 > 0 ? $2 : NaN):(sprintf('#%d', $3)) with labels offset 0,0.7 font 'sans,8'")
    s.append("unset multiplot")
    return "\n".join(s) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--out", required=True, help="the PNG to write")
    ap.add_argument("reports", nargs="+", metavar="REPORT.json")
    a = ap.parse_args()
    reports = [load(p) for p in a.reports]

    def make_script(tmp, png):
        panels = []
        for i, r in enumerate(reports):
            per_block, removed = scores(r)
            dat = os.path.join(tmp, f"r{i}.dat")
            with open(dat, "w") as f:
                for b, sc in enumerate(per_block):
                    f.write(f"{b} {'NaN' if sc is None else sc} {removed.get(b, 0)}\n")
            panels.append((r, dat, len(per_block)))
        return script(png, panels)

    draw("plot_importance", a.out, make_script)
    print(f"{a.out}: {len(reports)} panel(s)")


if __name__ == "__main__":
    main()
