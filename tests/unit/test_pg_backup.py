"""pg_backup finds pg_dump as the other modules find their client tools (module_utils.binaries.resolve_binary):
a missing or non-executable one fails the module with what to install, before it connects or stores anything."""
import pytest

from ansible_collections.yieldvault.db_restore.plugins.modules import pg_backup


@pytest.mark.parametrize("case", ["missing path", "not executable", "not on PATH"])
def test_pg_dump_not_usable_says_what_to_install(case, tmp_path, run_main):
    if case == "missing path":
        binary = str(tmp_path / "bin" / "pg_dump")
    elif case == "not executable":
        binary = str(tmp_path / "pg_dump")
        (tmp_path / "pg_dump").write_text("#!/bin/sh\n")
    else:
        binary = "pg_dump_not_installed"
    store = tmp_path / "store"
    store.mkdir()
    # Port 1: a module that went on to connect would fail with a connection error instead.
    result = run_main(pg_backup.main, database="yv", store="local", local_dir=str(store), pg_dump=binary,
                      login_host="127.0.0.1", login_port=1)
    msg = result["msg"]
    assert result["rc"] == 1 and result["failed"] is True, result
    assert binary in msg and "postgresql-client-15" in msg and pg_backup.NOTHING_STORED in msg, msg
    assert ("not found on PATH" if case == "not on PATH" else "does not exist or is not executable") in msg, msg
    assert list(store.iterdir()) == []


def test_a_database_name_with_a_slash_is_refused_before_anything_even_in_check_mode(run_main, tmp_path):
    # Check mode said "Would write rt2/d641_....dump to <store>/rt2/d641_....dump"; the run then failed on the
    # missing directory, and a name starting with '../' points outside the store.
    from ansible_collections.yieldvault.db_restore.plugins.modules import pg_backup
    for check in (True, False):
        result = run_main(pg_backup.main, database="../x/app", store="local", local_dir=str(tmp_path / "store"),
                          login_host="127.0.0.1", login_port=1, _ansible_check_mode=check)
        assert result["rc"] == 1 and 'holds a "/"' in result["msg"] and "No backup was stored" in result["msg"], result
    assert not (tmp_path / "store").exists() and not (tmp_path / "x").exists()
