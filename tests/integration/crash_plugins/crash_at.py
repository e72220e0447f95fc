# -*- coding: utf-8 -*-
# Test-only callback: kill -9 the whole ansible-playbook process group at a chosen point, as a lost controller,
# the OOM killer or a reboot would. Enabled by tests/integration/test_crash.py through the environment:
#   YV_CRASH_AT_TASK / YV_CRASH_AT_NTH: SIGKILL the run's process group when the NTH task of that name starts
#     (every task before it has finished: "killed after" the one before);
#   YV_CRASH_WHEN_FILE: SIGKILL as soon as this file exists (a wrapped tool creates it half-way through its work);
#   YV_CRASH_TASK_LOG: append each task started and each changed result, one JSON line each (the sweep's map);
#   YV_HOOK_AT_TASK / YV_HOOK_COMMAND: run the shell command (as the controller's user, and wait for it) when the
#     task of that name starts: something another run or an operator does between two steps of this one.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = '''
name: crash_at
type: aggregate
short_description: kill -9 the run at a chosen task (tests only)
description: Kills the ansible-playbook process group at a task named in the environment.
'''

import json
import os
import signal
import subprocess
import threading
import time

from ansible.plugins.callback import CallbackBase


def _kill():
    os.killpg(os.getpgrp(), signal.SIGKILL)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'crash_at'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self.target = os.environ.get('YV_CRASH_AT_TASK', '')
        self.nth = int(os.environ.get('YV_CRASH_AT_NTH', '1') or 1)
        self.seen = 0
        self.log = os.environ.get('YV_CRASH_TASK_LOG', '')
        self.hook_at = os.environ.get('YV_HOOK_AT_TASK', '')
        self.hook = os.environ.get('YV_HOOK_COMMAND', '')
        when_file = os.environ.get('YV_CRASH_WHEN_FILE', '')
        if when_file:
            threading.Thread(target=self._watch, args=(when_file,), daemon=True).start()

    @staticmethod
    def _watch(path):
        while not os.path.exists(path):
            time.sleep(0.05)
        _kill()

    def _write(self, **entry):
        if self.log:
            with open(self.log, 'a') as handle:
                handle.write(json.dumps(entry) + '\n')

    def v2_playbook_on_task_start(self, task, is_conditional):
        name = task.name or task.get_name()
        self._write(event='start', task=name)
        if self.hook_at and name == self.hook_at and self.hook:
            subprocess.run(self.hook, shell=True, check=True)
        if self.target and name == self.target:
            self.seen += 1
            if self.seen == self.nth:
                _kill()

    def v2_runner_on_ok(self, result):
        if result._result.get('changed'):
            self._write(event='changed', task=result._task.name or result._task.get_name())
