#!/bin/sh
# depthfuse run and plan end to end: a small mi job (paths relative to its folder, run from another
# folder) writes the same model, byte for byte, and the same report as the command line it stands
# for; its plan counts the block forwards the run made, and its time estimate is within the factor
# docs/distributed.md states of the measured importance phase; --dry-run of the command line is the
# same plan; the 70B FuseGPT plan in docs/distributed.md is the planner's output; plans that do not
# fit --mem-per-rank are refused. Usage: cli_jobs.sh SRC MPIEXEC [MPIFLAGS...] (DF_BIN, DF_FIXTURES).
set -eu
SRC=$1 mpiexec=$2
shift 2
MPIFLAGS="$* --bind-to none"
FACTOR=4 # docs/distributed.md: the estimate is within 4x of the measured time on the fixture
# one thread a rank, for the run and the planner's sgemm alike: on a shared 2-core machine OpenMP's
# barriers, not the GEMMs, would otherwise set the pace
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/j" "$tmp/out" "$tmp/elsewhere"
ln -s "$DF_FIXTURES" "$tmp/fixtures"
cat > "$tmp/j/small.json" <<EOF
{"command": "compress", "model": "../fixtures/models/base-16L", "remove": 2,
 "method": {"mi": {"calib": "../fixtures/data/calib.train.txt", "samples": 4, "seq_len": 128, "seed": 1}},
 "out": "../out/job", "json": "../out/job.json"}
EOF
fail() { echo "FAIL $*"; exit 1; }
cd "$tmp/elsewhere"
"$mpiexec" -n 1 $MPIFLAGS "$DF_BIN" run ../j/small.json --progress=none > "$tmp/job.log" 2>&1 || { cat "$tmp/job.log"; fail "run"; }
"$mpiexec" -n 1 $MPIFLAGS "$DF_BIN" compress --method mi --model "$DF_FIXTURES/models/base-16L" --remove 2 \
    --calib "$DF_FIXTURES/data/calib.train.txt" --samples 4 --seq-len 128 --seed 1 --out "$tmp/out/cli" \
    --json "$tmp/out/cli.json" --progress=none > "$tmp/cli.log" 2>&1 || { cat "$tmp/cli.log"; fail "command line"; }
for f in "$tmp/out/cli"/*; do
    [ "$(basename "$f")" = depthfuse.json ] && continue # it records the command (run JOB.json): compared below
    cmp "$f" "$tmp/out/job/$(basename "$f")" || fail "$(basename "$f") differs between the job and the command line"
done
/usr/bin/python3 - "$tmp/out/job/depthfuse.json" "$tmp/out/cli/depthfuse.json" <<'EOF' || fail "depthfuse.json differs beyond the command"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for d in (a, b):
    d.pop("command"), d.pop("model")  # the command line and the model path as typed
    for i in d["inputs"]:
        i.pop("path", None)  # relative to the job's folder in one, as typed in the other
[print(k, a.get(k), b.get(k), file=sys.stderr) for k in set(a) | set(b) if a.get(k) != b.get(k)]
sys.exit(a != b)
EOF
/usr/bin/python3 - "$tmp/out/job.json" "$tmp/out/cli.json" <<'EOF' || fail "reports differ"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for d in (a, b):  # what names the paths and the times
    for k in ("command", "model", "out", "seconds", "phases"):
        d.pop(k)
if a != b:
    sys.exit("job and command line reports differ: %s" % sorted(k for k in a if a[k] != b.get(k)))
EOF
echo "ok   run small.json == the command line (model bytes, report)"

# a demo job of jobs/ as it stands (bi, the quickest) in a copy of the tree's layout, at -np 2, against
# the command line `run --check` prints for it (its outputs moved aside)
mkdir -p "$tmp/tree/jobs/demo" "$tmp/tree/tests"
cp "$SRC/jobs/demo/bi.json" "$tmp/tree/jobs/demo/"
ln -s "$DF_FIXTURES" "$tmp/tree/tests/fixtures"
cd "$tmp"
"$mpiexec" -n 2 $MPIFLAGS "$DF_BIN" run tree/jobs/demo/bi.json --progress=none > "$tmp/bi.log" 2>&1 || { cat "$tmp/bi.log"; fail "run bi.json"; }
line=$("$DF_BIN" run --check tree/jobs/demo/bi.json | sed 's|/\.\./\.\./demo/jobs/|/../../cli/|g; s|^depthfuse ||')
case $line in compress\ --method\ bi\ *) ;; *) fail "run --check printed: $line" ;; esac
# shellcheck disable=SC2086
"$mpiexec" -n 2 $MPIFLAGS "$DF_BIN" $line --progress=none > "$tmp/bi-cli.log" 2>&1 || { cat "$tmp/bi-cli.log"; fail "$line"; }
for f in tree/cli/base-16L-bi-4/*; do
    [ "$(basename "$f")" = depthfuse.json ] && continue # the command as typed (compared above for small.json)
    cmp "$f" "tree/demo/jobs/base-16L-bi-4/$(basename "$f")" || fail "bi: $(basename "$f") differs"
done
echo "ok   jobs/demo/bi.json at -np 2 == its command line"
cd "$tmp/elsewhere"

# the plan: block forwards as counted by the run, time within FACTOR of the importance phase
"$DF_BIN" plan ../j/small.json > "$tmp/plan.txt" 2>&1 || { cat "$tmp/plan.txt"; fail "plan"; }
cat "$tmp/plan.txt"
/usr/bin/python3 - "$tmp/plan.txt" "$tmp/job.log" "$tmp/out/job.json" "$FACTOR" <<'EOF' || fail "plan vs run"
import json, re, sys
plan, log, rep, factor = open(sys.argv[1]).read(), open(sys.argv[2]).read(), json.load(open(sys.argv[3])), float(sys.argv[4])
planned = float(re.search(r"\(([0-9.e+]+) block forwards of a window\)", plan).group(1))
ran = float(re.search(r"; (\d+) block forwards \(blocks x windows\)", log).group(1))
if planned != ran:
    sys.exit("plan: %g block forwards, the run: %g" % (planned, ran))
est = float(re.search(r"^time: ([0-9.e+]+) s", plan, re.M).group(1))
meas = [p["seconds"] for p in rep["phases"] if p["name"] == "importance"][0]
print("block forwards %g (plan == run); time: estimated %.2f s, measured %.2f s (ratio %.2f, allowed %gx)" % (planned, est, meas, meas / est, factor))
if not (1 / factor <= meas / est <= factor):
    sys.exit("estimate %.2f s vs measured %.2f s: outside %gx" % (est, meas, factor))
EOF
echo "ok   plan: block forwards == the run's, time within ${FACTOR}x"

# --dry-run on the command line: the same plan, and nothing written
"$DF_BIN" plan ../j/small.json --gflops 10 | sed 's|^model: [^ ]*|model:|' > "$tmp/p1.txt"
"$DF_BIN" compress --method mi --model ../fixtures/models/base-16L --remove 2 --calib ../fixtures/data/calib.train.txt \
    --samples 4 --seq-len 128 --seed 1 --out "$tmp/out/dry" --dry-run --gflops 10 | sed 's|^model: [^ ]*|model:|' > "$tmp/p2.txt"
cmp "$tmp/p1.txt" "$tmp/p2.txt" || fail "plan JOB and --dry-run differ"
[ ! -e "$tmp/out/dry" ] || fail "--dry-run wrote its --out"
if "$DF_BIN" eval --model ../fixtures/models/base-16L --ppl ../fixtures/data/kjv.test.txt --gflops 10 > /dev/null 2>&1; then
    fail "--gflops without --dry-run was accepted"
fi
echo "ok   --dry-run == plan, writes nothing"

# the 70B FuseGPT plan of docs/distributed.md is the planner's output
cd "$SRC"
"$DF_BIN" plan jobs/templates/fusegpt-70b.json --gflops 200 > "$tmp/70b.txt"
/usr/bin/python3 - "$tmp/70b.txt" docs/distributed.md <<'EOF' || fail "docs/distributed.md's 70B plan is not the planner's output (regenerate it)"
import sys
plan, doc = open(sys.argv[1]).read(), open(sys.argv[2]).read()
start = "<!-- depthfuse plan jobs/templates/fusegpt-70b.json --gflops 200 -->\n```\n"
i = doc.index(start) + len(start)
if doc[i:doc.index("```\n", i)] != plan:
    sys.exit(1)
EOF
echo "ok   docs/distributed.md's 70B plan"
if "$DF_BIN" plan jobs/templates/fusegpt-70b.json --gflops 200 --mem-per-rank 40GB > /dev/null 2> "$tmp/err"; then fail "40GB accepted"; fi
grep -q "does not fit --mem-per-rank 40GB" "$tmp/err" || fail "the refusal: $(cat "$tmp/err")"
if "$DF_BIN" plan jobs/templates/flattengpt-70b.json --gflops 200 --mem-per-rank 80GB > /dev/null 2>&1; then
    fail "FlattenGPT 70B (the whole model on every rank) fits 80GB?"
fi
echo "ok   --mem-per-rank refuses what does not fit"
