"""restore.yml with the swap method (the default): the backup is restored and
verified in the staging database while production serves, then the two change
names in one transaction between the stop and the start of the services.

Each test checks the data (exact counts and a checksum of every table), which
databases exist afterwards, and what the report says.
"""
import os
import re
import time
from pathlib import Path

import pytest

import make_backup
from dbutil import (admin_query, assert_rollback_to_the_newest_safety_backup, create_marked_database,
                    database_exists, drop_database, exact_counts, table_checksums, wrapped_bin_dir)
from pg_cluster import connect
from notify_receiver import assert_no_secret, assert_unreachable_warned, notify_vars
from test_restore import iso, minutes_ago, yv  # noqa: F401  (yv is a fixture)


def databases(pg_cluster, prefix):
    conn = connect(pg_cluster, "postgres")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT datname FROM pg_database WHERE starts_with(datname, %s) ORDER BY 1", (prefix,))
            return [r[0] for r in cur.fetchall()]
    finally:
        conn.close()


def phase(report, name):
    return next(p for p in report["phases"] if p["name"] == name)


def test_swap_restores_with_downtime_only_around_the_rename(pg_cluster, run_playbook, yv, tmp_path):  # noqa: F811
    # the operator's console (no -v, the runbook stdout callback of ansible.cfg), with a pg_restore that pauses
    # 5 s between the data and the indexes, longer than the progress interval of 1 s. Then rollback.yml goes back
    # to the newest safety backup, the packed directory-format dump the swap made of the previous database (the
    # custom format: test_rollback.py::test_rollback_to_the_newest_safety_backup).
    sums_before = table_checksums(pg_cluster, yv["name"])
    counts_before = exact_counts(pg_cluster, yv["name"])
    real = Path(yv["inv"]["db_restore_pg_bin_dir"]) / "pg_restore"
    bin_dir = wrapped_bin_dir(tmp_path / "bin", "pg_restore", """#!/bin/sh
case " $* " in *" --jobs="*) ;; *) exec %(real)s "$@";; esac
%(real)s "$@" --section=pre-data --section=data || exit $?
sleep 5
exec %(real)s "$@" --section=post-data
""" % {"real": real})
    # two jobs: auto packs the safety backup of the previous database in the directory format
    inv = dict(yv["inv"], db_restore_pg_bin_dir=str(bin_dir), db_restore_progress_interval=1, db_restore_jobs=2)
    result = run_playbook("restore.yml", inv, {"point": iso(minutes_ago(20)), "confirm": yv["name"]}, verbose=False)
    result.assert_ok()
    # a clean run prints no warning at all (it printed "'__db_restore_previous' is undefined" once, and
    # "Show the smoke test" printed "msg: null" without services)
    assert result.warnings == [], result.warnings
    # quiet: about 650 lines with every task; now one line per phase, the plan, the outcome and the timeline
    lines = result.stdout.splitlines()
    progress = [line for line in lines if line.startswith("restore_database: pg_restore ")]
    # one progress line per second while pg_restore runs, with the items done against the table of contents
    assert len(progress) >= 2, result.stdout
    assert all(re.match(r"restore_database: pg_restore \d+/\d+ items \(\d+%\), \d+ s", line) for line in progress), progress
    assert any(re.search(r"\(([1-9]\d?)%\), \d+ s, about \d+ (s|min) left$", line) for line in progress), progress
    lines = [line for line in lines if line not in progress]
    assert len(lines) <= 60, "%d lines on the console:\n%s" % (len(lines), result.stdout)
    assert not any(line.startswith("TASK [") for line in lines), result.stdout
    for name in ("preflight", "fetch_backup", "restore_database", "swap_database", "safety_backup"):
        assert any(re.match(r"%s +ok +[0-9.]+ s +\(started " % name, line) for line in lines), (name, result.stdout)
    assert "Method: swap" in lines, result.stdout  # the plan
    assert any(line.startswith("Report: ") and "report.md" in line for line in lines), result.stdout
    assert any(line.startswith("RESTORE TIMELINE") for line in lines), result.stdout
    chosen = yv["states"][1]
    assert exact_counts(pg_cluster, yv["name"]) == chosen["counts"]
    assert table_checksums(pg_cluster, yv["name"]) == chosen["sums"]
    # no staging or previous database is left behind
    assert databases(pg_cluster, yv["name"] + "__") == []

    report = result.report(str(yv["work"]))
    assert report["outcome"] == "succeeded" and report["method"] == "swap"
    assert report["staging_database"] == yv["name"] + "__restore"
    names = [p["name"] for p in report["phases"]]
    assert names == ["preflight", "assess", "select_backup", "fetch_backup", "prepare_database", "restore_database",
                     "verify_restore", "stop_services", "swap_database", "start_services", "smoke_test",
                     "safety_backup"]
    assert [p["name"] for p in report["phases"] if p["downtime"]] == [
        "stop_services", "swap_database", "start_services", "smoke_test"]
    # the callback's timeline.json agrees: stop -> start plus the smoke test, and names the mode and method
    timeline = result.timeline(str(yv["work"]))
    assert timeline["mode"] == "restore" and timeline["method"] == "swap", timeline
    assert [p["name"] for p in timeline["phases"] if p["downtime"]] == [
        "stop_services", "swap_database", "start_services", "smoke_test"], timeline["phases"]
    assert 0 < timeline["downtime_seconds"] <= sum(
        phase(report, n)["seconds"] for n in ("stop_services", "swap_database", "start_services", "smoke_test")) + 1
    # the downtime starts after the staging restore was verified and ends before the previous database is dumped
    window = report["downtime_window"]
    assert window["started_at"] >= phase(report, "verify_restore")["ended"]
    assert window["ended_at"] <= phase(report, "safety_backup")["started"]
    assert report["metrics"]["downtime_seconds"] < (
        report["metrics"]["restore_seconds"] + report["metrics"]["verification_seconds"]
        + phase(report, "stop_services")["seconds"] + phase(report, "swap_database")["seconds"]
        + phase(report, "start_services")["seconds"] + phase(report, "smoke_test")["seconds"])

    previous = report["previous_database"]
    assert previous["name"].startswith(yv["name"] + "__pre_")
    assert previous["dropped"] is True and previous["kept"] is False
    # the previous database was dumped as production's safety backup before it was dropped
    safety = report["safety_backup"]
    assert os.path.basename(safety["path"]).startswith(yv["name"] + "_safety_")
    assert os.path.getsize(safety["path"]) > 0
    # auto after a swap: dumped in parallel (packed directory format) when there is more than one job
    parallel = report["restore"]["jobs"] > 1
    assert safety["format"] == ("directory_tar" if parallel else "custom"), (safety, report["restore"])
    assert safety["path"].endswith(".dir.tar" if parallel else ".dump")
    assert not list((yv["work"] / "locks").iterdir()), "the lock was not released"

    md = (yv["work"] / "reports" / report["run_id"] / "report.md").read_text()
    assert "Method | swap" in md and previous["name"] in md

    # rollback.yml: back to the newest safety backup, the state before the restore
    assert safety["path"].endswith(".dir.tar"), safety
    assert_rollback_to_the_newest_safety_backup(pg_cluster, run_playbook, yv, safety, "directory_tar", sums_before,
                                                counts_before)


def test_smoke_failure_after_the_swap_swaps_back(pg_cluster, run_playbook, yv, free_port):  # noqa: F811
    sums_before = table_checksums(pg_cluster, yv["name"])
    counts_before = exact_counts(pg_cluster, yv["name"])
    inv = dict(yv["inv"], db_restore_smoke_urls=["http://127.0.0.1:%d/api/v1/health" % free_port()])
    result = run_playbook("restore.yml", inv, {"point": "latest", "confirm": yv["name"]})
    result.assert_failed("ROLLED_BACK")
    assert table_checksums(pg_cluster, yv["name"]) == sums_before, "the swap back did not bring the data back"
    assert exact_counts(pg_cluster, yv["name"]) == counts_before
    assert databases(pg_cluster, yv["name"] + "__") == [], "the swap left databases behind"

    report = result.report(str(yv["work"]))
    assert report["outcome"] == "rolled_back"
    assert report["failed_phase"] == "smoke_test"
    assert "smoke-test endpoint" in report["error"] and "Connection refused" in report["error"]
    assert report["rollback"]["method"] == "swap" and report["rollback"]["succeeded"] is True
    assert report["rollback"]["verified"] is True, report["rollback"]
    assert not list((yv["work"] / "locks").iterdir())


def test_smoke_failure_keeps_the_restore_when_asked(pg_cluster, run_playbook, yv, free_port):  # noqa: F811
    inv = dict(yv["inv"], db_restore_rollback_on_smoke_failure=False,
               db_restore_smoke_urls=["http://127.0.0.1:%d/" % free_port()])
    result = run_playbook("restore.yml", inv, {"point": "latest", "confirm": yv["name"]})
    result.assert_failed("FAILED")
    assert table_checksums(pg_cluster, yv["name"]) == yv["states"][2]["sums"]
    report = result.report(str(yv["work"]))
    assert report["outcome"] == "failed" and not report["rollback"]
    # the previous database stays: the run failed before its safety dump
    assert databases(pg_cluster, yv["name"] + "__pre_") == [report["previous_database"]["name"]]


def test_a_staging_name_that_is_somebody_elses_database_is_refused(pg_cluster, run_playbook, yv):  # noqa: F811
    """Issue 20, case 2: db_restore_staging_database naming an existing database the collection did not make
    (no mark) is refused before anything changes; that database keeps its data. Before the marks, the plan called
    it "the leftover staging database of an interrupted run", dropped it and restored into it (exit 0)."""
    staging = "yvstage_%s" % os.urandom(3).hex()
    conn = connect(pg_cluster, "postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute('CREATE DATABASE "%s"' % staging)
    conn.close()
    admin_query(pg_cluster, "CREATE TABLE precious (id int); INSERT INTO precious VALUES (1), (2)", dbname=staging)
    sums = table_checksums(pg_cluster, yv["name"])
    try:
        result = run_playbook("restore.yml", dict(yv["inv"], db_restore_staging_database=staging),
                              {"point": "latest", "confirm": yv["name"]})
        result.assert_failed("was not made by yieldvault.db_restore")
        assert "db_restore_staging_database" in result.output and "Nothing was changed" in result.output
        assert admin_query(pg_cluster, "SELECT count(*) FROM precious", dbname=staging) == [(2,)]
        assert table_checksums(pg_cluster, yv["name"]) == sums
    finally:
        drop_database(pg_cluster, staging)


def test_leftovers_of_an_interrupted_run_are_reported(pg_cluster, run_playbook, yv, tmp_path, free_port):  # noqa: F811
    """What an interrupted run left: its databases are reported (the marked staging database dropped, an unmarked
    previous database kept, with how to go back to it), and its files removed once this run holds the lock. A
    restore or rollback killed mid-way (SIGKILL, a reboot) runs no cleanup: an unpacked safety backup or a partial
    safety dump stays, hundreds of MB each; the next run of the same database removes them, and nothing that is not
    that database's restore or rollback leftover.

    The same run also meets vacuumdb --analyze-only failing after a restore that worked: a warning, not a failure or
    a rollback. The Slack and PagerDuty receivers do not answer either: warnings too, and the restore stands."""
    name, work = yv["name"], yv["work"]
    bin_dir = wrapped_bin_dir(tmp_path / "pgbin", "vacuumdb",
                              "#!/bin/sh\necho 'vacuumdb: error: the yv-test statistics failure' >&2\nexit 1\n")
    dead = "http://127.0.0.1:%d" % free_port()
    inv = dict(yv["inv"], db_restore_pg_bin_dir=str(bin_dir), db_restore_notify_timeout=3, **notify_vars(dead))
    gone = [work / "unpacked" / ("restore-%s-20260101T000000Z-1a2b" % name),
            work / "unpacked" / ("rollback-%s-20260102T000000Z-00ff" % name),
            work / "safety" / ("%s_safety_20260101_000000.dir.tar.d.part" % name),
            work / "safety" / ("%s_safety_20260101_000000.dump.part" % name)]
    kept = [work / "unpacked" / ("drill-%s-20260101T000000Z-1a2b" % name),     # a drill holds another lock
            work / "unpacked" / ("restore-%sx-20260101T000000Z-1a2b" % name),  # another database
            work / "safety" / ("%s_safety_20260101_000000.dump" % name)]       # a finished safety backup
    for path in gone[:3] + kept[:2]:
        (path / "dump").mkdir(parents=True)
        (path / "dump" / "toc.dat").write_bytes(os.urandom(4096))
    for path in gone[3:] + kept[2:]:
        path.write_bytes(os.urandom(1000))
    conn = connect(pg_cluster, "postgres")
    conn.autocommit = True
    leftover_pre = name + "__pre_20260101_000000"
    with conn.cursor() as cur:
        cur.execute('CREATE DATABASE "%s"' % leftover_pre)
    conn.close()
    # The staging database a killed run left carries that run's mark: this run may drop it.
    create_marked_database(pg_cluster, name + "__restore", production=name)
    try:
        result = run_playbook("restore.yml", inv, {"point": "latest", "confirm": name})
        result.assert_ok()
        assert table_checksums(pg_cluster, name) == yv["states"][2]["sums"]
        assert databases(pg_cluster, name + "__") == [leftover_pre]
        report = result.report(str(work))
        assert report["outcome"] == "succeeded"
        # the failed statistics update and the receivers that do not answer
        assert_unreachable_warned(result)
        assert_no_secret(result, work)
        assert "WARNING: vacuumdb --analyze-only on %s" % name in result.stdout  # the staging database's name
        assert "the yv-test statistics failure" in result.stdout
        log = Path(report["restore"]["log"]).read_text()
        assert "=== vacuumdb --analyze-only --jobs=" in log and "exit code 1 ===" in log
        messages = " ".join(report["leftovers"]["messages"])
        assert "this run drops it" in messages
        assert "rollback.yml -e previous=%s" % leftover_pre in " ".join(messages.split())
        assert [str(p) for p in gone if p.exists()] == [], "a killed run's leftovers are still there"
        assert [str(p) for p in kept if not p.exists()] == [], "something that was not a leftover was removed"
        removed = report["leftovers"]["files_removed"]
        assert sorted(r["path"] for r in removed) == sorted(str(p) for p in gone), removed
        assert sum(r["bytes"] for r in removed) == 3 * 4096 + 1000
        assert "Removed, left by an interrupted run of %s" % name in result.output
        md = (work / "reports" / report["run_id"] / "report.md").read_text()
        assert "Left by an interrupted run, removed:** `%s`" % gone[0] in md
    finally:
        conn = connect(pg_cluster, "postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute('DROP DATABASE IF EXISTS "%s"' % leftover_pre)
        conn.close()


# 32 é are 32 characters and 64 bytes: a check in characters let the name through, and PostgreSQL created the
# staging database under the name cut to 63 bytes.
@pytest.mark.parametrize("staging", ["same", "too long", "64 bytes in 32 characters"])
def test_bad_staging_name_is_refused(pg_cluster, run_playbook, yv, staging):  # noqa: F811
    name = {"same": yv["name"], "too long": "s" * 64, "64 bytes in 32 characters": "é" * 32}[staging]
    sums = table_checksums(pg_cluster, yv["name"])
    inv = dict(yv["inv"], db_restore_staging_database=name)
    result = run_playbook("restore.yml", inv, {"point": "latest", "confirm": yv["name"]})
    if staging == "same":
        result.assert_failed("Refusing the swap: db_restore_staging_database is production '%s'" % name)
        assert "cuts database names" not in result.output
    else:
        result.assert_failed("Refusing the swap: db_restore_staging_database '%s' is 64 bytes: PostgreSQL cuts "
                             "database names to 63 bytes" % name)
    assert "Nothing was changed" in result.output
    assert table_checksums(pg_cluster, yv["name"]) == sums
    if staging != "same":
        assert not database_exists(pg_cluster, name.encode()[:63].decode("utf-8", "ignore")), "a cut staging database"


ODD_OWNER = 'yv "o\'wner" 100%'
NEW_ODD_OWNER = 'yv "new" o\'wner 5%s'


def _admin(pg_cluster, *statements):
    conn = connect(pg_cluster, "postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for statement, args in statements:
                cur.execute(statement, args)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def _ident(name):
    return '"%s"' % name.replace('"', '""')


@pytest.mark.parametrize("method,owner", [("swap", "from the old database"), ("in_place", "new, from the inventory")])
def test_owner_with_quotes_and_percent_is_kept(pg_cluster, run_playbook, yv, method, owner):  # noqa: F811
    """The drop and (for the staging database) the create are SQL built by the role: names and literals are
    quoted there, and % doubled for the driver. The new database gets the old one's owner (db_restore_owner
    empty) or the inventory's, created when missing, and keeps the old one's locale."""
    if owner == "from the old database":
        expected, inv_owner = ODD_OWNER, ""
        if not _admin(pg_cluster, ("SELECT 1 FROM pg_roles WHERE rolname = %s", (ODD_OWNER,))):
            _admin(pg_cluster, ("CREATE ROLE %s" % _ident(ODD_OWNER), None))
        _admin(pg_cluster, ("ALTER DATABASE %s OWNER TO %s" % (_ident(yv["name"]), _ident(ODD_OWNER)), None))
    else:
        expected = inv_owner = NEW_ODD_OWNER
        _admin(pg_cluster, ("DROP ROLE IF EXISTS %s" % _ident(NEW_ODD_OWNER), None))
    locale_before = _admin(pg_cluster, ("SELECT datcollate, datctype FROM pg_database WHERE datname = %s",
                                        (yv["name"],)))[0]
    result = run_playbook("restore.yml", dict(yv["inv"], db_restore_method=method, db_restore_owner=inv_owner,
                                              db_restore_create_owner=True),
                          {"point": iso(minutes_ago(20)), "confirm": yv["name"]})
    result.assert_ok()
    assert table_checksums(pg_cluster, yv["name"]) == yv["states"][1]["sums"]
    owner_after, collate, ctype = _admin(pg_cluster, (
        "SELECT pg_get_userbyid(datdba), datcollate, datctype FROM pg_database WHERE datname = %s", (yv["name"],)))[0]
    assert owner_after == expected
    assert (collate, ctype) == tuple(locale_before)
    if inv_owner:
        # Created by the run (db_restore_create_owner), so NOLOGIN: db_restore_owner_login was not given.
        assert _admin(pg_cluster, ("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (NEW_ODD_OWNER,))) == [(False,)]


def _autovacuum_workers(pg_cluster, dbname, table):
    """pids of the autovacuum workers vacuuming table in dbname."""
    return _admin(pg_cluster, ("SELECT pid FROM pg_stat_activity WHERE backend_type = 'autovacuum worker' "
                               "AND datname = %s AND query LIKE %s", (dbname, "autovacuum: VACUUM %" + table + "%")))


@pytest.fixture
def busy_autovacuum(pg_cluster):
    """Autovacuum launched every second (naptime 1 s) for the test; reset afterwards."""
    _admin(pg_cluster, ("ALTER SYSTEM SET autovacuum_naptime = '1s'", None), ("SELECT pg_reload_conf()", None))
    yield
    _admin(pg_cluster, ("ALTER SYSTEM RESET autovacuum_naptime", None), ("SELECT pg_reload_conf()", None))


@pytest.mark.parametrize("method", ["swap", "in_place"])
def test_autovacuum_on_production_is_not_a_session(method, pg_cluster, run_playbook, yv, busy_autovacuum):  # noqa: F811
    # After a big restore the launcher vacuums every table for minutes. Its workers are no client: counted as
    # sessions, they were "terminated" in the report and, restarted every round, failed the run in the middle of
    # the downtime as "sessions keep reconnecting" (seen before the fix, after 10 rounds). Here a slow vacuum
    # (100 ms a page) of a table updated after the newest backup (the same rows, 50000 dead versions) keeps one
    # running on production through the run.
    def sql(*statements):
        conn = connect(pg_cluster, yv["name"])
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
        finally:
            conn.close()

    sql("CREATE TABLE av_busy (id int, pad text) WITH (autovacuum_vacuum_threshold = 1, "
        "autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_cost_delay = 100, autovacuum_vacuum_cost_limit = 1)",
        "INSERT INTO av_busy SELECT g, repeat('x', 200) FROM generate_series(1, 50000) g")
    make_backup.make_backup(pg_cluster, yv["name"], "local", minutes_ago(1), local_dir=str(yv["store"]))
    backup_sums = table_checksums(pg_cluster, yv["name"])
    sql("UPDATE av_busy SET pad = pad")  # 50000 dead rows to vacuum, the same rows
    deadline = time.monotonic() + 60
    while not _autovacuum_workers(pg_cluster, yv["name"], "av_busy"):
        if time.monotonic() > deadline:
            pytest.fail("no autovacuum worker started on %s.av_busy within 60 s" % yv["name"])
        time.sleep(0.2)
    result = run_playbook("restore.yml", dict(yv["inv"], db_restore_method=method),
                          {"point": "latest", "confirm": yv["name"]})
    result.assert_ok()
    assert table_checksums(pg_cluster, yv["name"]) == backup_sums
    report = result.report(str(yv["work"]))
    assert int(report["connections"]["found"]) == 0, report["connections"]
    assert report["connections_terminated"] == [], report["connections_terminated"]
