#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: restore_checks
short_description: Prove a restored database in one call - row counts, objects, SQL checks, Prisma, amcheck
description:
  - With O(counts), counts the rows of every table exactly, in one read-only snapshot, as
    M(yieldvault.db_restore.table_counts) does (same counting, same snapshot file), runs the NULL checks and judges
    the counts against the backup's manifest (exactly) or the database before the restore (within a tolerance).
  - With O(objects_from), checks that every table, index, constraint, sequence, view, function and trigger of the
    dump's table of contents exists, as M(yieldvault.db_restore.restore_objects) does.
  - Runs each of O(checks) (a query and its expected result) in a read-only transaction of its own and compares
    the result with the expected value, for example the runbook's transaction totals per type. Each query runs
    as the cursor of a C(DECLARE CURSOR), which takes exactly one SELECT, VALUES or WITH ... SELECT query and no
    data-modifying WITH; a check whose SQL holds a C(;) before its end (a second statement) is refused before any
    check runs, and the module fails.
  - When a table named C(_prisma_migrations) exists (in any schema), checks that it records no failed migration
    and no rolled-back migration that was not applied again.
  - With O(amcheck=true), verifies every valid B-tree index of the user schemas with C(bt_index_check) (and
    C(heapallindexed), so an index that lacks rows of its table is found too). The C(amcheck) extension is
    created for that when missing and dropped again afterwards.
  - Every result is one entry of RV(results), shaped C({check, passed, detail}) like the rows of the restore
    report's verification table, in this order - counts, tables and NULLs, objects, SQL checks, Prisma, amcheck.
    The module never fails because a check failed; the caller decides. It fails (nothing changed) when it
    cannot check at all - PostgreSQL unreachable, the dump unreadable.
  - One module call instead of three is one Python start and one connection set-up fewer each, on the
    restore's critical path.
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
  counts:
    description:
      - Count the rows of every table and judge them; omit to skip counting. The full count result, shaped as
        M(yieldvault.db_restore.table_counts)'s, is returned as RV(counts).
    type: dict
    suboptions:
      dest:
        description: Write the counts snapshot here (JSON, mode 0600), as C(table_counts) O(yieldvault.db_restore.table_counts#module:dest).
        type: path
      baseline:
        description:
          - The expected counts, C(schema.table) to rows - the backup's manifest, or the counts taken before the
            restore. Omit when there is none (the database did not exist, or a rollback replaces it).
        type: dict
      baseline_source:
        description:
          - C(manifest) - every table must hold exactly the manifest's count, and no table may be missing or extra.
          - C(backup) - the same against the rows counted in the backup's own data (M(yieldvault.db_restore.backup_checksum)
            O(yieldvault.db_restore.backup_checksum#module:count_rows)); a materialized view whose expected count is
            C(refreshed) must be populated, with any count.
          - C(before) - a table may hold up to O(counts.tolerance_percent) percent fewer rows than before; a missing
            table fails.
        type: str
        choices: [manifest, backup, before]
        default: before
      manifest_created_at:
        description: When the manifest was taken, shown in the row of a passing manifest comparison.
        type: str
      tolerance_percent:
        description: With O(counts.baseline_source=before), the share of its rows a table may lose.
        type: float
        default: 0.0
      not_null:
        description: Columns that must hold no NULL, each C({table, column}).
        type: list
        elements: dict
        default: []
        suboptions:
          table:
            description: C(schema.table), or a table of the C(public) schema.
            type: str
            required: true
          column:
            description: The column.
            type: str
            required: true
      no_baseline_reason:
        description: Why there is no O(counts.baseline), shown in the report's row when it is omitted.
        type: str
  objects_from:
    description:
      - A custom, tar or directory dump (or a packed directory dump, directory_tar); every object of its table of contents must exist in O(database).
        Omit to skip the object check.
    type: path
  pg_restore:
    description:
      - The pg_restore that lists O(objects_from) (a name found in PATH, or a path).
    type: str
    default: pg_restore
  checks:
    description:
      - SQL checks, run read-only. A query that writes fails with an error in its result row.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Name of the check, shown in the report.
        type: str
        required: true
      sql:
        description: The query.
        type: str
        required: true
      expected:
        description:
          - The expected result - a single value (one row, one column), a dict (one row; the named columns),
            or a list with one entry per row in order (each a value, a list of values or a dict of columns).
          - Numbers compare by value, so C(100) matches C(100.00).
        type: raw
        required: true
  prisma_migrations:
    description:
      - Check C(_prisma_migrations) tables when they exist.
    type: bool
    default: true
  amcheck:
    description:
      - Verify the B-tree indexes with the C(amcheck) extension (reads every index and table; slow on big
        databases, meant for drills).
    type: bool
    default: false
  heapallindexed:
    description:
      - Also check that every row of the table is in the index (C(bt_index_check(index, true))).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    details:
      - SQL and Prisma checks run for real in check mode. amcheck runs only when the extension is already
        installed, since creating it is a change.
notes:
  - C(changed) is true when the C(amcheck) extension was created (it is dropped again before the module ends) or
    the counts snapshot was written (O(counts.dest)).
seealso:
  - module: yieldvault.db_restore.restore_objects
  - module: yieldvault.db_restore.table_counts
'''

EXAMPLES = r'''
- name: Check the transaction totals per type and the B-tree indexes of the restored database
  yieldvault.db_restore.restore_checks:
    database: yieldvault_prod
    checks:
      - name: transactions per type
        sql: SELECT type, count(*) FROM "Transaction" GROUP BY type ORDER BY type
        expected:
          - {type: deposit, count: 2500}
          - {type: withdrawal, count: 2500}
      - name: no negative vault balance
        sql: SELECT count(*) FROM "VaultState" WHERE "totalAssets" < 0
        expected: 0
    amcheck: true
  register: checks

- name: Prove a restore against its backup's manifest in one call
  yieldvault.db_restore.restore_checks:
    database: yieldvault_prod
    counts:
      baseline: "{{ manifest.tables }}"
      baseline_source: manifest
      dest: /var/backups/postgresql/counts_after.json
      not_null:
        - {table: public.User, column: email}
    objects_from: /var/backups/postgresql/restore/yieldvault_prod_20260429_1400.dump
  register: verification
'''

RETURN = r'''
counts:
  description:
    - With O(counts), the count result in the shape M(yieldvault.db_restore.table_counts) returns (database,
      counts, partitions, total_rows, tables, comparison, null_checks, ...); null without.
  returned: always
  type: dict
objects:
  description:
    - With O(objects_from), the object check in the shape M(yieldvault.db_restore.restore_objects) returns
      (passed, checked, by_type, missing, missing_by_type); null without.
  returned: always
  type: dict
results:
  description: One entry per check, in the shape of the report's verification rows.
  returned: always
  type: list
  elements: dict
  sample: [{"check": "SQL check: transactions per type", "passed": true, "detail": "2 rows as expected"}]
passed:
  description: Every check passed.
  returned: always
  type: bool
amcheck:
  description: amcheck details; null when O(amcheck=false).
  returned: always
  type: dict
  sample: {"indexes": 34, "failed": [], "created_extension": true}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.yieldvault.db_restore.plugins.module_utils.pg import (
    pg_error_text,
    connect,
    postgres_argument_spec,
    psycopg2,
    sql,
)
from ansible_collections.yieldvault.db_restore.plugins.module_utils.pg_counts import count_and_compare, validate_baseline
from ansible_collections.yieldvault.db_restore.plugins.module_utils.pg_objects import check_objects
from ansible_collections.yieldvault.db_restore.plugins.module_utils.verify import (
    CHECK_CURSOR,
    ONE_QUERY,
    check_problems,
    check_sql,
    compare_result,
    count_rows,
    judge_prisma_migrations,
    objects_row,
)

USER_SCHEMAS = ("n.nspname NOT IN ('pg_catalog', 'information_schema') "
                "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'")

BTREE_INDEXES = """
SELECT c.oid, n.nspname, c.relname
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_am am ON am.oid = c.relam
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE am.amname = 'btree' AND c.relkind = 'i' AND i.indisvalid AND i.indisready AND """ + USER_SCHEMAS + """
ORDER BY n.nspname, c.relname
"""

PRISMA_TABLES = """
SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname = '_prisma_migrations' AND c.relkind IN ('r', 'p') AND """ + USER_SCHEMAS + """
ORDER BY n.nspname
"""




def run_sql_checks(conn, checks):
    """Each check as a cursor over its one query, in a READ ONLY transaction of its own (verify.check_sql).

    The caller refused any check check_sql refuses (check_problems) before this runs.
    """
    results = []
    for check in checks:
        row = dict(check='SQL check: %s' % check['name'], passed=False, detail='')
        query, dummy = check_sql(check['sql'])
        stage = 'start'
        try:
            cur = conn.cursor()
            # Explicit, whatever psycopg2's BEGIN said: the first statement of the transaction.
            cur.execute('SET TRANSACTION READ ONLY')
            stage = 'declare'
            cur.execute(sql.SQL('DECLARE {} NO SCROLL CURSOR FOR\n').format(sql.Identifier(CHECK_CURSOR))
                        + sql.SQL(query + '\n'))
            stage = 'fetch'
            cur.execute(sql.SQL('FETCH ALL FROM {}').format(sql.Identifier(CHECK_CURSOR)))
            columns = [d[0] for d in cur.description or []]
            rows = cur.fetchall() if cur.description else []
            cur.close()
            row['passed'], row['detail'] = compare_result(columns, rows, check['expected'])
        except psycopg2.Error as exc:
            row['detail'] = 'the query failed: %s' % pg_error_text(exc)
            if stage == 'declare':
                row['detail'] += ' (%s; fix db_restore_checks)' % ONE_QUERY
        finally:
            conn.rollback()
        results.append(row)
    return results


def run_prisma_check(conn):
    results = []
    cur = conn.cursor()
    cur.execute(PRISMA_TABLES)
    schemas = [r[0] for r in cur.fetchall()]
    for schema in schemas:
        table = '%s._prisma_migrations' % schema
        row = dict(check='no failed or rolled-back Prisma migration in %s' % table, passed=False, detail='')
        try:
            cur.execute(sql.SQL('SELECT migration_name, started_at, finished_at, rolled_back_at FROM {}').format(
                sql.Identifier(schema, '_prisma_migrations')))
            names = [d[0] for d in cur.description]
            verdict = judge_prisma_migrations([dict(zip(names, r)) for r in cur.fetchall()])
            problems = []
            if verdict['failed']:
                problems.append('failed: %s' % ', '.join(verdict['failed']))
            if verdict['rolled_back']:
                problems.append('rolled back and not applied again: %s' % ', '.join(verdict['rolled_back']))
            row['passed'] = not problems
            row['detail'] = '; '.join(problems) if problems else (
                '%d migrations applied%s' % (verdict['applied'], (
                    ' (%s rolled back, then applied again)' % ', '.join(verdict['resolved']))
                    if verdict['resolved'] else ''))
        except psycopg2.Error as exc:
            row['detail'] = 'reading %s failed: %s' % (table, pg_error_text(exc))
            conn.rollback()
            cur = conn.cursor()
        results.append(row)
    cur.close()
    conn.rollback()
    return results


def run_amcheck(module, conn, heapallindexed):
    """Return (result row, details, changed)."""
    cur = conn.cursor()
    cur.execute("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                "WHERE e.extname = 'amcheck'")
    found = cur.fetchone()
    created = False
    if not found:
        if module.check_mode:
            return (dict(check='amcheck: B-tree indexes are consistent', passed=True,
                         detail='skipped in check mode: the amcheck extension is not installed and would be created'),
                    dict(indexes=0, failed=[], created_extension=False), False)
        try:
            cur.execute('CREATE EXTENSION IF NOT EXISTS amcheck')
            created = True
            cur.execute("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                        "WHERE e.extname = 'amcheck'")
            found = cur.fetchone()
        except psycopg2.Error as exc:
            return (dict(check='amcheck: B-tree indexes are consistent', passed=False,
                         detail='could not create the amcheck extension: %s (install the PostgreSQL contrib '
                                'package, or set db_restore_amcheck to false)' % pg_error_text(exc)),
                    dict(indexes=0, failed=[], created_extension=False), False)
    function = sql.Identifier(found[0], 'bt_index_check')
    cur.execute(BTREE_INDEXES)
    indexes = cur.fetchall()
    failed = []
    for oid, schema, name in indexes:
        try:
            cur.execute(sql.SQL('SELECT {}(%s::oid::regclass, %s)').format(function), (oid, heapallindexed))
        except psycopg2.Error as exc:
            failed.append('%s.%s: %s' % (schema, name, pg_error_text(exc)))
    if created:
        cur.execute('DROP EXTENSION IF EXISTS amcheck')
    cur.close()
    row = dict(
        check='amcheck: B-tree indexes are consistent%s' % (' with every table row (heapallindexed)'
                                                           if heapallindexed else ''),
        passed=not failed,
        detail=('; '.join(failed[:10]) + (' and %d more' % (len(failed) - 10) if len(failed) > 10 else ''))
        if failed else '%d indexes checked' % len(indexes),
    )
    return row, dict(indexes=len(indexes), failed=failed, created_extension=created), created


def main():
    argument_spec = postgres_argument_spec()
    argument_spec.update(
        database=dict(type='str', required=True),
        counts=dict(type='dict', options=dict(
            dest=dict(type='path'),
            baseline=dict(type='dict'),
            baseline_source=dict(type='str', default='before', choices=['manifest', 'backup', 'before']),
            manifest_created_at=dict(type='str'),
            tolerance_percent=dict(type='float', default=0.0),
            not_null=dict(type='list', elements='dict', default=[], options=dict(
                table=dict(type='str', required=True),
                column=dict(type='str', required=True),
            )),
            no_baseline_reason=dict(type='str'),
        )),
        objects_from=dict(type='path'),
        pg_restore=dict(type='str', default='pg_restore'),
        checks=dict(type='list', elements='dict', default=[], options=dict(
            name=dict(type='str', required=True),
            sql=dict(type='str', required=True),
            expected=dict(type='raw', required=True),
        )),
        prisma_migrations=dict(type='bool', default=True),
        amcheck=dict(type='bool', default=False),
        heapallindexed=dict(type='bool', default=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    results = []
    amcheck = None
    changed = False
    counts = objects = None

    problems = check_problems(params['checks'])
    if problems:
        module.fail_json(msg='Refusing to run db_restore_checks: %s. Fix db_restore_checks in the inventory and run '
                             'again. No check ran and nothing was changed.' % ' '.join(problems))

    spec = params['counts']
    if spec is not None:
        if spec['tolerance_percent'] < 0:
            module.fail_json(msg='db_restore_count_tolerance_percent must be 0 or more (got %s). Nothing was changed.'
                                 % spec['tolerance_percent'])
        baseline = None if spec['baseline'] is None else validate_baseline(module, dict(spec['baseline']))
        counts = count_and_compare(module, params['database'], 'exact', None, spec['not_null'], spec['dest'],
                                   baseline, spec['tolerance_percent'])
        changed = counts.pop('changed')
        results += count_rows(counts, spec['baseline_source'], len(baseline or {}), spec['tolerance_percent'],
                              spec['manifest_created_at'], spec['no_baseline_reason'])
    if params['objects_from']:
        objects = check_objects(module, params['database'], params['objects_from'], params['pg_restore'])
        results.append(objects_row(objects))

    conn = connect(module, params['database'], autocommit=False)
    try:
        conn.set_session(readonly=True)
        results += run_sql_checks(conn, params['checks'])
        if params['prisma_migrations']:
            results += run_prisma_check(conn)
        conn.rollback()
        if params['amcheck']:
            conn.set_session(readonly=False, autocommit=True)
            row, amcheck, created = run_amcheck(module, conn, params['heapallindexed'])
            changed = changed or created
            results.append(row)
    except psycopg2.Error as exc:
        module.fail_json(msg='Checking %s failed: %s. Nothing was changed.' % (params['database'], pg_error_text(exc)),
                         results=results, counts=counts, objects=objects)
    finally:
        conn.close()

    module.exit_json(changed=changed, results=results, passed=all(r['passed'] for r in results), amcheck=amcheck,
                     counts=counts, objects=objects)


if __name__ == '__main__':
    main()
