#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: pg_backup
short_description: Take a PostgreSQL backup with a manifest of exact row counts from the same snapshot
description:
  - Dumps O(database) with C(pg_dump --format=custom) into a backup named C(<database>_YYYYMMDD_HHMM.dump)
    (the snapshot's time, UTC), the form M(yieldvault.db_restore.backup_catalog) and the restore playbook expect.
  - One connection opens a C(REPEATABLE READ READ ONLY) transaction, exports its snapshot with
    C(pg_export_snapshot()), counts the rows of every table in it and keeps it open while C(pg_dump --snapshot)
    dumps that very snapshot. The counts therefore describe exactly what the dump holds, even while the
    application keeps writing.
  - Hashes the dump (MD5 and SHA-256, one pass) and writes the manifest C(<name>.manifest.json) - database,
    backup, created_at, server_version, format, size, md5, snapshot and the per-table counts.
  - O(store=local) - the backup, an md5sum-format sidecar C(<name>.md5) and the manifest go into O(local_dir);
    the backup gets its final name last, so a reader never sees a backup without its checksum and manifest.
  - O(store=s3) - the dump is staged in O(staging_dir), uploaded under O(s3_prefix) with its MD5 in the object
    metadata C(md5) (and C(sha256)), the manifest beside it, and the staged file removed.
version_added: 0.2.0
author:
  - YieldVault platform team
extends_documentation_fragment:
  - yieldvault.db_restore.postgres
  - yieldvault.db_restore.s3
options:
  database:
    description:
      - Database to back up.
    type: str
    required: true
  store:
    description:
      - Where the backup goes.
    type: str
    required: true
    choices: [local, s3]
  local_dir:
    description:
      - Directory of the backups when O(store=local); created (mode 0700) when missing.
    type: path
  s3_prefix:
    description:
      - Key prefix (folder) of the backups in O(s3_bucket), for example C(database/). A missing trailing C(/)
        is added.
    type: str
    default: ''
  staging_dir:
    description:
      - Directory where the dump is written before the upload when O(store=s3). It needs room for one backup.
      - Default is the system's temporary directory.
    type: path
  as_of:
    description:
      - The time the backup's data is from, ISO 8601 UTC, when it is not the snapshot's own time - a dump of a
        scratch server recovered from the WAL archive to a point (C(restore.yml -e source=wal)) is named
        C(<database>_YYYYMMDD_HHMMSS.dump) after that point, and its manifest's C(created_at) is the point.
      - Empty uses the snapshot's time (C(<database>_YYYYMMDD_HHMM.dump)).
    type: str
    default: ''
    version_added: 0.3.0
  pg_dump:
    description:
      - The C(pg_dump) binary, a name on E(PATH) or a full path. It must be the server's major version or newer.
    type: str
    default: pg_dump
attributes:
  check_mode:
    support: full
    details:
      - In check mode the module connects, reads the server version, checks C(pg_dump) and the destination, and
        returns the name the backup would get. Nothing is counted, dumped or written.
notes:
  - Two backups in the same minute would get the same name; the second one fails and changes nothing, even when the
    first is still uploading its dump - the manifest claims the name, written only where none is (an S3
    conditional write, C(If-None-Match) C(*); a hard link in the local store). A store without conditional writes
    gets a warning.
  - The exporting transaction holds C(ACCESS SHARE) locks on every table until C(pg_dump) is done, like
    C(pg_dump) itself does; it blocks DDL on those tables, not reads or writes.
seealso:
  - module: yieldvault.db_restore.backup_catalog
  - module: yieldvault.db_restore.table_counts
'''

EXAMPLES = r'''
- name: Back up yieldvault_prod into the local store
  yieldvault.db_restore.pg_backup:
    database: yieldvault_prod
    store: local
    local_dir: /var/backups/postgresql
    login_unix_socket: /var/run/postgresql
    pg_dump: /usr/lib/postgresql/15/bin/pg_dump

- name: Back up yieldvault_prod to S3
  yieldvault.db_restore.pg_backup:
    database: yieldvault_prod
    store: s3
    s3_bucket: yieldvault-backups
    s3_prefix: database/
    staging_dir: /var/backups/postgresql/staging
  register: backup

- name: Show the manifest
  ansible.builtin.debug:
    msg: "{{ backup.name }}: {{ backup.manifest.tables | length }} tables, md5 {{ backup.md5 }}"
'''

RETURN = r'''
name:
  description: File name of the backup.
  returned: always
  type: str
  sample: yieldvault_prod_20260429_1400.dump
location:
  description: Local path or S3 key of the backup (in check mode, where it would go).
  returned: always
  type: str
  sample: database/yieldvault_prod_20260429_1400.dump
manifest_location:
  description: Local path or S3 key of the manifest.
  returned: always
  type: str
  sample: database/yieldvault_prod_20260429_1400.dump.manifest.json
md5:
  description: MD5 of the backup, lowercase hex; null in check mode.
  returned: always
  type: str
sha256:
  description: SHA-256 of the backup; null in check mode.
  returned: always
  type: str
size:
  description: Size of the backup in bytes; null in check mode.
  returned: always
  type: int
created_at:
  description: Time of the snapshot the backup and its counts come from, ISO 8601 UTC.
  returned: always
  type: str
  sample: '2026-04-29T14:00:07Z'
snapshot:
  description: The exported snapshot id pg_dump used; null in check mode.
  returned: always
  type: str
  sample: 00000003-0000001B-1
server_version:
  description: Version of the server that was dumped.
  returned: always
  type: str
  sample: '15.6'
pg_dump_version:
  description: Version of the pg_dump that made the backup.
  returned: always
  type: str
  sample: '15.6'
manifest:
  description: The manifest as written; null in check mode.
  returned: always
  type: dict
  sample: {"database": "yieldvault_prod", "backup": "yieldvault_prod_20260429_1400.dump", "format": "custom",
           "created_at": "2026-04-29T14:00:07Z", "server_version": "15.6", "size": 866800,
           "md5": "9e107d9d372bb6826bd81d3542a419d6", "snapshot": "00000003-0000001B-1",
           "tables": {"public.User": 1204}}
total_rows:
  description: Rows in plain tables, partition leaves and materialized views; null in check mode.
  returned: always
  type: int
seconds:
  description: Time the module took.
  returned: always
  type: float
'''

import datetime
import json
import os
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.yieldvault.db_restore.plugins.module_utils.binaries import resolve_binary
from ansible_collections.yieldvault.db_restore.plugins.module_utils.catalog import UTC, isoformat_z, parse_point
from ansible_collections.yieldvault.db_restore.plugins.module_utils.checksum import detect_format, hash_stream
from ansible_collections.yieldvault.db_restore.plugins.module_utils.conninfo import dbname_option
from ansible_collections.yieldvault.db_restore.plugins.module_utils.counts import total_rows
from ansible_collections.yieldvault.db_restore.plugins.module_utils.dumpfile import parse_pg_restore_version
from ansible_collections.yieldvault.db_restore.plugins.module_utils.files import (
    make_private_dirs, write_exclusive,
)
from ansible_collections.yieldvault.db_restore.plugins.module_utils.inspect_dump import first_line
from ansible_collections.yieldvault.db_restore.plugins.module_utils.manifest import (
    backup_name,
    build_manifest,
    manifest_name,
)
from ansible_collections.yieldvault.db_restore.plugins.module_utils.pg import (
    pg_error_text,
    APPLICATION_NAME,
    CONNECT_TIMEOUT,
    connect,
    connection_target,
    postgres_argument_spec,
    psycopg2,
    server_version,
)
from ansible_collections.yieldvault.db_restore.plugins.module_utils.pg_counts import take_counts
from ansible_collections.yieldvault.db_restore.plugins.module_utils.safety_dump import last_lines
from ansible_collections.yieldvault.db_restore.plugins.module_utils.s3 import (
    describe_s3_error,
    s3_error_code,
    normalize_prefix,
    s3_argument_spec,
    s3_client,
)

NOTHING_STORED = 'No backup was stored.'


def resolve_pg_dump(module):
    binary = module.params['pg_dump']
    path, missing = resolve_binary(module, binary)
    if not path:
        module.fail_json(msg='pg_dump: %s. Install the PostgreSQL client tools (Debian: postgresql-client-15) or set '
                             'db_restore_pg_bin_dir to their bin directory. %s' % (missing, NOTHING_STORED))
    rc, out, err = module.run_command([path, '--version'])
    if rc != 0:
        module.fail_json(msg='Could not run %s --version: %s. %s' % (path, first_line(err) or rc, NOTHING_STORED))
    version, dummy = parse_pg_restore_version(out)
    return path, version


def pg_env(params):
    env = dict(
        PGHOST=params['login_unix_socket'] or params['login_host'] or 'localhost',
        PGPORT=str(params['login_port']),
        PGUSER=params['login_user'],
        PGAPPNAME=APPLICATION_NAME,
        PGCONNECT_TIMEOUT=str(CONNECT_TIMEOUT),
    )
    if params['login_password']:
        # The environment of the child, never its command line, which `ps` shows to everyone.
        env['PGPASSWORD'] = params['login_password']
    return env


def remove_quietly(*paths):
    for path in paths:
        try:
            if path and os.path.exists(path):
                os.unlink(path)
        except OSError:
            pass


def claimed_message(location, claim):
    return ('The backup %s is being written by another run (%s appeared while this one dumped: one backup per '
            'minute). Wait a minute and run again. %s' % (location, claim, NOTHING_STORED))


def check_destination(module, client, name):
    """Fail when the backup already exists or the destination is unusable; return (location, manifest_location)."""
    params = module.params
    if params['store'] == 'local':
        local_dir = os.path.abspath(params['local_dir'])
        path = os.path.join(local_dir, name)
        if os.path.exists(path):
            module.fail_json(msg='The backup %s already exists (one backup per minute). Wait a minute and run '
                                 'again. %s' % (path, NOTHING_STORED))
        if os.path.exists(local_dir) and not os.access(local_dir, os.W_OK):
            module.fail_json(msg='Cannot write to the backup directory %s. Fix its permissions or set db_restore_local_backup_dir. %s'
                                 % (local_dir, NOTHING_STORED))
        return path, path + '.manifest.json'
    prefix = normalize_prefix(params['s3_prefix'])
    key = prefix + name
    try:
        client.head_bucket(Bucket=params['s3_bucket'])
    except Exception as exc:
        module.fail_json(msg='%s %s' % (describe_s3_error(exc, 'reach the bucket', params['s3_bucket'],
                                                          params['s3_endpoint_url'], region=params['s3_region']),
                                        NOTHING_STORED))
    try:
        client.head_object(Bucket=params['s3_bucket'], Key=key)
        exists = True
    except Exception as exc:
        # Only "not there" means not there: a timeout or a 5xx must not let a run write over a backup.
        code, status, _message = s3_error_code(exc)
        if code not in ('404', 'NoSuchKey', 'NotFound') and status != 404:
            module.fail_json(msg='%s %s' % (describe_s3_error(exc, 'check whether the backup exists', params['s3_bucket'],
                                                              params['s3_endpoint_url'], key=key,
                                                              region=params['s3_region']), NOTHING_STORED))
        exists = False
    if exists:
        module.fail_json(msg='The backup s3://%s/%s already exists (one backup per minute). Wait a minute and run '
                             'again. %s' % (params['s3_bucket'], key, NOTHING_STORED))
    return key, prefix + manifest_name(name)


def run_dump(module, conn, pg_dump, dump_path):
    """Export the snapshot, count in it, and pg_dump it while the transaction stays open."""
    params = module.params
    cur = conn.cursor()
    # A restore or migration holding ACCESS EXCLUSIVE would otherwise hang the backup forever.
    cur.execute("SET LOCAL lock_timeout = '60s'")
    cur.execute('SELECT pg_catalog.pg_export_snapshot(), now()')
    snapshot, started = cur.fetchone()
    cur.close()
    counts, dummy, relkinds, warnings = take_counts(module, conn, 'exact', None)
    argv = [pg_dump, '--format=custom', '--snapshot=%s' % snapshot, '--file=%s' % dump_path, '--no-password',
            dbname_option(params['database'])]
    rc, out, err = module.run_command(argv, environ_update=pg_env(params))
    return snapshot, started, counts, relkinds, warnings, rc, err


def main():
    argument_spec = postgres_argument_spec()
    argument_spec.update(s3_argument_spec())
    argument_spec.update(
        database=dict(type='str', required=True),
        store=dict(type='str', required=True, choices=['local', 's3']),
        local_dir=dict(type='path'),
        s3_prefix=dict(type='str', default=''),
        staging_dir=dict(type='path'),
        pg_dump=dict(type='str', default='pg_dump'),
        as_of=dict(type='str', default=''),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_if=[('store', 'local', ['local_dir']), ('store', 's3', ['s3_bucket'])],
        supports_check_mode=True,
    )
    started_clock = time.time()
    params = module.params
    as_of = None
    if params['as_of']:
        try:
            as_of = parse_point(params['as_of'], datetime.datetime.now(UTC))
        except ValueError as exc:
            module.fail_json(msg='as_of: %s %s' % (exc, NOTHING_STORED))
    database = params['database']
    if '/' in database:
        # The backup is a file named after the database: a '/' would put it in another directory ('../' outside
        # the store), and check mode said "Would write" all the same.
        module.fail_json(msg='The database %s holds a "/": backups are files named after the database, and the name '
                             'would put them in another directory. Rename the database to back it up with this '
                             'collection. %s' % (database, NOTHING_STORED))
    pg_dump, pg_dump_version = resolve_pg_dump(module)
    client = s3_client(module) if params['store'] == 's3' else None

    conn = connect(module, database, autocommit=False)
    version = server_version(conn)
    result = dict(changed=True, name=None, location=None, manifest_location=None, md5=None, sha256=None,
                  size=None, created_at=None, snapshot=None, server_version=version,
                  pg_dump_version=pg_dump_version, manifest=None, total_rows=None, store=params['store'])

    if module.check_mode:
        now = datetime.datetime.now(UTC)
        name = backup_name(database, as_of or now, seconds=as_of is not None)
        location, manifest_location = check_destination(module, client, name)
        conn.close()
        result.update(name=name, location=location, manifest_location=manifest_location, created_at=isoformat_z(now),
                      seconds=round(time.time() - started_clock, 3))
        module.exit_json(**result)

    if params['store'] == 'local':
        work_dir = os.path.abspath(params['local_dir'])
        try:
            make_private_dirs([work_dir], fix_mode=False)
        except OSError as exc:
            module.fail_json(msg='Could not create the backup directory %s: %s. %s'
                                 % (work_dir, to_native(exc.strerror or exc), NOTHING_STORED))
    else:
        work_dir = os.path.abspath(params['staging_dir'] or tempfile.gettempdir())
        if not os.path.isdir(work_dir):
            module.fail_json(msg='The staging directory %s does not exist. Create it. %s'
                                 % (work_dir, NOTHING_STORED))
    # The name comes from the snapshot's time, known only once the transaction
    # started, so the dump goes to a private temporary name first.
    fd, dump_path = tempfile.mkstemp(prefix='.%s_' % database, suffix='.dump.part', dir=work_dir)
    os.close(fd)
    os.chmod(dump_path, 0o600)
    written = [dump_path]
    try:
        conn.set_session(isolation_level='REPEATABLE READ', readonly=True)
        try:
            snapshot, started, counts, relkinds, warnings, rc, err = run_dump(module, conn, pg_dump, dump_path)
        except psycopg2.Error as exc:
            module.fail_json(msg='Taking the snapshot of %s failed: %s. Check that db_restore_login_user may read every table; '
                                 'if a table is locked by a restore or migration, wait and retry. %s'
                                 % (connection_target(params, database), pg_error_text(exc), NOTHING_STORED))
        finally:
            try:
                conn.rollback()
                conn.close()
            except psycopg2.Error:
                pass
        if rc != 0:
            detail = last_lines(err)
            module.fail_json(msg='pg_dump of %s failed (exit code %s): %s. Check free space in %s, that pg_dump is '
                                 'the server\'s major version (%s) or newer, and the connection settings. %s'
                                 % (database, rc, detail or 'no message', work_dir, version, NOTHING_STORED))
        for warning in warnings:
            module.warn(warning)

        with open(dump_path, 'rb') as handle:
            digest = hash_stream(handle)
        if detect_format(digest['head']) != 'custom':
            module.fail_json(msg='pg_dump wrote %s, which is not a custom-format archive. %s' % (dump_path,
                                                                                                NOTHING_STORED))
        created = started.astimezone(UTC) if started.tzinfo else started.replace(tzinfo=UTC)
        if as_of is not None:
            created = as_of
        name = backup_name(database, created, seconds=as_of is not None)
        manifest = build_manifest(database, name, created, version, digest['size'], digest['md5'], snapshot, counts,
                                  sha256=digest['sha256'], pg_dump_version=pg_dump_version,
                                  total_rows=total_rows(counts, relkinds))
        manifest_text = json.dumps(manifest, indent=2, sort_keys=True) + '\n'
        location, manifest_location = check_destination(module, client, name)

        # The manifest, written only where none is, claims the name: the existence check above cannot see a backup
        # another run of the same minute is still writing, and that run's manifest paired with this run's dump made
        # a backup no restore accepts. The run that finds the name claimed writes nothing and removes nothing.
        if params['store'] == 'local':
            sidecar = location + '.md5'
            try:
                write_exclusive(manifest_location, manifest_text, 0o600)
            except FileExistsError:
                module.fail_json(msg=claimed_message(location, manifest_location))
            written.append(manifest_location)
            # Written only where none is either: a sidecar found here is another writer's, never replaced.
            try:
                write_exclusive(sidecar, '%s  %s\n' % (digest['md5'], name), 0o600)
            except FileExistsError:
                module.fail_json(msg=claimed_message(location, sidecar))
            written.append(sidecar)
            try:
                os.link(dump_path, location)
            except FileExistsError:
                module.fail_json(msg=claimed_message(location, location))
            # The backup is whole under its name: from here only the staged copy is removed, whatever happens.
            written = [dump_path]
        else:
            bucket = params['s3_bucket']
            claim = dict(Bucket=bucket, Key=manifest_location, Body=manifest_text.encode('utf-8'),
                         ContentType='application/json')
            try:
                try:
                    client.put_object(IfNoneMatch='*', **claim)
                except Exception as exc:
                    code, status, _message = s3_error_code(exc)
                    if type(exc).__name__ == 'ParamValidationError':
                        # A botocore older than conditional writes (1.35) refuses the parameter itself.
                        code = 'NotImplemented'
                    if code == 'PreconditionFailed' or status == 412:
                        module.fail_json(msg=claimed_message('s3://%s/%s' % (bucket, location),
                                                             's3://%s/%s' % (bucket, manifest_location)))
                    if code != 'NotImplemented' and status != 501:
                        raise
                    # A store without conditional writes: the check above is all there is.
                    module.warn('The S3 store does not support conditional writes (If-None-Match): a backup of %s '
                                'started in the same minute elsewhere could pair its dump with this manifest.'
                                % database)
                    client.put_object(**claim)
            except Exception as exc:
                module.fail_json(msg='%s %s' % (describe_s3_error(exc, 'write the backup\'s manifest', bucket,
                                                                  params['s3_endpoint_url'], key=manifest_location,
                                                                  region=params['s3_region']), NOTHING_STORED))
            try:
                client.upload_file(dump_path, bucket, location,
                                   ExtraArgs={'Metadata': {'md5': digest['md5'], 'sha256': digest['sha256']}})
            except Exception as exc:
                try:  # this run's own manifest: no backup without its dump
                    client.delete_object(Bucket=bucket, Key=manifest_location)
                except Exception:
                    pass
                module.fail_json(msg='%s %s' % (describe_s3_error(exc, 'upload the backup', bucket,
                                                                  params['s3_endpoint_url'], key=location,
                                                                  region=params['s3_region']), NOTHING_STORED))
    except (IOError, OSError) as exc:
        module.fail_json(msg='Writing the backup in %s failed: %s. Check free space and permissions. %s'
                             % (work_dir, to_native(exc.strerror or exc), NOTHING_STORED))
    finally:
        remove_quietly(*written)

    result.update(name=name, location=location, manifest_location=manifest_location, md5=digest['md5'],
                  sha256=digest['sha256'], size=digest['size'], created_at=manifest['created_at'],
                  snapshot=snapshot, manifest=manifest, total_rows=manifest['total_rows'],
                  seconds=round(time.time() - started_clock, 3))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
