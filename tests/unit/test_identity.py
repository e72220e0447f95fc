# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Know the backup: a dump's source database against the database its file name says (issue 20, case 7), and the
time pg_dump wrote in it against the time its name says."""
import pytest

from ansible_collections.yieldvault.db_restore.plugins.module_utils import catalog, identity


def test_a_backup_of_its_own_database_matches():
    status, msg = identity.check_identity('prod_20260429_1400.dump', 'prod', 'prod')
    assert status == 'match' and 'dumped from database prod' in msg


def test_a_backup_of_another_database_under_this_name_is_refused_with_what_to_do():
    status, msg = identity.check_identity('prod_20260429_1400.dump', 'staging', 'prod')
    assert status == 'mismatch'
    assert msg.startswith('The backup lies about what it is')
    assert 'dumped from database staging' in msg and 'before anything changed' in msg
    assert 'db_restore_backup_database=staging' in msg and '-e backup=' in msg


@pytest.mark.parametrize('header,ok', [
    ('prod', True),
    ('prod__pre_20260429_143000', True),   # the swap's previous database, dumped after the swap
    ('prod__pre_x y', False),
    ('prod__restore', False),
    ('other', False),
    ('prodx__pre_20260429_143000', False),
])
def test_a_safety_backup_may_come_from_the_previous_database_of_a_swap(header, ok):
    status = identity.check_identity('prod_safety_20260429_143512.dir.tar', header, 'prod', safety=True)[0]
    assert status == ('match' if ok else 'mismatch')
    # An ordinary backup never accepts the previous database's name.
    if header != 'prod':
        assert identity.check_identity('prod_20260429_1400.dump', header, 'prod')[0] == 'mismatch'


def test_a_dump_that_names_no_database_is_unknown_not_refused():
    status, msg = identity.check_identity('prod_20260429_1400.dump', None, 'prod', fmt='plain')
    assert status == 'unknown' and 'cannot be checked' in msg


@pytest.mark.parametrize('name,database', [
    ('prod_20260429_1400.dump', 'prod'),
    ('my_app_db_20260429_140012.dump', 'my_app_db'),
    ('prod_safety_20260429_143512.dir.tar', 'prod_safety'),
    ('prod.dump', None),
    ('prod_20260429.dump', None),
])
def test_backup_name_database(name, database):
    assert catalog.backup_name_database(name) == database


def test_an_explicit_backup_of_another_database_names_the_setting(tmp_path, run_main):
    backup_catalog = pytest.importorskip(
        'ansible_collections.yieldvault.db_restore.plugins.modules.backup_catalog')
    (tmp_path / 'prod_20260429_1400.dump').write_bytes(b'x')
    (tmp_path / 'staging_20260429_1400.dump').write_bytes(b'x')
    result = run_main(backup_catalog.main, store='local', local_dir=str(tmp_path), database='staging',
                      backup='prod_20260429_1400.dump', allow_rpo_breach=True)
    assert result['failed'] and result['rc'] != 0
    assert 'prod_20260429_1400.dump is named as a backup of database prod' in result['msg']
    assert 'set db_restore_backup_database=prod' in result['msg']
    # With the setting the catalog lists prod's backups, and the backup is found.
    result = run_main(backup_catalog.main, store='local', local_dir=str(tmp_path), database='prod',
                      backup='prod_20260429_1400.dump', allow_rpo_breach=True)
    assert not result.get('failed') and result['backup']['name'] == 'prod_20260429_1400.dump'


# ---- when: the time in the name against the time pg_dump wrote ------------------------------------------------------

check_dump_time, name_time = identity.check_dump_time, identity.name_time


def test_the_time_a_name_says():
    assert name_time("app_20261203_1853.dump").isoformat() == "2026-12-03T18:53:00+00:00"
    assert name_time("app_safety_20261206_183512.dir.tar").isoformat() == "2026-12-06T18:35:12+00:00"
    assert name_time("app_20261203_1853.sql.gz").isoformat() == "2026-12-03T18:53:00+00:00"
    assert name_time("app.dump") is None and name_time("app_20261399_1853.dump") is None


def test_a_dump_made_when_its_name_says_or_in_another_zone_matches():
    assert check_dump_time("app_20261206_1853.dump", "2026-12-06T18:53:12Z")[0] == "match"
    # pg_dump's host in UTC+14 and this one in UTC-12: 26 hours apart, and no way to tell from a lie.
    assert check_dump_time("app_20261206_1853.dump", "2026-12-07T20:55:00Z")[0] == "match"
    assert check_dump_time("app_20261206_1853.dump", "2026-12-05T16:50:00Z")[0] == "match"


def test_a_backup_renamed_days_earlier_lies_about_when_it_was_taken():
    status, message = check_dump_time("app_20261203_1853.dump", "2026-12-06T18:53:12Z")
    assert status == "mismatch"
    assert message.startswith("The backup lies about when it was taken: app_20261203_1853.dump is named as taken at "
                              "2026-12-03T18:53:00Z, but pg_dump wrote it at 2026-12-06T18:53:12Z, 3.0 days later.")
    assert "-e backup=<name> or -e point=<time>" in message
    assert "2.4 days earlier" in check_dump_time("app_20261206_1853.dump", "2026-12-04T10:00:00Z")[1]
    assert "30 hours later" in check_dump_time("app_20261206_1853.dump", "2026-12-08T00:53:00Z")[1]


def test_no_time_to_compare_is_unknown_not_a_refusal():
    assert check_dump_time("app_20261206_1853.dump", None)[0] == "unknown"
    assert check_dump_time("app.dump", "2026-12-06T18:53:12Z")[0] == "unknown"
