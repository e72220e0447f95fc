# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Judging a restored database (pure, unit tested): TOC objects against the
catalog, SQL check results against their expected values, Prisma's migration
table."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import decimal
import difflib
import re

from ansible_collections.yieldvault.db_restore.plugins.module_utils.counts import split_table_name

# pg_restore --list type -> the catalog kind that proves the object exists.
# CONSTRAINT, FK CONSTRAINT and CHECK CONSTRAINT all live in pg_constraint
# (tagged "<table> <constraint>"); FUNCTION and PROCEDURE in pg_proc (tagged
# "<name>(<argument types>)").
TOC_KINDS = {
    'TABLE': 'TABLE',
    'VIEW': 'VIEW',
    'MATERIALIZED VIEW': 'MATERIALIZED VIEW',
    'SEQUENCE': 'SEQUENCE',
    'INDEX': 'INDEX',
    'CONSTRAINT': 'CONSTRAINT',
    'FK CONSTRAINT': 'CONSTRAINT',
    'CHECK CONSTRAINT': 'CONSTRAINT',
    'TRIGGER': 'TRIGGER',
    'FUNCTION': 'FUNCTION',
    'PROCEDURE': 'FUNCTION',
}


def normalize_name(name):
    """Collapse whitespace: pg_restore --list and format_type() agree on words, not on spacing."""
    return ' '.join(str(name or '').split())


def expected_objects(toc_entries):
    """TOC entries (from dumpfile.parse_toc_listing) that must exist after a restore.

    Returns a list of dict(type, kind, schema, name), without duplicates, in TOC order.
    """
    seen = set()
    out = []
    for entry in toc_entries or []:
        kind = TOC_KINDS.get(entry.get('type'))
        if kind is None:
            continue
        key = (kind, entry.get('schema') or '', normalize_name(entry.get('name')))
        if key in seen:
            continue
        seen.add(key)
        out.append(dict(type=entry.get('type'), kind=kind, schema=key[1], name=key[2]))
    return out


def missing_objects(expected, present):
    """``present`` maps kind -> set of (schema, normalized name); return the expected entries not present."""
    missing = []
    for item in expected:
        if (item['schema'], item['name']) not in present.get(item['kind'], set()):
            missing.append(item)
    return missing


def summarize_by_type(items):
    counts = {}
    for item in items:
        counts[item['type']] = counts.get(item['type'], 0) + 1
    return dict(sorted(counts.items()))


# ---- SQL checks -----------------------------------------------------------

def _norm(value):
    """Comparable form of a value from psycopg2 or from YAML: numbers by value, the rest as text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, decimal.Decimal)):
        return decimal.Decimal(str(value)).normalize()
    text = str(value)
    try:
        return decimal.Decimal(text.strip()).normalize()
    except (decimal.InvalidOperation, ValueError):
        pass
    if text.lower() in ('true', 'false', 't', 'f'):
        return text.lower() in ('true', 't')
    return text


def _show(value):
    if isinstance(value, decimal.Decimal):
        return format(value, 'f')
    return repr(value) if isinstance(value, str) else str(value)


def compare_result(columns, rows, expected):
    """Compare a query result with ``expected``; return (passed, detail).

    ``expected`` may be:
      - a scalar: the result must be one row of one column with that value;
      - a dict: the result must be one row; the named columns must have those values;
      - a list: one entry per row, in order; each entry a scalar (one-column rows),
        a list (values by position) or a dict (values by column name).
    Numbers compare by value (100 == 100.00), so Decimal sums match YAML integers.
    """
    columns = list(columns or [])
    rows = [list(r) for r in (rows or [])]

    def row_matches(row, want, index):
        if isinstance(want, dict):
            for col, value in want.items():
                if col not in columns:
                    return 'row %d has no column %r (columns: %s)' % (index + 1, col, ', '.join(columns))
                got = row[columns.index(col)]
                if _norm(got) != _norm(value):
                    return 'row %d column %s is %s, expected %s' % (index + 1, col, _show(_norm(got)),
                                                                  _show(_norm(value)))
            return None
        if isinstance(want, (list, tuple)):
            if len(want) != len(row):
                return 'row %d has %d columns, expected %d' % (index + 1, len(row), len(want))
            for pos, (got, value) in enumerate(zip(row, want)):
                if _norm(got) != _norm(value):
                    return 'row %d column %d is %s, expected %s' % (index + 1, pos + 1, _show(_norm(got)),
                                                                  _show(_norm(value)))
            return None
        if len(row) != 1:
            return 'row %d has %d columns, expected one value' % (index + 1, len(row))
        if _norm(row[0]) != _norm(want):
            return 'got %s, expected %s' % (_show(_norm(row[0])), _show(_norm(want)))
        return None

    if isinstance(expected, list):
        if len(rows) != len(expected):
            return False, 'got %d rows, expected %d' % (len(rows), len(expected))
        for index, (row, want) in enumerate(zip(rows, expected)):
            problem = row_matches(row, want, index)
            if problem:
                return False, problem
        return True, '%d rows as expected' % len(rows)
    if len(rows) != 1:
        return False, 'got %d rows, expected one' % len(rows)
    problem = row_matches(rows[0], expected, 0)
    if problem:
        return False, problem
    if isinstance(expected, dict):
        return True, ', '.join('%s=%s' % (k, _show(_norm(v))) for k, v in expected.items())
    return True, 'got %s' % _show(_norm(rows[0][0]))


# ---- Prisma --------------------------------------------------------------

def judge_prisma_migrations(rows):
    """Rows of _prisma_migrations as dicts (migration_name, finished_at, rolled_back_at, started_at).

    A row that started but neither finished nor was rolled back is a failed
    migration. A rolled-back row is a problem only while no later row applied
    the same migration: `prisma migrate resolve --rolled-back` followed by a
    successful deploy leaves exactly that history, and it is healthy.
    Returns dict(failed=[names], rolled_back=[names], resolved=[names], applied=n).
    """
    applied = set()
    for row in rows:
        if row.get('finished_at') is not None and row.get('rolled_back_at') is None:
            applied.add(row.get('migration_name'))
    failed = sorted(set(r.get('migration_name') for r in rows
                        if r.get('finished_at') is None and r.get('rolled_back_at') is None))
    rolled = set(r.get('migration_name') for r in rows if r.get('rolled_back_at') is not None)
    return dict(
        failed=failed,
        rolled_back=sorted(rolled - applied),
        resolved=sorted(rolled & applied),
        applied=len(applied),
    )


# ---- rows of the report's verification table -----------------------------

def _row(check, passed, detail):
    return dict(check=check, passed=bool(passed), detail=detail)


def _missing_row(check, cmp, baseline_size):
    return _row(check, not cmp['missing'],
                'missing: ' + ', '.join(cmp['missing']) if cmp['missing'] else 'all %d tables present' % baseline_size)


def _differences(cmp):
    return ['%s %s instead of %s' % (d['table'], d['actual'], d['expected']) for d in cmp['differences']]


def count_rows(counts, baseline_source, baseline_size, tolerance_percent, manifest_created_at=None,
               no_baseline_reason=None):
    """Verification rows for a table_counts-shaped result (counts.comparison, counts.null_checks).

    baseline_source 'backup': the counts must equal the rows counted in the backup's own data exactly.
    baseline_source 'manifest': the counts must equal the backup's manifest exactly, table for table.
    baseline_source 'before': the database before the restore; a table may lose at most
    tolerance_percent of its rows (a restore to an earlier point normally has a few fewer).
    Without a comparison (no baseline) one passing row says why: no_baseline_reason.
    """
    cmp = counts.get('comparison')
    rows = []
    if cmp is not None and baseline_source == 'backup':
        diffs = _differences(cmp)
        rows += [
            _missing_row("every table of the backup exists", cmp, baseline_size),
            _row("row counts equal the backup's own data exactly", not cmp['differences'],
                 'differ: ' + '; '.join(diffs) if diffs
                 else '%s rows in %d tables, as counted in the backup\'s data; materialized views as pg_restore '
                      'refreshed them' % (counts.get('total_rows'), baseline_size)),
            # The database is created from template0 and holds only what the dump creates: a table the dump
            # does not list comes from CREATE EXTENSION (its own tables), so it is named, not failed.
            _row("no table that the backup does not hold", True,
                 'made by an extension, not by the dump\'s data: ' + ', '.join(cmp['extra']) if cmp['extra']
                 else 'none'),
        ]
    elif cmp is not None and baseline_source == 'manifest':
        diffs = _differences(cmp)
        rows += [
            _missing_row("every table of the backup's manifest exists", cmp, baseline_size),
            _row("row counts equal the backup's manifest exactly", not cmp['differences'],
                 'differ: ' + '; '.join(diffs) if diffs
                 else '%s rows in %d tables, as counted in the snapshot of %s'
                 % (counts.get('total_rows'), baseline_size, manifest_created_at)),
            _row("no table that the backup's manifest does not list", not cmp['extra'],
                 'not in the manifest: ' + ', '.join(cmp['extra']) if cmp['extra'] else 'none'),
        ]
    elif cmp is not None:
        # An unknown count (None) cannot be said to have lost rows.
        lost = [d for d in cmp['differences']
                if d['difference'] is not None and d['difference'] < 0 and not d['within_tolerance']]
        rows += [
            _missing_row('every table of the pre-restore database exists', cmp, baseline_size),
            _row('no table lost more than %s%% of its rows' % tolerance_percent, not lost,
                 'lost rows: ' + '; '.join('%s %s -> %s' % (d['table'], d['expected'], d['actual']) for d in lost)
                 if lost else '%d tables differ from before the restore, within bounds' % len(cmp['differences'])),
        ]
    else:
        rows.append(_row('row counts against the pre-restore database', True,
                         '%s, and the backup has no manifest'
                         % (no_baseline_reason or 'no baseline: the database did not exist before the restore')))
    rows.append(_row('the restored database has tables', int(counts.get('tables') or 0) > 0,
                     '%s tables, %s rows' % (counts.get('tables'), counts.get('total_rows'))))
    for n in counts.get('null_checks') or []:
        rows.append(_row('no NULL in %s.%s' % (n['table'], n['column']), n['passed'],
                         n['error'] if n.get('error') else '%s NULL values' % n['nulls']))
    return rows


def objects_row(objects):
    """The verification row of a restore_objects-shaped result."""
    if objects['passed']:
        by_type = ', '.join('%s %s' % (n, kind) for kind, n in objects['by_type'].items())
        return _row("every object in the backup's table of contents exists", True,
                    '%d objects present (%s)' % (objects['checked'], by_type))
    missing = ['%s %s%s' % (m['type'], (m['schema'] + '.') if m.get('schema') else '', m['name'])
               for m in objects['missing']]
    return _row("every object in the backup's table of contents exists", False,
                'missing %d of %d: %s%s' % (len(missing), objects['checked'], ', '.join(missing[:20]),
                                            ' ...' if len(missing) > 20 else ''))


# What a check of db_restore_checks may be, and how restore_checks runs it: the check's text goes after
# "DECLARE ... CURSOR FOR", which the server takes only for one SELECT or VALUES query (WITH ... SELECT
# included, but no INSERT/UPDATE/DELETE inside WITH), in a READ ONLY transaction of its own. A ';' would end
# that statement and let a second one run (COMMIT, then anything), so a check may hold no ';' at all but
# trailing ones: text without ';' is one statement for PostgreSQL's parser, wherever the ';' would have been
# (string, comment, identifier), so no tokenizer of ours has to agree with the server's.
CHECK_CURSOR = 'db_restore_check'
ONE_QUERY = ('Each check must be one read-only query: SELECT, VALUES or WITH ... SELECT, without INSERT, UPDATE, '
             'DELETE or a second statement')


def check_sql(sql_text):
    """(the query to declare a cursor for, None) or (None, why it is refused) for one check's SQL."""
    text = (sql_text or '').strip()
    while text.endswith(';'):
        text = text[:-1].rstrip()
    if not text:
        return None, 'its sql is empty. %s.' % ONE_QUERY
    if ';' in text:
        return None, ('its sql holds a ";" that is not its last character: more than one statement, which could '
                      'end the read-only transaction and write. %s; split it into several checks, and write a ";" '
                      'that belongs inside a string as chr(59).' % ONE_QUERY)
    return text, None


def check_problems(checks):
    """One message per check of db_restore_checks that restore_checks would refuse to run (empty: none)."""
    problems = []
    for index, check in enumerate(checks or []):
        name = check.get('name') if isinstance(check, dict) else None
        label = 'db_restore_checks entry %d (%s)' % (index + 1, name) if name else 'db_restore_checks entry %d' % (
            index + 1)
        if not isinstance(check, dict) or not isinstance(check.get('sql'), str):
            problems.append('%s has no sql string' % label)
            continue
        dummy, problem = check_sql(check['sql'])
        if problem:
            problems.append('%s: %s' % (label, problem))
    return problems


# ---- verification settings against the backup's table of contents --------

_TOKEN_RE = re.compile(r"""
    (?P<space>\s+)
  | (?P<comment>--[^\n]*|/\*.*?\*/)
  | (?P<string>[EeBbXxNn]?'(?:[^']|'')*')
  | (?P<dollar>\$(?P<tag>[A-Za-z_]*)\$.*?\$(?P=tag)\$)
  | (?P<quoted>"(?:[^"]|"")*")
  | (?P<word>[A-Za-z_\x80-\uffff][A-Za-z0-9_$\x80-\uffff]*)
  | (?P<other>::|.)
""", re.VERBOSE | re.DOTALL)

# A '(' after one of these opens a subquery or a list, not a function's arguments.
_NOT_FUNCTIONS = frozenset((
    'from', 'join', 'in', 'exists', 'as', 'select', 'where', 'and', 'or', 'not', 'on', 'lateral', 'any', 'all',
    'some', 'values', 'with', 'union', 'intersect', 'except', 'having', 'by', 'then', 'else', 'when', 'case',
    'recursive', 'materialized', 'using', 'distinct', 'is', 'returning', 'limit', 'offset',
))


def _tokens(sql_text):
    out = []
    for match in _TOKEN_RE.finditer(sql_text or ''):
        kind = match.lastgroup if match.lastgroup != 'tag' else 'dollar'
        if kind in ('space', 'comment'):
            continue
        if match.group('dollar') is not None:
            kind = 'dollar'
        out.append((kind, match.group(0)))
    return out


def _ident(token):
    kind, text = token
    if kind == 'quoted':
        return text[1:-1].replace('""', '"')
    if kind == 'word':
        return text.lower()
    return None


def sql_relations(sql_text):
    """The relations a check's query reads: [(schema or None, name)] after FROM and JOIN, in order.

    Names inside function arguments (EXTRACT(... FROM x), SUBSTRING(x FROM 2)), after IS DISTINCT FROM, of
    functions (FROM generate_series(...)) and of the query's own WITH names are not relations. Unquoted names
    fold to lower case, as PostgreSQL folds them.
    """
    tokens = _tokens(sql_text)
    ctes = set()
    for index in range(len(tokens) - 2):
        if tokens[index + 1][1].lower() == 'as' and tokens[index + 2][1] == '(' and _ident(tokens[index]):
            ctes.add(_ident(tokens[index]))
        if (tokens[index + 1][1].lower() == 'as' and tokens[index + 2][1].lower() in ('materialized', 'not')
                and _ident(tokens[index])):
            ctes.add(_ident(tokens[index]))
    found = []
    stack = []  # True for the parentheses of a function call
    index = 0
    while index < len(tokens):
        kind, text = tokens[index]
        lower = text.lower()
        if text == '(':
            prev = tokens[index - 1] if index else None
            stack.append(bool(prev) and prev[0] in ('word', 'quoted') and prev[1].lower() not in _NOT_FUNCTIONS)
        elif text == ')':
            if stack:
                stack.pop()
        elif kind == 'word' and lower in ('from', 'join') and not any(stack):
            if lower == 'from' and index and tokens[index - 1][1].lower() == 'distinct':
                index += 1
                continue
            index += 1
            while True:
                while index < len(tokens) and tokens[index][1].lower() in ('only', 'lateral'):
                    index += 1
                if index >= len(tokens) or _ident(tokens[index]) is None:
                    break
                parts = [_ident(tokens[index])]
                index += 1
                if index + 1 < len(tokens) and tokens[index][1] == '.' and _ident(tokens[index + 1]) is not None:
                    parts.append(_ident(tokens[index + 1]))
                    index += 2
                if index < len(tokens) and tokens[index][1] == '(':
                    break  # a function in FROM
                if len(parts) == 1 and parts[0] in ctes:
                    pass
                else:
                    found.append((parts[0], parts[1]) if len(parts) == 2 else (None, parts[0]))
                # "FROM a x, b y": an optional alias, then a comma for the next relation
                if index < len(tokens) and tokens[index][1].lower() == 'as':
                    index += 1
                if (index < len(tokens) and tokens[index][0] in ('word', 'quoted')
                        and tokens[index][1].lower() not in _CLAUSE_WORDS):
                    index += 1
                if index < len(tokens) and tokens[index][1] == ',':
                    index += 1
                    continue
                break
            continue
        index += 1
    return found


_CLAUSE_WORDS = frozenset((
    'where', 'join', 'inner', 'left', 'right', 'full', 'cross', 'natural', 'on', 'using', 'group', 'order',
    'having', 'limit', 'offset', 'union', 'intersect', 'except', 'window', 'for', 'fetch', 'tablesample',
))


def _closest(name, candidates):
    """The candidate closest to name (case and spacing aside), or None."""
    lowered = dict((c.lower(), c) for c in candidates)
    match = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[match[0]] if match else None


def _relation_key(schema, name, relations):
    """The backup's key for a (schema or None, name) a query names: public first, then any schema."""
    if schema is not None:
        key = '%s.%s' % (schema, name)
        return key if key in relations else None
    if 'public.' + name in relations:
        return 'public.' + name
    for key in relations:
        if key.split('.', 1)[1] == name:
            return key
    return None


def settings_problems(not_null, checks, relations, columns, backup):
    """What in db_restore_not_null and db_restore_checks names a table or column that the backup does not hold.

    relations is the backup's {schema.table: TOC type}, columns {schema.table: [column]} (dump_content); backup
    the backup's name for the messages. One message per problem, with the closest name of the backup.
    """
    problems = []
    tables = [k for k, kind in relations.items() if kind in ('TABLE', 'FOREIGN TABLE', 'MATERIALIZED VIEW')]
    for index, item in enumerate(not_null or []):
        label = 'db_restore_not_null entry %d (%s.%s)' % (index + 1, item.get('table'), item.get('column'))
        try:
            schema, name = split_table_name(item.get('table'))
        except ValueError as exc:
            problems.append('%s: %s' % (label, exc))
            continue
        key = '%s.%s' % (schema, name)
        if key not in relations:
            near = _closest(key, tables)
            problems.append('%s names table %s, which is not in the backup %s%s' % (
                label, key, backup, '; did you mean %s (table: %s)?' % (near, _short(near)) if near else ''))
            continue
        known = columns.get(key)
        if known is not None and item.get('column') not in known:
            near = _closest(str(item.get('column')), known)
            problems.append('%s names column %s, which %s does not have in the backup %s%s' % (
                label, item.get('column'), key, backup, '; did you mean %s?' % near if near else
                ' (its columns: %s)' % ', '.join(known)))
    names = list(relations)
    for index, check in enumerate(checks or []):
        if not isinstance(check, dict) or not isinstance(check.get('sql'), str):
            continue
        label = 'db_restore_checks entry %d (%s)' % (index + 1, check.get('name') or 'unnamed')
        for schema, name in sql_relations(check['sql']):
            if schema in ('pg_catalog', 'information_schema') or (schema is None and name.startswith('pg_')):
                continue
            if _relation_key(schema, name, relations):
                continue
            shown = '%s.%s' % (schema, name) if schema else name
            near = _closest(shown if schema else 'public.' + name, names)
            problems.append('%s reads %s, which is not in the backup %s%s' % (
                label, shown, backup, '; did you mean %s?' % _sql_name(near) if near else ''))
    return problems


def _short(key):
    schema, name = key.split('.', 1)
    return name if schema == 'public' else key


def _sql_name(key):
    schema, name = key.split('.', 1)
    quoted = name if re.match(r'^[a-z_][a-z0-9_$]*$', name) else '"%s"' % name.replace('"', '""')
    return quoted if schema == 'public' else '%s.%s' % (schema, quoted)
