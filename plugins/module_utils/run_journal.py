# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of the run journal kept with the server-side lock.

A run writes what it changed into its journal as it goes (the connection
limit it found, when it stopped the services, dropped or swapped production,
gave the limit back). When a run dies (kill -9, a lost controller), its lock
row and journal stay on the server. The next run reads them: these functions
say in plain words what state the dead run left, and what the next run must
carry on from it (``carry``): the connection limit to give back, and whether
production holds a partial restore ("tainted") whose safety backups are not a
good "before" state.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Journal keys, in the order a run reaches them.
STEPS = ('stopped_at', 'dropped_at', 'swapped_at', 'swapped_back_at', 'connlimit_restored_at', 'finished_at')
TAINTED_SAFETY_KEEP = 50


def _hhmm(stamp):
    """'12:03:04 UTC' from an ISO timestamp; the text itself when it does not parse."""
    text = str(stamp or '')
    if 'T' in text:
        return text.split('T', 1)[1][:8] + ' UTC'
    return text


def leaves_partial(journal):
    """True when the run dropped production in place and never gave it back (no verified restore, no rollback)."""
    journal = journal or {}
    return bool(journal.get('dropped_at')) and not journal.get('connlimit_restored_at')


def connlimit_to_give_back(journal):
    """The connection limit a dead run set to 0 and never gave back, else None."""
    journal = journal or {}
    if journal.get('connlimit_before') is None or journal.get('connlimit_restored_at'):
        return None
    try:
        return int(journal['connlimit_before'])
    except (TypeError, ValueError):
        return None


def describe(journal, database, safety_hint=''):
    """What a run that died left, in plain words (one or two sentences)."""
    journal = journal or {}
    words = _describe_state(journal, database, safety_hint)
    services = [s.get('name') for s in journal.get('services') or [] if isinstance(s, dict)]
    if services and not journal.get('finished_at'):
        words += (' The services it stopped (%s) are started again by the next run that takes the lock over and '
                  'reaches its stop.'
                  % ', '.join(services))
    return words


def _describe_state(journal, database, safety_hint):
    if journal.get('finished_at'):
        return 'it finished (%s) at %s.' % (journal.get('outcome') or 'unknown outcome', _hhmm(journal['finished_at']))
    safety = journal.get('safety') or safety_hint
    before = journal.get('connlimit_before')
    limit = ('; the connection limit of %s is 0 (it was %s)' % (database, 'unlimited' if before == -1 else before)
             if connlimit_to_give_back(journal) is not None else '')
    if journal.get('swapped_back_at'):
        return ('it was killed after swapping the previous database back at %s: %s holds the data from before that '
                'run%s.' % (_hhmm(journal['swapped_back_at']), database, limit))
    if journal.get('swapped_at'):
        return ('it was killed after the swap at %s: %s holds the verified restore of %s, and the database before it '
                'is kept as %s%s.' % (_hhmm(journal['swapped_at']), database, journal.get('backup') or 'its backup',
                                      journal.get('previous') or '(none)', limit))
    if leaves_partial(journal):
        return ('it was killed after the drop of %s at %s: %s holds a partial restore or nothing; its last good '
                'state is the safety backup %s%s.' % (database, _hhmm(journal['dropped_at']), database,
                                                      safety or '(none recorded)', limit))
    if journal.get('stopped_at'):
        return ('it was killed after stopping the services at %s, before any drop or swap: %s is whole as before that '
                'run%s.' % (_hhmm(journal['stopped_at']), database, limit))
    return 'it changed nothing on %s (killed before the services were stopped).' % database


def carry_after_death(carry, journal):
    """What the next runs must carry on from a run that died with ``journal``."""
    carry = dict(carry or {})
    journal = journal or {}
    limit = connlimit_to_give_back(journal)
    # The oldest limit wins: a run that died on a database left at 0 by an earlier dead run found 0.
    if limit is not None and carry.get('connlimit_before') is None:
        carry['connlimit_before'] = limit
    # Services it stopped stay stopped until a run starts them again: the next run adopts them.
    for service in journal.get('services') or []:
        if service not in carry.setdefault('services', []):
            carry['services'].append(service)
    if not carry.get('services'):
        carry.pop('services', None)
    _taint_safety(carry, journal.get('safety'))
    if journal.get('swapped_at') and not journal.get('swapped_back_at'):
        # A verified restore was swapped in: production is whole again, whatever an earlier run left.
        carry.pop('tainted', None)
    if leaves_partial(journal) and not carry.get('tainted'):
        carry['tainted'] = dict(run_id=journal.get('run_id'), dropped_at=journal.get('dropped_at'),
                                good_safety=journal.get('safety') or '')
        # A dead run's journal has no outcome; a run that ended with production partial says how it ended.
        if journal.get('outcome'):
            carry['tainted']['outcome'] = journal['outcome']
    return carry


def _taint_safety(carry, safety_backup):
    """A safety backup taken while production held a partial restore is never a "before" state."""
    if carry.get('tainted') and safety_backup:
        names = [n for n in carry.get('tainted_safety', []) if n != safety_backup] + [safety_backup]
        carry['tainted_safety'] = names[-TAINTED_SAFETY_KEEP:]


def carry_after_release(carry, journal, outcome, mode, safety_backup=''):
    """The carry once a run released its lock normally, with ``outcome``.

    A run that failed after dropping production in place and could not roll back leaves the database at
    connection limit 0 and the services it stopped down, on purpose: the next run carries on from that as from a
    dead run's journal (the limit from before, not the 0 it will find; the services to start; the partial state).
    """
    carry = dict(carry or {})
    journal = journal or {}
    if outcome != 'succeeded' and leaves_partial(journal):
        return carry_after_death(carry, dict(journal, outcome=outcome, safety=safety_backup or journal.get('safety')))
    if journal.get('connlimit_restored_at'):
        carry.pop('connlimit_before', None)
    # A run that reached its stop adopted a dead run's stopped services, and its always section started them; one
    # refused before its stop never touched them: they stay carried for the next run.
    if journal.get('stopped_at'):
        carry.pop('services', None)
    _taint_safety(carry, safety_backup or journal.get('safety'))
    if outcome == 'succeeded' and mode in ('restore', 'rollback'):
        carry.pop('tainted', None)
    return carry


def emptied_tables(last_counts, counts):
    """Tables that had rows at the last assessment and have none now (or are gone), sorted."""
    if not isinstance(last_counts, dict) or not isinstance(counts, dict):
        return []
    out = []
    for table, rows in sorted(last_counts.items()):
        try:
            before = int(rows)
        except (TypeError, ValueError):
            continue
        if table in counts and counts[table] is None:
            continue  # not countable now (an unpopulated materialized view): not evidence of loss
        now = counts.get(table)
        if before > 0 and (now is None or int(now) == 0):
            out.append(dict(table=table, rows_before=before, rows_now=0 if now is None else int(now)))
    return out
