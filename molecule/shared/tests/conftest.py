"""Shared by every scenario's verify: what the scenario is, and the service's
log printed under any failed assertion, so a red run says why."""
import json
import os
import subprocess

import pytest

SCENARIOS = {
    # scenario: (db host container, command printing the backend's log)
    "systemd": ("yv-molecule-systemd",
                ["docker", "exec", "yv-molecule-systemd", "journalctl", "-u", "yieldvault-backend", "-n", "80", "--no-pager"]),
    "pm2": ("yv-molecule-pm2",
            ["docker", "exec", "yv-molecule-pm2", "pm2", "logs", "yieldvault-backend", "--nostream", "--lines", "80"]),
    "docker": ("yv-molecule-docker-db", ["docker", "logs", "--tail", "80", "yv-molecule-backend"]),
}


@pytest.fixture(scope="session")
def scenario():
    name = os.environ["MOLECULE_SCENARIO_NAME"]
    container, log_cmd = SCENARIOS[name]
    return {
        "name": name,
        "container": container,
        "log_cmd": log_cmd,
        "pg_port": int(os.environ["MOLECULE_PG_PORT"]),
        "pg_password": os.environ["MOLECULE_PG_PASSWORD"],
        "app_port": int(os.environ["MOLECULE_APP_PORT"]),
        "expected": json.loads(open(os.path.join(os.environ["MOLECULE_STORE_DIR"], "expected_counts.json")).read())["counts"],
    }


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        name = os.environ.get("MOLECULE_SCENARIO_NAME", "")
        if name in SCENARIOS:
            res = subprocess.run(SCENARIOS[name][1], capture_output=True, text=True, timeout=60)
            report.sections.append(("backend log (%s)" % name, res.stdout + res.stderr))
