"""The preflight's refusals of a run's settings (plugins/filter/refusals.py) name the settings at fault, and only those:
the database and the backup store, a whole-cluster run (-e pitr_scope=cluster), the swap's names and a drill's scratch
database. Names are measured in UTF-8 bytes, as PostgreSQL cuts them."""

from ansible_collections.yieldvault.db_restore.plugins.filter.refusals import (
    cluster_scope_refusals, cut_name, database_and_store_refusals, name_bytes, scratch_name_refusals,
    swap_name_refusals)

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


# ---- names: PostgreSQL cuts them at 63 bytes, not 63 characters ----------------------------------------------------

def _swap(production, staging=None, stamp="20261206_182055", **kw):
    staging = production + "__restore" if staging is None else staging
    return swap_name_refusals(kw.pop("method", "swap"), staging, production, production + "__pre_" + stamp,
                              production + "__failed_" + stamp, **kw)


def test_a_name_is_measured_and_cut_in_bytes_never_half_a_character():
    assert name_bytes("é" * 32) == 64 and len("é" * 32) == 32
    assert cut_name("é" * 32) == "é" * 31, "63 bytes would end in half an é: PostgreSQL keeps whole characters"
    assert cut_name("a" * 70) == "a" * 63 and cut_name("app") == "app"


def test_good_swap_names_are_not_refused():
    assert _swap("app") == []
    assert _swap("a" * 39) == [], "39 bytes plus __failed_<stamp> (24) is 63"
    assert _swap("app", method="in_place") == []


def test_a_multibyte_staging_name_of_fewer_than_63_characters_is_refused_in_bytes():
    # 32 characters, 64 bytes: the character count let it through, and the staging database was created cut.
    (reason,) = _swap("app", staging="é" * 32)
    assert reason.startswith("db_restore_staging_database '%s' is 64 bytes" % ("é" * 32)), reason
    assert "'%s'" % ("é" * 31) in reason and "set a shorter one" in reason


def test_a_production_name_too_long_for_the_swap_names_the_method_that_renames_nothing():
    production = "yv_" + "é" * 24 + "abcdef"  # 33 characters, 57 bytes
    reasons = _swap(production, staging="app_staging")
    (reason,) = reasons
    assert "production's name is 57 bytes and the swap adds up to 24, so it must be 39 bytes or less" in reason
    assert "would name databases '%s__pre_20261206_182055', '%s__failed_20261206_182055'" % (production, production) \
        in reason
    # The default staging name is too long only because production's is: one reason, with the staging name in it.
    (default,) = _swap(production)
    assert "would name databases '%s__restore', '%s__pre_" % (production, production) in default
    assert "db_restore_staging_database" not in default and "db_restore_method=in_place" in default
    assert "db_restore_method=in_place" in reason and "db_restore_staging_database" not in reason


def test_each_swap_refusal_names_only_its_own_setting():
    assert _swap("app", staging="") == ["db_restore_staging_database is empty: name the database the swap restores "
                                        "into"]
    (same,) = _swap("app", staging="app")
    assert "is production 'app'" in same
    (system,) = _swap("app", staging="template1")
    assert "system database 'template1'" in system
    assert swap_name_refusals("copy", "x", "app", "p", "f") == ["db_restore_method must be swap or in_place "
                                                                "(got 'copy')"]


def test_a_drill_and_a_whole_cluster_restore_rename_nothing_so_their_names_are_not_the_swaps():
    long_production = "a" * 50
    assert _swap(long_production, mode="drill") == []
    assert _swap(long_production, scope="cluster") == []
    assert len(_swap(long_production, mode="rollback")) == 1


def test_a_production_name_longer_than_63_bytes_is_refused():
    (reason,) = database_and_store_refusals("ü" * 40, **STORE)
    assert reason.startswith("db_restore_database '%s' is 80 bytes" % ("ü" * 40)) and "no database has" in reason
    assert database_and_store_refusals("a" * 63, **STORE) == []


def test_a_scratch_name_cut_to_production_is_refused_saying_so():
    production = "a" * 63
    (reason,) = scratch_name_refusals(production + "_drill", production)
    assert "is 69 bytes" in reason and "which is production's name" in reason
    (other,) = scratch_name_refusals("b" * 64, production)
    assert "production" not in other and "63 bytes or less" in other
    assert scratch_name_refusals("app_drill", "app") == []
    assert scratch_name_refusals("app", "app") == ["db_restore_drill_database is production 'app'"]
    assert scratch_name_refusals("", "app")[0].startswith("db_restore_drill_database is empty")
    assert "system database 'postgres'" in scratch_name_refusals("postgres", "app")[0]


def test_a_database_name_with_a_slash_is_refused_before_files_are_named_after_it():
    (reason,) = database_and_store_refusals("../../etc/app", **STORE)
    assert reason.startswith("db_restore_database '../../etc/app' holds a '/'") and "rename the database" in reason
    assert database_and_store_refusals("app.v2 'x' 50% = {{ y }}", **STORE) == []
