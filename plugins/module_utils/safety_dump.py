# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_dump of a database into a file, trying formats in turn (the runbook's safety backup)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

from ansible_collections.yieldvault.db_restore.plugins.module_utils.binaries import resolve_binary
from ansible_collections.yieldvault.db_restore.plugins.module_utils.conninfo import dbname_option
from ansible_collections.yieldvault.db_restore.plugins.module_utils.dumpfile import (
    PACKED_DIRECTORY, PACKED_SUFFIX, pack_directory,
)
from ansible_collections.yieldvault.db_restore.plugins.module_utils.files import remove_path

# directory: pg_dump --format=directory --jobs=N (parallel), packed into one
# tar file <base>.dir.tar so that it is hashed, given a sidecar and uploaded as
# one file; its format is then directory_tar (dumpfile.PACKED_DIRECTORY).
EXTENSIONS = {'directory': PACKED_SUFFIX, 'custom': '.dump', 'plain': '.sql'}
FILE_FORMATS = {'directory': PACKED_DIRECTORY, 'custom': 'custom', 'plain': 'plain'}


def safety_formats(setting, jobs, method):
    """The pg_dump formats to try, in order, for db_restore_safety_backup_format ``setting`` (auto, directory,
    custom): directory when asked, or for auto when the dump can run in parallel (jobs > 1) and the method is swap.
    In place (the method for hosts short of disk) a rollback after the drop would need room to unpack a directory
    dump, so auto is custom there. custom and then plain follow, each tried when the one before failed."""
    try:
        jobs = int(jobs)
    except (TypeError, ValueError):
        jobs = 1
    directory = setting == 'directory' or (setting == 'auto' and jobs > 1 and (method or 'swap') == 'swap')
    return (['directory'] if directory else []) + ['custom', 'plain']


def last_lines(text, count=3):
    """The last non-empty lines of text, joined: where pg_dump says what went wrong."""
    lines = [line.strip() for line in (text or '').splitlines() if line.strip()]
    return ' '.join(lines[-count:])


def dump_argv(pg_dump, database, fmt, part, compress=None, jobs=1):
    argv = [pg_dump, '--no-password', '--format=%s' % fmt, '--file=%s' % part]
    if fmt in ('custom', 'directory') and compress is not None and compress >= 0:
        argv.append('--compress=%d' % compress)
    if fmt == 'directory' and jobs and jobs > 1:
        argv.append('--jobs=%d' % jobs)
    # A connection string of our own, never the bare name: pg_dump would read a name holding '=' as one
    # (conninfo.py). As one --dbname=... argument, a name starting with '-' is no option either.
    return argv + [dbname_option(database)]


def _remove(path):
    try:
        remove_path(path)
    except OSError:
        pass


def dump_database(module, base, database, pg_dump='pg_dump', formats=('custom', 'plain'), compress=None, jobs=1):
    """Dump database to base + extension in the first format of formats that works.

    Each attempt writes <file>.part (mode 0600: the umask of the dump is 077) and renames it when pg_dump
    succeeded; a failed attempt's .part is removed, so a full disk gets its space back before the next format is
    tried. directory dumps with jobs parallel workers into <file>.d.part, packed into <file>.part and removed.
    The connection comes from the environment (PGHOST, PGPORT, PGUSER, PGPASSFILE), as for the client tools.
    Returns dict(path, format, errors {requested format: message}, seconds); format is the file's (directory_tar
    for directory); path and format are None when no format worked.
    """
    started = time.time()
    result = dict(path=None, format=None, errors={}, seconds=0.0)
    binary, missing = resolve_binary(module, pg_dump)
    if not binary:
        result['errors'] = dict((fmt, missing) for fmt in formats)
        return result
    for fmt in formats:
        final = base + EXTENSIONS[fmt]
        part = final + '.part'
        # pg_dump creates the directory itself and refuses one that is not empty.
        target = final + '.d.part' if fmt == 'directory' else part
        _remove(target)
        rc, out, err = module.run_command(dump_argv(binary, database, fmt, target, compress, jobs), umask=0o077)
        if rc == 0:
            try:
                if fmt == 'directory':
                    stage = 'pack'
                    pack_directory(target, part, os.path.basename(base), remove=True)
                    _remove(target)
                stage = 'rename'
                os.rename(part, final)
            except (IOError, OSError) as exc:
                result['errors'][fmt] = 'could not %s %s: %s' % (stage, target if stage == 'pack' else part,
                                                                 getattr(exc, 'strerror', None) or exc)
            else:
                result.update(path=final, format=FILE_FORMATS[fmt])
                break
        else:
            result['errors'][fmt] = last_lines(err) or last_lines(out) or 'pg_dump exit code %d' % rc
        _remove(part)
        if target != part:
            _remove(target)
    result['seconds'] = round(time.time() - started, 3)
    return result
