#!/usr/bin/env bash
# Installs everything `make demo` and `make test` need on a fresh machine, and
# does nothing that is already done: Debian's PostgreSQL 15 server and client,
# the Python virtual environment from requirements.txt, and the link that makes
# this checkout the collection yieldvault.db_restore.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# shellcheck source=scripts/apt_install.sh
. scripts/apt_install.sh
apt_install postgresql-15 postgresql-client-15 postgresql-contrib pgbackrest socat openssl python3-venv

# Debian's Python by default: it is built with profile-guided and link-time
# optimisation, and runs Ansible (controller, workers and every module call)
# about a fifth faster than an interpreter built from source without them,
# such as pyenv's default build that `python3` may find first on PATH.
# PYTHON=... picks another. The venv is remade when the interpreter changes.
python=${PYTHON:-/usr/bin/python3}
stamp=.venv/.requirements.sha256
want=$( (cat requirements.txt constraints.txt; readlink -f "$(command -v "$python")") | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: creating .venv from requirements.txt"
  rm -rf .venv
  "$python" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  # constraints.txt: every transitive package at the version the last green make test had.
  .venv/bin/pip install -q -r requirements.txt -c constraints.txt
  echo "$want" > "$stamp"
fi

mkdir -p .collections/ansible_collections/yieldvault
ln -sfn ../../.. .collections/ansible_collections/yieldvault/db_restore
[ -f .collections/ansible_collections/yieldvault/db_restore/galaxy.yml ] || { echo "setup: collection link broken" >&2; exit 1; }
# The fixture backend's node_modules and PM2, for the service tests and the demo.
bash scripts/setup_apps.sh
echo "setup: ready ($root)"
