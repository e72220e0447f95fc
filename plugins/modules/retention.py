#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: retention
short_description: Remove the safety backups, reports and downloaded copies the retention settings no longer keep
description:
  - Applies the retention settings to a work directory (C(safety/), C(reports/) with C(logs/), C(restore/)) and,
    with O(store=s3), to the safety backups under O(s3_safety_prefix).
  - Safety backups (C(<database>_safety_YYYYMMDD_HHMMSS.dir.tar|.dump|.sql), with their C(.md5) sidecar) are kept
    per database when they are one of the newest O(keep_safety_backups) or younger than
    O(keep_safety_backups_days) days. Reports (a run's directory and its logs) are kept per database and kind of
    run by O(keep_reports). The newest of each is always kept; a setting of 0 keeps every one.
  - Times come from the names, never from file times. A safety backup younger than 24 hours, one named in
    O(protect), and one dated in the future are never removed; C(.sql) safety backups (which rollback does not
    restore) are ranked apart from the C(.dump) and C(.dir.tar) ones, so they never take a kept place.
  - A database whose lock file (C(locks/<database>.lock)) is held by a run other than O(run_id) is left alone, and
    downloaded copies (O(downloads)) are left alone while any lock is held.
  - Nothing else in the work directory or the bucket is touched. In check mode it lists what would go.
version_added: 0.3.0
author:
  - YieldVault platform team
extends_documentation_fragment:
  - yieldvault.db_restore.s3
options:
  work_dir:
    description: The work directory (C(db_restore_work_dir)).
    type: path
    required: true
  databases:
    description: Only these databases; empty means every database found.
    type: list
    elements: str
    default: []
  run_id:
    description: The calling run's id. Its lock counts as free and its report is kept.
    type: str
    default: ''
  keep_safety_backups:
    description: Newest safety backups kept per database (0 keeps them all by count).
    type: int
    default: 0
  keep_safety_backups_days:
    description: Safety backups younger than this many days are kept (0 keeps none by age).
    type: int
    default: 0
  keep_reports:
    description: Newest run reports (with their logs) kept per database and kind of run (0 keeps them all).
    type: int
    default: 0
  downloads:
    description: Remove the downloaded backup copies in C(restore/) (they are copies of what the store holds).
    type: bool
    default: false
  remove_files:
    description: Files to remove as well, each of them inside C(restore/) (the copy this run downloaded).
    type: list
    elements: path
    default: []
  protect:
    description:
      - Safety backup names never removed (the one this run took, the last good one before a partial restore).
    type: list
    elements: str
    default: []
  store:
    description: With C(s3), the safety backups under O(s3_safety_prefix) in O(s3_bucket) are pruned too.
    type: str
    default: local
    choices: [ local, s3 ]
  s3_safety_prefix:
    description: Key prefix of the safety backups in the bucket.
    type: str
    default: safety/
'''

EXAMPLES = r'''
- name: Keep the newest 3 safety backups and 30 reports of each database, and list what goes
  yieldvault.db_restore.retention:
    work_dir: /var/backups/postgresql
    keep_safety_backups: 3
    keep_reports: 30
  check_mode: true
  register: prune
'''

RETURN = r'''
removed:
  description: What was removed (in check mode, what would be), each with kind, name, where, size and reason.
  returned: always
  type: list
  elements: dict
  sample: [{kind: safety_backup, name: prod_safety_20260429_143512.dump, where: local, size: 1024,
            reason: older than the newest 3}]
kept:
  description: How many of each kind are kept.
  returned: always
  type: dict
  sample: {safety_backup: 3, report: 30}
freed_bytes:
  description: Bytes removed (or that would be).
  returned: always
  type: int
skipped:
  description: Databases left alone, each with the reason (a lock held by another run).
  returned: always
  type: list
  elements: dict
lines:
  description: One plain line per removal, then a total; for the console and the report.
  returned: always
  type: list
  elements: str
'''

import datetime
import errno
import json
import os
import shutil

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yieldvault.db_restore.plugins.module_utils.catalog import backup_name_database
from ansible_collections.yieldvault.db_restore.plugins.module_utils.files import tree_bytes
from ansible_collections.yieldvault.db_restore.plugins.module_utils.retention import (
    MIN_SAFETY_AGE, check_settings, choose, human_bytes, parse_run_id, parse_safety_name, rollback_can_use,
)
from ansible_collections.yieldvault.db_restore.plugins.module_utils.s3 import (
    describe_s3_error, normalize_prefix, s3_argument_spec, s3_client,
)

UTC = datetime.timezone.utc
UNREADABLE_LOCK = '(a lock file that cannot be read)'


def _size(path):
    """tree_bytes, or 0 for a path that is gone (another prune, a run's clean-up)."""
    try:
        return tree_bytes(path)
    except OSError:
        return 0


def _listdir(path):
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def _lock_holder(work_dir, database):
    """The run id holding database's lock file, '' when there is none, UNREADABLE_LOCK when it cannot be read."""
    path = os.path.join(work_dir, 'locks', database + '.lock')
    if not os.path.lexists(path):
        return ''
    try:
        with open(path) as handle:
            return str(json.load(handle).get('run_id') or UNREADABLE_LOCK)
    except (OSError, ValueError, AttributeError):
        return UNREADABLE_LOCK


class Pruner(object):
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.work_dir = os.path.abspath(self.params['work_dir'])
        self.now = datetime.datetime.now(UTC)
        self.removed, self.skipped, self.kept = [], [], {}
        self._locked = {}

    def wanted(self, database):
        return not self.params['databases'] or database in self.params['databases']

    def locked_by_other(self, database):
        if database not in self._locked:
            holder = _lock_holder(self.work_dir, database)
            other = bool(holder) and holder != self.params['run_id']
            self._locked[database] = other
            if other:
                self.skipped.append(dict(database=database, reason='its lock is held %s' % holder
                                         if holder == UNREADABLE_LOCK else 'its lock is held by run %s' % holder))
        return self._locked[database]

    def remove(self, kind, name, where, size, reason, paths=(), s3_key=None, client=None):
        done = []
        if not self.module.check_mode:
            try:
                if s3_key is not None:
                    client.delete_object(Bucket=self.params['s3_bucket'], Key=s3_key)
                for path in paths:
                    try:
                        if os.path.isdir(path) and not os.path.islink(path):
                            shutil.rmtree(path)
                        else:
                            os.remove(path)
                    except OSError as exc:
                        # Another prune got there first: gone is what was asked.
                        if exc.errno != errno.ENOENT:
                            raise
                    done.append(path)
            except Exception as exc:
                partial = (' Of it, %s was removed and %s was not.' % (', '.join(done), ', '.join(
                    p for p in paths if p not in done)) if done else '')
                self.module.fail_json(msg='Could not remove %s %s (%s): %s.%s What was removed before it is listed in '
                                          'removed; nothing else was.' % (kind.replace('_', ' '), name, where, exc,
                                                                           partial),
                                      removed=self.removed)
        self.removed.append(dict(kind=kind, name=name, where=where, size=size, reason=reason))

    def local_safety(self):
        safety_dir = os.path.join(self.work_dir, 'safety')
        items = []
        for name in _listdir(safety_dir):
            parsed = parse_safety_name(name)
            path = os.path.join(safety_dir, name)
            if parsed and os.path.isfile(path) and self.wanted(parsed[0]) and not self.locked_by_other(parsed[0]):
                items.append(dict(group=(parsed[0], rollback_can_use(name)), time=parsed[1], name=name, path=path))
        keep, remove = choose(items, self.params['keep_safety_backups'], self.params['keep_safety_backups_days'],
                              self.now, protect=self.params['protect'], min_age=MIN_SAFETY_AGE)
        self.kept['safety_backup'] = self.kept.get('safety_backup', 0) + len(keep)
        for item in remove:
            paths = [item['path'], item['path'] + '.md5']
            self.remove('safety_backup', item['name'], 'local', sum(_size(p) for p in paths), item['reason'], paths)

    def s3_safety(self):
        params = self.params
        prefix = normalize_prefix(params['s3_safety_prefix'])
        client = s3_client(self.module)
        items = []
        try:
            paginator = client.get_paginator('list_objects_v2')
            for page in paginator.paginate(Bucket=params['s3_bucket'], Prefix=prefix, Delimiter='/'):
                for obj in page.get('Contents') or []:
                    name = obj['Key'][len(prefix):]
                    parsed = parse_safety_name(name)
                    if parsed and self.wanted(parsed[0]) and not self.locked_by_other(parsed[0]):
                        items.append(dict(group=(parsed[0], rollback_can_use(name)), time=parsed[1], name=name,
                                          key=obj['Key'], size=obj.get('Size') or 0))
        except Exception as exc:
            self.module.fail_json(msg='%s Nothing was removed from the bucket.' % describe_s3_error(
                exc, 'list the safety backups', params['s3_bucket'], params['s3_endpoint_url'], key=prefix or None,
                region=params['s3_region']), removed=self.removed)
        keep, remove = choose(items, params['keep_safety_backups'], params['keep_safety_backups_days'], self.now,
                              protect=params['protect'], min_age=MIN_SAFETY_AGE)
        self.kept['safety_backup_s3'] = len(keep)
        for item in remove:
            self.remove('safety_backup', item['name'], 's3://%s/%s' % (params['s3_bucket'], item['key']),
                        item['size'], item['reason'], s3_key=item['key'], client=client)

    def reports(self):
        reports_dir = os.path.join(self.work_dir, 'reports')
        logs_dir = os.path.join(self.work_dir, 'logs')
        logs = _listdir(logs_dir)
        items = []
        run_ids = set(n for n in _listdir(reports_dir) if os.path.isdir(os.path.join(reports_dir, n)))
        run_ids.update(n.rsplit('-', 1)[0] for n in logs if n.endswith('.log') and '-' in n)
        for run_id in sorted(run_ids):
            parsed = parse_run_id(run_id)
            if not parsed or run_id == self.params['run_id']:
                continue
            mode, database, started = parsed
            if self.wanted(database) and not self.locked_by_other(database):
                items.append(dict(group=(mode, database), time=started, name=run_id))
        keep, remove = choose(items, self.params['keep_reports'], 0, self.now)
        # This run's own report is always kept too.
        self.kept['report'] = len(keep) + (1 if self.params['run_id'] in run_ids else 0)
        for item in remove:
            paths = [os.path.join(reports_dir, item['name'])]
            paths += [os.path.join(logs_dir, n) for n in logs if n.endswith('.log') and n.rsplit('-', 1)[0] == item['name']]
            paths = [p for p in paths if os.path.lexists(p)]
            self.remove('report', item['name'], 'local', sum(_size(p) for p in paths), item['reason'], paths)

    def downloads(self):
        restore_dir = os.path.join(self.work_dir, 'restore')
        holders = [n[:-len('.lock')] for n in _listdir(os.path.join(self.work_dir, 'locks')) if n.endswith('.lock')]
        busy = sorted(d for d in holders if _lock_holder(self.work_dir, d) not in ('', self.params['run_id']))
        wanted_paths = set()
        if busy:
            # A drill or a restore of any database may be reading a copy here (a drill of this database downloads
            # the same file name): nothing in restore/ goes while another run holds a lock.
            if self.params['downloads'] or self.params['remove_files']:
                self.skipped.append(dict(database=', '.join(busy),
                                         reason='a run holds a lock, so no downloaded copy in restore/ is removed'))
        else:
            wanted_paths.update(os.path.abspath(p) for p in self.params['remove_files'])
            if self.params['downloads']:
                for name in _listdir(restore_dir):
                    base = name
                    for suffix in ('.part', '.md5', '.manifest.json'):
                        if base.endswith(suffix):
                            base = base[:-len(suffix)]
                    database = backup_name_database(base)
                    # Only what the collection downloads there, of the databases asked for.
                    if database and self.wanted(database):
                        wanted_paths.add(os.path.join(restore_dir, name))
        for path in sorted(wanted_paths):
            if os.path.isfile(path) and not os.path.islink(path):
                self.remove('download', os.path.basename(path), 'local', _size(path),
                            'a copy of the store\'s backup, no longer needed', [path])
        self.kept['download'] = len([n for n in _listdir(restore_dir)
                                     if os.path.join(restore_dir, n) not in wanted_paths])


def main():
    argument_spec = dict(
        work_dir=dict(type='path', required=True),
        databases=dict(type='list', elements='str', default=[]),
        run_id=dict(type='str', default=''),
        keep_safety_backups=dict(type='int', default=0),
        keep_safety_backups_days=dict(type='int', default=0),
        keep_reports=dict(type='int', default=0),
        downloads=dict(type='bool', default=False),
        remove_files=dict(type='list', elements='path', default=[]),
        protect=dict(type='list', elements='str', default=[]),
        store=dict(type='str', default='local', choices=['local', 's3']),
        s3_safety_prefix=dict(type='str', default='safety/'),
    )
    argument_spec.update(s3_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_if=[('store', 's3', ['s3_bucket'])])
    params = module.params
    try:
        check_settings(params['keep_safety_backups'], params['keep_safety_backups_days'], 'safety_backups')
        check_settings(params['keep_reports'], 0, 'reports')
    except ValueError as exc:
        module.fail_json(msg='%s Nothing was removed.' % exc)
    if not os.path.isdir(params['work_dir']):
        module.fail_json(msg='The work directory %s does not exist: set db_restore_work_dir to the directory the '
                             'restores use. Nothing was removed.' % params['work_dir'])

    # Checked before anything is removed.
    restore_dir = os.path.join(os.path.abspath(params['work_dir']), 'restore')
    for path in params['remove_files']:
        if os.path.dirname(os.path.abspath(path)) != restore_dir:
            module.fail_json(msg='remove_files takes only files directly in %s, not %s. Nothing was removed.'
                                 % (restore_dir, path))

    pruner = Pruner(module)
    pruner.local_safety()
    if params['store'] == 's3':
        pruner.s3_safety()
    pruner.reports()
    pruner.downloads()

    freed = sum(int(r['size'] or 0) for r in pruner.removed)
    verb = 'Would remove' if module.check_mode else 'Removed'
    lines = ['%s %s %s (%s, %s): %s' % (verb, r['kind'].replace('_', ' '), r['name'], r['where'],
                                         human_bytes(r['size']), r['reason']) for r in pruner.removed]
    lines += ['Left alone %s: %s' % (s['database'], s['reason']) for s in pruner.skipped]
    lines.append('%s %d item(s), %s.' % (verb, len(pruner.removed), human_bytes(freed)) if pruner.removed
                 else 'Nothing to remove: the retention settings keep everything there.')
    module.exit_json(changed=bool(pruner.removed), removed=pruner.removed,
                     kept=pruner.kept, freed_bytes=freed, skipped=pruner.skipped, lines=lines)


if __name__ == '__main__':
    main()
