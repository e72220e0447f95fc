# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_dump of a database into a file, trying formats in turn (the runbook's safety backup)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

from ansible_collections.yieldvault.db_restore.plugins.module_utils.binaries import resolve_binary

EXTENSIONS = {'custom': '.dump', 'plain': '.sql'}


def last_lines(text, count=3):
    """The last non-empty lines of text, joined: where pg_dump says what went wrong."""
    lines = [line.strip() for line in (text or '').splitlines() if line.strip()]
    return ' '.join(lines[-count:])


def dump_argv(pg_dump, database, fmt, part, compress=None):
    argv = [pg_dump, '--no-password', '--format=%s' % fmt, '--file=%s' % part]
    if fmt == 'custom' and compress is not None and compress >= 0:
        argv.append('--compress=%d' % compress)
    # '--' so that a database name starting with '-' is not taken for an option.
    return argv + ['--', database]


def dump_database(module, base, database, pg_dump='pg_dump', formats=('custom', 'plain'), compress=None):
    """Dump database to base + extension in the first format of formats that works.

    Each attempt writes <file>.part (mode 0600: the umask of the dump is 077) and renames it when pg_dump
    succeeded; a failed attempt's .part is removed, so a full disk gets its space back before the next format is
    tried. The connection comes from the environment (PGHOST, PGPORT, PGUSER, PGPASSFILE), as for the client tools.
    Returns dict(path, format, errors {format: message}, seconds); path and format are None when no format worked.
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
        rc, out, err = module.run_command(dump_argv(binary, database, fmt, part, compress), umask=0o077)
        if rc == 0:
            try:
                os.rename(part, final)
            except OSError as exc:
                result['errors'][fmt] = 'could not rename %s: %s' % (part, exc.strerror or exc)
            else:
                result.update(path=final, format=fmt)
                break
        else:
            result['errors'][fmt] = last_lines(err) or last_lines(out) or 'pg_dump exit code %d' % rc
        try:
            os.unlink(part)
        except OSError:
            pass
    result['seconds'] = round(time.time() - started, 3)
    return result
