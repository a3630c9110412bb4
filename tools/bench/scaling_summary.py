#!/usr/bin/python3
"""The summary both scaling benches print: per layout the wall time (best/median over the repeats),
what it ran, peak RSS per rank, and its speed-up against -np 1 on every core and on one core.
Usage: scaling_summary.py DIR CORES "LAYOUTS" WHAT; DIR/t_TAG holds one line per repeat, "seconds
count" (count: tokens or block forwards, named by WHAT), DIR/rss_TAG the "rss_kb N" lines of
/usr/bin/time; a layout is NP:P, or NP:P:1 for one thread per rank (TAG = NP_P, NP_P_1t)."""
import statistics as st
import sys


def tag(layout):
    f = layout.split(":")
    return f"{f[0]}_{f[1]}" + ("_1t" if len(f) > 2 else "")


def name(layout):
    f = layout.split(":")
    np_, P = int(f[0]), int(f[1])
    return f"np {np_:2d} (P={P}, D={np_ // P})" + (", 1 thread" if len(f) > 2 else "")


def main(d, cores, layouts, what):
    res = {}
    for lay in layouts:
        rows = [tuple(map(float, l.split())) for l in open(f"{d}/t_{tag(lay)}")]
        secs = sorted(r[0] for r in rows)
        try:
            rss = max(int(l.split()[1]) for l in open(f"{d}/rss_{tag(lay)}") if l.startswith("rss_kb")) / 1024
        except (OSError, ValueError):
            rss = None
        res[lay] = (min(secs), st.median(secs), rows[0][1], rss)
    base, one = res.get("1:1"), res.get("1:1:1")
    print(f"{cores} cores; best/median of {len(secs)} runs; speed-up from the best times")
    for lay in layouts:
        best, med, count, rss = res[lay]
        rate = f"{count / best:9.0f} {what}/s" if what == "tokens" else f"{int(count):6d} {what}"
        line = f"{name(lay):28s} {best:8.2f} s {med:8.2f} s  {rate}"
        line += f"  RSS/rank {rss:5.0f} MiB" if rss else ""
        line += f"  vs np 1: {base[0] / best:5.2f}x" if base else ""
        line += f"  vs one core: {one[0] / best:5.2f}x" if one else ""
        print(line)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4])
