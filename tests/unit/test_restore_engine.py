# -*- coding: utf-8 -*-
"""The restore engine's decisions (module_utils/restore_engine): which attempts, what is out of memory, what the
report records, and the commands it runs or tells an operator to run."""
import shlex

import pytest

from ansible_collections.yieldvault.db_restore.plugins.module_utils.restore_engine import (
    attempt_record, error_lines, jobs_plan, manual_command, out_of_memory, pg_restore_argv, psql_argv, role_pgoptions,
    serial_index_builds, signal_line,
)


@pytest.mark.parametrize("jobs,plan", [(1, [1]), (2, [2, 1]), (3, [3, 1]), (4, [4, 2, 1]), (8, [8, 4, 2, 1]),
                                       (6, [6, 3, 1]), (0, [1]), (1000, [1000, 500, 250, 125, 62, 31, 15, 7, 1])])
def test_jobs_are_halved_down_to_one(jobs, plan):
    assert jobs_plan(jobs) == plan


@pytest.mark.parametrize("rc,lines", [
    (1, ["pg_restore: error: could not execute query: ERROR:  out of memory"]),
    (1, ["pg_restore: error: ... DETAIL:  Failed on request of size 8192. could not resize shared memory segment"]),
    (1, ["pg_restore: error: Cannot allocate memory"]),
    (137, []),
    (1, ["pg_restore: error: a worker process died unexpectedly"]),
    (1, ["pg_restore: error: connection to server was lost: server closed the connection unexpectedly"]),
    (1, ["WARNING:  terminating connection because of crash of another server process"]),
])
def test_out_of_memory_is_recognised(rc, lines):
    assert out_of_memory(rc, lines)


@pytest.mark.parametrize("rc,lines", [
    (0, ["out of memory"]),  # a restore that worked is never retried
    (1, ["pg_restore: error: could not read from input file: end of file"]),
    # A worker that stopped on an error of its own says why before the leader says it died: not memory.
    (1, ["pg_restore: error: could not execute query: ERROR:  relation \"x\" does not exist",
         "pg_restore: error: a worker process died unexpectedly"]),
    (143, ["pg_restore was ended by signal 15 (TERM) after 3 s"]),
    (1, ["pg_restore: error: input file does not appear to be a valid archive"]),
])
def test_other_failures_are_not_out_of_memory(rc, lines):
    assert not out_of_memory(rc, lines)


def test_signals_are_named_and_only_sigkill_blames_the_oom_killer():
    assert "signal 9 (KILL)" in signal_line(137, 12) and "out-of-memory killer" in signal_line(137, 12)
    assert signal_line(143, 3) == "pg_restore was ended by signal 15 (TERM) after 3 s"
    assert not out_of_memory(143, [signal_line(143, 3)])
    assert out_of_memory(137, [signal_line(137, 3)])
    assert signal_line(0, 1) is None and signal_line(1, 1) is None


def test_attempt_record_names_the_first_error_line():
    lines = ["pg_restore was killed by signal 9 (KILL) after 2 s: the out-of-memory killer", "pg_restore: error: x"]
    record = attempt_record(1, 4, 137, 2.04, lines)
    assert record == dict(attempt=1, jobs=4, rc=137, seconds=2.0, out_of_memory=True, error=lines[0])
    assert attempt_record(2, 1, 0, 1.0, [])["error"] is None
    assert attempt_record(2, 1, 3, 1.0, ["nothing useful"])["error"] == "exit code 3"


def test_error_lines_keep_the_last_twenty_that_say_what_went_wrong():
    text = "\n".join(["pg_restore: creating TABLE t%d" % i for i in range(5)]
                     + ["pg_restore: error: could not execute query %d" % i for i in range(30)])
    lines = error_lines(text)
    assert len(lines) == 20 and lines[-1].endswith("query 29") and not any("creating" in line for line in lines)


HOSTILE = ["app prod", "o'brien", 'a"b', "x=y", "50%", "{{ lookup('pipe','id') }}", "a\\b"]


@pytest.mark.parametrize("name", HOSTILE)
def test_commands_pass_hostile_names_as_one_argument(name):
    argv = pg_restore_argv("/usr/lib/pg/pg_restore", name, "/w/a b.dump", 2, role=name)
    assert argv[-1] == "/w/a b.dump" and "--jobs=2" in argv and "--role=%s" % name in argv
    # dbname is a conninfo string: the name survives quoting and is not read as keywords.
    dbname = [a for a in argv if a.startswith("--dbname=")][0][len("--dbname="):]
    assert dbname.startswith("dbname='") and "=" not in dbname.replace("dbname=", "", 1).replace(
        name.replace("\\", "\\\\").replace("'", "\\'"), "")
    assert psql_argv("psql", name, "/w/x.sql")[-1] == "--file=/w/x.sql"
    # The manual command an operator pastes: the shell gives back the same arguments.
    for fmt, path in (("custom", "/w/o'b.dump"), ("directory_tar", "/w/s a.dir.tar"), ("plain", "/w/p.sql"),
                      ("gzip", "/w/p.sql.gz")):
        words = shlex.split(manual_command(fmt, path, name, 3))
        assert any(w.startswith("--dbname=") and w == "--dbname=" + dbname for w in words), words


def test_manual_command_unpacks_a_packed_directory_first():
    cmd = manual_command("directory_tar", "/var/lib/db_restore/safety/app.dir.tar", "app", 4)
    assert cmd.startswith("tar -xf /var/lib/db_restore/safety/app.dir.tar -C /var/lib/db_restore/safety && ")
    assert cmd.endswith("--jobs=4 --dbname='dbname='\"'\"'app'\"'\"'' /var/lib/db_restore/safety/app")
    assert manual_command("plain", "/x.sql", "app", 4).startswith("psql -v ON_ERROR_STOP=1 -1 ")


def test_role_pgoptions_escape_white_space_and_backslashes():
    assert role_pgoptions("app owner") == "-c role=app\\ owner"
    assert role_pgoptions("a\\b") == "-c role=a\\\\b"


# Index builds: serial only when the attempt's jobs take every vCPU and the setting allows it. End to end (the
# setting reaches pg_restore's sessions on the server): test_download_faults.py, every vCPU, and the out-of-memory
# retry, whose last attempt runs fewer jobs than vCPUs.
@pytest.mark.parametrize("enabled,jobs,cpus,serial", [
    (True, 2, 2, True), (True, 4, 2, True), (True, 1, 2, False), (True, 3, 4, False),
    (False, 2, 2, False), (False, 8, 2, False),
    (True, 1, 1, True), (True, 1, 0, True), (True, 1, None, True),
])
def test_index_builds_are_serial_only_when_the_jobs_take_every_vcpu(enabled, jobs, cpus, serial):
    assert serial_index_builds(enabled, jobs, cpus) is serial


def test_an_out_of_memory_retry_with_fewer_jobs_than_vcpus_builds_indexes_in_parallel_again():
    assert [serial_index_builds(True, jobs, 4) for jobs in jobs_plan(8)] == [True, True, False, False]
