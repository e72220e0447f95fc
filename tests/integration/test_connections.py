"""The database_connections module on a real PostgreSQL 15, called directly (no playbook run): the stop's end and
block of the connections and the start's limit given back, with a name that needs quoting. The restore, service and
crash tests prove the roles call it on every path."""

import json
import sys
import uuid
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql

from pg_cluster import connect, password

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / ".collections"))
from ansible_collections.yieldvault.db_restore.plugins.modules import database_connections  # noqa: E402


@pytest.fixture
def call(pg_cluster, capsys):
    """call(**module_args) -> the module's result, with 'rc' its exit code."""
    testing = pytest.importorskip("ansible.module_utils.testing")
    login = dict(login_host=pg_cluster["host"], login_port=pg_cluster["port"], login_user=pg_cluster["user"],
                 login_password=password(pg_cluster))

    def run(**args):
        with testing.patch_module_args(dict(login, **args)):
            with pytest.raises(SystemExit) as exc:
                database_connections.main()
        result = json.loads(capsys.readouterr().out)
        result["rc"] = exc.value.code
        return result
    return run


@pytest.fixture
def hostile_db(pg_cluster):
    """A database named with quotes, %, = and Jinja, connection limit 7, and a login role to connect to it."""
    name = "yv \"q\" 'p' 50%% = {{ x }} %s" % uuid.uuid4().hex[:6]
    role = "app_%s" % uuid.uuid4().hex[:6]
    admin = connect(pg_cluster)
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'app'").format(sql.Identifier(role)))
        cur.execute(sql.SQL("CREATE DATABASE {} CONNECTION LIMIT 7").format(sql.Identifier(name)))
    yield name, role, admin
    with admin.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
    admin.close()


def _as_app(pg_cluster, name, role):
    conn = psycopg2.connect(host=pg_cluster["host"], port=pg_cluster["port"], user=role, password="app", dbname=name,
                            connect_timeout=5)
    conn.autocommit = True
    return conn


def _limit(admin, name):
    with admin.cursor() as cur:
        cur.execute("SELECT datconnlimit FROM pg_database WHERE datname = %s", (name,))
        return cur.fetchone()[0]


def test_the_stop_ends_and_blocks_the_sessions_and_the_start_gives_the_limit_back(pg_cluster, call, hostile_db):
    name, role, admin = hostile_db
    app = _as_app(pg_cluster, name, role)
    pid = app.info.backend_pid

    # check mode: says who is connected and changes nothing
    seen = call(database=name, state="blocked", _ansible_check_mode=True)
    assert seen["rc"] == 0 and seen["changed"] is True, seen
    assert [s["pid"] for s in seen["sessions"]] == [pid] and _limit(admin, name) == 7
    app.cursor().execute("SELECT 1")

    blocked = call(database=name, state="blocked", rounds=2)
    assert blocked["rc"] == 0, blocked
    assert blocked["connlimit_before"] == 7
    (session,) = blocked["sessions"]
    assert session["pid"] == pid and session["user"] == role and session["superuser"] is False
    # round 1 ended the session, round 2 found nobody
    assert blocked["rounds"] == 2 and blocked["last_round"] == [] and blocked["reconnected"] is False
    assert _limit(admin, name) == 0
    with pytest.raises(psycopg2.Error):
        app.cursor().execute("SELECT 1")
    # an application role cannot come back while the limit is 0
    with pytest.raises(psycopg2.OperationalError, match="too many connections"):
        _as_app(pg_cluster, name, role)

    restored = call(database=name, state="restored", limit=7)
    assert restored["rc"] == 0 and restored["changed"] is True and restored["exists"] is True, restored
    assert _limit(admin, name) == 7
    _as_app(pg_cluster, name, role).close()
    again = call(database=name, state="restored", limit=7)
    assert again["changed"] is False and _limit(admin, name) == 7


def test_the_limit_of_a_missing_database_is_left_alone(call):
    result = call(database="yv_gone_%s" % uuid.uuid4().hex[:6], state="restored", limit=5)
    assert result["rc"] == 0 and result["exists"] is False and result["changed"] is False, result
    blocked = call(database="yv_gone_%s" % uuid.uuid4().hex[:6], state="blocked")
    assert blocked["rc"] == 1 and "does not exist" in blocked["msg"], blocked
