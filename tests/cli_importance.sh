#!/bin/sh
# depthfuse importance through the CLI at several layouts: the MI table is identical at every -np
# and (P, D) (JSON compared without "seconds"), equals the naive uncached sweep to 1e-5, and the
# cached sweep runs at most 0.6x the naive block forwards at the same layout, and as many block
# forwards at every layout as at -np 1 (the groups share one baseline pass instead of each running it).
# Usage: cli_importance.sh MPIEXEC [MPI PREFLAGS...]
set -eu
mpiexec=$1; shift
MPIFLAGS="$*"   # flags without spaces (--oversubscribe --allow-run-as-root)
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
run() { # np P tag [extra flags]
    np=$1; P=$2; tag=$3; shift 3
    "$mpiexec" -n "$np" "$@" "$DF_BIN" importance --model "$DF_FIXTURES/models/base-16L" --metric mi \
        --calib "$DF_FIXTURES/data/calib.train.txt" --samples 4 --seq-len 128 --seed 3 --batch-tokens 256 \
        --pipeline "$P" --json "$out/$tag.json" $EXTRA > "$out/$tag.log" 2>&1 || { cat "$out/$tag.log"; exit 1; }
}
for layout in "1 1" "2 1" "2 2" "4 2" "4 4"; do
    set -- $layout
    EXTRA="" run "$1" "$2" "c_$1_$2" $MPIFLAGS
    EXTRA="--naive" run "$1" "$2" "n_$1_$2" $MPIFLAGS
done
/usr/bin/python3 - "$out" <<'PY'
import json, re, sys, glob, os
d = sys.argv[1]
def load(tag):
    j = json.load(open(f"{d}/{tag}.json")); j.pop("seconds")
    fw = int(re.search(r"(\d+) block forwards", open(f"{d}/{tag}.log").read()).group(1))
    return j, fw
ref, ref_fw = load("c_1_1")
ok = True
for lay in ["1_1", "2_1", "2_2", "4_2", "4_4"]:
    c, fc = load("c_" + lay); n, fn = load("n_" + lay)
    same = c == ref
    diff = max(abs(a["score"] - b["score"]) for a, b in zip(c["blocks"], n["blocks"]))
    ratio = fc / fn
    print(f"np,P={lay}: identical to np1 {same}; max |cached - naive| {diff:.2e}; forwards {fc}/{fn} = {ratio:.3f} (np 1: {ref_fw})")
    ok &= same and diff <= 1e-5 and ratio <= 0.6 and fc == ref_fw
order = sorted(ref["blocks"], key=lambda b: b["rank"])
print("mi ranking (least important first):", [b["block"] for b in order])
sys.exit(0 if ok else 1)
PY
