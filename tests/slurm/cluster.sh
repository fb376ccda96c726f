#!/usr/bin/env bash
# A real single-node SLURM cluster for the workflow tests (tests/workflow/test_slurm.py), without
# systemd. Runs as root on Debian 12 and installs what is missing with apt-get.
#   bash tests/slurm/cluster.sh up|down|status        (each one idempotent)
# SPLADE_SLURM_ACCOUNTING=slurmdbd (default): MariaDB + slurmdbd, so sacct works (the tests need it).
# SPLADE_SLURM_ACCOUNTING=none: no database; snakemake then needs --slurm-status-command squeue.
# Daemons run in the foreground under setsid; their PIDs are kept in $PIDS, and `down` signals
# exactly those PIDs. Logs: /var/log/slurm/<daemon>.log. See tests/slurm/README.md.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PIDS=/var/run/slurm/splade-ci   # <daemon>.pid and the accounting mode of the last `up`
LOGS=/var/log/slurm             # <daemon>.log: its stdout/stderr
MUNGE_DIR=/var/run/slurm/munge
MUNGE_SOCKET=$MUNGE_DIR/munge.socket
DB_DIR=/var/run/slurm/mysql     # socket; readable by user slurm (a 0700 folder fails with errno 13)
DB_DATA=/var/lib/slurm/mariadb  # our own datadir: a MariaDB of the machine keeps /var/lib/mysql
DB_SOCKET=$DB_DIR/mysqld.sock
CLUSTER=ci
HOST=$(hostname -s)
ORDER=(munged mariadbd slurmdbd slurmctld slurmd)   # start order; down reverses it
MODE=${SPLADE_SLURM_ACCOUNTING:-slurmdbd}
[[ ${1:-} != up && -s $PIDS/mode ]] && MODE=$(<"$PIDS/mode")
case $MODE in slurmdbd | none) ;; *) echo "SPLADE_SLURM_ACCOUNTING must be slurmdbd or none" >&2; exit 2 ;; esac
[[ $(id -u) == 0 ]] || { echo "$0 must run as root (it installs packages and starts daemons)" >&2; exit 1; }

# is_live NAME PID: PID is a process named NAME that is alive (not a zombie).
is_live() {
  local stat
  [[ $(cat /proc/"$2"/comm 2>/dev/null) == "$1" ]] || return 1
  stat=$(cat /proc/"$2"/stat 2>/dev/null) || return 1
  [[ ${stat##*) } != Z* ]]
}

# pid_of NAME: print the recorded PID if that process is alive and is NAME.
pid_of() {
  local pid
  pid=$(cat "$PIDS/$1.pid" 2>/dev/null) || return 1
  is_live "$1" "$pid" || return 1
  echo "$pid"
}

# start NAME CMD...: run CMD (which must exec NAME in the foreground) detached.
start() {
  local name=$1; shift
  if pid_of "$name" >/dev/null; then echo "$name already running"; return; fi
  setsid "$@" </dev/null >>"$LOGS/$name.log" 2>&1 &
  echo $! >"$PIDS/$name.pid"
}

# wait_for SECONDS WHAT CMD...: retry CMD (10 s cap per try) until it succeeds.
wait_for() {
  local end=$((SECONDS + $1)) what=$2; shift 2
  until timeout 10 "$@" >/dev/null 2>&1; do
    if ((SECONDS >= end)); then
      echo "timed out waiting for $what; logs in $LOGS" >&2
      tail -n 20 "$LOGS"/*.log >&2 2>/dev/null || true
      return 1
    fi
    sleep 0.2
  done
}

install_packages() {
  local pkgs=(slurmctld slurmd slurm-client munge) cmds=(slurmctld slurmd sbatch sacct munged) c
  if [[ $MODE == slurmdbd ]]; then pkgs+=(slurmdbd mariadb-server); cmds+=(slurmdbd mariadbd); fi
  for c in "${cmds[@]}"; do
    command -v "$c" >/dev/null && continue
    echo "installing ${pkgs[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
    return
  done
}

# Daemons that a package (systemd) started would hold the SLURM ports 6817-6819.
check_foreign() {
  local name pid ours
  for name in slurmdbd slurmctld slurmd; do
    ours=$(pid_of "$name" || true)
    for pid in /proc/[0-9]*; do   # no pgrep: procps is not in every base image
      pid=${pid#/proc/}
      [[ $pid != "$ours" ]] && is_live "$name" "$pid" || continue
      echo "a $name not started by $0 runs (pid $pid); stop it first (systemctl stop $name)" >&2
      exit 1
    done
  done
}

# The node is named `hostname -s` and slurmd looks itself up by that name.
check_hostname() {
  getent hosts "$HOST" >/dev/null && return
  echo "127.0.0.1 $HOST  # added by tests/slurm/cluster.sh" >>/etc/hosts
  echo "added $HOST to /etc/hosts"
}

# render TEMPLATE DEST FILEMODE OWNER: fill in the @...@ placeholders.
render() {
  local acct='AccountingStorageType=accounting_storage/none'
  if [[ $MODE == slurmdbd ]]; then # links to slurmdbd take their munge socket from AccountingStoragePass
    acct=$'AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=localhost'
    acct+=$'\nAccountingStoragePass='$MUNGE_SOCKET
  fi
  ACCT=$acct awk -v host="$HOST" -v cluster="$CLUSTER" -v cpus="$(nproc)" -v sock="$MUNGE_SOCKET" \
    -v mem="$(awk '/^MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)" '
    { gsub(/@HOST@/, host); gsub(/@CLUSTER@/, cluster); gsub(/@CPUS@/, cpus)
      gsub(/@MEM@/, mem); gsub(/@MUNGE_SOCKET@/, sock)
      if ($0 == "@ACCOUNTING@") $0 = ENVIRON["ACCT"]; print }' "$1" >"$2.tmp"
  install -m "$3" -o "$4" -g "$4" "$2.tmp" "$2" && rm -f "$2.tmp"
}

up() {
  local t0=$SECONDS name
  if [[ -s $PIDS/mode && $(<"$PIDS/mode") != "$MODE" ]]; then
    for name in "${ORDER[@]}"; do
      if pid_of "$name" >/dev/null; then echo "running with accounting $(<"$PIDS/mode"); run down first" >&2; exit 1; fi
    done
  fi
  install_packages
  check_foreign
  check_hostname
  mkdir -p "$PIDS" "$LOGS" /etc/slurm
  install -d -o slurm -g slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd
  install -d -o munge -g munge -m 0755 "$MUNGE_DIR"
  [[ -s /etc/munge/munge.key ]] || mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
  render "$HERE/slurm.conf.in" /etc/slurm/slurm.conf 0644 root
  echo "$MODE" >"$PIDS/mode"

  start munged setpriv --reuid=munge --regid=munge --init-groups \
    munged --foreground --socket="$MUNGE_SOCKET" --pid-file="$MUNGE_DIR/munged.pid"
  wait_for 20 munged bash -c "munge -n -S '$MUNGE_SOCKET' | unmunge -S '$MUNGE_SOCKET'"

  if [[ $MODE == slurmdbd ]]; then
    install -d -o mysql -g mysql -m 0755 "$DB_DIR"
    install -d -o mysql -g mysql -m 0700 "$DB_DATA"
    [[ -d $DB_DATA/mysql ]] || mariadb-install-db --user=mysql --datadir="$DB_DATA" --skip-test-db >/dev/null
    start mariadbd mariadbd --user=mysql --datadir="$DB_DATA" --skip-networking \
      --socket="$DB_SOCKET" --pid-file="$DB_DIR/mariadbd.pid"
    wait_for 60 mariadbd mariadb --socket="$DB_SOCKET" -e 'SELECT 1'
    mariadb --socket="$DB_SOCKET" -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
      CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
      GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
    render "$HERE/slurmdbd.conf.in" /etc/slurm/slurmdbd.conf 0600 slurm
    # slurmdbd has no socket setting; libmariadb reads MYSQL_UNIX_PORT.
    start slurmdbd env MYSQL_UNIX_PORT="$DB_SOCKET" slurmdbd -D
    wait_for 60 slurmdbd sacctmgr -n list cluster
    sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER" || sacctmgr -i add cluster "$CLUSTER" >/dev/null
  fi

  start slurmctld slurmctld -D
  wait_for 30 slurmctld scontrol ping
  start slurmd slurmd -D -N "$HOST"
  wait_for 60 "node $HOST idle" bash -c "sinfo -h -n '$HOST' -o %T | grep -qx idle"
  echo "SLURM cluster '$CLUSTER' up (accounting: $MODE) in $((SECONDS - t0))s"
}

down() {
  local i name pid n
  if pid_of slurmctld >/dev/null && [[ $(squeue -h -o %i 2>/dev/null) ]]; then
    squeue -h -o %i | xargs scancel   # leave no job processes behind
    # shellcheck disable=SC2016  # expanded by the inner bash
    wait_for 15 "jobs to end" bash -c '[[ -z $(squeue -h -o %i) ]]' || true
  fi
  for ((i = ${#ORDER[@]} - 1; i >= 0; i--)); do
    name=${ORDER[i]}
    if pid=$(pid_of "$name"); then
      kill -TERM "$pid"
      for ((n = 0; n < 100; n++)); do pid_of "$name" >/dev/null || break; sleep 0.2; done
      if pid_of "$name" >/dev/null; then kill -KILL "$pid"; fi
      echo "stopped $name ($pid)"
    fi
    rm -f "$PIDS/$name.pid"
  done
  # A slurm.conf naming a controller that is down makes every `scontrol` wait for it, and
  # the SLURM executor plugin runs `scontrol show config` whenever Snakemake starts (~10 s).
  local conf
  for conf in /etc/slurm/slurm.conf /etc/slurm/slurmdbd.conf; do
    if [[ -f $conf ]] && head -n 1 "$conf" | grep -q '^# Written by tests/slurm/cluster.sh'; then rm -f "$conf"; fi
  done
}

status() {
  local name rc=0 pid
  for name in "${ORDER[@]}"; do
    [[ $MODE == none && $name =~ ^(mariadbd|slurmdbd)$ ]] && continue
    if pid=$(pid_of "$name"); then echo "$name: running (pid $pid)"; else echo "$name: stopped"; rc=1; fi
  done
  ((rc == 0)) || return $rc
  sinfo
  squeue
  if [[ $MODE == slurmdbd ]]; then sacct -X -S now-1hour -o JobID,JobName%36,Partition,Account,State,ExitCode | tail -n 10; fi
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
