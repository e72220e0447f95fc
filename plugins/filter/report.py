# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn the facts of a run into the incident report, its
timeline picture and its notifications.

Everything here is pure (no I/O) so the unit tests can pin the output and the
restore_timeline callback can reuse the same downtime rule and picture.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from xml.sax.saxutils import escape as _xml_escape

OUTCOMES = ("succeeded", "rolled_back", "failed", "rollback_failed")

# Downtime starts when stop_services starts (the application's connections end
# there, whatever the method) and ends when the services answer again. A run that
# never reached stop_services (refused before it, a swap run that failed in its
# staging database, a drill) stopped nothing and had no downtime.
# recovery: after a failure once the services had stopped, the swap back or the restore of the safety backup and
# the services started again (restore.yml's rescue and always sections); it ends the downtime when there is one.
DOWNTIME_LAST = ("recovery", "smoke_test", "start_services", "verify_restore", "restore_database")
DOWNTIME_PHASES = ("stop_services", "safety_backup", "prepare_database", "restore_database", "verify_restore",
                   "start_services", "smoke_test", "cluster_restore", "recovery")

NOTIFY_EVENTS = ("start", "success", "failure", "rollback")
_UTC = _dt.timezone.utc


# ---- helpers -------------------------------------------------------------

def _phase(phases, name):
    for p in phases:
        if p.get("name") == name:
            return p
    return None


def _seconds(phase):
    if not phase or phase.get("seconds") is None:
        return None
    return round(float(phase["seconds"]), 1)


def _float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _minutes(value):
    """A budget in minutes as a number: -e db_restore_rpo_minutes=30 arrives as the string '30'. None when unset or
    not a number (the preflight's argument spec refused that already)."""
    number = _float(value)
    if number is None:
        return None
    return int(number) if number.is_integer() else number


def downtime_window(phases, method=None):
    """(start_epoch, end_epoch) of the downtime, or None when the run stopped nothing.

    phases: dicts with name, started_epoch, ended_epoch (the report role's and the callback's shape).
    method: kept for the callers; the downtime starts at stop_services with every method (with C(swap) the
    staging database is prepared and restored while the services run, in place everything after the stop is
    downtime), so a run without a stop_services phase - refused before it, a drill - had none.
    """
    phases = list(phases or [])
    index = next((i for i, p in enumerate(phases) if p.get("name") == "stop_services"), None)
    if index is None or _float(phases[index].get("started_epoch")) is None:
        return None
    # Only phases from the stop on can end the downtime: a swap run's staging restore came before it.
    after = phases[index:]
    end = next((_phase(after, n) for n in DOWNTIME_LAST if _phase(after, n)), None)
    if end is None or _float(end.get("ended_epoch")) is None:
        end = after[-1]
    if _float(end.get("ended_epoch")) is None:
        return None
    return float(phases[index]["started_epoch"]), float(end["ended_epoch"])


def in_downtime(phase, window, method=None):
    """Whether a phase ran while the services were down; never when the run stopped nothing (window None).

    In place, every service-affecting phase after the stop is downtime. With the swap method the
    staging restore runs before the stop and the previous database's safety dump after the start,
    so only phases inside the measured window count.
    """
    if not window:
        return False
    started = _float(phase.get("started_epoch"))
    if method != "swap":
        return phase.get("name") in DOWNTIME_PHASES and (started is None or started >= window[0])
    return started is not None and window[0] <= started < window[1]


def _downtime(phases):
    window = downtime_window(phases)
    return round(window[1] - window[0], 1) if window else None


def parse_iso(value):
    """An aware UTC datetime from ISO 8601 text (no zone means UTC), or None when empty or unparsable."""
    if value in (None, ""):
        return None
    if isinstance(value, _dt.datetime):
        parsed = value
    else:
        text = str(value).strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = _dt.datetime.fromisoformat(text)
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_UTC)
    return parsed.astimezone(_UTC)


def iso_z(moment):
    return moment.astimezone(_UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def _count_rows(before, after, expected):
    tables = sorted(set(before) | set(after) | set(expected or {}))
    rows = []
    for t in tables:
        b, a = before.get(t), after.get(t)
        e = (expected or {}).get(t)
        rows.append({
            "table": t,
            "before": b,
            "expected": e,
            "after": a,
            "difference": (a - b) if isinstance(a, int) and isinstance(b, int) else None,
            "difference_expected": (a - e) if isinstance(a, int) and isinstance(e, int) else None,
        })
    return rows


def _connection(c):
    """One terminated session, whichever role recorded it (stop_services or prepare_database)."""
    client = c.get("client") or c.get("client_addr")
    return {
        "pid": c.get("pid"),
        "user": c.get("user") or c.get("usename"),
        "application": c.get("application") or c.get("application_name") or "",
        "client": client or "local socket",
        "state": c.get("state"),
        "query_start": c.get("query_start"),
        "connected_since": c.get("connected_since") or c.get("backend_start"),
    }


def _service(s):
    if s.get("state_after"):
        after = s["state_after"]
    elif s.get("started"):
        after = "running" if s.get("healthy", True) else "running, NOT healthy"
    elif s.get("stopped_by_run"):
        after = "stopped"
    else:
        after = s.get("state_before") or "unknown"
    return {
        "host": s.get("host"),
        "name": s.get("name"),
        "manager": s.get("manager"),
        "state_before": s.get("state_before") or s.get("state"),
        "action": s.get("action") or "none",
        "state_after": after,
        "health": s.get("health") or ("-" if not s.get("health_url") else "not checked"),
        "healthy": s.get("healthy"),
    }


# ---- the report ----------------------------------------------------------

def restore_report(facts):
    """facts: a dict the report role gathers; see roles/report/tasks/main.yml."""
    phases = list(facts.get("phases") or [])
    selected = facts.get("selected") or {}
    backup = dict(selected.get("backup") or {})
    source = facts.get("source") or {}
    if source.get("md5"):
        backup["md5"] = source["md5"]
        backup["format"] = source.get("format")
    if source.get("identity"):
        # Know the backup: match, unknown (the dump names no database) or not_checked, with the finding.
        backup["identity"] = source["identity"]
    rto = _minutes(facts.get("rto_minutes"))
    rpo = _minutes(facts.get("rpo_minutes"))
    method = facts.get("method") or None
    window = downtime_window(phases, method)
    downtime = round(window[1] - window[0], 1) if window else None
    gap = selected.get("gap_minutes")
    warnings = []

    detected = parse_iso(facts.get("detected_at"))
    decided = parse_iso(facts.get("decided_at"))
    for key, parsed in (("detected_at", detected), ("decided_at", decided)):
        if facts.get(key) and parsed is None:
            warnings.append("db_restore_%s %r is not an ISO 8601 timestamp; it is left out of the metrics."
                            % (key, str(facts.get(key))))
    recovered = _dt.datetime.fromtimestamp(window[1], _UTC) if window else None
    finished = parse_iso(facts.get("finished_at"))

    def minutes_between(a, b):
        return round((b - a).total_seconds() / 60.0, 1) if a and b else None

    metrics = {
        "detected_at": iso_z(detected),
        "decided_at": iso_z(decided),
        "decision_minutes": minutes_between(detected, decided),
        "download_seconds": _seconds(_phase(phases, "fetch_backup")),
        "safety_backup_seconds": _seconds(_phase(phases, "safety_backup")),
        "restore_seconds": _seconds(_phase(phases, "restore_database")),
        "verification_seconds": _seconds(_phase(phases, "verify_restore")),
        "downtime_seconds": downtime,
        "total_rto_minutes": round(downtime / 60.0, 2) if downtime is not None else None,
        "rto_target_minutes": rto,
        "rto_met": (downtime / 60.0 <= rto) if (downtime is not None and rto) else None,
        "rto_percent_used": round(100.0 * downtime / (rto * 60.0), 1) if (downtime is not None and rto) else None,
        "detection_to_recovery_minutes": minutes_between(detected, recovered or finished),
        "data_loss_minutes": gap,
        # wal: recovered from the WAL archive to the second (restore.yml -e source=wal, or auto when it covers).
        "restore_source": selected.get("source") or ("dump" if selected.get("backup") else None),
        "archive_lag_seconds": selected.get("archive_lag_seconds"),
        "data_loss_seconds": 0 if selected.get("source") == "wal" else (
            round(float(gap) * 60) if gap is not None else None),
        "rpo_target_minutes": rpo,
        "rpo_met": (gap <= rpo) if (gap is not None and rpo is not None) else None,
        "run_seconds": round(float(facts["finished_epoch"]) - float(facts["started_epoch"]), 1)
        if facts.get("finished_epoch") and facts.get("started_epoch") else None,
    }
    before = ((facts.get("counts_before") or {}).get("counts")) or {}
    after = ((facts.get("counts_after") or {}).get("counts")) or {}
    expected = facts.get("counts_expected") or {}
    if isinstance(expected, dict) and isinstance(expected.get("tables"), dict):
        expected = expected["tables"]  # a whole manifest was passed
    started_epoch = _float(facts.get("started_epoch"))
    report = {
        "run_id": facts.get("run_id"),
        "mode": facts.get("mode", "restore"),
        "outcome": facts.get("outcome"),
        "error": facts.get("error") or None,
        "failed_phase": facts.get("failed_phase") or None,
        "database": facts.get("database"),
        "host": facts.get("host"),
        "incident": facts.get("incident") or None,
        "started_at": facts.get("started_at"),
        "finished_at": facts.get("finished_at"),
        "point": {"requested": facts.get("point") or None, "used": selected.get("point"),
                  "mode": selected.get("point_mode")},
        "backup": backup or None,
        "candidates": len(selected.get("candidates") or []),
        "safety_backup": facts.get("safety") or None,
        "rollback": facts.get("rollback") or None,
        "phases": [dict({k: p.get(k) for k in ("name", "started", "ended", "seconds", "status")},
                        offset_seconds=(round(float(p["started_epoch"]) - started_epoch, 1)
                                        if started_epoch is not None and _float(p.get("started_epoch")) is not None
                                        else None),
                        downtime=in_downtime(p, window, method))
                   for p in phases],
        "downtime_window": {"started_at": iso_z(_dt.datetime.fromtimestamp(window[0], _UTC)),
                            "ended_at": iso_z(recovered)} if window else None,
        "metrics": metrics,
        "counts": _count_rows(before, after, expected),
        # Where counts[].expected comes from: "backup" (the dump's own data), "manifest" (the manifest, agreeing
        # with the data where it was read) or null (no expected counts: plain SQL without a manifest).
        "expected_source": facts.get("expected_source") or None,
        # What the restore loses against production (the plan's table): rows, beyond, tolerance.
        "loss": facts.get("loss") or None,
        "verification": facts.get("verification") or [],
        "connections_terminated": [_connection(c) for c in (facts.get("connections_terminated") or [])],
        "services": [_service(s) for s in (facts.get("services") or [])],
        "connections": facts.get("connections") or None,
        "smoke": facts.get("smoke") or [],
        "log_errors": facts.get("log_errors") or [],
        "restore": facts.get("restore") or None,
        "download_attempts": list(facts.get("download_attempts") or []),
        "server_version": facts.get("server_version"),
        "disk": facts.get("disk") or None,
        "drill": facts.get("drill") or None,
        "method": method,
        "staging_database": facts.get("staging_database") or None,
        "previous_database": facts.get("previous_database") or None,
        "leftovers": facts.get("leftovers") or None,
        "timeline_svg": facts.get("timeline_svg") or None,
        # What the retention settings removed at the end of the run (roles/retention), as the console said it.
        "retention": facts.get("retention") or None,
        "warnings": warnings + list(facts.get("warnings") or []),
    }
    return report


def _fmt(value, unit=""):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return "%s%s" % (value, unit)


def duration(seconds):
    """'42.1 s', '3 min 05 s', '1 h 02 min' - what a reader of a ticket takes in at a glance."""
    if seconds is None:
        return "-"
    seconds = float(seconds)
    if seconds < 60:
        return "%.1f s" % seconds
    whole = int(round(seconds))
    if whole < 3600:
        return "%d min %02d s" % (whole // 60, whole % 60)
    return "%d h %02d min" % (whole // 3600, (whole % 3600) // 60)


def _size(n):
    if n in (None, ""):
        return "-"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0
    return "-"


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _met(flag):
    return "-" if flag is None else ("met" if flag else "**MISSED**")


def _metrics_rows(r):
    m = r["metrics"]
    decision = "-"
    if m.get("decided_at"):
        decision = "%s%s" % (m["decided_at"], (" (%s min after detection)" % m["decision_minutes"])
                             if m.get("decision_minutes") is not None else "")
    budget = "%s min" % m["rto_target_minutes"] if m.get("rto_target_minutes") else "-"
    if m.get("rto_percent_used") is not None:
        budget += ", %s%% used" % m["rto_percent_used"]
    rows = [
        ("Detection time", m.get("detected_at") or "- (set db_restore_detected_at)", ""),
        ("Decision time", decision if m.get("decided_at") else "- (set db_restore_decided_at)", ""),
        ("Backup download time", duration(m["download_seconds"]), "before downtime"),
        ("Safety backup time", duration(m["safety_backup_seconds"]), ""),
        ("Restore time", duration(m["restore_seconds"]), ""),
        ("Verification time", duration(m["verification_seconds"]), ""),
        ("Total RTO (downtime)", duration(m["downtime_seconds"]), "%s (%s)" % (budget, _met(m["rto_met"])))
        if m.get("downtime_seconds") is not None else ("Total RTO (downtime)", "none", "no service was stopped"),
    ]
    if m.get("detection_to_recovery_minutes") is not None:
        rows.append(("Detection to recovery", "%s min" % m["detection_to_recovery_minutes"], ""))
    rows += [
        ("Data loss", "0 s (WAL archive, to the second)" if m.get("restore_source") == "wal"
         else _fmt(m["data_loss_minutes"], " min"), "RPO %s min" % _fmt(m["rpo_target_minutes"])),
        ("RPO met", _fmt(m["rpo_met"]), ""),
    ]
    if m.get("archive_lag_seconds") is not None:
        rows.append(("Archive lag", "%s s" % m["archive_lag_seconds"],
                     "newest archived WAL; what a lost server would lose now"))
    rows += [
        ("Whole run", duration(m["run_seconds"]), ""),
    ]
    return ["| Metric | Value | Target |", "| --- | --- | --- |"] + [
        "| %s | %s | %s |" % (_cell(a), _cell(b), _cell(c)) for a, b, c in rows]


def _drill_lines(d):
    lines = ["", "## Drill", ""]
    lines.append("Scratch database `%s`, %s." % (d.get("scratch_database") or "-",
                                                 "kept" if d.get("kept") else "dropped after the drill"))
    trend = d.get("trend") or {}
    if trend:
        lines += ["", "| Drills | Last restore | Median restore | RTO budget | Last, % of budget |",
                  "| ---: | ---: | ---: | ---: | ---: |",
                  "| %s | %s | %s | %s | %s |" % (_fmt(trend.get("runs")), duration(trend.get("last_seconds")),
                                                duration(trend.get("median_seconds")),
                                                duration(trend.get("budget_seconds")),
                                                _fmt(trend.get("percent_of_budget"), " %"))]
    history = d.get("history") or []
    if history:
        lines += ["", "| Finished (UTC) | Backup | Outcome | RTO |", "| --- | --- | --- | ---: |"]
        for h in history:
            lines.append("| %s | `%s` | %s | %s |" % (_cell(h.get("finished_at") or "-"), _cell(h.get("backup") or "-"),
                                                     _cell(h.get("outcome") or "-"), duration(h.get("rto_seconds"))))
    compare = d.get("production_compare") or []
    if compare:
        lines += ["", "Compared with production:", ""]
        if all(isinstance(c, dict) for c in compare):
            keys = []
            for c in compare:
                keys += [k for k in c if k not in keys]
            lines += ["| %s |" % " | ".join(_cell(k) for k in keys), "| %s |" % " | ".join("---" for _ in keys)]
            for c in compare:
                lines.append("| %s |" % " | ".join(_cell(_fmt(c.get(k))) for k in keys))
        else:
            lines += ["- %s" % _cell(c) for c in compare]
    for w in d.get("warnings") or []:
        lines += ["", "> **Warning:** %s" % _cell(w)]
    return lines


def report_markdown(r):
    b = r.get("backup") or {}
    lines = [
        "# Database %s report: %s" % (r["mode"], r["database"]),
        "",
        "| | |",
        "| --- | --- |",
        "| Outcome | **%s** |" % _cell(r["outcome"]),
        "| Incident | %s |" % _cell(r.get("incident") or "-"),
        "| Run | `%s` on %s |" % (r["run_id"], _cell(r.get("host"))),
        "| Started / finished (UTC) | %s / %s |" % (r.get("started_at"), r.get("finished_at")),
        "| Restore point | %s (%s) |" % (_cell((r["point"] or {}).get("used") or "-"), (r["point"] or {}).get("mode") or "-"),
        "| Backup | `%s` taken %s, %s, md5 `%s` |" % (b.get("name", "-"), b.get("timestamp", "-"), _size(b.get("size")),
                                               b.get("md5") or b.get("expected_md5") or "-"),
        "| PostgreSQL | %s |" % _cell(r.get("server_version") or "-"),
    ]
    if (r.get("metrics") or {}).get("restore_source") == "wal":
        lines.insert(-2, ("| Source | the WAL archive, the whole cluster recovered to %s (data loss 0 s) |"
                          if r.get("method") == "cluster" else
                          "| Source | the WAL archive, recovered to %s in a scratch server and dumped there (data loss 0 s) |")
                     % _cell((r["point"] or {}).get("used") or "-"))
    if r.get("error"):
        lines.append("| Error | %s%s |" % (("in phase %s: " % r["failed_phase"]) if r.get("failed_phase") else "", _cell(r["error"])))
    sb = r.get("safety_backup") or {}
    if sb:
        if sb.get("skipped"):
            lines.append("| Safety backup | none: %s |" % _cell(sb.get("reason")))
        else:
            lines.append("| Safety backup | `%s` (%s, %s, md5 `%s`)%s |" % (
                sb.get("path"), sb.get("format"), _size(sb.get("size")), sb.get("md5"),
                (", uploaded to `%s`" % sb["s3_key"]) if sb.get("uploaded")
                else (", NOT uploaded to S3: %s" % _cell(sb["upload_error"])) if sb.get("upload_error") else ""))
    if r.get("method"):
        lines.append("| Method | %s |" % _cell(
            "swap (restored into `%s`, verified, then renamed in)" % r.get("staging_database")
            if r["method"] == "swap" else
            ("whole cluster (-e pitr_scope=cluster): the data directory the last whole-cluster restore moved aside, "
             "put back" if r.get("mode") == "rollback" else
             "whole cluster (-e pitr_scope=cluster): the data directory replaced, the original kept at `%s`"
             % ((r.get("backup") or {}).get("kept_aside") or "-"))
            if r["method"] == "cluster" else "in place (drop and restore production)"))
    prev = r.get("previous_database") or {}
    if prev:
        lines.append("| Previous database | `%s`: %s |" % (prev.get("name"), _cell(prev.get("detail") or "-")))
    rb = r.get("rollback") or {}
    if rb:
        lines.append("| Rollback | %s |" % _cell(rb.get("detail") or rb))
    for item in (r.get("leftovers") or {}).get("messages") or []:
        lines += ["", "> **Left by an earlier run:** %s" % _cell(item)]
    for item in (r.get("leftovers") or {}).get("files_removed") or []:
        lines += ["", "> **Left by an interrupted run, removed:** `%s` (%s)" % (item.get("path"), _size(item.get("bytes")))]
    for w in r.get("warnings") or []:
        lines += ["", "> **Warning:** %s" % _cell(w)]
    lines += ["", "## Metrics", ""] + _metrics_rows(r)
    lines += [
        "",
        "## Phases",
        "",
    ]
    if r.get("timeline_svg"):
        lines += ["![Timeline of the phases against the RTO budget](%s)" % r["timeline_svg"], "",
                  "Timeline: [%s](%s)" % (r["timeline_svg"], r["timeline_svg"]), ""]
    lines += [
        "| Phase | Started (UTC) | Duration | Downtime | Status |",
        "| --- | --- | ---: | --- | --- |",
    ]
    for p in r["phases"]:
        status = p.get("status") or "-"
        lines.append("| %s | %s | %s | %s | %s |" % (p["name"], p.get("started") or "-", duration(p.get("seconds")),
                                                    "yes" if p.get("downtime") else "",
                                                    "**%s**" % status if status == "failed" else status))
    lines += ["", "## Verification", ""]
    if r["verification"]:
        lines += ["| Check | Result | Detail |", "| --- | --- | --- |"]
        for v in r["verification"]:
            lines.append("| %s | %s | %s |" % (_cell(v.get("check")), "PASS" if v.get("passed") else "**FAIL**", _cell(v.get("detail", ""))))
    else:
        lines.append("Not run.")
    lines += ["", "## Row counts", ""]
    if r["counts"]:
        changed = [c for c in r["counts"] if c["difference"] not in (0, None) or c["before"] is None or c["after"] is None
                   or (isinstance(c["expected"], int) and c["after"] != c["expected"])]
        lines.append("%d tables, %d differ from before the restore or from the backup's counts%s."
                     % (len(r["counts"]), len(changed),
                        {"backup": " (read from its own data)", "manifest": " (its manifest, agreeing with its data)"}
                        .get(r.get("expected_source"), "")))
        lines += ["", "| Table | Before | Expected | After | After - before | After - expected |",
                  "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for c in r["counts"]:
            diff, diff_e = c["difference"], c.get("difference_expected")
            lines.append("| %s | %s | %s | %s | %s | %s |" % (
                _cell(c["table"]), _fmt(c["before"]), _fmt(c["expected"]), _fmt(c["after"]),
                ("%+d" % diff) if isinstance(diff, int) else "-",
                (("**%+d**" % diff_e) if diff_e else "0") if isinstance(diff_e, int) else "-"))
    else:
        lines.append("No counts were taken.")
    loss = r.get("loss") or {}
    if loss.get("rows"):
        lines += ["", "## What this restore loses against production", "",
                  "Shown in the plan before anything changed; tolerance %s %% and %s rows per table%s." % (
                      loss.get("tolerance_percent"), loss.get("tolerance_rows"),
                      ", exceeded by %s" % ", ".join(loss["beyond"]) if loss.get("beyond") else ""),
                  "", "| Table | Rows before | In the backup | Difference |", "| --- | ---: | ---: | ---: |"]
        for row in loss["rows"]:
            lines.append("| %s | %s | %s | %s%s |" % (_cell(row["table"]), _fmt(row.get("now")), _fmt(row.get("backup")),
                                                     "%+d" % row["difference"], " **beyond**" if row.get("beyond") else ""))
    lines += ["", "## Connections terminated", ""]
    if r["connections_terminated"]:
        lines += ["| pid | user | application | client | state | since (UTC) |", "| ---: | --- | --- | --- | --- | --- |"]
        for c in r["connections_terminated"]:
            lines.append("| %s | %s | %s | %s | %s | %s |" % (
                c.get("pid"), _cell(c.get("user") or "-"), _cell(c.get("application") or "-"), _cell(c.get("client")),
                _cell(c.get("state") or "-"), _cell(c.get("query_start") or c.get("connected_since") or "-")))
    else:
        lines.append("None.")
    lines += ["", "## Services", ""]
    if r["services"]:
        lines += ["| Host | Service | Manager | Before | Action | After | Health |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for s in r["services"]:
            lines.append("| %s |" % " | ".join(_cell(s.get(k) if s.get(k) is not None else "-") for k in (
                "host", "name", "manager", "state_before", "action", "state_after", "health")))
    else:
        lines.append("None configured.")
    if r.get("smoke") or r.get("log_errors"):
        lines += ["", "## Smoke tests", ""]
        if r.get("smoke"):
            lines += ["| Check | Result | Detail |", "| --- | --- | --- |"]
            for v in r["smoke"]:
                lines.append("| %s | %s | %s |" % (_cell(v.get("check")), "PASS" if v.get("passed") else "**FAIL**",
                                                  _cell(v.get("detail", ""))))
        for e in r.get("log_errors") or []:
            lines += ["", "Error lines in the log of %s on %s since its restart:" % (_cell(e.get("service")), _cell(e.get("host"))),
                      "", "```"] + [str(line).replace("```", "'''") for line in (e.get("lines") or [])[:20]] + ["```"]
    if r.get("drill"):
        lines += _drill_lines(r["drill"])
    lines += _attempt_lines(r)
    lines += _retention_lines(r)
    if r.get("restore"):
        lines += ["", "Restore log: `%s`" % r["restore"].get("log")]
    lines += ["", "Outcome: **%s**%s" % (_cell(r["outcome"]), (" - " + _cell(r["error"])) if r.get("error") else ""), ""]
    return "\n".join(lines)


def _retention_lines(r):
    """What the retention settings removed after the run (the console's lines), or why they were not applied."""
    retention = r.get("retention") or {}
    if not retention:
        return []
    lines = ["", "## Retention", ""]
    if retention.get("error"):
        return lines + ["Not applied: %s" % _cell(retention["error"])]
    return lines + ["- %s" % _cell(line) for line in retention.get("lines") or ["Nothing to remove."]]


def _attempt_lines(r):
    """Download and pg_restore attempts, shown only when something was retried or failed."""
    lines = []
    downloads = r.get("download_attempts") or []
    if len(downloads) > 1 or any(a.get("error") for a in downloads):
        lines += ["", "## Download attempts", "", "| Backup | Try | Seconds | Result |", "| --- | ---: | ---: | --- |"]
        for a in downloads:
            lines.append("| %s | %s | %s | %s |" % (_cell(a.get("backup") or "-"), _fmt(a.get("attempt")),
                                                   _fmt(a.get("seconds")),
                                                   "**failed**: %s" % _cell(a["error"]) if a.get("error") else "ok"))
    restores = (r.get("restore") or {}).get("attempts") or []
    if len(restores) > 1 or any(a.get("rc") for a in restores):
        lines += ["", "## pg_restore attempts", "", "| Try | Jobs | Exit code | Seconds | Result |",
                  "| ---: | ---: | ---: | ---: | --- |"]
        for a in restores:
            result = "ok" if not a.get("rc") else "**%s**: %s" % (
                "out of memory" if a.get("out_of_memory") else "failed", _cell(a.get("error") or "-"))
            lines.append("| %s | %s | %s | %s | %s |" % (_fmt(a.get("attempt")), _fmt(a.get("jobs")), _fmt(a.get("rc")),
                                                        _fmt(a.get("seconds")), result))
    return lines


# ---- the timeline picture ------------------------------------------------

_COLOURS = {"before": "#4e79a7", "downtime": "#f28e2b", "failed": "#e15759", "other": "#9c9c9c"}


def _nice_step(span, ticks=6):
    raw = span / float(ticks)
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200):
        if step >= raw:
            return step
    return int(math.ceil(raw / 3600.0)) * 3600


def _tick_label(seconds):
    if seconds == 0:
        return "0"
    if seconds % 3600 == 0:
        return "%d h" % (seconds // 3600)
    if seconds % 60 == 0:
        return "%d min" % (seconds // 60)
    return "%d s" % seconds


def timeline_svg(r, width=860):
    """The phases of a report (restore_report's output) as bars on a time axis, with the RTO budget line.

    The budget line sits rto_target_minutes after the downtime began; the axis
    spans the run or the budget, whichever is longer, so the picture shows how
    much of the budget the restore used.
    """
    phases = [p for p in (r.get("phases") or []) if p.get("offset_seconds") is not None]
    m = r.get("metrics") or {}
    title = "%s of %s: %s" % ((r.get("mode") or "restore").capitalize(), r.get("database") or "?", r.get("outcome") or "?")
    left, right, top, row_h, bar_h = 170, 30, 50, 24, 16
    chart_w = width - left - right
    end = max([float(p["offset_seconds"]) + float(p.get("seconds") or 0) for p in phases] + [1.0])
    if m.get("run_seconds"):
        end = max(end, float(m["run_seconds"]))
    down_start = next((float(p["offset_seconds"]) for p in phases if p.get("downtime")), None)
    budget_at = None
    off_scale = False
    if m.get("rto_target_minutes") and down_start is not None:
        budget_at = down_start + float(m["rto_target_minutes"]) * 60.0
        # A budget far beyond the run would squash every bar into a sliver: the
        # axis then spans the run, the line sits at the edge marked off scale,
        # and the gauge below shows the share of the budget used.
        if budget_at <= 4 * end:
            end = max(end, budget_at)
        else:
            off_scale = True
    span = end * 1.03
    gauge = m.get("rto_target_minutes") and m.get("downtime_seconds") is not None
    height = top + row_h * max(len(phases), 1) + 60 + (40 if gauge else 0)

    def x(seconds):
        return left + chart_w * (float(seconds) / span)

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
           'font-family="Helvetica, Arial, sans-serif" font-size="12">' % (width, height, width, height),
           '<title>%s</title>' % _xml_escape(title),
           '<rect width="100%" height="100%" fill="#ffffff"/>',
           '<text x="10" y="22" font-size="15" font-weight="bold">%s</text>' % _xml_escape(title)]
    sub = "downtime %s" % duration(m.get("downtime_seconds")) if m.get("downtime_seconds") is not None else "no downtime"
    if m.get("rto_target_minutes"):
        sub += " of an RTO budget of %s min" % m["rto_target_minutes"]
    out.append('<text x="10" y="40" fill="#555555">%s</text>' % _xml_escape(sub))
    axis_y = top + row_h * max(len(phases), 1) + 6
    step = _nice_step(span)
    tick = 0
    while tick <= span:
        tx = x(tick)
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e0e0e0"/>' % (tx, top - 4, tx, axis_y))
        out.append('<text x="%.1f" y="%d" text-anchor="middle" fill="#555555">%s</text>' % (tx, axis_y + 16, _tick_label(tick)))
        tick += step
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333333"/>' % (left, axis_y, left + chart_w, axis_y))
    if down_start is not None and m.get("downtime_seconds") is not None:
        out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="#f28e2b" fill-opacity="0.08"/>' % (
            x(down_start), top - 4, max(x(down_start + float(m["downtime_seconds"])) - x(down_start), 1.0),
            axis_y - top + 4))
    for i, p in enumerate(phases):
        y = top + i * row_h
        seconds = float(p.get("seconds") or 0)
        kind = "failed" if p.get("status") == "failed" else ("downtime" if p.get("downtime") else "before")
        bx = x(p["offset_seconds"])
        bw = max(x(float(p["offset_seconds"]) + seconds) - bx, 2.0)
        out.append('<text x="%d" y="%d" text-anchor="end">%s</text>' % (left - 8, y + 13, _xml_escape(str(p.get("name")))))
        out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>%s: %s (%s)</title></rect>' % (
            bx, y, bw, bar_h, _COLOURS[kind], _xml_escape(str(p.get("name"))), _xml_escape(duration(seconds)),
            _xml_escape(str(p.get("status") or "-"))))
        label_x = bx + bw + 4
        anchor = "start"
        if label_x > left + chart_w - 50:
            label_x, anchor = bx - 4, "end"
        out.append('<text x="%.1f" y="%d" text-anchor="%s" fill="#333333">%s</text>' % (
            label_x, y + 13, anchor, _xml_escape(duration(seconds))))
    if budget_at is not None:
        bx = left + chart_w if off_scale else x(budget_at)
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#d62728" stroke-width="2" '
                   'stroke-dasharray="6,4"/>' % (bx, top - 8, bx, axis_y))
        label = "RTO budget %s min" % m["rto_target_minutes"]
        if off_scale:
            label += " (at +%s, off scale) \u2192" % duration(budget_at)
        out.append('<text x="%.1f" y="%d" text-anchor="end" fill="#d62728">%s</text>' % (bx - 4, top - 10, _xml_escape(label)))
    if gauge:
        used = float(m["downtime_seconds"]) / (float(m["rto_target_minutes"]) * 60.0)
        gy = axis_y + 32
        out.append('<text x="%d" y="%d" text-anchor="end">downtime / RTO</text>' % (left - 8, gy + 13))
        out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="#eeeeee" stroke="#bbbbbb"/>' % (left, gy, chart_w, bar_h))
        out.append('<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>' % (
            left, gy, max(min(used, 1.0) * chart_w, 2.0), bar_h, _COLOURS["failed" if used > 1 else "downtime"]))
        out.append('<text x="%d" y="%d" fill="#333333">%s of %s min (%.1f%%)</text>' % (
            left + 6 + int(min(used, 1.0) * chart_w) if used < 0.7 else left + 6, gy + 13,
            _xml_escape(duration(m["downtime_seconds"])), _xml_escape(str(m["rto_target_minutes"])), 100.0 * used))
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ---- notifications -------------------------------------------------------

_EVENT_WORDS = {
    "start": ("started", ":hourglass_flowing_sand:", "info", "trigger"),
    "success": ("SUCCEEDED", ":white_check_mark:", "info", "resolve"),
    "failure": ("FAILED", ":x:", "critical", "trigger"),
    "rollback": ("ROLLED BACK", ":leftwards_arrow_with_hook:", "error", "trigger"),
}


def notify_event(outcome):
    """The notification event for a run's outcome: success, rollback or failure."""
    return {"succeeded": "success", "rolled_back": "rollback"}.get(outcome or "failed", "failure")


def notification(ctx, event):
    """Slack and PagerDuty Events v2 payloads for one event of a run.

    ctx: run_id, mode, database, host, incident, point, backup, outcome, error,
    report (path), and, after the run, downtime_seconds, rto_minutes, rto_met,
    data_loss_minutes, rpo_minutes, rpo_met. Secrets are not part of ctx: the
    routing key is added by the task that sends the event, the webhook URL is
    only its destination.
    """
    if event not in _EVENT_WORDS:
        raise ValueError("unknown notification event %r; expected one of %s" % (event, ", ".join(NOTIFY_EVENTS)))
    word, emoji, severity, action = _EVENT_WORDS[event]
    mode = (ctx.get("mode") or "restore").capitalize()
    db = ctx.get("database") or "?"
    host = ctx.get("host") or "?"
    head = "%s of %s on %s %s" % (mode, db, host, word)
    facts = []
    if ctx.get("incident"):
        facts.append("Incident: %s" % ctx["incident"])
    if ctx.get("backup"):
        facts.append("Backup: %s" % ctx["backup"])
    elif ctx.get("point"):
        facts.append("Point: %s" % ctx["point"])
    if event != "start":
        facts.append("Outcome: %s" % (ctx.get("outcome") or notify_event_outcome(event)))
        rto = "RTO: %s downtime" % duration(ctx.get("downtime_seconds")) if ctx.get("downtime_seconds") is not None \
            else "RTO: no downtime measured"
        if ctx.get("rto_minutes"):
            rto += " of a %s min budget (%s)" % (ctx["rto_minutes"], "met" if ctx.get("rto_met") else "missed") \
                if ctx.get("rto_met") is not None else " (budget %s min)" % ctx["rto_minutes"]
        facts.append(rto)
        if ctx.get("data_loss_minutes") is not None:
            facts.append("Data loss: %s min (RPO %s min)" % (ctx["data_loss_minutes"], _fmt(ctx.get("rpo_minutes"))))
        if ctx.get("error"):
            facts.append("Error: %s" % str(ctx["error"])[:500])
        if ctx.get("report"):
            facts.append("Report: %s" % ctx["report"])
    else:
        facts.append("RTO budget: %s min" % _fmt(ctx.get("rto_minutes")))
    facts.append("Run: %s" % (ctx.get("run_id") or "-"))
    text = "%s *%s*\n%s" % (emoji, head, "\n".join(facts))
    summary = "%s%s" % (head, (" - %s" % str(ctx["error"])[:300]) if event in ("failure", "rollback") and ctx.get("error") else "")
    pagerduty = {
        "event_action": action,
        "dedup_key": ctx.get("run_id") or "",
    }
    if action == "trigger":
        pagerduty["payload"] = {
            "summary": summary[:1024],
            "source": host,
            "severity": severity,
            "component": db,
            "group": "yieldvault.db_restore",
            "class": "%s %s" % ((ctx.get("mode") or "restore"), event),
            "custom_details": {k: ctx.get(k) for k in (
                "run_id", "mode", "database", "incident", "point", "backup", "outcome", "error", "downtime_seconds",
                "rto_minutes", "data_loss_minutes", "rpo_minutes", "report") if ctx.get(k) not in (None, "")},
        }
    return {"event": event, "summary": summary, "slack": {"text": text}, "pagerduty": pagerduty}


def notify_event_outcome(event):
    return {"success": "succeeded", "rollback": "rolled_back", "failure": "failed"}.get(event, "")


def mask(text, secrets):
    """text with every non-empty secret replaced by ***, for messages about a failed notification."""
    text = "" if text is None else str(text)
    for s in secrets or []:
        if s:
            text = text.replace(str(s), "***")
    # A Slack webhook URL carries its secret in the path; mask any that slipped through.
    return re.sub(r"hooks\.slack\.com/services/\S+", "hooks.slack.com/services/***", text)


def closed_phase(current, status="ok"):
    """The record of a phase that ends now, as it goes into __db_restore_phases: the phase started
    (__db_restore_current_phase: name, started, started_epoch) with its end, its seconds (to 0.1 s) and its status.
    The phase runner (phase.yml), a phase that failed (fail_phase.yml) and restore.yml's recovery close phases so."""
    now = _dt.datetime.now(_UTC)
    record = dict(current or {})
    record.update(ended=now.strftime("%Y-%m-%dT%H:%M:%SZ"), ended_epoch=now.timestamp(),
                  seconds=round(now.timestamp() - float(record["started_epoch"]), 1), status=status)
    return record


class FilterModule(object):
    def filters(self):
        return {
            "closed_phase": closed_phase,
            "restore_report": restore_report,
            "report_markdown": report_markdown,
            "timeline_svg": timeline_svg,
            "notification": notification,
            "notify_event": notify_event,
            "mask_secrets": mask,
        }
