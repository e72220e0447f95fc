# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pgBackRest configuration and the server settings that make PostgreSQL archive into it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import shlex


def render_config(stanza, data_dir, port, socket_dir, repo_path, retention_full, log_path, user):
    """The pgBackRest configuration file text for one stanza in a posix repository.

    Deterministic (sorted keys, no timestamp) so that comparing it with the file on disk says whether a write
    is needed.
    """
    global_opts = {
        'repo1-path': repo_path,
        'repo1-retention-full': str(retention_full),
        'log-path': log_path,
        'log-level-file': 'info',
        'start-fast': 'y',
    }
    stanza_opts = {'pg1-path': data_dir, 'pg1-port': str(port), 'pg1-user': user}
    if socket_dir:
        stanza_opts['pg1-socket-path'] = socket_dir
    lines = ['# Written by yieldvault.db_restore (wal_archive role); edits are overwritten.', '[global]']
    lines += ['%s=%s' % (k, global_opts[k]) for k in sorted(global_opts)]
    lines += ['', '[%s]' % stanza]
    lines += ['%s=%s' % (k, stanza_opts[k]) for k in sorted(stanza_opts)]
    return '\n'.join(lines) + '\n'


def archive_command(pgbackrest, config, stanza):
    """archive_command for PostgreSQL: pgBackRest pushes %p into the stanza's repository."""
    return '%s --config=%s --stanza=%s archive-push %%p' % (
        shlex.quote(pgbackrest), shlex.quote(config), shlex.quote(stanza))


def wanted_settings(pgbackrest, config, stanza, archive_timeout):
    """{setting: value} the server must have to archive into the stanza."""
    return {
        'archive_mode': 'on',
        'archive_command': archive_command(pgbackrest, config, stanza),
        'archive_timeout': '%ds' % int(archive_timeout),
    }


_SECONDS = {'ms': 0.001, 's': 1, 'min': 60, 'h': 3600, 'd': 86400}


def seconds(value, default_unit='s'):
    """Seconds of a time setting as PostgreSQL writes it: C(30), C(30s), C(1min) (the unit defaults to pg_settings')."""
    match = re.match(r'^\s*(\d+)\s*([a-z]*)\s*$', str(value))
    if not match or (match.group(2) or default_unit) not in _SECONDS:
        return None
    return int(match.group(1)) * _SECONDS[match.group(2) or default_unit]


def setting_differs(name, wanted, current_value, current_unit):
    """Whether the server's configured value (a file's string, or pg_settings' with its unit) differs from the wanted one."""
    if current_value is None:
        return True
    if name == 'archive_timeout':
        return seconds(current_value, current_unit or 's') != seconds(wanted)
    return current_value != wanted


_SEGMENT = re.compile(r'^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})(?:-[0-9a-f]{40})?(?:\.[a-z0-9]+)?$')
SEGMENTS_PER_XLOGID = 0x100  # 16 MB segments, PostgreSQL's default


def segment_number(name):
    """(timeline, sequence number) of an archived WAL segment file name, or None for other files (.history, .backup)."""
    match = _SEGMENT.match(name.rsplit('/', 1)[-1])
    if not match or name.endswith('.backup') or '.backup.' in name:
        return None
    timeline, log, seg = (int(group, 16) for group in match.groups())
    return timeline, log * SEGMENTS_PER_XLOGID + seg


def segment_name(timeline, number):
    return '%08X%08X%08X' % (timeline, number // SEGMENTS_PER_XLOGID, number % SEGMENTS_PER_XLOGID)


def archive_gaps(names, start, stop):
    """Missing segments between the segment names start and stop (inclusive), on start's timeline.

    Returns a list of {first_missing, last_missing}; names are the archive's file names (pgBackRest adds a
    checksum and a compression suffix, both ignored).
    """
    first, last = segment_number(start), segment_number(stop)
    if first is None or last is None:
        raise ValueError('not WAL segment names: %r, %r' % (start, stop))
    timeline = first[0]
    have = {n for t, n in filter(None, (segment_number(name) for name in names)) if t == timeline}
    gaps, run_start = [], None
    for number in range(first[1], last[1] + 1):
        if number not in have and run_start is None:
            run_start = number
        elif number in have and run_start is not None:
            gaps.append(dict(first_missing=segment_name(timeline, run_start),
                             last_missing=segment_name(timeline, number - 1)))
            run_start = None
    if run_start is not None:
        gaps.append(dict(first_missing=segment_name(timeline, run_start), last_missing=segment_name(timeline, last[1])))
    return gaps


def choose_backup(backups, point_epoch):
    """The newest backup that ended at or before the point (pgBackRest info's backup list), or None."""
    eligible = [b for b in backups if b['timestamp']['stop'] <= point_epoch]
    return max(eligible, key=lambda b: b['timestamp']['stop']) if eligible else None
