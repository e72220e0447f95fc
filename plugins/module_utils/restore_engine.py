# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The restore engine's decisions, as pure functions: the jobs of each pg_restore attempt, what counts as out of
memory, what an attempt records, and the commands (pg_restore, psql, the one to finish a restore by hand).

pg_restore --jobs=N runs N workers, each with its own server backend building indexes with
maintenance_work_mem: a small host runs out of memory. The runbook's answer is to retry with half the jobs,
down to 1; any other failure is not retried.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import shlex

from ansible_collections.yieldvault.db_restore.plugins.module_utils.conninfo import dbname_conninfo

ARCHIVE_FORMATS = ('custom', 'tar', 'directory', 'directory_tar')
SQL_FORMATS = ('plain', 'gzip')

# The lines of a failed pg_restore or psql worth showing (the whole log stays on the host).
ERROR_LINE = re.compile(r'error:|ERROR:|FATAL:|could not|Killed|out of memory|Cannot allocate memory|'
                        r'died unexpectedly')
# Out of memory shows as the server's "out of memory" / "could not resize shared memory", the host's ENOMEM,
# pg_restore killed by the OOM killer (signal 9), or a server process killed by it (the server ends every
# connection).
OUT_OF_MEMORY = re.compile(r'out of memory|Cannot allocate memory|could not resize shared memory|signal 9|Killed|'
                           r'server closed the connection unexpectedly|crash of another server process', re.I)
WORKER_DIED = 'worker process died unexpectedly'
ERROR_WORDS = re.compile(r'error|fatal|killed|signal|memory', re.I)

SIGNAL_NAMES = {1: 'HUP', 2: 'INT', 3: 'QUIT', 6: 'ABRT', 9: 'KILL', 11: 'SEGV', 13: 'PIPE', 15: 'TERM'}


def jobs_plan(jobs):
    """The jobs of each attempt: ``jobs``, then halved while at least 2, then 1 (8 attempts at most)."""
    jobs = max(1, int(jobs))
    plan = [j for j in (jobs >> shift for shift in range(8)) if j >= 2]
    return plan + [1]


def serial_index_builds(enabled, jobs, cpu_count):
    """Whether an attempt's sessions build each index without parallel workers (max_parallel_maintenance_workers=0):
    when enabled and its jobs take every vCPU, since parallel index workers then only compete with the other jobs.
    An attempt retried with fewer jobs after running out of memory gets them back."""
    return bool(enabled) and int(jobs) >= max(1, int(cpu_count or 1))


def out_of_memory(rc, lines):
    """Whether a failed attempt ran out of memory, from its exit code and the error lines it printed.

    A pg_restore worker killed by the OOM killer makes the leader say only that a worker died; a worker that
    stopped on an error of its own (a corrupt archive, a failed statement) says why before that: not memory.
    """
    if rc == 0:
        return False
    if rc == 137:
        return True
    worker_died = any(WORKER_DIED in line for line in lines)
    other_errors = [line for line in lines if re.search(r'(?i)error:|fatal:', line) and WORKER_DIED not in line]
    if worker_died and not other_errors:
        return True
    return bool(OUT_OF_MEMORY.search('\n'.join(lines)))


def signal_line(rc, seconds, what='pg_restore'):
    """What a signal that ended the command says, or None: only SIGKILL names the out-of-memory killer."""
    if rc == 137:
        return ('%s was killed by signal 9 (KILL) after %d s: the out-of-memory killer (dmesg | grep -i oom) or an '
                'operator' % (what, seconds))
    if rc > 128:
        sig = rc - 128
        return '%s was ended by signal %d (%s) after %d s' % (what, sig, SIGNAL_NAMES.get(sig, '?'), seconds)
    return None


def error_lines(text, limit=20):
    """The last ``limit`` lines of a log that say what went wrong."""
    return [line for line in text.splitlines() if ERROR_LINE.search(line)][-limit:]


def attempt_record(number, jobs, rc, seconds, lines):
    """One attempt as report.json's restore.attempts lists it."""
    oom = out_of_memory(rc, lines)
    error = None
    if rc != 0:
        error = next((line for line in lines if ERROR_WORDS.search(line)), None) or 'exit code %d' % rc
    return dict(attempt=number, jobs=jobs, rc=rc, seconds=round(seconds, 1), out_of_memory=oom, error=error)


def pg_restore_argv(pg_restore, database, archive, jobs, role=''):
    """pg_restore into an emptied database: every object cleaned first, no owners or grants from the dump."""
    argv = [pg_restore, '--no-password', '--verbose', '--exit-on-error', '--clean', '--if-exists', '--no-owner',
            '--no-acl']
    if role:
        argv.append('--role=%s' % role)
    argv += ['--jobs=%d' % jobs, '--dbname=%s' % dbname_conninfo(database), archive]
    return argv


def psql_argv(psql, database, path=None):
    """psql for a plain dump: one transaction, stopped at the first error (a failure leaves the database empty)."""
    argv = [psql, '--no-psqlrc', '--no-password', '--quiet', '-v', 'ON_ERROR_STOP=1', '--single-transaction',
            '--dbname=%s' % dbname_conninfo(database)]
    if path:
        argv.append('--file=%s' % path)
    return argv


def role_pgoptions(role):
    """PGOPTIONS that make psql's session the owner's role: the server splits at white space, \\ escapes."""
    return '-c role=%s' % re.sub(r'([\\\s])', r'\\\1', role)


def manual_command(fmt, path, database, jobs, pg_restore='pg_restore', psql='psql'):
    """The command that restores ``path`` into ``database`` by hand, for a report whose rollback failed."""
    q = shlex.quote
    target = '--dbname=%s' % q(dbname_conninfo(database))
    if fmt in ARCHIVE_FORMATS:
        prefix = ''
        archive = path
        if fmt == 'directory_tar':
            archive = re.sub(r'\.dir\.tar$', '', path)
            prefix = 'tar -xf %s -C %s && ' % (q(path), q(path.rsplit('/', 1)[0] or '/'))
        return '%s%s --clean --if-exists --no-owner --no-acl --jobs=%d %s %s' % (
            prefix, q(pg_restore), max(1, int(jobs)), target, q(archive))
    if fmt == 'gzip':
        return 'gzip -dc %s | %s -v ON_ERROR_STOP=1 -1 %s' % (q(path), q(psql), target)
    return '%s -v ON_ERROR_STOP=1 -1 %s -f %s' % (q(psql), target, q(path))
