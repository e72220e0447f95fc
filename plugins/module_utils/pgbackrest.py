# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pgBackRest configuration and the server settings that make PostgreSQL archive into it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import hashlib
import re
import shlex


REPO_TYPES = ('posix', 's3')
S3_URI_STYLES = ('auto', 'host', 'path')


def s3_endpoint(endpoint_url, region):
    """(host, port or None) of the S3 endpoint pgBackRest talks to, from the dumps' endpoint URL.

    Empty is AWS's regional endpoint. pgBackRest speaks only HTTPS to S3: an http:// URL raises ValueError with
    the message for the operator.
    """
    endpoint_url = (endpoint_url or '').strip()
    if not endpoint_url:
        return 's3.%s.amazonaws.com' % region, None
    match = re.match(r'^(?:([A-Za-z][A-Za-z0-9+.-]*)://)?([^/:?#@\[\]]+)(?::(\d+))?/?$', endpoint_url)
    if not match:
        raise ValueError('db_restore_s3_endpoint_url %r is not an endpoint (https://host[:port]) that pgBackRest '
                         'can use for its S3 repository.' % endpoint_url)
    scheme, host, port = match.groups()
    if scheme and scheme.lower() != 'https':
        raise ValueError('pgBackRest speaks only HTTPS to S3, and db_restore_s3_endpoint_url is %s://: give the '
                         'store an https:// endpoint (TLS in front of it), or set '
                         'db_restore_pgbackrest_repo_type=posix.' % scheme)
    return host, (int(port) if port else None)


def render_config(stanza, data_dir, port, socket_dir, repo_path, retention_full, log_path, user, repo_type='posix',
                  s3=None, process_max=1):
    """The pgBackRest configuration file text for one stanza, its repository posix or S3.

    ``repo_path`` is the repository's directory, or its path in the bucket for S3. ``s3`` (repo_type s3): a dict
    with bucket, endpoint_url, region, access_key, secret_key (both empty: the instance's role,
    C(repo1-s3-key-type=auto)), ca_file, verify_tls and uri_style (auto: path with an endpoint of its own, host
    on AWS). The S3 keys are written into the text: the caller keeps the file 0640 and never shows it.

    Deterministic (sorted keys, no timestamp) so that comparing it with the file on disk says whether a write
    is needed.
    """
    if repo_type not in REPO_TYPES:
        raise ValueError('db_restore_pgbackrest_repo_type must be posix or s3, got %r.' % repo_type)
    global_opts = {
        'repo1-path': repo_path,
        'repo1-retention-full': str(retention_full),
        'log-path': log_path,
        'log-level-file': 'info',
        'start-fast': 'y',
    }
    if int(process_max or 1) > 1:
        global_opts['process-max'] = str(int(process_max))
    if repo_type == 's3':
        s3 = s3 or {}
        if not s3.get('bucket'):
            raise ValueError('db_restore_pgbackrest_repo_type is s3 but db_restore_s3_bucket is empty: set it to the '
                             'bucket of the dumps, which holds the repository under db_restore_pgbackrest_s3_path.')
        if not repo_path.startswith('/'):
            raise ValueError('db_restore_pgbackrest_s3_path must be an absolute path in the bucket (such as '
                             '/pgbackrest), got %r.' % repo_path)
        if bool(s3.get('access_key')) != bool(s3.get('secret_key')):
            raise ValueError('Set both db_restore_s3_access_key and db_restore_s3_secret_key, or neither (the '
                             "instance's role).")
        region = s3.get('region') or 'us-east-1'
        host, storage_port = s3_endpoint(s3.get('endpoint_url'), region)
        uri_style = s3.get('uri_style') or 'auto'
        if uri_style not in S3_URI_STYLES:
            raise ValueError('db_restore_pgbackrest_s3_uri_style must be auto, host or path, got %r.' % uri_style)
        if uri_style == 'auto':
            uri_style = 'path' if (s3.get('endpoint_url') or '').strip() else 'host'
        global_opts.update({
            'repo1-type': 's3',
            'repo1-s3-bucket': s3['bucket'],
            'repo1-s3-endpoint': host,
            'repo1-s3-region': region,
            'repo1-s3-uri-style': uri_style,
        })
        if s3.get('access_key'):
            global_opts['repo1-s3-key'] = s3['access_key']
            global_opts['repo1-s3-key-secret'] = s3['secret_key']
        else:
            global_opts['repo1-s3-key-type'] = 'auto'
        if storage_port:
            global_opts['repo1-storage-port'] = str(storage_port)
        if s3.get('ca_file'):
            global_opts['repo1-storage-ca-file'] = s3['ca_file']
        if not s3.get('verify_tls', True):
            global_opts['repo1-storage-verify-tls'] = 'n'
    stanza_opts = {'pg1-path': data_dir, 'pg1-port': str(port), 'pg1-user': user}
    if socket_dir:
        stanza_opts['pg1-socket-path'] = socket_dir
    lines = ['# Written by yieldvault.db_restore (wal_archive role); edits are overwritten.', '[global]']
    lines += ['%s=%s' % (k, global_opts[k]) for k in sorted(global_opts)]
    lines += ['', '[%s]' % stanza]
    lines += ['%s=%s' % (k, stanza_opts[k]) for k in sorted(stanza_opts)]
    return '\n'.join(lines) + '\n'


def scrub(text, secrets):
    """text with every non-empty secret replaced by ******** (pgBackRest's errors, before they are shown)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, '********')
    return text


def command(os_user, config, stanza, args, executable='pgbackrest'):
    """The argv of one pgBackRest command, run as the OS user that owns the repository (runuser, no shell):
    ``runuser -u <os_user> -- <executable> --config=<config> --stanza=<stanza> <args...>``. Every module that runs
    pgBackRest builds its command here."""
    return ['runuser', '-u', os_user, '--', executable, '--config=%s' % config, '--stanza=%s' % stanza] + list(args)


def archive_command(pgbackrest, config, stanza):
    """archive_command for PostgreSQL: pgBackRest pushes %p into the stanza's repository."""
    return '%s --config=%s --stanza=%s archive-push %%p' % (
        shlex.quote(pgbackrest), shlex.quote(config), shlex.quote(stanza))


def wanted_settings(pgbackrest, config, stanza, archive_timeout):
    """{setting: value} the server must have to archive into the stanza."""
    return {
        'archive_mode': 'on',
        'archive_command': archive_command(pgbackrest, config, stanza),
        'archive_timeout': '%ds' % int(archive_timeout),
    }


_SECONDS = {'ms': 0.001, 's': 1, 'min': 60, 'h': 3600, 'd': 86400}


def seconds(value, default_unit='s'):
    """Seconds of a time setting as PostgreSQL writes it: C(30), C(30s), C(1min) (the unit defaults to pg_settings')."""
    match = re.match(r'^\s*(\d+)\s*([a-z]*)\s*$', str(value))
    if not match or (match.group(2) or default_unit) not in _SECONDS:
        return None
    return int(match.group(1)) * _SECONDS[match.group(2) or default_unit]


def setting_differs(name, wanted, current_value, current_unit):
    """Whether the server's configured value (a file's string, or pg_settings' with its unit) differs from the wanted one."""
    if current_value is None:
        return True
    if name == 'archive_timeout':
        return seconds(current_value, current_unit or 's') != seconds(wanted)
    return current_value != wanted


_SEGMENT = re.compile(r'^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})(?:-[0-9a-f]{40})?(?:\.[a-z0-9]+)?$')
SEGMENTS_PER_XLOGID = 0x100  # 16 MB segments, PostgreSQL's default


def segment_number(name):
    """(timeline, sequence number) of an archived WAL segment file name, or None for other files (.history, .backup)."""
    match = _SEGMENT.match(name.rsplit('/', 1)[-1])
    if not match or name.endswith('.backup') or '.backup.' in name:
        return None
    timeline, log, seg = (int(group, 16) for group in match.groups())
    return timeline, log * SEGMENTS_PER_XLOGID + seg


def segment_name(timeline, number):
    return '%08X%08X%08X' % (timeline, number // SEGMENTS_PER_XLOGID, number % SEGMENTS_PER_XLOGID)


def archive_gaps(names, start, stop):
    """Missing segments between the segment names start and stop (inclusive), on start's timeline.

    Returns a list of {first_missing, last_missing}; names are the archive's file names (pgBackRest adds a
    checksum and a compression suffix, both ignored).
    """
    first, last = segment_number(start), segment_number(stop)
    if first is None or last is None:
        raise ValueError('not WAL segment names: %r, %r' % (start, stop))
    timeline = first[0]
    have = {n for t, n in filter(None, (segment_number(name) for name in names)) if t == timeline}
    gaps, run_start = [], None
    for number in range(first[1], last[1] + 1):
        if number not in have and run_start is None:
            run_start = number
        elif number in have and run_start is not None:
            gaps.append(dict(first_missing=segment_name(timeline, run_start),
                             last_missing=segment_name(timeline, number - 1)))
            run_start = None
    if run_start is not None:
        gaps.append(dict(first_missing=segment_name(timeline, run_start), last_missing=segment_name(timeline, last[1])))
    return gaps


def target_time(point):
    """recovery_target_time for pgBackRest's --target, UTC, with the fraction of a second when there is one (a
    point of 14:37:12.9 must not recover only to 14:37:12)."""
    if point.microsecond:
        return point.strftime('%Y-%m-%d %H:%M:%S.%f').rstrip('0') + '+00'
    return point.strftime('%Y-%m-%d %H:%M:%S+00')


def choose_backup(backups, point_epoch):
    """The newest backup that ended at or before the point (pgBackRest info's backup list), or None."""
    eligible = [b for b in backups if b['timestamp']['stop'] <= point_epoch]
    return max(eligible, key=lambda b: b['timestamp']['stop']) if eligible else None


def random_point_window(backups, now_epoch, window_days):
    """(low, high) epoch seconds a drill of the archive picks its point in: after the oldest base backup ended
    and within the last ``window_days``, up to five seconds ago; None when the window holds no such second."""
    if not backups:
        return None
    low = max(min(b['timestamp']['stop'] for b in backups) + 1, now_epoch - int(window_days) * 86400)
    # A few seconds back: the run's own lock and journal commits, made after the pick, are WAL records after the
    # point, so recovery finds its target (it refuses to end short of it).
    high = now_epoch - 5
    return (int(low), int(high)) if high >= low else None


def newest_segment_time(listing):
    """The modification time (epoch) of the newest archived WAL segment in a repo-ls --output=json listing."""
    times = [v.get('time') for k, v in (listing or {}).items()
             if isinstance(v, dict) and v.get('type') == 'file' and SEGMENT_FILE_RE.match(k.rsplit('/', 1)[-1])
             and isinstance(v.get('time'), (int, float))]
    return max(times) if times else None


SOURCES = ('auto', 'dump', 'wal')
SEGMENT_FILE_RE = re.compile(r'^[0-9A-F]{24}-')


def _minutes(value):
    return '%s min' % ('%g' % float(value))


def pitr_dirs(work_dir, database, scratch_base=''):
    """The scratch server's directory (under ``scratch_base``, where the PostgreSQL OS user can write) and the
    directory of the dump taken from it (under the work directory), for one database.

    Fixed per database (a hash: a database name may hold '/' or '..'), so that a run, holding the database's
    lock, finds and removes what a killed run of the same database left.
    """
    tag = hashlib.sha1(database.encode('utf-8')).hexdigest()[:12]
    base = work_dir.rstrip('/') + '/pitr'
    scratch_base = (scratch_base or base).rstrip('/')
    return dict(base=base, scratch_base=scratch_base, scratch=scratch_base + '/scratch-' + tag,
                dump=base + '/dump-' + tag)


def choose_source(requested, coverage, dump, database, explicit_backup=False, work_dir='', database_bytes=0,
                  rpo_minutes=0):
    """Which source a restore uses: the WAL archive or a dump (restore.yml -e source=auto|dump|wal).

    ``coverage`` is wal_archive_coverage's result (None, or skipped, when the archive was not consulted), ``dump``
    backup_catalog's (failed or not). Returns a dict: ``source`` ('wal', 'dump' or None when refused), ``refuse``
    (the refusal's message or None), ``lines`` (what the plan says of each source) and, for the WAL,
    ``selected``: the backup the restore will take - the dump of the recovered database, named after the point
    (``<database>_YYYYMMDD_HHMMSS.dump``), in the form backup_catalog returns, so that the download, the
    inspection, the verification and the report treat it as any dump.
    """
    requested = (requested or 'auto').strip().lower()
    out = dict(source=None, refuse=None, lines=[], selected=None)
    if requested not in SOURCES:
        out['refuse'] = "source must be auto, dump or wal, got %r. Nothing was changed." % requested
        return out
    if isinstance(coverage, dict) and 'covered' not in coverage and coverage.get('msg') and not coverage.get('skipped'):
        # The module failed (pgBackRest missing, a broken configuration): the archive cannot be used, the dumps can.
        coverage = dict(covered=False, configured=True, msg='The WAL archive could not be read: %s' % coverage['msg'])
    coverage = coverage if isinstance(coverage, dict) and 'covered' in coverage else None
    dump = dump if isinstance(dump, dict) else {}
    dump_ok = not dump.get('failed') and isinstance(dump.get('backup'), dict)
    if dump_ok:
        dump_line = 'Dump %s: data loss %s (RPO %s, %s).' % (
            dump['backup']['name'], _minutes(dump.get('gap_minutes', 0)), _minutes(dump.get('rpo_minutes', 0)),
            'met' if dump.get('rpo_met') else 'BREACHED')
    else:
        dump_line = 'Dumps: %s' % (dump.get('msg') or 'not listed.')
    if coverage is None:
        wal_line = 'WAL archive: not consulted%s.' % (
            ' (-e source=dump)' if requested == 'dump' else ' (-e backup names a dump)' if explicit_backup else '')
    elif coverage.get('covered'):
        wal_line = 'WAL archive: data loss 0 s to the point. %s' % coverage.get('msg', '')
    else:
        wal_line = 'WAL archive: %s' % coverage.get('msg', 'does not cover the point.')
    out['lines'] = [wal_line.strip(), dump_line]
    wal_usable = coverage is not None and bool(coverage.get('covered')) and bool(coverage.get('point'))
    if requested == 'wal' and not wal_usable:
        if explicit_backup:
            why = '-e backup names a dump, and the WAL archive restores to a point (-e point=...)'
        else:
            why = coverage.get('msg') if coverage is not None else 'the WAL archive was not consulted'
        why = re.sub(r'[;.]?\s*(Restoring from the archive is refused; )?nothing was changed\.?$', '', why,
                     flags=re.IGNORECASE)
        out['refuse'] = ('-e source=wal: %s. Restore from a dump with -e source=dump, or leave source out to let the '
                         'run choose. Nothing was changed.' % why.rstrip('. '))
        return out
    if wal_usable and requested in ('auto', 'wal'):
        point = coverage['point']
        when = datetime.datetime.strptime(point, '%Y-%m-%dT%H:%M:%SZ')
        name = '%s_%s.dump' % (database, when.strftime('%Y%m%d_%H%M%S'))
        location = pitr_dirs(work_dir, database)['dump'] + '/' + name
        out['source'] = 'wal'
        out['selected'] = dict(
            source='wal',
            backup=dict(name=name, timestamp=point, size=int(database_bytes or 0), location=location,
                        expected_md5=None, md5_source='sidecar', manifest=location + '.manifest.json', store='local'),
            wal_backup=coverage.get('backup'), archive_lag_seconds=coverage.get('archive_lag_seconds'),
            candidates=[], excluded=[], point=point,
            point_mode=coverage.get('point_mode', 'point'), gap_minutes=0, data_loss_seconds=0,
            rpo_minutes=int(rpo_minutes or 0), rpo_met=True,
            dump_alternative=dict(name=dump['backup']['name'], gap_minutes=dump.get('gap_minutes'))
            if dump_ok else None)
        return out
    if not dump_ok:
        out['refuse'] = '%s%s' % (dump.get('msg') or 'No dump could be chosen.',
                                  '' if coverage is None or not coverage.get('configured', True)
                                  else ' The WAL archive cannot be used either: %s' % coverage.get('msg', ''))
        return out
    out['source'] = 'dump'
    return out


BASE_BACKUP_TYPES = ('full', 'diff', 'incr')


def backup_labels(info):
    """The labels of the backups in one stanza's ``pgbackrest info --output=json`` entry, oldest first."""
    return [b['label'] for b in (info or {}).get('backup') or []]


def taken_backup(before, after):
    """The backup ``after`` holds that ``before`` did not (the one a backup run took), or None."""
    known = set(backup_labels(before))
    new = [b for b in (after or {}).get('backup') or [] if b['label'] not in known]
    return max(new, key=lambda b: b['timestamp']['stop']) if new else None


def expired_labels(before, after):
    """Labels of the backups a backup run expired (repo1-retention-full): in ``before``, gone from ``after``."""
    kept = set(backup_labels(after))
    return [label for label in backup_labels(before) if label not in kept]


def effective_type(requested, info):
    """The type pgBackRest takes for ``requested``: a diff or incr with no full backup to build on becomes full."""
    has_full = any(b.get('type') == 'full' for b in (info or {}).get('backup') or [])
    return requested if requested == 'full' or has_full else 'full'


def describe_backup(backup, requested):
    """A plain summary of one backup of ``pgbackrest info --output=json``: label, type, sizes, duration, WAL range."""
    info = backup.get('info') or {}
    repo = info.get('repository') or {}
    start, stop = backup['timestamp']['start'], backup['timestamp']['stop']
    archive = backup.get('archive') or {}
    return dict(label=backup['label'], type=backup['type'], requested_type=requested,
                promoted=backup['type'] != requested, prior=backup.get('prior'),
                size=info.get('size'), delta=info.get('delta'),
                repo_size=repo.get('size'), repo_delta=repo.get('delta'),
                start=start, stop=stop, duration_seconds=max(0, int(stop - start)),
                wal_start=archive.get('start'), wal_stop=archive.get('stop'))
