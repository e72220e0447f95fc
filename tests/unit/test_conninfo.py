"""The database name given to the libpq client tools is a quoted value in a connection string of our own.

libpq itself (PQconninfoParse, through psycopg2's parse_dsn) reads each string back: whatever the name holds,
the parsed connection string has exactly one key, dbname, equal to the name.
"""
import pytest
from psycopg2.extensions import parse_dsn

from ansible_collections.yieldvault.db_restore.plugins.filter.conninfo import pg_dbname_conninfo
from ansible_collections.yieldvault.db_restore.plugins.module_utils.conninfo import (
    conninfo_value, dbname_conninfo, dbname_option,
)

NAMES = [
    "yieldvault_prod",
    "dbname=x",
    "host=evil dbname=postgres",
    "postgresql://evil/x",
    "postgres://u@h/db",
    "a b",
    "it's",
    "back\\slash",
    "\\'",
    "'",
    "-d",
    "x' host='evil",
    "\\' host=evil dbname=\\'x",
    "ünïcode = ✓",
    " leading and trailing ",
]


@pytest.mark.parametrize("name", NAMES)
def test_libpq_reads_the_name_back_and_nothing_else(name):
    assert parse_dsn(dbname_conninfo(name)) == {"dbname": name}
    assert dbname_option(name) == "--dbname=" + dbname_conninfo(name)
    assert pg_dbname_conninfo(name) == dbname_conninfo(name)


def test_quoting_rules():
    assert dbname_conninfo("dbname=x") == "dbname='dbname=x'"
    assert conninfo_value("it's") == "'it\\'s'"
    assert conninfo_value("a\\b") == "'a\\\\b'"


@pytest.mark.parametrize("bad", ["", None, "a\0b", 5])
def test_no_name_is_refused(bad):
    with pytest.raises(ValueError):
        dbname_conninfo(bad)
