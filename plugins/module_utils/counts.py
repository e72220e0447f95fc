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


# Expected counts that are not a number (dump_content): a materialized view pg_restore refreshes has whatever
# its query gives on the restored data (any count, but populated); a table whose dumped data is not COPY text
# (pg_dump --inserts) has a count nobody claimed.
REFRESHED = 'refreshed'
UNKNOWN = 'unknown'


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
        if expected == got or expected == UNKNOWN or (expected == REFRESHED and got is not None):
            continue
        if expected == REFRESHED:
            differences.append(dict(table=table, expected=expected, actual=got, difference=None,
                                    percent=None, within_tolerance=False))
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


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool)


def restore_loss(now, backup, tolerance_percent=0.0, tolerance_rows=0, derived=None):
    """What a restore of backup over the database as it is now loses, table by table.

    now and backup are {schema.table: rows} (backup as dump_content counts it: materialized views and
    uncounted tables are not numbers and are left out). A table loses max(0, now - backup) rows; one that is
    not in the backup loses all of them. derived lists the materialized views of now: their rows are a query's
    result, not data, so they are left out. A loss is beyond the tolerance only when it is more than
    tolerance_rows rows AND more than tolerance_percent of the rows now, so a 4-row table that lost one row is
    not judged like a 4-million-row one. Returns dict(rows=[{table, now, backup, difference, lost, beyond}]
    for every table whose count differs, sorted by table, beyond=[tables], equal=n, lost_rows=total).
    """
    now = now or {}
    backup = backup or {}
    percent = float(tolerance_percent or 0)
    limit_rows = int(tolerance_rows or 0)
    rows = []
    equal = 0
    skip = set(derived or [])
    for table in sorted(set(now) | set(backup)):
        if table in skip:
            continue
        in_now, in_backup = table in now, table in backup
        have, want = now.get(table), backup.get(table)
        if (in_backup and not _is_count(want)) or (in_now and not _is_count(have)):
            continue  # a materialized view, or rows nobody counted: nothing to judge
        have_rows = have if in_now else 0
        want_rows = want if in_backup else 0
        if in_now and in_backup and have_rows == want_rows:
            equal += 1
            continue
        lost = max(0, have_rows - want_rows)
        beyond = lost > limit_rows and lost * 100.0 > have_rows * percent + 1e-9
        rows.append(dict(table=table, now=have, backup=want, difference=want_rows - have_rows, lost=lost,
                         beyond=beyond, percent=_percent(-lost, have_rows) if lost else None))
    return dict(rows=rows, beyond=[r['table'] for r in rows if r['beyond']], equal=equal,
                lost_rows=sum(r['lost'] for r in rows), tolerance_percent=percent, tolerance_rows=limit_rows)


def manifest_disagreements(manifest_tables, dump_tables):
    """Tables whose exact count in the backup's manifest differs from the count read from the dump itself.

    Only counts both sides state as numbers are compared: a materialized view's stored rows (the manifest)
    say nothing about what pg_restore's refresh gives. A table the dump counts but the manifest lacks differs.
    Returns [{table, manifest, dump}], sorted by table.
    """
    manifest_tables = manifest_tables or {}
    out = []
    for table in sorted(dump_tables or {}):
        counted = dump_tables[table]
        if not _is_count(counted):
            continue
        stated = manifest_tables.get(table)
        if table in manifest_tables and not _is_count(stated) and stated is not None:
            continue
        if stated != counted:
            out.append(dict(table=table, manifest=stated, dump=counted))
    return out


def expected_from(content, manifest_tables=None):
    """(expected counts, source) for verifying a restore: the dump's own counts ('backup', or 'manifest' when the
    manifest states the same), else the manifest's with its materialized views judged as pg_restore makes them
    ('manifest'), else (None, None)."""
    content = content or {}
    if content.get('counted') and isinstance(content.get('tables'), dict):
        # A manifest that agrees with the data (fetch_backup stops on one that does not) names the source.
        agrees = isinstance(manifest_tables, dict) and not manifest_disagreements(manifest_tables, content['tables'])
        if not agrees:
            return dict(content['tables']), 'backup'
        # The manifest also counted what the dump does not create (an extension's own tables).
        expected = dict(manifest_tables)
        expected.update(content['tables'])
        return expected, 'manifest'
    if isinstance(manifest_tables, dict):
        expected = dict(manifest_tables)
        for table, kind in (content.get('relations') or {}).items():
            if kind == 'MATERIALIZED VIEW' and table in expected:
                expected[table] = REFRESHED if expected[table] is not None else None
        return expected, 'manifest'
    return None, None


def rollback_baseline(before, materialized_views):
    """The counts a restore of a safety backup taken of before must show.

    A materialized view is dumped as its definition and a REFRESH: a stale one comes back refreshed, with
    another count, and an unpopulated one comes back unpopulated.
    """
    baseline = dict(before or {})
    for table in materialized_views or []:
        if table in baseline and baseline[table] is not None:
            baseline[table] = REFRESHED
    return baseline
