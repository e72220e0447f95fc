"""The preflight's refusals of a run's settings (plugins/filter/refusals.py) name the settings at fault, and only those:
the database and the backup store, and a whole-cluster run (-e pitr_scope=cluster)."""

from ansible_collections.yieldvault.db_restore.plugins.filter.refusals import (cluster_scope_refusals,
                                                                             database_and_store_refusals)

GOOD = dict(source="auto", data_dir="/var/lib/postgresql/15/main", restart="pg_ctl", container="", previous="",
            backup="")


def test_a_restore_and_a_rollback_with_good_settings_are_not_refused():
    assert cluster_scope_refusals("restore", **GOOD) == []
    assert cluster_scope_refusals("rollback", **GOOD) == []
    assert cluster_scope_refusals(None, **GOOD) == [], "no mode is a restore (restore.yml sets none)"
    assert cluster_scope_refusals("restore", **dict(GOOD, source="wal", restart="docker", container="pg")) == []


def test_each_refusal_names_only_its_own_setting():
    (drill,) = cluster_scope_refusals("drill", **GOOD)
    assert drill == "it is for restore.yml and rollback.yml only (this is a drill)"
    (dump,) = cluster_scope_refusals("restore", **dict(GOOD, source="dump"))
    assert "WAL archive only (got -e source=dump" in dump
    (data_dir,) = cluster_scope_refusals("restore", **dict(GOOD, data_dir="  "))
    assert "db_restore_pg_data_dir" in data_dir
    (restart,) = cluster_scope_refusals("rollback", **dict(GOOD, restart="kubectl"))
    assert "pg_ctl, systemd or docker (got 'kubectl')" in restart
    (container,) = cluster_scope_refusals("restore", **dict(GOOD, restart="docker"))
    assert "db_restore_pg_container" in container
    (given,) = cluster_scope_refusals("rollback", **dict(GOOD, previous="app__pre_x", backup=" b.dump "))
    assert given == "it takes no -e previous or -e backup (got previous=app__pre_x, backup=b.dump)"


def test_every_fault_is_named_at_once():
    reasons = cluster_scope_refusals("drill", source="dump", data_dir="", restart="docker", container="",
                                     previous="", backup="x.dump")
    assert len(reasons) == 5, reasons


STORE = dict(store="local", s3_bucket="", local_dir="/var/backups/db", work_dir="/var/backups/postgresql", compress=1)


def test_good_database_and_store_settings_are_not_refused():
    assert database_and_store_refusals("app", **STORE) == []
    assert database_and_store_refusals("app", **dict(STORE, store="s3", s3_bucket="b", local_dir="")) == []
    assert database_and_store_refusals("app", **dict(STORE, compress="-1")) == []
    assert database_and_store_refusals("app", **dict(STORE, compress=9)) == []


def test_each_database_or_store_refusal_names_only_its_own_setting():
    (empty,) = database_and_store_refusals("", **STORE)
    assert "db_restore_database is empty" in empty
    (system,) = database_and_store_refusals("template1", **STORE)
    assert "not the system database 'template1'" in system
    (store,) = database_and_store_refusals("app", **dict(STORE, store="gcs"))
    assert store == "db_restore_backup_store must be s3 or local (got 'gcs')"
    (bucket,) = database_and_store_refusals("app", **dict(STORE, store="s3"))
    assert "db_restore_s3_bucket is empty" in bucket and "application database" not in bucket
    (local,) = database_and_store_refusals("app", **dict(STORE, local_dir=""))
    assert "db_restore_local_backup_dir is empty" in local
    (work,) = database_and_store_refusals("app", **dict(STORE, work_dir="relative/work"))
    assert "absolute path (got 'relative/work')" in work
    for level in (10, "1.5", "", "x", -2):
        (compress,) = database_and_store_refusals("app", **dict(STORE, compress=level))
        assert "db_restore_safety_backup_compress" in compress, level


def test_every_database_and_store_fault_is_named_at_once():
    assert len(database_and_store_refusals("postgres", "s3", "", "", "work", 11)) == 4
