# -*- coding: utf-8 -*-
"""What an operator meets first: `make help` and the repository's ansible.cfg."""
import configparser
import pathlib
import re
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_make_help_lists_every_target():
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", (ROOT / "Makefile").read_text(), re.M))
    assert {"demo", "test", "lint", "help"} <= targets
    out = subprocess.run(["make", "-s", "-C", str(ROOT), "help"], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    listed = set(re.findall(r"^make ([a-z][a-z0-9-]*) ", out, re.M))
    assert targets - listed == set(), "make help does not list %s" % sorted(targets - listed)


def test_phony_names_only_targets_that_exist():
    text = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", text, re.M))
    phony = set(re.search(r"^\.PHONY:(.*)$", text, re.M).group(1).split())
    assert phony - targets == set()


def test_ansible_cfg_has_no_default_inventory():
    # Without -i a run fell back to the demo's inventory and failed on demo/pg/port.
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "ansible.cfg")
    assert not cfg.has_option("defaults", "inventory")


def test_ansible_cfg_pipelines_the_local_connection_too():
    # [ssh_connection] pipelining never reached the local connection every run here uses ([connection] or
    # [defaults] does): each module, with its arguments (passwords among them), was written under ~/.ansible/tmp
    # and run from there.
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "ansible.cfg")
    assert cfg.getboolean("connection", "pipelining", fallback=False)
