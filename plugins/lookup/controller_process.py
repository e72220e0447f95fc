# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: controller_process
short_description: The ansible-playbook process running this play, on the controller
description:
  - Returns one dict, C({host, pid}), naming the controller machine and the process id of the ansible-playbook
    process that runs the play (not the short-lived worker that evaluates the lookup).
  - On Linux it also holds what tells that process apart from a later one with the same pid, C(started) (clock
    ticks since boot), C(boot_id) and C(pid_ns) (its PID namespace), so a pid taken again, a reboot, or a controller in
    a container is not mistaken for the run.
  - The restore lock records it, so a later run on the same machine can tell that the run holding a lock has
    ended (interrupted with Ctrl-C or killed) instead of guessing from the lock's age.
version_added: 0.2.0
author:
  - YieldVault platform team
'''

EXAMPLES = r'''
- name: Take the restore lock, naming the controller process
  yieldvault.db_restore.restore_lock:
    path: /var/backups/postgresql/yieldvault_prod.restore.lock
    run_id: "{{ __db_restore_run_id }}"
    controller: "{{ lookup('yieldvault.db_restore.controller_process') }}"
'''

RETURN = r'''
_raw:
  description: One dict per call, C({host, pid}), with C(started), C(boot_id) and C(pid_ns) where they can be read.
  type: list
  elements: dict
'''

import multiprocessing
import os
import socket

from ansible.plugins.lookup import LookupBase
from ansible_collections.yieldvault.db_restore.plugins.module_utils.run_holder import process_identity


def controller_process():
    """{host, pid, started, boot_id, pid_ns} of the ansible-playbook process: tasks are templated in worker processes
    forked from it."""
    parent = multiprocessing.parent_process()
    pid = parent.pid if parent is not None and parent.pid else os.getpid()
    return dict(process_identity(pid), host=socket.gethostname(), pid=pid)


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        return [controller_process()]
