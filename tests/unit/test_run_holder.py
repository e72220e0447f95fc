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


def _ansible_playbook_process(tmp_path):
    """A live process whose command line names ansible-playbook, as a controller's does."""
    script = tmp_path / "ansible-playbook"
    script.write_text("#!/bin/sh\nsleep 30\nexit 0\n")
    script.chmod(0o755)
    proc = subprocess.Popen([str(script)])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and b"ansible-playbook" not in open("/proc/%d/cmdline" % proc.pid, "rb").read():
        time.sleep(0.05)
    return proc


def test_the_controller_s_identity_tells_a_reused_pid_a_reboot_and_a_container_apart(tmp_path):
    proc = _ansible_playbook_process(tmp_path)
    try:
        identity = run_holder.process_identity(proc.pid)
        assert set(identity) == {"started", "boot_id", "pid_ns"}, identity
        controller = dict(identity, host=socket.gethostname(), pid=proc.pid)
        assert run_holder.controller_running(controller) is True
        # The same pid, started at another time: another ansible-playbook took the dead run's pid.
        assert run_holder.controller_running(dict(controller, started=identity["started"] - 100)) is False
        # Recorded before a reboot: whatever runs under that pid now, the run is gone.
        assert run_holder.controller_running(dict(controller, boot_id="0d7c3a6e-reboot")) is False
        # A controller in another PID namespace (a container with the host's name): its pid means nothing here.
        assert run_holder.controller_running(dict(controller, pid_ns="pid:[1]")) is None
        # A start time that went through text on the way is the same start time.
        assert run_holder.controller_running(dict(controller, started=str(identity["started"]))) is True
        # A lock written by an older collection, without the identity: the pid alone, as before.
        assert run_holder.controller_running({"host": socket.gethostname(), "pid": proc.pid}) is True
    finally:
        proc.kill()
        proc.wait()
    assert run_holder.controller_running(controller) is False


def test_the_lookup_names_the_ansible_playbook_process_with_its_identity():
    from ansible_collections.yieldvault.db_restore.plugins.lookup.controller_process import controller_process
    found = controller_process()
    assert found["host"] == socket.gethostname() and found["pid"] == os.getpid()
    assert found["started"] == run_holder.start_ticks(os.getpid())
    assert found["pid_ns"] == os.readlink("/proc/self/ns/pid")
    assert found["boot_id"] == open("/proc/sys/kernel/random/boot_id").read().strip()
