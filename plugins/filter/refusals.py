# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Why the preflight refuses a run's settings, one reason per setting at fault and only those.

- database_and_store_refusals: the database's name, the backup store, the work directory, the safety backup's
  compression level;
- cluster_scope_refusals: a whole-cluster restore (-e pitr_scope=cluster).

Each check used to refuse with one message listing every condition it had, so an operator whose only fault was a
missing S3 bucket read "db_restore_database must name an application database (got 'app')" as well, and one who
ran a drill read "restores from the WAL archive only": neither could tell which setting to change.
"""

from __future__ import annotations

import re

SYSTEM_DATABASES = ("postgres", "template0", "template1")
RESTARTS = ("pg_ctl", "systemd", "docker")


def database_and_store_refusals(database, store, s3_bucket="", local_dir="", work_dir="", compress=1):
    """The reasons the preflight refuses these db_restore_* settings; empty when none."""
    database, store, work_dir = str(database or ""), str(store or ""), str(work_dir or "")
    reasons = []
    if not database:
        reasons.append("db_restore_database is empty: name the application database")
    elif database in SYSTEM_DATABASES:
        reasons.append("db_restore_database must name an application database, not the system database '%s'"
                       % database)
    if store not in ("s3", "local"):
        reasons.append("db_restore_backup_store must be s3 or local (got '%s')" % store)
    elif store == "s3" and not str(s3_bucket or ""):
        reasons.append("db_restore_backup_store is s3 and db_restore_s3_bucket is empty: name the bucket")
    elif store == "local" and not str(local_dir or ""):
        reasons.append("db_restore_backup_store is local and db_restore_local_backup_dir is empty: name the directory")
    if not re.match("^/", work_dir):
        reasons.append("db_restore_work_dir must be an absolute path (got '%s')" % work_dir)
    if not re.match("^(-1|[0-9])$", str(compress)):
        reasons.append("db_restore_safety_backup_compress must be a zlib level 0 to 9, or -1 (got '%s')" % compress)
    return reasons


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
        return {"database_and_store_refusals": database_and_store_refusals,
                "cluster_scope_refusals": cluster_scope_refusals}
