#!/bin/sh
# Eval throughput at -np 1 vs -np 2 (two data-parallel groups; two pipeline stages), measured side by
# side in one run, repeated; prints tokens/s (min/median of the wall time), the speed-ups and the
# peak RSS of each rank. Every layout uses all the cores (threads per rank = cores / ranks); a row at
# -np 1 with one thread gives what one core does, for the parallel efficiency. Usage: tools/bench/bench_eval_scaling.sh [REPEATS] [TEXT] [MODEL]
set -eu
cd "$(dirname "$0")/../.."
R=${1:-3}
TEXT=${2:-tests/fixtures/data/kjv.test.txt}
MODEL=${3:-tests/fixtures/models/base-16L}
FLAGS="--oversubscribe --bind-to none" # each rank its share of the cores (threads per rank = cores / ranks)
[ "$(id -u)" -eq 0 ] && FLAGS="$FLAGS --allow-run-as-root"
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
for i in $(seq "$R"); do
    for lay in 1:1:1 1:1 2:1 2:2; do
        np=${lay%%:*}; P=$(echo "$lay" | cut -d: -f2); th=$(echo "$lay:" | cut -d: -f3)
        tag=${np}_$P${th:+_1t}
        mpirun -q -np "$np" $FLAGS ${th:+-x OPENBLAS_NUM_THREADS=1} /usr/bin/time -f "rss_kb %M" -a -o "$out/rss_$tag" \
            build/depthfuse eval --model "$MODEL" --ppl "$TEXT" --pipeline "$P" --json "$out/e.json" > "$out/log" 2>&1
        /usr/bin/python3 -c "import json;j=json.load(open('$out/e.json'));print(j['seconds'],list(j['tokens'].values())[0])" \
            >> "$out/t_$tag"
    done
done
/usr/bin/python3 - "$out" "$(nproc)" <<'PY'
import sys, statistics as st
d, cores = sys.argv[1], sys.argv[2]
res = {}
for lay, name in (("1_1_1t", "np 1, 1 thread"), ("1_1", "np 1 (P=1, D=1)"), ("2_1", "np 2 (P=1, D=2)"),
                  ("2_2", "np 2 (P=2, D=1)")):
    rows = [tuple(map(float, l.split())) for l in open(f"{d}/t_{lay}")]
    secs = sorted(r[0] for r in rows); tok = rows[0][1]
    rss = [int(l.split()[1]) for l in open(f"{d}/rss_{lay}") if l.startswith("rss_kb")]
    res[lay] = (min(secs), st.median(secs), tok)
    print(f"{name:18s} {tok/min(secs):9.0f} tok/s best, {tok/st.median(secs):9.0f} median "
          f"({min(secs):.2f}/{st.median(secs):.2f} s, {len(secs)} runs)  peak RSS per rank {max(rss)/1024:.0f} MiB")
b, one = res["1_1"], res["1_1_1t"]
for lay, name in (("2_1", "D=2"), ("2_2", "P=2")):
    print(f"speed-up np 2 {name} vs np 1: {b[0]/res[lay][0]:.2f}x best, {b[1]/res[lay][1]:.2f}x median; "
          f"vs one core {one[0]/res[lay][0]:.2f}x best  ({cores} cores)")
print(f"np 1 on {cores} threads vs one core: {one[0]/b[0]:.2f}x best")
PY
