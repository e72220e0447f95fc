#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: backup_inspect
short_description: Identify a PostgreSQL dump and check that the local pg_restore can read it
description:
  - Detects the format of a PostgreSQL dump from its content (never its file name) -
    C(custom), C(tar), C(directory), C(gzip) (gzip-compressed plain SQL), C(plain) or C(unknown).
  - Reads the archive header of custom, tar and directory dumps (archive format version, pg_dump and server
    versions, database name, creation time, compression).
  - Compares the archive format with what the local C(pg_restore) reads, and lists the table of contents with
    C(pg_restore --list) so an unreadable or damaged archive is found before anything is dropped.
  - Read-only; never reports a change.
version_added: 0.1.0
author:
  - YieldVault platform team
options:
  path:
    description:
      - The dump file, or the directory of a directory-format dump.
    type: path
    required: true
  pg_restore:
    description:
      - The C(pg_restore) binary to check against, a name on E(PATH) or a full path such as
        C(/usr/lib/postgresql/15/bin/pg_restore).
    type: str
    default: pg_restore
  list_toc:
    description:
      - Run C(pg_restore --list) on custom, tar and directory dumps and return the table of contents.
      - A listing that fails also makes the dump unreadable.
    type: bool
    default: true
  fail_if_unreadable:
    description:
      - Fail when the dump is not a PostgreSQL dump or the local C(pg_restore) cannot read it.
      - When false, return RV(readable=false) and RV(reason) instead.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    details: The module only reads; it runs the same way in check mode.
notes:
  - pg_dump records its creation time as the dumping host's local time without a zone; like pg_restore, the
    module interprets it in the zone of the host it runs on.
  - Archive format versions readable per pg_restore major - 12 to 15 read up to 1.14, 16 up to 1.15,
    17 up to 1.16. A newer major is assumed to read the archive and the TOC listing decides.
seealso:
  - module: yieldvault.db_restore.table_counts
'''

EXAMPLES = r'''
- name: Check that the downloaded backup is a dump the local pg_restore can read
  yieldvault.db_restore.backup_inspect:
    path: /var/backups/postgresql/restore/yieldvault_prod_20260429_1400.dump
    pg_restore: "{{ db_restore_pg_bin_dir }}/pg_restore"
  register: backup_info

- name: Report what is inside without failing
  yieldvault.db_restore.backup_inspect:
    path: /var/backups/postgresql/safety/yieldvault_prod_safety.dump
    fail_if_unreadable: false
  register: safety_info

- name: Tables in the backup
  ansible.builtin.debug:
    msg: "{{ backup_info.toc['TABLE'] | default(0) }} tables, made by pg_dump {{ backup_info.header.pg_dump_version }}"
'''

RETURN = r'''
path:
  description: The inspected path.
  returned: always
  type: str
format:
  description: Detected format - custom, tar, directory, gzip, plain or unknown.
  returned: always
  type: str
  sample: custom
size:
  description: Size in bytes (sum of all files for a directory dump); null when the path does not exist.
  returned: always
  type: int
  sample: 866800
header:
  description: The archive header of custom, tar and directory dumps; null for other formats.
  returned: always
  type: dict
  contains:
    archive_version:
      description: Archive format version, C(major.minor).
      type: str
      sample: '1.14'
    archive_revision:
      description: Archive format revision (third number).
      type: int
    pg_dump_version:
      description: Version of the pg_dump that made the dump.
      type: str
      sample: 15.18 (Debian 15.18-0+deb12u1)
    server_version:
      description: Version of the server that was dumped.
      type: str
    dbname:
      description: Name of the dumped database.
      type: str
    created:
      description: When the dump was started (ISO 8601 UTC).
      type: str
      sample: '2026-04-29T14:00:03Z'
    compression:
      description: Compression of the data - none, gzip, lz4 or zstd.
      type: str
    compression_level:
      description: Compression level stored by archives before 1.15 (-1 is the default level); null after.
      type: int
    int_size:
      description: Size of an integer in the archive.
      type: int
    off_size:
      description: Size of a file offset in the archive.
      type: int
    format_code:
      description: Format byte of the header as stored.
      type: int
pg_restore_version:
  description: Version of the local pg_restore; null when it could not be run.
  returned: always
  type: str
  sample: '15.18'
readable:
  description: The local pg_restore reads the dump (for plain and gzip, the content is SQL that psql reads).
  returned: always
  type: bool
reason:
  description: Why the dump is or is not readable.
  returned: always
  type: str
toc:
  description: Number of TOC entries per object type; null for plain and gzip dumps or without O(list_toc).
  returned: always
  type: dict
  sample: {"TABLE": 24, "TABLE DATA": 23, "INDEX": 34, "FK CONSTRAINT": 36, "MATERIALIZED VIEW": 1}
toc_entries:
  description: Every TOC entry; null when RV(toc) is null.
  returned: always
  type: list
  elements: dict
  sample: [{"type": "TABLE", "schema": "public", "name": "User"}]
jobs_supported:
  description: pg_restore --jobs works with this dump (custom and directory formats only).
  returned: always
  type: bool
'''

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.yieldvault.db_restore.plugins.module_utils.dumpfile import (
    DumpHeaderError,
    archive_readable,
    detect_format,
    dump_size,
    gzip_inner_format,
    header_bytes,
    max_readable_archive,
    parse_header,
    parse_pg_restore_version,
    parse_toc_listing,
    version_tuple,
)

ARCHIVE_FORMATS = ('custom', 'tar', 'directory')


def first_line(text):
    for line in (text or '').splitlines():
        line = line.strip()
        if line:
            return line
    return ''


def short_version(text):
    """'17.2 (Debian 17.2-1)' -> '17.2'."""
    return (text or '').split(' ')[0] or 'unknown'


def resolve_binary(module, binary):
    """Full path of the pg_restore to use, or (None, why not)."""
    if os.sep in binary:
        if os.path.isfile(binary) and os.access(binary, os.X_OK):
            return binary, None
        return None, '%s does not exist or is not executable' % binary
    found = module.get_bin_path(binary)
    if found:
        return found, None
    return None, '%s was not found on PATH' % binary


def pg_restore_version(module, binary):
    # run_command would fail the module itself on a missing binary; a resolved
    # path lets us say which client tools to install instead.
    rc, out, err = module.run_command([binary, '--version'])
    if rc != 0:
        return None, None, first_line(err) or first_line(out) or 'exit code %d' % rc
    version, major = parse_pg_restore_version(out)
    return version, major, None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            pg_restore=dict(type='str', default='pg_restore'),
            list_toc=dict(type='bool', default=True),
            fail_if_unreadable=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    path = module.params['path']
    binary = module.params['pg_restore']
    result = dict(
        changed=False, path=path, format='unknown', size=None, header=None, pg_restore_version=None,
        readable=False, reason='', toc=None, toc_entries=None, jobs_supported=False,
    )

    def unreadable(reason, msg):
        result.update(readable=False, reason=reason)
        if module.params['fail_if_unreadable']:
            module.fail_json(msg=msg, **result)
        module.exit_json(**result)

    if not os.path.exists(path):
        unreadable('the path does not exist',
                   'The backup %s does not exist. Check the path (and that the download step finished). '
                   'Nothing was changed.' % path)

    try:
        fmt = detect_format(path)
        result['size'] = dump_size(path)
    except (IOError, OSError) as exc:
        unreadable('the file could not be read: %s' % to_native(exc.strerror or exc),
                   'Could not read the backup %s: %s. Check its permissions. Nothing was changed.'
                   % (path, to_native(exc.strerror or exc)))
    result['format'] = fmt
    result['jobs_supported'] = fmt in ('custom', 'directory')

    if fmt == 'unknown':
        unreadable('not a PostgreSQL dump',
                   '%s is not a PostgreSQL dump (custom, tar, directory or plain SQL): its content matches none of '
                   'the formats pg_dump writes. Check that the right file was downloaded completely and is not '
                   'encrypted or compressed with another tool. Nothing was changed.' % path)

    resolved, version_error = resolve_binary(module, binary)
    version = major = None
    if resolved:
        binary = resolved
        version, major, version_error = pg_restore_version(module, binary)
    result['pg_restore_version'] = version

    if fmt == 'gzip':
        inner = gzip_inner_format(path)
        if inner == 'plain':
            result.update(readable=True, reason='gzip-compressed plain SQL: restore with gunzip | psql, not pg_restore')
            module.exit_json(**result)
        if inner == 'custom':
            unreadable('a gzip-compressed custom-format archive',
                       '%s is a custom-format pg_dump archive that was compressed again with gzip; pg_restore cannot '
                       'read it like this. Decompress it (gunzip) and inspect the result. Nothing was changed.' % path)
        unreadable('gzip data that is not a PostgreSQL dump',
                   '%s is not a PostgreSQL dump (custom, tar, directory or plain SQL): it is gzip data without SQL '
                   'or a pg_dump archive inside, or it is damaged. Check the file. Nothing was changed.' % path)
    if fmt == 'plain':
        result.update(readable=True, reason='plain SQL: restore with psql, not pg_restore')
        module.exit_json(**result)

    try:
        header = parse_header(header_bytes(path, fmt))
    except (DumpHeaderError, IOError, OSError) as exc:
        unreadable('the archive header is damaged: %s' % to_native(exc),
                   'The %s archive %s has a damaged header (%s); it is truncated or corrupt. Download it again or '
                   'choose another backup. Nothing was changed.' % (fmt, path, to_native(exc)))
    result['header'] = header

    if version is None:
        unreadable('pg_restore could not be run: %s' % version_error,
                   'Could not run %s --version (%s), so the backup %s cannot be restored from this host. Install '
                   'the PostgreSQL client tools and set db_restore_pg_bin_dir to their bin directory. Nothing was '
                   'changed.' % (binary, version_error, path))

    readable, known = archive_readable(header['archive_version'], major)
    if not readable:
        limit = max_readable_archive(major)
        dump_version = short_version(header.get('pg_dump_version'))
        dump_major = version_tuple(dump_version)
        unreadable('archive format %s is newer than pg_restore %s reads (up to %d.%d)'
                   % (header['archive_version'], version, limit[0], limit[1]),
                   'The backup %s was made by pg_dump %s (archive format %s); the local pg_restore %s reads '
                   'archive formats up to %d.%d. Install the PostgreSQL %s client tools on this host and set '
                   'db_restore_pg_bin_dir to their bin directory. Nothing was changed.'
                   % (path, dump_version, header['archive_version'], version, limit[0], limit[1],
                      dump_major[0] if dump_major else 'newer', ))
    reason = ('archive format %s is readable by pg_restore %s' % (header['archive_version'], version) if known
              else 'pg_restore %s is not in the known version table; assumed to read archive format %s'
              % (version, header['archive_version']))

    if module.params['list_toc']:
        rc, out, err = module.run_command([binary, '--list', path])
        if rc != 0:
            detail = first_line(err) or 'exit code %d' % rc
            unreadable('pg_restore --list failed: %s' % detail,
                       'The local pg_restore %s could not read the backup %s: %s. The archive is damaged or was '
                       'made by a newer pg_dump (%s); download it again, or install matching PostgreSQL client '
                       'tools and set db_restore_pg_bin_dir to their bin directory. Nothing was changed.'
                       % (version, path, detail, short_version(header.get('pg_dump_version'))))
        toc, entries = parse_toc_listing(out)
        result.update(toc=toc, toc_entries=entries)
        reason += '; the TOC lists %d entries' % len(entries)

    result.update(readable=True, reason=reason)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
