# -*- coding: utf-8 -*-
"""The source of a restore to a point: the WAL archive or a dump (restore.yml -e source=auto|dump|wal)."""

from ansible_collections.yieldvault.db_restore.plugins.module_utils.pgbackrest import choose_source

POINT = '2026-04-29T14:37:12Z'
COVERED = {'covered': True, 'data_loss_seconds': 0, 'gaps': [], 'point': POINT, 'point_mode': 'point',
           'backup': {'label': '20260429-120000F'},
           'msg': 'The WAL archive covers 2026-04-29T14:37:12Z from base backup X (ended ...): data loss 0 s to the point.'}
GAP = {'covered': False, 'point': POINT, 'point_mode': 'point', 'data_loss_seconds': None, 'gaps': [{'first_missing': 'A', 'last_missing': 'A'}],
       'msg': 'The WAL archive has a gap after base backup X: segment A missing, so recovery would stop before '
              '2026-04-29T14:37:12Z. Restoring from the archive is refused; nothing was changed.'}
DUMP = {'backup': {'name': 'app_20260429_1400.dump'}, 'gap_minutes': 37.2, 'rpo_minutes': 15, 'rpo_met': False,
        'point_mode': 'point'}
NO_DUMP = {'failed': True, 'msg': 'No backup of app at or before 2026-04-29T14:37:12Z.'}


def test_auto_uses_the_archive_when_it_covers_the_point_and_names_both_losses():
    choice = choose_source('auto', COVERED, DUMP, 'app', work_dir='/w/', database_bytes=1000, rpo_minutes=15)
    assert choice['source'] == 'wal' and choice['refuse'] is None
    selected = choice['selected']
    assert selected['backup']['name'] == 'app_20260429_143712.dump'
    assert selected['backup']['location'].startswith('/w/pitr/dump-') and selected['backup']['location'].endswith(
        '/app_20260429_143712.dump')
    assert selected['gap_minutes'] == 0 and selected['rpo_met'] is True and selected['point'] == POINT
    assert selected['dump_alternative'] == {'name': 'app_20260429_1400.dump', 'gap_minutes': 37.2}
    assert choice['lines'][0].startswith('WAL archive: data loss 0 s')
    assert 'app_20260429_1400.dump: data loss 37.2 min' in choice['lines'][1] and 'BREACHED' in choice['lines'][1]


def test_auto_uses_the_archive_even_when_no_dump_covers_the_point():
    assert choose_source('auto', COVERED, NO_DUMP, 'app')['source'] == 'wal'


def test_auto_falls_back_to_the_dump_when_the_archive_has_a_gap():
    choice = choose_source('auto', GAP, DUMP, 'app')
    assert choice['source'] == 'dump' and choice['refuse'] is None
    assert 'gap' in choice['lines'][0]


def test_auto_refuses_when_neither_covers_and_says_both_reasons():
    choice = choose_source('auto', GAP, NO_DUMP, 'app')
    assert choice['source'] is None
    assert 'No backup of app' in choice['refuse'] and 'segment A missing' in choice['refuse']


def test_forced_wal_is_refused_with_the_archive_reason_and_what_to_pass():
    choice = choose_source('wal', GAP, DUMP, 'app')
    assert choice['source'] is None
    assert 'segment A missing' in choice['refuse'] and '-e source=dump' in choice['refuse']
    assert choice['refuse'].count('othing was changed') == 1, choice['refuse']


def test_forced_wal_with_an_explicit_backup_is_refused():
    choice = choose_source('wal', None, DUMP, 'app', explicit_backup=True)
    assert choice['source'] is None and '-e backup' in choice['refuse']


def test_forced_dump_never_uses_the_archive():
    choice = choose_source('dump', None, DUMP, 'app')
    assert choice['source'] == 'dump' and 'not consulted (-e source=dump)' in choice['lines'][0]


def test_no_archive_configured_keeps_todays_dump_behaviour():
    choice = choose_source('auto', None, DUMP, 'app')
    assert choice['source'] == 'dump'
    refused = choose_source('auto', None, NO_DUMP, 'app')
    assert refused['refuse'] == NO_DUMP['msg']


def test_unknown_source_is_refused():
    assert 'auto, dump or wal' in choose_source('tape', None, DUMP, 'app')['refuse']


def test_wal_dirs_are_fixed_per_database_and_safe_for_any_name():
    from ansible_collections.yieldvault.db_restore.plugins.module_utils.pgbackrest import pitr_dirs
    hostile = pitr_dirs('/w', '../../etc x"\'%{{ y }}')
    assert hostile['scratch'].startswith('/w/pitr/scratch-') and '/' not in hostile['scratch'][len('/w/pitr/'):]
    assert pitr_dirs('/w', 'a') == pitr_dirs('/w/', 'a') and pitr_dirs('/w', 'a') != pitr_dirs('/w', 'b')


def test_a_point_the_archive_reports_without_point_is_not_used():
    assert choose_source('auto', dict(COVERED, point=''), DUMP, 'app')['source'] == 'dump'


def test_an_archive_that_cannot_be_read_leaves_the_dumps_usable():
    broken = {'failed': False, 'msg': 'pgbackrest info failed (exit 41): permission denied'}
    choice = choose_source('auto', broken, DUMP, 'app')
    assert choice['source'] == 'dump' and 'could not be read' in choice['lines'][0]
    forced = choose_source('wal', broken, DUMP, 'app')
    assert forced['source'] is None and 'permission denied' in forced['refuse']


def test_a_drill_of_the_archive_picks_its_second_after_the_oldest_base_backup_and_in_the_window():
    from ansible_collections.yieldvault.db_restore.plugins.module_utils.pgbackrest import random_point_window
    backups = [{'timestamp': {'start': 900, 'stop': 1000}}, {'timestamp': {'start': 5000, 'stop': 5100}}]
    assert random_point_window(backups, 10_000, 7) == (1001, 9995)
    assert random_point_window(backups, 10 * 86400, 1) == (9 * 86400, 10 * 86400 - 5)
    assert random_point_window(backups, 1030, 7) == (1001, 1025), "a backup half a minute old can be drilled"
    assert random_point_window(backups, 1004, 7) is None
    assert random_point_window([], 10_000, 7) is None


def test_archive_lag_is_the_newest_segment_not_a_history_or_backup_file():
    from ansible_collections.yieldvault.db_restore.plugins.module_utils.pgbackrest import newest_segment_time
    listing = {'0000000100000000': {'type': 'path'},
               '0000000100000000/000000010000000000000003-aa.gz': {'type': 'file', 'time': 100},
               '0000000100000000/000000010000000000000004-bb.gz': {'type': 'file', 'time': 160},
               '0000000100000000/000000010000000000000004.00000028.backup': {'type': 'file', 'time': 999},
               '00000002.history': {'type': 'file', 'time': 999}}
    assert newest_segment_time(listing) == 160
    assert newest_segment_time({}) is None


def test_a_refused_dump_is_never_used_even_when_it_names_a_backup():
    """backup_catalog fails an RPO breach with the backup it found in the result: that is a refusal, not a choice."""
    breach = dict(DUMP, failed=True, msg='The selected backup app_20260429_1400.dump is 37 minutes older than the '
                                         'point, more than the RPO of 15 minutes.')
    not_configured = {'covered': False, 'configured': False, 'point': POINT, 'point_mode': 'point',
                      'msg': 'No WAL archive is configured on this host.'}
    choice = choose_source('auto', not_configured, breach, 'app')
    assert choice['source'] is None and choice['refuse'] == breach['msg']
    gap = choose_source('auto', GAP, breach, 'app')
    assert gap['source'] is None and 'RPO' in gap['refuse'] and 'segment A missing' in gap['refuse']
