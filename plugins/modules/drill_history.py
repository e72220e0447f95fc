#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: drill_history
short_description: Record a restore drill and judge the restore-time trend against the RTO budget
description:
  - Appends one JSON line per drill to O(path) (C(<work_dir>/drills/history.jsonl)) - when it finished, the
    backup, the outcome, the restore time and the seconds of every phase.
  - Returns the last drills, the trend of restore times (median, last, share of the RTO budget, direction) and
    warnings when the restore time passes O(warn_percent) of the budget or rises against earlier drills.
  - A damaged line in the history is skipped with a warning; it never fails the drill.
version_added: 0.2.0
author:
  - YieldVault platform team
options:
  path:
    description:
      - The history file; created (mode 0600, parent directory 0700) when missing.
    type: path
    required: true
  entry:
    description:
      - The drill to record, for example C({finished_at, backup, outcome, rto_seconds, phases}).
      - Only drills whose C(outcome) is C(succeeded) and that have a numeric C(rto_seconds) count for the trend.
    type: dict
    required: true
  budget_seconds:
    description:
      - The RTO budget in seconds.
    type: float
    required: true
  warn_percent:
    description:
      - Warn when the restore time is more than this percent of O(budget_seconds).
    type: float
    default: 50
  shown:
    description:
      - How many of the most recent drills to return in RV(history).
    type: int
    default: 10
attributes:
  check_mode:
    support: full
    details: In check mode the history is read and the trend computed as if the entry were recorded; nothing is written.
seealso:
  - module: yieldvault.db_restore.restore_objects
'''

EXAMPLES = r'''
- name: Record the drill
  yieldvault.db_restore.drill_history:
    path: /var/backups/postgresql/drills/history.jsonl
    entry:
      finished_at: "2026-04-29T03:12:40Z"
      backup: yieldvault_prod_20260429_0300.dump
      outcome: succeeded
      rto_seconds: 412.5
      phases: {fetch_backup: 61.2, prepare_database: 1.4, restore_database: 380.3, verify_restore: 30.8}
    budget_seconds: 3600
    warn_percent: 50
  register: drill_history
'''

RETURN = r'''
history:
  description: The last O(shown) drills, oldest first, including this one.
  returned: always
  type: list
  elements: dict
trend:
  description: Restore-time trend of the succeeded drills.
  returned: always
  type: dict
  sample: {"runs": 12, "timed_runs": 11, "last_seconds": 412.5, "median_seconds": 398.0, "budget_seconds": 3600.0,
           "percent_of_budget": 11.5, "direction": "stable"}
trend_warnings:
  description: Why the trend needs attention; empty when it does not.
  returned: always
  type: list
  elements: str
'''

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.yieldvault.db_restore.plugins.module_utils.drill import compute_trend, parse_history
from ansible_collections.yieldvault.db_restore.plugins.module_utils.files import make_private_dirs


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            entry=dict(type='dict', required=True),
            budget_seconds=dict(type='float', required=True),
            warn_percent=dict(type='float', default=50),
            shown=dict(type='int', default=10),
        ),
        supports_check_mode=True,
    )
    params = module.params
    path = params['path']
    text = ''
    try:
        if os.path.exists(path):
            with open(path, 'r') as handle:
                text = handle.read()
    except (IOError, OSError) as exc:
        module.fail_json(msg='Could not read the drill history %s: %s. Check its permissions. Nothing was changed.'
                             % (path, to_native(exc.strerror or exc)))
    entries, bad = parse_history(text)
    if bad:
        module.warn('Skipped %d damaged line(s) of %s (line %s).' % (len(bad), path, ', '.join(map(str, bad[:5]))))
    entry = dict(params['entry'])
    entries.append(entry)
    line = json.dumps(entry, sort_keys=True) + '\n'

    if not module.check_mode:
        try:
            make_private_dirs([os.path.dirname(os.path.abspath(path))], fix_mode=False)
            # O_APPEND: two drills finishing together each add a whole line.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, 'a') as handle:
                handle.write(line)
        except (IOError, OSError) as exc:
            module.fail_json(msg='Could not append to the drill history %s: %s. Check free space and permissions.'
                                 % (path, to_native(exc.strerror or exc)))

    trend, warnings = compute_trend(entries, params['budget_seconds'], params['warn_percent'])
    shown = max(params['shown'], 1)
    module.exit_json(changed=True, history=entries[-shown:], trend=trend, trend_warnings=warnings, path=path)


if __name__ == '__main__':
    main()
