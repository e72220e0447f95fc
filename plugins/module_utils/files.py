# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small files written whole: a reader sees the old file or the new one, never half of one."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import shutil
import stat
import tempfile


def make_private_dirs(paths, check_mode=False, fix_mode=True):
    """Create each directory 0700, missing parents too (os.makedirs gives parents the umask's mode).

    An existing directory is given mode 0700 when fix_mode (a work directory of the run), left as it is otherwise.
    Returns the paths that did not exist; in check mode nothing is created or changed.
    """
    created = []
    for path in (os.path.abspath(p) for p in paths):
        if os.path.isdir(path):
            if fix_mode and not check_mode and stat.S_IMODE(os.stat(path).st_mode) != 0o700:
                os.chmod(path, 0o700)
            continue
        created.append(path)
        if check_mode:
            continue
        missing, current = [], path
        while not os.path.isdir(current) and os.path.dirname(current) != current:
            missing.append(current)
            current = os.path.dirname(current)
        for directory in reversed(missing):
            try:
                os.mkdir(directory, 0o700)
            except OSError as exc:
                # Created meanwhile by someone else is fine; a file (or a dangling symlink) in the way is not.
                if exc.errno != errno.EEXIST:
                    raise
                if not os.path.isdir(directory):
                    raise OSError(errno.ENOTDIR, 'it exists and is not a directory', directory) from exc
                continue
            os.chmod(directory, 0o700)  # whatever the umask took away
    return created


def write_atomic(path, data, mode=0o600, fsync=True):
    """Write data (text or bytes) to path through a fresh temporary file in the same directory and a rename.

    mkstemp makes the temporary file 0600 under a name nobody could have planted (no symlink can redirect the
    write); it gets mode just before the rename. On failure the temporary file is removed and the error raised.
    """
    fd, temp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)),
                                prefix='.%s.' % os.path.basename(path), suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb' if isinstance(data, bytes) else 'w') as handle:
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


def write_exclusive(path, data, mode=0o600):
    """Write data to path only when path does not exist, whole or not at all: a temporary file, then a hard link
    (which fails with FileExistsError when path exists - another writer claimed it); the temporary file is removed
    either way."""
    fd, temp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)),
                                prefix='.%s.' % os.path.basename(path), suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb' if isinstance(data, bytes) else 'w') as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.link(temp, path)
    finally:
        try:
            os.unlink(temp)
        except OSError:
            pass


def tree_bytes(path):
    """Bytes of the regular files under path (path itself when it is a file); links not followed."""
    if not os.path.isdir(path) or os.path.islink(path):
        return os.lstat(path).st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def remove_path(path):
    """Remove a file, a link (not what it points to) or a whole directory tree; OSError when that fails."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def stop_postmaster_in(path, wait_seconds=30):
    """Shut down (immediate) a PostgreSQL server running from ``path/data``, a leftover scratch server.

    Only a live process named postgres whose postmaster.pid names that very data directory is signalled. Returns
    the pid stopped, or None when there was none. A server still there after ``wait_seconds`` is left (its
    directory's removal then makes it shut itself down within a minute).
    """
    import signal
    import time
    data = os.path.join(path, 'data')
    try:
        with open(os.path.join(data, 'postmaster.pid')) as handle:
            lines = handle.read().splitlines()
        pid = int(lines[0])
        with open('/proc/%d/comm' % pid) as handle:
            comm = handle.read().strip()
    except (OSError, ValueError, IndexError):
        return None
    if comm not in ('postgres', 'postmaster') or len(lines) < 2 or \
            os.path.realpath(lines[1]) != os.path.realpath(data):
        return None
    try:
        os.kill(pid, signal.SIGQUIT)
    except OSError:
        return None
    deadline = time.time() + wait_seconds
    while time.time() < deadline and os.path.exists('/proc/%d' % pid):
        time.sleep(0.2)
    return pid
