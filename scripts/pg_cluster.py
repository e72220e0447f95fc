#!/usr/bin/env python3
"""Throwaway PostgreSQL 15 clusters for tests, the demo and the benchmarks.

Layout of a cluster directory DIR (everything a cluster needs lives inside it):

    DIR/data/          PGDATA (initdb)
    DIR/run/           unix socket directory
    DIR/password       superuser password, mode 0600 (unless --password-file)
    DIR/cluster.json   port and paths, so a stopped cluster restarts on the same port
    DIR/postgresql.log server log

When we run as root, initdb and the server run as the `postgres` OS user
(PostgreSQL refuses to run as root), DIR is chowned to postgres, and every
parent directory that this script creates is made 0755. If an existing parent
is closed to postgres (e.g. a 0700 home or pytest's /tmp/pytest-of-root), we
stop with a message instead of loosening permissions we did not set: put
clusters under /tmp/... or another directory postgres can traverse.

The server listens on 127.0.0.1 only, on a free port picked by binding port 0
(or --port), with fsync, full_page_writes and synchronous_commit off: these
clusters are disposable and speed matters more than crash safety.

    pg_cluster.py start DIR [--port N] [--password-file F]   -> JSON connection info
    pg_cluster.py stop DIR [--mode fast|immediate]
    pg_cluster.py status DIR

Python API: start(dir, ...) -> dict, stop(dir), status(dir), connect(info, dbname),
stop_server(dir_or_info, mode) / start_server(dir_or_info) for fault tests.
"""

import argparse
import json
import os
import pwd
import secrets
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_BIN_DIR = "/usr/lib/postgresql/15/bin"
SUPERUSER = "postgres"
OS_USER = "postgres"
HOST = "127.0.0.1"
FAST_SETTINGS = ("fsync=off", "full_page_writes=off", "synchronous_commit=off")


class ClusterError(RuntimeError):
    """A cluster could not be created, started or stopped; the message says why and what to do."""


def bin_dir():
    return os.environ.get("PG_BIN_DIR") or DEFAULT_BIN_DIR


def _tool(name):
    path = Path(bin_dir()) / name
    if not path.is_file():
        raise ClusterError(
            "%s not found in %s: install Debian's postgresql-15 (scripts/setup.sh does) "
            "or set PG_BIN_DIR to the directory holding the PostgreSQL 15 server binaries" % (name, bin_dir()))
    return str(path)


def _as_root():
    return os.geteuid() == 0


def _run_as_postgres(argv, **kwargs):
    """Run argv as the postgres OS user when we are root, else as ourselves."""
    if _as_root():
        argv = ["runuser", "-u", OS_USER, "--"] + list(argv)
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    return subprocess.run(argv, **kwargs)


def _paths(directory):
    base = Path(directory).resolve()
    return {
        "base": base,
        "data": base / "data",
        "run": base / "run",
        "password": base / "password",
        "state": base / "cluster.json",
        "log": base / "postgresql.log",
    }


def _base_of(dir_or_info):
    if isinstance(dir_or_info, dict):
        return Path(dir_or_info["data_dir"]).parent
    return Path(dir_or_info)


def free_port():
    """A port the kernel considers free on loopback right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def _make_dirs(base):
    """Create base and missing parents 0755 so the postgres user can traverse them."""
    missing = []
    p = base
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir()
        os.chmod(d, 0o755)
    if _as_root():
        probe = _run_as_postgres(["test", "-x", str(base)])
        if probe.returncode != 0:
            raise ClusterError(
                "the postgres OS user cannot reach %s (a parent directory is not traversable by it); "
                "no cluster was created. Put the cluster under /tmp/... or another directory "
                "whose parents are mode 0755" % base)


def _read_pid_file(data_dir):
    """(pid, port, socket_dir) from postmaster.pid, or None when absent or stale."""
    pid_file = Path(data_dir) / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return None
    if len(lines) < 5:
        return None
    try:
        pid = int(lines[0].strip())
        port = int(lines[3].strip())
    except ValueError:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by another user
    try:
        # After a reboot the pid may belong to an unrelated process.
        if Path("/proc/%d/comm" % pid).read_text().strip() not in ("postgres", "postmaster"):
            return None
    except OSError:
        pass
    return pid, port, lines[4].strip()


def _load_state(paths):
    try:
        return json.loads(paths["state"].read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _info(paths, port, password_file):
    return {
        "host": HOST,
        "port": int(port),
        "user": SUPERUSER,
        "password_file": str(password_file),
        "data_dir": str(paths["data"]),
        "socket_dir": str(paths["run"]),
        "bin_dir": bin_dir(),
    }


def _write_state(paths, info):
    paths["state"].write_text(json.dumps(info, indent=2) + "\n")
    os.chmod(paths["state"], 0o644)


def _initdb(paths, password_file):
    pw_path = Path(password_file)
    if not pw_path.exists():
        pw_path.write_text(secrets.token_urlsafe(24) + "\n")
    os.chmod(pw_path, 0o600)
    password = pw_path.read_text().strip()
    if not password:
        raise ClusterError("password file %s is empty; write a password into it or omit --password-file" % pw_path)
    # initdb reads the password as the postgres user, so hand it a private copy it owns.
    pwfile = paths["base"] / ".initdb-pw"
    pwfile.write_text(password + "\n")
    os.chmod(pwfile, 0o600)
    if _as_root():
        pw = pwd.getpwnam(OS_USER)
        for p in (paths["base"], pwfile, pw_path if pw_path.parent == paths["base"] else None):
            if p is not None:
                os.chown(p, pw.pw_uid, pw.pw_gid)
    try:
        res = _run_as_postgres([
            _tool("initdb"), "-D", str(paths["data"]), "--username", SUPERUSER,
            "--pwfile", str(pwfile), "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8",
            "--no-instructions",
        ])
    finally:
        pwfile.unlink(missing_ok=True)
    if res.returncode != 0:
        raise ClusterError("initdb failed in %s (exit %s): %s" % (paths["data"], res.returncode, res.stderr.strip()[-2000:]))


def _pg_ctl_start(paths, port):
    paths["run"].mkdir(exist_ok=True)
    os.chmod(paths["run"], 0o755)
    if _as_root():
        pw = pwd.getpwnam(OS_USER)
        os.chown(paths["run"], pw.pw_uid, pw.pw_gid)
    opts = ["-p", str(port), "-k", str(paths["run"]), "-c", "listen_addresses=%s" % HOST]
    for setting in FAST_SETTINGS:
        opts += ["-c", setting]
    # pg_ctl hands -o to a shell, hence the quoting.
    return _run_as_postgres([
        _tool("pg_ctl"), "-D", str(paths["data"]), "-l", str(paths["log"]), "-o", " ".join(shlex.quote(o) for o in opts),
        "-w", "-t", "60", "start",
    ])


def _log_tail(paths, lines=15):
    try:
        return "\n".join(paths["log"].read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _wait_ready(info, timeout=30):
    """pg_ctl -w already waits; this also proves password authentication over TCP works."""
    import psycopg2
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            conn = connect(info, "postgres")
            conn.close()
            return
        except psycopg2.OperationalError as exc:
            last = exc
            time.sleep(0.2)
    raise ClusterError("cluster on %s:%s did not accept connections within %ss: %s" % (HOST, info["port"], timeout, last))


def start(directory, port=None, password_file=None):
    """Start (creating if needed) the cluster in directory; return its connection info.

    A cluster already running there is reused as is. A stopped one restarts on
    its recorded port when that port is still free, so connection info handed
    out earlier stays valid.
    """
    paths = _paths(directory)
    _make_dirs(paths["base"])
    state = _load_state(paths)
    pw_file = Path(password_file).resolve() if password_file else Path(state.get("password_file") or paths["password"])

    running = _read_pid_file(paths["data"])
    if running:
        info = _info(paths, running[1], pw_file)
        _write_state(paths, info)
        _wait_ready(info)
        return info

    if not (paths["data"] / "PG_VERSION").exists():
        if paths["data"].exists() and any(paths["data"].iterdir()):
            raise ClusterError("%s exists but holds no cluster; remove it or choose another directory" % paths["data"])
        _initdb(paths, pw_file)

    if port:
        candidates = [int(port)]
    elif state.get("port") and _port_free(int(state["port"])):
        candidates = [int(state["port"])]
    else:
        candidates = []
    # Another process may grab a port between our probe and the server's bind: retry with fresh ones.
    while len(candidates) < 4 and not port:
        candidates.append(free_port())
    errors = []
    for candidate in candidates:
        res = _pg_ctl_start(paths, candidate)
        if res.returncode == 0:
            info = _info(paths, candidate, pw_file)
            _write_state(paths, info)
            _wait_ready(info)
            return info
        errors.append("port %s: %s" % (candidate, (res.stderr or res.stdout).strip()))
        if _read_pid_file(paths["data"]):
            break
    raise ClusterError("could not start the cluster in %s: %s\nserver log:\n%s" % (
        paths["data"], "; ".join(errors), _log_tail(paths)))


def stop(directory, mode="fast"):
    """Stop the cluster; returns {"stopped": bool, "was_running": bool}. Not running is fine."""
    paths = _paths(directory)
    if not _read_pid_file(paths["data"]):
        return {"data_dir": str(paths["data"]), "was_running": False, "stopped": True}
    res = _run_as_postgres([_tool("pg_ctl"), "-D", str(paths["data"]), "-m", mode, "-w", "-t", "60", "stop"])
    if res.returncode != 0 and _read_pid_file(paths["data"]):
        raise ClusterError("pg_ctl stop failed for %s: %s" % (paths["data"], (res.stderr or res.stdout).strip()))
    return {"data_dir": str(paths["data"]), "was_running": True, "stopped": True}


def status(directory):
    paths = _paths(directory)
    state = _load_state(paths)
    running = _read_pid_file(paths["data"])
    out = {"data_dir": str(paths["data"]), "initialized": (paths["data"] / "PG_VERSION").exists(), "running": bool(running)}
    if running:
        out.update(pid=running[0], port=running[1])
    elif state.get("port"):
        out["port"] = state["port"]
    return out


def stop_server(dir_or_info, mode="immediate"):
    """Take a cluster down under a running test (simulates a crash with the default 'immediate')."""
    return stop(_base_of(dir_or_info), mode=mode)


def start_server(dir_or_info):
    """Bring a cluster stopped by stop_server back on its recorded port."""
    base = _base_of(dir_or_info)
    state = _load_state(_paths(base))
    port = dir_or_info["port"] if isinstance(dir_or_info, dict) else state.get("port")
    return start(base, port=port)


def password(info):
    """The superuser password: info["password"] when given, else the password file's content."""
    if info.get("password") is not None:
        return info["password"]
    if info.get("password_file"):
        return Path(info["password_file"]).read_text().strip()
    return os.environ.get("PGPASSWORD", "")


def add_connection_args(parser):
    """Options shared by the data scripts: a cluster directory, or explicit host/port/user/password file."""
    group = parser.add_argument_group("connection (use --cluster, or --host/--port/--user/--password-file)")
    group.add_argument("--cluster", metavar="DIR", help="a directory made by pg_cluster.py start (reads DIR/cluster.json)")
    group.add_argument("--host", default=HOST)
    group.add_argument("--port", type=int, default=5432)
    group.add_argument("--user", default=SUPERUSER)
    group.add_argument("--password-file", help="file holding the password (default: $PGPASSWORD)")


def conn_info_from_args(args):
    if args.cluster:
        state = _load_state(_paths(args.cluster))
        if not state.get("port"):
            raise ClusterError("no cluster.json in %s: start the cluster first (pg_cluster.py start %s)" % (
                args.cluster, args.cluster))
        return state
    info = {"host": args.host, "port": args.port, "user": args.user, "bin_dir": bin_dir()}
    if args.password_file:
        info["password_file"] = str(Path(args.password_file).resolve())
    else:
        info["password"] = os.environ.get("PGPASSWORD", "")
    return info


def libpq_env(info):
    """Environment for pg_dump/psql: the password travels in PGPASSWORD, never on a command line."""
    env = dict(os.environ)
    env["PGPASSWORD"] = password(info)
    env.setdefault("PGCONNECT_TIMEOUT", "10")
    return env


def connect(info, dbname="postgres"):
    """psycopg2 connection (autocommit) as the superuser over TCP."""
    import psycopg2
    conn = psycopg2.connect(host=info["host"], port=info["port"], user=info["user"], password=password(info),
                            dbname=dbname, connect_timeout=5)
    conn.autocommit = True
    return conn


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="Prints JSON on stdout.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_start = sub.add_parser("start", help="create if needed and start a cluster in DIR; prints connection info")
    p_start.add_argument("dir")
    p_start.add_argument("--port", type=int, help="port to listen on (default: a free one)")
    p_start.add_argument("--password-file", help="file holding the superuser password (default: DIR/password, generated)")
    p_stop = sub.add_parser("stop", help="stop the cluster in DIR (fine if not running)")
    p_stop.add_argument("dir")
    p_stop.add_argument("--mode", choices=["smart", "fast", "immediate"], default="fast")
    p_status = sub.add_parser("status", help="is the cluster in DIR running, and on which port")
    p_status.add_argument("dir")
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            out = start(args.dir, port=args.port, password_file=args.password_file)
        elif args.command == "stop":
            out = stop(args.dir, mode=args.mode)
        else:
            out = status(args.dir)
    except ClusterError as exc:
        print(json.dumps({"failed": True, "msg": str(exc)}))
        return 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
