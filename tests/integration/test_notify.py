"""Slack and PagerDuty notifications of real restores, sent to a local HTTP
receiver on 127.0.0.1 (a thread in the test).

The roles post with ansible.builtin.uri to the configured URLs, which is what
lets a local receiver stand in for hooks.slack.com and events.pagerduty.com.
"""
import json
import pathlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import make_backup
from test_restore import _corrupt_byte, yv  # noqa: F401  (yv is a fixture)

# Secrets as Slack and PagerDuty shape them; neither may appear in any output or report.
SLACK_PATH = "/services/T0SECRET1/B0SECRET2/slackSecretToken4242"
ROUTING_KEY = "R0UTINGKEYsecret0123456789abcdef"


class Receiver:
    """Records every POST; answers Slack with 200 "ok" and PagerDuty with 202, as they do."""

    def __init__(self):
        self.requests = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers),
                                          "json": json.loads(body or b"null")})
                if self.path.startswith("/pagerduty"):
                    answer, code = json.dumps({"status": "success", "message": "Event processed"}).encode(), 202
                else:
                    answer, code = b"ok", 200
                self.send_response(code)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def slack(self):
        return [r["json"] for r in self.requests if r["path"] == SLACK_PATH]

    def pagerduty(self):
        return [r["json"] for r in self.requests if r["path"] == "/pagerduty/v2/enqueue"]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def notify_vars(base):
    return {"db_restore_slack_webhook_url": base + SLACK_PATH,
            "db_restore_pagerduty_routing_key": ROUTING_KEY,
            "db_restore_pagerduty_events_url": base + "/pagerduty/v2/enqueue"}


def assert_no_secret(result, work):
    for secret in (SLACK_PATH, ROUTING_KEY, "slackSecretToken4242"):
        assert secret not in result.output, secret
        for path in pathlib.Path(work).rglob("*"):
            if path.is_file() and path.suffix in (".md", ".json", ".svg", ".log", ".lock"):
                assert secret not in path.read_text(errors="replace"), (secret, path)


def test_success_announces_start_and_resolves(run_playbook, yv, receiver):  # noqa: F811
    result = run_playbook("restore.yml", dict(yv["inv"], **notify_vars(receiver.url)),
                          {"point": "latest", "confirm": yv["name"], "incident": "INC-9"})
    result.assert_ok()
    report = result.report(str(yv["work"]))

    start, end = receiver.slack()
    assert "started" in start["text"] and yv["name"] in start["text"] and "INC-9" in start["text"]
    for part in (yv["name"], "SUCCEEDED", "Outcome: succeeded", "RTO: ", "Data loss:", report["run_id"], "report.md"):
        assert part in end["text"], part

    trigger, resolve = receiver.pagerduty()
    assert trigger["event_action"] == "trigger" and trigger["payload"]["severity"] == "info"
    assert resolve["event_action"] == "resolve"
    for event in (trigger, resolve):
        assert event["routing_key"] == ROUTING_KEY
        assert event["dedup_key"] == report["run_id"]
    assert trigger["payload"]["component"] == yv["name"] and trigger["payload"]["source"] == "localhost"
    assert "WARNING" not in result.stdout
    assert_no_secret(result, yv["work"])


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


def test_rollback_triggers(run_playbook, yv, receiver):  # noqa: F811
    newest = yv["states"][2]["backup"]
    # valid for its checksum, a broken index statement: pg_restore fails after the drop
    make_backup.break_sql_keeping_sidecar(yv["store"] / newest["name"])
    # in place, so that the failure comes after the drop (with the swap method it
    # comes in the staging database, and nothing needs rolling back)
    result = run_playbook("restore.yml", dict(yv["inv"], db_restore_method="in_place", **notify_vars(receiver.url)),
                          {"point": "latest", "confirm": yv["name"]})
    result.assert_failed("ROLLED_BACK")
    report = result.report(str(yv["work"]))
    _, end = receiver.slack()
    assert "ROLLED BACK" in end["text"] and "Outcome: rolled_back" in end["text"] and "RTO: " in end["text"]
    _, rollback = receiver.pagerduty()
    assert rollback["event_action"] == "trigger" and rollback["payload"]["severity"] == "error"
    assert rollback["dedup_key"] == report["run_id"]
    assert_no_secret(result, yv["work"])


def test_unreachable_receiver_is_a_warning(run_playbook, yv, free_port):  # noqa: F811
    dead = "http://127.0.0.1:%d" % free_port()
    inv = dict(yv["inv"], **notify_vars(dead), db_restore_notify_timeout=3)
    result = run_playbook("restore.yml", inv, {"point": "latest", "confirm": yv["name"]})
    result.assert_ok()
    assert result.report(str(yv["work"]))["outcome"] == "succeeded"
    for event in ("start", "success"):
        for to in ("Slack", "PagerDuty"):
            assert "WARNING: the %s notification to %s was not delivered" % (event, to) in result.stdout, (event, to)
    assert_no_secret(result, yv["work"])


def test_check_mode_sends_nothing(run_playbook, yv, receiver):  # noqa: F811
    result = run_playbook("restore.yml", dict(yv["inv"], **notify_vars(receiver.url)), {"point": "latest"}, check=True)
    result.assert_ok()
    assert receiver.requests == []
