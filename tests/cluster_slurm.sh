#!/bin/sh
# jobs/slurm/demo.sbatch under a real Slurm (a one-node cluster of tools/slurm_local.sh: slurmctld,
# slurmd and munged as root), preempted and requeued:
# - one demo job runs uninterrupted (the reference);
# - another gets `scancel --signal=USR1 --batch` once its state records a completed fusion: the batch
#   script forwards the signal, depthfuse stops at the end of the fusion under way (exit 75) and the
#   script requeues the job; while it waits in the queue nothing is at its model's path;
# - the requeued job (same id, Restarts=1) resumes from the state and completes (exit 0); its model
#   files equal the reference's byte for byte and its --json report equals the reference's but for
#   the timings (and the run folder's name); its folder holds no temporary or partial file;
# - at the end no process of the cluster is left (slurm_local.sh stop fails otherwise).
# Exits 77 (skipped) when the daemons cannot start here (not root, no slurm-wlm/munge) or the
# machine has fewer than 2 cores (the demo's 2 tasks).
# Usage: cluster_slurm.sh SOURCE_DIR   (DF_BIN: the depthfuse binary)
set -eu
src=$(cd "$1" && pwd)
[ "$(nproc)" -ge 2 ] || { echo "skipped: the demo job needs 2 cores, this machine has $(nproc)"; exit 77; }
work=$(mktemp -d)
mkdir "$work/slurm"
# whatever happens, the cluster goes (its daemons and any job's process) and the test fails if
# something survives
cleanup() {
    st=$1
    "$src/tools/slurm_local.sh" stop "$work/slurm" || { echo "FAIL: processes of the cluster left running"; st=1; }
    if [ "$st" -ne 0 ] && [ "$st" -ne 77 ]; then
        for f in "$work"/*.log "$work/slurm/log/slurmctld.log" "$work/slurm/log/slurmd.log"; do
            [ -f "$f" ] && { echo "== $f (tail)"; tail -40 "$f"; }
        done
    fi
    rm -rf "$work"
    exit "$st"
}
trap 'cleanup $?' EXIT
trap 'exit 1' INT TERM HUP
t0=$(date +%s)
rc=0
"$src/tools/slurm_local.sh" start "$work/slurm" || rc=$?
[ $rc -eq 0 ] || exit $rc
# (run inside another cluster's job, its SLURM_* variables would reach sbatch and the jobs)
for v in $(env | sed -n 's/^\(SLURM_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done
export SLURM_CONF="$work/slurm/slurm.conf" DF_ROOT="$src" DF_BIN
cd "$src"

fail() { echo "FAIL: $*"; exit 1; }
submit() { sbatch --parsable --output="$work/$1.log" --export=ALL,RUN="$work/$1" jobs/slurm/demo.sbatch; }
field() { scontrol show job -o "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
# wait up to $1 s for the shell condition $2
until_true() {
    i=0
    until eval "$2"; do
        i=$((i + 1))
        [ $i -le $(($1 * 5)) ] || return 1
        sleep 0.2
    done
}
done_state() { [ "$(field "$1" JobState)" = COMPLETED ] || [ "$(field "$1" JobState)" = FAILED ] ||
    [ "$(field "$1" JobState)" = CANCELLED ] || [ "$(field "$1" JobState)" = TIMEOUT ]; }

# the preempted one first: while it waits for its requeue the reference can run
pre=$(submit pre)
ref=$(submit ref)
echo "submitted: job $pre (to preempt), job $ref (uninterrupted)"
until_true 150 "grep -qs '\"done\":[[:space:]]*[1-9]' '$work/pre/state.json' || done_state $pre" ||
    fail "job $pre: no completed fusion in $work/pre/state.json after 150 s"
[ "$(field "$pre" JobState)" = RUNNING ] || fail "job $pre ended before the preemption ($(field "$pre" JobState))"
scancel --signal=USR1 --batch "$pre"
echo "ok   job $pre preempted (scancel --signal=USR1 --batch) after fusion $(sed -n 's/.*"done":[[:space:]]*\([0-9]*\).*/\1/p' "$work/pre/state.json")"
until_true 120 "[ \"\$(field $pre Restarts)\" -ge 1 ] || done_state $pre" || fail "job $pre not requeued within 120 s"
[ "$(field "$pre" Restarts)" -eq 1 ] || fail "job $pre ended without a requeue ($(field "$pre" JobState))"
[ ! -e "$work/pre/model" ] && [ -z "$(find "$work/pre" -name '*depthfuse-tmp*')" ] ||
    fail "job $pre: something at the model's path after the stop: $(ls -A "$work/pre")"
echo "ok   job $pre requeued ($(field "$pre" JobState)), nothing at its model's path"

until_true 300 "done_state $pre && done_state $ref" || fail "jobs not finished within 300 s"
for j in "$pre" "$ref"; do
    [ "$(field "$j" JobState)" = COMPLETED ] && [ "$(field "$j" ExitCode)" = 0:0 ] ||
        fail "job $j: $(field "$j" JobState), exit $(field "$j" ExitCode)"
done
[ "$(field "$pre" Restarts)" -eq 1 ] || fail "job $pre: $(field "$pre" Restarts) restarts"
echo "ok   both jobs COMPLETED with exit 0:0 (job $pre after 1 requeue)"
log=$work/pre.log
grep -q "stopped on request (SIGUSR1)" "$log" || fail "job $pre: depthfuse did not report a stop on request"
grep -q "stopped at a safe point: requeueing" "$log" || fail "job $pre: the script did not requeue"
grep -q "resuming from .* already fused" "$log" || fail "job $pre: the requeued run did not resume"
[ "$(grep -c 'Macro Influence of' "$log")" -eq 3 ] || fail "job $pre: not 3 fusions in all (a fusion lost or repeated)"
echo "ok   $(grep 'resuming from' "$log" | head -1)"

# the result: the model files byte for byte (but depthfuse.json, which names the command), the
# reports but for the timings and the run folder
names() { (cd "$1" && find . -mindepth 1 -maxdepth 1 ! -name depthfuse.json | sed 's|^\./||' | sort); }
[ "$(names "$work/pre/model")" = "$(names "$work/ref/model")" ] || fail "the model folders hold other files"
[ -n "$(names "$work/ref/model")" ] || fail "no model written"
for f in $(names "$work/ref/model"); do
    cmp "$work/pre/model/$f" "$work/ref/model/$f" || fail "$f differs from the uninterrupted run's"
done
echo "ok   the requeued job's model files == the uninterrupted job's (byte for byte): $(names "$work/ref/model" | tr '\n' ' ')"
# the same files as the reference's folder (the state keeps its last fused weights beside it), no
# temporary (output.c's NAME.depthfuse-tmp.PID)
listing() { (cd "$1" && find . | sort | tr '\n' ' '); }
[ "$(listing "$work/pre")" = "$(listing "$work/ref")" ] ||
    fail "job $pre's folder holds $(listing "$work/pre"), the reference's $(listing "$work/ref")"
[ -z "$(find "$work" -name '*depthfuse-tmp*')" ] || fail "a temporary file left: $(find "$work" -name '*depthfuse-tmp*')"
echo "ok   job $pre's folder == the reference's: $(cd "$work/pre" && ls -A | tr '\n' ' ')(nothing partial)"
/usr/bin/python3 - "$work" << 'PY' || exit 1
import json, sys
work = sys.argv[1]
def timeless(o, run):
    if isinstance(o, dict):
        return {k: timeless(v, run) for k, v in o.items() if not k.endswith("seconds")}
    if isinstance(o, list):
        return [timeless(v, run) for v in o]
    return o.replace(f"{work}/{run}", "RUN") if isinstance(o, str) else o
pre, ref = (timeless(json.load(open(f"{work}/{r}/report.json")), r) for r in ("pre", "ref"))
if pre != ref:
    for k in sorted(set(pre) | set(ref)):
        if pre.get(k) != ref.get(k):
            print(f"FAIL: report key {k}: requeued {pre.get(k)!r:.200} uninterrupted {ref.get(k)!r:.200}")
    sys.exit(1)
print(f"ok   the requeued job's report == the uninterrupted job's but for the timings ({len(ref)} keys, "
      f"removed {ref['removed']})")
PY
echo "ok   $(($(date +%s) - t0)) s in all"
