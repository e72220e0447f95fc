#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: pm2_process
short_description: Stop, start, restart or report a PM2 process by name
description:
  - Reads C(pm2 jlist) and acts on every instance of the process called O(name) (several in cluster mode).
  - Stops the process only when it runs, starts it only when it is not online, so a second run changes nothing.
  - After acting, waits up to O(wait_timeout) seconds for the wanted status. A process that becomes C(errored)
    or keeps restarting after a start fails the task with its status, restart count and the last 20 lines of
    its error log.
  - Never starts a PM2 daemon - when none runs for the PM2 home, the process list is empty and the task fails
    as for any missing process.
  - Only processes already known to PM2 are handled; this module does not create or delete PM2 processes.
version_added: 0.2.0
author:
  - YieldVault platform team
options:
  name:
    description:
      - The PM2 process name (the C(name) column of C(pm2 list)).
    type: str
    required: true
  state:
    description:
      - V(started) - online after the task (C(pm2 start) when it is not).
      - V(stopped) - not running after the task (C(pm2 stop) when it runs; C(errored) counts as not running).
      - V(restarted) - always C(pm2 restart).
      - V(present) - only report; fails when the process does not exist.
    type: str
    choices: [started, stopped, restarted, present]
    default: present
  pm2_bin:
    description:
      - The C(pm2) executable, a name looked up in C(PATH) or an absolute path.
    type: str
    default: pm2
  pm2_home:
    description:
      - PM2's home directory (C(PM2_HOME)) of the daemon that runs the process.
      - When omitted, C(PM2_HOME) from the environment, else C(~/.pm2) of the user the module runs as
        (use O(ignore:become_user) to reach another user's daemon).
    type: path
  wait_timeout:
    description:
      - Seconds to wait for the wanted status after acting (C(online) and stable for 2 seconds after a
        start or restart, C(stopped) after a stop).
      - V(0) does not wait.
    type: int
    default: 30
attributes:
  check_mode:
    support: full
    details:
      - Reads C(pm2 jlist) for real and reports C(changed) when it would act; runs no command that changes
        anything.
notes:
  - The returned values never include the process environment that C(pm2 jlist) prints (it may hold passwords).
requirements:
  - PM2 and Node.js on the target host.
'''

EXAMPLES = r'''
- name: Stop yieldvault-backend before the restore
  yieldvault.db_restore.pm2_process:
    name: yieldvault-backend
    state: stopped

- name: Start yieldvault-backend after the restore and wait until it stays online
  yieldvault.db_restore.pm2_process:
    name: yieldvault-backend
    state: started
    wait_timeout: 60

- name: Read the state of a process run by the deploy user's PM2 daemon
  yieldvault.db_restore.pm2_process:
    name: yieldvault-backend
    pm2_home: /home/deploy/.pm2
  become: true
  become_user: deploy
  register: backend
'''

RETURN = r'''
name:
  description: The process name.
  returned: always
  type: str
  sample: yieldvault-backend
status:
  description:
    - PM2 status after the task (in check mode - the current status). With several instances their common
      status, or the least healthy one when they differ.
  returned: when the process exists
  type: str
  sample: online
status_before:
  description: PM2 status before the task.
  returned: when the process exists
  type: str
  sample: stopped
operation:
  description:
    - The PM2 command run (or, in check mode, that would run) - V(start), V(stop), V(restart), or null.
    - Not called C(action) because callbacks use that key for the module name.
  returned: when the process exists
  type: str
  sample: start
pid:
  description: OS process id of the first instance; null when it does not run.
  returned: when the process exists
  type: int
  sample: 4242
pm_id:
  description: PM2 id of the first instance.
  returned: when the process exists
  type: int
  sample: 0
restarts:
  description: PM2 restart count, summed over the instances.
  returned: when the process exists
  type: int
  sample: 0
instances:
  description: Number of instances with this name.
  returned: when the process exists
  type: int
  sample: 1
processes:
  description: Every instance - pm_id, pid, status, restarts, uptime_since.
  returned: when the process exists
  type: list
  elements: dict
  sample: [{"pm_id": 0, "pid": 4242, "status": "online", "restarts": 0, "uptime_since": "2026-04-29T14:52:10Z"}]
out_log_path:
  description: Stdout log file of the first instance.
  returned: when the process exists
  type: str
  sample: /root/.pm2/logs/yieldvault-backend-out.log
err_log_path:
  description: Stderr log file of the first instance.
  returned: when the process exists
  type: str
  sample: /root/.pm2/logs/yieldvault-backend-error.log
uptime_since:
  description: When the first instance came online, ISO 8601 UTC; null when it is not online.
  returned: when the process exists
  type: str
  sample: "2026-04-29T14:52:10Z"
err_log_tail:
  description: Last lines of the error log, when a start failed.
  returned: on a failed start
  type: list
  elements: str
'''

import os
import re
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.yieldvault.db_restore.plugins.module_utils import pm2 as pm2_utils

POLL_SECONDS = 0.5
STABLE_SECONDS = 2.0
LOG_LINES = 20
_ANSI = re.compile(r'\x1b\[[0-9;]*m')


class Pm2Runner:
    """Runs the pm2 CLI against one PM2 home."""

    def __init__(self, module, pm2_bin, pm2_home):
        self.module = module
        self.pm2_bin = pm2_bin
        self.pm2_home = pm2_home
        self.environ = {'PM2_HOME': pm2_home} if pm2_home else {}

    def run(self, args):
        return self.module.run_command([self.pm2_bin] + list(args), environ_update=self.environ)

    def daemon_running(self):
        # Any pm2 command spawns a daemon when none runs; the RPC socket tells
        # whether one is there without starting it.
        return os.path.exists(os.path.join(self.pm2_home or pm2_utils.default_pm2_home(), 'rpc.sock'))

    def processes(self):
        if not self.daemon_running():
            return []
        rc, out, err = self.run(['jlist'])
        if rc != 0:
            self.module.fail_json(msg='pm2 jlist failed (exit %s): %s. Check that PM2 works for this user '
                                      '(pm2 list). Nothing was changed.' % (rc, _last_line(err or out)))
        try:
            return pm2_utils.parse_jlist(out)
        except pm2_utils.Pm2OutputError as exc:
            # Never echo stdout: a process list holds environments with passwords.
            self.module.fail_json(msg='Could not read the output of pm2 jlist: %s (stderr: %s). Check that '
                                      '%s is PM2. Nothing was changed.'
                                      % (to_native(exc), _last_line(err) or 'empty', self.pm2_bin))
        return []


def _last_line(text):
    lines = [line for line in _ANSI.sub('', to_native(text or '')).splitlines() if line.strip()]
    return lines[-1].strip() if lines else ''


def resolve_pm2(module, pm2_bin):
    if os.sep in pm2_bin:
        path = pm2_bin if os.access(pm2_bin, os.X_OK) else None
    else:
        path = module.get_bin_path(pm2_bin)
    if not path:
        module.fail_json(msg='PM2 is not installed on this host: %s was not found%s. Install it '
                             '(npm install -g pm2) or set db_restore_pm2_bin to its path. '
                             'Nothing was changed.' % (pm2_bin, '' if os.sep in pm2_bin else ' in PATH'))
    return path


def error_log_tail(runner, name, instances):
    """Last lines of the instances' error logs, read from the files PM2 names, else via pm2 logs."""
    lines = []
    paths = []
    for instance in instances:
        path = instance.get('err_log_path')
        if path and path not in paths:
            paths.append(path)
    for path in paths:
        try:
            lines.extend(pm2_utils.tail_lines(path, LOG_LINES))
        except (IOError, OSError):
            continue
    if not lines:
        rc, out, _err = runner.run(['logs', name, '--nostream', '--lines', str(LOG_LINES), '--raw', '--err'])
        if rc == 0:
            lines = [line for line in _ANSI.sub('', to_native(out)).splitlines()
                     if line.strip() and not line.startswith('[TAILING]') and not line.endswith('lines:')]
    return lines[-LOG_LINES:]


def fail_start(module, runner, name, instances, reason, result):
    tail = error_log_tail(runner, name, instances)
    info = pm2_utils.report(instances) if instances else {'status': 'missing', 'restarts': 0}
    log_text = '\n'.join(tail) if tail else '(empty or unreadable: %s)' % (info.get('err_log_path') or 'no path')
    result.update(info)
    module.fail_json(msg='PM2 process %s did not start: %s (status %s, %s restarts). Read its logs '
                         '(pm2 logs %s) and fix the cause, then start it with pm2 start %s. '
                         'Last %d lines of its error log:\n%s'
                         % (name, reason, info['status'], info['restarts'], name, name, LOG_LINES, log_text),
                     err_log_tail=tail, **result)


def wait_started(module, runner, name, baseline, deadline, result):
    online_since = None
    instances = []
    while True:
        instances = pm2_utils.find_instances(runner.processes(), name)
        verdict, detail = pm2_utils.evaluate_start(instances, baseline)
        if verdict == 'failed':
            fail_start(module, runner, name, instances, detail, result)
        now = time.monotonic()
        if verdict == 'online':
            online_since = online_since if online_since is not None else now
            # PM2 calls a process online as soon as it is forked; one that
            # crashes right after must not count as started.
            if now - online_since >= STABLE_SECONDS:
                return instances
        else:
            online_since = None
        if now >= deadline:
            if verdict == 'online':
                return instances
            fail_start(module, runner, name, instances, 'not online after %s seconds (%s)'
                       % (module.params['wait_timeout'], detail), result)
        time.sleep(POLL_SECONDS)


def wait_stopped(module, runner, name, deadline, result):
    while True:
        instances = pm2_utils.find_instances(runner.processes(), name)
        verdict, detail = pm2_utils.evaluate_stop(instances)
        if verdict == 'stopped' or not instances:
            return instances
        if time.monotonic() >= deadline:
            result.update(pm2_utils.report(instances))
            module.fail_json(msg='PM2 process %s is still running %s seconds after pm2 stop (%s). Stop it by hand '
                                 '(pm2 stop %s; pm2 delete as a last resort) and run again.'
                                 % (name, module.params['wait_timeout'], detail, name), **result)
        time.sleep(POLL_SECONDS)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            state=dict(type='str', default='present', choices=list(pm2_utils.STATES)),
            pm2_bin=dict(type='str', default='pm2'),
            pm2_home=dict(type='path'),
            wait_timeout=dict(type='int', default=30),
        ),
        supports_check_mode=True,
    )
    name = module.params['name']
    state = module.params['state']
    result = dict(changed=False, name=name)

    runner = Pm2Runner(module, resolve_pm2(module, module.params['pm2_bin']), module.params['pm2_home'])
    processes = runner.processes()
    instances = pm2_utils.find_instances(processes, name)
    if not instances:
        module.fail_json(msg=pm2_utils.missing_message(name, pm2_utils.process_names(processes),
                                                       module.params['pm2_home']), **result)

    before = pm2_utils.report(instances)
    action = pm2_utils.plan(state, instances)
    result.update(before)
    result.update(status_before=before['status'], operation=action, changed=action is not None)
    if action is None or module.check_mode:
        module.exit_json(**result)

    baseline = dict((i['pm_id'], i['restarts']) for i in instances)
    # By pm_id, not name: a name that is all digits or "all" means something
    # else to the pm2 CLI, and every instance must be acted on.
    rc, out, err = runner.run([action] + [str(i['pm_id']) for i in instances])
    if rc != 0:
        module.fail_json(msg='pm2 %s %s failed (exit %s): %s. Check pm2 list and the PM2 daemon log '
                             '(pm2.log in PM2_HOME).' % (action, name, rc, _last_line(err or out)), **result)

    deadline = time.monotonic() + max(0, module.params['wait_timeout'])
    if module.params['wait_timeout'] <= 0:
        after = pm2_utils.find_instances(runner.processes(), name)
    elif action == 'stop':
        after = wait_stopped(module, runner, name, deadline, result)
    else:
        after = wait_started(module, runner, name, baseline, deadline, result)
    if after:
        result.update(pm2_utils.report(after))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
