#!/usr/bin/env bash
# Start a private OpenSSH sshd on 127.0.0.1 (free port, own host/client keys, temp folder) for the ssh tests.
#
# Usage: tests/services/sshd-up.sh [DIR]      (DIR defaults to a new mktemp -d folder)
# Prints KEY=VALUE lines (also written to DIR/sshd.env): SSHD_DIR, SSHD_PORT, SSHD_PID,
# SSHD_USER, SSHD_CLIENT_KEY, SSHD_HOST_KEYS. Stop it with tests/services/sshd-down.sh DIR.
# Installs nothing: `make test` (as root) apt-installs openssh-server. Exit code 3 = no sshd.
set -euo pipefail
SSHD=${SSHD_BIN:-/usr/sbin/sshd}
if [ ! -x "$SSHD" ]; then
    echo "sshd-up: $SSHD not found; install openssh-server (\`make test\` as root does it)" >&2
    exit 3
fi
S=${1:-$(mktemp -d /tmp/qcos-sshd.XXXXXX)}
mkdir -p "$S"; chmod 700 "$S"
rm -f "$S"/host_* "$S"/client_*
ssh-keygen -q -t ed25519 -N '' -f "$S/host_ed25519"
ssh-keygen -q -t rsa -b 2048 -N '' -f "$S/host_rsa"
ssh-keygen -q -t ed25519 -N '' -f "$S/client_ed25519" -C qcos-test-ed25519
cat "$S/client_ed25519.pub" > "$S/authorized_keys"; chmod 600 "$S/authorized_keys"
# sshd refuses to start without its privilege separation directory.
[ -d /run/sshd ] || { mkdir -p /run/sshd && chmod 755 /run/sshd; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

for attempt in 1 2 3 4 5; do
    PORT=$(free_port)
    cat > "$S/sshd_config" <<EOC
Port $PORT
ListenAddress 127.0.0.1
HostKey $S/host_ed25519
HostKey $S/host_rsa
PidFile $S/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AuthorizedKeysFile $S/authorized_keys
# keys under /tmp (world-writable) are refused with StrictModes yes
StrictModes no
AllowTcpForwarding yes
PermitOpen any
X11Forwarding no
UseDNS no
MaxSessions 64
MaxStartups 64:30:128
LogLevel VERBOSE
Subsystem sftp internal-sftp
EOC
    "$SSHD" -t -f "$S/sshd_config"
    "$SSHD" -D -e -f "$S/sshd_config" </dev/null >"$S/sshd.log" 2>&1 &
    PID=$!
    echo "$PID" > "$S/sshd.bgpid"
    for _ in $(seq 100); do
        if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $PORT), 0.2).close()" 2>/dev/null; then
            break
        fi
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$PID" 2>/dev/null; then
        {
            echo "SSHD_DIR=$S"
            echo "SSHD_PORT=$PORT"
            echo "SSHD_PID=$PID"
            echo "SSHD_USER=$(id -un)"
            echo "SSHD_CLIENT_KEY=$S/client_ed25519"
            echo "SSHD_HOST_KEYS=$S/host_ed25519.pub:$S/host_rsa.pub"
        } | tee "$S/sshd.env"
        exit 0
    fi
    echo "sshd-up: attempt $attempt on port $PORT failed:" >&2
    tail -5 "$S/sshd.log" >&2 || true
done
echo "sshd-up: could not start sshd (log: $S/sshd.log)" >&2
exit 1
