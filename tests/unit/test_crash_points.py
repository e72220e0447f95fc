# -*- coding: utf-8 -*-
"""The crash tests kill the run when a task of a given name starts (tests/integration/crash_plugins): a task that
was renamed is never reached, and the test then fails far from the cause ("the run was not killed where asked",
after a whole restore). Every name they kill at must still be a task of a role or playbook."""
import pathlib
import re

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _task_names():
    names = set()

    def walk(node):
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if isinstance(node.get("name"), str):
                names.add(" ".join(node["name"].split()))
            for key in ("block", "rescue", "always", "tasks", "pre_tasks", "post_tasks", "handlers"):
                walk(node.get(key))

    for path in list((ROOT / "roles").glob("*/tasks/*.yml")) + list((ROOT / "playbooks").glob("*.yml")):
        walk(yaml.safe_load(path.read_text()))
    return names


def _kill_points():
    points = set()
    for path in (ROOT / "tests" / "integration").glob("test_*.py"):
        points.update(re.findall(r'YV_CRASH_AT_TASK="([^"]+)"', path.read_text()))
    return points


def test_every_kill_point_names_a_task_that_exists():
    names = _task_names()
    points = _kill_points()
    assert points, "no kill point found: the pattern no longer matches the crash tests"
    # A task name may end in a templated part ("..., {{ db_restore_database }}"): its fixed start is the name.
    fixed = {n.split("{{")[0].rstrip(" ,") for n in names}
    missing = sorted(p for p in points if p not in names and p not in fixed)
    assert not missing, "crash tests kill at tasks that no longer exist: %s" % missing

