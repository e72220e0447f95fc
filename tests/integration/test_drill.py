"""drill.yml: a restore into a scratch database that proves the backup and
leaves production byte-for-byte as it was.

An integration test rather than a molecule scenario: a drill needs only the
db server (no service is stopped), so a container would add nothing that the
real PostgreSQL cluster here does not already test, and cost minutes.
"""
import datetime as dt
import json
import os
import time

import make_backup
from dbutil import database_exists, exact_counts, table_checksums
from pg_cluster import connect

UTC = dt.timezone.utc


def _minutes_ago(n):
    return dt.datetime.now(UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=n)


def _history(work):
    return [json.loads(line) for line in (work / "drills" / "history.jsonl").read_text().splitlines()]


def test_scratch_database_equal_to_production_is_refused(tmp_path, pg_cluster, yieldvault_db, db_inventory_vars,
                                                         run_playbook):
    name = "yvd_%s" % os.urandom(3).hex()
    yieldvault_db(name, seed=7, users=100)
    store, work = tmp_path / "store", tmp_path / "work"
    make_backup.make_backup(pg_cluster, name, "local", _minutes_ago(5), local_dir=str(store))
    sums = table_checksums(pg_cluster, name)
    inv = db_inventory_vars(pg_cluster, name, str(work), "local", local_dir=str(store),
                            db_restore_drill_database=name)
    result = run_playbook("drill.yml", inv)
    result.assert_failed("Refusing to drill into '%s'" % name)
    assert "Nothing was changed" in result.output
    assert table_checksums(pg_cluster, name) == sums
    assert not work.exists(), "the refused drill created its work directory"


def test_a_scratch_name_postgresql_would_cut_to_production_is_refused_and_a_long_name_drills(
        tmp_path, pg_cluster, yieldvault_db, db_inventory_vars, run_playbook):
    # A 63-byte production name: <production>_drill is 69 bytes, which PostgreSQL cuts to production's own name.
    # The character count let it through; the server lock then refused to drop "<name>_drill", a database that
    # "exists and was not made by yieldvault.db_restore", after the backup was chosen.
    name = "yvd_" + "a" * 53 + os.urandom(3).hex()
    assert len(name.encode()) == 63
    yieldvault_db(name, seed=7, users=100)
    store, work = tmp_path / "store", tmp_path / "work"
    make_backup.make_backup(pg_cluster, name, "local", _minutes_ago(5), local_dir=str(store))
    sums = table_checksums(pg_cluster, name)
    result = run_playbook("drill.yml", db_inventory_vars(pg_cluster, name, str(work), "local", local_dir=str(store)))
    result.assert_failed("Refusing to drill into '%s_drill': db_restore_drill_database '%s_drill' is 69 bytes: "
                         "PostgreSQL cuts database names to 63 bytes, here to '%s', which is production's name"
                         % (name, name, name))
    assert "was not made by yieldvault.db_restore" not in result.output
    assert table_checksums(pg_cluster, name) == sums
    assert not work.exists(), "the refused drill created its work directory"

    # A 45-byte production name is too long for the swap's names, but a drill swaps nothing: it was refused with
    # "Refusing the swap" all the same.
    name = "yvd_" + "b" * 35 + os.urandom(3).hex()
    yieldvault_db(name, seed=7, users=100)
    make_backup.make_backup(pg_cluster, name, "local", _minutes_ago(5), local_dir=str(store))
    sums = table_checksums(pg_cluster, name)
    result = run_playbook("drill.yml", db_inventory_vars(pg_cluster, name, str(work), "local", local_dir=str(store)))
    result.assert_ok()
    assert table_checksums(pg_cluster, name) == sums
    assert not database_exists(pg_cluster, name + "_drill"), "the scratch database was not dropped"


def test_drill_of_pagila_leaves_production_untouched(tmp_path, pg_cluster, pagila_db, db_inventory_vars,
                                                     run_playbook):
    name = "pagila_%s" % os.urandom(3).hex()
    pagila_db(name)
    store, work = tmp_path / "store", tmp_path / "work"
    inv = db_inventory_vars(pg_cluster, name, str(work), "local", local_dir=str(store))
    run_playbook("backup.yml", inv).assert_ok()
    before = table_checksums(pg_cluster, name)

    started = time.monotonic()
    result = run_playbook("drill.yml", inv)
    seconds = time.monotonic() - started
    result.assert_ok()
    print("\npagila drill: %.1f s (ansible-playbook wall clock)" % seconds)

    assert table_checksums(pg_cluster, name) == before, "the drill changed production"
    assert not database_exists(pg_cluster, name + "_drill"), "the scratch database was not dropped"
    report = result.report(str(work))
    assert report["mode"] == "drill" and report["outcome"] == "succeeded"
    assert [p["name"] for p in report["phases"]] == [
        "preflight", "assess", "select_backup", "fetch_backup", "prepare_database", "restore_database",
        "verify_restore"]
    assert report["safety_backup"]["skipped"] is True
    # a drill stops nothing: no downtime in the report, its markdown or the timeline printed at the end
    assert report["metrics"]["downtime_seconds"] is None and report["downtime_window"] is None
    assert not [p["name"] for p in report["phases"] if p["downtime"]]
    assert "| Total RTO (downtime) | none |" in (work / "reports" / report["run_id"] / "report.md").read_text()
    assert "no downtime: no phase stopped a service" in result.stdout, result.describe()
    timeline = result.timeline(str(work))
    assert timeline["mode"] == "drill" and timeline["downtime_seconds"] is None, timeline
    assert not [p["name"] for p in timeline["phases"] if p["downtime"]], timeline["phases"]
    assert result.warnings == [], result.warnings
    checks = {v["check"]: v for v in report["verification"]}
    assert all(v["passed"] for v in report["verification"]), report["verification"]
    assert "row counts equal the backup's manifest exactly" in checks
    assert any(c.startswith("amcheck") for c in checks), "amcheck runs in drills by default"
    drill = report["drill"]
    print("pagila drill: restore time (drop/create, pg_restore, verify) %s s" % drill["trend"]["last_seconds"])
    assert drill["scratch_database"] == name + "_drill" and drill["kept"] is False
    assert drill["trend"]["runs"] == 1 and drill["trend"]["last_seconds"] > 0
    assert {r["table"] for r in drill["production_compare"]} >= {"public.rental", "public.payment"}
    assert all(r["difference"] in (0, None) for r in drill["production_compare"])
    history = _history(work)
    assert len(history) == 1 and history[0]["outcome"] == "succeeded"
    assert history[0]["backup"] == report["backup"]["name"]
    assert set(history[0]["phases"]) >= {"restore_database", "verify_restore"}
    assert not list((work / "locks").iterdir())


def test_failed_verification_fails_a_random_drill(tmp_path, pg_cluster, yieldvault_db, db_inventory_vars,
                                                  run_playbook):
    name = "yvd_%s" % os.urandom(3).hex()
    yieldvault_db(name, seed=8, users=200)
    store, work = tmp_path / "store", tmp_path / "work"
    # one in the 7-day window, one outside it; the names are kept as made (computing them again later
    # gives another name when a minute boundary passed during the test)
    backups = [make_backup.make_backup(pg_cluster, name, "local", _minutes_ago(age), local_dir=str(store))
               for age in (60 * 24 * 3, 60 * 24 * 20)]
    before = table_checksums(pg_cluster, name)
    inv = db_inventory_vars(pg_cluster, name, str(work), "local", local_dir=str(store), db_restore_amcheck=False,
                            db_restore_drill_database="scratch_" + name,
                            db_restore_checks=[{"name": "impossible total", "sql": "SELECT count(*) FROM \"User\"",
                                                "expected": -1}])
    result = run_playbook("drill.yml", inv, {"drill_pick": "random"})
    result.assert_failed("FAILED")
    assert "impossible total" in result.output
    assert table_checksums(pg_cluster, name) == before, "the drill changed production"
    assert not database_exists(pg_cluster, "scratch_" + name), "the scratch database was not dropped"
    report = result.report(str(work))
    assert report["mode"] == "drill" and report["outcome"] == "failed" and report["failed_phase"] == "verify_restore"
    picked = report["backup"]["name"]
    assert picked == backups[0]["name"]
    # no manifest: the counts are compared with the backup's own data, and they match; only the SQL check fails
    rows = {v["check"]: v for v in report["verification"]}
    assert rows["row counts equal the backup's own data exactly"]["passed"] is True
    history = _history(work)
    assert history[-1]["outcome"] == "failed" and history[-1]["rto_seconds"] is None
    assert report["drill"]["trend"]["timed_runs"] == 0


def test_drill_of_a_plain_backup_is_exact_and_ignores_a_small_table_that_changed(tmp_path, pg_cluster, yieldvault_db,
                                                                                 db_inventory_vars, run_playbook):
    # A cron pg_dump -Fc with an md5 and no manifest. Production moved on since: its 3-row "VaultState" gained a
    # row (25 % of what the restore holds), which compared with production would be a false alarm every week.
    name = "yvd_%s" % os.urandom(3).hex()
    yieldvault_db(name, seed=9, users=150)
    store, work = tmp_path / "store", tmp_path / "work"
    backup = make_backup.make_backup(pg_cluster, name, "local", _minutes_ago(5), local_dir=str(store))
    at_backup = exact_counts(pg_cluster, name)
    conn = connect(pg_cluster, name)
    with conn.cursor() as cur:
        cur.execute('INSERT INTO "VaultState" SELECT \'new-vault\', \'New\', "status", "totalAssets", "totalShares", '
                    '"sharePrice", "updatedAt" FROM "VaultState" LIMIT 1')
    conn.close()
    assert not list(store.glob("*.manifest.json"))
    inv = db_inventory_vars(pg_cluster, name, str(work), "local", local_dir=str(store), db_restore_amcheck=False)
    result = run_playbook("drill.yml", inv)
    result.assert_ok()
    report = result.report(str(work))
    assert report["outcome"] == "succeeded" and report["backup"]["name"] == backup["name"]
    checks = {v["check"]: v for v in report["verification"]}
    assert checks["row counts equal the backup's own data exactly"]["passed"] is True
    # the expected counts are the dump's own, exact: read from its data, without a manifest
    counts = {c["table"]: c for c in report["counts"]}
    for table, rows in at_backup.items():
        assert counts[table]["expected"] == rows, table
        assert counts[table]["after"] == rows, table
    assert counts["public.VaultState"]["before"] == at_backup["public.VaultState"] + 1
    # production's change is shown for information
    compare = {r["table"]: r for r in report["drill"]["production_compare"]}
    assert compare["public.VaultState"]["difference"] == 1
