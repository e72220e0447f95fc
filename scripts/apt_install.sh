#!/usr/bin/env bash
# apt_install PACKAGE...: installs the Debian packages not installed yet.
# Sourced by the setup scripts. policy-rc.d keeps a package from starting its
# own service (PostgreSQL's cluster on 5432, dockerd through an init system
# this machine does not run): the scripts start what they need themselves.
apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
}
