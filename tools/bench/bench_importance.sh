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
. tools/bench/layouts.sh
sweep_once() {
    $MPIRUN "$BIN" importance --model "$MODEL" --metric mi --calib "$CALIB" --samples "$N" --seq-len "$T" \
        --pipeline "$P" --json "$out/j.json" > "$out/log" 2>&1 || { cat "$out/log"; exit 1; }
    fw=$(grep -o '[0-9]* block forwards' "$out/log" | cut -d' ' -f1)
    /usr/bin/python3 -c "import json;print(json.load(open('$out/j.json'))['seconds'], $fw)" >> "$out/t_$tag"
}
for_layouts "$R" sweep_once
echo "mi sweep on $(basename "$MODEL"), $N windows x $T tokens"
/usr/bin/python3 tools/bench/scaling_summary.py "$out" "$(nproc)" "$LAYOUTS" "block forwards"
