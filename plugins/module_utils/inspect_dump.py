# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Identify a dump and check the local pg_restore can read it.

Shared by backup_inspect and backup_checksum (its inspect option), so the
download and this check can be one module call.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import tempfile

from ansible.module_utils.common.text.converters import to_native

from ansible_collections.yieldvault.db_restore.plugins.module_utils.binaries import resolve_binary
from ansible_collections.yieldvault.db_restore.plugins.module_utils.dump_content import read_content
from ansible_collections.yieldvault.db_restore.plugins.module_utils.dumpfile import (
    PACKED_DIRECTORY,
    DumpHeaderError,
    archive_readable,
    detect_format,
    dump_size,
    extract_toc,
    gzip_inner_format,
    header_bytes,
    max_readable_archive,
    parse_header,
    parse_pg_restore_version,
    parse_toc_listing,
    read_toc,
    source_database,
    version_tuple,
)


def _plain_source(path, fmt):
    try:
        return source_database(path, fmt)
    except (IOError, OSError):
        return None


def first_line(text):
    for line in (text or '').splitlines():
        line = line.strip()
        if line:
            return line
    return ''


def short_version(text):
    """'17.2 (Debian 17.2-1)' -> '17.2'."""
    return (text or '').split(' ')[0] or 'unknown'


def pg_restore_version(module, binary):
    rc, out, err = module.run_command([binary, '--version'])
    if rc != 0:
        return None, None, first_line(err) or first_line(out) or 'exit code %d' % rc
    version, major = parse_pg_restore_version(out)
    return version, major, None


class _Unreadable(Exception):
    pass


def list_archive(module, binary, path, fmt):
    """pg_restore --list of the archive; a packed directory dump is listed from its toc.dat alone."""
    if fmt != PACKED_DIRECTORY:
        return module.run_command([binary, '--list', path])
    scratch = tempfile.mkdtemp(prefix='yv-toc-')
    try:
        try:
            extract_toc(path, scratch)
        except (IOError, OSError) as exc:
            return 1, '', 'could not read toc.dat from the packed directory dump: %s' % to_native(
                getattr(exc, 'strerror', None) or exc)
        return module.run_command([binary, '--list', scratch])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def inspect_backup(module, path, binary='pg_restore', list_toc=True, count_rows=False):
    """(result, None) for a dump the local pg_restore (or psql) can restore; (result, what to do) otherwise.

    With count_rows, result['content'] is what the archive holds (dump_content.read_content: exact row counts
    from its data, read once, streaming; its tables, columns and partitions), or None for plain SQL. A dump whose
    data cannot be read to its end is not refused here: content says why (content.error), and pg_restore has
    the last word.

    result has the keys backup_inspect returns: changed, path, format, size, header, pg_restore_version,
    readable, reason, toc, toc_entries, jobs_supported, source_database (the database the dump was made from: the
    archive header's, or the \\connect of a plain dump made with --create; None when the dump does not say).
    """
    result = dict(
        changed=False, path=path, format='unknown', size=None, header=None, pg_restore_version=None,
        readable=False, reason='', toc=None, toc_entries=None, jobs_supported=False, source_database=None,
    )
    if count_rows:
        result['content'] = None
    try:
        return _inspect(module, path, binary, list_toc, result)
    except _Unreadable as exc:
        return result, str(exc)


def _inspect(module, path, binary, list_toc, result):
    def unreadable(reason, msg):
        result.update(readable=False, reason=reason)
        raise _Unreadable(msg)

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
    result['jobs_supported'] = fmt in ('custom', 'directory', PACKED_DIRECTORY)

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
            result['source_database'] = _plain_source(path, fmt)
            result.update(readable=True, reason='gzip-compressed plain SQL: restore with gunzip | psql, not pg_restore')
            return result, None
        if inner == 'custom':
            unreadable('a gzip-compressed custom-format archive',
                       '%s is a custom-format pg_dump archive that was compressed again with gzip; pg_restore cannot '
                       'read it like this. Decompress it (gunzip) and inspect the result. Nothing was changed.' % path)
        unreadable('gzip data that is not a PostgreSQL dump',
                   '%s is not a PostgreSQL dump (custom, tar, directory or plain SQL): it is gzip data without SQL '
                   'or a pg_dump archive inside, or it is damaged. Check the file. Nothing was changed.' % path)
    if fmt == 'plain':
        result['source_database'] = _plain_source(path, fmt)
        result.update(readable=True, reason='plain SQL: restore with psql, not pg_restore')
        return result, None

    try:
        header = parse_header(header_bytes(path, fmt))
    except (DumpHeaderError, IOError, OSError) as exc:
        unreadable('the archive header is damaged: %s' % to_native(exc),
                   'The %s archive %s has a damaged header (%s); it is truncated or corrupt. Download it again or '
                   'choose another backup. Nothing was changed.' % (fmt, path, to_native(exc)))
    result['header'] = header
    result['source_database'] = header.get('dbname')

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

    if list_toc:
        rc, out, err = list_archive(module, binary, path, fmt)
        if rc != 0:
            detail = first_line(err) or 'exit code %d' % rc
            unreadable('pg_restore --list failed: %s' % detail,
                       'The local pg_restore %s could not read the backup %s: %s. The archive is damaged or was '
                       'made by a newer pg_dump (%s); download it again, or install matching PostgreSQL client '
                       'tools and set db_restore_pg_bin_dir to their bin directory. Nothing was changed.'
                       % (version, path, detail, short_version(header.get('pg_dump_version'))))
        # Names and owners may hold spaces: the archive's own TOC says where each ends.
        toc, entries = parse_toc_listing(out, read_toc(path, fmt))
        result.update(toc=toc, toc_entries=entries)
        reason += '; the TOC lists %d entries' % len(entries)

    if 'content' in result:
        content = result['content'] = read_content(path, fmt)
        if content.get('damaged'):
            # Our reader says the archive is broken: pg_restore reads it to the end too before this is called
            # damaged, so a reader of ours that is wrong never refuses a good backup.
            confirmed, detail = confirm_damage(module, binary, path, fmt)
            content['damage_confirmed'] = confirmed
            if confirmed:
                unreadable('the archive is damaged: %s' % content['error'],
                           'The backup %s is damaged: %s (%s). Its checksum matches, so it was written '
                           'like this: a restore of it would stop part way (in place: after the drop, then a rollback). '
                           'Choose another backup with -e backup=<name> or an earlier -e point, and check the backup '
                           'job that wrote it. Nothing was changed.'
                           % (os.path.basename(path.rstrip('/')), content['error'], detail))
    result.update(readable=True, reason=reason)
    return result, None


def confirm_damage(module, binary, path, fmt, timeout=600):
    """(True, the evidence) when the archive is damaged beyond our reader's word, (False, '') when pg_restore reads
    it to its end, (None, '') when that cannot be told.

    custom and directory: pg_restore --file /dev/null must fail too (bounded by timeout seconds). tar: Python's
    tarfile found it cut, and pg_restore 15 never ends on a truncated tar archive (it spins), so the reader's
    word stands. A packed directory dump (.dir.tar) cannot be given to pg_restore as it is.
    """
    if fmt == 'tar':
        return True, 'a truncated tar archive, on which pg_restore does not stop'
    if fmt not in ('custom', 'directory'):
        return None, ''
    command = [binary, '--file', os.devnull, path]
    timeout_bin = shutil.which('timeout')
    if timeout_bin:
        command = [timeout_bin, str(int(timeout))] + command
    rc, out, err = module.run_command(command)
    if rc == 0:
        return False, ''
    if timeout_bin and rc == 124:
        return None, ''
    lines = [line for line in (err or '').splitlines() if line.strip()]
    return True, 'pg_restore: %s' % (lines[-1].strip() if lines else 'exit code %d' % rc)
