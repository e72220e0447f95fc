# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
import pytest

from ansible_collections.yieldvault.db_restore.plugins.module_utils.counts import (
    compare_counts,
    split_table_name,
    total_rows,
)


def test_equal_counts_match():
    counts = {'public.User': 10, 'public.payment': 5}
    result = compare_counts(dict(counts), dict(counts), 0)
    assert result['matched'] is True
    assert result['differences'] == [] and result['missing'] == [] and result['extra'] == []
    assert result['tables_compared'] == 2


def test_difference_within_tolerance():
    result = compare_counts({'public.User': 98}, {'public.User': 100}, 2)
    assert result['matched'] is True
    assert result['differences'] == [dict(table='public.User', expected=100, actual=98, difference=-2,
                                          percent=-2.0, within_tolerance=True)]


def test_tolerance_boundary_is_inclusive():
    result = compare_counts({'t': 201}, {'t': 200}, 0.5)
    assert result['differences'][0]['within_tolerance'] is True


def test_difference_outside_tolerance():
    result = compare_counts({'public.User': 97, 'public.a': 1}, {'public.User': 100, 'public.a': 1}, 2)
    assert result['matched'] is False
    diff = result['differences'][0]
    assert diff['difference'] == -3 and diff['percent'] == -3.0 and diff['within_tolerance'] is False


def test_zero_tolerance_any_difference_fails():
    assert compare_counts({'t': 101}, {'t': 100}, 0)['matched'] is False


def test_missing_table_never_matches():
    result = compare_counts({'public.a': 1}, {'public.a': 1, 'public.gone': 0}, 100)
    assert result['missing'] == ['public.gone']
    assert result['matched'] is False


def test_extra_table_is_reported_but_matches():
    result = compare_counts({'public.a': 1, 'public.new': 3}, {'public.a': 1}, 0)
    assert result['extra'] == ['public.new']
    assert result['matched'] is True


def test_zero_expected_has_no_percent():
    result = compare_counts({'t': 5}, {'t': 0}, 50)
    diff = result['differences'][0]
    assert diff['percent'] is None and diff['difference'] == 5
    assert diff['within_tolerance'] is False
    assert compare_counts({'t': 0}, {'t': 0}, 0)['matched'] is True


def test_unknown_counts():
    assert compare_counts({'m': None}, {'m': None}, 0)['matched'] is True
    result = compare_counts({'m': None}, {'m': 4}, 100)
    assert result['matched'] is False
    assert result['differences'][0]['difference'] is None


def test_empty_inputs():
    assert compare_counts({}, {}, 0)['matched'] is True
    assert compare_counts(None, None, None)['matched'] is True


@pytest.mark.parametrize('text,expected', [
    ('User', ('public', 'User')),
    ('public.User', ('public', 'User')),
    ('audit.AdminAuditLog', ('audit', 'AdminAuditLog')),
    ('"my.schema"."Odd""Name"', ('my.schema', 'Odd"Name')),
    ('"User"', ('public', 'User')),
])
def test_split_table_name(text, expected):
    assert split_table_name(text) == expected


@pytest.mark.parametrize('text', ['', '.x', 'x.', '"unterminated'])
def test_split_table_name_rejects(text):
    with pytest.raises(ValueError):
        split_table_name(text)


def test_total_rows_does_not_count_parents_twice():
    counts = {'public.payment': 30, 'public.p1': 10, 'public.p2': 20, 'public.mv': 4, 'public.mv2': None}
    kinds = {'public.payment': 'p', 'public.p1': 'r', 'public.p2': 'r', 'public.mv': 'm', 'public.mv2': 'm'}
    assert total_rows(counts, kinds) == 34
