#!/bin/sh
# One FuseGPT configuration on base-16L (remove 4 of 16) and its evaluation on the four test splits,
# WikiText-2 test and the four cloze tasks, as tools/results.sh scores every method. The rows of
# docs/fusegpt.md's tables come from this script.
#   tools/fusegpt_ablation.sh NAME [compress flags...]     e.g. tools/fusegpt_ablation.sh mse --loss mse
# Writes build/fusegpt/NAME.run.json (the compress report), NAME.eval.json, NAME.log; NP=2 ranks.
set -eu
cd "$(dirname "$0")/.."
name=$1; shift
NP=${NP:-2}; BIN=${DF_BIN:-build/depthfuse}; W=${WORK:-build/fusegpt}
mkdir -p "$W"
FLAGS="--oversubscribe"
[ "$(id -u)" -eq 0 ] && FLAGS="$FLAGS --allow-run-as-root"
D=tests/fixtures/data; T=tests/fixtures/tasks
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1} OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
t0=$(date +%s)
mpirun -q -np "$NP" $FLAGS "$BIN" compress --method fusegpt --model tests/fixtures/models/base-16L \
    --calib $D/calib.train.txt --remove 4 "$@" --out "$W/$name" --overwrite --json "$W/$name.run.json" \
    --progress log > "$W/$name.log" 2>&1
t1=$(date +%s)
mpirun -q -np "$NP" $FLAGS "$BIN" eval --model "$W/$name" --ppl $D/brown.test.txt --ppl $D/nlpc.test.txt \
    --ppl $D/kjv.test.txt --ppl $D/wordnet.test.txt --ppl $D/wikitext-2-raw/wiki.test.raw --seq-len 512 \
    --tasks $T/brown_cloze.valid.jsonl,$T/kjv_cloze.valid.jsonl,$T/nlpc_cloze.valid.jsonl,$T/wordnet_def.valid.jsonl \
    --json "$W/$name.eval.json" >> "$W/$name.log" 2>&1
echo "$name: compress $((t1 - t0)) s, eval $(($(date +%s) - t1)) s, load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$W/$name.log"
