# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Know the backup: does a dump come from the database its file name says? (pure, unit tested)

A backup is named <database>_YYYYMMDD_HHMM.dump; pg_dump writes the database it dumped into the archive header
(plain SQL: the \\connect of a dump made with --create). A file whose header names another database lies about
what it is - a copy or a rename in the store - and restoring it would put another database's rows into this one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

# The swap renames production to <db>__pre_<stamp> before its safety backup is taken (named as production's).
PREVIOUS_INFIX = '__pre_'
_PREVIOUS_STAMP_RE = re.compile(r'^[0-9A-Za-z_]+$')


def accepted_sources(database, safety=False):
    """Describe the databases whose dump may carry a backup name of database (for messages)."""
    if safety:
        return '%s (or %s%s<stamp>, its name during a swap)' % (database, database, PREVIOUS_INFIX)
    return database


def source_matches(header_database, database, safety=False):
    """True when a dump of header_database may be named as a backup of database.

    safety: the backup is a safety backup of database (<database>_safety_<stamp>), which after a swap is a dump
    of the renamed previous database <database>__pre_<stamp>.
    """
    if header_database == database:
        return True
    if safety and header_database and header_database.startswith(database + PREVIOUS_INFIX):
        return bool(_PREVIOUS_STAMP_RE.match(header_database[len(database + PREVIOUS_INFIX):]))
    return False


def check_identity(name, header_database, database, safety=False, fmt=None):
    """(status, message) for the backup file name whose dump names header_database.

    status: match, unknown (the dump names no database: plain SQL made without --create) or mismatch; message
    says what was found and, for a mismatch, what to do.
    """
    if header_database is None:
        return 'unknown', ('%s names no source database (%s dump made without --create), so its identity cannot be '
                           'checked against its name.' % (name, fmt or 'a plain SQL'))
    if source_matches(header_database, database, safety):
        return 'match', ('%s was dumped from database %s, as its name says.' % (name, header_database))
    kind = 'a safety backup of %s' % database if safety else 'a backup of %s' % database
    return 'mismatch', (
        'The backup lies about what it is: %s is named as %s, but its archive header says it was dumped from database '
        '%s. It was refused before anything changed. Do not restore it: find out how a dump of %s came to carry '
        'this name (a copy or a rename in the backup store), remove or rename it, and choose another backup with '
        '-e backup=<name> or -e point=<time>. To restore backups of %s into this database on purpose (a production '
        'backup into staging), keep their own names and set db_restore_backup_database=%s.'
        % (name, kind, header_database, header_database, header_database, header_database))


# <database>_YYYYMMDD_HHMM[SS].<extension>: the time the name says the dump was taken, in UTC.
_NAME_TIME_RE = re.compile(r'_([0-9]{8})_([0-9]{4})([0-9]{2})?[.][A-Za-z.]+$')
# pg_dump writes its host's wall-clock time without a zone, read here in this host's zone: the two may be UTC-12
# and UTC+14, 26 hours apart. Within that, a time that disagrees cannot be told from a zone that does.
TIME_TOLERANCE = datetime.timedelta(hours=26, minutes=5)


def name_time(name):
    """The UTC time a backup's file name says it was taken, or None when it has no time stamp."""
    match = _NAME_TIME_RE.search(name or '')
    if not match:
        return None
    try:
        return datetime.datetime.strptime(match.group(1) + match.group(2) + (match.group(3) or '00'),
                                          '%Y%m%d%H%M%S').replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


def check_dump_time(name, created):
    """(status, message) for the backup file name against the creation time in its archive header (ISO 8601, as
    dumpfile.parse_header gives it): match, unknown (no time in the name or the header: plain SQL) or mismatch."""
    named = name_time(name)
    if named is None or not created:
        return 'unknown', ('%s carries no time %s, so when it was taken cannot be checked against its name.'
                           % (name, 'in its name' if named is None else 'in its archive header'))
    try:
        dumped = datetime.datetime.strptime(created, '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return 'unknown', '%s has an archive time that cannot be read (%s).' % (name, created)
    gap = dumped - named
    if abs(gap) <= TIME_TOLERANCE:
        return 'match', '%s was dumped at %s, as its name says (within the hosts\' time zones).' % (name, created)
    hours = abs(gap).total_seconds() / 3600
    return 'mismatch', (
        'The backup lies about when it was taken: %s is named as taken at %s, but pg_dump wrote it at %s, %s %s. '
        'Restoring it would bring back the data of another moment than the point asked for. It was refused before '
        'anything changed. Find out how it came to carry this name (a copy or a rename in the backup store), rename '
        'it to the time it was taken or remove it, and choose another backup with -e backup=<name> or -e point=<time>.'
        % (name, named.strftime('%Y-%m-%dT%H:%M:%SZ'), created,
           ('%.1f days' % (hours / 24)) if hours >= 48 else ('%.0f hours' % hours),
           'later' if gap.total_seconds() > 0 else 'earlier'))
