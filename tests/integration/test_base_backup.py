"""Base backups from backup.yml (issue 23): -e base_backup=full|diff|incr takes a pgBackRest base backup into the
WAL archive instead of the dump, and a restore to a second uses the newest chain (full, diff, incr) before it.
"""

from conftest import pg_cluster_script
from test_pitr import commit_then_point_then_incident, create_app_with_a_ledger, _archive_inventory, _pgbackrest_info, _rows, _settings, archive_cluster  # noqa: F401

# A stanza of its own: pgBackRest's locks are named by stanza in /tmp/pgbackrest, shared with test_pitr.py's runs
# on the other pytest worker.
STANZA = "yv_base"


def _backups(config):
    return [(b["label"], b["type"]) for b in _pgbackrest_info(config, STANZA)["backup"]]


def test_base_backups_diff_and_incr_then_a_restore_to_a_second_uses_the_incr_chain(archive_cluster, db_inventory_vars,
                                                                                   run_playbook):
    info, base = archive_cluster
    config = str(base / "pgbackrest" / "pgbackrest.conf")
    password = pg_cluster_script.password(info)
    create_app_with_a_ledger(info)
    inv = _archive_inventory(db_inventory_vars, info, base)
    inv["db_restore_database"] = "app"
    inv["db_restore_pgbackrest_stanza"] = STANZA

    run_playbook("wal_archive.yml", inv).assert_ok()  # the first full backup
    full = _backups(config)
    assert [t for _, t in full] == ["full"]

    check = run_playbook("backup.yml", inv, {"base_backup": "diff"}, check=True).assert_ok()
    assert "Would take a diff base backup of stanza %s" % STANZA in check.stdout, check.stdout[-3000:]
    assert _backups(config) == full, "check mode took a backup"

    diff = run_playbook("backup.yml", inv, {"base_backup": "diff"}).assert_ok()
    after_diff = _backups(config)
    assert len(after_diff) == 2 and after_diff[1][1] == "diff", after_diff
    assert "Took diff base backup %s of stanza %s" % (after_diff[1][0], STANZA) in diff.stdout, diff.stdout[-3000:]
    assert "WAL 0000000" in diff.stdout and "repo1-retention-full" in diff.stdout
    assert password not in diff.output
    assert not (base / "work" / "app").exists() and not list((base / "work").glob("**/*.dump")), "a dump was taken"

    app = pg_cluster_script.connect(info, "app")
    app.autocommit = True
    app.cursor().execute("INSERT INTO ledger VALUES (1, 'before the incr')")
    app.close()
    incr = run_playbook("backup.yml", inv, {"base_backup": "incr"}).assert_ok()
    state = _pgbackrest_info(config, STANZA)
    labels = [(b["label"], b["type"], b.get("prior")) for b in state["backup"]]
    assert [t for _, t, _ in labels] == ["full", "diff", "incr"], labels
    incr_label = labels[2][0]
    assert labels[2][2] == labels[1][0], "the incr is not built on the diff"
    assert "Took incr base backup %s" % incr_label in incr.stdout, incr.stdout[-3000:]

    # Rows committed after the incr, a point, then an incident.
    point = commit_then_point_then_incident(
        info, "INSERT INTO ledger VALUES (2, 'after the incr'), (3, 'also after')")

    result = run_playbook("restore.yml", inv, {"point": point, "confirm": "app"})
    result.assert_ok()
    # The archive chose the incr (the newest backup that ended before the point) and replayed WAL from it.
    assert "from base backup %s" % incr_label in result.stdout, result.stdout[-4000:]
    assert _rows(info) == [(1, "before the incr"), (2, "after the incr"), (3, "also after")]
    assert _settings(info)["archive_mode"] == "on"


# backup.yml -e base_backup=full without WAL archiving (no pgBackRest configuration): the module's refusal, which runs
# no command and writes nothing, is tests/unit/test_pgbackrest_backup.py::
# test_missing_configuration_or_stanza_section_says_to_run_wal_archive.
