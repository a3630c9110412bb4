#!/bin/sh
# Greedy MI (--iterative K, as FuseGPT removes blocks): step 1 scores every block as the one-shot
# sweep does (first_step_scores equal, the first removal its lowest score); each later step scores the
# model without the blocks removed so far: the same as a one-shot sweep of that model, written by
# `prune` and read back (its blocks renumbered back to the input's), to 1e-6. Run at -np 2
# with two pipeline stages. Usage: cli_importance_iterative.sh MPIEXEC [MPI PREFLAGS...]
set -eu
mpiexec=$1; shift
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
M=$DF_FIXTURES/models/base-16L
CAL="--calib $DF_FIXTURES/data/calib.train.txt --samples 4 --seq-len 128 --seed 5 --batch-tokens 256"
run() { # tag, then the command's arguments
    tag=$1; shift
    "$mpiexec" -n 2 "$@" > "$out/$tag.log" 2>&1 || { cat "$out/$tag.log"; exit 1; }
}
run greedy "$@" "$DF_BIN" importance --model "$M" --metric mi --iterative 3 $CAL --pipeline 2 --json "$out/greedy.json"
run oneshot "$@" "$DF_BIN" importance --model "$M" --metric mi $CAL --pipeline 2 --json "$out/oneshot.json"
first=$(/usr/bin/python3 -c "import json;print(json.load(open('$out/greedy.json'))['removal_order'][0])")
second=$(/usr/bin/python3 -c "import json;print(*json.load(open('$out/greedy.json'))['removal_order'][:2])")
run prune1 "$@" "$DF_BIN" prune --model "$M" --method mi --remove 1 $CAL --out "$out/minus1"
run prune2 "$@" "$DF_BIN" prune --model "$M" --method mi --remove 2 $CAL --out "$out/minus2"
run step2 "$@" "$DF_BIN" importance --model "$out/minus1" --metric mi $CAL --pipeline 2 --json "$out/step2.json"
run step3 "$@" "$DF_BIN" importance --model "$out/minus2" --metric mi $CAL --pipeline 2 --json "$out/step3.json"
/usr/bin/python3 - "$out" <<'PY'
import json, sys
d = sys.argv[1]
g, one = (json.load(open(f"{d}/{n}.json")) for n in ("greedy", "oneshot"))
ok = True
def check(cond, msg):
    global ok
    ok &= bool(cond)
    print(("ok   " if cond else "FAIL ") + msg)
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
    r = json.load(open(f"{d}/{name}.json"))
    kept = [i for i in range(L) if i not in order[:step]]          # input blocks of the pruned model, in order
    s = {kept[b["block"]]: b["score"] for b in r["blocks"]}
    best = min(s, key=lambda i: (s[i], i))
    diff = abs(s[order[step]] - g["blocks"][step]["score"])
    check(best == order[step] and diff <= 1e-6,
          f"step {step + 1}: removes {order[step]} = the lowest of a one-shot sweep of the model without {order[:step]} "
          f"(written by prune; score diff {diff:.1e})")
sys.exit(0 if ok else 1)
PY
