"""The swap's rename plan: checked as a whole before any rename runs."""
import pytest

from ansible_collections.yieldvault.db_restore.plugins.module_utils.rename import (
    RenamePlanError, check_plan, involved, manual_sql, undo,
)

SWAP = [{"from": "app", "to": "app__pre_20260429_143000"}, {"from": "app__restore", "to": "app"}]


def test_swap_plan_runs_in_order_against_the_names_as_they_change():
    pairs = check_plan(SWAP, {"app", "app__restore", "postgres"})
    assert pairs == [("app", "app__pre_20260429_143000"), ("app__restore", "app")]
    assert involved(pairs) == ["app", "app__restore"]


def test_undo_reverses_the_swap():
    pairs = check_plan(SWAP, {"app", "app__restore"})
    back = undo(pairs)
    assert back == [("app", "app__restore"), ("app__pre_20260429_143000", "app")]
    assert check_plan([{"from": s, "to": t} for s, t in back], {"app", "app__pre_20260429_143000"}) == back


def test_rename_into_a_missing_production_needs_no_previous():
    assert check_plan([{"from": "app__restore", "to": "app"}], {"app__restore"}) == [("app__restore", "app")]


@pytest.mark.parametrize("renames, existing, fragment", [
    (SWAP, {"app"}, "'app__restore' does not exist"),
    (SWAP, {"app", "app__restore", "app__pre_20260429_143000"}, "already exists"),
    ([{"from": "app", "to": "app"}], {"app"}, "to itself"),
    ([{"from": "postgres", "to": "x"}], {"postgres"}, "system database"),
    ([{"from": "app", "to": "a" * 64}], {"app"}, "longer than 63 bytes"),
    ([{"from": "app", "to": ""}], {"app"}, "needs both"),
    ([], {"app"}, "No rename"),
])
def test_impossible_plans_are_refused_before_anything_runs(renames, existing, fragment):
    with pytest.raises(RenamePlanError) as err:
        check_plan(renames, existing)
    assert fragment in str(err.value)
    assert "Nothing was changed" in str(err.value)


def test_manual_sql_quotes_identifiers():
    assert manual_sql([('My"Db', "x")]) == 'BEGIN; ALTER DATABASE "My""Db" RENAME TO "x"; COMMIT;'
