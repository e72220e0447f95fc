#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: database_restore
short_description: Restore a dump into an empty database, retrying with fewer jobs when out of memory
version_added: 0.3.0
description:
  - The restore engine. An archive (custom, tar or directory format, or a directory-format dump packed in one tar
    file) goes through C(pg_restore --jobs); a plain SQL dump (or a gzipped one) through C(psql) in one transaction.
  - pg_restore runs with O(jobs) workers; an attempt that ran out of memory (the server's or the host's messages, the
    out-of-memory killer's SIGKILL of pg_restore or of one of its workers) is retried with half the jobs, down to 1,
    after the database is emptied (dropped and created again with O(recreate)). Any other failure is not retried.
  - A packed directory dump (O(format=directory_tar)) is checked against O(md5), unpacked into O(unpack_dir) and the
    unpacked copy removed at the end, whatever the outcome.
  - After a restore that worked, C(vacuumdb --analyze-only) updates the planner statistics (O(analyze)); its failure
    is reported in RV(analyze), never as the restore's.
  - Every attempt is logged in O(log) (mode 0600), the current one in O(log) with C(.attempt) added, which the
    restore_progress module reads. Run asynchronously with O(watch_limit), pg_restore is stopped when nobody has
    looked at its progress for that long (restore_progress rewrites the C(.watched) heartbeat at each look), so a run
    whose controller died leaves no pg_restore behind. The C(.done) marker is written last.
  - The restore itself fails only through RV(rc) (the task's C(failed) stays false), so that the attempts reach the
    report; the role stops the run with RV(msg).
  - Connection settings for C(pg_restore), C(psql) and C(vacuumdb) come from the environment (C(PGHOST),
    C(PGPASSFILE), ...); the login options are for emptying the database between attempts.
options:
  path:
    description: The dump file (or directory) to restore.
    type: path
    required: true
  format:
    description: The dump's format, as backup_checksum found it.
    type: str
    required: true
    choices: [custom, tar, directory, directory_tar, plain, gzip]
  md5:
    description: The MD5 the packed directory dump must still have (O(format=directory_tar)).
    type: str
    default: ''
  unpack_dir:
    description: Where a packed directory dump is unpacked for pg_restore; must not exist.
    type: path
  database:
    description: The database to restore into; empty, created by the caller.
    type: str
    required: true
  jobs:
    description: pg_restore jobs of the first attempt (1 for formats that cannot run in parallel).
    type: int
    default: 1
  cpu_count:
    description: vCPUs of the host. When an attempt's jobs take them all, index builds run without parallel workers.
    type: int
    default: 1
  serial_index_builds:
    description: Allow C(max_parallel_maintenance_workers=0) for pg_restore's sessions when the jobs take every vCPU.
    type: bool
    default: true
  role:
    description: Restore as this role (C(pg_restore --role), C(psql) with C(SET ROLE)); empty for the login user.
    type: str
    default: ''
  analyze:
    description: Run C(vacuumdb --analyze-only) after a restore that worked.
    type: bool
    default: true
  analyze_jobs:
    description: vacuumdb jobs.
    type: int
    default: 1
  analyze_timeout:
    description: Seconds after which vacuumdb is stopped (the data is restored; only statistics are missing).
    type: int
    default: 1800
  log:
    description: The restore's log on the host.
    type: path
    required: true
  watch_limit:
    description: Seconds without a look at the progress (the C(.watched) heartbeat) after which pg_restore is stopped; 0 never.
    type: int
    default: 0
  pg_restore:
    description: The pg_restore binary.
    type: str
    default: pg_restore
  psql:
    description: The psql binary.
    type: str
    default: psql
  vacuumdb:
    description: The vacuumdb binary.
    type: str
    default: vacuumdb
  recreate:
    description:
      - How to empty the database before a retry, as the database_recreate module takes it (O(recreate.name) is
        O(database)). Without it, an attempt that ran out of memory is not retried.
    type: dict
    suboptions:
      name:
        description: Ignored; the database is O(database).
        type: str
      owner:
        description: The new database's owner.
        type: str
        required: true
      encoding:
        description: Its encoding.
        type: str
        default: UTF8
      lc_collate:
        description: Its LC_COLLATE; empty for the server's.
        type: str
        default: ''
      lc_ctype:
        description: Its LC_CTYPE; empty for the server's.
        type: str
        default: ''
      connection_limit_zero:
        description: Create it with CONNECTION LIMIT 0 (the services are stopped).
        type: bool
        default: false
      create_owner:
        description: Create the owner role when it is missing.
        type: bool
        default: false
      owner_login:
        description: A created owner role can log in.
        type: bool
        default: false
      made_kind:
        description: C(staging) or C(drill) for a database the collection makes (dropped only when marked as such); empty for production.
        type: str
        default: ''
        choices: ['', staging, drill]
      production:
        description: The production database the run is for (the lock's and the marks' name).
        type: str
        default: ''
      run_id:
        description: The run, for the marks and the journal.
        type: str
        default: ''
      safety:
        description: The safety backup's file name, for the journal.
        type: str
        default: ''
      server_lock_held:
        description: The run holds the server lock, so marks and the journal are written.
        type: bool
        default: false
      setting:
        description: The setting that names a staging or drill database, for a refusal's message.
        type: str
        default: ''
extends_documentation_fragment:
  - yieldvault.db_restore.postgres
author:
  - YieldVault platform team
'''

EXAMPLES = r'''
- name: Restore the backup with up to 4 jobs
  yieldvault.db_restore.database_restore:
    path: /var/lib/db_restore/app_prod_20260429_1400.dump
    format: custom
    database: app_prod
    jobs: 4
    log: /var/lib/db_restore/logs/restore.log
    recreate:
      name: app_prod
      owner: app
  environment:
    PGHOST: /var/run/postgresql
  register: restored
'''

RETURN = r'''
rc:
  description: The last attempt's exit code (0 when the restore worked).
  returned: always
  type: int
tries:
  description:
    - Every pg_restore attempt, C({attempt, jobs, rc, seconds, out_of_memory, error}); empty for a SQL dump.
    - Not C(attempts), which Ansible sets on a task with C(until).
  returned: always
  type: list
  elements: dict
jobs:
  description: The jobs of the last attempt.
  returned: always
  type: int
errors:
  description: The last attempt's error lines (its signal first, when one ended it).
  returned: always
  type: list
  elements: str
analyze:
  description: C({rc, errors}) of vacuumdb, or null when it did not run.
  returned: always
  type: dict
msg:
  description: What happened, for the console.
  returned: always
  type: str
'''

import json
import os
import shutil
import signal
import subprocess
import threading
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.parameters import remove_values
from ansible_collections.yieldvault.db_restore.plugins.module_utils import ddl, restore_engine as engine
from ansible_collections.yieldvault.db_restore.plugins.module_utils.checksum import hash_stream, normalize_md5
from ansible_collections.yieldvault.db_restore.plugins.module_utils.conninfo import dbname_conninfo
from ansible_collections.yieldvault.db_restore.plugins.module_utils.dumpfile import unpack_directory
from ansible_collections.yieldvault.db_restore.plugins.module_utils.files import write_atomic
from ansible_collections.yieldvault.db_restore.plugins.module_utils.restore_progress import toc_items
from ansible_collections.yieldvault.db_restore.plugins.module_utils.pg import (
    connect, pg_error_text, postgres_argument_spec, psycopg2,
)


class Watchdog(threading.Thread):
    """Stops the running command's process group when the heartbeat file is older than ``limit`` seconds."""

    def __init__(self, heartbeat, limit, log):
        super(Watchdog, self).__init__()
        self.daemon = True
        self.heartbeat, self.limit, self.log = heartbeat, limit, log
        self.proc = None
        self.stopped = threading.Event()
        self.fired = False

    def run(self):
        launched = time.time()
        while not self.stopped.wait(1.0):
            try:
                watched = os.stat(self.heartbeat).st_mtime
            except OSError:
                watched = launched
            proc = self.proc
            if proc is not None and proc.poll() is None and time.time() - watched > self.limit:
                self.fired = True
                with open(self.log, 'a') as handle:
                    handle.write('pg_restore: nobody watched this restore for %d s (the controller is gone): stopped\n'
                                 % self.limit)
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except OSError:
                    pass
                return


def run_logged(argv, log, env, watchdog=None, stdin=None):
    """Run ``argv`` in its own process group, its output into ``log``; (exit code, seconds)."""
    started = time.time()
    with open(log, 'w') as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=stdin, env=env,
                                preexec_fn=os.setsid)
        if watchdog is not None:
            watchdog.proc = proc
        rc = proc.wait()
    if rc < 0:
        rc = 128 - rc  # as a shell says it: 137 for SIGKILL
    return rc, time.time() - started


def write_done(path, outcome, no_log_values=()):
    """The marker that ends restore_progress's loop, with the module's result in it (masked as exit_json masks
    it), so restore_progress returns it and no async_status call is needed. Empty when the module is failing
    (outcome None) or the result cannot be written (a full disk): async_status then collects the job's result.
    Never raises: without a marker the loop would wait for the whole async limit."""
    if outcome is not None:
        try:
            write_atomic(path, json.dumps(remove_values(outcome, set(no_log_values or ()))))
            return
        except (OSError, TypeError, ValueError):
            pass
    try:
        append(path, '')
    except OSError:
        pass


def append(path, text):
    with open(path, 'a') as handle:
        handle.write(text)


class Restore(object):
    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.log = self.p['log']
        self.attempt_log = self.log + '.attempt'
        self.watchdog = None
        self.warnings = []

    def env(self, serial_index_builds=False, role_pgoptions=None):
        env = dict(os.environ)
        extra = []
        if serial_index_builds:
            extra.append('-c max_parallel_maintenance_workers=0')
        if role_pgoptions:
            extra.append(role_pgoptions)
        if extra:
            env['PGOPTIONS'] = ' '.join(([env['PGOPTIONS']] if env.get('PGOPTIONS') else []) + extra)
        return env

    def start_watchdog(self):
        if self.p['watch_limit'] > 0:
            heartbeat = self.attempt_log + '.watched'
            if not os.path.exists(heartbeat):
                append(heartbeat, '%.3f\n' % time.time())  # the start, for restore_progress's seconds
            self.watchdog = Watchdog(heartbeat, max(10, self.p['watch_limit']), self.attempt_log)
            self.watchdog.start()

    def archive(self):
        """pg_restore attempts, halving the jobs after each that ran out of memory."""
        p = self.p
        path = p['path']
        if p['format'] == 'directory_tar':
            path = self.unpack()
        if p['watch_limit'] > 0:
            self.count_toc(path)
        plan = engine.jobs_plan(p['jobs'])
        attempts, errors, rc = [], [], 1
        for index, jobs in enumerate(plan):
            serial = engine.serial_index_builds(p['serial_index_builds'], jobs, p['cpu_count'])
            argv = engine.pg_restore_argv(p['pg_restore'], p['database'], path, jobs, p['role'])
            rc, seconds = run_logged(argv, self.attempt_log, self.env(serial_index_builds=serial), self.watchdog)
            with open(self.attempt_log, errors='replace') as handle:
                text = handle.read()
            header = '=== attempt %d: pg_restore --jobs=%d, exit code %d%s ===\n' % (
                index + 1, jobs, rc, ' (max_parallel_maintenance_workers=0: the jobs take every vCPU)' if serial else '')
            with open(self.log, 'w' if index == 0 else 'a') as handle:
                handle.write(header + text)
            errors = []
            sig = engine.signal_line(rc, seconds)
            if sig:
                append(self.log, sig + '\n')
                errors.append(sig)
            if rc != 0:
                errors += engine.error_lines(text)
            attempt = engine.attempt_record(index + 1, jobs, rc, seconds, errors)
            attempts.append(attempt)
            if not attempt['out_of_memory'] or index + 1 == len(plan) or not p['recreate'] \
                    or (self.watchdog is not None and self.watchdog.fired):
                return rc, jobs, attempts, errors
            self.warn('pg_restore ran out of memory with %d jobs; %s is emptied and restored again with %d.'
                      % (jobs, p['database'], plan[index + 1]))
            self.recreate()
        return rc, plan[-1], attempts, errors

    def count_toc(self, path):
        """The items of the archive's table of contents into <log>.attempt.total, for restore_progress's
        percentage (no total, no percentage: a list that fails only costs the estimate)."""
        try:
            listing = subprocess.run([self.p['pg_restore'], '--list', path], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=self.env(), timeout=300)
        except (OSError, subprocess.TimeoutExpired):
            return
        if listing.returncode == 0:
            try:
                with open(self.attempt_log + '.total', 'w') as handle:
                    handle.write('%d\n' % toc_items(listing.stdout.decode('utf-8', 'replace')))
            except OSError:
                pass

    def unpack(self):
        p = self.p
        if not p['unpack_dir']:
            self.module.fail_json(msg='format directory_tar needs unpack_dir: where to unpack it for pg_restore.')
        with open(p['path'], 'rb') as handle:
            md5 = hash_stream(handle, sha256=False)['md5']
        if normalize_md5(p['md5']) != md5:
            self.module.fail_json(msg='The packed dump %s has MD5 %s, not %s as when it was verified: it changed since. '
                                      'Nothing was restored.' % (p['path'], md5, p['md5']), rc=1, tries=[])
        try:
            parent = os.path.dirname(p['unpack_dir'].rstrip('/'))
            if parent and not os.path.isdir(parent):
                os.makedirs(parent, 0o700)
            unpack_directory(p['path'], p['unpack_dir'])
        except OSError as exc:
            self.module.fail_json(msg='Could not unpack %s into %s for pg_restore: %s. It needs as much free space as '
                                      'the file. Nothing was restored.' % (p['path'], p['unpack_dir'], exc),
                                  rc=1, tries=[])
        return p['unpack_dir']

    def plain(self):
        """psql in one transaction: a failure leaves the database empty rather than half restored."""
        p = self.p
        gz = p['format'] == 'gzip'
        argv = engine.psql_argv(p['psql'], p['database'], None if gz else p['path'])
        env = self.env(role_pgoptions=engine.role_pgoptions(p['role']) if p['role'] else None)
        started = time.time()
        with open(self.log, 'w') as out:
            if gz:
                unzip = subprocess.Popen(['gzip', '-dc', p['path']], stdout=subprocess.PIPE)
                proc = subprocess.Popen(argv, stdin=unzip.stdout, stdout=out, stderr=subprocess.STDOUT, env=env)
                unzip.stdout.close()
                rc = proc.wait()
                zrc = unzip.wait()
                rc = rc or zrc  # pipefail
            else:
                rc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env).wait()
        if rc < 0:
            rc = 128 - rc
        errors = []
        sig = engine.signal_line(rc, time.time() - started, 'psql')
        if sig:
            errors.append(sig)
        if rc != 0:
            with open(self.log, errors='replace') as handle:
                errors += engine.error_lines(handle.read())
        return rc, 1, [], errors

    def recreate(self):
        spec = dict(self.p['recreate'], name=self.p['database'])
        conn = connect(self.module, 'postgres', autocommit=True)
        try:
            ddl.recreate(conn.cursor(), spec)
        except ddl.Refused as exc:
            self.module.fail_json(msg=str(exc))
        except psycopg2.Error as exc:
            self.module.fail_json(msg='Could not empty %s before the next pg_restore attempt: %s.'
                                      % (self.p['database'], pg_error_text(exc)))
        finally:
            conn.close()

    def analyze(self):
        p = self.p
        argv = [p['vacuumdb'], '--analyze-only', '--no-password', '--jobs=%d' % max(1, p['analyze_jobs']),
                '--dbname=%s' % dbname_conninfo(p['database'])]
        analyze_log = self.log + '.analyze'
        with open(analyze_log, 'w') as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=self.env(), preexec_fn=os.setsid)
            try:
                rc = proc.wait(timeout=p['analyze_timeout'])
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    rc = proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    rc = proc.wait()
        if rc < 0:
            rc = 128 - rc
        with open(analyze_log, errors='replace') as handle:
            text = handle.read()
        os.unlink(analyze_log)
        append(self.log, '=== vacuumdb --analyze-only --jobs=%d: exit code %d ===\n%s'
               % (max(1, p['analyze_jobs']), rc, text))
        return dict(rc=rc, errors=text.splitlines()[-5:] if rc != 0 else [])

    def warn(self, text):
        self.warnings.append(text)
        self.module.warn(text)
        append(self.log, text + '\n')

    def run(self):
        p = self.p
        os.umask(0o077)
        result = dict(changed=True, analyze=None)
        outcome = None
        self.start_watchdog()
        try:
            if p['format'] in engine.SQL_FORMATS:
                rc, jobs, attempts, errors = self.plain()
            else:
                rc, jobs, attempts, errors = self.archive()
            result.update(rc=rc, jobs=jobs, tries=attempts, errors=errors)
            if rc == 0 and p['analyze']:
                result['analyze'] = self.analyze()
            if rc == 0:
                result['msg'] = 'Restored %s (%s) into %s with %d job(s); log %s.' % (
                    os.path.basename(p['path']), p['format'], p['database'], jobs, self.log)
            else:
                result['msg'] = ('Restoring %s into %s failed (exit code %d). Errors from the log: %s Full log: %s.'
                                 % (os.path.basename(p['path']), p['database'], rc, ' | '.join(errors), self.log))
            outcome = dict(result, warnings=list(self.warnings))
        finally:
            if self.watchdog is not None:
                self.watchdog.stopped.set()
            for leftover in (self.attempt_log,):
                if os.path.exists(leftover):
                    os.unlink(leftover)
            if p['format'] == 'directory_tar' and p['unpack_dir']:
                shutil.rmtree(p['unpack_dir'], ignore_errors=True)
            if p['watch_limit'] > 0:
                write_done(self.attempt_log + '.done', outcome, self.module.no_log_values)
        return result


def main():
    argument_spec = postgres_argument_spec()
    argument_spec.update(
        path=dict(type='path', required=True),
        format=dict(type='str', required=True, choices=list(engine.ARCHIVE_FORMATS + engine.SQL_FORMATS)),
        md5=dict(type='str', default=''),
        unpack_dir=dict(type='path'),
        database=dict(type='str', required=True),
        jobs=dict(type='int', default=1),
        cpu_count=dict(type='int', default=1),
        serial_index_builds=dict(type='bool', default=True),
        role=dict(type='str', default=''),
        analyze=dict(type='bool', default=True),
        analyze_jobs=dict(type='int', default=1),
        analyze_timeout=dict(type='int', default=1800),
        log=dict(type='path', required=True),
        watch_limit=dict(type='int', default=0),
        pg_restore=dict(type='str', default='pg_restore'),
        psql=dict(type='str', default='psql'),
        vacuumdb=dict(type='str', default='vacuumdb'),
        recreate=dict(type='dict', options=dict(ddl.RECREATE_SPEC, name=dict(type='str'))),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=False)
    module.exit_json(**Restore(module).run())


if __name__ == '__main__':
    main()
