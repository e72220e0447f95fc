"""The pre-commit hooks are local and their commands exist and run: committing
needs nothing but the project's .venv (no hook repository is fetched)."""
import pathlib
import shlex
import subprocess

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
HOOKS = [hook for repo in CONFIG["repos"] for hook in repo["hooks"]]


def test_every_hook_is_local_and_runs_a_system_command():
    assert [repo["repo"] for repo in CONFIG["repos"]] == ["local"]
    assert {hook["id"] for hook in HOOKS} >= {"yamllint", "ansible-lint", "ruff", "gen-role-vars"}
    for hook in HOOKS:
        assert hook["language"] == "system", hook["id"]


@pytest.mark.parametrize("hook", HOOKS, ids=[hook["id"] for hook in HOOKS])
def test_hook_command_exists_and_runs(hook):
    argv = shlex.split(hook["entry"])
    program = ROOT / argv[0]
    assert program.is_file(), "%s: %s is missing (make setup)" % (hook["id"], argv[0])
    if hook.get("pass_filenames", True):
        # A checker that takes file names: starting it is enough.
        argv = [argv[0], "--version"]
    elif hook["id"] == "ansible-lint":
        # Linting the whole collection takes minutes; make lint does it.
        argv = [argv[0], "--version"]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, "%s: %s\n%s%s" % (hook["id"], " ".join(argv), proc.stdout, proc.stderr)


def test_config_is_valid_for_pre_commit():
    pre_commit = ROOT / ".venv" / "bin" / "pre-commit"
    assert pre_commit.is_file(), "pre-commit is pinned in requirements.txt: make setup installs it"
    proc = subprocess.run([str(pre_commit), "validate-config", ".pre-commit-config.yaml"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
