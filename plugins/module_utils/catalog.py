# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restore points, backup names and backup selection (pure, unit tested)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import difflib
import re

UTC = datetime.timezone.utc
# Clocks of the controller and the backup host drift a little; a point a few
# seconds ahead is a typing of "now", not a mistake.
FUTURE_TOLERANCE = datetime.timedelta(seconds=60)

POINT_EXAMPLES = "2026-04-29T14:30:00Z, 2026-04-29T14:30 (UTC), 2026-04-29 14:30:00+02:00, 2026-04-29 or 'latest'"

# Parsed by hand rather than with datetime.fromisoformat: before Python 3.11 it
# rejects 'Z' and several ISO forms, and module code must run on 3.9 hosts.
_POINT_RE = re.compile(
    r'^(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})'
    r'(?:[Tt ](?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,6}))?)?'
    r'\s*(?P<zone>[Zz]|[+-]\d{2}(?::?\d{2})?)?)?$'
)
_STAMP_RE = re.compile(r'_(\d{8})_(\d{4})(?:\d{2})?(?:\.dump|\.dir\.tar)$')


def isoformat_z(value):
    """ISO 8601 UTC with a trailing Z, second precision."""
    return value.astimezone(UTC).replace(microsecond=0).strftime('%Y-%m-%dT%H:%M:%SZ')


def _zone(text):
    if text is None or text in ('Z', 'z'):
        return UTC
    sign = -1 if text[0] == '-' else 1
    digits = text[1:].replace(':', '')
    hours = int(digits[:2])
    minutes = int(digits[2:4] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError('offset %s out of range' % text)
    return datetime.timezone(sign * datetime.timedelta(hours=hours, minutes=minutes))


def parse_point(text, now):
    """Parse a restore point into an aware UTC datetime.

    ``latest`` (any case) means ``now``. A value without a zone is UTC; a date
    alone means midnight UTC at the start of that day. Raises ValueError for an
    unparsable value or a point more than a minute after ``now``.
    """
    raw = '' if text is None else str(text)
    value = raw.strip()
    if value.lower() == 'latest':
        return now.astimezone(UTC)
    bad = ValueError("Cannot parse the restore point %r: use ISO 8601 such as %s." % (raw, POINT_EXAMPLES))
    match = _POINT_RE.match(value)
    if not match:
        raise bad
    parts = match.groupdict()
    fraction = (parts['fraction'] or '').ljust(6, '0')
    try:
        point = datetime.datetime(
            int(parts['year']), int(parts['month']), int(parts['day']),
            int(parts['hour'] or 0), int(parts['minute'] or 0), int(parts['second'] or 0),
            int(fraction or 0), tzinfo=_zone(parts['zone']),
        ).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ValueError("Cannot use the restore point %r (%s): use ISO 8601 such as %s." % (raw, exc, POINT_EXAMPLES)) from exc
    now_utc = now.astimezone(UTC)
    if point > now_utc + FUTURE_TOLERANCE:
        raise ValueError(
            "The restore point %r (%s) is in the future: now is %s. Use a time at or before now, or 'latest'."
            % (raw, isoformat_z(point), isoformat_z(now_utc)))
    return point


def _stamp_to_datetime(day, hhmm, ss=None):
    try:
        return datetime.datetime(int(day[:4]), int(day[4:6]), int(day[6:8]),
                                 int(hhmm[:2]), int(hhmm[2:4]), int(ss or 0), tzinfo=UTC)
    except ValueError:
        return None


def parse_backup_name(name, database):
    """Timestamp (aware UTC) of ``<database>_YYYYMMDD_HHMM.dump``, or None when ``name`` is not one.

    Seconds (``_YYYYMMDD_HHMMSS``) are accepted too: safety backups carry them,
    so that two runs in the same minute never overwrite each other's. So is
    ``.dir.tar``, the safety backup's packed directory-format dump.
    """
    match = re.match(r'^%s_(\d{8})_(\d{4})(\d{2})?(?:\.dump|\.dir\.tar)$' % re.escape(database), name or '')
    if not match:
        return None
    return _stamp_to_datetime(match.group(1), match.group(2), match.group(3))


def backup_name_database(name):
    """The database a backup file name (<database>_YYYYMMDD_HHMM[SS].dump or .dir.tar) names, or None."""
    match = re.match(r'^(.+)_\d{8}_\d{4}(?:\d{2})?(?:\.dump|\.dir\.tar)$', name or '')
    return match.group(1) if match else None


def normalize_backup_name(backup, database=None):
    """The backup's file name from ``-e backup``: a name, or a name without .dump.

    A path, an S3 key or anything else that is not a plain file name raises
    ValueError: only the last part of ``/etc/passwd`` would be looked up (as
    ``passwd.dump``), which hides what was asked for.
    """
    raw = '' if backup is None else str(backup)
    name = raw.strip()
    if (not name or '/' in name or '\\' in name or name.startswith('.')
            or any(ord(c) < 32 or ord(c) == 127 for c in name)):
        example = '%s_YYYYMMDD_HHMM.dump' % (database or '<database>')
        raise ValueError(
            'Refusing -e backup=%r: it is not a backup file name. Give the backup\'s file name as listed in the store '
            '(db_restore_local_backup_dir, or db_restore_s3_bucket under db_restore_s3_prefix), for example %s, '
            'without a directory, a path or an S3 key; or give -e point=<time> instead.' % (raw, example))
    if not name.endswith(('.dump', '.dir.tar')):
        name += '.dump'
    return name


def _nearest_names(wanted, candidates, limit=5):
    match = _STAMP_RE.search(wanted)
    wanted_ts = _stamp_to_datetime(match.group(1), match.group(2)) if match else None
    if wanted_ts is not None:
        ranked = sorted(candidates, key=lambda c: abs((c['timestamp'] - wanted_ts).total_seconds()))
    else:
        ranked = sorted(candidates, key=lambda c: -difflib.SequenceMatcher(None, wanted, c['name']).ratio())
    return [c['name'] for c in ranked[:limit]]


def select_backup(candidates, point=None, backup=None):
    """Choose a backup from ``candidates`` (dicts with name and timestamp).

    With ``backup``: the candidate of that name. Otherwise the newest whose
    timestamp is at or before ``point`` (the newest overall when point is None).
    Raises LookupError with a message that says what to do instead.
    """
    candidates = list(candidates)
    if not candidates:
        raise LookupError('No backups are available to choose from.')
    if backup:
        wanted = normalize_backup_name(backup)
        for candidate in candidates:
            if candidate['name'] == wanted:
                return candidate
        nearest = _nearest_names(wanted, candidates)
        raise LookupError(
            'Backup %s was not found among the %d backups in the store. Nearest: %s. '
            'Pass one of these with -e backup=<name>, or give -e point=<time> instead.'
            % (wanted, len(candidates), ', '.join(nearest)))
    eligible = [c for c in candidates if point is None or c['timestamp'] <= point]
    if not eligible:
        oldest = min(candidates, key=lambda c: c['timestamp'])
        raise LookupError(
            'No backup was taken at or before %s: the oldest available is %s (%s). '
            'Choose a point at or after %s, or pick a backup explicitly with -e backup=%s.'
            % (isoformat_z(point), oldest['name'], isoformat_z(oldest['timestamp']),
               isoformat_z(oldest['timestamp']), oldest['name']))
    return max(eligible, key=lambda c: c['timestamp'])


def rpo_gap_minutes(point, backup_ts):
    """Minutes of data between the backup and the point (the data a restore loses)."""
    return (point - backup_ts).total_seconds() / 60.0
