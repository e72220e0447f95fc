"""Point-in-time recovery from a pgBackRest repository in S3 (issue 23): the bucket of the dumps on moto, behind
socat's TLS (pgBackRest speaks only HTTPS to S3), verified with the test's CA file.

S3 through moto is slow (a full backup of a small cluster takes tens of seconds): one test, that walks the whole
path - a refused configuration, archiving on, a restore to a second.
"""

import os
import re
import secrets
import stat
import subprocess
import time
from pathlib import Path

from test_pitr import (_pgbackrest_info, _recap_changed, _rows, _scratch_postmasters, _settings,  # noqa: F401
                       archive_cluster, commit_then_point_then_incident, create_app_with_a_ledger)

STANZA = "yv_pitr_s3"


def _s3_inventory(db_inventory_vars, info, base, tls, bucket, keys, **extra):
    """The posix test's inventory with the repository in S3: the dumps and the repository in the same bucket, behind
    TLS, with keys of this test only (moto takes any) so that a leak is found by name. The dumps go through boto3,
    which trusts the test's CA through AWS_CA_BUNDLE (ca_env)."""
    out = db_inventory_vars(
        info, "app", str(base / "work"), "s3",
        db_restore_login_unix_socket=info["socket_dir"],
        db_restore_pg_data_dir=info["data_dir"],
        db_restore_pgbackrest_stanza=STANZA,
        db_restore_pgbackrest_config=str(base / "pgbackrest" / "pgbackrest.conf"),
        db_restore_pgbackrest_repo_path=str(base / "repo"),
        db_restore_pgbackrest_log_path=str(base / "pgbackrest-log"),
        db_restore_wal_archive_timeout=30,
        db_restore_pgbackrest_repo_type="s3",
        db_restore_pgbackrest_s3_path="/pgbackrest",
        db_restore_pgbackrest_s3_ca_file=tls["ca_file"],
        db_restore_pgbackrest_process_max=4,
        db_restore_s3_bucket=bucket,
        db_restore_s3_endpoint_url=tls["endpoint_url"],
        db_restore_s3_region=tls["region"],
        db_restore_s3_access_key=keys[0],
        db_restore_s3_secret_key=keys[1],
        db_restore_s3_prefix="database/",
    )
    out.update(extra)
    return out


def ca_env(tls):
    """boto3 (the dumps) trusts the test's CA as an operator's private CA would be trusted: AWS_CA_BUNDLE."""
    return {"AWS_CA_BUNDLE": tls["ca_file"]}


def _keys_in_files(directory, keys):
    """Files under directory whose bytes hold one of the keys."""
    found = []
    for path in Path(directory).rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if any(key.encode() in data for key in keys):
                found.append(str(path))
    return found


def _objects(s3_client, bucket, prefix):
    pages = s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


def test_restore_yml_to_a_second_from_an_s3_repository_behind_verified_tls(archive_cluster, s3_tls_server, s3_client,  # noqa: F811
                                                                           db_inventory_vars, run_playbook):
    info, base = archive_cluster
    tls = s3_tls_server
    bucket = "yv-pitr-s3-%s" % secrets.token_hex(4)
    s3_client.create_bucket(Bucket=bucket)
    keys = ("AKIAYV" + secrets.token_hex(7).upper(), "yv-secret-" + secrets.token_hex(16))
    config = base / "pgbackrest" / "pgbackrest.conf"
    create_app_with_a_ledger(info)

    # Without the CA file the system's CAs do not know the test's certificate: the repository is checked before
    # anything changes, so archive_command never names a configuration that would block every archive-push.
    unverified = run_playbook("wal_archive.yml",
                              _s3_inventory(db_inventory_vars, info, base, tls, bucket, keys,
                                            db_restore_pgbackrest_s3_ca_file=""))
    unverified.assert_failed("does not answer")
    assert "certificate" in unverified.output, unverified.output[-3000:]
    assert "db_restore_pgbackrest_s3_ca_file" in unverified.output and "Nothing was changed" in unverified.output
    assert not config.exists(), "the configuration was written although the repository did not answer"
    assert _settings(info)["archive_mode"] == "off"

    inv = _s3_inventory(db_inventory_vars, info, base, tls, bucket, keys)
    # Check mode reads the bucket with the configuration it would write (a temporary copy) and says what it would do.
    check = run_playbook("wal_archive.yml", inv, check=True).assert_ok()
    assert "Would change" in check.stdout and "s3://%s/pgbackrest" % bucket in check.stdout, check.stdout[-3000:]
    assert "to create" in check.stdout
    assert not config.exists() and _settings(info)["archive_mode"] == "off", "check mode changed something"
    started = time.monotonic()
    on = run_playbook("wal_archive.yml", inv).assert_ok()  # restarts the server; its full backup, in S3, holds app
    archive_seconds = time.monotonic() - started
    settings = _settings(info)
    assert settings["archive_mode"] == "on" and str(config) in settings["archive_command"]
    st = config.stat()
    assert stat.S_IMODE(st.st_mode) == 0o640 and st.st_uid == Path(info["data_dir"]).stat().st_uid, \
        "the configuration holding the S3 keys is not 0640 and the server user's"
    text = config.read_text()
    assert "repo1-type=s3" in text and "repo1-storage-ca-file=%s" % tls["ca_file"] in text
    assert "verify-tls" not in text, "TLS verification was turned off"
    stored = _objects(s3_client, bucket, "pgbackrest/")
    assert [k for k in stored if k.startswith("pgbackrest/backup/%s/" % STANZA)], stored[:20]
    assert [k for k in stored if k.startswith("pgbackrest/archive/%s/" % STANZA)], stored[:20]
    assert not (base / "repo").exists(), "a posix repository was made although the repository is S3"
    again = run_playbook("wal_archive.yml", inv).assert_ok()
    assert _recap_changed(again) == 0, again.stdout[-3000:]
    run_playbook("backup.yml", inv, env=ca_env(tls)).assert_ok()  # a dump too, in the same bucket
    assert _objects(s3_client, bucket, "database/app_"), "the dump is not in the bucket of the repository"

    point = commit_then_point_then_incident(
        info, "INSERT INTO ledger VALUES (1, 'first'), (2, 'second')", "INSERT INTO ledger VALUES (3, 'third')")

    started = time.monotonic()
    result = run_playbook("restore.yml", inv, {"point": point, "confirm": "app"}, env=ca_env(tls))
    result.assert_ok()
    restore_seconds = time.monotonic() - started
    # Row by row: exactly what was committed by the point, nothing of the incident.
    assert _rows(info) == [(1, "first"), (2, "second"), (3, "third")]
    reports = sorted((base / "work" / "reports").glob("*/report.md"), key=lambda p: p.stat().st_mtime)
    assert reports, "no report was written"
    report = reports[-1].read_text()
    assert "0 s (WAL archive, to the second)" in report and "| Source | the WAL archive, recovered to %s" % point in report
    assert not list((base / "pgbackrest-scratch").glob("scratch-*")), "the scratch server's directory was left"
    assert not _scratch_postmasters(base), "a scratch server is still running"
    assert not [k for k in _objects(s3_client, bucket, "pgbackrest/archive/%s/" % STANZA) if "00000002.history" in k], \
        "the scratch server archived into the production archive"
    assert _settings(info)["archive_mode"] == "on"

    # The keys are in the configuration file only: in no output of the runs, no report, log or file of the work.
    for run in (unverified, check, on, again, result):
        for key in keys:
            assert key not in run.output, "an S3 key is in a run's output"
    leaked = _keys_in_files(base / "work", keys) + _keys_in_files(base / "pgbackrest-log", keys)
    assert not leaked, "an S3 key is in %s" % leaked
    print("\nS3 repository through moto: wal_archive.yml %.0f s, restore.yml %.0f s" % (archive_seconds,
                                                                                       restore_seconds))

    # A point before the oldest base backup, with no dump that old either, is refused the same way whatever the
    # repository (wal_archive_coverage reads pgbackrest info, which the restore above read from S3):
    # test_pitr.py::test_restore_yml_to_a_second_uses_the_archive_and_brings_back_exactly_those_rows.
    before = _rows(info)
    # A gap in the S3 archive: a segment after the base backup goes missing from the bucket; -e source=wal is
    # refused before anything changes, naming it.
    for _ in range(2):
        subprocess.run(["runuser", "-u", "postgres", "--", "pgbackrest", "--config=%s" % config, "--stanza=%s" % STANZA,
                        "check"], check=True, capture_output=True,
                       env=dict(os.environ, PGPASSWORD=inv["db_restore_login_password"]))
    state = _pgbackrest_info(str(config), STANZA)
    segments = sorted(k for k in _objects(s3_client, bucket, "pgbackrest/archive/%s/" % STANZA)
                      if re.match(r"^[0-9A-F]{24}-", k.rsplit("/", 1)[-1])
                      and state["backup"][-1]["archive"]["start"] < k.rsplit("/", 1)[-1][:24] < state["archive"][0]["max"])
    assert segments, "no archived segment between the base backup and the newest"
    s3_client.delete_object(Bucket=bucket, Key=segments[0])
    gap = run_playbook("restore.yml", inv, {"point": "latest", "source": "wal", "confirm": "app"}, check=True,
                       env=ca_env(tls))
    gap.assert_failed(segments[0].rsplit("/", 1)[-1][:24])
    assert "Nothing was changed" in gap.output and _rows(info) == before
