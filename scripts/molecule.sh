#!/usr/bin/env bash
# Runs molecule scenarios (default: systemd docker pm2) the way `make test`
# does: Docker and the images first, then for each scenario free loopback
# ports, a password made for the run and an empty backup store.
#
#   scripts/molecule.sh [SCENARIO...] [-- MOLECULE_COMMAND]   (default command: test)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export PATH="$root/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$root/ansible.cfg"

scenarios=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do scenarios+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
command=("${@:-test}")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(systemd docker pm2)

bash scripts/setup_docker.sh
bash scripts/setup_apps.sh
eval "$(bash scripts/build_images.sh)"
export MOLECULE_BASE_IMAGE=$BASE_IMAGE MOLECULE_PM2_IMAGE=$PM2_IMAGE

free_port() { .venv/bin/python -c 'import sys; sys.path.insert(0, "scripts"); import pg_cluster; print(pg_cluster.free_port())'; }

# One scenario, its output to $2 (a file, or /dev/stdout): free ports, passwords and a store of its own.
run_scenario() {
  local s=$1 log=$2 run start
  run=$(mktemp -d /tmp/molecule-"$s".XXXXXX)
  mkdir -p "$run/store"
  export MOLECULE_STORE_DIR="$run/store"
  export MOLECULE_PG_PORT; MOLECULE_PG_PORT=$(free_port)
  export MOLECULE_APP_PORT; MOLECULE_APP_PORT=$(free_port)
  export MOLECULE_PG_PASSWORD; MOLECULE_PG_PASSWORD=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(18))')
  export MOLECULE_APP_PASSWORD; MOLECULE_APP_PASSWORD=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(18))')
  export MOLECULE_PG_PASSWORD_FILE="$run/pg.password"
  (umask 077; printf '%s' "$MOLECULE_PG_PASSWORD" > "$MOLECULE_PG_PASSWORD_FILE")
  start=$(date +%s)
  {
    echo "=== molecule ${command[*]} -s $s (postgres 127.0.0.1:$MOLECULE_PG_PORT, backend :$MOLECULE_APP_PORT)"
    if molecule "${command[@]}" -s "$s"; then
      echo "=== scenario $s passed in $(( $(date +%s) - start )) s"
    else
      echo "=== scenario $s FAILED after $(( $(date +%s) - start )) s"
      [ "${command[0]}" = "test" ] && rm -rf "$run"
      return 1
    fi
  } > "$log" 2>&1
  [ "${command[0]}" = "test" ] && rm -rf "$run"
  return 0
}

# `test` runs the scenarios at once (each has its own containers, ports and
# store, and they mostly wait on containers booting): about the time of the
# slowest one instead of the sum. Their output is shown one after the other.
# MOLECULE_SERIAL=1, or any other command (converge, login...), runs them in turn.
status=0
logs=$(mktemp -d /tmp/molecule-logs.XXXXXX)
if [ "${command[0]}" = "test" ] && [ "${MOLECULE_SERIAL:-0}" != "1" ] && [ ${#scenarios[@]} -gt 1 ]; then
  pids=()
  for s in "${scenarios[@]}"; do
    run_scenario "$s" "$logs/$s.log" & pids+=($!)
    sleep 2  # staggered: the first docker run of an image is the slow part
  done
  for i in "${!scenarios[@]}"; do
    wait "${pids[$i]}" || status=1
    cat "$logs/${scenarios[$i]}.log"
  done
else
  for s in "${scenarios[@]}"; do
    run_scenario "$s" /dev/stdout || status=1
  done
fi
rm -rf "$logs"
exit $status
