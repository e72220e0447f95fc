"""playbooks/prune.yml against a real work directory and the S3 safety prefix on moto: --check lists and keeps
everything, the real run removes exactly what the settings let go, another database's files and the bucket's
backups stay."""
import datetime
import os

UTC = datetime.timezone.utc


def _stamp(days):
    return (datetime.datetime.now(UTC) - datetime.timedelta(days=days, minutes=5)).strftime("%Y%m%d_%H%M%S")


def _flat(result):
    """The console text with YAML's line wrapping and quote doubling undone."""
    return " ".join(result.stdout.split()).replace("''", "'")


def _keys(s3_client, bucket, prefix):
    listed = s3_client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def test_prune_keeps_what_the_settings_say_in_check_mode_and_for_real_local_and_s3(
        tmp_path, pg_cluster, s3_server, s3_client, run_playbook, db_inventory_vars):
    # prune.yml never connects to PostgreSQL: the database need not exist.
    name = "yv ret'%s" % os.urandom(2).hex()
    bucket = "retention-%s" % os.urandom(2).hex()
    s3_client.create_bucket(Bucket=bucket)
    work = tmp_path / "work"
    for sub in ("safety", "reports", "logs", "restore"):
        (work / sub).mkdir(parents=True)
    stamps = [_stamp(d) for d in (1, 5, 9, 40)]
    # Safety backups of this database and of another, locally and in the bucket; a backup of the store's own
    # prefix that must never be touched.
    for db in (name, "someone else"):
        for s in stamps:
            (work / "safety" / ("%s_safety_%s.dump" % (db, s))).write_bytes(b"d" * 2048)
            (work / "safety" / ("%s_safety_%s.dump.md5" % (db, s))).write_text("x  y\n")
            s3_client.put_object(Bucket=bucket, Key="safety/%s_safety_%s.dir.tar" % (db, s), Body=b"t" * 1024)
    s3_client.put_object(Bucket=bucket, Key="database/%s_20260101_0000.dump" % name, Body=b"b")
    runs = ["restore-%s-%sZ-00%02d" % (name, s.replace("_", "T"), i) for i, s in enumerate(stamps)]
    for run in runs:
        (work / "reports" / run).mkdir()
        (work / "reports" / run / "report.md").write_text("# report\n")
        (work / "logs" / (run + "-restore.log")).write_text("log\n")
    (work / "restore" / ("%s_20260101_0000.dump" % name)).write_bytes(b"c" * 4096)
    before_local = sorted(p.relative_to(work).as_posix() for p in work.rglob("*"))
    before_s3 = _keys(s3_client, bucket, "")

    inv = db_inventory_vars(pg_cluster, name, str(work), "s3", s3=s3_server, bucket=bucket,
                            db_restore_keep_safety_backups=1, db_restore_keep_safety_backups_days=7,
                            db_restore_keep_reports=2)
    planned = run_playbook("prune.yml", inv, check=True)
    planned.assert_ok()
    assert sorted(p.relative_to(work).as_posix() for p in work.rglob("*")) == before_local, "--check removed files"
    assert _keys(s3_client, bucket, "") == before_s3, "--check removed objects"
    said = _flat(planned)
    for s in stamps[2:]:
        assert "Would remove safety backup %s_safety_%s.dump" % (name, s) in said, planned.describe()
        assert "Would remove safety backup %s_safety_%s.dir.tar" % (name, s) in said
    # 2 local and 2 S3 safety backups, 2 reports, 1 download
    assert "Would remove 7 item(s)" in said, planned.describe()

    run_playbook("prune.yml", inv).assert_ok()
    # Kept: the newest 1 or younger than 7 days (the 1- and 5-day ones); reports: the newest 2.
    kept = ["%s_safety_%s.dump" % (name, s) for s in stamps[:2]]
    assert sorted(p.name for p in (work / "safety").iterdir() if p.name.startswith(name)) == sorted(
        kept + [k + ".md5" for k in kept])
    assert len([p for p in (work / "safety").iterdir() if p.name.startswith("someone else")]) == 8
    assert sorted(p.name for p in (work / "reports").iterdir()) == sorted(runs[:2])
    assert sorted(p.name for p in (work / "logs").iterdir()) == sorted(r + "-restore.log" for r in runs[:2])
    assert not list((work / "restore").iterdir())
    assert _keys(s3_client, bucket, "safety/%s_" % name) == sorted(
        "safety/%s_safety_%s.dir.tar" % (name, s) for s in stamps[:2])
    assert len(_keys(s3_client, bucket, "safety/someone else")) == 4
    assert _keys(s3_client, bucket, "database/") == ["database/%s_20260101_0000.dump" % name]

    # Nothing left to remove: a second run says so and changes nothing.
    again = run_playbook("prune.yml", inv).assert_ok()
    assert "Nothing to remove" in _flat(again), again.describe()
