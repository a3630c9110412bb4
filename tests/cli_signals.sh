#!/bin/sh
# Stopping and resuming (docs/distributed.md, "Stopping and resuming"), at -np 2 on base-16L with
# small budgets. A run is stopped by a signal at a chosen place (DF_TEST_STOP_AT=POINT:N[:TERM]: the
# last rank raises SIGUSR1 or SIGTERM on itself the N-th time it reaches POINT; "kill" sends a real
# SIGUSR1 to mpirun), must exit 75 with nothing at its output path, and the same command run again
# must end with what an uninterrupted run gives: the --json report identical but for timings and
# paths, the model files byte for byte. A rerun of a complete run writes nothing.
#   fusegpt-USR1, fusegpt-TERM  one FuseGPT run (3 fusions) stopped at 3 points by that signal: during
#                               fusion 1's fine-tuning (it stops when fusion 1 is saved), after fusion 2,
#                               during fusion 3 (it stops before the write); its --log-json parses line
#                               by line and holds start, layout, progress, checkpoint, stopped, done
#   greedy                      importance --metric mi --iterative 3, compress mi, prune sleb (SIGTERM),
#                               compress bi (before the write)
#   methods                     compress flattengpt and gptailor, eval of two files
#   kill                        kill -USR1 to mpirun during prune --state; a second run on the same
#                               --state (or --out) refuses in one line while the first holds the lock
# Usage: cli_signals.sh PART MPIEXEC [MPI PREFLAGS...]
set -eu
part=$1; mpiexec=$2; shift 2
MPIFLAGS="$*"
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
M=$DF_FIXTURES/models; D=$DF_FIXTURES/data
PY=/usr/bin/python3
CAL="--calib $D/calib.train.txt --samples 4 --seq-len 64 --batch-tokens 256 --progress none"

# run TAG EXPECTED-STATUS [POINT], then depthfuse's arguments
run() {
    tag=$1; want=$2; at=$3; shift 3
    st=0
    DF_TEST_STOP_AT=$at "$mpiexec" -n 2 $MPIFLAGS "$DF_BIN" "$@" > "$out/$tag.log" 2>&1 || st=$?
    [ "$st" -eq "$want" ] || { echo "FAIL $tag: exit $st, expected $want"; cat "$out/$tag.log"; exit 1; }
    if [ "$want" -eq 75 ]; then
        grep -q "stopped on request (SIG" "$out/$tag.log" || { echo "FAIL $tag: no stop message"; cat "$out/$tag.log"; exit 1; }
        sig=SIGUSR1; case $at in *:TERM) sig=SIGTERM ;; esac
        grep -q "stopped on request ($sig)" "$out/$tag.log" || { echo "FAIL $tag: not stopped by $sig"; cat "$out/$tag.log"; exit 1; }
        echo "ok   $tag: stopped at $at ($sig)"
    fi
}
# nothing at OUT nor a temporary sibling of it
nothing_at() {
    [ ! -e "$1" ] && ! ls -d "$1".depthfuse-tmp.* > /dev/null 2>&1 || { echo "FAIL: something at $1"; ls -la "$(dirname "$1")"; exit 1; }
}
# same REF OTHER: the --json reports equal but for timings and paths; model folders byte for byte
same() {
    $PY - "$out/$1" "$out/$2" <<'EOF' || exit 1
import json, os, sys
ref, got = sys.argv[1], sys.argv[2]
SKIP = {"command", "command_line", "out", "history", "recipe", "resumed_trials", "phases"}
def clean(x):
    if isinstance(x, dict):
        return {k: clean(v) for k, v in x.items() if k not in SKIP and "seconds" not in k}
    if isinstance(x, list):
        return [clean(v) for v in x]
    return x
a, b = (clean(json.load(open(p + ".json"))) for p in (ref, got))
if a != b:
    sys.exit(f"FAIL {got}.json differs from {ref}.json (timings and paths aside):\n{json.dumps(a)[:2000]}\n{json.dumps(b)[:2000]}")
if os.path.isdir(ref):
    names = sorted(os.listdir(ref))
    if names != sorted(os.listdir(got)): sys.exit(f"FAIL {got}: files {sorted(os.listdir(got))}, expected {names}")
    for n in names:
        x, y = (open(os.path.join(p, n), "rb").read() for p in (ref, got))
        if n == "depthfuse.json":
            x, y = (clean(json.loads(v)) for v in (x, y))
        if x != y: sys.exit(f"FAIL {got}/{n} differs from the uninterrupted run's")
print(f"ok   {os.path.basename(got)} == {os.path.basename(ref)} (report but timings; model files byte for byte)")
EOF
}
# a rerun of a complete run: exit 0 and nothing written (the model's and the report's mtimes kept)
rerun_writes_nothing() {
    rw=$1; shift # (run sets tag, want and at: the helpers share sh's globals)
    before=$(ls -l --time-style=full-iso "$out/$rw" "$out/$rw.json" | md5sum)
    run "$rw-again" 0 "" "$@"
    [ "$before" = "$(ls -l --time-style=full-iso "$out/$rw" "$out/$rw.json" | md5sum)" ] ||
        { echo "FAIL $rw: a rerun of the complete run wrote"; exit 1; }
    grep -q "nothing to do" "$out/$rw-again.log" || { echo "FAIL $rw: the rerun did not say it had nothing to do"; exit 1; }
    echo "ok   $rw: the rerun of the complete run wrote nothing"
}

case $part in
fusegpt-*)
    suffix=; [ "$part" = fusegpt-TERM ] && suffix=:TERM
    FG="compress --method fusegpt --model $M/base-16L --calib $D/calib.train.txt --remove 3 --samples 8 --batch 4
        --epochs 1 --seq-len 32 --mi-samples 2 --seed 3 --batch-tokens 256 --progress log"
    run ref 0 "" $FG --out "$out/ref" --json "$out/ref.json"
    S="--out $out/int --json $out/int.json --state $out/int.state.json --log-json $out/int.jsonl"
    done_in_state() { grep -q "\"done\":[[:space:]]*$1" "$out/int.state.json" || { echo "FAIL: the state does not record $1 fusions"; exit 1; }; }
    run stop1 75 "train_step:1$suffix" $FG $S; nothing_at "$out/int"; done_in_state 1
    run stop2 75 "fusion:1$suffix" $FG $S; nothing_at "$out/int"; done_in_state 2
    run stop3 75 "train_step:1$suffix" $FG $S; nothing_at "$out/int"; done_in_state 3
    grep -q "resuming from" "$out/stop3.log" || { echo "FAIL stop3: did not resume"; exit 1; }
    run resumed 0 "" $FG $S
    same ref int
    rerun_writes_nothing int $FG $S
    $PY - "$out/int.jsonl" <<'EOF' || exit 1
import json, sys
events = [json.loads(line) for line in open(sys.argv[1])]  # every line one JSON object
kinds = [e["event"] for e in events]
for k in ("start", "layout", "phase_begin", "progress", "phase_end", "checkpoint", "stopped", "done"):
    if k not in kinds: sys.exit(f"FAIL event log: no {k} event in {kinds}")
if kinds.count("start") != 5 or kinds.count("stopped") != 3 or kinds.count("done") != 2 or kinds[0] != "start":
    sys.exit(f"FAIL event log: 5 runs appended, 3 stopped, 2 done expected: {kinds}")
done = [e for e in events if e["event"] == "done"][0]
if not any(o.endswith("/int") for o in done["outputs"]): sys.exit(f"FAIL event log: done lists {done['outputs']}")
ck = [e for e in events if e["event"] == "checkpoint"]
if [e["done"] for e in ck if e["unit"] == "fusion"] != [1, 2, 3]: sys.exit(f"FAIL event log: checkpoints {ck}")
print(f"ok   event log: {len(events)} lines parse; {kinds.count('progress')} progress, {len(ck)} checkpoint events")
EOF
    ;;
greedy)
    IMP="importance --model $M/base-16L --metric mi --iterative 3 $CAL --seed 5"
    run imp-ref 0 "" $IMP --json "$out/imp-ref.json"
    run imp-stop 75 greedy_removal:1 $IMP --json "$out/imp.json" --state "$out/imp.state"
    [ ! -e "$out/imp.json" ] || { echo "FAIL imp-stop: wrote its --json"; exit 1; }
    run imp 0 "" $IMP --json "$out/imp.json" --state "$out/imp.state"
    same imp-ref imp
    for spec in "mi greedy_removal:2 --state" "sleb greedy_removal:1:TERM --state" "bi write:1:TERM"; do
        set -- $spec
        method=$1; point=$2; state=${3:+--state $out/$method.state}
        cmd=compress; [ "$method" = sleb ] && cmd=prune
        P="$cmd --method $method --model $M/base-16L --remove 3 $CAL --seed 5"
        run "$method-ref" 0 "" $P --out "$out/$method-ref" --json "$out/$method-ref.json"
        run "$method-stop" 75 "$point" $P --out "$out/$method" --json "$out/$method.json" $state
        nothing_at "$out/$method"
        run "$method" 0 "" $P --out "$out/$method" --json "$out/$method.json" $state
        same "$method-ref" "$method"
    done
    # depthfuse.json: the method's removals as its report has them, the inputs' hashes as docs/formats.md
    # defines them (FNV-1a of config.json, then of each safetensors name, header length and header)
    $PY - "$out/mi" "$M/base-16L" "$D/calib.train.txt" <<'EOF' || exit 1
import json, os, struct, sys
got, model, calib = sys.argv[1:]
def fnv(chunks):
    h = 1469598103934665603
    for c in chunks:
        for byte in c:
            h = ((h ^ byte) * 1099511628211) % 2**64
    return f"fnv1a64:{h:016x}"
def model_chunks(d):
    yield open(os.path.join(d, "config.json"), "rb").read()
    for n in sorted(f for f in os.listdir(d) if f.endswith(".safetensors")):
        raw = open(os.path.join(d, n), "rb").read(8)
        yield n.encode() + b"\0"
        yield raw
        with open(os.path.join(d, n), "rb") as f:
            f.seek(8)
            yield f.read(struct.unpack("<Q", raw)[0])
p = json.load(open(os.path.join(got, "depthfuse.json")))
rep = json.load(open(got + ".json"))
want = {model: fnv(model_chunks(model)), calib: fnv([open(calib, "rb").read()])}
have = {i["path"]: i["hash"] for i in p["inputs"]}
if have != want: sys.exit(f"FAIL depthfuse.json inputs {have}, expected {want}")
if p["method"] != "mi" or p["removed"] != rep["removed"] or p["block_map"] != rep["block_map"] or p["blocks_after"] != 13:
    sys.exit(f"FAIL depthfuse.json: {p}")
if not p["command"].startswith("depthfuse compress --method mi") or "depthfuse" not in p["versions"]:
    sys.exit(f"FAIL depthfuse.json: command {p['command']}")
print(f"ok   depthfuse.json: method mi, removed {p['removed']}, input hashes as recomputed")
EOF
    rerun_writes_nothing mi compress --method mi --model "$M/base-16L" --remove 3 $CAL --seed 5 --out "$out/mi" \
        --json "$out/mi.json" --state "$out/mi.state"
    ;;
methods)
    FL="compress --method flattengpt --model $M/base-16L $CAL --remove 2"
    run fl-ref 0 "" $FL --out "$out/fl-ref" --json "$out/fl-ref.json"
    run fl-stop 75 write:1 $FL --out "$out/fl" --json "$out/fl.json"
    nothing_at "$out/fl"
    run fl 0 "" $FL --out "$out/fl" --json "$out/fl.json"
    same fl-ref fl
    GT="compress --method gptailor --model $M/base-16L --candidate $M/base-16L-ft-kjv --remove 4 --objective-ppl
        $D/brown.valid.txt --seq-len 64 --batch-tokens 256 --min-windows 1 --max-windows 2 --warm-windows 1 --seed 3
        --trials 4 --resume --progress none"
    run gt-ref 0 "" $GT --out "$out/gt-ref" --json "$out/gt-ref.json"
    run gt-stop 75 trial:2:TERM $GT --out "$out/gt" --json "$out/gt.json"
    nothing_at "$out/gt"
    run gt 0 "" $GT --out "$out/gt" --json "$out/gt.json"
    same gt-ref gt
    head -c 20000 "$D/brown.valid.txt" > "$out/brown.txt"; head -c 20000 "$D/kjv.valid.txt" > "$out/kjv.txt"
    EV="eval --model $M/base-16L --ppl $out/brown.txt --ppl $out/kjv.txt --seq-len 64 --batch-tokens 256 --progress none"
    run ev-ref 0 "" $EV --json "$out/ev-ref.json"
    run ev-stop 75 eval_file:1 $EV --json "$out/ev.json"
    [ ! -e "$out/ev.json" ] || { echo "FAIL ev-stop: wrote its --json"; exit 1; }
    run ev 0 "" $EV --json "$out/ev.json"
    same ev-ref ev
    ;;
kill)
    # long enough (about 10 s unloaded, with OpenBLAS's AVX-512 kernels) to be still running at the
    # lock checks and the kill
    P="prune --method sleb --model $M/base-16L --remove 6 --calib $D/calib.train.txt --samples 32 --seq-len 64
       --batch-tokens 256 --progress none --seed 5"
    run ref 0 "" $P --out "$out/ref" --json "$out/ref.json"
    S="--out $out/k --json $out/k.json --state $out/k.state"
    "$mpiexec" -n 2 $MPIFLAGS "$DF_BIN" $P $S > "$out/k1.log" 2>&1 &
    pid=$!
    while [ ! -e "$out/k.state" ] && kill -0 $pid 2> /dev/null; do sleep 0.1; done
    # the first run holds the lock: a second on the same --state and another --out refuses, in one line
    st=0
    "$mpiexec" -n 2 $MPIFLAGS "$DF_BIN" $P --out "$out/other" --state "$out/k.state" > "$out/lock.log" 2>&1 || st=$?
    [ "$st" -eq 1 ] && [ "$(grep -c 'error:' "$out/lock.log")" -eq 1 ] && grep -q "in use by another depthfuse run" "$out/lock.log" ||
        { echo "FAIL lock: exit $st"; cat "$out/lock.log"; exit 1; }
    nothing_at "$out/other"
    echo "ok   lock: $(grep 'error:' "$out/lock.log")"
    # ... and so does one on the same --out without a state
    st=0
    "$mpiexec" -n 2 $MPIFLAGS "$DF_BIN" $P --out "$out/k" > "$out/lock-out.log" 2>&1 || st=$?
    [ "$st" -eq 1 ] && [ "$(grep -c 'error:' "$out/lock-out.log")" -eq 1 ] && grep -q "k: in use by another depthfuse run" "$out/lock-out.log" ||
        { echo "FAIL lock --out: exit $st"; cat "$out/lock-out.log"; exit 1; }
    kill -0 $pid 2> /dev/null || { echo "FAIL kill: the first run ended before the lock checks were done"; cat "$out/k1.log"; exit 1; }
    echo "ok   lock: $(grep 'error:' "$out/lock-out.log")"
    kill -USR1 $pid
    st=0; wait $pid || st=$?
    [ "$st" -eq 75 ] || { echo "FAIL kill: exit $st after kill -USR1 to mpirun"; cat "$out/k1.log"; exit 1; }
    nothing_at "$out/k"
    [ ! -e "$out/k.state.lock" ] || { echo "FAIL kill: the lock file stayed"; exit 1; }
    echo "ok   kill -USR1 to mpirun: exit 75, nothing at --out, the lock released"
    run k 0 "" $P $S
    same ref k
    ;;
*) echo "unknown part $part"; exit 2 ;;
esac
