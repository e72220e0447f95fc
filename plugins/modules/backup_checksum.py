#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: backup_checksum
short_description: Fetch a backup and verify its MD5 and SHA-256 in one streaming pass
description:
  - Copies a backup from a local file (O(src)) or downloads it from S3 (O(s3_key)) to O(path), hashing it with
    MD5 and SHA-256 in the same single pass, in constant memory. The data goes to C(<path>.part), is fsynced,
    compared with the expected checksum and only then renamed to O(path), so O(path) never holds a partial or
    corrupt backup. On a mismatch or any error the C(.part) file is removed.
  - If O(path) already holds a file with the expected checksum, nothing is fetched (re-runs are cheap).
  - A fetch that fails in a way another try can cure (checksum mismatch, incomplete download, connection dropped
    or S3 server error) is tried again up to O(retries) times, waiting O(retry_delay) seconds, doubled after every
    try. RV(attempts) lists every try with its error and duration, also when the module fails.
  - Without O(src) and O(s3_key), verifies the file already at O(path).
  - The expected MD5 is taken from, in order, O(expected_md5), the S3 object's metadata C(md5) (with O(s3_key)),
    the O(sidecar) file, a C(<src>.md5) sidecar beside O(src) (or C(<path>.md5) when only verifying).
  - Also reports the dump format seen in the first bytes (C(custom), C(tar), C(gzip), C(plain) or C(unknown)).
version_added: 0.2.0
author:
  - YieldVault platform team
options:
  path:
    description:
      - The file to verify, or the destination when fetching.
    type: path
    required: true
  src:
    description:
      - Local file to copy to O(path). Mutually exclusive with O(s3_key).
    type: path
  s3_key:
    description:
      - Key of the S3 object in O(s3_bucket) to download to O(path). Mutually exclusive with O(src).
    type: str
  expected_md5:
    description:
      - Expected MD5 (hex). Overrides S3 metadata and sidecars.
    type: str
  expected_sha256:
    description:
      - Expected SHA-256 (hex), checked in addition to the MD5.
    type: str
  sha256:
    description:
      - Also compute the SHA-256 (always done when O(expected_sha256) is given). Off by default because it costs as
        much again as the MD5, which is the backups' checksum.
    type: bool
    default: false
  sidecar:
    description:
      - Path of an md5sum-format file (C(<hex>  <name>)) holding the expected MD5.
    type: path
  write_sidecar:
    description:
      - When hashing a file in place (neither O(src) nor O(s3_key)), write its MD5 to C(<path>.md5) in md5sum
        format (C(<hex>  <name>), mode 0600, through a temporary file and a rename) - for a backup this run has just
        made, so hashing it and writing its sidecar take one round trip.
      - Has no effect when fetching, or when the file did not match an expected checksum.
    type: bool
    default: false
  upload_key:
    description:
      - When hashing a file in place (neither O(src) nor O(s3_key)), then upload it to O(s3_bucket) under this key,
        with its MD5 in the object metadata (C(md5)), as the backups are stored - for a safety backup this run has
        just made, so hashing, the sidecar and the upload take one round trip.
      - A failed upload does not fail the task; it is returned in RV(upload_error) (the local copy is verified).
    type: str
  require_expected:
    description:
      - Fail when no expected checksum can be found. Set to V(false) to fetch or hash without verification.
    type: bool
    default: true
  mode:
    description:
      - File mode of the written file, as for M(ansible.builtin.file). Applied only when the module writes O(path).
      - The C(.part) file is created with mode C(0600) so a backup is never readable by others while it is written.
    type: raw
    default: '0600'
  chunk_size:
    description:
      - Bytes read per chunk while streaming.
    type: int
    default: 8388608
  retries:
    description:
      - How many times a failed fetch is tried again (so at most O(retries) + 1 tries). V(0) tries once.
      - Errors no retry can cure (object or source missing, access denied, no checksum known, destination not
        writable) are not retried.
    type: int
    default: 0
  retry_delay:
    description:
      - Seconds to wait before the first retry; doubled before each further one.
    type: float
    default: 2.0
  inspect:
    description:
      - Once the file is verified, check that the local pg_restore (O(pg_restore)) can read it, as
        M(yieldvault.db_restore.backup_inspect) does (format, archive header, C(pg_restore --list)), and return that
        as RV(inspect) - the download and this check in one module call. A file pg_restore cannot read fails the
        task with what to do; the verified file stays at O(path).
      - In check mode a fetched file is not written; a local O(src) is inspected where it is, an S3 object not at all.
    type: bool
    default: false
  count_rows:
    description:
      - With O(inspect), also read the archive's data once, streaming, and count every table's rows (RV(inspect.content)),
        the backup's exact content, without a manifest. Partitions are summed into their parent; a materialized
        view is C(refreshed) (pg_restore refreshes it) or null (dumped WITH NO DATA).
      - A custom, directory, tar or packed directory dump whose data is gzip-compressed or not compressed is
        counted; plain SQL is not (RV(inspect.content) null), nor lz4 or zstd data (RV(inspect.content.error) says
        so). Data that ends early is reported in RV(inspect.content.error), not as a failure.
    type: bool
    default: false
  source_database:
    description:
      - With O(inspect), the database the backup's file name says it holds (C(<database>_YYYYMMDD_HHMM.dump)). The
        database the dump names (RV(identity.source_database) - the archive header's, or a plain dump's
        C(\connect)) must be this one, or the task fails - before anything changed - saying the backup lies about
        what it is.
      - A dump that names no database (plain SQL made without C(--create)) passes with RV(identity.status=unknown).
    type: str
  source_is_safety_backup:
    description:
      - With O(source_database), the backup is a safety backup of O(source_database)
        (C(<database>_safety_<stamp>)), so a dump of C(<source_database>__pre_<stamp>) - the name production has
        during a swap when its safety backup is taken - is accepted too.
    type: bool
    default: false
  check_time:
    description:
      - With O(source_database), the time the backup's file name says (C(_YYYYMMDD_HHMM)) must agree with the
        creation time pg_dump wrote in its archive header, or the task fails before anything changed - a backup
        copied or renamed under another time would restore the data of another moment. pg_dump writes its host's
        wall-clock time without a zone, so the two agree within 26 hours (UTC-12 to UTC+14); plain SQL carries no
        time (RV(identity.time_status=unknown)).
      - Not for a dump named after a restore point that was recovered from the WAL archive later.
    type: bool
    default: false
    version_added: 0.3.0
  unpack_to:
    description:
      - With a file verified in place (neither O(src) nor O(s3_key)) that is a directory-format dump packed into a
        tar file (format C(directory_tar), the safety backup), unpack it into this directory for
        C(pg_restore --jobs), once its checksum matched. The directory is created (mode 0700), replacing one left
        by an earlier attempt.
      - Every member must be a regular file directly under the archive's top directory; the archive is checked
        whole before anything is written, and a failed unpack removes what it wrote.
      - Ignored in check mode.
    type: path
  pg_restore:
    description:
      - The pg_restore O(inspect) uses (a name found in PATH, or a path).
    type: str
    default: pg_restore
  dump:
    description:
      - Make the file first, with C(pg_dump), then hash it (and write its sidecar, upload it) in the same call - the
        safety backup of a restore in one round trip. Not with O(src) or O(s3_key).
      - O(path) is then the name without extension - the dump is C(<path>.dir.tar) (directory format, packed),
        C(<path>.dump) (custom format) or C(<path>.sql) (plain), and the extension is added to O(upload_key) as well.
      - The directory format is dumped with O(dump.jobs) parallel workers into C(<path>.dir.tar.d.part), then packed
        into one uncompressed tar file, C(<name>/toc.dat) first, so that it is hashed, given a sidecar and uploaded
        as one file (RV(dump_format) C(directory_tar)). Restore it with
        C(tar -xf <path>.dir.tar && pg_restore --jobs=N ... <name>).
      - Each format of O(dump.formats) is tried in turn until one works. An attempt writes C(<file>.part) (mode
        0600) and renames it when C(pg_dump) succeeded; a failed attempt's C(.part) is removed, so a full disk gets
        its space back. When no format works the task fails with every format's error in RV(dump_errors).
      - C(pg_dump) connects as the PostgreSQL client tools do, from the environment (E(PGHOST), E(PGPORT),
        E(PGUSER), E(PGPASSFILE)); set them with the task's C(environment).
      - In check mode nothing is dumped; the task reports C(changed) and the name of the first format.
    type: dict
    suboptions:
      database:
        description: The database to dump.
        type: str
        required: true
      pg_dump:
        description: The C(pg_dump) binary, a name on E(PATH) or a full path.
        type: str
        default: pg_dump
      formats:
        description: The formats to try, in order.
        type: list
        elements: str
        choices: [directory, custom, plain]
        default: [custom, plain]
      compress:
        description:
          - zlib level of the custom and directory formats, 0 (none) to 9; V(-1) leaves it to C(pg_dump) (6).
          - Level 1 dumps about twice as fast as level 6 for a file some 5-10% larger.
        type: int
        default: -1
      jobs:
        description:
          - Parallel C(pg_dump) workers for the directory format (C(--jobs)); each holds its own connection.
        type: int
        default: 1
extends_documentation_fragment:
  - yieldvault.db_restore.s3
attributes:
  check_mode:
    support: full
    description:
      - In check mode the source is streamed and hashed for real, so a corrupt backup is found, but nothing is
        written. V(changed) is true when a fetch would happen.
seealso:
  - module: yieldvault.db_restore.backup_catalog
'''

EXAMPLES = r'''
- name: Download the selected backup and verify it against its S3 metadata md5
  yieldvault.db_restore.backup_checksum:
    path: /var/backups/postgresql/restore/yieldvault_prod_20260429_1400.dump
    s3_bucket: yieldvault-backups
    s3_key: database/yieldvault_prod_20260429_1400.dump
  register: fetched

- name: Copy a backup from the local store; the .md5 sidecar beside it is used
  yieldvault.db_restore.backup_checksum:
    src: /var/backups/postgresql/yieldvault_prod_20260429_1400.dump
    path: /var/backups/postgresql/restore/yieldvault_prod_20260429_1400.dump

- name: Download with up to two retries after a dropped connection or a checksum mismatch
  yieldvault.db_restore.backup_checksum:
    path: /var/backups/postgresql/restore/yieldvault_prod_20260429_1400.dump
    s3_bucket: yieldvault-backups
    s3_key: database/yieldvault_prod_20260429_1400.dump
    retries: 2
    retry_delay: 5
  register: fetched

- name: Download, verify and check the local pg_restore can read it, in one call
  yieldvault.db_restore.backup_checksum:
    path: /var/backups/postgresql/restore/yieldvault_prod_20260429_1400.dump
    s3_bucket: yieldvault-backups
    s3_key: database/yieldvault_prod_20260429_1400.dump
    inspect: true
  register: fetched

- name: Verify a file already on disk against a known checksum
  yieldvault.db_restore.backup_checksum:
    path: /var/backups/postgresql/restore/yieldvault_prod_20260429_1400.dump
    expected_md5: "{{ selected.backup.expected_md5 }}"
'''

RETURN = r'''
inspect:
  description:
    - With O(inspect), what M(yieldvault.db_restore.backup_inspect) returns for the file (format, size, header,
      pg_restore_version, readable, reason, toc, toc_entries, jobs_supported); null when nothing could be inspected
      (check mode, S3).
  returned: when O(inspect=true)
  type: dict
  contains:
    content:
      description:
        - With O(count_rows), what the archive holds - C(counted), C(error), C(tables) (C(schema.table) to its rows,
          C(refreshed), C(unknown) for data written as INSERT statements, or null), C(partitions), C(unknown),
          C(relations) (C(schema.table) to its TOC type), C(columns), C(data_bytes) and C(seconds); null for plain SQL.
      type: dict
      sample: {"counted": true, "error": null, "tables": {"public.User": 1204, "public.payment": 16049},
               "seconds": 0.42}
identity:
  description:
    - With O(inspect) and O(source_database), whether the dump comes from the database its name says.
  returned: when O(source_database) is given
  type: dict
  contains:
    status:
      description:
        - C(match), C(mismatch) (the task failed), C(unknown) (the dump names no database) or C(not_checked)
          (nothing was inspected - check mode with an S3 object).
      type: str
      sample: match
    source_database:
      description: The database the dump names; null when it names none or nothing was inspected.
      type: str
      sample: yieldvault_prod
    expected:
      description: The database (O(source_database)) its name says.
      type: str
      sample: yieldvault_prod
    msg:
      description: The finding in one sentence.
      type: str
    dumped_at:
      description: The creation time in the archive header (ISO 8601, read in this host's time zone); null for plain SQL.
      type: str
      sample: "2026-04-29T14:00:03Z"
    time_status:
      description:
        - With O(check_time), C(match), C(mismatch) (the task failed) or C(unknown) (no time in the name or the
          header); C(not_checked) otherwise.
      type: str
      sample: match
path:
  description: The verified file (the destination when fetching).
  returned: always
  type: str
  sample: /var/backups/postgresql/restore/yieldvault_prod_20260429_1400.dump
dump_format:
  description: The format of the file O(dump) wrote (C(directory_tar), C(custom) or C(plain)); null when none worked.
  returned: when O(dump) is given
  type: str
dump_errors:
  description: What went wrong with each format O(dump) tried and that failed, by format.
  returned: when O(dump) is given
  type: dict
  sample: {"custom": "pg_dump: error: could not write to output file: No space left on device"}
dump_seconds:
  description: How long the O(dump) took, all formats tried.
  returned: when O(dump) is given
  type: float
free_bytes:
  description: Free bytes left on the file system of the dump once it was written.
  returned: when O(dump) wrote a dump
  type: int
unpacked:
  description: The directory the file was unpacked into with O(unpack_to).
  returned: when O(unpack_to) is given and the file was unpacked
  type: str
uploaded:
  description: The file was uploaded to O(upload_key).
  returned: when O(upload_key) is given
  type: bool
upload_error:
  description: Why the upload to O(upload_key) failed; empty when it did not.
  returned: when O(upload_key) is given
  type: str
sidecar:
  description: The md5sum-format file written with O(write_sidecar).
  returned: when a sidecar was written
  type: str
  sample: /var/backups/postgresql/safety/yieldvault_prod_safety_20260429_143512.dump.md5
size:
  description: Size in bytes of the data hashed.
  returned: success
  type: int
  sample: 7340032
md5:
  description: MD5 of the data, lowercase hex.
  returned: success
  type: str
  sample: 9e107d9d372bb6826bd81d3542a419d6
sha256:
  description: SHA-256 of the data, lowercase hex (computed when O(expected_sha256) or O(sha256) asks for it).
  returned: when computed
  type: str
  sample: d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592
expected_md5:
  description: The MD5 the data was compared with, or null.
  returned: success
  type: str
  sample: 9e107d9d372bb6826bd81d3542a419d6
expected_source:
  description: Where RV(expected_md5) came from, V(given), V(s3_metadata), V(sidecar), or null.
  returned: success
  type: str
  sample: s3_metadata
verified:
  description: True when the data matched every expected checksum (at least one was known).
  returned: success
  type: bool
  sample: true
fetched:
  description: True when the file was copied or downloaded (in check mode, when it would be).
  returned: success
  type: bool
  sample: true
format:
  description: Dump format seen in the first bytes, V(custom), V(tar), V(gzip), V(plain) or V(unknown).
  returned: success
  type: str
  sample: custom
seconds:
  description: Seconds spent streaming and hashing.
  returned: success
  type: float
  sample: 2.41
throughput_mib_s:
  description: MiB per second while streaming.
  returned: success
  type: float
  sample: 312.5
attempts:
  description:
    - Every try of the fetch, in order; the last one has RV(attempts[].error) null when the fetch succeeded.
    - Empty when nothing had to be fetched (verify only, or O(path) already held the expected file).
  returned: always
  type: list
  elements: dict
  contains:
    attempt:
      description: Number of the try, from 1.
      type: int
      sample: 1
    error:
      description: Why the try failed, or null.
      type: str
      sample: "The download of yieldvault_prod_20260429_1400.dump is incomplete: got 4096 of 7340032 bytes."
    seconds:
      description: Seconds the try took.
      type: float
      sample: 2.4
    retryable:
      description: Whether the error is one another try can cure.
      type: bool
      sample: true
  sample: [{"attempt": 1, "error": null, "seconds": 2.4, "retryable": false}]
'''

import os
import shutil
import socket
import tarfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.yieldvault.db_restore.plugins.module_utils.checksum import (
    DEFAULT_CHUNK_SIZE, detect_format, hash_stream, normalize_md5, normalize_sha256, read_md5_sidecar, retry_delays,
)
from ansible_collections.yieldvault.db_restore.plugins.module_utils.dumpfile import PACKED_DIRECTORY, unpack_directory
from ansible_collections.yieldvault.db_restore.plugins.module_utils.files import write_atomic
from ansible_collections.yieldvault.db_restore.plugins.module_utils.identity import check_dump_time, check_identity
from ansible_collections.yieldvault.db_restore.plugins.module_utils.inspect_dump import inspect_backup
from ansible_collections.yieldvault.db_restore.plugins.module_utils.safety_dump import EXTENSIONS, FILE_FORMATS, dump_database
from ansible_collections.yieldvault.db_restore.plugins.module_utils.s3 import (
    build_s3_client, describe_s3_error, is_transient_s3_error, load_boto3, s3_argument_spec, s3_client,
)

NOTHING_CHANGED = 'nothing was changed.'


class ChecksumModule(AnsibleModule):
    def add_path_info(self, kwargs):
        # AnsibleModule overwrites `size` with the size of whatever file is at `path`; in check mode
        # that is the old file, not the backup that was hashed.
        hashed_size = kwargs.get('size')
        kwargs = super(ChecksumModule, self).add_path_info(kwargs)
        if hashed_size is not None:
            kwargs['size'] = hashed_size
        return kwargs


class SourceReadError(Exception):
    def __init__(self, cause):
        super(SourceReadError, self).__init__(str(cause))
        self.cause = cause


class AttemptFailed(Exception):
    """One try of a fetch failed; ``retryable`` says whether another try can cure it."""

    def __init__(self, msg, retryable, result=None):
        super(AttemptFailed, self).__init__(msg)
        self.msg = msg
        self.retryable = retryable
        self.result = result or {}


class Checksum(object):
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.path = module.params['path']
        self.src = module.params['src']
        self.s3_key = (module.params['s3_key'] or '').strip() or None
        self.client = None
        self.s3_head = None
        self.name = os.path.basename(self.s3_key or self.src or self.path)
        self.expected_md5 = None
        self.expected_source = None
        self.expected_sha256 = None
        self.dump_info = {}

    @property
    def want_sha256(self):
        return bool(self.params.get('sha256') or self.params.get('expected_sha256'))

    def fail(self, msg, **extra):
        extra.setdefault('attempts', [])
        self.module.fail_json(msg=msg, path=self.path, **extra)

    def make_dump(self):
        """O(dump): pg_dump into <path>.dir.tar, <path>.dump or <path>.sql, which becomes the file to hash."""
        spec = self.params['dump']
        if self.src or self.s3_key:
            self.fail('dump makes the file at path: give neither src nor s3_key with it. Nothing was changed.')
        if not -1 <= spec['compress'] <= 9:
            self.fail('db_restore_safety_backup_compress must be -1 (pg_dump\'s default) or a zlib level 0 to 9, '
                      'not %d. Nothing was changed.' % spec['compress'])
        formats = []
        for fmt in spec['formats']:
            if fmt not in formats:
                formats.append(fmt)
        if not formats:
            self.fail('No dump format to try: set db_restore_safety_backup_format to auto, directory or custom. '
                      'Nothing was changed.')
        if spec['jobs'] < 1:
            self.fail('db_restore_jobs must be 1 or more, not %d. Nothing was changed.' % spec['jobs'])
        if self.params['upload_key']:
            self.params['upload_key'] = self.params['upload_key'].strip()
        if self.module.check_mode:
            self.module.exit_json(changed=True, path=self.path + EXTENSIONS[formats[0]],
                                  dump_format=FILE_FORMATS[formats[0]], dump_errors={}, dump_seconds=0.0, attempts=[])
        done = dump_database(self.module, self.path, spec['database'], spec['pg_dump'], formats,
                             spec['compress'], spec['jobs'])
        self.dump_info = dict(dump_format=done['format'], dump_errors=done['errors'], dump_seconds=done['seconds'])
        if not done['path']:
            self.fail('pg_dump could not dump %s in any format: %s. Nothing was changed.'
                      % (spec['database'], '; '.join('%s: %s' % (fmt, done['errors'].get(fmt, '')) for fmt in formats)),
                      **self.dump_info)
        try:
            stats = os.statvfs(os.path.dirname(os.path.abspath(done['path'])))
            self.dump_info['free_bytes'] = stats.f_bavail * stats.f_frsize
        except OSError:
            pass
        spec_base = self.path
        self.path = done['path']
        self.name = os.path.basename(self.path)
        if self.params['upload_key']:
            # The extension the dump got (.dir.tar, .dump or .sql).
            self.params['upload_key'] += done['path'][len(spec_base):]

    # Sources -----------------------------------------------------------------------------------

    def s3_error(self, exc, action):
        params = self.params
        return '%s Nothing was changed.' % describe_s3_error(
            exc, action, params['s3_bucket'], params['s3_endpoint_url'], key=self.s3_key, region=params['s3_region'])

    def prepare_source(self):
        if self.s3_key:
            self.client = s3_client(self.module)
            try:
                self.s3_head = self.client.head_object(Bucket=self.params['s3_bucket'], Key=self.s3_key)
            except Exception as exc:
                self.fail(self.s3_error(exc, 'read the backup object'))
        elif self.src:
            if not os.path.isfile(self.src):
                self.fail('The source backup %s does not exist or is not a file. Check db_restore_local_backup_dir '
                          '(the backup store) and that the backup was not moved since it was chosen, then run again. '
                          'Nothing was changed.' % self.src)
            if not os.access(self.src, os.R_OK):
                self.fail('The source backup %s is not readable by this user. Nothing was changed.' % self.src)
            if os.path.exists(self.path) and os.path.samefile(self.src, self.path):
                self.fail('The backup %s is already the download\'s destination: the backup store '
                          '(db_restore_local_backup_dir) must not be db_restore_work_dir/restore. Set one of them to '
                          'another directory. Nothing was changed.' % self.path)

    def open_source(self):
        """Return (read function, closer) for the data to fetch; raise AttemptFailed."""
        if self.s3_key:
            try:
                body = self.client.get_object(Bucket=self.params['s3_bucket'], Key=self.s3_key)['Body']
            except Exception as exc:
                raise AttemptFailed(self.s3_error(exc, 'download the backup'), is_transient_s3_error(exc)) from exc
            return body.read, body.close
        try:
            handle = open(self.src, 'rb')
        except (IOError, OSError) as exc:
            raise AttemptFailed('Could not open the source backup %s: %s. Nothing was changed.'
                                % (self.src, to_native(exc)), retryable=True) from exc
        return handle.read, handle.close

    # Expected checksums ------------------------------------------------------------------------

    def resolve_expected(self):
        params = self.params
        if params['expected_sha256']:
            try:
                self.expected_sha256 = normalize_sha256(params['expected_sha256'])
            except ValueError as exc:
                self.fail('The expected sha256 checksum is invalid: %s. Nothing was changed.' % exc)
        if params['expected_md5']:
            try:
                self.expected_md5, self.expected_source = normalize_md5(params['expected_md5']), 'given'
            except ValueError as exc:
                self.fail('The expected md5 checksum is invalid: %s. Check the md5 recorded with the backup (its '
                          '.md5 sidecar, or its S3 md5 metadata), or choose another backup with -e backup=<name>. '
                          'Nothing was changed.' % exc)
            return
        if self.s3_head is not None:
            metadata = dict((str(k).lower(), v) for k, v in (self.s3_head.get('Metadata') or {}).items())
            if metadata.get('md5'):
                try:
                    self.expected_md5, self.expected_source = normalize_md5(metadata['md5']), 's3_metadata'
                    return
                except ValueError as exc:
                    self.module.warn('Ignoring the md5 metadata of s3://%s/%s: %s.'
                                     % (params['s3_bucket'], self.s3_key, exc))
        sidecar = params['sidecar']
        if sidecar:
            if not os.path.isfile(sidecar):
                self.fail('The checksum sidecar %s does not exist. Put the md5sum file there (md5sum NAME > NAME.md5). '
                          'Nothing was changed.' % sidecar)
        elif self.src and os.path.isfile(self.src + '.md5'):
            sidecar = self.src + '.md5'
        elif not self.src and not self.s3_key and os.path.isfile(self.path + '.md5'):
            sidecar = self.path + '.md5'
        if sidecar:
            try:
                self.expected_md5, self.expected_source = read_md5_sidecar(sidecar, name=self.name), 'sidecar'
            except (OSError, ValueError) as exc:
                self.fail('Could not read the checksum sidecar: %s. Fix or regenerate it beside the backup '
                          '(md5sum NAME > NAME.md5) if the backup is known to be good, or choose another backup with '
                          '-e backup=<name>. Nothing was changed.' % to_native(exc))

    def has_expected(self):
        return bool(self.expected_md5 or self.expected_sha256)

    def mismatch(self, digest):
        """Message for the first expected checksum that ``digest`` does not meet, else None."""
        if self.expected_md5 and digest['md5'] != self.expected_md5:
            return self._mismatch_msg('md5', self.expected_md5, self.expected_source, digest['md5'])
        if self.expected_sha256 and digest['sha256'] != self.expected_sha256:
            return self._mismatch_msg('sha256', self.expected_sha256, 'given', digest['sha256'])
        return None

    def _mismatch_msg(self, algorithm, expected, source, got):
        return ('Checksum mismatch for %s: expected %s %s (from %s), got %s. The backup is corrupt or incomplete; '
                'nothing was changed. Retry the download, or choose another backup with -e backup=<name>.'
                % (self.name, algorithm, expected, source, got))

    # Work --------------------------------------------------------------------------------------

    def hash_file(self, path):
        try:
            with open(path, 'rb') as handle:
                return hash_stream(handle, chunk_size=self.params['chunk_size'], sha256=self.want_sha256)
        except (IOError, OSError) as exc:
            self.fail('Could not read %s: %s. Nothing was changed.' % (path, to_native(exc)))

    def result(self, digest, seconds, changed, fetched):
        mib = digest['size'] / 1048576.0
        return dict(
            changed=changed,
            path=self.path,
            size=digest['size'],
            md5=digest['md5'],
            sha256=digest['sha256'],
            expected_md5=self.expected_md5,
            expected_source=self.expected_source,
            verified=self.has_expected() and self.mismatch(digest) is None,
            fetched=fetched,
            format=detect_format(digest['head']),
            seconds=round(seconds, 3),
            throughput_mib_s=round(mib / seconds, 1) if seconds > 0 else 0.0,
            attempts=[],
            **self.dump_info
        )

    def verify_only(self):
        if not os.path.isfile(self.path):
            self.fail('%s does not exist or is not a file; there is nothing to verify. Check that it was not moved '
                      'or deleted, or choose another backup with -e backup=<name>. Nothing was changed.' % self.path)
        started = time.time()
        digest = self.hash_file(self.path)
        result = self.result(digest, time.time() - started, changed=bool(self.dump_info), fetched=False)
        problem = self.mismatch(digest)
        if problem:
            result['msg'] = problem
            self.module.fail_json(**result)
        if self.params['write_sidecar'] and not self.module.check_mode:
            sidecar = self.path + '.md5'
            try:
                write_atomic(sidecar, '%s  %s\n' % (digest['md5'], os.path.basename(self.path)), 0o600)
            except (IOError, OSError) as exc:
                result['msg'] = ('Could not write the checksum sidecar %s: %s. The file %s itself is complete.'
                                 % (sidecar, to_native(getattr(exc, 'strerror', None) or exc), self.path))
                self.module.fail_json(**result)
            result.update(changed=True, sidecar=sidecar)
        upload_key = (self.params['upload_key'] or '').strip()
        if upload_key:
            result.update(uploaded=False, upload_key=upload_key, upload_error='')
            if not self.module.check_mode:
                result['upload_error'] = self.upload(upload_key, digest)
                result['uploaded'] = not result['upload_error']
                result['changed'] = result['changed'] or result['uploaded']
        if self.params['unpack_to'] and not self.module.check_mode:
            self.unpack(result)
        self.exit(result)

    def unpack(self, result):
        """O(unpack_to): the verified directory_tar into a fresh directory for pg_restore."""
        dest = self.params['unpack_to']
        if result['format'] != PACKED_DIRECTORY:
            result['msg'] = ('%s is a %s dump, not a packed directory-format dump (directory_tar): there is nothing '
                             'to unpack. Restore it as it is.' % (self.path, result['format']))
            self.module.fail_json(**result)
        try:
            if os.path.isdir(dest) and not os.path.islink(dest):
                shutil.rmtree(dest)
            parent = os.path.dirname(os.path.abspath(dest))
            if not os.path.isdir(parent):
                os.makedirs(parent, 0o700)
            unpack_directory(self.path, dest)
        except (IOError, OSError, tarfile.TarError) as exc:
            result['msg'] = ('Could not unpack %s into %s for pg_restore: %s. It needs as much free space as the file '
                             '(%d bytes) there; the partial copy was removed.'
                             % (self.path, dest, to_native(getattr(exc, 'strerror', None) or exc), result['size']))
            self.module.fail_json(**result)
        result.update(changed=True, unpacked=dest)

    def exit(self, result):
        """exit_json, after checking the verified file with pg_restore when inspect is set."""
        if self.params['inspect']:
            # In check mode a fetch writes nothing: the file verified in flight is a local source, read where it
            # is, or an S3 object, not inspected. A path already holding the expected file is inspected there.
            target = self.path
            if self.module.check_mode and result.get('fetched'):
                target = self.src
            result['inspect'] = None
            if target:
                result['inspect'], problem = inspect_backup(self.module, target, self.params['pg_restore'],
                                                            count_rows=self.params['count_rows'])
                if problem:
                    result['msg'] = problem
                    if result.get('attempts'):
                        # The transfer itself worked; the attempt failed on what pg_restore found.
                        result['attempts'][-1]['error'] = problem
                    self.module.fail_json(**result)
            if self.params['source_database'] is not None:
                self.check_identity(result)
        self.module.exit_json(**result)

    def check_identity(self, result):
        """Know the backup: the database its dump names against the one its file name says (source_database)."""
        inspected = result.get('inspect')
        expected = self.params['source_database']
        identity = dict(status='not_checked', source_database=None, expected=expected, dumped_at=None,
                        time_status='not_checked',
                        msg='%s was not read (check mode, S3), so its identity was not checked.' % self.name)
        if inspected:
            status, message = check_identity(self.name, inspected.get('source_database'), expected,
                                             safety=self.params['source_is_safety_backup'],
                                             fmt=inspected.get('format'))
            identity.update(status=status, source_database=inspected.get('source_database'), msg=message,
                            dumped_at=(inspected.get('header') or {}).get('created'))
            if self.params['check_time'] and status != 'mismatch':
                identity['time_status'], time_message = check_dump_time(self.name, identity['dumped_at'])
                if identity['time_status'] == 'mismatch':
                    identity.update(status='mismatch', msg=time_message)
        result['identity'] = identity
        if identity['status'] == 'mismatch':
            result['msg'] = identity['msg']
            if result.get('attempts'):
                result['attempts'][-1]['error'] = identity['msg']
            self.module.fail_json(**result)

    def upload(self, key, digest):
        """Upload path to key with its MD5 as object metadata; '' or what went wrong (never fails the task)."""
        params = self.params
        if not load_boto3():
            return 'boto3 is not installed on %s' % socket.gethostname()
        try:
            client = build_s3_client(params)
            client.upload_file(self.path, params['s3_bucket'], key,
                               ExtraArgs={'Metadata': {'md5': digest['md5']}})
        except ValueError as exc:
            return to_native(exc)
        except Exception as exc:  # botocore raises several unrelated types
            return describe_s3_error(exc, 'upload %s' % os.path.basename(self.path), params['s3_bucket'],
                                     params['s3_endpoint_url'], key=key, region=params['s3_region'])
        return ''

    def fetch(self):
        if os.path.isdir(self.path):
            self.fail('path %s is a directory: give the full destination file name. Nothing was changed.' % self.path)
        if os.path.isfile(self.path) and self.has_expected():
            started = time.time()
            digest = self.hash_file(self.path)
            if self.mismatch(digest) is None:
                self.exit(self.result(digest, time.time() - started, changed=False, fetched=False))
        directory = os.path.dirname(os.path.abspath(self.path))
        # In check mode nothing is written, and the task that would create the directory did not run either.
        if not os.path.isdir(directory) and not self.module.check_mode:
            self.fail('The destination directory %s does not exist; create it first. Nothing was changed.' % directory)

        retries = self.params['retries']
        delays = retry_delays(retries, self.params['retry_delay'])
        attempts = []
        for number in range(1, retries + 2):
            started = time.time()
            try:
                result = self._fetch_once(directory)
            except AttemptFailed as exc:
                attempts.append(dict(attempt=number, error=exc.msg, seconds=round(time.time() - started, 3),
                                     retryable=exc.retryable))
                if exc.retryable and number <= retries:
                    time.sleep(delays[number - 1])
                    continue
                result = dict(exc.result, path=self.path, attempts=attempts)
                result['msg'] = exc.msg
                if len(attempts) > 1:
                    result['msg'] = '%s All %d tries failed.' % (exc.msg, len(attempts))
                self.module.fail_json(**result)
            attempts.append(dict(attempt=number, error=None, seconds=round(time.time() - started, 3), retryable=False))
            result['attempts'] = attempts
            self.exit(result)

    def _fetch_once(self, directory):
        """Fetch to <path>.part, verify, rename; the result dict, or raise AttemptFailed."""
        part = self.path + '.part'
        committed = False
        started = time.time()
        close = None
        try:
            read, close = self.open_source()
            if self.module.check_mode:
                digest = self._stream(read, None)
            else:
                if os.path.lexists(part):
                    os.unlink(part)  # left by an interrupted run; it is ours by its name
                # 0600 from the first byte: a backup holds every user's data.
                fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, 'wb') as handle:
                    digest = self._stream(read, handle.write)
                    handle.flush()
                    os.fsync(handle.fileno())
            seconds = time.time() - started
            self._check_complete(digest)
            problem = self.mismatch(digest)
            result = self.result(digest, seconds, changed=problem is None, fetched=problem is None)
            if problem:
                # Another download can cure a corruption in transit; a corrupt object fails every try.
                raise AttemptFailed(problem, retryable=True, result=result)
            if not self.module.check_mode:
                os.replace(part, self.path)
                committed = True
                self._fsync_dir(directory)
                self.module.set_mode_if_different(self.path, self.params['mode'], False)
            return result
        except SourceReadError as exc:
            if self.s3_key:
                raise AttemptFailed(self.s3_error(exc.cause, 'download the backup'), retryable=True) from exc
            raise AttemptFailed('Could not read the source backup %s: %s. Nothing was changed.'
                                % (self.src, to_native(exc.cause)), retryable=True) from exc
        except (IOError, OSError) as exc:
            raise AttemptFailed('Could not write %s: %s. Check free space and permissions of %s; nothing was changed.'
                                % (self.path, to_native(exc), directory), retryable=False) from exc
        finally:
            if close is not None:
                try:
                    close()
                except Exception:
                    pass
            if not committed and not self.module.check_mode and os.path.lexists(part):
                os.unlink(part)

    def _stream(self, read, write):
        def guarded_read(size):
            # Tells a failing source apart from a failing destination in the error message.
            try:
                return read(size)
            except Exception as exc:
                raise SourceReadError(exc) from exc
        return hash_stream(guarded_read, write=write, chunk_size=self.params['chunk_size'], sha256=self.want_sha256)

    def _check_complete(self, digest):
        if self.s3_head is None:
            return
        expected_size = self.s3_head.get('ContentLength')
        if expected_size is not None and digest['size'] != expected_size:
            raise AttemptFailed('The download of %s is incomplete: got %d of %d bytes. Retry the download; nothing '
                                'was changed.' % (self.name, digest['size'], expected_size), retryable=True)

    @staticmethod
    def _fsync_dir(directory):
        # Makes the rename itself durable; not every platform allows opening a directory.
        try:
            fd = os.open(directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)


def no_checksum_message(name, s3_key=None, src=None, path=None):
    """What to do when a backup comes with no checksum; it names what an operator can change, not options."""
    if s3_key:
        how = ('set the md5 metadata (key md5) on the S3 object %s when uploading it (playbooks/backup.yml '
               'does)' % s3_key)
    else:
        how = ('put its md5sum file %s.md5 beside it (md5sum %s > %s.md5; playbooks/backup.yml '
               'writes it)' % (src or path, name, name))
    return ('No checksum was found for %s, so it cannot be verified and will not be restored: %s, or choose '
            'another backup with -e backup=<name>. Nothing was changed.' % (name, how))


def main():
    argument_spec = dict(
        path=dict(type='path', required=True),
        src=dict(type='path'),
        s3_key=dict(type='str'),
        expected_md5=dict(type='str'),
        expected_sha256=dict(type='str'),
        sha256=dict(type='bool', default=False),
        sidecar=dict(type='path'),
        write_sidecar=dict(type='bool', default=False),
        upload_key=dict(type='str'),
        require_expected=dict(type='bool', default=True),
        mode=dict(type='raw', default='0600'),
        chunk_size=dict(type='int', default=DEFAULT_CHUNK_SIZE),
        retries=dict(type='int', default=0),
        retry_delay=dict(type='float', default=2.0),
        inspect=dict(type='bool', default=False),
        count_rows=dict(type='bool', default=False),
        source_database=dict(type='str'),
        source_is_safety_backup=dict(type='bool', default=False),
        check_time=dict(type='bool', default=False),
        unpack_to=dict(type='path'),
        pg_restore=dict(type='str', default='pg_restore'),
        dump=dict(type='dict', options=dict(
            database=dict(type='str', required=True),
            pg_dump=dict(type='str', default='pg_dump'),
            formats=dict(type='list', elements='str', choices=['directory', 'custom', 'plain'],
                         default=['custom', 'plain']),
            compress=dict(type='int', default=-1),
            jobs=dict(type='int', default=1),
        )),
    )
    argument_spec.update(s3_argument_spec())
    module = ChecksumModule(
        argument_spec=argument_spec,
        mutually_exclusive=[('src', 's3_key')],
        required_by={'s3_key': 's3_bucket', 'upload_key': 's3_bucket'},
        supports_check_mode=True,
    )
    if module.params['chunk_size'] <= 0:
        module.fail_json(msg='chunk_size must be a positive number of bytes. Nothing was changed.')
    if module.params['retries'] < 0 or module.params['retry_delay'] < 0:
        module.fail_json(msg='db_restore_download_retries and db_restore_download_retry_delay must be 0 or more. '
                             'Nothing was changed.')

    if module.params['unpack_to'] and (module.params['src'] or module.params['s3_key']):
        module.fail_json(msg='unpack_to unpacks a file verified in place: give it without src and s3_key. Nothing was '
                             'changed.')

    job = Checksum(module)
    if module.params['dump']:
        job.make_dump()
    job.prepare_source()
    job.resolve_expected()
    if not job.has_expected() and module.params['require_expected']:
        job.fail(no_checksum_message(job.name, s3_key=job.s3_key, src=job.src, path=job.path))
    if job.src or job.s3_key:
        job.fetch()
    else:
        job.verify_only()


if __name__ == '__main__':
    main()
