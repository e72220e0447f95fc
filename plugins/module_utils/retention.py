# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the retention settings keep and what they let go (pure, no file system).

Safety backups are named ``<database>_safety_YYYYMMDD_HHMMSS`` plus ``.dir.tar``, ``.dump`` or ``.sql``; a run's
report directory and logs carry its run id, ``<mode>-<database>-YYYYMMDDTHHMMSSZ-<hex>``. Both name their
database and their time, so the choice never depends on file times a copy or a restore of the directory changes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

UTC = datetime.timezone.utc

_SAFETY_RE = re.compile(r'^(?P<db>.+)_safety_(?P<day>\d{8})_(?P<time>\d{6})(?P<ext>\.dir\.tar|\.dump|\.sql)$')
_RUN_RE = re.compile(r'^(?P<mode>[a-z_]+)-(?P<db>.+)-(?P<day>\d{8})T(?P<time>\d{6})Z-(?P<suffix>[0-9a-f]{4})$')


def _stamp(day, time):
    try:
        return datetime.datetime.strptime(day + time, '%Y%m%d%H%M%S').replace(tzinfo=UTC)
    except ValueError:
        return None


def rollback_can_use(name):
    """A .dump or .dir.tar safety backup is one rollback.yml restores; a plain .sql one is restored only by hand."""
    return name.endswith(('.dump', '.dir.tar'))


def parse_safety_name(name):
    """(database, time) of a safety backup's file name or S3 key's last part, or None for any other name."""
    match = _SAFETY_RE.match(name or '')
    if not match:
        return None
    taken = _stamp(match.group('day'), match.group('time'))
    return (match.group('db'), taken) if taken else None


def parse_run_id(run_id):
    """(mode, database, time) of a run id (a report directory's name), or None."""
    match = _RUN_RE.match(run_id or '')
    if not match:
        return None
    started = _stamp(match.group('day'), match.group('time'))
    return (match.group('mode'), match.group('db'), started) if started else None


def check_settings(keep_count, keep_days, what):
    """Raise ValueError, naming the setting, for a negative count or age."""
    for value, setting in ((keep_count, 'db_restore_keep_%s' % what), (keep_days, 'db_restore_keep_%s_days' % what)):
        if value is not None and int(value) < 0:
            raise ValueError('%s must be 0 or more (0 keeps every one), got %s.' % (setting, value))


# A safety backup younger than this is never removed, whatever the settings: the day after a restore is when a
# wrong restore point is noticed, and its safety backup is then the way back.
MIN_SAFETY_AGE = datetime.timedelta(hours=24)
# Names ahead of the clock by more than this are not ranked: a controller whose clock was once ahead would
# otherwise hold the "newest" place for ever and every new safety backup would go.
FUTURE_TOLERANCE = datetime.timedelta(seconds=60)


def choose(items, keep_count, keep_days, now, protect=(), min_age=None):
    """Split items (dicts with 'group', 'time' and 'name') into (keep, remove).

    Within each group, newest first, an item is kept when it is one of the newest ``keep_count``, or younger than
    ``keep_days`` days, or younger than ``min_age``, or named in ``protect``. The newest of each group is always
    kept, and an item dated in the future is kept without taking a place. With both settings 0 nothing is removed.
    Every removed item gets a 'reason'.
    """
    keep_count, keep_days = int(keep_count or 0), int(keep_days or 0)
    if keep_count <= 0 and keep_days <= 0:
        return list(items), []
    protect = set(protect or ())
    groups = {}
    keep, remove = [], []
    for item in items:
        if item['time'] > now + FUTURE_TOLERANCE:
            keep.append(dict(item, note='dated in the future: kept, and not counted'))
            continue
        groups.setdefault(item['group'], []).append(item)
    for group in sorted(groups, key=str):
        ranked = sorted(groups[group], key=lambda i: (i['time'], i['name']), reverse=True)
        for rank, item in enumerate(ranked):
            age = now - item['time']
            age_days = age.total_seconds() / 86400.0
            if (rank == 0 or (keep_count > 0 and rank < keep_count) or (keep_days > 0 and age_days < keep_days)
                    or (min_age is not None and age < min_age) or item['name'] in protect):
                keep.append(item)
                continue
            why = []
            if keep_count > 0:
                why.append('older than the newest %d' % keep_count)
            if keep_days > 0:
                why.append('%.1f days old (over %d)' % (age_days, keep_days))
            remove.append(dict(item, reason=' and '.join(why)))
    return keep, remove


def human_bytes(size):
    size = float(size or 0)
    for unit in ('B', 'KiB', 'MiB', 'GiB', 'TiB'):
        if size < 1024 or unit == 'TiB':
            return ('%d %s' % (size, unit)) if unit == 'B' else ('%.1f %s' % (size, unit))
        size /= 1024.0
    return '%d B' % size
