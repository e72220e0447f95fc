"""restore.yml with the application running: services stopped and started, connections ended, and the faults.

Issue 3, "Bad input and faults". The fixture backend runs under a private PM2
daemon (its own PM2_HOME, killed at the end; no other daemon on the machine is
touched) against a throwaway YieldVault database with one backup in a local
store. app_servers is the db host (localhost). Every run asserts what the
on-call engineer would check afterwards: the data, the report, the connection
limit, and whether the application is back.

Module-scoped: the cluster, the database's backup, the PM2 daemon and its
backend. Tests that restore first make the database drift from the backup, so
"restored" is proven by the data, and leave the backend online for the next.
"""

import datetime as dt
import os
import shutil
import subprocess
import tempfile
import threading
import time

import psycopg2
import pytest
from psycopg2 import sql

import make_backup
import pg_cluster as pg_cluster_script
import yieldvault_fixture
from dbutil import admin_query, REPO_ROOT, drop_database, exact_counts, free_port, skip_unless_strict, table_checksums
from test_backend import APP_NAME, BACKEND_DIR, backend_env, http, node_apps, wait_http  # noqa: F401
from test_pm2_process import Pm2

DB_NAME = "yv_services_test"
OWNER = "yieldvault_user"
OWNER_PASSWORD = "owner-pw-for-tests"
APP = "yv-svc-backend"
STOPPED = "yv-svc-stopped"
FLAKY = "yv-svc-flaky"
CONN_LIMIT = 50


def _connect(pg_cluster, user=None, password=None, dbname=DB_NAME, application_name="yv-test-client"):
    return psycopg2.connect(host=pg_cluster["host"], port=pg_cluster["port"], dbname=dbname,
                            user=user or pg_cluster["user"],
                            password=password if password is not None else pg_cluster_script.password(pg_cluster),
                            application_name=application_name, connect_timeout=3)




def conn_limit(pg_cluster):
    return admin_query(pg_cluster, "SELECT datconnlimit FROM pg_database WHERE datname = %s", (DB_NAME,))[0][0]


def set_conn_limit(pg_cluster, limit):
    admin_query(pg_cluster, sql.SQL("ALTER DATABASE {} CONNECTION LIMIT {}").format(
        sql.Identifier(DB_NAME), sql.Literal(limit)))


@pytest.fixture(scope="module")
def site(pg_cluster, tmp_path_factory):
    """The database and its one backup: {"store", "backup", "counts", "sums"}."""
    base = tmp_path_factory.mktemp("services")
    store = base / "store"
    yieldvault_fixture.create(pg_cluster, DB_NAME, users=200, seed=7, owner=OWNER)
    # The backend logs in as the application's owner role, not as a superuser:
    # the connection limit the run sets holds it off.
    admin_query(pg_cluster, sql.SQL("ALTER ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(OWNER)),
                 (OWNER_PASSWORD,))
    backup = make_backup.make_backup(pg_cluster, DB_NAME, "local",
                                     dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5), local_dir=str(store))
    yield {"store": store, "backup": backup, "counts": exact_counts(pg_cluster, DB_NAME),
           "sums": table_checksums(pg_cluster, DB_NAME)}
    drop_database(pg_cluster, DB_NAME)


@pytest.fixture(scope="module")
def pm2(node_apps, pg_cluster, site):  # noqa: F811  (node_apps is the fixture imported above)
    """A private PM2 daemon running the backend as APP, on daemon.url."""
    home = tempfile.mkdtemp(prefix="yv-test-svc-pm2-", dir="/tmp")
    daemon = Pm2(home)
    daemon.port = free_port()
    daemon.url = "http://127.0.0.1:%d" % daemon.port
    daemon.env = dict(daemon.env, **app_env(pg_cluster, daemon.port, PM2_HOME=home))
    try:
        daemon.run("start", "server.js", "--name", APP)
        assert_healthy(daemon.url, daemon)
        # A second copy that someone stopped before the restore: it must stay stopped.
        daemon.stopped_url = "http://127.0.0.1:%d" % free_port()
        daemon.run("start", "server.js", "--name", STOPPED, env={"PORT": daemon.stopped_url.rsplit(":", 1)[1]})
        daemon.run("stop", STOPPED)
        yield daemon
    finally:
        daemon.run("kill", check=False)
        shutil.rmtree(home, ignore_errors=True)


def app_env(pg_cluster, port, **extra):
    return backend_env(dict(pg_cluster, user=OWNER), DB_NAME, port, PGPASSWORD=OWNER_PASSWORD, **extra)


def assert_healthy(url, pm2=None, name=APP):
    status, body = wait_http(url + "/health", want=lambda s: s == 200, timeout=30)
    log = pm2.run("logs", name, "--nostream", "--lines", "30", check=False).stdout if pm2 else ""
    assert status == 200 and body["status"] == "healthy", "backend not healthy (%s %s)\n%s" % (status, body, log)


@pytest.fixture
def drift(pg_cluster, site):
    """Make the database differ from the backup (new rows since), so a restore shows in the data."""
    def make(seed=None):
        yieldvault_fixture.add_activity(pg_cluster, DB_NAME, users=5, seed=seed or int(time.time()) % 100000)
        assert exact_counts(pg_cluster, DB_NAME) != site["counts"]
    return make


@pytest.fixture
def inv(tmp_path, pg_cluster, site, pm2, db_inventory_vars):
    """inv(services=..., **db_restore_vars) -> inventory variables; the work dir is inv.work."""
    work = tmp_path / "work"

    def make(services=None, **extra):
        out = db_inventory_vars(
            pg_cluster, DB_NAME, str(work), "local", local_dir=str(site["store"]), owner=OWNER,
            db_restore_pm2_home=pm2.home,
            db_restore_services=services if services is not None else [pm2_service(pm2)],
            db_restore_service_stop_timeout=10, db_restore_service_start_timeout=30, db_restore_connection_rounds=4,
            # Every run here writes audit rows through the smoke test and drift() adds rows, all newer than the
            # one backup, so later restores "lose" more than the default 10 %: these tests are about services,
            # the count tolerance is tested in test_restore.py and test_verify.py.
            db_restore_count_tolerance_percent=100,
            # The module's backups are made once; a busy machine can take more than the default 15 minutes to
            # reach the last test, and these tests are not about the RPO.
            db_restore_rpo_minutes=240)
        out.update(extra)
        return out

    make.work = work
    return make


def pm2_service(pm2, name=APP, health_url=None):
    return {"name": name, "manager": "pm2", "health_url": health_url or pm2.url + "/health"}


def run_restore(run_playbook, inventory, **extra):
    return run_playbook("restore.yml", inventory, dict({"point": "latest", "confirm": DB_NAME}, **extra))


def service_entry(report, name):
    entries = [s for s in report["services"] if s["name"] == name]
    assert len(entries) == 1, report["services"]
    return entries[0]


def pm2_status(pm2, name=APP):
    return pm2.statuses(name)


# ---- 1. and 2. the happy path, and a service that was already stopped -------

def test_pm2_backend_is_stopped_connections_ended_and_started_healthy(pg_cluster, site, pm2, inv, drift,
                                                                       run_playbook):
    """The backend is stopped, its database restored, the backend started healthy and smoke-tested; a
    second service that was already stopped before the run stays stopped, and the report says so."""
    drift()
    set_conn_limit(pg_cluster, CONN_LIMIT)
    assert http("GET", pm2.url + "/api/v1/users?limit=1")[0] == 200  # the backend holds its idle connection
    idle = _connect(pg_cluster, application_name="yv-idle-session")
    with idle.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        idle_pid = cur.fetchone()[0]
    idle.commit()
    try:
        result = run_restore(run_playbook, inv(
            services=[pm2_service(pm2), pm2_service(pm2, STOPPED, pm2.stopped_url + "/health")],
            db_restore_smoke_urls=[pm2.url + "/api/v1/vault/state", pm2.url + "/api/v1/transactions?limit=5",
                                   pm2.url + "/api/v1/users?limit=3"],
            db_restore_smoke_write={"url": pm2.url + "/api/v1/audit", "body": {"action": "restore-smoke-test"},
                                    "read_url": pm2.url + "/api/v1/audit/{id}"}))
    finally:
        idle.close()
    result.assert_ok()
    report = result.report(str(inv.work))
    assert report["outcome"] == "succeeded"

    svc = service_entry(report, APP)
    assert svc["manager"] == "pm2" and svc["state_before"] == "online"
    assert svc["action"] == "stopped and started"
    assert svc["health"] == "healthy" and svc["state_after"] == "running"

    # The backend closes its own session when PM2 stops it; the report keeps
    # who was connected before the stop, and what the run had to terminate.
    connections = report["connections"]
    before = connections["connected_before_stop"]
    assert [c["user"] for c in before if c["application"] == APP_NAME][:1] == [OWNER], before
    assert idle_pid in {c["pid"] for c in before}, before
    terminated = report["connections_terminated"]
    assert [c["application"] for c in terminated if c["pid"] == idle_pid] == ["yv-idle-session"], terminated
    assert int(connections["limit_before"]) == CONN_LIMIT
    assert int(connections["rounds"]) >= 1 and connections["reconnected"] in (False, "False"), connections

    smoke = report["smoke"]
    assert len(smoke) == 4 and all(s["passed"] for s in smoke), smoke
    assert any(s["check"].startswith("write and read back") for s in smoke)

    assert conn_limit(pg_cluster) == CONN_LIMIT, "the connection limit was not given back"
    # the data is the backup's, plus the smoke test's one audit row
    counts = exact_counts(pg_cluster, DB_NAME)
    assert counts["public.AdminAuditLog"] == site["counts"]["public.AdminAuditLog"] + 1
    assert {t: n for t, n in counts.items() if t != "public.AdminAuditLog"} == \
        {t: n for t, n in site["counts"].items() if t != "public.AdminAuditLog"}

    assert pm2_status(pm2) == ["online"]
    assert_healthy(pm2.url, pm2)

    left = service_entry(report, STOPPED)
    assert left["state_before"] == "stopped" and left["action"] == "left stopped (was not running)"
    assert left["state_after"] == "stopped"
    assert pm2_status(pm2, STOPPED) == ["stopped"]
    assert http("GET", pm2.stopped_url + "/health")[0] is None
    assert "already stopped: it stays stopped" in result.stdout
    # no warning on a clean run with PM2 (it printed "The loop variable 'item' is already in use")
    assert result.warnings == [], result.warnings
    set_conn_limit(pg_cluster, -1)


# ---- 3. and 4. bad input: refused before anything changes -------------------

def assert_nothing_changed(pg_cluster, pm2, inv, sums, pid_before):
    assert table_checksums(pg_cluster, DB_NAME) == sums, "the database changed"
    assert not [p for p in inv.work.rglob("*") if p.name.endswith((".dump", ".dir.tar", ".part"))], \
        "something was downloaded or dumped (a safety backup?)"
    assert pm2_status(pm2) == ["online"] and pm2_pid(pm2) == pid_before, "the backend was stopped or restarted"
    assert conn_limit(pg_cluster) == -1


def pm2_pid(pm2, name=APP):
    out = pm2.run("pid", name).stdout.split()
    return out[-1] if out else None


def test_service_that_does_not_exist_is_refused_before_anything_changes(pg_cluster, pm2, inv, run_playbook):
    sums, pid = table_checksums(pg_cluster, DB_NAME), pm2_pid(pm2)
    result = run_restore(run_playbook, inv(services=[pm2_service(pm2), pm2_service(pm2, "yv-no-such-backend")]))
    result.assert_failed("pm2 service yv-no-such-backend was not found on localhost")
    assert "Nothing was changed" in result.output
    assert_nothing_changed(pg_cluster, pm2, inv, sums, pid)


def test_unknown_manager_is_refused_before_anything_changes(pg_cluster, pm2, inv, run_playbook):
    sums, pid = table_checksums(pg_cluster, DB_NAME), pm2_pid(pm2)
    result = run_restore(run_playbook, inv(services=[pm2_service(pm2), {
        "name": "yieldvault-api", "manager": "upstart", "health_url": "http://127.0.0.1:1/health"}]))
    result.assert_failed("db_restore_services has entries this run cannot manage: yieldvault-api")
    assert "a manager of systemd, docker or pm2" in result.output and "Nothing was changed" in result.output
    assert_nothing_changed(pg_cluster, pm2, inv, sums, pid)


# ---- 5. health URLs that lie ------------------------------------------------

def test_health_url_that_never_answers_fails_after_the_restore_with_the_last_answer(
        pg_cluster, site, pm2, inv, drift, run_playbook):
    """Method swap (the default): the previous database is swapped back, and the run still fails."""
    drift()
    sums = table_checksums(pg_cluster, DB_NAME)
    dead = "http://127.0.0.1:%d/health" % free_port()
    result = run_restore(run_playbook, inv(services=[pm2_service(pm2, health_url=dead)],
                                           db_restore_service_start_timeout=6))
    result.assert_failed("did not report healthy within 6 s. Last answer from %s: HTTP -1" % dead)
    assert table_checksums(pg_cluster, DB_NAME) == sums, "the previous database was not swapped back"
    report = result.report(str(inv.work))
    assert report["outcome"] == "rolled_back" and report["failed_phase"] == "start_services"
    assert report["rollback"]["method"] == "swap" and report["rollback"]["succeeded"] is True
    svc = service_entry(report, APP)
    assert svc["action"] == "stopped and started" and svc["state_after"] == "running, NOT healthy"
    assert svc["health"].startswith("HTTP -1")
    assert APP in report["error"]
    assert conn_limit(pg_cluster) == -1
    assert pm2_status(pm2) == ["online"]  # the process itself came back
    assert_healthy(pm2.url, pm2)


@pytest.fixture
def impostor(node_apps, pg_cluster):  # noqa: F811
    """A second backend, not managed by PM2, answering healthy on its own port."""
    port = free_port()
    proc = subprocess.Popen([node_apps, "server.js"], cwd=str(BACKEND_DIR), env=app_env(pg_cluster, port),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    url = "http://127.0.0.1:%d" % port
    try:
        assert_healthy(url)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_health_still_answering_after_the_stop_is_refused_before_the_drop(pg_cluster, pm2, inv, impostor,
                                                                          run_playbook):
    sums = table_checksums(pg_cluster, DB_NAME)
    result = run_restore(run_playbook, inv(services=[pm2_service(pm2, health_url=impostor + "/health")],
                                           db_restore_service_stop_timeout=4))
    result.assert_failed("was stopped but %s/health still answers 200" % impostor)
    assert "The database was not touched" in result.output
    assert table_checksums(pg_cluster, DB_NAME) == sums
    assert not list(inv.work.rglob("safety/*_safety_*")), "a safety backup was taken"
    report = result.report(str(inv.work))
    assert report["outcome"] == "failed" and report["failed_phase"] == "stop_services"
    assert service_entry(report, APP)["action"] == "stopped and started"
    assert pm2_status(pm2) == ["online"]
    assert_healthy(pm2.url, pm2)


# ---- 6. a service that will not start after the restore --------------------

@pytest.fixture
def flaky(pm2, pg_cluster, tmp_path):
    """FLAKY under PM2: the backend behind a wrapper that refuses to start while a flag file exists."""
    flag = tmp_path / "refuse-to-start"
    wrapper = tmp_path / "flaky-backend.sh"
    wrapper.write_text(
        "#!/bin/bash\n"
        "if [ -e %s ]; then echo \"ERROR $(date -u +%%FT%%TZ) startup: flag file %s exists, refusing to start\" >&2;"
        " exit 1; fi\n"
        "cd %s && exec node server.js\n" % (flag, flag.name, BACKEND_DIR))
    wrapper.chmod(0o755)
    url = "http://127.0.0.1:%d" % free_port()
    pm2.run("start", str(wrapper), "--name", FLAKY, "--interpreter", "bash", env={"PORT": url.rsplit(":", 1)[1]})
    try:
        assert_healthy(url, pm2, FLAKY)
        yield {"flag": flag, "url": url}
    finally:
        pm2.run("delete", FLAKY, check=False)


def test_service_that_fails_to_start_after_the_restore_shows_its_error_log(pg_cluster, site, pm2, inv, flaky,
                                                                          drift, run_playbook):
    drift()
    sums = table_checksums(pg_cluster, DB_NAME)
    flaky["flag"].touch()  # the running process is not affected; its next start is
    result = run_restore(run_playbook, inv(services=[pm2_service(pm2, FLAKY, flaky["url"] + "/health")],
                                           db_restore_service_start_timeout=8))
    result.assert_failed("refusing to start")
    assert "flag file refuse-to-start exists" in result.output
    assert table_checksums(pg_cluster, DB_NAME) == sums, "the previous database was not swapped back"
    report = result.report(str(inv.work))
    assert report is not None, "no report was written\n" + result.describe()
    assert report["outcome"] == "rolled_back" and report["failed_phase"] == "start_services"
    assert FLAKY in report["error"] and "refusing to start" in report["error"]
    svc = service_entry(report, FLAKY)
    assert svc["action"] == "stopped; start FAILED" and svc["state_after"] == "failed to start", svc
    # tried once: the always section does not start it again
    assert result.stdout.count("TASK [yieldvault.db_restore.start_services : Start it with its service manager, %s]" % FLAKY) == 1
    assert conn_limit(pg_cluster) == -1
    assert not list((inv.work / "locks").iterdir()), "the lock was not released"
    assert pm2_status(pm2, FLAKY) != ["online"]


# ---- 7. applications that keep reconnecting ---------------------------------

class Reconnector(threading.Thread):
    """A client that checks its session every 0.2 s and reconnects at once when it is gone."""

    def __init__(self, pg_cluster, user=None, password=None, name="yv-reconnector"):
        super().__init__(daemon=True)
        self.args = dict(user=user, password=password, application_name=name)
        self.pg_cluster = pg_cluster
        self.stopping = threading.Event()
        self.connected_at = []   # monotonic times of successful connects
        self.errors = []

    def run(self):
        conn = None
        while not self.stopping.is_set():
            try:
                if conn is None:
                    conn = _connect(self.pg_cluster, **self.args)
                    conn.autocommit = True
                    self.connected_at.append(time.time())
                with conn.cursor() as cur:
                    cur.execute("SELECT 1")
            except psycopg2.Error as exc:
                self.errors.append(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
                if conn is not None:
                    conn.close()
                conn = None
            self.stopping.wait(0.2)
        if conn is not None:
            conn.close()

    def __enter__(self):
        self.start()
        deadline = time.monotonic() + 10
        while not self.connected_at and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.connected_at, "the reconnecting client could not connect: %s" % self.errors[-3:]
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.join(timeout=10)


def _epoch(iso):
    return dt.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc).timestamp()


def test_application_role_that_keeps_reconnecting_is_held_off(pg_cluster, site, pm2, inv, drift, run_playbook):
    drift()
    with Reconnector(pg_cluster, user=OWNER, password=OWNER_PASSWORD) as client:
        result = run_restore(run_playbook, inv())
    result.assert_ok()
    assert exact_counts(pg_cluster, DB_NAME) == site["counts"]
    report = result.report(str(inv.work))
    assert report["outcome"] == "succeeded"
    ours = [c for c in report["connections_terminated"] if c["application"] == "yv-reconnector"]
    assert ours and ours[0]["user"] == OWNER, report["connections_terminated"]
    assert int(report["connections"]["rounds"]) >= 2 and report["connections"]["superuser_sessions"] == []
    assert any("too many connections" in e for e in client.errors), client.errors
    # Held off from the first termination until the services start again.
    phases = {p["name"]: p for p in report["phases"]}
    held_from = _epoch(phases["stop_services"]["ended"])
    held_until = _epoch(phases["start_services"]["started"])
    sneaked_in = [t for t in client.connected_at if held_from + 1 < t < held_until - 1]
    assert len(client.connected_at) >= 2, "it never got back in after the restore"
    assert conn_limit(pg_cluster) == -1
    # Held off from the first termination until the services start again:
    # the new database is created (in_place) or swapped in with CONNECTION LIMIT 0.
    assert not sneaked_in, (sneaked_in, held_from, held_until)


def test_superuser_that_keeps_reconnecting_fails_the_run_before_the_drop(pg_cluster, pm2, inv, run_playbook):
    set_conn_limit(pg_cluster, CONN_LIMIT)
    sums = table_checksums(pg_cluster, DB_NAME)
    with Reconnector(pg_cluster, name="yv-superuser-reconnector"):
        result = run_restore(run_playbook, inv(db_restore_connection_rounds=2))
    result.assert_failed("Sessions keep reconnecting to %s after 2 rounds" % DB_NAME)
    assert "Nothing was dropped" in result.output
    assert table_checksums(pg_cluster, DB_NAME) == sums
    assert not list(inv.work.rglob("safety/*_safety_*")), "a safety backup was taken"
    assert conn_limit(pg_cluster) == CONN_LIMIT, "the connection limit was not given back"
    report = result.report(str(inv.work))
    assert report["outcome"] == "failed" and report["failed_phase"] == "stop_services"
    assert report["connections"]["superuser_sessions"] == [pg_cluster["user"]]
    assert service_entry(report, APP)["action"] == "stopped and started"
    assert pm2_status(pm2) == ["online"]
    assert_healthy(pm2.url, pm2)
    set_conn_limit(pg_cluster, -1)


# ---- 8. the Docker manager --------------------------------------------------

def base_image():
    """The newest locally built yieldvault-db-restore/base image (scripts/build_images.sh makes one)."""
    def newest():
        res = subprocess.run(["docker", "images", "yieldvault-db-restore/base", "--format",
                              "{{.Repository}}:{{.Tag}}"], capture_output=True, text=True, timeout=60)
        return res.stdout.split()[0] if res.returncode == 0 and res.stdout.split() else None
    image = newest()
    if image is None:
        res = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "build_images.sh")], capture_output=True,
                             text=True, timeout=1800, stdin=subprocess.DEVNULL)
        assert res.returncode == 0, "scripts/build_images.sh failed:\n%s" % res.stderr[-3000:]
        image = newest()
    return image


@pytest.fixture
def container(pg_cluster, tmp_path):
    """The backend in its own container (--network host), named container["name"], on container["url"]."""
    if shutil.which("docker") is None or subprocess.run(["docker", "info"], capture_output=True,
                                                        timeout=60).returncode != 0:
        skip_unless_strict("no Docker daemon on this machine (scripts/setup_docker.sh starts one)")
    image = base_image()
    name = "yv-test-svc-backend-%s" % os.urandom(3).hex()
    port = free_port()
    env = app_env(pg_cluster, port)
    env_file = tmp_path / "backend.env"  # the password stays off the docker command line
    env_file.write_text("".join("%s=%s\n" % (k, env[k]) for k in (
        "HOST", "PORT", "PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE")))
    env_file.chmod(0o600)
    res = subprocess.run(["docker", "run", "-d", "--name", name, "--network", "host", "--env-file", str(env_file),
                          "-v", "%s:/opt/yieldvault-backend:ro" % BACKEND_DIR, image,
                          "/usr/bin/node", "/opt/yieldvault-backend/server.js"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    url = "http://127.0.0.1:%d" % port
    try:
        status, _ = wait_http(url + "/health", want=lambda s: s == 200, timeout=30)
        assert status == 200, subprocess.run(["docker", "logs", name], capture_output=True, text=True).stderr
        yield {"name": name, "url": url}
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=120)


def docker_state(name, field):
    return subprocess.run(["docker", "inspect", "-f", "{{.State.%s}}" % field, name], capture_output=True,
                          text=True, timeout=60).stdout.strip()


def test_docker_container_is_stopped_and_started(pg_cluster, site, inv, container, drift, run_playbook):
    drift()
    started_before = docker_state(container["name"], "StartedAt")
    result = run_restore(run_playbook, inv(
        services=[{"name": container["name"], "manager": "docker", "health_url": container["url"] + "/health"}],
        db_restore_smoke_urls=[container["url"] + "/api/v1/vault/state"]))
    result.assert_ok()
    assert exact_counts(pg_cluster, DB_NAME) == site["counts"]
    report = result.report(str(inv.work))
    svc = service_entry(report, container["name"])
    assert svc["manager"] == "docker" and svc["state_before"] == "running"
    assert svc["action"] == "stopped and started" and svc["health"] == "healthy"
    assert docker_state(container["name"], "Running") == "true"
    assert docker_state(container["name"], "StartedAt") != started_before, "the container was not restarted"
    assert_healthy(container["url"])
