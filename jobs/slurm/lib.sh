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

# df_init: call first. Refuses to run outside a Slurm job and sets the threads per rank.
df_init() {
    set -eu
    if [ -z "${SLURM_JOB_ID:-}" ]; then
        echo "$0: not in a Slurm job: submit it with sbatch (docs/distributed.md, Slurm)" >&2
        exit 2
    fi
    DF_ROOT=${DF_ROOT:-$SLURM_SUBMIT_DIR}
    DF_BIN=${DF_BIN:-$DF_ROOT/build/depthfuse}
    DF_LAUNCHER=${DF_LAUNCHER:-srun}
    [ -x "$DF_BIN" ] || { echo "$0: no depthfuse binary at $DF_BIN (set DF_ROOT or DF_BIN)" >&2; exit 2; }
    cd "$DF_ROOT"
    # one BLAS/OpenMP thread per core of the rank (depthfuse would otherwise divide the node)
    export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1} OPENBLAS_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
    df_preempted=0 df_pid=""
    trap df_on_usr1 USR1
    df_log "$SLURM_NTASKS ranks on $(scontrol show hostnames "$SLURM_JOB_NODELIST" | tr '\n' ' ')" \
        "(${SLURM_CPUS_PER_TASK:-1} cores each), restart ${SLURM_RESTART_COUNT:-0}, $DF_LAUNCHER"
}

# Slurm's warning that the job ends soon (or an operator's preemption): pass it on to the step.
df_on_usr1() {
    df_preempted=1
    df_log "SIGUSR1: depthfuse stops at its next safe point, then the job requeues"
    [ -z "$df_pid" ] || kill -USR1 "$df_pid" 2> /dev/null || true
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
    *) echo "$0: DF_LAUNCHER=$DF_LAUNCHER: expected srun or mpirun" >&2; exit 2 ;;
    esac
}

# The job stopped at a safe point: back to the queue, to resume where it stopped. Exits 75 (if the
# requeue succeeded, Slurm ends this script first).
df_requeue() {
    df_log "stopped at a safe point: requeueing; the next run resumes from the state on disk"
    scontrol requeue "$SLURM_JOB_ID" || df_log "scontrol requeue failed: submit the same job again to resume"
    exit $DF_EXIT_STOPPED
}

# df_step ARGS...: run `depthfuse ARGS` over the job's tasks. Returns 0 when it succeeded; a step
# stopped on SIGUSR1 requeues the job (exit 75); any other failure ends the job with its status. A
# SIGUSR1 between steps requeues before the next one starts (every step of these scripts is resumable
# or skipped when done).
df_step() {
    [ "$df_preempted" -eq 0 ] || df_requeue
    df_log "depthfuse $*"
    df_launch "$@" &
    df_pid=$!
    # wait returns early (> 128) when the USR1 trap runs; the step goes on until it stops
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
        [ "$df_preempted" -eq 1 ] || { df_log "depthfuse stopped (SIGTERM: cancelled or past the time limit)"; exit "$rc"; }
        df_requeue
        ;;
    *) df_log "depthfuse failed (exit $rc)"; exit "$rc" ;;
    esac
}
