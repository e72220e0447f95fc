# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""restore_command: the shell command that restores a dump into a database by hand, for the report of a rollback
that failed. The rules are module_utils/restore_engine's (the same pg_restore or psql options the engine uses)."""

from __future__ import annotations

from ansible_collections.yieldvault.db_restore.plugins.module_utils.restore_engine import manual_command

DOCUMENTATION = """
name: restore_command
short_description: The command that restores a dump by hand
version_added: 0.3.0
description:
  - A shell command (every argument quoted) that restores the dump into the database, as the restore engine
    would (pg_restore for an archive, a packed directory unpacked first; psql in one transaction for SQL).
positional: database, jobs, pg_restore, psql
options:
  _input:
    description: The dump, C({path, format}).
    type: dict
    required: true
  database:
    description: The database to restore into.
    type: str
    required: true
  jobs:
    description: pg_restore jobs.
    type: int
    default: 1
  pg_restore:
    description: The pg_restore binary.
    type: str
    default: pg_restore
  psql:
    description: The psql binary.
    type: str
    default: psql
"""

EXAMPLES = """
manual: "{{ __db_restore_safety | yieldvault.db_restore.restore_command('app_prod', 4) }}"
"""

RETURN = """
_value:
  description: The command.
  type: str
"""


def restore_command(dump, database, jobs=1, pg_restore='pg_restore', psql='psql'):
    return manual_command(str(dump['format']), str(dump['path']), str(database), int(jobs), str(pg_restore), str(psql))


class FilterModule:
    def filters(self):
        return {"restore_command": restore_command}
