#!/bin/sh
# GPTailor's optimizer against random search at the same budget: base-16L + ft-kjv + ft-wordnet,
# remove 4, the four validation splits as the objective; for each seed in SEEDS and each sampler
# (tpe, random) the same Hyperband schedule (fidelities MIN..MAX windows per file, TRIALS trials,
# no warm start, so only the sampler differs); prints the incumbent's validation objective (sum of
# the four log-perplexities at the highest fidelity) per run and the mean over the seeds.
#   NP=2 SEEDS="0 1 2" TRIALS=40 MIN=2 MAX=6 tools/gptailor_tpe_vs_random.sh
set -eu
cd "$(dirname "$0")/.."
NP=${NP:-2}; SEEDS=${SEEDS:-0 1 2}; TRIALS=${TRIALS:-40}; MIN=${MIN:-2}; MAX=${MAX:-6}
BIN=${DF_BIN:-build/depthfuse}; WORK=${WORK:-build/tpe_vs_random}
M=tests/fixtures/models; D=tests/fixtures/data
FLAGS="--oversubscribe"
[ "$(id -u)" -eq 0 ] && FLAGS="$FLAGS --allow-run-as-root"
mkdir -p "$WORK"
for seed in $SEEDS; do
    for opt in tpe random; do
        tag=$opt-$seed
        [ -f "$WORK/$tag.json" ] && continue # done before (delete WORK to rerun)
        mpirun -q -np "$NP" $FLAGS "$BIN" compress --method gptailor --model $M/base-16L --candidate $M/base-16L-ft-kjv \
            --candidate $M/base-16L-ft-wordnet --remove 4 --objective-ppl $D/brown.valid.txt --objective-ppl $D/nlpc.valid.txt \
            --objective-ppl $D/kjv.valid.txt --objective-ppl $D/wordnet.valid.txt --min-windows "$MIN" --max-windows "$MAX" \
            --trials "$TRIALS" --no-warm-start --optimizer $opt --seed "$seed" --resume --out "$WORK/$tag" --overwrite \
            --history "$WORK/$tag.history.jsonl" --json "$WORK/$tag.json.tmp" > "$WORK/$tag.log" 2>&1 ||
            { cat "$WORK/$tag.log"; exit 1; }
        mv "$WORK/$tag.json.tmp" "$WORK/$tag.json"
    done
done
/usr/bin/python3 - "$WORK" "$SEEDS" "$TRIALS" "$MIN" "$MAX" <<'PY'
import json, sys
w, seeds, trials, lo, hi = sys.argv[1], sys.argv[2].split(), *sys.argv[3:]
print(f"incumbent validation objective (sum of 4 log-ppl at {hi} windows/file), {trials} trials, fidelities {lo}..{hi}, no warm start")
print("| seed | tpe | random |\n|---|---|---|")
mean = {"tpe": 0.0, "random": 0.0}
for s in seeds:
    row = []
    for o in ("tpe", "random"):
        v = json.load(open(f"{w}/{o}-{s}.json"))["gptailor"]["best_objective"]
        mean[o] += v / len(seeds); row.append(f"{v:.4f}")
    print(f"| {s} | " + " | ".join(row) + " |")
print(f"| mean | {mean['tpe']:.4f} | {mean['random']:.4f} |")
PY
