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
version_added: 0.2.0
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
  description:
    - Detected format - custom, tar, directory, gzip, plain or unknown, or directory_tar (a directory-format dump
      packed into one tar file, C(<name>/toc.dat) first, as the safety backup is), which is unpacked before pg_restore.
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
  description: pg_restore --jobs works with this dump (custom and directory formats, packed or not).
  returned: always
  type: bool
source_database:
  description:
    - The database the dump was made from - the archive header's (custom, tar, directory, packed directory), or the
      C(\connect) of a plain SQL dump made with C(--create); null when the dump does not say.
  returned: always
  type: str
  sample: yieldvault_prod
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.yieldvault.db_restore.plugins.module_utils.inspect_dump import inspect_backup


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
    result, problem = inspect_backup(module, module.params['path'], module.params['pg_restore'],
                                     module.params['list_toc'])
    if problem and module.params['fail_if_unreadable']:
        module.fail_json(msg=problem, **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
