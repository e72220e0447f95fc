# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: restore_timeline
type: aggregate
short_description: Phase timeline of a restore, rollback or drill against the RTO budget
description:
  - Records when each phase of a run of this collection starts and ends - the phases that
    C(roles/report/tasks/phase.yml) runs (preflight, assess, ..., smoke_test) and, between them,
    the steps of the collection's roles that run outside a phase (the lock, the plan, the report,
    the notifications).
  - At the end of the run prints the phases with their durations, the downtime and how much of
    the RTO budget (C(db_restore_rto_minutes)) it used.
  - When the run's report directory is on the controller (the db server is the controller, as
    with C(ansible_connection=local)), writes C(timeline.json) beside C(report.json) and adds it
    to C(report.json) under the key C(timeline). When the db server is remote the timeline is
    only printed; C(report.json) already holds the phase timings, measured by the same
    C(phase.yml) markers.
  - Prints only phase and role names, host names, paths and durations; never a task's arguments
    or results, so it is safe with C(no_log) tasks. Any error inside the plugin becomes a warning,
    never a failed run. Works beside any stdout callback (ansible-runner's C(awx_display) included).
version_added: 0.2.0
author: YieldVault platform team
requirements:
  - Enable it in C(ansible.cfg) with C(callbacks_enabled = yieldvault.db_restore.restore_timeline)
    (the collection's ansible.cfg does), or with C(ANSIBLE_CALLBACKS_ENABLED).
options:
  write_report:
    description: Write C(timeline.json) and add it to C(report.json) when the report directory is on the controller.
    type: bool
    default: true
    env:
      - name: DB_RESTORE_TIMELINE_WRITE_REPORT
    ini:
      - section: callback_restore_timeline
        key: write_report
"""

import datetime
import json
import os
import tempfile
import time

from ansible.plugins.callback import CallbackBase

try:
    from ansible_collections.yieldvault.db_restore.plugins.filter.report import downtime_window, duration, in_downtime
    from ansible_collections.yieldvault.db_restore.plugins.plugin_utils import runbook_events as events
except ImportError:  # the callback must never break a run, even loaded outside its collection
    downtime_window = events = None

    def in_downtime(phase, window, method=None):
        return False

    def duration(seconds):
        return "-" if seconds is None else "%.1f s" % float(seconds)

DEFAULT_RTO_MINUTES = 60


def _iso(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _float(value, fallback=None):
    return events.to_float(value, fallback)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "yieldvault.db_restore.restore_timeline"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None, options=None):
        super().__init__(display=display, options=options)
        self._started = time.time()
        self._last_seen = self._started
        self._play = None
        self._phases = []          # {host, name, started_epoch, ended_epoch, status, tasks, roles}
        self._open = {}            # host -> the phase dict now running there
        self._steps = []           # collection role steps outside any phase
        self._step = None
        self._runs = {}            # host -> {run_id, run_dir, mode, database, outcome, rto_minutes}
        self._broken = False

    # ---- guard: a bug here must not cost a restore ------------------------

    def _safely(self, fn, *args):
        if self._broken or events is None:
            return
        try:
            fn(*args)
        except Exception as exc:  # pylint: disable=broad-except
            self._broken = True
            self._display.warning("restore_timeline callback stopped recording (%s: %s); the run is not affected."
                                  % (type(exc).__name__, exc))

    # ---- events -------------------------------------------------------------

    def v2_playbook_on_play_start(self, play):
        self._play = play

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._safely(self._task_start, task)

    def v2_playbook_on_handler_task_start(self, task):
        self._safely(self._task_start, task)

    def v2_runner_on_ok(self, result):
        self._safely(self._result, result)

    def v2_playbook_on_stats(self, stats):
        self._safely(self._finish)

    # ---- recording ----------------------------------------------------------

    def _task_start(self, task):
        now = time.time()
        self._last_seen = now
        role_name, ours = events.task_role(task)
        path = events.task_path(task)
        for phase in self._open.values():
            phase["tasks"] += 1
            if ours and role_name not in phase["roles"]:
                phase["roles"].append(role_name)
        if self._open or events.is_bookkeeping(path):
            self._close_step(now)
            return
        if not ours:
            self._close_step(now)
            return
        # Name a step after its role and the role's task files it ran (tasks_from).
        marker = "/roles/%s/tasks/" % role_name
        tasks_file = os.path.splitext(path.split(marker, 1)[1])[0] if marker in path else ""
        if self._step and self._step["role"] == role_name:
            self._step["tasks"] += 1
        else:
            self._close_step(now)
            self._step = {"role": role_name, "files": [], "started_epoch": now, "ended_epoch": None, "tasks": 1}
        if tasks_file and tasks_file not in self._step["files"] and len(self._step["files"]) < 3:
            self._step["files"].append(tasks_file)

    def _close_step(self, now):
        if self._step is not None:
            self._step["ended_epoch"] = now
            self._steps.append(self._step)
            self._step = None

    def _result(self, result):
        self._last_seen = time.time()
        facts = events.result_facts(result)
        if not facts:
            return
        host = result._host.get_name() if hasattr(result, "_host") else str(getattr(result, "host", "?"))
        run = self._runs.setdefault(host, {})
        for key, fact in (("run_id", "__db_restore_run_id"), ("run_dir", "__db_restore_run_dir"),
                          ("mode", "__db_restore_mode"), ("outcome", "__db_restore_outcome")):
            if isinstance(facts.get(fact), str) and facts[fact]:
                run[key] = facts[fact].strip()
        report = facts.get("__db_restore_report")
        if isinstance(report, dict):
            run["outcome"] = report.get("outcome") or run.get("outcome")
            run["database"] = report.get("database")
            # mode is a play variable, never a fact: the report carries it (timeline.json had "mode": null).
            for key in ("mode", "method"):
                if isinstance(report.get(key), str) and report[key]:
                    run[key] = report[key]
            rto = (report.get("metrics") or {}).get("rto_target_minutes")
            if _float(rto):
                run["rto_minutes"] = _float(rto)
        # A phase ends: phase.yml (ok) or fail_phase.yml (failed) appends it to __db_restore_phases.
        phase = self._open.get(host)
        last = events.phase_ended(facts, phase and phase["name"])
        if last is not None:
            phase["ended_epoch"] = _float(last.get("ended_epoch"), time.time())
            phase["status"] = last.get("status") or "ok"
            del self._open[host]
        # A phase starts: phase.yml sets __db_restore_current_phase with its name.
        current = events.phase_started(facts)
        if current is not None:
            now = time.time()
            self._close_step(now)
            phase = {"host": host, "name": current["name"],
                     "started_epoch": current["started_epoch"] or now, "ended_epoch": None,
                     "status": "running", "tasks": 0, "roles": []}
            self._phases.append(phase)
            self._open[host] = phase

    # ---- the summary ----------------------------------------------------------

    def _rto_minutes(self, host, run):
        if run.get("rto_minutes"):
            return run["rto_minutes"], "report"
        try:
            if self._play is not None:
                hostobj = self._play.get_variable_manager()._inventory.get_host(host)
                variables = self._play.get_variable_manager().get_vars(play=self._play, host=hostobj)
                value = _float(variables.get("db_restore_rto_minutes"))
                if value:
                    return value, "play vars"
        except Exception:  # pylint: disable=broad-except
            pass
        return float(DEFAULT_RTO_MINUTES), "role default"

    def _finish(self):
        now = time.time()
        self._close_step(self._last_seen)
        for phase in list(self._open.values()):
            phase["ended_epoch"] = self._last_seen
            phase["status"] = "unfinished"
        self._open = {}
        if not self._phases and not self._steps:
            return
        hosts = []
        for p in self._phases:
            if p["host"] not in hosts:
                hosts.append(p["host"])
        for host in hosts or [None]:
            self._summarise(host, now)

    def _summarise(self, host, now):
        run = self._runs.get(host, {}) if host else {}
        phases = [p for p in self._phases if p["host"] == host]
        rto, rto_source = self._rto_minutes(host, run) if host else (float(DEFAULT_RTO_MINUTES), "role default")
        origin = min([p["started_epoch"] for p in phases] + [s["started_epoch"] for s in self._steps] + [self._started])
        window = downtime_window(phases) if (downtime_window and phases) else None
        # The callback sees phases only: a swap phase means the staging work ran before the stop.
        method = run.get("method") or ("swap" if any(p["name"] == "swap_database" for p in phases) else None)
        downtime = round(window[1] - window[0], 1) if window else None
        timeline = {
            "source": "restore_timeline callback (controller clock)",
            "run_id": run.get("run_id"),
            "host": host,
            "mode": run.get("mode"),
            "method": run.get("method") or None,
            "outcome": run.get("outcome"),
            "started_at": _iso(origin),
            "finished_at": _iso(now),
            "run_seconds": round(now - origin, 1),
            "rto_minutes": rto,
            "rto_source": rto_source,
            "downtime_seconds": downtime,
            "rto_percent_used": round(100.0 * downtime / (rto * 60.0), 1) if downtime is not None and rto else None,
            "phases": [{"name": p["name"], "started": _iso(p["started_epoch"]), "ended": _iso(p["ended_epoch"]),
                        "offset_seconds": round(p["started_epoch"] - origin, 1),
                        "seconds": round(p["ended_epoch"] - p["started_epoch"], 1), "status": p["status"],
                        "downtime": in_downtime(p, window, method), "tasks": p["tasks"], "roles": p["roles"]}
                       for p in phases],
            "steps": [{"name": _step_name(s), "offset_seconds": round(s["started_epoch"] - origin, 1),
                       "seconds": round(s["ended_epoch"] - s["started_epoch"], 1), "tasks": s["tasks"]}
                      for s in self._steps],
        }
        self._print(timeline)
        self._write(timeline, run)

    def _print(self, t):
        title = "RESTORE TIMELINE"
        if t["run_id"]:
            title += ": %s" % t["run_id"]
        self._display.banner(title)
        budget = t["rto_minutes"] * 60.0
        width = 30
        lines = ["%-18s %9s %11s  %-10s %s" % ("phase", "start", "duration", "status", "share of the RTO budget")]
        for p in t["phases"]:
            bar = "#" * min(width, int(round(width * p["seconds"] / budget))) if budget else ""
            lines.append("%-18s %9s %11s  %-10s %s%s" % (
                p["name"], "+" + duration(p["offset_seconds"]), duration(p["seconds"]), p["status"],
                "|" if p["downtime"] else " ", bar or ("." if p["downtime"] else "")))
        if t["steps"]:
            lines.append("outside the phases: " + ", ".join(
                "%s %s" % (s["name"], duration(s["seconds"])) for s in t["steps"]))
        if t["downtime_seconds"] is not None:
            lines.append("downtime %s = %s%% of the %g min RTO budget (%s): %s" % (
                duration(t["downtime_seconds"]), t["rto_percent_used"], t["rto_minutes"], t["rto_source"],
                "met" if t["downtime_seconds"] <= budget else "MISSED"))
        else:
            lines.append("no downtime: no phase stopped a service (RTO budget %g min)" % t["rto_minutes"])
        lines.append("whole run %s%s" % (duration(t["run_seconds"]), (", outcome %s" % t["outcome"]) if t["outcome"] else ""))
        for line in lines:
            self._display.display(line)

    def _write(self, t, run):
        if not self.get_option("write_report"):
            return
        run_dir = run.get("run_dir")
        if not run_dir:
            return
        report_path = os.path.join(run_dir, "report.json")
        if not os.path.isfile(report_path):
            self._display.display("timeline: the report of %s is on %s, not on this controller; the timeline above is "
                                  "not written to it (report.json has the phase timings)." % (run.get("run_id"), t["host"]))
            return
        with open(report_path) as handle:
            report = json.load(handle)
        # The same path on the controller could belong to another run; only our own report is extended.
        if report.get("run_id") != run.get("run_id"):
            return
        mode = os.stat(report_path).st_mode & 0o777
        _atomic_write(os.path.join(run_dir, "timeline.json"), json.dumps(t, indent=2) + "\n", mode)
        report["timeline"] = dict(t, file="timeline.json")
        _atomic_write(report_path, json.dumps(report, indent=2) + "\n", mode)
        self._display.display("timeline written to %s and added to report.json" % os.path.join(run_dir, "timeline.json"))


def _step_name(step):
    files = [f for f in step["files"] if f != "main"]
    return "%s/%s" % (step["role"], ",".join(files)) if files else step["role"]


def _atomic_write(path, text, mode):
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".timeline-")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
