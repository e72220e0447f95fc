"""`ansible-galaxy collection build` ships the collection and nothing of its
development (galaxy.yml build_ignore): built from this checkout, and from a
copy of the tracked files with what runs leave behind planted in it."""
import pathlib
import shutil
import socket
import subprocess
import sys
import tarfile

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())
ANSIBLE_GALAXY = pathlib.Path(sys.executable).parent / "ansible-galaxy"

# Path parts that never belong in the tarball, wherever they appear.
FORBIDDEN_PARTS = {"node_modules", "__pycache__", ".pytest_cache", ".ruff_cache", ".venv", ".collections",
                   ".cache", ".ansible", ".git", "demo", "build"}
# Top-level entries that are the collection's development, not the collection.
FORBIDDEN_TOP = {"tests", "molecule", "benchmarks", "scripts", "Makefile", "ansible.cfg", "CONTRIBUTING.md",
                 "ruff.toml", ".ansible-lint", ".yamllint", ".pre-commit-config.yaml", ".gitignore", ".ci", ".config"}


def build(source, out):
    proc = subprocess.run([str(ANSIBLE_GALAXY), "collection", "build", "--output-path", str(out), str(source)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tarball = out / ("%s-%s-%s.tar.gz" % (GALAXY["namespace"], GALAXY["name"], GALAXY["version"]))
    with tarfile.open(tarball) as tar:
        return {member.name.removeprefix("./") for member in tar.getmembers()}


def expected_files():
    files = {"MANIFEST.json", "FILES.json", "README.md", "CHANGELOG.rst", "meta/runtime.yml",
             "changelogs/changelog.yaml", "changelogs/config.yaml"}
    files |= {p.relative_to(ROOT).as_posix() for p in (ROOT / "plugins").glob("*/*.py")}
    files |= {p.relative_to(ROOT).as_posix() for p in (ROOT / "playbooks").glob("*.yml")}
    files |= {p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").iterdir() if p.is_file()}
    for role in (ROOT / "roles").iterdir():
        files |= {"roles/%s/tasks/main.yml" % role.name, "roles/%s/meta/argument_specs.yml" % role.name}
    return files


def check(names):
    missing = expected_files() - names
    assert not missing, "missing from the tarball: %s" % sorted(missing)
    junk = sorted(n for n in names if FORBIDDEN_PARTS & set(n.split("/")) or n.split("/")[0] in FORBIDDEN_TOP
                  or n.endswith((".pyc", ".orig", ".rej", ".swp", "~")))
    assert not junk, "%d paths in the tarball that are not the collection, e.g. %s" % (len(junk), junk[:10])


def test_build_of_this_checkout_holds_the_collection_only(tmp_path):
    check(build(ROOT, tmp_path))


def test_build_leaves_out_what_runs_leave_behind(tmp_path):
    """A checkout after `make setup`, `make demo`, `make bench` and the tests: the
    demo's PostgreSQL socket alone used to make the build fail."""
    try:
        tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("needs a git checkout to know the tracked files")
    src = tmp_path / "src"
    for rel in filter(None, tracked.decode().split("\0")):
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel)
    planted = ["tests/fixtures/backend/node_modules/express/index.js", "node_modules/x/index.js",
               "plugins/module_utils/__pycache__/pg.cpython-311.pyc", ".pytest_cache/v/cache/nodeids",
               ".ruff_cache/CACHEDIR.TAG", ".venv/pyvenv.cfg", "benchmarks/results/2099-01-01-0000.json",
               "demo/report.md", "build/ee/Containerfile", "roles/assess/tasks/main.yml.orig",
               "plugins/modules/table_counts.py.rej", "README.md~"]
    for rel in planted:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text("left behind\n")
    (src / "demo" / "pg").mkdir(parents=True)
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(src / "demo" / "pg" / ".s.PGSQL.5432"))
        check(build(src, tmp_path / "out"))
    finally:
        sock.close()
