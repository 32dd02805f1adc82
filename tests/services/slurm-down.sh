#!/usr/bin/env bash
# Stop the daemons tests/services/slurm-up.sh started, by their pid files (never by name).
set -u
D=${QCOS_SLURM_DIR:-${TMPDIR:-/tmp}/qcos-slurm}
stop() {
  local p=$1 pid
  [ -s "$p" ] || return 0
  pid=$(cat "$p")
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  echo "stopped $(basename "$p" .pid) (pid $pid)"
}
for p in "$D/slurmd.pid" "$D/slurmctld.pid" "$D/slurmdbd.pid"; do stop "$p"; done
if [ "${QCOS_SLURM_KEEP_BASE:-0}" != 1 ]; then
  stop /run/mysqld/mysqld.pid
  stop /run/munge/munged.pid
fi
exit 0
