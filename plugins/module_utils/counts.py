# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Row-count snapshots: comparison and name handling (pure, unit tested)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def split_table_name(name, default_schema='public'):
    """'schema.table' or 'table' -> (schema, table), names kept verbatim.

    Double-quoted parts are accepted too ('"my.schema"."User"'), so a name that
    itself holds a dot can still be written; unquoted names are NOT folded to
    lower case, because the keys we report (public.User) are verbatim as well.
    """
    if name is None or not str(name).strip():
        raise ValueError('empty table name')
    text = str(name).strip()
    parts = []
    current = ''
    i = 0
    quoted_part = False
    while i < len(text):
        char = text[i]
        if char == '"' and not current and not quoted_part:
            end = i + 1
            buf = ''
            while True:
                close = text.find('"', end)
                if close < 0:
                    raise ValueError('unbalanced double quote in table name %r' % text)
                buf += text[end:close]
                if close + 1 < len(text) and text[close + 1] == '"':
                    buf += '"'
                    end = close + 2
                    continue
                break
            current = buf
            quoted_part = True
            i = close + 1
            continue
        if char == '.' and (quoted_part or len(parts) == 0):
            parts.append(current)
            current = ''
            quoted_part = False
            i += 1
            continue
        if quoted_part:
            raise ValueError('unexpected character after quoted name in %r' % text)
        current += char
        i += 1
    parts.append(current)
    if len(parts) == 1:
        parts.insert(0, default_schema)
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise ValueError('table name %r is not "table" or "schema.table"' % text)
    return parts[0], parts[1]


def table_key(schema, name):
    """Snapshot key: schema.table, verbatim, no quotes."""
    return '%s.%s' % (schema, name)


def _percent(difference, expected):
    if expected == 0:
        return None
    return round(difference * 100.0 / expected, 2)


def compare_counts(actual, baseline, tolerance_percent=0.0):
    """Compare two {table: count} dicts.

    Counts may be None (unpopulated materialized view, never analysed table):
    None on both sides is equal; None on one side is a difference that is never
    within tolerance, because nothing can be claimed about an unknown count.
    A table whose expected count is 0 is within tolerance only when it is
    still 0, since any percentage of zero is zero.
    """
    actual = actual or {}
    baseline = baseline or {}
    tolerance = float(tolerance_percent or 0)
    missing = sorted(t for t in baseline if t not in actual)
    extra = sorted(t for t in actual if t not in baseline)
    differences = []
    for table in sorted(t for t in baseline if t in actual):
        expected = baseline[table]
        got = actual[table]
        if expected == got:
            continue
        if expected is None or got is None:
            differences.append(dict(table=table, expected=expected, actual=got, difference=None,
                                    percent=None, within_tolerance=False))
            continue
        difference = got - expected
        if expected == 0:
            within = False
        else:
            # Compare in absolute rows to avoid float rounding at the boundary
            # (1 row of 200 at 0.5 % must pass).
            within = abs(difference) * 100.0 <= abs(expected) * tolerance + 1e-9
        differences.append(dict(table=table, expected=expected, actual=got, difference=difference,
                                percent=_percent(difference, expected), within_tolerance=within))
    matched = not missing and all(d['within_tolerance'] for d in differences)
    return dict(
        matched=matched,
        missing=missing,
        extra=extra,
        differences=differences,
        tolerance_percent=tolerance,
        tables_compared=len(set(actual) | set(baseline)),
    )


def total_rows(counts, relkinds):
    """Sum of plain tables, partition leaves and materialized views.

    Parents are skipped because they already are the sum of their leaves.
    """
    total = 0
    for table, count in counts.items():
        if relkinds.get(table) == 'p' or count is None:
            continue
        total += count
    return total
