"""The report lists download and pg_restore attempts when something was retried or failed."""
from ansible_collections.yieldvault.db_restore.plugins.filter.report import report_markdown, restore_report

FACTS = {"run_id": "r1", "outcome": "succeeded", "phases": [], "started_epoch": 0, "finished_epoch": 1}


def test_attempts_reach_the_report_and_its_markdown():
    facts = dict(FACTS, download_attempts=[
        {"backup": "db_20260429_1400.dump", "attempt": 1, "error": "The download of x is incomplete", "seconds": 0.4},
        {"backup": "db_20260429_1400.dump", "attempt": 2, "error": None, "seconds": 0.3},
    ], restore={"log": "/l", "jobs": 1, "attempts": [
        {"attempt": 1, "jobs": 4, "rc": 1, "seconds": 1.0, "out_of_memory": True, "error": "ERROR: out of memory"},
        {"attempt": 2, "jobs": 2, "rc": 0, "seconds": 2.0, "out_of_memory": False, "error": None},
    ]})
    report = restore_report(facts)
    assert report["download_attempts"][0]["attempt"] == 1
    assert [a["jobs"] for a in report["restore"]["attempts"]] == [4, 2]
    md = report_markdown(report)
    assert "## Download attempts" in md and "**failed**: The download of x is incomplete" in md
    assert "## pg_restore attempts" in md and "**out of memory**: ERROR: out of memory" in md


def test_a_clean_single_attempt_adds_no_section():
    facts = dict(FACTS, download_attempts=[{"backup": "b", "attempt": 1, "error": None, "seconds": 0.1}],
                 restore={"log": "/l", "jobs": 2, "attempts": [{"attempt": 1, "jobs": 2, "rc": 0, "seconds": 1}]})
    md = report_markdown(restore_report(facts))
    assert "## Download attempts" not in md and "## pg_restore attempts" not in md
