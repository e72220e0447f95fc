# -*- coding: utf-8 -*-
"""The base backup module's refusals and the parsing of `pgbackrest info --output=json` it reports from."""
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.yieldvault.db_restore.plugins.module_utils.pgbackrest import (
    describe_backup, effective_type, expired_labels, taken_backup,
)
from ansible_collections.yieldvault.db_restore.plugins.modules.pgbackrest_backup import main as backup_main


def _backup(label, kind, start, stop, prior=None):
    return {"label": label, "type": kind, "prior": prior, "timestamp": {"start": start, "stop": stop},
            "archive": {"start": "000000010000000000000004", "stop": "000000010000000000000005"},
            "info": {"size": 30000000, "delta": 1200, "repository": {"size": 4000000, "delta": 300}}}


FULL = _backup("20260505-010000F", "full", 1000, 1030)
DIFF = _backup("20260505-010000F_20260506-010000D", "diff", 2000, 2004, prior=FULL["label"])


def test_the_backup_taken_is_the_new_label_and_the_expired_ones_are_gone():
    before = {"backup": [FULL]}
    after = {"backup": [DIFF]}
    assert taken_backup(before, after)["label"] == DIFF["label"]
    assert taken_backup(after, after) is None
    assert expired_labels(before, after) == [FULL["label"]]
    assert expired_labels(after, after) == []


def test_diff_or_incr_without_a_full_is_taken_as_full():
    assert effective_type("incr", {"backup": []}) == "full"
    assert effective_type("diff", {}) == "full"
    assert effective_type("incr", {"backup": [FULL]}) == "incr"
    assert effective_type("full", {"backup": []}) == "full"


def test_describe_backup_gives_sizes_duration_wal_range_and_promotion():
    d = describe_backup(DIFF, "diff")
    assert (d["label"], d["type"], d["prior"], d["promoted"]) == (DIFF["label"], "diff", FULL["label"], False)
    assert (d["size"], d["repo_delta"], d["duration_seconds"]) == (30000000, 300, 4)
    assert (d["wal_start"], d["wal_stop"]) == ("000000010000000000000004", "000000010000000000000005")
    assert describe_backup(FULL, "incr")["promoted"] is True


def test_unknown_type_is_refused_naming_the_extra_var(run_main, tmp_path):
    result = run_main(backup_main, type="weekly", stanza="main", config=str(tmp_path / "none.conf"))
    assert result["rc"] == 1 and result.get("failed")
    assert "-e base_backup" in result["msg"] and "full, diff or incr" in result["msg"]


def test_missing_configuration_or_stanza_section_says_to_run_wal_archive(run_main, tmp_path, monkeypatch):
    # backup.yml -e base_backup=full on a server without WAL archiving: this module is the first task of the run's
    # base-backup branch (roles/backup/tasks/base_backup.yml; tests/integration/test_base_backup.py proves the role
    # hands it db_restore_pgbackrest_config and takes no dump). Its refusal runs no command - no pgbackrest, so no
    # stanza, repository or backup - and writes no configuration.
    commands = []
    monkeypatch.setattr(AnsibleModule, "run_command", lambda self, *a, **k: commands.append(a) or (1, "", "ran"))
    config = tmp_path / "pgbackrest.conf"
    result = run_main(backup_main, type="full", stanza="main", config=str(config))
    assert result["rc"] == 1 and "Run playbooks/wal_archive.yml first" in result["msg"] and str(config) in result["msg"]
    assert "Nothing was changed" in result["msg"] and not result.get("changed")
    assert commands == [] and sorted(tmp_path.iterdir()) == [], "the refusal ran a command or wrote a file"
    config.write_text("[global]\nrepo1-path=/nowhere\n\n[other]\npg1-path=/srv/pg\n")
    result = run_main(backup_main, type="incr", stanza="main", config=str(config))
    assert result["rc"] == 1 and "has no [main] section" in result["msg"] and "Nothing was changed" in result["msg"]
