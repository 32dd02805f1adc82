#!/usr/bin/env bash
# Stop the daemons tests/services/slurm-up.sh started, by their pid files (never by name).
# Two waves (Slurm daemons, then slurmdbd/MariaDB/munge), each stopped in parallel.
# QCOS_SLURM_KEEP_BASE=1 leaves MariaDB and munge running.
set -u
D=${QCOS_SLURM_DIR:-${TMPDIR:-/tmp}/qcos-slurm}
stop_all() {
  local pids=() names=() p pid i
  for p in "$@"; do
    [ -s "$p" ] || continue
    pid=$(cat "$p")
    kill "$pid" 2>/dev/null || continue
    pids+=("$pid"); names+=("$(basename "$p" .pid)")
  done
  for _ in $(seq 150); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for i in "${!pids[@]}"; do echo "stopped ${names[$i]} (pid ${pids[$i]})"; done
}
stop_all "$D/slurmd.pid" "$D/slurmctld.pid"
if [ "${QCOS_SLURM_KEEP_BASE:-0}" = 1 ]; then
  stop_all "$D/slurmdbd.pid"
else
  stop_all "$D/slurmdbd.pid" /run/mysqld/mysqld.pid /run/munge/munged.pid
fi
exit 0
