#!/usr/bin/env bash
# A throwaway single-node Slurm cluster on this machine (loopback only), for AutoDesign's launcher tests
# and for trying `--launcher slurm` without a real cluster.
#
#   scripts/slurm-cluster.sh start    install the packages if missing, write the config, start munged,
#                                     slurmctld and slurmd, wait until the node is idle (needs root)
#   scripts/slurm-cluster.sh stop     stop the daemons
#   scripts/slurm-cluster.sh status   print sinfo and exit 0 when the node answers
#   scripts/slurm-cluster.sh stop-node / start-node   stop or start slurmd only (a node going away)
#
# Debian 12's slurm-wlm 22.05; the configuration follows docs/launcher.md. Nothing leaves the machine:
# every address is 127.0.0.1.
set -euo pipefail

host=$(hostname -s)
conf=/etc/slurm/slurm.conf

need_root() {
  if [ "$(id -u)" != 0 ]; then echo "error: $0 $1 needs root (it installs packages and starts system daemons)" >&2; exit 1; fi
}

install_packages() {
  if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    echo "installing slurmctld slurmd slurm-client munge ..."
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurmctld slurmd slurm-client munge >/dev/null
  fi
}

write_config() {
  local cpus mem
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 8 / 10 ))
  mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
  cat > "$conf" <<CONF
ClusterName=local
SlurmctldHost=${host}(127.0.0.1)
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SlurmUser=root
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobRequeue=1
SlurmdTimeout=20
MinJobAge=600
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem} State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP
CONF
}

start_munge() {
  if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  mkdir -p /var/lib/munge /var/log/munge /run/munge
  chown munge:munge /etc/munge/munge.key /var/lib/munge /var/log/munge /run/munge
  chmod 400 /etc/munge/munge.key
  if ! pgrep -x munged >/dev/null; then runuser -u munge -- munged; fi
  munge -n | unmunge >/dev/null
}

wait_idle() {
  for _ in $(seq 1 90); do
    state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
    case "$state" in idle*|mixed*|allocated*) echo "slurm: node $host $state"; return 0 ;; esac
    # a node that came back after slurmd was stopped may need to be resumed
    if [ "$state" = "down" ] || [ "$state" = "down*" ]; then scontrol update nodename="$host" state=resume 2>/dev/null || true; fi
    sleep 1
  done
  echo "error: the Slurm node did not become idle (see /var/log/slurm/)" >&2
  return 1
}

case "${1:-}" in
  start)
    need_root start
    install_packages
    write_config
    start_munge
    pgrep -x slurmctld >/dev/null || slurmctld
    pgrep -x slurmd >/dev/null || slurmd
    wait_idle
    ;;
  stop)
    need_root stop
    pkill -x slurmd 2>/dev/null || true
    pkill -x slurmctld 2>/dev/null || true
    ;;
  stop-node)
    need_root stop-node
    pkill -x slurmd 2>/dev/null || true
    ;;
  start-node)
    need_root start-node
    pgrep -x slurmd >/dev/null || slurmd
    wait_idle
    ;;
  status)
    sinfo
    ;;
  *)
    echo "usage: $0 start|stop|status|stop-node|start-node" >&2
    exit 2
    ;;
esac
