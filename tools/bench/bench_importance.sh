#!/bin/sh
# The Macro Influence sweep at -np 1 vs -np 2 (candidates dealt to 2 data-parallel groups; and 2
# pipeline stages), side by side in one run, repeated: seconds (min/median), the speed-ups, and the
# block forwards each layout runs. Every layout uses all the cores; a row at -np 1 with one thread
# gives what one core does. Usage: tools/bench/bench_importance.sh [REPEATS] [SAMPLES] [SEQ]
set -eu
cd "$(dirname "$0")/../.."
R=${1:-3}; N=${2:-8}; T=${3:-512}
BIN=${DF_BIN:-build/depthfuse}
FLAGS="--oversubscribe --bind-to none" # each rank its share of the cores (threads per rank = cores / ranks)
[ "$(id -u)" -eq 0 ] && FLAGS="$FLAGS --allow-run-as-root"
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
for i in $(seq "$R"); do
    for lay in 1:1:1 1:1 2:1 2:2; do
        np=${lay%%:*}; P=$(echo "$lay" | cut -d: -f2); th=$(echo "$lay:" | cut -d: -f3)
        tag=${np}_$P${th:+_1t}
        mpirun -q -np "$np" $FLAGS ${th:+-x OPENBLAS_NUM_THREADS=1} "$BIN" importance --model tests/fixtures/models/base-16L --metric mi \
            --calib tests/fixtures/data/calib.train.txt --samples "$N" --seq-len "$T" --pipeline "$P" \
            --json "$out/j.json" > "$out/log" 2>&1
        fw=$(grep -o '[0-9]* block forwards' "$out/log" | cut -d' ' -f1)
        /usr/bin/python3 -c "import json;print(json.load(open('$out/j.json'))['seconds'], $fw)" >> "$out/t_$tag"
    done
done
/usr/bin/python3 - "$out" "$(nproc)" "$N" "$T" <<'PY'
import sys, statistics as st
d, cores, n, t = sys.argv[1:]
res = {}
print(f"mi sweep on base-16L, {n} windows x {t} tokens, {cores} cores")
for lay, name in (("1_1_1t", "np 1, 1 thread"), ("1_1", "np 1 (P=1, D=1)"), ("2_1", "np 2 (P=1, D=2)"),
                  ("2_2", "np 2 (P=2, D=1)")):
    rows = [tuple(map(float, l.split())) for l in open(f"{d}/t_{lay}")]
    secs = sorted(r[0] for r in rows)
    res[lay] = (min(secs), st.median(secs))
    print(f"{name:18s} {min(secs):7.2f} s best, {st.median(secs):7.2f} s median ({len(secs)} runs); "
          f"{int(rows[0][1])} block forwards")
b, one = res["1_1"], res["1_1_1t"]
for lay, name in (("2_1", "D=2"), ("2_2", "P=2")):
    print(f"speed-up np 2 {name} vs np 1: {b[0]/res[lay][0]:.2f}x best, {b[1]/res[lay][1]:.2f}x median; "
          f"vs one core {one[0]/res[lay][0]:.2f}x best")
print(f"np 1 on {cores} threads vs one core: {one[0]/b[0]:.2f}x best")
PY
