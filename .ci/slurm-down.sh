#!/usr/bin/env bash
# Stop the one-node Slurm cluster started by .ci/slurm-up.sh: only the PIDs it recorded
# (plus the slurmstepd processes its slurmd spawned), then remove /etc/slurm/slurm.conf
# if that script wrote it. Safe to run when nothing is up; always exits 0.
set -uo pipefail

STATE=${LEMA_SLURM_DIR:-/tmp/lema-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# written by lema .ci/slurm-up.sh"
log() { echo "slurm-down: $*" >&2; }

alive() { [[ -n $1 ]] && kill -0 "$1" 2>/dev/null; }

# stop PID: SIGTERM, wait up to 10 s, then SIGKILL
stop() {
    local name=$1 pid=$2
    alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 100); do alive "$pid" || { log "stopped $name ($pid)"; return 0; }; sleep 0.1; done
    log "$name ($pid) ignored SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null
    for _ in $(seq 50); do alive "$pid" || return 0; sleep 0.1; done
    log "$name ($pid) is still alive"
}

pidof_file() { [[ -s $1 ]] && tr -dc '0-9' <"$1" || true; }

# Job steps: slurmstepd processes started while our cluster ran (they detach from slurmd,
# so they are found by executable and start time, then stopped by PID).
stepds() {
    local since pid start boot_s hz
    since=$(cat "$STATE/started_at" 2>/dev/null) || return 0
    boot_s=$(awk '/^btime/ {print $2}' /proc/stat)
    hz=$(getconf CLK_TCK)
    for pid in /proc/[0-9]*; do
        pid=${pid#/proc/}
        [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == */slurmstepd ]] || continue
        start=$(awk '{print $22}' "/proc/$pid/stat" 2>/dev/null) || continue
        (( boot_s + start / hz >= since )) && echo "$pid"
    done
}

if [[ -d $STATE ]]; then
    ctld=$(pidof_file "$STATE/slurmctld.pid")
    if alive "$ctld"; then
        scancel --quiet --full --partition="${LEMA_SLURM_PARTITION:-debug}" 2>/dev/null || true
        for _ in $(seq 50); do
            [[ -z $(timeout 5 squeue -h -t PD,R,CG -o %i 2>/dev/null) ]] && break
            sleep 0.1
        done
    fi
    stop slurmd "$(pidof_file "$STATE/slurmd.pid")"
    for pid in $(stepds); do stop slurmstepd "$pid"; done
    stop slurmctld "$ctld"
    stop munged "$(pidof_file "$STATE/munged.pid")"
    rm -f "$STATE"/{slurmctld,slurmd,munged}.pid
    if [[ -s $STATE/lo_addr ]]; then
        ip addr del "$(cat "$STATE/lo_addr")" dev lo 2>/dev/null && log "removed $(cat "$STATE/lo_addr") from lo"
        rm -f "$STATE/lo_addr"
    fi
fi

if [[ -e $CONF ]] && grep -qF "$MARK" "$CONF"; then
    rm -f "$CONF"
    log "removed $CONF"
fi
exit 0
