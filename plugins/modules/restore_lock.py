#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: restore_lock
short_description: Make sure only one restore of a database runs at a time
description:
  - Takes or releases a lock file on the database server that names the run holding it.
  - The lock is created atomically (C(O_CREAT|O_EXCL)), so two runs started at the same moment cannot both get it.
  - A lock held by another run makes O(state=present) fail with the holder, its age, and how to remove the lock
    when no restore is running; a lock older than O(stale_minutes) is reported as stale (it is never broken
    automatically).
version_added: 0.2.0
author:
  - YieldVault platform team
options:
  path:
    description:
      - The lock file, for example C(/var/backups/postgresql/yieldvault_prod.restore.lock).
      - A missing parent directory is created with mode 0700.
    type: path
    required: true
  state:
    description:
      - V(present) takes the lock for O(run_id); V(absent) releases it.
    type: str
    choices: [present, absent]
    default: present
  run_id:
    description:
      - Identifier of this run; the lock is ours when the file holds the same id.
    type: str
    required: true
  owner:
    description:
      - Free-form information stored in the lock and shown to whoever finds it, for example
        C({user, controller, playbook, incident}).
      - Do not put secrets here; the lock file is shown in error messages.
    type: dict
    default: {}
  controller:
    description:
      - The ansible-playbook process running this run, C({host, pid}), as returned by the
        P(yieldvault.db_restore.controller_process#lookup) lookup. It is stored in the lock.
      - When a later run finds the lock and its module runs on that same host (a local connection, as on a
        database server that is also the controller), it checks whether that process still exists. A holder that
        has ended (Ctrl-C, a killed job) is reported as such (RV(holder_running=false)), instead of only by age.
      - The lock is still never taken over automatically; the operator confirms with a forced release.
    type: dict
  stale_minutes:
    description:
      - A lock older than this is reported as stale (in the message and with RV(stale=true)).
    type: int
    default: 240
  force:
    description:
      - With O(state=absent), remove the lock even when another run (or an unreadable file) holds it.
      - Has no effect with O(state=present); remove a stale lock with O(state=absent) first.
    type: bool
    default: false
  private_file:
    description:
      - A private file that belongs to the holder of the lock, for example the pgpass file the PostgreSQL client
        tools read the password from.
      - With O(state=present) and O(private_content), it is written (mode 0600, through a temporary file and a
        rename) once this run holds the lock, never when another run holds it. With O(state=absent) it is
        removed before the lock is released, and only when this run holds the lock, so a run refused by the lock
        never touches the file of the run that holds it.
      - One file per lock, not per run - a run interrupted before its release leaves at most this one file,
        which the next holder overwrites and removes.
    type: path
  private_content:
    description:
      - Content of O(private_file). Never logged or returned.
      - With O(state=present), nothing is written when this is empty.
    type: str
  free_space_path:
    description:
      - Also measure the free space of the filesystem holding this path (or its nearest existing parent), returned
        as RV(free_bytes), so that a disk check needs no other round trip to the host.
    type: path
  binaries:
    description:
      - Client tools the run needs on this host, for example C(/usr/lib/postgresql/15/bin/pg_restore) or
        C(pg_restore). Each must be an executable file (a name with a C(/)) or be found on the C(PATH).
      - Checked first, with either O(state), so a missing tool fails the task with the lock untouched (not taken,
        and with O(state=absent) not removed).
    type: list
    elements: str
    default: []
  binaries_hint:
    description:
      - Added to the failure message when one of O(binaries) is missing (what to install or set).
    type: str
    default: ''
  directories:
    description:
      - Working directories the holder of the lock needs. With O(state=present), once this run holds the lock,
        each is created with mode 0700 (parents too) or given mode 0700 when it exists. In check mode they are
        only looked at.
    type: list
    elements: path
    default: []
  leftovers:
    description:
      - What an interrupted run of the same database leaves behind (killed, or its host rebooted, so no cleanup ran),
        for example an unpacked copy of a safety backup or a partial safety dump. Each entry names a directory
        (C(path)) and a Python regular expression (C(pattern)) that the whole name of an entry directly in it must
        match; matching files and directories are removed once this run holds the lock (with O(state=present)),
        never when another run holds it, and O(free_space_path) is measured after they are gone.
      - Make the pattern name only this lock's database, such as C(^restore-mydb-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{4}$)
        (the holder of the lock is the only run that may write those names). In check mode they are only listed.
    type: list
    elements: dict
    default: []
attributes:
  check_mode:
    support: full
    details:
      - O(state=present) fails exactly as a real run would when another run holds the lock; otherwise it reports
        C(changed) without writing.
      - O(state=absent) reports what it would remove without removing it.
'''

EXAMPLES = r'''
- name: Take the restore lock for yieldvault_prod
  yieldvault.db_restore.restore_lock:
    path: /var/backups/postgresql/yieldvault_prod.restore.lock
    run_id: "{{ __db_restore_run_id }}"
    owner:
      user: "{{ lookup('env', 'USER') }}"
      controller: "{{ inventory_hostname }}"
      playbook: restore.yml
      incident: "{{ incident | default('') }}"

- name: Release the restore lock for yieldvault_prod
  yieldvault.db_restore.restore_lock:
    path: /var/backups/postgresql/yieldvault_prod.restore.lock
    run_id: "{{ __db_restore_run_id }}"
    state: absent

- name: Break a lock left behind by a crashed run
  yieldvault.db_restore.restore_lock:
    path: /var/backups/postgresql/yieldvault_prod.restore.lock
    run_id: "{{ __db_restore_run_id }}"
    state: absent
    force: true
  when: db_restore_break_lock | bool
'''

RETURN = r'''
path:
  description: The lock file.
  returned: always
  type: str
acquired:
  description: This run holds the lock after the task (false in check mode when the lock was free).
  returned: always
  type: bool
released:
  description: The lock file was (in check mode - would be) removed.
  returned: always
  type: bool
holder:
  description:
    - Content of the lock file - run_id, owner, pid, host, acquired_at. Null when there is no lock.
    - For an unreadable lock file, keys C(corrupt) (true) and C(error) (what is wrong).
  returned: always
  type: dict
  sample: {"run_id": "20260429T143000Z-a1b2", "owner": {"user": "alice", "incident": "INC-1234"}, "pid": 4242,
           "host": "db1", "acquired_at": "2026-04-29T14:30:00Z"}
age_minutes:
  description: Age of the existing lock in minutes; null when there was none.
  returned: always
  type: float
  sample: 12.5
stale:
  description: The existing lock is older than O(stale_minutes).
  returned: always
  type: bool
holder_running:
  description:
    - Whether the ansible-playbook process that took the existing lock still runs; null when it cannot be told
      (no lock, no controller recorded, or a controller on another host).
  returned: always
  type: bool
private_file_changed:
  description: O(private_file) was written (O(state=present)) or removed (O(state=absent)).
  returned: always
  type: bool
free_bytes:
  description: Free bytes (for an unprivileged user) of the filesystem holding O(free_space_path); null without it.
  returned: always
  type: int
  sample: 52428800000
cpu_count:
  description: The CPUs this host lets the module run on (its affinity mask; the count C(nproc) prints).
  returned: always
  type: int
  sample: 4
binaries_found:
  description: O(binaries), each resolved to the file that would run.
  returned: always
  type: dict
  sample: {"pg_restore": "/usr/lib/postgresql/15/bin/pg_restore"}
directories_created:
  description: The O(directories) that did not exist (created, or in check mode that would be).
  returned: always
  type: list
  elements: str
leftovers_removed:
  description: The O(leftovers) found and removed (in check mode - that would be), each with its size in bytes.
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/var/backups/postgresql/unpacked/restore-mydb-20261125T031500Z-1a2b", "bytes": 312000000}]
'''

import datetime
import errno
import json
import os
import re
import socket

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.yieldvault.db_restore.plugins.module_utils.binaries import resolve_binary
from ansible_collections.yieldvault.db_restore.plugins.module_utils.run_holder import IDENTITY_KEYS, controller_running
from ansible_collections.yieldvault.db_restore.plugins.module_utils.files import (
    make_private_dirs, remove_path, stop_postmaster_in, tree_bytes, write_atomic,
)

TIMESTAMP_FORMAT = '%Y-%m-%dT%H:%M:%SZ'
UTC = datetime.timezone.utc


def utc_now():
    return datetime.datetime.now(UTC)


def format_ts(value):
    return value.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def parse_ts(text):
    try:
        return datetime.datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def lock_record(run_id, owner, now, pid=None, host=None, controller=None):
    record = dict(
        run_id=run_id,
        owner=owner or {},
        pid=os.getpid() if pid is None else pid,
        host=socket.gethostname() if host is None else host,
        acquired_at=format_ts(now),
    )
    if controller and controller.get('pid'):
        # With what tells that process apart from a later one under the same pid (run_holder.process_identity).
        record['controller'] = dict(dict((key, controller[key]) for key in IDENTITY_KEYS if controller.get(key)),
                                    host=controller.get('host'), pid=int(controller['pid']))
    return record


def holder_running(holder, hostname=None):
    """Whether the controller process that took the lock still runs; None when this host cannot tell."""
    return controller_running(holder.get('controller') if isinstance(holder, dict) else None, hostname)


def read_lock(path):
    """Return (holder, mtime). holder is None when there is no lock file.

    A file that cannot be read or parsed yields {'corrupt': True, 'error': ...}:
    it may be a lock being written right now, so it must count as held.
    """
    try:
        mtime = datetime.datetime.fromtimestamp(os.stat(path).st_mtime, UTC)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None, None
        return dict(corrupt=True, error='cannot stat: %s' % to_native(exc.strerror or exc)), None
    try:
        with open(path, 'r') as handle:
            data = json.load(handle)
    except (IOError, OSError) as exc:
        if getattr(exc, 'errno', None) == errno.ENOENT:
            return None, None
        return dict(corrupt=True, error='cannot read: %s' % to_native(exc.strerror or exc)), mtime
    except ValueError:
        return dict(corrupt=True, error='not valid JSON'), mtime
    if not isinstance(data, dict) or not data.get('run_id'):
        return dict(corrupt=True, error='no run_id in the lock file'), mtime
    return data, mtime


def lock_age_minutes(holder, mtime, now):
    started = parse_ts(holder.get('acquired_at')) if holder and not holder.get('corrupt') else None
    started = started or mtime
    if started is None:
        return None
    return round(max((now - started).total_seconds(), 0) / 60.0, 1)


def assess(holder, mtime, run_id, now, stale_minutes):
    """Classify a lock: 'free', 'ours', 'other' or 'corrupt', with its age and staleness."""
    if holder is None:
        return dict(status='free', age_minutes=None, stale=False, holder_running=None)
    age = lock_age_minutes(holder, mtime, now)
    stale = age is not None and age > stale_minutes
    if holder.get('corrupt'):
        status = 'corrupt'
    elif holder.get('run_id') == run_id:
        status = 'ours'
    else:
        status = 'other'
    return dict(status=status, age_minutes=age, stale=stale,
                holder_running=None if status in ('corrupt', 'ours') else holder_running(holder))


def describe_holder(holder):
    parts = []
    owner = holder.get('owner') if isinstance(holder.get('owner'), dict) else {}
    for key in sorted(owner):
        if owner[key] not in (None, ''):
            parts.append('%s=%s' % (key, owner[key]))
    controller = holder.get('controller') if isinstance(holder.get('controller'), dict) else None
    if controller:
        parts.append('ansible-playbook pid %s on %s' % (controller.get('pid'), controller.get('host')))
    else:
        for key in ('host', 'pid'):
            if holder.get(key) not in (None, ''):
                parts.append('%s=%s' % (key, holder[key]))
    return ', '.join(parts)


def held_message(path, holder, state, stale_minutes, tail='Nothing was changed.'):
    age = state['age_minutes']
    age_text = '%s min ago' % (age if age is not None else '?')
    if holder.get('corrupt'):
        head = ('Database restore lock %s exists but cannot be read (%s), so it is treated as held (modified %s).'
                % (path, holder.get('error'), age_text))
    else:
        details = describe_holder(holder)
        head = ('Database restore lock %s is held by run %s (%sacquired %s, %s).'
                % (path, holder.get('run_id'), details + ', ' if details else '', holder.get('acquired_at'),
                   age_text))
    running = state.get('holder_running')
    controller = holder.get('controller') or {}
    if running is False:
        text = head + (' That run has ended: its ansible-playbook (pid %s on %s) is no longer running, so it was '
                       'interrupted (Ctrl-C) or killed before it could release the lock. Check that nothing it '
                       'started still runs (ps -ef | grep -E "pg_restore|pg_dump"), and look at its report '
                       'and the databases it may have left.' % (controller.get('pid'), controller.get('host')))
    elif running is True:
        text = head + (' That run is still going: its ansible-playbook (pid %s on %s) is running. Wait for it, '
                       'or stop it first.' % (controller.get('pid'), controller.get('host')))
    else:
        text = head + ' Another restore of this database may be running.'
    if state['stale'] and running is not True:
        text += (' The lock is older than %d minutes and looks stale: the run that took it probably ended '
                 'without releasing it.' % stale_minutes)
    text += (' If no restore of this database is running, remove the lock: rm %s (or run with -e db_restore_break_lock=true). %s'
             % (path, tail))
    return text


def create_lock(path, record):
    """Atomically create the lock file; raises OSError(EEXIST) when it already exists."""
    make_private_dirs([os.path.dirname(os.path.abspath(path))], fix_mode=False)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, 'w') as handle:
            json.dump(record, handle, sort_keys=True)
            handle.write('\n')
            handle.flush()
            os.fsync(handle.fileno())
    except Exception:
        # Never leave a half-written lock behind: it would block every later run.
        try:
            os.unlink(path)
        except OSError:
            pass
        raise
    os.chmod(path, 0o600)


def remove_private(path):
    """Remove path; True when there was a file."""
    try:
        os.unlink(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return False
        raise
    return True


def free_bytes(path):
    """Free bytes of the filesystem of path, or of its nearest existing parent."""
    path = os.path.abspath(path)
    while not os.path.isdir(path) and path != os.path.dirname(path):
        path = os.path.dirname(path)
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def compile_leftovers(entries):
    """[(directory, compiled pattern)] of the leftovers option; ValueError saying what is wrong."""
    specs = []
    for entry in entries:
        directory, pattern = entry.get('path'), entry.get('pattern')
        if not directory or not pattern or set(entry) - set(['path', 'pattern']):
            raise ValueError('each leftovers entry takes a path and a pattern (and nothing else), got %r' % (entry,))
        try:
            specs.append((directory, re.compile(pattern)))
        except re.error as exc:
            raise ValueError('the leftovers pattern %r is not a regular expression: %s' % (pattern, exc)) from exc
    return specs


def find_leftovers(specs):
    """[(path, bytes)] of the names directly in each directory that match its pattern (whole name)."""
    found = []
    for directory, regex in specs:
        try:
            names = sorted(os.listdir(directory))
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                continue
            raise
        for name in names:
            if regex.fullmatch(name):
                path = os.path.join(directory, name)
                found.append((path, tree_bytes(path)))
    return found


def cpu_count():
    """CPUs this process may run on (nproc), at least 1."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):
        return max(os.cpu_count() or 1, 1)


def find_binaries(module, names):
    """{name: resolved path} for each tool found; what is wrong with the others, as a list."""
    found, missing = {}, []
    for name in names:
        path, why = resolve_binary(module, name)
        if path:
            found[name] = path
        else:
            missing.append(why)
    return found, missing


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            run_id=dict(type='str', required=True),
            owner=dict(type='dict', default={}),
            controller=dict(type='dict'),
            stale_minutes=dict(type='int', default=240),
            force=dict(type='bool', default=False),
            private_file=dict(type='path'),
            private_content=dict(type='str', no_log=True),
            free_space_path=dict(type='path'),
            binaries=dict(type='list', elements='str', default=[]),
            binaries_hint=dict(type='str', default=''),
            directories=dict(type='list', elements='path', default=[]),
            leftovers=dict(type='list', elements='dict', default=[]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    path = params['path']
    run_id = params['run_id']
    result = dict(changed=False, path=path, acquired=False, released=False, holder=None, age_minutes=None,
                  stale=False, holder_running=None, private_file_changed=False, free_bytes=None,
                  cpu_count=cpu_count(), binaries_found={}, directories_created=[], leftovers_removed=[])
    if not run_id.strip():
        module.fail_json(msg='run_id must not be empty: it identifies whose lock this is. Nothing was changed.',
                         **result)
    try:
        leftover_specs = compile_leftovers(params['leftovers'])
    except ValueError as exc:
        module.fail_json(msg='%s. Nothing was changed.' % exc, **result)
    now = utc_now()
    result['binaries_found'], missing = find_binaries(module, params['binaries'])
    if missing:
        module.fail_json(msg='Missing client tool on %s: %s. %s%sNothing was changed.'
                             % (socket.gethostname(), '; '.join(missing), params['binaries_hint'],
                                ' ' if params['binaries_hint'] else ''), **result)
    if params['free_space_path']:
        try:
            result['free_bytes'] = free_bytes(params['free_space_path'])
        except OSError as exc:
            module.fail_json(msg='Could not measure the free space of %s: %s. Nothing was changed.'
                                 % (params['free_space_path'], to_native(exc.strerror or exc)), **result)

    def holder_done(**extra):
        """This run holds the lock: create its directories, write its private file, then exit."""
        result.update(extra)

        def give_back(what, exc):
            released = ''
            if extra.get('changed'):
                # Taken by this very call: give it back, the run cannot go on without it.
                try:
                    os.unlink(path)
                    result.update(acquired=False, released=True)
                    released = ' The lock was released again.'
                except OSError:
                    released = ' The lock could not be released: remove it by hand (rm %s).' % path
            module.fail_json(msg='Could not %s: %s. Check the directory is writable (db_restore_work_dir). Nothing '
                                 'was changed.%s' % (what, to_native(exc.strerror or exc), released), **result)

        try:
            result['directories_created'] = make_private_dirs(params['directories'], module.check_mode)
        except OSError as exc:
            give_back('create the work directory %s' % (exc.filename or ''), exc)
        if result['directories_created'] and not module.check_mode:
            result['changed'] = True
        # Only the holder of this database's lock writes these names: whatever is there is a dead run's. One
        # that cannot be removed is said and left (the disk check that follows counts what stays).
        try:
            found = find_leftovers(leftover_specs)
        except OSError as exc:
            module.warn('Could not look for files left by an interrupted run in %s: %s'
                        % (exc.filename, to_native(exc.strerror or exc)))
            found = []
        for leftover, size in found:
            if not module.check_mode:
                try:
                    # A WAL restore's scratch server a killed run left still runs from its directory.
                    stop_postmaster_in(leftover)
                    remove_path(leftover)
                except OSError as exc:
                    module.warn('Could not remove %s, left by an interrupted run: %s. Remove it by hand.'
                                % (leftover, to_native(exc.strerror or exc)))
                    continue
                result['changed'] = True
            result['leftovers_removed'].append(dict(path=leftover, bytes=size))
        if result['leftovers_removed'] and params['free_space_path'] and not module.check_mode:
            try:
                result['free_bytes'] = free_bytes(params['free_space_path'])
            except OSError:
                pass
        if params['private_file'] and params['private_content'] and not module.check_mode:
            try:
                make_private_dirs([os.path.dirname(os.path.abspath(params['private_file']))], fix_mode=False)
                write_atomic(params['private_file'], params['private_content'], 0o600)
            except OSError as exc:
                give_back('write %s' % params['private_file'], exc)
            result.update(changed=True, private_file_changed=True)
        module.exit_json(**result)

    holder, mtime = read_lock(path)
    state = assess(holder, mtime, run_id, now, params['stale_minutes'])
    result.update(holder=holder, age_minutes=state['age_minutes'], stale=state['stale'],
                  holder_running=state['holder_running'])

    if params['state'] == 'present':
        if state['status'] == 'free':
            record = lock_record(run_id, params['owner'], now, controller=params['controller'])
            if module.check_mode:
                holder_done(changed=True)  # looks at the directories, writes nothing
            try:
                create_lock(path, record)
            except OSError as exc:
                if exc.errno != errno.EEXIST:
                    module.fail_json(msg='Could not create the restore lock %s: %s. Check that the directory is '
                                         'writable. Nothing was changed.' % (path, to_native(exc.strerror or exc)),
                                     **result)
                # Another run created it between our read and our create.
                holder, mtime = read_lock(path)
                state = assess(holder, mtime, run_id, now, params['stale_minutes'])
                result.update(holder=holder, age_minutes=state['age_minutes'], stale=state['stale'],
                              holder_running=state['holder_running'])
                if state['status'] == 'free':
                    module.fail_json(msg='The restore lock %s was created and removed by another run while this run '
                                         'tried to take it. Run again. Nothing was changed.' % path, **result)
            else:
                holder_done(changed=True, acquired=True, holder=record, age_minutes=0.0, stale=False)
        if state['status'] == 'ours':
            holder_done(acquired=True)
        module.fail_json(msg=held_message(path, holder, state, params['stale_minutes']), **result)

    # state == absent
    if state['status'] in ('other', 'corrupt') and not params['force']:
        module.warn(held_message(path, holder, state, params['stale_minutes'],
                                 tail='It was left in place because run %s does not hold it.' % run_id))
        module.exit_json(**result)
    # The holder's private file goes first, while the lock is still ours: once it is
    # released, the next run may write its own under the same name. Also when the
    # lock is gone already (removed by hand): no run holds it, so the file is this
    # run's leftover. Never when another run holds the lock.
    if state['status'] in ('ours', 'free') and params['private_file']:
        if module.check_mode:
            result['private_file_changed'] = os.path.exists(params['private_file'])
        else:
            try:
                result['private_file_changed'] = remove_private(params['private_file'])
            except OSError as exc:
                module.fail_json(msg='Could not remove %s: %s. Remove it by hand; the lock %s was left in place.'
                                     % (params['private_file'], to_native(exc.strerror or exc), path), **result)
        result['changed'] = result['private_file_changed']
    if state['status'] == 'free':
        module.exit_json(**result)
    if not module.check_mode:
        try:
            os.unlink(path)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                module.fail_json(msg='Could not remove the restore lock %s: %s. Remove it by hand (rm %s).'
                                     % (path, to_native(exc.strerror or exc), path), **result)
    result.update(changed=True, released=True)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
