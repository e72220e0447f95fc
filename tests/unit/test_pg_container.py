# -*- coding: utf-8 -*-
"""pg_container's decisions (db_restore_pg_restart=docker): which host paths the container must see at the same
path, whether a mount shows one, and when a started server accepts connections. End to end:
tests/integration/test_pitr_docker.py."""
import time

import pytest

from ansible_collections.yieldvault.db_restore.plugins.modules.pg_container import (
    covered, missing_paths, postmaster_ready, shared_paths, stop_plan,
)

PARAMS = dict(data_dir="/srv/pg/15/main", socket_dir="/run/postgresql", pgbackrest_config="/etc/pgbackrest/pg.conf",
              pgbackrest_log_path="/var/log/pgbackrest", pgbackrest_repo_type="posix",
              pgbackrest_repo_path="/backup/pgbackrest")


def test_the_data_socket_configuration_log_and_posix_repository_directories_are_shared():
    assert shared_paths(PARAMS) == ["/srv/pg/15/main", "/run/postgresql", "/var/log/pgbackrest", "/etc/pgbackrest",
                                    "/backup/pgbackrest"]


def test_an_s3_repository_and_unset_paths_need_no_mount():
    params = dict(PARAMS, pgbackrest_repo_type="s3", socket_dir="")
    assert shared_paths(params) == ["/srv/pg/15/main", "/var/log/pgbackrest", "/etc/pgbackrest"]


@pytest.mark.parametrize("path,mounts,seen", [
    ("/srv/pg/15/main", [{"source": "/srv/pg", "destination": "/srv/pg"}], True),
    ("/srv/pg/15/main", [{"source": "/srv/pg/15/main", "destination": "/srv/pg/15/main/"}], True),
    # at another path in the container: pgBackRest's paths would not match
    ("/srv/pg/15/main", [{"source": "/srv/pg/15/main", "destination": "/var/lib/postgresql/data"}], False),
    # a sibling whose name starts alike is not under the mount
    ("/srv/pg-other/main", [{"source": "/srv/pg", "destination": "/srv/pg"}], False),
    ("/etc/pgbackrest", [], False),
])
def test_a_path_is_seen_only_under_a_mount_at_its_own_path(path, mounts, seen):
    assert covered(path, mounts) is seen


def test_missing_paths_names_each_one_not_mounted():
    mounts = [{"source": "/srv/pg", "destination": "/srv/pg"}, {"source": "/etc/pgbackrest",
                                                                "destination": "/etc/pgbackrest"}]
    assert missing_paths(shared_paths(PARAMS), mounts) == ["/run/postgresql", "/var/log/pgbackrest",
                                                           "/backup/pgbackrest"]


def _pid_file(tmp_path, started, status):
    lines = ["1", str(tmp_path), str(started), "5432", "/run/postgresql", "127.0.0.1", "  1234   5678", status]
    (tmp_path / "postmaster.pid").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("status,ready", [("ready", True), ("standby", True), ("starting", False),
                                          ("stopping", False)])
def test_a_started_server_accepts_connections_when_ready_or_standby(tmp_path, status, ready):
    now = time.time()
    _pid_file(tmp_path, int(now), status)
    assert postmaster_ready(str(tmp_path), now) is ready


def test_a_postmaster_pid_left_by_an_earlier_start_is_not_taken_for_the_new_server(tmp_path):
    now = time.time()
    _pid_file(tmp_path, int(now) - 600, "ready")
    assert postmaster_ready(str(tmp_path), now) is False
    assert postmaster_ready(str(tmp_path / "nowhere"), now) is False
    (tmp_path / "postmaster.pid").write_text("1\n")
    assert postmaster_ready(str(tmp_path), now) is False


def _info(signal=None, policy=None):
    return {"Name": "/pg", "Config": {"StopSignal": signal} if signal else {},
            "HostConfig": {"RestartPolicy": {"Name": policy}} if policy is not None else {}}


@pytest.mark.parametrize("signal,policy,plan", [
    # the official images stop with SIGINT: docker stop, a stop by hand that no restart policy undoes
    ("SIGINT", "unless-stopped", (["stop", "--time", "600", "pg"], "stop")),
    ("SIGINT", None, (["stop", "--time", "600", "pg"], "stop")),
    # SIGTERM would be a smart shutdown (it waits for every session): SIGINT sent directly, when nothing restarts it
    (None, None, (["kill", "--signal", "INT", "pg"], "kill")),
    ("SIGTERM", "no", (["kill", "--signal", "INT", "pg"], "kill")),
    ("SIGTERM", "on-failure", (["kill", "--signal", "INT", "pg"], "kill")),
    # ...and a stop by hand with SIGINT when a policy would start it again under the restore
    ("SIGTERM", "always", (["stop", "--signal", "SIGINT", "--time", "600", "pg"], "stop")),
    (None, "unless-stopped", (["stop", "--signal", "SIGINT", "--time", "600", "pg"], "stop")),
])
def test_the_stop_is_a_fast_shutdown_that_no_restart_policy_undoes(signal, policy, plan):
    assert stop_plan(_info(signal, policy), 600) == plan
