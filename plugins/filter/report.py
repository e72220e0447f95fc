# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn the facts of a run into the incident report."""

from __future__ import annotations

OUTCOMES = ("succeeded", "rolled_back", "failed", "rollback_failed")

# Downtime starts when the services are stopped and ends when they answer again.
DOWNTIME_FIRST = ("stop_services", "safety_backup", "prepare_database")
DOWNTIME_LAST = ("smoke_test", "start_services", "verify_restore", "restore_database")


def _phase(phases, name):
    for p in phases:
        if p.get("name") == name:
            return p
    return None


def _seconds(phase):
    if not phase or phase.get("seconds") is None:
        return None
    return round(float(phase["seconds"]), 1)


def _downtime(phases):
    start = next((_phase(phases, n) for n in DOWNTIME_FIRST if _phase(phases, n)), None)
    if start is None:
        return None
    end = next((_phase(phases, n) for n in DOWNTIME_LAST if _phase(phases, n)), None)
    if end is None or end.get("ended_epoch") is None:
        end = phases[-1] if phases else None
    if end is None or end.get("ended_epoch") is None:
        return None
    return round(float(end["ended_epoch"]) - float(start["started_epoch"]), 1)


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
        })
    return rows


def restore_report(facts):
    """facts: a dict the report role gathers; see roles/report/tasks/main.yml."""
    phases = list(facts.get("phases") or [])
    selected = facts.get("selected") or {}
    backup = dict(selected.get("backup") or {})
    source = facts.get("source") or {}
    if source.get("md5"):
        backup["md5"] = source["md5"]
        backup["format"] = source.get("format")
    rto = facts.get("rto_minutes")
    rpo = facts.get("rpo_minutes")
    downtime = _downtime(phases)
    gap = selected.get("gap_minutes")
    metrics = {
        "download_seconds": _seconds(_phase(phases, "fetch_backup")),
        "safety_backup_seconds": _seconds(_phase(phases, "safety_backup")),
        "restore_seconds": _seconds(_phase(phases, "restore_database")),
        "verification_seconds": _seconds(_phase(phases, "verify_restore")),
        "downtime_seconds": downtime,
        "total_rto_minutes": round(downtime / 60.0, 2) if downtime is not None else None,
        "rto_target_minutes": rto,
        "rto_met": (downtime / 60.0 <= rto) if (downtime is not None and rto) else None,
        "data_loss_minutes": gap,
        "rpo_target_minutes": rpo,
        "rpo_met": (gap <= rpo) if (gap is not None and rpo is not None) else None,
        "run_seconds": round(float(facts["finished_epoch"]) - float(facts["started_epoch"]), 1)
        if facts.get("finished_epoch") and facts.get("started_epoch") else None,
    }
    before = ((facts.get("counts_before") or {}).get("counts")) or {}
    after = ((facts.get("counts_after") or {}).get("counts")) or {}
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
        "phases": [{k: p.get(k) for k in ("name", "started", "ended", "seconds", "status")} for p in phases],
        "metrics": metrics,
        "counts": _count_rows(before, after, facts.get("counts_expected")),
        "verification": facts.get("verification") or [],
        "connections_terminated": facts.get("connections_terminated") or [],
        "services": facts.get("services") or [],
        "restore": facts.get("restore") or None,
        "server_version": facts.get("server_version"),
        "disk": facts.get("disk") or None,
    }
    return report


def _fmt(value, unit=""):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return "%s%s" % (value, unit)


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
    return str(text).replace("|", "\\|").replace("\n", " ")


def report_markdown(r):
    m = r["metrics"]
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
    if r.get("error"):
        lines.append("| Error | %s%s |" % (("in phase %s: " % r["failed_phase"]) if r.get("failed_phase") else "", _cell(r["error"])))
    sb = r.get("safety_backup") or {}
    if sb:
        if sb.get("skipped"):
            lines.append("| Safety backup | none: %s |" % _cell(sb.get("reason")))
        else:
            lines.append("| Safety backup | `%s` (%s, %s, md5 `%s`)%s |" % (
                sb.get("path"), sb.get("format"), _size(sb.get("size")), sb.get("md5"),
                (", uploaded to `%s`" % sb["s3_key"]) if sb.get("uploaded") else ""))
    rb = r.get("rollback") or {}
    if rb:
        lines.append("| Rollback | %s |" % _cell(rb.get("detail") or rb))
    lines += [
        "",
        "## Metrics",
        "",
        "| Metric | Value | Target |",
        "| --- | --- | --- |",
        "| Download and checksum | %s | before downtime |" % _fmt(m["download_seconds"], " s"),
        "| Safety backup | %s | |" % _fmt(m["safety_backup_seconds"], " s"),
        "| Restore (pg_restore) | %s | |" % _fmt(m["restore_seconds"], " s"),
        "| Verification | %s | |" % _fmt(m["verification_seconds"], " s"),
        "| Total RTO (downtime) | %s | %s min (met: %s) |" % (_fmt(m["total_rto_minutes"], " min"), _fmt(m["rto_target_minutes"]), _fmt(m["rto_met"])),
        "| Data loss | %s | RPO %s min (met: %s) |" % (_fmt(m["data_loss_minutes"], " min"), _fmt(m["rpo_target_minutes"]), _fmt(m["rpo_met"])),
        "| Whole run | %s | |" % _fmt(m["run_seconds"], " s"),
        "",
        "## Phases",
        "",
        "| Phase | Started (UTC) | Seconds | Status |",
        "| --- | --- | --- | --- |",
    ]
    for p in r["phases"]:
        lines.append("| %s | %s | %s | %s |" % (p["name"], p.get("started") or "-", _fmt(p.get("seconds")), p.get("status") or "-"))
    lines += ["", "## Verification", ""]
    if r["verification"]:
        lines += ["| Check | Result | Detail |", "| --- | --- | --- |"]
        for v in r["verification"]:
            lines.append("| %s | %s | %s |" % (_cell(v.get("check")), "PASS" if v.get("passed") else "**FAIL**", _cell(v.get("detail", ""))))
    else:
        lines.append("Not run.")
    lines += ["", "## Row counts", ""]
    if r["counts"]:
        lines += ["| Table | Before | Expected | After | Difference |", "| --- | ---: | ---: | ---: | ---: |"]
        for c in r["counts"]:
            diff = c["difference"]
            lines.append("| %s | %s | %s | %s | %s |" % (_cell(c["table"]), _fmt(c["before"]), _fmt(c["expected"]), _fmt(c["after"]),
                                                      ("%+d" % diff) if isinstance(diff, int) else "-"))
    else:
        lines.append("No counts were taken.")
    lines += ["", "## Connections terminated", ""]
    if r["connections_terminated"]:
        lines += ["| pid | user | application | client |", "| --- | --- | --- | --- |"]
        for c in r["connections_terminated"]:
            lines.append("| %s | %s | %s | %s |" % (c.get("pid"), _cell(c.get("usename")), _cell(c.get("application_name") or ""), _cell(c.get("client_addr") or "local")))
    else:
        lines.append("None.")
    lines += ["", "## Services", ""]
    lines.append("\n".join("- %s (%s): %s" % (s.get("name"), s.get("manager"), s.get("state")) for s in r["services"]) or "None configured.")
    if r.get("restore"):
        lines += ["", "Restore log: `%s`" % r["restore"].get("log")]
    lines.append("")
    return "\n".join(lines)


class FilterModule(object):
    def filters(self):
        return {"restore_report": restore_report, "report_markdown": report_markdown}
