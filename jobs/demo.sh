#!/bin/sh
# The demo job on the bundled fixture model, at -np 2 (two data-parallel groups): each compression
# method of $METHODS that this build has (`compress --method M --help` succeeds) removes 4 of
# base-16L's 16 blocks at a small budget and its compressed model is scored beside the dense one on
# the four held-out test splits (perplexity) and two cloze tasks (200 items); then `depthfuse report` prints the
# comparison table and draws the run report, demo/report.html, beside the runs' JSON files
# (demo/M.json; the models in demo/base-16L-M-4, Hugging Face folders). mi is FuseGPT's removal
# baseline (its Macro Influence, blocks removed without fusing). METHODS="bi mi" or NP=4 jobs/demo.sh
# run another selection or size.
set -eu
cd "$(dirname "$0")/.."
NP=${NP:-2}
METHODS=${METHODS:-"mi fusegpt flattengpt gptailor"}
FLAGS="--oversubscribe --bind-to none" # each rank its share of the cores, not one core each
[ "$(id -u)" -eq 0 ] && FLAGS="$FLAGS --allow-run-as-root"
run() { mpirun -np "$NP" $FLAGS build/depthfuse "$@"; }
D=tests/fixtures/data
M=tests/fixtures/models
T=tests/fixtures/tasks
# the dense model is scored once (eval); each run scores its compressed model on the same files and
# takes the dense scores from demo/dense.json (--eval-dense)
EVAL_DENSE="--seq-len 512 --limit 200" EVAL="--eval-seq-len 512 --eval-limit 200 --eval-dense demo/dense.json"
for s in brown nlpc kjv wordnet; do
    EVAL_DENSE="$EVAL_DENSE --ppl $D/$s.test.txt" EVAL="$EVAL --eval-ppl $D/$s.test.txt"
done
for t in brown_cloze kjv_cloze; do
    EVAL_DENSE="$EVAL_DENSE --tasks $T/$t.valid.jsonl" EVAL="$EVAL --eval-tasks $T/$t.valid.jsonl"
done
CALIB="--calib $D/calib.train.txt"

# each method's budget: small enough for a few minutes in all on 2 cores
method_flags() {
    case $1 in
    mi | bi | sleb) echo "$CALIB --samples 8 --seq-len 512" ;;
    fusegpt) echo "$CALIB --samples 16 --seq-len 256 --mi-samples 8 --epochs 1" ;;
    flattengpt) echo "$CALIB --samples 8 --seq-len 512" ;;
    gptailor) echo "--candidate $M/base-16L-ft-kjv --candidate $M/base-16L-ft-wordnet --seq-len 256 --min-windows 1 --max-windows 3 --trials 12 --warm-windows 2 --resume $(for s in brown nlpc kjv wordnet; do printf ' --objective-ppl %s' $D/$s.valid.txt; done)" ;;
    *) echo "$CALIB" ;;
    esac
}

mkdir -p demo
echo "== the dense model"
run eval --model $M/base-16L $EVAL_DENSE --json demo/dense.json
runs=""
for m in $METHODS; do
    if ! build/depthfuse compress --method "$m" --help > /dev/null 2>&1; then
        echo "demo: $m is not in this build; skipped"
        continue
    fi
    echo "== $m: 4 of 16 blocks"
    # shellcheck disable=SC2046
    run compress --method "$m" --model $M/base-16L --remove 4 $(method_flags "$m") $EVAL \
        --out "demo/base-16L-$m-4" --overwrite --json "demo/$m.json"
    runs="$runs demo/$m.json"
done
[ -n "$runs" ] || { echo "demo: none of the methods $METHODS is in this build" >&2; exit 1; }
# shellcheck disable=SC2086
build/depthfuse report $runs --out demo/report.html
