# -*- coding: utf-8 -*-
"""The preflight's refusal of db_restore_* settings the collection does not define, with the closest known name."""
import pathlib

import pytest
import yaml

from ansible_collections.yieldvault.db_restore.plugins.filter.settings import closest_setting, settings_problems

ROOT = pathlib.Path(__file__).resolve().parents[2]
OPTIONS = yaml.safe_load((ROOT / "roles/preflight/meta/argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
REQUIRED = {"db_restore_database": "x"}


@pytest.mark.parametrize("typo, meant", [
    ("db_restore_local_backup_directory", "db_restore_local_backup_dir"),
    ("db_restore_db", "db_restore_database"),
    ("db_restore_datbase", "db_restore_database"),
    ("db_restore_s3_buckt", "db_restore_s3_bucket"),
    ("db_restore_loginport", "db_restore_login_port"),
])
def test_a_misspelled_setting_is_refused_with_the_closest_known_name(typo, meant):
    assert closest_setting(typo, OPTIONS) == meant
    problems = settings_problems(list(REQUIRED) + [typo], OPTIONS)
    assert problems == ["%s is not a setting of this collection; did you mean %s?" % (typo, meant)]


def test_a_name_like_no_setting_is_refused_without_a_guess():
    problems = settings_problems(["db_restore_database", "db_restore_zzzzzzzzzzzzzzzzzzzz"], OPTIONS)
    assert problems == ["db_restore_zzzzzzzzzzzzzzzzzzzz is not a setting of this collection (docs/variables.yml lists them)"]


def test_known_settings_and_other_variables_pass():
    names = ["db_restore_database", "db_restore_login_port", "db_restore_services", "point", "ansible_host"]
    assert settings_problems(names, OPTIONS) == []


def test_every_setting_of_docs_variables_yml_is_known():
    documented = yaml.safe_load((ROOT / "docs/variables.yml").read_text())["variables"]
    assert set(documented) == set(OPTIONS)
    assert settings_problems(list(documented), OPTIONS) == []


def test_a_missing_required_setting_is_named():
    problems = settings_problems(["db_restore_db"], OPTIONS)
    assert "db_restore_db is not a setting of this collection; did you mean db_restore_database?" in problems
    assert any(p.startswith("db_restore_database is required and not set") for p in problems), problems
