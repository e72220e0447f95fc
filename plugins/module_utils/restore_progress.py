# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How far a running pg_restore is, from its --verbose log: the lines it writes per item of the archive's
table of contents, against the number of items `pg_restore --list` shows."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# Serial (and the parallel restore's first pass): one line per item created, loaded or executed.
_SERIAL = re.compile(r'^pg_restore: (creating |processing data for table |executing )')
# Parallel: items by their dump id, processed before the workers start or finished by one.
_PARALLEL = re.compile(r'^pg_restore: (?:processing item|processing missed item|finished item) (\d+) ')


def toc_items(list_output):
    """Items of an archive's table of contents: the lines of `pg_restore --list` that are not comments."""
    return sum(1 for line in list_output.splitlines() if line.strip() and not line.lstrip().startswith(';'))


def items_done(lines):
    """Items a pg_restore --verbose log says are done (an estimate: some items print nothing)."""
    serial, parallel = 0, set()
    for line in lines:
        match = _PARALLEL.match(line)
        if match:
            parallel.add(match.group(1))
        elif _SERIAL.match(line):
            serial += 1
    # A parallel restore prints "processing item" for its first pass, a serial one "creating ...".
    return max(serial, len(parallel))


def human_seconds(seconds):
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return '%d s' % seconds
    if seconds < 3600:
        return '%d min' % int(round(seconds / 60.0))
    return '%d h %02d min' % (seconds // 3600, (seconds % 3600) // 60)


def progress(done, total, seconds, what='pg_restore'):
    """(done capped at total, percent or None, seconds left or None, the line for the console)."""
    if total and total > 0:
        done = min(done, total)
        percent = int(100 * done // total)
        left = (seconds * (total - done) / float(done)) if done > 0 and seconds > 0 else None
        line = '%s %d/%d items (%d%%), %s' % (what, done, total, percent, human_seconds(seconds))
        if left is not None and done < total:
            line += ', about %s left' % human_seconds(left)
        return done, percent, left, line
    return done, None, None, '%s %d items, %s' % (what, done, human_seconds(seconds))
