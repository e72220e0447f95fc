# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every object of a dump's table of contents, looked up in a database's catalog.

Shared by restore_objects and restore_checks (its objects_from option).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.yieldvault.db_restore.plugins.module_utils.binaries import resolve_binary
from ansible_collections.yieldvault.db_restore.plugins.module_utils.dumpfile import (
    PACKED_DIRECTORY,
    detect_format,
    parse_toc_listing,
    read_toc,
)
from ansible_collections.yieldvault.db_restore.plugins.module_utils.inspect_dump import first_line, list_archive
from ansible_collections.yieldvault.db_restore.plugins.module_utils.pg import (
    connect,
    connection_target,
    psycopg2,
)
from ansible_collections.yieldvault.db_restore.plugins.module_utils.verify import (
    expected_objects,
    missing_objects,
    normalize_name,
    summarize_by_type,
)

# One query per kind, each returning (schema, name) in the form pg_dump uses
# for the TOC tag. search_path is empty while they run, as in pg_dump, so
# format_type() qualifies argument types the same way.
CATALOG_QUERIES = {
    'TABLE': "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
             "WHERE c.relkind IN ('r', 'p', 'f')",
    'VIEW': "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = 'v'",
    'MATERIALIZED VIEW': "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                         "WHERE c.relkind = 'm'",
    'SEQUENCE': "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind = 'S'",
    'INDEX': "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
             "WHERE c.relkind IN ('i', 'I')",
    'CONSTRAINT': "SELECT n.nspname, coalesce(c.relname, t.typname) || ' ' || con.conname "
                  "FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace "
                  "LEFT JOIN pg_class c ON c.oid = con.conrelid LEFT JOIN pg_type t ON t.oid = con.contypid",
    'TRIGGER': "SELECT n.nspname, c.relname || ' ' || tg.tgname FROM pg_trigger tg "
               "JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
               "WHERE NOT tg.tgisinternal",
    'FUNCTION': "SELECT n.nspname, p.proname || '(' || pg_catalog.oidvectortypes(p.proargtypes) || ')' "
                "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.prokind IN ('f', 'p', 'w')",
}


def present_objects(conn, kinds):
    present = {}
    cur = conn.cursor()
    cur.execute("SELECT pg_catalog.set_config('search_path', '', true)")
    for kind in kinds:
        cur.execute(CATALOG_QUERIES[kind])
        present[kind] = set((schema, normalize_name(name)) for schema, name in cur.fetchall())
    cur.close()
    return present


def check_objects(module, database, path, pg_restore='pg_restore'):
    """{passed, checked, by_type, missing, missing_by_type}; fails the module when the dump cannot be listed."""
    params = module.params
    try:
        fmt = detect_format(path)
    except (IOError, OSError) as exc:
        module.fail_json(msg='Could not read the dump %s: %s. Check the path. Nothing was changed.' % (path, exc))
    if fmt not in ('custom', 'tar', 'directory', PACKED_DIRECTORY):
        module.fail_json(msg='%s is a %s dump; only custom, tar and directory dumps (packed or not) have a table of '
                             'contents to check against. Nothing was changed.' % (path, fmt))
    resolved, missing = resolve_binary(module, pg_restore)
    if not resolved:
        module.fail_json(msg='pg_restore: %s. Install the PostgreSQL client tools or set '
                             'db_restore_pg_bin_dir to their bin directory. Nothing was changed.' % missing)
    rc, out, err = list_archive(module, resolved, path, fmt)
    if rc != 0:
        module.fail_json(msg='pg_restore --list %s failed: %s. The dump is damaged or was made by a newer pg_dump. '
                             'Nothing was changed.' % (path, first_line(err) or 'exit code %d' % rc))
    # Names and owners may hold spaces: the archive's own TOC says where each ends.
    dummy, entries = parse_toc_listing(out, read_toc(path, fmt))
    expected = expected_objects(entries)

    conn = connect(module, database, autocommit=False)
    try:
        conn.set_session(readonly=True)
        present = present_objects(conn, sorted(set(item['kind'] for item in expected)))
        conn.rollback()
    except psycopg2.Error as exc:
        module.fail_json(msg='Reading the catalog of %s failed: %s. Nothing was changed.'
                             % (connection_target(params, database), str(exc).strip()))
    finally:
        conn.close()

    missing = missing_objects(expected, present)
    return dict(
        passed=not missing,
        checked=len(expected),
        by_type=summarize_by_type(expected),
        missing=missing,
        missing_by_type=summarize_by_type(missing),
    )
