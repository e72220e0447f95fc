# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from ansible_collections.yieldvault.db_restore.plugins.module_utils.drill import (
    compare_with_production,
    compute_trend,
    median,
    parse_history,
)


def run(seconds, outcome='succeeded'):
    return dict(outcome=outcome, rto_seconds=seconds)


def test_parse_history_skips_damaged_lines():
    entries, bad = parse_history('{"a": 1}\nnot json\n\n[1]\n{"b": 2}\n')
    assert entries == [{'a': 1}, {'b': 2}] and bad == [2, 4]


def test_median():
    assert median([]) is None
    assert median([3, 1, 2]) == 2.0
    assert median([4, 1, 2, 3]) == 2.5


def test_trend_within_budget_is_quiet():
    trend, warnings = compute_trend([run(100), run(110), run(105)], 3600, 50)
    assert trend == dict(runs=3, timed_runs=3, last_seconds=105.0, median_seconds=105.0, budget_seconds=3600.0,
                         percent_of_budget=2.9, direction='stable')
    assert warnings == []


def test_warns_past_the_budget_share_and_when_rising():
    trend, warnings = compute_trend([run(1000), run(1100), run(1900)], 3600, 50)
    assert trend['percent_of_budget'] == 52.8 and trend['direction'] == 'rising'
    assert len(warnings) == 2
    assert '52.8% of the RTO budget' in warnings[0] and 'rising' in warnings[1]


def test_failed_drills_do_not_count_for_the_trend():
    trend, warnings = compute_trend([run(100), run(None, 'failed')], 3600, 50)
    assert trend['timed_runs'] == 1 and trend['last_seconds'] is None and trend['percent_of_budget'] is None
    assert trend['direction'] == 'unknown' and warnings == []


def test_first_drill_has_no_direction():
    trend, dummy = compute_trend([run(10)], 600, 50)
    assert trend['direction'] == 'unknown' and trend['median_seconds'] == 10.0


def test_production_compare_warns_only_on_lost_rows_and_missing_tables():
    rows, warnings = compare_with_production(
        {'public.a': 100, 'public.b': 100, 'public.c': 5, 'public.mv': None},
        {'public.a': 120, 'public.b': 80, 'public.d': 1, 'public.mv': None}, 10)
    by_table = {r['table']: r for r in rows}
    assert by_table['public.a']['difference'] == 20 and by_table['public.a']['note'] == ''
    assert by_table['public.b']['percent'] == -20.0 and 'fewer' in by_table['public.b']['note']
    assert by_table['public.c']['note'] == 'not in production'
    assert by_table['public.d']['note'] == 'not in the backup'
    assert by_table['public.mv']['difference'] is None
    assert len(warnings) == 3


def test_production_compare_tolerance_is_inclusive():
    dummy, warnings = compare_with_production({'t': 100}, {'t': 90}, 10)
    assert warnings == []
