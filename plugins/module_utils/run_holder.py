# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether the ansible-playbook that holds a lock still runs: one answer for the work directory's lock file
(restore_lock) and the server's lock row (server_lock)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import socket


def process_running(pid, proc='/proc'):
    """True when pid is an ansible-playbook process, False when it has ended, None when it cannot be told."""
    try:
        os.kill(pid, 0)
    except OSError as exc:
        if exc.errno == errno.ESRCH:
            return False
        if exc.errno != errno.EPERM:
            return None
    try:
        with open(os.path.join(proc, str(pid), 'cmdline'), 'rb') as handle:
            cmdline = handle.read()
    except (IOError, OSError):
        return True  # no /proc here: the pid exists, assume it is still the run
    # A pid taken again by an unrelated process means the run has ended.
    return b'ansible-playbook' in cmdline


def controller_running(controller, hostname=None):
    """Whether the controller process ({host, pid}) still runs; None when this host cannot tell (another host)."""
    if not isinstance(controller, dict) or not controller.get('pid'):
        return None
    if controller.get('host') != (hostname or socket.gethostname()):
        return None
    try:
        return process_running(int(controller['pid']))
    except (TypeError, ValueError):
        return None
