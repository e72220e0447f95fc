#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: table_counts
short_description: Take a consistent row-count snapshot of a PostgreSQL database and compare it
description:
  - Counts the rows of every table, partitioned table and materialized view of a database.
  - In C(exact) mode every count is taken in one C(REPEATABLE READ READ ONLY) transaction, so the snapshot is
    consistent even while the application writes.
  - A partitioned table is reported as the sum of its leaf partitions (also for multi-level partitioning);
    each leaf is counted with C(FROM ONLY), so no row is counted twice.
  - Optionally writes the snapshot as JSON, compares it with an earlier snapshot or a baseline, and checks
    that given columns hold no NULL.
  - The module never fails because counts differ; it returns the comparison and the caller decides.
version_added: 0.2.0
author:
  - YieldVault platform team
extends_documentation_fragment:
  - yieldvault.db_restore.postgres
options:
  database:
    description:
      - Database to count.
    type: str
    required: true
  mode:
    description:
      - V(exact) counts the rows of every table (reads every table once).
      - V(estimated) reads C(pg_class.reltuples) (instant; null for a table never analysed).
    type: str
    choices: [exact, estimated]
    default: exact
  schemas:
    description:
      - Schemas to include.
      - Default is every schema except C(pg_catalog), C(information_schema), C(pg_toast*) and C(pg_temp*).
    type: list
    elements: str
  dest:
    description:
      - Write the snapshot as JSON to this path (mode 0600, written atomically; missing parent directories are
        created with mode 0700).
      - Not written in check mode.
    type: path
  compare_to:
    description:
      - Path of a snapshot JSON written earlier by this module, or a backup manifest; only its C(counts) key (a
        manifest's C(tables)) is
        used.
      - Mutually exclusive with O(baseline).
    type: path
  baseline:
    description:
      - Expected counts as a dict of C(schema.table) to row count.
      - Mutually exclusive with O(compare_to).
    type: dict
  tolerance_percent:
    description:
      - Largest difference, in percent of the expected count, that still counts as matching.
    type: float
    default: 0
  not_null:
    description:
      - Columns that must hold no NULL.
      - O(not_null[].table) is C(schema.table) or just C(table) (meaning C(public.table)); names are case-sensitive
        and used verbatim (C(User) is the Prisma table C("User")).
      - An unknown table or column gives a result with RV(null_checks[].error) set, not a failure.
    type: list
    elements: dict
    suboptions:
      table:
        description: Table name, C(schema.table) or C(table).
        type: str
        required: true
      column:
        description: Column name, verbatim.
        type: str
        required: true
  describe:
    description:
      - First read, from the C(postgres) database, the server version, O(database)'s size, owner, encoding,
        collation, ctype and number of sessions (RV(database_info)) and the databases named after it
        (RV(related_databases)) - a restore's assessment and its counts in one call.
      - When O(database) does not exist, return RV(exists=false) without counting instead of failing.
    type: bool
    default: false
  related:
    description:
      - With O(describe), more database names to list in RV(related_databases) when they exist (a staging
        database named otherwise than C(<database>__*)).
    type: list
    elements: str
    default: []
  owner:
    description:
      - With O(describe), a role name (the owner a restore will give the database) whose existence is reported in
        RV(owner_role).
    type: str
attributes:
  check_mode:
    support: full
    details: Everything is read for real in check mode; only O(dest) is not written.
notes:
  - Counting in C(exact) mode takes an C(ACCESS SHARE) lock on every table; it waits for (at most
    C(lock_timeout), 60 seconds) but does not block normal reads and writes.
seealso:
  - module: yieldvault.db_restore.backup_inspect
'''

EXAMPLES = r'''
- name: Snapshot table counts of yieldvault_prod before the restore
  yieldvault.db_restore.table_counts:
    database: yieldvault_prod
    login_unix_socket: /var/run/postgresql
    dest: /var/backups/postgresql/reports/{{ run_id }}/counts_before.json
  register: counts_before

- name: Compare the restored database with the backup manifest and check User.address
  yieldvault.db_restore.table_counts:
    database: yieldvault_prod
    compare_to: /var/backups/postgresql/restore/yieldvault_prod_20260429_1400.dump.manifest.json
    tolerance_percent: 0
    not_null:
      - table: User
        column: address
  register: counts_after

- name: Fail when the restored counts do not match
  ansible.builtin.assert:
    that:
      - counts_after.comparison.matched
      - counts_after.null_checks | rejectattr('passed') | list | length == 0

- name: Quick estimate for a size overview
  yieldvault.db_restore.table_counts:
    database: yieldvault_prod
    mode: estimated
    schemas: [public]
'''

RETURN = r'''
exists:
  description: With O(describe), whether O(database) exists; nothing is counted when it does not.
  returned: when O(describe=true)
  type: bool
database_info:
  description:
    - With O(describe), the database as pg_database describes it; empty when it does not exist.
  returned: when O(describe=true)
  type: dict
  sample: {"datname": "yieldvault_prod", "owner": "yieldvault", "encoding": "UTF8", "datcollate": "C.UTF-8",
           "datctype": "C.UTF-8", "size": 7340032, "connections": 3}
related_databases:
  description:
    - With O(describe), the databases named C(<database>__*) (a restore's staging C(__restore), previous C(__pre_*)
      and swapped-out C(__failed_*) databases) and those of O(related) that exist, each C({datname, size}) (size
      null where login_user may not connect), sorted by name.
  returned: when O(describe=true)
  type: list
  elements: dict
  sample: [{"datname": "yieldvault_prod__pre_20260429T143000Z", "size": 7340032}]
owner_role:
  description: With O(describe) and O(owner), whether that role exists on the server and may log in.
  returned: when O(describe=true) and O(owner) is given
  type: dict
  sample: {"name": "yieldvault_user", "exists": true, "can_login": true}
database:
  description: Database counted.
  returned: always
  type: str
  sample: yieldvault_prod
mode:
  description: Counting mode used.
  returned: always
  type: str
  sample: exact
taken_at:
  description: When the snapshot was taken (ISO 8601 UTC).
  returned: always
  type: str
  sample: '2026-04-29T14:30:00Z'
server_version:
  description: PostgreSQL server version.
  returned: always
  type: str
  sample: '15.6'
counts:
  description:
    - Row count per table, keyed C(schema.table) with names verbatim.
    - Null for an unpopulated materialized view, or in estimated mode for a table never analysed.
  returned: always
  type: dict
  sample: {"public.User": 1204, "public.payment": 16049, "public.payment_p2022_01": 723}
partitions:
  description: Each partitioned table and its leaf partitions (all levels).
  returned: always
  type: dict
  sample: {"public.payment": ["public.payment_p2022_01", "public.payment_p2022_02"]}
materialized_views:
  description: The materialized views among RV(counts) (a restore of a dump refreshes them).
  returned: always
  type: list
  elements: str
  sample: ["public.rental_by_category"]
tables:
  description: Number of entries in RV(counts).
  returned: always
  type: int
  sample: 23
total_rows:
  description: Rows in plain tables, partition leaves and materialized views (parents are not counted twice).
  returned: always
  type: int
  sample: 50000
comparison:
  description: Result of the comparison with O(compare_to) or O(baseline); null when neither is given.
  returned: always
  type: dict
  contains:
    matched:
      description: No table is missing and every difference is within tolerance.
      type: bool
    missing:
      description: Tables in the baseline that do not exist now.
      type: list
      elements: str
    extra:
      description: Tables that exist now but are not in the baseline.
      type: list
      elements: str
    differences:
      description: One entry per table whose count differs.
      type: list
      elements: dict
      sample: [{"table": "public.User", "expected": 100, "actual": 98, "difference": -2, "percent": -2.0,
                "within_tolerance": false}]
    tolerance_percent:
      description: Tolerance used.
      type: float
    tables_compared:
      description: Number of tables on either side.
      type: int
null_checks:
  description: One entry per O(not_null) item.
  returned: always
  type: list
  elements: dict
  sample: [{"table": "public.User", "column": "address", "nulls": 0, "passed": true, "error": null}]
dest:
  description: Path the snapshot was (or in check mode would be) written to; null without O(dest).
  returned: always
  type: str
seconds:
  description: Time the module took.
  returned: always
  type: float
  sample: 1.84
'''

import json
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

# The counting itself is shared with pg_backup and restore_checks, so a backup's
# manifest and the verification of its restore count in exactly the same way.
from ansible_collections.yieldvault.db_restore.plugins.module_utils.pg_counts import (
    count_and_compare,
    describe_database,
    validate_baseline,
)
from ansible_collections.yieldvault.db_restore.plugins.module_utils.pg import ensure_psycopg2, postgres_argument_spec


def read_snapshot(module, path):
    try:
        with open(path, 'r') as handle:
            data = json.load(handle)
    except (IOError, OSError) as exc:
        module.fail_json(msg='Could not read the snapshot %s (compare_to): %s. Check the path, or pass the expected '
                             'counts as baseline. Nothing was changed.' % (path, to_native(exc.strerror or exc)))
    except ValueError as exc:
        module.fail_json(msg='The snapshot %s (compare_to) is not valid JSON: %s. Use a file written by table_counts '
                             'dest or a backup manifest. Nothing was changed.' % (path, to_native(exc)))
    # A table_counts snapshot keeps them under "counts", a backup manifest
    # (pg_backup) under "tables".
    counts = None
    if isinstance(data, dict):
        counts = data.get('counts') if isinstance(data.get('counts'), dict) else data.get('tables')
    if not isinstance(counts, dict):
        module.fail_json(msg='The snapshot %s (compare_to) has no "counts" (or manifest "tables") object. Use a file written by table_counts '
                             'dest or a backup manifest. Nothing was changed.' % path)
    return counts


def main():
    argument_spec = postgres_argument_spec()
    argument_spec.update(
        database=dict(type='str', required=True),
        mode=dict(type='str', default='exact', choices=['exact', 'estimated']),
        schemas=dict(type='list', elements='str'),
        dest=dict(type='path'),
        compare_to=dict(type='path'),
        baseline=dict(type='dict'),
        tolerance_percent=dict(type='float', default=0.0),
        not_null=dict(type='list', elements='dict', options=dict(
            table=dict(type='str', required=True),
            column=dict(type='str', required=True),
        )),
        describe=dict(type='bool', default=False),
        related=dict(type='list', elements='str', default=[]),
        owner=dict(type='str'),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=[('compare_to', 'baseline')],
        supports_check_mode=True,
    )
    started = time.time()
    params = module.params
    if params['tolerance_percent'] < 0:
        module.fail_json(msg='db_restore_count_tolerance_percent must be 0 or more (got %s). Nothing was changed.'
                             % params['tolerance_percent'])
    ensure_psycopg2(module)

    baseline = None
    if params['compare_to']:
        baseline = read_snapshot(module, params['compare_to'])
    elif params['baseline'] is not None:
        baseline = validate_baseline(module, dict(params['baseline']))

    described = {}
    if params['describe']:
        owner = params['owner'] or None
        info, version, related, roles = describe_database(module, params['database'], params['related'],
                                                          roles=[owner] if owner else [])
        described = dict(exists=info is not None, database_info=info or {}, server_version=version,
                         related_databases=related)
        if owner:
            described['owner_role'] = dict(name=owner, **roles[owner])
        if info is None:
            module.exit_json(changed=False, database=params['database'], mode=params['mode'], counts=None,
                             partitions={}, materialized_views=[], total_rows=0, tables=0, comparison=None, null_checks=[],
                             dest=params['dest'], seconds=round(time.time() - started, 3), **described)

    result = count_and_compare(module, params['database'], params['mode'], params['schemas'], params['not_null'],
                               params['dest'], baseline, params['tolerance_percent'])
    result.update(described)
    result['seconds'] = round(time.time() - started, 3)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
