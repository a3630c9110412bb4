#!/bin/sh
# Resumable greedy runs (--state): a run stopped after 2 of 3 removals and resumed (at another
# layout) gives the JSON of an uninterrupted run (but "seconds") while computing only the last step;
# prune replays the same state without a sweep and removes the same blocks; a state file of another
# calibration, metric or model, or a damaged one, is refused with one line naming it, on every rank.
# Usage: cli_importance_resume.sh MPIEXEC [MPI PREFLAGS...]
set -eu
mpiexec=$1; shift
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
M=$DF_FIXTURES/models/base-16L
CAL="--calib $DF_FIXTURES/data/calib.train.txt --samples 4 --seq-len 128 --batch-tokens 256"
run() { # tag, then the command's arguments
    tag=$1; shift
    "$mpiexec" -n 2 "$@" > "$out/$tag.log" 2>&1 || { cat "$out/$tag.log"; exit 1; }
}
fails() { # tag, expected message, then the command's arguments: exit != 0, the message once
    tag=$1; msg=$2; shift 2
    if "$mpiexec" -n 2 "$@" > "$out/$tag.log" 2>&1; then echo "FAIL $tag: succeeded"; exit 1; fi
    [ "$(grep -c "error:" "$out/$tag.log")" -eq 1 ] && grep -q "$msg" "$out/$tag.log" ||
        { echo "FAIL $tag: expected one line with '$msg'"; cat "$out/$tag.log"; exit 1; }
    echo "ok   $tag: $(grep "error:" "$out/$tag.log")"
}
forwards() { grep -o '[0-9]* block forwards' "$out/$1.log" | cut -d' ' -f1; }
run stopped "$@" "$DF_BIN" importance --model "$M" --metric mi --iterative 2 $CAL --seed 5 --pipeline 2 --state "$out/s.json"
run resumed "$@" "$DF_BIN" importance --model "$M" --metric mi --iterative 3 $CAL --seed 5 --state "$out/s.json" --json "$out/resumed.json"
run whole "$@" "$DF_BIN" importance --model "$M" --metric mi --iterative 3 $CAL --seed 5 --json "$out/whole.json"
run prune "$@" "$DF_BIN" prune --model "$M" --method mi --remove 3 $CAL --seed 5 --state "$out/s.json" --out "$out/p" --json "$out/prune.json"
grep -q "resuming from .*blocks .* already removed" "$out/resumed.log" && echo "ok   resumed: $(grep resuming "$out/resumed.log")"
/usr/bin/python3 - "$out" "$(forwards resumed)" "$(forwards whole)" "$(forwards prune)" <<'PY'
import json, sys
d, fr, fw, fp = sys.argv[1], *map(int, sys.argv[2:])
r, w, p = (json.load(open(f"{d}/{n}.json")) for n in ("resumed", "whole", "prune"))
for j in (r, w):
    j.pop("seconds")
ok = r == w and fr < fw and p["removed"] == w["removal_order"] and fp == 0
print(("ok   " if r == w else "FAIL ") + f"resumed = uninterrupted (removal order {w['removal_order']})")
print(("ok   " if fr < fw else "FAIL ") + f"resumed ran {fr} block forwards, uninterrupted {fw}")
print(("ok   " if p["removed"] == w["removal_order"] and fp == 0 else "FAIL ") +
      f"prune replayed the state: removed {p['removed']} with {fp} block forwards")
sys.exit(0 if ok else 1)
PY
fails other_seed "other calibration windows" "$@" "$DF_BIN" importance --model "$M" --metric mi --iterative 3 $CAL --seed 6 --state "$out/s.json"
fails other_metric "another metric" "$@" "$DF_BIN" importance --model "$M" --metric sleb --iterative 3 $CAL --seed 5 --state "$out/s.json"
fails other_model "another model" "$@" "$DF_BIN" importance --model "$DF_FIXTURES/models/base-16L-ft-kjv" --metric mi --iterative 3 $CAL --seed 5 --state "$out/s.json"
head -c 40 "$out/s.json" > "$out/damaged.json"
fails damaged "damaged.json" "$@" "$DF_BIN" prune --model "$M" --method mi --remove 3 $CAL --seed 5 --state "$out/damaged.json" --out "$out/q"
[ ! -e "$out/q" ] && echo "ok   nothing written at the output path"
fails one_shot "greedy" "$@" "$DF_BIN" importance --model "$M" --metric bi $CAL --state "$out/s.json"
