"""The fixture backend (tests/fixtures/backend/server.js) against a real PostgreSQL 15 cluster.

It stands in for the YieldVault backend in the service tests and molecule
scenarios, so what those rely on is pinned here: the /health JSON and its 503
when the database is down, the read endpoints, the write endpoint and its
read-back, the connection it keeps open, exit codes and ERROR log lines.
"""

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest

import pg_cluster as pg_cluster_script
import yieldvault_fixture
from dbutil import REPO_ROOT, drop_database, free_port, skip_unless_strict

BACKEND_DIR = REPO_ROOT / "tests" / "fixtures" / "backend"
DB_NAME = "yv_backend_test"
APP_NAME = "yieldvault-backend"

# Loopback only, never through a proxy from the environment.
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(method, url, body=None, timeout=10):
    """(status, parsed JSON body or text); status None when the connection is refused."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with _http.open(req, timeout=timeout) as resp:
            status, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return None, None
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


@pytest.fixture(scope="session")
def node_apps():
    """Node.js with the backend's dependencies and PM2 installed (scripts/setup_apps.sh runs when needed)."""
    if not shutil.which("node"):
        skip_unless_strict("Node.js is not installed on this machine: the fixture backend needs node 18+")
    res = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "setup_apps.sh")], capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=600)
    assert res.returncode == 0, "scripts/setup_apps.sh failed:\n%s\n%s" % (res.stdout, res.stderr)
    return shutil.which("node")


def backend_env(conn_info, dbname, port, **extra):
    env = dict(os.environ)
    env.update({
        "HOST": "127.0.0.1", "PORT": str(port),
        "PGHOST": conn_info["host"], "PGPORT": str(conn_info["port"]), "PGUSER": conn_info["user"],
        "PGPASSWORD": pg_cluster_script.password(conn_info), "PGDATABASE": dbname,
    })
    env.update(extra)
    return env


def wait_http(url, want=lambda status: status is not None, timeout=20):
    deadline = time.monotonic() + timeout
    status, body = None, None
    while time.monotonic() < deadline:
        status, body = http("GET", url, timeout=3)
        if want(status):
            return status, body
        time.sleep(0.2)
    return status, body


def app_connections(conn_info, dbname):
    conn = pg_cluster_script.connect(conn_info, "postgres")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
                        (dbname, APP_NAME))
            return cur.fetchone()[0]
    finally:
        conn.close()


@pytest.fixture(scope="module")
def backend(node_apps, pg_cluster, tmp_path_factory):
    """A running backend on a free port against a fresh YieldVault database: {"url", "proc", "log_dir"}."""
    yieldvault_fixture.create(pg_cluster, DB_NAME, users=50, seed=3)
    port = free_port()
    log_dir = tmp_path_factory.mktemp("backend")
    out = open(log_dir / "out.log", "w")
    err = open(log_dir / "err.log", "w")
    proc = subprocess.Popen([node_apps, "server.js"], cwd=str(BACKEND_DIR), env=backend_env(pg_cluster, DB_NAME, port),
                            stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    url = "http://127.0.0.1:%d" % port
    status, _ = wait_http(url + "/health")
    assert status == 200, "backend did not come up: %s" % (log_dir / "err.log").read_text()
    yield {"url": url, "proc": proc, "log_dir": log_dir, "port": port}
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)
    out.close()
    err.close()
    drop_database(pg_cluster, DB_NAME)


def test_health_is_healthy_with_the_database(backend):
    status, body = http("GET", backend["url"] + "/health")
    assert status == 200
    assert body["status"] == "healthy"
    assert body["checks"] == {"api": "up", "database": "up"}
    assert body["timestamp"].endswith("Z")


def test_keeps_an_idle_connection_open(backend, pg_cluster):
    assert app_connections(pg_cluster, DB_NAME) >= 1


def test_read_endpoints(backend):
    status, body = http("GET", backend["url"] + "/api/v1/vault/state")
    assert status == 200 and body["count"] == len(body["items"]) > 0
    assert {"id", "name", "status", "totalAssets", "sharePrice"} <= set(body["items"][0])
    status, body = http("GET", backend["url"] + "/api/v1/transactions?limit=5")
    assert status == 200 and body["count"] == 5
    created = [item["createdAt"] for item in body["items"]]
    assert created == sorted(created, reverse=True)
    status, body = http("GET", backend["url"] + "/api/v1/users?limit=3")
    assert status == 200 and body["count"] == 3 and all(u["address"] for u in body["items"])
    status, body = http("GET", backend["url"] + "/api/v1/users?limit=abc")
    assert status == 400 and "limit" in body["error"]
    status, body = http("GET", backend["url"] + "/api/v1/nothing")
    assert status == 404


def test_write_and_read_back(backend, pg_cluster):
    status, body = http("POST", backend["url"] + "/api/v1/audit", {"action": "restore-smoke-test"})
    assert status == 201, body
    audit_id = body["id"]
    status, row = http("GET", "%s/api/v1/audit/%s" % (backend["url"], audit_id))
    assert status == 200
    assert row["id"] == audit_id and row["action"] == "restore-smoke-test"
    conn = pg_cluster_script.connect(pg_cluster, DB_NAME)
    try:
        with conn.cursor() as cur:
            cur.execute('SELECT "action" FROM "AdminAuditLog" WHERE "id" = %s', (audit_id,))
            assert cur.fetchone() == ("restore-smoke-test",)
    finally:
        conn.close()
    assert http("GET", backend["url"] + "/api/v1/audit/999999999")[0] == 404
    assert http("POST", backend["url"] + "/api/v1/audit", {"nope": 1})[0] == 400


def test_reconnects_after_its_connections_are_terminated(backend, pg_cluster):
    conn = pg_cluster_script.connect(pg_cluster, "postgres")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = %s AND application_name = %s", (DB_NAME, APP_NAME))
            assert cur.fetchone()[0] >= 1
    finally:
        conn.close()
    time.sleep(0.3)
    status, body = http("GET", backend["url"] + "/health")
    assert status == 200 and body["checks"]["database"] == "up"
    assert app_connections(pg_cluster, DB_NAME) >= 1


def test_database_down_gives_503_then_healthy_again(backend, pg_cluster):
    pg_cluster_script.stop_server(pg_cluster)
    try:
        status, body = wait_http(backend["url"] + "/health", want=lambda s: s == 503, timeout=10)
        assert status == 503
        assert body["status"] == "unhealthy"
        assert body["checks"] == {"api": "up", "database": "down"}
        status, body = http("GET", backend["url"] + "/api/v1/users?limit=1")
        assert status == 500 and body["error"]
    finally:
        pg_cluster_script.start_server(pg_cluster)
    status, body = wait_http(backend["url"] + "/health", want=lambda s: s == 200, timeout=15)
    assert status == 200 and body["status"] == "healthy"
    err_log = (backend["log_dir"] / "err.log").read_text()
    assert any(line.startswith("ERROR ") and "health check" in line for line in err_log.splitlines()), err_log
    out_log = (backend["log_dir"] / "out.log").read_text()
    assert "GET /health 503" in out_log


def test_sigterm_exits_zero(backend):
    proc = backend["proc"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert http("GET", backend["url"] + "/health")[0] is None


def test_fail_start_switch_exits_one_with_an_error_line(node_apps, pg_cluster):
    res = subprocess.run([node_apps, "server.js"], cwd=str(BACKEND_DIR), capture_output=True, text=True, timeout=30,
                         env=backend_env(pg_cluster, DB_NAME, free_port(), BACKEND_FAIL_START="1"))
    assert res.returncode == 1
    assert res.stderr.startswith("ERROR ") and "BACKEND_FAIL_START" in res.stderr


def test_starts_while_the_database_is_unreachable(node_apps, pg_cluster, tmp_path):
    """A backend started before its database comes up serves /health with 503, it does not exit."""
    port = free_port()
    info = dict(pg_cluster, port=free_port())
    proc = subprocess.Popen([node_apps, "server.js"], cwd=str(BACKEND_DIR), env=backend_env(info, DB_NAME, port),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        status, body = wait_http("http://127.0.0.1:%d/health" % port)
        assert status == 503 and body["checks"]["database"] == "down"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
