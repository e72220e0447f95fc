# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""restore_check_problems: what is wrong with db_restore_checks, found by preflight before anything changes."""

from __future__ import annotations

from ansible_collections.yieldvault.db_restore.plugins.module_utils.verify import check_problems


def restore_check_problems(checks):
    """A list of messages, one per check that restore_checks would refuse to run; empty when all are fine."""
    return check_problems(checks)


class FilterModule:
    def filters(self):
        return {"restore_check_problems": restore_check_problems}
