#!/bin/sh
# The demo job on the bundled fixture model, at -np 2 (two data-parallel groups): perplexity of
# base-16L on the four held-out test splits, then FuseGPT's Macro Influence removes 4 of its 16
# blocks (greedy, 8 calibration windows of 512 tokens) and the pruned model is evaluated the same
# way. Results: demo/dense.json, demo/prune-mi-4.json, demo/pruned-mi-4.json and the pruned model in
# demo/base-16L-mi-4 (a Hugging Face folder). NP=4 jobs/demo.sh runs it at another size.
set -eu
cd "$(dirname "$0")/.."
NP=${NP:-2}
FLAGS="--oversubscribe --bind-to none" # each rank its share of the cores, not one core each
[ "$(id -u)" -eq 0 ] && FLAGS="$FLAGS --allow-run-as-root"
run() { mpirun -np "$NP" $FLAGS build/depthfuse "$@"; }
mkdir -p demo
D=tests/fixtures/data
PPL="--ppl $D/brown.test.txt --ppl $D/nlpc.test.txt --ppl $D/kjv.test.txt --ppl $D/wordnet.test.txt --seq-len 512"
run eval --model tests/fixtures/models/base-16L $PPL --json demo/dense.json
run prune --model tests/fixtures/models/base-16L --method mi --remove 4 --calib $D/calib.train.txt \
    --samples 8 --seq-len 512 --out demo/base-16L-mi-4 --overwrite --json demo/prune-mi-4.json
run eval --model demo/base-16L-mi-4 $PPL --json demo/pruned-mi-4.json
/usr/bin/python3 - <<'PY'
import json
d, p = (json.load(open(f"demo/{n}.json")) for n in ("dense", "pruned-mi-4"))
print(f"\n{'perplexity':22s} {'16 blocks':>10s} {'12 blocks (mi)':>15s}")
for k, v in d["perplexity"].items():
    print(f"{k:22s} {v:10.2f} {p['perplexity'][k]:15.2f}")
print("removed blocks:", json.load(open("demo/prune-mi-4.json"))["removed"])
PY
