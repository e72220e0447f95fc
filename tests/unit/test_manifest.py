# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
import datetime

from ansible_collections.yieldvault.db_restore.plugins.module_utils.catalog import parse_backup_name
from ansible_collections.yieldvault.db_restore.plugins.module_utils.manifest import (
    backup_name,
    build_manifest,
    manifest_name,
    validate_manifest,
)

UTC = datetime.timezone.utc


def test_backup_name_is_utc_minutes_and_parses_back():
    when = datetime.datetime(2026, 4, 29, 16, 30, 59, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    name = backup_name('yieldvault_prod', when)
    assert name == 'yieldvault_prod_20260429_1430.dump'
    assert parse_backup_name(name, 'yieldvault_prod') == datetime.datetime(2026, 4, 29, 14, 30, tzinfo=UTC)
    assert manifest_name(name) == name + '.manifest.json'


def test_naive_time_means_utc():
    assert backup_name('db', datetime.datetime(2026, 1, 2, 3, 4)) == 'db_20260102_0304.dump'


def _manifest(**over):
    m = build_manifest('app', 'app_20260429_1400.dump', datetime.datetime(2026, 4, 29, 14, 0, 7, 123, tzinfo=UTC),
                       '15.6', 1234, 'a' * 32, '00000003-0000001B-1', {'public.b': 2, 'public.a': 1})
    m.update(over)
    return m


def test_build_manifest_shape():
    m = _manifest()
    assert m['created_at'] == '2026-04-29T14:00:07Z'
    assert m['format'] == 'custom'
    assert list(m['tables']) == ['public.a', 'public.b']
    assert set(m) >= {'database', 'backup', 'created_at', 'server_version', 'format', 'size', 'md5', 'snapshot',
                      'tables'}


def test_valid_manifest_has_no_problems():
    assert validate_manifest(_manifest(), backup='app_20260429_1400.dump', md5='A' * 32) == []


def test_manifest_of_another_backup_or_checksum_is_refused():
    problems = validate_manifest(_manifest(), backup='app_20260429_1500.dump', md5='b' * 32)
    assert any('describes backup' in p for p in problems)
    assert any('md5' in p for p in problems)


def test_bad_tables_and_missing_keys():
    assert validate_manifest([]) == ['the manifest is not a JSON object']
    problems = validate_manifest({'tables': {'public.a': -1, 'public.b': 'x', 'public.mv': None}})
    assert any("'md5' is missing" in p for p in problems)
    assert any('public.a, public.b' in p for p in problems)
    assert any('not an object' in p for p in validate_manifest(_manifest(tables=[1])))
