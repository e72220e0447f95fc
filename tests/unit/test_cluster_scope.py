"""The refusal of a whole-cluster run (-e pitr_scope=cluster) names the settings at fault, and only those."""

from ansible_collections.yieldvault.db_restore.plugins.filter.cluster_scope import cluster_scope_refusals

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
