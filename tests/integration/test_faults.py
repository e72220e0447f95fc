"""The fault-injection suite (issue 5): one test per fault, each asserting the invariant.

Whatever the fault and whatever the method, afterwards:

* production equals either the chosen backup or its state before the run,
  by exact per-table counts AND a checksum of every row of every table;
* the application is in the state it should be: the fixture backend runs
  under a private PM2 daemon, and is either untouched (same pid: the fault
  came before the downtime) or restarted and healthy (the fault came during
  the downtime, or the run succeeded);
* the lock is released, or reported (holder, age, stale) when it was not ours;
* report.json says what happened: outcome, failed_phase, error.

Shared, module-scoped: the cluster (session), one YieldVault database with two
backups in a local store (and the newer one in S3 behind a proxy that can
break downloads), a template holding production's pre-restore state that
every test copies back, the PM2 daemon with the backend, and a PostgreSQL bin
directory whose pg_restore is a gated wrapper: it feeds the real pg_restore
the first part of the archive on stdin and then waits for the test to open
the gate (each test starts with it open; the ones that need a restore stopped
mid-way close it), so "mid-way through pg_restore" is a state the test can wait for
instead of a race. The wrapper only gates restores of the downloaded backup
(work/restore/...) while the gate is closed; every other call (pg_restore -l,
a rollback from the safety backup) runs the real pg_restore untouched. Fed on
stdin, pg_restore cannot use --jobs, so the wrapper drops it.
"""

import datetime as dt
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql

import make_backup
import pg_cluster as pg_cluster_script
import yieldvault_fixture
from dbutil import (admin_query, PG_BIN_DIR, exact_counts, free_port, small_tmpfs, table_checksums,
                    wrapped_bin_dir)
from test_backend import backend_env, node_apps, wait_http  # noqa: F401  (node_apps is a fixture)
from test_pm2_process import Pm2

DB = "yv_faults"
PRE_TEMPLATE = "yv_faults_pre"
STAGING = DB + "__restore"
OWNER = "yieldvault_user"
OWNER_PASSWORD = "faults-owner-pw"
APP = "yv-faults-backend"
UTC = dt.timezone.utc
REAL_PG_RESTORE = str(Path(PG_BIN_DIR) / "pg_restore")


def minutes_ago(n):
    return dt.datetime.now(UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=n)




def databases_like(pg_cluster, prefix):
    return [r[0] for r in admin_query(pg_cluster, "SELECT datname FROM pg_database WHERE starts_with(datname, %s) "
                                            "ORDER BY 1", (prefix,))]


def drop_db(pg_cluster, name):
    admin_query(pg_cluster, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def state(pg_cluster, dbname=DB):
    return {"counts": exact_counts(pg_cluster, dbname), "sums": table_checksums(pg_cluster, dbname)}


# ---- the gated pg_restore ---------------------------------------------------

GATE_WRAPPER = r'''#!__PYTHON__
# Fault-injection stand-in for pg_restore (tests/integration/test_faults.py).
import json, os, subprocess, sys, time
REAL = __REAL__
GATE = __GATE__
args = sys.argv[1:]
target = None
for i, a in enumerate(args):
    if a.startswith("--dbname="):
        target = a.split("=", 1)[1]
    elif a in ("-d", "--dbname") and i + 1 < len(args):
        target = args[i + 1]
archive = args[-1] if args and not args[-1].startswith("-") else None
if (target is None or archive is None or "/restore/" not in archive
        or os.path.exists(os.path.join(GATE, "open"))):
    os.execv(REAL, [REAL] + args)
rest, skip = [], False
for a in args[:-1]:
    if skip:
        skip = False
        continue
    if a.startswith("--jobs=") or (a.startswith("-j") and len(a) > 2):
        continue
    if a in ("-j", "--jobs"):
        skip = True
        continue
    rest.append(a)
with open(archive, "rb") as handle:
    data = handle.read()
proc = subprocess.Popen([REAL] + rest, stdin=subprocess.PIPE)
head = int(len(data) * 0.6)
try:
    proc.stdin.write(data[:head])
    proc.stdin.flush()
except BrokenPipeError:
    pass
with open(os.path.join(GATE, "midway.json"), "w") as handle:
    json.dump({"pid": proc.pid, "wrapper": os.getpid(), "target": target}, handle)
deadline = time.monotonic() + 300
while proc.poll() is None and not os.path.exists(os.path.join(GATE, "open")) and time.monotonic() < deadline:
    time.sleep(0.1)
try:
    if proc.poll() is None:
        proc.stdin.write(data[head:])
    proc.stdin.close()
except (BrokenPipeError, OSError):
    pass
rc = proc.wait()
sys.exit(128 - rc if rc < 0 else rc)
'''


class Gate:
    """The gated pg_restore's bin directory and its gate: closed (restores stop mid-way) or open."""

    def __init__(self, base):
        self.dir = Path(base)
        self.bin = self.dir / "bin"
        self.gate = self.dir / "gate"
        self.gate.mkdir(parents=True)
        wrapped_bin_dir(self.bin, "pg_restore", GATE_WRAPPER.replace("__PYTHON__", sys.executable).replace(
            "__REAL__", repr(REAL_PG_RESTORE)).replace("__GATE__", repr(str(self.gate))))

    def close(self):
        for f in self.gate.iterdir():
            f.unlink()

    def open(self):
        (self.gate / "open").touch()

    def midway(self):
        path = self.gate / "midway.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None


def pg_restore_processes(target, port):
    """[pid] of the real pg_restore processes restoring into target on the cluster at port, found by scanning
    /proc. The port counts: under pytest-xdist another worker restores a database of the same name into its own
    cluster."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            exe = os.readlink("/proc/%s/exe" % entry)
            with open("/proc/%s/cmdline" % entry, "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        if os.path.basename(exe) != "pg_restore":
            continue
        try:
            with open("/proc/%s/environ" % entry, "rb") as handle:
                environ = handle.read().split(b"\0")
        except OSError:
            continue
        if ("PGPORT=%s" % port).encode() not in environ:
            continue
        # The run names the database in a connection string of its own (module_utils/conninfo.py).
        if make_backup.dbname_option(target).encode() in argv or ("--dbname=%s" % target).encode() in argv:
            found.append(int(entry))
    return found


def wait_midway(pg_cluster, gate, target, timeout=240, result_box=None, until=None):
    """Block until the real pg_restore into target is running with part of the data restored; its pid.
    None when until() turns true first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result_box is not None and result_box.get("result") is not None:
            pytest.fail("the run ended before pg_restore started:\n" + result_box["result"].describe())
        if until is not None and until():
            return None
        info = gate.midway()
        pids = pg_restore_processes(target, pg_cluster["port"]) if info else []
        if pids:
            try:
                tables = admin_query(pg_cluster, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = "
                                           "c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'",
                               dbname=target)[0][0]
            except Exception:  # noqa: BLE001  (the database may not accept connections yet)
                tables = 0
            if tables:
                return pids[0]
        time.sleep(0.05)
    pytest.fail("pg_restore into %s never got mid-way within %d s" % (target, timeout))


def start_restore_held_midway(run_playbook, prod, pg_cluster, gate, inv=None):
    """restore.yml of the latest backup in the background, held by the gate once pg_restore is half-way into the
    staging database; the Background run. The caller opens the gate (in a finally); here only on failure."""
    gate.close()
    run = Background(run_playbook, "restore.yml", inv or prod.inv(), {"point": "latest", "confirm": DB})
    run.start()
    try:
        wait_midway(pg_cluster, gate, STAGING, result_box=run.box)
    except BaseException:
        gate.open()
        raise
    return run


class Background(threading.Thread):
    """run_playbook in a thread; .box["result"] is its PlaybookResult once it ended."""

    def __init__(self, run_playbook, *args, **kwargs):
        super().__init__(daemon=True)
        self.box = {"result": None}
        self.call = (run_playbook, args, kwargs)

    def run(self):
        fn, args, kwargs = self.call
        self.box["result"] = fn(*args, **kwargs)

    def result(self, timeout=600):
        self.join(timeout)
        assert not self.is_alive(), "the playbook did not end"
        return self.box["result"]


def playbook_pgid(marker):
    """Process groups of the ansible-playbook processes whose command line holds marker (this test's tmp
    directory: other suites on the machine run restore.yml too); run_playbook gives each its own session."""
    groups = set()
    me = os.getpgid(0)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as handle:
                argv = handle.read().split(b"\0")
            if len(argv) > 1 and argv[1].endswith(b"ansible-playbook") and \
                    any(marker.encode() in a for a in argv):
                with open("/proc/%s/stat" % entry) as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
                pgid = os.getpgid(int(entry))
                # The ansible-playbook that run_playbook started, not its workers (they have sessions of
                # their own): a terminal's Ctrl-C reaches the foreground group, the one run_playbook made.
                if pgid != me and ppid == os.getpid():
                    groups.add(pgid)
        except (OSError, IndexError):
            continue
    return groups


# ---- module fixtures --------------------------------------------------------

@pytest.fixture(scope="module")
def site(pg_cluster, tmp_path_factory):
    """Production with two backups (40 and 8 minutes old) and then an incident; its pre-restore state is kept
    as a template. {"store", "older", "newer", "pre"}: the backups with their states, and the state before."""
    base = tmp_path_factory.mktemp("faults")
    store = base / "store"
    yieldvault_fixture.create(pg_cluster, DB, users=1000, seed=21, owner=OWNER)
    admin_query(pg_cluster, sql.SQL("ALTER ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(OWNER)), (OWNER_PASSWORD,))
    older = make_backup.make_backup(pg_cluster, DB, "local", minutes_ago(40), local_dir=str(store))
    older_state = state(pg_cluster)
    yieldvault_fixture.add_activity(pg_cluster, DB, users=60, seed=22)
    newer = make_backup.make_backup(pg_cluster, DB, "local", minutes_ago(8), local_dir=str(store))
    newer_state = state(pg_cluster)
    yieldvault_fixture.add_activity(pg_cluster, DB, users=5, seed=23)
    yieldvault_fixture.incident(pg_cluster, DB)
    drop_db(pg_cluster, PRE_TEMPLATE)
    admin_query(pg_cluster, sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
        sql.Identifier(PRE_TEMPLATE), sql.Identifier(DB), sql.Identifier(OWNER)))
    pre = state(pg_cluster)
    assert pre["sums"] != newer_state["sums"] and newer_state["sums"] != older_state["sums"]
    yield {"store": store, "older": dict(older, **older_state), "newer": dict(newer, **newer_state), "pre": pre}
    for name in databases_like(pg_cluster, DB):
        drop_db(pg_cluster, name)


@pytest.fixture(scope="module")
def gate(tmp_path_factory):
    path = Path(tempfile.mkdtemp(prefix="yv-test-gate-", dir="/tmp"))
    os.chmod(path, 0o755)
    yield Gate(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def pm2(node_apps, pg_cluster, site):  # noqa: F811
    """A private PM2 daemon running the backend against production as the owner role."""
    home = tempfile.mkdtemp(prefix="yv-test-faults-pm2-", dir="/tmp")
    daemon = Pm2(home)
    port = free_port()
    daemon.url = "http://127.0.0.1:%d" % port
    daemon.env = dict(daemon.env, **backend_env(dict(pg_cluster, user=OWNER), DB, port, PGPASSWORD=OWNER_PASSWORD,
                                                PM2_HOME=home))
    try:
        daemon.run("start", "server.js", "--name", APP)
        yield daemon
    finally:
        daemon.run("kill", check=False)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def s3_site(s3_server, site):
    """The newer backup in a moto bucket (md5 in the object's metadata): {"bucket", "key"}."""
    client = make_backup.s3_client(s3_server)
    bucket = "faults-%s" % os.urandom(3).hex()
    client.create_bucket(Bucket=bucket)
    for b in (site["older"], site["newer"]):
        with open(site["store"] / b["name"], "rb") as body:
            client.put_object(Bucket=bucket, Key="database/" + b["name"], Body=body, Metadata={"md5": b["md5"]})
    return {"bucket": bucket, "key": "database/" + site["newer"]["name"]}


# ---- per test: production back to its pre-restore state ----------------------

def pm2_pid(pm2):
    out = pm2.run("pid", APP).stdout.split()
    return out[-1] if out else None


def assert_healthy(pm2, timeout=40):
    status, body = wait_http(pm2.url + "/health", want=lambda s: s == 200, timeout=timeout)
    log = "" if status == 200 else pm2.run("logs", APP, "--nostream", "--lines", "30", check=False).stdout
    assert status == 200 and body["status"] == "healthy", "backend not healthy (%s %s)\n%s" % (status, body, log)


@pytest.fixture
def prod(pg_cluster, site, gate, pm2, tmp_path, db_inventory_vars):
    """Production reset to its pre-restore state, a private copy of the store, the gate closed, the backend
    healthy. prod.inv(**db_restore_vars) -> inventory; prod.work, prod.store, prod.pid_before."""
    for name in databases_like(pg_cluster, DB + "__"):
        drop_db(pg_cluster, name)
    drop_db(pg_cluster, DB)
    # The server lock and its journal belong to the database: a fresh production has neither.
    if admin_query(pg_cluster, "SELECT to_regclass('yieldvault_db_restore.runs') IS NOT NULL")[0][0]:
        admin_query(pg_cluster, "DELETE FROM yieldvault_db_restore.runs WHERE database = %s", (DB,))
    admin_query(pg_cluster, sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
        sql.Identifier(DB), sql.Identifier(PRE_TEMPLATE), sql.Identifier(OWNER)))
    # Open unless a test closes it: a run that is not meant to stop mid-way must never wait on the gate.
    gate.close()
    gate.open()
    store = tmp_path / "store"
    shutil.copytree(site["store"], store)
    if pm2.statuses(APP) != ["online"]:
        pm2.run("restart", APP)
    assert_healthy(pm2)

    class Prod:
        pass

    p = Prod()
    p.work = tmp_path / "work"
    p.store = store
    p.pid_before = pm2_pid(pm2)

    def inv(store_kind="local", s3=None, bucket="yieldvault-backups", **extra):
        out = db_inventory_vars(
            pg_cluster, DB, str(p.work), store_kind, s3=s3, bucket=bucket, local_dir=str(store), owner=OWNER,
            db_restore_pg_bin_dir=str(gate.bin), db_restore_jobs=2,
            db_restore_pm2_home=pm2.home,
            db_restore_services=[{"name": APP, "manager": "pm2", "health_url": pm2.url + "/health"}],
            db_restore_service_stop_timeout=10, db_restore_service_start_timeout=30,
            # The module's backups age while the suite runs; the RPO is not what these tests exercise.
            db_restore_rpo_minutes=240)
        out.update(extra)
        return out

    p.inv = inv
    yield p
    gate.open()  # a run left behind must never wait on it


def restore(run_playbook, inventory, **extra):
    return run_playbook("restore.yml", inventory, dict({"point": "latest", "confirm": DB}, **extra))


# ---- the invariant, piece by piece -----------------------------------------

def assert_production_is(pg_cluster, expected, what):
    now = state(pg_cluster)
    assert now["counts"] == expected["counts"], "production's row counts are not %s" % what
    assert now["sums"] == expected["sums"], "production's rows are not %s (counts match, checksums differ)" % what


def assert_backend_untouched(pm2, prod):
    assert pm2.statuses(APP) == ["online"]
    assert pm2_pid(pm2) == prod.pid_before, "the backend was restarted although the fault came before the downtime"
    assert_healthy(pm2)


def assert_backend_restarted(pm2, prod, report):
    assert pm2.statuses(APP) == ["online"]
    assert pm2_pid(pm2) != prod.pid_before, "the backend was not restarted"
    assert_healthy(pm2)
    entry = [s for s in report["services"] if s["name"] == APP]
    assert entry and entry[0]["action"] == "stopped and started", report["services"]


def assert_owner_can_log_in(pg_cluster):
    """The application's role logs in to production (no connection limit of 0 left behind), as the backend does."""
    try:
        psycopg2.connect(host=pg_cluster["host"], port=pg_cluster["port"], user=OWNER, password=OWNER_PASSWORD,
                         dbname=DB, connect_timeout=5).close()
    except psycopg2.Error as exc:
        pytest.fail("the owner cannot log in to production: %s" % exc)


def assert_lock_released(prod):
    locks = prod.work / "locks"
    assert not locks.exists() or not list(locks.iterdir()), "the lock was not released: %s" % list(locks.iterdir())


def assert_no_leftovers(pg_cluster):
    assert databases_like(pg_cluster, DB + "__") == [], "databases left behind"


def assert_no_partial_files(prod):
    partial = [str(p) for p in prod.work.rglob("*.part")]
    assert not partial, "partial downloads left behind: %s" % partial


def report_of(result, prod, outcome, failed_phase=None):
    report = result.report(str(prod.work))
    assert report is not None, "no report.json was written\n" + result.describe()
    assert report["outcome"] == outcome, (report.get("outcome"), report.get("error"), result.describe(4000))
    if failed_phase is not None:
        assert report["failed_phase"] == failed_phase, (report.get("failed_phase"), report.get("error"))
        assert report["error"], "the report does not say what failed"
    return report


def assert_refused_before_the_downtime(pg_cluster, pm2, prod, site, result, failed_phase):
    """A fault before the services stop: production and the backend exactly as they were."""
    result.assert_failed()
    assert_production_is(pg_cluster, site["pre"], "the pre-restore state")
    assert_backend_untouched(pm2, prod)
    assert_lock_released(prod)
    assert_no_leftovers(pg_cluster)
    assert_no_partial_files(prod)
    assert not list(prod.work.rglob("*_safety_*")), "a safety backup was taken: the run went too far"
    report = report_of(result, prod, "failed", failed_phase)
    assert report["metrics"]["downtime_seconds"] is None, report["metrics"]
    return report


# ---- 1. corrupted backup -----------------------------------------------------

def flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_corrupted_backup_is_refused_before_anything_stops(pg_cluster, site, pm2, prod, run_playbook):
    flip_a_byte(prod.store / site["newer"]["name"])
    result = restore(run_playbook, prod.inv())
    result.assert_failed("Checksum mismatch")
    assert "nothing was changed" in result.stdout.lower()
    report = assert_refused_before_the_downtime(pg_cluster, pm2, prod, site, result, "fetch_backup")
    assert site["newer"]["name"] in report["error"]
    assert not (prod.work / "restore" / site["newer"]["name"]).exists(), "the corrupt backup reached pg_restore's path"
    attempts = report.get("download_attempts")
    if attempts is not None:  # H8: each attempt is reported
        assert len(attempts) >= 2 and all(a["error"] for a in attempts), attempts


def test_corrupted_backup_falls_back_to_the_older_backup_within_the_rpo(pg_cluster, site, pm2, prod, run_playbook):
    flip_a_byte(prod.store / site["newer"]["name"])
    result = restore(run_playbook, prod.inv(db_restore_try_older_backups=True))
    result.assert_ok()
    assert_production_is(pg_cluster, site["older"], "the older backup")
    report = report_of(result, prod, "succeeded")
    assert report["backup"]["name"] == site["older"]["name"]
    tried = [a["backup"] for a in report["download_attempts"]]
    assert tried[0] == site["newer"]["name"] and tried[-1] == site["older"]["name"], report["download_attempts"]
    assert_backend_restarted(pm2, prod, report)
    assert_lock_released(prod)
    assert_no_leftovers(pg_cluster)


# ---- 2. and 3. S3 downloads that break ---------------------------------------

def test_s3_endpoint_down_mid_download_is_refused(pg_cluster, site, s3_server, s3_site, cutting_proxy, pm2, prod,
                                                  run_playbook):
    proxy = cutting_proxy(match=s3_site["key"], cut_after=site["newer"]["size"] // 3, go_down=True)
    result = restore(run_playbook, prod.inv("s3", s3=dict(s3_server, endpoint_url=proxy.url),
                                            bucket=s3_site["bucket"]))
    assert proxy.cut_count == 1 and proxy.down, "the endpoint did not go down mid-download: %s\n%s" % (
        proxy.requests, result.describe(3000))
    report = assert_refused_before_the_downtime(pg_cluster, pm2, prod, site, result, "fetch_backup")
    assert proxy.url.split("//")[1] in report["error"] or "127.0.0.1" in report["error"], report["error"]
    assert not (prod.work / "restore" / site["newer"]["name"]).exists()


def test_a_refused_safety_upload_after_a_swap_keeps_the_restore_and_says_so(pg_cluster, site, s3_server, s3_site,
                                                                            cutting_proxy, pm2, prod, run_playbook):
    """After a swap, a safety backup whose upload fails is a warning, not a failure: the restore stands, the local
    copy is the one hashed (with its sidecar), the previous database is dropped (its dump exists), and the output
    and the report say NOT uploaded and why."""
    proxy = cutting_proxy(match="/safety/", refuse_uploads=True)
    result = restore(run_playbook, prod.inv("s3", s3=dict(s3_server, endpoint_url=proxy.url), bucket=s3_site["bucket"],
                                            db_restore_method="swap"))
    result.assert_ok()
    assert proxy.cut_count >= 1, "no upload of the safety backup was refused: %s" % proxy.requests
    assert_production_is(pg_cluster, site["newer"], "the newer backup")
    report = report_of(result, prod, "succeeded")
    safety = report["safety_backup"]
    assert safety["uploaded"] is False and not safety["s3_key"], safety
    # botocore: "Connection was closed before we received a valid response from endpoint URL ..."
    assert "onnection" in safety["upload_error"], safety["upload_error"]
    local = Path(safety["path"])
    assert make_backup.file_md5(local) == safety["md5"], "the local safety backup is not the one hashed"
    assert (Path(str(local) + ".md5")).read_text().split()[0] == safety["md5"]
    listed = make_backup.s3_client(s3_server).list_objects_v2(Bucket=s3_site["bucket"], Prefix="safety/")
    assert listed.get("KeyCount", 0) == 0, listed.get("Contents")
    (md,) = prod.work.glob("reports/*/report.md")
    assert "NOT uploaded to S3" in md.read_text()
    assert "UPLOAD FAILED: %s" % safety["upload_error"] in " ".join(result.stdout.split())
    assert report["previous_database"]["dropped"] is True, report["previous_database"]
    assert_backend_restarted(pm2, prod, report)
    assert_lock_released(prod)
    assert_no_leftovers(pg_cluster)


# ---- 4. a backup valid for its checksum that pg_restore cannot restore ----------

def test_backup_valid_for_its_checksum_but_failing_pg_restore(pg_cluster, site, pm2, prod, gate, run_playbook):
    gate.open()
    make_backup.break_sql_keeping_sidecar(prod.store / site["newer"]["name"])
    result = restore(run_playbook, prod.inv())
    result.assert_failed("FAILED")
    report = assert_refused_before_the_downtime(pg_cluster, pm2, prod, site, result, "restore_database")
    assert "pg_restore" in report["error"] or "Restoring" in report["error"], report["error"]
    # The swap restores into the staging database while production serves: nothing stopped, no downtime, and the
    # timeline printed at the end agrees (it printed the staging restore as downtime).
    assert report["metrics"]["downtime_seconds"] is None, "nothing was stopped, so there was no downtime"
    assert "no downtime: no phase stopped a service" in result.stdout, result.describe()
    attempts = report["restore"]["attempts"]
    assert len(attempts) == 1 and not attempts[0]["out_of_memory"], "a corrupt archive was taken for out of memory"


# An intact file (its checksum matches) that is no dump: the download's call fails on its inspection, once, and
# returns it (tests/unit/test_checksum.py::test_module_an_intact_file_that_is_no_dump_fails_the_download_with_its_
# inspection); a failed inspection stops the run in the download, before anything stops, with no older backup
# tried although db_restore_try_older_backups allows it: test_a_backup_of_another_database_under_this_name_is_refused_
# before_anything_changes.


# ---- 5. pg_restore killed mid-way ----------------------------------------------

class Killer(threading.Thread):
    """Finds the real pg_restore into target by scanning /proc and SIGKILLs it once it is mid-way: the first
    one only (every=False, then the gate opens), or every attempt until the run ends."""

    def __init__(self, pg_cluster, gate, target, box, every=False):
        super().__init__(daemon=True)
        self.args = (pg_cluster, gate, target)
        self.box, self.every = box, every
        self.killed = []
        self.error = None

    def run(self):
        pg_cluster, gate, target = self.args
        try:
            while self.box["result"] is None:
                pid = wait_midway(pg_cluster, gate, target, result_box=None if self.killed else self.box,
                                  until=lambda: self.box["result"] is not None)
                if pid is None:
                    break
                (gate.gate / "midway.json").unlink()
                os.kill(pid, signal.SIGKILL)
                self.killed.append(pid)
                if not self.every:
                    break
        except BaseException as exc:  # noqa: BLE001  (reported by the test)
            self.error = exc
        finally:
            gate.open()


@pytest.mark.parametrize("method,every", [("swap", False), ("in_place", True)], ids=["swap-once", "in_place-every"])
def test_pg_restore_killed_mid_way(method, every, pg_cluster, site, pm2, prod, gate, run_playbook):
    """Killed once (swap): a SIGKILL looks like the OOM killer, so it is retried with fewer jobs and the run
    restores the backup. Killed on every attempt (in_place, during the downtime): the safety backup is restored."""
    target = STAGING if method == "swap" else DB
    gate.close()
    run = Background(run_playbook, "restore.yml", prod.inv(db_restore_method=method),
                     {"point": "latest", "confirm": DB})
    killer = Killer(pg_cluster, gate, target, run.box, every=every)
    run.start()
    killer.start()
    result = run.result()
    killer.join(30)
    assert killer.killed, "pg_restore was not killed: %r\n%s" % (killer.error, result.describe(4000))
    assert_lock_released(prod)
    assert_no_leftovers(pg_cluster)
    if not every:
        result.assert_ok()
        assert_production_is(pg_cluster, site["newer"], "the chosen backup")
        report = report_of(result, prod, "succeeded")
        attempts = report["restore"]["attempts"]
        assert [a["rc"] for a in attempts] == [137, 0], attempts
        assert attempts[0]["jobs"] > attempts[1]["jobs"], attempts
        assert "killed by signal 9" in attempts[0]["error"], attempts
        assert_backend_restarted(pm2, prod, report)
        return
    result.assert_failed("ROLLED_BACK")
    assert len(killer.killed) == 2, "expected both attempts (2 jobs, then 1) to be killed: %s" % killer.killed
    assert_production_is(pg_cluster, site["pre"], "the pre-restore state")
    report = report_of(result, prod, "rolled_back", "restore_database")
    assert "killed by signal 9" in report["error"], report["error"]
    # The attempts of the restore that failed, not (only) those of the rollback's own pg_restore.
    assert [a["rc"] for a in report["restore"]["attempts"]][:2] == [137, 137], report["restore"]["attempts"]
    assert report["rollback"]["succeeded"] is True and report["rollback"]["verified"] is True, report["rollback"]
    # auto gives one custom-format file in place (tests/unit/test_safety_formats.py), restored in parallel after
    # the drop; test_restore.py restores the directory format.
    safety = report["safety_backup"]
    assert safety["format"] == "custom" and safety["path"].endswith(".dump"), safety
    assert make_backup.file_md5(safety["path"]) == safety["md5"]
    assert [(a["jobs"], a["rc"]) for a in report["restore"]["rollback_attempts"]] == [(2, 0)], report["restore"]
    assert_backend_restarted(pm2, prod, report)


# ---- 6. verification fails after a clean restore --------------------------------

def test_verification_failure_after_a_clean_restore(pg_cluster, site, pm2, prod, gate, run_playbook):
    # With the swap the failure comes before the services stop. In place it comes after the drop and is rolled
    # back: test_verify.py::test_rollback_with_a_stale_materialized_view_is_verified (the backend restarted after
    # that rollback: test_pg_restore_killed_mid_way[in_place-every]).
    gate.open()
    check = {"name": "no user was ever created", "sql": 'SELECT count(*) FROM "User"', "expected": 0}
    result = restore(run_playbook, prod.inv(db_restore_method="swap", db_restore_checks=[check]))
    result.assert_failed()
    assert_production_is(pg_cluster, site["pre"], "the pre-restore state")
    assert_lock_released(prod)
    assert_no_leftovers(pg_cluster)
    report = report_of(result, prod, "failed", "verify_restore")
    assert_backend_untouched(pm2, prod)
    failed = [v for v in report["verification"] if not v["passed"]]
    assert any(check["name"] in v["check"] for v in failed), report["verification"]


# ---- 7. disk full in the work directory -----------------------------------------

class Filler(threading.Thread):
    """Fills the filesystem under mount, leaving `leave` bytes, as soon as the downloaded backup is in place."""

    def __init__(self, mount, trigger, leave, box):
        super().__init__(daemon=True)
        self.mount, self.trigger, self.leave, self.box = Path(mount), Path(trigger), leave, box
        self.filled = False

    def run(self):
        deadline = time.monotonic() + 300
        while not self.trigger.exists() and time.monotonic() < deadline and self.box["result"] is None:
            time.sleep(0.05)
        if not self.trigger.exists():
            return
        st = os.statvfs(self.mount)
        size = st.f_bavail * st.f_frsize - self.leave
        with open(self.mount / "filler", "wb") as handle:
            chunk = b"\0" * (1 << 20)
            while size > 0:
                try:
                    handle.write(chunk[:min(size, len(chunk))])
                except OSError:
                    break
                size -= len(chunk)
        self.filled = True


@pytest.fixture
def small_fs(tmp_path, pg_cluster, site):
    """A tmpfs just big enough to pass the free-disk check (2 x the database + the backup, plus 4 MiB)."""
    db_size = admin_query(pg_cluster, "SELECT pg_database_size(%s)", (DB,))[0][0]
    size = 2 * db_size + site["newer"]["size"] + (4 << 20)
    with small_tmpfs(tmp_path / "small", size) as mount:
        yield mount


@pytest.mark.parametrize("method", ["swap", "in_place"])
def test_disk_full_in_the_work_directory(method, pg_cluster, site, pm2, prod, gate, small_fs, run_playbook):
    gate.open()
    prod.work = small_fs / "work"
    inv = prod.inv(db_restore_method=method)
    # Room for logs and the report, not for the safety dump of production (about the backup's size).
    leave = site["newer"]["size"] // 3
    run = Background(run_playbook, "restore.yml", inv, {"point": "latest", "confirm": DB})
    filler = Filler(small_fs, prod.work / "restore" / site["newer"]["name"], leave, run.box)
    filler.start()
    run.start()
    result = run.result()
    filler.join(30)
    assert filler.filled, "the disk was never filled\n" + result.describe(4000)
    # Files and directories: the directory format dumps into a <name>.dir.tar.d.part directory first.
    safety_dumps = [p for p in prod.work.rglob("*_safety_*") if p.suffix not in (".json", ".md5")]
    locks = list((prod.work / "locks").glob("*")) if (prod.work / "locks").exists() else []
    assert not locks, "the lock was not released on the full disk\n" + result.describe(6000)
    if method == "in_place":
        # The safety backup cannot be written: nothing may be dropped.
        result.assert_failed()
        assert_production_is(pg_cluster, site["pre"], "the pre-restore state")
        report = report_of(result, prod, "failed", "safety_backup")
        assert "space" in report["error"].lower(), report["error"]
        assert_backend_restarted(pm2, prod, report)
        assert not safety_dumps, "a partial safety dump was left behind: %s" % safety_dumps
        assert_no_leftovers(pg_cluster)
    else:
        # The restore was verified and swapped in; only the safety dump of the previous database failed,
        # so that database is kept (it is the only copy of the state before) and the report says so.
        assert_production_is(pg_cluster, site["newer"], "the chosen backup")
        report = result.report(str(prod.work))
        assert report is not None, "no report.json was written on the full disk\n" + result.describe()
        previous = report["previous_database"]
        assert previous["kept"] is True and previous["dropped"] is False, previous
        # The outcome is succeeded: nothing may tell the operator to run the restore again (it did), and the
        # messages say that the restore succeeded, that the previous database is kept and how to free space.
        result.assert_ok()
        assert report["outcome"] == "succeeded", report.get("error")
        assert "run again" not in result.output.lower() + previous["detail"].lower(), result.describe()
        for said in (previous["detail"], result.output):
            assert "The restore itself succeeded" in said, said[-3000:]
            assert "Free space in " + str(prod.work) in said, said[-3000:]
        assert "is kept" in previous["detail"] and "rollback.yml -e previous=" + previous["name"] in previous["detail"]
        assert databases_like(pg_cluster, DB + "__pre_") == [previous["name"]]
        assert_production_is_state(pg_cluster, previous["name"], site["pre"])
        assert "space" in json.dumps(report).lower() or "space" in result.output.lower()
        assert_backend_restarted(pm2, prod, report)
        assert not safety_dumps, "a partial safety dump was left behind: %s" % safety_dumps


SIDECAR_BLOCKER = '''#!/bin/bash
# pg_dump, then (when it worked) a directory where the checksum sidecar of its file goes: the dump is
# complete and hashed, and only the sidecar cannot be written.
__REAL__ "$@"
rc=$?
if [ "$rc" -eq 0 ]; then
    for arg in "$@"; do
        # The directory format dumps into <file>.d.part (packed into <file> after), the others into <file>.part.
        case "$arg" in
            --file=*.d.part) part="${arg#--file=}"; mkdir -p "${part%.d.part}.md5" ;;
            --file=*.part) part="${arg#--file=}"; mkdir -p "${part%.part}.md5" ;;
        esac
    done
fi
exit "$rc"
'''


def test_safety_backup_without_its_sidecar_drops_nothing(pg_cluster, site, pm2, prod, tmp_path, run_playbook):
    """In place, the safety dump works but its md5 sidecar cannot be written: the result carries the md5, and
    the run must still stop before the drop (a safety copy without its sidecar is not a verified one)."""
    bin_dir = wrapped_bin_dir(tmp_path / "bin", "pg_dump",
                              SIDECAR_BLOCKER.replace("__REAL__", str(Path(PG_BIN_DIR) / "pg_dump")))
    result = restore(run_playbook, prod.inv(db_restore_method="in_place", db_restore_pg_bin_dir=str(bin_dir)))
    result.assert_failed()
    assert_production_is(pg_cluster, site["pre"], "the pre-restore state")
    report = report_of(result, prod, "failed", "safety_backup")
    assert "checksum sidecar" in report["error"], report["error"]
    assert "Nothing was dropped" in report["error"], report["error"]
    assert [p for p in prod.work.rglob("*_safety_*.md5") if p.is_dir()], "the fault was not injected"
    assert_backend_restarted(pm2, prod, report)
    assert_lock_released(prod)
    assert_no_leftovers(pg_cluster)


def assert_production_is_state(pg_cluster, dbname, expected):
    assert table_checksums(pg_cluster, dbname) == expected["sums"], "%s does not hold the expected rows" % dbname


# ---- 8. PostgreSQL stopped mid-run ----------------------------------------------

def test_postgresql_stopped_during_pg_restore(pg_cluster, site, pm2, prod, gate, run_playbook):
    run = start_restore_held_midway(run_playbook, prod, pg_cluster, gate)
    try:
        pg_cluster_script.stop_server(pg_cluster, mode="immediate")
        gate.open()
        result = run.result()
    finally:
        gate.open()
        if not pg_cluster_script.status(Path(pg_cluster_dir(pg_cluster)))["running"]:
            pg_cluster_script.start_server(pg_cluster)
    result.assert_failed()
    report = report_of(result, prod, "failed", "restore_database")
    # Production was never touched: the restore went to the staging database.
    assert_production_is(pg_cluster, site["pre"], "the pre-restore state")
    assert_lock_released(prod)
    assert pm2.statuses(APP) == ["online"] and pm2_pid(pm2) == prod.pid_before
    assert_healthy(pm2)  # back once the server is
    left = databases_like(pg_cluster, DB + "__")
    assert left in ([], [STAGING]), left
    if left:
        # The staging database could not be dropped with the server down: the run must say so.
        assert STAGING in result.output and STAGING in json.dumps(report), \
            "the leftover staging database is not described"


def pg_cluster_dir(info):
    return pg_cluster_script._base_of(info)


# ---- 9. a second run on the same database at the same time ----------------------

def test_second_concurrent_run_is_refused_with_the_lock_holder(pg_cluster, site, pm2, prod, gate, run_playbook):
    first = start_restore_held_midway(run_playbook, prod, pg_cluster, gate)
    try:
        lock_file = prod.work / "locks" / ("%s.lock" % DB)
        holder = json.loads(lock_file.read_text())
        second = restore(run_playbook, prod.inv())
        assert lock_file.exists() and json.loads(lock_file.read_text()) == holder, \
            "the second run touched the first run's lock"
    finally:
        gate.open()
    result = first.result()
    second.assert_failed(holder["run_id"])
    assert "nothing was changed" in second.stdout.lower()

    result.assert_ok()
    assert_production_is(pg_cluster, site["newer"], "the chosen backup")
    reports = {p.parent.name: json.loads(p.read_text()) for p in (prod.work / "reports").glob("*/report.json")}
    assert reports[holder["run_id"]]["outcome"] == "succeeded"
    others = [r for run_id, r in reports.items() if run_id != holder["run_id"]]
    assert all(r["outcome"] == "failed" for r in others), others
    assert_backend_restarted(pm2, prod, reports[holder["run_id"]])
    assert_lock_released(prod)
    assert_no_leftovers(pg_cluster)


def test_kill_after_the_services_stopped_the_next_run_starts_them_again(pg_cluster, site, pm2, prod, gate,
                                                                        run_playbook, tmp_path):
    """kill -9 of the run right after the swap committed, while the backend is stopped (issue 20, cases 3 and 4).
    The next run, from ANOTHER work directory, is refused by the lock on the server: it names the dead run and
    what it left. The run told to take the lock over starts the services the journal named again (before, they
    stayed stopped and the run reported success with the application down), and gives production's connection
    limit back from the journal (before, it found 0 and kept 0: 'too many connections' after a success)."""
    from test_crash import crash_env, follow_the_messages, unmarked_databases
    # Not 7 as the crash suite has it: the backend's pool connects as the owner, which the limit counts.
    admin_query(pg_cluster, sql.SQL("ALTER DATABASE {} CONNECTION LIMIT 20").format(sql.Identifier(DB)))
    extra = {"point": "latest", "confirm": DB}
    crashed = run_playbook("restore.yml", prod.inv(), extra, env=crash_env(tmp_path, YV_CRASH_AT_TASK="Record the swap"))
    assert crashed.rc in (-9, 137), crashed.describe(3000)
    assert pm2.statuses(APP) != ["online"], "the backend should be stopped by the killed run"
    assert connection_limit(pg_cluster) == 0

    other = restore(run_playbook, prod.inv(db_restore_work_dir=str(tmp_path / "other-work")))
    other.assert_failed("is held by run restore-%s-" % DB)
    out = " ".join(other.output.split())
    assert "killed after the swap" in out and "Nothing was changed" in out, other.describe(4000)
    assert "db_restore_break_lock=true" in out

    result, passed = follow_the_messages(run_playbook, "restore.yml", prod.inv(), extra)
    assert passed == ["db_restore_break_lock"], passed
    assert "The connection limit of %s was given back (20)" % DB in " ".join(result.output.split())
    assert connection_limit(pg_cluster) == 20
    assert_production_is(pg_cluster, site["newer"], "the chosen backup")
    assert unmarked_databases(pg_cluster, DB) == [], "databases without the collection's mark"
    report = report_of(result, prod, "succeeded")
    assert_backend_restarted(pm2, prod, report)
    assert_owner_can_log_in(pg_cluster)
    assert_lock_released(prod)


# ---- 10. a stale lock ------------------------------------------------------------
# A stale lock of a dead run is reported, never taken over: a decision of the lock module alone, proved by
# tests/unit/test_lock.py::test_module_stale_lock_of_a_dead_run_is_reported_not_taken_over; a lock refusal through
# the playbook is test_second_concurrent_run_is_refused_with_the_lock_holder's.


# ---- 11. Ctrl-C during the restore -------------------------------------------------

def test_ctrl_c_during_pg_restore_leaves_production_untouched_and_the_next_run_cleans_up(
        pg_cluster, site, pm2, prod, gate, run_playbook):
    # pg_restore runs in the background (async, for its progress lines): on Ctrl-C nobody watches it any more and
    # it is stopped within six intervals, at least 10 s (db_restore_progress_interval 1 here).
    run = start_restore_held_midway(run_playbook, prod, pg_cluster, gate, inv=prod.inv(db_restore_progress_interval=1))
    try:
        groups = playbook_pgid(str(prod.work.parent))
        assert len(groups) == 1, "expected one ansible-playbook process group, found %s" % groups
        os.killpg(groups.pop(), signal.SIGINT)  # what the terminal sends on Ctrl-C
        interrupted = run.result(timeout=300)
        # the gate stays closed: pg_restore must be stopped, not end its work
        deadline = time.time() + 25
        while pg_restore_processes(STAGING, pg_cluster["port"]) and time.time() < deadline:
            time.sleep(0.5)
        assert not pg_restore_processes(STAGING, pg_cluster["port"]), "pg_restore kept running after Ctrl-C"
    finally:
        gate.open()
    assert interrupted.rc != 0, interrupted.describe()
    assert_production_is(pg_cluster, site["pre"], "the pre-restore state")
    assert_backend_untouched(pm2, prod)
    left = databases_like(pg_cluster, DB + "__")
    assert left in ([], [STAGING]), "an interrupted swap run may leave only its staging database: %s" % left

    lock_file = prod.work / "locks" / ("%s.lock" % DB)
    extra = {}
    if lock_file.exists():
        # Ansible runs no always section on Ctrl-C: the lock names the interrupted run. The next run on this
        # controller sees that run's ansible-playbook is gone and says so; the operator then breaks the lock.
        holder = json.loads(lock_file.read_text())
        assert holder["run_id"].startswith("restore-%s-" % DB)
        refused = restore(run_playbook, prod.inv())
        refused.assert_failed("That run has ended")
        assert "pid %d" % holder["controller"]["pid"] in refused.output, refused.describe(3000)
        assert "db_restore_break_lock=true" in refused.output and "nothing was changed" in refused.stdout.lower()
        assert_production_is(pg_cluster, site["pre"], "the pre-restore state")
        extra["db_restore_break_lock"] = True
    second = restore(run_playbook, prod.inv(**extra))
    second.assert_ok()
    if left:
        assert "left from an interrupted run" in second.stdout, "the leftover staging database was not described"
    assert_production_is(pg_cluster, site["newer"], "the chosen backup")
    assert_no_leftovers(pg_cluster)
    assert_lock_released(prod)
    report = report_of(second, prod, "succeeded")
    if left:
        assert STAGING in json.dumps(report.get("leftovers") or {}), report.get("leftovers")
    assert_backend_restarted(pm2, prod, report)


# ---- issue 20, case 7: a backup that lies about what it is ------------------------

IMPOSTER = DB + "_imposter"


def connection_limit(pg_cluster, dbname=DB):
    return admin_query(pg_cluster, "SELECT datconnlimit FROM pg_database WHERE datname = %s", (dbname,))[0][0]


@pytest.fixture
def imposter(pg_cluster, site):
    """Another database, of the same schema as production but other rows: {"name", "sums", "counts"}."""
    drop_db(pg_cluster, IMPOSTER)
    admin_query(pg_cluster, sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
        sql.Identifier(IMPOSTER), sql.Identifier(PRE_TEMPLATE), sql.Identifier(OWNER)))
    yieldvault_fixture.add_activity(pg_cluster, IMPOSTER, users=7, seed=77)
    yield dict(state(pg_cluster, IMPOSTER), name=IMPOSTER)
    drop_db(pg_cluster, IMPOSTER)


def test_a_backup_of_another_database_under_this_name_is_refused_before_anything_changes(
        pg_cluster, site, pm2, prod, imposter, run_playbook):
    """The newest backup's file is replaced by a dump of another database (same schema), keeping the name and
    writing a matching md5 sidecar: the archive header names the other database, so the run refuses it in the
    download, before anything stops - production's rows and connection limit untouched, no safety backup.
    The download never reads the method (the run stops before it matters), so the default swap is enough. Older
    backups are allowed: a failed inspection of an intact file (this one, or a file that is no dump) is no transfer
    problem an older backup would cure, so none is tried."""
    path = prod.store / site["newer"]["name"]
    make_backup.pg_dump(pg_cluster, IMPOSTER, path)
    make_backup.write_sidecar(path)
    limit_before = connection_limit(pg_cluster)
    result = restore(run_playbook, prod.inv(db_restore_try_older_backups=True))
    result.assert_failed("lies about what it is")
    report = assert_refused_before_the_downtime(pg_cluster, pm2, prod, site, result, "fetch_backup")
    assert "dumped from database %s" % IMPOSTER in report["error"], report["error"]
    assert "db_restore_backup_database=%s" % IMPOSTER in report["error"], report["error"]
    assert connection_limit(pg_cluster) == limit_before
    # No fallback to an older backup either: the store itself is wrong.
    assert [a["backup"] for a in report["download_attempts"]] == [site["newer"]["name"]], report["download_attempts"]


def test_a_backup_renamed_under_an_earlier_time_is_refused_before_anything_changes(
        pg_cluster, site, pm2, prod, run_playbook):
    """A dump made now, copied into the store under a name three days old (no manifest, a matching md5 sidecar):
    a restore to a point of that day chose it by its name and succeeded, its report saying the database was back at
    that day while it held today's rows. pg_dump's own time in the archive header says otherwise: refused in the
    download, before anything stops."""
    three_days = minutes_ago(3 * 24 * 60)
    name = "%s_%s.dump" % (DB, three_days.strftime("%Y%m%d_%H%M"))
    make_backup.pg_dump(pg_cluster, DB, prod.store / name)
    make_backup.write_sidecar(prod.store / name)
    point = (three_days + dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = restore(run_playbook, prod.inv(db_restore_rpo_minutes=100000), point=point)
    result.assert_failed("The backup lies about when it was taken: %s is named as taken at %s"
                         % (name, three_days.strftime("%Y-%m-%dT%H:%M:%SZ")))
    report = assert_refused_before_the_downtime(pg_cluster, pm2, prod, site, result, "fetch_backup")
    assert "days later" in report["error"], report["error"]


def test_another_databases_backup_is_restored_only_when_named_and_the_plan_says_so(
        pg_cluster, site, pm2, prod, imposter, run_playbook):
    """A backup of another database under its own name is not even a candidate; with db_restore_backup_database
    naming that database it is restored into production on purpose, and the plan says so."""
    backup = make_backup.make_backup(pg_cluster, IMPOSTER, "local", minutes_ago(2), local_dir=str(prod.store))
    result = restore(run_playbook, prod.inv(db_restore_backup_database=IMPOSTER))
    result.assert_ok()
    assert_production_is(pg_cluster, imposter, "the other database's backup")
    report = report_of(result, prod, "succeeded")
    assert report["backup"]["name"] == backup["name"]
    assert report["backup"]["identity"]["status"] == "match", report["backup"]
    assert report["backup"]["identity"]["source_database"] == IMPOSTER, report["backup"]
    out = " ".join(result.stdout.split())
    plan = out[out.find("Show the plan"):][:3000]
    assert "BACKUP OF ANOTHER DATABASE: a backup of %s is restored into %s" % (IMPOSTER, DB) in out, plan
    assert "was dumped from database %s, as its name says" % IMPOSTER in out, plan
    assert_lock_released(prod)
    assert_no_leftovers(pg_cluster)


# ---- issue 20, case 8: a misspelled owner -------------------------------------

MISSPELLED_OWNER = OWNER + "x"


def role_login(pg_cluster, name):
    rows = admin_query(pg_cluster, "SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (name,))
    return rows[0][0] if rows else None


@pytest.fixture
def misspelled_owner(pg_cluster):
    admin_query(pg_cluster, sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(MISSPELLED_OWNER)))
    yield MISSPELLED_OWNER
    # The role may own production now: give production back to the fixture's owner before dropping the role.
    for name in databases_like(pg_cluster, DB):
        admin_query(pg_cluster, sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(name),
                                                                                sql.Identifier(OWNER)))
    drop_db(pg_cluster, DB)
    admin_query(pg_cluster, sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(MISSPELLED_OWNER)))


def test_a_misspelled_owner_is_refused_before_anything_changes(pg_cluster, site, pm2, prod, misspelled_owner,
                                                                run_playbook):
    result = restore(run_playbook, prod.inv(db_restore_method="in_place", db_restore_owner=misspelled_owner))
    result.assert_failed("does not exist")
    report = assert_refused_before_the_downtime(pg_cluster, pm2, prod, site, result, "assess")
    assert "db_restore_owner" in report["error"] and "db_restore_create_owner=true" in report["error"], report["error"]
    assert role_login(pg_cluster, misspelled_owner) is None, "the role was created"
    assert connection_limit(pg_cluster) == -1
