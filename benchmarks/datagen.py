"""Benchmark data: a YieldVault-shaped database scaled up, pgbench's tables and a
partitioned event table, in one database of about the size asked for.

The mix (by bytes on disk): about half YieldVault (scripts/yieldvault_fixture.py,
many indexes, FKs, a view), a third pgbench (`pgbench -i -s N --foreign-keys`)
and the rest a partitioned "bench_events" table (24 monthly partitions, three
indexes each) so the restore has many tables and indexes to rebuild, as a
production database does. Deterministic: same size, same rows.
"""

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))

import make_backup  # noqa: E402
import pg_cluster  # noqa: E402
import yieldvault_fixture  # noqa: E402
from dbutil import admin_query, drop_database  # noqa: E402,F401  (run.py calls datagen.drop_database)
from psycopg2 import sql  # noqa: E402

# Measured on PostgreSQL 15: bytes on disk per unit of each generator.
MB_PER_1000_USERS = 2.7
MB_PER_PGBENCH_SCALE = 15.5
BYTES_PER_EVENT = 260
BASE_MB = 7.5  # an empty database

EVENTS_SQL = r"""
CREATE TABLE bench_events (
    id bigint NOT NULL,
    account_id integer NOT NULL,
    kind text NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
DO $$
BEGIN
  FOR m IN 0..23 LOOP
    EXECUTE format('CREATE TABLE %%I PARTITION OF bench_events FOR VALUES FROM (%%L) TO (%%L)',
                   'bench_events_' || to_char(timestamptz '2024-01-01 00:00+00' + make_interval(months => m), 'YYYY_MM'),
                   timestamptz '2024-01-01 00:00+00' + make_interval(months => m),
                   timestamptz '2024-01-01 00:00+00' + make_interval(months => m + 1));
  END LOOP;
END $$;
CREATE INDEX bench_events_account_idx ON bench_events (account_id, created_at);
CREATE INDEX bench_events_kind_idx ON bench_events (kind);
INSERT INTO bench_events
SELECT i, 1 + (('x' || substr(md5('a' || i), 1, 7))::bit(28)::integer %% 100000),
       (ARRAY['deposit', 'withdraw', 'claim', 'login', 'referral'])[1 + i %% 5],
       jsonb_build_object('ref', md5('r' || i), 'amount', i %% 100000, 'ok', i %% 7 <> 0),
       timestamptz '2024-01-01 00:00+00' + make_interval(secs => (i::bigint * 62207993 / %(rows)s)::double precision)
FROM generate_series(1, %(rows)s) AS i;
CREATE INDEX pgbench_accounts_bid_abalance_idx ON pgbench_accounts (bid, abalance);
"""


def plan(size_mb):
    """How many units of each generator give about size_mb on disk; 0 or less: a tiny YieldVault database."""
    if size_mb <= 0:
        return {"users": 100, "pgbench_scale": 0, "events": 0}
    room = max(size_mb - BASE_MB, 3.0)
    users = max(1000, int(round(room * 0.5 / MB_PER_1000_USERS * 1000)))
    scale = max(1, int(round(room * 0.33 / MB_PER_PGBENCH_SCALE)))
    events = max(10000, int(room * 0.17 * 1e6 / BYTES_PER_EVENT))
    return {"users": users, "pgbench_scale": scale, "events": events}


def create(conn_info, dbname, size_mb):
    """Create dbname (dropped first when present) with about size_mb of data; returns its description."""
    units = plan(size_mb)
    yieldvault_fixture.create(conn_info, dbname, users=units["users"], seed=1)
    if not units["pgbench_scale"]:
        return dict(units, **describe(conn_info, dbname))
    pgbench = Path(conn_info.get("bin_dir") or pg_cluster.bin_dir()) / "pgbench"
    res = subprocess.run(
        [str(pgbench), "-i", "-s", str(units["pgbench_scale"]), "--foreign-keys", "-q", "-h", conn_info["host"],
         "-p", str(conn_info["port"]), "-U", conn_info["user"], dbname],
        env=pg_cluster.libpq_env(conn_info), stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError("pgbench -i into %s failed (exit %s): %s" % (dbname, res.returncode, res.stderr[-2000:]))
    conn = pg_cluster.connect(conn_info, dbname)
    try:
        with conn.cursor() as cur:
            cur.execute(EVENTS_SQL, {"rows": units["events"]})
            cur.execute("ANALYZE")
        return dict(units, **describe(conn_info, dbname))
    finally:
        conn.close()


def describe(conn_info, dbname):
    conn = pg_cluster.connect(conn_info, dbname)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_database_size(current_database())")
            size = cur.fetchone()[0]
            cur.execute("""SELECT count(*) FILTER (WHERE c.relkind IN ('r', 'p')),
                                  count(*) FILTER (WHERE c.relkind IN ('i', 'I'))
                           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                           WHERE n.nspname = 'public'""")
            tables, indexes = cur.fetchone()
        return {"size_bytes": size, "tables": tables, "indexes": indexes}
    finally:
        conn.close()


def load_dump(dump, conn_info, dbname):
    """dbname in the cluster of conn_info, restored from a custom-format dump (replaced if it exists): a copy of
    a database into another cluster, where CREATE DATABASE ... TEMPLATE cannot reach."""
    drop_database(conn_info, dbname)
    admin_query(conn_info, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    res = subprocess.run([str(Path(pg_cluster.bin_dir()) / "pg_restore"), "-h", conn_info["host"],
                          "-p", str(conn_info["port"]), "-U", conn_info["user"], "--no-password", "--no-owner",
                          "--no-acl", "--exit-on-error", make_backup.dbname_option(dbname), str(dump)],
                         env=pg_cluster.libpq_env(conn_info), stdin=subprocess.DEVNULL, capture_output=True,
                         text=True)
    if res.returncode != 0:
        raise RuntimeError("pg_restore of %s into %s:%s failed (exit %s): %s" % (
            dump, conn_info["host"], conn_info["port"], res.returncode, res.stderr.strip()[-2000:]))


def delete_rows(conn_info, dbname, count):
    """Delete count rows from the first table, by name, that holds that many and that no foreign key points at;
    returns "schema.table"."""
    conn = pg_cluster.connect(conn_info, dbname)
    try:
        with conn.cursor() as cur:
            cur.execute("""
                SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'public' AND c.relkind = 'r' AND NOT EXISTS (
                    SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.confrelid IN (
                        SELECT c.oid UNION ALL SELECT relid FROM pg_partition_ancestors(c.oid)))
                ORDER BY c.relname""")
            for schema, name in cur.fetchall():
                table = sql.Identifier(schema, name)
                cur.execute(sql.SQL("SELECT count(*) FROM (SELECT FROM {} LIMIT %s) s").format(table), (count,))
                if cur.fetchone()[0] == count:
                    cur.execute(sql.SQL("DELETE FROM {} WHERE ctid IN (SELECT ctid FROM {} LIMIT %s)")
                                .format(table, table), (count,))
                    return "%s.%s" % (schema, name)
    finally:
        conn.close()
    raise RuntimeError("no table of %s has %d rows that no foreign key points at" % (dbname, count))


def mark_incident(conn_info, dbname):
    """The incident: one row deleted in production after the backup was taken. The rows checked afterwards then
    prove the contender restored the backup: without it, a run that restored nothing would pass. (A table added
    instead would be refused by restore.yml's verification: a table the pre-restore database had is missing
    after the restore.)"""
    return delete_rows(conn_info, dbname, 1)


if __name__ == "__main__":  # python benchmarks/datagen.py CLUSTER_DIR DBNAME SIZE_MB
    import json
    info = json.loads((Path(sys.argv[1]) / "cluster.json").read_text())
    print(json.dumps(create(info, sys.argv[2], float(sys.argv[3]))))
