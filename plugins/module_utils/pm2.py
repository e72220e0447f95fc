# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of the pm2_process module: reading `pm2 jlist`, deciding what to
do, judging whether a wait is over. No subprocess and no Ansible here, so all
of it is unit tested against captured `pm2 jlist` output.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import os

STATES = ("started", "stopped", "restarted", "present")

# PM2's own words for a process that is not running and will not run by itself.
NOT_RUNNING = frozenset(("stopped", "errored"))

# A mixed set of instances reports the status furthest from "online", so a
# caller testing `status == 'online'` never mistakes a half-started app.
_SEVERITY = ("errored", "waiting restart", "launching", "stopping", "one-launch-status", "stopped", "online")

# How many unexpected restarts while waiting make a process "keeps restarting".
RESTART_LOOP_THRESHOLD = 3


class Pm2OutputError(ValueError):
    """`pm2 jlist` printed nothing we could read as its JSON list."""


def parse_jlist(text):
    """The list of process dicts in `pm2 jlist` output.

    PM2 may print other things on stdout around the JSON: its banner and
    "[PM2] Spawning PM2 daemon" lines when it starts a daemon, update notices,
    colour codes. The JSON list is the first `[` from which a whole JSON array
    of objects decodes.
    """
    if text is None:
        raise Pm2OutputError("pm2 jlist printed nothing")
    stripped = text.strip()
    if not stripped:
        raise Pm2OutputError("pm2 jlist printed nothing")
    try:
        value = json.loads(stripped)
    except ValueError:
        value = None
    if _is_process_list(value):
        return value
    decoder = json.JSONDecoder()
    start = text.find("[")
    while start != -1:
        try:
            value, _end = decoder.raw_decode(text, start)
        except ValueError:
            value = None
        if _is_process_list(value):
            return value
        start = text.find("[", start + 1)
    raise Pm2OutputError("no JSON process list found in the output of pm2 jlist")


def _is_process_list(value):
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


def iso_from_ms(value):
    """Epoch milliseconds (PM2's pm_uptime) as ISO 8601 UTC with a trailing Z, or None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        seconds = float(value) / 1000.0
    except (TypeError, ValueError):
        return None
    if seconds <= 0:
        return None
    moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=seconds)
    return moment.replace(microsecond=0).isoformat() + "Z"


def _int(value, default=0):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def summarize(process):
    """The facts we use and report about one jlist entry.

    Only these fields leave the module: a jlist entry also carries the
    process's whole environment, passwords included.
    """
    env = process.get("pm2_env") or {}
    status = env.get("status") or "unknown"
    pid = _int(process.get("pid"), 0)
    return {
        "name": process.get("name", env.get("name")),
        "pm_id": _int(process.get("pm_id", env.get("pm_id")), -1),
        "pid": pid if pid > 0 else None,
        "status": status,
        "restarts": _int(env.get("restart_time")),
        "unstable_restarts": _int(env.get("unstable_restarts")),
        "exec_mode": env.get("exec_mode"),
        "uptime_since": iso_from_ms(env.get("pm_uptime")) if status == "online" else None,
        "out_log_path": env.get("pm_out_log_path"),
        "err_log_path": env.get("pm_err_log_path"),
    }


def find_instances(processes, name):
    """Summaries of every instance called name (several in cluster mode), by pm_id."""
    found = [summarize(p) for p in processes if p.get("name", (p.get("pm2_env") or {}).get("name")) == name]
    return sorted(found, key=lambda item: item["pm_id"])


def process_names(processes):
    """Distinct process names in jlist order."""
    names = []
    for process in processes:
        name = process.get("name", (process.get("pm2_env") or {}).get("name"))
        if name is not None and name not in names:
            names.append(name)
    return names


def missing_message(name, names, pm2_home=None):
    listed = ", ".join(names) if names else "nothing"
    where = " (PM2_HOME %s)" % pm2_home if pm2_home else ""
    return ("No PM2 process named %s (pm2 list%s has: %s). Fix the service name in db_restore_services. "
            "Nothing was changed." % (name, where, listed))


def aggregate_status(statuses):
    """One status for all instances: theirs when they agree, else the least healthy."""
    unique = set(statuses)
    if not unique:
        return "missing"
    if len(unique) == 1:
        return statuses[0]
    for status in _SEVERITY:
        if status in unique:
            return status
    return sorted(unique)[0]


def report(instances):
    """Module return values describing instances (non-empty) as one app."""
    first = instances[0]
    return {
        "status": aggregate_status([i["status"] for i in instances]),
        "pid": first["pid"],
        "pm_id": first["pm_id"],
        "restarts": sum(i["restarts"] for i in instances),
        "instances": len(instances),
        "out_log_path": first["out_log_path"],
        "err_log_path": first["err_log_path"],
        "uptime_since": first["uptime_since"],
        "processes": [dict((k, i[k]) for k in ("pm_id", "pid", "status", "restarts", "uptime_since"))
                      for i in instances],
    }


def plan(state, instances):
    """The pm2 command to run for the wanted state ('start', 'stop', 'restart') or None."""
    if state not in STATES:
        raise ValueError("unknown state %r" % (state,))
    if state == "present":
        return None
    if state == "restarted":
        return "restart"
    statuses = [i["status"] for i in instances]
    if state == "stopped":
        return None if all(s in NOT_RUNNING for s in statuses) else "stop"
    return None if all(s == "online" for s in statuses) else "start"


def evaluate_start(instances, baseline_restarts, allowance=1):
    """Judge one look at the instances after `pm2 start`/`restart`.

    baseline_restarts: {pm_id: restart count before we acted}; allowance: the
    restarts our own command may cause. Returns (verdict, detail) with verdict
    'online' (every instance online, no unexpected restart), 'waiting', or
    'failed' (errored, or restarting in a loop: the process crashes after start).
    """
    if not instances:
        return "failed", "the process disappeared from pm2 list while starting"
    worst = 0
    for instance in instances:
        if instance["status"] == "errored":
            return "failed", "instance %s is errored after %s restarts" % (instance["pm_id"], instance["restarts"])
        before = baseline_restarts.get(instance["pm_id"], 0)
        worst = max(worst, instance["restarts"] - before - allowance)
    if worst >= RESTART_LOOP_THRESHOLD:
        return "failed", "it keeps restarting (%d restarts while waiting)" % worst
    if worst > 0:
        return "waiting", "restarted %d time(s) unexpectedly" % worst
    if all(i["status"] == "online" for i in instances):
        return "online", "online"
    return "waiting", "status %s" % aggregate_status([i["status"] for i in instances])


def evaluate_stop(instances):
    """('stopped', detail) when no instance runs any more, else ('waiting', detail)."""
    statuses = [i["status"] for i in instances]
    if all(s in NOT_RUNNING for s in statuses):
        return "stopped", aggregate_status(statuses)
    return "waiting", "status %s" % aggregate_status(statuses)


def default_pm2_home(environ=None, home=None):
    """Where PM2 keeps its daemon's sockets for this user, as PM2 resolves it."""
    environ = os.environ if environ is None else environ
    if environ.get("PM2_HOME"):
        return environ["PM2_HOME"]
    home = home or environ.get("HOME") or os.path.expanduser("~")
    return os.path.join(home, ".pm2")


def tail_lines(path, lines=20, max_bytes=65536):
    """The last `lines` lines of a text file (reads at most max_bytes from its end)."""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - max_bytes))
        data = handle.read()
    text = data.decode("utf-8", "replace")
    result = text.splitlines()
    if size > max_bytes and result:
        result = result[1:]  # the first line read is probably cut
    return result[-lines:] if lines > 0 else []
