#!/usr/bin/env bash
# Makes a Docker engine available for the molecule scenarios: Debian's
# docker.io and debootstrap when missing, and dockerd started when not running.
# dockerd gets no bridge and no iptables rules: every container here uses
# --network host, so no private-range address is ever assigned.
set -euo pipefail

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup_docker: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d: the package must not try to start dockerd through an init
  # system this machine does not run; we start it below.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi

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
