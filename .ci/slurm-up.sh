#!/usr/bin/env bash
# Start a one-node Slurm cluster on this machine, for the SLURM tests (tests/test_slurm.py).
#
# Needs root and Debian's packages:
#   apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge
# Runs without systemd: munged (as the munge user), slurmctld and slurmd are started directly.
# Their PIDs, logs and spool folders go to $LEMA_SLURM_DIR (default /tmp/lema-slurm);
# .ci/slurm-down.sh stops exactly those PIDs and removes /etc/slurm/slurm.conf again
# (while that file exists and no controller answers, every `snakemake` start waits ~10 s).
#
# /etc/slurm/slurm.conf is the only place the config can live: the Slurm executor plugin
# clears every SLURM_* variable in its job steps, so SLURM_CONF elsewhere breaks `srun`.
# An existing slurm.conf not written by this script is never overwritten.
set -euo pipefail

STATE=${LEMA_SLURM_DIR:-/tmp/lema-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# written by lema .ci/slurm-up.sh"
PARTITION=${LEMA_SLURM_PARTITION:-debug}
NODE=localhost

die() { echo "slurm-up: $*" >&2; exit 1; }
log() { echo "slurm-up: $*" >&2; }

[[ $(id -u) -eq 0 ]] || die "must run as root (starts munged, slurmctld, slurmd)"
for bin in munged mungekey slurmctld slurmd sinfo scontrol; do
    command -v "$bin" >/dev/null || [[ -x /usr/sbin/$bin ]] \
        || die "'$bin' not found: apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge"
done
if [[ -e $CONF ]] && ! grep -qF "$MARK" "$CONF"; then
    die "$CONF exists and was not written by this script; refusing to overwrite it"
fi
if [[ -s $STATE/slurmctld.pid ]] && kill -0 "$(cat "$STATE/slurmctld.pid")" 2>/dev/null; then
    die "a cluster from this script is already running (see $STATE); run .ci/slurm-down.sh first"
fi

mkdir -p "$STATE"/{state,spool,log}
date +%s >"$STATE/started_at"

# --- munge -----------------------------------------------------------------------------
install -d -o munge -g munge -m 0700 /etc/munge /var/log/munge
install -d -o munge -g munge -m 0711 /var/lib/munge
install -d -o munge -g munge -m 0755 /run/munge
if [[ ! -s /etc/munge/munge.key ]]; then
    mungekey --create --keyfile=/etc/munge/munge.key
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
if [[ -S /run/munge/munge.socket.2 ]] && munge -n </dev/null >/dev/null 2>&1; then
    log "munged already running; using it (not recorded, will not be stopped)"
else
    rm -f "$STATE/munged.pid"
    runuser -u munge -- /usr/sbin/munged --force --pid-file=/run/munge/munged.pid
    for _ in $(seq 50); do [[ -s /run/munge/munged.pid ]] && break; sleep 0.1; done
    [[ -s /run/munge/munged.pid ]] || die "munged did not start (see /var/log/munge/munged.log)"
    cp /run/munge/munged.pid "$STATE/munged.pid"
fi

# --- networking: slurmctld cannot start when 127.0.0.1 is the only IPv4 address ------------
if ! ip -4 -o addr show 2>/dev/null | awk '{print $4}' | grep -qv '^127\.'; then
    log "no non-loopback IPv4 address: adding 10.254.254.1/32 to lo"
    ip addr add 10.254.254.1/32 dev lo
    echo "10.254.254.1/32" >"$STATE/lo_addr"
fi

# --- slurm.conf --------------------------------------------------------------------------
# The node offers at least LEMA_SLURM_MIN_CPUS (default 4) CPUs, even on a 2-core machine: the
# workflow's rules declare their threads (train: 4, --cpus-per-task), and the SLURM tests check
# that a job gets exactly what its rule declared. SlurmdParameters=config_overrides makes
# slurmd accept a node config above what it detects (oversubscription, for tests only).
cpus=$(nproc)
min_cpus=${LEMA_SLURM_MIN_CPUS:-4}
(( cpus >= min_cpus )) || cpus=$min_cpus
free_mb=$(free -m | awk '/^Mem:/ {print $7}')
real_mb=$(( free_mb * 8 / 10 ))
(( real_mb >= 512 )) || die "only ${free_mb} MB available; need at least 640 MB"
mkdir -p /etc/slurm
cat >"$CONF" <<EOF
$MARK ($(date -u +%FT%TZ)); removed by .ci/slurm-down.sh
ClusterName=lema-ci
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# finished jobs stay visible to squeue/scontrol for 10 minutes: the plugin polls with squeue
MinJobAge=600
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
# a job at its time limit gets SIGTERM, then SIGKILL KillWait seconds later (the pre-emption
# test: lema train checkpoints in that window); the controller checks limits every ~30 s
KillWait=10
OverTimeLimit=0
SlurmdParameters=config_overrides
StateSaveLocation=$STATE/state
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$real_mb State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
log "wrote $CONF (CPUs=$cpus RealMemory=${real_mb}MB, partition '$PARTITION')"

# --- daemons ---------------------------------------------------------------------------
rm -f "$STATE/slurmctld.pid" "$STATE/slurmd.pid"
/usr/sbin/slurmctld -i
for _ in $(seq 100); do [[ -s $STATE/slurmctld.pid ]] && break; sleep 0.1; done
[[ -s $STATE/slurmctld.pid ]] || die "slurmctld did not start; log: $(tail -5 "$STATE/log/slurmctld.log" 2>/dev/null)"
/usr/sbin/slurmd -N "$NODE"
for _ in $(seq 100); do [[ -s $STATE/slurmd.pid ]] && break; sleep 0.1; done
[[ -s $STATE/slurmd.pid ]] || die "slurmd did not start; log: $(tail -5 "$STATE/log/slurmd.log" 2>/dev/null)"

for _ in $(seq 300); do
    st=$(timeout 5 sinfo -h -N -n "$NODE" -o %T 2>/dev/null || true)
    if [[ $st == idle* || $st == mixed* || $st == allocated* ]]; then
        log "up: node '$NODE' is $st; PIDs munged=$(cat "$STATE/munged.pid" 2>/dev/null || echo external)" \
            "slurmctld=$(cat "$STATE/slurmctld.pid") slurmd=$(cat "$STATE/slurmd.pid")"
        exit 0
    fi
    for d in slurmctld slurmd; do
        kill -0 "$(cat "$STATE/$d.pid")" 2>/dev/null || die "$d exited; log: $(tail -5 "$STATE/log/$d.log")"
    done
    sleep 0.1
done
die "node did not become idle within 30 s (sinfo says '${st:-nothing}'); logs in $STATE/log"
