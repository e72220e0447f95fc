"""One answer to "does the lock's holder still run?" for the lock file and the server's lock row."""
import os
import socket
import subprocess
import time

from ansible_collections.yieldvault.db_restore.plugins.module_utils import run_holder


def test_a_live_process_that_is_not_ansible_playbook_is_a_run_that_ended():
    proc = subprocess.Popen(["sleep", "30"])
    try:
        assert run_holder.process_running(proc.pid) is False
        assert run_holder.controller_running({"host": socket.gethostname(), "pid": proc.pid}) is False
    finally:
        proc.kill()
        proc.wait()


def test_a_pid_that_is_gone_has_ended_and_another_host_cannot_be_told():
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert run_holder.process_running(proc.pid) is False
    assert run_holder.controller_running({"host": "controller-9", "pid": os.getpid()}) is None
    assert run_holder.controller_running({"host": socket.gethostname()}) is None
    assert run_holder.controller_running({"host": socket.gethostname(), "pid": "x"}) is None
    assert run_holder.controller_running(None) is None


def test_an_ansible_playbook_process_is_running(tmp_path):
    # A process whose command line names ansible-playbook, as the controller's does.
    script = tmp_path / "ansible-playbook"
    script.write_text("#!/bin/sh\nsleep 30\nexit 0\n")
    script.chmod(0o755)
    proc = subprocess.Popen([str(script)])
    try:
        # until the shell has read its script's name into its command line
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and b"ansible-playbook" not in open("/proc/%d/cmdline" % proc.pid, "rb").read():
            time.sleep(0.05)
        assert run_holder.controller_running({"host": socket.gethostname(), "pid": proc.pid}) is True
    finally:
        proc.kill()
        proc.wait()
