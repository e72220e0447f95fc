# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of the database swap: checking a list of renames before any runs.

A swap is two renames in one transaction (production -> previous, staging ->
production). The plan is checked as a whole first so that a run never starts a
transaction it cannot finish: every source must exist when its rename runs and
no target may be taken at that moment.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# PostgreSQL truncates identifiers to NAMEDATALEN - 1 bytes; a truncated name
# could silently collide with another database.
MAX_NAME_BYTES = 63
RESERVED = ('postgres', 'template0', 'template1')


def name_bytes(name):
    """The length of a database name as PostgreSQL counts it: UTF-8 bytes."""
    return len(str(name).encode('utf-8'))


def cut_name(name):
    """The name PostgreSQL would make of ``name``: its first 63 bytes, never half a character."""
    return str(name).encode('utf-8')[:MAX_NAME_BYTES].decode('utf-8', 'ignore')


class RenamePlanError(ValueError):
    """A rename plan that cannot run; the message says what to do."""


def normalize_renames(renames):
    """[(from, to), ...] from a list of {'from', 'to'} dicts (or pairs)."""
    out = []
    for item in renames or []:
        if isinstance(item, dict):
            source, target = item.get('from'), item.get('to')
        else:
            source, target = item
        out.append((str(source or '').strip(), str(target or '').strip()))
    return out


def check_plan(renames, existing):
    """Check a rename plan against the set of existing database names.

    Returns the list of (from, to) pairs to run, in order. A plan that does not
    fit the databases as they are (a source missing, a target taken) is an
    error, never guessed around: RenamePlanError names the first problem.
    """
    pairs = normalize_renames(renames)
    if not pairs:
        raise RenamePlanError('No rename given: pass renames as a list of {from, to}. Nothing was changed.')
    names = set(existing)
    for source, target in pairs:
        for name in (source, target):
            if not name:
                raise RenamePlanError('A rename needs both from and to (got %r -> %r). Nothing was changed.'
                                      % (source, target))
            if name in RESERVED:
                raise RenamePlanError('Refusing to rename %r: it is a system database. Nothing was changed.' % name)
            if name_bytes(name) > MAX_NAME_BYTES:
                raise RenamePlanError(
                    'The database name %r is longer than %d bytes; PostgreSQL would truncate it. Use a shorter '
                    'database or staging name. Nothing was changed.' % (name, MAX_NAME_BYTES))
        if source == target:
            raise RenamePlanError('Cannot rename %r to itself. Nothing was changed.' % source)
        if source not in names:
            raise RenamePlanError('Database %r does not exist, so it cannot be renamed to %r. Nothing was changed.'
                                  % (source, target))
        if target in names:
            raise RenamePlanError('Database %r already exists, so %r cannot be renamed to it. Drop or rename it '
                                  'first. Nothing was changed.' % (target, source))
        names.discard(source)
        names.add(target)
    return pairs


def involved(pairs):
    """Every database name a plan touches, in first-seen order (for terminating sessions)."""
    seen = []
    for source, _target in pairs:
        if source not in seen:
            seen.append(source)
    return seen


def manual_sql(pairs):
    """The plan as SQL a person can paste into psql (identifiers double-quoted)."""
    def quote(name):
        return '"%s"' % name.replace('"', '""')
    body = ' '.join('ALTER DATABASE %s RENAME TO %s;' % (quote(s), quote(t)) for s, t in pairs)
    return 'BEGIN; %s COMMIT;' % body


def undo(pairs):
    """The plan that reverses ``pairs`` (reverse order, swapped names)."""
    return [(target, source) for source, target in reversed(pairs)]
