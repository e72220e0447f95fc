"""The contenders of the benchmark, each restoring the same S3 backup into the same database.

Every run returns a dict: contender, ok, error, total (wall seconds of the whole
command, process start included), downtime (services stopped until the data
is verified and services are back), downtime_drop (drop until counts done, the
narrowest window), and phases {fetch, safety_backup, prepare_database,
restore_database, verify_restore, other} in seconds, "other" being whatever the
total holds beyond those (Ansible start-up, preflight, assessment, ...).
"""

import datetime
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import pg_cluster  # noqa: E402

VENV_BIN = REPO / ".venv" / "bin"
PHASES = ("fetch", "safety_backup", "prepare_database", "restore_database", "verify_restore")
CONTENDERS = ("runbook", "postgresql_db", "restore_yml", "restore_yml_in_place", "restore_yml_baseline", "restore_wal",
              "drill_yml")
# What `make bench` runs without --contenders (--baseline adds restore_yml_baseline, --full restore_yml_in_place).
DEFAULT_CONTENDERS = ("runbook", "postgresql_db", "restore_yml", "restore_wal", "drill_yml")
LABELS = {
    "runbook": "runbook by hand (runbook.sh)",
    "postgresql_db": "community.postgresql postgresql_db",
    "restore_yml": "playbooks/restore.yml",
    "restore_yml_in_place": "playbooks/restore.yml, method in_place",
    "restore_yml_baseline": "playbooks/restore.yml, baseline",
    "restore_wal": "playbooks/restore.yml, from the WAL archive",
    "drill_yml": "playbooks/drill.yml (no downtime)",
}


class Context:
    """What every contender needs: the cluster, the S3 endpoint, where to work."""

    def __init__(self, conn_info, s3, bucket, work_root, pg_bin_dir, jobs=4, timeout=3600, code=REPO,
                 baseline_code=None):
        # code: the collection checkout whose playbooks run (run.py --ref exports one);
        # baseline_code: an older commit's, for before/after in the same run (run.py --baseline).
        self.code = Path(code)
        self.baseline_code = Path(baseline_code) if baseline_code else None
        self.conn_info = conn_info
        self.s3 = s3
        self.bucket = bucket
        self.work_root = Path(work_root)
        self.pg_bin_dir = pg_bin_dir
        self.jobs = jobs
        self.timeout = timeout
        self.counter = 0
        self.wal = None  # WalArchive, started by run.py at the first size when restore_wal runs
        self.wal_point = None  # the second restore_wal restores to, set by run.py before each run

    def run_dir(self, label):
        self.counter += 1
        path = self.work_root / ("%03d-%s" % (self.counter, label))
        path.mkdir(parents=True)
        os.chmod(path, 0o755)
        return path

    def env(self, extra=None, code=None):
        env = dict(os.environ)
        env.update({
            "ANSIBLE_CONFIG": str((code or self.code) / "ansible.cfg"),
            "ANSIBLE_NOCOLOR": "1",
            "PATH": "%s:%s:%s" % (VENV_BIN, self.pg_bin_dir, env.get("PATH", "/usr/bin:/bin")),
            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
            "AWS_EC2_METADATA_DISABLED": "true",
        })
        env.update(extra or {})
        return env


def _run(cmd, ctx, env, log_path, code=None):
    """Run cmd from the collection's root, stdout+stderr to log_path; (rc, wall seconds)."""
    started = time.monotonic()
    with open(log_path, "w") as log:
        try:
            rc = subprocess.run(cmd, cwd=str(code or ctx.code), env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, timeout=ctx.timeout).returncode
        except subprocess.TimeoutExpired:
            rc = -9
    return rc, time.monotonic() - started


def _tail(path, lines=25):
    """Ansible's own error lines when there are any (the end of a log is the recap), else the log's tail."""
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    errors = [line for line in text if line.startswith("[ERROR]") or "FAILED!" in line]
    return "\n".join(errors[:3]) if errors else "\n".join(text[-lines:])


def _result(contender, rc, total, log, phases=None, downtime=None, downtime_drop=None, extra=None):
    phases = {k: v for k, v in (phases or {}).items() if v is not None}
    out = {"contender": contender, "ok": rc == 0, "rc": rc, "total": round(total, 2),
           "downtime": None if downtime is None else round(downtime, 2),
           "downtime_drop": None if downtime_drop is None else round(downtime_drop, 2),
           "phases": {k: round(v, 2) for k, v in phases.items()}}
    if phases:
        out["phases"]["other"] = round(max(0.0, total - sum(phases.values())), 2)
    if rc != 0:
        out["error"] = _tail(log)
    out.update(extra or {})
    return out


def _window(spans, first, last):
    """Seconds from the start of phase first to the end of phase last, spans being {name: (start, end)}."""
    if first in spans and last in spans:
        return spans[last][1] - spans[first][0]
    return None


def _common_phases(spans):
    def secs(*names):
        vals = [spans[n][1] - spans[n][0] for n in names if n in spans]
        return sum(vals) if vals else None
    return {"fetch": secs("download", "checksum", "fetch_backup"), "safety_backup": secs("safety_backup", "safety_upload"),
            "prepare_database": secs("prepare_database"), "restore_database": secs("restore_database"),
            "verify_restore": secs("verify_restore")}


def runbook(ctx, db, backup):
    """(a) benchmarks/runbook.sh."""
    work = ctx.run_dir("runbook")
    times = work / "times.txt"
    env = ctx.env({
        "PGHOST": ctx.conn_info["host"], "PGPORT": str(ctx.conn_info["port"]), "PGUSER": ctx.conn_info["user"],
        "PGPASSWORD": pg_cluster.password(ctx.conn_info), "PG_BIN_DIR": ctx.pg_bin_dir,
        "DB": db, "OWNER": "postgres", "S3_ENDPOINT_URL": ctx.s3["endpoint_url"], "S3_BUCKET": ctx.bucket,
        "S3_KEY": backup["key"], "AWS_ACCESS_KEY_ID": ctx.s3["access_key"],
        "AWS_SECRET_ACCESS_KEY": ctx.s3["secret_key"], "AWS_DEFAULT_REGION": ctx.s3["region"],
        "WORK": str(work), "JOBS": str(ctx.jobs), "PYTHON": str(VENV_BIN / "python"), "TIMES": str(times),
    })
    rc, total = _run(["bash", str(REPO / "benchmarks" / "runbook.sh")], ctx, env, work / "log.txt")
    spans = {}
    if times.exists():
        for line in times.read_text().splitlines():
            name, start, end = line.split()
            spans[name] = (float(start), float(end))
    upload = spans.get("safety_upload")
    out = _result("runbook", rc, total, work / "log.txt", _common_phases(spans),
                  _window(spans, "stop_services", "start_services"),
                  _window(spans, "prepare_database", "verify_restore"),
                  # Part of its safety backup phase (runbook step 3); the report gives the ratios without it too.
                  {"safety_upload": round(upload[1] - upload[0], 2) if upload else None})
    shutil.rmtree(work, ignore_errors=True)
    return out


def _extra_vars_file(work, data):
    path = work / "extra.json"
    path.write_text(json.dumps(data))
    os.chmod(path, 0o600)
    return path


def postgresql_db(ctx, db, backup):
    """(b) community.postgresql.postgresql_db state=restore (benchmarks/postgresql_db_restore.yml)."""
    work = ctx.run_dir("postgresql_db")
    times = work / "times.json"
    extra = _extra_vars_file(work, {
        "bench_db": db, "bench_owner": "postgres", "bench_work_dir": str(work), "bench_times_file": str(times),
        "bench_jobs": ctx.jobs, "bench_login_host": ctx.conn_info["host"], "bench_login_port": ctx.conn_info["port"],
        "bench_login_user": ctx.conn_info["user"], "bench_login_password": pg_cluster.password(ctx.conn_info),
        "bench_s3_endpoint_url": ctx.s3["endpoint_url"], "bench_s3_bucket": ctx.bucket, "bench_s3_key": backup["key"],
        "bench_s3_region": ctx.s3["region"], "bench_s3_access_key": ctx.s3["access_key"],
        "bench_s3_secret_key": ctx.s3["secret_key"], "bench_md5": backup["md5"],
        "ansible_python_interpreter": str(VENV_BIN / "python"),
    })
    cmd = [str(VENV_BIN / "ansible-playbook"), str(REPO / "benchmarks" / "postgresql_db_restore.yml"),
           "-i", "localhost,", "-c", "local", "-e", "@%s" % extra]
    rc, total = _run(cmd, ctx, ctx.env(), work / "log.txt")
    spans = {}
    if times.exists():
        spans = {k: tuple(v) for k, v in json.loads(times.read_text()).items() if len(v) == 2}
    out = _result("postgresql_db", rc, total, work / "log.txt", _common_phases(spans),
                  _window(spans, "safety_backup", "verify_restore"),
                  _window(spans, "prepare_database", "verify_restore"))
    shutil.rmtree(work, ignore_errors=True)
    return out


def inventory(ctx, hosts, work_root, extra_vars=None, clusters=None):
    """A restore.yml inventory, the shape of tests/integration (dbutil.db_inventory_vars), one host per database.

    clusters: {inventory name: connection info} for hosts whose database lives in a cluster of its own
    (run.py's databases-per-run measurement); the others use ctx's cluster.
    """
    host_vars = {}
    for name, db in hosts.items():
        work = Path(work_root) / name
        conn_info = (clusters or {}).get(name, ctx.conn_info)
        host_vars[name] = {
            "ansible_connection": "local", "ansible_python_interpreter": str(VENV_BIN / "python"),
            "db_restore_database": db, "db_restore_owner": "postgres", "db_restore_confirm": db,
            "db_restore_login_host": conn_info["host"], "db_restore_login_port": int(conn_info["port"]),
            "db_restore_login_user": conn_info["user"],
            "db_restore_login_password": pg_cluster.password(conn_info),
            "db_restore_pg_bin_dir": ctx.pg_bin_dir, "db_restore_backup_store": "s3",
            "db_restore_s3_bucket": ctx.bucket, "db_restore_s3_prefix": "database/",
            "db_restore_s3_endpoint_url": ctx.s3["endpoint_url"], "db_restore_s3_region": ctx.s3["region"],
            "db_restore_s3_access_key": ctx.s3["access_key"], "db_restore_s3_secret_key": ctx.s3["secret_key"],
            "db_restore_local_backup_dir": str(work / "backups"), "db_restore_work_dir": str(work),
            # The benchmark's backups are hours old in no sense that matters here.
            "db_restore_rpo_minutes": 100000,
        }
        host_vars[name].update(extra_vars or {})
    return {"all": {"hosts": host_vars, "children": {
        "db_servers": {"hosts": {h: None for h in hosts}},
        "app_servers": {"hosts": {h: None for h in hosts}},
    }}}


def _iso_epoch(text):
    if not text:
        return None
    if isinstance(text, (int, float)):
        return float(text)
    return datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()


def _report_spans(report):
    spans = {}
    for phase in report.get("phases") or []:
        start = phase.get("started_epoch") or _iso_epoch(phase.get("started"))
        end = phase.get("ended_epoch") or _iso_epoch(phase.get("ended"))
        if start is not None and end is not None:
            # ISO timestamps carry whole seconds; the phase's own seconds are finer.
            if phase.get("seconds") is not None:
                end = start + float(phase["seconds"])
            spans[phase["name"]] = (start, end)
    return spans


def playbook(ctx, hosts, playbook_name="restore.yml", forks=None, label=None, code=None, extra_vars=None,
             clusters=None, extra_args=None):
    """(c) playbooks/restore.yml or drill.yml over hosts {inventory name: database}; one result per run.

    code: run the playbook of this checkout instead of ctx.code (the baseline); extra_vars: more inventory
    variables for every host (db_restore_method=in_place); clusters: {inventory name: connection info}, a
    cluster per host; extra_args: more -e name=value of the command line (point, source).
    """
    code = code or ctx.code
    work = ctx.run_dir(label or playbook_name.replace(".yml", ""))
    inv = work / "inventory.yml"
    inv.write_text(yaml.safe_dump(inventory(ctx, hosts, work, extra_vars, clusters), sort_keys=False))
    os.chmod(inv, 0o600)
    cmd = [str(VENV_BIN / "ansible-playbook"), str(code / "playbooks" / playbook_name), "-i", str(inv),
           "-e", "incident=BENCH"]
    for name, value in (extra_args or {}).items():
        cmd += ["-e", "%s=%s" % (name, value)]
    if forks:
        cmd += ["--forks", str(forks)]
    rc, total = _run(cmd, ctx, ctx.env(code=code), work / "log.txt", code=code)
    reports = []
    for name in hosts:
        found = sorted((work / name / "reports").glob("*/report.json")) if (work / name / "reports").exists() else []
        if found:
            reports.append(json.loads(found[-1].read_text()))
    contender = "restore_yml" if playbook_name == "restore.yml" else "drill_yml"
    extra = {"databases": len(hosts)}
    if len(hosts) == 1 and reports:
        report = reports[0]
        spans = _report_spans(report)
        metrics = report.get("metrics") or {}
        downtime = metrics.get("downtime_seconds")
        if contender == "drill_yml":
            downtime = 0.0  # production stays up; nothing of it is stopped or dropped
        out = _result(contender, rc, total, work / "log.txt", _common_phases(spans), downtime,
                      _window(spans, "prepare_database", "verify_restore") if contender == "restore_yml" else 0.0,
                      extra)
        out["outcome"] = report.get("outcome")
        out["restore_source"] = metrics.get("restore_source")
        out["downtime_max"] = downtime  # one host: the longest downtime is its own
        out["report_phases"] = {n: round(e - s, 2) for n, (s, e) in spans.items()}
    else:
        out = _result(contender, rc, total, work / "log.txt", extra=extra)
        out["outcomes"] = [r.get("outcome") for r in reports]
        downs = [(r.get("metrics") or {}).get("downtime_seconds") for r in reports]
        if downs and all(d is not None for d in downs):
            out["downtime_max"] = max(downs)
    if rc == 0 and len(reports) != len(hosts):
        out["ok"] = False
        out["error"] = "expected %d report.json, found %d" % (len(hosts), len(reports))
    # The playbook's output stays beside the run directories (run.py --keep leaves them for a look).
    shutil.copyfile(work / "log.txt", ctx.work_root / ("%s-log.txt" % work.name))
    shutil.rmtree(work, ignore_errors=True)
    return out


def restore_yml(ctx, db, backup):
    return playbook(ctx, {"db1": db}, "restore.yml")


def restore_yml_in_place(ctx, db, backup):
    """restore.yml with db_restore_method=in_place (hosts without room for a second copy): the runbook's own order,
    so the safety dump, the drop and the restore are all inside the downtime."""
    out = playbook(ctx, {"db1": db}, "restore.yml", label="restore-in-place",
                   extra_vars={"db_restore_method": "in_place"})
    out["contender"] = "restore_yml_in_place"
    return out


def restore_yml_baseline(ctx, db, backup):
    """restore.yml as committed at run.py --baseline REF: the before of a before/after in the same run."""
    out = playbook(ctx, {"db1": db}, "restore.yml", label="restore-baseline", code=ctx.baseline_code)
    out["contender"] = "restore_yml_baseline"
    return out


WAL_STANZA = "yv_bench"
WAL_MARKS = "zz_bench_pitr_marks"  # last by name, so datagen.mark_incident never picks it


class WalArchive:
    """The archive contender's cluster: a PostgreSQL cluster of its own with WAL archiving on (pgBackRest, a posix
    repository), under the run's work directory.

    Its own cluster, not the one the dump contenders restore into: archive_mode on makes every WAL segment of
    their restores go through archive_command, a cost the runbook's server does not pay and earlier results did
    not include; and turning archiving on restarts the server. Each size's database is copied into it (a pg_dump of
    the dump contenders' database), then a full base backup is taken (`pgbackrest backup`).
    """

    def __init__(self, ctx, base):
        self.base = Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        os.chmod(self.base, 0o755)
        self.info = pg_cluster.start(self.base / "cluster")
        self.config = self.base / "pgbackrest" / "pgbackrest.conf"
        self.vars = {
            "db_restore_login_unix_socket": self.info["socket_dir"],
            "db_restore_pg_data_dir": self.info["data_dir"],
            "db_restore_pg_restart": "pg_ctl",
            "db_restore_pgbackrest_stanza": WAL_STANZA,
            "db_restore_pgbackrest_config": str(self.config),
            "db_restore_pgbackrest_repo_path": str(self.base / "repo"),
            "db_restore_pgbackrest_log_path": str(self.base / "pgbackrest-log"),
            "db_restore_wal_archive_timeout": 60,
        }
        self.dbs = set()
        started = time.monotonic()
        work = ctx.run_dir("wal-archive-on")
        inv = work / "inventory.yml"
        inv.write_text(yaml.safe_dump(inventory(ctx, {"db1": "postgres"}, work, self.vars, {"db1": self.info}),
                                      sort_keys=False))
        os.chmod(inv, 0o600)
        rc, _ = _run([str(VENV_BIN / "ansible-playbook"), str(ctx.code / "playbooks" / "wal_archive.yml"),
                      "-i", str(inv)], ctx, ctx.env(), work / "log.txt")
        if rc != 0:
            self.stop()
            raise RuntimeError("playbooks/wal_archive.yml failed on the archive contender's cluster:\n%s"
                               % _tail(work / "log.txt"))
        self.archive_on_seconds = round(time.monotonic() - started, 1)
        shutil.rmtree(work, ignore_errors=True)

    def stop(self):
        pg_cluster.stop(self.base / "cluster", mode="immediate")

    def prepare(self, dump, db):
        """db in the archiving cluster from dump (the size before it dropped), a table of marks, a full base
        backup; returns the base backup's seconds."""
        import datagen  # benchmarks/ is on sys.path when run.py runs; datagen needs tests/integration's dbutil
        for old in self.dbs - {db}:
            datagen.drop_database(self.info, old)
        self.dbs = {db}
        datagen.load_dump(dump, self.info, db)
        conn = pg_cluster.connect(self.info, db)
        conn.autocommit = True
        try:
            conn.cursor().execute("CREATE TABLE %s (id serial PRIMARY KEY, note text NOT NULL, "
                                  "at timestamptz NOT NULL DEFAULT clock_timestamp())" % WAL_MARKS)
        finally:
            conn.close()
        started = time.monotonic()
        self.pgbackrest("--type=full", "backup")
        return round(time.monotonic() - started, 1)

    def pgbackrest(self, *args):
        res = subprocess.run(["runuser", "-u", "postgres", "--", "pgbackrest", "--config=%s" % self.config,
                              "--stanza=%s" % WAL_STANZA] + list(args), capture_output=True, text=True,
                             env=dict(os.environ, PGPASSWORD=pg_cluster.password(self.info)))
        if res.returncode != 0:
            raise RuntimeError("pgbackrest %s failed (exit %s): %s" % (" ".join(args), res.returncode,
                                                                      (res.stdout + res.stderr)[-2000:]))
        return res.stdout

    def marks(self, db):
        conn = pg_cluster.connect(self.info, db)
        try:
            cur = conn.cursor()
            cur.execute("SELECT id, note FROM %s ORDER BY id" % WAL_MARKS)
            return cur.fetchall()
        finally:
            conn.close()

    def commit_around_a_point(self, db, rep, snapshot):
        """A commit, the point (the next whole second), a commit after it; returns the point (ISO, UTC), its epoch
        and what snapshot() returned, called between the first commit and the point."""
        conn = pg_cluster.connect(self.info, db)
        conn.autocommit = True
        try:
            cur = conn.cursor()
            cur.execute("INSERT INTO %s (note) VALUES (%%s)" % WAL_MARKS, ("rep %s, before the point" % rep,))
            cur.execute("SELECT extract(epoch FROM clock_timestamp())")
            point_epoch = int(float(cur.fetchone()[0])) + 1
            seen = snapshot()
            time.sleep(max(0.0, point_epoch + 1.3 - time.time()))
            cur.execute("INSERT INTO %s (note) VALUES (%%s)" % WAL_MARKS, ("rep %s, after the point" % rep,))
        finally:
            conn.close()
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(point_epoch)), point_epoch, seen


def restore_wal(ctx, db, backup):
    """restore.yml -e point=<second> -e source=wal on the archiving cluster (WalArchive): the scratch server's
    recovery to the second, a dump of the database from it, staging, verification and the swap. run.py commits
    around the point and checks the rows against those committed by it."""
    point = ctx.wal_point
    out = playbook(ctx, {"db1": db}, "restore.yml", label="restore-wal", extra_vars=ctx.wal.vars,
                   clusters={"db1": ctx.wal.info}, extra_args={"point": point, "source": "wal"})
    out["contender"] = "restore_wal"
    out["point"] = point
    if out["ok"] and out.get("restore_source") != "wal":
        out["ok"] = False
        out["error"] = "restore.yml restored from %r, not the WAL archive" % out.get("restore_source")
    return out


def drill_yml(ctx, db, backup):
    return playbook(ctx, {"db1": db}, "drill.yml")


RUNNERS = {"runbook": runbook, "postgresql_db": postgresql_db, "restore_yml": restore_yml,
           "restore_yml_in_place": restore_yml_in_place, "restore_yml_baseline": restore_yml_baseline,
           "restore_wal": restore_wal, "drill_yml": drill_yml}
