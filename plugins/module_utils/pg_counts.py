# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Exact row counts of every table inside the caller's transaction.

Shared by pg_backup (which counts inside the snapshot it exports to pg_dump, so
a manifest states exactly what the dump holds), table_counts and restore_checks
(its counts option): both sides of a manifest comparison must count the same
way (partitioned parents as the sum of their leaves, unpopulated materialized
views as null).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import os

from ansible.module_utils.common.text.converters import to_native

from ansible_collections.yieldvault.db_restore.plugins.module_utils.catalog import isoformat_z
from ansible_collections.yieldvault.db_restore.plugins.module_utils.counts import (
    REFRESHED,
    UNKNOWN,
    compare_counts,
    split_table_name,
    table_key,
    total_rows,
)
from ansible_collections.yieldvault.db_restore.plugins.module_utils.files import make_private_dirs, write_atomic
from ansible_collections.yieldvault.db_restore.plugins.module_utils.pg import (
    connect,
    connection_target,
    pg_error_text,
    psycopg2,
    qualified,
    server_version,
    sql,
)

RELATIONS_SQL = """
SELECT c.oid, n.nspname, c.relname, c.relkind::text, c.relispopulated, c.reltuples
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm')
  AND {schema_filter}
ORDER BY n.nspname, c.relname
"""

DEFAULT_SCHEMA_FILTER = (
    "n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'"
)

# pg_partition_tree walks every level, so a sub-partitioned table still maps to
# the tables that actually hold rows.
LEAVES_SQL = """
SELECT p.oid, l.oid, ln.nspname, l.relname, l.relkind::text, l.reltuples
FROM pg_catalog.pg_class p
CROSS JOIN LATERAL pg_catalog.pg_partition_tree(p.oid) t
JOIN pg_catalog.pg_class l ON l.oid = t.relid
JOIN pg_catalog.pg_namespace ln ON ln.oid = l.relnamespace
WHERE p.oid = ANY(%s) AND t.isleaf
ORDER BY ln.nspname, l.relname
"""


def estimated(reltuples):
    # -1 means "never vacuumed or analysed" since PostgreSQL 14.
    if reltuples is None or reltuples < 0:
        return None
    return int(round(reltuples))


def take_counts(module, conn, mode='exact', schemas=None):
    """Return (counts, partitions, relkinds, warnings) from one snapshot."""
    warnings = []
    cur = conn.cursor()
    if schemas:
        cur.execute(RELATIONS_SQL.format(schema_filter='n.nspname = ANY(%s)'), (list(schemas),))
    else:
        cur.execute(RELATIONS_SQL.format(schema_filter=DEFAULT_SCHEMA_FILTER))
    relations = cur.fetchall()

    counts = {}
    relkinds = {}
    parents = []
    leaf_counts = {}
    for oid, schema, name, relkind, populated, reltuples in relations:
        key = table_key(schema, name)
        relkinds[key] = relkind
        if relkind == 'p':
            parents.append((oid, key))
            continue
        if relkind == 'm' and not populated:
            counts[key] = None
            continue
        if mode == 'estimated':
            counts[key] = estimated(reltuples)
        else:
            counts[key] = count_rows(cur, schema, name)
        leaf_counts[oid] = counts[key]

    partitions = {}
    if parents:
        cur.execute(LEAVES_SQL, ([oid for oid, dummy in parents],))
        leaves_by_parent = {}
        for parent_oid, leaf_oid, schema, name, relkind, reltuples in cur.fetchall():
            leaves_by_parent.setdefault(parent_oid, []).append((leaf_oid, schema, name, relkind, reltuples))
        for oid, key in parents:
            total = 0
            names = []
            for leaf_oid, schema, name, relkind, reltuples in leaves_by_parent.get(oid, []):
                names.append(table_key(schema, name))
                if relkind != 'r':
                    # A foreign-table partition lives on another server; counting it
                    # would query that server, so it is left out and said so.
                    warnings.append('%s has partition %s of relkind %s that was not counted.'
                                    % (key, table_key(schema, name), relkind))
                    continue
                if leaf_oid not in leaf_counts:
                    # A leaf outside the selected schemas still holds the parent's rows.
                    leaf_counts[leaf_oid] = (estimated(reltuples) if mode == 'estimated'
                                             else count_rows(cur, schema, name))
                value = leaf_counts[leaf_oid]
                total = None if total is None or value is None else total + value
            counts[key] = total
            partitions[key] = names
    cur.close()
    return counts, partitions, relkinds, warnings


def count_rows(cur, schema, name):
    cur.execute(sql.SQL('SELECT count(*) FROM ONLY {}').format(qualified(schema, name)))
    return cur.fetchone()[0]


def run_null_checks(conn, not_null):
    """[{table, column, nulls, passed, error}] for each {table, column} of not_null."""
    results = []
    cur = conn.cursor()
    for item in not_null or []:
        table_text = item.get('table')
        column = item.get('column')
        entry = dict(table=table_text, column=column, nulls=None, passed=False, error=None)
        try:
            schema, name = split_table_name(table_text)
        except ValueError as exc:
            entry['error'] = to_native(exc)
            results.append(entry)
            continue
        entry['table'] = table_key(schema, name)
        try:
            cur.execute(sql.SQL('SELECT count(*) FROM {} WHERE {} IS NULL').format(
                qualified(schema, name), sql.Identifier(column)))
            nulls = cur.fetchone()[0]
            entry.update(nulls=nulls, passed=(nulls == 0))
        except psycopg2.Error as exc:
            entry['error'] = pg_error_text(exc)
        results.append(entry)
    cur.close()
    return results


def snapshot_counts(module, database, mode='exact', schemas=None, not_null=None):
    """Count every table of database in one read-only snapshot; (snapshot, null_checks).

    Fails the module with an actionable message when PostgreSQL refuses; warns
    about partitions it could not count.
    """
    params = module.params
    conn = connect(module, database, autocommit=False)
    try:
        conn.set_session(isolation_level='REPEATABLE READ', readonly=True)
        cur = conn.cursor()
        # A restore in progress holds ACCESS EXCLUSIVE locks; waiting forever would hang the play.
        cur.execute("SET LOCAL lock_timeout = '60s'")
        cur.close()
        taken_at = datetime.datetime.now(datetime.timezone.utc)
        counts, partitions, relkinds, warnings = take_counts(module, conn, mode, schemas)
        conn.rollback()
        conn.autocommit = True
        null_checks = run_null_checks(conn, not_null)
        version = server_version(conn)
    except psycopg2.Error as exc:
        module.fail_json(msg='Counting rows in %s failed: %s. Check that db_restore_login_user may read every table '
                             'in the counted schemas; if a table is locked by a running restore or '
                             'migration, wait for it and retry. Nothing was changed.'
                         % (connection_target(params, database), pg_error_text(exc)))
    finally:
        conn.close()
    for warning in warnings:
        module.warn(warning)
    snapshot = dict(
        database=database,
        mode=mode,
        taken_at=isoformat_z(taken_at),
        server_version=version,
        counts=counts,
        partitions=partitions,
        # A rollback judges these as a restore of its safety backup makes them (refreshed).
        materialized_views=sorted(k for k, kind in relkinds.items() if kind == 'm'),
        total_rows=total_rows(counts, relkinds),
    )
    return snapshot, null_checks


def write_snapshot(module, dest, snapshot):
    """Write the snapshot as JSON, 0600, atomically; fail the module with what to do."""
    directory = os.path.dirname(os.path.abspath(dest))
    try:
        # Missing levels 0700 (the run's work directory may not exist yet); an existing one is left as it is.
        make_private_dirs([directory], fix_mode=False)
    except OSError as exc:
        module.fail_json(msg='Could not create the directory %s for the row counts: %s. db_restore_work_dir must be '
                             'a writable directory on the db server: fix its permissions or free space, or set it to '
                             'another directory.' % (directory, to_native(exc.strerror or exc)))
    try:
        # 0600, so the snapshot is never readable by others; a reader sees either the old or the new file.
        write_atomic(dest, json.dumps(snapshot, indent=2, sort_keys=True) + '\n', 0o600)
    except (IOError, OSError) as exc:
        module.fail_json(msg='Could not write the row counts to %s: %s. db_restore_work_dir must be a writable '
                             'directory with free space on the db server: fix it, or set it to another directory.'
                             % (dest, to_native(exc.strerror or exc)))


def validate_baseline(module, baseline):
    """baseline {table: count} with every count an int (or None); fails the module on anything else."""
    for table, value in baseline.items():
        if value in (REFRESHED, UNKNOWN):
            continue
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            try:
                baseline[table] = int(value)
            except (TypeError, ValueError):
                module.fail_json(msg='baseline[%r] is %r, not a row count. Give baseline as a dict of '
                                     'schema.table to integer. Nothing was changed.' % (table, value))
    return baseline


def count_and_compare(module, database, mode, schemas, not_null, dest, baseline, tolerance_percent):
    """table_counts' result: the snapshot, written to dest (not in check mode), compared with baseline."""
    snapshot, null_checks = snapshot_counts(module, database, mode, schemas, not_null)
    if dest and not module.check_mode:
        write_snapshot(module, dest, snapshot)
    result = dict(snapshot)
    result.update(
        changed=bool(dest),
        tables=len(snapshot['counts']),
        comparison=None if baseline is None else compare_counts(snapshot['counts'], baseline, tolerance_percent),
        null_checks=null_checks,
        dest=dest,
    )
    return result


DESCRIBE_SQL = """
SELECT split_part(current_setting('server_version'), ' ', 1), d.datname, pg_catalog.pg_get_userbyid(d.datdba),
       pg_catalog.pg_encoding_to_char(d.encoding), d.datcollate, d.datctype, pg_catalog.pg_database_size(d.oid),
       (SELECT count(*) FROM pg_catalog.pg_stat_activity a
        WHERE a.datname = d.datname AND a.backend_type IS DISTINCT FROM 'autovacuum worker')
FROM (SELECT 1) AS one LEFT JOIN pg_catalog.pg_database d ON d.datname = %s
"""


# The size only where login_user may connect (pg_database_size needs it): a
# database it cannot read must not fail the assessment.
RELATED_SQL = """
SELECT datname,
       CASE WHEN has_database_privilege(oid, 'CONNECT') THEN pg_catalog.pg_database_size(oid) END
FROM pg_catalog.pg_database
WHERE (starts_with(datname, %s) OR datname = ANY(%s)) AND datname <> %s
ORDER BY datname
"""


ROLE_SQL = "SELECT rolcanlogin FROM pg_catalog.pg_roles WHERE rolname = %s"


def describe_database(module, database, also=None, roles=None):
    """(info, server_version, related, roles) read from the postgres database.

    info is None when database does not exist; related lists the databases named <database>__* (a restore's
    staging and previous databases) and those of the names in also that exist, as {datname, size}; roles maps each
    name of roles to {exists, can_login} (can_login None for a role that does not exist).
    """
    conn = connect(module, 'postgres')
    found = {}
    try:
        cur = conn.cursor()
        cur.execute(DESCRIBE_SQL, (database,))
        row = cur.fetchone()
        cur.execute(RELATED_SQL, (database + '__', list(also or []), database))
        related = [dict(datname=name, size=size) for name, size in cur.fetchall()]
        for name in roles or []:
            cur.execute(ROLE_SQL, (name,))
            role = cur.fetchone()
            found[name] = dict(exists=role is not None, can_login=role[0] if role else None)
        cur.close()
    except psycopg2.Error as exc:
        module.fail_json(msg='Reading pg_database at %s failed: %s. Check that db_restore_login_user may connect to the '
                             'postgres database. Nothing was changed.'
                         % (connection_target(module.params, 'postgres'), pg_error_text(exc)))
    finally:
        conn.close()
    version = row[0]
    if row[1] is None:
        return None, version, related, found
    keys = ('datname', 'owner', 'encoding', 'datcollate', 'datctype', 'size', 'connections')
    return dict(zip(keys, row[1:])), version, related, found
