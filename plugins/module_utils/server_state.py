# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's state on the database server, in the maintenance database.

Two tables in the schema ``yieldvault_db_restore`` of the ``postgres`` database:

``runs``: one row per database (the lock key). ``run_id`` is the run holding
the lock (NULL when free), ``holder`` who it is, ``journal`` what the current
(or last) run changed, ``carry`` what a dead run left for the next ones (a
connection limit to give back, a partial restore, safety backups of it).
Taking the lock is one transaction (INSERT ... ON CONFLICT, then SELECT ... FOR
UPDATE), so two runs of one database on one cluster exclude each other
whatever their work directories or controllers.

``made``: one row per database the collection created (staging, drill scratch,
the previous and swapped-out copies), keyed by name, with the database's OID.
A drop or rename of anything but production checks this mark first; the swap
updates it in the same transaction as the renames. A registry rather than
COMMENT ON DATABASE: the mark survives renames without touching the
application's own database metadata, is updated atomically with a swap, and a
database restored from a dump can never carry a stale mark.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.yieldvault.db_restore.plugins.module_utils.pg import psycopg2, sql

SCHEMA = 'yieldvault_db_restore'
UNIQUE_VIOLATION = '23505'

DDL = (
    'CREATE SCHEMA IF NOT EXISTS yieldvault_db_restore',
    'CREATE TABLE IF NOT EXISTS yieldvault_db_restore.runs ('
    ' database text PRIMARY KEY, run_id text, holder jsonb, started timestamptz,'
    " journal jsonb NOT NULL DEFAULT '{}', carry jsonb NOT NULL DEFAULT '{}')",
    'CREATE TABLE IF NOT EXISTS yieldvault_db_restore.made ('
    ' name text PRIMARY KEY, oid oid, kind text NOT NULL, production text NOT NULL, run_id text NOT NULL,'
    ' created timestamptz NOT NULL DEFAULT now())',
)


def schema_exists(cur):
    cur.execute('SELECT to_regclass(%s) IS NOT NULL AND to_regclass(%s) IS NOT NULL',
                (SCHEMA + '.runs', SCHEMA + '.made'))
    return bool(cur.fetchone()[0])


def ensure_schema(conn):
    """Create the schema and tables when missing (autocommit connection); two runs at once may race: retried."""
    cur = conn.cursor()
    for attempt in range(3):
        try:
            for statement in DDL:
                cur.execute(statement)
            return
        except psycopg2.Error as exc:
            # CREATE ... IF NOT EXISTS is not safe against a concurrent creation of the same name.
            if exc.pgcode != UNIQUE_VIOLATION or attempt == 2:
                raise


def database_oid(cur, name):
    cur.execute('SELECT oid FROM pg_database WHERE datname = %s', (name,))
    row = cur.fetchone()
    return row[0] if row else None


def mark_of(cur, name):
    """('absent'|'ours'|'foreign', mark row dict or None) for the database called ``name``.

    'ours': a mark names it with its OID, or a mark for that name is pending
    (written just before a CREATE DATABASE that a killed run may have done).
    """
    oid = database_oid(cur, name)
    mark = None
    if schema_exists(cur):
        cur.execute('SELECT name, oid, kind, production, run_id, created FROM yieldvault_db_restore.made WHERE name = %s',
                    (name,))
        row = cur.fetchone()
        if row:
            mark = dict(name=row[0], oid=row[1], kind=row[2], production=row[3], run_id=row[4],
                        created=row[5].isoformat() if row[5] else None)
    if oid is None:
        return 'absent', mark
    if mark and (mark['oid'] is None or int(mark['oid']) == int(oid)):
        return 'ours', mark
    return 'foreign', mark


def set_marks(cur, marks, production, run_id):
    """Apply {name: kind or None} after renames, in the caller's transaction: None removes the mark."""
    for name, kind in sorted((marks or {}).items()):
        if kind:
            cur.execute(
                'INSERT INTO yieldvault_db_restore.made (name, oid, kind, production, run_id) '
                'VALUES (%s, (SELECT oid FROM pg_database WHERE datname = %s), %s, %s, %s) '
                'ON CONFLICT (name) DO UPDATE SET oid = EXCLUDED.oid, kind = EXCLUDED.kind, '
                'production = EXCLUDED.production, run_id = EXCLUDED.run_id, created = now()',
                (name, name, kind, production, run_id))
        else:
            cur.execute('DELETE FROM yieldvault_db_restore.made WHERE name = %s', (name,))


def server_now(cur):
    """The server's time in UTC, as the journal writes it (2026-04-29T12:03:04Z)."""
    cur.execute("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
    return cur.fetchone()[0]


def journal_update(cur, database, run_id, patch):
    """Merge ``patch`` into the journal of the lock ``run_id`` holds; the number of rows changed (0 or 1)."""
    cur.execute('UPDATE yieldvault_db_restore.runs SET journal = journal || %s::jsonb '
                'WHERE database = %s AND run_id = %s', (json.dumps(patch), database, run_id))
    return cur.rowcount


def set_connection_limit(cur, name, limit):
    """ALTER DATABASE ``name`` CONNECTION LIMIT ``limit`` (-1 for none), the name quoted by psycopg2."""
    cur.execute(sql.SQL('ALTER DATABASE {} CONNECTION LIMIT {}').format(sql.Identifier(name), sql.Literal(int(limit))))


def drop_database(cur, name):
    """End the sessions and drop ``name`` (autocommit cursor), then remove its mark."""
    cur.execute(sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)').format(sql.Identifier(name)))
    if schema_exists(cur):
        cur.execute('DELETE FROM yieldvault_db_restore.made WHERE name = %s', (name,))
