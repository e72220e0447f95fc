# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the collection's callbacks read from a run: which role a task belongs to, when a phase starts and
ends (the facts roles/report/tasks/phase.yml and fail_phase.yml set) and which messages an operator sees
on the quiet console. Shared by the restore_timeline and runbook callbacks so both see the same phases."""

from __future__ import annotations

COLLECTION = "yieldvault.db_restore"
# The tasks that record a phase's start and end are bookkeeping, not a step of their own.
BOOKKEEPING = ("/roles/report/tasks/phase.yml", "/roles/report/tasks/fail_phase.yml")

# The debug tasks whose message the quiet console prints. The roles name their messages as sentences:
# "Warn ..." and "Say ..." only run when there is something the operator must know; of the "Show ..."
# messages, only the plan and the outcome are shown (the rest is detail for -v, and is in the report).
CONSOLE_MESSAGE_PREFIXES = ("Warn", "Say")
CONSOLE_MESSAGE_TASKS = (
    "Show the plan",                    # report/plan.yml, drill.yml
    "Show what this restore loses",     # report/plan.yml
    "Show where the report is",         # report/main.yml
    "Show the backup",                  # backup.yml's result
    "Show the drill's trend and warnings",
    "Show what archiving changed",      # wal_archive.yml's result
)


def to_float(value, fallback=None):
    try:
        return float(value)
    except (TypeError, ValueError):
        return fallback


def task_role(task):
    """(role name, True when the role is this collection's) of a task; (None, False) outside roles."""
    role = getattr(task, "_role", None)
    role_name = collection = None
    if role is not None:
        role_name = getattr(role, "_role_name", None)
        collection = getattr(role, "_role_collection", None)
        if role_name and "." in role_name and not collection:
            collection, role_name = role_name.rsplit(".", 1)
    return role_name, (role_name is not None and collection == COLLECTION)


def task_path(task):
    path = (task.get_path() or "") if hasattr(task, "get_path") else ""
    return path.rsplit(":", 1)[0]


def is_bookkeeping(path):
    return any(path.endswith(b) for b in BOOKKEEPING)


def result_facts(result):
    """The ansible_facts a task result set, or {}."""
    data = getattr(result, "result", None)
    if not isinstance(data, dict):
        data = getattr(result, "_result", None)
    if not isinstance(data, dict):
        return {}
    facts = data.get("ansible_facts")
    return facts if isinstance(facts, dict) else {}


def phase_ended(facts, open_name):
    """The phase entry (dict with name, status, ended_epoch, seconds) when these facts end the phase
    open_name: phase.yml (ok) and fail_phase.yml (failed) append it to __db_restore_phases."""
    phases = facts.get("__db_restore_phases")
    if open_name and isinstance(phases, list) and phases and isinstance(phases[-1], dict):
        last = phases[-1]
        if last.get("name") == open_name:
            return last
    return None


def phase_started(facts):
    """{"name", "started_epoch"} when these facts start a phase (phase.yml sets __db_restore_current_phase)."""
    current = facts.get("__db_restore_current_phase")
    if isinstance(current, dict) and current.get("name"):
        return {"name": str(current["name"]), "started_epoch": to_float(current.get("started_epoch"))}
    return None


def is_console_message(task_name):
    """True for a debug task whose message the quiet console prints (see CONSOLE_MESSAGE_PREFIXES)."""
    name = (task_name or "").strip()
    if name.split(" ", 1)[0] in CONSOLE_MESSAGE_PREFIXES:
        return True
    return any(name == t or name.startswith(t + " ") for t in CONSOLE_MESSAGE_TASKS)
