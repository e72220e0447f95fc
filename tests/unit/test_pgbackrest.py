# -*- coding: utf-8 -*-
import shlex

import pytest

from ansible_collections.yieldvault.db_restore.plugins.module_utils.pgbackrest import (
    archive_command, render_config, seconds, setting_differs, wanted_settings,
)


def test_config_names_the_cluster_and_the_repository():
    text = render_config('main', '/srv/pg/data', 5433, '/srv/pg/run', '/srv/repo', 2, '/var/log/pgbackrest', 'postgres')
    lines = text.splitlines()
    assert '[global]' in lines and '[main]' in lines
    assert lines.index('[global]') < lines.index('repo1-path=/srv/repo') < lines.index('[main]')
    assert lines.index('[main]') < lines.index('pg1-path=/srv/pg/data')
    assert 'pg1-port=5433' in lines and 'pg1-socket-path=/srv/pg/run' in lines and 'repo1-retention-full=2' in lines
    # Rendering twice gives the same text: the module compares it with the file to stay idempotent.
    assert text == render_config('main', '/srv/pg/data', 5433, '/srv/pg/run', '/srv/repo', 2, '/var/log/pgbackrest',
                                 'postgres')


def test_config_without_socket_dir_leaves_pgbackrest_default():
    assert 'pg1-socket-path' not in render_config('main', '/d', 5432, '', '/r', 1, '/l', 'postgres')


def test_archive_command_quotes_paths_for_the_shell():
    command = archive_command('/usr/bin/pgbackrest', '/etc/pg backrest/x.conf', 'main')
    argv = shlex.split(command)
    assert argv == ['/usr/bin/pgbackrest', '--config=/etc/pg backrest/x.conf', '--stanza=main', 'archive-push', '%p']


def test_wanted_settings():
    wanted = wanted_settings('/usr/bin/pgbackrest', '/etc/pgbackrest/pgbackrest.conf', 'main', 60)
    assert wanted['archive_mode'] == 'on' and wanted['archive_timeout'] == '60s'
    assert wanted['archive_command'].endswith('archive-push %p')


@pytest.mark.parametrize('value, unit, expected', [
    ('30', 's', 30), ('30s', 's', 30), ('1min', 's', 60), ('2', 'min', 120), ('0', 's', 0), ('x', 's', None),
])
def test_seconds(value, unit, expected):
    assert seconds(value, unit) == expected


@pytest.mark.parametrize('name, wanted, current, unit, differs', [
    ('archive_timeout', '60s', '60', 's', False),
    ('archive_timeout', '60s', '1min', None, False),
    ('archive_timeout', '60s', '30s', None, True),
    ('archive_mode', 'on', 'off', None, True),
    ('archive_mode', 'on', 'on', None, False),
    ('archive_command', 'a', None, None, True),
])
def test_setting_differs(name, wanted, current, unit, differs):
    assert setting_differs(name, wanted, current, unit) is differs


def test_segment_names_with_checksum_and_compression():
    from ansible_collections.yieldvault.db_restore.plugins.module_utils.pgbackrest import segment_number
    assert segment_number('000000010000000000000003-' + 'a' * 40 + '.gz') == (1, 3)
    assert segment_number('15-1/0000000100000000/000000010000000100000000-' + 'b' * 40 + '.zst') == (1, 256)
    assert segment_number('00000002.history') is None
    assert segment_number('000000010000000000000002.00000028.backup') is None


def test_archive_gaps_finds_a_missing_segment_across_a_log_boundary():
    from ansible_collections.yieldvault.db_restore.plugins.module_utils.pgbackrest import archive_gaps
    names = ['0000000100000000000000FE-' + 'a' * 40 + '.gz', '000000010000000100000000.gz',
             '000000010000000100000001.gz', '000000020000000000000000FF.gz']
    assert archive_gaps(names, '0000000100000000000000FE', '000000010000000100000001') == [
        dict(first_missing='0000000100000000000000FF', last_missing='0000000100000000000000FF')]
    assert archive_gaps(names, '000000010000000100000000', '000000010000000100000001') == []
    assert archive_gaps(names, '000000010000000100000000', '000000010000000100000003') == [
        dict(first_missing='000000010000000100000002', last_missing='000000010000000100000003')]


def test_choose_backup_is_the_newest_ended_by_the_point():
    from ansible_collections.yieldvault.db_restore.plugins.module_utils.pgbackrest import choose_backup
    backups = [dict(label='a', timestamp=dict(start=90, stop=100)), dict(label='b', timestamp=dict(start=190, stop=200))]
    assert choose_backup(backups, 150)['label'] == 'a'
    assert choose_backup(backups, 200)['label'] == 'b'
    assert choose_backup(backups, 99) is None
