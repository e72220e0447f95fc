"""`make bench` runs benchmarks/run.py with no arguments (README's command): its defaults must parse, and the
contenders that need an option come only with it."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import run  # noqa: E402


def test_no_arguments_is_the_quick_set_against_the_runbook():
    args = run.parse_args([])
    assert args.names == ["runbook", "postgresql_db", "restore_yml", "drill_yml"]
    assert args.size_list == [0, 50, 100]


def test_full_adds_the_in_place_method_and_baseline_adds_the_before():
    assert "restore_yml_in_place" in run.parse_args(["--full"]).names
    names = run.parse_args(["--baseline", "HEAD~1"]).names
    assert names.index("restore_yml_baseline") == names.index("restore_yml") + 1


def test_baseline_contender_without_a_baseline_is_refused(capsys):
    with pytest.raises(SystemExit):
        run.parse_args(["--contenders", "restore_yml,restore_yml_baseline"])
    assert "needs --baseline REF" in capsys.readouterr().err
