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


_S3 = dict(bucket='yieldvault-backups', endpoint_url='https://localhost:8443', region='eu-west-1',
           access_key='AKIAEXAMPLE', secret_key='s3cr3t/key', ca_file='/etc/ssl/private-ca.pem')


def _global(text):
    lines = text.splitlines()
    return dict(line.split('=', 1) for line in lines[lines.index('[global]') + 1:lines.index('')])


def test_s3_config_points_pgbackrest_at_the_bucket_of_the_dumps_and_verifies_tls_with_the_ca_file():
    text = render_config('main', '/srv/pg/data', 5433, '', '/pgbackrest', 2, '/var/log/pgbackrest', 'postgres',
                         repo_type='s3', s3=dict(_S3), process_max=4)
    opts = _global(text)
    assert opts['repo1-type'] == 's3' and opts['repo1-s3-bucket'] == 'yieldvault-backups'
    assert opts['repo1-path'] == '/pgbackrest'
    assert opts['repo1-s3-endpoint'] == 'localhost' and opts['repo1-storage-port'] == '8443'
    assert opts['repo1-s3-region'] == 'eu-west-1' and opts['repo1-s3-uri-style'] == 'path'
    assert opts['repo1-s3-key'] == 'AKIAEXAMPLE' and opts['repo1-s3-key-secret'] == 's3cr3t/key'
    assert opts['repo1-storage-ca-file'] == '/etc/ssl/private-ca.pem'
    assert 'repo1-storage-verify-tls' not in opts, 'TLS verification is off without being asked to'
    assert opts['process-max'] == '4'
    assert text == render_config('main', '/srv/pg/data', 5433, '', '/pgbackrest', 2, '/var/log/pgbackrest',
                                 'postgres', repo_type='s3', s3=dict(_S3), process_max=4)


def test_s3_config_on_aws_uses_the_regional_endpoint_host_style_and_the_instance_role_without_keys():
    opts = _global(render_config('main', '/d', 5432, '', '/pgbackrest', 2, '/l', 'postgres', repo_type='s3',
                                 s3=dict(bucket='b', region='eu-west-1', endpoint_url='', access_key='',
                                         secret_key='')))
    assert opts['repo1-s3-endpoint'] == 's3.eu-west-1.amazonaws.com' and opts['repo1-s3-uri-style'] == 'host'
    assert opts['repo1-s3-key-type'] == 'auto' and 'repo1-s3-key' not in opts
    assert 'repo1-storage-port' not in opts and 'repo1-storage-ca-file' not in opts and 'process-max' not in opts


def test_s3_config_turns_tls_verification_off_only_when_asked():
    opts = _global(render_config('main', '/d', 5432, '', '/pgbackrest', 2, '/l', 'postgres', repo_type='s3',
                                 s3=dict(_S3, ca_file='', verify_tls=False)))
    assert opts['repo1-storage-verify-tls'] == 'n'


def test_posix_config_has_no_s3_option():
    opts = _global(render_config('main', '/d', 5432, '', '/r', 2, '/l', 'postgres', s3=dict(_S3)))
    assert not [k for k in opts if 's3' in k or k.startswith('repo1-storage')] and 'repo1-type' not in opts


@pytest.mark.parametrize('s3, repo_path, says', [
    (dict(_S3, endpoint_url='http://127.0.0.1:9000'), '/pgbackrest', 'only HTTPS'),
    (dict(_S3, bucket=''), '/pgbackrest', 'db_restore_s3_bucket'),
    (dict(_S3, secret_key=''), '/pgbackrest', 'db_restore_s3_secret_key'),
    (dict(_S3), 'pgbackrest', 'db_restore_pgbackrest_s3_path'),
    (dict(_S3, endpoint_url='https://host/path'), '/pgbackrest', 'db_restore_s3_endpoint_url'),
    (dict(_S3, uri_style='virtual'), '/pgbackrest', 'db_restore_pgbackrest_s3_uri_style'),
])
def test_s3_config_refuses_what_pgbackrest_cannot_use_and_names_the_variable(s3, repo_path, says):
    with pytest.raises(ValueError, match=says):
        render_config('main', '/d', 5432, '', repo_path, 2, '/l', 'postgres', repo_type='s3', s3=s3)


def test_scrub_hides_the_keys_in_a_message():
    from ansible_collections.yieldvault.db_restore.plugins.module_utils.pgbackrest import scrub
    assert scrub('denied for AKIAEXAMPLE with s3cr3t/key', ['AKIAEXAMPLE', 's3cr3t/key', '']) == \
        'denied for ******** with ********'


def test_every_pgbackrest_command_runs_as_the_repository_owner_without_a_shell():
    from ansible_collections.yieldvault.db_restore.plugins.module_utils import pgbackrest
    argv = pgbackrest.command("postgres", "/etc/pgbackrest/it's here.conf", "main; rm -rf /", ["--output=json", "info"])
    assert argv == ["runuser", "-u", "postgres", "--", "pgbackrest", "--config=/etc/pgbackrest/it's here.conf",
                    "--stanza=main; rm -rf /", "--output=json", "info"]
    assert pgbackrest.command("pg", "/c", "s", ["check"], executable="/usr/bin/pgbackrest")[4] == "/usr/bin/pgbackrest"
