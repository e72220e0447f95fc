# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: runbook
type: stdout
short_description: The operator's console of a restore, rollback or drill - one line per phase
description:
  - Without C(-v), prints what an operator reads at 3 a.m.; one line per phase of the runbook
    (name, result, seconds, when it started), the plan, the messages the roles address to the
    operator (their C(Warn ...) and C(Say ...) tasks), progress of long steps (pg_restore), every
    failure with its message, warnings, the recap, and then the timeline of the
    C(restore_timeline) callback and where the report is.
  - Successful and skipped tasks print nothing; a failure that is ignored or rescued by the
    runbook's own handling prints only when it is not ignored.
  - With C(-v) it prints what C(ansible.builtin.default) prints without C(-v) (every task, every
    message); each further C(-v) adds what one C(-v) adds to the default callback.
  - A stdout callback is only used where it is configured - the collection's C(ansible.cfg), or
    C(ANSIBLE_STDOUT_CALLBACK=yieldvault.db_restore.runbook). AWX and ansible-runner set their
    own (C(awx_display)), which is unaffected.
version_added: 0.3.0
author: YieldVault platform team
extends_documentation_fragment:
  - ansible.builtin.default_callback
  - ansible.builtin.result_format_callback
requirements:
  - Set as the stdout callback, in C(ansible.cfg) (C(stdout_callback = yieldvault.db_restore.runbook)) or
    with C(ANSIBLE_STDOUT_CALLBACK).
"""

import time

from ansible.plugins.callback.default import CallbackModule as DefaultCallback
from ansible.utils.color import colorize, hostcolor

try:
    from ansible_collections.yieldvault.db_restore.plugins.filter.report import duration
    from ansible_collections.yieldvault.db_restore.plugins.plugin_utils import runbook_events as events
except ImportError:  # loaded outside its collection: the default callback's output, nothing lost
    events = None

    def duration(seconds):
        return "-" if seconds is None else "%.1f s" % float(seconds)


class _OneLess:
    """The display as the default callback sees it: one -v less, so -v prints today's default console."""

    def __init__(self, display):
        self._real = display

    def __getattr__(self, name):
        return getattr(self._real, name)

    @property
    def verbosity(self):
        return max(0, self._real.verbosity - 1)


class CallbackModule(DefaultCallback):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "yieldvault.db_restore.runbook"

    def __init__(self):
        super().__init__()
        self._real_display = self._display
        self._display = _OneLess(self._real_display)
        self._open = {}  # host -> {"name", "started_epoch"} of the phase running there

    # ---- which console --------------------------------------------------------

    def _quiet(self):
        return events is not None and self._real_display.verbosity == 0

    def _say(self, line, color=None):
        self._real_display.display(line, color=color)

    # ---- plays, tasks -----------------------------------------------------------

    def v2_playbook_on_play_start(self, play):
        if not self._quiet():
            return super().v2_playbook_on_play_start(play)
        self._play = play
        name = play.get_name().strip()
        self._say("PLAY [%s]" % name if name else "PLAY")

    def v2_playbook_on_task_start(self, task, is_conditional):
        if not self._quiet():
            return super().v2_playbook_on_task_start(task, is_conditional)
        # The banner is printed only when the task fails (the default callback's lazy banner).
        self._last_task_name = task.get_name().strip()

    def v2_playbook_on_handler_task_start(self, task):
        if not self._quiet():
            return super().v2_playbook_on_handler_task_start(task)
        self._last_task_name = task.get_name().strip()

    def v2_playbook_on_include(self, included_file):
        if not self._quiet():
            return super().v2_playbook_on_include(included_file)

    # ---- results -----------------------------------------------------------------

    def v2_runner_on_ok(self, result):
        if not self._quiet():
            return super().v2_runner_on_ok(result)
        self._handle_warnings_and_exception(result)
        self._phase(result)
        if "results" not in result.result:
            self._message(result, result.result)

    def v2_runner_item_on_ok(self, result):
        if not self._quiet():
            return super().v2_runner_item_on_ok(result)
        self._message(result, result.result)

    def v2_runner_on_skipped(self, result):
        if not self._quiet():
            return super().v2_runner_on_skipped(result)
        self._handle_warnings_and_exception(result)

    def v2_runner_item_on_skipped(self, result):
        if not self._quiet():
            return super().v2_runner_item_on_skipped(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if not self._quiet():
            return super().v2_runner_on_failed(result, ignore_errors)
        self._phase(result)
        if ignore_errors:  # handled by the runbook itself (it records and reports what failed)
            self._handle_warnings_and_exception(result)
            return
        return super().v2_runner_on_failed(result, ignore_errors)

    def v2_runner_item_on_failed(self, result):
        if self._quiet() and result.task.ignore_errors:
            return
        return super().v2_runner_item_on_failed(result)

    def v2_runner_retry(self, result):
        # A progress report of a long step (the restore_progress module) prints at every verbosity.
        progress = result.result.get("progress") if isinstance(result.result, dict) else None
        if isinstance(progress, str) and progress:
            role, _ours = events.task_role(result.task) if events else (None, False)
            self._say("%s: %s" % (role, progress) if role else progress)
            return
        if not self._quiet():
            return super().v2_runner_retry(result)

    def v2_runner_on_async_poll(self, result):
        if not self._quiet():
            return super().v2_runner_on_async_poll(result)

    def v2_runner_on_async_ok(self, result):
        if not self._quiet():
            return super().v2_runner_on_async_ok(result)

    def v2_runner_on_async_failed(self, result):
        if not self._quiet():
            return super().v2_runner_on_async_failed(result)

    def v2_playbook_on_stats(self, stats):
        if not self._quiet():
            return super().v2_playbook_on_stats(stats)
        # The default recap's host lines (scripts and tests read them), without its banner and blank lines.
        for host in sorted(stats.processed.keys()):
            t = stats.summarize(host)
            self._say("%s : %s %s %s %s %s %s %s" % (
                hostcolor(host, t, False), colorize("ok", t["ok"], None), colorize("changed", t["changed"], None),
                colorize("unreachable", t["unreachable"], None), colorize("failed", t["failures"], None),
                colorize("skipped", t["skipped"], None), colorize("rescued", t["rescued"], None),
                colorize("ignored", t["ignored"], None)))

    # ---- the quiet console's lines ---------------------------------------------

    def _phase(self, result):
        facts = events.result_facts(result)
        if not facts:
            return
        host = result.host.get_name()
        opened = self._open.get(host)
        ended = events.phase_ended(facts, opened and opened["name"])
        if ended is not None:
            del self._open[host]
            seconds = events.to_float(ended.get("seconds"))
            if seconds is None and opened.get("started_epoch") is not None:
                seconds = events.to_float(ended.get("ended_epoch"), time.time()) - opened["started_epoch"]
            started = time.strftime("%H:%M:%S", time.gmtime(opened["started_epoch"] or time.time()))
            status = ended.get("status") or "ok"
            self._say("%-18s %-7s %9s  (started %s UTC)%s" % (
                opened["name"], status, duration(seconds), started, "" if len(self._open) == 0 else " on " + host),
                color=None if status == "ok" else "bright red")
        started = events.phase_started(facts)
        if started is not None:
            self._open[host] = started

    def _message(self, result, data):
        if result.task.action not in ("debug", "ansible.builtin.debug", "ansible.legacy.debug"):
            return
        if not events.is_console_message(result.task.name):
            return
        msg = data.get("msg")
        if msg is None:
            return
        for line in _lines(msg):
            self._say(line)


def _lines(msg, indent=""):
    if isinstance(msg, (list, tuple)):
        out = []
        for item in msg:
            if isinstance(item, (list, tuple)):
                out.extend(_lines(item, indent + "  - "))
            else:
                out.extend(_lines(item, indent))
        return out
    text = str(msg).strip()
    return [indent + line for line in text.splitlines()] if text else []
