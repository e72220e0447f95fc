"""The plain words and the carry-over of the journal a dead run leaves with its server lock."""
from ansible_collections.yieldvault.db_restore.plugins.module_utils import run_journal as rj


def test_a_run_killed_before_any_change_changed_nothing():
    assert "changed nothing" in rj.describe({}, "prod")
    assert rj.carry_after_death({}, {}) == {}


def test_killed_after_the_stop_keeps_production_whole_and_gives_the_limit_back():
    journal = {"stopped_at": "2026-04-29T12:02:00Z", "connlimit_before": 7}
    words = rj.describe(journal, "prod")
    assert "12:02:00 UTC" in words and "whole as before" in words and "is 0 (it was 7)" in words
    assert rj.carry_after_death({}, journal) == {"connlimit_before": 7}


def test_killed_after_the_drop_leaves_a_partial_restore_and_names_the_good_safety_backup():
    journal = {"run_id": "r1", "stopped_at": "t", "connlimit_before": -1, "dropped_at": "2026-04-29T12:03:00Z",
               "safety": "prod_safety_20260429_120250.dump"}
    words = rj.describe(journal, "prod")
    assert "killed after the drop of prod at 12:03:00 UTC" in words
    assert "partial restore" in words and "prod_safety_20260429_120250.dump" in words
    carry = rj.carry_after_death({}, journal)
    assert carry["tainted"] == {"run_id": "r1", "dropped_at": "2026-04-29T12:03:00Z",
                                "good_safety": "prod_safety_20260429_120250.dump"}
    assert carry["connlimit_before"] == -1


def test_the_oldest_limit_wins_over_a_zero_found_by_a_second_dead_run():
    carry = rj.carry_after_death({}, {"connlimit_before": 7})
    # the next run died too; it had found 0, left by the first
    assert rj.carry_after_death(carry, {"connlimit_before": 0})["connlimit_before"] == 7


def test_a_limit_given_back_is_not_carried():
    journal = {"connlimit_before": 5, "connlimit_restored_at": "t", "dropped_at": "t"}
    assert rj.connlimit_to_give_back(journal) is None
    assert not rj.leaves_partial(journal)
    assert rj.carry_after_death({}, journal) == {}


def test_killed_after_the_swap_says_production_holds_the_verified_restore():
    words = rj.describe({"swapped_at": "2026-04-29T12:04:00Z", "previous": "prod__pre_x", "backup": "b.dump",
                         "connlimit_before": -1}, "prod")
    assert "killed after the swap at 12:04:00 UTC" in words and "prod__pre_x" in words and "b.dump" in words
    assert "unlimited" in words


def test_release_marks_safety_backups_of_a_partial_state_and_clears_the_taint_on_success():
    carry = {"tainted": {"run_id": "r1"}, "connlimit_before": 3}
    journal = {"dropped_at": "t", "connlimit_restored_at": "t"}
    after = rj.carry_after_release(carry, journal, "succeeded", "restore", "prod_safety_2.dump")
    assert after == {"tainted_safety": ["prod_safety_2.dump"]}
    # a run that was rolled back restored that same partial state: still tainted
    kept = rj.carry_after_release(carry, journal, "rolled_back", "restore", "prod_safety_3.dump")
    assert kept["tainted"] == {"run_id": "r1"} and kept["tainted_safety"] == ["prod_safety_3.dump"]
    # a drill never clears it
    assert rj.carry_after_release(carry, {}, "succeeded", "drill")["tainted"] == {"run_id": "r1"}


def test_emptied_tables():
    assert rj.emptied_tables({"a": 10, "b": 0, "c": 5}, {"a": 0, "b": 0}) == [
        {"table": "a", "rows_before": 10, "rows_now": 0}, {"table": "c", "rows_before": 5, "rows_now": 0}]
    assert rj.emptied_tables(None, {"a": 1}) == []
    assert rj.emptied_tables({"a": 4}, {"a": 3}) == []
    assert rj.emptied_tables({"mv": 4}, {"mv": None}) == []


def test_services_of_a_dead_run_stay_carried_until_a_run_reaches_its_stop():
    carry = rj.carry_after_death({}, {"services": [{"host": "app1", "name": "api", "manager": "pm2"}]})
    assert carry["services"] == [{"host": "app1", "name": "api", "manager": "pm2"}]
    # refused before its stop (an RPO breach, a lying backup): it never touched them
    assert rj.carry_after_release(carry, {}, "failed", "restore")["services"] == carry["services"]
    # reached its stop: it adopted them and its always section started them
    assert "services" not in rj.carry_after_release(carry, {"stopped_at": "t"}, "failed", "restore")


def test_safety_backups_taken_over_a_partial_state_are_excluded_even_when_their_run_dies():
    tainted = rj.carry_after_death({}, {"run_id": "A", "dropped_at": "t", "safety": "S_A"})
    # run B (in place) took S_B of the partial state and died before its own drop
    after_b = rj.carry_after_death(tainted, {"run_id": "B", "stopped_at": "t", "safety": "S_B"})
    assert after_b["tainted_safety"] == ["S_B"] and after_b["tainted"]["good_safety"] == "S_A"
    # run B (swap) swapped a verified restore in, dumped the previous (partial) database as S_B, then died
    after_swap = rj.carry_after_death(tainted, {"run_id": "B", "swapped_at": "t", "safety": "S_B"})
    assert after_swap["tainted_safety"] == ["S_B"] and "tainted" not in after_swap
    # a run that failed after taking its safety backup of the partial state: the journal names it
    failed = rj.carry_after_release(tainted, {"safety": "S_C"}, "failed", "restore")
    assert failed["tainted_safety"] == ["S_C"] and failed["tainted"]


def test_swapped_back_says_production_holds_the_data_from_before():
    words = rj.describe({"swapped_at": "2026-04-29T12:04:00Z", "swapped_back_at": "2026-04-29T12:05:00Z"}, "prod")
    assert "swapping the previous database back" in words and "data from before" in words


def test_a_failed_rollback_leaves_the_next_run_the_limit_from_before_the_services_and_the_partial_state():
    # In place: the run blocked the database (limit 7), stopped the API, dropped production, the restore failed and
    # so did its rollback. The database stays at limit 0 and the API down on purpose; the next run must give back 7,
    # not the 0 it finds, start the API when it is done, and never take this state for a good "before".
    api = {"host": "app1", "name": "api", "manager": "pm2"}
    journal = {"run_id": "A", "connlimit_before": 7, "services": [api], "stopped_at": "t", "dropped_at": "t",
               "safety": "S_A"}
    after = rj.carry_after_release({}, journal, "rollback_failed", "restore", "S_A")
    assert after["connlimit_before"] == 7 and after["services"] == [api]
    assert after["tainted"] == {"run_id": "A", "dropped_at": "t", "good_safety": "S_A", "outcome": "rollback_failed"}
    # an older limit a dead run left wins, as after a death
    assert rj.carry_after_release({"connlimit_before": 12}, journal, "failed", "restore")["connlimit_before"] == 12
    # the rollback worked: the limit was given back and the services started; nothing is carried
    back = dict(journal, connlimit_restored_at="t")
    assert rj.carry_after_release({}, back, "rolled_back", "restore", "S_A") == {}
    # a restore in place that succeeded where there was no database to block: nothing is partial
    assert rj.carry_after_release({}, {"dropped_at": "t"}, "succeeded", "restore") == {}
