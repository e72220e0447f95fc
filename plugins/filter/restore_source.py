# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""restore_source: the WAL archive or a dump for a restore (restore.yml -e source=auto|dump|wal), and pitr_dirs:
where the WAL restore's scratch server and dump live. The rules are module_utils/pgbackrest."""

from __future__ import annotations

from ansible_collections.yieldvault.db_restore.plugins.module_utils.pgbackrest import choose_source, pitr_dirs


def restore_source(requested, coverage, dump, database, explicit_backup=False, work_dir='', database_bytes=0,
                   rpo_minutes=0):
    return choose_source(requested, coverage, dump, database, explicit_backup=bool(explicit_backup),
                         work_dir=work_dir, database_bytes=database_bytes, rpo_minutes=rpo_minutes)


def wal_restore_dirs(work_dir, database, scratch_base=''):
    return pitr_dirs(str(work_dir), str(database), str(scratch_base or ''))


class FilterModule:
    def filters(self):
        return {"restore_source": restore_source, "wal_restore_dirs": wal_restore_dirs}
