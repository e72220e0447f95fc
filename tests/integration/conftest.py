"""Fixtures for the integration tests: a real PostgreSQL 15 cluster, a moto S3
server, the pagila and YieldVault databases, and a playbook runner.

The cluster and moto are started once per session on free loopback ports and
stopped at the end. Set YV_KEEP_TEST_SERVERS=1 to leave them (and their
directories) in place for debugging; the paths are printed at the end.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dbutil  # noqa: E402
from dbutil import (  # noqa: E402,F401  (re-exported for tests importing from conftest)
    REPO_ROOT, PlaybookResult, assert_failed, assert_ok, database_exists, db_inventory_vars as _db_inventory_vars,
    drop_database, exact_counts as _exact_counts, run_playbook as _run_playbook, table_checksums as _table_checksums,
)

import make_backup  # noqa: E402  (scripts/ is on sys.path via dbutil)
import pg_cluster as pg_cluster_script  # noqa: E402  (scripts/ is on sys.path via dbutil)
import s3_server as s3_server_script  # noqa: E402
import yieldvault_fixture  # noqa: E402

PAGILA_DIR = REPO_ROOT.parent / "shared" / "data" / "pagila"
PAGILA_TEMPLATE = "pagila_template"
KEEP = os.environ.get("YV_KEEP_TEST_SERVERS") == "1"


def _session_dir(prefix):
    # Under /tmp, made 0755: pytest's own tmp dirs are 0700 and closed to the
    # postgres OS user that runs the server.
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chmod(path, 0o755)
    return path


@pytest.fixture(scope="session")
def pg_cluster():
    """Connection info of a throwaway PostgreSQL 15 cluster (dict from scripts/pg_cluster.py start)."""
    base = _session_dir("yv-test-pg-")
    info = pg_cluster_script.start(base / "cluster")
    yield info
    if KEEP:
        print("\nkept PostgreSQL cluster in %s (port %s)" % (base, info["port"]))
        return
    pg_cluster_script.stop(base / "cluster", mode="immediate")
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def s3_server():
    """{"endpoint_url", "region", "access_key", "secret_key"} of a moto server on loopback."""
    base = _session_dir("yv-test-s3-")
    info = s3_server_script.start(base)
    yield info
    if KEEP:
        print("\nkept moto at %s (state in %s)" % (info["endpoint_url"], base))
        return
    s3_server_script.stop(base)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def s3_client(s3_server):
    """A boto3 client for the moto server."""
    import make_backup
    return make_backup.s3_client(s3_server)


@pytest.fixture
def work_dir():
    """A fresh directory that any OS user can traverse (the playbooks may run tools as postgres)."""
    path = _session_dir("yv-test-work-")
    yield path
    if not KEEP:
        shutil.rmtree(path, ignore_errors=True)


def load_pagila(conn_info, dbname):
    """Create dbname and load pagila into it with psql (ON_ERROR_STOP)."""
    files = [PAGILA_DIR / "pagila-schema.sql", PAGILA_DIR / "pagila-data.sql"]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        pytest.fail("pagila data not found: %s. It is expected beside the repository, in ../shared/data/pagila "
                    "(resolved from %s)" % (", ".join(missing), REPO_ROOT), pytrace=False)
    drop_database(conn_info, dbname)
    conn = pg_cluster_script.connect(conn_info, "postgres")
    try:
        with conn.cursor() as cur:
            from psycopg2 import sql
            cur.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(sql.Identifier(dbname)))
    finally:
        conn.close()
    psql = str(Path(dbutil.PG_BIN_DIR) / "psql")
    for sql_file in files:
        res = subprocess.run(
            [psql, "-h", conn_info["host"], "-p", str(conn_info["port"]), "-U", conn_info["user"], make_backup.dbname_option(dbname),
             "-X", "--no-password", "-v", "ON_ERROR_STOP=1", "-q", "-f", str(sql_file)],
            env=pg_cluster_script.libpq_env(conn_info), stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if res.returncode != 0:
            drop_database(conn_info, dbname)
            pytest.fail("loading %s into %s failed (exit %s): %s" % (sql_file.name, dbname, res.returncode,
                                                                     res.stderr.strip()[-2000:]), pytrace=False)
    conn = pg_cluster_script.connect(conn_info, dbname)
    try:
        with conn.cursor() as cur:
            cur.execute("ANALYZE")
    finally:
        conn.close()


@pytest.fixture(scope="session")
def pagila_template(pg_cluster):
    """Name of a database holding pagila, loaded once per session; copy it, don't change it."""
    load_pagila(pg_cluster, PAGILA_TEMPLATE)
    return PAGILA_TEMPLATE


@pytest.fixture
def pagila_db(pg_cluster, pagila_template):
    """Factory: pagila_db(name) -> name, a fresh copy of pagila (dropped after the test)."""
    from psycopg2 import sql
    created = []

    def make(name="pagila"):
        drop_database(pg_cluster, name)
        conn = pg_cluster_script.connect(pg_cluster, "postgres")
        try:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(pagila_template)))
        finally:
            conn.close()
        created.append(name)
        return name

    yield make
    for name in created:
        drop_database(pg_cluster, name)


@pytest.fixture
def yieldvault_db(pg_cluster):
    """Factory: yieldvault_db(name, seed=1, users=1000, owner=None) -> name (dropped after the test).

    The owner role is created when missing and owns the tables, as when Prisma
    migrations run as the application user.
    """
    created = []

    def make(name="yieldvault_test", seed=1, users=1000, owner=None):
        yieldvault_fixture.create(pg_cluster, name, users=users, seed=seed, owner=owner)
        created.append(name)
        return name

    yield make
    for name in created:
        drop_database(pg_cluster, name)


@pytest.fixture
def exact_counts():
    """exact_counts(conn_info, dbname) -> {"schema.table": n}."""
    return _exact_counts


@pytest.fixture
def table_checksums():
    """table_checksums(conn_info, dbname) -> {"schema.table": md5}."""
    return _table_checksums


@pytest.fixture
def run_playbook(tmp_path):
    """run_playbook(playbook, inventory_vars, extra_vars, check=False, env=None, timeout=600, verbose=True) -> PlaybookResult."""
    counter = {"n": 0}

    def run(playbook, inventory_vars=None, extra_vars=None, check=False, env=None, timeout=600, **kwargs):
        counter["n"] += 1
        kwargs.setdefault("tmp_dir", tmp_path / ("playbook-%d" % counter["n"]))
        return _run_playbook(playbook, inventory_vars, extra_vars, check=check, env=env, timeout=timeout, **kwargs)

    return run


@pytest.fixture
def free_port():
    """free_port() -> a loopback port nothing listens on right now."""
    return dbutil.free_port


@pytest.fixture
def db_inventory_vars():
    """db_inventory_vars(pg_cluster, dbname, work_dir, store, s3=None, ...) -> db_restore_* variables."""
    return _db_inventory_vars


class CuttingProxy:
    """A TCP proxy on 127.0.0.1 in front of an S3 endpoint that breaks object downloads on purpose.

    Requests pass through unchanged. A GET of the object `match` (the request
    path ends with it, a query string aside) gets `cut_after` bytes of its
    response body, then both connections are closed (the client sees a
    truncated download); only the first `cuts` such GETs are cut (None: all of
    them). With go_down, the proxy stops listening after the first cut, so the
    endpoint is down for every retry. With refuse_uploads, it is the uploads
    (PUT or POST) whose path contains `match` (a prefix such as "/safety/")
    that are cut instead: the connection is closed before anything reaches
    moto, so no object is written. moto itself cannot drop a connection, hence
    this proxy.

    url: the endpoint to give the client; cut_count: downloads armed to be cut
    (counted when the GET goes out) or uploads refused, so far; requests:
    request lines seen; down: the proxy stopped listening.
    """

    def __init__(self, upstream_url, match, cut_after, cuts=None, go_down=False, refuse_uploads=False):
        import socket
        import threading
        from urllib.parse import urlsplit
        parts = urlsplit(upstream_url)
        self.upstream = (parts.hostname, parts.port or 80)
        self.match, self.cut_after, self.cuts, self.go_down = match.encode(), int(cut_after), cuts, go_down
        self.refuse_uploads = refuse_uploads
        self.cut_count = 0
        self.requests = []
        self.down = False
        self._lock = threading.Lock()
        self._sockets = set()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.2)
        self.url = "http://127.0.0.1:%d" % self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        import socket
        import threading
        while not self.down:
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            try:
                upstream = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            conn = {"client": client, "upstream": upstream, "armed": False, "header": b"", "body": 0}
            with self._lock:
                self._sockets.update((client, upstream))
            threading.Thread(target=self._requests, args=(conn,), daemon=True).start()
            threading.Thread(target=self._responses, args=(conn,), daemon=True).start()

    def _requests(self, conn):
        import re
        try:
            while True:
                data = conn["client"].recv(65536)
                if not data:
                    break
                refused = False
                for line in re.findall(rb"(?m)^(?:GET|HEAD|PUT|POST|DELETE) \S+ HTTP/1\.[01]", data):
                    self.requests.append(line.decode("latin-1"))
                    if self.refuse_uploads:
                        if line.startswith((b"PUT ", b"POST ")) and self.match in line:
                            with self._lock:
                                refused = self.cuts is None or self.cut_count < self.cuts
                                self.cut_count += refused
                    elif re.match(rb"GET /\S*" + re.escape(self.match) + rb"(\?\S*)? HTTP/", line):
                        # Armed and counted before the request goes out, so no response byte slips through
                        # uncounted and a retry sees the count.
                        with self._lock:
                            arm = self.cuts is None or self.cut_count < self.cuts
                            self.cut_count += arm
                        conn.update(armed=arm, header=b"", body=0)
                    else:
                        # Any other request on this keep-alive connection gets its whole response.
                        conn.update(armed=False, header=b"", body=0)
                if refused:
                    self._close(conn["client"])
                    if self.go_down:
                        self.stop()
                    break
                conn["upstream"].sendall(data)
        except OSError:
            pass
        finally:
            self._close(conn["upstream"])

    def _responses(self, conn):
        try:
            while True:
                data = conn["upstream"].recv(65536)
                if not data:
                    break
                if conn["armed"]:
                    if conn["header"] is not None:
                        conn["header"] += data
                        end = conn["header"].find(b"\r\n\r\n")
                        if end < 0:
                            continue
                        data, body = conn["header"], conn["header"][end + 4:]
                        conn["header"] = None
                        passed = len(data) - len(body)
                    else:
                        body, passed = data, 0
                    allowed = max(0, self.cut_after - conn["body"])
                    if len(body) >= allowed:
                        conn["client"].sendall(data[:passed + allowed])
                        self._close(conn["client"])
                        self._close(conn["upstream"])
                        if self.go_down:
                            self.stop()
                        return
                    conn["body"] += len(body)
                conn["client"].sendall(data)
        except OSError:
            pass
        finally:
            self._close(conn["client"])

    def _close(self, sock):
        import socket
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    def stop(self):
        """Stop listening and drop every open connection: the endpoint is down."""
        self.down = True
        self._close(self._listener)
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            self._close(sock)


@pytest.fixture
def cutting_proxy(s3_server):
    """cutting_proxy(match, cut_after=0, cuts=None, go_down=False, refuse_uploads=False) -> CuttingProxy in front of
    the moto server."""
    proxies = []

    def make(match, cut_after=0, cuts=None, go_down=False, refuse_uploads=False):
        proxy = CuttingProxy(s3_server["endpoint_url"], match, cut_after, cuts=cuts, go_down=go_down,
                             refuse_uploads=refuse_uploads)
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.stop()


@pytest.fixture(scope="session")
def s3_tls_server(s3_server):
    """The moto server behind TLS, for pgBackRest (which speaks only HTTPS to S3): Debian's socat terminates TLS
    on a free loopback port with a self-signed certificate made here (DNS:localhost - pgBackRest 2.45 does not
    match an IP entry) and forwards to moto. moto's own TLS fails with pgBackRest (its responses end without a
    TLS close_notify). {"host": "localhost", "port", "ca_file", "endpoint_url" (https), region and keys of
    s3_server}."""
    socat = shutil.which("socat")
    if not socat:
        pytest.fail("socat not found: scripts/setup.sh installs it (apt-get install socat)", pytrace=False)
    base = _session_dir("yv-test-s3-tls-")
    cert = base / "localhost.pem"
    key = base / "localhost.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    os.chmod(cert, 0o644)  # the CA file is read by pgBackRest as the postgres OS user
    moto_port = int(s3_server["endpoint_url"].rsplit(":", 1)[1].rstrip("/"))
    port = dbutil.free_port()
    proc = subprocess.Popen([socat, "OPENSSL-LISTEN:%d,bind=127.0.0.1,cert=%s,key=%s,verify=0,fork,reuseaddr"
                             % (port, cert, key), "TCP:127.0.0.1:%d" % moto_port],
                            stdout=subprocess.DEVNULL, stderr=(base / "socat.log").open("w"), start_new_session=True)
    import socket
    import time
    deadline = time.time() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                proc.wait()
                pytest.fail("socat did not listen on %d: %s" % (port, (base / "socat.log").read_text()), pytrace=False)
            time.sleep(0.1)
    yield dict(s3_server, host="localhost", port=port, ca_file=str(cert), endpoint_url="https://localhost:%d" % port)
    # socat forks a child per connection, in its own session: end the listener and its children together.
    import signal
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    if not KEEP:
        shutil.rmtree(base, ignore_errors=True)


# The files that take longest, longest first (their ansible-playbook time in a full run, from
# scripts/playbook_runs.py). pytest-xdist hands whole files (--dist loadfile) to whichever worker is free, in
# collection order (with --no-loadscope-reorder, as the Makefile runs it; otherwise xdist orders files by
# their number of tests, which leaves the one-test long files such as test_bench.py for last): the long ones
# start first and the many short ones - the other integration files, then the unit tests - fill in at the end,
# so the workers finish near the same time instead of one waiting on another's last long file. Only the order changes; every test still runs.
LONGEST_FIRST = ("test_faults.py", "test_restore.py", "test_services.py", "test_swap.py", "test_crash.py",
                 "test_download_faults.py", "test_rollback.py", "test_pitr.py", "test_pitr_cluster.py", "test_bench.py",
                 "test_names.py", "test_verify.py", "test_pitr_s3.py", "test_notify.py", "test_secrets.py",
                 "test_base_backup.py", "test_pitr_docker.py", "test_drill.py")


def pytest_collection_modifyitems(session, config, items):
    def rank(index_item):
        index, item = index_item
        name = item.path.name
        if name in LONGEST_FIRST:
            return (0, LONGEST_FIRST.index(name), index)
        return (1 if item.path.parent.name == "integration" else 2, 0, index)
    items[:] = [item for _, item in sorted(enumerate(items), key=rank)]
