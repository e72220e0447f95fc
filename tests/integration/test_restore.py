"""restore.yml end to end against real PostgreSQL 15 clusters and both stores.

Each test asserts what an on-call engineer would check afterwards: which backup
was chosen, that every table holds exactly the backup's rows (counts and a
checksum of every row), what the report says, and that a refused run left the
database exactly as it was.
"""
import datetime as dt
import gzip
import json
import os
import pathlib
import re
import stat
import subprocess

import pytest
from psycopg2 import sql

import make_backup
import yieldvault_fixture
from notify_receiver import (assert_no_secret, assert_rollback_notified, notify_vars,
                             receiver)  # noqa: F401  (a fixture)
from pg_cluster import connect
from dbutil import (admin_query, assert_rollback_to_the_newest_safety_backup, exact_counts, free_port, table_checksums,
                    tables_without_statistics, wrapped_bin_dir, small_tmpfs, PG_BIN_DIR)

UTC = dt.timezone.utc
PAGILA_COUNTS = {  # ../shared/data/pagila/README.md
    "public.rental": 16044, "public.film_actor": 5462, "public.inventory": 4581,
    "public.film_category": 2367, "public.film": 1000, "public.address": 603, "public.city": 600,
    "public.customer": 599, "public.actor": 200, "public.country": 109, "public.category": 16,
    "public.language": 6, "public.payment": 16049,
}


def minutes_ago(n):
    return dt.datetime.now(UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=n)


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def yv(tmp_path, pg_cluster, yieldvault_db, db_inventory_vars):
    """A YieldVault database with three backups (50, 30 and 8 minutes old) in a
    local store, different data in each, and then an incident."""
    name = "yv_%s" % os.urandom(3).hex()
    yieldvault_db(name, seed=1, owner="yieldvault_user")
    store = tmp_path / "store"
    store.mkdir()
    states = []
    for i, age in enumerate((50, 30, 8)):
        if i:
            yieldvault_fixture.add_activity(pg_cluster, name, users=40, seed=10 + i)
        b = make_backup.make_backup(pg_cluster, name, "local", minutes_ago(age), local_dir=str(store))
        states.append({"backup": b, "counts": exact_counts(pg_cluster, name),
                       "sums": table_checksums(pg_cluster, name)})
    yieldvault_fixture.add_activity(pg_cluster, name, users=5, seed=99)
    yieldvault_fixture.incident(pg_cluster, name)
    work = tmp_path / "work"
    inv = db_inventory_vars(pg_cluster, name, str(work), "local", local_dir=str(store), owner="yieldvault_user",
                            db_restore_not_null=[{"table": "User", "column": "address"}])
    return {"name": name, "store": store, "work": work, "inv": inv, "states": states}


def assert_untouched(pg_cluster, name, sums_before):
    assert table_checksums(pg_cluster, name) == sums_before, "the database changed"


def test_restore_to_a_point_between_backups_local_store(pg_cluster, run_playbook, yv):
    # in place: the drop-and-restore method (the default swap method: test_swap.py). Then rollback.yml goes back to
    # the newest safety backup, the custom-format dump of production taken before the drop (the packed directory
    # format: test_swap.py::test_swap_restores_with_downtime_only_around_the_rename).
    sums_before = table_checksums(pg_cluster, yv["name"])
    counts_before = exact_counts(pg_cluster, yv["name"])
    point = minutes_ago(20)  # after backup 2 (30 min ago), before backup 3 (8 min ago)
    # with amcheck and a SQL check, so that every kind of verification row passes on an intact restore
    inv = dict(yv["inv"], db_restore_method="in_place", db_restore_amcheck=True,
               db_restore_checks=[{"name": "no unknown type", "expected": 0,
                                   "sql": 'SELECT count(*) FROM "Transaction" WHERE "type" = \'NOPE\''}])
    result = run_playbook("restore.yml", inv, {"point": iso(point), "confirm": yv["name"], "incident": "INC-42"})
    result.assert_ok()
    chosen = yv["states"][1]
    assert exact_counts(pg_cluster, yv["name"]) == chosen["counts"]
    assert table_checksums(pg_cluster, yv["name"]) == chosen["sums"]

    report = result.report(str(yv["work"]))
    assert report["outcome"] == "succeeded"
    assert report["mode"] == "restore"
    assert report["incident"] == "INC-42"
    assert report["backup"]["name"] == chosen["backup"]["name"]
    assert report["backup"]["md5"] == chosen["backup"]["md5"]
    assert report["metrics"]["data_loss_minutes"] == pytest.approx(10, abs=1)
    assert report["metrics"]["rpo_met"] is True
    assert report["metrics"]["downtime_seconds"] > 0
    names = [p["name"] for p in report["phases"]]
    assert names == ["preflight", "assess", "select_backup", "fetch_backup", "stop_services", "safety_backup",
                     "prepare_database", "restore_database", "verify_restore", "start_services", "smoke_test"]
    assert all(p["status"] == "ok" for p in report["phases"])
    # in place everything from the stop to the start and the smoke test is downtime, nothing before the stop
    timeline = result.timeline(str(yv["work"]))
    assert timeline["mode"] == "restore" and timeline["method"] == "in_place", timeline
    assert [p["name"] for p in timeline["phases"] if p["downtime"]] == [
        "stop_services", "safety_backup", "prepare_database", "restore_database", "verify_restore",
        "start_services", "smoke_test"], timeline["phases"]
    assert result.warnings == [], result.warnings
    # the planner has statistics for every table before the application comes back
    assert tables_without_statistics(pg_cluster, yv["name"]) == []
    attempt, = report["restore"]["attempts"]
    # its time is pg_restore's own, within the phase that also ran ANALYZE
    assert attempt["rc"] == 0 and attempt["jobs"] >= 1 and 0 <= attempt["seconds"] <= report["metrics"]["restore_seconds"] + 0.1
    counts = {c["table"]: c for c in report["counts"]}
    assert counts['public.Transaction']["after"] == chosen["counts"]["public.Transaction"]
    assert counts['public.Referral']["before"] is None  # dropped by the incident, back after the restore
    assert all(v["passed"] for v in report["verification"])
    checks = [v["check"] for v in report["verification"]]
    for check in ("SQL check: no unknown type", "amcheck: B-tree indexes are consistent",
                  "no failed or rolled-back Prisma migration in public._prisma_migrations"):
        assert any(c.startswith(check) for c in checks), (check, checks)
    assert any("User.address" in v["check"] for v in report["verification"])

    run_dir = pathlib.Path(report["safety_backup"]["path"]).parents[1] / "reports" / report["run_id"]
    md = (run_dir / "report.md").read_text()
    assert chosen["backup"]["name"] in md and "succeeded" in md and "Total RTO" in md
    # what the retention removed at the end is in the report, not only on the console
    retention = md.split("## Retention\n", 1)[1].split("\n## ", 1)[0]
    assert "- Removed download %s (local, " % chosen["backup"]["name"] in retention, md
    assert "Removed 1 item(s)" in retention, md
    assert report["retention"]["removed"][0]["name"] == chosen["backup"]["name"], report["retention"]

    safety = pathlib.Path(report["safety_backup"]["path"])
    assert stat.S_IMODE(safety.stat().st_mode) == 0o600
    assert not list((yv["work"] / "locks").iterdir()), "the lock was not released"
    assert not list(yv["work"].glob(".pgpass*")), "the pgpass file was left behind"
    # the verified restore's downloaded copy is gone (db_restore_keep_download false), the safety backup stays
    assert not list((yv["work"] / "restore").iterdir()), "the downloaded copy was left in restore/"
    assert "Removed download %s" % chosen["backup"]["name"] in result.stdout, result.describe()

    # the objects belong to the application's owner role, as before
    conn = connect(pg_cluster, yv["name"])
    with conn.cursor() as cur:
        cur.execute("""SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'User'""")
        assert cur.fetchone()[0] == yv["inv"]["db_restore_owner"]
    conn.close()

    # rollback.yml (the swap, the default method): back to the newest safety backup, the state before the restore
    safety = report["safety_backup"]
    assert safety["format"] == "custom" and safety["path"].endswith(".dump"), safety
    assert_rollback_to_the_newest_safety_backup(pg_cluster, run_playbook, yv, safety, "custom", sums_before,
                                                counts_before)


# A failed statistics update after a restore that worked (vacuumdb --analyze-only) and Slack and PagerDuty receivers
# that do not answer are warnings, and the restore stands: test_swap.py::test_leftovers_of_an_interrupted_run_are_reported.


# Check mode (the plan, no confirmation asked, nothing changed): the check run of
# test_rollback.py::test_rollback_to_a_kept_previous_database.


# In place: the S3 copy of the safety backup is there before the drop. A swap's S3 safety upload is
# test_download_faults.py's retried download; its staging restore is every yv test's.
def test_pagila_from_s3_latest(tmp_path, pg_cluster, s3_server, pagila_db, run_playbook, db_inventory_vars):
    name = "pagila_%s" % os.urandom(3).hex()
    pagila_db(name)
    original = table_checksums(pg_cluster, name)
    bucket = "backups-%s" % os.urandom(3).hex()
    make_backup.make_backup(pg_cluster, name, "s3", minutes_ago(5), s3=s3_server, bucket=bucket, prefix="database/")
    # the incident: a partition emptied, a table dropped
    conn = connect(pg_cluster, name)
    with conn.cursor() as cur:
        cur.execute("DELETE FROM public.payment_p2022_02")
        cur.execute("DROP TABLE public.film_category CASCADE")
    # an admin role whose password needs escaping in pgpass (':' and '\\') and in SQL
    password = "p:a\\ss'w\"rd"
    with conn.cursor() as cur:
        # Created once per cluster and kept: a run as this admin makes the collection's schema in the postgres
        # database (marks, journal) owned by it, so a second parametrization could not drop it.
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = 'restore_admin'")
        verb = "ALTER" if cur.fetchone() else "CREATE"
        cur.execute(verb + " ROLE restore_admin SUPERUSER LOGIN PASSWORD %s", (password,))
    conn.close()
    work = tmp_path / "work"
    inv = db_inventory_vars(pg_cluster, name, str(work), "s3", s3=s3_server, bucket=bucket,
                            db_restore_login_user="restore_admin", db_restore_login_password=password,
                            db_restore_method="in_place")
    result = run_playbook("restore.yml", inv, {"point": "latest", "confirm": name})
    result.assert_ok()
    counts = exact_counts(pg_cluster, name)
    for table, n in PAGILA_COUNTS.items():
        assert counts[table] == n, table
    assert table_checksums(pg_cluster, name) == original
    assert tables_without_statistics(pg_cluster, name) == []
    report = result.report(str(work))
    assert report["outcome"] == "succeeded"
    # A plain pg_dump in S3, no manifest: the expected counts are read from the dump's own data, exactly, and
    # payment is the sum of its partitions (the incident emptied one of them in production).
    expected = {c["table"]: c["expected"] for c in report["counts"]}
    for table, n in PAGILA_COUNTS.items():
        assert expected[table] == n, table
    assert expected["public.payment"] == sum(n for t, n in expected.items() if t.startswith("public.payment_p"))
    rows = {v["check"]: v for v in report["verification"]}
    assert rows["row counts equal the backup's own data exactly"]["passed"] is True
    safety = report["safety_backup"]
    assert safety["uploaded"] is True and safety["s3_key"].startswith("safety/")
    # The copy in S3 is the verified safety backup: its MD5 is in the object's metadata.
    head = make_backup.s3_client(s3_server).head_object(Bucket=bucket, Key=safety["s3_key"])
    assert head["Metadata"]["md5"] == safety["md5"]
    assert head["ContentLength"] == pathlib.Path(safety["path"]).stat().st_size == int(safety["size"])
    # In place the copy is in S3 before the drop (prepare_database); timestamps have whole seconds.
    phases = {p["name"]: p for p in report["phases"]}
    drop_phase = dt.datetime.fromisoformat(phases["prepare_database"]["started"].replace("Z", "+00:00"))
    assert head["LastModified"] <= drop_phase + dt.timedelta(seconds=1)
    assert password not in result.stdout + result.stderr
    for f in work.rglob("*"):
        if f.is_file() and f.suffix in (".json", ".md", ".log"):
            assert password not in f.read_text(errors="replace"), f


ODD_PLAIN_OWNER = 'yv plain "o\'wner" \\ 5%s'


# plain SQL through psql with the odd owner (which needs the escaping) and gzip with the usual one; a plain dump
# with the usual owner proved nothing the odd one does not.
@pytest.mark.parametrize("fmt,owner", [("gzip", "yieldvault_user"), ("plain", ODD_PLAIN_OWNER)],
                         ids=["gzip", "plain-odd-owner"])
def test_plain_sql_backup_is_detected_from_its_content(fmt, owner, tmp_path, pg_cluster, yv, run_playbook):
    # A plain SQL dump (or a gzipped one) under the .dump name: the format comes from the content. psql runs as
    # the owner (PGOPTIONS -c role=...; a space or a backslash in the name must be escaped there), so with the
    # dump's own ALTER ... OWNER TO lines taken out every table is created by, and belongs to, the owner.
    for f in yv["store"].iterdir():
        f.unlink()
    b = make_backup.make_backup(pg_cluster, yv["name"], "local", minutes_ago(3), local_dir=str(yv["store"]), fmt="plain")
    path = yv["store"] / b["name"]
    text = re.sub(r"^ALTER [^\n]* OWNER TO [^\n]*;$", "", path.read_text(), flags=re.M)
    assert "OWNER TO" not in text
    path.write_bytes(gzip.compress(text.encode()) if fmt == "gzip" else text.encode())
    make_backup.write_sidecar(path)
    sums = table_checksums(pg_cluster, yv["name"])
    # The odd owner does not exist before the first run that names it: created (NOLOGIN) as asked.
    created = owner == ODD_PLAIN_OWNER
    if created:
        admin_query(pg_cluster, 'DROP ROLE IF EXISTS "%s"' % owner.replace('"', '""'))
    inv = dict(yv["inv"], db_restore_owner=owner, db_restore_create_owner=True)
    result = run_playbook("restore.yml", inv, {"backup": b["name"], "confirm": yv["name"]})
    result.assert_ok()
    if created:
        assert "would be CREATED NOLOGIN, as db_restore_create_owner asks" in " ".join(result.stdout.split())
        # created for the tables, not for logging in: the application logs in as a role of its own
        login = admin_query(pg_cluster, "SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (owner,))
        assert login == [(False,)], "the created owner role may log in"
        datdba = admin_query(pg_cluster, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
                             (yv["name"],))
        assert datdba == [(owner,)], datdba
    assert table_checksums(pg_cluster, yv["name"]) == sums
    assert tables_without_statistics(pg_cluster, yv["name"]) == []
    report = result.report(str(yv["work"]))
    assert report["backup"]["format"] == fmt
    owners = admin_query(pg_cluster, "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'",
                         dbname=yv["name"])
    assert owners == [(owner,)], owners


def _break_newest(yv):
    """Valid for its checksum, every row readable, broken for pg_restore: a custom dump whose last index statement is
    not SQL, with a matching sidecar. pg_restore fails after the data, in post-data. (A truncated one is refused in
    the download's call: tests/unit/test_dump_content.py.)"""
    newest = yv["states"][2]["backup"]
    make_backup.break_sql_keeping_sidecar(yv["store"] / newest["name"])


# Which format auto gives (custom in place: a rollback after the drop needs no room to unpack it) is
# tests/unit/test_safety_formats.py; here the directory format, which is unpacked, is restored after a drop. The
# custom file auto gives in place is restored after a drop by test_faults.py::test_pg_restore_killed_mid_way.
@pytest.mark.parametrize("safety_format,expected", [("directory", "directory_tar")])
def test_failed_pg_restore_in_place_rolls_back_to_the_safety_backup(pg_cluster, run_playbook, yv, safety_format,
                                                                    expected, receiver):  # noqa: F811
    # In place the failure comes after the drop, so the safety backup is restored
    # and checked against the snapshot before the restore. (With the swap method
    # the same backup fails in the staging database: test_faults.py.) A directory
    # dump packed into .dir.tar, unpacked for pg_restore.
    _break_newest(yv)
    sums = table_checksums(pg_cluster, yv["name"])
    inv = dict(yv["inv"], db_restore_method="in_place", db_restore_jobs=2,
               db_restore_safety_backup_format=safety_format, **notify_vars(receiver.url))
    result = run_playbook("restore.yml", inv, {"point": "latest", "confirm": yv["name"]})
    result.assert_failed("ROLLED_BACK")
    assert_rollback_notified(receiver, result.report(str(yv["work"])))
    assert_no_secret(result, yv["work"])
    assert table_checksums(pg_cluster, yv["name"]) == sums, "the rollback did not bring the data back"
    report = result.report(str(yv["work"]))
    assert report["outcome"] == "rolled_back"
    assert report["failed_phase"] == "restore_database"
    assert "pg_restore" in report["error"] or "Restoring" in report["error"]
    assert report["rollback"]["verified"] is True, report["rollback"]
    safety = report["safety_backup"]
    assert safety["format"] == expected, safety
    assert safety["path"].endswith(".dir.tar" if expected == "directory_tar" else ".dump"), safety
    assert make_backup.file_md5(safety["path"]) == safety["md5"]
    # the rollback restored it in parallel; the unpacked copy is gone, only the packed file stays
    assert [(a["jobs"], a["rc"]) for a in report["restore"]["rollback_attempts"]] == [(2, 0)], report["restore"]
    assert not list(yv["work"].glob("unpacked/*")), "the unpacked safety backup was left behind"
    # A corrupt archive is not memory: one attempt, not retried with fewer jobs after another drop.
    attempts = report["restore"]["attempts"]
    assert [(a["jobs"], a["out_of_memory"]) for a in attempts] == [(2, False)], attempts
    assert "corrupt" in attempts[0]["error"] or "could not" in attempts[0]["error"], attempts
    assert not list((yv["work"] / "locks").iterdir())
    # The downtime lasts until the services are back: it ended with the phase that failed, before the safety backup
    # was restored.
    phases = {p["name"]: p for p in report["phases"]}
    recovery = phases["recovery"]
    assert recovery["status"] == "ok" and recovery["downtime"] is True, report["phases"]
    assert recovery["started"] >= phases["restore_database"]["ended"], report["phases"]
    ended = [dt.datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ") for t in (report["downtime_window"]["ended_at"],
                                                                     recovery["ended"])]
    assert abs((ended[0] - ended[1]).total_seconds()) <= 1, (report["downtime_window"], recovery)
    assert report["metrics"]["downtime_seconds"] >= sum(p["seconds"] for p in report["phases"] if p["downtime"]) - 1
    timeline = result.timeline(str(yv["work"]))
    assert [p["name"] for p in timeline["phases"] if p["downtime"]][-1] == "recovery", timeline["phases"]


# What a killed run left in the work directory (an unpacked safety backup, a partial safety dump), removed once the
# lock is taken: test_swap.py::test_leftovers_of_an_interrupted_run_are_reported, with the databases it left.


# ---- bad input: a clear error, and the database exactly as it was ----------

def _corrupt_byte(yv):
    newest = yv["states"][2]["backup"]
    path = yv["store"] / newest["name"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return {"point": "latest", "confirm": yv["name"]}


def _held_lock(yv):
    locks = yv["work"] / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    (locks / ("%s.lock" % yv["name"])).write_text(json.dumps({
        "run_id": "restore-%s-20260101T000000Z" % yv["name"], "owner": {"user": "alice"},
        "pid": 1, "host": "other", "acquired_at": iso(minutes_ago(3))}))
    return {"point": "latest", "confirm": yv["name"]}


# The refusals of the backup choice (a point that does not parse, in the future or before every backup, an
# unknown backup, a path as the backup) are one call's fail_json each: their messages are unit tests
# (tests/unit/test_operator_messages.py, test_catalog.py), and "RPO breach" below takes that call's failure
# through the playbook. A checksum mismatch is test_faults.py's corrupted backup; a dump newer than pg_restore
# is tests/unit/test_dump_content.py's, through the download call's inspection, whose failure test_faults.py's
# backup of another database takes end to end; a lock another run holds is test_faults.py's concurrent lock test
# (a stale one: tests/unit/test_lock.py).
BAD_INPUTS = {
    "missing confirm without a terminal": (lambda yv: {"point": "latest"}, "confirm"),
    "wrong confirm": (lambda yv: {"point": "latest", "confirm": "yieldvault_prod"}, "does not match"),
    # backup 1 is 50 min old: a point 33 min ago means 17 min of data loss, over the 15 min RPO
    "RPO breach": (lambda yv: {"point": iso(minutes_ago(33)), "confirm": yv["name"]}, "RPO"),
    # the assessment's first call finds no server on the port: stop before the lock, say what to check
    # a variable of a phase that runs during the downtime, validated by the preflight with all the others
    "wrong type of a later phase's variable": (lambda yv: {"point": "latest", "confirm": yv["name"],
                                                           "db_restore_connection_rounds": "many"},
                                               "db_restore_connection_rounds"),
    # a misspelled optional setting (silently ignored, its default used): the missing required setting's test
    # the lock's call looks for pg_restore before it takes the lock
    "pg_restore missing": (lambda yv: {"point": "latest", "confirm": yv["name"],
                                       "db_restore_pg_bin_dir": "/nonexistent/pgbin"}, "postgresql-client-15"),
    "PostgreSQL does not answer": (lambda yv: {"point": "latest", "confirm": yv["name"],
                                               "db_restore_login_port": free_port()}, "Could not connect to PostgreSQL"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_bad_input_is_refused_before_anything_changes(case, pg_cluster, run_playbook, yv):
    make_extra, message = BAD_INPUTS[case]
    extra = make_extra(yv)
    sums = table_checksums(pg_cluster, yv["name"])
    result = run_playbook("restore.yml", yv["inv"], extra)
    result.assert_failed(message)
    assert "nothing was changed" in result.stdout.lower()
    assert_untouched(pg_cluster, yv["name"], sums)
    assert not list(yv["work"].rglob("*_safety_*")), "a safety backup was taken: the run went too far"
    report = result.report(str(yv["work"]))
    if report is not None:
        assert report["outcome"] == "failed"
    assert not (yv["work"] / "locks").exists() or not list((yv["work"] / "locks").iterdir())


def test_an_s3_store_without_a_bucket_is_refused_naming_only_the_bucket(pg_cluster, run_playbook, yv):
    # The check named every condition it had: "db_restore_database must name an application database (got 'app')"
    # too, for a database that was fine.
    sums = table_checksums(pg_cluster, yv["name"])
    result = run_playbook("restore.yml", dict(yv["inv"], db_restore_backup_store="s3", db_restore_s3_bucket=""),
                          {"point": "latest", "confirm": yv["name"]})
    result.assert_failed("Invalid settings: db_restore_backup_store is s3 and db_restore_s3_bucket is empty")
    assert "application database" not in result.output and "absolute path" not in result.output, \
        result.describe()
    assert_untouched(pg_cluster, yv["name"], sums)
    assert not (yv["work"] / "locks").exists() or not list((yv["work"] / "locks").iterdir())


def test_a_missing_required_setting_is_refused_with_the_name_meant(pg_cluster, run_playbook, yv):
    # db_restore_db for db_restore_database: it failed with "'db_restore_database' is undefined". And a misspelled
    # optional setting in the extra vars, which was silently ignored and its default used: the one refusal names
    # every problem.
    inv = {k: v for k, v in yv["inv"].items() if k != "db_restore_database"}
    inv["db_restore_db"] = yv["name"]
    sums = table_checksums(pg_cluster, yv["name"])
    result = run_playbook("restore.yml", inv, {"point": "latest", "confirm": yv["name"],
                                               "db_restore_local_backup_directory": str(yv["store"])})
    result.assert_failed("Invalid settings: db_restore_db is not a setting of this collection; "
                         "did you mean db_restore_database?")
    assert "db_restore_database is required and not set" in result.output, result.describe()
    assert ("db_restore_local_backup_directory is not a setting of this collection; "
            "did you mean db_restore_local_backup_dir?") in result.output, result.describe()
    assert "'db_restore_database' is undefined" not in result.output, result.describe()
    assert "nothing was changed" in result.stdout.lower()
    assert_untouched(pg_cluster, yv["name"], sums)
    assert not list(yv["work"].rglob("*_safety_*"))
    report = result.report(str(yv["work"]))
    if report is not None:
        assert report["outcome"] == "failed"
    assert not (yv["work"] / "locks").exists() or not list((yv["work"] / "locks").iterdir())


def test_break_lock_with_pg_restore_missing_keeps_the_other_runs_lock(pg_cluster, run_playbook, yv):
    # db_restore_break_lock asks to remove the other run's lock, but the run is refused for a missing
    # pg_restore first: it must leave that lock where it was, as its message says.
    extra = dict(_held_lock(yv), db_restore_break_lock=True, db_restore_pg_bin_dir="/nonexistent/pgbin")
    lock = yv["work"] / "locks" / ("%s.lock" % yv["name"])
    before = lock.read_text()
    sums = table_checksums(pg_cluster, yv["name"])
    result = run_playbook("restore.yml", yv["inv"], extra)
    result.assert_failed("postgresql-client-15")
    assert "nothing was changed" in result.stdout.lower()
    assert lock.exists() and lock.read_text() == before, "the other run's lock was broken by a refused run"
    assert_untouched(pg_cluster, yv["name"], sums)


# An S3 endpoint nothing listens on stops the run at its first call to S3, the listing of select_backup:
# tests/unit/test_catalog.py::test_module_an_unreachable_s3_endpoint_is_refused_naming_it; that call's failure
# through the playbook, production untouched, is the "RPO breach" case above.


def test_too_little_disk_is_refused(tmp_path, pg_cluster, run_playbook, yv):
    with small_tmpfs(tmp_path / "small", "256k") as small:
        # Two old safety backups beyond db_restore_keep_safety_backups: the refusal says pruning frees them.
        safety = small / "work" / "safety"
        safety.mkdir(parents=True)
        for stamp in ("20260101_000000", "20260102_000000", "20260103_000000"):
            (safety / ("%s_safety_%s.dump" % (yv["name"], stamp))).write_bytes(b"s" * 50 * 1024)
        inv = dict(yv["inv"], db_restore_work_dir=str(small / "work"), db_restore_keep_safety_backups=1)
        sums = table_checksums(pg_cluster, yv["name"])
        result = run_playbook("restore.yml", inv, {"point": "latest", "confirm": yv["name"]})
        result.assert_failed("Not enough free disk")
        assert "nothing was changed" in result.stdout.lower()
        assert "playbooks/prune.yml would free 100.00 KB" in result.stdout, result.describe()
        assert len(list(safety.iterdir())) == 3, "the refusal removed a safety backup"
        assert table_checksums(pg_cluster, yv["name"]) == sums


def test_a_read_only_work_directory_is_refused_without_naming_a_report_that_does_not_exist(
        tmp_path, pg_cluster, run_playbook, yv):
    # The refusal's last line said "Report: <work_dir>/reports/<run>/report.md", a file that could not be written.
    with small_tmpfs(tmp_path / "ro", "1m") as ro:
        (ro / "work").mkdir()
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        inv = dict(yv["inv"], db_restore_work_dir=str(ro / "work"))
        sums = table_checksums(pg_cluster, yv["name"])
        result = run_playbook("restore.yml", inv, {"point": "latest", "confirm": yv["name"]})
        result.assert_failed("Read-only file system")
        assert table_checksums(pg_cluster, yv["name"]) == sums
        assert not list((ro / "work").rglob("report.md"))
        assert "Report: " not in result.output.split("The restore of " + yv["name"] + " ended FAILED", 1)[-1], \
            result.describe()
        assert "no report was written" in result.output.lower(), result.describe()


# What breaks the in-run rollback of a .dir.tar safety backup: pg_restore failing on the unpacked safety backup
# of run <id>-rollback (and working for everything else), or the unpack itself (work_dir/unpacked is a file, so
# nothing can be unpacked there). Either way the rollback fails, and the command the report gives for doing it
# by hand must work.
PG_RESTORE_BREAKER = '''#!/bin/bash
for last; do :; done
case "$last" in *-rollback) echo "pg_restore: error: injected failure of the rollback's restore" >&2; exit 1 ;; esac
exec __REAL__ "$@"
'''


@pytest.mark.parametrize("breaker", ["pg_restore", "unpack"])
def test_a_failed_rollback_gives_a_restore_command_that_works_by_hand(pg_cluster, run_playbook, yv, tmp_path,
                                                                       breaker):
    _break_newest(yv)
    sums = table_checksums(pg_cluster, yv["name"])
    admin_query(pg_cluster, sql.SQL("ALTER DATABASE {} CONNECTION LIMIT 7").format(sql.Identifier(yv["name"])))
    inv = dict(yv["inv"], db_restore_method="in_place", db_restore_jobs=2, db_restore_safety_backup_format="directory")
    if breaker == "pg_restore":
        inv["db_restore_pg_bin_dir"] = str(wrapped_bin_dir(
            tmp_path / "bin", "pg_restore", PG_RESTORE_BREAKER.replace("__REAL__", str(pathlib.Path(PG_BIN_DIR) / "pg_restore"))))
    else:
        yv["work"].mkdir(parents=True, exist_ok=True)
        (yv["work"] / "unpacked").write_text("not a directory")
    result = run_playbook("restore.yml", inv, {"point": "latest", "confirm": yv["name"]})
    result.assert_failed("ROLLBACK_FAILED")
    assert "ROLLBACK FAILED" in result.output
    report = result.report(str(yv["work"]))
    assert report["outcome"] == "rollback_failed" and report["safety_backup"]["format"] == "directory_tar"
    detail = report["rollback"]["detail"]
    if breaker == "unpack":
        assert "Could not unpack" in detail and "File exists" in detail, detail
    else:
        assert not list(yv["work"].glob("unpacked/*")), "the unpacked copy was left behind"
    command = detail.split("Restore by hand on ", 1)[1].split(":", 1)[1].strip()
    assert report["safety_backup"]["path"] in command and "tar -xf" in command and "--jobs=2" in command, detail
    assert table_checksums(pg_cluster, yv["name"]) != sums, "the injected failure did not break the rollback"
    # The database stays closed (limit 0) on purpose. The run's carry on the server tells the next run the limit to
    # give back, 7, not the 0 it will find, and that production holds a partial restore (the run ended normally:
    # only a killed run's journal said so before).
    assert admin_query(pg_cluster, "SELECT datconnlimit FROM pg_database WHERE datname = %s", (yv["name"],)) == [(0,)]
    ((carry,),) = admin_query(pg_cluster, "SELECT carry FROM yieldvault_db_restore.runs WHERE database = %s",
                              (yv["name"],))
    assert carry["connlimit_before"] == 7, carry
    assert carry["tainted"]["run_id"] == report["run_id"] and carry["tainted"]["outcome"] == "rollback_failed", carry
    # What the on-call engineer pastes, with the client tools' usual connection settings.
    env = dict(os.environ, PGHOST=pg_cluster["host"], PGPORT=str(pg_cluster["port"]), PGUSER=pg_cluster["user"],
               PGPASSFILE="", PGPASSWORD=pathlib.Path(pg_cluster["password_file"]).read_text().strip())
    done = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, "the hand restore command failed: %s\n%s" % (command, done.stderr[-3000:])
    assert table_checksums(pg_cluster, yv["name"]) == sums, "the hand restore did not bring the data back"
    assert "ROLLBACK FAILED" in (yv["work"] / "reports" / report["run_id"] / "report.md").read_text()


def test_directory_safety_backup_in_place_is_refused_before_the_drop_without_room_to_unpack_it(
        pg_cluster, run_playbook, yv, tmp_path):
    """In place, an explicit directory-format safety backup whose rollback could not be unpacked: nothing dropped."""
    sums = table_checksums(pg_cluster, yv["name"])
    # df as the module sees it cannot be faked; a pg_dump wrapper pads the dump instead, so that the packed file is
    # larger than what is left on a small file system.
    with small_tmpfs(tmp_path / "small", "24m") as mount:
        pad = wrapped_bin_dir(tmp_path / "bin", "pg_dump", PG_DUMP_PADDER.replace(
            "__REAL__", str(pathlib.Path(PG_BIN_DIR) / "pg_dump")))
        inv = dict(yv["inv"], db_restore_method="in_place", db_restore_jobs=2,
                   db_restore_safety_backup_format="directory", db_restore_pg_bin_dir=str(pad),
                   db_restore_work_dir=str(mount / "work"), db_restore_min_free_factor=0.0)
        result = run_playbook("restore.yml", inv, {"point": "latest", "confirm": yv["name"]})
        result.assert_failed()
        report = result.report(str(mount / "work"))
        assert report["failed_phase"] == "safety_backup", report.get("error")
        assert "a rollback after the drop unpacks it" in report["error"] and "Nothing was dropped" in report["error"]
        assert table_checksums(pg_cluster, yv["name"]) == sums, "production changed"
        assert not list((mount / "work" / "locks").iterdir()), "the lock was not released"


# pg_dump, then (directory format) 14 padding files of 1 MB in the dump directory: packing them (file by file)
# fits on a 24 MB file system, but the packed safety backup is larger than what it leaves free.
PG_DUMP_PADDER = '''#!/bin/bash
__REAL__ "$@" || exit $?
for arg in "$@"; do
    case "$arg" in --file=*.d.part)
        for i in $(seq 1 14); do head -c 1000000 /dev/urandom > "${arg#--file=}/99999$i.pad"; done ;;
    esac
done
'''
