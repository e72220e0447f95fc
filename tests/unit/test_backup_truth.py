"""What a restore loses against production, the manifest cross-check, the expected counts and the settings
checked against the backup's table of contents (pure functions behind the plan and verify_restore)."""
import pytest

from ansible_collections.yieldvault.db_restore.plugins.module_utils import counts, verify


def test_a_small_table_that_gained_a_row_is_within_the_rows_tolerance():
    loss = counts.restore_loss({'public.Flag': 5, 'public.User': 1000}, {'public.Flag': 4, 'public.User': 1000},
                               tolerance_percent=10, tolerance_rows=100)
    assert loss['beyond'] == []
    row, = loss['rows']
    assert row == dict(table='public.Flag', now=5, backup=4, difference=-1, lost=1, beyond=False, percent=-20.0)
    assert loss['equal'] == 1 and loss['lost_rows'] == 1


def test_a_third_lost_in_a_big_table_is_beyond_both_tolerances():
    loss = counts.restore_loss({'public.Transaction': 3000}, {'public.Transaction': 2000}, 10, 100)
    assert loss['beyond'] == ['public.Transaction']
    assert loss['rows'][0]['lost'] == 1000


@pytest.mark.parametrize('now, backup, percent, rows, beyond', [
    (1000, 900, 10, 0, False),     # exactly 10 %
    (1000, 899, 10, 0, True),
    (1000, 899, 10, 101, False),   # within the absolute rows
    (4, 0, 10, 3, True),           # all 4 rows lost: more than 3 rows and more than 10 %
    (4, 0, 100, 0, False),         # 100 % accepts anything
])
def test_tolerance_is_percent_and_rows(now, backup, percent, rows, beyond):
    loss = counts.restore_loss({'t': now}, {'t': backup}, percent, rows)
    assert (loss['beyond'] == ['t']) is beyond


def test_a_table_not_in_the_backup_loses_all_its_rows_and_matviews_are_not_judged():
    loss = counts.restore_loss({'public.new': 500, 'public.mv': 7, 'public.back': None},
                               {'public.mv': counts.REFRESHED, 'public.back': 3, 'public.ins': counts.UNKNOWN},
                               10, 100)
    rows = {r['table']: r for r in loss['rows']}
    assert rows['public.new']['lost'] == 500 and rows['public.new']['backup'] is None
    assert loss['beyond'] == ['public.new']
    assert 'public.mv' not in rows and 'public.ins' not in rows
    # a table missing now (dropped by the incident) comes back: a gain, no loss
    assert 'public.back' not in rows


def test_table_missing_now_comes_back():
    loss = counts.restore_loss({}, {'public.Referral': 30}, 10, 100)
    assert loss['rows'] == [dict(table='public.Referral', now=None, backup=30, difference=30, lost=0,
                                 beyond=False, percent=None)]


def test_manifest_disagreements_ignore_materialized_views():
    manifest = {'public.User': 5, 'public.user_mv': 4, 'public.T': 10}
    dump = {'public.User': 5, 'public.user_mv': counts.REFRESHED, 'public.T': 11, 'public.new': 0}
    assert counts.manifest_disagreements(manifest, dump) == [
        dict(table='public.T', manifest=10, dump=11), dict(table='public.new', manifest=None, dump=0)]


def test_expected_from_prefers_the_dump_and_judges_manifest_matviews_by_the_toc():
    content = dict(counted=True, tables={'public.User': 5, 'public.user_mv': 'refreshed'})
    assert counts.expected_from(content, None) == (content['tables'], 'backup')
    # a manifest that states the same counts (its stale materialized view aside) names the source
    assert counts.expected_from(content, {'public.User': 5, 'public.user_mv': 4}) == (content['tables'], 'manifest')
    # what the manifest counted and the dump does not create (an extension's table) stays expected
    assert counts.expected_from(content, {'public.User': 5, 'public.ext': 2}) == (
        dict(content['tables'], **{'public.ext': 2}), 'manifest')
    assert counts.expected_from(content, {'public.User': 6}) == (content['tables'], 'backup')
    toc_only = dict(counted=False, tables=None, relations={'public.user_mv': 'MATERIALIZED VIEW',
                                                           'public.never': 'MATERIALIZED VIEW'})
    assert counts.expected_from(toc_only, {'public.User': 5, 'public.user_mv': 4, 'public.never': None}) == (
        {'public.User': 5, 'public.user_mv': 'refreshed', 'public.never': None}, 'manifest')
    assert counts.expected_from(None, None) == (None, None)


def test_compare_counts_understands_refreshed_and_unknown():
    cmp = counts.compare_counts({'mv': 9, 'mv2': None, 'ins': 3, 't': 2},
                                {'mv': 'refreshed', 'mv2': 'refreshed', 'ins': 'unknown', 't': 2})
    assert [d['table'] for d in cmp['differences']] == ['mv2']
    assert cmp['matched'] is False


def test_rollback_baseline_of_a_stale_materialized_view():
    before = {'public.User': 5, 'public.user_mv': 4, 'public.never_mv': None}
    baseline = counts.rollback_baseline(before, ['public.user_mv', 'public.never_mv'])
    assert baseline == {'public.User': 5, 'public.user_mv': 'refreshed', 'public.never_mv': None}
    assert counts.compare_counts({'public.User': 5, 'public.user_mv': 5, 'public.never_mv': None},
                                 baseline)['matched'] is True


RELATIONS = {'public.User': 'TABLE', 'public.Transaction': 'TABLE', 'my schema.order items': 'TABLE',
             'public.user_mv': 'MATERIALIZED VIEW', 'public.active_users': 'VIEW'}
COLUMNS = {'public.User': ['id', 'address'], 'public.Transaction': ['id', 'amount', 'type'],
           'my schema.order items': ['id', 'Note']}


def test_not_null_typo_in_the_table_is_refused_with_the_closest_name():
    problems = verify.settings_problems([{'table': 'Users', 'column': 'address'}], [], RELATIONS, COLUMNS, 'b.dump')
    assert problems == ['db_restore_not_null entry 1 (Users.address) names table public.Users, which is not in the '
                        'backup b.dump; did you mean public.User (table: User)?']


def test_not_null_typo_in_the_column():
    problems = verify.settings_problems([{'table': 'my schema.order items', 'column': 'note'}], [], RELATIONS,
                                        COLUMNS, 'b.dump')
    assert len(problems) == 1 and 'did you mean Note?' in problems[0]


def test_correct_settings_give_no_problem():
    checks = [{'name': 'totals', 'sql': 'SELECT type, sum(amount) FROM "Transaction" GROUP BY 1 ORDER BY 1'},
              {'name': 'mv', 'sql': 'SELECT count(*) FROM user_mv JOIN active_users a USING (id)'},
              {'name': 'catalog', 'sql': 'SELECT count(*) FROM pg_class c, information_schema.tables t'},
              {'name': 'spaces', 'sql': 'SELECT count(*) FROM "my schema"."order items"'}]
    assert verify.settings_problems([{'table': 'User', 'column': 'address'}], checks, RELATIONS, COLUMNS,
                                    'b.dump') == []


def test_check_reading_a_table_not_in_the_backup():
    checks = [{'name': 'users', 'sql': 'SELECT count(*) FROM "Users"'},
              {'name': 'folded', 'sql': 'SELECT count(*) FROM transaction'}]
    problems = verify.settings_problems([], checks, RELATIONS, COLUMNS, 'b.dump')
    assert problems[0].startswith('db_restore_checks entry 1 (users) reads Users, which is not in the backup')
    assert problems[0].endswith('did you mean "User"?')
    # unquoted names fold to lower case, as PostgreSQL folds them: transaction is not "Transaction"
    assert 'did you mean "Transaction"?' in problems[1]


@pytest.mark.parametrize('sql, relations', [
    ('SELECT count(*) FROM "User"', [(None, 'User')]),
    ('SELECT extract(epoch FROM "createdAt") FROM public."User" u JOIN x ON true', [('public', 'User'), (None, 'x')]),
    ('WITH a AS (SELECT 1 FROM t1) SELECT * FROM a, generate_series(1, 2) g', [(None, 't1')]),
    ('SELECT a IS DISTINCT FROM b FROM c', [(None, 'c')]),
    ("SELECT 1 FROM t WHERE s = 'x FROM y' AND u = $$z FROM w$$ -- FROM v", [(None, 't')]),
    ('SELECT substring(x FROM 2) FROM (SELECT 2 AS x FROM inner_t) s', [(None, 'inner_t')]),
    ('SELECT * FROM a AS x, b y, ONLY c', [(None, 'a'), (None, 'b'), (None, 'c')]),
])
def test_sql_relations(sql, relations):
    assert verify.sql_relations(sql) == relations


def test_a_materialized_view_of_production_is_no_loss():
    loss = counts.restore_loss({'public.mv': 300, 'public.User': 5}, {'public.User': 5}, 10, 100,
                               derived=['public.mv'])
    assert loss['rows'] == [] and loss['beyond'] == []


def test_count_rows_against_the_backup_pass_fail_and_name_extension_tables():
    from ansible_collections.yieldvault.db_restore.plugins.module_utils.verify import count_rows

    def result(actual, baseline):
        return dict(counts=actual, tables=len(actual), total_rows=sum(v for v in actual.values() if v),
                    comparison=counts.compare_counts(actual, baseline, 0), null_checks=[])
    rows = {r['check']: r for r in count_rows(result({'public.a': 3, 'public.mv': 9, 'public.ext': 1},
                                                     {'public.a': 3, 'public.mv': 'refreshed'}), 'backup', 2, 0)}
    assert rows["row counts equal the backup's own data exactly"]['passed'] is True
    assert rows["no table that the backup does not hold"]['passed'] is True
    assert 'public.ext' in rows["no table that the backup does not hold"]['detail']
    rows = {r['check']: r for r in count_rows(result({'public.a': 2}, {'public.a': 3, 'public.b': 0}), 'backup',
                                              2, 0)}
    assert rows["row counts equal the backup's own data exactly"] == dict(
        check="row counts equal the backup's own data exactly", passed=False, detail='differ: public.a 2 instead of 3')
    assert rows["every table of the backup exists"] == dict(check="every table of the backup exists", passed=False,
                                                            detail='missing: public.b')
