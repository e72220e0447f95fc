"""Slack and PagerDuty notifications of real restores, sent to a local HTTP
receiver on 127.0.0.1 (notify_receiver.py).
"""
from notify_receiver import ROUTING_KEY, assert_no_secret, notify_vars, receiver  # noqa: F401  (a fixture)
from test_restore import _corrupt_byte, yv  # noqa: F401  (yv is a fixture)


# A successful restore's notifications (start, then resolve) are checked with the report of the same run:
# test_report.py::test_report_of_a_restore. A rollback's: test_restore.py's in-place rollback to the safety
# backup. Unreachable receivers: test_restore.py's failed statistics update (both are warnings there). Check mode
# sends nothing: test_report.py::test_check_mode_prints_the_timeline_and_writes_nothing_or_sends_nothing.


def test_failure_triggers(run_playbook, yv, receiver):  # noqa: F811
    extra = _corrupt_byte(yv)  # a checksum mismatch: fails in fetch_backup, before anything stops
    result = run_playbook("restore.yml", dict(yv["inv"], **notify_vars(receiver.url)), extra)
    result.assert_failed("Checksum mismatch")
    report = result.report(str(yv["work"]))
    assert report["outcome"] == "failed"

    start, end = receiver.slack()
    assert "started" in start["text"]
    assert "FAILED" in end["text"] and "Outcome: failed" in end["text"] and yv["name"] in end["text"]
    assert "RTO: no downtime measured" in end["text"] and "Checksum mismatch" in end["text"]
    _, failure = receiver.pagerduty()
    assert failure["event_action"] == "trigger" and failure["payload"]["severity"] == "critical"
    assert failure["routing_key"] == ROUTING_KEY and failure["dedup_key"] == report["run_id"]
    assert "Checksum mismatch" in failure["payload"]["summary"]
    assert_no_secret(result, yv["work"])
