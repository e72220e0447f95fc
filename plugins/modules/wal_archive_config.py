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
  - Writes the pgBackRest configuration file for one stanza (the cluster's data directory, port and socket
    directory) and its repository, posix or S3, owned by the OS user that runs PostgreSQL, mode 0640.
  - With an S3 repository the file holds the S3 keys. Before the file is written and before C(archive_command)
    names it, the repository is checked with the new configuration (C(pgbackrest repo-ls), from a private
    temporary copy); a wrong bucket, key or certificate fails here, with nothing changed, instead of making every
    C(archive-push) fail after a minute's wait.
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
  repo_type:
    description: The repository - C(posix), a directory on this host, or C(s3), a path in a bucket.
    type: str
    choices: [posix, s3]
    default: posix
    version_added: 0.3.0
  repo_path:
    description:
      - The posix repository directory (C(repo1-path)); created when missing, owned by O(os_user).
      - Required with O(repo_type=posix).
    type: path
  s3_bucket:
    description: The bucket of the S3 repository; required with O(repo_type=s3).
    type: str
    default: ''
    version_added: 0.3.0
  s3_path:
    description: The repository's path in the bucket (C(repo1-path) with O(repo_type=s3)).
    type: str
    default: /pgbackrest
    version_added: 0.3.0
  s3_endpoint_url:
    description:
      - The S3 endpoint, C(https://host[:port]); empty is AWS's endpoint of O(s3_region).
      - pgBackRest speaks only HTTPS to S3; an C(http://) endpoint is refused.
    type: str
    default: ''
    version_added: 0.3.0
  s3_region:
    description: The S3 region (C(repo1-s3-region)).
    type: str
    default: us-east-1
    version_added: 0.3.0
  s3_access_key:
    description: S3 access key; empty (with O(s3_secret_key) empty) uses the instance's role (C(repo1-s3-key-type=auto)).
    type: str
    default: ''
    version_added: 0.3.0
  s3_secret_key:
    description: S3 secret key.
    type: str
    default: ''
    version_added: 0.3.0
  s3_ca_file:
    description: CA certificate file that verifies the endpoint's TLS certificate; empty uses the system's CAs.
    type: path
    version_added: 0.3.0
  s3_verify_tls:
    description: Verify the endpoint's TLS certificate; C(false) writes C(repo1-storage-verify-tls=n).
    type: bool
    default: true
    version_added: 0.3.0
  s3_uri_style:
    description: C(path) or C(host) style S3 URIs; C(auto) is C(path) with an endpoint of its own and C(host) on AWS.
    type: str
    choices: [auto, host, path]
    default: auto
    version_added: 0.3.0
  process_max:
    description: Processes pgBackRest uses to back up and restore (C(process-max)); more cut the time of an S3 repository.
    type: int
    default: 2
    version_added: 0.3.0
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

- name: Archive into the S3 bucket of the dumps instead
  yieldvault.db_restore.wal_archive_config:
    login_unix_socket: /var/run/postgresql
    stanza: main
    data_dir: /var/lib/postgresql/15/main
    repo_type: s3
    s3_bucket: yieldvault-backups
    s3_region: eu-west-1
    s3_access_key: "{{ s3_access_key }}"
    s3_secret_key: "{{ s3_secret_key }}"
  no_log: true
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
stanza_info:
  description:
    - The stanza in an S3 repository as C(pgbackrest info --output=json) gives it, read with the configuration
      checked (in check mode too, when the file is not written yet).
  returned: when O(repo_type=s3)
  type: dict
  version_added: 0.3.0
'''

import json
import os
import pwd
import shutil
import tempfile

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
        if os.path.lexists(tmp):
            os.unlink(tmp)
        # Created 0600: with an S3 repository the text holds the keys, never readable by others, not even briefly.
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), 'w') as handle:
            handle.write(text)
        os.chown(tmp, uid, gid)
        os.chmod(tmp, 0o640)
        os.rename(tmp, path)
    return True


PROBE_IO_TIMEOUT = 15


def _check_repository(module, text, uid, gid):
    """Run pgBackRest with the candidate configuration (a private temporary copy, 0600, O(os_user)'s): the
    repository must answer C(repo-ls) before the file is written and C(archive_command) names it. Returns the
    stanza's C(info)."""
    p = module.params
    secrets = (p['s3_access_key'], p['s3_secret_key'])
    tmp_dir = tempfile.mkdtemp(prefix='yv-pgbackrest-check-')
    try:
        os.chown(tmp_dir, uid, gid)
        config = os.path.join(tmp_dir, 'pgbackrest.conf')
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, 'w') as handle:
            handle.write(text)
        os.chown(config, uid, gid)
        # A repository that answers lists itself in well under a second. pgBackRest retries a refused certificate
        # or a closed port until its io-timeout (60 s by default): the probe says so after PROBE_IO_TIMEOUT.
        base = pgbackrest.command(p['os_user'], config, p['stanza'],
                                  ['--log-level-console=error', '--log-level-file=off',
                                   '--io-timeout=%d' % PROBE_IO_TIMEOUT], executable=p['pgbackrest'])
        rc, out, err = module.run_command(base + ['--output=json', 'repo-ls'])
        if rc != 0:
            module.fail_json(msg='The S3 repository s3://%s%s does not answer with this configuration (pgbackrest '
                                 'repo-ls exit %s: %s). Check db_restore_s3_bucket, db_restore_s3_endpoint_url, '
                                 'db_restore_s3_region, db_restore_s3_access_key and db_restore_s3_secret_key, and '
                                 'db_restore_pgbackrest_s3_ca_file for a private CA. Nothing was changed.'
                                 % (p['s3_bucket'], p['s3_path'], rc,
                                    pgbackrest.scrub((err or out).strip()[-1000:], secrets)))
        rc, out, err = module.run_command(base + ['--output=json', 'info'])
        if rc != 0:
            module.fail_json(msg='pgbackrest info failed on the S3 repository (exit %s): %s. Nothing was changed.'
                                 % (rc, pgbackrest.scrub((err or out).strip()[-1000:], secrets)))
        try:
            return (json.loads(out) or [{}])[0]
        except ValueError:
            return {}
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


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
        repo_type=dict(type='str', choices=list(pgbackrest.REPO_TYPES), default='posix'),
        repo_path=dict(type='path'),
        s3_bucket=dict(type='str', default=''),
        s3_path=dict(type='str', default='/pgbackrest'),
        s3_endpoint_url=dict(type='str', default=''),
        s3_region=dict(type='str', default='us-east-1'),
        s3_access_key=dict(type='str', default='', no_log=True),
        s3_secret_key=dict(type='str', default='', no_log=True),
        s3_ca_file=dict(type='path'),
        s3_verify_tls=dict(type='bool', default=True),
        s3_uri_style=dict(type='str', choices=list(pgbackrest.S3_URI_STYLES), default='auto'),
        process_max=dict(type='int', default=2),
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
    if p['process_max'] < 1:
        module.fail_json(msg='db_restore_pgbackrest_process_max must be at least 1. Nothing was changed.')
    s3 = p['repo_type'] == 's3'
    if not s3 and not p['repo_path']:
        module.fail_json(msg='A posix repository needs its directory: set db_restore_pgbackrest_repo_path. '
                             'Nothing was changed.')
    if s3 and p['s3_ca_file'] and not os.path.isfile(p['s3_ca_file']):
        module.fail_json(msg='db_restore_pgbackrest_s3_ca_file %s is not a file on this host. Nothing was changed.'
                             % p['s3_ca_file'])
    uid, gid = _owner(module, p['os_user'])
    conn = pg.connect(module, 'postgres')
    cur = conn.cursor()
    cur.execute('SHOW port')
    port = cur.fetchone()[0]

    try:
        text = pgbackrest.render_config(
            p['stanza'], p['data_dir'], port, p['socket_dir'], p['s3_path'] if s3 else p['repo_path'],
            p['retention_full'], p['log_path'], p['login_user'], repo_type=p['repo_type'],
            s3=dict(bucket=p['s3_bucket'], endpoint_url=p['s3_endpoint_url'], region=p['s3_region'],
                    access_key=p['s3_access_key'], secret_key=p['s3_secret_key'], ca_file=p['s3_ca_file'],
                    verify_tls=p['s3_verify_tls'], uri_style=p['s3_uri_style']) if s3 else None,
            process_max=p['process_max'])
    except ValueError as exc:
        module.fail_json(msg='%s Nothing was changed.' % exc)

    extra = {}
    if s3:
        # Before archive_command can name the file: a repository that does not answer would make every
        # archive-push fail after about a minute, and pg_wal grow meanwhile.
        extra['stanza_info'] = _check_repository(module, text, uid, gid)
    dirs_changed = False if s3 else _ensure_dir(module, p['repo_path'], uid, gid, 0o750)
    dirs_changed = _ensure_dir(module, p['log_path'], uid, gid, 0o750) or dirs_changed
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
        **extra
    )


if __name__ == '__main__':
    main()
