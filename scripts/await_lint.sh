#!/usr/bin/env bash
# `make test` runs `make lint` beside the pytest phase (lint is mostly one
# process, the tests keep both cores busy only while they do not wait): this
# waits for that lint, prints its output and exits with its status.
#   scripts/await_lint.sh DIR   (DIR holds lint.log and, once it ended, lint.rc)
set -uo pipefail
dir=${1:?usage: await_lint.sh DIR}
for _ in $(seq 1 1200); do
  [ -f "$dir/lint.rc" ] && break
  sleep 1
done
echo "== make lint (ran beside the tests)"
cat "$dir/lint.log" 2>/dev/null
if [ ! -f "$dir/lint.rc" ]; then
  echo "make lint did not end within 20 minutes of the tests; run make lint by hand" >&2
  exit 1
fi
rc=$(cat "$dir/lint.rc")
[ "$rc" = 0 ] || echo "make lint failed (exit $rc): see its output above; make lint runs it alone" >&2
exit "$rc"
