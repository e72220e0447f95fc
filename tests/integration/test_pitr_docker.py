"""Point-in-time recovery with PostgreSQL in a Docker container (db_restore_pg_restart=docker, issue 23):
wal_archive.yml restarts the container so that archive_mode takes effect, and a whole-cluster restore and its
rollback stop and start it around the data directory they replace. pgBackRest runs on the host (stanza, base
backup, restore) and in the container (archive_command, restore_command), on files both see at the same paths.

The image is Debian's PostgreSQL 15 and pgBackRest, built locally (scripts/build_images.sh), with the host's
postgres uid; the test's cluster (test_pitr's archive_cluster) is stopped on the host and run in the container,
--network host, its directory bind-mounted at its own path.
"""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT, pg_cluster_script
from dbutil import skip_unless_strict
from test_pitr import (_rows, _settings, archive_cluster, commit_then_point_then_incident,  # noqa: F401
                       create_app_with_a_ledger)
from test_pitr_cluster import _inventory as cluster_inventory

STANZA = "yv_docker"
BEFORE_THE_POINT = [(1, "first"), (2, "second"), (3, "third")]
INCIDENT = [(2, "clobbered"), (3, "clobbered"), (4, "clobbered")]


def _docker(*args, timeout=120):
    return subprocess.run(["docker"] + list(args), capture_output=True, text=True, timeout=timeout)


def _image():
    res = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "build_images.sh")], capture_output=True, text=True,
                         timeout=1800, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, "scripts/build_images.sh failed:\n%s" % res.stderr[-3000:]
    tags = dict(line.split("=", 1) for line in res.stdout.split() if "=" in line)
    assert "PGBACKREST_IMAGE" in tags, res.stdout
    return tags["PGBACKREST_IMAGE"]


def _state(name, field):
    return _docker("inspect", "-f", "{{.State.%s}}" % field, name).stdout.strip()


def _wait_connectable(info, name, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            pg_cluster_script.connect(info).close()
            return
        except Exception:  # noqa: BLE001 (psycopg2's errors while the server starts)
            time.sleep(0.3)
    raise AssertionError("PostgreSQL in %s did not answer: %s" % (name, _docker("logs", name).stderr[-3000:]))


@pytest.fixture
def docker_cluster(archive_cluster):  # noqa: F811
    """archive_cluster's data directory served by PostgreSQL in a container: (info, base, container name)."""
    if shutil.which("docker") is None or _docker("info", timeout=60).returncode != 0:
        skip_unless_strict("no Docker daemon on this machine (scripts/setup_docker.sh starts one)")
    info, base = archive_cluster
    image = _image()
    pg_cluster_script.stop(base / "cluster", mode="fast")
    name = "yv-test-pg-%s" % os.urandom(3).hex()
    # As a production container would run: restarted by Docker when it exits (so a restore must stop it in a way
    # that no restart follows under it), stopped with PostgreSQL's fast shutdown (as the official images).
    res = _docker("run", "-d", "--name", name, "--network", "host", "--user", "postgres", "-v", "%s:%s" % (base, base),
                  "--restart", "unless-stopped", "--stop-signal", "SIGINT",
                  image, "/usr/lib/postgresql/15/bin/postgres", "-D", info["data_dir"], "-p", str(info["port"]),
                  "-k", info["socket_dir"], "-c", "listen_addresses=127.0.0.1")
    assert res.returncode == 0, res.stderr
    try:
        _wait_connectable(info, name)
        yield info, base, name
    finally:
        # A fast shutdown, so that no postmaster.pid naming the container's pid 1 is left for archive_cluster's
        # teardown (pg_ctl on the host would signal that pid).
        _docker("stop", "--time", "60", name)
        _docker("rm", "-f", name)
        pid_file = os.path.join(info["data_dir"], "postmaster.pid")
        if os.path.exists(pid_file):
            os.unlink(pid_file)


def _inventory(db_inventory_vars, info, base, container):
    """test_pitr_cluster's inventory, with this test's stanza and PostgreSQL restarted through the container."""
    return dict(cluster_inventory(db_inventory_vars, info, base), db_restore_pg_restart="docker",
                db_restore_pg_container=container, db_restore_pgbackrest_stanza=STANZA)


def test_archiving_then_a_whole_cluster_restore_and_rollback_with_postgresql_in_a_container(
        docker_cluster, db_inventory_vars, run_playbook):
    info, base, name = docker_cluster
    config = base / "pgbackrest" / "pgbackrest.conf"
    create_app_with_a_ledger(info)

    # A container that is not there: refused before anything changes.
    missing = run_playbook("wal_archive.yml", _inventory(db_inventory_vars, info, base, "yv-no-such-container"))
    missing.assert_failed("There is no container yv-no-such-container")
    missing.assert_failed("Nothing was changed")
    assert not config.exists() and _settings(info)["archive_mode"] == "off"

    inv = _inventory(db_inventory_vars, info, base, name)
    # Red team: restart policy always starts the container again when the Docker daemon restarts, even after a stop
    # by hand, which could start PostgreSQL under a restore: refused before anything changes.
    assert _docker("update", "--restart", "always", name).returncode == 0
    always = run_playbook("wal_archive.yml", inv)
    always.assert_failed("restart policy is always")
    assert not config.exists() and _settings(info)["archive_mode"] == "off"
    assert _docker("update", "--restart", "unless-stopped", name).returncode == 0

    started = _state(name, "StartedAt")
    run_playbook("wal_archive.yml", inv).assert_ok()  # the restart, then pgbackrest check: archived from inside
    assert _state(name, "StartedAt") != started, "the container was not restarted"
    assert _state(name, "Running") == "true"
    assert _settings(info)["archive_mode"] == "on"

    point = commit_then_point_then_incident(
        info, "INSERT INTO ledger VALUES (1, 'first'), (2, 'second')", "INSERT INTO ledger VALUES (3, 'third')")
    assert _rows(info) == INCIDENT
    extra = {"point": point, "pitr_scope": "cluster", "confirm": STANZA}
    restarts = _state(name, "RestartCount")
    result = run_playbook("restore.yml", inv, extra)
    result.assert_ok()
    # Recovered in the container (restore_command ran pgBackRest there), to the second; Docker's restart policy
    # never started it while the data directory was replaced.
    assert _state(name, "Running") == "true"
    assert _rows(info) == BEFORE_THE_POINT
    assert _state(name, "RestartCount") == restarts
    journal = json.loads((base / "work" / "cluster" / ("%s.journal.json" % STANZA)).read_text())
    assert journal["state"] == "done" and (Path(journal["aside"]) / "PG_VERSION").exists(), journal

    # Red team: the container killed hard (SIGKILL) before the rollback. Its postmaster.pid names the container's
    # pid 1, which on the host is init: read on the host, the server would seem to run on the data directory.
    _docker("kill", name)
    deadline = time.time() + 30
    while time.time() < deadline and _state(name, "Running") == "true":
        time.sleep(0.3)
    assert (Path(info["data_dir"]) / "postmaster.pid").read_text().split("\n")[0] == "1"
    back = run_playbook("rollback.yml", inv, {"pitr_scope": "cluster", "confirm": STANZA})
    back.assert_ok()
    assert _state(name, "Running") == "true"
    assert _rows(info) == INCIDENT
