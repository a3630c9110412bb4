#!/bin/sh
# A one-node Slurm cluster on this machine, for tests (tests/cluster_slurm.sh) and for trying the
# scripts of jobs/slurm/ (docs/distributed.md, "Slurm"): Debian's slurm-wlm and munge, run as root
# without systemd. Everything lives in DIR (configuration, munge key and socket, state, spool, logs,
# pid files), nothing in /etc or /var.
#   tools/slurm_local.sh start DIR   configure and start munged, slurmctld and slurmd; wait until
#                                    the node is idle; then `export SLURM_CONF=DIR/slurm.conf`
#   tools/slurm_local.sh stop DIR    cancel every job, then end every process started with this
#                                    DIR's configuration (the daemons, slurmstepd, the jobs' steps)
# start exits 77 (ctest's skip code) with the reason when the daemons cannot start here (not root,
# no slurm-wlm or munge, a daemon that does not come up); it stops what it started before exiting.
set -eu
cmd=${1:-} dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
dir=$(cd "$dir" && pwd) # absolute: the daemons chdir
conf=$dir/slurm.conf
# run inside another cluster's job, its SLURM_* variables would reach this cluster's commands
for v in $(env | sed -n 's/^\(SLURM_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done
export SLURM_CONF="$conf"

skip() { echo "slurm_local: cannot run a Slurm cluster here: $*" >&2; stop; exit 77; }

# The processes of this cluster: the daemons carry DF_SLURM_LOCAL=DIR in their environment (and so
# does slurmstepd, which slurmd starts), the jobs' processes SLURM_CONF=DIR/slurm.conf with a
# SLURM_JOB_ID (sbatch passes the submitter's environment to the job). /proc/PID/environ is readable
# for root, who runs all of them.
ours() {
    for e in /proc/[0-9]*/environ; do
        p=${e#/proc/}; p=${p%/environ}
        [ "$p" != $$ ] || continue
        { tr '\0' '\n' < "$e"; } 2> /dev/null | awk -v mark="DF_SLURM_LOCAL=$dir" -v conf="SLURM_CONF=$conf" '
            $0 == mark { m = 1 } $0 == conf { c = 1 } /^SLURM_JOB_ID=/ { j = 1 }
            END { exit !(m || (c && j)) }' && echo "$p"
    done
    [ -f "$dir/munged.pid" ] && cat "$dir/munged.pid"
    return 0
}

stop() {
    # the jobs first, so that their steps end through Slurm (a job's requeue would restart it)
    if [ -f "$dir/slurmctld.pid" ] && scancel --full --quiet --state=PENDING,RUNNING,SUSPENDED,REQUEUED \
        --user=root 2> /dev/null; then
        i=0
        while [ -n "$(squeue -h -o %i 2> /dev/null)" ] && [ $i -lt 30 ]; do sleep 1; i=$((i + 1)); done
    fi
    for sig in TERM KILL; do
        pids=$(ours | sort -u)
        [ -n "$pids" ] || break
        # shellcheck disable=SC2086
        kill -$sig $pids 2> /dev/null || true
        i=0
        while [ $i -lt 20 ] && [ -n "$(for p in $pids; do [ -d "/proc/$p" ] && echo "$p"; done)" ]; do
            sleep 0.5; i=$((i + 1))
        done
    done
    rm -f "$dir/munged.pid"
    left=$(ours | sort -u | tr '\n' ' ')
    [ -z "$left" ] || { echo "slurm_local: processes still running after SIGKILL: $left" >&2; return 1; }
}

# a free TCP port on 127.0.0.1 (the kernel's choice; another cluster or service may own 6817)
free_port() { /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait up to $1 seconds for the command that follows to succeed
wait_for() {
    t=$1; shift
    i=0
    while ! "$@" > /dev/null 2>&1; do
        i=$((i + 1))
        [ $i -le $((t * 2)) ] || return 1
        sleep 0.5
    done
}

start() {
    [ "$(id -u)" -eq 0 ] || skip "not root (SlurmUser=root, munged and slurmd run as root)"
    for b in munged mungekey slurmctld slurmd sbatch; do
        command -v $b > /dev/null || skip "no $b (apt-get install slurm-wlm munge; tools/test.sh installs them)"
    done
    [ ! -f "$dir/slurmctld.pid" ] || { echo "slurm_local: $dir already holds a cluster (stop it first)" >&2; exit 2; }
    host=$(hostname -s)
    cpus=$(nproc)
    mem=$(awk '/^MemTotal:/ { print int($2 / 1024 * 0.9) }' /proc/meminfo) # MiB, some left to the system
    mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/tmp"
    chmod 700 "$dir"

    mungekey --create --keyfile="$dir/munge.key" > /dev/null 2>&1 ||
        { dd if=/dev/urandom of="$dir/munge.key" bs=1024 count=1 2> /dev/null && chmod 400 "$dir/munge.key"; }
    # --force: run although the temporary folders' permissions are not munge's usual ones
    DF_SLURM_LOCAL=$dir munged --force --key-file="$dir/munge.key" --socket="$dir/munge.socket" --pid-file="$dir/munged.pid" \
        --log-file="$dir/log/munged.log" --seed-file="$dir/munge.seed" 2> "$dir/log/munged.err" ||
        skip "munged did not start: $(tail -1 "$dir/log/munged.err")"
    wait_for 10 sh -c "echo x | munge --socket='$dir/munge.socket' | unmunge --socket='$dir/munge.socket'" ||
        skip "munged does not answer on $dir/munge.socket"

    # Generous timeouts: a loaded 2-core CI machine may stall a daemon for seconds. cred_expire is
    # also how long a requeued job waits before it may start again (120 s by default). TmpFS: srun
    # --mpi=pmix makes a folder per step there named by job and step id, and every new cluster counts
    # jobs from 1 again: a folder left in /tmp by an earlier cluster would make that step fail.
    cat > "$conf" << EOF
ClusterName=dftest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge.socket,cred_expire=10
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
TmpFS=$dir/tmp
MailProg=/bin/true
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobRequeue=1
ReturnToService=2
SlurmctldTimeout=300
SlurmdTimeout=300
MessageTimeout=60
BatchStartTimeout=120
InactiveLimit=0
KillWait=30
MinJobAge=3600
Waittime=0
NodeName=$host NodeAddr=127.0.0.1 NodeHostname=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
    # -c: a clean start (no state of an earlier cluster), -i: ignore a stale state file
    DF_SLURM_LOCAL=$dir slurmctld -c -i 2> "$dir/log/slurmctld.err" || skip "slurmctld did not start: $(tail -1 "$dir/log/slurmctld.err")"
    wait_for 30 scontrol ping || skip "slurmctld does not answer: $(tail -3 "$dir/log/slurmctld.log" | tr '\n' ' ')"
    DF_SLURM_LOCAL=$dir slurmd -N "$host" 2> "$dir/log/slurmd.err" || skip "slurmd did not start: $(tail -1 "$dir/log/slurmd.err")"
    wait_for 60 sh -c "sinfo -h -n '$host' -o %t | grep -qx idle" ||
        skip "node $host not idle after 60 s: $(sinfo -h -o %t 2>&1) $(tail -3 "$dir/log/slurmd.log" | tr '\n' ' ')"
    echo "slurm_local: node $host ($cpus CPUs, $mem MiB) up; export SLURM_CONF=$conf"
}

case $cmd in
start) start ;;
stop) stop ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
