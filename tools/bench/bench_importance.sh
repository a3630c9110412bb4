#!/bin/sh
# The Macro Influence sweep across MPI layouts (candidates dealt to data-parallel groups; pipeline
# stages), side by side in one run, repeated: wall time (min/median), the block forwards each layout
# runs, and the speed-up of each layout against -np 1 on every core and on one core
# (tools/bench/scaling_summary.py). Every layout uses all the cores (ranks unbound). LAYOUTS as in
# bench_eval_scaling.sh; default "1:1:1 1:1 2:1 2:2".
# Usage: [LAYOUTS=...] tools/bench/bench_importance.sh [REPEATS] [SAMPLES] [SEQ] [MODEL] [CALIB]
set -eu
cd "$(dirname "$0")/../.."
R=${1:-3}; N=${2:-8}; T=${3:-512}
MODEL=${4:-tests/fixtures/models/base-16L}
CALIB=${5:-tests/fixtures/data/calib.train.txt}
BIN=${DF_BIN:-build/depthfuse}
LAYOUTS=${LAYOUTS:-1:1:1 1:1 2:1 2:2}
FLAGS="--oversubscribe --bind-to none"
[ "$(id -u)" -eq 0 ] && FLAGS="$FLAGS --allow-run-as-root"
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
for i in $(seq "$R"); do
    for lay in $LAYOUTS; do
        np=$(echo "$lay" | cut -d: -f1); P=$(echo "$lay" | cut -d: -f2); th=$(echo "$lay:" | cut -d: -f3)
        tag=${np}_$P${th:+_1t}
        mpirun -q -np "$np" $FLAGS ${th:+-x OPENBLAS_NUM_THREADS=1} "$BIN" importance --model "$MODEL" --metric mi \
            --calib "$CALIB" --samples "$N" --seq-len "$T" --pipeline "$P" --json "$out/j.json" > "$out/log" 2>&1 ||
            { cat "$out/log"; exit 1; }
        fw=$(grep -o '[0-9]* block forwards' "$out/log" | cut -d' ' -f1)
        /usr/bin/python3 -c "import json;print(json.load(open('$out/j.json'))['seconds'], $fw)" >> "$out/t_$tag"
    done
done
echo "mi sweep on $(basename "$MODEL"), $N windows x $T tokens"
/usr/bin/python3 tools/bench/scaling_summary.py "$out" "$(nproc)" "$LAYOUTS" "block forwards"
