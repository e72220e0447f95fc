"""restore.yml (and drill.yml) through ansible_runner.run(), as AWX runs them.

The private data directory is laid out the way AWX lays it out for a job:
project/ (the checkout), inventory/hosts, env/extravars (survey answers plus the
extra vars a custom credential injects, the secret marked !unsafe as AWX marks
it), env/envvars, env/settings. The assertions are what AWX shows: the job's
status and rc, the per-task event stream (with no secret in it), and the
artifacts, where set_stats puts the report's path.
"""
import json
import os
import sys
from pathlib import Path

import pytest
import yaml

from dbutil import REPO_ROOT, _inventory, table_checksums
from pg_cluster import connect
from psycopg2 import sql
from test_restore import iso, minutes_ago, yv  # noqa: F401  (yv is the fixture: a database with three backups)

ansible_runner = pytest.importorskip("ansible_runner")

VENV_BIN = Path(sys.executable).parent
# Quote, backslash, colon (pgpass), and braces that must never be templated: AWX
# marks credential values !unsafe, and so does this test.
ADMIN_PASSWORD = "aw:x\\p'a\"ss{{ 7 * 6 }}%s" % os.urandom(3).hex()


@pytest.fixture
def awx_admin(pg_cluster):
    """A superuser whose password only the (simulated) AWX credential knows."""
    role = "awx_admin_%s" % os.urandom(3).hex()
    conn = connect(pg_cluster, "postgres")
    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE ROLE {} SUPERUSER LOGIN PASSWORD %s").format(sql.Identifier(role)),
                    (ADMIN_PASSWORD,))
    conn.close()
    yield role
    conn = connect(pg_cluster, "postgres")
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
    conn.close()


def _extravars_yaml(answers, credential_vars):
    """env/extravars as AWX writes it: survey answers plain, credential-injected values !unsafe."""
    lines = [yaml.safe_dump(answers, default_flow_style=False).rstrip()] if answers else []
    for key, value in credential_vars.items():
        lines.append("%s: !unsafe %s" % (key, json.dumps(value)))
    return "\n".join(lines) + "\n"


def run_like_awx(tmp_path, playbook, inventory_vars, answers, credential_vars, ident):
    """Lay out a private data dir as AWX does and run the playbook with ansible_runner.run()."""
    pdd = tmp_path / ("pdd-%s" % ident)
    (pdd / "env").mkdir(parents=True)
    (pdd / "inventory").mkdir()
    # AWX checks the project out into project/; here the project is this repository.
    (pdd / "project").symlink_to(REPO_ROOT, target_is_directory=True)
    (pdd / "inventory" / "hosts").write_text(json.dumps(_inventory(inventory_vars)))
    (pdd / "env" / "extravars").write_text(_extravars_yaml(answers, credential_vars))
    (pdd / "env" / "envvars").write_text(yaml.safe_dump({
        # The EE has ansible and the collection installed; here the venv and ansible.cfg stand in for it.
        "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(REPO_ROOT / ".collections"),
        "PATH": "%s:%s" % (VENV_BIN, os.environ.get("PATH", "/usr/bin:/bin")),
        "ANSIBLE_NOCOLOR": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "AWS_EC2_METADATA_DISABLED": "true",
    }))
    # A Machine credential's password would be answered through env/passwords; a local run is never asked.
    (pdd / "env" / "passwords").write_text(yaml.safe_dump({"^SSH [pP]assword:\\s*?$": "unused"}))
    (pdd / "env" / "settings").write_text(yaml.safe_dump({"idle_timeout": 600, "job_timeout": 900}))
    for f in (pdd / "env").iterdir():
        os.chmod(f, 0o600)
    runner = ansible_runner.run(private_data_dir=str(pdd), playbook=playbook, ident=ident, quiet=True)
    return runner


def _events(runner):
    return list(runner.events)


def _task_events(events, event_type):
    return {e["event_data"].get("task") for e in events if e.get("event") == event_type}


def _artifact_data(runner):
    stats = [e for e in _events(runner) if e.get("event") == "playbook_on_stats"]
    assert stats, "no playbook_on_stats event"
    return stats[-1]["event_data"].get("artifact_data", {})


def _assert_no_secret(runner, secret):
    artifact_dir = Path(runner.config.artifact_dir)
    for path in artifact_dir.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert secret not in text and json.dumps(secret)[1:-1] not in text, "the admin password is in %s" % path
    for event in _events(runner):
        dumped = json.dumps(event)
        assert json.dumps(secret)[1:-1] not in dumped, "the admin password is in a %s event" % event.get("event")


def _describe(runner):
    stdout = Path(runner.config.artifact_dir, "stdout")
    text = stdout.read_text(errors="replace") if stdout.exists() else ""
    return "status=%s rc=%s\n%s" % (runner.status, runner.rc, text[-8000:])


def _awx_inventory_vars(yv):
    """The inventory AWX syncs from git: no admin password in it, the credential brings that."""
    inv = dict(yv["inv"])
    inv.pop("db_restore_login_password")
    inv.pop("db_restore_login_user")
    return inv


def test_restore_through_ansible_runner(tmp_path, pg_cluster, yv, awx_admin):
    point = minutes_ago(20)  # between backup 2 (30 min ago) and backup 3 (8 min ago)
    runner = run_like_awx(
        tmp_path, "playbooks/restore.yml", _awx_inventory_vars(yv),
        answers={"point": iso(point), "backup": "", "incident": "INC-77", "confirm": yv["name"]},
        credential_vars={"db_restore_login_user": awx_admin, "db_restore_login_password": ADMIN_PASSWORD},
        ident="restore")
    assert (runner.status, runner.rc) == ("successful", 0), _describe(runner)
    chosen = yv["states"][1]
    assert table_checksums(pg_cluster, yv["name"]) == chosen["sums"]

    events = _events(runner)
    ok_tasks = _task_events(events, "runner_on_ok")
    for task in ("Name this run", "Check the confirmation matches the database name",
                 "Write report.json, report.md and timeline.svg", "Put the report path and outcome in the job artifacts"):
        assert task in ok_tasks, "no runner_on_ok event for %r" % task
    assert not _task_events(events, "runner_on_failed")
    assert {e["event_data"].get("host") for e in events if e.get("event") == "runner_on_ok"} == {"localhost"}
    _assert_no_secret(runner, ADMIN_PASSWORD)

    artifact_dir = Path(runner.config.artifact_dir)
    assert (artifact_dir / "status").read_text().strip() == "successful"
    assert (artifact_dir / "rc").read_text().strip() == "0"
    job_events = sorted((artifact_dir / "job_events").glob("*.json"))
    assert len(job_events) == len(events) and len(job_events) > 20
    reports = _artifact_data(runner)["yieldvault_restore_reports"]
    entry = reports["localhost"]
    assert entry["outcome"] == "succeeded" and entry["mode"] == "restore"
    report_md = Path(entry["report"])
    assert report_md.is_file() and chosen["backup"]["name"] in report_md.read_text()
    report = json.loads(Path(entry["report_json"]).read_text())
    assert report["run_id"] == entry["run_id"] and report["incident"] == "INC-77"
    print("\nrunner status=%s rc=%s; artifacts: %s; set_stats: %s" % (
        runner.status, runner.rc, sorted(p.name for p in artifact_dir.iterdir()), json.dumps(reports)))


def test_bad_point_through_ansible_runner_fails_and_changes_nothing(tmp_path, pg_cluster, yv, awx_admin):
    sums = table_checksums(pg_cluster, yv["name"])
    runner = run_like_awx(
        tmp_path, "playbooks/restore.yml", _awx_inventory_vars(yv),
        answers={"point": "yesterday-ish", "incident": "INC-78", "confirm": yv["name"]},
        credential_vars={"db_restore_login_user": awx_admin, "db_restore_login_password": ADMIN_PASSWORD},
        ident="badpoint")
    assert runner.status == "failed" and runner.rc != 0, _describe(runner)
    failed = [e for e in _events(runner) if e.get("event") == "runner_on_failed"]
    assert failed, _describe(runner)
    assert any("ISO 8601" in json.dumps(e["event_data"].get("res", {})) for e in failed), _describe(runner)
    assert table_checksums(pg_cluster, yv["name"]) == sums
    _assert_no_secret(runner, ADMIN_PASSWORD)
    # the report of a refused run reaches the job's artifacts too
    entry = _artifact_data(runner)["yieldvault_restore_reports"]["localhost"]
    assert entry["outcome"] == "failed"
    assert "ISO 8601" in json.loads(Path(entry["report_json"]).read_text())["error"]


@pytest.mark.skipif(not (REPO_ROOT / "playbooks" / "drill.yml").is_file(), reason="playbooks/drill.yml not there yet")
def test_drill_through_ansible_runner(tmp_path, pg_cluster, yv, awx_admin):
    sums = table_checksums(pg_cluster, yv["name"])
    runner = run_like_awx(
        tmp_path, "playbooks/drill.yml", _awx_inventory_vars(yv),
        answers={"drill_pick": "latest", "point": "latest", "incident": ""},
        credential_vars={"db_restore_login_user": awx_admin, "db_restore_login_password": ADMIN_PASSWORD},
        ident="drill")
    assert (runner.status, runner.rc) == ("successful", 0), _describe(runner)
    assert table_checksums(pg_cluster, yv["name"]) == sums, "a drill changed production"
    _assert_no_secret(runner, ADMIN_PASSWORD)
    assert "Write report.json, report.md and timeline.svg" in _task_events(_events(runner), "runner_on_ok")
    entry = _artifact_data(runner)["yieldvault_restore_reports"]["localhost"]
    assert entry["mode"] == "drill" and entry["outcome"] == "succeeded"
    assert Path(entry["report"]).is_file()
