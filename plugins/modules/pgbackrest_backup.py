#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: pgbackrest_backup
short_description: Take a pgBackRest base backup (full, diff or incr) and say what was taken
description:
  - Refuses, changing nothing, when archiving was never turned on here (no pgBackRest configuration for the stanza,
    or no stanza in the repository) - C(playbooks/wal_archive.yml) turns it on - or when the type is not one of
    V(full), V(diff), V(incr).
  - Runs C(pgbackrest backup --type=...), then reads C(pgbackrest info --output=json) and returns the backup taken -
    its label, type, sizes, duration and WAL range - and the backups the repository's C(repo1-retention-full)
    expired during the run.
  - A V(diff) or V(incr) with no full backup in the repository is taken as a full backup by pgBackRest itself;
    O(type) and the result's C(promoted) say so.
  - In check mode, reads the repository and says what it would take; nothing is written.
version_added: 0.3.0
author:
  - YieldVault platform team
extends_documentation_fragment:
  - yieldvault.db_restore.pgbackrest
options:
  type:
    description: The base backup type.
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
  login_password:
    description: The password pgBackRest's libpq connection uses (C(PGPASSWORD)).
    type: str
    default: ''
'''

EXAMPLES = r'''
- name: Take a differential base backup
  yieldvault.db_restore.pgbackrest_backup:
    type: diff
    stanza: main
  register: base_backup
'''

RETURN = r'''
backup:
  description:
    - The backup taken C({label, type, requested_type, promoted, prior, size, delta, repo_size, repo_delta, start, stop,
      duration_seconds, wal_start, wal_stop}) (sizes in bytes, times in epoch seconds); null in check mode.
  returned: always
  type: dict
would_take:
  description: The type pgBackRest takes for the requested one (V(full) when no full backup exists yet).
  returned: always
  type: str
expired:
  description: Labels of the backups the repository's retention (C(repo1-retention-full)) expired during the run.
  returned: always
  type: list
  elements: str
backups:
  description: The stanza's backups after the run, C({label, type}), oldest first.
  returned: always
  type: list
  elements: dict
msg:
  description: One sentence - what was (or would be) taken.
  returned: always
  type: str
'''

import json
import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yieldvault.db_restore.plugins.module_utils import pgbackrest

NOT_ON = ('WAL archiving is not turned on for stanza %s: %s. Run playbooks/wal_archive.yml first (it configures '
          'pgBackRest, creates the stanza and takes the first full backup). Nothing was changed.')


def _argv(p, args):
    return pgbackrest.command(p['os_user'], p['config'], p['stanza'], args, executable=p['pgbackrest'])


def _info(module):
    rc, out, err = module.run_command(_argv(module.params, ['--log-level-console=error', '--output=json', 'info']))
    if rc != 0:
        module.fail_json(msg='pgbackrest info failed (exit %s): %s. Check db_restore_pgbackrest_config and '
                             'db_restore_pgbackrest_stanza. Nothing was changed.' % (rc, (err or out).strip()[-1000:]))
    return (json.loads(out) or [{}])[0]


def main():
    module = AnsibleModule(argument_spec=dict(
        type=dict(type='str', required=True),
        stanza=dict(type='str', required=True),
        config=dict(type='path', default='/etc/pgbackrest/pgbackrest.conf'),
        pgbackrest=dict(type='str', default='pgbackrest'),
        os_user=dict(type='str', default='postgres'),
        login_password=dict(type='str', default='', no_log=True),
    ), supports_check_mode=True)
    p = module.params
    requested = (p['type'] or '').strip().lower()
    if requested not in pgbackrest.BASE_BACKUP_TYPES:
        module.fail_json(msg="Unknown base backup type '%s': set -e base_backup (db_restore_base_backup) to full, diff "
                             "or incr, or leave it empty for a pg_dump backup. Nothing was changed." % p['type'])
    if not os.path.exists(p['config']):
        module.fail_json(msg=NOT_ON % (p['stanza'], 'the pgBackRest configuration %s does not exist' % p['config']))
    with open(p['config']) as handle:
        if not re.search(r'^\[%s\]\s*$' % re.escape(p['stanza']), handle.read(), re.M):
            module.fail_json(msg=NOT_ON % (p['stanza'], '%s has no [%s] section' % (p['config'], p['stanza'])))
    before = _info(module)
    # pgBackRest info: status code 1 is "missing stanza path", the stanza was never created in the repository.
    if (before.get('status') or {}).get('code') == 1:
        module.fail_json(msg=NOT_ON % (p['stanza'], 'the stanza does not exist in the repository'))
    would_take = pgbackrest.effective_type(requested, before)
    promoted = (' (no full backup exists yet, so pgBackRest takes a full one instead of the %s asked for)' % requested
                if would_take != requested else '')
    result = dict(changed=False, backup=None, would_take=would_take, expired=[],
                  backups=[dict(label=b['label'], type=b['type']) for b in before.get('backup') or []])
    if module.check_mode:
        module.exit_json(msg='Would take a %s base backup of stanza %s%s.' % (would_take, p['stanza'], promoted),
                         **result)

    rc, out, err = module.run_command(_argv(p, ['--log-level-console=error', 'backup', '--type=%s' % requested]),
                                      environ_update=dict(PGPASSWORD=p['login_password']))
    after = _info(module)
    if rc != 0:
        module.fail_json(msg='pgbackrest backup --type=%s failed (exit %s): %s' % (requested, rc,
                                                                                (err or out).strip()[-1000:]),
                         changed=pgbackrest.taken_backup(before, after) is not None)
    taken = pgbackrest.taken_backup(before, after)
    if taken is None:
        module.fail_json(msg='pgbackrest backup --type=%s succeeded but no new backup is listed by pgbackrest info.'
                             % requested, changed=True)
    result.update(changed=True, backup=pgbackrest.describe_backup(taken, requested),
                  expired=pgbackrest.expired_labels(before, after),
                  backups=[dict(label=b['label'], type=b['type']) for b in after.get('backup') or []])
    module.exit_json(msg='Took %s base backup %s of stanza %s%s.' % (taken['type'], taken['label'], p['stanza'],
                                                                     promoted if taken['type'] != requested else ''),
                     **result)


if __name__ == '__main__':
    main()
