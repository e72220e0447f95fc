#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: wal_archive_coverage
short_description: Whether the pgBackRest archive can restore to a point, and every WAL segment it needs is there
description:
  - Reads the stanza's backups (C(pgbackrest info)) and the archive's file list (C(pgbackrest repo-ls)), chooses the
    newest base backup that ended at or before the point, and checks that every WAL segment from that backup's start
    to the newest archived segment is in the archive. A missing segment would stop recovery before the point, so it
    is reported before anything changes.
  - Read only; runs the same in check mode.
version_added: 0.3.0
author:
  - YieldVault platform team
extends_documentation_fragment:
  - yieldvault.db_restore.pgbackrest
options:
  point:
    description:
      - The restore point, ISO 8601 (no zone means UTC) or C(latest).
      - C(random) picks a second at random between the oldest base backup's end (and O(window_days) ago) and a
        few seconds ago - a drill of the archive (C(drill.yml -e source=wal)).
    type: str
    required: true
  stanza:
    description: The pgBackRest stanza.
    type: str
    required: true
  pgbackrest:
    description: The pgBackRest executable.
    type: str
    default: pgbackrest
  window_days:
    description: Days back from now a C(random) point is picked in.
    type: int
    default: 7
    version_added: 0.3.0
'''

EXAMPLES = r'''
- name: Check that the WAL archive covers the point
  yieldvault.db_restore.wal_archive_coverage:
    point: "2026-04-29T14:37:12Z"
    stanza: main
  register: coverage
'''

RETURN = r'''
covered:
  description: Whether a base backup ended at or before the point and the archive has no gap after it.
  returned: always
  type: bool
backup:
  description: The chosen base backup C({label, type, start, stop}) (ISO UTC), or null.
  returned: always
  type: dict
gaps:
  description: Missing WAL segments after the chosen backup's start, C({first_missing, last_missing}).
  returned: always
  type: list
  elements: dict
archive_max:
  description: The newest archived WAL segment.
  returned: always
  type: str
point:
  description: The point checked, ISO 8601 UTC (now for V(latest)).
  returned: always
  type: str
  version_added: 0.3.0
archive_lag_seconds:
  description:
    - Age of the newest archived WAL segment (its time in the repository), the worst-case loss if the server were
      lost now; null when unknown.
  returned: when the archive holds a base backup
  type: int
  version_added: 0.3.0
archive_newest_at:
  description: When the newest archived WAL segment was written to the repository, ISO 8601 UTC.
  returned: when the archive holds a base backup
  type: str
  version_added: 0.3.0
point_mode:
  description: V(latest) or V(point) (a V(random) point is returned as the second picked, mode V(point)).
  returned: always
  type: str
  version_added: 0.3.0
configured:
  description: Whether the pgBackRest configuration file exists (C(false) - archiving was never turned on here).
  returned: always
  type: bool
  version_added: 0.3.0
data_loss_seconds:
  description: Data lost to the point when covered (0, the archive replays to the second), else null.
  returned: always
  type: int
msg:
  description: One sentence for the plan - what the archive can do for this point, or why not.
  returned: always
  type: str
'''

import datetime
import os
import random
import json

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yieldvault.db_restore.plugins.module_utils import catalog
from ansible_collections.yieldvault.db_restore.plugins.module_utils import pgbackrest


def _iso(epoch):
    return catalog.isoformat_z(datetime.datetime.fromtimestamp(epoch, catalog.UTC))


def _run(module, args):
    p = module.params
    argv = pgbackrest.command(p['os_user'], p['config'], p['stanza'], ['--log-level-console=error', '--output=json'] + args,
                              executable=p['pgbackrest'])
    rc, out, err = module.run_command(argv)
    if rc != 0:
        module.fail_json(msg='pgbackrest %s failed (exit %s): %s. Check db_restore_pgbackrest_config and the stanza. '
                             'Nothing was changed.' % (args[0], rc, (err or out).strip()[-1000:]))
    return json.loads(out)


def main():
    module = AnsibleModule(argument_spec=dict(
        point=dict(type='str', required=True),
        stanza=dict(type='str', required=True),
        config=dict(type='path', default='/etc/pgbackrest/pgbackrest.conf'),
        pgbackrest=dict(type='str', default='pgbackrest'),
        os_user=dict(type='str', default='postgres'),
        window_days=dict(type='int', default=7),
    ), supports_check_mode=True)
    p = module.params
    now = datetime.datetime.now(catalog.UTC)
    random_point = p['point'].strip().lower() == 'random'
    try:
        point = now if random_point else catalog.parse_point(p['point'], now)
    except ValueError as exc:
        module.fail_json(msg='%s Nothing was changed.' % exc)
    result = dict(changed=False, covered=False, configured=True, backup=None, gaps=[], archive_max='',
                  data_loss_seconds=None, point=catalog.isoformat_z(point),
                  point_mode='latest' if p['point'].strip().lower() == 'latest' else 'point')
    if not os.path.exists(p['config']):
        result['configured'] = False
        module.exit_json(msg='No WAL archive is configured on this host (%s does not exist; playbooks/wal_archive.yml '
                             'turns archiving on).' % p['config'], **result)

    info = (_run(module, ['info']) or [{}])[0]
    archives = info.get('archive') or []
    backups = info.get('backup') or []
    if not backups or not archives:
        module.exit_json(msg='The WAL archive of stanza %s holds no base backup yet: it cannot restore to %s.'
                             % (p['stanza'], catalog.isoformat_z(point)), **result)
    if random_point:
        window = pgbackrest.random_point_window(backups, now.timestamp(), p['window_days'])
        if window is None:
            module.exit_json(msg='The WAL archive of stanza %s has no second to drill in the last %s days after its '
                                 'oldest base backup.' % (p['stanza'], p['window_days']), **result)
        point = datetime.datetime.fromtimestamp(random.randint(*window), catalog.UTC)
        result.update(point=catalog.isoformat_z(point), point_mode='point')
    backup = pgbackrest.choose_backup(backups, point.timestamp())
    if backup is None:
        oldest = min(b['timestamp']['stop'] for b in backups)
        module.exit_json(msg='The point %s is before the oldest base backup of the WAL archive (ended %s): the archive '
                             'cannot restore to it.' % (catalog.isoformat_z(point), _iso(oldest)), **result)
    # One archive id per PostgreSQL version of the stanza; the newest is the cluster's now.
    archive = archives[-1]
    archive_max = archive['max']
    result['backup'] = dict(label=backup['label'], type=backup['type'], start=_iso(backup['timestamp']['start']),
                            stop=_iso(backup['timestamp']['stop']))
    result['archive_max'] = archive_max
    listing = _run(module, ['repo-ls', '--recurse', 'archive/%s/%s' % (p['stanza'], archive['id'])])
    gaps = pgbackrest.archive_gaps(sorted(listing), backup['archive']['start'], archive_max)
    newest = pgbackrest.newest_segment_time(listing)
    if newest is not None:
        result.update(archive_newest_at=_iso(newest), archive_lag_seconds=max(0, int(now.timestamp() - newest)))
    result['gaps'] = gaps
    if gaps:
        module.exit_json(msg='The WAL archive has a gap after base backup %s: segment%s %s missing, so recovery would '
                             'stop before %s. Restoring from the archive is refused; nothing was changed.' % (
                                 backup['label'],
                                 's' if len(gaps) > 1 or gaps[0]['first_missing'] != gaps[0]['last_missing'] else '',
                                 ', '.join(g['first_missing'] if g['first_missing'] == g['last_missing']
                                           else '%s to %s' % (g['first_missing'], g['last_missing']) for g in gaps),
                                 catalog.isoformat_z(point)), **result)
    result.update(covered=True, data_loss_seconds=0)
    module.exit_json(msg='The WAL archive covers %s from base backup %s (ended %s): data loss 0 s to the point.'
                         % (catalog.isoformat_z(point), backup['label'], result['backup']['stop']), **result)


if __name__ == '__main__':
    main()
