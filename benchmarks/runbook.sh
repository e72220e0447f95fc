#!/usr/bin/env bash
# The restore runbook done by hand, as an on-call engineer would type it, in
# the runbook's order: stop services (2), safety backup and its upload (3), download (4),
# md5sum (4), drop and recreate (5), pg_restore --jobs (6), count queries (7),
# start services (8). It is the baseline the benchmark compares against, so it
# takes no shortcut the runbook does not take and adds no check it lacks.
#
# Inputs come from the environment (nothing secret on a command line):
#   PGHOST PGPORT PGUSER PGPASSWORD   admin connection (libpq reads them)
#   PG_BIN_DIR                        PostgreSQL 15 binaries (default /usr/lib/postgresql/15/bin)
#   DB  OWNER                         database to restore and its owner role
#   S3_ENDPOINT_URL S3_BUCKET S3_KEY  the backup (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_DEFAULT_REGION)
#   WORK                              scratch directory (downloads, safety backup, log)
#   JOBS                              pg_restore --jobs (the runbook says 4)
#   PYTHON                            a python with boto3 (aws-cli is not installed here)
#   TIMES                             file that receives "<phase> <start epoch> <end epoch>" lines
set -euo pipefail

: "${DB:?}" "${S3_BUCKET:?}" "${S3_KEY:?}" "${WORK:?}" "${TIMES:?}"
PG_BIN_DIR=${PG_BIN_DIR:-/usr/lib/postgresql/15/bin}
OWNER=${OWNER:-postgres}
JOBS=${JOBS:-4}
PYTHON=${PYTHON:-python3}
export PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-10}

mkdir -p "$WORK"
: >"$TIMES"
now() { date +%s.%N; }
phase() {  # phase NAME CMD...: run CMD, append its start and end to $TIMES
  local name=$1 start end
  shift
  start=$(now)
  "$@"
  end=$(now)
  echo "$name $start $end" >>"$TIMES"
}

stop_services() { :; }   # the benchmark host runs no application service
start_services() { :; }

safety_backup() {
  umask 077
  "$PG_BIN_DIR/pg_dump" --format=custom --file="$WORK/${DB}_safety.dump" "$DB"
}

# Step 3 ends with the safety backup uploaded to the store's safety/ prefix
# (`aws s3 cp`), as restore.yml does: a safety copy on the db server alone is
# lost with the server. No checksum is computed for it: the runbook has none.
safety_upload() {
  "$PYTHON" -c '
import os, sys, boto3
s3 = boto3.client("s3", endpoint_url=os.environ.get("S3_ENDPOINT_URL") or None)
s3.upload_file(sys.argv[1], os.environ["S3_BUCKET"], "safety/" + os.path.basename(sys.argv[1]))
' "$WORK/${DB}_safety.dump"
}

# `aws s3 cp` equivalent: boto3's managed transfer (the same code aws-cli uses).
download() {
  "$PYTHON" -c '
import os, sys, boto3
s3 = boto3.client("s3", endpoint_url=os.environ.get("S3_ENDPOINT_URL") or None)
s3.download_file(os.environ["S3_BUCKET"], os.environ["S3_KEY"], sys.argv[1])
md5 = s3.head_object(Bucket=os.environ["S3_BUCKET"], Key=os.environ["S3_KEY"])["Metadata"].get("md5", "")
open(sys.argv[1] + ".md5", "w").write("%s  %s\n" % (md5, os.path.basename(sys.argv[1])))
' "$WORK/backup.dump"
}

checksum() {
  (cd "$WORK" && md5sum --check --quiet backup.dump.md5)
}

drop_create() {
  "$PG_BIN_DIR/psql" -X -q -v ON_ERROR_STOP=1 -d postgres \
    -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$DB' AND pid <> pg_backend_pid()" >/dev/null
  "$PG_BIN_DIR/dropdb" --if-exists "$DB"
  "$PG_BIN_DIR/createdb" --owner="$OWNER" "$DB"
}

restore() {
  "$PG_BIN_DIR/pg_restore" --jobs="$JOBS" --dbname="$DB" --no-password "$WORK/backup.dump" 2>"$WORK/restore.log"
}

counts() {
  # Exact counts of every table, as step 7's "SELECT COUNT(*)" for each of them.
  "$PG_BIN_DIR/psql" -X -q -v ON_ERROR_STOP=1 -d "$DB" -At >"$WORK/counts.txt" <<'SQL'
SELECT format('SELECT %L AS t, count(*) FROM %I.%I', n.nspname || '.' || c.relname, n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%'
ORDER BY 1
\gexec
SQL
}

phase stop_services stop_services
phase safety_backup safety_backup
phase safety_upload safety_upload
phase download download
phase checksum checksum
phase prepare_database drop_create
phase restore_database restore
phase verify_restore counts
phase start_services start_services
