"""Role defaults, argument specs and README stay true to docs/variables.yml,
and every public variable a role's tasks use is declared by that role."""
import pathlib
import re
import subprocess
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
SPEC = yaml.safe_load((ROOT / "docs" / "variables.yml").read_text())
PUBLIC = re.compile(r"\bdb_restore_[a-z0-9_]*[a-z0-9]\b")


def test_generated_files_are_current():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_role_vars.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_defaults_and_argument_specs_agree():
    for role in SPEC["roles"]:
        defaults = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text()) or {}
        options = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())[
            "argument_specs"]["main"]["options"]
        for name, opt in options.items():
            if opt.get("required"):
                assert name not in defaults, (role, name)
            else:
                assert defaults[name] == opt["default"], (role, name)
        assert set(defaults) <= set(options), (role, set(defaults) - set(options))


def test_every_public_variable_used_by_a_role_is_declared_by_it():
    missing = []
    for role in SPEC["roles"]:
        declared = {n for n, v in SPEC["variables"].items() if role in v["roles"]}
        text = "".join(p.read_text() for d in ("tasks", "vars") for p in (ROOT / "roles" / role / d).glob("*.yml"))
        for name in sorted(set(PUBLIC.findall(text))):
            if name not in declared:
                missing.append("%s uses %s" % (role, name))
    assert not missing, "add these roles to the variables' `roles` in docs/variables.yml:\n" + "\n".join(missing)


def test_every_variable_is_documented_in_the_variables_page():
    readme = (ROOT / "docs" / "variables.md").read_text()
    for name in SPEC["variables"]:
        assert "`%s`" % name in readme, name
