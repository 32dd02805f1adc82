#!/usr/bin/env bash
# Start a single-node Slurm (munge, MariaDB, slurmdbd, slurmctld, slurmd) on 127.0.0.1 for the tests.
#
# Partitions: cpu (default) and gpu, one node with a fake GRES gpu:2 (device files are
# symlinks to /dev/null). No packages are installed here: `make test` (as root) installs
# slurmctld slurmd slurm-client munge slurmdbd mariadb-server first. Runs as root, no systemd.
#
# Idempotent: when the slurmctld started by an earlier call is alive and answers, the
# script only waits until the node is usable and exits 0 ("reused"). State, spool, logs
# and pid files live under $QCOS_SLURM_DIR (default: $TMPDIR/qcos-slurm); the config goes
# to /etc/slurm where the Slurm client commands look for it.
#
# Exit codes: 0 ready, 3 daemons not installed (tests skip), 4 not root, 1 start failed.
set -euo pipefail
D=${QCOS_SLURM_DIR:-${TMPDIR:-/tmp}/qcos-slurm}
ts() { echo "[$(date +%T.%N | cut -c1-12)] $*"; }
wait_for() { local t=$1; shift; for _ in $(seq $((t*10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "timeout after ${t}s: $*" >&2; return 1; }
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

missing=()
for bin in slurmctld slurmd slurmdbd sbatch sacct sacctmgr munged mungekey mariadbd mariadb; do
  command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || missing+=("$bin")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "slurm-up: missing programs: ${missing[*]} (install: apt-get install slurmctld slurmd slurm-client munge slurmdbd mariadb-server, or run 'make test' as root)" >&2
  exit 3
fi
[ "$(id -u)" = 0 ] || { echo "slurm-up: must run as root (the single-node Slurm runs its daemons as root)" >&2; exit 4; }
export PATH="$PATH:/usr/sbin:/sbin"

mkdir -p "$D"/{state,spool,log,fakegpu}
if alive "$D/slurmctld.pid" && alive "$D/slurmd.pid" && alive "$D/slurmdbd.pid"; then
  if wait_for 30 sh -c "sinfo -h -N -o %T | grep -qE '^(idle|mixed|allocated)'"; then
    ts "reused running Slurm (slurmctld pid $(cat "$D/slurmctld.pid"))"
    exit 0
  fi
  echo "slurm-up: daemons from an earlier start are alive but the node is not usable; run tests/services/slurm-down.sh" >&2
  exit 1
fi

H=$(hostname -s)
# The test node advertises at least 4 CPUs (config_overrides) so that array tasks run side by side on 2-core CI.
NCPU=${QCOS_SLURM_CPUS:-$(( $(nproc) > 4 ? $(nproc) : 4 ))}
MEM=$(awk '/MemTotal/{print int($2/1024*0.9)}' /proc/meminfo)
getent hosts "$H" >/dev/null || echo "127.0.0.1 $H" >> /etc/hosts
COMM=""; getent hosts "$H" | awk '{print $1}' | grep -q '^127\.' && COMM="CommunicationParameters=NoCtldInAddrAny,NoInAddrAny"

ts "munge"
if ! alive /run/munge/munged.pid; then
  [ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge && chown munge:munge /run/munge && chmod 755 /run/munge
  runuser -u munge -- /usr/sbin/munged --force
fi
wait_for 10 sh -c 'munge -n | unmunge'

ts "mariadb"
if ! alive /run/mysqld/mysqld.pid; then
  mkdir -p /run/mysqld && chown mysql:root /run/mysqld
  setsid /usr/sbin/mariadbd --user=mysql --skip-networking --socket=/run/mysqld/mysqld.sock \
    --pid-file=/run/mysqld/mysqld.pid </dev/null >"$D/log/mariadb.log" 2>&1 &
fi
wait_for 60 mariadb -e 'select 1'
mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmpw';
            GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"

ts "configs"
mkdir -p /etc/slurm
cat > /etc/slurm/slurmdbd.conf <<EOC
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
LogFile=$D/log/slurmdbd.log
PidFile=$D/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurmpw
StorageLoc=slurm_acct_db
${COMM:+CommunicationParameters=NoInAddrAny}
EOC
chmod 600 /etc/slurm/slurmdbd.conf
cat > /etc/slurm/slurm.conf <<EOC
ClusterName=ci
SlurmctldHost=$H(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
$COMM
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
MailProg=/bin/true
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
SlurmdParameters=config_overrides
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
AccountingStorageTRES=gres/gpu
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
MaxArraySize=10001
GresTypes=gpu
NodeName=$H CPUs=$NCPU Boards=1 SocketsPerBoard=1 CoresPerSocket=$NCPU ThreadsPerCore=1 RealMemory=$MEM NodeAddr=127.0.0.1 Gres=gpu:2 State=UNKNOWN
PartitionName=cpu Nodes=$H Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$H Default=NO MaxTime=INFINITE State=UP
EOC
ln -sf /dev/null "$D/fakegpu/nvidia0"; ln -sf /dev/null "$D/fakegpu/nvidia1"
echo "NodeName=$H Name=gpu File=$D/fakegpu/nvidia[0-1]" > /etc/slurm/gres.conf

ts "slurmdbd"
alive "$D/slurmdbd.pid" || slurmdbd
wait_for 30 sacctmgr -n show cluster
ts "slurmctld + slurmd"
alive "$D/slurmctld.pid" || slurmctld -c
alive "$D/slurmd.pid" || slurmd
wait_for 60 sh -c "sinfo -h -N -o %T | grep -qx idle"
ts "ready"; sinfo -o '%P %a %T %N %G %c'
# first job records reach slurmdbd with a delay right after a fresh start: wait for a warm-up job
J=$(sbatch --parsable -o /dev/null --wrap true)
wait_for 120 sh -c "sacct -n -X -j $J -o State | grep -q COMPLETED"
ts "accounting ready (job $J visible in sacct)"
