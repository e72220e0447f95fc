#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: server_lock
short_description: One run per database per cluster, with a journal of what the run changed
description:
  - Takes or releases the lock of a database on the PostgreSQL server itself (a row in
    C(yieldvault_db_restore.runs) of the C(postgres) database, taken in one transaction), so two runs of one
    database exclude each other whatever their work directories or controllers.
  - The run writes what it changes into the journal kept with the lock (the connection limit it found, when it
    stopped, dropped, swapped, gave the limit back). A run that finds a lock whose holder died says in plain words
    what state that run left. With O(force) it takes the lock over and carries on from the journal - it gives the
    connection limit back when production is whole, and remembers a partial restore (so that its safety backups
    are never taken for a good "before" state).
  - Also refuses, before any change, a run that would drop or recreate a database the collection did not make
    (O(made)).
version_added: 0.2.0
author:
  - YieldVault platform team
extends_documentation_fragment:
  - yieldvault.db_restore.postgres
options:
  database:
    description: The database the lock is for (production, or a drill's scratch database).
    type: str
    required: true
  state:
    description:
      - V(present) takes the lock; V(absent) releases it; V(noted) adds O(journal) to the journal of the lock this
        run holds (what it is about to stop, the safety backup it took).
    type: str
    choices: [present, absent, noted]
    default: present
  journal:
    description: With O(state=noted), the entries to add to the run's journal.
    type: dict
    default: {}
  run_id:
    description: Identifier of this run.
    type: str
    required: true
  holder:
    description: Who runs, shown to whoever finds the lock (mode, user, incident, AWX job, controller C({host, pid})).
    type: dict
    default: {}
  stale_minutes:
    description: A lock older than this is called stale in the message (never taken over without O(force)).
    type: int
    default: 240
  force:
    description: Take the lock over from another run (db_restore_break_lock), carrying on from its journal.
    type: bool
    default: false
  counts:
    description:
      - The exact row counts of production now, C({table - rows}). Compared with those of the last assessment; a
        table that had rows and has none is returned in RV(emptied).
    type: dict
    default: {}
  made:
    description:
      - Databases this run will drop and create, or swap in, each C({name, setting, kind, production}) (the setting
        that names it; the kind of mark it must carry when it exists, and the production it must have been made for,
        both optional). One that exists without the collection's mark, or with a mark of another kind or another
        production, is refused before the lock is taken.
    type: list
    elements: dict
    default: []
  outcome:
    description: With O(state=absent), how the run ended (succeeded, rolled_back, failed).
    type: str
    default: failed
  safety_backup:
    description: With O(state=absent), the file name of the safety backup this run took, if any.
    type: str
    default: ''
'''

EXAMPLES = r'''
- name: Take the lock of yieldvault_prod on the server
  yieldvault.db_restore.server_lock:
    database: yieldvault_prod
    run_id: restore-yieldvault_prod-20260429T143000Z-ab12
    holder: {mode: restore, user: alice}
'''

RETURN = r'''
acquired:
  description: Whether this run holds the lock now.
  returned: always
  type: bool
predecessor:
  description: The run that died holding the lock, when O(force) took it over - C({run_id, holder, journal, words}).
  returned: always
  type: dict
words:
  description: Plain-language sentences about what an earlier run left, to show in the plan.
  returned: always
  type: list
  elements: str
connlimit_before:
  description: The connection limit production had before a dead run set it to 0, while not yet given back; else null.
  returned: always
  type: int
tainted:
  description: Set when production holds a partial restore left by a dead run C({run_id, dropped_at, good_safety}).
  returned: always
  type: dict
tainted_safety:
  description: Safety backups taken of such a partial state (never a rollback target by default).
  returned: always
  type: list
  elements: str
emptied:
  description: Tables that had rows at the last assessment and are empty now, C({table, rows_before, rows_now}).
  returned: always
  type: list
  elements: dict
services_left_stopped:
  description: Services a dead run stopped and nobody started again, C({host, name, manager}); this run starts them.
  returned: always
  type: list
  elements: dict
connlimit_given_back:
  description: The connection limit given back to production from a dead run's journal by this call, else null.
  returned: always
  type: int
'''

import json

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yieldvault.db_restore.plugins.module_utils.pg import (
    connect, pg_error_text, postgres_argument_spec, psycopg2,
)
from ansible_collections.yieldvault.db_restore.plugins.module_utils import run_journal
from ansible_collections.yieldvault.db_restore.plugins.module_utils.run_holder import controller_running
from ansible_collections.yieldvault.db_restore.plugins.module_utils.server_state import (
    ensure_schema, journal_update, mark_of, schema_exists, server_now, set_connection_limit,
)


def _describe_holder(holder):
    holder = holder or {}
    parts = ['%s=%s' % (k, holder[k]) for k in ('mode', 'user', 'incident', 'awx_job_id') if holder.get(k)]
    controller = holder.get('controller') or {}
    if controller.get('pid'):
        parts.append('ansible-playbook pid %s on %s' % (controller.get('pid'), controller.get('host')))
    return ', '.join(parts)


def _row(cur, database, lock=False):
    cur.execute('SELECT run_id, holder, started, journal, carry, '
                'round(extract(epoch FROM now() - started) / 60.0, 1)::float '
                'FROM yieldvault_db_restore.runs WHERE database = %s' + (' FOR UPDATE' if lock else ''), (database,))
    row = cur.fetchone()
    if not row:
        return None
    return dict(run_id=row[0], holder=row[1] or {}, started=row[2].isoformat() if row[2] else None,
                journal=row[3] or {}, carry=row[4] or {}, age_minutes=row[5])


def _held_message(database, row, stale_minutes):
    running = controller_running(row['holder'].get('controller'))
    details = _describe_holder(row['holder'])
    text = ('The restore lock of %s on this PostgreSQL server is held by run %s (%sstarted %s, %s min ago).'
            % (database, row['run_id'], details + ', ' if details else '', row['started'], row['age_minutes']))
    if running is True:
        text += ' That run is still going: wait for it, or stop it first.'
    else:
        if running is False:
            text += ' That run has ended: its ansible-playbook is no longer running (killed or interrupted).'
        elif row['age_minutes'] is not None and row['age_minutes'] > stale_minutes:
            text += ' The lock is older than %d minutes and looks stale.' % stale_minutes
        else:
            text += ' Another run of this database may be going on (from another controller or work directory).'
        text += (' If that run is dead: %s Run again with -e db_restore_break_lock=true to take the lock over; the '
                 'run then carries on from its journal.' % _sentence(run_journal.describe(row['journal'], database)))
    return text + ' Nothing was changed.'


def _sentence(text):
    return text[:1].upper() + text[1:]


def _give_back_limit(cur, database, limit):
    """ALTER DATABASE ... CONNECTION LIMIT when the database exists and is still at 0; True when done."""
    cur.execute('SELECT datconnlimit FROM pg_database WHERE datname = %s', (database,))
    row = cur.fetchone()
    if not row or row[0] != 0:
        return False
    set_connection_limit(cur, database, limit)
    return True


def _literal(text):
    return "'%s'" % str(text).replace("'", "''")


def params_production(entry):
    return entry.get('production') or ''


def _check_made(module, cur, made, result):
    for entry in made:
        name = str(entry.get('name') or '')
        if not name:
            continue
        state, mark = mark_of(cur, name)
        if state == 'ours' and entry.get('kind') and mark['kind'] != entry['kind']:
            module.fail_json(
                msg='Refusing to run: the database %s (named by %s) is a %s database a run of yieldvault.db_restore '
                    'made, not a %s one: it cannot be used for this. Nothing was changed.'
                    % (name, entry.get('setting') or 'the settings', mark['kind'], entry['kind']), **result)
        if state == 'ours' and params_production(entry) and mark['production'] != params_production(entry):
            # Another production's kept database (or staging one): the swap's rename refused it, but only after the
            # services had stopped.
            module.fail_json(
                msg='Refusing to run: the database %s (named by %s) was made by a run for %s, not for %s: it is not '
                    'this database\'s to use. Nothing was changed.'
                    % (name, entry.get('setting') or 'the settings', mark['production'], params_production(entry)),
                **result)
        if state == 'foreign' and entry.get('kind') == 'previous':
            module.fail_json(
                msg='Refusing to swap in %s (-e previous): it carries no mark of a run of yieldvault.db_restore. If it '
                    'is a previous database kept by a version before the marks, check it and adopt it once by hand: '
                    'INSERT INTO yieldvault_db_restore.made (name, oid, kind, production, run_id) SELECT datname, oid, '
                    '\'previous\', %s, \'adopted\' FROM pg_database WHERE datname = %s (in the postgres database). '
                    'Nothing was changed.' % (name, _literal(params_production(entry)), _literal(name)), **result)
        if state == 'foreign':
            module.fail_json(
                msg='Refusing to run: the database %s exists and was not made by yieldvault.db_restore (it carries no '
                    'mark of a run), so it is never dropped or replaced. It is named by %s. Choose a name that does '
                    'not exist, or drop that database yourself if you are sure it is a leftover. Nothing was changed.'
                    % (name, entry.get('setting') or 'the settings'), **result)


def acquire(module, conn, result):
    params = module.params
    database, run_id = params['database'], params['run_id']
    cur = conn.cursor()
    if module.check_mode:
        if not schema_exists(cur):
            result['words'] = []
            return
        _check_made(module, cur, params['made'], result)
        row = _row(cur, database)
        if row and row['run_id'] and row['run_id'] != run_id:
            result['words'].append(_held_message(database, row, params['stale_minutes']))
        _summarise(row, result, params)
        return
    ensure_schema(conn)
    _check_made(module, cur, params['made'], result)
    conn.autocommit = False
    try:
        cur.execute('INSERT INTO yieldvault_db_restore.runs (database) VALUES (%s) ON CONFLICT DO NOTHING', (database,))
        row = _row(cur, database, lock=True)
        carry = row['carry']
        if row['run_id'] and row['run_id'] != run_id:
            # Never from a run whose ansible-playbook is seen running: two runs would act on one database.
            if not params['force'] or controller_running(row['holder'].get('controller')) is True:
                conn.rollback()
                result['holder'] = row['holder']
                module.fail_json(msg=_held_message(database, row, params['stale_minutes']), **result)
            words = run_journal.describe(row['journal'], database)
            result['predecessor'] = dict(run_id=row['run_id'], holder=row['holder'], journal=row['journal'],
                                         words=words)
            result['words'].append('The lock of run %s was taken over (db_restore_break_lock): %s'
                                   % (row['run_id'], words))
            carry = run_journal.carry_after_death(carry, dict(row['journal'], run_id=row['run_id']))
        # A dead run's limit is given back now when production is whole; over a partial restore it is only
        # remembered (the application must not log in to it) and given back by the run that ends that state.
        limit = carry.get('connlimit_before')
        if limit is not None and not carry.get('tainted'):
            if _give_back_limit(cur, database, limit):
                result['connlimit_given_back'] = limit
                result['words'].append('The connection limit of %s was given back (%s), as the journal of the dead run '
                                       'recorded it.' % (database, 'unlimited' if limit == -1 else limit))
            carry.pop('connlimit_before', None)
        emptied = run_journal.emptied_tables(carry.get('last_counts'), params['counts'])
        if params['counts'] and not emptied and not carry.get('tainted'):
            carry['last_counts'] = params['counts']
        holder = dict(params['holder'] or {}, run_id=run_id)
        cur.execute('UPDATE yieldvault_db_restore.runs SET run_id = %s, holder = %s::jsonb, started = now(), '
                    'journal = %s::jsonb, carry = %s::jsonb WHERE database = %s',
                    (run_id, json.dumps(holder), json.dumps(dict(mode=holder.get('mode'), run_id=run_id)),
                     json.dumps(carry), database))
        conn.commit()
    except psycopg2.Error as exc:
        conn.rollback()
        module.fail_json(msg='Could not take the restore lock of %s on the server: %s. Nothing was changed.'
                             % (database, pg_error_text(exc)), **result)
    finally:
        conn.autocommit = True
    result.update(changed=True, acquired=True)
    _summarise(dict(row, carry=carry), result, params, emptied)


def _summarise(row, result, params, emptied=None):
    carry = (row or {}).get('carry') or {}
    if emptied is None:
        emptied = run_journal.emptied_tables(carry.get('last_counts'), params['counts'])
    result.update(services_left_stopped=carry.get('services') or [])
    result.update(connlimit_before=carry.get('connlimit_before'), tainted=carry.get('tainted') or {},
                  tainted_safety=carry.get('tainted_safety') or [], emptied=emptied)
    database = params['database']
    tainted = carry.get('tainted')
    if tainted:
        result['words'].append(
            'WARNING: %s holds a partial restore left by run %s (%s after the drop at %s). Its last good state is '
            'the safety backup %s: roll back to it (playbooks/rollback.yml picks it by default) or restore a backup. '
            'A safety backup taken now is of that partial state and is never used as a "before" state.'
            % (database, tainted.get('run_id'),
               'its rollback failed' if tainted.get('outcome') == 'rollback_failed' else 'killed',
               tainted.get('dropped_at'), tainted.get('good_safety') or '(none)'))
    for entry in emptied:
        result['words'].append('WARNING: %s looks emptied: table %s had %d rows at the last run\'s assessment and has '
                               '%d now.' % (database, entry['table'], entry['rows_before'], entry['rows_now']))


def release(module, conn, result):
    params = module.params
    cur = conn.cursor()
    if module.check_mode or not schema_exists(cur):
        return
    conn.autocommit = False
    try:
        row = _row(cur, params['database'], lock=True)
        if not row or row['run_id'] != params['run_id']:
            conn.rollback()
            return
        journal = dict(row['journal'], finished_at=server_now(cur), outcome=params['outcome'])
        carry = run_journal.carry_after_release(row['carry'], journal, params['outcome'],
                                                (row['holder'] or {}).get('mode'), params['safety_backup'])
        cur.execute('UPDATE yieldvault_db_restore.runs SET run_id = NULL, journal = %s::jsonb, carry = %s::jsonb '
                    'WHERE database = %s', (json.dumps(journal), json.dumps(carry), params['database']))
        conn.commit()
        result.update(changed=True, released=True)
    except psycopg2.Error as exc:
        conn.rollback()
        module.fail_json(msg='Could not release the restore lock of %s on the server: %s. Run again with '
                             '-e db_restore_break_lock=true once no run is going on.'
                             % (params['database'], pg_error_text(exc)), **result)
    finally:
        conn.autocommit = True


def note(module, conn, result):
    """The entries of O(journal) added to the journal of the lock this run holds; nothing when it holds none."""
    params = module.params
    if module.check_mode or not params['journal']:
        return
    cur = conn.cursor()
    try:
        result['changed'] = journal_update(cur, params['database'], params['run_id'], params['journal']) > 0
    except psycopg2.Error as exc:
        module.fail_json(msg='Could not note %s in the journal of the restore lock of %s on the server: %s.'
                             % (', '.join(sorted(params['journal'])), params['database'], pg_error_text(exc)),
                         **result)


def main():
    argument_spec = postgres_argument_spec()
    argument_spec.update(
        database=dict(type='str', required=True),
        state=dict(type='str', default='present', choices=['present', 'absent', 'noted']),
        journal=dict(type='dict', default={}),
        run_id=dict(type='str', required=True),
        holder=dict(type='dict', default={}),
        stale_minutes=dict(type='int', default=240),
        force=dict(type='bool', default=False),
        counts=dict(type='dict', default={}),
        made=dict(type='list', elements='dict', default=[]),
        outcome=dict(type='str', default='failed'),
        safety_backup=dict(type='str', default=''),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    result = dict(changed=False, acquired=False, released=False, predecessor={}, words=[], connlimit_before=None,
                  tainted={}, tainted_safety=[], emptied=[], connlimit_given_back=None, holder={},
                  services_left_stopped=[])
    if not module.params['run_id'].strip() or not module.params['database'].strip():
        module.fail_json(msg='run_id and database must not be empty. Nothing was changed.', **result)
    conn = connect(module, 'postgres', autocommit=True)
    try:
        if module.params['state'] == 'present':
            acquire(module, conn, result)
        elif module.params['state'] == 'noted':
            note(module, conn, result)
        else:
            release(module, conn, result)
    finally:
        conn.close()
    module.exit_json(**result)


if __name__ == '__main__':
    main()
