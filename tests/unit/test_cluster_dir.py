"""The whole-cluster restore's journal and checks (module_utils/cluster_dir): what the next run and rollback.yml read
after a run died at any step, and why a data directory is refused before anything stops.

tests/integration/test_pitr_cluster.py runs the mode end to end on PostgreSQL 15, with a kill -9 after the restore.
"""
import json
import os
import subprocess

import pytest

from ansible_collections.yieldvault.db_restore.plugins.module_utils import cluster_dir


def test_journal_round_trip_leaves_no_temporary_file(tmp_path):
    path = cluster_dir.journal_path(str(tmp_path / "work"), "main")
    assert path == str(tmp_path / "work" / "cluster" / "main.journal.json")
    assert cluster_dir.read_journal(path) is None
    record = dict(state="moved", run_id="restore-app-1", point="2026-04-29T14:37:12Z", data_dir="/d", aside="/d.b")
    cluster_dir.write_journal(path, record, now=1000.5)
    assert cluster_dir.read_journal(path) == dict(record, updated_at=1000.5)
    assert os.listdir(os.path.dirname(path)) == ["main.journal.json"]
    assert oct(os.stat(os.path.dirname(path)).st_mode & 0o777) == "0o700"


@pytest.mark.parametrize("text", ["{not json", json.dumps({"state": "half"}), json.dumps(["moved"])])
def test_a_journal_that_cannot_be_trusted_stops_everything(tmp_path, text):
    path = tmp_path / "main.journal.json"
    path.write_text(text)
    with pytest.raises(ValueError, match="look at it by hand"):
        cluster_dir.read_journal(str(path))


@pytest.mark.parametrize("state,words", [
    ("moving", "was about to move the data directory aside"),
    ("moved", "had moved the data directory aside"),
    ("restored", "had restored the archive into the data directory"),
])
def test_an_unfinished_journal_names_the_copy_and_the_way_back(state, words):
    record = dict(state=state, run_id="restore-app-1", point="2026-04-29T14:37:12Z", aside="/pg/main.before-restore-app-1")
    message = cluster_dir.interrupted_message(record, "/work/cluster/main.journal.json")
    assert words in message
    assert "/pg/main.before-restore-app-1" in message
    assert "rollback.yml -e pitr_scope=cluster" in message and "Nothing was changed" in message


def test_a_finished_journal_or_none_is_no_obstacle():
    assert cluster_dir.interrupted_message(None, "j") is None
    assert cluster_dir.interrupted_message(dict(state="done"), "j") is None


def test_the_copy_goes_beside_the_data_directory():
    assert cluster_dir.aside_path("/var/lib/postgresql/15/main/", "restore-x") == \
        "/var/lib/postgresql/15/main.before-restore-x"


def _data_dir(tmp_path):
    data = tmp_path / "data"
    (data / "pg_tblspc").mkdir(parents=True)
    (data / "pg_wal").mkdir()
    (data / "PG_VERSION").write_text("15\n")
    return data


def test_a_plain_data_directory_can_be_moved_whole(tmp_path):
    assert cluster_dir.layout_problems(str(_data_dir(tmp_path))) == []


def test_not_a_data_directory(tmp_path):
    problems = cluster_dir.layout_problems(str(tmp_path))
    assert len(problems) == 1 and "no PG_VERSION" in problems[0] and "db_restore_pg_data_dir" in problems[0]


def test_tablespaces_and_a_linked_pg_wal_are_refused(tmp_path):
    data = _data_dir(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(str(elsewhere), str(data / "pg_tblspc" / "16384"))
    (data / "pg_wal").rmdir()
    os.symlink(str(elsewhere), str(data / "pg_wal"))
    problems = cluster_dir.layout_problems(str(data))
    assert any("tablespaces" in p and str(elsewhere) in p for p in problems), problems
    assert any("pg_wal is a link" in p for p in problems), problems


def test_room_has_a_margin_and_a_floor():
    assert cluster_dir.room_needed(0) == cluster_dir.ROOM_FLOOR
    assert cluster_dir.room_needed(10 * 2 ** 30) == int(10 * 2 ** 30 * 1.10)
    assert cluster_dir.free_bytes("/") > 0


def test_server_pid_only_for_a_live_postmaster(tmp_path):
    data = _data_dir(tmp_path)
    assert cluster_dir.server_pid(str(data)) is None
    (data / "postmaster.pid").write_text("%d\n%s\n" % (os.getpid(), data))
    assert cluster_dir.server_pid(str(data)) == os.getpid()
    dead = subprocess.Popen(["true"])
    dead.wait()
    (data / "postmaster.pid").write_text("%d\n" % dead.pid)
    assert cluster_dir.server_pid(str(data)) is None
    (data / "postmaster.pid").write_text("garbage\n")
    assert cluster_dir.server_pid(str(data)) is None


def test_rename_durably_moves(tmp_path):
    (tmp_path / "a").mkdir()
    cluster_dir.rename_durably(str(tmp_path / "a"), str(tmp_path / "b"))
    assert not (tmp_path / "a").exists() and (tmp_path / "b").is_dir()


@pytest.mark.parametrize("state,data_dir,aside,expected", [
    # the original aside, the restored (or a partial one) in its place: keep that, rename the original back
    ("restored", True, True, (True, True, None)),
    ("done", True, True, (True, True, None)),
    ("moved", False, True, (False, True, None)),
    # killed between the renames of an earlier put-back: the original is back already
    ("putting_back", True, False, (False, False, None)),
    # killed before anything was moved: nothing to rename, only the journal to close
    ("stopping", True, False, (False, False, None)),
    ("moving", True, False, (False, False, None)),
])
def test_put_back_plan_from_the_journal_and_the_disk(state, data_dir, aside, expected):
    assert cluster_dir.put_back_plan(dict(state=state, aside="/d.before-r"), data_dir, aside) == expected


@pytest.mark.parametrize("state,data_dir", [("done", True), ("restored", True), ("moved", False), ("putting_back", False)])
def test_put_back_refuses_when_the_original_is_not_where_the_journal_says(state, data_dir):
    keep, rename, error = cluster_dir.put_back_plan(dict(state=state, aside="/d.before-r"), data_dir, False)
    assert (keep, rename) == (False, False) and "/d.before-r" in error and "not there" in error


def test_a_running_run_is_named_with_its_controller():
    message = cluster_dir.running_message(dict(run_id="restore-app-1", state="moved",
                                               controller={"host": "ctl1", "pid": 4242}), "/w/cluster/main.journal.json")
    assert "running now" in message and "4242" in message and "ctl1" in message and "Nothing was changed" in message


def test_the_recovery_target_keeps_the_fraction_of_a_second():
    import datetime
    from ansible_collections.yieldvault.db_restore.plugins.module_utils.pgbackrest import target_time
    utc = datetime.timezone.utc
    assert target_time(datetime.datetime(2026, 4, 29, 14, 37, 12, tzinfo=utc)) == "2026-04-29 14:37:12+00"
    assert target_time(datetime.datetime(2026, 4, 29, 14, 37, 12, 900000, tzinfo=utc)) == "2026-04-29 14:37:12.9+00"
    assert target_time(datetime.datetime(2026, 4, 29, 14, 37, 12, 123456, tzinfo=utc)) == "2026-04-29 14:37:12.123456+00"


NOW = 1_800_000_000.0


@pytest.mark.parametrize("record,busy,alive,expected", [
    (None, False, None, "none"),
    (dict(state="done", updated_at=NOW), False, None, "none"),
    (dict(state="done", updated_at=NOW), False, False, "none"),
    # finished moving, but its play (on this host) still starts the services and runs the smoke test
    (dict(state="done", updated_at=NOW - 3600 * 24), False, True, "running"),
    # a step holds the journal's lock right now: running, whatever the journal says (even none yet)
    (None, True, None, "running"),
    (dict(state="done", updated_at=NOW), True, None, "running"),
    (dict(state="moved", updated_at=NOW - 3600 * 24), True, False, "running"),
    # its controller runs on this host, or is gone from it
    (dict(state="moved", updated_at=NOW - 3600 * 24), False, True, "running"),
    (dict(state="moved", updated_at=NOW), False, False, "stopped"),
    # controlled from another host: running for all this host knows, until the journal is stale_minutes old
    (dict(state="stopping", updated_at=NOW - 60), False, None, "unknown"),
    (dict(state="restored", updated_at=NOW - 239 * 60), False, None, "unknown"),
    (dict(state="restored", updated_at=NOW - 241 * 60), False, None, "stopped"),
    # a journal of an older collection, without updated_at
    (dict(state="moved"), False, None, "stopped"),
])
def test_run_status_of_the_run_a_journal_names(record, busy, alive, expected):
    assert cluster_dir.run_status(record, busy, alive, 240, now=NOW) == expected


def test_a_run_controlled_from_another_host_is_named_with_the_way_to_take_it_over():
    record = dict(state="moved", run_id="restore-app-1", point="2026-04-29T14:37:12Z",
                  controller={"host": "awx-task-7", "pid": 4242}, updated_at=NOW - 125)
    msg = cluster_dir.unknown_message(record, "/w/cluster/main.journal.json", now=NOW)
    for words in ("may still be running", "restore-app-1", "awx-task-7", "4242", "2 minute(s) ago", "state moved",
                  "-e db_restore_break_lock=true", "Nothing was changed."):
        assert words in msg, msg


def test_the_journal_lock_keeps_a_second_step_out_even_from_another_process(tmp_path):
    journal = str(tmp_path / "work" / "cluster" / "main.journal.json")
    # a read never creates the lock file, and finds nothing held
    assert cluster_dir.lock_journal(journal, exclusive=False) == (None, False)
    assert not os.path.exists(journal + ".lock")
    holder = subprocess.Popen(["python3", "-c", (
        "import fcntl, os, sys, time\n"
        "os.makedirs(os.path.dirname(sys.argv[1]), exist_ok=True)\n"
        "fd = os.open(sys.argv[1] + '.lock', os.O_RDWR | os.O_CREAT, 0o600)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n"), journal], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert cluster_dir.lock_journal(journal, exclusive=False) == (None, True)
        assert cluster_dir.lock_journal(journal, exclusive=True, wait=0.5) == (None, True)
    finally:
        holder.kill()
        holder.wait()
    fd, busy = cluster_dir.lock_journal(journal, exclusive=True, wait=0.5)
    assert fd is not None and not busy
    # held by this process now: another process's read sees it
    out = subprocess.run(["python3", "-c", (
        "import fcntl, os, sys\n"
        "fd = os.open(sys.argv[1] + '.lock', os.O_RDONLY)\n"
        "try:\n"
        "    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)\n"
        "    print('free')\n"
        "except OSError:\n"
        "    print('busy')\n"), journal], capture_output=True, text=True, check=True)
    os.close(fd)
    assert out.stdout.strip() == "busy"


def test_a_journal_of_an_older_collection_is_as_old_as_its_file(tmp_path):
    """Red team: a run of the collection before updated_at (an AWX execution environment not upgraded yet) is not
    taken for dead at once: the journal's mtime stands in, on the db host's clock."""
    journal = tmp_path / "main.journal.json"
    record = dict(state="moved", run_id="restore-app-1", controller={"host": "awx-task-7", "pid": 4242})
    journal.write_text(json.dumps(record))
    dated = cluster_dir.with_write_time(record, str(journal))
    assert abs(dated["updated_at"] - os.stat(journal).st_mtime) < 1e-6
    assert cluster_dir.run_status(dated, False, None, 240) == "unknown"
    os.utime(journal, (NOW - 241 * 60, NOW - 241 * 60))
    assert cluster_dir.run_status(cluster_dir.with_write_time(record, str(journal)), False, None, 240, now=NOW) \
        == "stopped"
    # a record that has it keeps it; none stays none
    assert cluster_dir.with_write_time(dict(record, updated_at=5.0), str(journal))["updated_at"] == 5.0
    assert cluster_dir.with_write_time(None, str(journal)) is None


def test_the_journal_lock_passed_to_a_child_outlives_the_module(tmp_path):
    """Red team: the module killed on its own (the OOM killer) while pgBackRest still writes into the data directory
    must not free the lock: pgBackRest inherits it (pass_fds), so a rollback cannot rename under it."""
    journal = str(tmp_path / "work" / "cluster" / "main.journal.json")
    fd, busy = cluster_dir.lock_journal(journal, exclusive=True)
    assert fd is not None and not busy
    child = subprocess.Popen(["sleep", "30"], pass_fds=[fd])
    try:
        os.close(fd)  # the module is gone
        assert cluster_dir.lock_journal(journal, exclusive=False) == (None, True)
    finally:
        child.kill()
        child.wait()
    assert cluster_dir.lock_journal(journal, exclusive=False) == (None, False)


def test_a_journal_another_run_took_since_the_plan_is_refused_by_name():
    planned = {"run_id": "restore-cluster-1", "state": "done"}
    assert cluster_dir.changed_since_plan(planned, "restore-cluster-1", "/w/cluster/main.journal.json") == ""
    taken = cluster_dir.changed_since_plan({"run_id": "restore-cluster-2", "state": "stopping"}, "restore-cluster-1",
                                           "/w/cluster/main.journal.json")
    assert "now names run restore-cluster-2 (state stopping)" in taken
    assert "what run restore-cluster-1 moved aside" in taken and "nothing was moved" in taken
    # Another rollback got there first: the journal is gone, or names the restore before, finished. Refused too (the
    # plan changed), but nobody is writing the data directory: PostgreSQL may be started again.
    gone = cluster_dir.changed_since_plan(None, "restore-cluster-1", "/w/cluster/main.journal.json")
    assert "is gone" in gone and "Another rollback put it back" in gone
    earlier = {"run_id": "restore-cluster-0", "state": "done"}
    assert "finished restore restore-cluster-0" in cluster_dir.changed_since_plan(earlier, "restore-cluster-1", "/j")
    assert cluster_dir.another_run_holds(None, "none") is False
    assert cluster_dir.another_run_holds(earlier, "none") is False
    assert cluster_dir.another_run_holds(earlier, "running") is True
    assert cluster_dir.another_run_holds({"run_id": "restore-cluster-2", "state": "stopping"}, "stopped") is True
