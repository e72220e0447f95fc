"""The quiet console's choices (plugins/callback/runbook.py, plugins/plugin_utils/runbook_events.py) and the
restore_progress module on a log, without a playbook run (tests/integration/test_swap.py runs one)."""
import configparser
import json
import pathlib
import re
import time

import yaml

from ansible_collections.yieldvault.db_restore.plugins.callback import runbook
from ansible_collections.yieldvault.db_restore.plugins.modules import restore_progress
from ansible_collections.yieldvault.db_restore.plugins.plugin_utils import runbook_events as events

ROOT = pathlib.Path(__file__).resolve().parents[2]


def debug_task_names():
    """The names of every ansible.builtin.debug task of the roles and playbooks."""
    names = []

    def walk(node):
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if "ansible.builtin.debug" in node and "name" in node:
                names.append(node["name"])
            for key in ("block", "rescue", "always", "tasks", "pre_tasks", "post_tasks"):
                walk(node.get(key))
    for path in list(ROOT.glob("roles/*/tasks/*.yml")) + list(ROOT.glob("playbooks/*.yml")):
        walk(yaml.safe_load(path.read_text()))
    return names


def test_the_quiet_console_shows_the_plan_the_outcome_and_what_the_operator_must_know():
    shown = {n for n in debug_task_names() if events.is_console_message(n)}
    for name in ("Show the plan", "Show what this restore loses", "Show where the report is",
                 "Say what the retention removed", "Warn when the statistics could not be updated",
                 "Say loudly that the database needs a manual rollback"):
        assert name in shown, name
    # detail that the plan or the report already holds is for -v
    for name in ("Show the verification", "Show the state of the database", "Show the verified backup",
                 "Show the safety backup", "Show the swap"):
        assert name in debug_task_names() and name not in shown, name


def test_messages_are_printed_one_line_per_item():
    assert runbook._lines(["Mode: restore", ["Would stop: app", "Would start: app"], "Method: swap"]) == [
        "Mode: restore", "  - Would stop: app", "  - Would start: app", "Method: swap"]
    assert runbook._lines("one\ntwo ") == ["one", "two"]
    assert runbook._lines("") == []


def test_the_repository_sets_the_runbook_console_and_awx_keeps_its_own():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "ansible.cfg")
    assert cfg["defaults"]["stdout_callback"] == "yieldvault.db_restore.runbook"
    assert "yieldvault.db_restore.restore_timeline" in cfg["defaults"]["callbacks_enabled"]
    # AWX runs with ansible-runner's awx_display; nothing of the collection's AWX setup overrides it
    for path in list((ROOT / "awx").rglob("*")) + [ROOT / "execution-environment.yml"]:
        if path.is_file():
            assert not re.search(r"stdout_callback|STDOUT_CALLBACK", path.read_text(errors="replace")), path


def test_restore_progress_reads_the_log_and_ends_on_the_marker(tmp_path, run_main):
    log = tmp_path / "restore.log.attempt"
    log.write_text("pg_restore: creating TABLE \"public.User\"\npg_restore: processing data for table \"public.User\"\n")
    (tmp_path / "restore.log.attempt.watched").write_text("%f\n" % (time.time() - 3605))  # the script's start
    result = run_main(restore_progress.main, log=str(log), total=4)
    assert result["rc"] == 0 and result["finished"] is False and result["changed"] is False
    assert (result["done"], result["total"], result["percent"]) == (2, 4, 50)
    assert result["progress"] == "pg_restore 2/4 items (50%), 1 h 00 min, about 1 h 00 min left", result["progress"]
    (tmp_path / "restore.log.attempt.done").touch()
    result = run_main(restore_progress.main, log=str(log), total=4)
    assert result["finished"] is True and result["progress"].endswith(", ended")
    assert not (tmp_path / "restore.log.attempt.done").exists()
    assert not (tmp_path / "restore.log.attempt.watched").exists()


def test_restore_progress_takes_the_total_the_restore_module_counted(tmp_path, run_main):
    """No total given (the playbook no longer runs pg_restore --list in a task of its own): the count
    database_restore wrote when it began is read, and removed with the other files at the end."""
    log = tmp_path / "restore.log.attempt"
    log.write_text("pg_restore: creating TABLE \"public.User\"\n")
    result = run_main(restore_progress.main, log=str(log))
    assert (result["done"], result["total"], result["percent"]) == (1, 0, None), result
    (tmp_path / "restore.log.attempt.total").write_text("8\n")
    result = run_main(restore_progress.main, log=str(log))
    assert (result["done"], result["total"], result["percent"]) == (1, 8, 12), result
    (tmp_path / "restore.log.attempt.done").touch()
    result = run_main(restore_progress.main, log=str(log))
    assert result["finished"] is True and result["total"] == 8
    assert not (tmp_path / "restore.log.attempt.total").exists()


def test_restore_progress_returns_the_result_the_restore_module_left(tmp_path, run_main):
    """The restore module writes its result into the .done marker: the last look returns it (and its warnings),
    so no async_status call is needed. An empty marker (the module failed on its own) returns none."""
    log = tmp_path / "restore.log.attempt"
    log.write_text("")
    outcome = {"changed": True, "rc": 0, "jobs": 2, "tries": [{"attempt": 1, "jobs": 4, "rc": 137}],
               "msg": "Restored x into y with 2 job(s)", "warnings": ["pg_restore ran out of memory with 4 jobs"]}
    (tmp_path / "restore.log.attempt.done").write_text(json.dumps(outcome))
    result = run_main(restore_progress.main, log=str(log))
    assert result["finished"] is True
    assert result["result"] == {k: v for k, v in outcome.items() if k != "warnings"}
    assert "pg_restore ran out of memory with 4 jobs" in json.dumps(result.get("warnings"))
    (tmp_path / "restore.log.attempt.done").write_text("")
    result = run_main(restore_progress.main, log=str(log))
    assert result["finished"] is True and result["result"] is None
    result = run_main(restore_progress.main, log=str(log))
    assert result["finished"] is False and result["result"] is None


def test_the_restore_module_leaves_its_result_masked_or_an_empty_marker(tmp_path, monkeypatch):
    """database_restore's last step: the result (password masked as exit_json masks it) or, when it is failing or
    the result cannot be written (a full disk), an empty marker - never none, or the progress loop would wait for
    the whole async limit."""
    from ansible_collections.yieldvault.db_restore.plugins.modules import database_restore

    done = tmp_path / "restore.log.attempt.done"
    database_restore.write_done(str(done), {"rc": 1, "msg": "failed: password s3cret rejected"}, {"s3cret"})
    assert json.loads(done.read_text()) == {"rc": 1, "msg": "failed: password ******** rejected"}
    assert done.stat().st_mode & 0o777 == 0o600
    done.unlink()
    database_restore.write_done(str(done), None)
    assert done.exists() and done.read_text() == ""
    done.unlink()

    def disk_full(path, data, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(database_restore, "write_atomic", disk_full)
    database_restore.write_done(str(done), {"rc": 0, "msg": "Restored"})
    assert done.exists() and done.read_text() == ""
    database_restore.write_done(str(tmp_path / "missing" / "x.done"), {"rc": 0})  # does not raise
