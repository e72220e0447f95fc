#!/usr/bin/env bash
# Installs what the application-host tests and the demo need, and does nothing
# that is already done: the fixture backend's npm dependencies
# (tests/fixtures/backend/node_modules, from its package-lock.json) and PM2,
# pinned, installed globally. Node.js itself comes from Debian's nodejs when
# missing. Only the npm registry and Debian's packages are used.
set -euo pipefail
cd "$(dirname "$0")/.."

PM2_VERSION=6.0.14
backend=tests/fixtures/backend

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup_apps: Node.js 18+ and npm are required; install them (Debian: apt-get install nodejs npm) and run again" >&2
    exit 1
  fi
  echo "setup_apps: installing Debian's nodejs and npm"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 18 ]; then
  echo "setup_apps: Node.js $(node --version) is too old; the fixture backend and PM2 need 18 or newer" >&2
  exit 1
fi

# npm writes node_modules/.package-lock.json on every install: older than the
# committed lock file means the dependencies changed since.
installed_lock=$backend/node_modules/.package-lock.json
if [ ! -f "$installed_lock" ] || [ "$backend/package-lock.json" -nt "$installed_lock" ]; then
  echo "setup_apps: installing the fixture backend's dependencies (npm ci)"
  (cd "$backend" && npm ci --omit=dev --no-audit --no-fund --loglevel=error)
fi

# Read PM2's version from its package.json: `pm2 --version` may spawn a daemon.
pm2_installed=""
pm2_pkg="$(npm root -g 2>/dev/null)/pm2/package.json"
if [ -f "$pm2_pkg" ] && command -v pm2 >/dev/null 2>&1; then
  pm2_installed=$(node -p "require(process.argv[1]).version" "$pm2_pkg")
fi
if [ "$pm2_installed" != "$PM2_VERSION" ]; then
  echo "setup_apps: installing pm2@$PM2_VERSION${pm2_installed:+ (found $pm2_installed)}"
  npm install -g --no-audit --no-fund --loglevel=error "pm2@$PM2_VERSION"
fi
echo "setup_apps: ready (node $(node --version), pm2 $PM2_VERSION)"
