"""module_utils/ddl on a real PostgreSQL 15: the drop and create of a restore with hostile names, the guards that
keep it from dropping what is not the collection's, and what a failure leaves. Called directly (no playbook run):
the restore tests prove the roles use it."""

import sys
import uuid
from pathlib import Path

import psycopg2
import pytest

from conftest import pg_cluster_script

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / ".collections"))
from ansible_collections.yieldvault.db_restore.plugins.module_utils import ddl  # noqa: E402
from ansible_collections.yieldvault.db_restore.plugins.module_utils.server_state import ensure_schema, mark_of  # noqa: E402

HOSTILE = ["app prod \"x\" 'y'", "50%% = {{ lookup('pipe','id') }}", "a\\b;DROP DATABASE postgres"]


def _spec(name, owner, **kw):
    spec = {k: v.get("default") for k, v in ddl.RECREATE_SPEC.items()}
    spec.update(name=name, owner=owner, **kw)
    return spec


@pytest.fixture
def cur(pg_cluster):
    conn = pg_cluster_script.connect(pg_cluster)
    ensure_schema(conn)
    conn.autocommit = True
    yield conn.cursor()
    conn.close()


def _databases(cur):
    cur.execute("SELECT datname, pg_get_userbyid(datdba), datconnlimit, pg_encoding_to_char(encoding) FROM pg_database")
    return {r[0]: r[1:] for r in cur.fetchall()}


@pytest.mark.parametrize("hostile", HOSTILE)
def test_production_is_dropped_and_created_again_empty_with_hostile_names(cur, hostile):
    name, owner = "%s %s" % (hostile, uuid.uuid4().hex[:6]), "owner %s" % hostile
    cur.execute(psycopg2.sql.SQL("CREATE ROLE {}").format(psycopg2.sql.Identifier(owner)))
    cur.execute(psycopg2.sql.SQL("CREATE DATABASE {} OWNER {}").format(psycopg2.sql.Identifier(name),
                                                                         psycopg2.sql.Identifier(owner)))
    conn = psycopg2.connect(host=cur.connection.info.host, port=cur.connection.info.port, user=cur.connection.info.user,
                            password=cur.connection.info.password, dbname=name)
    conn.autocommit = True
    conn.cursor().execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
    before = _databases(cur)
    result = ddl.recreate(cur, _spec(name, owner, encoding="UTF8", connection_limit_zero=True))
    assert result["dropped"] and result["created"]
    # The session that was connected was ended, and is listed for the report.
    assert [s["pid"] for s in result["terminated"]] == [conn.info.backend_pid]
    after = _databases(cur)
    assert set(after) == set(before), "another database appeared or vanished"
    assert after[name] == (owner, 0, "UTF8")
    check = psycopg2.connect(host=cur.connection.info.host, port=cur.connection.info.port,
                             user=cur.connection.info.user, password=cur.connection.info.password, dbname=name)
    try:
        c = check.cursor()
        c.execute("SELECT count(*) FROM pg_class WHERE relname = 't'")
        assert c.fetchone()[0] == 0, "the new database is not empty"
    finally:
        check.close()
    cur.execute(psycopg2.sql.SQL("DROP DATABASE {}").format(psycopg2.sql.Identifier(name)))


def test_a_missing_owner_is_refused_before_anything_is_dropped(cur):
    name = "ddl_owner_%s" % uuid.uuid4().hex[:6]
    cur.execute(psycopg2.sql.SQL("CREATE DATABASE {}").format(psycopg2.sql.Identifier(name)))
    with pytest.raises(ddl.Refused, match="db_restore_create_owner=true"):
        ddl.recreate(cur, _spec(name, "nobody %s" % name))
    assert name in _databases(cur), "the database was dropped although the owner was missing"
    result = ddl.recreate(cur, _spec(name, "nobody %s" % name, create_owner=True))
    assert result["owner_created"] and _databases(cur)[name][0] == "nobody %s" % name
    cur.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", ("nobody %s" % name,))
    assert cur.fetchone()[0] is False


def test_a_staging_name_that_is_somebodys_database_is_never_dropped(cur):
    name = "ddl_staging_%s" % uuid.uuid4().hex[:6]
    cur.execute(psycopg2.sql.SQL("CREATE DATABASE {}").format(psycopg2.sql.Identifier(name)))
    spec = _spec(name, "postgres", made_kind="staging", production="app", run_id="r1", server_lock_held=True,
                 setting="db_restore_staging_database")
    with pytest.raises(ddl.Refused, match="not made by yieldvault.db_restore.*db_restore_staging_database"):
        ddl.recreate(cur, spec)
    assert name in _databases(cur)
    cur.execute(psycopg2.sql.SQL("DROP DATABASE {}").format(psycopg2.sql.Identifier(name)))
    # Absent: created and marked with its OID; made again by a later run: its own, dropped and marked anew.
    ddl.recreate(cur, spec)
    state, mark = mark_of(cur, name)
    assert state == "ours" and mark["kind"] == "staging" and mark["production"] == "app" and mark["oid"]
    first_oid = mark["oid"]
    assert ddl.recreate(cur, dict(spec, run_id="r2"))["dropped"]
    state, mark = mark_of(cur, name)
    assert state == "ours" and mark["run_id"] == "r2" and mark["oid"] != first_oid
    # Another production's staging database is not this run's to drop.
    with pytest.raises(ddl.Refused, match="a run for app made it, not one for other"):
        ddl.recreate(cur, dict(spec, production="other"))
    cur.execute(psycopg2.sql.SQL("DROP DATABASE {}").format(psycopg2.sql.Identifier(name)))
    cur.execute("DELETE FROM yieldvault_db_restore.made WHERE name = %s", (name,))


@pytest.mark.parametrize("made_kind", ["", "drill"])
def test_a_name_postgresql_would_cut_to_another_database_is_refused_before_anything(cur, made_kind):
    # PostgreSQL cuts a name to 63 bytes (a notice, no error): DROP DATABASE IF EXISTS "<63-byte name>_drill" drops
    # the 63-byte database. The preflight refuses such names; the module is the last line.
    name = "ddl_cut_" + "x" * 49 + uuid.uuid4().hex[:6]
    assert len(name.encode()) == 63
    cur.execute(psycopg2.sql.SQL("CREATE DATABASE {}").format(psycopg2.sql.Identifier(name)))
    try:
        spec = _spec(name + "_drill", "postgres", made_kind=made_kind, production=name, run_id="r1",
                     server_lock_held=True, setting="db_restore_drill_database")
        with pytest.raises(ddl.Refused, match=r"is 69 bytes: PostgreSQL cuts database names to 63 bytes.*"
                                              r"Nothing was dropped"):
            ddl.recreate(cur, spec)
        cur.execute("SELECT oid FROM pg_database WHERE datname = %s", (name,))
        assert cur.fetchone(), "the 63-byte database was dropped"
    finally:
        cur.execute(psycopg2.sql.SQL("DROP DATABASE IF EXISTS {}").format(psycopg2.sql.Identifier(name)))


def test_a_kept_previous_database_named_as_the_staging_or_scratch_database_is_never_dropped(pg_cluster, cur, capsys):
    # The collection made it, for this production, as a previous database (perhaps production's only copy from
    # before a swap): named as the staging database it was dropped and restored over.
    from dbutil import create_marked_database
    from ansible_collections.yieldvault.db_restore.plugins.modules import database_drop

    name = "app__pre_20261206_%s" % uuid.uuid4().hex[:6]
    create_marked_database(pg_cluster, name, kind="previous", production="app")
    try:
        for made_kind, words in (("staging", "not as a staging database"), ("drill", "not as a drill's scratch")):
            spec = _spec(name, "postgres", made_kind=made_kind, production="app", run_id="r1", server_lock_held=True,
                         setting="db_restore_%s_database" % made_kind)
            with pytest.raises(ddl.Refused, match="made it as a previous database .*%s" % words):
                ddl.recreate(cur, spec)
            assert name in _databases(cur)
        assert mark_of(cur, name)[1]["kind"] == "previous"

        testing = pytest.importorskip("ansible.module_utils.testing")
        login = dict(login_host=pg_cluster["host"], login_port=pg_cluster["port"], login_user=pg_cluster["user"],
                     login_password=pg_cluster_script.password(pg_cluster))
        for kind, rc in (("staging", 1), ("previous", 0)):
            with testing.patch_module_args(dict(login, name=name, production="app", kind=kind,
                                                setting="db_restore_staging_database")):
                with pytest.raises(SystemExit) as exc:
                    database_drop.main()
            out = capsys.readouterr().out
            assert exc.value.code == rc, out
            assert (name in _databases(cur)) == (kind == "staging"), out
            if kind == "staging":
                assert "made it as a previous database" in out and "db_restore_staging_database" in out
    finally:
        cur.execute(psycopg2.sql.SQL("DROP DATABASE IF EXISTS {}").format(psycopg2.sql.Identifier(name)))
