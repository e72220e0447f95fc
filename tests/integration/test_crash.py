"""Crash safety: kill -9 the run's whole process group at a task that changes something, then do what the next
run's message tells the operator, and check what a DBA would (issue 20):

- production ends as it was before the run or as the backup, never anything else;
- the application role can log in (no connection limit left at 0);
- no database is left without the collection's mark.

`make test` runs a few points (the drop in place, mid-pg_restore in place; the swap is
test_faults.py::test_kill_after_the_services_stopped_the_next_run_starts_them_again, with the backend running);
`make crash-sweep` kills the run at every task that changed something in a reference run (YV_CRASH_SWEEP=1), for
both methods.
"""
import json
import os
import re
from pathlib import Path

import psycopg2
import pytest

import yieldvault_fixture
from dbutil import admin_query, create_marked_database, drop_database, table_checksums, wrapped_bin_dir
from test_restore import yv  # noqa: F401  (a fixture)

PLUGINS = str(Path(__file__).resolve().parent / "crash_plugins")
APP_PASSWORD = "app-secret-crash"
# What a message may tell the operator to pass, and the sweep therefore passes when told.
ADVICE = ("db_restore_break_lock", "db_restore_allow_missing_safety_backup")


def crash_env(tmp_path, **extra):
    env = {"ANSIBLE_CALLBACK_PLUGINS": PLUGINS,
           "ANSIBLE_CALLBACKS_ENABLED": "yieldvault.db_restore.restore_timeline,crash_at"}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def app_can_log_in(pg_cluster, database):
    """Connect as the application's role (the owner) the way the backend does; the error text when refused."""
    try:
        conn = psycopg2.connect(host=pg_cluster["host"], port=pg_cluster["port"], user="yieldvault_user",
                                password=APP_PASSWORD, dbname=database, connect_timeout=5)
    except psycopg2.Error as exc:
        return str(exc).strip()
    conn.close()
    return True


def unmarked_databases(pg_cluster, production):
    """Databases <production>__* that carry no mark of the collection (by name and OID)."""
    rows = admin_query(pg_cluster, """
        SELECT d.datname FROM pg_database d
        WHERE starts_with(d.datname, %s)
          AND NOT EXISTS (SELECT 1 FROM yieldvault_db_restore.made m WHERE m.name = d.datname
                          AND (m.oid IS NULL OR m.oid = d.oid))""", (production + "__",))
    return [r[0] for r in rows]


def follow_the_messages(run_playbook, playbook, inv, extra, runs=4):
    """Run again, passing each setting the refusal tells the operator to pass; the last result and what was passed."""
    inv, passed = dict(inv), []
    for _ in range(runs):
        result = run_playbook(playbook, inv, extra)
        if result.rc == 0:
            return result, passed
        told = sorted(set(s for s in re.findall(r"-e (db_restore_[a-z_]+)=true", result.output)
                          if s in ADVICE and s not in inv))
        assert told, "the run after the crash failed without telling the operator what to pass:\n" + result.describe(6000)
        for setting in told:
            inv[setting] = True
            passed.append(setting)
    raise AssertionError("still failing after passing %s:\n%s" % (passed, result.describe(6000)))


def check_invariants(pg_cluster, name, allowed, what):
    sums = table_checksums(pg_cluster, name)
    assert sums in allowed.values(), "%s: production is neither as before the run nor as the backup" % what
    limit = admin_query(pg_cluster, "SELECT datconnlimit FROM pg_database WHERE datname = %s", (name,))[0][0]
    assert limit != 0, "%s: production was left at CONNECTION LIMIT 0" % what
    assert app_can_log_in(pg_cluster, name) is True, "%s: %s" % (what, app_can_log_in(pg_cluster, name))
    assert unmarked_databases(pg_cluster, name) == [], "%s: databases without the collection's mark" % what
    return [k for k, v in allowed.items() if v == sums][0]


@pytest.fixture
def crashable(yv, pg_cluster):  # noqa: F811
    admin_query(pg_cluster, "ALTER ROLE yieldvault_user LOGIN PASSWORD %s", (APP_PASSWORD,))
    return yv


def crash(run_playbook, tmp_path, inv, extra, playbook="restore.yml", **env):
    result = run_playbook(playbook, inv, extra, env=crash_env(tmp_path, **env))
    assert result.rc in (-9, 137), "the run was not killed where asked (%s):\n%s" % (env, result.describe(3000))
    return result


def test_kill_mid_pg_restore_in_place_then_rollback_picks_the_good_safety_backup(
        pg_cluster, run_playbook, crashable, tmp_path):
    """Issue 20, case 5. In place, killed half-way through pg_restore (tables loaded, no index yet): production
    is partial. The next run says so and names the killed run's safety backup; it restores, and its own safety
    backup (of the partial state) is never a rollback target: rollback.yml goes back to the killed run's one,
    the state before the incident run. Before, the plan showed "0 rows" without a word and rollback.yml restored
    the newest (partial) safety backup and reported succeeded."""
    yv = crashable
    name = yv["name"]
    before = table_checksums(pg_cluster, name)
    midway = tmp_path / "pg_restore-midway"
    real = Path(yv["inv"]["db_restore_pg_bin_dir"]) / "pg_restore"
    bin_dir = wrapped_bin_dir(tmp_path / "bin", "pg_restore", """#!/bin/sh
case " $* " in *" --jobs="*) ;; *) exec %(real)s "$@";; esac
%(real)s "$@" --section=pre-data --section=data || exit $?
touch %(midway)s
sleep 120
exec %(real)s "$@" --section=post-data
""" % {"real": real, "midway": midway})
    inv = dict(yv["inv"], db_restore_method="in_place")
    extra = {"point": "latest", "confirm": name}
    crash(run_playbook, tmp_path, dict(inv, db_restore_pg_bin_dir=str(bin_dir)), extra, YV_CRASH_WHEN_FILE=midway)
    killed_report = sorted((yv["work"] / "reports").glob("restore-*"))[-1].name
    good_safety = sorted(p.name for p in (yv["work"] / "safety").glob("%s_safety_*" % name)
                         if not p.name.endswith((".md5", ".json")))
    assert len(good_safety) == 1, good_safety

    refused = run_playbook("restore.yml", inv, extra)
    refused.assert_failed(killed_report)
    out = " ".join(refused.output.split())
    assert "killed after the drop of %s" % name in out and "partial restore" in out, refused.describe(4000)
    assert good_safety[0] in out, "the refusal does not name the last good safety backup"

    result, passed = follow_the_messages(run_playbook, "restore.yml", inv, extra)
    out = " ".join(result.output.split())
    assert "holds a partial restore left by run %s" % killed_report in out, result.describe(4000)
    report = result.report(str(yv["work"]))
    assert report["leftovers"]["predecessor"]["run_id"] == killed_report, report["leftovers"]
    assert "killed after the drop" in " ".join(report["leftovers"]["messages"])
    check_invariants(pg_cluster, name, {"before": before, "backup": yv["states"][2]["sums"]}, "in place")

    rollback = run_playbook("rollback.yml", inv, {"confirm": name})
    rollback.assert_ok()
    out = " ".join(rollback.output.split())
    assert "Backup %s taken" % good_safety[0] in out, rollback.describe(4000)
    assert "Left out:" in out
    assert check_invariants(pg_cluster, name, {"before": before}, "rollback") == "before"


def test_kill_after_the_drop_in_place(pg_cluster, run_playbook, crashable, tmp_path):
    """Killed right after production was dropped in place and created again empty (the task that records the drop
    never ran): the next run says what the dead run left, and what it tells the operator to pass brings production
    back as the backup."""
    yv = crashable
    name = yv["name"]
    admin_query(pg_cluster, 'ALTER DATABASE "%s" CONNECTION LIMIT 9' % name)
    before = table_checksums(pg_cluster, name)
    inv = dict(yv["inv"], db_restore_method="in_place")
    extra = {"point": "latest", "confirm": name}
    crash(run_playbook, tmp_path, inv, extra, YV_CRASH_AT_TASK="Record the drop and the connections that were ended")
    result, passed = follow_the_messages(run_playbook, "restore.yml", inv, extra)
    assert "db_restore_break_lock" in passed
    check_invariants(pg_cluster, name, {"before": before, "backup": yv["states"][2]["sums"]}, "after the drop")
    # the database the next run created gets the limit production had before the killed run, not the default
    assert admin_query(pg_cluster, "SELECT datconnlimit FROM pg_database WHERE datname = %s", (name,))[0][0] == 9


def test_drill_into_somebody_elses_database_is_refused(pg_cluster, run_playbook, crashable):
    """Issue 20, case 1: a drill whose scratch database names an existing database the collection did not make
    is refused before anything changes; before, that database was dropped without a safety backup (exit 0)."""
    yv = crashable
    other = "precious_%s" % os.urandom(3).hex()
    admin_query(pg_cluster, 'CREATE DATABASE "%s"' % other)
    try:
        admin_query(pg_cluster, "CREATE TABLE kept (id int); INSERT INTO kept VALUES (1)", dbname=other)
        result = run_playbook("drill.yml", dict(yv["inv"], db_restore_drill_database=other), {})
        result.assert_failed("was not made by yieldvault.db_restore")
        assert "db_restore_drill_database" in result.output
        assert admin_query(pg_cluster, "SELECT count(*) FROM kept", dbname=other) == [(1,)]
        # A scratch database a killed drill left carries its mark: the next drill drops and reuses it.
        scratch = "scratch_%s" % os.urandom(3).hex()
        create_marked_database(pg_cluster, scratch, kind="drill", production=scratch)
        again = run_playbook("drill.yml", dict(yv["inv"], db_restore_drill_database=scratch), {})
        again.assert_ok()
        assert unmarked_databases(pg_cluster, scratch) == []
    finally:
        drop_database(pg_cluster, other)


# ---- the sweep: every task that changed something, killed before and after it ----------------------------

def crash_points(log_path):
    """(task name, nth) to kill at: each task that reported a change (killed as it starts), and the task that
    started after it (killed once the change is done)."""
    starts, points, counts = [], [], {}
    for line in Path(log_path).read_text().splitlines():
        entry = json.loads(line)
        if entry["event"] == "start":
            counts[entry["task"]] = counts.get(entry["task"], 0) + 1
            starts.append((entry["task"], counts[entry["task"]]))
        elif entry["event"] == "changed" and starts:
            # the change belongs to the last task started
            idx = len(starts) - 1
            for point in (starts[idx], ("__next__", idx + 1)):
                if point not in points:
                    points.append(point)
    resolved = []
    for task, nth in points:
        if task == "__next__":
            if nth < len(starts):
                resolved.append(starts[nth])
        elif (task, nth) not in resolved:
            resolved.append((task, nth))
    return [p for i, p in enumerate(resolved) if p not in resolved[:i]]


@pytest.mark.skipif(os.environ.get("YV_CRASH_SWEEP") != "1", reason="the full sweep runs with make crash-sweep")
@pytest.mark.parametrize("playbook,method", [("restore.yml", "swap"), ("restore.yml", "in_place"),
                                             ("rollback.yml", "swap"), ("rollback.yml", "in_place")])
def test_crash_sweep(playbook, method, pg_cluster, run_playbook, crashable, tmp_path):
    """A restore ends as before or as the backup. A rollback goes back to a safety backup: it ends as before or as
    a state production held earlier in this test (each safety backup holds one of those)."""
    yv = crashable
    name = yv["name"]
    # The sweep takes longer than the RPO: the backups age past it, which is not what it exercises.
    inv = dict(yv["inv"], db_restore_method=method, db_restore_allow_rpo_breach=True)
    extra = {"point": "latest", "confirm": name} if playbook == "restore.yml" else {"confirm": name}
    seen = {"backup": yv["states"][2]["sums"]}
    seen["start"] = table_checksums(pg_cluster, name)
    if playbook == "rollback.yml":
        run_playbook("restore.yml", inv, {"point": "latest", "confirm": name}).assert_ok()  # a safety backup
    log = tmp_path / "tasks.jsonl"
    reference = run_playbook(playbook, inv, extra, env=crash_env(tmp_path, YV_CRASH_TASK_LOG=log))
    reference.assert_ok()
    points = crash_points(log)
    assert points, "no task changed anything in the reference run"
    failures = []
    for i, (task, nth) in enumerate(points):
        yieldvault_fixture.incident(pg_cluster, name)
        before = table_checksums(pg_cluster, name)
        allowed = dict(seen, before=before) if playbook == "rollback.yml" else {
            "before": before, "backup": yv["states"][2]["sums"]}
        seen["before %d" % i] = before
        try:
            crashed = run_playbook(playbook, inv, extra,
                                   env=crash_env(tmp_path, YV_CRASH_AT_TASK=task, YV_CRASH_AT_NTH=nth))
            if crashed.rc not in (-9, 137):
                continue  # the task did not start this time (a branch not taken): nothing to kill
            follow_the_messages(run_playbook, playbook, inv, extra)
            check_invariants(pg_cluster, name, allowed, "%s %s, killed at %r #%d" % (playbook, method, task, nth))
        except AssertionError as exc:
            failures.append("%s #%d: %s" % (task, nth, str(exc)[:1500]))
    assert not failures, "%d of %d crash points broke a guarantee:\n%s" % (len(failures), len(points),
                                                                          "\n\n".join(failures))
