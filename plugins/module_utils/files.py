# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small files written whole: a reader sees the old file or the new one, never half of one."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile


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
