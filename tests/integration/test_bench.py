"""`make bench` end to end, at the smallest scale: benchmarks/run.py starts its own PostgreSQL clusters and S3
endpoint, restores with the hand-run script, restore.yml and restore.yml from the WAL archive (a cluster with
archiving on, restored to a second), then restores 1 and 2 databases in one run (a cluster each), and writes the
Markdown, JSON and chart a user reads.

What makes it fail: a restore that does not bring the backup's rows back (before every run the harness deletes a
row in production, and the two hosts' databases hold different rows, so a backup restored on the wrong host or
into the wrong cluster shows too), a restore from the archive that misses a row committed by the point or keeps
one committed after it, a run that fails, and tables whose figures do not follow from the runs."""
import json
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run_bench(argv, timeout=1200):
    """run.py, interrupted on timeout with SIGINT so its finally stops its clusters and moto."""
    proc = subprocess.Popen([sys.executable, str(REPO / "benchmarks" / "run.py")] + argv, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
        raise AssertionError("benchmarks/run.py ran past %d s: %s" % (timeout, out[-4000:])) from exc
    return proc.returncode, out


def test_bench_restores_every_database_and_writes_its_tables(tmp_path):
    out = tmp_path / "results"
    rc, output = _run_bench(["--sizes", "0", "--reps", "1", "--contenders", "runbook,restore_yml,restore_wal",
                             "--databases", "1,2", "--skip-micro", "--out", str(out)])
    assert rc == 0, output[-6000:]

    (found,) = out.glob("*.json")
    results = json.loads(found.read_text())
    runs = results["sizes"][0]["runs"]
    assert sorted(r["contender"] for r in runs) == ["restore_wal", "restore_yml", "runbook"]
    assert all(r["ok"] for r in runs), runs
    restore = next(r for r in runs if r["contender"] == "restore_yml")
    assert restore["outcome"] == "succeeded"
    assert 0 < restore["downtime"] < restore["total"]
    # From the archive: restored to the second, every row committed by it back (run.py compares every table's
    # count and the marks row by row, or the run is not ok), so nothing lost up to the point; the dump loses
    # everything since it ran.
    wal = next(r for r in runs if r["contender"] == "restore_wal")
    assert wal["outcome"] == "succeeded" and wal["restore_source"] == "wal", wal
    assert wal["data_loss"] == 0 and wal["marks"] == 1 and wal["incident_after_point"] > 0, wal
    assert 0 < wal["downtime"] < wal["total"]
    assert restore["data_loss"] > 0

    multi = results["multi"]
    # clusters: how many distinct servers the hosts' inventory pointed at.
    assert [(m["databases"], m["clusters"], m["ok"]) for m in multi] == [(1, 1, True), (2, 2, True)], multi
    assert multi[0]["outcome"] == "succeeded" and multi[1]["outcomes"] == ["succeeded", "succeeded"]
    assert all(m["downtime_max"] and m["downtime_max"] < m["total"] for m in multi)

    md = (out / "latest.md").read_text()
    (wal_row,) = [[cell.strip() for cell in line.split("|")[1:-1]]
                  for line in md.split("## The WAL archive against the dump")[1].split("\n\n")[2].splitlines()[2:]]
    assert wal_row[0] == "tiny" and float(wal_row[2]) == round(wal["total"], 1) and wal_row[6] == "0", wal_row
    assert float(wal_row[3]) == round(wal["total"] / restore["total"], 2)
    rows = [[cell.strip() for cell in line.split("|")[1:-1]]
            for line in md.split("## Databases per run")[1].split("\n\n")[1].splitlines()[2:]]
    assert [r[0] for r in rows] == ["1", "2"] and all(r[-1] == "yes" for r in rows), rows
    assert float(rows[1][3]) == round(multi[1]["total"] / multi[0]["total"], 2)
    runbook = next(r["total"] for r in runs if r["contender"] == "runbook")
    assert float(rows[1][6]) == round(multi[1]["total"] / (2 * runbook), 2)
    assert "Databases restored in one run" in (out / "latest.svg").read_text()
