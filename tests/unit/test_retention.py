"""Retention: what the keep settings keep, from the names alone, and the module on a real directory."""
import datetime
import json
import os

from ansible_collections.yieldvault.db_restore.plugins.module_utils import retention as r
from ansible_collections.yieldvault.db_restore.plugins.modules import retention as module

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 5, 10, 12, 0, tzinfo=UTC)


def days_ago(n):
    return NOW - datetime.timedelta(days=n)


def names(items):
    return sorted(i["name"] for i in items)


def test_safety_names_give_their_database_and_time_and_nothing_else_matches():
    assert r.parse_safety_name("app_x_safety_20260429_143512.dir.tar") == (
        "app_x", datetime.datetime(2026, 4, 29, 14, 35, 12, tzinfo=UTC))
    assert r.parse_safety_name("o'dd db=%_safety_20260429_143512.sql")[0] == "o'dd db=%"
    for other in ("app_20260429_1435.dump", "app_safety_20260429_143512.dump.part", "app_safety_20260429_143512.dump.md5",
                  "app_safety_20261399_143512.dump", "notes.txt", ""):
        assert r.parse_safety_name(other) is None, other


def test_run_ids_give_kind_database_and_start():
    assert r.parse_run_id("restore-app-db-20260429T143512Z-0a1f") == (
        "restore", "app-db", datetime.datetime(2026, 4, 29, 14, 35, 12, tzinfo=UTC))
    assert r.parse_run_id("restore-app-20260429T143512Z") is None
    assert r.parse_run_id("lost+found") is None


def test_a_count_keeps_the_newest_per_group_and_both_zero_keep_everything():
    items = [dict(group=g, time=days_ago(d), name="%s%d" % (g, d)) for g in "ab" for d in (1, 2, 3, 4)]
    keep, remove = r.choose(items, 2, 0, NOW)
    assert names(remove) == ["a3", "a4", "b3", "b4"]
    assert all(i["reason"] == "older than the newest 2" for i in remove)
    assert r.choose(items, 0, 0, NOW) == (items, [])


def test_days_keep_the_young_ones_and_the_newest_is_always_kept():
    items = [dict(group="a", time=days_ago(d), name="a%d" % d) for d in (10, 20, 30)]
    keep, remove = r.choose(items, 0, 15, NOW)
    assert names(keep) == ["a10"] and names(remove) == ["a20", "a30"]
    # Every one older than the window: the newest still stays (a rollback needs one).
    keep, remove = r.choose(items, 0, 5, NOW)
    assert names(keep) == ["a10"]
    # count or days: kept when either keeps it
    keep, remove = r.choose(items, 1, 25, NOW)
    assert names(keep) == ["a10", "a20"] and "older than the newest 1 and 30.0 days old (over 25)" == remove[0]["reason"]


def test_negative_settings_are_refused_by_name():
    try:
        r.check_settings(-1, 0, "safety_backups")
    except ValueError as exc:
        assert "db_restore_keep_safety_backups must be 0 or more" in str(exc)
    else:
        raise AssertionError("a negative count was accepted")


def _touch(path, size=10):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)


def _work(tmp_path):
    work = tmp_path / "work"
    now = datetime.datetime.now(UTC)
    stamps = [(now - datetime.timedelta(days=d)).strftime("%Y%m%d_%H%M%S") for d in (1, 2, 3)]
    for db in ("prod", "other db"):
        for s in stamps:
            _touch(work / "safety" / ("%s_safety_%s.dump" % (db, s)), 100)
            _touch(work / "safety" / ("%s_safety_%s.dump.md5" % (db, s)))
    _touch(work / "safety" / "prod_safety_19990101_000000.dump.part")
    _touch(work / "safety" / "readme.txt")
    runs = ["restore-prod-%sZ-000%d" % (s.replace("_", "T"), i) for i, s in enumerate(stamps)]
    for run in runs:
        _touch(work / "reports" / run / "report.json")
        _touch(work / "logs" / (run + "-restore.log"))
    _touch(work / "restore" / "prod_20260429_1435.dump", 1000)
    return work, stamps, runs


def test_the_module_removes_exactly_what_the_settings_let_go(tmp_path, run_main):
    work, stamps, runs = _work(tmp_path)
    args = dict(work_dir=str(work), keep_safety_backups=1, keep_reports=2, downloads=True)
    planned = run_main(module.main, _ansible_check_mode=True, **args)
    assert planned["rc"] == 0 and planned["changed"] is True
    assert len(list((work / "safety").iterdir())) == 14, "check mode removed something"
    done = run_main(module.main, **args)
    assert done["rc"] == 0
    assert [(x["kind"], x["name"]) for x in done["removed"]] == [(x["kind"], x["name"]) for x in planned["removed"]]
    left = sorted(p.name for p in (work / "safety").iterdir())
    assert left == sorted(["prod_safety_%s.dump" % stamps[0], "prod_safety_%s.dump.md5" % stamps[0],
                           "other db_safety_%s.dump" % stamps[0], "other db_safety_%s.dump.md5" % stamps[0],
                           "prod_safety_19990101_000000.dump.part", "readme.txt"])
    assert sorted(p.name for p in (work / "reports").iterdir()) == sorted(runs[:2])
    assert sorted(p.name for p in (work / "logs").iterdir()) == sorted(r_ + "-restore.log" for r_ in runs[:2])
    assert not list((work / "restore").iterdir())
    assert done["freed_bytes"] == 4 * 110 + 2 * 10 + 1000
    assert any("Removed safety backup prod_safety_%s.dump" % stamps[2] in line for line in done["lines"])


def test_a_database_another_run_holds_is_left_alone_and_so_are_downloads(tmp_path, run_main):
    work, stamps, runs = _work(tmp_path)
    (work / "locks").mkdir()
    (work / "locks" / "prod.lock").write_text(json.dumps({"run_id": "restore-prod-20260510T120000Z-beef"}))
    done = run_main(module.main, work_dir=str(work), keep_safety_backups=1, keep_reports=1, downloads=True)
    assert done["rc"] == 0
    assert {x["name"].split("_safety_")[0] for x in done["removed"]} == {"other db"}
    assert len([p for p in (work / "safety").iterdir() if p.name.startswith("prod_")]) == 7
    assert (work / "restore" / "prod_20260429_1435.dump").exists()
    assert any("restore-prod-20260510T120000Z-beef" in s["reason"] for s in done["skipped"])
    # The holder itself prunes its own database (the end of a successful restore).
    own = run_main(module.main, work_dir=str(work), keep_safety_backups=1, keep_reports=1, databases=["prod"],
                   run_id="restore-prod-20260510T120000Z-beef",
                   remove_files=[str(work / "restore" / "prod_20260429_1435.dump")])
    assert sorted(p.name for p in (work / "reports").iterdir()) == runs[:1]
    assert not (work / "restore" / "prod_20260429_1435.dump").exists()
    assert len(own["removed"]) == 2 + 2 + 1


def test_remove_files_outside_restore_is_refused_and_nothing_goes(tmp_path, run_main):
    work, stamps, runs = _work(tmp_path)
    victim = work / "safety" / ("prod_safety_%s.dump" % stamps[0])
    done = run_main(module.main, work_dir=str(work), keep_safety_backups=1, remove_files=[str(victim)])
    assert done["rc"] == 1 and "Nothing was removed" in done["msg"]
    assert victim.exists() and len(list((work / "safety").iterdir())) == 14


def test_a_negative_setting_fails_with_its_name_and_removes_nothing(tmp_path, run_main):
    work, stamps, runs = _work(tmp_path)
    done = run_main(module.main, work_dir=str(work), keep_safety_backups=-2)
    assert done["rc"] == 1 and "db_restore_keep_safety_backups must be 0 or more" in done["msg"]
    assert len(list((work / "safety").iterdir())) == 14
    assert os.path.isdir(work / "reports")
