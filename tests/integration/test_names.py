"""Names are data, never syntax (issue 20, cases 6, 9 and 10), against a real PostgreSQL 15 cluster.

* A database whose name libpq would read as a connection string (``dbname=x``) is the one dumped for the
  safety backup and the one restored into, while the database ``x`` the bare name stands for is untouched.
* An owner role whose name holds a space (``app owner``) owning tables whose names hold spaces: the backup's
  table of contents is read whole, and verification finds every object.
* A production name of 33 characters and 57 bytes: the swap's names (<name>__pre_<stamp>, 78 bytes) are refused
  before anything changes, where a count in characters let the run restore the staging database and stop the
  services before the rename refused; the method the refusal names (in place) restores it.
* A database named with digits shaped like a run's time (yv_20240101T000000): the swap named its previous database
  after them, the same in every run, so a second run's rename
  collided after the downtime began. And a staging
  name that names a kept previous database (perhaps production's only copy before a swap): the run dropped it and
  restored over it. It is refused before anything changes.
* A db_restore_checks entry that tries to leave its read-only transaction (``COMMIT; CREATE TABLE ...``) is
  refused, naming the check, and writes nothing.
"""
import datetime as dt
import os
import sys
from pathlib import Path

import pytest
from psycopg2 import sql

import make_backup
import yieldvault_fixture
from dbutil import admin_query, database_exists, table_checksums

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / ".collections"))
from ansible_collections.yieldvault.db_restore.plugins.module_utils.dumpfile import (  # noqa: E402
    detect_format, header_bytes, parse_header,
)

UTC = dt.timezone.utc
OWNER = "yieldvault_user"


def minutes_ago(n):
    return dt.datetime.now(UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=n)


def flat(text):
    """Play output with the YAML callback's line wrapping and quote doubling undone."""
    return " ".join(text.split()).replace("''", "'")


def backed_up(tmp_path, pg_cluster, yieldvault_db, db_inventory_vars, name, seed, users, **extra):
    """name (owner OWNER), a backup of it 5 minutes old in <tmp_path>/store and an incident after it:
    (inventory vars with the work directory <tmp_path>/work and **extra, the backup's checksums, the incident's)."""
    yieldvault_db(name, seed=seed, users=users, owner=OWNER)
    store = tmp_path / "store"
    store.mkdir()
    make_backup.make_backup(pg_cluster, name, "local", minutes_ago(5), local_dir=str(store))
    backup_sums = table_checksums(pg_cluster, name)
    yieldvault_fixture.incident(pg_cluster, name)
    inv = db_inventory_vars(pg_cluster, name, str(tmp_path / "work"), "local", local_dir=str(store), owner=OWNER,
                            **extra)
    return inv, backup_sums, table_checksums(pg_cluster, name)


def table_exists(pg_cluster, dbname, table):
    return admin_query(pg_cluster, "SELECT to_regclass(%s) IS NOT NULL", (table,), dbname=dbname)[0][0]


# Two shapes, one per method: every libpq connection takes the name through one quoting function, proven against
# libpq's own parser for quotes, spaces and keywords (tests/unit/test_conninfo.py); these runs catch a call site that
# bypasses it. The swap's staging and previous names hold the shape too.
@pytest.mark.parametrize("shape, method", [("dbname=%s", "in_place"), ("dbname='%s' sslmode=disable", "swap")])
def test_a_database_named_like_a_connection_string_is_the_one_restored(shape, method, tmp_path, pg_cluster,
                                                                       yieldvault_db, db_inventory_vars,
                                                                       run_playbook):
    other = "x_%s" % os.urandom(3).hex()
    name = shape % other
    # The database the bare name would be read as, with rows of its own.
    yieldvault_db(other, seed=7, users=120, owner=OWNER)
    yieldvault_db(name, seed=1, users=300, owner=OWNER)
    other_sums = table_checksums(pg_cluster, other)
    store = tmp_path / "store"
    store.mkdir()
    backup = make_backup.make_backup(pg_cluster, name, "local", minutes_ago(5), local_dir=str(store))
    assert parse_header(header_bytes(str(store / backup["name"]), "custom"))["dbname"] == name
    backup_sums = table_checksums(pg_cluster, name)
    yieldvault_fixture.incident(pg_cluster, name)
    incident_sums = table_checksums(pg_cluster, name)
    assert incident_sums != backup_sums

    work = tmp_path / "work"
    inv = db_inventory_vars(pg_cluster, name, str(work), "local", local_dir=str(store), owner=OWNER,
                            db_restore_method=method)
    result = run_playbook("restore.yml", inv, {"point": "latest", "confirm": name})
    result.assert_ok()
    assert table_checksums(pg_cluster, name) == backup_sums, "%s does not hold the backup's rows" % name
    assert table_checksums(pg_cluster, other) == other_sums, "%s, which the name reads as, was changed" % other
    # In place the safety backup is of the database itself; with the swap, of it renamed aside (<name>__pre_...).
    safety = result.report(str(work))["safety_backup"]["path"]
    dumped = parse_header(header_bytes(safety, detect_format(safety)))["dbname"]
    assert dumped == name or (method == "swap" and dumped.startswith(name + "__pre_")), (
        "the safety backup is of %s, not of %s" % (dumped, name))

    if shape == "dbname=%s" and method == "in_place":
        # rollback.yml restores that safety backup into the database itself, not into the one the name reads as.
        rolled = run_playbook("rollback.yml", inv, {"confirm": name})
        rolled.assert_ok()
        assert table_checksums(pg_cluster, name) == incident_sums, "the rollback did not bring %s back" % name
        assert table_checksums(pg_cluster, other) == other_sums, "the rollback changed %s" % other


def test_a_multibyte_name_too_long_for_the_swap_is_refused_before_anything_and_restores_in_place(
        tmp_path, pg_cluster, yieldvault_db, db_inventory_vars, run_playbook):
    name = "yv_" + "é" * 24 + os.urandom(3).hex()
    assert (len(name), len(name.encode())) == (33, 57)
    inv, backup_sums, incident_sums = backed_up(tmp_path, pg_cluster, yieldvault_db, db_inventory_vars, name, 3, 80)

    refused = run_playbook("restore.yml", inv, {"point": "latest", "confirm": name})
    refused.assert_failed("Refusing the swap: the swap would name databases '%s__restore', '%s__pre_" % (name, name))
    text = flat(refused.output)
    assert "production's name is 57 bytes and the swap adds up to 24, so it must be 39 bytes or less" in text, text
    assert "set db_restore_method=in_place" in text
    # Before anything: no staging database (cut or whole), no service stopped, production as it was.
    assert "stop_services" not in refused.output and "Restore the backup into" not in refused.output
    assert not database_exists(pg_cluster, (name + "__restore").encode()[:63].decode("utf-8", "ignore"))
    assert table_checksums(pg_cluster, name) == incident_sums

    result = run_playbook("restore.yml", dict(inv, db_restore_method="in_place"), {"point": "latest", "confirm": name})
    result.assert_ok()
    assert table_checksums(pg_cluster, name) == backup_sums


def test_the_swap_stamps_its_names_with_the_runs_time_and_a_kept_previous_database_is_no_staging_database(
        tmp_path, pg_cluster, yieldvault_db, db_inventory_vars, run_playbook):
    name = "yv_20240101T000000_%s" % os.urandom(3).hex()
    inv, _backup_sums, incident_sums = backed_up(tmp_path, pg_cluster, yieldvault_db, db_inventory_vars, name, 5, 90,
                                                 db_restore_keep_previous=True)
    work = tmp_path / "work"
    result = run_playbook("restore.yml", inv, {"point": "latest", "confirm": name})
    result.assert_ok()
    kept = result.report(str(work))["previous_database"]["name"]
    today = dt.datetime.now(UTC).strftime("%Y%m%d")
    assert kept.startswith(name + "__pre_" + today), "the previous database was named after the name's digits: " + kept
    assert table_checksums(pg_cluster, kept) == incident_sums

    # The kept database named as the staging database (pasted where -e previous= was meant): it was dropped and
    # restored over, under the warnings "this run drops it" and "it is never dropped automatically".
    production_sums = table_checksums(pg_cluster, name)
    refused = run_playbook("restore.yml", dict(inv, db_restore_staging_database=kept),
                           {"point": "latest", "confirm": name})
    refused.assert_failed("Refusing to run: the database %s (named by db_restore_staging_database) is a previous "
                          "database a run of yieldvault.db_restore made, not a staging one" % kept)
    assert table_checksums(pg_cluster, kept) == incident_sums, "the kept previous database was changed"
    assert table_checksums(pg_cluster, name) == production_sums
    assert "stop_services" not in refused.output


def test_an_owner_and_tables_whose_names_hold_spaces_restore_and_verify(tmp_path, pg_cluster, yieldvault_db,
                                                                         db_inventory_vars, run_playbook):
    name = "yv_spaces_%s" % os.urandom(3).hex()
    owner = "app owner"
    yieldvault_db(name, seed=4, users=200, owner=owner)
    admin_query(pg_cluster, sql.SQL('CREATE TABLE public."order items" ("unit price" numeric PRIMARY KEY); '
                                    'ALTER TABLE public."order items" OWNER TO {}; '
                                    'INSERT INTO public."order items" VALUES (1), (2.5)').format(
                                        sql.Identifier(owner)), dbname=name)
    store = tmp_path / "store"
    store.mkdir()
    make_backup.make_backup(pg_cluster, name, "local", minutes_ago(5), local_dir=str(store))
    backup_sums = table_checksums(pg_cluster, name)
    yieldvault_fixture.incident(pg_cluster, name)

    work = tmp_path / "work"
    inv = db_inventory_vars(pg_cluster, name, str(work), "local", local_dir=str(store), owner=owner)
    result = run_playbook("restore.yml", inv, {"point": "latest", "confirm": name})
    result.assert_ok()
    assert table_checksums(pg_cluster, name) == backup_sums
    rows = {v["check"]: v for v in result.report(str(work))["verification"]}
    objects = rows["every object in the backup's table of contents exists"]
    assert objects["passed"] is True, objects


ESCAPE = "COMMIT; CREATE TABLE escaped_check (i int); SELECT 1"


def test_a_check_that_leaves_its_read_only_transaction_is_refused_before_anything_changes(
        tmp_path, pg_cluster, yieldvault_db, db_inventory_vars, run_playbook):
    name = "yv_checks_%s" % os.urandom(3).hex()
    checks = [{"name": "users", "sql": 'SELECT count(*) > 0 FROM "User"', "expected": True},
              {"name": "escape", "sql": ESCAPE, "expected": 1}]
    inv, _backup_sums, sums = backed_up(tmp_path, pg_cluster, yieldvault_db, db_inventory_vars, name, 5, 100,
                                        db_restore_checks=checks)
    result = run_playbook("restore.yml", inv, {"point": "latest", "confirm": name})
    result.assert_failed()
    out = flat(result.output)
    assert "db_restore_checks entry 2 (escape): its sql holds" in out, result.describe()
    assert "more than one statement" in out and "Fix db_restore_checks in the inventory" in out
    assert "Nothing was changed" in out
    assert not table_exists(pg_cluster, name, "public.escaped_check")
    assert table_checksums(pg_cluster, name) == sums


def _verify_only(tmp_path, pg_cluster, yieldvault_db, db_inventory_vars, run_playbook, checks):
    """restore_checks alone (verify_only.yml) with the checks attack-1, attack-2... (one per SQL text of checks),
    on a fresh database and a backup of it: (result, database, checksums before)."""
    name = "yv_checks_%s" % os.urandom(3).hex()
    yieldvault_db(name, seed=6, users=60, owner=OWNER)
    admin_query(pg_cluster, "CREATE SEQUENCE check_seq", dbname=name)
    store = tmp_path / "store"
    store.mkdir()
    backup = make_backup.make_backup(pg_cluster, name, "local", minutes_ago(5), local_dir=str(store))
    sums = table_checksums(pg_cluster, name)
    entries = [{"name": "attack-%d" % i, "sql": sql, "expected": 1} for i, sql in enumerate(checks, 1)]
    inv = db_inventory_vars(pg_cluster, name, str(tmp_path / "work"), "local", local_dir=str(store), owner=OWNER,
                            db_restore_checks=entries)
    result = run_playbook(str(Path(__file__).parent / "verify_only.yml"), inv,
                          {"verify_dump_path": str(store / backup["name"])})
    return result, name, sums


# restore_checks' own refusal of a second statement (every entry named, before any check runs or any connection):
# tests/unit/test_verify_logic.py::test_restore_checks_refuses_every_second_statement_before_connecting; restore.yml
# refuses the same in preflight, above, on a real database.


CANNOT_WRITE = [
    ('WITH d AS (DELETE FROM "Referral" RETURNING 1) SELECT count(*) FROM d', "data-modifying"),
    ("CREATE TABLE escaped_check (i int)", "syntax error"),
    ("SELECT nextval('check_seq')", "read-only transaction"),
    ("SELECT set_config('transaction_read_only', 'off', true)::int + nextval('check_seq')", ""),
]


def test_restore_checks_one_statement_cannot_write(tmp_path, pg_cluster, yieldvault_db, db_inventory_vars,
                                                   run_playbook):
    # Guards: the read-only transaction held these before the change too; now the cursor refuses the first two
    # outright (DECLARE takes one SELECT/VALUES query without a data-modifying WITH). One run for the four: each
    # check has a transaction of its own, rolled back after it, and a failed one does not stop the next.
    result, name, sums = _verify_only(tmp_path, pg_cluster, yieldvault_db, db_inventory_vars, run_playbook,
                                      [query for query, _error in CANNOT_WRITE])
    result.assert_failed()
    out = flat(result.output)
    for i, (_query, error) in enumerate(CANNOT_WRITE, 1):
        start = out.find("FAIL: SQL check: attack-%d (" % i)
        assert start >= 0, (i, result.describe())
        end = out.find("SQL check: attack-%d (" % (i + 1), start)
        assert error in out[start:end if end > 0 else len(out)], (i, error, out[start:start + 400])
    assert not table_exists(pg_cluster, name, "public.escaped_check")
    assert admin_query(pg_cluster, "SELECT last_value, is_called FROM check_seq", dbname=name)[0] == (1, False)
    assert table_checksums(pg_cluster, name) == sums, "a check changed the database"
