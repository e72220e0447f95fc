"""pg_backup finds pg_dump as the other modules find their client tools (module_utils.binaries.resolve_binary):
a missing or non-executable one fails with what to install, before anything is stored."""
import pytest

from ansible_collections.yieldvault.db_restore.plugins.modules import pg_backup


class Failed(Exception):
    pass


class FakeModule:
    def __init__(self, pg_dump):
        self.params = {"pg_dump": pg_dump}

    def get_bin_path(self, name):
        return None

    def fail_json(self, **kwargs):
        raise Failed(kwargs)


@pytest.mark.parametrize("case", ["missing path", "not executable", "not on PATH"])
def test_pg_dump_not_usable_says_what_to_install(case, tmp_path):
    if case == "missing path":
        binary = str(tmp_path / "bin" / "pg_dump")
    elif case == "not executable":
        binary = str(tmp_path / "pg_dump")
        (tmp_path / "pg_dump").write_text("#!/bin/sh\n")
    else:
        binary = "pg_dump_not_installed"
    with pytest.raises(Failed) as failed:
        pg_backup.resolve_pg_dump(FakeModule(binary))
    msg = failed.value.args[0]["msg"]
    assert binary in msg and "postgresql-client-15" in msg and pg_backup.NOTHING_STORED in msg, msg
    assert ("not found on PATH" if case == "not on PATH" else "does not exist or is not executable") in msg, msg
