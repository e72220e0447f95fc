#!/usr/bin/env bash
# Makes a Docker engine available for the molecule scenarios: Debian's
# docker.io and debootstrap when missing, and dockerd started when not running.
# dockerd gets no bridge and no iptables rules: every container here uses
# --network host, so no private-range address is ever assigned.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=scripts/apt_install.sh
. scripts/apt_install.sh
apt_install docker.io debootstrap

# A pid file left by an engine that was killed (a machine stopped mid-run)
# can name a pid that a different process holds now: dockerd then waits for
# that "containerd" until it times out. Remove such a file, never a live one.
stale_pid_file() {
  local file=$1 name=$2 pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file" 2>/dev/null || true)
  if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = "$name" ]; then
    return 0
  fi
  echo "setup_docker: removing stale $file (pid ${pid:-none} is not $name)"
  rm -f "$file"
}

if ! docker info >/dev/null 2>&1; then
  stale_pid_file /var/run/docker.pid dockerd
  stale_pid_file /var/run/docker/containerd/containerd.pid containerd
  echo "setup_docker: starting dockerd (log: /var/log/dockerd-db-restore.log)"
  nohup dockerd --bridge=none --iptables=false --ip-masq=false \
    >/var/log/dockerd-db-restore.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  if ! docker info >/dev/null 2>&1; then
    echo "setup_docker: dockerd did not start; the end of /var/log/dockerd-db-restore.log:" >&2
    grep -vE 'grpc|Connectivity' /var/log/dockerd-db-restore.log | tail -n 15 >&2 || true
    exit 1
  fi
fi
