# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A database name as the libpq client tools must get it: data, never a connection string.

pg_dump, pg_restore, psql and vacuumdb read a --dbname (or -d, or pg_dump's positional name) that holds an
``=`` or starts with ``postgres://`` / ``postgresql://`` as a whole connection string: a database named
``dbname=x`` would send the dump or the restore to the database ``x``. Given as a connection string built here,
with the name quoted by libpq's rules, the name is only ever a name, whatever it holds. Host, port and user are
left out on purpose: libpq still takes them from the environment (PGHOST, PGPORT, PGUSER, PGPASSFILE).

Pure (no Ansible, no psycopg2): the modules, the filter plugin the roles use, and the scripts share it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def conninfo_value(value):
    """value quoted for a libpq connection string: in single quotes, with backslash and quote backslash-escaped."""
    return "'%s'" % value.replace('\\', '\\\\').replace("'", "\\'")


def dbname_conninfo(database):
    """The connection string naming database, e.g. ``dbname='dbname=x'``: give it as --dbname to a libpq tool."""
    if not isinstance(database, str) or not database:
        raise ValueError('a database name must be a non-empty string, not %r' % (database,))
    if '\0' in database:
        raise ValueError('a database name cannot hold a NUL character')
    return 'dbname=%s' % conninfo_value(database)


def dbname_option(database):
    """``--dbname=<connection string>`` for one argv entry (no shell quoting needed)."""
    return '--dbname=%s' % dbname_conninfo(database)
