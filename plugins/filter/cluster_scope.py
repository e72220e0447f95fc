# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""cluster_scope_refusals: why a whole-cluster restore (-e pitr_scope=cluster) is refused, one reason per setting.

The preflight used to refuse with one message listing every condition, so an operator who ran a drill read
"restores from the WAL archive only" too, and could not tell which setting to change.
"""

from __future__ import annotations

RESTARTS = ("pg_ctl", "systemd", "docker")


def cluster_scope_refusals(mode, source="auto", data_dir="", restart="pg_ctl", container="", previous="", backup=""):
    """The reasons a whole-cluster run with these settings is refused, in words an operator can act on; empty when
    none. mode is restore, rollback or drill (the playbook); the others are the db_restore_* settings."""
    mode = str(mode or "restore")
    reasons = []
    if mode not in ("restore", "rollback"):
        reasons.append("it is for restore.yml and rollback.yml only (this is a %s)" % mode)
    if str(source or "auto") == "dump":
        reasons.append("it restores from the WAL archive only (got -e source=dump; leave source out)")
    if not str(data_dir or "").strip():
        reasons.append("it needs db_restore_pg_data_dir, the cluster's data directory (it is empty)")
    if str(restart or "") not in RESTARTS:
        reasons.append("db_restore_pg_restart must be pg_ctl, systemd or docker (got '%s')" % restart)
    elif restart == "docker" and not str(container or "").strip():
        reasons.append("db_restore_pg_restart docker needs db_restore_pg_container, the container's name (it is empty)")
    given = [(name, str(value or "").strip()) for name, value in (("previous", previous), ("backup", backup))]
    given = [(name, value) for name, value in given if value]
    if given:
        reasons.append("it takes no %s (got %s)" % (" or ".join("-e " + name for name, _ in given),
                                                     ", ".join("%s=%s" % pair for pair in given)))
    return reasons


class FilterModule:
    def filters(self):
        return {"cluster_scope_refusals": cluster_scope_refusals}
