# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Why the preflight refuses a run's settings, one reason per setting at fault and only those.

- database_and_store_refusals: the database's name, the backup store, the work directory, the safety backup's
  compression level;
- cluster_scope_refusals: a whole-cluster restore (-e pitr_scope=cluster);
- swap_name_refusals: the restore method and the names the swap creates and renames to;
- scratch_name_refusals: a drill's scratch database.

PostgreSQL cuts a database name longer than 63 bytes (UTF-8 bytes, not characters) to 63, with a notice only, in
CREATE DATABASE, in ALTER DATABASE ... RENAME and in the database a client connects to. A name the preflight let
through because it counted characters was cut: a staging database was created under the cut name, and a drill's
scratch database <production>_drill of a 63-byte production name was cut to production's own name (the server
lock refused to drop it, naming a database that "exists and was not made by yieldvault.db_restore", after the
backup was chosen). Every name the run creates or renames to is therefore measured in bytes here, before anything
changes.

Each check used to refuse with one message listing every condition it had, so an operator whose only fault was a
missing S3 bucket read "db_restore_database must name an application database (got 'app')" as well, and one who
ran a drill read "restores from the WAL archive only": neither could tell which setting to change.
"""

from __future__ import annotations

import re

# The swap's own rules for names (module_utils/rename.py): PostgreSQL's 63 bytes, the system databases.
from ansible_collections.yieldvault.db_restore.plugins.module_utils.rename import (
    MAX_NAME_BYTES, RESERVED as SYSTEM_DATABASES, cut_name, name_bytes,
)


def _too_long(setting, name):
    return ("%s '%s' is %d bytes: PostgreSQL cuts database names to %d bytes, here to '%s'"
            % (setting, name, name_bytes(name), MAX_NAME_BYTES, cut_name(name)))
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
    elif name_bytes(database) > MAX_NAME_BYTES:
        reasons.append(_too_long("db_restore_database", database) + ", so no database has this name")
    elif "/" in database:
        # The lock, the safety backups and the reports are files named after the database: '/' puts them in
        # other directories, and '../' outside the work directory.
        reasons.append("db_restore_database '%s' holds a '/': the lock, the safety backups and the reports are files "
                       "named after the database, which would land in other directories; rename the database to "
                       "restore it with this collection" % database)
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


def swap_name_refusals(method, staging="", production="", previous="", failed="", mode="restore", scope="database"):
    """The reasons the preflight refuses db_restore_method and the names the swap uses; empty when none.

    staging is db_restore_staging_database; previous and failed are the names the swap gives production's data
    (<production>__pre_<stamp>) and a restored database it swaps back out (<production>__failed_<stamp>). A drill
    restores into its scratch database and a whole-cluster restore renames no database: neither swaps, so only the
    method is checked for them.
    """
    method, staging, production = str(method or ""), str(staging or ""), str(production or "")
    if method not in ("swap", "in_place"):
        return ["db_restore_method must be swap or in_place (got '%s')" % method]
    if method != "swap" or str(mode or "restore") == "drill" or str(scope or "database") == "cluster":
        return []
    # The default staging name, <production>__restore, is too long only because production's name is.
    derived = ([staging] if staging == production + "__restore" else []) + [str(previous or ""), str(failed or "")]
    reasons = []
    if not staging:
        reasons.append("db_restore_staging_database is empty: name the database the swap restores into")
    elif staging == production:
        reasons.append("db_restore_staging_database is production '%s': the swap restores into another database"
                       % staging)
    elif staging in SYSTEM_DATABASES:
        reasons.append("db_restore_staging_database must not be the system database '%s'" % staging)
    elif name_bytes(staging) > MAX_NAME_BYTES and staging not in derived:
        reasons.append(_too_long("db_restore_staging_database", staging) + ": set a shorter one")
    long_names = [n for n in derived if name_bytes(n) > MAX_NAME_BYTES]
    if long_names and name_bytes(production) <= MAX_NAME_BYTES:
        added = max(name_bytes(n) for n in long_names) - name_bytes(production)
        reasons.append(
            "the swap would name databases %s, which PostgreSQL would cut to %d bytes (%s): production's name is %d "
            "bytes and the swap adds up to %d, so it must be %d bytes or less for the swap; set "
            "db_restore_method=in_place, which renames nothing"
            % (", ".join("'%s'" % n for n in long_names), MAX_NAME_BYTES,
               ", ".join("'%s'" % cut_name(n) for n in long_names), name_bytes(production), added,
               MAX_NAME_BYTES - added))
    return reasons


def scratch_name_refusals(scratch, production=""):
    """The reasons a drill refuses its scratch database (db_restore_drill_database, dropped after the drill);
    empty when none."""
    scratch, production = str(scratch or ""), str(production or "")
    if not scratch:
        return ["db_restore_drill_database is empty: name the scratch database the drill restores into"]
    if scratch == production:
        return ["db_restore_drill_database is production '%s'" % scratch]
    if scratch in SYSTEM_DATABASES:
        return ["db_restore_drill_database must not be the system database '%s'" % scratch]
    if name_bytes(scratch) > MAX_NAME_BYTES:
        cut = cut_name(scratch)
        return [_too_long("db_restore_drill_database", scratch)
                + (", which is production's name" if cut == production else "")
                + ": set db_restore_drill_database to a name of %d bytes or less" % MAX_NAME_BYTES]
    return []


class FilterModule:
    def filters(self):
        return {"database_and_store_refusals": database_and_store_refusals,
                "cluster_scope_refusals": cluster_scope_refusals,
                "swap_name_refusals": swap_name_refusals,
                "scratch_name_refusals": scratch_name_refusals}
