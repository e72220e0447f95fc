"""The messages an operator sees from the modules name what the operator can change - a db_restore_*
setting, an extra var, a file in the store - never a module option the playbooks set themselves
(require_expected, sidecar=, expected_md5, allow_rpo_breach, local_dir, ...)."""
import datetime
import hashlib
import re

import pytest

# Option names of the modules that the roles set: an operator cannot pass them to a playbook.
MODULE_OPTIONS = re.compile(r"\b(require_expected|sidecar=|sidecar option|expected_md5|expected_sha256|"
                            r"allow_rpo_breach(?! is true)|local_dir|pm2_bin|retry_delay|chunk_size|"
                            r"(?<!db_restore_)rpo_minutes|(?<!db_restore_count_)tolerance_percent|dump\.jobs|"
                            r"dump\.compress|give src|check src|s3_key)\b", re.IGNORECASE)


def checksum_main():
    from ansible_collections.yieldvault.db_restore.plugins.modules import backup_checksum
    return backup_checksum.main()


def catalog_main():
    from ansible_collections.yieldvault.db_restore.plugins.modules import backup_catalog
    return backup_catalog.main()


def assert_operator_message(msg):
    assert not MODULE_OPTIONS.search(msg), "names a module option: %s" % msg


def _store(tmp_path, sidecar=None):
    store = tmp_path / 'store'
    store.mkdir()
    name = 'prod_20260429_1400.dump'
    (store / name).write_bytes(b'PGDMP' + b'x' * 1000)
    if sidecar is not None:
        (store / (name + '.md5')).write_text(sidecar)
    (tmp_path / 'restore').mkdir()
    return store, name


def test_a_backup_without_a_checksum(tmp_path, run_main):
    # It said: "pass sidecar=<md5sum file>, or pass expected_md5 (or expected_sha256). Set require_expected=false ..."
    store, name = _store(tmp_path)
    result = run_main(checksum_main, path=str(tmp_path / 'restore' / name), src=str(store / name))
    assert result['rc'] == 1
    assert_operator_message(result['msg'])
    assert 'put its md5sum file %s.md5 beside it' % (store / name) in result['msg']
    assert '-e backup=<name>' in result['msg'] and 'Nothing was changed.' in result['msg']


def test_a_backup_with_a_malformed_sidecar(tmp_path, run_main):
    # It said: "Fix or regenerate it (md5sum NAME > NAME.md5), or pass expected_md5."
    store, name = _store(tmp_path, sidecar='not a checksum\n')
    result = run_main(checksum_main, path=str(tmp_path / 'restore' / name), src=str(store / name))
    assert result['rc'] == 1 and 'checksum sidecar' in result['msg']
    assert_operator_message(result['msg'])
    assert '-e backup=<name>' in result['msg']


def test_a_backup_gone_from_the_store(tmp_path, run_main):
    # It said: "Check src (the backup store path)."
    store, name = _store(tmp_path)
    result = run_main(checksum_main, path=str(tmp_path / 'restore' / name), src=str(store / 'gone.dump'))
    assert result['rc'] == 1
    assert_operator_message(result['msg'])
    assert 'db_restore_local_backup_dir' in result['msg']


def test_the_store_inside_the_download_directory(tmp_path, run_main):
    # It said: "src and path are the same file (...): leave out src to verify it in place."
    store, name = _store(tmp_path, sidecar='%s  prod_20260429_1400.dump\n' % ('0' * 32))
    result = run_main(checksum_main, path=str(store / name), src=str(store / name))
    assert result['rc'] == 1
    assert_operator_message(result['msg'])
    assert 'db_restore_local_backup_dir' in result['msg'] and 'db_restore_work_dir/restore' in result['msg']


def test_an_invalid_expected_md5_and_negative_retries(tmp_path, run_main):
    store, name = _store(tmp_path)
    bad = run_main(checksum_main, path=str(store / name), expected_md5='xyz')
    assert bad['rc'] == 1 and 'md5' in bad['msg']
    assert_operator_message(bad['msg'])
    retries = run_main(checksum_main, path=str(store / name), retries=-1,
                       expected_md5=hashlib.md5((store / name).read_bytes()).hexdigest())
    assert retries['rc'] == 1 and 'db_restore_download_retries' in retries['msg']
    assert_operator_message(retries['msg'])


def test_catalog_messages(tmp_path, run_main):
    # The RPO breach said "accept the data loss with allow_rpo_breach=true (...)", a missing store
    # "Set local_dir (db_restore_local_backup_dir)".
    store, name = _store(tmp_path)
    missing = run_main(catalog_main, store='local', database='prod', local_dir=str(tmp_path / 'nowhere'))
    assert missing['rc'] == 1 and 'db_restore_local_backup_dir' in missing['msg']
    assert_operator_message(missing['msg'])
    breach = run_main(catalog_main, store='local', database='prod', local_dir=str(store), rpo_minutes=15)
    assert breach['rc'] == 1 and 'RPO' in breach['msg']
    assert '-e db_restore_allow_rpo_breach=true' in breach['msg']
    assert_operator_message(breach['msg'])
    negative = run_main(catalog_main, store='local', database='prod', local_dir=str(store), rpo_minutes=-1)
    assert negative['rc'] == 1 and 'db_restore_rpo_minutes' in negative['msg']
    assert_operator_message(negative['msg'])
    allowed = run_main(catalog_main, store='local', database='prod', local_dir=str(store), allow_rpo_breach=True)
    assert allowed['rc'] == 0
    warnings = [w if isinstance(w, str) else (w.get('event') or {}).get('msg', '') for w in allowed.get('warnings', [])]
    assert any('db_restore_allow_rpo_breach is true' in w for w in warnings), warnings
    for warning in warnings:
        assert_operator_message(warning)


# The refusals of the backup choice, each the message of one fail_json of the call that select_backup makes; end
# to end, test_restore.py's "RPO breach" proves that call's failure reaches the operator with nothing changed.
@pytest.mark.parametrize('args, fragment', [
    ({'point': 'yesterday-ish'}, 'ISO 8601'),
    ({'point': (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=2)).strftime('%Y-%m-%dT%H:%M:%SZ')},
     'future'),
    ({'point': '2020-01-01T00:00:00Z'}, 'No backup was taken at or before'),
    ({'backup': 'nope_20200101_0000.dump'}, 'nope_20200101_0000.dump'),
], ids=['unparsable point', 'point in the future', 'no backup at or before the point', 'unknown explicit backup'])
def test_catalog_refuses_the_point_or_the_backup(tmp_path, run_main, args, fragment):
    store, name = _store(tmp_path)
    result = run_main(catalog_main, store='local', database='prod', local_dir=str(store), **args)
    assert result['rc'] == 1, result
    assert fragment in result['msg'] and result['msg'].endswith('Nothing was changed.'), result['msg']
    assert_operator_message(result['msg'])


@pytest.mark.parametrize('given', ['/etc/passwd', 'database/prod_20260429_1400.dump', 's3://b/prod_20260429_1400.dump'])
def test_catalog_refuses_a_path_as_the_backup(tmp_path, run_main, given):
    # -e backup=/etc/passwd answered "Backup passwd.dump was not found among the 1 backups in the store".
    store, name = _store(tmp_path)
    result = run_main(catalog_main, store='local', database='prod', local_dir=str(store), backup=given)
    assert result['rc'] == 1
    assert "give the backup's file name as listed in the store" in result['msg'].lower()
    assert 'prod_YYYYMMDD_HHMM.dump' in result['msg'] and 'passwd.dump' not in result['msg']
    assert_operator_message(result['msg'])


def test_pm2_missing_names_the_setting(tmp_path, run_main):
    from ansible_collections.yieldvault.db_restore.plugins.modules import pm2_process
    result = run_main(pm2_process.main, name='api', state='started', pm2_bin=str(tmp_path / 'no-pm2'))
    assert result['rc'] == 1 and 'db_restore_pm2_bin' in result['msg']
    assert_operator_message(result['msg'])


def test_the_pure_message_helpers_are_in_step():
    # a sanity check of the pattern itself: it catches the old messages
    for old in ("pass sidecar=<md5sum file>, or pass expected_md5", "Set require_expected=false",
                "allow_rpo_breach=true (-e db_restore_allow_rpo_breach=true)", "Set local_dir (db_restore_local_backup_dir)",
                "set pm2_bin (db_restore_pm2_bin)", "Check src (the backup store path)", "rpo_minutes must be 0",
                "dump.jobs must be 1 or more"):
        assert MODULE_OPTIONS.search(old), old


def test_a_failed_connection_names_the_db_restore_login_settings():
    # It said "(login_host/login_port or login_unix_socket) ... login_user and login_password".
    pytest.importorskip('psycopg2')
    import socket
    from ansible_collections.yieldvault.db_restore.plugins.module_utils import pg

    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]

    class Failed(Exception):
        pass

    class Module:
        params = dict(login_host='127.0.0.1', login_port=port, login_user='postgres', login_password='s3cret',
                      login_unix_socket=None)

        def fail_json(self, **kwargs):
            raise Failed(kwargs['msg'])

    with pytest.raises(Failed) as err:
        pg.connect(Module(), 'prod')
    message = str(err.value)
    assert 'Could not connect to PostgreSQL' in message and 's3cret' not in message
    assert 'db_restore_login_host' in message and 'db_restore_login_user' in message
    assert not re.search(r'(?<!db_restore_)login_(host|port|user|password|unix_socket)', message), message


def test_s3_errors_name_the_db_restore_s3_settings():
    # They said "Check s3_endpoint_url", "Check s3_bucket", "Set aws_access_key and aws_secret_key", "Set s3_region".
    bexc = pytest.importorskip('botocore.exceptions')
    from ansible_collections.yieldvault.db_restore.plugins.module_utils import s3

    def client_error(code, status):
        return bexc.ClientError({"Error": {"Code": code, "Message": "m"},
                                 "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject")
    errors = [bexc.EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), bexc.NoCredentialsError(),
              client_error("NoSuchBucket", 404), client_error("NoSuchKey", 404), client_error("InvalidAccessKeyId", 403),
              client_error("PermanentRedirect", 301), bexc.BotoCoreError()]
    for exc in errors:
        message = s3.describe_s3_error(exc, "download the backup", "backups", "http://127.0.0.1:1", key="db/x.dump")
        assert "db_restore_s3_" in message, message
        assert not re.search(r"(?<!db_restore_)\b(s3_endpoint_url|s3_bucket|s3_region|s3_prefix|aws_access_key|"
                             r"aws_secret_key|aws_session_token|backup_catalog module)\b", message), message
    with pytest.raises(ValueError) as err:
        s3.build_s3_client({"s3_endpoint_url": "not a url"})
    assert str(err.value).startswith("db_restore_s3_endpoint_url 'not a url' is not a URL")
