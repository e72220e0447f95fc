# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backup names and manifests (pure, unit tested).

A manifest sits beside a backup as ``<name>.manifest.json`` and states what the
dump holds: exact per-table row counts taken in the very snapshot pg_dump
dumped, the server version, the size and the checksum.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.yieldvault.db_restore.plugins.module_utils.catalog import (
    UTC,
    isoformat_z,
    parse_backup_name,
)

MANIFEST_SUFFIX = '.manifest.json'
REQUIRED_KEYS = ('database', 'backup', 'created_at', 'format', 'size', 'md5', 'tables')


def backup_name(database, when, seconds=False):
    """``<database>_YYYYMMDD_HHMM.dump`` for ``when`` in UTC (naive means UTC); ``_YYYYMMDD_HHMMSS`` with seconds."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return '%s_%s.dump' % (database, when.astimezone(UTC).strftime('%Y%m%d_%H%M%S' if seconds else '%Y%m%d_%H%M'))


def manifest_name(backup):
    return backup + MANIFEST_SUFFIX


def build_manifest(database, backup, created_at, server_version, size, md5, snapshot, tables,
                   fmt='custom', **extra):
    """The manifest dict; ``created_at`` is an aware datetime or an ISO string."""
    if isinstance(created_at, datetime.datetime):
        created_at = isoformat_z(created_at)
    manifest = dict(
        database=database,
        backup=backup,
        created_at=created_at,
        server_version=server_version,
        format=fmt,
        size=size,
        md5=md5,
        snapshot=snapshot,
        tables=dict(sorted(tables.items())),
    )
    manifest.update(extra)
    return manifest


def validate_manifest(data, backup=None, md5=None):
    """Return a list of problems (empty when the manifest can be trusted for ``backup``/``md5``)."""
    if not isinstance(data, dict):
        return ['the manifest is not a JSON object']
    problems = ['key %r is missing' % key for key in REQUIRED_KEYS if key not in data]
    tables = data.get('tables')
    if 'tables' in data and not isinstance(tables, dict):
        problems.append('"tables" is not an object of "schema.table": rows')
    elif isinstance(tables, dict):
        bad = sorted(t for t, n in tables.items()
                     if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0))
        if bad:
            problems.append('row counts are not whole numbers for %s' % ', '.join(bad[:5]))
    if backup and data.get('backup') not in (None, backup):
        problems.append('it describes backup %s, not %s' % (data.get('backup'), backup))
    if md5 and data.get('md5') and str(data['md5']).lower() != str(md5).lower():
        problems.append('its md5 %s differs from the backup file\'s md5 %s' % (data['md5'], md5))
    if backup and data.get('database') and parse_backup_name(backup, data['database']) is None:
        problems.append('database %s does not match the backup name %s' % (data['database'], backup))
    return problems
