"""What an on-call engineer checks after the restore: the data is the
backup's, the application runs and is healthy, and the report says what was
stopped, started and cut off."""
import json
import subprocess
import urllib.request

import psycopg2
from psycopg2 import sql

testinfra_hosts = ["ansible://db_servers"]


def _counts(scenario):
    conn = psycopg2.connect(host="127.0.0.1", port=scenario["pg_port"], user="postgres",
                            password=scenario["pg_password"], dbname="yieldvault_molecule")
    try:
        with conn.cursor() as cur:
            out = {}
            for name in scenario["expected"]:
                schema, table = name.split(".", 1)
                cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table)))
                out[name] = cur.fetchone()[0]
            return out
    finally:
        conn.close()


def _report(host):
    latest = host.check_output(
        "ls -1d /var/backups/postgresql/reports/restore-* | grep -v -- -rollback | sort | tail -1")
    return json.loads(host.file(latest + "/report.json").content_string)


def test_data_is_the_backups(scenario):
    expected = dict(scenario["expected"])
    assert len(expected) >= 6, "prepare recorded too few tables: %s" % expected
    # The smoke test's write check adds one audit row through the backend
    # after the restore; every other table holds exactly the backup's rows.
    expected["public.AdminAuditLog"] += 1
    assert _counts(scenario) == expected


def test_backend_runs_and_is_healthy(scenario, host):
    with urllib.request.urlopen("http://127.0.0.1:%d/health" % scenario["app_port"], timeout=10) as resp:
        body = json.loads(resp.read())
    assert resp.status == 200
    assert body["status"] == "healthy"
    assert set(body["checks"].values()) == {"up"}
    if scenario["name"] == "systemd":
        assert host.service("yieldvault-backend").is_running
    elif scenario["name"] == "pm2":
        procs = json.loads(host.check_output("pm2 jlist"))
        assert [p["pm2_env"]["status"] for p in procs if p["name"] == "yieldvault-backend"] == ["online"]
    else:
        state = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", "yv-molecule-backend"],
                               capture_output=True, text=True, check=True).stdout.strip()
        assert state == "true"


def test_report_lists_the_stop_and_start(scenario, host):
    report = _report(host)
    assert report["outcome"] == "succeeded", report.get("error")
    services = report["services"]
    assert [(s["name"], s["manager"], s["action"]) for s in services] == [
        ("yv-molecule-backend" if scenario["name"] == "docker" else "yieldvault-backend",
         scenario["name"], "stopped and started")]
    assert services[0]["healthy"] is True
    phases = [p["name"] for p in report["phases"]]
    # The default swap method: restored and verified in the staging database
    # while the backend still ran, then stopped, swapped in and started.
    assert (phases.index("restore_database") < phases.index("verify_restore") < phases.index("stop_services")
            < phases.index("swap_database") < phases.index("start_services")), phases


def test_report_lists_the_session_that_was_ended(host):
    report = _report(host)
    ended = report["connections_terminated"]
    assert any(c["application"] == "forgotten-psql" and c["user"] == "yieldvault_user" for c in ended), ended


def test_smoke_write_went_through(host):
    report = _report(host)
    smoke = {r["check"]: r for r in report.get("smoke", [])}
    writes = [r for name, r in smoke.items() if name.startswith("write and read back")]
    assert writes and all(r["passed"] for r in writes), smoke


def test_connection_limit_is_back(scenario):
    conn = psycopg2.connect(host="127.0.0.1", port=scenario["pg_port"], user="postgres",
                            password=scenario["pg_password"], dbname="postgres")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT datconnlimit FROM pg_database WHERE datname = 'yieldvault_molecule'")
            assert cur.fetchone()[0] == -1
    finally:
        conn.close()
