"""Whole-cluster mode (issue 23): restore.yml -e pitr_scope=cluster replaces the cluster's data directory with the
WAL archive recovered to a second, the original kept aside, and rollback.yml -e pitr_scope=cluster puts it back -
also after a kill -9 half way.

Each test has its own cluster (test_pitr's archive_cluster): the run stops and replaces it.
"""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from conftest import pg_cluster_script
from test_crash import crash_env
from test_pitr import (_rows, archive_cluster, commit_then_point_then_incident, create_app_with_a_ledger,  # noqa: F401
                       create_database)

STANZA = "yv_cluster"
INCIDENT = [(2, "clobbered"), (3, "clobbered"), (4, "clobbered")]
BEFORE_THE_POINT = [(1, "first"), (2, "second"), (3, "third")]


def _inventory(db_inventory_vars, info, base):
    return db_inventory_vars(
        info, "app", str(base / "work"), "local",
        db_restore_login_unix_socket=info["socket_dir"],
        db_restore_pg_data_dir=info["data_dir"],
        db_restore_pg_restart="pg_ctl",
        db_restore_pgbackrest_stanza=STANZA,
        db_restore_pgbackrest_config=str(base / "pgbackrest" / "pgbackrest.conf"),
        db_restore_pgbackrest_repo_path=str(base / "repo"),
        db_restore_pgbackrest_log_path=str(base / "pgbackrest-log"),
        db_restore_wal_archive_timeout=30,
    )


def _archived_app_with_an_incident(info, base, db_inventory_vars, run_playbook):
    """app.ledger and other.notes in an archived cluster; rows before the point, the incident after it (in both
    databases). The inventory and the point."""
    create_app_with_a_ledger(info)
    create_database(info, "other", "CREATE TABLE notes (id int PRIMARY KEY); INSERT INTO notes VALUES (1)")
    inv = _inventory(db_inventory_vars, info, base)
    run_playbook("wal_archive.yml", inv).assert_ok()  # restarts the server; its full backup holds both databases
    point = commit_then_point_then_incident(
        info, "INSERT INTO ledger VALUES (1, 'first'), (2, 'second')", "INSERT INTO ledger VALUES (3, 'third')")
    other = pg_cluster_script.connect(info, "other")
    other.autocommit = True
    other.cursor().execute("INSERT INTO notes VALUES (2)")  # after the point: another database's incident
    other.close()
    return inv, point


def _pgbackrest_wrapper(base, when, then):
    """A pgbackrest first on PATH: for the command WHEN (info, restore, ...) it runs the shell THEN first; it runs the
    real one otherwise (and after THEN, unless THEN exits). Under the cluster's base directory, which the
    PostgreSQL OS user can reach (runuser keeps PATH)."""
    bin_dir = base / "wrapped-bin"
    bin_dir.mkdir(exist_ok=True)
    os.chmod(bin_dir, 0o755)
    script = bin_dir / "pgbackrest"
    script.write_text('#!/bin/sh\nfor a; do cmd=$a; done\nif [ "$cmd" = %s ]; then %s; fi\n'
                      'exec /usr/bin/pgbackrest "$@"\n' % (when, then))
    script.chmod(0o755)
    return {"PATH": "%s:%s:%s" % (bin_dir, Path(sys.executable).parent, os.environ.get("PATH", "/usr/bin:/bin"))}


def _notes(info):
    conn = pg_cluster_script.connect(info, "other")
    try:
        cur = conn.cursor()
        cur.execute("SELECT id FROM notes ORDER BY id")
        return [r[0] for r in cur.fetchall()]
    finally:
        conn.close()


def _journal(base):
    path = base / "work" / "cluster" / ("%s.journal.json" % STANZA)
    return json.loads(path.read_text()) if path.exists() else None


def _connlimit(info, dbname="app"):
    conn = pg_cluster_script.connect(info)
    try:
        cur = conn.cursor()
        cur.execute("SELECT datconnlimit FROM pg_database WHERE datname = %s", (dbname,))
        return cur.fetchone()[0]
    finally:
        conn.close()


def _server_up(info):
    out = subprocess.run(["runuser", "-u", "postgres", "--", os.path.join(info["bin_dir"], "pg_ctl"), "-D",
                          info["data_dir"], "status"], capture_output=True, text=True)
    return out.returncode == 0


def test_whole_cluster_restore_to_a_second_left_alone_while_it_runs_then_rollback(archive_cluster, db_inventory_vars,
                                                                                  run_playbook, tmp_path):
    info, base = archive_cluster
    inv, point = _archived_app_with_an_incident(info, base, db_inventory_vars, run_playbook)
    extra = {"point": point, "pitr_scope": "cluster", "confirm": STANZA}

    # The database's name does not confirm replacing the whole cluster.
    wrong = run_playbook("restore.yml", inv, dict(extra, confirm="app"))
    wrong.assert_failed("does not match the stanza name '%s'" % STANZA)
    assert _rows(info) == INCIDENT and _server_up(info)

    plan = run_playbook("restore.yml", inv, extra, check=True).assert_ok()
    assert "restore the WHOLE cluster of %s" % info["data_dir"] in plan.stdout, plan.stdout[-3000:]
    assert "data loss 0 s to the point" in plan.stdout
    assert _rows(info) == INCIDENT and _journal(base) is None, "check mode changed something"

    # Red team: while this restore runs (a slow pgBackRest restore), a second restore and rollback.yml - which the
    # second one's refusal used to send the operator to - both refuse and touch nothing; this one then finishes.
    # The restore waits until the test has tried the other two runs (at most 5 minutes): no race with the load.
    release = base / "release"
    slow = _pgbackrest_wrapper(base, "restore", "i=0; while [ ! -f %s ] && [ $i -lt 1500 ]; do sleep 0.2; "
                                                "i=$((i+1)); done" % release)
    box = {}
    thread = threading.Thread(target=lambda: box.setdefault("a", run_playbook("restore.yml", inv, extra, env=slow)))
    thread.start()
    try:
        deadline = time.time() + 300
        while time.time() < deadline and (_journal(base) or {}).get("state") != "moved" and thread.is_alive():
            time.sleep(0.3)
        record = _journal(base)
        assert record and record["state"] == "moved", (record, box.get("a") and box["a"].describe())
        for playbook, extra_vars in (("restore.yml", extra), ("rollback.yml", {"pitr_scope": "cluster",
                                                                               "confirm": STANZA})):
            other = run_playbook(playbook, inv, extra_vars)
            other.assert_failed("A whole-cluster restore is running now (run %s" % record["run_id"])
            assert _journal(base) == record and Path(record["aside"], "PG_VERSION").exists()
    finally:
        release.write_text("go\n")
        thread.join(600)
    result = box["a"]
    result.assert_ok()
    assert inv["db_restore_login_password"] not in result.output
    # Row by row, in every database: what was committed by the point, nothing after it.
    assert _rows(info) == BEFORE_THE_POINT
    assert _notes(info) == [1]
    journal = _journal(base)
    assert journal["state"] == "done", journal
    aside = Path(journal["aside"])
    assert (aside / "PG_VERSION").exists(), "the original data directory was not kept aside"
    assert str(aside) in result.stdout
    assert _connlimit(info) == -1
    reports = sorted((base / "work" / "reports").glob("restore-*/report.md"), key=lambda p: p.stat().st_mtime)
    assert reports, "no report of the restore"
    text = reports[-1].read_text()
    assert "the WAL archive, the whole cluster recovered to %s (data loss 0 s)" % point in text, text[:3000]
    assert "0 s (WAL archive, to the second)" in text and str(aside) in text
    # The server runs with the options it ran with (postmaster.opts came over) and archives on a new timeline.
    settings = pg_cluster_script.connect(info)
    try:
        cur = settings.cursor()
        cur.execute("SELECT setting FROM pg_settings WHERE name = 'archive_mode'")
        assert cur.fetchone()[0] == "on"
        cur.execute("SELECT timeline_id FROM pg_control_checkpoint()")
        assert cur.fetchone()[0] >= 2
    finally:
        settings.close()

    # A second restore that fails after the stop (red team): it puts back only what it moved itself - the
    # cluster the first restore made, with what was written since - and never the first restore's original.
    app = pg_cluster_script.connect(info, "app")
    app.autocommit = True
    app.cursor().execute("INSERT INTO ledger VALUES (5, 'after the restore')")
    app.close()
    failing = _pgbackrest_wrapper(base, "restore", 'echo "simulated failure of restore" >&2; exit 41')
    failed = run_playbook("restore.yml", inv, dict(extra, point="latest"), env=failing)
    failed.assert_failed("simulated failure of restore")
    assert _server_up(info) and _rows(info) == BEFORE_THE_POINT + [(5, "after the restore")]
    assert _journal(base) == journal, "the first restore's journal is not back, so rollback.yml could not undo it"
    assert _connlimit(info) == -1

    # Red team: the original moved away by hand (taken for a leftover): refused before PostgreSQL is stopped.
    hidden = aside.with_name(aside.name + ".hidden")
    aside.rename(hidden)
    gone = run_playbook("rollback.yml", inv, {"pitr_scope": "cluster", "confirm": STANZA})
    gone.assert_failed("and it is not there")
    gone.assert_failed("PostgreSQL was not stopped")
    assert _server_up(info) and _rows(info) == BEFORE_THE_POINT + [(5, "after the restore")]
    hidden.rename(aside)
    # Red team: another run takes the journal between the rollback's plan and its put back (a restore started from
    # another controller with db_restore_break_lock). Nothing is moved, and PostgreSQL is not started under that
    # run, which may be writing the data directory; the journal stays that run's.
    journal_file = base / "work" / "cluster" / ("%s.journal.json" % STANZA)
    other = dict(journal, run_id="restore-cluster-20991231T000000Z-0ace", state="stopping", previous=None)
    staged = tmp_path / "other-run-journal.json"
    staged.write_text(json.dumps(other))
    taken = run_playbook("rollback.yml", inv, {"pitr_scope": "cluster", "confirm": STANZA}, env=crash_env(
        tmp_path, YV_HOOK_AT_TASK="Put the original data directory back",
        YV_HOOK_COMMAND="cp %s %s" % (staged, journal_file)))
    taken.assert_failed("now names run %s" % other["run_id"])
    taken.assert_failed("PostgreSQL was left stopped")
    assert not _server_up(info) and _journal(base) == other
    assert aside.exists() and (Path(info["data_dir"]) / "PG_VERSION").exists(), "something was moved"
    journal_file.write_text(json.dumps(journal))  # that run is over and gave the journal back
    # The way back: the original (the incident included) is back, the restored directory kept beside it.
    back = run_playbook("rollback.yml", inv, {"pitr_scope": "cluster", "confirm": STANZA})
    back.assert_ok()
    assert _rows(info) == INCIDENT and _notes(info) == [1, 2]
    rollback_reports = sorted((base / "work" / "reports").glob("rollback-*/report.md"), key=lambda p: p.stat().st_mtime)
    assert rollback_reports and "restore moved aside, put back" in rollback_reports[-1].read_text()
    kept = list(Path(info["data_dir"]).parent.glob(Path(info["data_dir"]).name + ".restored-*"))
    assert len(kept) == 1 and (kept[0] / "PG_VERSION").exists(), kept
    assert not aside.exists() and _journal(base) is None
    assert _connlimit(info) == -1, "the original came back with the connection limit the restore's stop set"
    # Nothing more to roll back now, and PostgreSQL runs: refused, nothing changes.
    run_playbook("rollback.yml", inv, {"pitr_scope": "cluster", "confirm": STANZA}).assert_failed(
        "No whole-cluster restore to roll back")
    assert _rows(info) == INCIDENT


def test_whole_cluster_restore_killed_after_the_move_or_the_stop_and_a_rollback_killed_are_recovered(
        archive_cluster, db_inventory_vars, run_playbook, tmp_path):
    info, base = archive_cluster
    inv, point = _archived_app_with_an_incident(info, base, db_inventory_vars, run_playbook)
    extra = {"point": point, "pitr_scope": "cluster", "confirm": STANZA}

    # From a dump, a whole cluster cannot be restored: refused before anything changes.
    # Each refusal names the one setting at fault, not every condition of the mode.
    dump = run_playbook("restore.yml", inv, dict(extra, source="dump"))
    dump.assert_failed("restores from the WAL archive only (got -e source=dump")
    assert "restore.yml and rollback.yml only" not in dump.output, dump.describe()
    assert _rows(info) == INCIDENT
    # Nor is a whole cluster drilled: a drill never stops production.
    drill = run_playbook("drill.yml", inv, {"pitr_scope": "cluster"})
    drill.assert_failed("for restore.yml and rollback.yml only (this is a drill)")
    assert "WAL archive only" not in drill.output and "db_restore_pg_data_dir" not in drill.output, drill.describe()
    assert _server_up(info)

    # kill -9 once the archive is restored into the data directory, before PostgreSQL starts on it.
    killed = run_playbook("restore.yml", inv, extra,
                          env=crash_env(tmp_path, YV_CRASH_AT_TASK="Start PostgreSQL on the restored data directory"))
    assert killed.rc == -9, killed.describe()
    journal = _journal(base)
    assert journal["state"] == "restored", journal
    assert not _server_up(info)

    # The next restore refuses, with PostgreSQL down, and says what to do; nothing changes.
    again = run_playbook("restore.yml", inv, extra)
    again.assert_failed("rollback.yml -e pitr_scope=cluster")
    assert journal["aside"] in again.output and "Nothing was changed" in again.output
    assert _journal(base) == journal and Path(journal["aside"], "PG_VERSION").exists()

    back = run_playbook("rollback.yml", inv, {"pitr_scope": "cluster", "confirm": STANZA})
    back.assert_ok()
    assert _server_up(info)
    assert _rows(info) == INCIDENT and _notes(info) == [1, 2], "the original is not what came back"
    assert _journal(base) is None
    assert _connlimit(info) == -1, "the original came back with the connection limit the restore's stop set"

    # Red team, on the original that came back: a restore killed right after PostgreSQL stopped (nothing moved yet),
    # and a rollback killed after it put the original back but before PostgreSQL started on it. Following the
    # messages brings the original back, running, with the database's connection limit given back.
    rollback = {"pitr_scope": "cluster", "confirm": STANZA}

    killed = run_playbook("restore.yml", inv, extra, env=crash_env(
        tmp_path, YV_CRASH_AT_TASK="Move the data directory aside and restore the archive to the point"))
    assert killed.rc == -9, killed.describe()
    assert _journal(base)["state"] == "stopping" and not _server_up(info)
    run_playbook("restore.yml", inv, extra).assert_failed("was stopping PostgreSQL (nothing was moved yet)")
    # Red team: the same journal from a run controlled from another host (AWX), which this host cannot tell is dead,
    # written a minute ago. rollback.yml used to take it over at once; it refuses until told the run is dead.
    journal_file = base / "work" / "cluster" / ("%s.journal.json" % STANZA)
    remote = dict(_journal(base), controller={"host": "awx-task-7.example", "pid": 4242}, updated_at=time.time() - 60)
    journal_file.write_text(json.dumps(remote))
    refused = run_playbook("rollback.yml", inv, rollback)
    refused.assert_failed("A whole-cluster restore may still be running: run %s" % remote["run_id"])
    refused.assert_failed("-e db_restore_break_lock=true to take over")
    assert _journal(base) == remote and not _server_up(info)
    run_playbook("rollback.yml", inv, dict(rollback, db_restore_break_lock=True)).assert_ok()
    assert _server_up(info) and _rows(info) == INCIDENT and _connlimit(info) == -1 and _journal(base) is None

    run_playbook("restore.yml", inv, extra).assert_ok()
    assert _rows(info) == BEFORE_THE_POINT
    killed = run_playbook("rollback.yml", inv, rollback, env=crash_env(
        tmp_path, YV_CRASH_AT_TASK="Start PostgreSQL on the original data directory"))
    assert killed.rc == -9, killed.describe()
    assert not _server_up(info) and _journal(base) is None
    again = run_playbook("rollback.yml", inv, rollback)
    again.assert_ok()
    assert "PostgreSQL is down" in again.stdout, again.stdout[-3000:]
    assert _server_up(info) and _rows(info) == INCIDENT and _notes(info) == [1, 2] and _connlimit(info) == -1

    # A data directory that is not the one the server we log in to runs on: refused, nothing stops.
    other = base / "other-cluster"
    other.mkdir()
    (other / "PG_VERSION").write_text("15\n")
    wrong_dir = run_playbook("restore.yml", dict(inv, db_restore_pg_data_dir=str(other)), extra)
    wrong_dir.assert_failed("runs on %s, not on db_restore_pg_data_dir %s" % (info["data_dir"], other))
    assert _server_up(info) and sorted(os.listdir(other)) == ["PG_VERSION"]

    # A tablespace lives outside the data directory that would be moved aside: refused before anything stops.
    location = base / "tablespace"
    location.mkdir()
    os.chown(location, Path(info["data_dir"]).stat().st_uid, Path(info["data_dir"]).stat().st_gid)
    conn = pg_cluster_script.connect(info)
    conn.autocommit = True
    conn.cursor().execute("CREATE TABLESPACE elsewhere LOCATION '%s'" % location)
    conn.close()
    refused = run_playbook("restore.yml", inv, dict(extra, point="latest"))
    refused.assert_failed("tablespaces outside its data directory")
    assert _server_up(info) and _rows(info) == INCIDENT
