#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: wal_cluster_restore
short_description: Replace a stopped cluster's data directory with the WAL archive recovered to a second, keeping the original aside
description:
  - The whole-cluster mode of a restore from the WAL archive (C(-e pitr_scope=cluster), docs/pitr.md). Every step
    is written first to a journal outside the data directory (fsync'd), so a run killed at any step leaves a file
    that says where the original is; the next restore refuses until C(rollback.yml -e pitr_scope=cluster) has put
    it back.
  - With O(state=check) (read only), refuses an unfinished journal, tablespaces or a C(pg_wal) link (they live
    outside the directory that is moved aside), and too little room beside the data directory for the backup the
    point needs.
  - With O(state=prepare), checks again, runs C(pgbackrest check) (what was committed up to now reaches the
    archive) and writes the journal before PostgreSQL is stopped.
  - With O(state=present), on a stopped server, moves the data directory aside (a rename on the same filesystem,
    the safety copy), lets pgBackRest restore the whole cluster into an empty one to the point (C(--type=time),
    C(--target-action=promote)), and copies C(postmaster.opts) over, so that C(pg_ctl restart) starts it with the
    options the original ran with. A failed restore removes its partial directory and puts the original back.
  - With O(state=finished), waits until the started server has left recovery and marks the journal done.
  - With O(state=absent), on a stopped server, puts the original back; the restored directory is kept beside it
    (C(.restored-<run>)), never deleted. With O(run_id), only what that run left half way (a failure's way back);
    without it (C(rollback.yml)), what the journal names, unless its run is still going.
  - Two runs are kept apart on the db host, whichever controllers they come from - every step that changes
    something holds the journal's lock (C(<journal>.lock), flock) while it runs, and between the steps a run
    whose controller is on another host counts as running until its journal is O(stale_minutes) old, unless
    O(force).
version_added: 0.3.0
author:
  - YieldVault platform team
extends_documentation_fragment:
  - yieldvault.db_restore.pgbackrest
  - yieldvault.db_restore.postgres
options:
  state:
    description: What to do (see the description).
    type: str
    choices: [check, prepare, present, finished, absent]
    default: check
  controller:
    description:
      - The controller process of this run, C({host, pid}) (the C(yieldvault.db_restore.controller_process) lookup),
        written into the journal. Another run on that host refuses to touch a journal whose controller still runs.
    type: dict
    default: {}
  data_dir:
    description: The cluster's data directory.
    type: path
    required: true
  work_dir:
    description: The collection's work directory on this host; the journal is C(cluster/<stanza>.journal.json) in it.
    type: path
    required: true
  stanza:
    description: The pgBackRest stanza.
    type: str
    required: true
  point:
    description: The restore point, ISO 8601 (no zone means UTC), or V(latest), the end of the archive.
    type: str
    default: latest
  run_id:
    description: This run's id; names the directory the original is moved to. Required with O(state=present).
    type: str
    default: ''
  force:
    description:
      - Take over the journal of a run whose controller is on another host and that wrote it less than
        O(stale_minutes) ago, which this host cannot tell is dead (C(-e db_restore_break_lock=true)). A run that has
        a step going now, or whose controller runs on this host, is never taken over.
    type: bool
    default: false
  journal_run_id:
    description:
      - With O(state=absent) and no O(run_id) (C(rollback.yml)), the run the journal named when the rollback read it,
        before PostgreSQL was stopped. The put back is refused, and nothing is moved, when the journal names another
        run now (or none), as another run took it in between.
    type: str
    default: ''
  stale_minutes:
    description:
      - How long after its last journal write a run controlled from another host is taken for dead
        (C(db_restore_lock_stale_minutes)).
    type: int
    default: 240
  compare_server:
    description:
      - With O(state=check), connect (the login options) and refuse unless the server answering there runs on
        O(data_dir); a data directory of another cluster must never be stopped and replaced.
    type: bool
    default: false
  timeout:
    description: Seconds O(state=finished) waits for the server to leave recovery.
    type: int
    default: 600
'''

EXAMPLES = r'''
- name: Check that the cluster can be restored whole
  yieldvault.db_restore.wal_cluster_restore:
    state: check
    data_dir: /var/lib/postgresql/15/main
    work_dir: /var/backups/postgresql
    stanza: main
    point: "2026-04-29T14:37:12Z"
'''

RETURN = r'''
journal:
  description: The journal's path.
  returned: always
  type: str
record:
  description: The journal's record after this call (C(state), C(run_id), C(point), C(data_dir), C(aside)), or null.
  returned: always
  type: dict
aside:
  description: Where the original data directory is (or would be) kept.
  returned: always
  type: str
backup:
  description: The base backup the point starts from, C({label, size}) (O(state=check)).
  returned: when state is check
  type: dict
room:
  description: C({needed, free}) bytes beside the data directory (O(state=check)).
  returned: when state is check
  type: dict
restored_kept_at:
  description: Where O(state=absent) left the restored data directory (empty when there was none).
  returned: when state is absent
  type: str
run_status:
  description:
    - What this host can tell of the run the journal names - C(none) (no journal, or a finished restore), C(ours),
      C(running), C(unknown) (controlled from another host, journal written less than O(stale_minutes) ago) or
      C(stopped).
  returned: always
  type: str
server_running:
  description: Whether a postmaster runs on O(data_dir) (O(state=absent)).
  returned: when state is absent
  type: bool
another_run:
  description:
    - True when the call was refused because another run has a step going now, may still be running, or took the
      journal since O(journal_run_id) was read and has not finished. PostgreSQL must then not be started on the data
      directory, which that run may be writing.
  returned: always
  type: bool
'''

import datetime
import json
import os
import pwd
import shutil
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yieldvault.db_restore.plugins.module_utils import catalog
from ansible_collections.yieldvault.db_restore.plugins.module_utils import cluster_dir
from ansible_collections.yieldvault.db_restore.plugins.module_utils import pg
from ansible_collections.yieldvault.db_restore.plugins.module_utils import pgbackrest
from ansible_collections.yieldvault.db_restore.plugins.module_utils.run_holder import controller_running


def _pgbackrest(module, *args, **kwargs):
    p = module.params
    return module.run_command(pgbackrest.command(p['os_user'], p['config'], p['stanza'],
                                                 ['--log-level-console=warn'] + list(args)), **kwargs)


def _point(module):
    try:
        point = catalog.parse_point(module.params['point'], datetime.datetime.now(catalog.UTC))
    except ValueError as exc:
        module.fail_json(msg='%s Nothing was changed.' % exc)
    latest = module.params['point'].strip().lower() == 'latest'
    return point, latest


def _server_data_dir(module, result):
    """The data directory of the server the login options reach (SHOW data_directory)."""
    conn = pg.connect(module, 'postgres')
    try:
        cur = conn.cursor()
        cur.execute('SHOW data_directory')
        return cur.fetchone()[0]
    except pg.psycopg2.Error as exc:
        module.fail_json(msg='Could not read the data directory of the server: %s. Nothing was changed.'
                             % pg.pg_error_text(exc), **result)
    finally:
        conn.close()


def _check(module, journal, result):
    p = module.params
    if p['compare_server']:
        served = _server_data_dir(module, result)
        if os.path.realpath(served) != os.path.realpath(p['data_dir']):
            module.fail_json(msg='Refusing the whole-cluster restore: the server at %s runs on %s, not on '
                                 'db_restore_pg_data_dir %s. Set db_restore_pg_data_dir to its data directory (or '
                                 'the login variables to the cluster you mean). Nothing was changed.'
                                 % (pg.connection_target(p, 'postgres'), served, p['data_dir']), **result)
    problems = cluster_dir.layout_problems(p['data_dir'])
    if problems:
        module.fail_json(msg='Refusing the whole-cluster restore: %s. Restore one database instead '
                             '(-e pitr_scope=database). Nothing was changed.' % '; '.join(problems), **result)
    point, latest = _point(module)
    rc, out, err = _pgbackrest(module, '--output=json', 'info')
    try:
        backups = (json.loads(out) or [{}])[0].get('backup') or []
    except ValueError:
        backups = []
    if rc != 0 or not backups:
        module.fail_json(msg='pgbackrest info of stanza %s found no base backup (exit %s): %s. Run '
                             'playbooks/wal_archive.yml first. Nothing was changed.'
                             % (p['stanza'], rc, (err or out).strip()[-500:]), **result)
    chosen = backups[-1] if latest else pgbackrest.choose_backup(backups, point.timestamp())
    if chosen is None:
        module.fail_json(msg='The point %s is before the oldest base backup of stanza %s: the whole cluster cannot '
                             'be restored to it. Nothing was changed.' % (p['point'], p['stanza']), **result)
    size = int((chosen.get('info') or {}).get('size') or 0)
    parent = os.path.dirname(p['data_dir'].rstrip('/')) or '/'
    room = dict(needed=cluster_dir.room_needed(size), free=cluster_dir.free_bytes(parent))
    result.update(backup=dict(label=chosen.get('label'), size=size), room=room)
    if room['free'] < room['needed']:
        module.fail_json(msg='Refusing the whole-cluster restore: it keeps the original data directory aside and '
                             'needs %d MB beside it in %s for the restored one, and %d MB are free. Free room there, '
                             'or restore one database (-e pitr_scope=database). Nothing was changed.'
                             % (room['needed'] // 2 ** 20, parent, room['free'] // 2 ** 20), **result)


def _restore(module, journal, record, result, lock_fd):
    p = module.params
    data_dir, aside = p['data_dir'].rstrip('/'), record['aside']
    point, latest = _point(module)
    target = pgbackrest.target_time(point)
    recovery = ['--type=default'] if latest else ['--type=time', '--target=%s' % target, '--target-action=promote']
    entry = pwd.getpwnam(p['os_user'])
    cluster_dir.write_journal(journal, dict(record, state='moving'))
    try:
        cluster_dir.rename_durably(data_dir, aside)
    except OSError as exc:
        _close_journal(journal, record, None)
        module.fail_json(msg='Could not move %s aside to %s (%s). Nothing was changed; start PostgreSQL again.'
                             % (data_dir, aside, exc), **result)
    cluster_dir.write_journal(journal, dict(record, state='moved'))
    problem = None
    try:
        os.mkdir(data_dir, 0o700)
        os.chown(data_dir, entry.pw_uid, entry.pw_gid)
        # pgBackRest gets the journal's lock too: if this module is killed on its own (the OOM killer), the lock
        # stays held until pgBackRest has stopped writing into data_dir, so no rollback renames under it.
        rc, out, err = _pgbackrest(module, '--pg1-path=%s' % data_dir, *(recovery + ['restore']),
                                   pass_fds=[lock_fd] if lock_fd is not None else None)
        if rc != 0:
            problem = 'pgbackrest restore of the whole cluster to %s failed (exit %s): %s' % (
                p['point'], rc, (err or out).strip()[-1500:])
    except OSError as exc:
        problem = 'preparing %s for the restore failed (%s)' % (data_dir, exc)
    if problem:
        if not os.path.isdir(aside):
            # Somebody moved the original away while this run restored: touch nothing more.
            module.fail_json(msg='%s, and the original data directory is no longer at %s: nothing else was touched; '
                                 'look at %s and the journal %s by hand.' % (problem, aside, data_dir, journal),
                             **result)
        # Only this run's partial restore is removed: the original is renamed back over it.
        cluster_dir.write_journal(journal, dict(record, state='putting_back'))
        shutil.rmtree(data_dir, ignore_errors=True)
        cluster_dir.rename_durably(aside, data_dir)
        _close_journal(journal, record, None)
        module.fail_json(msg='%s. The partial directory was removed and the original data directory put back; '
                             'start PostgreSQL again.' % problem, **result)
    opts = os.path.join(aside, 'postmaster.opts')
    if os.path.exists(opts):
        shutil.copy2(opts, os.path.join(data_dir, 'postmaster.opts'))
        os.chown(os.path.join(data_dir, 'postmaster.opts'), entry.pw_uid, entry.pw_gid)
    record = dict(record, state='restored', target='end of the archive' if latest else target)
    cluster_dir.write_journal(journal, record)
    result.update(changed=True, record=record)


def _wait_promoted(module, result):
    p = module.params
    promoted, timeline, last = pg.wait_promoted(p['login_unix_socket'] or p['login_host'], p['login_port'],
                                                p['login_user'], p['login_password'], 'postgres',
                                                time.time() + p['timeout'])
    if not promoted:
        module.fail_json(msg='PostgreSQL did not leave recovery within %s s (%s).' % (p['timeout'], last), **result)
    return timeline


def _put_back(module, journal, record, result):
    p = module.params
    data_dir, aside = p['data_dir'].rstrip('/'), record['aside']
    if cluster_dir.server_pid(data_dir):
        module.fail_json(msg='PostgreSQL still runs on %s: stop it before the original is put back.' % data_dir,
                         **result)
    keep_current, rename_aside, error = cluster_dir.put_back_plan(record, os.path.exists(data_dir),
                                                                  os.path.exists(aside))
    if error:
        module.fail_json(msg='%s: look for it by hand (the journal is %s); the data directories were not touched.'
                             % (error, journal), **result)
    kept = ''
    cluster_dir.write_journal(journal, dict(record, state='putting_back'))
    if keep_current:
        kept = '%s.restored-%s' % (data_dir, record['run_id'])
        cluster_dir.rename_durably(data_dir, kept)
    if rename_aside:
        cluster_dir.rename_durably(aside, data_dir)
    previous = _close_journal(journal, record, '%s.%s.rolled-back' % (journal, record['run_id']))
    result.update(changed=True, restored_kept_at=kept, record=previous)


def _close_journal(journal, record, keep_as):
    """End this record's journal (kept as keep_as when given); the finished restore before it becomes the journal
    again. Returns that earlier record, or None."""
    if keep_as:
        with open(keep_as, 'w') as handle:
            json.dump(record, handle, sort_keys=True)
    previous = record.get('previous')
    if previous:
        # As it was, its last write's time included: a finished restore, nothing runs for it.
        cluster_dir.write_journal(journal, previous, now=previous.get('updated_at'))
    else:
        os.unlink(journal)
    return previous


def main():
    argument_spec = pg.postgres_argument_spec()
    argument_spec.update(
        state=dict(type='str', choices=['check', 'prepare', 'present', 'finished', 'absent'], default='check'),
        data_dir=dict(type='path', required=True),
        work_dir=dict(type='path', required=True),
        stanza=dict(type='str', required=True),
        config=dict(type='path', default='/etc/pgbackrest/pgbackrest.conf'),
        point=dict(type='str', default='latest'),
        run_id=dict(type='str', default=''),
        os_user=dict(type='str', default='postgres'),
        timeout=dict(type='int', default=600),
        controller=dict(type='dict', default={}),
        compare_server=dict(type='bool', default=False),
        force=dict(type='bool', default=False),
        stale_minutes=dict(type='int', default=240),
        journal_run_id=dict(type='str', default=''),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_if=[('state', 'present', ('run_id',)), ('state', 'prepare', ('run_id',))])
    p = module.params
    state = p['state']
    journal = cluster_dir.journal_path(p['work_dir'], p['stanza'])
    # A step that changes something holds the journal's lock while it runs (the lock is on this host, where every
    # step of every run runs, whichever controller started it); a read only looks whether a step holds it now.
    exclusive = state != 'check' and not module.check_mode
    try:
        lock_fd, busy = cluster_dir.lock_journal(journal, exclusive)
        record = cluster_dir.read_journal(journal)
    except (OSError, ValueError) as exc:
        module.fail_json(msg=str(exc), journal=journal)
    aside = record['aside'] if record else cluster_dir.aside_path(p['data_dir'], p['run_id'] or '<run>')
    result = dict(changed=False, journal=journal, record=record, aside=aside, another_run=False)
    ours = bool(record) and bool(p['run_id']) and record.get('run_id') == p['run_id']
    status = cluster_dir.run_status(cluster_dir.with_write_time(record, journal), busy,
                                    controller_running((record or {}).get('controller')), p['stale_minutes'])
    result['run_status'] = 'ours' if ours and not busy else status

    # A step of another run holds the lock now: no call touches anything, this run's own steps included.
    if busy:
        module.fail_json(msg=cluster_dir.running_message(record, journal), **dict(result, another_run=True))
    # rollback.yml read the journal before it stopped PostgreSQL: it puts back only what it planned to.
    if state == 'absent' and not p['run_id'] and p['journal_run_id']:
        changed_since = cluster_dir.changed_since_plan(record, p['journal_run_id'], journal)
        if changed_since:
            module.fail_json(msg=changed_since, **dict(result, another_run=cluster_dir.another_run_holds(record, status)))
    # Starting a run, or rolling back another one: never while that one may still be going.
    if (state in ('check', 'prepare') or (state == 'absent' and not p['run_id'])) and not ours:
        if status == 'running':
            module.fail_json(msg=cluster_dir.running_message(record, journal), **dict(result, another_run=True))
        if status == 'unknown' and not p['force']:
            module.fail_json(msg=cluster_dir.unknown_message(record, journal), **dict(result, another_run=True))
    if state in ('check', 'prepare'):
        interrupted = cluster_dir.interrupted_message(record, journal)
        if interrupted:
            module.fail_json(msg=interrupted, **result)
        _check(module, journal, result)
        if state == 'check':
            module.exit_json(**result)
        if module.check_mode:
            module.exit_json(changed=True, **{k: v for k, v in result.items() if k != 'changed'})
        rc, out, err = _pgbackrest(module, 'check',
                                   environ_update={'PGPASSWORD': p['login_password']} if p['login_password'] else None)
        if rc != 0:
            module.fail_json(msg='pgbackrest check failed before the stop (exit %s): %s. The newest WAL may not be '
                                 'in the archive; fix archiving (pgbackrest check) and run again. Nothing was '
                                 'changed.' % (rc, (err or out).strip()[-1000:]), **result)
        # A finished earlier restore stays in the journal as "previous": this run's failure gives it back, and
        # after this run's rollback, rollback.yml can go back one restore further.
        record = dict(state='stopping', run_id=p['run_id'], point=p['point'], data_dir=p['data_dir'].rstrip('/'),
                      aside=cluster_dir.aside_path(p['data_dir'], p['run_id']), controller=p['controller'],
                      previous=record if record and record.get('state') == 'done' else None)
        cluster_dir.write_journal(journal, record)
        result.update(changed=True, record=record, aside=record['aside'])
        module.exit_json(**result)
    if state == 'present':
        if not ours or record['state'] != 'stopping':
            module.fail_json(msg='The journal %s is not this run\'s, ready to move the data directory (state=prepare '
                                 'first). Nothing was changed.' % journal, **result)
        _check(module, journal, result)
        if cluster_dir.server_pid(p['data_dir']):
            module.fail_json(msg='PostgreSQL still runs on %s: it must be stopped before its data directory is moved '
                                 'aside. Nothing was changed.' % p['data_dir'], **result)
        result['changed'] = True
        if module.check_mode:
            module.exit_json(**result)
        _restore(module, journal, record, result, lock_fd)
        module.exit_json(**result)
    if state == 'finished':
        if not ours or record['state'] != 'restored':
            module.fail_json(msg='No restored cluster of this run to finish in the journal %s.' % journal, **result)
        if not os.path.isdir(record['aside']):
            module.fail_json(msg='The original data directory is no longer at %s (moved by somebody else while this '
                                 'run restored): look at %s and the journal %s by hand.'
                                 % (record['aside'], p['data_dir'], journal), **result)
        timeline = _wait_promoted(module, result)
        if not module.check_mode:
            record = dict(record, state='done', timeline=timeline)
            cluster_dir.write_journal(journal, record)
        module.exit_json(changed=True, journal=journal, record=record, aside=aside, timeline=timeline)
    # absent: with run_id, only what this run left half way; without, what the journal names (rollback.yml).
    result['server_running'] = bool(cluster_dir.server_pid(p['data_dir']))
    if not record or (p['run_id'] and (not ours or record['state'] == 'done')):
        module.exit_json(restored_kept_at='', **result)
    if module.check_mode:
        # rollback.yml reads this before it stops PostgreSQL: a put back that cannot be done stops it there.
        error = cluster_dir.put_back_plan(record, os.path.exists(p['data_dir']), os.path.exists(record['aside']))[2]
        if error:
            module.fail_json(msg='%s: look for it by hand (the journal is %s). Nothing was changed; PostgreSQL was not '
                                 'stopped.' % (error, journal), **result)
        module.exit_json(**dict(result, changed=True, restored_kept_at=''))
    _put_back(module, journal, record, result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
