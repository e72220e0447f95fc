#!/usr/bin/env python3
"""`make demo`: a whole restore on this machine, from an incident to the report.

Starts (or reuses) a throwaway PostgreSQL 15 cluster under ./demo/pg, builds a
YieldVault-shaped database, takes two backups into the local store ./demo/backups,
simulates an incident, runs the fixture backend under PM2 (its own PM2_HOME
under ./demo/pm2), shows the plan (--check), restores to a point between the
two backups with playbooks/restore.yml - which stops the backend, restores,
verifies, starts it and waits for it to be healthy - checks the data is the
first backup's, and prints the report. Then act 2: WAL archiving on (pgBackRest), a second
incident, and a restore to the second before it from the archive, whose report says 0 s of data lost.
"""
import datetime as dt
import json
import os
import pathlib
import shutil
import subprocess
import sys
import secrets
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))

import make_backup  # noqa: E402
import pg_cluster  # noqa: E402
import yieldvault_fixture  # noqa: E402
from dbutil import exact_counts, table_checksums  # noqa: E402

DEMO = ROOT / "demo"
DB = "yieldvault_demo"
OWNER = "yieldvault_user"
BACKEND = "yieldvault-demo-backend"
PM2_HOME = DEMO / "pm2"


def pm2(*args, env=None):
    return subprocess.run(["pm2", *args], env=dict(env or os.environ, PM2_HOME=str(PM2_HOME)),
                          capture_output=True, text=True)


def start_backend(info):
    """The fixture backend under PM2, connected as the owner role, healthy."""
    password = secrets.token_urlsafe(16)
    conn = pg_cluster.connect(info, "postgres")
    with conn.cursor() as cur:
        cur.execute("ALTER ROLE %s LOGIN PASSWORD %%s" % OWNER, (password,))
    conn.close()
    port = pg_cluster.free_port()
    pm2("delete", BACKEND)
    env = dict(os.environ, HOST="127.0.0.1", PORT=str(port), PGHOST="127.0.0.1", PGPORT=str(info["port"]),
               PGUSER=OWNER, PGPASSWORD=password, PGDATABASE=DB)
    res = pm2("start", str(ROOT / "tests" / "fixtures" / "backend" / "server.js"), "--name", BACKEND, env=env)
    if res.returncode != 0:
        sys.exit("demo: PM2 could not start the backend: %s" % res.stderr)
    url = "http://127.0.0.1:%d" % port
    for _ in range(30):
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as resp:
                if json.loads(resp.read()).get("status") == "healthy":
                    return url
        except OSError:
            pass
        time.sleep(1)
    sys.exit("demo: the backend did not become healthy; `PM2_HOME=demo/pm2 pm2 logs %s`" % BACKEND)


def pm2_status():
    res = pm2("jlist")
    try:
        procs = json.loads(res.stdout[res.stdout.index("["):])
    except ValueError:
        return "unknown"
    return ", ".join("%s %s (pid %s, restarts %s)" % (p["name"], p["pm2_env"]["status"], p.get("pid"),
                                                      p["pm2_env"].get("restart_time"))
                     for p in procs) or "no process"


def say(text):
    print("\n== %s" % text, flush=True)


def playbook(*args, name="restore.yml"):
    cmd = [str(ROOT / ".venv" / "bin" / "ansible-playbook"), str(ROOT / "playbooks" / name),
           "-i", str(ROOT / "inventories" / "local"), *args]
    print("$ ansible-playbook " + " ".join(cmd[1:]).replace(str(ROOT) + "/", ""), flush=True)
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    proc = subprocess.run(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL)
    return proc.returncode


def main():
    started = time.monotonic()
    say("Starting the throwaway PostgreSQL 15 cluster (demo/pg)")
    info = pg_cluster.start(str(DEMO / "pg"))
    (DEMO / "pg" / "port").write_text("%d\n" % info["port"])
    if info.get("password_file") and pathlib.Path(info["password_file"]) != DEMO / "pg" / "password":
        shutil.copyfile(info["password_file"], DEMO / "pg" / "password")
        os.chmod(DEMO / "pg" / "password", 0o600)
    print("PostgreSQL on %s:%s" % (info["host"], info["port"]))

    for sub in ("backups", "work"):
        shutil.rmtree(DEMO / sub, ignore_errors=True)
        (DEMO / sub).mkdir(parents=True)

    now = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)
    first_at, second_at = now - dt.timedelta(minutes=20), now - dt.timedelta(minutes=8)
    point = now - dt.timedelta(minutes=10)

    say("Creating %s, a YieldVault-shaped database" % DB)
    yieldvault_fixture.create(info, DB, users=1000, seed=1, owner=OWNER)
    at_first = exact_counts(info, DB)
    sums_first = table_checksums(info, DB)
    print(json.dumps(at_first, indent=1))

    say("Taking backup 1 (named as taken at %s)" % first_at.strftime("%H:%M"))
    print(make_backup.make_backup(info, DB, "local", first_at, local_dir=str(DEMO / "backups"))["name"])
    say("More activity, then backup 2 (named as taken at %s)" % second_at.strftime("%H:%M"))
    yieldvault_fixture.add_activity(info, DB, users=50, seed=2)
    print(make_backup.make_backup(info, DB, "local", second_at, local_dir=str(DEMO / "backups"))["name"])

    say("The incident: a third of the transactions deleted, table Referral dropped")
    print(json.dumps(yieldvault_fixture.incident(info, DB)))

    say("The application: the fixture backend under PM2 (PM2_HOME=demo/pm2)")
    url = start_backend(info)
    print("%s answers healthy at %s/health; PM2: %s" % (BACKEND, url, pm2_status()))
    services = {
        "db_restore_services": [{"name": BACKEND, "manager": "pm2", "health_url": url + "/health"}],
        "db_restore_pm2_home": str(PM2_HOME),
        "db_restore_smoke_urls": [url + "/health", url + "/api/v1/vault/state", url + "/api/v1/transactions?limit=1"],
        "db_restore_smoke_write": {"url": url + "/api/v1/audit", "body": {"action": "restore smoke test"},
                                   "read_url": url + "/api/v1/audit/{id}"},
    }
    (DEMO / "services.json").write_text(json.dumps(services, indent=1))

    iso_point = point.strftime("%Y-%m-%dT%H:%M:%SZ")
    say("The plan for a restore to %s (--check: nothing changes)" % iso_point)
    if playbook("--check", "-e", "point=" + iso_point, "-e", "@" + str(DEMO / "services.json")) != 0:
        sys.exit("demo: the check run failed")

    say("The restore to %s, between the two backups" % iso_point)
    if playbook("-e", "point=" + iso_point, "-e", "confirm=" + DB, "-e", "incident=DEMO-1",
                "-e", "@" + str(DEMO / "services.json")) != 0:
        sys.exit("demo: the restore failed; see the output above")

    say("Checking the restored data is exactly backup 1's")
    # The smoke test's write check added one audit row through the backend
    # after the restore; every other table must be exactly backup 1's.
    audit = "public.AdminAuditLog"
    after = exact_counts(info, DB)
    sums_after = table_checksums(info, DB)
    same = (after[audit] == at_first[audit] + 1
            and {t: n for t, n in after.items() if t != audit} == {t: n for t, n in at_first.items() if t != audit}
            and {t: c for t, c in sums_after.items() if t != audit} == {t: c for t, c in sums_first.items() if t != audit})
    for table in sorted(at_first):
        print("%-28s backup 1: %6d   restored: %6s" % (table, at_first[table], after.get(table)))
    if not same:
        sys.exit("demo: the restored data differs from backup 1")
    print("Every table's rows match backup 1 (counts and checksums), plus the one %s row the smoke test wrote."
          % audit)

    print("PM2 after the restore: %s" % pm2_status())

    reports = sorted((DEMO / "work" / "reports").glob("restore-*/report.md"))
    say("The report")
    print(reports[-1].read_text())
    print("Report: %s (and report.json beside it)" % reports[-1])

    wal_restore(info)
    print("Demo finished in %.0f s. The cluster (port %s) and the backend under PM2 (%s) keep running;"
          " `make demo-clean` removes both." % (time.monotonic() - started, info["port"], url))


def wal_restore(info):
    """Act 2: WAL archiving on (pgBackRest, a posix repository under ./demo/pgbackrest), then a restore to the
    second before a second incident - the report says 0 s of data lost."""
    wal = DEMO / "pgbackrest"
    shutil.rmtree(wal, ignore_errors=True)
    wal.mkdir(parents=True)
    os.chmod(wal, 0o755)
    settings = {
        "db_restore_pg_data_dir": info["data_dir"],
        "db_restore_login_unix_socket": info["socket_dir"],
        "db_restore_pgbackrest_stanza": "demo",
        "db_restore_pgbackrest_config": str(wal / "pgbackrest.conf"),
        "db_restore_pgbackrest_repo_path": str(wal / "repo"),
        "db_restore_pgbackrest_log_path": str(wal / "log"),
        "db_restore_wal_scratch_dir": str(wal / "scratch"),
    }
    (DEMO / "wal.json").write_text(json.dumps(settings, indent=1))
    say("Act 2: WAL archiving on with pgBackRest (one restart of the cluster, a full base backup)")
    if playbook("-e", "@" + str(DEMO / "wal.json"), name="wal_archive.yml") != 0:
        sys.exit("demo: turning WAL archiving on failed; see the output above")

    good = table_checksums(info, DB)
    conn = pg_cluster.connect(info, DB)
    try:
        cur = conn.cursor()
        cur.execute("SELECT extract(epoch FROM clock_timestamp())")
        point_epoch = int(float(cur.fetchone()[0])) + 1
    finally:
        conn.close()
    time.sleep(max(0.0, point_epoch + 1.5 - time.time()))
    point = dt.datetime.fromtimestamp(point_epoch, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    say("A second incident at %s, one second after %s: a third of the transactions deleted again"
        % (dt.datetime.now(dt.timezone.utc).strftime("%H:%M:%S"), point))
    print(json.dumps(yieldvault_fixture.incident(info, DB)))

    say("The restore to %s, to the second, from the WAL archive (source auto: the archive covers the point)" % point)
    if playbook("-e", "point=" + point, "-e", "confirm=" + DB, "-e", "incident=DEMO-2",
                "-e", "@" + str(DEMO / "services.json"), "-e", "@" + str(DEMO / "wal.json")) != 0:
        sys.exit("demo: the restore from the WAL archive failed; see the output above")
    audit = "public.AdminAuditLog"
    after = table_checksums(info, DB)
    if {t: c for t, c in after.items() if t != audit} != {t: c for t, c in good.items() if t != audit}:
        sys.exit("demo: the data restored from the WAL archive differs from the state at %s" % point)
    print("Every table is exactly as it was at %s (checksums), plus the smoke test's %s row." % (point, audit))
    report = sorted((DEMO / "work" / "reports").glob("restore-*/report.md"), key=lambda p: p.stat().st_mtime)[-1]
    lines = [line for line in report.read_text().splitlines()
             if line.startswith(("| Outcome", "| Restore point", "| Source", "| Data loss", "| Total RTO"))]
    say("From the report")
    print("\n".join(lines))
    print("Report: %s" % report)


if __name__ == "__main__":
    main()
