#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: restore_objects
short_description: Check that every object in a dump's table of contents exists in the restored database
description:
  - Lists the table of contents of a custom, tar or directory dump with C(pg_restore --list) and checks that each
    table, view, materialized view, sequence, index, constraint (primary key, unique, exclusion, check, foreign
    key), trigger, function and procedure it names exists in O(database).
  - A restore that skipped an object (an index that failed to build, a foreign key that could not be validated
    and was left out, a trigger whose function was missing) is found here even when every row count matches.
  - Read-only; never reports a change.
version_added: 0.2.0
author:
  - YieldVault platform team
extends_documentation_fragment:
  - yieldvault.db_restore.postgres
options:
  database:
    description:
      - The restored database.
    type: str
    required: true
  path:
    description:
      - The dump that was restored (custom, tar or directory format).
    type: path
    required: true
  pg_restore:
    description:
      - The C(pg_restore) binary, a name on E(PATH) or a full path.
    type: str
    default: pg_restore
attributes:
  check_mode:
    support: full
    details: The module only reads; it runs the same way in check mode.
notes:
  - Objects are matched by type, schema and name as pg_dump tags them. Functions are matched with their argument
    types, so an overload that is missing is found even when another one with the same name exists.
seealso:
  - module: yieldvault.db_restore.backup_inspect
  - module: yieldvault.db_restore.table_counts
'''

EXAMPLES = r'''
- name: Check every object of the backup exists in the restored database
  yieldvault.db_restore.restore_objects:
    database: yieldvault_prod
    path: /var/backups/postgresql/restore/yieldvault_prod_20260429_1400.dump
    pg_restore: /usr/lib/postgresql/15/bin/pg_restore
  register: objects

- name: Fail when objects are missing
  ansible.builtin.assert:
    that: objects.passed
    fail_msg: "Missing: {{ objects.missing | map(attribute='name') | join(', ') }}"
'''

RETURN = r'''
passed:
  description: Every checked TOC object exists.
  returned: always
  type: bool
checked:
  description: Number of TOC objects checked.
  returned: always
  type: int
  sample: 182
by_type:
  description: Number of checked objects per TOC type.
  returned: always
  type: dict
  sample: {"TABLE": 23, "INDEX": 34, "FK CONSTRAINT": 36, "TRIGGER": 15}
missing:
  description: TOC objects that do not exist in O(database).
  returned: always
  type: list
  elements: dict
  sample: [{"type": "INDEX", "kind": "INDEX", "schema": "public", "name": "idx_actor_last_name"}]
missing_by_type:
  description: Number of missing objects per TOC type.
  returned: always
  type: dict
  sample: {"INDEX": 1}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.yieldvault.db_restore.plugins.module_utils.dumpfile import detect_format, parse_toc_listing
from ansible_collections.yieldvault.db_restore.plugins.module_utils.pg import (
    connect,
    connection_target,
    postgres_argument_spec,
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


def first_line(text):
    for line in (text or '').splitlines():
        if line.strip():
            return line.strip()
    return ''


def present_objects(conn, kinds):
    present = {}
    cur = conn.cursor()
    cur.execute("SELECT pg_catalog.set_config('search_path', '', true)")
    for kind in kinds:
        cur.execute(CATALOG_QUERIES[kind])
        present[kind] = set((schema, normalize_name(name)) for schema, name in cur.fetchall())
    cur.close()
    return present


def main():
    argument_spec = postgres_argument_spec()
    argument_spec.update(
        database=dict(type='str', required=True),
        path=dict(type='path', required=True),
        pg_restore=dict(type='str', default='pg_restore'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    path = params['path']
    try:
        fmt = detect_format(path)
    except (IOError, OSError) as exc:
        module.fail_json(msg='Could not read the dump %s: %s. Check the path. Nothing was changed.' % (path, exc))
    if fmt not in ('custom', 'tar', 'directory'):
        module.fail_json(msg='%s is a %s dump; only custom, tar and directory dumps have a table of contents to check '
                             'against. Nothing was changed.' % (path, fmt))
    binary = params['pg_restore']
    resolved = binary if '/' in binary else module.get_bin_path(binary)
    if not resolved:
        module.fail_json(msg='pg_restore (%s) was not found. Install the PostgreSQL client tools or set pg_restore '
                             '(db_restore_pg_bin_dir). Nothing was changed.' % binary)
    rc, out, err = module.run_command([resolved, '--list', path])
    if rc != 0:
        module.fail_json(msg='pg_restore --list %s failed: %s. The dump is damaged or was made by a newer pg_dump. '
                             'Nothing was changed.' % (path, first_line(err) or 'exit code %d' % rc))
    dummy, entries = parse_toc_listing(out)
    expected = expected_objects(entries)

    conn = connect(module, params['database'], autocommit=False)
    try:
        conn.set_session(readonly=True)
        present = present_objects(conn, sorted(set(item['kind'] for item in expected)))
        conn.rollback()
    except psycopg2.Error as exc:
        module.fail_json(msg='Reading the catalog of %s failed: %s. Nothing was changed.'
                             % (connection_target(params, params['database']), str(exc).strip()))
    finally:
        conn.close()

    missing = missing_objects(expected, present)
    module.exit_json(
        changed=False,
        passed=not missing,
        checked=len(expected),
        by_type=summarize_by_type(expected),
        missing=missing,
        missing_by_type=summarize_by_type(missing),
    )


if __name__ == '__main__':
    main()
