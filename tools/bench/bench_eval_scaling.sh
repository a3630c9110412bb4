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
LAYOUTS=${LAYOUTS:-1:1:1 1:1 2:1 2:2}
FLAGS="--oversubscribe --bind-to none"
[ "$(id -u)" -eq 0 ] && FLAGS="$FLAGS --allow-run-as-root"
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
for i in $(seq "$R"); do
    for lay in $LAYOUTS; do
        np=$(echo "$lay" | cut -d: -f1); P=$(echo "$lay" | cut -d: -f2); th=$(echo "$lay:" | cut -d: -f3)
        tag=${np}_$P${th:+_1t}
        mpirun -q -np "$np" $FLAGS ${th:+-x OPENBLAS_NUM_THREADS=1} /usr/bin/time -f "rss_kb %M" -a -o "$out/rss_$tag" \
            build/depthfuse eval --model "$MODEL" --ppl "$TEXT" --pipeline "$P" --json "$out/e.json" > "$out/log" 2>&1 ||
            { cat "$out/log"; exit 1; }
        /usr/bin/python3 -c "import json;j=json.load(open('$out/e.json'));print(j['seconds'],list(j['tokens'].values())[0])" \
            >> "$out/t_$tag"
    done
done
echo "eval --ppl $(basename "$TEXT") on $(basename "$MODEL")"
/usr/bin/python3 tools/bench/scaling_summary.py "$out" "$(nproc)" "$LAYOUTS" tokens
