#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: restore_progress
short_description: Say how far a running pg_restore is
description:
  - Reads the C(--verbose) log of a pg_restore that runs in the background on the database server (started as an
    asynchronous task) and returns how many items of the archive's table of contents it has done, the time since
    it started and an estimate of the time left, as one line for the console (RV(progress)).
  - Meant for an C(until) loop that ends when RV(finished) is true; the collection's
    P(yieldvault.db_restore.runbook#callback) stdout callback prints RV(progress) at every retry.
  - Each call rewrites a heartbeat file (O(log) with C(.watched) added); the restore's script stops pg_restore when
    nobody has watched it for a while, so a run whose controller died leaves no pg_restore behind.
  - When the script writes the marker O(log) with C(.done) added (its last step), RV(finished) is true and the
    marker is removed. The restore module writes its result into the marker, returned as RV(result).
version_added: 0.3.0
author:
  - YieldVault platform team
options:
  log:
    description:
      - The file pg_restore's output goes to while it runs.
    type: path
    required: true
  total:
    description:
      - Items in the archive's table of contents (the lines of C(pg_restore --list) that are not comments).
      - When 0, the count the M(yieldvault.db_restore.database_restore) module writes when it begins (O(log) with
        C(.total) added) is read; without either, no percentage or estimate is given.
    type: int
    default: 0
  started:
    description:
      - When pg_restore started, seconds since the epoch on the database server; when omitted, the time of the
        first call for this O(log) (kept in the heartbeat file).
    type: float
  wait:
    description:
      - Seconds to wait for the end (the C(.done) marker) before returning; the call returns as soon as it
        appears. With the interval between progress lines here and a C(delay) of 0 in the C(until) loop, the end is
        seen at once rather than at the next look.
    type: float
    default: 0
  what:
    description:
      - The step named in RV(progress).
    type: str
    default: pg_restore
attributes:
  check_mode:
    support: full
    description: Only reads (the heartbeat is not touched in check mode).
notes:
  - The count is an estimate; items such as ACLs skipped with C(--no-acl) print nothing, so a restore can end
    below 100%.
'''

EXAMPLES = r'''
- name: Start pg_restore in the background
  ansible.builtin.shell: pg_restore --verbose --dbname=app_prod /var/lib/db_restore/app.dump > /tmp/restore.log 2>&1; touch /tmp/restore.log.done
  async: 86400
  poll: 0
  register: restore_job

- name: Report pg_restore's progress every 10 seconds until it has ended
  yieldvault.db_restore.restore_progress:
    log: /tmp/restore.log
    total: 450
    wait: 10
  register: restore_progress
  until: restore_progress.finished
  retries: 8640
  delay: 0
'''

RETURN = r'''
finished:
  description: Whether the restore's script has ended (the C(.done) marker was found).
  returned: always
  type: bool
done:
  description: Items done, as the log says (capped at O(total)).
  returned: always
  type: int
total:
  description: O(total).
  returned: always
  type: int
percent:
  description: Percentage of the items done; null without O(total).
  returned: always
  type: int
seconds:
  description: Seconds since pg_restore started.
  returned: always
  type: float
seconds_left:
  description: Estimate of the seconds left (from the pace so far); null before the first item.
  returned: always
  type: float
result:
  description:
    - When RV(finished), the result of the M(yieldvault.db_restore.database_restore) module, which it wrote into
      the C(.done) marker (its warnings are repeated as this call's); the task that collects the asynchronous job
      is then not needed.
    - None while the restore runs, and when the module ended with a failure of its own (async_status collects it).
  returned: always
  type: dict
progress:
  description: The line for the console.
  returned: always
  type: str
  sample: pg_restore 120/450 items (27%), 40 s, about 1 min left
'''

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yieldvault.db_restore.plugins.module_utils.restore_progress import items_done, progress


def read_total(path):
    """The table of contents' item count the restore module wrote when it began (0 when not there yet)."""
    try:
        with open(path) as handle:
            return int(handle.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def read_outcome(path):
    """The restore module's result, which it writes into the .done marker as its last step; None when the marker
    is empty (the module was failing: async_status collects that) or unreadable."""
    try:
        with open(path) as handle:
            outcome = json.loads(handle.read() or 'null')
    except (OSError, ValueError):
        return None
    return outcome if isinstance(outcome, dict) else None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            log=dict(type='path', required=True),
            total=dict(type='int', default=0),
            started=dict(type='float'),
            what=dict(type='str', default='pg_restore'),
            wait=dict(type='float', default=0),
        ),
        supports_check_mode=True,
    )
    log = module.params['log']
    done_marker = log + '.done'
    now = time.time()
    heartbeat = log + '.watched'
    # The heartbeat holds the time of the first look (right after the launch): the start, when not given.
    first_look = None
    try:
        with open(heartbeat) as handle:
            first_look = float(handle.read().strip() or 'x')
    except (OSError, ValueError):
        pass
    if not module.check_mode:
        try:
            with open(heartbeat, 'w') as handle:
                handle.write('%.3f\n' % (now if first_look is None else first_look))
        except OSError:
            pass  # the log's directory is the restore's; a heartbeat that cannot be written only risks a stop
    deadline = now + max(0.0, module.params['wait'])
    finished = os.path.exists(done_marker)
    while not finished and time.time() < deadline:
        time.sleep(min(0.2, max(0.0, deadline - time.time())))
        finished = os.path.exists(done_marker)
    now = time.time()
    lines = []
    try:
        with open(log, errors='replace') as handle:
            lines = handle.read().splitlines()
    except OSError:
        pass
    started = next((t for t in (module.params['started'], first_look) if t is not None), now)
    total = module.params['total'] or read_total(log + '.total')
    done = items_done(lines)
    if finished and total and not lines:
        done = total  # the script already removed the log of a pg_restore that ended
    done, percent, left, line = progress(done, total, now - started, module.params['what'])
    outcome = None
    if finished:
        line += ', ended'
        outcome = read_outcome(done_marker)
        for warning in (outcome or {}).pop('warnings', None) or []:
            module.warn(warning)
        if not module.check_mode:
            for path in (done_marker, log + '.watched', log + '.total'):
                try:
                    os.unlink(path)
                except OSError:
                    pass
    module.exit_json(changed=False, finished=finished, done=done, total=total, percent=percent,
                     seconds=round(now - started, 1), seconds_left=None if left is None else round(left, 1),
                     progress=line, result=outcome)


if __name__ == '__main__':
    main()
