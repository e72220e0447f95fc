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

if ! docker info >/dev/null 2>&1; then
  echo "setup_docker: starting dockerd (log: /var/log/dockerd-db-restore.log)"
  nohup dockerd --bridge=none --iptables=false --ip-masq=false \
    >/var/log/dockerd-db-restore.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { echo "setup_docker: dockerd did not start; see /var/log/dockerd-db-restore.log" >&2; exit 1; }
fi
