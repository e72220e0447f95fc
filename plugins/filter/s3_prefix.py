# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""s3_key_prefix: a key prefix as the modules list and upload under it (module_utils/s3.normalize_prefix), for a
key a role composes: "safety" and "/safety/" both give "safety/", so an upload lands where rollback.yml and
prune.yml look."""

from __future__ import annotations

from ansible_collections.yieldvault.db_restore.plugins.module_utils.s3 import normalize_prefix


def s3_key_prefix(prefix):
    return normalize_prefix(None if prefix is None else str(prefix))


class FilterModule:
    def filters(self):
        return {"s3_key_prefix": s3_key_prefix}
