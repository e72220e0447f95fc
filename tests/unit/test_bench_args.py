"""`make bench` runs benchmarks/run.py with no arguments (README's command): its defaults must parse, and the
contenders that need an option come only with it."""
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def run():
    """benchmarks/run.py, imported with benchmarks/ on sys.path for this module only (the harness's own modules -
    run, report, contenders, datagen... - are forgotten again so they shadow nothing in the other tests)."""
    bench = Path(__file__).resolve().parents[2] / "benchmarks"
    path = list(sys.path)
    sys.path.insert(0, str(bench))
    import run as bench_run
    yield bench_run
    sys.path[:] = path
    for name, module in list(sys.modules.items()):
        if Path(getattr(module, "__file__", None) or "/").parent == bench:
            del sys.modules[name]


def test_no_arguments_is_the_quick_set_against_the_runbook(run):
    args = run.parse_args([])
    assert args.names == ["runbook", "postgresql_db", "restore_yml", "restore_wal", "drill_yml"]
    assert args.size_list == [0, 50, 100]


def test_full_adds_the_in_place_method_and_baseline_adds_the_before(run):
    assert "restore_yml_in_place" in run.parse_args(["--full"]).names
    names = run.parse_args(["--baseline", "HEAD~1"]).names
    assert names.index("restore_yml_baseline") == names.index("restore_yml") + 1


def test_baseline_contender_without_a_baseline_is_refused(run, capsys):
    with pytest.raises(SystemExit):
        run.parse_args(["--contenders", "restore_yml,restore_yml_baseline"])
    assert "needs --baseline REF" in capsys.readouterr().err


def test_databases_per_run_start_at_one(run, capsys):
    assert run.parse_args([]).db_counts == [1, 4]
    assert run.parse_args(["--full"]).db_counts == [1, 4, 16]
    assert run.parse_args(["--databases", "8,2,8"]).db_counts == [2, 8]
    for bad in ("0,4", "4,", "four"):
        with pytest.raises(SystemExit):
            run.parse_args(["--databases", bad])
        assert "at least 1, e.g. 1,4,16" in capsys.readouterr().err
