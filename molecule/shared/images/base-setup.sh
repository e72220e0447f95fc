#!/bin/sh
# Runs inside the debootstrapped root before it becomes the base image.
set -e
# A container has no consoles or kernel modules to manage, and the scenarios'
# hosts share the host's network: nothing may touch it.
for unit in getty.target console-getty.service systemd-udevd.service systemd-modules-load.service \
            systemd-networkd.service systemd-resolved.service systemd-timesyncd.service \
            sys-kernel-config.mount sys-kernel-debug.mount; do
  ln -sf /dev/null "/etc/systemd/system/$unit"
done
# PostgreSQL is started by each scenario's prepare, on the port it chooses.
# Whether the package's postinst made the 15/main cluster inside debootstrap
# varies, so make sure it exists.
pg_lsclusters -h | grep -q '^15 main ' || pg_createcluster 15 main >/dev/null
systemctl disable postgresql.service >/dev/null 2>&1 || true
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
