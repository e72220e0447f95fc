"""The integration suite's run log: each ansible-playbook run is logged with its test, and
scripts/playbook_runs.py sums the log where the time went."""
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.append(str(ROOT / "tests" / "integration"))

import dbutil  # noqa: E402

RECAP = ("PLAY RECAP\nlocalhost : ok=120 changed=14 unreachable=0 failed=1 skipped=40 rescued=1 ignored=0\n")


def test_the_recap_gives_the_tasks_a_run_went_through():
    assert dbutil._tasks_run(RECAP) == 161
    assert dbutil._tasks_run("ERROR! the playbook could not be parsed") == 0


def test_a_run_is_logged_only_when_asked(tmp_path, monkeypatch):
    log = tmp_path / "runs.jsonl"
    monkeypatch.delenv("YV_PLAYBOOK_LOG", raising=False)
    dbutil._log_run(pathlib.Path("restore.yml"), 0.0, dbutil.os.times(), RECAP)
    assert not log.exists()
    monkeypatch.setenv("YV_PLAYBOOK_LOG", str(log))
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "tests/integration/test_restore.py::test_x[swap] (call)")
    dbutil._log_run(pathlib.Path("/repo/playbooks/restore.yml"), dbutil.time.monotonic() - 2, dbutil.os.times(), RECAP)
    record = json.loads(log.read_text())
    assert record["test"] == "tests/integration/test_restore.py::test_x[swap]"
    assert record["playbook"] == "restore.yml"
    assert record["tasks"] == 161
    assert 2 <= record["wall"] < 60


def test_the_summary_puts_the_costliest_first(tmp_path):
    log = tmp_path / "runs.jsonl"
    runs = [
        {"test": "tests/integration/test_a.py::test_one", "playbook": "restore.yml", "wall": 30, "cpu": 40, "tasks": 190},
        {"test": "tests/integration/test_a.py::test_one", "playbook": "drill.yml", "wall": 10, "cpu": 12, "tasks": 90},
        {"test": "tests/integration/test_b.py::test_two", "playbook": "restore.yml", "wall": 20, "cpu": 90, "tasks": 150},
    ]
    log.write_text("".join(json.dumps(r) + "\n" for r in runs))
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "playbook_runs.py"), str(log)],
                         capture_output=True, text=True, check=True).stdout
    assert out.startswith("ansible-playbook runs: 3, 142 s of CPU, 430 tasks")
    by_file = out.split("by test file:")[1].split("by test:")[0].strip().splitlines()[1:]
    assert [line.split()[-1] for line in by_file] == ["tests/integration/test_b.py", "tests/integration/test_a.py"]
    assert by_file[1].split()[:4] == ["2", "40", "52", "280"]


def test_no_log_is_said_plainly(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "playbook_runs.py"), str(tmp_path / "none.jsonl")],
                         capture_output=True, text=True, check=True).stdout
    assert "no playbook runs logged" in out
