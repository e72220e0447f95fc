# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Know the backup: a dump's source database against the database its file name says (issue 20, case 7)."""
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
