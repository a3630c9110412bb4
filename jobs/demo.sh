#!/bin/sh
# The demo job on the bundled fixture model: perplexity of base-16L on the four held-out test
# splits, at -np 2 (two data-parallel groups). Results: demo/eval.json.
set -eu
cd "$(dirname "$0")/.."
NP=${NP:-2}
FLAGS="--oversubscribe"
[ "$(id -u)" -eq 0 ] && FLAGS="$FLAGS --allow-run-as-root"
mkdir -p demo
D=tests/fixtures/data
mpirun -np "$NP" $FLAGS build/depthfuse eval --model tests/fixtures/models/base-16L \
    --ppl $D/brown.test.txt --ppl $D/nlpc.test.txt --ppl $D/kjv.test.txt --ppl $D/wordnet.test.txt \
    --seq-len 512 --json demo/eval.json
