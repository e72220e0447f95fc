#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: backup_catalog
short_description: List the backups of a database and choose the one for a restore point
description:
  - Lists the backups of O(database) in an S3 bucket or a local directory. Backups are named
    C(<database>_YYYYMMDD_HHMM.dump) with the time in UTC (seconds, C(_YYYYMMDD_HHMMSS), and C(.dir.tar), a packed
    directory-format dump, are accepted too, as safety backups are named); other files are ignored.
  - Chooses the newest backup taken at or before O(point), or the backup named by O(backup).
  - Reports where the backup is, its size, the MD5 it is expected to have (S3 metadata C(md5) or a
    C(<name>.md5) sidecar) and whether a C(<name>.manifest.json) sits beside it.
  - Computes the data-loss gap and checks it against the recovery point objective (RPO).
  - Read-only; never changes anything.
version_added: 0.2.0
author:
  - YieldVault platform team
options:
  store:
    description:
      - Where the backups are kept.
    type: str
    required: true
    choices: [ s3, local ]
  database:
    description:
      - Name of the database whose backups are listed. Only files named exactly
        C(<database>_YYYYMMDD_HHMM.dump) (or C(.dir.tar), with or without seconds) count, so C(app) never picks up
        C(app_drill_...) backups.
    type: str
    required: true
  local_dir:
    description:
      - Directory holding the backups when O(store=local).
    type: path
  s3_prefix:
    description:
      - Key prefix (folder) of the backups in O(s3_bucket), for example C(database/).
      - A missing trailing C(/) is added. Only objects directly under the prefix are considered.
    type: str
    default: ''
  point:
    description:
      - Restore point in ISO 8601 (C(2026-04-29T14:30:00Z), C(2026-04-29T14:30), C(2026-04-29 14:30:00+02:00),
        C(2026-04-29)); a time without zone is UTC, a date alone is midnight UTC.
      - V(latest) (any case) means now, which selects the newest backup.
      - A point more than a minute in the future is an error.
    type: str
    default: latest
  backup:
    description:
      - File name of a backup to use instead of selecting by O(point), as listed in the store. The C(.dump)
        suffix may be left out. A path, an S3 key or anything else that is not a plain file name is refused.
    type: str
  rpo_minutes:
    description:
      - Recovery point objective, in minutes. A larger gap between the backup and the point (or now) fails
        the module unless O(allow_rpo_breach=true).
    type: int
    default: 15
  allow_rpo_breach:
    description:
      - Accept a gap larger than O(rpo_minutes); a warning is emitted instead of a failure.
    type: bool
    default: false
  exclude:
    description:
      - Backup names never chosen by date (a safety backup taken of a partial restore that a killed run left);
        returned in RV(excluded). One asked for by name with O(backup) is still chosen.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - yieldvault.db_restore.s3
attributes:
  check_mode:
    support: full
    description: Runs completely in check mode; it only reads.
notes:
  - The gap is C(point - backup time) for an explicit point, and C(now - backup time) for V(latest) and for
    an explicit O(backup), because that is the data a restore would lose.
  - S3 listing uses a paginator, so prefixes with more than 1000 objects are handled.
seealso:
  - module: yieldvault.db_restore.backup_checksum
'''

EXAMPLES = r'''
- name: Choose the backup for the incident's restore point
  yieldvault.db_restore.backup_catalog:
    store: s3
    database: yieldvault_prod
    s3_bucket: yieldvault-backups
    s3_prefix: database/
    point: "2026-04-29T14:30:00Z"
    rpo_minutes: 15
  register: selected

- name: Use an explicit backup from a local directory, accepting a larger data loss
  yieldvault.db_restore.backup_catalog:
    store: local
    local_dir: /var/backups/postgresql
    database: yieldvault_prod
    backup: yieldvault_prod_20260429_1400
    allow_rpo_breach: true

- name: Newest backup in an S3-compatible store
  yieldvault.db_restore.backup_catalog:
    store: s3
    database: yieldvault_prod
    s3_bucket: backups
    s3_endpoint_url: http://127.0.0.1:9000
    aws_access_key: "{{ vault_s3_access_key }}"
    aws_secret_key: "{{ vault_s3_secret_key }}"
'''

RETURN = r'''
excluded:
  description: Backups left out of the choice by O(exclude).
  returned: success
  type: list
  elements: str
backup:
  description: The selected backup.
  returned: success
  type: dict
  contains:
    name:
      description: File name of the backup.
      type: str
      sample: yieldvault_prod_20260429_1400.dump
    timestamp:
      description: Time the backup was taken (from its name), ISO 8601 UTC.
      type: str
      sample: "2026-04-29T14:00:00Z"
    size:
      description: Size in bytes.
      type: int
      sample: 7340032
    location:
      description: S3 key or absolute local path of the backup.
      type: str
      sample: database/yieldvault_prod_20260429_1400.dump
    expected_md5:
      description: MD5 the backup should have, lowercase hex, or null when none is recorded.
      type: str
      sample: 9e107d9d372bb6826bd81d3542a419d6
    md5_source:
      description: Where C(expected_md5) comes from, C(s3_metadata), C(sidecar) or null.
      type: str
      sample: s3_metadata
    manifest:
      description: S3 key or local path of C(<name>.manifest.json), or null when there is none.
      type: str
      sample: database/yieldvault_prod_20260429_1400.dump.manifest.json
    store:
      description: V(s3) or V(local).
      type: str
      sample: s3
candidates:
  description: Every backup of the database in the store, newest first.
  returned: success
  type: list
  elements: dict
  sample: [{"name": "yieldvault_prod_20260429_1400.dump", "timestamp": "2026-04-29T14:00:00Z", "size": 7340032}]
point:
  description: The point actually used, ISO 8601 UTC (now for V(latest) and for an explicit backup).
  returned: success
  type: str
  sample: "2026-04-29T14:30:00Z"
point_mode:
  description: V(latest), V(point) or V(backup) (explicit backup name).
  returned: success
  type: str
  sample: point
gap_minutes:
  description: Minutes between the backup and the point, one decimal; the data a restore loses.
  returned: success
  type: float
  sample: 30.0
rpo_minutes:
  description: The RPO the gap was checked against.
  returned: success
  type: int
  sample: 15
rpo_met:
  description: Whether the gap is within the RPO.
  returned: success
  type: bool
  sample: false
ignored:
  description:
    - Number of files in the store (directly under the prefix) that are not backups of O(database).
    - The C(.md5) sidecars and C(.manifest.json) manifests of listed backups are companions, not counted.
  returned: success
  type: int
  sample: 2
'''

import datetime
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yieldvault.db_restore.plugins.module_utils.catalog import (
    backup_name_database, isoformat_z, normalize_backup_name, parse_backup_name, parse_point, rpo_gap_minutes,
    select_backup,
)
from ansible_collections.yieldvault.db_restore.plugins.module_utils.checksum import (
    normalize_md5, read_md5_sidecar,
)
from ansible_collections.yieldvault.db_restore.plugins.module_utils.s3 import (
    describe_s3_error, normalize_prefix, s3_argument_spec, s3_client, s3_location,
)

NOTHING_CHANGED = 'Nothing was changed.'
LOCAL_DIR_HINT = ('Set db_restore_local_backup_dir to the directory that holds the backups (rollback.yml without '
                  '-e backup looks for safety backups in db_restore_work_dir/safety, where a restore puts them).')
COMPANION_SUFFIXES = ('.md5', '.manifest.json')


def list_s3(module, client):
    """Return ({name: size}) of objects directly under the prefix."""
    params = module.params
    prefix = normalize_prefix(params['s3_prefix'])
    files = {}
    try:
        paginator = client.get_paginator('list_objects_v2')
        # The delimiter keeps "sub-folders" (e.g. safety/) out of the listing.
        for page in paginator.paginate(Bucket=params['s3_bucket'], Prefix=prefix, Delimiter='/'):
            for item in page.get('Contents') or []:
                name = item['Key'][len(prefix):]
                if name and '/' not in name:
                    files[name] = item.get('Size')
    except Exception as exc:
        module.fail_json(msg='%s %s' % (describe_s3_error(exc, 'list the backups', params['s3_bucket'],
                                                          params['s3_endpoint_url'], key=prefix or None,
                                                          region=params['s3_region']),
                                        NOTHING_CHANGED))
    return files


def list_local(module):
    local_dir = module.params['local_dir']
    if not os.path.exists(local_dir):
        module.fail_json(msg='The backup directory %s does not exist. %s %s' % (local_dir, LOCAL_DIR_HINT, NOTHING_CHANGED))
    if not os.path.isdir(local_dir):
        module.fail_json(msg='%s is not a directory. %s %s' % (local_dir, LOCAL_DIR_HINT, NOTHING_CHANGED))
    files = {}
    try:
        for name in os.listdir(local_dir):
            path = os.path.join(local_dir, name)
            if os.path.isfile(path):
                files[name] = os.path.getsize(path)
    except OSError as exc:
        module.fail_json(msg='Could not list the backup directory %s: %s. Check that this user may read it. %s'
                             % (local_dir, exc.strerror or exc, NOTHING_CHANGED))
    return files


def s3_details(module, client, name, listed):
    params = module.params
    prefix = normalize_prefix(params['s3_prefix'])
    key = prefix + name
    try:
        head = client.head_object(Bucket=params['s3_bucket'], Key=key)
    except Exception as exc:
        module.fail_json(msg='%s %s' % (describe_s3_error(exc, 'read the details of the backup', params['s3_bucket'],
                                                          params['s3_endpoint_url'], key=key,
                                                          region=params['s3_region']), NOTHING_CHANGED))
    metadata = dict((str(k).lower(), v) for k, v in (head.get('Metadata') or {}).items())
    expected_md5, md5_source = None, None
    if metadata.get('md5'):
        try:
            expected_md5, md5_source = normalize_md5(metadata['md5']), 's3_metadata'
        except ValueError as exc:
            module.warn('Ignoring the md5 metadata of %s: %s.' % (key, exc))
    manifest = name + '.manifest.json'
    return dict(
        location=key,
        size=head.get('ContentLength'),
        expected_md5=expected_md5,
        md5_source=md5_source,
        manifest=prefix + manifest if manifest in listed else None,
    )


def local_details(module, name, listed):
    local_dir = os.path.abspath(module.params['local_dir'])
    path = os.path.join(local_dir, name)
    expected_md5, md5_source = None, None
    if name + '.md5' in listed:
        try:
            expected_md5, md5_source = read_md5_sidecar(path + '.md5', name=name), 'sidecar'
        except (OSError, ValueError) as exc:
            module.warn('Ignoring the checksum sidecar %s.md5: %s.' % (path, exc))
    manifest = name + '.manifest.json'
    return dict(
        location=path,
        size=os.path.getsize(path),
        expected_md5=expected_md5,
        md5_source=md5_source,
        manifest=os.path.join(local_dir, manifest) if manifest in listed else None,
    )


def main():
    argument_spec = dict(
        store=dict(type='str', required=True, choices=['s3', 'local']),
        database=dict(type='str', required=True),
        local_dir=dict(type='path'),
        s3_prefix=dict(type='str', default=''),
        point=dict(type='str', default='latest'),
        backup=dict(type='str'),
        rpo_minutes=dict(type='int', default=15),
        allow_rpo_breach=dict(type='bool', default=False),
        exclude=dict(type='list', elements='str', default=[]),
    )
    argument_spec.update(s3_argument_spec())
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_if=[('store', 'local', ['local_dir']), ('store', 's3', ['s3_bucket'])],
        supports_check_mode=True,
    )
    params = module.params
    database = params['database']
    store = params['store']
    if params['rpo_minutes'] < 0:
        module.fail_json(msg='db_restore_rpo_minutes must be 0 or more, got %d. %s' % (params['rpo_minutes'], NOTHING_CHANGED))

    now = datetime.datetime.now(datetime.timezone.utc)
    explicit = (params['backup'] or '').strip()
    point_text = (params['point'] or '').strip() or 'latest'
    if explicit:
        try:
            normalize_backup_name(explicit, database)
        except ValueError as exc:
            module.fail_json(msg='%s %s' % (exc, NOTHING_CHANGED))
        point_mode, point = 'backup', now
        if point_text.lower() != 'latest':
            module.warn('backup=%s overrides point=%s; the point is ignored.' % (explicit, point_text))
    else:
        point_mode = 'latest' if point_text.lower() == 'latest' else 'point'
        try:
            point = parse_point(point_text, now)
        except ValueError as exc:
            module.fail_json(msg='%s %s' % (exc, NOTHING_CHANGED))

    if store == 's3':
        client = s3_client(module)
        listed = list_s3(module, client)
        where = s3_location(params['s3_bucket'], params['s3_endpoint_url'], key=normalize_prefix(params['s3_prefix']),
                            region=params['s3_region'])
    else:
        client = None
        listed = list_local(module)
        where = os.path.abspath(params['local_dir'])

    candidates = []
    for name, size in listed.items():
        timestamp = parse_backup_name(name, database)
        if timestamp is not None:
            candidates.append(dict(name=name, timestamp=timestamp, size=size))
    candidates.sort(key=lambda c: c['timestamp'], reverse=True)
    backup_names = set(c['name'] for c in candidates)
    # Safety backups of a partial restore a killed run left are never chosen by date (asked by name they are).
    excluded = [c['name'] for c in candidates if c['name'] in params['exclude'] and c['name'] != explicit]
    candidates = [c for c in candidates if c['name'] not in excluded]
    ignored_names = sorted(
        name for name in listed
        if name not in backup_names
        and not any(name.endswith(sfx) and name[:-len(sfx)] in backup_names for sfx in COMPANION_SUFFIXES))

    if not candidates:
        hint = ''
        if ignored_names:
            hint = ' It holds %d other file(s), e.g. %s.' % (len(ignored_names), ', '.join(ignored_names[:5]))
        module.fail_json(
            msg='No backups of %s were found in %s.%s Backups must be named %s_YYYYMMDD_HHMM.dump (UTC; or .dir.tar). Check the '
                'database name, the store and the prefix/directory, or run playbooks/backup.yml to make one. %s'
                % (database, where, hint, database, NOTHING_CHANGED),
            candidates=[], ignored=len(ignored_names))

    try:
        chosen = select_backup(candidates, point=None if point_mode == 'latest' else point,
                               backup=explicit or None)
    except LookupError as exc:
        hint = ''
        named = backup_name_database(normalize_backup_name(explicit)) if explicit else None
        if named and named != database:
            hint = (' %s is named as a backup of database %s, and only the backups of %s are listed. To restore the '
                    'backups of %s into this database on purpose (a production backup into staging), set '
                    'db_restore_backup_database=%s.' % (normalize_backup_name(explicit), named, database, named, named))
        module.fail_json(msg='%s%s %s' % (exc, hint, NOTHING_CHANGED),
                         candidates=_public_candidates(candidates[:20]), point=isoformat_z(point))

    if store == 's3':
        details = s3_details(module, client, chosen['name'], listed)
    else:
        details = local_details(module, chosen['name'], listed)

    gap = round(rpo_gap_minutes(point, chosen['timestamp']), 1)
    rpo_met = gap <= params['rpo_minutes']
    backup = dict(name=chosen['name'], timestamp=isoformat_z(chosen['timestamp']), store=store, **details)
    result = dict(
        excluded=excluded,
        changed=False,
        backup=backup,
        candidates=_public_candidates(candidates),
        point=isoformat_z(point),
        point_mode=point_mode,
        gap_minutes=gap,
        rpo_minutes=params['rpo_minutes'],
        rpo_met=rpo_met,
        ignored=len(ignored_names),
    )
    if not rpo_met:
        against = 'the point %s' % isoformat_z(point) if point_mode == 'point' else 'now (%s)' % isoformat_z(point)
        breach = ('The selected backup %s (%s) is %.1f minutes older than %s, more than the RPO of %d minutes: '
                  'restoring it loses up to %.1f minutes of data.'
                  % (chosen['name'], backup['timestamp'], gap, against, params['rpo_minutes'], gap))
        if not params['allow_rpo_breach']:
            result['msg'] = ('%s %s Choose a later point or backup if one exists, or accept the data loss with '
                             '-e db_restore_allow_rpo_breach=true.' % (breach, NOTHING_CHANGED))
            module.fail_json(**result)
        module.warn('%s Continuing because db_restore_allow_rpo_breach is true (a rollback always allows it).' % breach)
    module.exit_json(**result)


def _public_candidates(candidates):
    return [dict(name=c['name'], timestamp=isoformat_z(c['timestamp']), size=c['size']) for c in candidates]


if __name__ == '__main__':
    main()
