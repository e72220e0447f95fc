"""Secret hygiene: restore (at -vvv), drill and rollback with an admin password, S3 keys, a Slack webhook URL and a
PagerDuty routing key set; none of them may appear in the output, in any file of the work directory (reports,
logs, counts, timeline.json, drill history, the lock) or in the backup store (manifests, safety backups).

moto accepts any keys, so distinctive ones are used; the Slack and PagerDuty URLs point at a closed loopback port,
so every notification fails and its warning - the likeliest place for a URL to leak - is exercised too.
"""
import datetime as dt
import os
from pathlib import Path

import pytest
from psycopg2 import sql

import make_backup
import yieldvault_fixture
from pg_cluster import connect
from dbutil import table_checksums

UTC = dt.timezone.utc


@pytest.fixture
def secrets():
    tag = os.urandom(4).hex()
    return {
        "password": "PwS3cr3t-%s-x'y" % tag,
        "access_key": "AKIASECRET%s" % tag.upper(),
        "secret_key": "SkS3cr3t/%s+Zq" % tag,
        "slack_token": "slackTok%s" % tag,
        "routing_key": "PdRoutingKey%s" % tag,
    }


@pytest.fixture
def admin_role(pg_cluster, secrets):
    role = "sec_admin_%s" % os.urandom(3).hex()
    conn = connect(pg_cluster, "postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE ROLE {} SUPERUSER LOGIN PASSWORD %s").format(sql.Identifier(role)),
                    (secrets["password"],))
    yield role
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
    conn.close()


def find_secrets(secrets, blobs):
    """[(secret name, where)] for every secret found in the (where, bytes) pairs."""
    found = []
    for where, data in blobs:
        for key, value in secrets.items():
            if value.encode() in data:
                found.append((key, where))
    return found


def work_files(work):
    for path in Path(work).rglob("*"):
        if path.is_file() and not path.is_symlink():
            yield str(path), path.read_bytes()


def store_objects(client, bucket):
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents") or []:
            yield "s3://%s/%s" % (bucket, obj["Key"]), client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()


def test_no_secret_leaks_from_restore_drill_or_rollback(tmp_path, pg_cluster, s3_server, yieldvault_db, admin_role,
                                                        secrets, db_inventory_vars, run_playbook, free_port):
    name = "yv_sec_%s" % os.urandom(3).hex()
    yieldvault_db(name, seed=7, users=200, owner="yieldvault_user")
    s3 = dict(s3_server, access_key=secrets["access_key"], secret_key=secrets["secret_key"])
    bucket = "sec-%s" % os.urandom(3).hex()
    when = dt.datetime.now(UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=5)
    make_backup.make_backup(pg_cluster, name, "s3", when, s3=s3, bucket=bucket, prefix="database/")
    backup_sums = table_checksums(pg_cluster, name)
    yieldvault_fixture.incident(pg_cluster, name)
    incident_sums = table_checksums(pg_cluster, name)

    closed = "http://127.0.0.1:%d" % free_port()
    work = tmp_path / "work"
    inv = db_inventory_vars(
        pg_cluster, name, str(work), "s3", s3=s3, bucket=bucket, owner="yieldvault_user",
        db_restore_login_user=admin_role, db_restore_login_password=secrets["password"],
        db_restore_slack_webhook_url=closed + "/services/T000/B000/" + secrets["slack_token"],
        db_restore_pagerduty_routing_key=secrets["routing_key"],
        db_restore_pagerduty_events_url=closed + "/v2/enqueue")

    runs = [
        ("restore -vvvv", run_playbook("restore.yml", inv, {"point": "latest", "confirm": name, "incident": "INC-7"},
                                      extra_args=["-vvvv"])),
    ]
    runs[0][1].assert_ok()
    assert table_checksums(pg_cluster, name) == backup_sums
    runs.append(("drill", run_playbook("drill.yml", inv)))
    runs[1][1].assert_ok()
    # The newest safety backup is the database as it was before the restore: the incident.
    runs.append(("rollback", run_playbook("rollback.yml", inv, {"confirm": name, "incident": "INC-7"})))
    runs[2][1].assert_ok()
    assert table_checksums(pg_cluster, name) == incident_sums

    # The secrets were really used: otherwise their absence proves nothing.
    assert "-vvv" in " ".join(runs[0][1].cmd)
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in runs[0][1].stdout or "censored" in runs[0][1].stdout
    inventory = Path(runs[0][1].cmd[runs[0][1].cmd.index("-i") + 1])
    assert {k for k, _ in find_secrets(secrets, [("inventory", inventory.read_bytes())])} == {
        "password", "access_key", "secret_key", "slack_token", "routing_key"}, "the leak detector does not work"
    assert any("Slack" in r.output or "slack" in r.output for _, r in runs)
    reports = list(Path(work).rglob("report.json"))
    assert len(reports) >= 3

    leaks = []
    for label, result in runs:
        leaks += find_secrets(secrets, [("%s stdout" % label, result.stdout.encode()),
                                        ("%s stderr" % label, result.stderr.encode())])
    leaks += find_secrets(secrets, work_files(work))
    leaks += find_secrets(secrets, store_objects(make_backup.s3_client(s3), bucket))
    assert not leaks, "secrets leaked: %s" % leaks
    assert not list(Path(work).glob(".pgpass*")), "the private pgpass file (it holds the password) was left behind"
