"""`make bench` end to end, at the smallest scale: benchmarks/run.py starts its own PostgreSQL clusters and S3
endpoint, restores with the hand-run script and restore.yml, then restores 1 and 2 databases in one run (a
cluster each), and writes the Markdown, JSON and chart a user reads. Every restore is checked against the
backup's rows (production gets a table the backup does not have first), so a harness that stops restoring,
or a multi-host run that restores one host's database into another's, fails here rather than in a README."""
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_bench_restores_every_database_and_writes_its_tables(tmp_path):
    out = tmp_path / "results"
    res = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run.py"), "--sizes", "0", "--reps", "1",
         "--contenders", "runbook,restore_yml", "--databases", "1,2", "--skip-micro", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]

    (found,) = out.glob("*.json")
    results = json.loads(found.read_text())
    runs = results["sizes"][0]["runs"]
    assert sorted(r["contender"] for r in runs) == ["restore_yml", "runbook"]
    assert all(r["ok"] for r in runs), runs
    restore = next(r for r in runs if r["contender"] == "restore_yml")
    assert restore["outcome"] == "succeeded"
    assert 0 < restore["downtime"] < restore["total"]

    multi = results["multi"]
    assert [(m["databases"], m["clusters"], m["ok"]) for m in multi] == [(1, 1, True), (2, 2, True)], multi
    assert multi[0]["outcome"] == "succeeded" and multi[1]["outcomes"] == ["succeeded", "succeeded"]
    assert all(m["downtime_max"] and m["downtime_max"] < m["total"] for m in multi)

    md = (out / "latest.md").read_text()
    table = md.split("## Databases per run")[1].split("\n\n")[1].splitlines()
    assert table[2].startswith("| 1 | tiny |") and table[2].split("|")[4].strip() == "1.00"
    assert table[3].startswith("| 2 | tiny |") and table[3].rstrip().endswith("| yes |")
    assert "Databases restored in one run" in (out / "latest.svg").read_text()
