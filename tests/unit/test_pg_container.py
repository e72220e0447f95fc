# -*- coding: utf-8 -*-
"""pg_container's decisions (db_restore_pg_restart=docker): which host paths the container must see at the same
path, whether a mount shows one, and when a started server accepts connections. End to end:
tests/integration/test_pitr_docker.py."""
import time

import pytest

from ansible_collections.yieldvault.db_restore.plugins.modules.pg_container import (
    api_version, container_problems, covered, docker_time, missing_paths, postmaster_ready, shared_paths,
    stale_pid_file, stop_plan,
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
    # red team: the parent bound at its own path, but a named volume (the official image's) over the directory
    # itself: the server uses the volume, not what pgBackRest on the host sees
    ("/srv/pg/15/main", [{"source": "/srv", "destination": "/srv"},
                         {"source": "/var/lib/docker/volumes/abc/_data", "destination": "/srv/pg/15/main"}], False),
    ("/srv/pg/15/main/base", [{"source": "/var/lib/docker/volumes/abc/_data", "destination": "/srv/pg/15/main"},
                              {"source": "/srv", "destination": "/srv"}], False),
    # ...and a bind mount of the directory itself inside a volume over its parent is fine
    ("/srv/pg/15/main", [{"source": "/var/lib/docker/volumes/x/_data", "destination": "/srv"},
                         {"source": "/srv/pg/15/main", "destination": "/srv/pg/15/main"}], True),
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


def _info(signal=None, policy=None, restarting=False, auto_remove=False):
    host = {"RestartPolicy": {"Name": policy}} if policy is not None else {}
    if auto_remove:
        host["AutoRemove"] = True
    return {"Name": "/pg", "Config": {"StopSignal": signal} if signal else {}, "HostConfig": host,
            "State": {"Running": True, "Restarting": restarting}}


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


def test_a_crash_looping_container_is_stopped_by_hand():
    # docker kill refuses a restarting container; docker stop ends the loop
    assert stop_plan(_info(None, "on-failure", restarting=True), 600)[0][0] == "stop"


@pytest.mark.parametrize("info,api,refused", [
    (_info("SIGINT", "unless-stopped"), (1, 41), []),
    (_info(None, "no"), (1, 41), []),
    (_info(None, "on-failure"), None, []),
    (_info("SIGINT", "always"), (1, 45), ["restart policy is always"]),
    (_info("SIGINT", "no", auto_remove=True), (1, 45), ["--rm"]),
    (_info(None, "unless-stopped"), (1, 41), ["--stop-signal SIGINT"]),
    (_info(None, "unless-stopped"), (1, 42), []),
    (_info(None, "always", auto_remove=False), (1, 41), ["restart policy is always", "--stop-signal SIGINT"]),
])
def test_containers_that_cannot_be_stopped_and_started_safely_are_refused(info, api, refused):
    problems = container_problems(info, api)
    assert len(problems) == len(refused), problems
    for problem, text in zip(problems, refused):
        assert text in problem


def test_docker_times_and_api_versions_are_read():
    assert docker_time("2026-12-06T07:01:31.123456789Z") == 1796540491
    assert docker_time("0001-01-01T00:00:00Z") is None and docker_time("") is None
    assert api_version("1.41\n") == (1, 41) and api_version("") is None


def _state(started, finished, running=False):
    return {"Running": running, "Restarting": False, "StartedAt": started, "FinishedAt": finished}


def test_only_the_pid_file_of_the_containers_last_run_counts_as_stale():
    run = _state("2026-12-06T07:00:00Z", "2026-12-06T07:05:00Z")
    began = docker_time("2026-12-06T07:00:00Z")
    lines = ["1", "/srv/pg", str(began + 1), "5432"]
    assert stale_pid_file(lines, run) is True
    # the server ran as another pid: not PostgreSQL as the main process, or another server on the directory
    assert stale_pid_file(["4242"] + lines[1:], run) is False
    # started outside the container's last run: another container's server on the same directory
    assert stale_pid_file(["1", "/srv/pg", str(began + 3600), "5432"], run) is False
    assert stale_pid_file(["1", "/srv/pg", str(began - 3600), "5432"], run) is False
    # the container runs (or restarts): never
    assert stale_pid_file(lines, dict(run, Running=True)) is False
    assert stale_pid_file(lines, dict(run, Restarting=True)) is False
    assert stale_pid_file(None, run) is False and stale_pid_file(["1"], run) is False
