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


def _read(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except (IOError, OSError):
        return ''


def start_ticks(pid, proc='/proc'):
    """When the process started, in clock ticks since boot (/proc/<pid>/stat, field 22), or None."""
    stat = _read(os.path.join(proc, str(pid), 'stat'))
    try:
        return int(stat.rsplit(')', 1)[1].split()[19])  # after the command name, which may hold spaces
    except (IndexError, ValueError):
        return None


def pid_namespace(pid='self', proc='/proc'):
    """The PID namespace of a process ('pid:[4026531836]'), or '' when it cannot be read."""
    try:
        return os.readlink(os.path.join(proc, str(pid), 'ns', 'pid'))
    except (IOError, OSError):
        return ''


def boot_id(proc='/proc'):
    """This boot of the host ('' when it cannot be read)."""
    return _read(os.path.join(proc, 'sys/kernel/random/boot_id'))


# The fields of process_identity, which a lock or journal keeps beside the controller's host and pid.
IDENTITY_KEYS = ('started', 'boot_id', 'pid_ns')


def process_identity(pid, proc='/proc'):
    """What tells this process apart from a later one with the same pid: its start time, the boot it started in and
    its PID namespace. Only what this host can read (none of it off Linux)."""
    identity = dict(started=start_ticks(pid, proc), boot_id=boot_id(proc), pid_ns=pid_namespace(pid, proc))
    return dict((key, identity[key]) for key in IDENTITY_KEYS if identity[key])


def controller_running(controller, hostname=None, proc='/proc'):
    """Whether the controller process ({host, pid}, and process_identity's fields when the controller could read
    them) still runs; None when this host cannot tell: another host, or another PID namespace on it (a controller
    in a container), where the pid names another process."""
    if not isinstance(controller, dict) or not controller.get('pid'):
        return None
    if controller.get('host') != (hostname or socket.gethostname()):
        return None
    try:
        pid = int(controller['pid'])
    except (TypeError, ValueError):
        return None
    here_ns, here_boot = pid_namespace('self', proc), boot_id(proc)
    if controller.get('pid_ns') and here_ns and controller['pid_ns'] != here_ns:
        return None
    if controller.get('boot_id') and here_boot and controller['boot_id'] != here_boot:
        return False  # the host has rebooted since: that process is gone
    running = process_running(pid, proc)
    try:
        started = int(controller.get('started') or 0)
    except (TypeError, ValueError):
        started = 0  # unreadable: the pid alone, as for a record without it
    if running and started and start_ticks(pid, proc) not in (None, started):
        return False  # the pid was taken again by another ansible-playbook
    return running
