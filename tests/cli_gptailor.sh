#!/bin/sh
# compress --method gptailor end to end, at a tiny budget (2 objective files, 128-token windows,
# fidelities 1 and 3 windows per file):
# - the searched model and `depthfuse merge` of its --recipe have identical tensors (every byte);
#   the report lists 4 removed layers, the history's best trial is the report's;
# - the same seed and number of groups give the same history (but "seconds"); P=1 and P=2 at one
#   group give the same trials and objectives (there with a task term in the objective too);
# - a search killed with -9 mid-run and continued with --resume keeps every finished trial, repeats
#   none, and ends with the uninterrupted run's history;
# - a test split in the objective, an existing history without --resume, and a recipe with
#   normalize: true are refused with one line, nothing written.
# Usage: cli_gptailor.sh MPIEXEC [MPI PREFLAGS...]
set -eu
mpiexec=$1; shift
MPIFLAGS="$*"
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
M=$DF_FIXTURES/models; D=$DF_FIXTURES/data
export OPENBLAS_NUM_THREADS=1 # the same arithmetic at every layout
ARGS="--method gptailor --model $M/base-16L --candidate $M/base-16L-ft-kjv --candidate $M/base-16L-ft-wordnet --remove 4
      --objective-ppl $D/brown.valid.txt --objective-ppl $D/kjv.valid.txt:0.5 --seq-len 128 --batch-tokens 512
      --min-windows 1 --max-windows 3 --warm-windows 2 --seed 3"
PY=/usr/bin/python3
search() { # tag np trials, then more arguments
    tag=$1; np=$2; n=$3; shift 3
    "$mpiexec" -n "$np" $MPIFLAGS "$DF_BIN" compress $ARGS --trials "$n" --out "$out/$tag" --json "$out/$tag.json" "$@" \
        > "$out/$tag.log" 2>&1 || { cat "$out/$tag.log"; exit 1; }
}
fails() { # tag, expected message, then depthfuse's arguments
    tag=$1; msg=$2; shift 2
    if "$mpiexec" -n 2 $MPIFLAGS "$DF_BIN" "$@" > "$out/$tag.log" 2>&1; then echo "FAIL $tag: succeeded"; exit 1; fi
    [ "$(grep -c "error:" "$out/$tag.log")" -eq 1 ] && grep -q "$msg" "$out/$tag.log" ||
        { echo "FAIL $tag: expected one line with '$msg'"; cat "$out/$tag.log"; exit 1; }
    echo "ok   $tag: $(grep "error:" "$out/$tag.log")"
}
# same_history A B [configs]: the same lines but "seconds" (configs: the same trials and objectives to 1e-9)
same_history() {
    $PY - "$1" "$2" "${3:-}" <<'EOF' || exit 1
import json, sys
a, b, loose = sys.argv[1], sys.argv[2], sys.argv[3]
def lines(f):
    out = [json.loads(l) for l in open(f)]
    for l in out:
        l.pop("seconds", None); l.pop("out", None)
        if loose: l.pop("groups", None)
    return out
x, y = lines(a), lines(b)
assert len(x) == len(y), f"{a}: {len(x)} lines, {b}: {len(y)}"
for i, (p, q) in enumerate(zip(x, y)):
    if loose and i > 0:
        assert p["config"] == q["config"] and p["budget"] == q["budget"], f"trial {i - 1} differs"
        for k in ("objective", "best_objective"):
            assert abs(p[k] - q[k]) <= 1e-9 * abs(p[k]), f"trial {i - 1}: {k} {p[k]} vs {q[k]}"
    else:
        assert p == q, f"line {i + 1} differs:\n{p}\n{q}"
print(f"ok   {a} == {b} ({len(x) - 1} trials)")
EOF
}

# the search, its recipe, and the model merged back from the recipe
search a 2 10 --recipe "$out/a.yaml"
"$DF_BIN" merge "$out/a.yaml" --out "$out/merged" > "$out/merge.log" 2>&1 || { cat "$out/merge.log"; exit 1; }
$PY - "$out/a" "$out/merged" "$out/a.json" "$out/a.history.jsonl" <<'EOF' || exit 1
import glob, json, os, struct, sys
def tensors(d):
    out = {}
    for f in sorted(glob.glob(os.path.join(d, "*.safetensors"))):
        b = open(f, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
        for k, v in h.items():
            if k != "__metadata__":
                s, e = v["data_offsets"]; out[k] = (v["dtype"], v["shape"], b[8 + n + s:8 + n + e])
    return out
a, m = tensors(sys.argv[1]), tensors(sys.argv[2])
assert a.keys() == m.keys() and len(a) == 12 * 9 + 3, sorted(a.keys() ^ m.keys())[:4]
bad = [k for k in a if a[k] != m[k]]
assert not bad, f"{len(bad)} tensors differ: {bad[:4]}"
rep = json.load(open(sys.argv[3])); hist = [json.loads(l) for l in open(sys.argv[4])]
assert len(rep["removed"]) == 4 and rep["blocks_after"] == 12, rep["removed"]
assert rep["gptailor"]["best_trial"] == hist[-1]["best"] and rep["gptailor"]["config"]["removed"] == sorted(rep["removed"])
assert any(any(len(l["candidates"]) >= 2 for l in t["config"]["layers"]) for t in hist[1:]), "no merged layer was tried"
print(f"ok   recipe round trip: {len(a)} tensors identical; removed {rep['removed']}")
EOF

# determinism: the same seed and groups; P=1 against P=2 at one group
search b 2 10
same_history "$out/a.history.jsonl" "$out/b.history.jsonl"
TASK="--objective-task $DF_FIXTURES/tasks/kjv_cloze.valid.jsonl:0.5 --task-items 2"
search p1 1 6 --no-warm-start $TASK
search p2 2 6 --pipeline 2 --no-warm-start $TASK
same_history "$out/p1.history.jsonl" "$out/p2.history.jsonl" loose

# kill -9 mid-search, then --resume
"$mpiexec" -n 2 $MPIFLAGS "$DF_BIN" compress $ARGS --trials 10 --out "$out/k" > "$out/k1.log" 2>&1 &
pid=$!
i=0
while [ "$(cat "$out/k.history.jsonl" 2> /dev/null | wc -l)" -lt 5 ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
kids=$(pgrep -P $pid || true)
kill -9 $pid $kids 2> /dev/null || true
wait $pid 2> /dev/null || true
# the ranks gone (a zombie no init reaps counts as gone)
for k in $kids; do
    i=0
    while [ $i -lt 100 ] && ps -o stat= -p "$k" 2> /dev/null | grep -qv Z; do sleep 0.1; i=$((i + 1)); done
done
kept=$(($(wc -l < "$out/k.history.jsonl") - 1))
[ ! -e "$out/k" ] && [ "$kept" -ge 4 ] && [ "$kept" -lt 10 ] || { echo "FAIL: the kill left $kept trials"; exit 1; }
search k 2 10 --resume
grep -q "resuming .*: $kept trials recorded" "$out/k.log" || { echo "FAIL: not resumed from $kept trials"; cat "$out/k.log"; exit 1; }
same_history "$out/a.history.jsonl" "$out/k.history.jsonl"
echo "ok   killed after $kept trials, resumed"

# bad input
fails test_split "a test split" compress $ARGS --objective-ppl "$D/brown.test.txt" --out "$out/x1"
fails no_resume "exists: --resume continues" compress $ARGS --out "$out/a" --overwrite
sed 's/normalize: false/normalize: true/' "$out/a.yaml" > "$out/bad.yaml"
fails bad_recipe "normalize must be false" merge "$out/bad.yaml" --out "$out/x2"
[ ! -e "$out/x1" ] && [ ! -e "$out/x2" ] || { echo "FAIL: a refused run wrote its output"; exit 1; }
echo "cli_gptailor: all checks passed"
