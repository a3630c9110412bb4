#!/bin/sh
# Greedy MI (--iterative K, as FuseGPT removes blocks) and resuming it (--state), at -np 2:
# - step 1 scores every block as the one-shot sweep does (first_step_scores equal, the first removal
#   its lowest score); each later step scores the model without the blocks removed so far: the same
#   as a one-shot sweep of that model, written by `prune` and read back, to 1e-6;
# - a run stopped after 2 of 3 removals (P = 2) and resumed (D = 2) gives the uninterrupted run's
#   JSON (but "seconds") computing only the last step; prune replays the state without a sweep;
# - a state file of another calibration, metric or model, or a damaged one, is refused with one line
#   naming it, and nothing is written at the output path.
# Usage: cli_importance_greedy.sh MPIEXEC [MPI PREFLAGS...]
set -eu
mpiexec=$1; shift
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
M=$DF_FIXTURES/models/base-16L
CAL="--calib $DF_FIXTURES/data/calib.train.txt --samples 4 --seq-len 128 --batch-tokens 256"
run() { # tag, then depthfuse's arguments
    tag=$1; shift
    "$mpiexec" -n 2 $MPIFLAGS "$DF_BIN" "$@" > "$out/$tag.log" 2>&1 || { cat "$out/$tag.log"; exit 1; }
}
fails() { # tag, expected message, then depthfuse's arguments: exit != 0, the message once
    tag=$1; msg=$2; shift 2
    if "$mpiexec" -n 2 $MPIFLAGS "$DF_BIN" "$@" > "$out/$tag.log" 2>&1; then echo "FAIL $tag: succeeded"; exit 1; fi
    [ "$(grep -c "error:" "$out/$tag.log")" -eq 1 ] && grep -q "$msg" "$out/$tag.log" ||
        { echo "FAIL $tag: expected one line with '$msg'"; cat "$out/$tag.log"; exit 1; }
    echo "ok   $tag: $(grep "error:" "$out/$tag.log")"
}
forwards() { grep -o '[0-9]* block forwards' "$out/$1.log" | cut -d' ' -f1; }
MPIFLAGS="$*"   # flags without spaces (--oversubscribe --allow-run-as-root)

run whole importance --model "$M" --metric mi --iterative 3 $CAL --seed 5 --pipeline 2 --json "$out/whole.json"
run oneshot importance --model "$M" --metric mi $CAL --seed 5 --pipeline 2 --json "$out/oneshot.json"
run prune1 prune --model "$M" --method mi --remove 1 $CAL --seed 5 --out "$out/minus1"
run prune2 prune --model "$M" --method mi --remove 2 $CAL --seed 5 --out "$out/minus2"
run step2 importance --model "$out/minus1" --metric mi $CAL --seed 5 --pipeline 2 --json "$out/step2.json"
run step3 importance --model "$out/minus2" --metric mi $CAL --seed 5 --pipeline 2 --json "$out/step3.json"
run stopped importance --model "$M" --metric mi --iterative 2 $CAL --seed 5 --pipeline 2 --state "$out/s.json"
run resumed importance --model "$M" --metric mi --iterative 3 $CAL --seed 5 --state "$out/s.json" --json "$out/resumed.json"
run prune prune --model "$M" --method mi --remove 3 $CAL --seed 5 --state "$out/s.json" --out "$out/p" --json "$out/prune.json"
grep -q "resuming from .*blocks .* already removed" "$out/resumed.log" && echo "ok   resumed: $(grep resuming "$out/resumed.log")"
/usr/bin/python3 - "$out" "$(forwards resumed)" "$(forwards whole)" "$(forwards prune)" <<'PY'
import json, sys
d, fr, fw, fp = sys.argv[1], *map(int, sys.argv[2:])
ok = True
def check(cond, msg):
    global ok
    ok &= bool(cond)
    print(("ok   " if cond else "FAIL ") + msg)
g, one, r, p = (json.load(open(f"{d}/{n}.json")) for n in ("whole", "oneshot", "resumed", "prune"))
L = len(one["blocks"])
scores = [None] * L
for b in one["blocks"]:
    scores[b["block"]] = b["score"]
check(g["first_step_scores"] == scores, "step 1 scores = the one-shot sweep's, every block")
order = g["removal_order"]
check(len(order) == 3 and [b["block"] for b in g["blocks"]] == order and [b["rank"] for b in g["blocks"]] == [1, 2, 3],
      f"table = removal order {order}, ranks 1..3")
check(order[0] == min(range(L), key=lambda i: (scores[i], i)), f"first removal {order[0]} has the lowest one-shot score")
check(abs(g["blocks"][0]["score"] - scores[order[0]]) <= 1e-12, "its score is the one-shot score")
for step, name in ((1, "step2"), (2, "step3")):
    s = json.load(open(f"{d}/{name}.json"))
    kept = [i for i in range(L) if i not in order[:step]]          # input blocks of the pruned model, in order
    sc = {kept[b["block"]]: b["score"] for b in s["blocks"]}
    best = min(sc, key=lambda i: (sc[i], i))
    diff = abs(sc[order[step]] - g["blocks"][step]["score"])
    check(best == order[step] and diff <= 1e-6,
          f"step {step + 1}: removes {order[step]} = the lowest of a one-shot sweep of the model without {order[:step]} "
          f"(written by prune; score diff {diff:.1e})")
for j in (r, g):
    j.pop("seconds")
check(r == g, "stopped at P=2 and resumed at D=2 = uninterrupted")
check(fr < fw, f"resumed ran {fr} block forwards, uninterrupted {fw}")
check(p["removed"] == order and fp == 0, f"prune replayed the state: removed {p['removed']} with {fp} block forwards")
sys.exit(0 if ok else 1)
PY
fails other_seed "other calibration windows" importance --model "$M" --metric mi --iterative 3 $CAL --seed 6 --state "$out/s.json"
fails other_metric "another metric" importance --model "$M" --metric sleb --iterative 3 $CAL --seed 5 --state "$out/s.json"
fails other_model "another model" importance --model "$DF_FIXTURES/models/base-16L-ft-kjv" --metric mi --iterative 3 $CAL --seed 5 --state "$out/s.json"
head -c 40 "$out/s.json" > "$out/damaged.json"
fails damaged "damaged.json" prune --model "$M" --method mi --remove 3 $CAL --seed 5 --state "$out/damaged.json" --out "$out/q"
[ ! -e "$out/q" ] && echo "ok   nothing written at the output path"
fails one_shot "greedy" importance --model "$M" --metric bi $CAL --state "$out/s.json"
