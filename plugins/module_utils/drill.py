# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drill history: reading history.jsonl and the restore-time trend against the
RTO budget (pure, unit tested)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

HISTORY_SHOWN = 10
# A drill slower than the median of the earlier ones by more than this is "rising".
RISING_FACTOR = 1.25


def parse_history(text):
    """history.jsonl -> (entries, bad_line_numbers); a damaged line is skipped, never fatal."""
    entries = []
    bad = []
    for number, line in enumerate((text or '').splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            bad.append(number)
            continue
        if isinstance(entry, dict):
            entries.append(entry)
        else:
            bad.append(number)
    return entries, bad


def median(values):
    values = sorted(values)
    if not values:
        return None
    mid = len(values) // 2
    if len(values) % 2:
        return float(values[mid])
    return (values[mid - 1] + values[mid]) / 2.0


def _seconds(entry):
    value = entry.get('rto_seconds')
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def compute_trend(entries, budget_seconds, warn_percent):
    """Trend of the drills' restore times; the last entry is the drill being judged.

    Only succeeded drills count: a failed drill's time says nothing about how
    long a restore takes. Returns (trend, warnings).
    """
    timed = [(e, _seconds(e)) for e in entries if e.get('outcome') == 'succeeded' and _seconds(e) is not None]
    warnings = []
    last = entries[-1] if entries else None
    last_seconds = _seconds(last) if last is not None else None
    earlier = [s for e, s in timed if e is not last]
    all_seconds = [s for e, s in timed]
    budget = float(budget_seconds) if budget_seconds else None
    percent = round(last_seconds * 100.0 / budget, 1) if (budget and last_seconds is not None) else None
    earlier_median = median(earlier)
    if last_seconds is None or earlier_median is None:
        direction = 'unknown'
    elif last_seconds > earlier_median * RISING_FACTOR:
        direction = 'rising'
    elif last_seconds < earlier_median / RISING_FACTOR:
        direction = 'falling'
    else:
        direction = 'stable'
    trend = dict(
        runs=len(entries),
        timed_runs=len(all_seconds),
        last_seconds=last_seconds,
        median_seconds=median(all_seconds),
        budget_seconds=budget,
        percent_of_budget=percent,
        direction=direction,
    )
    if percent is not None and warn_percent is not None and percent > float(warn_percent):
        warnings.append('The restore took %.0f s, %.1f%% of the RTO budget of %.0f s (warning above %s%%): '
                        'restores are getting close to the RTO; plan faster restores (more jobs, faster disk, '
                        'smaller database) before an incident needs one.'
                        % (last_seconds, percent, budget, _plain(warn_percent)))
    if direction == 'rising':
        warnings.append('The restore took %.0f s against a median of %.0f s over the %d earlier drills: restore '
                        'time is rising.' % (last_seconds, earlier_median, len(earlier)))
    return trend, warnings


def _plain(number):
    number = float(number)
    return ('%d' % number) if number == int(number) else ('%s' % number)


def compare_with_production(backup_counts, production_counts, tolerance_percent=0.0):
    """Rows and warnings for the drill's comparison of the restored backup with production now.

    Production moved on since the backup, so differences are expected and
    never fail the drill; what deserves a warning is a table on one side only,
    and a table that holds fewer rows in production than in the backup by more
    than the tolerance (data that disappeared since the backup).
    """
    backup_counts = backup_counts or {}
    production_counts = production_counts or {}
    tolerance = float(tolerance_percent or 0)
    rows = []
    warnings = []
    for table in sorted(set(backup_counts) | set(production_counts)):
        in_backup = table in backup_counts
        in_production = table in production_counts
        backup = backup_counts.get(table)
        production = production_counts.get(table)
        difference = (production - backup) if isinstance(backup, int) and isinstance(production, int) else None
        percent = round(difference * 100.0 / backup, 2) if difference is not None and backup else None
        row = dict(table=table, backup=backup, production=production, difference=difference, percent=percent,
                   note='')
        if not in_production:
            row['note'] = 'not in production'
            warnings.append('%s is in the backup but not in production.' % table)
        elif not in_backup:
            row['note'] = 'not in the backup'
            warnings.append('%s is in production but not in the backup.' % table)
        elif difference is not None and difference < 0 and abs(difference) * 100.0 > abs(backup) * tolerance + 1e-9:
            row['note'] = 'production has fewer rows than the backup'
            warnings.append('%s holds %d rows in production but %d in the backup (%s%%): rows disappeared since '
                            'the backup.' % (table, production, backup, percent))
        rows.append(row)
    return rows, warnings
