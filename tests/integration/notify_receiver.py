"""A local HTTP receiver standing in for Slack and PagerDuty (a thread in the test, on 127.0.0.1), and what a
user checks of the notifications of a restore. The roles post with ansible.builtin.uri to the configured URLs,
which is what lets it stand in for hooks.slack.com and events.pagerduty.com. Used by test_notify.py and by the
restores that also check their notifications (test_report.py, test_restore.py, test_swap.py)."""
import json
import pathlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

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


def assert_success_notified(receiver, report, name, incident):
    """A successful restore announced its start (Slack, PagerDuty trigger info) and resolved both."""
    start, end = receiver.slack()
    assert "started" in start["text"] and name in start["text"] and incident in start["text"]
    for part in (name, "SUCCEEDED", "Outcome: succeeded", "RTO: ", "Data loss:", report["run_id"], "report.md"):
        assert part in end["text"], part
    trigger, resolve = receiver.pagerduty()
    assert trigger["event_action"] == "trigger" and trigger["payload"]["severity"] == "info"
    assert resolve["event_action"] == "resolve"
    for event in (trigger, resolve):
        assert event["routing_key"] == ROUTING_KEY
        assert event["dedup_key"] == report["run_id"]
    assert trigger["payload"]["component"] == name and trigger["payload"]["source"] == "localhost"


def assert_rollback_notified(receiver, report):
    """A restore that was rolled back ends with ROLLED BACK on Slack and a PagerDuty trigger of severity error."""
    _, end = receiver.slack()
    assert "ROLLED BACK" in end["text"] and "Outcome: rolled_back" in end["text"] and "RTO: " in end["text"]
    _, rollback = receiver.pagerduty()
    assert rollback["event_action"] == "trigger" and rollback["payload"]["severity"] == "error"
    assert rollback["dedup_key"] == report["run_id"]


def assert_unreachable_warned(result):
    """Receivers that do not answer: a warning for each event and receiver, and the run goes on."""
    for event in ("start", "success"):
        for to in ("Slack", "PagerDuty"):
            assert "WARNING: the %s notification to %s was not delivered" % (event, to) in result.stdout, (event, to)


def assert_no_secret(result, work):
    for secret in (SLACK_PATH, ROUTING_KEY, "slackSecretToken4242"):
        assert secret not in result.output, secret
        for path in pathlib.Path(work).rglob("*"):
            if path.is_file() and path.suffix in (".md", ".json", ".svg", ".log", ".lock"):
                assert secret not in path.read_text(errors="replace"), (secret, path)


# A successful restore's notifications (start, then resolve) are checked with the report of the same run:
# test_report.py::test_report_of_a_restore. A rollback's: test_restore.py's in-place rollback to the safety
# backup. Unreachable receivers: test_swap.py's leftovers of an interrupted run, with a failed statistics update
# (both are warnings there).
