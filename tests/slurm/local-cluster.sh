#!/usr/bin/env bash
# local-cluster.sh -- a REAL single-node SLURM cluster on localhost, no systemd.
# The project's copy of ../shared/slurm/local-cluster.sh (used by tests/test_slurm.py); one addition:
# AccountingStoreFlags=job_comment, so `sacct --format=Comment` shows the Snakemake rule of each job.
#
# Debian 12 (bookworm) packages: slurm 22.05.8, munge 0.5.15 [, slurmdbd + MariaDB 10.11].
# Daemons: munged, [mariadbd, slurmdbd,] slurmctld, slurmd -- started as plain background
# daemons, PIDs kept in $SLURM_LOCAL_DIR/pids, stopped by PID only.
#
# Usage (as root):
#   local-cluster.sh up      # install + configure + start + wait until the node is idle
#   local-cluster.sh smoke   # sbatch/srun/squeue/sacct/scancel/--gpus checks
#   local-cluster.sh down    # cancel jobs, stop every daemon this script started, remove its config
#   (also: install | configure | start | wait | stop | status)
#
# Environment knobs:
#   SLURM_LOCAL_DIR   state/log/spool dir (default /tmp/slurm-local). Must be reachable by
#                     user 'slurm' (slurmctld drops to it): keep it under /tmp, not under /root.
#   SLURM_ACCOUNTING  1 (default): slurmdbd + MariaDB, so `sacct` works (the Snakemake SLURM
#                     plugin's default status command). 0: no accounting, no MariaDB (~20 s
#                     faster install); then sacct fails and Snakemake MUST use
#                     `slurm-status-command: squeue`.
#   SLURM_FAKE_GPUS   number of fake GPUs declared as GRES (default 2; 0 = none).
#   SLURM_FAKE_GPU_TYPE  optional GRES type, e.g. a100 -> Gres=gpu:a100:2, so that
#                     `--gpus=a100:1` (Snakemake: gpu_model="a100") also schedules. Untyped
#                     requests (--gpus=1, --gres=gpu:1) work either way.
#   SLURM_PARTITION   partition name (default debug).   SLURM_CLUSTER_NAME (default lab).
#   SLURM_WAIT_SECS   readiness timeout per daemon (default 60).
set -euo pipefail

STATE=${SLURM_LOCAL_DIR:-/tmp/slurm-local}
ACCOUNTING=${SLURM_ACCOUNTING:-1}
NGPUS=${SLURM_FAKE_GPUS:-2}
GPU_TYPE=${SLURM_FAKE_GPU_TYPE:-}
PARTITION=${SLURM_PARTITION:-debug}
CLUSTER=${SLURM_CLUSTER_NAME:-lab}
WAIT_SECS=${SLURM_WAIT_SECS:-60}
DBPASS=${SLURM_DB_PASS:-slurmdbpass}
NODE=localhost             # node name is fixed; slurmd is started with -N localhost
PIDS=$STATE/pids
LOGS=$STATE/log

log() { echo "[slurm-local $(date +%T)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"

# wait_for SECONDS DESCRIPTION COMMAND...  -- poll every 0.25 s until COMMAND succeeds
wait_for() {
  local secs=$1 what=$2; shift 2
  local t0=$SECONDS
  while ! "$@" >/dev/null 2>&1; do
    (( SECONDS - t0 >= secs )) && { log "timeout waiting for $what"; return 1; }
    sleep 0.25
  done
  log "$what ready after $((SECONDS - t0))s"
}

# pid_alive NAME -> 0 if $PIDS/NAME.pid names a live process whose comm is NAME
pid_alive() {
  local f=$PIDS/$1.pid p
  [ -s "$f" ] || return 1
  p=$(cat "$f")
  [ -d /proc/$p ] && [ "$(cat /proc/$p/comm 2>/dev/null)" = "$1" ]
}

do_install() {
  local pkgs="slurmctld slurmd slurm-client munge" missing="" p
  [ "$ACCOUNTING" = 1 ] && pkgs="$pkgs slurmdbd mariadb-server"
  for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
  done
  if [ -z "$missing" ]; then log "packages already installed"; return; fi
  log "installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Debian images with /usr/sbin/policy-rc.d (exit 101) do not auto-start the services;
  # without it, postinst may start munge/mariadb via /etc/init.d -- start() copes with that.
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

do_configure() {
  mkdir -p "$STATE" "$PIDS" "$LOGS" "$STATE/ctld" "$STATE/spool" /etc/slurm
  chown slurm:slurm "$STATE" "$LOGS" "$STATE/ctld"
  runuser -u slurm -- test -w "$STATE/ctld" || die "user slurm cannot write $STATE/ctld (parent dirs not traversable?)"

  # Node hardware as slurmd itself detects it (a node with more RealMemory/CPUs than detected
  # gets DRAINed). Leave 512 MB of headroom.
  local hw cpus sockets cores threads mem
  hw=$(slurmd -C | head -1)
  cpus=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$hw")
  sockets=$(sed -n 's/.*SocketsPerBoard=\([0-9]*\).*/\1/p' <<<"$hw")
  cores=$(sed -n 's/.*CoresPerSocket=\([0-9]*\).*/\1/p' <<<"$hw")
  threads=$(sed -n 's/.*ThreadsPerCore=\([0-9]*\).*/\1/p' <<<"$hw")
  mem=$(( $(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$hw") - 512 ))

  # Fake GPUs: character devices with /dev/null's major/minor (1,3). slurmd rejects plain
  # files ("is not a valid character or block device") and then sets no CUDA_VISIBLE_DEVICES.
  local gres_node="" gres_types="" gres_conf="AutoDetect=off"
  if [ "$NGPUS" -gt 0 ]; then
    mkdir -p "$STATE/fakegpu"
    local i files="$STATE/fakegpu/nvidia[0-$((NGPUS - 1))]"
    for ((i = 0; i < NGPUS; i++)); do
      [ -c "$STATE/fakegpu/nvidia$i" ] || { rm -f "$STATE/fakegpu/nvidia$i"; mknod "$STATE/fakegpu/nvidia$i" c 1 3 2>/dev/null || files=""; }
    done
    gres_types="GresTypes=gpu"
    gres_node=" Gres=gpu:${GPU_TYPE:+$GPU_TYPE:}$NGPUS"
    if [ -n "$files" ]; then
      gres_conf+=$'\n'"NodeName=$NODE Name=gpu ${GPU_TYPE:+Type=$GPU_TYPE }File=$files"
    else   # mknod not permitted: count-only GRES (scheduling works, no CUDA_VISIBLE_DEVICES)
      log "mknod failed: declaring count-only GPU GRES"
      gres_conf+=$'\n'"NodeName=$NODE Name=gpu ${GPU_TYPE:+Type=$GPU_TYPE }Count=$NGPUS"
    fi
  fi

  local acct
  if [ "$ACCOUNTING" = 1 ]; then
    acct="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
AccountingStorageTRES=gres/gpu
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30"
  else
    acct="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LOGS/jobcomp.log"
  fi

  local old_conf=""
  [ -f /etc/slurm/slurm.conf ] && old_conf=$(cat /etc/slurm/slurm.conf /etc/slurm/gres.conf 2>/dev/null)
  cat >/etc/slurm/slurm.conf <<EOF
# single-node test cluster written by local-cluster.sh
ClusterName=$CLUSTER
SlurmctldHost=localhost
AuthType=auth/munge
SlurmUser=slurm
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$PIDS/slurmctld.pid
SlurmdPidFile=$PIDS/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups: plain process tracking, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# jobs that ask for no memory get 512 MB/CPU instead of the whole node
DefMemPerCPU=512
# a node that was DOWN (e.g. slurmd restarted) comes back by itself
ReturnToService=2
# finished jobs stay visible to squeue/scontrol for 10 min
MinJobAge=600
$acct
$gres_types
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus Sockets=$sockets CoresPerSocket=$cores ThreadsPerCore=$threads RealMemory=$mem$gres_node State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
  printf '%s\n' "$gres_conf" >/etc/slurm/gres.conf
  if pid_alive slurmctld && [ "$old_conf" != "$(cat /etc/slurm/slurm.conf /etc/slurm/gres.conf)" ]; then
    log "WARNING: config changed while slurmctld runs; run '$0 down' then '$0 up' (GRES changes need a full restart)"
  fi

  if [ "$ACCOUNTING" = 1 ]; then
    cat >/etc/slurm/slurmdbd.conf <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=slurm
DebugLevel=info
LogFile=$LOGS/slurmdbd.log
PidFile=$PIDS/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DBPASS
StorageLoc=slurm_acct_db
EOF
    chown slurm:slurm /etc/slurm/slurmdbd.conf
    chmod 600 /etc/slurm/slurmdbd.conf   # slurmdbd refuses a world-readable config
  else
    rm -f /etc/slurm/slurmdbd.conf
  fi
  log "wrote /etc/slurm/slurm.conf, gres.conf (accounting=$ACCOUNTING, fake GPUs=$NGPUS${GPU_TYPE:+ type $GPU_TYPE})"
}

start_munge() {
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then log "munged already running"; return; fi
  if [ ! -s /etc/munge/munge.key ]; then   # the Debian postinst normally creates it
    mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
  fi
  install -d -o munge -g munge -m 0755 /run/munge
  runuser -u munge -- /usr/sbin/munged          # forks; writes /run/munge/munged.pid
  wait_for "$WAIT_SECS" munged bash -c 'munge -n | unmunge'
  cp /run/munge/munged.pid "$PIDS/munged.pid"
}

start_mariadb() {
  if mariadb-admin ping >/dev/null 2>&1; then log "MariaDB already running (not started by us)"; else
    install -d -o mysql -g mysql -m 0755 /run/mysqld
    # The Debian package has already initialised /var/lib/mysql.
    /usr/sbin/mariadbd --user=mysql --innodb-buffer-pool-size=1G --innodb-lock-wait-timeout=900 \
      </dev/null >>"$LOGS/mariadb.log" 2>&1 &
    echo $! >"$PIDS/mariadbd.pid"
    wait_for "$WAIT_SECS" mariadb mariadb-admin ping
  fi
  # root connects through unix_socket auth
  mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DBPASS';
              GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
}

do_start() {
  [ -f /etc/slurm/slurm.conf ] || die "run configure first"
  mkdir -p "$PIDS" "$LOGS"
  start_munge
  if [ "$ACCOUNTING" = 1 ]; then
    start_mariadb
    if pid_alive slurmdbd; then log "slurmdbd already running"; else
      /usr/sbin/slurmdbd                          # forks, drops to user slurm
      # sacctmgr talks to slurmdbd directly (slurmctld not needed yet)
      wait_for "$WAIT_SECS" slurmdbd sacctmgr -n list cluster
    fi
  fi
  if pid_alive slurmctld; then log "slurmctld already running"; else
    /usr/sbin/slurmctld                           # forks; registers the cluster in slurmdbd
    wait_for "$WAIT_SECS" slurmctld scontrol ping
  fi
  if pid_alive slurmd; then log "slurmd already running"; else
    /usr/sbin/slurmd -N "$NODE"                   # -N: node name independent of hostname
  fi
}

node_ready() { sinfo -h -n "$NODE" -o '%t' | grep -qE '^(idle|mix|alloc)$'; }

do_wait() {
  if ! wait_for "$WAIT_SECS" "node $NODE" node_ready; then
    sinfo -N -l >&2 || true
    scontrol show node "$NODE" | grep -iE 'state|reason' >&2 || true
    # a DRAIN/DOWN left over from an earlier run: try once to resume it
    scontrol update nodename="$NODE" state=resume 2>/dev/null || true
    wait_for 15 "node $NODE (after resume)" node_ready || { tail -30 "$LOGS"/slurm*.log >&2; die "cluster not ready"; }
  fi
  if [ "$ACCOUNTING" = 1 ]; then
    # slurmctld auto-registers the cluster in slurmdbd; wait until sacct answers for it
    wait_for "$WAIT_SECS" "cluster $CLUSTER in slurmdbd" bash -c "sacctmgr -n -P list cluster format=cluster | grep -qx $CLUSTER"
  fi
  sinfo -N -o '%N %P %t %c %m %G' >&2
}

stop_pids() {  # stop_pids NAME... -- SIGTERM to each live one (pid file naming a process called NAME), then
  # wait for all together (each daemon takes ~2 s to exit; one after another made `down` take 10 s)
  local name p pids=()
  for name in "$@"; do
    if pid_alive "$name"; then p=$(cat "$PIDS/$name.pid"); kill "$p"; pids+=("$name:$p"); fi
    rm -f "$PIDS/$name.pid"
  done
  local t0=$SECONDS entry
  for entry in "${pids[@]}"; do
    p=${entry#*:}
    while [ -d /proc/$p ] && (( SECONDS - t0 < 20 )); do sleep 0.1; done
    [ -d /proc/$p ] && { log "${entry%%:*} ($p) ignored SIGTERM, sending SIGKILL"; kill -9 "$p" || true; }
    log "stopped ${entry%%:*} ($p)"
  done
}

do_stop() {
  if pid_alive slurmctld; then
    scancel --user=root 2>/dev/null || true       # jobs are all ours on this test box
    sleep 1
  fi
  stop_pids slurmd slurmctld slurmdbd mariadbd munged
}

# down = stop + remove the configuration this script wrote: with a SLURM client installed, a slurm.conf naming
# a controller that is gone makes `scontrol show config` wait ~9 s, and the Snakemake SLURM plugin runs it each
# time Snakemake builds its command line (every `snakemake` start, local runs included).
do_down() {
  do_stop
  rm -f /etc/slurm/slurm.conf /etc/slurm/gres.conf /etc/slurm/slurmdbd.conf
  log "removed /etc/slurm/slurm.conf, gres.conf, slurmdbd.conf"
}

do_status() {
  local n
  for n in munged mariadbd slurmdbd slurmctld slurmd; do
    if pid_alive "$n"; then echo "$n running (pid $(cat "$PIDS/$n.pid"))"; else echo "$n not running (by this script)"; fi
  done
  scontrol ping 2>/dev/null || true
  sinfo -N -o '%N %P %t %c %m %G' 2>/dev/null || true
}

do_smoke() {
  local d=$STATE/smoke; mkdir -p "$d"; cd "$d"
  srun -n1 hostname
  srun -n1 --gpus=1 bash -c 'echo "srun --gpus=1: CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES"'
  local j
  j=$(sbatch --parsable -J smoke -o "$d/smoke-%j.out" --gres=gpu:1 --wrap 'echo "batch job $SLURM_JOB_ID CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES"')
  squeue -j "$j" || true
  wait_for 60 "batch job $j finished" bash -c "squeue -h -j $j -t all -o %T | grep -qx COMPLETED"
  cat "$d/smoke-$j.out"
  local k; k=$(sbatch --parsable -J smoke-cancel -o /dev/null --wrap 'sleep 300')
  scancel "$k"
  wait_for 30 "job $k cancelled" bash -c "squeue -h -j $k -t all -o %T | grep -qx CANCELLED"
  if [ "$ACCOUNTING" = 1 ]; then
    wait_for 30 "sacct sees job $j" bash -c "sacct -X -n -P -j $j -o State | grep -qx COMPLETED"
    sacct -X -j "$j,$k" -o JobID,JobName,State,AllocTRES%45
  fi
  log "smoke test passed"
}

case "${1:-up}" in
  install)   do_install ;;
  configure) do_configure ;;
  start)     do_start ;;
  wait)      do_wait ;;
  up)        t0=$SECONDS; do_install; t1=$SECONDS; do_configure; do_start; do_wait
             log "cluster up: install $((t1 - t0))s, configure+start+wait $((SECONDS - t1))s" ;;
  smoke)     do_smoke ;;
  stop)      do_stop ;;
  down)      do_down ;;
  status)    do_status ;;
  *) die "usage: $0 up|down|smoke|status|install|configure|start|wait|stop" ;;
esac
