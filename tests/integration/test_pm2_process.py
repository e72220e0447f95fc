"""pm2_process against a real PM2 daemon running the fixture backend.

The daemon gets its own temporary PM2_HOME, so no other PM2 daemon on the
machine is ever touched; it is killed (`pm2 kill`) at the end. The backend
talks to the session's throwaway PostgreSQL cluster. Tests run in file order
and share the daemon: check mode first, then the real change, then again for
idempotence.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

import yieldvault_fixture
from dbutil import REPO_ROOT, VENV_BIN, drop_database, free_port
from test_backend import BACKEND_DIR, app_connections, backend_env, http, node_apps, wait_http  # noqa: F401

DB_NAME = "yv_pm2_test"
APP = "yv-backend-test"
FAILING = "yv-failing-test"
CLUSTERED = "yv-clustered-test"
SECRET_MARK = "PGPASSWORD"


class Pm2:
    def __init__(self, home):
        self.home = home
        self.bin = shutil.which("pm2")
        self.env = dict(os.environ, PM2_HOME=home)

    def run(self, *args, env=None, check=True):
        res = subprocess.run([self.bin] + list(args), env=dict(self.env, **(env or {})), capture_output=True,
                             text=True, stdin=subprocess.DEVNULL, timeout=120, cwd=str(BACKEND_DIR))
        if check:
            assert res.returncode == 0, "pm2 %s failed: %s\n%s" % (" ".join(args), res.stdout[-2000:], res.stderr)
        return res

    def statuses(self, name):
        out = self.run("jlist").stdout
        procs = json.loads(out[out.index("["):])
        return [p["pm2_env"]["status"] for p in procs if p["name"] == name]


def run_module(pm2, check=False, **args):
    """Run yieldvault.db_restore.pm2_process ad hoc; (failed, result dict)."""
    args.setdefault("pm2_home", pm2.home)
    cmd = [str(VENV_BIN / "ansible"), "localhost", "-c", "local", "-e",
           "ansible_python_interpreter=%s" % (VENV_BIN / "python"), "-m", "yieldvault.db_restore.pm2_process",
           "-a", json.dumps(args)]
    if check:
        cmd.append("--check")
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"), ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_NOCOLOR="1")
    env.pop("PM2_HOME", None)
    res = subprocess.run(cmd, cwd=str(REPO_ROOT), env=env, capture_output=True, text=True, timeout=180,
                         stdin=subprocess.DEVNULL)
    try:
        data = json.loads(res.stdout)
        result = data["plays"][0]["tasks"][0]["hosts"]["localhost"]
    except (ValueError, KeyError, IndexError):
        pytest.fail("no JSON result from ansible (rc %s):\n%s\n%s" % (res.returncode, res.stdout, res.stderr))
    assert SECRET_MARK not in res.stdout, "the module leaked the process environment"
    return bool(result.get("failed")), result


@pytest.fixture(scope="module")
def pm2(node_apps, pg_cluster):  # noqa: F811  (node_apps is the fixture imported above)
    """A private PM2 daemon running the backend (APP), plus FAILING (stopped) and CLUSTERED (2 instances)."""
    home = tempfile.mkdtemp(prefix="yv-test-pm2-", dir="/tmp")
    daemon = Pm2(home)
    yieldvault_fixture.create(pg_cluster, DB_NAME, users=50, seed=4)
    port = free_port()
    env = backend_env(pg_cluster, DB_NAME, port, PM2_HOME=home)
    daemon.url = "http://127.0.0.1:%d" % port
    try:
        daemon.run("start", "server.js", "--name", APP, env=env)
        status, _ = wait_http(daemon.url + "/health", want=lambda s: s == 200)
        assert status == 200, "backend under PM2 is not healthy: %s" % daemon.run("logs", APP, "--nostream",
                                                                                 "--lines", "20").stdout
        # Crash-loops at once; stopped so that starting it is up to the test.
        daemon.run("start", "server.js", "--name", FAILING, env=dict(env, BACKEND_FAIL_START="1", PORT="0"))
        daemon.run("stop", FAILING)
        daemon.run("start", "server.js", "--name", CLUSTERED, "-i", "2",
                   env=backend_env(pg_cluster, DB_NAME, free_port(), PM2_HOME=home, PGAPPNAME="yv-clustered"))
        yield daemon
    finally:
        daemon.run("kill", check=False)
        shutil.rmtree(home, ignore_errors=True)
        drop_database(pg_cluster, DB_NAME)


def test_present_reports_without_changing(pm2):
    failed, res = run_module(pm2, name=APP)
    assert not failed, res
    assert res["changed"] is False and res["operation"] is None
    assert res["status"] == "online" and res["status_before"] == "online"
    assert res["pid"] > 0 and res["instances"] == 1 and res["restarts"] == 0
    assert res["uptime_since"].endswith("Z")
    assert res["err_log_path"].startswith(pm2.home) and res["out_log_path"].startswith(pm2.home)


def test_stop_in_check_mode_changes_nothing(pm2):
    failed, res = run_module(pm2, check=True, name=APP, state="stopped")
    assert not failed, res
    assert res["changed"] is True and res["operation"] == "stop"
    assert pm2.statuses(APP) == ["online"]
    assert http("GET", pm2.url + "/health")[0] == 200


def test_stop(pm2, pg_cluster):
    failed, res = run_module(pm2, name=APP, state="stopped")
    assert not failed, res
    assert res["changed"] is True and res["status_before"] == "online" and res["status"] == "stopped"
    assert res["pid"] is None and res["uptime_since"] is None
    assert pm2.statuses(APP) == ["stopped"]
    assert http("GET", pm2.url + "/health")[0] is None
    assert app_connections(pg_cluster, DB_NAME) == 0


def test_stop_again_is_idempotent(pm2):
    failed, res = run_module(pm2, name=APP, state="stopped")
    assert not failed, res
    assert res["changed"] is False and res["status"] == "stopped"


def test_start_in_check_mode_changes_nothing(pm2):
    failed, res = run_module(pm2, check=True, name=APP, state="started")
    assert not failed, res
    assert res["changed"] is True and res["operation"] == "start"
    assert pm2.statuses(APP) == ["stopped"]


def test_start(pm2):
    failed, res = run_module(pm2, name=APP, state="started")
    assert not failed, res
    assert res["changed"] is True and res["status_before"] == "stopped" and res["status"] == "online"
    assert res["pid"] > 0
    status, body = wait_http(pm2.url + "/health", want=lambda s: s == 200)
    assert status == 200 and body["status"] == "healthy"
    failed, res = run_module(pm2, name=APP, state="started")
    assert not failed and res["changed"] is False


def test_restart_always_acts(pm2):
    _, before = run_module(pm2, name=APP)
    failed, res = run_module(pm2, name=APP, state="restarted")
    assert not failed, res
    assert res["changed"] is True and res["status"] == "online"
    assert res["restarts"] == before["restarts"] + 1
    assert res["pid"] != before["pid"]


def test_cluster_mode_acts_on_every_instance(pm2):
    failed, res = run_module(pm2, name=CLUSTERED, state="stopped")
    assert not failed, res
    assert res["instances"] == 2 and res["status"] == "stopped"
    assert [p["status"] for p in res["processes"]] == ["stopped", "stopped"]
    failed, res = run_module(pm2, name=CLUSTERED, state="started")
    assert not failed, res
    assert [p["status"] for p in res["processes"]] == ["online", "online"]


def test_missing_process_fails_and_lists_names(pm2):
    failed, res = run_module(pm2, name="yieldvault-api", state="stopped")
    assert failed
    assert res["msg"].startswith("No PM2 process named yieldvault-api (pm2 list")
    assert APP in res["msg"] and FAILING in res["msg"]
    assert res["msg"].endswith("Fix the service name in db_restore_services. Nothing was changed.")
    assert pm2.statuses(APP) == ["online"]


def test_no_daemon_is_started_for_an_empty_pm2_home(pm2, tmp_path):
    empty_home = tmp_path / "pm2-none"
    failed, res = run_module(pm2, name=APP, pm2_home=str(empty_home))
    assert failed and "has: nothing" in res["msg"]
    assert not (empty_home / "rpc.sock").exists()


def test_pm2_not_installed(pm2):
    failed, res = run_module(pm2, name=APP, pm2_bin="/nonexistent/bin/pm2")
    assert failed
    assert "PM2 is not installed" in res["msg"] and "npm install -g pm2" in res["msg"]


def test_failing_start_reports_status_restarts_and_log(pm2):
    started = time.monotonic()
    failed, res = run_module(pm2, name=FAILING, state="started", wait_timeout=30)
    try:
        assert failed, res
        assert time.monotonic() - started < 60
        assert res["changed"] is True
        assert "did not start" in res["msg"] and "restarts" in res["msg"]
        assert "BACKEND_FAIL_START" in res["msg"]
        assert res["err_log_tail"] and all(line.startswith("ERROR") for line in res["err_log_tail"])
    finally:
        pm2.run("stop", FAILING, check=False)
