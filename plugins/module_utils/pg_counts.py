# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Exact row counts of every table inside the caller's transaction.

Shared by pg_backup (which counts inside the snapshot it exports to pg_dump, so
a manifest states exactly what the dump holds) and meant for table_counts:
both sides of a manifest comparison must count the same way (partitioned
parents as the sum of their leaves, unpopulated materialized views as null).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.yieldvault.db_restore.plugins.module_utils.counts import table_key
from ansible_collections.yieldvault.db_restore.plugins.module_utils.pg import qualified, sql

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
