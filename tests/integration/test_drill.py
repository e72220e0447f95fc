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
from dbutil import database_exists, table_checksums

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
    # no manifest: the fallback compares with production, whose counts equal this old backup's
    assert any(v["check"] == "every table of the pre-restore database exists" for v in report["verification"])
    history = _history(work)
    assert history[-1]["outcome"] == "failed" and history[-1]["rto_seconds"] is None
    assert report["drill"]["trend"]["timed_runs"] == 0
