"""playbooks/rollback.yml: back to the newest safety backup, to an alternate
backup from the store, or to a previous database kept by a swap.

Each rollback follows a restore that went wrong in the eyes of the on-call
engineer (restored to the wrong point); afterwards the database must hold
exactly the data it held before that restore, or the alternate backup's.
"""

from dbutil import admin_query, create_marked_database, drop_database, table_checksums
from test_restore import iso, minutes_ago, yv  # noqa: F401  (yv is a fixture)
from test_swap import databases


# Back to the newest safety backup: rollback.yml after the restore of
# test_swap.py::test_swap_restores_with_downtime_only_around_the_rename (the packed directory format the swap makes
# with two jobs) and after the in-place restore of test_restore.py::test_restore_to_a_point_between_backups_local_store
# (the custom format of a safety backup in place).


def test_rollback_to_an_alternate_backup(pg_cluster, run_playbook, yv):  # noqa: F811
    oldest = yv["states"][0]
    result = run_playbook("rollback.yml", yv["inv"], {"backup": oldest["backup"]["name"], "confirm": yv["name"]})
    result.assert_ok()
    assert table_checksums(pg_cluster, yv["name"]) == oldest["sums"]
    report = result.report(str(yv["work"]))
    assert report["mode"] == "rollback" and report["backup"]["name"] == oldest["backup"]["name"]


def test_rollback_to_a_kept_previous_database(pg_cluster, run_playbook, yv):  # noqa: F811
    sums_before = table_checksums(pg_cluster, yv["name"])
    inv = dict(yv["inv"], db_restore_keep_previous=True)
    restore = run_playbook("restore.yml", inv, {"point": iso(minutes_ago(20)), "confirm": yv["name"]})
    restore.assert_ok()
    kept = restore.report(str(yv["work"]))["previous_database"]
    previous = kept["name"]
    # db_restore_keep_previous: the old production kept intact under <db>__pre_<run>, and how to go back to it
    assert kept["kept"] is True
    assert databases(pg_cluster, yv["name"] + "__pre_") == [previous]
    assert table_checksums(pg_cluster, previous) == sums_before
    assert table_checksums(pg_cluster, yv["name"]) == yv["states"][1]["sums"]
    assert "rollback.yml -e previous=" + previous in kept["detail"]
    # the next run reports the kept database and never drops it. In check mode, without -e confirm (none is asked):
    # it shows the plan and changes nothing - no database made, nothing downloaded or dumped, no report, no lock.
    def written(work):
        return sorted(str(p) for p in work.rglob("*") if p.name.endswith((".dump", ".dir.tar", ".part", "report.json")))

    files_before = written(yv["work"])
    check = run_playbook("restore.yml", yv["inv"], {"point": iso(minutes_ago(20))}, check=True)
    check.assert_ok()
    assert "never dropped automatically" in check.stdout and previous in check.stdout
    assert databases(pg_cluster, yv["name"] + "__") == [previous]
    assert "DROP %s" % yv["name"] in check.stdout  # production in place, production__pre_<run> with the swap
    assert yv["states"][1]["backup"]["name"] in check.stdout
    assert "needed" in check.stdout  # free disk against what is needed
    # the swap (the default method): the renames it would make in one transaction, and no database made for it
    out = " ".join(check.stdout.split())
    assert "Method: swap" in out
    assert "Would rename, in one transaction: %s -> %s__pre_" % (yv["name"], yv["name"]) in out, check.describe()
    assert "%s__restore -> %s" % (yv["name"], yv["name"]) in out
    assert table_checksums(pg_cluster, yv["name"]) == yv["states"][1]["sums"]
    assert table_checksums(pg_cluster, previous) == sums_before
    assert written(yv["work"]) == files_before, "check mode downloaded, dumped or reported something"
    assert not list((yv["work"] / "locks").iterdir())

    result = run_playbook("rollback.yml", yv["inv"], {"previous": previous, "confirm": yv["name"]})
    result.assert_ok()
    assert table_checksums(pg_cluster, yv["name"]) == sums_before
    report = result.report(str(yv["work"]))
    assert report["mode"] == "rollback" and report["outcome"] == "succeeded"
    # neither run warns (a swap and a rollback printed "'__db_restore_previous' is undefined")
    assert restore.warnings == [] and result.warnings == [], restore.warnings + result.warnings
    # a rollback is a swap: its downtime is the stop to the start and the smoke test
    timeline = result.timeline(str(yv["work"]))
    assert timeline["mode"] == "rollback", timeline
    assert [p["name"] for p in timeline["phases"] if p["downtime"]] == [
        "stop_services", "swap_database", "start_services", "smoke_test"], timeline["phases"]
    # the restored data it replaced was dumped and dropped; the kept one is production again
    assert databases(pg_cluster, yv["name"] + "__") == []
    assert report["previous_database"]["dropped"] is True


def test_rollback_check_mode_and_a_wrong_previous_change_nothing(pg_cluster, run_playbook, yv):  # noqa: F811
    sums = table_checksums(pg_cluster, yv["name"])
    result = run_playbook("rollback.yml", yv["inv"], {"previous": yv["name"] + "__pre_nope", "confirm": yv["name"]})
    result.assert_failed()
    assert "Nothing was changed" in result.output
    assert table_checksums(pg_cluster, yv["name"]) == sums
    # -e previous with -e backup: refused, before the lock (it swapped the previous database back and ignored backup)
    result = run_playbook("rollback.yml", yv["inv"], {"previous": yv["name"] + "__pre_20260101_000000",
                                                      "backup": yv["states"][0]["backup"]["name"], "confirm": yv["name"]})
    result.assert_failed("Give only one: -e previous=")
    assert "Nothing was changed" in result.output
    assert table_checksums(pg_cluster, yv["name"]) == sums
    assert not (yv["work"] / "locks").exists() or not list((yv["work"] / "locks").iterdir())
    result = run_playbook("rollback.yml", yv["inv"], {"backup": yv["states"][0]["backup"]["name"]}, check=True)
    result.assert_ok()
    assert "Mode: rollback" in result.stdout
    assert table_checksums(pg_cluster, yv["name"]) == sums


def test_a_rollback_to_a_kept_database_that_fails_its_smoke_test_keeps_that_database(pg_cluster, run_playbook, yv,
                                                                                      free_port):  # noqa: F811
    # The swap back renamed the kept database (swapped in by -e previous) to <db>__failed_<run> and dropped it: the
    # copy the operator was told "may be the only copy of production before that run" was gone, with rows no backup
    # held, and the report said "the restored data is dropped (the backup is still in the store)".
    restore = run_playbook("restore.yml", dict(yv["inv"], db_restore_keep_previous=True),
                           {"point": iso(minutes_ago(20)), "confirm": yv["name"]})
    restore.assert_ok()
    previous = restore.report(str(yv["work"]))["previous_database"]["name"]
    admin_query(pg_cluster, "CREATE TABLE only_here (x int); INSERT INTO only_here VALUES (42)", dbname=previous)
    kept_sums, production_sums = table_checksums(pg_cluster, previous), table_checksums(pg_cluster, yv["name"])

    inv = dict(yv["inv"], db_restore_smoke_urls=["http://127.0.0.1:%d/api/v1/health" % free_port()])
    result = run_playbook("rollback.yml", inv, {"previous": previous, "confirm": yv["name"]})
    result.assert_failed("ROLLED_BACK")
    assert table_checksums(pg_cluster, yv["name"]) == production_sums, "production is not as it was"
    assert databases(pg_cluster, yv["name"] + "__") == [previous], "the kept database is not back under its name"
    assert table_checksums(pg_cluster, previous) == kept_sums
    assert admin_query(pg_cluster, "SELECT x FROM only_here", dbname=previous) == [(42,)]
    assert admin_query(pg_cluster, "SELECT kind, production FROM yieldvault_db_restore.made WHERE name = %s",
                       (previous,)) == [("previous", yv["name"])]
    report = result.report(str(yv["work"]))
    assert report["outcome"] == "rolled_back" and report["rollback"]["succeeded"] is True
    assert "kept again as %s" % previous in report["rollback"]["detail"], report["rollback"]
    assert "dropped" not in report["rollback"]["detail"]


def test_another_productions_kept_database_is_refused_before_anything_stops(pg_cluster, run_playbook, yv):  # noqa: F811
    # <db>__eu__pre_<run>, kept for the production <db>__eu, matches -e previous's pattern for <db>: the preflight let
    # it through and the swap's rename refused it after the services had stopped, saying "Nothing was changed".
    other = yv["name"] + "__eu__pre_20260101_000000"
    create_marked_database(pg_cluster, other, kind="previous", production=yv["name"] + "__eu")
    try:
        sums = table_checksums(pg_cluster, yv["name"])
        result = run_playbook("rollback.yml", yv["inv"], {"previous": other, "confirm": yv["name"]})
        result.assert_failed("Refusing to run: the database %s (named by -e previous) was made by a run for %s__eu, "
                             "not for %s" % (other, yv["name"], yv["name"]))
        assert "stop_services" not in result.output
        assert table_checksums(pg_cluster, yv["name"]) == sums
        assert databases(pg_cluster, yv["name"] + "__") == [other]
    finally:
        drop_database(pg_cluster, other)


def test_a_rollback_to_a_backup_says_it_drops_the_leftover_staging_database_it_restores_into(
        pg_cluster, run_playbook, yv):  # noqa: F811
    # It said "it is not used by a rollback; drop it when no run is active", then dropped it and restored into it.
    create_marked_database(pg_cluster, yv["name"] + "__restore", kind="staging", production=yv["name"])
    result = run_playbook("rollback.yml", yv["inv"], {"backup": yv["states"][0]["backup"]["name"],
                                                      "confirm": yv["name"]})
    result.assert_ok()
    out = " ".join(result.stdout.split())
    assert ("The staging database %s__restore is left from an interrupted run; this run drops it and restores into "
            "it again." % yv["name"]) in out, out[:3000]
    assert "not used" not in out and "does not use it" not in out
    assert table_checksums(pg_cluster, yv["name"]) == yv["states"][0]["sums"]
