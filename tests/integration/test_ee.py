"""The execution environment, built and run the way AWX runs a job.

scripts/build_ee.sh builds the image from execution-environment.yml with
ansible-builder (cached by a hash of its inputs); these tests run playbooks/drill.yml
and playbooks/restore.yml in it with ansible_runner.run(process_isolation=True, container_image=...), the
call AWX makes: the private data directory mounted at /runner, the project (the
playbooks and ansible.cfg, as a git checkout has them) in /runner/project, the
roles and modules from the collection installed in the image, pg_restore and
psycopg2 from the image. The container uses the host's network to reach the
test's PostgreSQL cluster on loopback; the backup store and work directory are
mounted at the same paths, as an NFS share or a local disk of a worker would be.

What they assert is what an operator looks at: the job's status and rc, the
verdict in the job output and the report, for the drill the scratch database
gone and production unchanged, for the restore production at the chosen point.

YV_EE_IMAGE=<tag> uses an image built already (make test-ee passes it).
"""
import datetime as dt
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import make_backup
import pytest
import yaml
from dbutil import PYTHON_WARNING, REPO_ROOT, _inventory, database_exists, table_checksums
from pg_cluster import password
from test_restore import iso, minutes_ago, yv  # noqa: F401  (yv is the fixture: a database with three backups)

ansible_runner = pytest.importorskip("ansible_runner")

STRICT = os.environ.get("YV_TEST_STRICT") == "1"


def _docker_ready():
    return shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def ee_image():
    """The EE's tag: YV_EE_IMAGE, or what scripts/build_ee.sh builds (or finds built)."""
    if os.environ.get("YV_EE_IMAGE"):
        return os.environ["YV_EE_IMAGE"]
    if not _docker_ready():
        message = "Docker is not running (scripts/setup_docker.sh starts it)"
        if STRICT:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    started = time.monotonic()
    res = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "build_ee.sh")], capture_output=True, text=True,
                         timeout=1800)
    assert res.returncode == 0, "scripts/build_ee.sh failed:\n%s" % res.stderr[-4000:]
    print("\nEE image: %.0f s (build or cache hit)" % (time.monotonic() - started))
    return res.stdout.strip().splitlines()[-1].split("=", 1)[1]


def _minutes_ago(n):
    return dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0) - dt.timedelta(minutes=n)


def run_in_ee(image, pdd, playbook, inventory_vars, credential_vars, mounts, answers=None):
    """Lay out a private data dir as AWX does and run the playbook in the EE with ansible_runner.run()."""
    (pdd / "env").mkdir(parents=True)
    (pdd / "inventory").mkdir()
    # AWX checks the project out into project/: the playbooks and ansible.cfg, no collection (that is in the image).
    (pdd / "project").mkdir()
    shutil.copytree(REPO_ROOT / "playbooks", pdd / "project" / "playbooks")
    shutil.copy(REPO_ROOT / "ansible.cfg", pdd / "project" / "ansible.cfg")
    inventory = _inventory(inventory_vars)
    # The db server is the EE itself here (a local connection): its modules run with the EE's Python.
    inventory["all"]["hosts"]["localhost"]["ansible_python_interpreter"] = "{{ ansible_playbook_python }}"
    (pdd / "inventory" / "hosts").write_text(json.dumps(inventory))
    lines = [yaml.safe_dump(answers, default_flow_style=False).rstrip()] if answers else []
    lines += ["%s: !unsafe %s" % (key, json.dumps(value)) for key, value in credential_vars.items()]
    (pdd / "env" / "extravars").write_text("\n".join(lines) + "\n")
    (pdd / "env" / "envvars").write_text(yaml.safe_dump({"ANSIBLE_NOCOLOR": "1", "AWS_EC2_METADATA_DISABLED": "true"}))
    (pdd / "env" / "settings").write_text(yaml.safe_dump({"idle_timeout": 600, "job_timeout": 900}))
    for f in (pdd / "env").iterdir():
        os.chmod(f, 0o600)
    return ansible_runner.run(
        private_data_dir=str(pdd), playbook=playbook, quiet=True,
        process_isolation=True, process_isolation_executable="docker", container_image=image,
        container_volume_mounts=["%s:%s:Z" % (m, m) for m in mounts],
        # The cluster listens on loopback; dockerd here has no bridge network anyway.
        container_options=["--network=host"])


def _credential(inv):
    """The inventory synced from git has no admin credential: AWX's credential injects it, marked !unsafe."""
    return {"db_restore_login_user": inv.pop("db_restore_login_user"),
            "db_restore_login_password": inv.pop("db_restore_login_password")}


def _stdout(runner):
    path = Path(runner.config.artifact_dir, "stdout")
    return path.read_text(errors="replace") if path.exists() else ""


def test_drill_runs_in_the_execution_environment(tmp_path, pg_cluster, yieldvault_db, db_inventory_vars, ee_image):
    name = "yvee_%s" % os.urandom(3).hex()
    yieldvault_db(name, seed=11, users=150)
    # Mounted into the container at the same paths; under /tmp as the other tests' work dirs (0755).
    shared = Path("/tmp/yv-test-ee-%s" % os.urandom(3).hex())
    shared.mkdir(mode=0o755)
    try:
        store, work = shared / "store", shared / "work"
        backup = make_backup.make_backup(pg_cluster, name, "local", _minutes_ago(5), local_dir=str(store))
        before = table_checksums(pg_cluster, name)
        inv = db_inventory_vars(pg_cluster, name, str(work), "local", local_dir=str(store), db_restore_amcheck=False)
        credential = _credential(inv)
        assert credential["db_restore_login_password"] == password(pg_cluster)
        # The PostgreSQL client tools are the image's (Debian's postgresql-client-15 puts them here too).
        inv["db_restore_pg_bin_dir"] = "/usr/lib/postgresql/15/bin"

        started = time.monotonic()
        runner = run_in_ee(ee_image, tmp_path / "pdd", "playbooks/drill.yml", inv, credential, [str(shared)])
        print("\ndrill in the EE: %.1f s (ansible-runner wall clock)" % (time.monotonic() - started))
        stdout = _stdout(runner)
        described = "status=%s rc=%s\n%s" % (runner.status, runner.rc, stdout[-6000:])

        assert runner.status == "successful" and runner.rc == 0, described
        assert credential["db_restore_login_password"] not in stdout
        report = json.loads(max((work / "reports").glob("*/report.json"), key=os.path.getmtime).read_text())
        assert report["mode"] == "drill" and report["outcome"] == "succeeded", report
        assert report["backup"]["name"] == backup["name"]
        assert all(v["passed"] for v in report["verification"]), report["verification"]
        assert "Outcome: succeeded" in stdout, described
        assert "no downtime: no phase stopped a service" in stdout, described
        assert report["drill"]["scratch_database"] == name + "_drill" and report["drill"]["kept"] is False
        assert not database_exists(pg_cluster, name + "_drill"), "the scratch database was not dropped"
        assert table_checksums(pg_cluster, name) == before, "the drill changed production"
        # The job ran the image's tools, not the host's: the report was written inside the container.
        assert (work / "drills" / "history.jsonl").is_file()
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_restore_runs_in_the_execution_environment(tmp_path, pg_cluster, yv, ee_image):
    point = minutes_ago(20)  # between backup 2 (30 min ago) and backup 3 (8 min ago)
    inv = dict(yv["inv"], db_restore_pg_bin_dir="/usr/lib/postgresql/15/bin")
    credential = _credential(inv)
    started = time.monotonic()
    runner = run_in_ee(ee_image, tmp_path / "pdd", "playbooks/restore.yml", inv, credential, [str(tmp_path)],
                       answers={"point": iso(point), "backup": "", "incident": "INC-88", "confirm": yv["name"]})
    print("\nrestore in the EE: %.1f s (ansible-runner wall clock)" % (time.monotonic() - started))
    stdout = _stdout(runner)
    described = "status=%s rc=%s\n%s" % (runner.status, runner.rc, stdout[-6000:])
    assert runner.status == "successful" and runner.rc == 0, described
    assert "Outcome: succeeded" in stdout, described
    assert not [line for line in stdout.splitlines() if PYTHON_WARNING.search(line)], described
    assert credential["db_restore_login_password"] not in stdout
    chosen = yv["states"][1]
    assert table_checksums(pg_cluster, yv["name"]) == chosen["sums"], "production is not the chosen backup's state"
    # set_stats reaches the job's artifacts, where AWX shows it
    stats = [e for e in runner.events if e.get("event") == "playbook_on_stats"]
    entry = stats[-1]["event_data"]["artifact_data"]["yieldvault_restore_reports"]["localhost"]
    assert entry["outcome"] == "succeeded" and entry["mode"] == "restore"
    report = json.loads(Path(entry["report_json"]).read_text())
    assert report["incident"] == "INC-88" and report["backup"]["name"] == chosen["backup"]["name"]
