#!/usr/bin/python3
"""FuseGPT's group fine-tuning loss curves from `depthfuse compress --method fusegpt --json` reports,
one panel per report, one curve per fusion (epoch 0: before any step), drawn by gnuplot into a PNG.

  tools/plot_fusegpt.py -o docs/fusegpt-loss.png build/fusegpt/A.run.json [more reports...]
"""
import argparse
import os

from plot_common import draw, fail as fail_as, load_report


def load(path):
    r = load_report("plot_fusegpt", path, ("method", "fusegpt"), "compress --method fusegpt report")
    if not r["fusegpt"].get("iterations"):
        fail_as("plot_fusegpt", f"{path}: no fusion iterations")
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--out", required=True, help="the PNG to write")
    ap.add_argument("reports", nargs="+", metavar="REPORT.json")
    a = ap.parse_args()
    reports = [load(p) for p in a.reports]

    def make_script(tmp, png):
        s = [f"set terminal pngcairo noenhanced size 900,{len(reports) * 300 + 40} font 'sans,9'", f"set output '{png}'",
             f"set multiplot layout {len(reports)},1 title 'FuseGPT group fine-tuning loss' font 'sans,11'",
             "set grid", "set key outside right", "set xlabel 'epoch'", "set ylabel 'loss'", "set logscale y"]
        for i, r in enumerate(reports):
            fg = r["fusegpt"]
            curves = []
            for k, it in enumerate(fg["iterations"]):
                dat = os.path.join(tmp, f"r{i}-{k}.dat")
                with open(dat, "w") as f:
                    for e, v in enumerate([it["loss_init"]] + it["loss"]):
                        f.write(f"{e} {v}\n")
                g = it["group"]
                curves.append(f"'{dat}' using 1:2 with linespoints title 'fusion {k + 1}: block {it['block']} "
                              f"into {g[0]}..{g[1]}'")
            s.append(f"set title '{os.path.basename(a.reports[i])}: {fg['samples']} x {fg['seq_len']} tokens; "
                     f"{fg['options']}' font 'sans,8'")
            s.append("plot " + ", ".join(curves))
        s.append("unset multiplot")
        return "\n".join(s) + "\n"

    draw("plot_fusegpt", a.out, make_script)
    print(f"{a.out}: {len(reports)} panel(s)")


if __name__ == "__main__":
    main()
