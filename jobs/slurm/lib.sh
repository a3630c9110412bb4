# shellcheck shell=bash
# What the scripts of jobs/slurm/ have in common (sourced by each; docs/distributed.md, "Slurm"):
# the checks, the threads per rank, the launch of one depthfuse step over the job's tasks, and
# preemption: Slurm's SIGUSR1 (#SBATCH --signal=B:USR1@300, or scancel --signal=USR1 --batch) is
# forwarded to the running step; depthfuse stops at its next safe point with its state on disk and
# exits 75, and the job requeues itself, so that the same command resumes from the same --state.
#
# Environment (all optional):
#   DF_ROOT      the depthfuse checkout (default: the folder sbatch was run in, $SLURM_SUBMIT_DIR)
#   DF_BIN       the depthfuse binary (default: $DF_ROOT/build/depthfuse)
#   DF_LAUNCHER  srun (default) or mpirun (Open MPI's, which starts its daemons through Slurm)
#   DF_SRUN_MPI  srun's --mpi plugin (default pmix: Debian's Open MPI and Slurm both speak PMIx)

DF_EXIT_STOPPED=75 # depthfuse's status for "stopped on request, resume with the same command" (stop.h)

df_log() { echo "[$(date -u +%FT%TZ)] job ${SLURM_JOB_ID:-?}: $*"; }
df_err() { echo "${SLURM_JOB_NAME:-$0}: $*" >&2; } # $0 is a copy in slurmd's spool: the job's name says more

# df_init: call first. Refuses to run outside a Slurm job and sets the threads per rank.
df_init() {
    set -eu
    if [ -z "${SLURM_JOB_ID:-}" ]; then
        df_err "not in a Slurm job: submit it with sbatch (docs/distributed.md, Slurm)"
        exit 2
    fi
    DF_ROOT=${DF_ROOT:-$SLURM_SUBMIT_DIR}
    DF_BIN=${DF_BIN:-$DF_ROOT/build/depthfuse}
    DF_LAUNCHER=${DF_LAUNCHER:-srun}
    [ -x "$DF_BIN" ] || { df_err "no depthfuse binary at $DF_BIN (set DF_ROOT or DF_BIN)"; exit 2; }
    cd "$DF_ROOT"
    # one BLAS/OpenMP thread per core of the rank (depthfuse would otherwise divide the node)
    export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1} OPENBLAS_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
    df_preempted=0 df_terminated=0 df_pid=""
    trap df_on_usr1 USR1
    trap df_on_term TERM
    df_log "$SLURM_NTASKS ranks on $(scontrol show hostnames "$SLURM_JOB_NODELIST" | tr '\n' ' ')" \
        "(${SLURM_CPUS_PER_TASK:-1} cores each), restart ${SLURM_RESTART_COUNT:-0}, $DF_LAUNCHER"
}

# Slurm's warning that the job ends soon (or an operator's preemption): pass it on to the step.
df_on_usr1() {
    df_preempted=1
    df_log "SIGUSR1: depthfuse stops at its next safe point, then the job requeues"
    [ -z "$df_pid" ] || kill -USR1 "$df_pid" 2> /dev/null || true
}

# SIGTERM (scancel, the time limit; SIGKILL follows after the cluster's KillWait): passed on too,
# and the script waits for the step, which stops at its next safe point if it comes in time.
df_on_term() {
    df_terminated=1
    df_log "SIGTERM: depthfuse stops at its next safe point if it can before SIGKILL"
    [ -z "$df_pid" ] || kill -TERM "$df_pid" 2> /dev/null || true
}

# The launch of one step, in a subshell of its own (exec: its pid is the launcher's, which forwards
# SIGUSR1 to every rank): each rank bound to its --cpus-per-task cores. srun of Slurm >= 22.05 does
# not take --cpus-per-task from the job, hence the explicit one.
df_launch() {
    case $DF_LAUNCHER in
    srun)
        exec srun --mpi="${DF_SRUN_MPI:-pmix}" --kill-on-bad-exit=1 --cpu-bind=cores \
            --ntasks="$SLURM_NTASKS" --cpus-per-task="${SLURM_CPUS_PER_TASK:-1}" "$DF_BIN" "$@"
        ;;
    mpirun)
        # the same placement by Open MPI: tasks per node, each on its own cores
        set -- --map-by "ppr:${SLURM_NTASKS_PER_NODE:-$SLURM_NTASKS}:node:PE=${SLURM_CPUS_PER_TASK:-1}" \
            --bind-to core "$DF_BIN" "$@"
        [ "$(id -u)" -ne 0 ] || set -- --allow-run-as-root "$@"
        exec mpirun -np "$SLURM_NTASKS" "$@"
        ;;
    *) df_err "DF_LAUNCHER=$DF_LAUNCHER: expected srun or mpirun"; exit 2 ;;
    esac
}

# The job stopped at a safe point: back to the queue, to resume where it stopped. Exits 75 (if the
# requeue succeeded, Slurm's SIGTERM ends this script first).
df_requeue() {
    df_log "stopped at a safe point: requeueing; the next run resumes from the state on disk"
    trap - TERM
    scontrol requeue "$SLURM_JOB_ID" || df_log "scontrol requeue failed: submit the same job again to resume"
    exit $DF_EXIT_STOPPED
}

# df_step ARGS...: run `depthfuse ARGS` over the job's tasks. Returns 0 when it succeeded; a step
# stopped on SIGUSR1 requeues the job (exit 75), on SIGTERM ends it (75); any other failure ends the
# job with its status. A signal between steps acts before the next one starts (every step of these
# scripts is resumable or skipped when done).
df_step() {
    [ "$df_terminated" -eq 0 ] || exit $DF_EXIT_STOPPED
    [ "$df_preempted" -eq 0 ] || df_requeue
    df_log "depthfuse $*"
    df_launch "$@" &
    df_pid=$!
    # wait returns early (> 128) when a trap runs; the step goes on until it stops
    while :; do
        rc=0
        wait "$df_pid" || rc=$?
        [ "$rc" -gt 128 ] || break
        ! kill -0 "$df_pid" 2> /dev/null || continue
        rc=0 # it ended meanwhile (or was killed): bash keeps its status
        wait "$df_pid" || rc=$?
        break
    done
    df_pid=""
    case $rc in
    0) df_log "step done" ;;
    "$DF_EXIT_STOPPED")
        [ "$df_preempted" -eq 1 ] || { df_log "depthfuse stopped (SIGTERM: cancelled or at the time limit)"; exit "$rc"; }
        df_requeue
        ;;
    *) df_log "depthfuse failed (exit $rc)"; exit "$rc" ;;
    esac
}

# df_dense_h5 MODEL H5 STAGES: sets DF_DENSE to the .h5 store of MODEL: MODEL itself when it is
# one, else H5, converted from the Hugging Face folder MODEL once (one file read collectively loads
# faster than 64 ranks parsing shards on a shared file system). Under a lock, so that the tasks of an
# array wait for the first one's conversion; a finished H5 is kept and reused (convert writes a
# temporary and renames it, so an existing H5 is whole).
df_dense_h5() {
    DF_DENSE=$2
    case $1 in *.h5) DF_DENSE=$1; return 0 ;; esac
    mkdir -p "$(dirname "$2")"
    exec 9> "$2.lock"
    flock 9
    [ -f "$2" ] || df_step convert --from-hf "$1" --to "$2" --pipeline "$3" --progress log
    flock -u 9
    exec 9>&-
}

# df_method_flags_70b METHOD STAGES: a compression method's budget for a 70B model (the papers'
# calibration sizes), printed; refuses an unknown METHOD
df_method_flags_70b() {
    case $1 in
    fusegpt) echo "--samples 1024 --seq-len 2048 --mi-samples 32 --recompute --pipeline $2" ;;
    mi | bi | sleb) echo "--samples 32 --seq-len 2048 --pipeline $2" ;;
    flattengpt) echo "--samples 128 --seq-len 2048" ;; # data-parallel: every rank holds the model
    *) df_err "METHOD=$1: expected fusegpt, mi, bi, sleb or flattengpt"; return 2 ;;
    esac
}

# df_compress_eval RUN SPARSITY: the dense model as .h5 (once), compressed by METHOD at SPARSITY into
# RUN/model, then evaluated on TEST (TEST_SEQ_LEN tokens a window, default 2048). The greedy methods
# (fusegpt, mi, sleb) keep a --state in RUN, so that a requeued or resubmitted job resumes them (and
# a complete one is a no-op); bi and flattengpt run whole, so an existing RUN/model (the writer
# renames it into place when complete) is kept. Reads MODEL, CALIB, TEST, METHOD, STAGES, and FLAGS,
# DENSE and TEST_SEQ_LEN when set, from the script.
df_compress_eval() {
    local run=$1 sparsity=$2 flags state=()
    flags=${FLAGS:-$(df_method_flags_70b "$METHOD" "$STAGES")}
    case $METHOD in fusegpt | mi | sleb) state=(--state "$run/state.json") ;; esac
    mkdir -p "$run"
    df_dense_h5 "$MODEL" "${DENSE:-runs/$(basename "$MODEL").h5}" "$STAGES"
    if [ ${#state[@]} -eq 0 ] && [ -e "$run/model" ]; then
        df_log "$run/model exists (an earlier run of this job wrote it): not compressed again"
    else
        # shellcheck disable=SC2086
        df_step compress --method "$METHOD" --model "$DF_DENSE" --calib "$CALIB" --sparsity "$sparsity" $flags \
            --progress log "${state[@]}" --out "$run/model" --json "$run/compress.json"
    fi
    df_step eval --model "$run/model" --ppl "$TEST" --seq-len "${TEST_SEQ_LEN:-2048}" --pipeline "$STAGES" \
        --progress log --json "$run/eval.json"
    df_log "done: sparsity $sparsity: $run/model, $run/eval.json"
}

# df_seconds_left: the seconds until the job's time limit (squeue's %L: [D-]HH:MM:SS, MM:SS), or
# nothing when it has none
df_seconds_left() {
    squeue -h -j "$SLURM_JOB_ID" -o %L | awk '
        /^[0-9]/ { n = split($0, p, /[-:]/); s = 0; m[1] = 1; m[2] = 60; m[3] = 3600; m[4] = 86400
                   for (i = n; i >= 1; i--) s += p[i] * m[n - i + 1]; print s }'
}
