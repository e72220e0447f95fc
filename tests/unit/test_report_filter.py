"""The report filters: metrics, counts, connections, services, the drill trend,
the SVG timeline and the notification payloads."""
import json
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.yieldvault.db_restore.plugins.filter import report as rp

T0 = 1777473000.0  # 2026-04-29T14:30:00Z


def phase(name, start, seconds, status="ok"):
    return {"name": name, "started": rp.iso_z(rp.parse_iso("2026-04-29T14:30:00Z")), "ended": None,
            "started_epoch": T0 + start, "ended_epoch": T0 + start + seconds, "seconds": seconds, "status": status}


PHASES = [phase("preflight", 0, 2), phase("assess", 2, 3), phase("select_backup", 5, 1), phase("fetch_backup", 6, 30),
          phase("stop_services", 40, 5), phase("safety_backup", 45, 20), phase("prepare_database", 65, 2),
          phase("restore_database", 67, 120), phase("verify_restore", 187, 10), phase("start_services", 197, 13),
          phase("smoke_test", 210, 5)]


def facts(**over):
    f = {
        "run_id": "restore-yieldvault_prod-20260429T143000Z", "mode": "restore", "outcome": "succeeded",
        "database": "yieldvault_prod", "host": "db1", "incident": "INC-1234", "point": "2026-04-29T14:30:00Z",
        "started_at": "2026-04-29T14:30:00Z", "started_epoch": T0, "finished_at": "2026-04-29T14:34:00Z",
        "finished_epoch": T0 + 240,
        "selected": {"backup": {"name": "yieldvault_prod_20260429_1420.dump", "timestamp": "2026-04-29T14:20:00Z",
                                "size": 1048576}, "point": "2026-04-29T14:30:00Z", "point_mode": "point",
                     "gap_minutes": 10.0},
        "source": {"md5": "0" * 32, "format": "custom"},
        "phases": PHASES,
        "counts_before": {"counts": {"public.User": 100, "public.Transaction": 500, "public.Referral": None}},
        "counts_after": {"counts": {"public.User": 98, "public.Transaction": 490, "public.Referral": 7}},
        "counts_expected": {"public.User": 98, "public.Transaction": 491, "public.Referral": 7},
        "verification": [{"check": "manifest counts", "passed": False, "detail": "Transaction 491 -> 490"}],
        "connections_terminated": [
            {"pid": 4242, "user": "yieldvault_user", "application": "node", "client": "10.0.0.5", "state": "idle",
             "connected_since": "2026-04-29T14:00:00Z"},
            {"pid": 4243, "usename": "grafana", "application_name": "", "client_addr": None, "state": "active",
             "query_start": "2026-04-29T14:30:40Z"}],
        "services": [{"host": "app1", "name": "yieldvault-backend", "manager": "systemd", "state_before": "active",
                      "action": "stopped and started", "started": True, "healthy": True, "health": "healthy",
                      "stopped_by_run": True, "health_url": "http://localhost:3000/health"}],
        "rpo_minutes": 15, "rto_minutes": 60,
        "detected_at": "2026-04-29T14:10:00Z", "decided_at": "2026-04-29T14:25:00",
        "timeline_svg": "timeline.svg",
    }
    f.update(over)
    return f


def test_metrics_fill_the_runbook_table():
    r = rp.restore_report(facts())
    m = r["metrics"]
    assert m["detected_at"] == "2026-04-29T14:10:00Z"
    assert m["decided_at"] == "2026-04-29T14:25:00Z"  # no zone means UTC
    assert m["decision_minutes"] == 15.0
    assert m["download_seconds"] == 30.0
    assert m["restore_seconds"] == 120.0
    assert m["verification_seconds"] == 10.0
    assert m["downtime_seconds"] == 175.0  # stop_services start (40) to smoke_test end (215)
    assert m["total_rto_minutes"] == pytest.approx(2.92)
    assert m["rto_met"] is True and m["rto_percent_used"] == pytest.approx(4.9)
    assert m["detection_to_recovery_minutes"] == pytest.approx(23.6)  # 14:10 to 14:33:35
    assert m["data_loss_minutes"] == 10.0 and m["rpo_met"] is True
    assert r["downtime_window"] == {"started_at": "2026-04-29T14:30:40Z", "ended_at": "2026-04-29T14:33:35Z"}
    assert r["warnings"] == []
    json.dumps(r)  # report.json must serialise


def test_budgets_passed_with_dash_e_are_strings_and_still_numbers_in_the_report():
    # -e db_restore_rpo_minutes=30 arrives as '30': the comparisons failed ("'<=' not supported"), so no report.
    r = rp.restore_report(facts(rpo_minutes="30", rto_minutes="2.5"))
    m = r["metrics"]
    assert (m["rpo_target_minutes"], m["rto_target_minutes"]) == (30, 2.5)
    assert m["rpo_met"] is True and m["rto_met"] is False and m["rto_percent_used"] == pytest.approx(116.7)
    assert "RPO 30 min" in rp.report_markdown(r)


def test_unparsable_detection_time_is_a_warning_not_a_crash():
    r = rp.restore_report(facts(detected_at="yesterday", decided_at=""))
    assert r["metrics"]["detected_at"] is None and r["metrics"]["decision_minutes"] is None
    assert "db_restore_detected_at" in r["warnings"][0]
    assert "db_restore_detected_at" in rp.report_markdown(r)


def test_counts_differences_against_before_and_manifest():
    rows = {c["table"]: c for c in rp.restore_report(facts())["counts"]}
    assert rows["public.User"]["difference"] == -2 and rows["public.User"]["difference_expected"] == 0
    assert rows["public.Transaction"]["difference_expected"] == -1
    assert rows["public.Referral"]["before"] is None and rows["public.Referral"]["difference"] is None
    whole_manifest = rp.restore_report(facts(counts_expected={"tables": {"public.User": 98}}))
    assert {c["table"]: c["expected"] for c in whole_manifest["counts"]}["public.User"] == 98


def test_connections_and_services_are_normalised():
    r = rp.restore_report(facts())
    a, b = r["connections_terminated"]
    assert a == {"pid": 4242, "user": "yieldvault_user", "application": "node", "client": "10.0.0.5",
                 "state": "idle", "query_start": None, "connected_since": "2026-04-29T14:00:00Z"}
    assert b["user"] == "grafana" and b["client"] == "local socket" and b["query_start"] == "2026-04-29T14:30:40Z"
    (s,) = r["services"]
    assert s == {"host": "app1", "name": "yieldvault-backend", "manager": "systemd", "state_before": "active",
                 "action": "stopped and started", "state_after": "running", "health": "healthy",
                 "healthy": True}
    left = rp.restore_report(facts(services=[{"name": "api", "manager": "pm2", "state_before": "online",
                                              "stopped_by_run": True, "action": "stopped; LEFT STOPPED"}]))
    assert left["services"][0]["state_after"] == "stopped"


def test_markdown_is_a_pasteable_ticket():
    md = rp.report_markdown(rp.restore_report(facts()))
    for text in ("| Detection time | 2026-04-29T14:10:00Z |", "| Decision time | 2026-04-29T14:25:00Z (15.0 min after detection) |",
                 "| Backup download time | 30.0 s | before downtime |", "| Restore time | 2 min 00 s |",
                 "| Verification time | 10.0 s |", "| Total RTO (downtime) | 2 min 55 s | 60 min, 4.9% used (met) |",
                 "| Data loss | 10.0 min | RPO 15 min |", "| RPO met | yes |",
                 "![Timeline of the phases against the RTO budget](timeline.svg)", "[timeline.svg](timeline.svg)",
                 "| manifest counts | **FAIL** | Transaction 491 -> 490 |",
                 "| public.Transaction | 500 | 491 | 490 | -10 | **-1** |",
                 "| 4242 | yieldvault_user | node | 10.0.0.5 | idle | 2026-04-29T14:00:00Z |",
                 "| app1 | yieldvault-backend | systemd | active | stopped and started | running | healthy |",
                 "Outcome: **succeeded**"):
        assert text in md, text
    # every table row has the header's number of cells (GitHub renders nothing otherwise)
    for block in md.split("\n\n"):
        rows = [line for line in block.splitlines() if line.startswith("|")]
        if rows:
            widths = {line.replace("\\|", "").count("|") for line in rows}
            assert len(widths) == 1, block


def test_retention_section_lists_what_was_removed_or_why_not():
    removed = ["Removed download yieldvault_prod_20260429_1400.dump (local, 1.0 MiB): a copy of the store's backup",
               "Removed 1 item(s), 1.0 MiB."]
    r = rp.restore_report(facts(retention={"lines": removed, "removed": [{"kind": "download"}], "freed_bytes": 1048576,
                                           "error": ""}))
    assert r["retention"]["lines"] == removed
    md = rp.report_markdown(r)
    section = md.split("## Retention\n", 1)[1].split("\n## ", 1)[0]
    assert "- " + removed[0] in section and "- " + removed[1] in section
    failed = rp.report_markdown(rp.restore_report(facts(retention={"lines": [], "error": "disk | gone"})))
    assert "Not applied: disk \\| gone" in failed
    # a run that never applied the retention (a failed restore, a drill) has no section
    assert "## Retention" not in rp.report_markdown(rp.restore_report(facts()))


def test_markdown_escapes_pipes_and_newlines_in_cells():
    md = rp.report_markdown(rp.restore_report(facts(outcome="failed", error="a | b\nc", failed_phase="restore_database")))
    assert "| Error | in phase restore_database: a \\| b c |" in md


def test_markdown_without_detection_times_says_how_to_set_them():
    md = rp.report_markdown(rp.restore_report(facts(detected_at="", decided_at="")))
    assert "| Detection time | - (set db_restore_detected_at) |" in md
    assert "Detection to recovery" not in md


def test_drill_section():
    drill = {"scratch_database": "yv_drill", "kept": False,
             "history": [{"finished_at": "2026-04-22T03:00:00Z", "backup": "yv_20260422_0200.dump", "outcome": "succeeded",
                          "rto_seconds": 95.0, "phases": {"restore_database": 60}}],
             "trend": {"runs": 4, "last_seconds": 2000, "median_seconds": 95, "budget_seconds": 3600,
                       "percent_of_budget": 55.6},
             "warnings": ["restore time is 55.6% of the RTO budget (warn at 50%)"],
             "production_compare": [{"table": "public.User", "production": 100, "drill": 98, "difference": -2}]}
    md = rp.report_markdown(rp.restore_report(facts(mode="drill", drill=drill)))
    assert "## Drill" in md and "Scratch database `yv_drill`, dropped after the drill." in md
    assert "| 4 | 33 min 20 s | 1 min 35 s | 1 h 00 min | 55.6 % |" in md
    assert "| 2026-04-22T03:00:00Z | `yv_20260422_0200.dump` | succeeded | 1 min 35 s |" in md
    assert "> **Warning:** restore time is 55.6% of the RTO budget (warn at 50%)" in md
    assert "| public.User | 100 | 98 | -2 |" in md
    assert "## Drill" not in rp.report_markdown(rp.restore_report(facts()))


def test_duration_formats():
    assert rp.duration(None) == "-"
    assert rp.duration(4.04) == "4.0 s"
    assert rp.duration(65) == "1 min 05 s"
    assert rp.duration(3725) == "1 h 02 min"


def test_timeline_svg_is_valid_and_shows_phases_and_budget():
    r = rp.restore_report(facts())
    svg = rp.timeline_svg(r)
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    for name in ("preflight", "restore_database", "smoke_test", "2 min 00 s"):
        assert name in texts, name
    # a 60 min budget against a 4 min run: the axis spans the run, the budget line is marked off scale
    assert "RTO budget 60 min (at +1 h 00 min, off scale) \u2192" in texts
    assert "2 min 55 s of 60 min (4.9%)" in texts
    bars = [rect for rect in root.iter("{http://www.w3.org/2000/svg}rect") if rect.find("{http://www.w3.org/2000/svg}title") is not None]
    assert len(bars) == len(PHASES)
    # the budget line is 60 min after the downtime began, so it lies right of every bar
    line = [ln for ln in root.iter("{http://www.w3.org/2000/svg}line") if ln.get("stroke") == "#d62728"][0]
    assert all(float(b.get("x")) + float(b.get("width")) < float(line.get("x1")) for b in bars)


def test_timeline_svg_budget_on_scale_when_the_run_is_long_enough():
    root = ET.fromstring(rp.timeline_svg(rp.restore_report(facts(rto_minutes=5))))
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "RTO budget 5 min" in texts
    line = [ln for ln in root.iter("{http://www.w3.org/2000/svg}line") if ln.get("stroke") == "#d62728"][0]
    # 40 s + 300 s on an axis of 340 s * 1.03 that starts at x=170 and is 660 wide
    assert float(line.get("x1")) == pytest.approx(170 + 660 * 340 / (340 * 1.03), abs=0.2)


def test_timeline_svg_marks_failed_phase_and_escapes_names():
    phases = PHASES[:8] + [dict(PHASES[8], status="failed", name="verify <restore> & co")]
    svg = rp.timeline_svg(rp.restore_report(facts(phases=phases, outcome="rolled_back")))
    root = ET.fromstring(svg)
    fills = [rect.get("fill") for rect in root.iter("{http://www.w3.org/2000/svg}rect")]
    assert "#e15759" in fills
    assert "verify &lt;restore&gt; &amp; co" in svg


def test_timeline_svg_without_phases_or_downtime():
    r = rp.restore_report(facts(phases=PHASES[:3]))
    assert r["metrics"]["downtime_seconds"] is None
    ET.fromstring(rp.timeline_svg(r))
    ET.fromstring(rp.timeline_svg(rp.restore_report(facts(phases=[]))))


CTX = {"run_id": "restore-yv-20260429T143000Z", "mode": "restore", "database": "yieldvault_prod", "host": "db1",
       "incident": "INC-1234", "point": "latest", "backup": "yv_20260429_1420.dump", "outcome": "succeeded",
       "error": "", "downtime_seconds": 175.0, "rto_minutes": 60, "rto_met": True, "data_loss_minutes": 10.0,
       "rpo_minutes": 15, "report": "/var/backups/postgresql/reports/x/report.md"}


def test_notification_success_resolves():
    n = rp.notification(CTX, "success")
    text = n["slack"]["text"]
    for part in ("yieldvault_prod", "SUCCEEDED", "Outcome: succeeded", "RTO: 2 min 55 s downtime of a 60 min budget (met)",
                 "Data loss: 10.0 min (RPO 15 min)", "INC-1234", "report.md"):
        assert part in text, part
    assert n["pagerduty"] == {"event_action": "resolve", "dedup_key": CTX["run_id"]}
    assert "routing_key" not in json.dumps(n)


@pytest.mark.parametrize("event,outcome,severity", [("failure", "failed", "critical"), ("rollback", "rolled_back", "error")])
def test_notification_failure_and_rollback_trigger(event, outcome, severity):
    n = rp.notification(dict(CTX, outcome=outcome, error="pg_restore exited 1", rto_met=None), event)
    pd = n["pagerduty"]
    assert pd["event_action"] == "trigger" and pd["dedup_key"] == CTX["run_id"]
    assert pd["payload"]["severity"] == severity and pd["payload"]["source"] == "db1"
    assert "pg_restore exited 1" in pd["payload"]["summary"]
    assert pd["payload"]["custom_details"]["outcome"] == outcome
    assert "Outcome: %s" % outcome in n["slack"]["text"] and "pg_restore exited 1" in n["slack"]["text"]


def test_notification_start():
    n = rp.notification(dict(CTX, outcome="", downtime_seconds=None), "start")
    assert "started" in n["slack"]["text"] and "RTO budget: 60 min" in n["slack"]["text"]
    assert n["pagerduty"]["event_action"] == "trigger" and n["pagerduty"]["payload"]["severity"] == "info"
    with pytest.raises(ValueError):
        rp.notification(CTX, "exploded")


def test_notify_event_and_masking():
    assert [rp.notify_event(o) for o in ("succeeded", "rolled_back", "failed", "rollback_failed", None)] == \
        ["success", "rollback", "failure", "failure", "failure"]
    url = "http://127.0.0.1:9/hook/T000/B000/secret"
    assert "secret" not in rp.mask("Request failed for %s" % url, [url, ""])
    assert rp.mask("POST https://hooks.slack.com/services/T0/B0/XyZ failed", []) == \
        "POST https://hooks.slack.com/services/*** failed"


def test_smoke_results_and_log_errors_are_rendered():
    r = rp.restore_report(facts(smoke=[{"check": "GET http://localhost:3000/health", "passed": True, "detail": "HTTP 200"}],
                                log_errors=[{"service": "api", "host": "app1", "lines": ["ERROR boom"]}],
                                connections={"found": 1, "rounds": 1}))
    assert r["connections"] == {"found": 1, "rounds": 1}
    md = rp.report_markdown(r)
    assert "| GET http://localhost:3000/health | PASS | HTTP 200 |" in md
    assert "Error lines in the log of api on app1 since its restart:\n\n```\nERROR boom\n```" in md
    assert "## Smoke tests" not in rp.report_markdown(rp.restore_report(facts()))


def test_downtime_of_a_swap_run_starts_at_the_stop_even_without_the_method():
    # What the restore_timeline callback sees: phase names and times only.
    def ph(name, start, end):
        return {"name": name, "started_epoch": start, "ended_epoch": end}
    phases = [ph("fetch_backup", 0, 10), ph("prepare_database", 10, 12), ph("restore_database", 12, 40),
              ph("verify_restore", 40, 50), ph("stop_services", 50, 52), ph("swap_database", 52, 53),
              ph("start_services", 53, 60), ph("smoke_test", 60, 62)]
    assert rp.downtime_window(phases) == (50.0, 62.0)
    # A swap run that failed in its staging database never stopped anything: no downtime (it was
    # 10.0 - 40.0, from the staging database's prepare_database, before the fix).
    refused = [p for p in phases if p["name"] in ("fetch_backup", "prepare_database", "restore_database")]
    assert rp.downtime_window(refused) is None
    # A swap that failed: the staging restore before the stop must not end the downtime before it began.
    failed_swap = [p for p in phases if p["name"] not in ("start_services", "smoke_test")]
    assert rp.downtime_window(failed_swap) == (50.0, 53.0)


def test_a_run_that_stopped_nothing_shows_no_downtime():
    # A drill (no method, like the callback sees it) and an in-place run refused before stop_services.
    drill = facts(mode="drill", method="", phases=PHASES[:4] + PHASES[6:9])
    refused = facts(outcome="failed", phases=PHASES[:4])
    for r in (rp.restore_report(drill), rp.restore_report(refused)):
        assert r["metrics"]["downtime_seconds"] is None and r["downtime_window"] is None
        assert r["metrics"]["rto_met"] is None and r["metrics"]["rto_percent_used"] is None
        assert not [p["name"] for p in r["phases"] if p["downtime"]]
        md = rp.report_markdown(r)
        assert "| Total RTO (downtime) | none | no service was stopped |" in md, md
    # in place, every phase from the stop on is downtime
    r = rp.restore_report(facts())
    assert [p["name"] for p in r["phases"] if p["downtime"]] == [
        "stop_services", "safety_backup", "prepare_database", "restore_database", "verify_restore",
        "start_services", "smoke_test"]


def test_report_shows_what_the_restore_lost_and_judges_refreshed_views_as_expected():
    from ansible_collections.yieldvault.db_restore.plugins.module_utils.counts import restore_loss
    loss = restore_loss({"public.User": 500, "public.Flag": 5}, {"public.User": 300, "public.Flag": 4}, 10, 100)
    r = rp.restore_report(facts(loss=loss, expected_source="backup",
                                counts_before={"counts": {"public.User": 500, "public.mv": 3}},
                                counts_after={"counts": {"public.User": 300, "public.mv": 9}},
                                counts_expected={"public.User": 300, "public.mv": "refreshed"}))
    assert r["loss"]["beyond"] == ["public.User"] and r["expected_source"] == "backup"
    md = rp.report_markdown(r)
    assert "## What this restore loses against production" in md
    assert "| public.User | 500 | 300 | -200 **beyond** |" in md
    assert "| public.Flag | 5 | 4 | -1 |" in md
    # the refreshed view has another count than before, but not another than expected
    assert "2 tables, 2 differ from before the restore or from the backup's counts (read from its own data)." in md


def test_whole_cluster_restore_says_what_replaced_what():
    """restore.yml -e pitr_scope=cluster: method cluster, the source is the archive to the second, the downtime
    spans the cluster_restore phase, and the Method row names where the original data directory is kept."""
    cluster_phases = [phase("preflight", 0, 2), phase("assess", 2, 3), phase("stop_services", 10, 2),
                      phase("cluster_restore", 12, 40), phase("start_services", 52, 5), phase("smoke_test", 57, 1)]
    r = rp.restore_report(facts(
        method="cluster", phases=cluster_phases, source={},
        selected={"source": "wal", "point": "2026-04-29T14:37:12Z", "point_mode": "point", "candidates": [],
                  "backup": {"name": "20260429-120000F", "timestamp": "2026-04-29T12:00:41Z", "size": 1048576,
                             "kept_aside": "/var/lib/postgresql/15/main.before-restore-x"}}))
    assert r["metrics"]["restore_source"] == "wal" and r["metrics"]["data_loss_seconds"] == 0
    assert r["metrics"]["downtime_seconds"] == 48.0
    assert [p["name"] for p in r["phases"] if p["downtime"]] == ["stop_services", "cluster_restore", "start_services",
                                                                  "smoke_test"]
    md = rp.report_markdown(r)
    assert "| Source | the WAL archive, the whole cluster recovered to 2026-04-29T14:37:12Z (data loss 0 s) |" in md
    assert "the original kept at `/var/lib/postgresql/15/main.before-restore-x`" in md
    assert "scratch server" not in md and "staging" not in md


def test_whole_cluster_rollback_says_it_put_the_original_back():
    md = rp.report_markdown(rp.restore_report(facts(mode="rollback", method="cluster", selected={}, source={},
                                                    phases=[phase("preflight", 0, 2)])))
    assert "| Method | whole cluster (-e pitr_scope=cluster): the data directory the last whole-cluster restore " \
           "moved aside, put back |" in md


def test_a_closed_phase_keeps_its_start_and_gets_its_end_seconds_and_status():
    import time
    from ansible_collections.yieldvault.db_restore.plugins.filter.report import closed_phase
    started = time.time() - 2.34
    current = {"name": "restore_database", "started": "2026-12-06T20:00:00Z", "started_epoch": str(started)}
    record = closed_phase(current, "failed")
    assert record["name"] == "restore_database" and record["started"] == "2026-12-06T20:00:00Z"
    assert record["status"] == "failed" and 2.3 <= record["seconds"] <= 3.0 and record["ended_epoch"] > started
    assert record["ended"].endswith("Z") and len(record["ended"]) == 20
    assert current == {"name": "restore_database", "started": "2026-12-06T20:00:00Z", "started_epoch": str(started)}
