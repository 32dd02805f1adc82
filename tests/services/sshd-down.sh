#!/usr/bin/env bash
# Stop the sshd started by tests/services/sshd-up.sh DIR (by its pid file, never by name) and remove DIR.
#
# Usage: tests/services/sshd-down.sh DIR [--keep]
set -uo pipefail
S=${1:?usage: sshd-down.sh DIR [--keep]}
if [ -f "$S/sshd.bgpid" ]; then
    PID=$(cat "$S/sshd.bgpid")
    if kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$PID" 2>/dev/null && kill -KILL "$PID" 2>/dev/null
    fi
fi
if [ "${2:-}" != "--keep" ]; then
    case "$S" in
        /tmp/*|"${TMPDIR:-/nonexistent}"/*) rm -rf "$S" ;;
        *) echo "sshd-down: not removing $S (not under /tmp or \$TMPDIR)" >&2 ;;
    esac
fi
exit 0
