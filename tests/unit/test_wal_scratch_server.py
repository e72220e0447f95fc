"""wal_scratch_server refuses a scratch directory whose socket path PostgreSQL cannot create (107 bytes at most), before
the pgBackRest restore: the server failed to start only after the whole restore, with "could not create any
Unix-domain sockets" in its log."""

import os

from ansible_collections.yieldvault.db_restore.plugins.module_utils.pgbackrest import pitr_dirs
from ansible_collections.yieldvault.db_restore.plugins.modules import wal_scratch_server


def _present(tmp_path, base):
    scratch = pitr_dirs(str(tmp_path / "work"), "app", base)["scratch"]
    return dict(state="present", scratch_dir=scratch, point="latest", database="app", stanza="main",
                config=str(tmp_path / "no-pgbackrest.conf"), os_user="nobody-%s" % tmp_path.name[-6:])


def test_a_scratch_directory_too_long_for_the_socket_is_refused_before_anything(run_main, tmp_path):
    base = "/yv-scratch-test/" + "x" * 51  # nothing is created before the check
    assert len(base) == 68
    result = run_main(wal_scratch_server.main, **_present(tmp_path, base))
    assert result["rc"] == 1 and result.get("failed"), result
    assert "108 bytes: a Unix socket path has at most 107" in result["msg"], result["msg"]
    assert "Set db_restore_wal_scratch_dir to a directory of at most 67 bytes" in result["msg"]
    assert "Nothing was changed" in result["msg"]
    assert not (tmp_path / "work").exists() and not os.path.exists("/yv-scratch-test")


def test_a_scratch_directory_of_67_bytes_goes_on_to_the_restore(run_main, tmp_path):
    base = "/yv-scratch-test/" + "y" * 50
    assert len(base) == 67
    # It gets past the check, to the next one: the PostgreSQL OS user (this one does not exist; it was a KeyError
    # traceback).
    result = run_main(wal_scratch_server.main, **_present(tmp_path, base))
    assert result["rc"] == 1 and "Unix socket path" not in result["msg"], result
    assert result["msg"].startswith("The PostgreSQL OS user nobody-") and "db_restore_pg_os_user" in result["msg"]
    assert not (tmp_path / "work").exists() and not os.path.exists("/yv-scratch-test")
