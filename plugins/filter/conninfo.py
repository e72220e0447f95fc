# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_dbname_conninfo: a database name for --dbname of pg_restore, psql or vacuumdb in a role's command.

The tools would read a name holding '=' as a connection string; this gives them one in which the name is a
quoted value (module_utils/conninfo.py). Shell-quote the result as usual: --dbname={{ name | ... | quote }}.
"""

from __future__ import annotations

from ansible_collections.yieldvault.db_restore.plugins.module_utils.conninfo import dbname_conninfo


def pg_dbname_conninfo(database):
    return dbname_conninfo(str(database))


class FilterModule:
    def filters(self):
        return {"pg_dbname_conninfo": pg_dbname_conninfo}
