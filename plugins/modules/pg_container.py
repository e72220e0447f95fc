#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: pg_container
short_description: Check, stop, start or restart the Docker container PostgreSQL runs in
description:
  - For C(db_restore_pg_restart=docker), where the db server's PostgreSQL runs in a Docker container on the db
    server and pgBackRest runs on the host against the same files.
  - C(state=checked) refuses, changing nothing, a container that does not exist, a host path that the container
    does not see at the same path (the data directory, the socket directory, pgBackRest's configuration directory,
    log directory and posix repository must be bind mounts at identical paths, since the server runs pgBackRest's
    C(archive_command) and C(restore_command) with the host's configuration) and a command missing inside it.
  - C(state=stopped) stops the server with a fast shutdown (SIGINT to the container's main process, which is
    PostgreSQL in the official images, so sessions are ended and the server writes a clean checkpoint) and waits
    until the container has exited. With a stop signal SIGINT (the official images) it is C(docker stop), so that a
    restart policy does not start it again; a container that would restart itself after a clean exit and stops with
    SIGTERM gets C(docker stop --signal SIGINT) (Docker 23 and later), any other C(docker kill --signal INT). A
    container still running after C(timeout) fails the task (C(docker stop) then ends it as Docker does).
  - C(state=started) starts it, and with C(data_dir) waits until its C(postmaster.pid) says it accepts connections.
    C(state=restarted) is a stop, then a start.
  - Check mode says what would be done.
version_added: 0.2.0
author:
  - YieldVault platform team
options:
  name:
    description: The container's name or ID.
    type: str
    required: true
  state:
    description: What to do.
    type: str
    choices: [checked, stopped, started, restarted]
    default: checked
  socket_dir:
    description: The server's socket directory, which pgBackRest on the host connects through; empty is not checked.
    type: str
    default: ''
  pgbackrest_config:
    description: pgBackRest's configuration file; its directory must be seen at the same path, for C(state=checked).
    type: str
    default: ''
  pgbackrest_log_path:
    description: pgBackRest's log directory, for C(state=checked).
    type: str
    default: ''
  pgbackrest_repo_type:
    description: pgBackRest's repository type; a C(posix) repository must be seen at the same path.
    type: str
    choices: [posix, s3]
    default: posix
  pgbackrest_repo_path:
    description: The C(posix) repository, for C(state=checked).
    type: str
    default: ''
  commands:
    description: Commands that must be found on the container's PATH, for C(state=checked) on a running container.
    type: list
    elements: str
    default: [pgbackrest]
  data_dir:
    description:
      - The data directory (the same path on the host and in the container). With C(state=started) or
        C(restarted) the module waits until the server's C(postmaster.pid) there says C(ready); empty does not
        wait (a server starting a recovery is ready only once promoted).
    type: str
    default: ''
  timeout:
    description: Seconds to wait for the stop, and again for the start.
    type: int
    default: 300
  docker:
    description: The docker command.
    type: str
    default: docker
'''

EXAMPLES = r'''
- name: Restart PostgreSQL's container so that archive_mode takes effect
  yieldvault.db_restore.pg_container:
    name: postgres
    state: restarted
    data_dir: /var/lib/postgresql/15/main
'''

RETURN = r'''
running:
  description: Whether the container runs once the module is done (or would, in check mode).
  returned: always
  type: bool
mounts:
  description: The container's mounts, as C({source, destination}).
  returned: always
  type: list
'''

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule

POLL = 0.5


def covered(path, mounts):
    """Whether a host path is seen at the same path in the container: it is, or lies under, a mount whose source
    and destination are the same directory."""
    path = os.path.normpath(path)
    for mount in mounts:
        source, destination = os.path.normpath(mount['source']), os.path.normpath(mount['destination'])
        if source != destination:
            continue
        if path == source or path.startswith(source.rstrip('/') + '/'):
            return True
    return False


def shared_paths(params):
    """The host paths the server in the container must see at the same path: the data directory, the socket
    directory, pgBackRest's configuration directory, log directory and posix repository (the ones set)."""
    paths = [params['data_dir'], params['socket_dir'], params['pgbackrest_log_path']]
    if params['pgbackrest_config']:
        paths.append(os.path.dirname(params['pgbackrest_config']))
    if params['pgbackrest_repo_type'] == 'posix':
        paths.append(params['pgbackrest_repo_path'])
    return [p for p in paths if p]


def missing_paths(paths, mounts):
    return [p for p in paths if p and not covered(p, mounts)]


def postmaster_ready(data_dir, since):
    """Whether data_dir's postmaster.pid was written by a server started at or after `since` (epoch) and says it
    accepts connections (its eighth line, PostgreSQL 10 and later): ready, or standby while a recovery replays
    (what pg_ctl -w waits for)."""
    try:
        with open(os.path.join(data_dir, 'postmaster.pid')) as handle:
            lines = handle.read().splitlines()
    except OSError:
        return False
    if len(lines) < 8:
        return False
    try:
        started = int(lines[2].strip())
    except ValueError:
        return False
    return started >= int(since) - 1 and lines[7].strip() in ('ready', 'standby')


class Container(object):
    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.docker = module.get_bin_path(self.p['docker'], required=False) or self.p['docker']

    def run(self, args, check=True):
        rc, out, err = self.module.run_command([self.docker] + args)
        if check and rc != 0:
            self.module.fail_json(msg='docker %s failed (exit code %d): %s' % (
                ' '.join(args[:2]), rc, (err or out).strip()[-800:]), rc=rc)
        return rc, out, err

    def inspect(self):
        rc, out, err = self.module.run_command([self.docker, 'inspect', '--type', 'container', self.p['name']])
        if rc != 0:
            text = (err or out).strip()
            if 'No such' in text or 'no such' in text:
                return None
            self.module.fail_json(msg='docker inspect %s failed (exit code %d): %s. Is the Docker daemon running on '
                                      'the db server, and may this user use it?' % (self.p['name'], rc, text[-600:]))
        return json.loads(out)[0]

    def wait(self, condition, what, while_running=False):
        deadline = time.time() + self.p['timeout']
        while time.time() < deadline:
            if condition():
                return
            if while_running and not self.running():
                self.module.fail_json(msg='The container %s exited while PostgreSQL started. Look at `docker logs '
                                          '%s`.' % (self.p['name'], self.p['name']), running=False)
            time.sleep(POLL)
        self.module.fail_json(msg='The container %s did not %s within %d s (db_restore_pg_container). Look at '
                                  '`docker logs %s`.' % (self.p['name'], what, self.p['timeout'], self.p['name']))

    def running(self):
        info = self.inspect()
        return bool(info and info['State']['Running'])


FAST_SHUTDOWN = ('SIGINT', 'INT', '2')
RESTARTS_AFTER_EXIT_0 = ('always', 'unless-stopped')


def stop_plan(info, timeout):
    """How to stop the container with PostgreSQL's fast shutdown (SIGINT), as (docker arguments, how).

    - Its stop signal is SIGINT (the official postgres images): docker stop, which Docker counts as a stop by hand,
      so that no restart policy starts it again.
    - Otherwise, when no restart policy would start it again after a clean exit: docker kill --signal INT, then a
      wait for the exit (docker stop would send SIGTERM, a smart shutdown that waits for every session).
    - Otherwise (SIGTERM and a policy always or unless-stopped, which would restart it under the restore): docker
      stop --signal SIGINT (Docker 23 and later).
    """
    signal = str((info.get('Config') or {}).get('StopSignal') or 'SIGTERM').upper()
    policy = (((info.get('HostConfig') or {}).get('RestartPolicy') or {}).get('Name') or 'no').lower()
    name = info.get('Name', '').lstrip('/') or info.get('Id', '')
    if signal in FAST_SHUTDOWN:
        return ['stop', '--time', str(timeout), name], 'stop'
    if policy not in RESTARTS_AFTER_EXIT_0:
        return ['kill', '--signal', 'INT', name], 'kill'
    return ['stop', '--signal', 'SIGINT', '--time', str(timeout), name], 'stop'


def mounts_of(info):
    return [dict(source=m.get('Source', ''), destination=m.get('Destination', '')) for m in info.get('Mounts') or []]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            state=dict(type='str', default='checked', choices=['checked', 'stopped', 'started', 'restarted']),
            socket_dir=dict(type='str', default=''),
            pgbackrest_config=dict(type='str', default=''),
            pgbackrest_log_path=dict(type='str', default=''),
            pgbackrest_repo_type=dict(type='str', default='posix', choices=['posix', 's3']),
            pgbackrest_repo_path=dict(type='str', default=''),
            commands=dict(type='list', elements='str', default=['pgbackrest']),
            data_dir=dict(type='str', default=''),
            timeout=dict(type='int', default=300),
            docker=dict(type='str', default='docker'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if not module.get_bin_path(p['docker'], required=False):
        module.fail_json(msg='The docker command (%s) is not on the db server, and db_restore_pg_restart is docker. '
                             'Install the Docker CLI there, or set db_restore_pg_restart to how this PostgreSQL is '
                             'restarted (pg_ctl, systemd). Nothing was changed.' % p['docker'])
    box = Container(module)
    info = box.inspect()
    if info is None:
        module.fail_json(msg='There is no container %s on this db server (db_restore_pg_container). Set it to the '
                             'name of the container PostgreSQL runs in (`docker ps`). Nothing was changed.' % p['name'])
    running = bool(info['State']['Running'])
    mounts = mounts_of(info)
    result = dict(changed=False, running=running, mounts=mounts)

    if p['state'] == 'checked':
        missing = missing_paths(shared_paths(p), mounts)
        if missing:
            module.fail_json(msg='The container %s does not see %s at the same path: PostgreSQL runs pgBackRest in '
                                 'the container with the host\'s configuration, repository and logs, and pgBackRest '
                                 'reads the data and socket directories on the host. Run the container with a bind '
                                 'mount of each at its own path (%s). Nothing was changed.' % (
                                     p['name'], ', '.join(missing),
                                     ' '.join('-v %s:%s' % (m, m) for m in missing)), **result)
        if running:
            absent = []
            for command in p['commands']:
                rc, _, _ = module.run_command([box.docker, 'exec', p['name'], 'sh', '-c', 'command -v "$0"', command])
                if rc != 0:
                    absent.append(command)
            if absent:
                module.fail_json(msg='%s is not installed in the container %s: PostgreSQL runs it there '
                                     '(archive_command, restore_command). Use an image with it, at the version of '
                                     'the host\'s. Nothing was changed.' % (', '.join(absent), p['name']), **result)
        module.exit_json(**result)

    if module.check_mode:
        result.update(changed=p['state'] != ('started' if running else 'stopped'),
                      running=p['state'] != 'stopped')
        module.exit_json(**result)

    if p['state'] in ('stopped', 'restarted') and running:
        args, how = stop_plan(info, p['timeout'])
        rc, out, err = box.run(args, check=False)
        if rc != 0 and box.running():
            hint = (' The container restarts itself (restart policy %s) and stops with SIGTERM, a shutdown that '
                    'waits for every session: run it with --stop-signal SIGINT, or use Docker 23 or later.'
                    % info['HostConfig']['RestartPolicy']['Name']) if '--signal' in args and how == 'stop' else ''
            module.fail_json(msg='docker %s %s failed (exit code %d): %s.%s PostgreSQL still runs; nothing else was '
                                 'changed.' % (args[0], p['name'], rc, (err or out).strip()[-600:], hint), **result)
        box.wait(lambda: not box.running(), 'stop')
        result.update(changed=True, running=False)
    if p['state'] in ('started', 'restarted') and not result['running']:
        since = time.time()
        box.run(['start', p['name']])
        result.update(changed=True, running=True)
        if p['data_dir']:
            box.wait(lambda: postmaster_ready(p['data_dir'], since), 'accept connections', while_running=True)
        elif not box.running():
            module.fail_json(msg='The container %s exited right after it started. Look at `docker logs %s`.' % (
                p['name'], p['name']), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
