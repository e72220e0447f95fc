#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: wal_archive_config
short_description: Configure pgBackRest and make PostgreSQL archive its WAL into it
description:
  - Writes the pgBackRest configuration file for one stanza in a posix repository (the cluster's data directory,
    port and socket directory), owned by the OS user that runs PostgreSQL.
  - Sets C(archive_mode), C(archive_command) (C(pgbackrest archive-push)) and C(archive_timeout) with
    C(ALTER SYSTEM) and reloads the configuration. C(archive_mode) takes effect only after a restart, returned in
    RV(restart_required); the restart itself is the caller's, done the way the inventory says.
  - Idempotent. In check mode it reads the file and the server and returns what it would change.
version_added: 0.3.0
author:
  - YieldVault platform team
extends_documentation_fragment:
  - yieldvault.db_restore.postgres
options:
  stanza:
    description: The pgBackRest stanza, the name of this cluster in the repository.
    type: str
    required: true
  data_dir:
    description: The cluster's data directory (C(pg1-path)).
    type: path
    required: true
  socket_dir:
    description: Directory of the server's Unix socket, through which pgBackRest connects; empty uses its default.
    type: str
    default: ''
  config:
    description: Path of the pgBackRest configuration file written; C(archive_command) names it.
    type: path
    default: /etc/pgbackrest/pgbackrest.conf
  repo_path:
    description: The posix repository directory (C(repo1-path)); created when missing, owned by O(os_user).
    type: path
    required: true
  log_path:
    description: Directory of pgBackRest's own logs; created when missing, owned by O(os_user).
    type: path
    default: /var/log/pgbackrest
  retention_full:
    description: Full backups kept (C(repo1-retention-full)); WAL older than the oldest is expired with it.
    type: int
    default: 2
  archive_timeout:
    description: Seconds after which a partly filled WAL segment is archived anyway; bounds the data loss.
    type: int
    default: 60
  pgbackrest:
    description: The pgBackRest executable named in C(archive_command).
    type: str
    default: /usr/bin/pgbackrest
  os_user:
    description: OS user that runs PostgreSQL; pgBackRest runs as it and owns the files.
    type: str
    default: postgres
'''

EXAMPLES = r'''
- name: Make the cluster archive its WAL into pgBackRest
  yieldvault.db_restore.wal_archive_config:
    login_unix_socket: /var/run/postgresql
    stanza: main
    data_dir: /var/lib/postgresql/15/main
    repo_path: /var/lib/pgbackrest
  register: archive_config
'''

RETURN = r'''
config_changed:
  description: Whether the pgBackRest configuration file was (or, in check mode, would be) written.
  returned: always
  type: bool
settings_changed:
  description: The server settings set (or that would be set) with ALTER SYSTEM, C({name, before, after}).
  returned: always
  type: list
  elements: dict
restart_required:
  description: Whether PostgreSQL must restart before it archives (C(archive_mode) is not on in the running server).
  returned: always
  type: bool
archive_command:
  description: The archive_command the server is given.
  returned: always
  type: str
'''

import os
import pwd

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.yieldvault.db_restore.plugins.module_utils import pg
from ansible_collections.yieldvault.db_restore.plugins.module_utils import pgbackrest


def _owner(module, os_user):
    try:
        entry = pwd.getpwnam(os_user)
    except KeyError:
        module.fail_json(msg='The OS user %s that runs PostgreSQL does not exist on this host; set '
                             'db_restore_pg_os_user. Nothing was changed.' % os_user)
    return entry.pw_uid, entry.pw_gid


def _ensure_dir(module, path, uid, gid, mode):
    """Create path owned by uid:gid; returns whether anything would change."""
    if os.path.isdir(path):
        st = os.stat(path)
        if (st.st_uid, st.st_gid) == (uid, gid):
            return False
    if not module.check_mode:
        os.makedirs(path, mode=mode, exist_ok=True)
        os.chown(path, uid, gid)
        os.chmod(path, mode)
    return True


def _write_config(module, path, text, uid, gid):
    current = None
    if os.path.exists(path):
        with open(path) as handle:
            current = handle.read()
    st = os.stat(path) if current is not None else None
    if current == text and st.st_uid == uid and (st.st_mode & 0o777) == 0o640:
        return False
    if not module.check_mode:
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            os.makedirs(parent, mode=0o755)
        tmp = path + '.tmp'
        with open(tmp, 'w') as handle:
            handle.write(text)
        os.chown(tmp, uid, gid)
        os.chmod(tmp, 0o640)
        os.rename(tmp, path)
    return True


def _configured(cur, name):
    """(configured value, running value, unit): the last file entry wins over the running value."""
    cur.execute('SELECT setting, unit FROM pg_settings WHERE name = %s', (name,))
    running, unit = cur.fetchone()
    cur.execute('SELECT setting FROM pg_file_settings WHERE name = %s AND error IS NULL ORDER BY seqno DESC LIMIT 1',
                (name,))
    row = cur.fetchone()
    return (row[0] if row else running), running, unit


def main():
    argument_spec = pg.postgres_argument_spec()
    argument_spec.update(
        stanza=dict(type='str', required=True),
        data_dir=dict(type='path', required=True),
        socket_dir=dict(type='str', default=''),
        config=dict(type='path', default='/etc/pgbackrest/pgbackrest.conf'),
        repo_path=dict(type='path', required=True),
        log_path=dict(type='path', default='/var/log/pgbackrest'),
        retention_full=dict(type='int', default=2),
        archive_timeout=dict(type='int', default=60),
        pgbackrest=dict(type='str', default='/usr/bin/pgbackrest'),
        os_user=dict(type='str', default='postgres'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    if p['archive_timeout'] < 1:
        module.fail_json(msg='archive_timeout must be at least 1 second (0 would turn the bound on data loss off).')
    uid, gid = _owner(module, p['os_user'])
    conn = pg.connect(module, 'postgres')
    cur = conn.cursor()
    cur.execute('SHOW port')
    port = cur.fetchone()[0]

    dirs_changed = _ensure_dir(module, p['repo_path'], uid, gid, 0o750)
    dirs_changed = _ensure_dir(module, p['log_path'], uid, gid, 0o750) or dirs_changed
    text = pgbackrest.render_config(p['stanza'], p['data_dir'], port, p['socket_dir'], p['repo_path'],
                                    p['retention_full'], p['log_path'], p['login_user'])
    config_changed = _write_config(module, p['config'], text, uid, gid)

    wanted = pgbackrest.wanted_settings(p['pgbackrest'], p['config'], p['stanza'], p['archive_timeout'])
    settings_changed = []
    for name in sorted(wanted):
        configured, running, unit = _configured(cur, name)
        if pgbackrest.setting_differs(name, wanted[name], configured, unit):
            settings_changed.append(dict(name=name, before=configured, after=wanted[name]))
            if not module.check_mode:
                cur.execute(pg.sql.SQL('ALTER SYSTEM SET {} = {}').format(
                    pg.sql.Identifier(name), pg.sql.Literal(wanted[name])))
    if settings_changed and not module.check_mode:
        cur.execute('SELECT pg_reload_conf()')
    _, archive_mode_running, _ = _configured(cur, 'archive_mode')
    conn.close()

    module.exit_json(
        changed=bool(dirs_changed or config_changed or settings_changed),
        config_changed=config_changed,
        settings_changed=settings_changed,
        restart_required=archive_mode_running != 'on',
        archive_command=wanted['archive_command'],
    )


if __name__ == '__main__':
    main()
