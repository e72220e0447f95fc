# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""safety_dump_formats: the pg_dump formats the safety backup tries, in order, for db_restore_safety_backup_format,
the restore's jobs and its method. The rule is module_utils/safety_dump.safety_formats."""

from __future__ import annotations

from ansible_collections.yieldvault.db_restore.plugins.module_utils.safety_dump import safety_formats


def safety_dump_formats(setting, jobs=1, method='swap'):
    return safety_formats(str(setting), jobs, method)


class FilterModule:
    def filters(self):
        return {"safety_dump_formats": safety_dump_formats}
