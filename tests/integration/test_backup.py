"""backup.yml: backups in the form the restore expects, with a manifest whose
counts are those of the dumped snapshot even while the application writes."""
import datetime as dt
import json
import os
import re
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from dbutil import PG_BIN_DIR, drop_database, exact_counts
from pg_cluster import connect, libpq_env


def _restore_into(conn_info, dump, target):
    for argv in (["createdb", target], ["pg_restore", "--no-owner", "--no-acl", "-d", target, str(dump)]):
        res = subprocess.run([str(Path(PG_BIN_DIR) / argv[0]), "-h", conn_info["host"], "-p", str(conn_info["port"]),
                              "-U", conn_info["user"], "--no-password", *argv[1:]],
                             env=libpq_env(conn_info), capture_output=True, text=True)
        assert res.returncode == 0, res.stderr


class Writer(threading.Thread):
    """Inserts rows, one transaction each, until stopped: the application during the backup."""

    def __init__(self, conn_info, dbname):
        super().__init__(daemon=True)
        self.conn = connect(conn_info, dbname)
        self.stop = threading.Event()
        self.inserted = 0

    def run(self):
        with self.conn.cursor() as cur:
            while not self.stop.is_set():
                cur.execute("INSERT INTO public.events (note) VALUES ('during the backup')")
                self.inserted += 1
        self.conn.close()


def test_backup_local_with_concurrent_writes_then_restore(tmp_path, pg_cluster, yieldvault_db, db_inventory_vars,
                                                         run_playbook):
    name = "yvb_%s" % os.urandom(3).hex()
    yieldvault_db(name, seed=5, users=300)
    conn = connect(pg_cluster, name)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE public.events (id bigserial PRIMARY KEY, note text)")
    conn.close()
    store, work = tmp_path / "store", tmp_path / "work"
    inv = db_inventory_vars(pg_cluster, name, str(work), "local", local_dir=str(store))

    check = run_playbook("backup.yml", inv, check=True)
    check.assert_ok()
    assert not store.exists() or not list(store.iterdir()), "check mode wrote something"

    writer = Writer(pg_cluster, name)
    writer.start()
    try:
        while writer.inserted < 50:
            time.sleep(0.05)
        result = run_playbook("backup.yml", inv)
    finally:
        writer.stop.set()
        writer.join(10)
    result.assert_ok()
    dumps = list(store.glob("*.dump"))
    assert len(dumps) == 1
    dump = dumps[0]
    assert re.fullmatch(r"%s_\d{8}_\d{4}\.dump" % name, dump.name)
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600
    md5 = subprocess.run(["md5sum", str(dump)], capture_output=True, text=True, check=True).stdout.split()[0]
    assert (store / (dump.name + ".md5")).read_text() == "%s  %s\n" % (md5, dump.name)
    manifest = json.loads((store / (dump.name + ".manifest.json")).read_text())
    assert manifest["database"] == name and manifest["backup"] == dump.name and manifest["format"] == "custom"
    assert manifest["md5"] == md5 and manifest["size"] == dump.stat().st_size
    assert manifest["created_at"].endswith("Z") and manifest["server_version"].startswith("15")
    assert manifest["snapshot"]
    # the writer kept going after the snapshot: the live table moved on ...
    live = exact_counts(pg_cluster, name)["public.events"]
    assert 0 < manifest["tables"]["public.events"] < live
    # ... and the manifest states exactly what the dump holds
    copy = name + "_copy"
    try:
        _restore_into(pg_cluster, dump, copy)
        assert exact_counts(pg_cluster, copy) == manifest["tables"]
    finally:
        drop_database(pg_cluster, copy)

    # restore.yml accepts the backup and verifies it against the manifest exactly. Going back to the snapshot
    # loses what the writer added after it (a third of events): a decision the plan shows, accepted here.
    restored = run_playbook("restore.yml", dict(inv, db_restore_accept_data_loss=True),
                            {"point": "latest", "confirm": name})
    restored.assert_ok()
    assert exact_counts(pg_cluster, name) == manifest["tables"]
    report = restored.report(str(work))
    assert report["outcome"] == "succeeded"
    lost = {r["table"]: r for r in report["loss"]["rows"]}
    assert lost["public.events"]["now"] == live and lost["public.events"]["backup"] == manifest["tables"]["public.events"]
    assert "What this restore loses" in restored.stdout
    rows = {v["check"]: v for v in report["verification"]}
    assert rows["row counts equal the backup's manifest exactly"]["passed"] is True
    assert rows["every object in the backup's table of contents exists"]["passed"] is True


def test_backup_to_s3_with_md5_metadata_and_manifest(tmp_path, pg_cluster, s3_server, s3_client, yieldvault_db,
                                                     db_inventory_vars, run_playbook):
    name = "yvs_%s" % os.urandom(3).hex()
    yieldvault_db(name, seed=6, users=200)
    bucket = "backups-%s" % os.urandom(3).hex()
    s3_client.create_bucket(Bucket=bucket)
    work = tmp_path / "work"
    inv = db_inventory_vars(pg_cluster, name, str(work), "s3", s3=s3_server, bucket=bucket)
    run_playbook("backup.yml", inv, check=True).assert_ok()
    assert s3_client.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0

    result = run_playbook("backup.yml", inv)
    result.assert_ok()
    keys = sorted(o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket)["Contents"])
    assert len(keys) == 2 and keys[0].startswith("database/%s_" % name) and keys[1] == keys[0] + ".manifest.json"
    head = s3_client.head_object(Bucket=bucket, Key=keys[0])
    manifest = json.loads(s3_client.get_object(Bucket=bucket, Key=keys[1])["Body"].read())
    assert head["Metadata"]["md5"] == manifest["md5"] and head["ContentLength"] == manifest["size"]
    assert manifest["tables"] == exact_counts(pg_cluster, name)
    assert not list((work / "staging").iterdir()), "the staged dump was left behind"
    assert inv["db_restore_s3_secret_key"] not in result.output


@pytest.mark.parametrize("store", ["s3", "local"])
def test_a_backup_name_another_run_is_writing_is_left_to_it(tmp_path, pg_cluster, s3_server, s3_client, yieldvault_db,
                                                            db_inventory_vars, run_playbook, store):
    # Two backups of one database in the same minute: the second checked that the dump was not there while the
    # first was still uploading it, then wrote its manifest over the first's, and both said "Wrote". The store held
    # one run's dump with the other's manifest, which every restore refused. Here the first run's claim (its
    # manifest, for this minute and the next two) is in the store and its dump not yet.
    name = "yvc_%s" % os.urandom(3).hex()
    yieldvault_db(name, seed=2, users=60)
    bucket = "claims-%s" % os.urandom(3).hex()
    s3_client.create_bucket(Bucket=bucket)
    work, local = tmp_path / "work", tmp_path / "store"
    local.mkdir()
    inv = db_inventory_vars(pg_cluster, name, str(work), store, s3=s3_server, bucket=bucket, local_dir=str(local))
    now = dt.datetime.now(dt.timezone.utc)
    claims = {}
    for minute in range(3):
        stamp = (now + dt.timedelta(minutes=minute)).strftime("%Y%m%d_%H%M")
        manifest = "%s_%s.dump.manifest.json" % (name, stamp)
        body = json.dumps({"claimed_by": "the other run", "minute": stamp})
        claims[manifest] = body
        if store == "s3":
            s3_client.put_object(Bucket=bucket, Key="database/" + manifest, Body=body.encode())
        else:
            (local / manifest).write_text(body)

    result = run_playbook("backup.yml", inv)
    result.assert_failed("is being written by another run")
    assert "No backup was stored" in result.output
    if store == "s3":
        keys = {o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket)["Contents"]}
        assert keys == {"database/" + m for m in claims}, "a dump was uploaded beside the other run's claim"
        for manifest, body in claims.items():
            assert s3_client.get_object(Bucket=bucket, Key="database/" + manifest)["Body"].read().decode() == body
    else:
        assert sorted(p.name for p in local.iterdir()) == sorted(claims), "files beside the other run's claim"
        for manifest, body in claims.items():
            assert (local / manifest).read_text() == body
