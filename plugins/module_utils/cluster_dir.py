# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whole-cluster restore from the WAL archive: the journal of the data directory's moves and the checks before them.

A whole-cluster restore moves the stopped cluster's data directory aside (the safety copy: a rename on the same
filesystem, nothing is copied) and lets pgBackRest restore into an empty one. Each step is written to a journal
outside the data directory, fsync'd before the step runs, so a run killed at any step leaves a file that says
where the original is and how to put it back (docs/pitr.md).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import json
import os
import time

# The journal's states, in order. "done" is a finished restore (the original kept aside); every other state is a
# run that stopped half way, which the next restore refuses and rollback.yml -e pitr_scope=cluster undoes.
# "stopping" is written before PostgreSQL stops, "putting_back" before the original is renamed back.
STATES = ('stopping', 'moving', 'moved', 'restored', 'done', 'putting_back')
# Room the restored cluster needs beyond the backup's size: WAL replayed into pg_wal and the server's own files.
ROOM_MARGIN = 1.10
ROOM_FLOOR = 256 * 1024 * 1024


def journal_path(work_dir, stanza):
    return os.path.join(work_dir, 'cluster', '%s.journal.json' % stanza)


def aside_path(data_dir, run_id):
    """Where the original data directory goes: beside it, on the same filesystem, so the move is a rename."""
    return '%s.before-%s' % (data_dir.rstrip('/'), run_id)


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_journal(path, record, now=None):
    """Write the journal atomically and durably: a temporary file, fsync, rename, fsync of the directory. The record
    gets updated_at (epoch seconds): how long ago a run whose controller is on another host last made progress."""
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    tmp = path + '.tmp'
    with open(tmp, 'w') as handle:
        json.dump(dict(record, updated_at=time.time() if now is None else now), handle, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.rename(tmp, path)
    _fsync_dir(directory)


def read_journal(path):
    """The journal's record, or None when there is none. A journal that cannot be read raises ValueError."""
    if not os.path.exists(path):
        return None
    try:
        with open(path) as handle:
            record = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ValueError('The whole-cluster journal %s cannot be read (%s): look at it by hand before anything '
                         'else runs.' % (path, exc)) from exc
    if not isinstance(record, dict) or record.get('state') not in STATES:
        raise ValueError('The whole-cluster journal %s holds no state this collection writes: look at it by hand.'
                         % path)
    return record


def rename_durably(source, target):
    """rename(2), then fsync of the parent directory: the move survives a power cut once this returns."""
    os.rename(source, target)
    _fsync_dir(os.path.dirname(target.rstrip('/')) or '/')


def interrupted_message(record, journal):
    """What an unfinished journal means, in words for the operator (None for a finished one)."""
    if record is None or record.get('state') == 'done':
        return None
    where = {
        'stopping': 'was stopping PostgreSQL (nothing was moved yet)',
        'moving': 'was about to move the data directory aside (it may still be in place)',
        'moved': 'had moved the data directory aside and not yet restored the archive',
        'restored': 'had restored the archive into the data directory and not yet finished',
        'putting_back': 'was putting the original data directory back',
    }[record['state']]
    return ('An earlier whole-cluster restore (run %s, to %s) %s: the original data directory is kept at %s. Run '
            'playbooks/rollback.yml -e pitr_scope=cluster to put it back and start PostgreSQL on it (the journal is '
            '%s). Nothing was changed.' % (record.get('run_id'), record.get('point'), where, record.get('aside'),
                                           journal))


def lock_journal(journal, exclusive, wait=10.0):
    """flock the journal's lock file (<journal>.lock) for the rest of this process.

    Every module call of a whole-cluster run runs on the db host, whatever host its controller is on, so this is
    what keeps two runs apart, even from two controllers: a step that changes something (exclusive) holds it while it
    runs, waiting up to `wait` seconds for another step's short hold; a read (not exclusive) only looks and never
    creates the file. Returns (fd, busy); fd is None when nothing is held."""
    path = journal + '.lock'
    if exclusive:
        os.makedirs(os.path.dirname(journal), mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    else:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return None, False
            raise
    deadline = time.monotonic() + (wait if exclusive else 0)
    while True:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            if time.monotonic() >= deadline:
                os.close(fd)
                return None, True
            time.sleep(0.2)
            continue
        if exclusive:
            return fd, False
        os.close(fd)
        return None, False


def with_write_time(record, journal):
    """The record with updated_at, from the journal file's mtime when the record has none (written by an older
    collection, which may still be running from another controller). The db host's clock either way."""
    if not record or record.get('updated_at'):
        return record
    try:
        return dict(record, updated_at=os.stat(journal).st_mtime)
    except OSError:
        return record


def journal_age(record, now=None):
    """Seconds since the record's journal was last written (updated_at); a record without it is as old as can be."""
    try:
        updated = float(record.get('updated_at') or 0)
    except (TypeError, ValueError):
        updated = 0.0
    return max(0.0, (time.time() if now is None else now) - updated)


def run_status(record, busy, controller_alive, stale_minutes, now=None):
    """Whether the run a journal names may still be going:
    - 'none': no journal, or a finished restore whose play has ended (or runs on another host);
    - 'running': a step holds the journal's lock now, or its controller runs on this host (a finished restore's
      too: its play is still starting the services);
    - 'unknown': its controller is on another host, so this host cannot tell, and the journal was written less than
      stale_minutes ago (taken over only when the operator says the run is dead: db_restore_break_lock);
    - 'stopped': its controller is gone, or the journal is older than that.
    controller_alive: True, False, or None when this host cannot tell (run_holder.controller_running)."""
    if busy:
        return 'running'
    if not record:
        return 'none'
    if record.get('state') == 'done':
        # Finished moving, but its play may still be starting the services and running the smoke test.
        return 'running' if controller_alive is True else 'none'
    if controller_alive is True:
        return 'running'
    if controller_alive is False:
        return 'stopped'
    return 'unknown' if journal_age(record, now) < stale_minutes * 60 else 'stopped'


def unknown_message(record, journal, now=None):
    """A journal whose run this host cannot tell is over: its controller is on another host."""
    controller = record.get('controller') or {}
    age = int(journal_age(record, now) // 60)
    return ('A whole-cluster restore may still be running: run %s (to %s) is controlled from %s (ansible-playbook pid '
            '%s), which this host cannot look at, and its journal %s was written %s minute(s) ago (state %s). If '
            'that run is still going (its AWX job or terminal), wait for it to end. If it is dead, run again with '
            '-e db_restore_break_lock=true to take over. Nothing was changed.'
            % (record.get('run_id'), record.get('point'), controller.get('host') or 'an unknown host',
               controller.get('pid'), journal, age, record.get('state')))


def running_message(record, journal):
    """A journal whose run is still going (a step of it runs now, or its controller process runs on this host):
    never touched from outside."""
    if not record:
        return ('Another whole-cluster step holds the journal %s now (it is opening it): wait for that run to end. '
                'Nothing was changed.' % journal)
    controller = record.get('controller') or {}
    return ('A whole-cluster restore is running now (run %s, ansible-playbook pid %s on %s, journal state %s, %s): wait '
            'for it to end, and do not roll back or restore while it runs. Nothing was changed.'
            % (record.get('run_id'), controller.get('pid'), controller.get('host'), record.get('state'), journal))


def changed_since_plan(record, planned_run_id, journal):
    """rollback.yml read the journal (planned_run_id) before it stopped PostgreSQL; by the put back, another run may
    have taken it (db_restore_break_lock), or another rollback may have put the original back already. The refusal,
    or '' when the journal still names the planned run."""
    if record and record.get('run_id') == planned_run_id:
        return ''
    if record and record.get('state') != 'done':
        return ('The journal %s now names run %s (state %s); the rollback planned to put back what run %s moved aside. '
                'That run took the journal after the plan and may be writing the data directory: nothing was moved. '
                'Let that run end (or roll it back), then run rollback.yml -e pitr_scope=cluster again.'
                % (journal, record.get('run_id'), record.get('state'), planned_run_id))
    now = ('now names the finished restore %s' % record.get('run_id')) if record else 'is gone'
    return ('The journal %s %s; the rollback planned to put back what run %s moved aside. Another rollback put it back '
            'after the plan: nothing was moved here. Look at the data directory before you roll back further.'
            % (journal, now, planned_run_id))


def another_run_holds(record, status):
    """Whether the run the journal names may be writing the data directory now (a step going, a controller this host
    cannot look at, or a restore that has not finished): PostgreSQL must not be started under it."""
    return bool(record) and (status in ('running', 'unknown') or record.get('state') != 'done')


def put_back_plan(record, data_dir_exists, aside_exists):
    """What putting the original back has to do from the journal's record and what is on disk:
    (keep_current, rename_aside, error). keep_current: rename the current data directory to .restored-<run> first.

    The original is missing only when a rename back already happened (states stopping, moving before their rename,
    putting_back after its rename): then there is nothing to rename, only the journal to close.
    """
    if aside_exists:
        return data_dir_exists, True, None
    if record['state'] in ('stopping', 'moving', 'putting_back') and data_dir_exists:
        return False, False, None
    return False, False, ('the journal says the original data directory was moved to %s, and it is not there'
                          % record.get('aside'))


def layout_problems(data_dir):
    """Why the data directory cannot be restored whole by this collection (a list of sentences, empty when it can).

    Tablespaces and a pg_wal on another filesystem live outside the directory that is moved aside: a restore would
    write over them in place, with no copy to go back to.
    """
    problems = []
    if not os.path.isfile(os.path.join(data_dir, 'PG_VERSION')):
        return ['%s is not a PostgreSQL data directory (no PG_VERSION): set db_restore_pg_data_dir to the '
                "cluster's data directory." % data_dir]
    tablespaces = os.path.join(data_dir, 'pg_tblspc')
    if os.path.isdir(tablespaces) and os.listdir(tablespaces):
        problems.append('the cluster has tablespaces outside its data directory (%s): they cannot be moved aside with '
                        'it' % ', '.join(sorted(os.path.realpath(os.path.join(tablespaces, n))
                                                for n in os.listdir(tablespaces))))
    if os.path.islink(os.path.join(data_dir, 'pg_wal')):
        problems.append('pg_wal is a link to %s, outside the data directory: it cannot be moved aside with it'
                        % os.path.realpath(os.path.join(data_dir, 'pg_wal')))
    return problems


def room_needed(backup_bytes):
    """Bytes the restored cluster needs beside the original kept aside."""
    return max(int(int(backup_bytes) * ROOM_MARGIN), ROOM_FLOOR)


def free_bytes(path):
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def server_pid(data_dir):
    """The pid of a postmaster that runs on data_dir, or None (no postmaster.pid, or its process is gone)."""
    pid_file = os.path.join(data_dir, 'postmaster.pid')
    try:
        with open(pid_file) as handle:
            pid = int(handle.readline().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid
