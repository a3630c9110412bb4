#!/bin/sh
# Eval throughput across MPI layouts, measured side by side in one run, repeated: wall time
# (min/median), tokens/s, peak RSS per rank, and the speed-up of each layout against -np 1 on every
# core and on one core (tools/bench/scaling_summary.py). Every layout uses all the cores (threads per
# rank = cores / ranks, ranks unbound). LAYOUTS: NP:P pairs, NP:P:1 for one thread per rank; default
# "1:1:1 1:1 2:1 2:2" (-np 1 on one core, on all; -np 2 as D=2 and as P=2).
# Usage: [LAYOUTS="1:1 4:1 16:1 16:4"] tools/bench/bench_eval_scaling.sh [REPEATS] [TEXT] [MODEL]
set -eu
cd "$(dirname "$0")/../.."
R=${1:-3}
TEXT=${2:-tests/fixtures/data/kjv.test.txt}
MODEL=${3:-tests/fixtures/models/base-16L}
BIN=${DF_BIN:-build/depthfuse}
. tools/bench/layouts.sh
eval_once() {
    $MPIRUN /usr/bin/time -f "rss_kb %M" -a -o "$out/rss_$tag" \
        "$BIN" eval --model "$MODEL" --ppl "$TEXT" --pipeline "$P" --json "$out/e.json" > "$out/log" 2>&1 ||
        { cat "$out/log"; exit 1; }
    /usr/bin/python3 -c "import json;j=json.load(open('$out/e.json'));print(j['seconds'],list(j['tokens'].values())[0])" \
        >> "$out/t_$tag"
}
for_layouts "$R" eval_once
echo "eval --ppl $(basename "$TEXT") on $(basename "$MODEL")"
/usr/bin/python3 tools/bench/scaling_summary.py "$out" "$(nproc)" "$LAYOUTS" tokens
