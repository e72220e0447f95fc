# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
import datetime
import errno
import json
import os
import stat

import pytest

from ansible_collections.yieldvault.db_restore.plugins.modules import restore_lock as lock

NOW = datetime.datetime(2026, 4, 29, 14, 30, tzinfo=datetime.timezone.utc)


def take(path, run_id, now=NOW, owner=None):
    record = lock.lock_record(run_id, owner or {'user': 'alice', 'incident': 'INC-1234'}, now, pid=42, host='db1')
    lock.create_lock(str(path), record)
    return record


def test_acquire_creates_private_file_with_record(tmp_path):
    path = tmp_path / 'locks' / 'yieldvault_prod.lock'
    record = take(path, 'run-1')
    assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(str(path.parent)).st_mode) == 0o700
    assert json.loads(path.read_text()) == record
    assert record['acquired_at'] == '2026-04-29T14:30:00Z'


def test_acquire_twice_same_run_is_ours(tmp_path):
    path = tmp_path / 'db.lock'
    take(path, 'run-1')
    with pytest.raises(OSError) as exc:
        take(path, 'run-1')
    assert exc.value.errno == errno.EEXIST
    holder, mtime = lock.read_lock(str(path))
    assert lock.assess(holder, mtime, 'run-1', NOW, 240)['status'] == 'ours'


def test_other_run_holds_it(tmp_path):
    path = tmp_path / 'db.lock'
    take(path, 'run-1')
    holder, mtime = lock.read_lock(str(path))
    state = lock.assess(holder, mtime, 'run-2', NOW + datetime.timedelta(minutes=12), 240)
    assert state == dict(status='other', age_minutes=12.0, stale=False, holder_running=None)
    message = lock.held_message(str(path), holder, state, 240)
    assert 'is held by run run-1 (incident=INC-1234, user=alice, host=db1, pid=42, acquired 2026-04-29T14:30:00Z, ' \
           '12.0 min ago)' in message
    assert 'rm %s' % path in message and 'db_restore_break_lock=true' in message
    assert message.endswith('Nothing was changed.')
    assert 'stale' not in message


def test_stale_lock_is_reported_not_broken(tmp_path):
    path = tmp_path / 'db.lock'
    take(path, 'run-1')
    holder, mtime = lock.read_lock(str(path))
    state = lock.assess(holder, mtime, 'run-2', NOW + datetime.timedelta(hours=5), 240)
    assert state['status'] == 'other' and state['stale'] is True and state['age_minutes'] == 300.0
    assert 'looks stale' in lock.held_message(str(path), holder, state, 240)
    assert path.exists()


def test_corrupt_lock_counts_as_held(tmp_path):
    path = tmp_path / 'db.lock'
    path.write_text('{"run_id": ')
    holder, mtime = lock.read_lock(str(path))
    assert holder['corrupt'] is True and 'JSON' in holder['error']
    state = lock.assess(holder, mtime, 'run-1', NOW, 240)
    assert state['status'] == 'corrupt'
    assert 'treated as held' in lock.held_message(str(path), holder, state, 240)
    path.write_text('[]')
    holder, mtime = lock.read_lock(str(path))
    assert holder['corrupt'] is True


def test_missing_lock_is_free(tmp_path):
    holder, mtime = lock.read_lock(str(tmp_path / 'none.lock'))
    assert holder is None and mtime is None
    assert lock.assess(holder, mtime, 'run-1', NOW, 240) == dict(status='free', age_minutes=None, stale=False,
                                                                holder_running=None)


def ended_pid():
    import subprocess
    proc = subprocess.Popen(['true'])
    proc.wait()
    return proc.pid


def test_holder_whose_controller_ended_is_named_as_ended(tmp_path):
    """Ctrl-C leaves the lock (Ansible runs no always section): the next run on that host says the run ended."""
    import socket
    path = tmp_path / 'db.lock'
    pid = ended_pid()
    record = lock.lock_record('run-1', {'user': 'alice'}, NOW, pid=42, host='db1',
                              controller={'host': socket.gethostname(), 'pid': pid})
    lock.create_lock(str(path), record)
    holder, mtime = lock.read_lock(str(path))
    state = lock.assess(holder, mtime, 'run-2', NOW + datetime.timedelta(minutes=3), 240)
    assert state['status'] == 'other' and state['holder_running'] is False and state['stale'] is False
    message = lock.held_message(str(path), holder, state, 240)
    assert 'ansible-playbook pid %d on %s' % (pid, socket.gethostname()) in message
    assert 'That run has ended' in message and 'db_restore_break_lock=true' in message
    assert 'may be running' not in message and 'pid=42' not in message


def test_holder_whose_controller_runs_is_named_as_running(tmp_path):
    import socket
    path = tmp_path / 'db.lock'
    # This test's own process is a python running under pytest, not ansible: a reused pid means ended...
    record = lock.lock_record('run-1', {}, NOW, controller={'host': socket.gethostname(), 'pid': os.getpid()})
    lock.create_lock(str(path), record)
    holder, mtime = lock.read_lock(str(path))
    assert lock.holder_running(holder) is ('ansible-playbook' in open('/proc/self/cmdline').read())
    # ...and a controller on another host cannot be checked from here: only the age speaks.
    assert lock.holder_running(dict(holder, controller={'host': 'controller-9', 'pid': os.getpid()})) is None
    assert lock.holder_running(dict(holder, controller=None)) is None
    state = dict(status='other', age_minutes=600.0, stale=True, holder_running=True)
    message = lock.held_message(str(path), holder, state, 240)
    assert 'still going' in message and 'looks stale' not in message


# The whole module (run_main, tests/unit/conftest.py), for the decisions that are not in a single helper.


def test_module_release_by_other_run_leaves_lock(tmp_path, run_main):
    path = tmp_path / 'db.lock'
    take(path, 'run-1')
    result = run_main(lock.main, path=str(path), run_id='run-2', state='absent')
    assert result['rc'] == 0 and result['changed'] is False and result['released'] is False
    assert path.exists()
    # ansible-core 2.19 returns warnings as structured events, older cores as strings.
    assert 'does not hold it' in json.dumps(result.get('warnings', []))
    forced = run_main(lock.main, path=str(path), run_id='run-2', state='absent', force=True)
    assert forced['changed'] is True and forced['released'] is True
    assert not path.exists()


def test_module_acquire_then_other_run_fails(tmp_path, run_main):
    path = tmp_path / 'db.lock'
    first = run_main(lock.main, path=str(path), run_id='run-1', owner={'user': 'alice'})
    assert first['changed'] is True and first['acquired'] is True
    again = run_main(lock.main, path=str(path), run_id='run-1')
    assert again['changed'] is False and again['acquired'] is True
    other = run_main(lock.main, path=str(path), run_id='run-2')
    assert other['rc'] == 1 and other['failed'] is True
    assert other['holder']['run_id'] == 'run-1' and other['stale'] is False
    assert 'held by run run-1 (user=alice' in other['msg']


def test_module_stale_lock_of_a_dead_run_is_reported_not_taken_over(tmp_path, run_main):
    """A lock of a dead run (its pid gone on this host, 300 min old, no controller recorded) taken as restore.yml
    takes it (stale_minutes, controller, binaries): refused with the holder, its pid, 'stale' and how to break it,
    and the lock is left exactly as it was - never taken over silently. (Was an integration run of test_faults.py;
    the playbook's refusal by a held lock end to end: test_faults.py::test_second_concurrent_run_is_refused_with_the_lock_holder.)"""
    import socket
    import subprocess
    proc = subprocess.Popen(['true'])
    proc.wait()
    acquired = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=300)
    holder = {'run_id': 'restore-yv-20260101T000000Z', 'owner': {'user': 'bob', 'incident': 'INC-7'},
              'pid': proc.pid, 'host': socket.gethostname(), 'acquired_at': acquired.strftime('%Y-%m-%dT%H:%M:%SZ')}
    path = tmp_path / 'locks' / 'yv.lock'
    path.parent.mkdir()
    path.write_text(json.dumps(holder))
    before = path.read_text()
    work = tmp_path / 'work'
    result = run_main(lock.main, path=str(path), run_id='restore-yv-20260102T000000Z-00ff', stale_minutes=240,
                      owner={'user': 'alice'}, controller={'pid': os.getpid(), 'host': socket.gethostname()},
                      binaries=['sh'], directories=[str(work)], private_file=str(tmp_path / '.pgpass-yv'),
                      private_content='*:*:*:u:p\n')
    assert result['rc'] == 1 and result['failed'] is True
    assert result['stale'] is True and result['holder'] == holder
    msg = result['msg']
    assert 'held by run %s' % holder['run_id'] in msg and 'user=bob' in msg and 'pid=%d' % proc.pid in msg, msg
    assert 'looks stale' in msg and 'db_restore_break_lock=true' in msg and msg.endswith('Nothing was changed.'), msg
    assert path.read_text() == before, "the stale lock was taken over"
    assert not work.exists() and not (tmp_path / '.pgpass-yv').exists(), "the refused run changed something"


def test_module_check_mode_writes_nothing(tmp_path, run_main):
    path = tmp_path / 'sub' / 'db.lock'
    result = run_main(lock.main, path=str(path), run_id='run-1', _ansible_check_mode=True)
    assert result['changed'] is True and result['acquired'] is False
    assert not path.parent.exists()
    take(path, 'run-1')
    other = run_main(lock.main, path=str(path), run_id='run-2', _ansible_check_mode=True)
    assert other['rc'] == 1
    release = run_main(lock.main, path=str(path), run_id='run-1', state='absent', _ansible_check_mode=True)
    assert release['changed'] is True and release['released'] is True and path.exists()


def test_module_private_file_belongs_to_the_holder(tmp_path, run_main):
    path = tmp_path / 'locks' / 'db.lock'
    secret = tmp_path / 'work' / '.pgpass-db'
    first = run_main(lock.main, path=str(path), run_id='run-1', private_file=str(secret),
                       private_content='*:*:*:admin:s3cr:t\n', free_space_path=str(tmp_path / 'work' / 'not' / 'yet'))
    assert first['acquired'] is True and first['private_file_changed'] is True
    assert secret.read_text() == '*:*:*:admin:s3cr:t\n'
    assert stat.S_IMODE(os.stat(str(secret)).st_mode) == 0o600
    assert 's3cr:t' not in json.dumps(first), "the private content came back in the result"
    assert first['free_bytes'] > 0
    # A second run is refused and neither writes nor removes the holder's file.
    other = run_main(lock.main, path=str(path), run_id='run-2', private_file=str(secret), private_content='other\n')
    assert other['rc'] == 1 and secret.read_text() == '*:*:*:admin:s3cr:t\n'
    release_other = run_main(lock.main, path=str(path), run_id='run-2', state='absent', private_file=str(secret))
    assert release_other['released'] is False and secret.exists() and path.exists()
    # The holder's release removes the file, then the lock.
    release = run_main(lock.main, path=str(path), run_id='run-1', state='absent', private_file=str(secret))
    assert release['released'] is True and release['private_file_changed'] is True
    assert not secret.exists() and not path.exists()


def test_module_private_file_that_cannot_be_written_gives_the_lock_back(tmp_path, run_main):
    path = tmp_path / 'db.lock'
    blocker = tmp_path / 'file'
    blocker.write_text('not a directory')
    result = run_main(lock.main, path=str(path), run_id='run-1', private_file=str(blocker / '.pgpass-db'),
                        private_content='*:*:*:admin:pw\n')
    assert result['rc'] == 1 and 'Nothing was changed' in result['msg'] and 'released again' in result['msg']
    assert not path.exists(), "a lock taken by a run that cannot go on was left behind"


def test_module_release_of_a_lock_removed_by_hand_still_removes_the_private_file(tmp_path, run_main):
    path = tmp_path / 'db.lock'
    secret = tmp_path / '.pgpass-db'
    run_main(lock.main, path=str(path), run_id='run-1', private_file=str(secret), private_content='*:*:*:a:b\n')
    path.unlink()  # rm by hand, as the lock's message suggests
    release = run_main(lock.main, path=str(path), run_id='run-1', state='absent', private_file=str(secret))
    assert release['rc'] == 0 and release['private_file_changed'] is True and not secret.exists()
    assert [p.name for p in tmp_path.iterdir()] == []


def test_module_missing_binary_is_refused_before_the_lock(tmp_path, run_main):
    path = tmp_path / 'locks' / 'db.lock'
    tool = tmp_path / 'bin' / 'pg_restore'
    result = run_main(lock.main, path=str(path), run_id='run-1', binaries=[str(tool), 'sh'],
                      binaries_hint='Install postgresql-client-15.', directories=[str(tmp_path / 'work')])
    assert result['rc'] == 1
    assert str(tool) in result['msg'] and 'Install postgresql-client-15. Nothing was changed.' in result['msg']
    assert 'sh,' not in result['msg']
    assert not path.exists() and not (tmp_path / 'work').exists()
    tool.parent.mkdir()
    tool.write_text('#!/bin/sh\n')
    tool.chmod(0o644)  # not executable: still missing
    assert run_main(lock.main, path=str(path), run_id='run-1', binaries=[str(tool)])['rc'] == 1
    tool.chmod(0o755)
    found = run_main(lock.main, path=str(path), run_id='run-1', binaries=[str(tool), 'sh'])
    assert found['acquired'] is True
    assert found['binaries_found'][str(tool)] == str(tool) and found['binaries_found']['sh'].endswith('/sh')


def test_module_breaking_a_lock_with_a_binary_missing_leaves_the_lock(tmp_path, run_main):
    path = tmp_path / 'locks' / 'db.lock'
    take(path, 'run-other')
    before = path.read_text()
    result = run_main(lock.main, path=str(path), run_id='run-1', state='absent', force=True,
                      binaries=[str(tmp_path / 'nowhere' / 'pg_restore')])
    assert result['rc'] == 1 and 'Nothing was changed.' in result['msg']
    assert result['released'] is False and path.read_text() == before


def test_module_empty_run_id_returns_every_documented_key(tmp_path, run_main):
    result = run_main(lock.main, path=str(tmp_path / 'db.lock'), run_id='  ')
    assert result['rc'] == 1 and 'run_id must not be empty' in result['msg']
    for key in ('acquired', 'released', 'holder', 'cpu_count', 'binaries_found', 'directories_created', 'leftovers_removed'):
        assert key in result, key


def test_module_creates_private_work_directories_once_the_lock_is_ours(tmp_path, run_main):
    path = tmp_path / 'work' / 'locks' / 'db.lock'
    work = tmp_path / 'work'
    dirs = [str(work), str(work / 'restore'), str(work / 'reports' / 'run-1')]
    checked = run_main(lock.main, path=str(path), run_id='run-1', directories=dirs, _ansible_check_mode=True)
    assert checked['directories_created'] == dirs and not work.exists()
    assert checked['cpu_count'] == len(os.sched_getaffinity(0))
    (work / 'restore').mkdir(parents=True, mode=0o755)
    os.chmod(str(work / 'restore'), 0o755)
    first = run_main(lock.main, path=str(path), run_id='run-1', directories=dirs)
    assert first['acquired'] is True and first['changed'] is True
    assert first['directories_created'] == [str(work / 'reports' / 'run-1')]
    for d in dirs + [str(work / 'reports')]:
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700, d
    # another run is refused before it creates anything
    other = run_main(lock.main, path=str(path), run_id='run-2', directories=[str(work / 'reports' / 'run-2')])
    assert other['rc'] == 1 and not (work / 'reports' / 'run-2').exists()


def test_module_work_directory_that_cannot_be_created_gives_the_lock_back(tmp_path, run_main):
    path = tmp_path / 'db.lock'
    blocker = tmp_path / 'file'
    blocker.write_text('not a directory')
    result = run_main(lock.main, path=str(path), run_id='run-1', directories=[str(blocker / 'work')])
    assert result['rc'] == 1 and str(blocker) in result['msg'] and 'released again' in result['msg']
    assert 'not a directory' in result['msg']
    assert not path.exists()
    assert stat.S_IMODE(blocker.stat().st_mode) != 0o700 or os.geteuid() == 0, "the file in the way was chmod-ed"
    before = stat.S_IMODE(blocker.stat().st_mode)
    assert run_main(lock.main, path=str(path), run_id='run-1', directories=[str(blocker)])['rc'] == 1
    assert stat.S_IMODE(blocker.stat().st_mode) == before, "a file given as a directory was chmod-ed"


UNPACKED_PATTERN = r'(restore|rollback)-yv-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{4}'
SAFETY_PATTERN = r'yv_safety_[0-9]{8}_[0-9]{6}[.](dump|sql|dir[.]tar)[.](d[.])?part'


def _leftover_tree(work):
    """What killed runs of yv leave, beside names that are not theirs to remove."""
    unpacked, safety = work / 'unpacked', work / 'safety'
    (unpacked / 'restore-yv-20260101T000000Z-1a2b' / 'yv_safety_20260101_000000').mkdir(parents=True)
    (unpacked / 'restore-yv-20260101T000000Z-1a2b' / 'yv_safety_20260101_000000' / 'toc.dat').write_bytes(b'x' * 1000)
    (unpacked / 'restore-yv-20260101T000000Z-1a2b' / 'yv_safety_20260101_000000' / '3001.dat.gz').write_bytes(b'y' * 24)
    (safety / 'yv_safety_20260102_030405.dir.tar.d.part').mkdir(parents=True)
    (safety / 'yv_safety_20260102_030405.dir.tar.d.part' / 'toc.dat').write_bytes(b'z' * 10)
    (safety / 'yv_safety_20260102_030405.dump.part').write_bytes(b'p' * 7)
    keep = [unpacked / 'restore-yv_2-20260101T000000Z-1a2b',   # another database's run
            unpacked / 'drill-yv-20260101T000000Z-1a2b',       # a drill holds its scratch database's lock
            unpacked / 'restore-yv-20260101T000000Z-1a2b.note',
            safety / 'yv_safety_20260102_030405.dump',         # a finished safety backup
            safety / 'yv_safety_20260102_030405.dump.md5',
            safety / 'xyv_safety_20260102_030405.dump.part']
    for path in keep:
        if path.suffix in ('.note', '.dump', '.md5', '.part'):
            path.write_text('keep')
        else:
            path.mkdir()
    removed = [(str(safety / 'yv_safety_20260102_030405.dir.tar.d.part'), 10),
               (str(safety / 'yv_safety_20260102_030405.dump.part'), 7),
               (str(unpacked / 'restore-yv-20260101T000000Z-1a2b'), 1024)]
    return [dict(path=str(unpacked), pattern=UNPACKED_PATTERN), dict(path=str(safety), pattern=SAFETY_PATTERN)], \
        keep, removed


def test_module_removes_what_a_killed_run_left_once_the_lock_is_ours(tmp_path, run_main, monkeypatch):
    work = tmp_path / 'work'
    leftovers, keep, removed = _leftover_tree(work)
    path = work / 'locks' / 'yv.lock'
    checked = run_main(lock.main, path=str(path), run_id='restore-yv-20260201T000000Z-0001', leftovers=leftovers,
                       _ansible_check_mode=True)
    assert sorted((d['path'], d['bytes']) for d in checked['leftovers_removed']) == sorted(removed)
    assert all(os.path.exists(p) for p, _ in removed), "check mode removed something"
    # The disk check must see the space the removal gave back: each measurement records which leftovers were
    # still there and returns its own number, so the test knows which one was reported (comparing real free
    # space before and after is flaky on a disk other processes write to).
    measured_with = []

    def fake_free_bytes(_path):
        measured_with.append([q for q, _ in removed if os.path.exists(q)])
        return 1000 + len(measured_with)

    monkeypatch.setattr(lock, 'free_bytes', fake_free_bytes)
    take(path, 'restore-yv-20260101T000000Z-1a2b')   # a run that still holds the lock: nothing of it is touched
    other = run_main(lock.main, path=str(path), run_id='restore-yv-20260201T000000Z-0001', leftovers=leftovers)
    assert other['rc'] == 1 and other['leftovers_removed'] == []
    assert all(os.path.exists(p) for p, _ in removed), "a run refused by the lock removed another run's files"
    path.unlink()
    result = run_main(lock.main, path=str(path), run_id='restore-yv-20260201T000000Z-0001', leftovers=leftovers,
                      free_space_path=str(work))
    assert result['acquired'] is True and result['changed'] is True
    assert sorted((d['path'], d['bytes']) for d in result['leftovers_removed']) == sorted(removed)
    assert not any(os.path.exists(p) for p, _ in removed)
    assert all(p.exists() for p in keep), [str(p) for p in keep if not p.exists()]
    # Measured first (a path that cannot be measured is refused before any change), then again after the
    # removal, and the second one is reported.
    assert measured_with == [[p for p, _ in removed], []], measured_with
    assert result['free_bytes'] == 1002, "the free disk reported was measured before the leftovers were removed"
    again = run_main(lock.main, path=str(path), run_id='restore-yv-20260201T000000Z-0001', leftovers=leftovers)
    assert again['leftovers_removed'] == [] and again['changed'] is False


def test_module_leftovers_in_missing_directories_are_nothing(tmp_path, run_main):
    result = run_main(lock.main, path=str(tmp_path / 'db.lock'), run_id='run-1',
                      leftovers=[dict(path=str(tmp_path / 'nowhere'), pattern='.*')])
    assert result['acquired'] is True and result['leftovers_removed'] == []


@pytest.mark.parametrize('entry,message', [
    (dict(path='/tmp'), 'takes a path and a pattern'),
    (dict(pattern='x'), 'takes a path and a pattern'),
    (dict(path='/tmp', pattern='x', glob='*'), 'takes a path and a pattern'),
    (dict(path='/tmp', pattern='('), 'is not a regular expression'),
])
def test_module_bad_leftovers_entry_is_refused_before_the_lock(tmp_path, run_main, entry, message):
    path = tmp_path / 'db.lock'
    result = run_main(lock.main, path=str(path), run_id='run-1', leftovers=[entry])
    assert result['rc'] == 1 and message in result['msg'] and result['msg'].endswith('Nothing was changed.')
    assert not path.exists()



def test_the_lock_keeps_what_tells_its_controller_apart_from_a_reused_pid(tmp_path):
    import socket
    path = tmp_path / 'db.lock'
    identity = {'started': 12345, 'boot_id': 'b0', 'pid_ns': 'pid:[4026531836]'}
    record = lock.lock_record('run-1', {}, NOW, controller=dict(identity, host=socket.gethostname(), pid=77))
    lock.create_lock(str(path), record)
    holder, _ = lock.read_lock(str(path))
    assert holder['controller'] == dict(identity, host=socket.gethostname(), pid=77)
