"""Helpers for the integration tests: exact counts, checksums, running playbooks.

Importable from tests (`from dbutil import ...`; pytest puts this directory on
sys.path) and also exposed as fixtures by conftest.py.
"""

import contextlib
import glob
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS_DIR = REPO_ROOT / "scripts"
if str(SCRIPTS_DIR) not in sys.path:
    sys.path.insert(0, str(SCRIPTS_DIR))

import pg_cluster  # noqa: E402
from psycopg2 import sql  # noqa: E402

PG_BIN_DIR = os.environ.get("PG_BIN_DIR") or pg_cluster.DEFAULT_BIN_DIR
VENV_BIN = Path(sys.executable).parent
# A warning Python prints on stderr, such as cryptography 51's "CryptographyDeprecationWarning: DSA is deprecated"
# at every ansible-playbook start: noise at the top of every run an operator reads.
PYTHON_WARNING = re.compile(r"\b[A-Z]\w*Warning: ")
# This venv's Python, with ansible-core's module_utils imported from its byte-code (bin/module_python says why).
MODULE_PYTHON = Path(__file__).resolve().parent / "bin" / "module_python"


def wrapped_bin_dir(bin_dir, tool, script):
    """bin_dir as PostgreSQL's bin directory (symlinks) with tool replaced by script (made executable)."""
    bin_dir = Path(bin_dir)
    bin_dir.mkdir(parents=True)
    for real in Path(PG_BIN_DIR).iterdir():
        if real.name != tool:
            (bin_dir / real.name).symlink_to(real)
    (bin_dir / tool).write_text(script)
    (bin_dir / tool).chmod(0o755)
    return bin_dir

# Leaf tables, partitioned parents and materialized views of user schemas.
_TABLES_QUERY = """
SELECT n.nspname, c.relname, c.relkind, c.relispopulated
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
ORDER BY n.nspname, c.relname
"""


def _tables(cur, relkinds):
    cur.execute(_TABLES_QUERY)
    return [(schema, name, kind, populated) for schema, name, kind, populated in cur.fetchall() if kind in relkinds]


def exact_counts(conn_info, dbname, include_views=True):
    """{"schema.table": count(*)} for every user table, partition and partitioned parent.

    Materialized views are included too (None when not populated), as the
    table_counts module reports them.
    """
    conn = pg_cluster.connect(conn_info, dbname)
    try:
        with conn.cursor() as cur:
            out = {}
            for schema, name, kind, populated in _tables(cur, "rpm" if include_views else "rp"):
                if kind == "m" and not populated:
                    out["%s.%s" % (schema, name)] = None
                    continue
                cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, name)))
                out["%s.%s" % (schema, name)] = cur.fetchone()[0]
            return out
    finally:
        conn.close()


def table_checksums(conn_info, dbname):
    """{"schema.table": md5 of all rows ordered by their text form} for every table holding rows.

    Leaf tables and partitions only: a partitioned parent holds no rows of its
    own, so including it would only repeat its partitions. Text forms depend
    on TimeZone and DateStyle, hence fixed here.
    """
    conn = pg_cluster.connect(conn_info, dbname)
    try:
        with conn.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'")
            cur.execute("SET DateStyle = 'ISO, YMD'")
            cur.execute("SET extra_float_digits = 3")
            out = {}
            for schema, name, _kind, _populated in _tables(cur, "r"):
                cur.execute(sql.SQL(
                    "SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text COLLATE \"C\"), '')) "
                    "FROM ONLY {} AS t").format(sql.Identifier(schema, name)))
                out["%s.%s" % (schema, name)] = cur.fetchone()[0]
            return out
    finally:
        conn.close()


def skip_unless_strict(reason):
    """Skip for a missing piece of the machine (Docker, tmpfs mounts, Node.js), except under make test
    (YV_TEST_STRICT=1), which installs and starts all of them: there a missing piece is a failure, not a skip."""
    import pytest
    if os.environ.get("YV_TEST_STRICT") == "1":
        pytest.fail("make test needs this and set it up, yet: %s" % reason)
    pytest.skip(reason)


@contextlib.contextmanager
def small_tmpfs(mount, size):
    """A tmpfs of size (mount's -o size=, e.g. 256k or a byte count) at mount, a new directory; unmounted after."""
    mount = Path(mount)
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size, "tmpfs", str(mount)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        skip_unless_strict("cannot mount a small tmpfs here: %s" % mounted.stderr.strip())
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def free_port():
    """A loopback port nothing listens on right now (e.g. for an unreachable endpoint)."""
    return pg_cluster.free_port()


def database_exists(conn_info, dbname):
    conn = pg_cluster.connect(conn_info, "postgres")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,))
            return cur.fetchone() is not None
    finally:
        conn.close()


def admin_query(conn_info, query, args=None, dbname="postgres"):
    """Run one query as the cluster's admin; its rows, or None for a statement without any."""
    conn = pg_cluster.connect(conn_info, dbname)
    try:
        with conn.cursor() as cur:
            cur.execute(query, args)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def assert_rollback_to_the_newest_safety_backup(conn_info, run_playbook, yv, safety, fmt, sums_before, counts_before):
    """rollback.yml after a restore of ``yv`` (the yv fixture of test_restore/test_swap), without -e backup or
    previous: back to that restore's safety backup ``safety`` (its report's), in format ``fmt``, restored with the
    restore's 2 jobs; the data and counts from before the restore, no database left, the report and the lock."""
    result = run_playbook("rollback.yml", yv["inv"], {"confirm": yv["name"], "incident": "INC-7"})
    result.assert_ok()
    assert table_checksums(conn_info, yv["name"]) == sums_before
    assert exact_counts(conn_info, yv["name"]) == counts_before
    assert admin_query(conn_info, "SELECT datname FROM pg_database WHERE starts_with(datname, %s)",
                       (yv["name"] + "__",)) == []
    rolled = result.report(str(yv["work"]))
    assert rolled["mode"] == "rollback" and rolled["outcome"] == "succeeded"
    assert rolled["run_id"].startswith("rollback-")
    assert rolled["backup"]["name"] == os.path.basename(safety["path"])
    assert rolled["backup"]["format"] == fmt, rolled["backup"]
    assert [a["jobs"] for a in rolled["restore"]["attempts"]] == [2], rolled["restore"]
    assert not list(yv["work"].glob("unpacked/*")), "the unpacked safety backup was left behind"
    assert rolled["incident"] == "INC-7"
    # the rollback kept the database it replaced as its own safety backup
    assert rolled["safety_backup"]["path"] and rolled["safety_backup"]["path"] != rolled["backup"]["name"]
    assert not list((yv["work"] / "locks").iterdir())


def tables_without_statistics(conn_info, dbname):
    """Ordinary tables ANALYZE has never run on (what vacuumdb --analyze-only covers)."""
    rows = admin_query(conn_info, """
        SELECT s.schemaname || '.' || s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
        WHERE c.relkind = 'r' AND s.last_analyze IS NULL AND s.last_autoanalyze IS NULL ORDER BY 1""", dbname=dbname)
    return [r[0] for r in rows]


def create_marked_database(conn_info, dbname, kind="staging", production="", run_id="killed-run"):
    """Create dbname the way a run of the collection does (marked in yieldvault_db_restore.made), as a killed run
    leaves it."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / ".collections"))
    from ansible_collections.yieldvault.db_restore.plugins.module_utils.server_state import DDL
    conn = pg_cluster.connect(conn_info, "postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for statement in DDL:
                cur.execute(statement)
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
            cur.execute("INSERT INTO yieldvault_db_restore.made (name, oid, kind, production, run_id) "
                        "SELECT datname, oid, %s, %s, %s FROM pg_database WHERE datname = %s",
                        (kind, production, run_id, dbname))
    finally:
        conn.close()


def drop_database(conn_info, dbname):
    conn = pg_cluster.connect(conn_info, "postgres")
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
    finally:
        conn.close()


@dataclass
class PlaybookResult:
    rc: int
    stdout: str
    stderr: str
    cmd: list = field(default_factory=list)
    timed_out: bool = False

    def report(self, work_dir):
        """The newest <work_dir>/reports/*/report.json, parsed, or None."""
        candidates = glob.glob(os.path.join(str(work_dir), "reports", "*", "report.json"))
        if not candidates:
            return None
        newest = max(candidates, key=os.path.getmtime)
        with open(newest) as handle:
            return json.load(handle)

    @property
    def output(self):
        return self.stdout + "\n" + self.stderr

    def timeline(self, work_dir):
        """timeline.json beside the newest report.json (written by the restore_timeline callback), or None."""
        candidates = glob.glob(os.path.join(str(work_dir), "reports", "*", "report.json"))
        if not candidates:
            return None
        path = os.path.join(os.path.dirname(max(candidates, key=os.path.getmtime)), "timeline.json")
        if not os.path.isfile(path):
            return None
        with open(path) as handle:
            return json.load(handle)

    @property
    def warnings(self):
        """The [WARNING] and [DEPRECATION WARNING] lines of the console output, any "msg: null", and the warnings
        Python itself prints (a library's "...DeprecationWarning: ..." at the top of every run)."""
        return [line for line in self.output.splitlines()
                if "[WARNING]" in line or "[DEPRECATION WARNING]" in line or line.strip() == "msg: null"
                or PYTHON_WARNING.search(line)]

    def assert_ok(self):
        assert_ok(self)
        return self

    def assert_failed(self, fragment=None):
        assert_failed(self, fragment)
        return self

    def describe(self, limit=12000):
        """rc and the tail of both streams, for assertion messages."""
        def tail(text):
            return text if len(text) <= limit else "...[%d chars cut]...\n%s" % (len(text) - limit, text[-limit:])
        return "ansible-playbook rc=%s%s\n--- stdout ---\n%s\n--- stderr ---\n%s" % (
            self.rc, " (timed out)" if self.timed_out else "", tail(self.stdout), tail(self.stderr))


def _inventory(inventory_vars):
    # A module travels to its local interpreter as a stored zip, not a deflated one: ansible-core compresses the
    # ~450 KB payload (the module and every module_util it imports) once per module and run, some 20 ms of CPU
    # each, about 0.3 s a restore, to send it through a pipe. The module, its arguments and its results are the
    # same; production inventories keep the default (smaller payloads over SSH).
    return {
        "all": {
            "hosts": {"localhost": dict(
                {"ansible_connection": "local", "ansible_python_interpreter": str(MODULE_PYTHON),
                 "ansible_module_compression": "ZIP_STORED"},
                **(inventory_vars or {}))},
            "children": {
                "db_servers": {"hosts": {"localhost": None}},
                "app_servers": {"hosts": {"localhost": None}},
            },
        }
    }


def run_playbook(playbook, inventory_vars=None, extra_vars=None, check=False, env=None, timeout=600,
                 tmp_dir=None, extra_args=None, verbose=True):
    """Run <repo>/playbooks/<playbook> against localhost; returns a PlaybookResult.

    verbose (the default) adds -v: the runbook stdout callback then prints every task and message, the
    detail most assertions read; verbose=False gives the operator's quiet console.

    Inventory and extra vars go through files (never the command line, where
    passwords would show in `ps`). cwd is the repository root so ansible.cfg
    applies. The playbook runs in its own process group so a timeout kills
    every process it started.
    """
    import yaml

    tmp = Path(tmp_dir) if tmp_dir else Path(tempfile.mkdtemp(prefix="run_playbook-"))
    tmp.mkdir(parents=True, exist_ok=True)
    inv = tmp / "inv.yml"
    inv.write_text(yaml.safe_dump(_inventory(inventory_vars), default_flow_style=False, sort_keys=False))
    extra = tmp / "extra.json"
    extra.write_text(json.dumps(extra_vars or {}))
    os.chmod(inv, 0o600)
    os.chmod(extra, 0o600)
    playbook_path = Path(playbook)
    if not playbook_path.is_absolute():
        playbook_path = REPO_ROOT / "playbooks" / playbook
    cmd = [str(VENV_BIN / "ansible-playbook"), str(playbook_path), "-i", str(inv), "-e", "@%s" % extra]
    if check:
        cmd.append("--check")
    cmd += list(extra_args or [])
    if verbose and not any(a.startswith("-v") for a in cmd[1:]):
        cmd.append("-v")
    run_env = dict(os.environ)
    run_env.update({
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
        "PATH": "%s:%s" % (VENV_BIN, run_env.get("PATH", "/usr/bin:/bin")),
        # Loopback servers must never be reached through a proxy from the environment.
        "NO_PROXY": ",".join(filter(None, [run_env.get("NO_PROXY", ""), "127.0.0.1", "localhost"])),
        "no_proxy": ",".join(filter(None, [run_env.get("no_proxy", ""), "127.0.0.1", "localhost"])),
        # Without credentials boto3 would ask the cloud metadata address, which is not loopback.
        "AWS_EC2_METADATA_DISABLED": "true",
    })
    run_env.update(env or {})
    started = time.monotonic()
    cpu_before = os.times()
    proc = subprocess.Popen(cmd, cwd=str(REPO_ROOT), env=run_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    timed_out = False
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        stdout, stderr = proc.communicate()
    _log_run(playbook_path, started, cpu_before, stdout or "")
    if timed_out or (proc.returncode or 0) < 0:
        _reap_workers(str(inv))
    return PlaybookResult(rc=proc.returncode if not timed_out else -9, stdout=stdout or "", stderr=stderr or "",
                          cmd=cmd, timed_out=timed_out)


def _reap_workers(marker):
    """SIGKILL what is left of a killed run: ansible-core's workers call setsid(), so a kill of the run's process
    group misses them, and they stay blocked on the dead controller's result pipe. Only processes whose command line
    names this run's inventory (marker) are killed; the modules they started are left to finish, as after a real
    lost controller."""
    own = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == own:
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if marker in cmdline and "ansible-playbook" in cmdline:
            try:
                os.kill(int(entry), signal.SIGKILL)
            except OSError:
                pass


RECAP_LINE = re.compile(r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
                        r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)", re.M)


def recap(stdout):
    """The recap's host lines, in order: [{"host", "ok", "changed", "unreachable", "failed", "skipped"}]."""
    return [dict(m.groupdict(), **{k: int(v) for k, v in m.groupdict().items() if k != "host"})
            for m in RECAP_LINE.finditer(stdout)]


def _tasks_run(stdout):
    """ok + failed + skipped of the recap's host lines: the tasks the run went through."""
    return sum(line["ok"] + line["failed"] + line["skipped"] for line in recap(stdout))


def _log_run(playbook_path, started, cpu_before, stdout):
    """One JSON line per ansible-playbook run to $YV_PLAYBOOK_LOG (make test sets it): which test ran
    which playbook, for how long, with how much CPU and how many tasks. scripts/playbook_runs.py sums it,
    so the suite's time can be cut where it goes."""
    path = os.environ.get("YV_PLAYBOOK_LOG")
    if not path:
        return
    cpu_after = os.times()
    record = {
        "test": os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0],
        "playbook": playbook_path.name,
        "wall": round(time.monotonic() - started, 2),
        "cpu": round((cpu_after.children_user - cpu_before.children_user)
                     + (cpu_after.children_system - cpu_before.children_system), 2),
        "tasks": _tasks_run(stdout),
    }
    with open(path, "a") as handle:
        handle.write(json.dumps(record) + "\n")


def assert_ok(result):
    assert result.rc == 0 and not result.timed_out, result.describe()


def assert_failed(result, fragment=None):
    """The play failed (non-zero rc), and when fragment is given, it appears in the output."""
    assert result.rc != 0, "expected the playbook to fail, it succeeded\n" + result.describe()
    if fragment is not None:
        assert fragment in result.output, "expected %r in the output\n%s" % (fragment, result.describe())


def db_inventory_vars(pg_cluster_info, dbname, work_dir, store="local", s3=None, bucket="yieldvault-backups",
                      prefix="database/", local_backup_dir=None, owner="postgres", local_dir=None, **extra):
    """The db_restore_* inventory variables for one test.

    pg_cluster_info: the pg_cluster fixture's dict; s3: the s3_server fixture's
    dict (S3 variables are left empty without it); local_backup_dir (alias
    local_dir) defaults to <work_dir>/backups. Extra keyword arguments are added verbatim (use full
    variable names, e.g. db_restore_rpo_minutes=60).
    """
    work_dir = str(work_dir)
    local_backup_dir = local_backup_dir or local_dir
    out = {
        "db_restore_database": dbname,
        "db_restore_owner": owner,
        "db_restore_login_host": pg_cluster_info["host"],
        "db_restore_login_port": int(pg_cluster_info["port"]),
        "db_restore_login_user": pg_cluster_info["user"],
        "db_restore_login_password": pg_cluster.password(pg_cluster_info),
        "db_restore_pg_bin_dir": PG_BIN_DIR,
        "db_restore_backup_store": store,
        "db_restore_local_backup_dir": str(local_backup_dir or os.path.join(work_dir, "backups")),
        "db_restore_s3_bucket": bucket if s3 else "",
        "db_restore_s3_prefix": prefix,
        "db_restore_s3_endpoint_url": s3["endpoint_url"] if s3 else "",
        "db_restore_s3_region": s3["region"] if s3 else "us-east-1",
        "db_restore_s3_access_key": s3["access_key"] if s3 else "",
        "db_restore_s3_secret_key": s3["secret_key"] if s3 else "",
        "db_restore_work_dir": work_dir,
        # The retries of a failed download are what the tests check; the wait before them (3 s, doubled) would
        # only add 9 s to each test with a corrupt or cut download. The delays: tests/unit/test_checksum.py.
        "db_restore_download_retry_delay": 0,
    }
    out.update(extra)
    return out
