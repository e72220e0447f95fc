"""Attacks on retention that found something (a red-team review), each now a test of the fix: the safety
backup a rollback needs is never removed, only files the collection names are touched, and a failure says
exactly what went."""
import datetime
import json
import os

from ansible_collections.yieldvault.db_restore.plugins.module_utils import retention as r
from ansible_collections.yieldvault.db_restore.plugins.modules import backup_catalog
from ansible_collections.yieldvault.db_restore.plugins.modules import retention as module

UTC = datetime.timezone.utc


def _stamp(delta_days):
    return (datetime.datetime.now(UTC) - datetime.timedelta(days=delta_days)).strftime("%Y%m%d_%H%M%S")


def _touch(path, size=10):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)


def _safety(work, db, stamp, ext=".dump"):
    _touch(work / "safety" / ("%s_safety_%s%s" % (db, stamp, ext)), 100)
    _touch(work / "safety" / ("%s_safety_%s%s.md5" % (db, stamp, ext)), 10)
    return "%s_safety_%s%s" % (db, stamp, ext)



def test_a_name_dated_in_the_future_never_costs_the_safety_backup_just_taken(tmp_path, run_main):
    # A controller clock that was once ahead left a name in 2099: it used to hold the "newest" place for ever.
    work = tmp_path / "work"
    future = _safety(work, "prod", "20991231_000000")
    older = _safety(work, "prod", _stamp(3))
    just_taken = _safety(work, "prod", _stamp(2))
    done = run_main(module.main, work_dir=str(work), databases=["prod"], keep_safety_backups=1,
                    run_id="restore-prod-20261204T000000Z-beef")
    assert done["rc"] == 0
    assert [x["name"] for x in done["removed"]] == [older]
    assert (work / "safety" / just_taken).exists() and (work / "safety" / future).exists()


def test_the_last_good_safety_backup_before_a_partial_restore_is_protected(tmp_path, run_main):
    # Run A died after the drop: its safety backup is production before the incident. Run B's is of the partial
    # restore (rollback.yml never chooses it). B's hook passes A's as protected.
    work = tmp_path / "work"
    good = _safety(work, "prod", _stamp(3))
    tainted = _safety(work, "prod", _stamp(2))
    done = run_main(module.main, work_dir=str(work), databases=["prod"], keep_safety_backups=1,
                    run_id="restore-prod-20261204T000000Z-beef", protect=[tainted, good])
    assert done["rc"] == 0 and done["removed"] == []
    found = run_main(backup_catalog.main, store="local", database="prod_safety", local_dir=str(work / "safety"),
                     exclude=[tainted], allow_rpo_breach=True)
    assert found["rc"] == 0 and found["backup"]["name"] == good, found


def test_a_safety_backup_younger_than_a_day_is_never_removed(tmp_path, run_main):
    # A second restore within the day (the first went to the wrong point) keeps the copy from before both; and a
    # controller clock a day behind cannot make the one just taken look old.
    work = tmp_path / "work"
    first = _safety(work, "prod", (datetime.datetime.now(UTC) - datetime.timedelta(hours=20)).strftime("%Y%m%d_%H%M%S"))
    second = _safety(work, "prod", (datetime.datetime.now(UTC) - datetime.timedelta(hours=1)).strftime("%Y%m%d_%H%M%S"))
    done = run_main(module.main, work_dir=str(work), databases=["prod"], keep_safety_backups=1)
    assert done["rc"] == 0 and done["removed"] == []
    assert (work / "safety" / first).exists() and (work / "safety" / second).exists()


def test_a_sql_safety_backup_never_takes_the_place_of_one_rollback_can_use(tmp_path, run_main):
    work = tmp_path / "work"
    usable = _safety(work, "prod", _stamp(3), ".dump")
    _safety(work, "prod", _stamp(2), ".sql")
    done = run_main(module.main, work_dir=str(work), databases=["prod"], keep_safety_backups=1)
    assert done["rc"] == 0 and done["removed"] == []
    found = run_main(backup_catalog.main, store="local", database="prod_safety", local_dir=str(work / "safety"),
                     allow_rpo_breach=True)
    assert found["rc"] == 0 and found["backup"]["name"] == usable, found


def test_downloads_touch_only_what_the_collection_downloads_of_the_databases_asked(tmp_path, run_main):
    work = tmp_path / "work"
    names = ["prod_20260429_1435.dump", "prod_20260429_1435.dump.md5", "prod_20260429_1435.dump.manifest.json",
             "prod_20260429_1436.dump.part", "operator-copy-before-migration.sql", "NOTES.txt",
             "other_20260429_1435.dump", "other_20260429_1435.dump.md5", "other_20260429_1435.dump.manifest.json"]
    for name in names:
        _touch(work / "restore" / name)
    done = run_main(module.main, work_dir=str(work), databases=["prod"], downloads=True)
    assert sorted(x["name"] for x in done["removed"]) == sorted(names[:4])
    assert sorted(os.listdir(work / "restore")) == sorted(names[4:])


def test_a_failure_half_way_names_what_went_and_what_stayed(tmp_path, run_main, monkeypatch):
    work = tmp_path / "work"
    old = _safety(work, "prod", _stamp(3))
    _safety(work, "prod", _stamp(2))
    real_remove = os.remove

    def remove(path):
        if path.endswith(".md5"):
            raise PermissionError(13, "Permission denied", path)
        real_remove(path)
    monkeypatch.setattr(os, "remove", remove)
    done = run_main(module.main, work_dir=str(work), databases=["prod"], keep_safety_backups=1)
    assert done["rc"] == 1
    assert "Of it, %s was removed and %s.md5 was not" % (work / "safety" / old, work / "safety" / old) in done["msg"]


def test_logs_belong_to_their_run_exactly_not_by_prefix(tmp_path, run_main):
    work = tmp_path / "work"
    old = "restore-app-20260101T000000Z-abcd"
    new = "restore-app-20260102T000000Z-abcd"
    other = "restore-app-20260101T000000Z-abcd-x-20260103T000000Z-1234"  # database 'app-20260101T000000Z-abcd-x'
    for run in (old, new, other):
        _touch(work / "reports" / run / "report.json")
        _touch(work / "logs" / (run + "-restore.log"))
    (work / "locks").mkdir()
    (work / "locks" / "app-20260101T000000Z-abcd-x.lock").write_text(json.dumps({"run_id": other}))
    done = run_main(module.main, work_dir=str(work), databases=["app"], keep_reports=1)
    assert done["rc"] == 0
    assert not (work / "logs" / (old + "-restore.log")).exists()
    assert (work / "logs" / (other + "-restore.log")).exists() and (work / "logs" / (new + "-restore.log")).exists()


def test_a_lock_file_that_cannot_be_read_is_said_so(tmp_path, run_main):
    work = tmp_path / "work"
    _safety(work, "prod", _stamp(3))
    _safety(work, "prod", _stamp(2))
    (work / "locks").mkdir()
    (work / "locks" / "prod.lock").write_text("")
    done = run_main(module.main, work_dir=str(work), keep_safety_backups=1)
    assert done["removed"] == []
    assert done["skipped"][0]["reason"] == "its lock is held (a lock file that cannot be read)"


def test_two_prunes_at_once_both_succeed(tmp_path, run_main, monkeypatch):
    work = tmp_path / "work"
    old = _safety(work, "prod", _stamp(3))
    _safety(work, "prod", _stamp(2))
    real_remove = os.remove

    def remove(path):   # the other prune removes the file first
        if os.path.exists(path):
            real_remove(path)
        real_remove(path)
    monkeypatch.setattr(os, "remove", remove)
    done = run_main(module.main, work_dir=str(work), keep_safety_backups=1)
    assert done["rc"] == 0 and [x["name"] for x in done["removed"]] == [old]


def test_the_downloaded_copy_stays_while_a_drill_of_the_same_database_may_read_it(tmp_path, run_main):
    work = tmp_path / "work"
    dl = work / "restore" / "prod_20261204_0000.dump"
    _touch(dl)
    (work / "locks").mkdir()
    (work / "locks" / "prod_drill.lock").write_text(json.dumps({"run_id": "drill-prod-20261204T000500Z-cafe"}))
    done = run_main(module.main, work_dir=str(work), databases=["prod"], run_id="restore-prod-20261204T000000Z-beef",
                    remove_files=[str(dl)])
    assert done["rc"] == 0 and dl.exists()
    assert "a run holds a lock" in done["skipped"][0]["reason"]


# Attacks that found nothing, kept: hostile names, prefixes, symlinks, corrupt locks.
def test_nothing_found_hostile_names_prefixes_symlinks_locks(tmp_path, run_main):
    work = tmp_path / "work"
    dbs = ["app", "app_x", "app-x", "o'd d=%", "{{ lookup('env','HOME') }}", "x_safety_20200101_000000"]
    for db in dbs:
        for d in (3, 2, 1):
            _safety(work, db, _stamp(d))
    # symlinks named like collection files pointing outside
    outside = tmp_path / "outside"
    _touch(outside / "precious.txt")
    os.symlink(str(outside / "precious.txt"), str(work / "safety" / ("app_safety_%s.dump" % "19990101_000000")))
    (work / "reports").mkdir()
    os.symlink(str(outside), str(work / "reports" / "restore-app-19990101T000000Z-dead"))
    _touch(work / "reports" / "restore-app-20260101T000000Z-beef" / "r.json")
    _touch(work / "safety" / ("app_safety_%s.dump.part" % _stamp(4)))
    for db in dbs:
        done = run_main(module.main, work_dir=str(work), databases=[db], keep_safety_backups=1, keep_reports=1)
        assert done["rc"] == 0
        assert {r.parse_safety_name(x["name"])[0] for x in done["removed"] if x["kind"] == "safety_backup"} == {db}
    assert (outside / "precious.txt").exists()
    assert os.path.isdir(outside)
    for db in dbs:
        left = [n for n in os.listdir(work / "safety") if r.parse_safety_name(n) and r.parse_safety_name(n)[0] == db]
        assert len(left) == 1, (db, left)
    # remove_files escaping restore/
    for bad in (str(work / "restore" / ".." / "safety" / "x"), str(work / "restore"), "/etc/passwd"):
        done = run_main(module.main, work_dir=str(work), remove_files=[bad])
        assert done["rc"] == 1 and "Nothing was removed" in done["msg"]
    # restore/ entry that is a symlink to outside: not removed
    (work / "restore").mkdir(exist_ok=True)
    os.symlink(str(outside / "precious.txt"), str(work / "restore" / "prod_20260429_1435.dump"))
    done = run_main(module.main, work_dir=str(work), downloads=True,
                    remove_files=[str(work / "restore" / "prod_20260429_1435.dump")])
    assert done["rc"] == 0 and (outside / "precious.txt").exists()
    # corrupt lock variants leave the database alone
    for content in ("", "{", "[]", "null", '"x"', '{"run_id": ""}'):
        (work / "locks").mkdir(exist_ok=True)
        (work / "locks" / "app.lock").write_text(content)
        _safety(work, "app", _stamp(5))
        done = run_main(module.main, work_dir=str(work), databases=["app"], keep_safety_backups=1)
        assert done["removed"] == [], content


