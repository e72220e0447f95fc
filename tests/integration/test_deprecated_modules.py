"""backup_inspect and restore_objects: no role calls them any more (backup_checksum's inspect and restore_checks'
objects_from run the same code). Deprecated for 1.0.0, they still work and say what to use instead."""
import os
import subprocess

from dbutil import PG_BIN_DIR, drop_database, run_playbook

import pg_cluster as pg_cluster_script

PLAY = """
- hosts: db_servers
  gather_facts: false
  tasks:
    - name: Inspect the dump
      yieldvault.db_restore.backup_inspect:
        path: "{{ dump }}"
        pg_restore: "{{ bin }}/pg_restore"
      register: inspected
    - name: Check its objects in a database that lost one
      yieldvault.db_restore.restore_objects:
        database: "{{ db }}"
        path: "{{ dump }}"
        pg_restore: "{{ bin }}/pg_restore"
        login_host: "{{ host }}"
        login_port: "{{ port }}"
        login_user: "{{ user }}"
        login_password: "{{ password }}"
      register: objects
    - name: Show the results
      ansible.builtin.debug:
        msg: "format={{ inspected.format }} passed={{ objects.passed }}
              missing={{ objects.missing | map(attribute='name') | join(',') }}"
"""


def test_the_deprecated_modules_still_work_and_warn(tmp_path, pg_cluster):
    db = "yv_dep_%s" % os.urandom(2).hex()
    conn = pg_cluster_script.connect(pg_cluster, "postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute('CREATE DATABASE "%s"' % db)
    conn.close()
    try:
        conn = pg_cluster_script.connect(pg_cluster, db)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE kept (id int PRIMARY KEY); CREATE INDEX lost_idx ON kept ((id + 1))")
        dump = tmp_path / "dep.dump"
        env = dict(os.environ, PGPASSWORD=pg_cluster_script.password(pg_cluster))
        subprocess.run([os.path.join(PG_BIN_DIR, "pg_dump"), "-Fc", "-h", pg_cluster["host"], "-p",
                        str(pg_cluster["port"]), "-U", pg_cluster["user"], "-f", str(dump), db], check=True, env=env)
        with conn.cursor() as cur:
            cur.execute("DROP INDEX lost_idx")
        conn.close()
        playbook = tmp_path / "deprecated.yml"
        playbook.write_text(PLAY)
        result = run_playbook(str(playbook), {}, {
            "dump": str(dump), "bin": PG_BIN_DIR, "db": db, "host": pg_cluster["host"], "port": pg_cluster["port"],
            "user": pg_cluster["user"], "password": pg_cluster_script.password(pg_cluster)}, tmp_dir=tmp_path / "run")
        result.assert_ok()
        said = " ".join(result.output.split())
        assert "format=custom passed=False missing=lost_idx" in said, result.describe()
        assert "backup_inspect has been deprecated" in said and "backup_checksum with inspect=true" in said, said
        assert "restore_objects has been deprecated" in said and "restore_checks with objects_from" in said, said
    finally:
        drop_database(pg_cluster, db)
