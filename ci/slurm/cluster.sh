#!/usr/bin/env bash
# A real one-node Slurm cluster on loopback, for tests: Debian's slurm-wlm and munge, no
# systemd, no accounting, no cgroups. Everything it writes lives in one state directory.
#
#   bash ci/slurm/cluster.sh start    # install if missing, start munged/slurmctld/slurmd
#   bash ci/slurm/cluster.sh status   # sinfo of the cluster; non-zero when it is not up
#   bash ci/slurm/cluster.sh stop     # stop the daemons started by `start` (idempotent)
#
# Clients must read the same configuration: export SLURM_CONF="$HARNESS_SLURM_DIR/slurm.conf".
# Environment:
#   HARNESS_SLURM_DIR   state directory (default /tmp/harness-slurm)
#   HARNESS_SLURM_PORT  slurmctld port (default 6817); slurmd listens on the next port
# `start` needs root (slurmd runs jobs as their owner). When Slurm cannot be installed or
# started it prints "SKIP slurm: <reason>" with the tail of the relevant log and exits 77.
set -euo pipefail

dir=${HARNESS_SLURM_DIR:-/tmp/harness-slurm}
ctld_port=${HARNESS_SLURM_PORT:-6817}
slurmd_port=$((ctld_port + 1))
conf=$dir/slurm.conf
export SLURM_CONF=$conf
wait_s=60

log() { echo "slurm: $*"; }

# Prints the skip line (and the tail of each log file named), stops what was started, exits 77.
skip() {
    local reason=$1 f
    shift
    echo "SKIP slurm: $reason"
    for f in "$@"; do
        if [[ -s $f ]]; then
            echo "---- last lines of $f ----"
            tail -n 15 "$f"
        fi
    done
    stop_daemons >/dev/null 2>&1 || true
    exit 77
}

# The pid in FILE when that process is alive and is still the program NAME.
live_pid() {
    local file=$1 name=$2 pid
    [[ -s $file ]] || return 1
    pid=$(<"$file")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]] || return 1
    echo "$pid"
}

# Stops the process recorded in FILE (TERM, then KILL after 10 s) and removes the file.
stop_one() {
    local file=$1 name=$2 pid i
    if pid=$(live_pid "$file" "$name"); then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            live_pid "$file" "$name" >/dev/null || break
            sleep 0.2
        done
        if live_pid "$file" "$name" >/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
        log "stopped $name (pid $pid)"
    fi
    rm -f "$file"
}

stop_daemons() {
    stop_one "$dir/slurmd.pid" slurmd
    stop_one "$dir/slurmctld.pid" slurmctld
    stop_one "$dir/munged.pid" munged
}

# Node state as sinfo reports it ("idle", "mixed", "drained", ...); empty when unreachable.
node_state() {
    timeout 5 sinfo -h -N -o '%T' 2>/dev/null | head -n 1 || true
}

cluster_up() {
    live_pid "$dir/munged.pid" munged >/dev/null &&
        live_pid "$dir/slurmctld.pid" slurmctld >/dev/null &&
        live_pid "$dir/slurmd.pid" slurmd >/dev/null &&
        [[ $(node_state) =~ ^(idle|mixed|allocated|completing) ]]
}

# Installs slurm-wlm and munge from Debian when a daemon or client is missing.
install_packages() {
    local missing=0 prog
    for prog in munged mungekey slurmctld slurmd sbatch sinfo squeue scontrol; do
        command -v "$prog" >/dev/null 2>&1 || [[ -x /usr/sbin/$prog ]] || missing=1
    done
    ((missing)) || return 0
    command -v apt-get >/dev/null 2>&1 || skip "slurm-wlm/munge are not installed and apt-get is not available"
    log "installing Debian's slurm-wlm and munge (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    local apt_log=$dir/apt.log
    if ! apt-get install -y -qq --no-install-recommends slurm-wlm munge >"$apt_log" 2>&1; then
        # A fresh container has no package lists yet: fetch them once and retry.
        apt-get update -qq >>"$apt_log" 2>&1 || skip "apt-get update failed" "$apt_log"
        apt-get install -y -qq --no-install-recommends slurm-wlm munge >>"$apt_log" 2>&1 ||
            skip "apt-get install slurm-wlm munge failed" "$apt_log"
    fi
}

# Starts "$@" in the foreground of its own session, in the background of this script, and
# records its pid in $dir/NAME.pid (the daemons' own pid files appear late or not at all).
# Returns once the child has become the program NAME, so that live_pid can be trusted.
launch() {
    local name=$1 pid i
    shift
    setsid "$@" </dev/null >>"$dir/$name.out" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/$name.pid"
    for ((i = 0; i < 50; i++)); do
        [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]] && return 0
        [[ -d /proc/$pid ]] || return 0
        sleep 0.1
    done
}

# Our own munged: own key, socket, pid and log in the state directory, so a system munge (if
# any) is left alone. Runs as root, which munged accepts with --force.
start_munge() {
    local m=$dir/munge i
    # The socket's directory must be searchable by every job's user; the key stays 0600.
    mkdir -p "$m"
    chmod 0755 "$m"
    if [[ ! -s $m/munge.key ]]; then
        mungekey --create --keyfile="$m/munge.key" 2>>"$dir/munged.out" ||
            dd if=/dev/urandom of="$m/munge.key" bs=1024 count=1 status=none
        chmod 0600 "$m/munge.key"
    fi
    live_pid "$dir/munged.pid" munged >/dev/null && return 0
    rm -f "$m/munge.socket"*
    launch munged /usr/sbin/munged --foreground --force --key-file="$m/munge.key" \
        --socket="$m/munge.socket" --pid-file="$m/munged.pid" --log-file="$m/munged.log" \
        --seed-file="$m/munged.seed"
    # The credential round trip Slurm relies on.
    for ((i = 0; i < 25; i++)); do
        munge -n -S "$m/munge.socket" 2>/dev/null | unmunge -S "$m/munge.socket" >/dev/null 2>&1 && return 0
        live_pid "$dir/munged.pid" munged >/dev/null || break
        sleep 0.2
    done
    skip "munge credentials do not round-trip through $m/munge.socket" "$dir/munged.out"
}

write_conf() {
    local node cpus mem_mb
    node=$(hostname -s 2>/dev/null || true)
    [[ -n $node ]] || node=localhost
    cpus=$(nproc)
    # A small RealMemory: memory is not a consumable resource here, it only has to fit.
    mem_mb=$(awk '/^MemTotal:/ { m = int($2 / 1024 / 2); print (m < 1024 ? m : 1024) }' /proc/meminfo)
    mkdir -p "$dir/ctld" "$dir/spool" "$dir/run"
    cat >"$conf" <<EOF
# Written by ci/slurm/cluster.sh: one node on loopback, Slurm 22.05 (Debian 12).
ClusterName=harness
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups, no accounting: processes are tracked through /proc.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
# Finished jobs stay visible to scontrol for 10 minutes.
MinJobAge=600
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    echo "$node"
}

start() {
    # Whatever else goes wrong while starting is a skip too, never a silent half-up cluster.
    set -E
    trap 'skip "unexpected error in ci/slurm/cluster.sh (line $LINENO)"' ERR
    if [[ $(id -u) -ne 0 ]]; then
        skip "needs root (slurmd runs jobs as their owner; apt-get installs the packages)"
    fi
    mkdir -p "$dir"
    if [[ -s $conf ]] && cluster_up; then
        log "one-node cluster already up (SLURM_CONF=$conf)"
        return 0
    fi
    install_packages
    # A half-started cluster from an earlier run: stop it and start clean.
    stop_one "$dir/slurmd.pid" slurmd >/dev/null
    stop_one "$dir/slurmctld.pid" slurmctld >/dev/null
    start_munge
    local node state=
    node=$(write_conf)
    rm -f "$dir/slurmctld.log" "$dir/slurmd.log" "$dir/slurmctld.out" "$dir/slurmd.out"
    # -c: start without the jobs of an earlier run.
    launch slurmctld /usr/sbin/slurmctld -D -c -f "$conf"
    launch slurmd /usr/sbin/slurmd -D -f "$conf" -N "$node"
    local deadline=$((SECONDS + wait_s))
    while ((SECONDS < deadline)); do
        live_pid "$dir/slurmctld.pid" slurmctld >/dev/null ||
            skip "slurmctld exited" "$dir/slurmctld.out"
        live_pid "$dir/slurmd.pid" slurmd >/dev/null ||
            skip "slurmd exited" "$dir/slurmd.out"
        state=$(node_state)
        [[ $state == idle ]] && break
        # "down" can be transient (slurmd not registered yet); these are not.
        if [[ $state =~ ^(drain|fail|inval) ]]; then
            skip "node $node is $state: $(sinfo -h -R 2>/dev/null | head -n 1)" \
                "$dir/slurmctld.out" "$dir/slurmd.out"
        fi
        sleep 0.5
    done
    [[ $state == idle ]] ||
        skip "node $node not idle after ${wait_s}s (state: ${state:-no answer}; $(sinfo -h -R 2>/dev/null | head -n 1))" \
            "$dir/slurmctld.out" "$dir/slurmd.out"
    log "one-node cluster up ($(sinfo -V 2>/dev/null), node $node, $(nproc) CPUs," \
        "partition debug, SLURM_CONF=$conf)"
}

stop() {
    # Cancel what is still queued or running so that no job step outlives slurmd.
    if live_pid "$dir/slurmctld.pid" slurmctld >/dev/null && [[ -s $conf ]]; then
        local i
        timeout 10 scancel --quiet --partition=debug 2>/dev/null || true
        for ((i = 0; i < 20; i++)); do
            [[ -z $(timeout 5 squeue -h -o %i 2>/dev/null || true) ]] && break
            sleep 0.5
        done
    fi
    stop_daemons
    log "stopped (state kept in $dir)"
}

status() {
    [[ -s $conf ]] || {
        echo "slurm: no cluster configured in $dir" >&2
        return 1
    }
    timeout 10 sinfo
}

case ${1:-} in
start) start ;;
stop) stop ;;
status) status ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
