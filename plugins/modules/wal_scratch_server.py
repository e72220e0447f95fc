#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: wal_scratch_server
short_description: A temporary PostgreSQL server holding one database restored from the WAL archive to a second
description:
  - With O(state=present), restores the pgBackRest stanza into a scratch data directory with C(--db-include) (only
    the database is usable), C(--type=time), the point as target and C(--target-action=promote), then starts a
    temporary server on a free loopback port, with its own socket directory and C(archive_mode=off) (it must never
    push WAL of its new timeline into the production archive), and waits until recovery has promoted it.
  - With O(state=absent), stops that server and removes the scratch directory; safe to call on every exit path.
  - Check mode changes nothing and returns what it would do.
version_added: 0.3.0
author:
  - YieldVault platform team
extends_documentation_fragment:
  - yieldvault.db_restore.pgbackrest
options:
  state:
    description: V(present) restores and starts; V(absent) stops and removes.
    type: str
    choices: [present, absent]
    default: present
  scratch_dir:
    description:
      - Directory for the scratch data directory, socket and log; removed by O(state=absent).
      - Its socket, C(<scratch_dir>/run/.s.PGSQL.<port>), must fit the 107 bytes of a Unix socket path; a longer one
        is refused before anything.
    type: path
    required: true
  point:
    description:
      - The restore point, ISO 8601 (no zone means UTC), or V(latest) - the end of the archive. Required with
        O(state=present).
    type: str
  database:
    description: The one database restored (C(--db-include)). Required with O(state=present).
    type: str
  stanza:
    description: The pgBackRest stanza.
    type: str
  pg_bin_dir:
    description: Directory of pg_ctl; empty uses PATH.
    type: str
    default: ''
  login_user:
    description: Role the caller connects as to the scratch server (it has production's roles and passwords).
    type: str
    default: postgres
  login_password:
    description: Its password.
    type: str
    default: ''
  archive_first:
    description:
      - Run C(pgbackrest check) on production first - it switches to a new WAL segment and waits until it is in
        the archive - so that WAL written up to now (within C(archive_timeout)) can be replayed.
      - Connects as O(login_user) with O(login_password), as the stanza's configuration says.
    type: bool
    default: false
  timeout:
    description: Seconds to wait for the recovery to reach the point and promote.
    type: int
    default: 600
'''

EXAMPLES = r'''
- name: Restore yieldvault_prod to 14:37:12 into a scratch server
  yieldvault.db_restore.wal_scratch_server:
    scratch_dir: /var/backups/postgresql/restore/pitr
    point: "2026-04-29T14:37:12Z"
    database: yieldvault_prod
    stanza: main
  register: scratch
'''

RETURN = r'''
port:
  description: The scratch server's port (loopback and its socket directory).
  returned: when state is present and not in check mode
  type: int
socket_dir:
  description: The scratch server's socket directory.
  returned: when state is present
  type: str
target:
  description: The recovery target given to pgBackRest (UTC).
  returned: when state is present
  type: str
'''

import datetime
import os
import pwd
import shlex
import shutil
import socket
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yieldvault.db_restore.plugins.module_utils import catalog
from ansible_collections.yieldvault.db_restore.plugins.module_utils import pg
from ansible_collections.yieldvault.db_restore.plugins.module_utils import pgbackrest


def _free_port():
    sock = socket.socket()
    try:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]
    finally:
        sock.close()


MAX_SOCKET_PATH = 107  # PostgreSQL's UNIXSOCK_PATH_BUFLEN - 1
SCRATCH_ADDS = len('/scratch-') + 12 + len('/run/.s.PGSQL.65535')  # pitr_dirs' scratch-<hash>, then the socket


def _as_user(module, argv):
    return module.run_command(['runuser', '-u', module.params['os_user'], '--'] + argv)


def _pg_ctl(module):
    return os.path.join(module.params['pg_bin_dir'], 'pg_ctl') if module.params['pg_bin_dir'] else 'pg_ctl'


def _remove(module, scratch, data):
    if os.path.exists(os.path.join(data, 'postmaster.pid')):
        _as_user(module, [_pg_ctl(module), '-D', data, '-m', 'immediate', '-w', '-t', '60', 'stop'])
    shutil.rmtree(scratch, ignore_errors=True)


def main():
    module = AnsibleModule(argument_spec=dict(
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        scratch_dir=dict(type='path', required=True),
        point=dict(type='str'),
        database=dict(type='str'),
        stanza=dict(type='str'),
        config=dict(type='path', default='/etc/pgbackrest/pgbackrest.conf'),
        pg_bin_dir=dict(type='str', default=''),
        os_user=dict(type='str', default='postgres'),
        login_user=dict(type='str', default='postgres'),
        login_password=dict(type='str', default='', no_log=True),
        timeout=dict(type='int', default=600),
        archive_first=dict(type='bool', default=False),
    ), required_if=[('state', 'present', ('point', 'database', 'stanza'))], supports_check_mode=True)
    p = module.params
    scratch = p['scratch_dir']
    data, run_dir, log = (os.path.join(scratch, n) for n in ('data', 'run', 'postgresql.log'))

    if p['state'] == 'absent':
        existed = os.path.exists(scratch)
        if existed and not module.check_mode:
            _remove(module, scratch, data)
        module.exit_json(changed=existed)

    # PostgreSQL refuses a Unix socket path over 107 bytes ("could not create any Unix-domain sockets"): found
    # here, not after the pgBackRest restore.
    socket_path = os.path.join(run_dir, '.s.PGSQL.65535')
    if len(socket_path.encode('utf-8')) > MAX_SOCKET_PATH:
        module.fail_json(msg='The scratch server\'s socket would be %s, %d bytes: a Unix socket path has at most %d, '
                             'so PostgreSQL would not start. Set db_restore_wal_scratch_dir to a directory of at most '
                             '%d bytes (scratch-<hash>/run/.s.PGSQL.<port> under it take %d more). Nothing was changed.'
                             % (socket_path, len(socket_path.encode('utf-8')), MAX_SOCKET_PATH,
                                MAX_SOCKET_PATH - SCRATCH_ADDS, SCRATCH_ADDS))
    pg.ensure_psycopg2(module)
    try:
        point = catalog.parse_point(p['point'], datetime.datetime.now(catalog.UTC))
    except ValueError as exc:
        module.fail_json(msg='%s Nothing was changed.' % exc)
    latest = p['point'].strip().lower() == 'latest'
    target = 'the end of the archive' if latest else pgbackrest.target_time(point)
    recovery = ['--type=default'] if latest else ['--type=time', '--target=%s' % target, '--target-action=promote']
    if module.check_mode:
        module.exit_json(changed=True, socket_dir=run_dir, target=target)
    if os.path.exists(scratch):
        module.fail_json(msg='The scratch directory %s exists already (left by another run?): remove it or choose '
                             'another. Nothing was changed.' % scratch)
    if p['archive_first']:
        rc, out, err = module.run_command(
            pgbackrest.command(p['os_user'], p['config'], p['stanza'], ['--log-level-console=warn', 'check']),
            environ_update={'PGPASSWORD': p['login_password']} if p['login_password'] else None)
        if rc != 0:
            module.fail_json(msg='pgbackrest check failed before the restore (exit %s): %s. The newest WAL may not be in '
                                 'the archive; fix archiving (pgbackrest check) and run again. Nothing was changed.'
                                 % (rc, (err or out).strip()[-1000:]))
    try:
        entry = pwd.getpwnam(p['os_user'])
    except KeyError:
        module.fail_json(msg='The PostgreSQL OS user %s does not exist on this host (db_restore_pg_os_user): the scratch '
                             'server runs as it. Nothing was changed.' % p['os_user'])
    for path in (scratch, data, run_dir):
        os.makedirs(path, mode=0o700, exist_ok=True)
        os.chown(path, entry.pw_uid, entry.pw_gid)

    rc, out, err = module.run_command(pgbackrest.command(
        p['os_user'], p['config'], p['stanza'],
        ['--pg1-path=%s' % data, '--db-include=%s' % p['database']] + recovery + ['--log-level-console=warn', 'restore']))
    if rc != 0:
        _remove(module, scratch, data)
        module.fail_json(msg='pgbackrest restore of %s to %s failed (exit %s): %s. The scratch directory was removed; '
                             'production was not touched.' % (p['database'], target, rc, (err or out).strip()[-1500:]))
    port = _free_port()
    opts = "-c port=%d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s -c archive_mode=off " \
           "-c archive_command='' -c hot_standby=on" % (port, shlex.quote(run_dir))
    rc, out, err = _as_user(module, [_pg_ctl(module), '-D', data, '-l', log, '-o', opts, '-w', '-t',
                                     str(p['timeout']), 'start'])
    problem = None if rc == 0 else 'pg_ctl start failed (exit %s): %s' % (rc, (err or out).strip()[-800:])
    if problem is None:
        problem = pg.wait_promoted(run_dir, port, p['login_user'], p['login_password'], p['database'],
                                   time.time() + p['timeout'])[2]
    if problem is not None:
        tail = ''
        if os.path.exists(log):
            with open(log) as handle:
                tail = ' '.join(handle.read().splitlines()[-8:])
        _remove(module, scratch, data)
        module.fail_json(msg='The scratch server restored to %s did not come up promoted: %s. Its log ends: %s. The '
                             'scratch directory was removed; production was not touched.' % (target, problem, tail))
    module.exit_json(changed=True, port=port, socket_dir=run_dir, target=target)


if __name__ == '__main__':
    main()
