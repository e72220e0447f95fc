#!/usr/bin/env bash
# Builds the execution environment from execution-environment.yml with
# `ansible-builder build`, on a base image made here from Debian packages (no
# registry is reachable): debootstrap bookworm with Python 3.11, `docker
# import`ed, like the molecule images (scripts/build_images.sh).
#
# The base image also carries what a supported EE base carries and Galaxy would
# otherwise download: community.postgresql, amazon.aws and community.general,
# copied from the `ansible` package in .venv. The build runs ansible-galaxy with
# --offline, so it installs this collection from the build context and finds
# its dependencies already installed. bindep's packages (postgresql-client-15)
# come from Debian through scripts/ee/pkgmgr, psycopg2-binary and boto3 from PyPI.
#
# Both images are tagged with a hash of what goes into them and reused while it
# is unchanged, so a second run takes seconds.
#
#   yieldvault-db-restore/ee-base:<hash>  Debian bookworm, python3.11, the three collections
#   yieldvault/db-restore-ee:<hash>       the EE (also tagged yieldvault/db-restore-ee:latest)
#
# Prints EE_IMAGE=<tag> on stdout; the build's log goes to build/ee.log.
set -euo pipefail
cd "$(dirname "$0")/.."
# One build at a time on this machine: a second caller (make test builds the images in the background
# while a test may ask for them) waits here, then finds them built.
exec 9>"${TMPDIR:-/tmp}/yieldvault-db-restore-build_ee.lock"
flock 9
root=$(pwd)
venv=$root/.venv/bin

packages=python3.11,ca-certificates
# ensurepip (ansible-builder's pip_install runs it) is in python3.11-venv, which
# debootstrap fails to configure in its first pass: apt installs it after.
later_packages=python3.11-venv
# Debian refuses ensurepip for its system python (PEP 668), so the EE's Python
# is a venv of it, first on PATH: ansible-core, ansible-runner, psycopg2 and
# boto3 go there (--build-arg PYCMD).
ee_python=/opt/ee/bin/python3.11
collections=(community/postgresql amazon/aws community/general)
site=$("$venv/python" -c 'import ansible_collections, os; print(os.path.dirname(list(ansible_collections.__path__)[0]))')
versions=$(for c in "${collections[@]}"; do
  "$venv/python" -c 'import json, sys; m = json.load(open(sys.argv[1]))["collection_info"]; print(m["namespace"], m["name"], m["version"])' \
    "$site/ansible_collections/$c/MANIFEST.json"; done)
base_hash=$( { echo "$packages $later_packages $ee_python"; echo "$versions"; cat scripts/ee/pkgmgr; } | sha256sum | cut -c1-12)
base=yieldvault-db-restore/ee-base:$base_hash

mirror() {
  # The first Debian mirror apt is configured with (deb822 or one-line form), as in build_images.sh.
  local m=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    m=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
    m=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^(http|https|file):/) {print $i; exit}}' /etc/apt/sources.list)
  fi
  [ -n "$m" ] || { echo "build_ee: no Debian mirror found in the apt sources" >&2; exit 1; }
  echo "$m"
}

mkdir -p build
log=$root/build/ee.log
: >"$log"

if ! docker image inspect "$base" >/dev/null 2>&1; then
  rootfs=$(mktemp -d /var/tmp/db-restore-ee-rootfs.XXXXXX)
  chmod 0755 "$rootfs"
  trap 'rm -rf "$rootfs"' EXIT
  echo "build_ee: debootstrap bookworm into $rootfs (a few minutes; log: $log)" >&2
  debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$(mirror)" >>"$log" 2>&1 \
    || { tail -20 "$log" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive chroot "$rootfs" apt-get install -y -q --no-install-recommends $later_packages >>"$log" 2>&1 \
    || { tail -20 "$log" >&2; exit 1; }
  chroot "$rootfs" python3.11 -m venv --without-pip "${ee_python%/bin/*}"
  install -m 0755 scripts/ee/pkgmgr "$rootfs/usr/local/bin/ee-pkgmgr"
  mkdir -p "$rootfs/usr/share/ansible/collections/ansible_collections"
  for c in "${collections[@]}"; do
    mkdir -p "$rootfs/usr/share/ansible/collections/ansible_collections/$(dirname "$c")"
    cp -a "$site/ansible_collections/$c" "$rootfs/usr/share/ansible/collections/ansible_collections/$c"
  done
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import -c "ENV PATH=${ee_python%/*}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    -c 'CMD ["bash"]' - "$base" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
fi

# The CAs this machine trusts beyond Debian's (e.g. a TLS-intercepting proxy's in
# /usr/local/share/ca-certificates): pip in the build and the EE trust them too.
# A layer of its own, so that a different machine does not debootstrap again.
cas=(/usr/local/share/ca-certificates/*.crt)
[ -e "${cas[0]}" ] || cas=()
ca_hash=$( { echo "$base"; [ ${#cas[@]} -eq 0 ] || cat "${cas[@]}"; } | sha256sum | cut -c1-12)
trusting=yieldvault-db-restore/ee-base:$base_hash-ca$ca_hash
if ! docker image inspect "$trusting" >/dev/null 2>&1; then
  ctx=$(mktemp -d)
  mkdir "$ctx/ca"
  [ ${#cas[@]} -eq 0 ] || cp "${cas[@]}" "$ctx/ca/"
  cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM $base
COPY ca/ /usr/local/share/ca-certificates/
RUN update-ca-certificates
# pip and requests use their own bundle (certifi) unless told otherwise.
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
DOCKERFILE
  docker build -q --network host -t "$trusting" "$ctx" >>"$log" 2>&1 || { tail -20 "$log" >&2; exit 1; }
  rm -rf "$ctx"
fi
base=$trusting

# Everything the EE is made from: the definition, the files it copies into the
# build context, the base, this script and the tool that builds it.
ee_hash=$( {
  echo "$base"
  "$venv/ansible-builder" --version
  cat execution-environment.yml galaxy.yml README.md scripts/build_ee.sh
  find meta plugins roles playbooks -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum
} | sha256sum | cut -c1-12)
ee=yieldvault/db-restore-ee:$ee_hash

if ! docker image inspect "$ee" >/dev/null 2>&1; then
  echo "build_ee: ansible-builder build -> $ee (log: $log)" >&2
  start=$(date +%s)
  rm -rf build/ee
  # dockerd here has no bridge network (scripts/setup_docker.sh): the build's RUN steps use the host's.
  "$venv/ansible-builder" build -f execution-environment.yml -c build/ee --container-runtime docker -v 2 \
    -t "$ee" -t yieldvault/db-restore-ee:latest \
    --build-arg EE_BASE_IMAGE="$base" \
    --build-arg PKGMGR=/usr/local/bin/ee-pkgmgr \
    --build-arg PYCMD="$ee_python" \
    --build-arg ANSIBLE_GALAXY_CLI_COLLECTION_OPTS=--offline \
    --extra-build-cli-args "--network host" >>"$log" 2>&1 \
    || { tail -40 "$log" >&2; echo "build_ee: ansible-builder build failed (whole log: $log)" >&2; exit 1; }
  echo "build_ee: built $ee in $(( $(date +%s) - start )) s" >&2
else
  docker tag "$ee" yieldvault/db-restore-ee:latest
fi

echo "EE_IMAGE=$ee"
