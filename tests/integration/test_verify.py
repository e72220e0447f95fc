"""Exact verification (verify_restore): a manifest that disagrees with the
restore, an object of the backup's table of contents missing from the
restored database, and SQL checks with expected results.

Each fault is caught, named in the output and in the report's verification
rows, and a restore that fails verification is rolled back.
"""
import datetime as dt
import json
import os
import subprocess
from pathlib import Path

import pytest

import make_backup
import yieldvault_fixture
from dbutil import (PG_BIN_DIR, database_exists, db_inventory_vars as _db_inventory_vars, drop_database, exact_counts,
                    run_playbook as _run_playbook, table_checksums)
from pg_cluster import connect, libpq_env


def _pg(conn_info, tool, *args):
    res = subprocess.run([str(Path(PG_BIN_DIR) / tool), "-h", conn_info["host"], "-p", str(conn_info["port"]),
                          "-U", conn_info["user"], "--no-password", *args],
                         env=libpq_env(conn_info), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return res.stdout


@pytest.fixture(scope="module")
def _one_backup(tmp_path_factory, pg_cluster):
    """A YieldVault database and one backup of it made by backup.yml (local store), once for the module: the tests
    that use it change neither the database nor the dump (the manifest, which two of them edit, is put back)."""
    name = "yvv_%s" % os.urandom(3).hex()
    yieldvault_fixture.create(pg_cluster, name, users=300, seed=3)
    base = tmp_path_factory.mktemp("verify-backup")
    store = base / "store"
    inv = _db_inventory_vars(pg_cluster, name, str(base / "work"), "local", local_dir=str(store))
    _run_playbook("backup.yml", inv, tmp_dir=base / "playbook").assert_ok()
    dumps = sorted(store.glob("*.dump"))
    assert len(dumps) == 1
    yield {"name": name, "store": store, "inv": inv, "dump": dumps[0],
           "manifest": Path(str(dumps[0]) + ".manifest.json")}
    drop_database(pg_cluster, name)


@pytest.fixture
def backed_up(tmp_path, _one_backup):
    """The module's backup, with a work directory of this test's own (its reports, lock and downloads), and its
    manifest as backup.yml wrote it, put back after the test."""
    work = tmp_path / "work"
    manifest = _one_backup["manifest"].read_text()
    yield dict(_one_backup, work=work, inv=dict(_one_backup["inv"], db_restore_work_dir=str(work)))
    _one_backup["manifest"].write_text(manifest)


def test_tampered_manifest_is_refused_before_anything_changes(pg_cluster, run_playbook, backed_up):
    # The manifest is a shortcut, cross-checked against the rows in the dump's own data: a count that differs
    # stops the run before anything changes - in place, before the stop and the drop.
    manifest = json.loads(backed_up["manifest"].read_text())
    manifest["tables"]["public.Transaction"] += 1
    backed_up["manifest"].write_text(json.dumps(manifest))
    sums = table_checksums(pg_cluster, backed_up["name"])

    inv = dict(backed_up["inv"], db_restore_method="in_place")
    result = run_playbook("restore.yml", inv, {"point": "latest", "confirm": backed_up["name"]})
    result.assert_failed("does not match the rows in the backup's own data")
    out = flat(result.output)
    transactions = manifest["tables"]["public.Transaction"]
    assert "public.Transaction %d in the manifest, %d in the dump" % (transactions, transactions - 1) in out
    assert "Nothing was changed" in out
    report = result.report(str(backed_up["work"]))
    assert report["outcome"] == "failed" and report["failed_phase"] == "fetch_backup"
    assert table_checksums(pg_cluster, backed_up["name"]) == sums


def test_manifest_of_another_backup_is_refused_before_anything_changes(pg_cluster, run_playbook, backed_up):
    manifest = json.loads(backed_up["manifest"].read_text())
    manifest["md5"] = "0" * 32
    backed_up["manifest"].write_text(json.dumps(manifest))
    sums = table_checksums(pg_cluster, backed_up["name"])
    result = run_playbook("restore.yml", backed_up["inv"], {"point": "latest", "confirm": backed_up["name"]})
    result.assert_failed("does not describe the backup")
    assert "Nothing was changed" in result.output
    assert table_checksums(pg_cluster, backed_up["name"]) == sums
    report = result.report(str(backed_up["work"]))
    assert report["outcome"] == "failed" and report["failed_phase"] == "fetch_backup"


def flat(text):
    """Play output with the YAML callback's line wrapping and quote doubling undone."""
    return " ".join(text.split()).replace("''", "'")


def _restore_copy(pg_cluster, backed_up, target):
    _pg(pg_cluster, "createdb", target)
    _pg(pg_cluster, "pg_restore", "--no-owner", "--no-acl", "-d", target, str(backed_up["dump"]))


def _verify(run_playbook, backed_up, database, **extra):
    inv = dict(backed_up["inv"], db_restore_database=database, **extra)
    return run_playbook(str(Path(__file__).parent / "verify_only.yml"), inv,
                        {"verify_dump_path": str(backed_up["dump"]),
                         "verify_manifest_path": str(backed_up["manifest"])})


def test_missing_index_and_failing_sql_check_are_reported(pg_cluster, run_playbook, backed_up):
    target = backed_up["name"] + "_copy"
    _restore_copy(pg_cluster, backed_up, target)
    try:
        conn = connect(pg_cluster, target)
        with conn.cursor() as cur:
            cur.execute('DROP INDEX "Transaction_createdAt_idx"')
            cur.execute('SELECT count(*) FROM "User"')
            users = cur.fetchone()[0]
        conn.close()
        checks = [
            {"name": "users", "sql": 'SELECT count(*) FROM "User"', "expected": users},
            {"name": "deposits per type", "sql": 'SELECT "type", count(*) FROM "Transaction" GROUP BY 1 ORDER BY 1',
             "expected": [{"type": "NOPE", "count": 1}]},
        ]
        result = _verify(run_playbook, backed_up, target, db_restore_checks=checks)
        result.assert_failed("failed verification")
        out = flat(result.output)
        assert "FAIL: every object in the backup's table of contents exists" in out
        assert 'INDEX public.Transaction_createdAt_idx' in out
        assert "FAIL: SQL check: deposits per type" in out
        assert "PASS: SQL check: users" in out
        # the counts still match the manifest exactly: only the object check and the SQL check fail
        assert "PASS: row counts equal the backup's manifest exactly" in out
    finally:
        _pg(pg_cluster, "dropdb", "--if-exists", target)


# ---- backups made by cron (pg_dump -Fc and an md5, no manifest): the backup's own data is the truth ----

def _minutes_ago(n):
    now = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)
    return now - dt.timedelta(minutes=n)


@pytest.fixture
def cron_backup(tmp_path, pg_cluster, yieldvault_db, db_inventory_vars):
    """A YieldVault database and one plain pg_dump -Fc of it, 30 minutes old, without a manifest."""
    name = "yvc_%s" % os.urandom(3).hex()
    yieldvault_db(name, seed=5, users=300)
    store, work = tmp_path / "store", tmp_path / "work"
    backup = make_backup.make_backup(pg_cluster, name, "local", _minutes_ago(30), local_dir=str(store))
    assert not list(store.glob("*.manifest.json"))
    inv = db_inventory_vars(pg_cluster, name, str(work), "local", local_dir=str(store), db_restore_amcheck=False,
                            db_restore_rpo_minutes=60)
    return {"name": name, "store": store, "work": work, "inv": inv, "backup": backup,
            "counts": exact_counts(pg_cluster, name)}


def test_restore_losing_a_third_stops_at_the_plan_and_goes_ahead_when_accepted(pg_cluster, run_playbook,
                                                                               cron_backup):
    # A database that grows quickly, restored to 25 minutes ago: the backup of 30 minutes ago holds far fewer
    # rows than production now. That is a decision to take before anything changes, not a failed verification.
    name = cron_backup["name"]
    yieldvault_fixture.add_activity(pg_cluster, name, users=200, seed=51)
    sums = table_checksums(pg_cluster, name)
    point = _minutes_ago(25).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = run_playbook("restore.yml", cron_backup["inv"], {"point": point, "confirm": name})
    result.assert_failed("db_restore_accept_data_loss=true")
    out = flat(result.output)
    assert "What this restore loses" in out and "LOSS BEYOND TOLERANCE" in out
    assert "public.User 500 -> 300 (200 lost)" in out
    assert "Nothing was changed" in out
    assert table_checksums(pg_cluster, name) == sums
    assert not database_exists(pg_cluster, name + "__restore"), "a staging database was created"
    report = result.report(str(cron_backup["work"]))
    assert report["outcome"] == "failed"
    assert not [p for p in report["phases"] if p["name"] in ("prepare_database", "stop_services")]

    result = run_playbook("restore.yml", dict(cron_backup["inv"], db_restore_accept_data_loss=True),
                          {"point": point, "confirm": name})
    result.assert_ok()
    assert exact_counts(pg_cluster, name) == cron_backup["counts"]
    report = result.report(str(cron_backup["work"]))
    rows = {v["check"]: v for v in report["verification"]}
    assert rows["row counts equal the backup's own data exactly"]["passed"] is True
    counts = {c["table"]: c for c in report["counts"]}
    assert counts["public.User"]["expected"] == 300 and counts["public.User"]["before"] == 500
    assert all(c["expected"] == cron_backup["counts"][t] for t, c in counts.items()), counts


def test_not_null_typo_is_refused_before_anything_changes_in_place(pg_cluster, run_playbook, cron_backup):
    name = cron_backup["name"]
    sums = table_checksums(pg_cluster, name)
    inv = dict(cron_backup["inv"], db_restore_method="in_place",
               db_restore_not_null=[{"table": "Users", "column": "address"}])
    result = run_playbook("restore.yml", inv, {"point": "latest", "confirm": name})
    result.assert_failed("did you mean public.User")
    out = flat(result.output)
    assert "db_restore_not_null entry 1 (Users.address) names table public.Users" in out
    assert "Nothing was changed" in out
    assert table_checksums(pg_cluster, name) == sums
    report = result.report(str(cron_backup["work"]))
    assert report["failed_phase"] == "fetch_backup"
    assert [p["name"] for p in report["phases"]][-1] == "fetch_backup"
    assert report["safety_backup"] is None or report["safety_backup"].get("path") is None


def test_rollback_with_a_stale_materialized_view_is_verified(pg_cluster, run_playbook, cron_backup):
    # Production has a materialized view that was not refreshed since rows were added: pg_dump does not dump its
    # rows, pg_restore refreshes it, so the rolled-back database has another (the right) count in it.
    name = cron_backup["name"]
    conn = connect(pg_cluster, name)
    with conn.cursor() as cur:
        cur.execute('CREATE MATERIALIZED VIEW "UserAddresses" AS SELECT "id", "address" FROM "User"')
        cur.execute('INSERT INTO "User" ("id", "address", "email", "createdAt", "updatedAt") '
                    'SELECT "id" || \'-x\', \'0x\' || left(md5("id" || \'a\') || md5("id" || \'b\'), 40), NULL, '
                    '"createdAt", "updatedAt" FROM "User" LIMIT 7')
        cur.execute('SELECT count(*) FROM "UserAddresses"')
        stale = cur.fetchone()[0]
    conn.close()
    sums = table_checksums(pg_cluster, name)
    inv = dict(cron_backup["inv"], db_restore_method="in_place",
               db_restore_checks=[{"name": "impossible total", "sql": 'SELECT count(*) FROM "User"', "expected": -1}])
    result = run_playbook("restore.yml", inv, {"point": "latest", "confirm": name})
    result.assert_failed("ROLLED_BACK")
    assert "rollback NOT verified" not in result.output
    report = result.report(str(cron_backup["work"]))
    assert report["outcome"] == "rolled_back" and report["failed_phase"] == "verify_restore"
    # the SQL check is what failed, after a clean restore in place; the rollback brought production back whole
    failed = [v for v in report["verification"] if not v["passed"]]
    assert any("impossible total" in v["check"] for v in failed), report["verification"]
    assert report["rollback"]["succeeded"] is True and report["rollback"]["verified"] is True, report["rollback"]
    assert table_checksums(pg_cluster, name) == sums
    conn = connect(pg_cluster, "postgres")
    with conn.cursor() as cur:
        cur.execute("SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (name + "__",))
        left = cur.fetchall()
    conn.close()
    assert left == [], "databases left behind: %s" % left
    assert not list((cron_backup["work"] / "locks").iterdir()), "the lock was not released"
    after = exact_counts(pg_cluster, name)
    assert after["public.UserAddresses"] == stale + 7, "the view was not refreshed: the case was not exercised"
