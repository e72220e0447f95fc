"""WAL archiving with pgBackRest (issue 23): playbooks/wal_archive.yml on a real PostgreSQL 15 cluster.

Each test has its own cluster: turning archiving on restarts the server, which the session's shared cluster
must not see.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT, pg_cluster_script
from dbutil import database_exists, recap


def _recap_changed(result):
    counts = [line["changed"] for line in recap(result.stdout) if line["host"] == "localhost"]
    assert counts, result.output[-3000:]
    return counts[-1]


def _settings(info):
    conn = pg_cluster_script.connect(info)
    try:
        cur = conn.cursor()
        cur.execute("SELECT name, setting FROM pg_settings WHERE name IN ('archive_mode', 'archive_command', 'archive_timeout')")
        return dict(cur.fetchall())
    finally:
        conn.close()


def _pgbackrest_info(config, stanza):
    out = subprocess.run(["runuser", "-u", "postgres", "--", "pgbackrest", "--config=%s" % config,
                          "--stanza=%s" % stanza, "--output=json", "info"],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)[0]


@pytest.fixture
def archive_cluster():
    """A cluster of its own and the directories of a posix pgBackRest repository, all under one /tmp directory."""
    base = Path(tempfile.mkdtemp(prefix="yv-test-pitr-", dir="/tmp"))
    os.chmod(base, 0o755)
    info = pg_cluster_script.start(base / "cluster")
    yield info, base
    pg_cluster_script.stop(base / "cluster", mode="immediate")
    shutil.rmtree(base, ignore_errors=True)


def _archive_inventory(db_inventory_vars, info, base):
    return db_inventory_vars(
        info, "postgres", str(base / "work"), "local",
        db_restore_login_unix_socket=info["socket_dir"],
        db_restore_pg_data_dir=info["data_dir"],
        db_restore_pg_restart="pg_ctl",
        db_restore_pgbackrest_stanza="yv_pitr",
        db_restore_pgbackrest_config=str(base / "pgbackrest" / "pgbackrest.conf"),
        db_restore_pgbackrest_repo_path=str(base / "repo"),
        db_restore_pgbackrest_log_path=str(base / "pgbackrest-log"),
        db_restore_wal_archive_timeout=30,
    )


def test_wal_archive_check_mode_then_on_then_idempotent_then_scratch_restore_to_a_second_and_coverage(
        archive_cluster, db_inventory_vars, run_playbook):
    info, base = archive_cluster
    config = str(base / "pgbackrest" / "pgbackrest.conf")
    repo = str(base / "repo")
    inv = _archive_inventory(db_inventory_vars, info, base)
    password = inv["db_restore_login_password"]
    # app.ledger, for the scratch restore to a second below: in the full backup wal_archive.yml takes.
    conn = pg_cluster_script.connect(info)
    conn.autocommit = True
    conn.cursor().execute("CREATE DATABASE app")
    conn.close()
    app = pg_cluster_script.connect(info, "app")
    app.autocommit = True
    app.cursor().execute("CREATE TABLE ledger (id int PRIMARY KEY, note text)")
    app.close()

    check = run_playbook("wal_archive.yml", inv, check=True).assert_ok()
    assert "Would change" in check.stdout
    assert "archive_mode" in check.stdout and "to create" in check.stdout
    assert not os.path.exists(config), "check mode wrote the pgBackRest configuration"
    assert not os.path.exists(repo), "check mode created the repository"
    assert _settings(info)["archive_mode"] == "off", "check mode changed archive_mode"

    first = run_playbook("wal_archive.yml", inv).assert_ok()
    assert password not in first.output
    settings = _settings(info)
    assert settings["archive_mode"] == "on"
    assert settings["archive_timeout"] == "30"
    assert "archive-push" in settings["archive_command"] and config in settings["archive_command"]
    state = _pgbackrest_info(config, "yv_pitr")
    assert state["status"]["code"] == 0, state
    assert [b["type"] for b in state["backup"]] == ["full"]
    assert state["archive"] and state["archive"][0]["max"], "no WAL segment reached the archive"
    assert Path(repo).stat().st_uid == Path(info["data_dir"]).stat().st_uid, "the repository is not the server user's"

    again = run_playbook("wal_archive.yml", inv).assert_ok()
    assert _recap_changed(again) == 0, again.stdout[-3000:]
    assert [b["type"] for b in _pgbackrest_info(config, "yv_pitr")["backup"]] == ["full"], "a second full backup was taken"

    # A scratch server (wal_scratch_server alone) restored to a second between two commits of app: exactly the rows
    # committed by then, production untouched; then of a database the backup does not hold.
    app = pg_cluster_script.connect(info, "app")
    cur = app.cursor()

    cur.execute("INSERT INTO ledger VALUES (1, 'first'), (2, 'second')")
    cur.execute("INSERT INTO ledger VALUES (3, 'third')")
    cur.execute("SELECT extract(epoch FROM clock_timestamp())")
    committed = float(cur.fetchone()[0])
    point_epoch = int(committed) + 1  # the next whole second: after rows 1-3, before the incident
    time.sleep(max(0.0, point_epoch + 1.3 - time.time()))
    # The incident, committed more than a second after the point.
    cur.execute("INSERT INTO ledger VALUES (4, 'after the point')")
    cur.execute("UPDATE ledger SET note = 'clobbered'")
    cur.execute("DELETE FROM ledger WHERE id = 1")
    app.close()
    subprocess.run(["runuser", "-u", "postgres", "--", "pgbackrest", "--config=%s" % config, "--stanza=yv_pitr", "check"],
                   check=True, capture_output=True, env=dict(os.environ, PGPASSWORD=password))
    point = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(point_epoch))

    scratch_dir = str(base / "scratch")
    args = {"scratch_dir": scratch_dir, "point": point, "database": "app", "stanza": "yv_pitr", "config": config,
            "pg_bin_dir": info["bin_dir"], "login_user": info["user"], "login_password": password}
    rc, result = _scratch(args)
    try:
        assert rc == 0, result
        scratch = pg_cluster_script.connect(dict(info, port=result["port"], host=result["socket_dir"]), "app")
        try:
            scur = scratch.cursor()
            scur.execute("SELECT id, note FROM ledger ORDER BY id")
            assert scur.fetchall() == [(1, "first"), (2, "second"), (3, "third")]
            scur.execute("SHOW archive_mode")
            assert scur.fetchone()[0] == "off", "the scratch server would push WAL into the production archive"
        finally:
            scratch.close()
    finally:
        rc_absent, gone = _scratch({"scratch_dir": scratch_dir, "state": "absent"})
    assert rc_absent == 0 and gone["changed"] is True, gone
    assert not os.path.exists(scratch_dir)
    # Production is untouched: the incident is still there.
    prod = pg_cluster_script.connect(info, "app")
    try:
        pcur = prod.cursor()
        pcur.execute("SELECT id, note FROM ledger ORDER BY id")
        assert pcur.fetchall() == [(2, "clobbered"), (3, "clobbered"), (4, "clobbered")]
    finally:
        prod.close()

    # A database the backup does not hold (made after it): the scratch restore fails clearly and leaves nothing.
    rc, result = _scratch(dict(args, point="latest", database="made_after_the_backup"))
    assert rc != 0, result
    assert "made_after_the_backup" in result["msg"] and "production was not touched" in result["msg"], result
    assert not os.path.exists(scratch_dir), "the failed restore left its scratch directory"

    # The archive's coverage of a point (wal_archive_coverage alone), on this archive: whole, a point
    # before the oldest base backup, then a segment missing - found before anything changes.
    conn = pg_cluster_script.connect(info)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("CREATE TABLE ledger (id int PRIMARY KEY, note text)")
    # Each round fills and archives a segment of its own (pgbackrest check switches WAL and waits for it).
    for round_no in range(4):
        cur.execute("INSERT INTO ledger VALUES (%s, 'round')", (round_no,))
        subprocess.run(["runuser", "-u", "postgres", "--", "pgbackrest", "--config=%s" % config, "--stanza=yv_pitr",
                        "check"], check=True, capture_output=True, env=dict(os.environ, PGPASSWORD=password))
    conn.close()

    whole = _coverage(config, "latest")
    assert whole["covered"] is True and whole["data_loss_seconds"] == 0, whole
    assert whole["gaps"] == [] and "data loss 0 s" in whole["msg"]

    before = _coverage(config, "2020-01-01T00:00:00Z")
    assert before["covered"] is False and "before the oldest base backup" in before["msg"], before

    segments = sorted(p for p in (base / "repo" / "archive" / "yv_pitr").rglob("*")
                      if p.is_file() and re.match(r"^[0-9A-F]{24}-", p.name))
    state = _pgbackrest_info(config, "yv_pitr")
    whole_start = state["backup"][0]["archive"]["start"]
    after_backup = [p for p in segments if p.name[:24] > whole_start and p.name[:24] < state["archive"][0]["max"]]
    assert after_backup, "the rounds archived no segment between the backup and the newest: %s" % segments
    missing = after_backup[0]
    missing.unlink()
    gap = _coverage(config, "latest")
    assert gap["covered"] is False, gap
    assert gap["gaps"] == [{"first_missing": missing.name[:24], "last_missing": missing.name[:24]}]
    assert "gap" in gap["msg"] and missing.name[:24] in gap["msg"] and "nothing was changed" in gap["msg"]


def test_wal_archive_refuses_without_data_dir(archive_cluster, db_inventory_vars, run_playbook):
    info, base = archive_cluster
    inv = db_inventory_vars(info, "postgres", str(base / "work"), "local",
                            db_restore_login_unix_socket=info["socket_dir"],
                            db_restore_pgbackrest_config=str(base / "pgbackrest.conf"),
                            db_restore_pgbackrest_repo_path=str(base / "repo"))
    result = run_playbook("wal_archive.yml", inv)
    result.assert_failed("Set db_restore_pg_data_dir")
    assert _settings(info)["archive_mode"] == "off"


def _coverage(config, point):
    """Run the wal_archive_coverage module alone (ad hoc) and return its result."""
    args = json.dumps({"point": point, "stanza": "yv_pitr", "config": config})
    out = subprocess.run([str(REPO_ROOT / ".venv" / "bin" / "ansible"), "localhost", "-o", "-m",
                          "yieldvault.db_restore.wal_archive_coverage", "-a", args],
                         cwd=str(REPO_ROOT), capture_output=True, text=True, timeout=300)
    assert " => " in out.stdout, out.stdout + out.stderr
    return json.loads(out.stdout.split(" => ", 1)[1])


def _scratch(args):
    """Run the wal_scratch_server module alone (ad hoc); returns (rc, result)."""
    out = subprocess.run([str(REPO_ROOT / ".venv" / "bin" / "ansible"), "localhost", "-o", "-m",
                          "yieldvault.db_restore.wal_scratch_server", "-a", json.dumps(args)],
                         cwd=str(REPO_ROOT), capture_output=True, text=True, timeout=600)
    assert " => " in out.stdout, out.stdout + out.stderr
    return out.returncode, json.loads(out.stdout.split(" => ", 1)[1])


def _rows(info, dbname="app"):
    conn = pg_cluster_script.connect(info, dbname)
    try:
        cur = conn.cursor()
        cur.execute("SELECT id, note FROM ledger ORDER BY id")
        return cur.fetchall()
    finally:
        conn.close()


def create_database(info, dbname, statements):
    """CREATE DATABASE dbname in the archived cluster, then run statements in it (autocommit)."""
    conn = pg_cluster_script.connect(info)
    conn.autocommit = True
    conn.cursor().execute("CREATE DATABASE %s" % dbname)
    conn.close()
    db = pg_cluster_script.connect(info, dbname)
    db.autocommit = True
    db.cursor().execute(statements)
    db.close()


def create_app_with_a_ledger(info):
    """The database app, with an empty table ledger (id, note), in the archived cluster."""
    create_database(info, "app", "CREATE TABLE ledger (id int PRIMARY KEY, note text)")


def commit_then_point_then_incident(info, *before):
    """Commit the statements BEFORE the point, take the next whole second as the point, then, 1.3 s past it, the
    incident: a row after the point, every note clobbered and row 1 deleted. The point as an ISO string."""
    app = pg_cluster_script.connect(info, "app")
    app.autocommit = True
    cur = app.cursor()
    for statement in before:
        cur.execute(statement)
    cur.execute("SELECT extract(epoch FROM clock_timestamp())")
    point_epoch = int(float(cur.fetchone()[0])) + 1
    time.sleep(max(0.0, point_epoch + 1.3 - time.time()))
    cur.execute("INSERT INTO ledger VALUES (4, 'after the point')")
    cur.execute("UPDATE ledger SET note = 'clobbered'")
    cur.execute("DELETE FROM ledger WHERE id = 1")
    app.close()
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(point_epoch))


def _scratch_postmasters(base):
    """Processes whose command line names a data directory under base (a scratch server left running)."""
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "postgres" in line and str(base / "pgbackrest-scratch") in line]


def test_restore_yml_to_a_second_uses_the_archive_and_brings_back_exactly_those_rows(archive_cluster, db_inventory_vars,
                                                                                     run_playbook):
    """restore.yml -e point=<second>: the archive covers it, so it is the source (data loss 0 s); the rows committed
    by that second come back through the scratch server, staging, verification and the swap; nothing is left."""
    info, base = archive_cluster
    config = str(base / "pgbackrest" / "pgbackrest.conf")
    password = pg_cluster_script.password(info)
    create_app_with_a_ledger(info)
    inv = db_inventory_vars(
        info, "app", str(base / "work"), "local",
        db_restore_login_unix_socket=info["socket_dir"],
        db_restore_pg_data_dir=info["data_dir"],
        db_restore_pgbackrest_stanza="yv_pitr",
        db_restore_pgbackrest_config=config,
        db_restore_pgbackrest_repo_path=str(base / "repo"),
        db_restore_pgbackrest_log_path=str(base / "pgbackrest-log"),
        db_restore_wal_archive_timeout=30,
    )
    run_playbook("wal_archive.yml", inv).assert_ok()  # restarts the server; its full backup holds app
    run_playbook("backup.yml", inv).assert_ok()  # a dump too: the plan names what it would lose

    point = commit_then_point_then_incident(
        info, "INSERT INTO ledger VALUES (1, 'first'), (2, 'second')", "INSERT INTO ledger VALUES (3, 'third')")

    # The plan first (check mode): the archive is the source, and the dump's loss is named beside it.
    plan = run_playbook("restore.yml", inv, {"point": point, "confirm": "app"}, check=True).assert_ok()
    assert "WAL archive: data loss 0 s to the point" in plan.stdout, plan.stdout[-4000:]
    assert "Dump app_" in plan.stdout and "data loss" in plan.stdout
    assert _rows(info) == [(2, "clobbered"), (3, "clobbered"), (4, "clobbered")], "check mode changed production"

    result = run_playbook("restore.yml", inv, {"point": point, "confirm": "app"})
    result.assert_ok()
    assert password not in result.output
    # Row by row: exactly what was committed by the point, nothing of the incident.
    assert _rows(info) == [(1, "first"), (2, "second"), (3, "third")]
    reports = sorted((base / "work" / "reports").glob("*/report.md"), key=lambda p: p.stat().st_mtime)
    assert reports, "no report was written"
    text = reports[-1].read_text()
    assert "0 s (WAL archive, to the second)" in text and "| Source | the WAL archive, recovered to %s" % point in text
    # Nothing of the scratch server is left: no directory, no process, no dump copy beyond the retention's.
    assert not list((base / "pgbackrest-scratch").glob("scratch-*")), "the scratch server's directory was left"
    assert not _scratch_postmasters(base), "a scratch server is still running"
    assert not list((base / "work" / "pitr").glob("dump-*")), "the dump made from the archive was left"
    # The scratch server never pushed its new timeline into the production archive.
    assert not list((base / "repo" / "archive" / "yv_pitr").rglob("00000002.history*")), \
        "the scratch server archived into the production archive"
    # Production still archives after the swap.
    assert _settings(info)["archive_mode"] == "on"

    # A drill of the archive: a random second of the window, restored into the scratch database and proved there;
    # production is not touched, and the report gives the archive's lag as the RPO a lost server would see.
    before_drill = _rows(info)
    drill = run_playbook("drill.yml", inv, {"source": "wal", "drill_pick": "random"})
    drill.assert_ok()
    assert "Source: the WAL archive, recovered to" in drill.stdout, drill.stdout[-3000:]
    assert _rows(info) == before_drill
    assert not database_exists(info, "app_drill"), "the drill's scratch database was not dropped"
    drill_reports = sorted((base / "work" / "reports").glob("drill-*/report.md"), key=lambda p: p.stat().st_mtime)
    assert drill_reports, "the drill wrote no report"
    drill_text = drill_reports[-1].read_text()
    assert "0 s (WAL archive, to the second)" in drill_text
    assert re.search(r"\| Archive lag \| \d+ s \|", drill_text), drill_text[:3000]
    assert not _scratch_postmasters(base)

    # kill -9 while the scratch server ran leaves it running: the next run stops it and removes its directory
    # (under the lock, before anything else), then restores - here to the end of the archive (-e point=latest).
    app = pg_cluster_script.connect(info, "app")
    app.autocommit = True
    app.cursor().execute("INSERT INTO ledger VALUES (5, 'after the restore')")
    app.close()
    leftover = base / "pgbackrest-scratch" / ("scratch-" + hashlib.sha1(b"app").hexdigest()[:12])
    rc, left = _scratch({"scratch_dir": str(leftover), "point": "latest", "database": "app", "stanza": "yv_pitr",
                         "config": config, "pg_bin_dir": info["bin_dir"], "login_user": info["user"],
                         "login_password": password})
    assert rc == 0, left
    orphan = int((leftover / "data" / "postmaster.pid").read_text().split()[0])
    latest = run_playbook("restore.yml", inv, {"point": "latest", "source": "wal", "confirm": "app"})
    latest.assert_ok()
    assert not os.path.exists("/proc/%d" % orphan), "the killed run's scratch server still runs"
    assert "left by an interrupted run" in latest.stdout
    assert _rows(info) == [(1, "first"), (2, "second"), (3, "third"), (5, "after the restore")]
    assert not _scratch_postmasters(base) and not leftover.exists()

    # A gap in the archive: -e source=wal is refused before anything changes, with the missing segment named.
    for _ in range(2):
        subprocess.run(["runuser", "-u", "postgres", "--", "pgbackrest", "--config=%s" % config, "--stanza=yv_pitr",
                        "check"], check=True, capture_output=True, env=dict(os.environ, PGPASSWORD=password))
    state = _pgbackrest_info(config, "yv_pitr")
    segments = sorted(p for p in (base / "repo" / "archive" / "yv_pitr").rglob("*")
                      if p.is_file() and re.match(r"^[0-9A-F]{24}-", p.name)
                      and state["backup"][-1]["archive"]["start"] < p.name[:24] < state["archive"][0]["max"])
    assert segments, "no archived segment between the base backup and the newest"
    segments[0].unlink()
    before = _rows(info)
    refused = run_playbook("restore.yml", inv, {"point": "latest", "source": "wal", "confirm": "app"})
    refused.assert_failed(segments[0].name[:24])
    assert "-e source=dump" in refused.output and "Nothing was changed" in refused.output
    assert _rows(info) == before
    # auto falls back to the dump and says why, in the plan.
    fallback = run_playbook("restore.yml", inv, {"point": "latest", "confirm": "app", "db_restore_allow_rpo_breach": True},
                            check=True).assert_ok()
    assert "WAL archive: The WAL archive has a gap" in fallback.stdout, fallback.stdout[-3000:]
    # A point before the oldest base backup, and no dump that old either: refused, with both reasons.
    old = run_playbook("restore.yml", inv, {"point": "2020-01-01T00:00:00Z", "confirm": "app"}, check=True)
    old.assert_failed("before the oldest base backup")
    assert _rows(info) == before
