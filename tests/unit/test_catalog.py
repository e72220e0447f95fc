# -*- coding: utf-8 -*-
import datetime

import pytest

from ansible_collections.yieldvault.db_restore.plugins.module_utils.catalog import (
    isoformat_z, normalize_backup_name, parse_backup_name, parse_point, rpo_gap_minutes, select_backup,
)

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 4, 29, 16, 0, 0, tzinfo=UTC)


def utc(*args):
    return datetime.datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize('text, expected', [
    ('2026-04-29T14:30:00Z', utc(2026, 4, 29, 14, 30)),
    ('2026-04-29T14:30:00z', utc(2026, 4, 29, 14, 30)),
    ('2026-04-29T14:30', utc(2026, 4, 29, 14, 30)),
    ('2026-04-29 14:30:00+02:00', utc(2026, 4, 29, 12, 30)),
    ('2026-04-29T14:30:00-0130', utc(2026, 4, 29, 16, 0)),
    ('2026-04-29T14:30:15.250Z', utc(2026, 4, 29, 14, 30, 15, 250000)),
    ('2026-04-29', utc(2026, 4, 29, 0, 0)),
    ('  2026-04-29T14:30Z  ', utc(2026, 4, 29, 14, 30)),
])
def test_parse_point_formats(text, expected):
    parsed = parse_point(text, NOW)
    assert parsed == expected
    assert parsed.utcoffset() == datetime.timedelta(0)


@pytest.mark.parametrize('text', ['latest', 'LATEST', 'Latest'])
def test_parse_point_latest_is_now(text):
    assert parse_point(text, NOW) == NOW


@pytest.mark.parametrize('text', ['yesterday', '', '2026-13-01', '2026-02-30T10:00', '29/04/2026 14:30',
                                  '2026-04-29T25:00', '2026-04-29T14:30+25:00', None])
def test_parse_point_garbage(text):
    with pytest.raises(ValueError) as err:
        parse_point(text, NOW)
    message = str(err.value)
    assert repr('' if text is None else text) in message
    assert '2026-04-29T14:30:00Z' in message  # shows valid examples


def test_parse_point_future():
    with pytest.raises(ValueError) as err:
        parse_point('2026-04-29T17:00:00Z', NOW)
    assert 'future' in str(err.value)
    assert isoformat_z(NOW) in str(err.value)


def test_parse_point_within_clock_tolerance():
    assert parse_point('2026-04-29T16:00:59Z', NOW) == utc(2026, 4, 29, 16, 0, 59)
    with pytest.raises(ValueError):
        parse_point('2026-04-29T16:01:01Z', NOW)


def test_parse_point_zone_is_applied_before_future_check():
    # 17:30+02:00 is 15:30Z, in the past.
    assert parse_point('2026-04-29T17:30:00+02:00', NOW) == utc(2026, 4, 29, 15, 30)


def test_parse_backup_name():
    assert parse_backup_name('yieldvault_prod_20260429_1400.dump', 'yieldvault_prod') == utc(2026, 4, 29, 14, 0)
    # The safety backup: seconds, and the packed directory-format dump's .dir.tar.
    assert parse_backup_name('prod_safety_20260429_143512.dir.tar', 'prod_safety') == utc(2026, 4, 29, 14, 35, 12)
    assert parse_backup_name('prod_safety_20260429_143512.dump', 'prod_safety') == utc(2026, 4, 29, 14, 35, 12)


@pytest.mark.parametrize('name', [
    'app_drill_20260101_0000.dump',      # another database whose name starts with "app"
    'app_20260101_0000.dump.md5',
    'app_20260101_0000.dump.manifest.json',
    'app_20260101_000.dump',
    'app_20260101_0000.sql',
    'app_20260101_0000.tar',
    'app_20260101_0000.dir.tar.md5',
    'app_20260101_0000.dir.tar.d.part',
    'xapp_20260101_0000.dump',
    'app_20260230_1200.dump',            # invalid date
    'app_20260101_2460.dump',            # invalid time
    'app_20260101_2400.dump',
    '',
])
def test_parse_backup_name_rejects(name):
    assert parse_backup_name(name, 'app') is None


def test_parse_backup_name_prefix_databases():
    assert parse_backup_name('app_drill_20260101_0000.dump', 'app_drill') == utc(2026, 1, 1)
    assert parse_backup_name('app_20260101_0000.dump', 'app_drill') is None


def test_parse_backup_name_escapes_database():
    assert parse_backup_name('a.b_20260101_0000.dump', 'a.b') == utc(2026, 1, 1)
    assert parse_backup_name('axb_20260101_0000.dump', 'a.b') is None


def cands():
    return [
        dict(name='db_20260429_1000.dump', timestamp=utc(2026, 4, 29, 10), size=1),
        dict(name='db_20260429_1400.dump', timestamp=utc(2026, 4, 29, 14), size=3),
        dict(name='db_20260429_1200.dump', timestamp=utc(2026, 4, 29, 12), size=2),
    ]


def test_select_between_backups():
    assert select_backup(cands(), point=utc(2026, 4, 29, 13, 59))['name'] == 'db_20260429_1200.dump'
    assert select_backup(cands(), point=utc(2026, 4, 29, 15))['name'] == 'db_20260429_1400.dump'


def test_select_exact_boundary_is_chosen():
    assert select_backup(cands(), point=utc(2026, 4, 29, 12))['name'] == 'db_20260429_1200.dump'


def test_select_latest_without_point():
    assert select_backup(cands())['name'] == 'db_20260429_1400.dump'


def test_select_before_oldest():
    with pytest.raises(LookupError) as err:
        select_backup(cands(), point=utc(2026, 4, 29, 9, 59))
    message = str(err.value)
    assert 'db_20260429_1000.dump' in message
    assert '2026-04-29T10:00:00Z' in message
    assert '-e backup=' in message


def test_select_empty():
    with pytest.raises(LookupError):
        select_backup([], point=NOW)


@pytest.mark.parametrize('given', ['db_20260429_1200.dump', 'db_20260429_1200', ' db_20260429_1200.dump '])
def test_select_explicit(given):
    # The explicit name wins even when a point would choose another backup.
    assert select_backup(cands(), point=utc(2026, 4, 29, 15), backup=given)['name'] == 'db_20260429_1200.dump'


def test_select_explicit_missing_lists_nearest():
    many = [dict(name='db_20260429_%02d00.dump' % h, timestamp=utc(2026, 4, 29, h), size=1) for h in range(24)]
    with pytest.raises(LookupError) as err:
        select_backup(many, backup='db_20260429_1230')
    message = str(err.value)
    assert 'db_20260429_1230.dump' in message
    nearest = message.split('Nearest: ')[1].split('. ')[0].split(', ')
    assert len(nearest) == 5
    assert set(nearest[:2]) == {'db_20260429_1200.dump', 'db_20260429_1300.dump'}


def test_select_explicit_missing_without_timestamp():
    with pytest.raises(LookupError) as err:
        select_backup(cands(), backup='nonsense')
    assert 'nonsense.dump' in str(err.value)


def test_normalize_backup_name():
    assert normalize_backup_name('x_20260101_0000') == 'x_20260101_0000.dump'
    assert normalize_backup_name('x_20260101_0000.dump') == 'x_20260101_0000.dump'
    assert normalize_backup_name('x_safety_20260101_000000.dir.tar') == 'x_safety_20260101_000000.dir.tar'
    # names are data: a database name may hold '=', spaces or quotes
    assert normalize_backup_name('a=b c"d_20260101_0000.dump') == 'a=b c"d_20260101_0000.dump'


@pytest.mark.parametrize('given', ['/etc/passwd', 'database/db_20260429_1200.dump', '/var/backups/db_20260429_1200.dump',
                                   's3://b/database/x_20260101_0000.dump', '..\\db_20260429_1200.dump', '..', '.hidden',
                                   'db_2026\n0429_1200.dump', 'db\x00_20260429_1200.dump'])
def test_a_path_or_key_is_refused_not_cut_to_its_last_part(given):
    # -e backup=/etc/passwd answered "Backup passwd.dump was not found" before.
    with pytest.raises(ValueError) as err:
        normalize_backup_name(given, 'yieldvault_prod')
    message = str(err.value)
    assert "give the backup's file name as listed in the store" in message.lower(), message
    assert 'yieldvault_prod_YYYYMMDD_HHMM.dump' in message and 'passwd.dump' not in message
    with pytest.raises(ValueError):
        select_backup(cands(), backup=given)


def test_rpo_gap_minutes():
    assert rpo_gap_minutes(utc(2026, 4, 29, 14, 30), utc(2026, 4, 29, 14)) == 30.0
    assert rpo_gap_minutes(utc(2026, 4, 29, 14, 0, 30), utc(2026, 4, 29, 14)) == 0.5
    assert rpo_gap_minutes(utc(2026, 4, 29, 14), utc(2026, 4, 29, 14)) == 0.0


def test_isoformat_z():
    assert isoformat_z(datetime.datetime(2026, 4, 29, 16, 30, 5, 123,
                                         tzinfo=datetime.timezone(datetime.timedelta(hours=2)))) == '2026-04-29T14:30:05Z'


def test_module_an_unreachable_s3_endpoint_is_refused_naming_it(run_main):
    """The first call to S3 of a restore is this listing (select_backup): an endpoint nothing listens on stops the
    run there, naming the endpoint. (Was test_restore.py::test_unreachable_s3_endpoint_is_refused, a playbook run; a
    failure of this call through the playbook, production untouched: its 'RPO breach' bad-input case.)"""
    import socket

    from ansible_collections.yieldvault.db_restore.plugins.modules import backup_catalog

    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        endpoint = 'http://127.0.0.1:%d' % sock.getsockname()[1]
    result = run_main(backup_catalog.main, store='s3', database='yv', s3_bucket='nowhere', s3_endpoint_url=endpoint,
                      s3_region='us-east-1', aws_access_key='testing', aws_secret_key='testing')
    assert result['rc'] == 1 and result['failed'] is True
    msg = result['msg']
    assert msg.startswith('Could not list the backups in s3://nowhere at %s' % endpoint), msg
    assert 'the S3 endpoint %s is unreachable' % endpoint in msg and 'db_restore_s3_endpoint_url' in msg, msg
    assert msg.endswith('Nothing was changed.'), msg
