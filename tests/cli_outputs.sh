#!/bin/sh
# Outputs never destroy a user's files (include/depthfuse/output.h), at -np 2:
# - an existing output (a folder holding foreign files, an .h5) is refused without --overwrite, the
#   inputs untouched (checksums); with it the model's own files are replaced, stale shards of the
#   earlier model removed and the foreign files kept;
# - an output that is, contains or lies inside an input (also through a symlink or ..) is refused,
#   --overwrite or not, for prune, compress and convert; a report over an input is refused;
# - reports are replaced; a --state file is continued, and a rerun of a completed run writes nothing;
# - kill -9 while the model is being written, then the same command: it succeeds, and nothing but
#   the finished output remains.
# Usage: cli_outputs.sh MPIEXEC [MPI PREFLAGS...]
set -eu
mpiexec=$1; shift
MPIFLAGS="$*"
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
cp -r "$DF_FIXTURES/models/base-16L" "$w/in"
echo "the user's notes" > "$w/in/NOTES.md"
M=$w/in
CAL="--calib $DF_FIXTURES/data/calib.train.txt --samples 4 --seq-len 64 --batch-tokens 256"
df() { "$mpiexec" -n 2 $MPIFLAGS "$DF_BIN" "$@"; }
sums() { (cd "$1" && find . -type f | sort | xargs sha256sum); }
sums "$M" > "$w/in.sum"
ok() { echo "ok   $1"; }
fail() { echo "FAIL $1"; [ -f "$w/log" ] && cat "$w/log"; exit 1; }
refused() { # name, expected message, then depthfuse's arguments: exit != 0 with one error line
    name=$1; msg=$2; shift 2
    if df "$@" > "$w/log" 2>&1; then fail "$name: succeeded"; fi
    [ "$(grep -c 'error:' "$w/log")" -eq 1 ] && grep -q "error: .*$msg" "$w/log" || fail "$name: expected '$msg'"
    ok "$name: $(grep 'error:' "$w/log")"
}
runs() { name=$1; shift; df "$@" > "$w/log" 2>&1 || fail "$name"; ok "$name"; }
untouched() { sums "$M" | cmp -s - "$w/in.sum" || fail "the input changed after: $1"; }

# 1. an existing folder with a foreign file
mkdir "$w/out" && echo keep > "$w/out/keep.txt"
refused existing-folder "exists; pass --overwrite to replace it" \
    prune --model "$M" --method bi --remove 2 $CAL --out "$w/out"
[ "$(ls "$w/out")" = keep.txt ] || fail "the refused run touched $w/out"
runs fresh prune --model "$M" --method bi --remove 2 $CAL --out "$w/fresh" --json "$w/fresh.json"
runs overwrite prune --model "$M" --method bi --remove 2 $CAL --out "$w/out" --overwrite
[ "$(cat "$w/out/keep.txt")" = keep ] || fail "keep.txt lost"
# depthfuse.json records the command line (another --out), so it is the one file that differs
for f in $(ls "$w/fresh" | grep -vx depthfuse.json); do cmp -s "$w/fresh/$f" "$w/out/$f" || fail "$f differs from a fresh output"; done
[ -f "$w/out/depthfuse.json" ] || fail "the overwritten folder has no depthfuse.json"
[ "$(ls "$w/out" | grep -v keep.txt)" = "$(ls "$w/fresh")" ] || fail "the overwritten folder holds other model files"
ok "overwrite: the fresh output's files, keep.txt kept"
untouched "overwrite"

# 2. stale shards: a 3 MB-sharded model overwritten by a one-file one
runs sharded convert --from-hf "$M" --to "$w/m.h5"
runs sharded-hf convert --from-h5 "$w/m.h5" --to-hf "$w/sh" --max-shard-size 3MB
echo mine > "$w/sh/README.md"
[ -f "$w/sh/model.safetensors.index.json" ] || fail "expected an index"
runs one-file convert --from-h5 "$w/m.h5" --to-hf "$w/sh" --overwrite
[ "$(ls "$w/sh" | grep -c safetensors)" -eq 1 ] && [ -f "$w/sh/model.safetensors" ] && [ -f "$w/sh/README.md" ] ||
    fail "stale shards or the index left, or README.md lost: $(ls "$w/sh")"
ok "stale shards and index removed, README.md kept"

# 3. output = input, inside it, containing it, through a symlink or .. (also with --overwrite)
ln -s "$M" "$w/link"
refused same "is the input" prune --model "$M" --method bi --remove 2 $CAL --out "$M" --overwrite
refused inside "lies inside the input" prune --model "$M" --method bi --remove 2 $CAL --out "$M/sub" --overwrite
refused contains "contains the input" compress --model "$M" --method bi --remove 2 $CAL --out "$w" --overwrite
refused symlink "is the input" prune --model "$w/link" --method bi --remove 2 $CAL --out "$M"
refused dotdot "is the input" prune --model "$M" --method bi --remove 2 $CAL --out "$w/missing/../in" --overwrite
refused dotdot-link "lies inside the input" convert --from-hf "$w/link" --to "$w/link/sub/../x.h5" --overwrite
refused h5-input "is the input" convert --from-h5 "$w/m.h5" --to-hf "$w/m.h5" --overwrite
refused calib "contains the input" prune --model "$M" --method bi --remove 2 \
    --calib "$w/out/keep.txt" --samples 2 --seq-len 8 --out "$w/out" --overwrite
refused report "is an input" prune --model "$M" --method bi --remove 2 $CAL --out "$w/o2" \
    --json "$DF_FIXTURES/data/calib.train.txt"
refused report-in-model "lies inside the input model" eval --model "$M" --ppl "$DF_FIXTURES/data/kjv.test.txt" \
    --json "$M/eval.json"
untouched "the refused runs"

# 4. an existing .h5
cp "$w/m.h5" "$w/copy.h5"
refused h5 "exists; pass --overwrite" convert --from-hf "$M" --to "$w/m.h5"
cmp -s "$w/m.h5" "$w/copy.h5" || fail "the refused run changed m.h5"
runs h5-overwrite prune --model "$M" --method bi --remove 2 $CAL --out "$w/m.h5" --overwrite
runs h5-eval eval --model "$w/m.h5" --ppl "$DF_FIXTURES/data/kjv.test.txt" --seq-len 256 --json "$w/e.json"
/usr/bin/python3 -c "import json,sys; sys.exit(json.load(open('$w/e.json'))['blocks'] != 14)" || fail "m.h5 is not the pruned model"
ok "m.h5 replaced by the 14-block model"

# 5. reports are replaced; a completed state makes the rerun write nothing
echo old > "$w/r.json"
runs state prune --model "$M" --method mi --remove 2 $CAL --out "$w/st" --json "$w/r.json" --state "$w/s.json"
/usr/bin/python3 - "$w" <<'PY' || fail "report or state"
import json, sys
w = sys.argv[1]
r, s = json.load(open(f"{w}/r.json")), json.load(open(f"{w}/s.json"))
assert r["removed"] == s["removed"] and len(r["removed"]) == 2, (r["removed"], s["removed"])
assert s["completed"]["out"] == f"{w}/st", s.get("completed")
PY
ok "report replaced, state records the completed run"
before=$(sums "$w/st"; ls -l --time-style=+%s.%N "$w/st" "$w/r.json")
runs rerun prune --model "$M" --method mi --remove 2 $CAL --out "$w/st" --json "$w/r.json" --state "$w/s.json"
grep -q "nothing to do" "$w/log" || fail "rerun: expected 'nothing to do'"
[ "$(sums "$w/st"; ls -l --time-style=+%s.%N "$w/st" "$w/r.json")" = "$before" ] || fail "the rerun wrote something"
ok "rerun of a completed run: nothing written"

# 6. kill -9 while the model is written, then the same command
convert_hf() { "$mpiexec" -n 2 $MPIFLAGS "$DF_BIN" convert --from-h5 "$w/copy.h5" --to-hf "$w/k" --max-shard-size 200KB; }
caught=0
for attempt in 1 2 3 4 5 6 7 8 9 10; do
    rm -rf "$w/k"
    convert_hf > "$w/klog" 2>&1 &
    job=$!
    pids="" # mpirun and both ranks (killing mpirun alone would leave the ranks writing)
    while [ "$(echo $pids | wc -w)" -lt 3 ] && kill -0 $job 2>/dev/null; do
        pids=$(pgrep -f "depthfuse convert --from-h5 $w/copy.h5" | grep -v "^$job$" | tr '\n' ' ')
    done
    set -- /nonexistent
    while [ ! -e "$1" ] && kill -0 $job 2>/dev/null; do set -- "$w"/k.depthfuse-tmp.*; done # no fork: a tight poll
    kill -9 $pids 2>/dev/null || true
    wait $job || true
    if ls -d "$w"/k.depthfuse-tmp.* > /dev/null 2>&1 && [ ! -e "$w/k" ]; then caught=1; break; fi
done
[ $caught -eq 1 ] || fail "could not kill the run while it was writing (10 attempts)"
ok "killed mid-write: $(ls -d "$w"/k.depthfuse-tmp.* | xargs -n1 basename) left, no $w/k"
convert_hf > "$w/log" 2>&1 || fail "rerun after kill -9"
[ -z "$(ls -d "$w"/k.depthfuse-tmp.* 2>/dev/null)" ] && [ -f "$w/k/config.json" ] || fail "after the rerun: $(ls "$w")"
runs killed-eval eval --model "$w/k" --ppl "$DF_FIXTURES/data/kjv.test.txt" --seq-len 256 --json "$w/e2.json"
ok "rerun after kill -9: the finished output alone"
untouched "everything"
