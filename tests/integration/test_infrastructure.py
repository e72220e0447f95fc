"""The test infrastructure itself works: cluster, moto, data sets, backups, playbook runner."""

import json
import os
import stat
import subprocess
import sys

import psycopg2
import pytest

from dbutil import assert_failed, assert_ok

import make_backup
import pg_cluster as pg_cluster_script
import yieldvault_fixture

PAGILA_COUNTS = {
    "public.rental": 16044, "public.film_actor": 5462, "public.inventory": 4581, "public.film_category": 2367,
    "public.staff": 1500, "public.film": 1000, "public.address": 603, "public.city": 600, "public.customer": 599,
    "public.store": 500, "public.actor": 200, "public.country": 109, "public.category": 16, "public.language": 6,
}
PAGILA_PAYMENTS = 16049


def test_cluster_answers_on_loopback_with_password(pg_cluster):
    assert pg_cluster["host"] == "127.0.0.1"
    assert stat.S_IMODE(os.stat(pg_cluster["password_file"]).st_mode) == 0o600
    conn = pg_cluster_script.connect(pg_cluster, "postgres")
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW server_version_num")
            assert cur.fetchone()[0].startswith("15")
            cur.execute("SHOW listen_addresses")
            assert cur.fetchone()[0] == "127.0.0.1"
    finally:
        conn.close()
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(host=pg_cluster["host"], port=pg_cluster["port"], user="postgres", password="wrong",
                         dbname="postgres", connect_timeout=5)


def test_start_reuses_running_cluster(pg_cluster):
    again = pg_cluster_script.start(os.path.dirname(pg_cluster["data_dir"]))
    assert again == pg_cluster


def test_pagila_loads_with_readme_counts(pg_cluster, pagila_db, exact_counts):
    name = pagila_db("pagila_counts")
    counts = exact_counts(pg_cluster, name)
    assert {t: counts.get(t) for t in PAGILA_COUNTS} == PAGILA_COUNTS
    partitions = {t: n for t, n in counts.items() if t.startswith("public.payment_p2022_")}
    assert len(partitions) == 7 and sum(partitions.values()) == PAGILA_PAYMENTS
    assert counts["public.payment"] == PAGILA_PAYMENTS


def test_yieldvault_is_deterministic_for_a_seed(pg_cluster, yieldvault_db, table_checksums, exact_counts):
    first = yieldvault_db("yv_det_a", seed=7, users=200)
    second = yieldvault_db("yv_det_b", seed=7, users=200)
    other = yieldvault_db("yv_det_c", seed=8, users=200)
    sums_a = table_checksums(pg_cluster, first)
    assert set(sums_a) == {"public.%s" % t for t in yieldvault_fixture.TABLES}
    assert sums_a == table_checksums(pg_cluster, second)
    assert sums_a["public.User"] != table_checksums(pg_cluster, other)["public.User"]
    counts = exact_counts(pg_cluster, first)
    assert counts["public.User"] == 200 and counts["public.Transaction"] == 1000
    assert counts["public.Referral"] > 0 and counts["public.ReferralCode"] > 0


def test_yieldvault_owner_owns_the_objects(pg_cluster, yieldvault_db):
    name = yieldvault_db("yv_owned", users=20, owner="yv_test_owner")
    conn = pg_cluster_script.connect(pg_cluster, name)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
            assert cur.fetchone()[0] == "yv_test_owner"
            cur.execute("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")
            assert [r[0] for r in cur.fetchall()] == ["yv_test_owner"]
            cur.execute('SELECT count(*) FROM "UserBalance"')
            assert cur.fetchone()[0] == 20
    finally:
        conn.close()


def test_activity_then_incident_change_counts(pg_cluster, yieldvault_db, exact_counts):
    name = yieldvault_db("yv_incident", users=200)
    added = yieldvault_fixture.add_activity(pg_cluster, name, users=20)
    assert added["added"]["public.User"] == 20 and added["added"]["public.Transaction"] == 100
    before = exact_counts(pg_cluster, name)
    did = yieldvault_fixture.incident(pg_cluster, name)
    after = exact_counts(pg_cluster, name)
    assert did["dropped_tables"] == ["public.Referral"]
    assert "public.Referral" not in after
    lost = before["public.Transaction"] - after["public.Transaction"]
    assert lost == did["deleted_rows"]["public.Transaction"]
    assert 0.2 < lost / before["public.Transaction"] < 0.4
    assert after["public.User"] == before["public.User"]


def test_make_backup_local_sidecar_passes_md5sum(pg_cluster, yieldvault_db, tmp_path):
    name = yieldvault_db("yv_backup_local", users=50)
    when = make_backup.parse_when("2026-04-29T14:30:00Z")
    out = make_backup.make_backup(pg_cluster, name, "local", when=when, local_dir=tmp_path)
    assert out["name"] == "yv_backup_local_20260429_1430.dump"
    assert (tmp_path / out["name"]).stat().st_size == out["size"]
    res = subprocess.run(["md5sum", "-c", out["name"] + ".md5"], cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    with open(tmp_path / out["name"], "rb") as handle:
        assert handle.read(5) == b"PGDMP"


def test_make_backup_s3_object_carries_md5(pg_cluster, s3_server, s3_client, yieldvault_db):
    name = yieldvault_db("yv_backup_s3", users=50)
    out = make_backup.make_backup(pg_cluster, name, "s3", when=make_backup.parse_when("2026-04-29T14:00"),
                                  s3=s3_server, bucket="yv-test-backups", prefix="database/")
    assert out["location"] == "s3://yv-test-backups/database/yv_backup_s3_20260429_1400.dump"
    head = s3_client.head_object(Bucket="yv-test-backups", Key="database/" + out["name"])
    assert head["Metadata"]["md5"] == out["md5"]
    assert head["ContentLength"] == out["size"]


def test_scripts_cli_print_json(pg_cluster, tmp_path):
    scripts = os.path.join(os.path.dirname(make_backup.__file__))
    cluster_dir = os.path.dirname(pg_cluster["data_dir"])
    for script in ("pg_cluster.py", "s3_server.py", "yieldvault_fixture.py", "make_backup.py"):
        res = subprocess.run([sys.executable, os.path.join(scripts, script), "--help"], capture_output=True, text=True)
        assert res.returncode == 0 and "usage" in res.stdout
    res = subprocess.run([sys.executable, os.path.join(scripts, "pg_cluster.py"), "status", cluster_dir],
                         capture_output=True, text=True)
    assert json.loads(res.stdout)["running"] is True
    res = subprocess.run([sys.executable, os.path.join(scripts, "make_backup.py"), "no_such_db", "--store", "local",
                          "--local-dir", str(tmp_path), "--cluster", cluster_dir], capture_output=True, text=True)
    assert res.returncode == 1
    failure = json.loads(res.stdout)
    assert failure["failed"] and "no_such_db" in failure["msg"]
    assert pg_cluster_script.password(pg_cluster) not in res.stdout + res.stderr


def test_run_playbook_inventory_and_extra_vars(run_playbook, db_inventory_vars, pg_cluster, s3_server, work_dir,
                                               tmp_path):
    playbook = tmp_path / "probe.yml"
    playbook.write_text(
        "- name: Probe the inventory the fixtures write\n"
        "  hosts: db_servers:app_servers\n"
        "  gather_facts: false\n"
        "  tasks:\n"
        "    - name: Check groups, host vars and extra vars\n"
        "      ansible.builtin.assert:\n"
        "        that:\n"
        "          - \"'localhost' in groups['db_servers'] and 'localhost' in groups['app_servers']\"\n"
        "          - db_restore_database == 'probe_db'\n"
        "          - db_restore_login_port | int > 0\n"
        "          - db_restore_s3_endpoint_url.startswith('http://127.0.0.1:')\n"
        "          - point == '2026-04-29T14:30:00Z'\n"
        "    - name: Fail on request\n"
        "      ansible.builtin.fail:\n"
        "        msg: failing as asked\n"
        "      when: fail_now | default(false) | bool\n")
    inv = db_inventory_vars(pg_cluster, "probe_db", work_dir, "s3", s3=s3_server)
    assert inv["db_restore_login_password"] == pg_cluster_script.password(pg_cluster)
    ok = run_playbook(str(playbook), inv, {"point": "2026-04-29T14:30:00Z"}, timeout=120)
    assert_ok(ok)
    # The password travels in the inventory file, not on the command line.
    assert inv["db_restore_login_password"] not in " ".join(ok.cmd)
    bad = run_playbook(str(playbook), inv, {"point": "2026-04-29T14:30:00Z", "fail_now": True}, timeout=120)
    assert_failed(bad, "failing as asked")
    assert ok.report(work_dir) is None
    report_dir = work_dir / "reports" / "run-1"
    report_dir.mkdir(parents=True)
    (report_dir / "report.json").write_text(json.dumps({"outcome": "succeeded"}))
    assert ok.report(work_dir) == {"outcome": "succeeded"}


def test_stop_and_start_server_keep_the_port(pg_cluster):
    # Runs last in this module: it takes the session cluster down and brings it back.
    pg_cluster_script.stop_server(pg_cluster)
    with pytest.raises(psycopg2.OperationalError):
        pg_cluster_script.connect(pg_cluster, "postgres")
    again = pg_cluster_script.start_server(pg_cluster)
    assert again["port"] == pg_cluster["port"]
    pg_cluster_script.connect(pg_cluster, "postgres").close()
