# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for drill.yml: the comparison of a drill's restore with production."""

from __future__ import annotations

from ansible_collections.yieldvault.db_restore.plugins.module_utils.drill import compare_with_production


def drill_production_compare(backup_counts, production_counts, tolerance_percent=0.0):
    """{'rows': [...], 'warnings': [...]} for backup counts against production counts."""
    rows, warnings = compare_with_production(backup_counts, production_counts, tolerance_percent)
    return {"rows": rows, "warnings": warnings}


class FilterModule:
    def filters(self):
        return {"drill_production_compare": drill_production_compare}
