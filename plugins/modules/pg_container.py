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
  - C(state=checked) refuses, changing nothing, a container that does not exist; one that cannot be stopped and
    started safely around a restore (restart policy C(always), which the Docker daemon honours on its own restart
    even after a stop by hand; C(--rm); a SIGTERM stop signal with C(unless-stopped) on a Docker Engine older than
    23); a host path that the container does not see at the same path (the data directory, the socket directory,
    pgBackRest's configuration directory, log directory and posix repository, where the innermost mount must be a
    bind mount of the same directory, since the server runs pgBackRest's C(archive_command) and C(restore_command)
    with the host's configuration); and, while it runs, pgBackRest missing in it or PostgreSQL not its main
    process.
  - C(state=stopped) stops the server with a fast shutdown (SIGINT to PostgreSQL, so sessions are ended and it
    writes a clean checkpoint) and waits until the container has exited. With a stop signal SIGINT (the official
    images) it is C(docker stop), a stop by hand that no restart policy undoes; a container that would restart
    itself after a clean exit and stops with SIGTERM gets C(docker stop --signal SIGINT), any other
    C(docker kill --signal INT). C(docker stop) kills a server still running after C(timeout) (a crash, from which
    PostgreSQL recovers; the result warns). The C(postmaster.pid) its last run left (naming the container's pid 1,
    which is init on the host) is removed once the container has exited, and only that file.
  - C(state=started) starts it and, with C(data_dir), waits until its C(postmaster.pid) says it accepts connections;
    a container already running is restarted, as C(pg_ctl restart) does, so that the server runs on the data
    directory as it is now. C(state=restarted) is a stop, then a start.
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

import calendar
import json
import os
import re
import time

from ansible.module_utils.basic import AnsibleModule

POLL = 0.5
FAST_SHUTDOWN = ('SIGINT', 'INT', '2')
RESTARTS_AFTER_EXIT_0 = ('always', 'unless-stopped')
# docker stop --signal: Docker Engine 23 (API 1.42) and later.
STOP_SIGNAL_API = (1, 42)


def covered(path, mounts):
    """Whether a host path is seen at the same path in the container: the innermost mount holding it (the one with
    the longest destination, which hides the others there) has the same source and destination."""
    path = os.path.normpath(path)
    best = None
    for mount in mounts:
        destination = os.path.normpath(mount['destination'])
        if path == destination or path.startswith(destination.rstrip('/') + '/'):
            if best is None or len(destination) > len(os.path.normpath(best['destination'])):
                best = mount
    return best is not None and os.path.normpath(best['source']) == os.path.normpath(best['destination'])


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


def pid_file(data_dir):
    """postmaster.pid's lines, or None."""
    try:
        with open(os.path.join(data_dir, 'postmaster.pid')) as handle:
            return handle.read().splitlines()
    except OSError:
        return None


def postmaster_ready(data_dir, since):
    """Whether data_dir's postmaster.pid was written by a server started at or after `since` (epoch) and says it
    accepts connections (its eighth line, PostgreSQL 10 and later): ready, or standby while a recovery replays
    (what pg_ctl -w waits for)."""
    lines = pid_file(data_dir)
    if not lines or len(lines) < 8:
        return False
    try:
        started = int(lines[2].strip())
    except ValueError:
        return False
    return started >= int(since) - 1 and lines[7].strip() in ('ready', 'standby')


def docker_time(text):
    """Docker's RFC 3339 time (nanoseconds, Z) as epoch seconds; None for the zero time or garbage."""
    match = re.match(r'^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)', text or '')
    if not match or match.group(1) == '0001':
        return None
    return calendar.timegm(tuple(int(g) for g in match.groups()) + (0, 0, 0))


def stale_pid_file(lines, state):
    """Whether postmaster.pid (lines) was left by PostgreSQL as the main process (pid 1) of this container's last
    run, now that the container has exited: its start time falls within that run. Such a file names pid 1 of the
    container, which on the host is init, and would read as a server still running. Any other file is kept."""
    if state.get('Running') or state.get('Restarting') or not lines or len(lines) < 3:
        return False
    try:
        pid, started = int(lines[0].strip()), int(lines[2].strip())
    except ValueError:
        return False
    began, ended = docker_time(state.get('StartedAt')), docker_time(state.get('FinishedAt'))
    return pid == 1 and began is not None and ended is not None and began - 2 <= started <= ended + 2


def api_version(text):
    match = re.match(r'^\s*(\d+)\.(\d+)', text or '')
    return (int(match.group(1)), int(match.group(2))) if match else None


def stop_plan(info, timeout):
    """How to stop the container with PostgreSQL's fast shutdown (SIGINT), as (docker arguments, how).

    - Its stop signal is SIGINT (the official postgres images), or it is restarting: docker stop, which Docker
      counts as a stop by hand, so that no restart policy starts it again.
    - Otherwise, when no restart policy would start it again after a clean exit: docker kill --signal INT, then a
      wait for the exit (docker stop would send SIGTERM, a smart shutdown that waits for every session).
    - Otherwise (SIGTERM and the policy unless-stopped): docker stop --signal SIGINT (Docker 23 and later).
    docker stop ends a container still running after its timeout with SIGKILL (a crash; PostgreSQL recovers).
    """
    signal = str((info.get('Config') or {}).get('StopSignal') or 'SIGTERM').upper()
    name = info.get('Name', '').lstrip('/') or info.get('Id', '')
    if signal in FAST_SHUTDOWN or (info.get('State') or {}).get('Restarting'):
        return ['stop', '--time', str(timeout), name], 'stop'
    if restart_policy(info) not in RESTARTS_AFTER_EXIT_0:
        return ['kill', '--signal', 'INT', name], 'kill'
    return ['stop', '--signal', 'SIGINT', '--time', str(timeout), name], 'stop'


def restart_policy(info):
    return (((info.get('HostConfig') or {}).get('RestartPolicy') or {}).get('Name') or 'no').lower()


def container_problems(info, server_api):
    """Why this container cannot be stopped and started around a restore safely, as operator messages."""
    name = info.get('Name', '').lstrip('/')
    problems = []
    if restart_policy(info) == 'always':
        problems.append('its restart policy is always, which starts it again when the Docker daemon restarts, even '
                        'after a stop by hand: PostgreSQL could start on a data directory being replaced. Use '
                        'unless-stopped (docker update --restart unless-stopped %s)' % name)
    if (info.get('HostConfig') or {}).get('AutoRemove'):
        problems.append('it was run with --rm, so a stop removes it and nothing could start it again; run it without '
                        '--rm')
    args, _ = stop_plan(info, 1)
    if args[0] == 'stop' and '--signal' in args and (server_api is None or server_api < STOP_SIGNAL_API):
        problems.append('it stops with SIGTERM (a shutdown that waits for every session) and restarts itself, and '
                        'this Docker Engine (API %s) cannot stop it with another signal: run it with --stop-signal '
                        'SIGINT, as the official postgres images do' % ('.'.join(map(str, server_api))
                                                                      if server_api else 'unknown'))
    return problems


def mounts_of(info):
    return [dict(source=m.get('Source', ''), destination=m.get('Destination', '')) for m in info.get('Mounts') or []]


def is_up(info):
    state = (info or {}).get('State') or {}
    return bool(state.get('Running') or state.get('Restarting'))


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

    def server_api(self):
        rc, out, _ = self.module.run_command([self.docker, 'version', '--format', '{{.Server.APIVersion}}'])
        return api_version(out) if rc == 0 else None

    def wait(self, condition, what, while_running=False):
        deadline = time.time() + self.p['timeout']
        while time.time() < deadline:
            if condition():
                return
            if while_running:
                state = (self.inspect() or {}).get('State') or {}
                if not state.get('Running') or state.get('Restarting'):
                    self.module.fail_json(msg='The container %s exited while PostgreSQL started. Look at `docker '
                                              'logs %s`.' % (self.p['name'], self.p['name']), running=False)
            time.sleep(POLL)
        self.module.fail_json(msg='The container %s did not %s within %d s (db_restore_pg_container). Look at '
                                  '`docker logs %s`.' % (self.p['name'], what, self.p['timeout'], self.p['name']))

    def stop(self, info, result):
        args, _ = stop_plan(info, self.p['timeout'])
        rc, out, err = self.run(args, check=False)
        if rc != 0 and is_up(self.inspect()):
            self.module.fail_json(msg='docker %s %s failed (exit code %d): %s. PostgreSQL still runs; nothing else '
                                      'was changed.' % (args[0], self.p['name'], rc, (err or out).strip()[-600:]),
                                  **result)
        self.wait(lambda: not is_up(self.inspect()), 'stop')
        state = self.inspect()['State']
        result.update(changed=True, running=False, exit_code=state.get('ExitCode'))
        if state.get('ExitCode') == 137 or state.get('OOMKilled'):
            result.setdefault('warnings', []).append(
                'PostgreSQL in %s was killed (exit code %s), not shut down: it recovers from its WAL when it starts.'
                % (self.p['name'], state.get('ExitCode')))
        self.remove_stale_pid_file(state, result)

    def remove_stale_pid_file(self, state, result):
        """The postmaster.pid the container's PostgreSQL (its pid 1) left in its last run, once it has exited: on
        the host pid 1 is init, and the file would read as a server still running on the data directory."""
        if self.p['data_dir'] and stale_pid_file(pid_file(self.p['data_dir']), state):
            os.unlink(os.path.join(self.p['data_dir'], 'postmaster.pid'))
            result.update(changed=True, removed_stale_pid_file=True)

    def start(self, result):
        since = time.time()
        self.run(['start', self.p['name']])
        result.update(changed=True, running=True)
        if self.p['data_dir']:
            self.wait(lambda: postmaster_ready(self.p['data_dir'], since), 'accept connections', while_running=True)
        elif not is_up(self.inspect()):
            self.module.fail_json(msg='The container %s exited right after it started. Look at `docker logs %s`.'
                                      % (self.p['name'], self.p['name']), **result)


def check(module, box, info, result):
    p = module.params
    problems = container_problems(info, box.server_api())
    missing = missing_paths(shared_paths(p), result['mounts'])
    if missing:
        problems.append('it does not see %s at the same path (the innermost mount there must be a bind mount of the '
                        'same directory): PostgreSQL runs pgBackRest in the container with the host\'s '
                        'configuration, repository and logs, and pgBackRest reads the data and socket directories on '
                        'the host. Run it with %s' % (', '.join(missing), ' '.join('-v %s:%s' % (m, m) for m in missing)))
    if result['running']:
        absent = [c for c in p['commands']
                  if module.run_command([box.docker, 'exec', p['name'], 'sh', '-c', 'command -v "$0"', c])[0] != 0]
        if absent:
            problems.append('%s is not installed in it, and PostgreSQL runs it there (archive_command, '
                            'restore_command): use an image with it, at the host\'s version' % ', '.join(absent))
        lines = pid_file(p['data_dir']) if p['data_dir'] else None
        if lines and lines[0].strip() != '1':
            problems.append('PostgreSQL is not its main process (postmaster.pid names pid %s, not 1: an init, a '
                            'shell or a supervisor runs first), so a stop would not reach it as a fast shutdown: '
                            'run postgres as the container\'s command (exec it), as the official images do'
                            % lines[0].strip())
    if problems:
        module.fail_json(msg='The container %s (db_restore_pg_container) cannot be used: %s. Nothing was changed.'
                             % (p['name'], '; '.join(problems)), **result)
    module.exit_json(**result)


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
                             'name of the container PostgreSQL runs in (`docker ps -a`), or create it again as it was '
                             'if it was removed.%s' % (p['name'], ' Nothing was changed.' if p['state'] == 'checked'
                                                       else ''))
    running = is_up(info)
    result = dict(changed=False, running=running, mounts=mounts_of(info))

    if p['state'] == 'checked':
        check(module, box, info, result)

    if module.check_mode:
        # A start on a running container is a restart: changed either way, except a stop of a stopped one.
        result.update(changed=running or p['state'] != 'stopped', running=p['state'] != 'stopped')
        module.exit_json(**result)

    # started on a running container is a restart, as pg_ctl restart: the server then runs on the data directory
    # as it is now, whatever started it in between.
    if running and p['state'] in ('stopped', 'restarted', 'started'):
        box.stop(info, result)
    else:  # stopped already, by a crash or a kill
        box.remove_stale_pid_file(info['State'], result)
    if p['state'] in ('started', 'restarted'):
        box.start(result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
