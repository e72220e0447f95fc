"""Download faults and pg_restore out of memory, against real PostgreSQL 15 and a real S3 endpoint (moto).

moto cannot drop a connection, so a small TCP proxy on 127.0.0.1 (conftest's
CuttingProxy) sits in front of it and cuts the response to the GET of one
object after a few bytes, the first N times or every time. Everything else
passes through untouched.

pg_restore running out of memory is made reliable with a wrapper in a private
bin directory (db_restore_pg_bin_dir): with --jobs > 1 it leaves a table
behind in the target database, as a half-finished attempt would, and fails
with the server's "out of memory"; with one job it runs the real pg_restore.
Another wrapper runs the real pg_restore and kills one of its workers with
SIGKILL, as the OOM killer would.
"""
import datetime as dt
import os
from pathlib import Path

import pytest

import make_backup
import yieldvault_fixture
from dbutil import PG_BIN_DIR, exact_counts, table_checksums, wrapped_bin_dir

UTC = dt.timezone.utc


def minutes_ago(n):
    return dt.datetime.now(UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=n)


@pytest.fixture
def yv_s3(tmp_path, pg_cluster, s3_server, yieldvault_db, db_inventory_vars):
    """A YieldVault database with two S3 backups (20 and 5 minutes old, different data), then an incident."""
    name = "yv_dl_%s" % os.urandom(3).hex()
    yieldvault_db(name, seed=3, users=300, owner="yieldvault_user")
    bucket = "dl-%s" % os.urandom(3).hex()
    states = []
    for i, age in enumerate((20, 5)):
        if i:
            yieldvault_fixture.add_activity(pg_cluster, name, users=30, seed=30 + i)
        b = make_backup.make_backup(pg_cluster, name, "s3", minutes_ago(age), s3=s3_server, bucket=bucket,
                                    prefix="database/")
        states.append({"backup": b, "key": "database/" + b["name"], "sums": table_checksums(pg_cluster, name)})
    yieldvault_fixture.incident(pg_cluster, name)
    work = tmp_path / "work"
    inv = db_inventory_vars(pg_cluster, name, str(work), "s3", s3=s3_server, bucket=bucket,
                            owner="yieldvault_user", db_restore_rpo_minutes=60, db_restore_download_retry_delay=0)
    return {"name": name, "work": work, "inv": inv, "states": states, "bucket": bucket, "s3": s3_server}


@pytest.fixture
def proxy_for(cutting_proxy):
    """proxy_for(key, times): conftest's proxy, cutting the first `times` downloads of key after 2 KiB (None: all)."""
    return lambda key, times: cutting_proxy(match=key, cut_after=2048, cuts=times)


def assert_no_partial_files(work):
    leftovers = [p for p in Path(work).rglob("*") if p.name.endswith(".part")]
    assert not leftovers, "partial downloads left behind: %s" % leftovers


def test_a_dropped_download_is_retried_and_the_retry_restores(pg_cluster, run_playbook, yv_s3, proxy_for):
    newest = yv_s3["states"][1]
    proxy = proxy_for(newest["key"], times=1)
    inv = dict(yv_s3["inv"], db_restore_s3_endpoint_url=proxy.url)
    result = run_playbook("restore.yml", inv, {"point": "latest", "confirm": yv_s3["name"]})
    result.assert_ok()
    assert proxy.cut_count == 1
    assert table_checksums(pg_cluster, yv_s3["name"]) == newest["sums"]

    report = result.report(yv_s3["work"])
    assert report["outcome"] == "succeeded"
    assert report["backup"]["name"] == newest["backup"]["name"]
    attempts = report["download_attempts"]
    assert [(a["backup"], a["attempt"]) for a in attempts] == [(newest["backup"]["name"], 1),
                                                               (newest["backup"]["name"], 2)]
    assert attempts[0]["error"] and "download" in attempts[0]["error"]
    assert attempts[1]["error"] is None
    assert all(a["seconds"] is not None for a in attempts)
    md = (Path(yv_s3["work"]) / "reports" / report["run_id"] / "report.md").read_text()
    assert "## Download attempts" in md
    assert_no_partial_files(yv_s3["work"])
    # The swap's safety backup went to S3 once the services were back; the copy there is the verified one: its
    # MD5 is in the object's metadata.
    safety = report["safety_backup"]
    assert safety["uploaded"] is True and safety["s3_key"].startswith("safety/"), safety
    head = make_backup.s3_client(yv_s3["s3"]).head_object(Bucket=yv_s3["bucket"], Key=safety["s3_key"])
    assert head["Metadata"]["md5"] == safety["md5"]
    assert head["ContentLength"] == Path(safety["path"]).stat().st_size == int(safety["size"])


def test_a_backup_that_never_downloads_fails_then_falls_back_to_an_older_one(pg_cluster, run_playbook, yv_s3,
                                                                           proxy_for):
    older, newest = yv_s3["states"]
    proxy = proxy_for(newest["key"], times=None)
    inv = dict(yv_s3["inv"], db_restore_s3_endpoint_url=proxy.url, db_restore_download_retries=1)
    sums_before = table_checksums(pg_cluster, yv_s3["name"])

    # Without older backups allowed: retried, then the run fails and nothing changed.
    result = run_playbook("restore.yml", inv, {"point": "latest", "confirm": yv_s3["name"]})
    result.assert_failed("No intact backup could be downloaded")
    assert proxy.cut_count == 2
    assert table_checksums(pg_cluster, yv_s3["name"]) == sums_before
    report = result.report(yv_s3["work"])
    assert report["outcome"] == "failed"
    assert report["failed_phase"] == "fetch_backup"
    assert [a["attempt"] for a in report["download_attempts"]] == [1, 2]
    assert all(a["error"] for a in report["download_attempts"])
    assert newest["backup"]["name"] in report["error"], report["error"]
    assert not list((Path(yv_s3["work"]) / "restore").glob("*.dump")), "a broken download reached its final name"
    assert_no_partial_files(yv_s3["work"])
    # refused before anything changed: no safety backup taken, the lock released
    assert not list(Path(yv_s3["work"]).rglob("*_safety_*")), "a safety backup was taken: the run went too far"
    assert not list((Path(yv_s3["work"]) / "locks").iterdir()), "the lock was not released"

    # With older backups allowed: the older one (15 minutes of data loss, within the RPO of 60) is restored.
    result = run_playbook("restore.yml", dict(inv, db_restore_try_older_backups=True),
                          {"point": "latest", "confirm": yv_s3["name"]})
    result.assert_ok()
    assert proxy.cut_count == 4
    assert table_checksums(pg_cluster, yv_s3["name"]) == older["sums"]
    report = result.report(yv_s3["work"])
    assert report["outcome"] == "succeeded"
    assert report["backup"]["name"] == older["backup"]["name"]
    assert report["backup"]["md5"] == older["backup"]["md5"]
    assert [(a["backup"], bool(a["error"])) for a in report["download_attempts"]] == [
        (newest["backup"]["name"], True), (newest["backup"]["name"], True), (older["backup"]["name"], False)]
    assert 15 <= report["metrics"]["data_loss_minutes"] <= 60
    assert_no_partial_files(yv_s3["work"])


OOM_WRAPPER = r"""#!/bin/bash
# Test double: pg_restore runs out of memory whenever it has more than one job. Each restore call (the download
# check and the verification only list the archive) records what its sessions were given, as the server sees it.
real=%(real)s
jobs=1
db=
for arg in "$@"; do
  case "$arg" in
    --jobs=*) jobs="${arg#--jobs=}" ;;
    --dbname=*) db="${arg#--dbname=}" ;;
  esac
done
if [ -n "$db" ]; then
  echo "jobs=$jobs PGOPTIONS=${PGOPTIONS:-} SERVER=$(%(psql)s -X -At -d postgres -c 'SHOW max_parallel_maintenance_workers')" \
    >> %(record)s
fi
if [ "$jobs" -gt 1 ]; then
  # What a half-finished attempt leaves: the retry must start from an empty database.
  %(psql)s -X -q -v ON_ERROR_STOP=1 -d "$db" -c "CREATE TABLE oom_leftover_$jobs (i int); INSERT INTO oom_leftover_$jobs VALUES (1)" >&2
  echo "pg_restore: error: could not execute query: ERROR:  out of memory" >&2
  echo "DETAIL:  Failed on request of size 8388608 in memory context \"TupleSort main\"." >&2
  exit 1
fi
exec "$real" "$@"
"""


@pytest.fixture
def oom_bin_dir(tmp_path):
    """A pg bin directory whose pg_restore runs out of memory with --jobs > 1."""
    bin_dir = wrapped_bin_dir(tmp_path / "pgbin", "pg_restore", OOM_WRAPPER % {
        "real": Path(PG_BIN_DIR) / "pg_restore", "psql": Path(PG_BIN_DIR) / "psql", "record": tmp_path / "pgoptions.txt"})
    os.chmod(tmp_path, 0o755)
    return bin_dir


def _restore_with_pg_bin_dir(tmp_path, pg_cluster, yieldvault_db, db_inventory_vars, run_playbook, bin_dir, jobs,
                             seed, users, **more_vars):
    """A YieldVault database, a local backup of it, an incident, then restore.yml with bin_dir's pg_restore and
    jobs: (result, work directory, backup). The run succeeded and the data (checksums, exact counts) is the backup's."""
    name = "yv_oom_%s" % os.urandom(3).hex()
    yieldvault_db(name, seed=seed, users=users, owner="yieldvault_user")
    store = tmp_path / "store"
    backup = make_backup.make_backup(pg_cluster, name, "local", minutes_ago(5), local_dir=str(store))
    sums, counts = table_checksums(pg_cluster, name), exact_counts(pg_cluster, name)
    yieldvault_fixture.incident(pg_cluster, name)
    work = tmp_path / "work"
    inv = db_inventory_vars(pg_cluster, name, str(work), "local", local_dir=str(store), owner="yieldvault_user",
                            db_restore_jobs=jobs, db_restore_pg_bin_dir=str(bin_dir), **more_vars)
    result = run_playbook("restore.yml", inv, {"point": "latest", "confirm": name})
    result.assert_ok()
    assert table_checksums(pg_cluster, name) == sums, "the restored data differs from the backup"
    assert exact_counts(pg_cluster, name) == counts
    return result, work, backup


# The OOM killer's other victim: one pg_restore worker, killed with SIGKILL while
# the real pg_restore runs. The leader then says only that a worker died.
WORKER_KILLER = r"""#!/bin/bash
real=%(real)s
jobs=1
for arg in "$@"; do
  case "$arg" in --jobs=*) jobs="${arg#--jobs=}" ;; esac
done
[ "$jobs" -gt 1 ] || exec "$real" "$@"
"$real" "$@" &
leader=$!
worker=
for _ in $(seq 1 3000); do
  worker=$(pgrep -P "$leader" | head -n 1)
  [ -n "$worker" ] && break
  kill -0 "$leader" 2>/dev/null || break
  sleep 0.01
done
if [ -n "$worker" ]; then
  kill -STOP "$leader"; kill -KILL "$worker"; kill -CONT "$leader"
else
  echo "test wrapper: no pg_restore worker was seen to kill" >&2
fi
wait "$leader"
"""


def test_a_worker_killed_by_the_oom_killer_is_retried_with_fewer_jobs(tmp_path, pg_cluster, yieldvault_db,
                                                                      db_inventory_vars, run_playbook):
    bin_dir = wrapped_bin_dir(tmp_path / "pgbin", "pg_restore", WORKER_KILLER % {
        "real": Path(PG_BIN_DIR) / "pg_restore"})
    os.chmod(tmp_path, 0o755)
    result, work, _ = _restore_with_pg_bin_dir(tmp_path, pg_cluster, yieldvault_db, db_inventory_vars, run_playbook,
                                               bin_dir, jobs=2, seed=6, users=2000)
    attempts = result.report(work)["restore"]["attempts"]
    assert [(a["jobs"], a["rc"] != 0, a["out_of_memory"]) for a in attempts] == [(2, True, True), (1, False, False)], \
        attempts
    assert "worker process died unexpectedly" in Path(result.report(work)["restore"]["log"]).read_text()


def test_out_of_memory_is_retried_with_half_the_jobs_down_to_one(tmp_path, pg_cluster, yieldvault_db,
                                                                  db_inventory_vars, run_playbook, oom_bin_dir):
    result, work, backup = _restore_with_pg_bin_dir(tmp_path, pg_cluster, yieldvault_db, db_inventory_vars,
                                                    run_playbook, oom_bin_dir, jobs=4, seed=5, users=300)
    report = result.report(work)
    assert report["outcome"] == "succeeded"
    assert report["backup"]["name"] == backup["name"]
    attempts = report["restore"]["attempts"]
    assert [(a["jobs"], a["rc"], a["out_of_memory"]) for a in attempts] == [(4, 1, True), (2, 1, True), (1, 0, False)]
    assert "out of memory" in attempts[0]["error"]
    assert report["restore"]["jobs"] == 1
    log = Path(report["restore"]["log"]).read_text()
    assert "attempt 1: pg_restore --jobs=4" in log and "attempt 3: pg_restore --jobs=1, exit code 0" in log
    # Index builds are serial in the attempts whose jobs take every vCPU; the retries with fewer jobs than vCPUs
    # build them in parallel again (on this 2-vCPU machine: 4 and 2 serial, 1 not).
    cpus = len(os.sched_getaffinity(0))
    for number, jobs, rc in ((1, 4, 1), (2, 2, 1), (3, 1, 0)):
        header = "attempt %d: pg_restore --jobs=%d, exit code %d" % (number, jobs, rc)
        serial = " (max_parallel_maintenance_workers=0: the jobs take every vCPU) ===" if jobs >= cpus else " ==="
        assert header + serial in log, (header, serial, log[-3000:])
    # and pg_restore's sessions ran with max_parallel_maintenance_workers=0 on the server in exactly those attempts
    # (when index builds are serial for every combination of the setting, jobs and vCPUs:
    # tests/unit/test_restore_engine.py)
    recorded = (tmp_path / "pgoptions.txt").read_text().splitlines()
    assert [line.split(" ")[0] for line in recorded] == ["jobs=4", "jobs=2", "jobs=1"], recorded
    for line in recorded:
        jobs = int(line.split(" ")[0].split("=")[1])
        if jobs >= cpus:
            assert line.endswith(" PGOPTIONS=-c max_parallel_maintenance_workers=0 SERVER=0"), (cpus, line)
        else:
            assert " PGOPTIONS= SERVER=" in line and not line.endswith(" SERVER=0"), (cpus, line)
    md = (work / "reports" / report["run_id"] / "report.md").read_text()
    assert "## pg_restore attempts" in md
