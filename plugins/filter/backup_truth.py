# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for what a backup holds (dump_content, read by backup_checksum with count_rows) against the database
and the settings: the expected counts, the manifest cross-check, what a restore loses, settings that name what
the backup does not hold. The logic is in module_utils (unit tested); these only adapt it to Jinja."""

from __future__ import annotations

from ansible_collections.yieldvault.db_restore.plugins.module_utils.counts import (
    expected_from,
    manifest_disagreements,
    restore_loss,
    rollback_baseline,
)
from ansible_collections.yieldvault.db_restore.plugins.module_utils.verify import settings_problems


def backup_expected_counts(content, manifest=None):
    """{'counts': {...} or None, 'source': 'backup' | 'manifest' | None}."""
    tables = manifest.get("tables") if isinstance(manifest, dict) else None
    counts, source = expected_from(content, tables)
    return {"counts": counts, "source": source}


def backup_manifest_disagreements(content, manifest):
    if not (content or {}).get("counted") or not isinstance(manifest, dict):
        return []
    return manifest_disagreements(manifest.get("tables"), content.get("tables"))


def backup_restore_loss(now, expected, tolerance_percent=0.0, tolerance_rows=0, materialized_views=None):
    return restore_loss(now, expected, tolerance_percent, tolerance_rows, materialized_views)


def backup_settings_problems(content, not_null, checks, backup=""):
    content = content or {}
    if not content.get("relations"):
        return []
    return settings_problems(not_null, checks, content["relations"], content.get("columns") or {}, backup)


def backup_rollback_baseline(before, materialized_views):
    return rollback_baseline(before, materialized_views)


def loss_line(row):
    """One line of the plan's loss table."""
    return "%s: %s -> %s (%s)%s" % (
        row["table"], "missing" if row.get("now") is None else row["now"],
        "not in the backup" if row.get("backup") is None else row["backup"],
        "%+d" % row["difference"], " LOSS BEYOND TOLERANCE" if row.get("beyond") else "")


class FilterModule:
    def filters(self):
        return {
            "backup_expected_counts": backup_expected_counts,
            "backup_manifest_disagreements": backup_manifest_disagreements,
            "backup_restore_loss": backup_restore_loss,
            "backup_settings_problems": backup_settings_problems,
            "backup_rollback_baseline": backup_rollback_baseline,
            "loss_line": loss_line,
        }
