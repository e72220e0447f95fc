#!/usr/bin/env bash
# Builds the container images the molecule scenarios use, locally: no registry
# is reachable, so the base is a Debian bookworm root made by debootstrap from
# the mirror this machine's apt already uses, then `docker import`ed. Images are
# tagged with a hash of what goes into them and reused while it is unchanged.
#
#   yieldvault-db-restore/base:<hash>  systemd, PostgreSQL 15, Node.js, Python 3
#   yieldvault-db-restore/pm2:<hash>   the base plus the host's PM2
#   yieldvault-db-restore/pgbackrest:<hash>  the base plus Debian's pgBackRest, its postgres user with
#                                      the host's uid and gid (PostgreSQL in a container on files the
#                                      host's pgBackRest also writes: tests/integration/test_pitr_docker.py)
#
# Prints the tags as shell assignments (BASE_IMAGE=..., PM2_IMAGE=..., PGBACKREST_IMAGE=...).
set -euo pipefail
cd "$(dirname "$0")/.."
# One build at a time on this machine: a second caller (make test builds the images in the background
# while a test may ask for them) waits here, then finds them built.
exec 9>"${TMPDIR:-/tmp}/yieldvault-db-restore-build_images.lock"
flock 9

packages=systemd,systemd-sysv,dbus,procps,ca-certificates,curl,postgresql-15,nodejs,python3,python3-psycopg2
images=molecule/shared/images
base_hash=$( { echo "$packages"; cat "$images/base-setup.sh"; } | sha256sum | cut -c1-12)
base=yieldvault-db-restore/base:$base_hash

mirror() {
  # The first Debian mirror apt is configured with (deb822 or one-line form).
  local m=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    m=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
    m=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^(http|https|file):/) {print $i; exit}}' /etc/apt/sources.list)
  fi
  [ -n "$m" ] || { echo "build_images: no Debian mirror found in the apt sources" >&2; exit 1; }
  echo "$m"
}

if ! docker image inspect "$base" >/dev/null 2>&1; then
  root=$(mktemp -d /var/tmp/db-restore-rootfs.XXXXXX)
  # mktemp makes it 0700: inside the chroot that is /, and the postgres user
  # (initdb, in the package scripts) could not reach anything.
  chmod 0755 "$root"
  trap 'rm -rf "$root"' EXIT
  echo "build_images: debootstrap bookworm into $root (a few minutes)" >&2
  debootstrap --variant=minbase --include="$packages" bookworm "$root" "$(mirror)" >"$root.log" 2>&1 \
    || { tail -20 "$root.log" >&2; exit 1; }
  cp "$images/base-setup.sh" "$root/tmp/base-setup.sh"
  chroot "$root" /bin/sh /tmp/base-setup.sh
  rm -f "$root/tmp/base-setup.sh" "$root.log"
  tar -C "$root" -c . | docker import \
    -c 'ENV container=docker' -c 'CMD ["/lib/systemd/systemd"]' \
    - "$base" >/dev/null
  rm -rf "$root"
  trap - EXIT
fi

# PM2 is pure JavaScript: the image gets the copy npm installed on this host
# (scripts/setup_apps.sh), so the container needs neither npm nor a registry.
pm2_dir=$(npm root -g 2>/dev/null)/pm2
[ -f "$pm2_dir/package.json" ] || { echo "build_images: PM2 is not installed on this host; run scripts/setup_apps.sh" >&2; exit 1; }
pm2_version=$(node -p "require('$pm2_dir/package.json').version")
pm2_hash=$(echo "$base $pm2_version" | sha256sum | cut -c1-12)
pm2=yieldvault-db-restore/pm2:$pm2_hash
if ! docker image inspect "$pm2" >/dev/null 2>&1; then
  ctx=$(mktemp -d)
  cp -a "$pm2_dir" "$ctx/pm2"
  cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM $base
COPY pm2 /usr/local/lib/node_modules/pm2
RUN ln -sf /usr/local/lib/node_modules/pm2/bin/pm2 /usr/local/bin/pm2
DOCKERFILE
  docker build -q --network host -t "$pm2" "$ctx" >/dev/null
  rm -rf "$ctx"
fi

pg_uid=$(id -u postgres 2>/dev/null || true)
pg_gid=$(id -g postgres 2>/dev/null || true)
if [ -n "$pg_uid" ]; then
  pgbr_hash=$(echo "$base pgbackrest $pg_uid:$pg_gid" | sha256sum | cut -c1-12)
  pgbr=yieldvault-db-restore/pgbackrest:$pgbr_hash
  if ! docker image inspect "$pgbr" >/dev/null 2>&1; then
    ctx=$(mktemp -d)
    # Another account holding the host's uid or gid in the image moves aside first.
    cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM $base
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pgbackrest \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
RUN set -e; \
    other=\$(getent passwd $pg_uid | cut -d: -f1); [ -z "\$other" ] || [ "\$other" = postgres ] || usermod -u 64011 "\$other"; \
    other=\$(getent group $pg_gid | cut -d: -f1); [ -z "\$other" ] || [ "\$other" = postgres ] || groupmod -g 64011 "\$other"; \
    old_uid=\$(id -u postgres); old_gid=\$(id -g postgres); \
    groupmod -g $pg_gid postgres; usermod -u $pg_uid -g $pg_gid postgres; \
    find / -xdev \( -uid "\$old_uid" -o -gid "\$old_gid" \) -exec chown -h postgres:postgres {} + 2>/dev/null || true
DOCKERFILE
    echo "build_images: building $pgbr (apt-get install pgbackrest)" >&2
    docker build -q --network host -t "$pgbr" "$ctx" >/dev/null
    rm -rf "$ctx"
  fi
  echo "PGBACKREST_IMAGE=$pgbr"
fi
echo "BASE_IMAGE=$base"
echo "PM2_IMAGE=$pm2"
