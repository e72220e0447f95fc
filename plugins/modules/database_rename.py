#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: database_rename
short_description: Rename PostgreSQL databases in one transaction (the swap of a staging restore)
description:
  - Runs a list of C(ALTER DATABASE ... RENAME TO ...) in B(one) transaction, for example production to
    C(<db>__pre_<run>) and the verified staging database to production. Either every rename happens or none does;
    a failure or an interrupt before the commit leaves every database as it was.
  - The whole plan is checked against the existing databases before the transaction starts (every source exists
    when its rename runs, no target is taken, no name is longer than 63 bytes, no system database).
  - A database can only be renamed when nobody is connected to it, so the sessions of every database in the plan
    are terminated first (O(terminate)); a session that slips in between is caught by the next attempt.
version_added: 0.2.0
author:
  - YieldVault platform team
extends_documentation_fragment:
  - yieldvault.db_restore.postgres
options:
  renames:
    description:
      - The renames, in order, each a dict with C(from) and C(to).
    type: list
    elements: dict
    required: true
  terminate:
    description:
      - Terminate the sessions connected to the databases being renamed before each attempt.
    type: bool
    default: true
  attempts:
    description:
      - How many times to try when a database is still in use (a session reconnected between the terminate and
        the rename); one second apart.
    type: int
    default: 5
  connection_limits:
    description:
      - Connection limits to set in the same transaction, after the renames, as a dict of database name (its name
        after the renames) to C(CONNECTION LIMIT) (C(-1) for none). For the swap, C(0) on the database swapped in
        keeps application roles out of it from the commit on, until the services' start gives back production's
        own limit - no window between the rename and a separate C(ALTER DATABASE). Superusers are not held off.
    type: dict
    default: {}
  require_marked:
    description:
      - Databases that must carry the collection's mark (made by a run, see P(yieldvault.db_restore.database_drop#module))
        before anything is renamed, for example the staging database about to become production.
    type: list
    elements: str
    default: []
  marks:
    description:
      - Marks to set after the renames, in the same transaction, C({name - kind}); a null kind removes the mark
        (the staging database that became production is no longer droppable as the collection's).
    type: dict
    default: {}
  production:
    description: The production database the marks and the journal belong to (the lock's database).
    type: str
    default: ''
  run_id:
    description: The run holding the server lock; the journal of its lock is updated in the same transaction.
    type: str
    default: ''
  journal:
    description: Entries merged into the run's journal in the same transaction as the renames.
    type: dict
    default: {}
  journal_step:
    description: The journal key that gets the time of the commit, for example C(swapped_at).
    type: str
    default: ''
attributes:
  check_mode:
    support: full
    details:
      - Reads the existing databases and checks the plan for real; renames nothing and terminates no session.
'''

EXAMPLES = r'''
- name: Swap the verified staging database in
  yieldvault.db_restore.database_rename:
    login_host: localhost
    renames:
      - {from: yieldvault_prod, to: yieldvault_prod__pre_20260429_143000}
      - {from: yieldvault_prod__restore, to: yieldvault_prod}
    # application roles stay out of the swapped-in database until the services start
    connection_limits:
      yieldvault_prod: 0
'''

RETURN = r'''
renames:
  description: The renames that were run (or would run in check mode), in order.
  returned: always
  type: list
  elements: dict
  sample: [{"from": "yieldvault_prod", "to": "yieldvault_prod__pre_20260429_143000"}]
sql:
  description: The same renames as SQL to paste into psql, for a person who has to undo or redo them by hand.
  returned: always
  type: str
  sample: BEGIN; ALTER DATABASE "a" RENAME TO "a__pre"; ALTER DATABASE "a__restore" RENAME TO "a"; COMMIT;
undo_sql:
  description: SQL that reverses the renames.
  returned: always
  type: str
connection_limits:
  description: The connection limits set in the transaction (or that would be, in check mode).
  returned: always
  type: dict
  sample: {"yieldvault_prod": 0}
terminated:
  description: Sessions terminated before the renames, each C({pid, database, user}).
  returned: always
  type: list
  elements: dict
attempts:
  description: Transactions started until the renames committed.
  returned: always
  type: int
'''

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yieldvault.db_restore.plugins.module_utils.pg import (
    connect, postgres_argument_spec, psycopg2, sql,
)
from ansible_collections.yieldvault.db_restore.plugins.module_utils.server_state import (
    journal_update, mark_of, server_now, set_connection_limit, set_marks,
)
from ansible_collections.yieldvault.db_restore.plugins.module_utils.rename import (
    RenamePlanError, check_plan, involved, manual_sql, undo,
)

# SQLSTATE object_in_use: "database ... is being accessed by other users".
OBJECT_IN_USE = '55006'


def _existing(cur):
    cur.execute('SELECT datname FROM pg_database')
    return {row[0] for row in cur.fetchall()}


# Autovacuum workers are not sessions: the rename signals them to exit itself.
# (IS DISTINCT FROM: a session the login user may not see has a NULL backend_type, and is still one.)
CLIENTS = ("datname = ANY(%s) AND pid <> pg_backend_pid() "
           "AND backend_type IS DISTINCT FROM 'autovacuum worker'")


def _terminate(cur, names):
    cur.execute('SELECT pid, datname, usename, pg_terminate_backend(pid) FROM pg_stat_activity WHERE ' + CLIENTS,
                (list(names),))
    return [{'pid': r[0], 'database': r[1], 'user': r[2]} for r in cur.fetchall()]


def _wait_gone(cur, names, seconds=5.0):
    # pg_terminate_backend only signals; the backend needs a moment to exit.
    deadline = time.time() + seconds
    while time.time() < deadline:
        cur.execute('SELECT count(*) FROM pg_stat_activity WHERE ' + CLIENTS, (list(names),))
        if cur.fetchone()[0] == 0:
            return
        time.sleep(0.2)


def main():
    argument_spec = postgres_argument_spec()
    argument_spec.update(
        renames=dict(type='list', elements='dict', required=True),
        terminate=dict(type='bool', default=True),
        attempts=dict(type='int', default=5),
        connection_limits=dict(type='dict', default={}),
        require_marked=dict(type='list', elements='str', default=[]),
        marks=dict(type='dict', default={}),
        production=dict(type='str', default=''),
        run_id=dict(type='str', default=''),
        journal=dict(type='dict', default={}),
        journal_step=dict(type='str', default=''),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    limits = {}
    for name, value in (module.params['connection_limits'] or {}).items():
        try:
            limits[name] = int(value)
        except (TypeError, ValueError):
            limits[name] = None
        if limits[name] is None or isinstance(value, bool) or limits[name] < -1:
            module.fail_json(msg='connection_limits[%r] is %r: give an integer, -1 (no limit) or more. Nothing was '
                                 'changed.' % (name, value))
    conn = connect(module, 'postgres', autocommit=True)
    result = dict(changed=False, renames=[], sql='', undo_sql='', terminated=[], attempts=0, connection_limits={})
    try:
        cur = conn.cursor()
        try:
            pairs = check_plan(module.params['renames'], _existing(cur))
        except RenamePlanError as exc:
            module.fail_json(msg=str(exc), **result)
        result.update(renames=[{'from': s, 'to': t} for s, t in pairs], sql=manual_sql(pairs),
                      undo_sql=manual_sql(undo(pairs)), connection_limits=limits)
        after = (_existing(cur) - set(s for s, t in pairs)) | set(t for s, t in pairs)
        unknown = sorted(name for name in limits if name not in after)
        if unknown:
            module.fail_json(msg='connection_limits names %s, which will not exist after the renames. Nothing was '
                                 'changed.' % ', '.join(unknown), **result)
        for name in module.params['require_marked']:
            state, mark = mark_of(cur, name)
            # Only this run's verified staging database, or a previous database of this production, is swapped in.
            ours = state == 'ours' and (
                (mark['kind'] == 'staging' and mark['run_id'] == module.params['run_id'])
                or mark['kind'] == 'previous') and mark['production'] == module.params['production']
            if not ours:
                module.fail_json(msg='Refusing to swap in %s: it is not %s staging database nor a previous database '
                                     'of %s that yieldvault.db_restore kept (its mark: %s). Nothing was changed.'
                                     % (name, 'this run\'s', module.params['production'], mark), **result)
        if module.check_mode:
            result['changed'] = True
            module.exit_json(**result)

        names = involved(pairs)
        attempts = max(1, module.params['attempts'])
        last_error = ''
        for attempt in range(1, attempts + 1):
            result['attempts'] = attempt
            if module.params['terminate']:
                result['terminated'] += _terminate(cur, names)
                _wait_gone(cur, names)
            conn.autocommit = False
            try:
                for source, target in pairs:
                    cur.execute(sql.SQL('ALTER DATABASE {} RENAME TO {}').format(
                        sql.Identifier(source), sql.Identifier(target)))
                for name, limit in sorted(limits.items()):
                    set_connection_limit(cur, name, limit)
                # The marks and the journal change with the names, in the same transaction.
                if module.params['marks'] or module.params['journal'] or module.params['journal_step']:
                    set_marks(cur, module.params['marks'], module.params['production'], module.params['run_id'])
                    patch = dict(module.params['journal'])
                    patch[module.params['journal_step'] or 'renamed_at'] = server_now(cur)
                    if not journal_update(cur, module.params['production'], module.params['run_id'], patch):
                        # The lock was taken over (db_restore_break_lock) by another run: rename nothing.
                        conn.rollback()
                        module.fail_json(msg='Refusing to rename: run %s no longer holds the restore lock of %s on '
                                             'the server (another run took it over). Nothing was changed.'
                                             % (module.params['run_id'], module.params['production']), **result)
                conn.commit()
                result['changed'] = True
                module.exit_json(**result)
            except psycopg2.Error as exc:
                conn.rollback()
                last_error = ' '.join(str(exc).split())
                if exc.pgcode != OBJECT_IN_USE:
                    break
            finally:
                conn.autocommit = True
            time.sleep(1)
        module.fail_json(
            msg='Renaming %s%s failed after %d attempt(s): %s. The transaction was rolled back: every database keeps '
                'its name and nothing was changed. A session that keeps reconnecting (a superuser client) must be '
                'stopped by hand.' % (', '.join('%s -> %s' % p for p in pairs),
                                      ' and setting the connection limits' if limits else '', result['attempts'],
                                      last_error),
            **result)
    finally:
        conn.close()


if __name__ == '__main__':
    main()
