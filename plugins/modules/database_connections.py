#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: database_connections
short_description: End and block the connections to a database, and give its connection limit back
description:
  - With O(state=blocked) (the downtime starts), in one transaction, lists the sessions connected to the database
    and its connection limit, notes the limit to give back in the run's journal (with O(lock_database) and
    O(run_id)), and sets C(CONNECTION LIMIT 0); then terminates the sessions still connected, round after round
    (one second apart, at most O(rounds) times after the first), until none comes back. Application roles are
    refused by the limit; a superuser is not, so a client that logs in as one keeps coming back and is returned in
    RV(last_round).
  - C(CONNECTION LIMIT 0) rather than C(ALLOW_CONNECTIONS false) - the admin (a superuser, exempt from the limit)
    still connects for the safety backup.
  - Autovacuum workers are not sessions - no client opened them, and the drop and the rename make them exit.
  - A limit that a killed run of this database left in the journal (carried with the server lock) is the one to give
    back, never the 0 found now.
  - With O(state=restored), in one transaction, sets the limit O(limit) again when it differs and notes it in the
    run's journal; a database that does not exist (a failure left it missing) is left alone.
  - Names are quoted with psycopg2.sql.
version_added: 0.2.0
author:
  - YieldVault platform team
extends_documentation_fragment:
  - yieldvault.db_restore.postgres
options:
  database:
    description: The database (production).
    type: str
    required: true
  state:
    description: V(blocked) ends and blocks the connections; V(restored) gives the connection limit back.
    type: str
    choices: [blocked, restored]
    default: blocked
  rounds:
    description: With O(state=blocked), the termination rounds after the first (db_restore_connection_rounds).
    type: int
    default: 3
  limit:
    description: With O(state=restored), the connection limit to give back (-1 for none).
    type: int
  lock_database:
    description:
      - The database of the server lock this run holds; with O(run_id), the step is noted in its journal in the same
        transaction. Empty when the run holds no server lock.
    type: str
    default: ''
  run_id:
    description: This run's identifier, for the journal.
    type: str
    default: ''
'''

EXAMPLES = r'''
- name: End and block the connections to production
  yieldvault.db_restore.database_connections:
    database: yieldvault_prod
    state: blocked
    rounds: 3

- name: Give the connection limit back
  yieldvault.db_restore.database_connections:
    database: yieldvault_prod
    state: restored
    limit: -1
'''

RETURN = r'''
sessions:
  description:
    - With O(state=blocked), the sessions found before the limit, each C({pid, user, application, client, state,
      connected_since, superuser}).
  returned: always
  type: list
  elements: dict
connlimit_before:
  description: With O(state=blocked), the limit to give back (the journal's, when a killed run left one).
  returned: always
  type: int
rounds:
  description: With O(state=blocked), the termination rounds made (0 when nobody was connected).
  returned: always
  type: int
reconnected:
  description: Whether clients connected again after the first round ended them.
  returned: always
  type: bool
superuser_sessions:
  description: The superusers among the sessions found (the limit does not hold them back).
  returned: always
  type: list
  elements: str
last_round:
  description: The users the last round still terminated; not empty means sessions keep coming back.
  returned: always
  type: list
  elements: str
terminate_error:
  description: The error of a round of termination that failed (a warning; the limit is 0 already).
  returned: when a round failed
  type: str
exists:
  description: With O(state=restored), whether the database exists (its limit is then back).
  returned: always
  type: bool
'''

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yieldvault.db_restore.plugins.module_utils.pg import (
    connect, pg_error_text, postgres_argument_spec, psycopg2,
)
from ansible_collections.yieldvault.db_restore.plugins.module_utils.server_state import (
    journal_update, server_now, set_connection_limit,
)

NOT_SESSIONS = "a.backend_type IS DISTINCT FROM 'autovacuum worker'"

SESSIONS = '''
SELECT a.pid, a.usename, a.application_name, coalesce(host(a.client_addr), 'local socket'), a.state,
       to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), coalesce(r.rolsuper, false),
       d.datconnlimit
FROM pg_database d
LEFT JOIN pg_stat_activity a ON a.datname = d.datname AND a.pid <> pg_backend_pid() AND ''' + NOT_SESSIONS + '''
LEFT JOIN pg_roles r ON r.rolname = a.usename
WHERE d.datname = %s
ORDER BY a.pid
'''

# A limit a killed run noted (carried with the lock) outranks the one found now.
JOURNAL_STOPPED = '''
UPDATE yieldvault_db_restore.runs SET journal = journal || jsonb_build_object(
  'stopped_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
  'connlimit_before', coalesce((carry->>'connlimit_before')::int, %s))
WHERE database = %s AND run_id = %s
RETURNING (journal->>'connlimit_before')::int
'''

TERMINATE = ('SELECT usename, pg_terminate_backend(pid) FROM pg_stat_activity a '
             'WHERE a.datname = %s AND a.pid <> pg_backend_pid() AND ' + NOT_SESSIONS)


def block(module, conn, result):
    params = module.params
    database = params['database']
    journal = bool(params['lock_database'] and params['run_id'])
    cur = conn.cursor()
    cur.execute(SESSIONS, (database,))
    rows = cur.fetchall()
    if not rows:
        module.fail_json(msg='The database %s does not exist: no connection to end.' % database, **result)
    found = rows[0][7]
    result['sessions'] = [dict(pid=r[0], user=r[1], application=r[2], client=r[3], state=r[4], connected_since=r[5],
                               superuser=r[6]) for r in rows if r[0] is not None]
    result['superuser_sessions'] = sorted(set(s['user'] for s in result['sessions'] if s['superuser']))
    result['connlimit_before'] = found
    result['changed'] = True
    if module.check_mode:
        conn.rollback()
        return
    if journal:
        cur.execute(JOURNAL_STOPPED, (found, params['lock_database'], params['run_id']))
        noted = cur.fetchone()
        if noted and noted[0] is not None:
            result['connlimit_before'] = noted[0]
    set_connection_limit(cur, database, 0)
    conn.commit()
    if not result['sessions']:
        return
    # Each round ends whoever is connected; a client that reconnects is caught by the next one. The limit is 0
    # from here on: an error in a round is a warning, so that the run records the limit to give back (the drop and
    # the rename end any session left).
    try:
        conn.autocommit = True
        for attempt in range(1, max(0, params['rounds']) + 2):
            if attempt > 1:
                time.sleep(1)
            cur.execute(TERMINATE, (database,))
            ended = cur.fetchall()
            result['rounds'] = attempt
            result['last_round'] = sorted(set(r[0] or '(no user)' for r in ended))
            if not ended:
                break
    except psycopg2.Error as exc:
        # Not "sessions keep reconnecting": the round itself failed (a permission, a timeout, a lost connection).
        result['last_round'] = []
        result['terminate_error'] = pg_error_text(exc)
        module.warn('Could not end the sessions connected to %s: %s. The limit is 0; the drop or the rename ends '
                    'whoever is still connected.' % (database, result['terminate_error']))
    # Round 1 ends the sessions found; round 2 normally finds none.
    result['reconnected'] = result['rounds'] > 2


def restore(module, conn, result):
    params = module.params
    database = params['database']
    cur = conn.cursor()
    cur.execute('SELECT datconnlimit FROM pg_database WHERE datname = %s', (database,))
    row = cur.fetchone()
    result['exists'] = row is not None
    if row is None:
        conn.rollback()
        return
    result['changed'] = row[0] != params['limit']
    if module.check_mode:
        conn.rollback()
        return
    if result['changed']:
        set_connection_limit(cur, database, params['limit'])
    if params['lock_database'] and params['run_id']:
        journal_update(cur, params['lock_database'], params['run_id'], dict(connlimit_restored_at=server_now(cur)))
    conn.commit()


def main():
    argument_spec = postgres_argument_spec()
    argument_spec.update(
        database=dict(type='str', required=True),
        state=dict(type='str', choices=['blocked', 'restored'], default='blocked'),
        rounds=dict(type='int', default=3),
        limit=dict(type='int'),
        lock_database=dict(type='str', default=''),
        run_id=dict(type='str', default=''),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_if=[('state', 'restored', ['limit'])])
    result = dict(changed=False, sessions=[], connlimit_before=None, rounds=0, reconnected=False,
                  superuser_sessions=[], last_round=[], exists=True)
    conn = connect(module, 'postgres', autocommit=False)
    try:
        if module.params['state'] == 'blocked':
            block(module, conn, result)
        else:
            restore(module, conn, result)
    except psycopg2.Error as exc:
        module.fail_json(msg='Could not %s %s: %s.'
                             % ('end and block the connections to' if module.params['state'] == 'blocked'
                                else 'give back the connection limit of', module.params['database'],
                                pg_error_text(exc)), **result)
    finally:
        conn.close()
    module.exit_json(**result)


if __name__ == '__main__':
    main()
