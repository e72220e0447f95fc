# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
import datetime
import decimal

import pytest

from ansible_collections.yieldvault.db_restore.plugins.module_utils import verify
from ansible_collections.yieldvault.db_restore.plugins.module_utils.dumpfile import parse_toc_listing
from ansible_collections.yieldvault.db_restore.plugins.module_utils.verify import (
    compare_result,
    count_rows,
    expected_objects,
    judge_prisma_migrations,
    missing_objects,
    objects_row,
    summarize_by_type,
)
from ansible_collections.yieldvault.db_restore.plugins.module_utils.counts import compare_counts

TOC = """;
; Archive created at 2026-04-29 14:00:00 UTC
;
215; 1259 16420 TABLE public actor postgres
4200; 0 16420 TABLE DATA public actor postgres
230; 1259 16500 INDEX public idx_actor_last_name postgres
3900; 2606 16600 CONSTRAINT public actor actor_pkey postgres
3950; 2606 16700 FK CONSTRAINT public film_actor film_actor_actor_id_fkey postgres
3980; 2620 16800 TRIGGER public actor last_updated postgres
240; 1255 16900 FUNCTION public last_day(timestamp with time zone) postgres
250; 1259 17000 MATERIALIZED VIEW public rental_by_category postgres
251; 1259 17001 SEQUENCE public actor_actor_id_seq postgres
4300; 0 0 SEQUENCE SET public actor_actor_id_seq postgres
5000; 0 0 ACL - SCHEMA public pg_database_owner
"""


def test_expected_objects_keep_the_checkable_types():
    dummy, entries = parse_toc_listing(TOC)
    expected = expected_objects(entries)
    kinds = [(e['type'], e['kind']) for e in expected]
    assert ('FK CONSTRAINT', 'CONSTRAINT') in kinds and ('TABLE', 'TABLE') in kinds
    assert not any(t in ('TABLE DATA', 'SEQUENCE SET', 'ACL') for t, k in kinds)
    assert summarize_by_type(expected)['FUNCTION'] == 1
    names = dict(((e['kind'], e['name']) for e in expected))
    assert ('FUNCTION', 'last_day(timestamp with time zone)') in names.items()
    assert ('CONSTRAINT', 'film_actor film_actor_actor_id_fkey') in [(e['kind'], e['name']) for e in expected]


def test_missing_objects_by_kind_schema_and_name():
    dummy, entries = parse_toc_listing(TOC)
    expected = expected_objects(entries)
    present = {
        'TABLE': {('public', 'actor')},
        'INDEX': set(),
        'CONSTRAINT': {('public', 'actor actor_pkey'), ('public', 'film_actor film_actor_actor_id_fkey')},
        'TRIGGER': {('public', 'actor last_updated')},
        'FUNCTION': {('public', 'last_day(timestamp  with time zone)'.replace('  ', ' '))},
        'MATERIALIZED VIEW': {('public', 'rental_by_category')},
        'SEQUENCE': {('public', 'actor_actor_id_seq')},
    }
    missing = missing_objects(expected, present)
    assert [(m['type'], m['name']) for m in missing] == [('INDEX', 'idx_actor_last_name')]


def test_duplicate_toc_entries_count_once():
    entries = [dict(type='TABLE', schema='public', name='a'), dict(type='TABLE', schema='public', name='a')]
    assert len(expected_objects(entries)) == 1


def test_scalar_expected_and_numbers_by_value():
    assert compare_result(['count'], [(100,)], 100) == (True, 'got 100')
    assert compare_result(['sum'], [(decimal.Decimal('100.00'),)], '100')[0]
    passed, detail = compare_result(['count'], [(99,)], 100)
    assert not passed and detail == 'got 99, expected 100'
    assert compare_result(['count'], [], 0) == (False, 'got 0 rows, expected one')


def test_list_of_dicts_per_row_in_order():
    columns = ['type', 'count']
    rows = [('deposit', 10), ('withdrawal', 5)]
    assert compare_result(columns, rows, [{'type': 'deposit', 'count': 10}, {'type': 'withdrawal', 'count': 5}])[0]
    passed, detail = compare_result(columns, rows, [{'type': 'deposit', 'count': 10}, {'type': 'withdrawal', 'count': 6}])
    assert not passed and 'row 2 column count is 5, expected 6' == detail
    passed, detail = compare_result(columns, rows, [{'kind': 'deposit'}, {}])
    assert not passed and "no column 'kind'" in detail


def test_list_of_lists_and_row_count():
    assert compare_result(['a', 'b'], [(1, 'x')], [[1, 'x']])[0]
    assert compare_result(['a', 'b'], [(1, 'x')], [[1, 'y']]) == (False, "row 1 column 2 is 'x', expected 'y'")
    assert compare_result(['a'], [(1,), (2,)], [1]) == (False, 'got 2 rows, expected 1')


def test_dict_expected_means_one_row_and_booleans():
    assert compare_result(['ok', 'n'], [(True, 3)], {'ok': True, 'n': 3})[0]
    assert compare_result(['ok'], [(True,)], 'true')[0]
    assert not compare_result(['ok'], [(False,)], True)[0]
    assert compare_result(['v'], [(None,)], None)[0]


def test_prisma_failed_and_rolled_back_rows():
    t = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    rows = [
        dict(migration_name='1_init', started_at=t, finished_at=t, rolled_back_at=None),
        dict(migration_name='2_fail', started_at=t, finished_at=None, rolled_back_at=None),
        dict(migration_name='3_resolved', started_at=t, finished_at=None, rolled_back_at=t),
        dict(migration_name='3_resolved', started_at=t, finished_at=t, rolled_back_at=None),
        dict(migration_name='4_rolled', started_at=t, finished_at=None, rolled_back_at=t),
    ]
    verdict = judge_prisma_migrations(rows)
    assert verdict == dict(failed=['2_fail'], rolled_back=['4_rolled'], resolved=['3_resolved'], applied=2)
    assert judge_prisma_migrations(rows[:1]) == dict(failed=[], rolled_back=[], resolved=[], applied=1)


def _counts(actual, baseline, tolerance=0.0, nulls=()):
    return dict(counts=actual, tables=len(actual), total_rows=sum(v or 0 for v in actual.values()),
                comparison=None if baseline is None else compare_counts(actual, baseline, tolerance),
                null_checks=list(nulls))


def test_count_rows_against_a_manifest_pass_and_name_the_snapshot():
    rows = count_rows(_counts({'public.a': 3, 'public.b': 0}, {'public.a': 3, 'public.b': 0}), 'manifest', 2, 0,
                      '2026-04-29T14:00:00Z')
    assert [r['passed'] for r in rows] == [True, True, True, True]
    assert rows[1]['detail'] == '3 rows in 2 tables, as counted in the snapshot of 2026-04-29T14:00:00Z'
    assert rows[0]['detail'] == 'all 2 tables present'
    assert rows[3] == dict(check='the restored database has tables', passed=True, detail='2 tables, 3 rows')


def test_count_rows_against_a_manifest_fail_on_one_row_missing_or_extra_table():
    rows = count_rows(_counts({'public.a': 2, 'public.x': 1}, {'public.a': 3, 'public.b': 0}), 'manifest', 2, 0)
    by_check = {r['check']: r for r in rows}
    assert by_check["row counts equal the backup's manifest exactly"] == dict(
        check="row counts equal the backup's manifest exactly", passed=False, detail='differ: public.a 2 instead of 3')
    assert by_check["every table of the backup's manifest exists"]['detail'] == 'missing: public.b'
    assert not by_check["every table of the backup's manifest exists"]['passed']
    assert by_check["no table that the backup's manifest does not list"]['detail'] == 'not in the manifest: public.x'


def test_count_rows_against_the_database_before_allow_a_few_rows_fewer_not_many():
    within = count_rows(_counts({'public.a': 95}, {'public.a': 100}, 10.0), 'before', 1, 10.0)
    assert [r['passed'] for r in within] == [True, True, True]
    assert within[1] == dict(check='no table lost more than 10.0% of its rows', passed=True,
                             detail='1 tables differ from before the restore, within bounds')
    lost = count_rows(_counts({'public.a': 50, 'public.u': None}, {'public.a': 100, 'public.u': 5}, 10.0),
                      'before', 2, 10.0)
    assert lost[1]['passed'] is False
    # an unknown count (unpopulated materialized view) is not claimed as lost rows
    assert lost[1]['detail'] == 'lost rows: public.a 100 -> 50'


def test_count_rows_without_a_baseline_say_why_and_report_nulls():
    rows = count_rows(_counts({'public.a': 1}, None, nulls=[
        dict(table='public.a', column='email', nulls=2, passed=False, error=None),
        dict(table='bad..name', column='c', nulls=None, passed=False, error='not a table name')]),
        'before', 0, 10.0, no_baseline_reason='no baseline: a rollback replaces the database it would be compared with')
    assert rows[0] == dict(check='row counts against the pre-restore database', passed=True,
                           detail='no baseline: a rollback replaces the database it would be compared with, '
                                  'and the backup has no manifest')
    assert rows[2] == dict(check='no NULL in public.a.email', passed=False, detail='2 NULL values')
    assert rows[3]['detail'] == 'not a table name'
    empty = count_rows(dict(counts={}, tables=0, total_rows=0, comparison=None, null_checks=[]), 'before', 0, 0)
    assert empty[1]['passed'] is False


def test_objects_row_lists_at_most_twenty_missing_objects():
    ok = objects_row(dict(passed=True, checked=3, by_type={'INDEX': 1, 'TABLE': 2}, missing=[]))
    assert ok['detail'] == '3 objects present (1 INDEX, 2 TABLE)' and ok['passed']
    missing = [dict(type='INDEX', schema='public', name='i%d' % n) for n in range(21)]
    bad = objects_row(dict(passed=False, checked=30, by_type={}, missing=missing))
    assert not bad['passed']
    assert bad['detail'].startswith('missing 21 of 30: INDEX public.i0, INDEX public.i1')
    assert bad['detail'].endswith('INDEX public.i19 ...')


@pytest.mark.parametrize('text, query', [
    ('SELECT 1', 'SELECT 1'),
    ('  SELECT 1 ;; \n', 'SELECT 1'),
    ('WITH t AS (SELECT 1 AS a) SELECT a FROM t;', 'WITH t AS (SELECT 1 AS a) SELECT a FROM t'),
    ("SELECT 'a' || chr(59) -- no semicolon\n", "SELECT 'a' || chr(59) -- no semicolon"),
])
def test_a_check_of_one_query_runs(text, query):
    assert verify.check_sql(text) == (query, None)


@pytest.mark.parametrize('text', [
    'COMMIT; CREATE TABLE x(); SELECT 1',
    'SELECT 1; DROP TABLE t',
    "SELECT ';'",                        # refused too: no tokenizer of ours decides what the server sees
    'SELECT 1 /* ; */',
    'SELECT 1) AS x; DROP TABLE t; SELECT * FROM (SELECT 1',
])
def test_a_check_with_a_second_statement_is_refused(text):
    query, problem = verify.check_sql(text)
    assert query is None and 'more than one statement' in problem and 'chr(59)' in problem


def test_check_problems_name_the_check():
    problems = verify.check_problems([
        {'name': 'fine', 'sql': 'SELECT 1', 'expected': 1},
        {'name': 'escape', 'sql': 'COMMIT; CREATE TABLE x(); SELECT 1', 'expected': 1},
        {'name': 'empty', 'sql': ' ; ', 'expected': 1},
    ])
    assert len(problems) == 2
    assert problems[0].startswith('db_restore_checks entry 2 (escape): ')
    assert problems[1].startswith('db_restore_checks entry 3 (empty): its sql is empty')


def test_restore_checks_refuses_every_second_statement_before_connecting(run_main, monkeypatch, tmp_path):
    # restore_checks itself (verify_restore's one module call, also in a run that skipped preflight): the refusal
    # names every entry it refuses, and comes before the counts, the objects and any connection - so no check ran
    # and the database is not written. The run of verify_restore that reaches this module with checks that do run:
    # tests/integration/test_names.py::test_restore_checks_one_statement_cannot_write.
    from ansible_collections.yieldvault.db_restore.plugins.modules import restore_checks

    touched = []
    for name in ('connect', 'count_and_compare', 'check_objects'):
        monkeypatch.setattr(restore_checks, name, lambda *a, _name=name, **k: touched.append(_name) or 1 / 0)
    checks = [{'name': 'attack-1', 'sql': 'COMMIT; CREATE TABLE escaped_check (i int); SELECT 1', 'expected': 1},
              {'name': 'attack-2', 'sql': 'SELECT 1; COMMIT; DELETE FROM "Referral"; SELECT 1', 'expected': 1}]
    result = run_main(restore_checks.main, database='yv', checks=checks, counts={'dest': str(tmp_path / 'c.json')},
                      objects_from=str(tmp_path / 'backup.dump'))
    assert result['rc'] == 1 and not result.get('changed')
    msg = result['msg']
    assert msg.startswith('Refusing to run db_restore_checks: db_restore_checks entry 1 (attack-1)'), msg
    assert 'db_restore_checks entry 2 (attack-2)' in msg and 'more than one statement' in msg
    assert 'No check ran and nothing was changed' in msg
    assert touched == [] and list(tmp_path.iterdir()) == []
