#!/bin/sh
# compress --method fusegpt on base-16L at a small budget (3 of 16 blocks, 16 windows of 64 tokens,
# 2 epochs):
# - -np 1, -np 2 (D = 2: each batch's sequences split over the groups, gradients and kl-batch's
#   log-sum-exp all-reduced) and -np 2 --pipeline 2 (the groups spanning both stages trained
#   pipelined over micro-batches) remove the same blocks and give test perplexities within 1e-4;
# - a run killed (kill -9) after its second fusion and rerun with the same --state writes the same
#   model files, byte for byte, as the uninterrupted run, and fuses only what was left;
# - before any step (--epochs 0) the fused model is plain removal: the same blocks and byte-identical
#   weights as compress --method mi with the same Macro Influence windows;
# - a state of other options is refused with one line naming it.
# Usage: cli_fusegpt.sh MPIEXEC [MPI PREFLAGS...]
set -eu
mpiexec=$1; shift
MPIFLAGS="$*"
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
M=$DF_FIXTURES/models/base-16L
TEST=$out/brown.txt; head -c 30000 "$DF_FIXTURES/data/brown.test.txt" > "$TEST"
BASE="compress --method fusegpt --model $M --calib $DF_FIXTURES/data/calib.train.txt --remove 3 --samples 16 --seq-len 64
    --mi-samples 4 --seed 3 --batch-tokens 512 --progress log"
FG="$BASE --epochs 2"
run() { # tag np, then depthfuse's arguments
    tag=$1; np=$2; shift 2
    "$mpiexec" -n "$np" $MPIFLAGS "$DF_BIN" "$@" > "$out/$tag.log" 2>&1 || { cat "$out/$tag.log"; exit 1; }
}
ppl() { run "ppl-$1" 1 eval --model "$out/$1" --ppl "$TEST" --seq-len 128 --json "$out/ppl-$1.json"; }

run np1 1 $FG --out "$out/np1" --json "$out/np1.json"
run np2 2 $FG --out "$out/np2" --json "$out/np2.json"
run p2 2 $FG --pipeline 2 --out "$out/p2" --json "$out/p2.json"
ppl np1; ppl np2; ppl p2

# killed after the second fusion, then the same command again
"$DF_BIN" $FG --out "$out/killed" --state "$out/s.json" > "$out/kill.log" 2>&1 &
pid=$!
while kill -0 $pid 2>/dev/null; do
    if [ -f "$out/s.json" ] && grep -q '"done":[[:space:]]*2' "$out/s.json"; then kill -9 $pid; break; fi
    sleep 0.1
done
wait $pid 2>/dev/null || true
grep -q '"done":[[:space:]]*2' "$out/s.json" || { echo "FAIL kill: the state does not record 2 fusions"; cat "$out/kill.log"; exit 1; }
[ ! -e "$out/killed" ] || { echo "FAIL kill: output written before the run ended"; exit 1; }
echo "ok   killed after fusion 2 (kill -9)"
run resumed 1 $FG --out "$out/killed" --state "$out/s.json" --json "$out/resumed.json"
grep -q "resuming from .* already fused" "$out/resumed.log" && echo "ok   $(grep resuming "$out/resumed.log")"
[ "$(grep -c 'Macro Influence of' "$out/resumed.log")" -eq 1 ] || { echo "FAIL resumed: more than one fusion rerun"; exit 1; }
for f in model.safetensors config.json; do
    cmp "$out/np1/$f" "$out/killed/$f" || { echo "FAIL resumed: $f differs from the uninterrupted run's"; exit 1; }
done
echo "ok   resumed run's model files == the uninterrupted run's (byte for byte)"
run again 1 $FG --out "$out/killed" --state "$out/s.json"
grep -q "nothing to do" "$out/again.log" && echo "ok   complete state: nothing to do"

# before any step: plain removal
run e0 1 $BASE --epochs 0 --out "$out/e0" --json "$out/e0.json"
run mi 1 compress --method mi --model "$M" --calib "$DF_FIXTURES/data/calib.train.txt" --remove 3 --samples 4 --seq-len 64 \
    --seed 3 --batch-tokens 512 --out "$out/mi" --json "$out/mi.json"
cmp "$out/e0/model.safetensors" "$out/mi/model.safetensors" || { echo "FAIL epochs 0: weights differ from removal"; exit 1; }
echo "ok   --epochs 0 == compress --method mi (weights byte for byte)"

# a state of other options
if "$DF_BIN" $BASE --epochs 1 --out "$out/other" --state "$out/s.json" > "$out/other.log" 2>&1; then
    echo "FAIL other options: accepted"; exit 1; fi
[ "$(grep -c 'error:' "$out/other.log")" -eq 1 ] && grep -q "s.json: recorded for another set of options" "$out/other.log" &&
    [ ! -e "$out/other" ] || { echo "FAIL other options"; cat "$out/other.log"; exit 1; }
echo "ok   $(grep error: "$out/other.log")"

/usr/bin/python3 - "$out" <<'PY'
import json, sys
d = sys.argv[1]
ok = True
def check(cond, msg):
    global ok
    ok &= bool(cond)
    print(("ok   " if cond else "FAIL ") + msg)
j = {n: json.load(open(f"{d}/{n}.json")) for n in ("np1", "np2", "p2", "resumed", "e0", "mi")}
p1 = list(json.load(open(f"{d}/ppl-np1.json"))["perplexity"].values())[0]
for n, what in (("np2", "-np 2 (D=2)"), ("p2", "-np 2 --pipeline 2")):
    check(j["np1"]["removed"] == j[n]["removed"], f"-np 1 and {what} remove {j['np1']['removed']} / {j[n]['removed']}")
    p = list(json.load(open(f"{d}/ppl-{n}.json"))["perplexity"].values())[0]
    check(abs(p1 - p) <= 1e-4 * p1, f"test perplexity -np 1 {p1:.6f}, {what} {p:.6f} (rel {abs(p1 - p) / p1:.1e})")
check(j["e0"]["removed"] == j["mi"]["removed"], f"--epochs 0 removes {j['e0']['removed']} as mi {j['mi']['removed']}")
its = j["np1"]["fusegpt"]["iterations"]
check(len(its) == 3 and all(len(i["loss"]) == 2 for i in its), "report: 3 iterations with the loss of 2 epochs each")
check(all(i["loss"][-1] < i["loss_init"] for i in its), "fine-tuning lowers every group's loss: " +
      ", ".join(f"{i['loss_init']:.3g}->{i['loss'][-1]:.3g}" for i in its))
timeless = lambda its: [{k: v for k, v in i.items() if not k.endswith("seconds")} for i in its]
check(timeless(j["resumed"]["fusegpt"]["iterations"]) == timeless(its) and j["resumed"]["removed"] == j["np1"]["removed"],
      "resumed report == uninterrupted (but seconds): same removals, MI, losses")
check(j["np1"]["charts"][0]["series"][0]["y"][0] == its[0]["loss_init"], "report: the loss chart")
sys.exit(0 if ok else 1)
PY
