#!/usr/bin/env python3
"""A moto S3 server on loopback for tests, the demo and the benchmarks.

    s3_server.py start DIR   -> {"endpoint_url", "region", "access_key", "secret_key"}
    s3_server.py stop DIR
    s3_server.py status DIR

moto_server is taken from the virtual environment of the Python running this
script (sys.executable's directory), listens on 127.0.0.1 only, on a free port,
and keeps its pid and port in DIR/state.json (log: DIR/moto.log). A server
already running for DIR is reused. moto accepts any credentials; the fixed
"testing" pair is what boto3 callers should pass.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pg_cluster import free_port  # noqa: E402  (one loopback port finder for both servers)

HOST = "127.0.0.1"
REGION = "us-east-1"
ACCESS_KEY = "testing"
SECRET_KEY = "testing"


class S3ServerError(RuntimeError):
    """moto could not be started or stopped; the message says why and what to do."""


def _paths(directory):
    base = Path(directory).resolve()
    return {"base": base, "state": base / "state.json", "log": base / "moto.log"}


def moto_server_path():
    path = Path(sys.executable).parent / "moto_server"
    if not path.exists():
        raise S3ServerError("moto_server not found beside %s: install moto[server] in this virtual environment "
                            "(pip install 'moto[server]', scripts/setup.sh does)" % sys.executable)
    return str(path)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours answers kill(0) but serves nothing: reap it.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    return True


def _answers(port, timeout=1.0):
    """Any HTTP answer (even 4xx/5xx) means moto is serving."""
    # No proxy: a proxy from the environment must not answer for our loopback server.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open("http://%s:%d/" % (HOST, port), timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def _info(port):
    return {"endpoint_url": "http://%s:%d" % (HOST, port), "region": REGION,
            "access_key": ACCESS_KEY, "secret_key": SECRET_KEY}


def _load_state(paths):
    try:
        return json.loads(paths["state"].read_text())
    except (FileNotFoundError, ValueError):
        return {}


def start(directory, timeout=30):
    """Start (or reuse) moto for directory; returns the endpoint and credentials."""
    paths = _paths(directory)
    paths["base"].mkdir(parents=True, exist_ok=True)
    state = _load_state(paths)
    if state.get("pid") and _alive(state["pid"]) and _answers(state["port"]):
        return _info(state["port"])

    errors = []
    # The port may be taken between our probe and moto's bind: retry with a fresh one.
    for _attempt in range(3):
        port = free_port()
        env = dict(os.environ)
        env.setdefault("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        env.setdefault("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        with open(paths["log"], "ab") as log:
            proc = subprocess.Popen([moto_server_path(), "-H", HOST, "-p", str(port)], stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        paths["state"].write_text(json.dumps({"pid": proc.pid, "port": port}) + "\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if _answers(port):
                return _info(port)
            time.sleep(0.2)
        if proc.poll() is None:
            _terminate(proc.pid)
        errors.append("port %d: exit %s" % (port, proc.poll()))
    try:
        tail = "\n".join(paths["log"].read_text(errors="replace").splitlines()[-15:])
    except OSError:
        tail = ""
    raise S3ServerError("moto_server did not become ready (%s); log %s:\n%s" % ("; ".join(errors), paths["log"], tail))


def _terminate(pid, grace=10):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.1)


def stop(directory):
    """Stop moto for directory; fine when it is not running."""
    paths = _paths(directory)
    state = _load_state(paths)
    was_running = bool(state.get("pid") and _alive(state["pid"]))
    if was_running:
        _terminate(state["pid"])
    paths["state"].unlink(missing_ok=True)
    return {"was_running": was_running, "stopped": True}


def status(directory):
    state = _load_state(_paths(directory))
    running = bool(state.get("pid") and _alive(state["pid"]) and _answers(state["port"]))
    out = {"running": running}
    if running:
        out.update(_info(state["port"]), pid=state["pid"])
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="Prints JSON on stdout.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("start", "start (or reuse) moto for DIR; prints endpoint and credentials"),
                       ("stop", "stop moto for DIR (fine if not running)"),
                       ("status", "is moto for DIR running")):
        sub.add_parser(name, help=text).add_argument("dir")
    args = parser.parse_args(argv)
    try:
        out = {"start": start, "stop": stop, "status": status}[args.command](args.dir)
    except S3ServerError as exc:
        print(json.dumps({"failed": True, "msg": str(exc)}))
        return 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
