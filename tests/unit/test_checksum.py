# -*- coding: utf-8 -*-
import json
import hashlib
import io
import os

import pytest

from ansible_collections.yieldvault.db_restore.plugins.module_utils.checksum import (
    detect_format, hash_stream, normalize_md5, parse_md5_sidecar, read_md5_sidecar,
)


@pytest.mark.parametrize('size', [0, 1, 511, 512, 513, 4096, 4097, 3 * 4096, 100000])
def test_hash_stream_matches_hashlib(size):
    data = os.urandom(size)
    written = io.BytesIO()
    digest = hash_stream(io.BytesIO(data), write=written.write, chunk_size=4096)
    assert digest['md5'] == hashlib.md5(data).hexdigest()
    assert digest['sha256'] == hashlib.sha256(data).hexdigest()
    assert digest['size'] == size
    assert digest['head'] == data[:512]
    assert written.getvalue() == data


def test_hash_stream_accepts_read_function_and_reads_in_chunks():
    data = os.urandom(10000)
    source = io.BytesIO(data)
    sizes = []

    def read(n):
        sizes.append(n)
        return source.read(n)
    digest = hash_stream(read, chunk_size=3000)
    assert digest['md5'] == hashlib.md5(data).hexdigest()
    assert set(sizes) == {3000}
    assert len(sizes) == 5  # 4 chunks and the empty read that ends the stream


def test_hash_stream_short_reads():
    # Network streams may return fewer bytes than asked for.
    data = os.urandom(5000)
    source = io.BytesIO(data)
    digest = hash_stream(lambda n: source.read(min(n, 7)), chunk_size=1024)
    assert digest['sha256'] == hashlib.sha256(data).hexdigest()
    assert digest['head'] == data[:512]


def test_hash_stream_rejects_bad_chunk_size():
    with pytest.raises(ValueError):
        hash_stream(io.BytesIO(b'x'), chunk_size=0)


def test_hash_stream_on_a_file(tmp_path):
    path = tmp_path / 'f.dump'
    data = os.urandom(70001)
    path.write_bytes(data)
    with open(str(path), 'rb') as handle:
        assert hash_stream(handle, chunk_size=65536)['md5'] == hashlib.md5(data).hexdigest()


HEX = '9e107d9d372bb6826bd81d3542a419d6'


@pytest.mark.parametrize('text', [
    HEX + '  db_20260101_0000.dump\n',
    HEX + ' *db_20260101_0000.dump\n',
    HEX.upper() + '  /var/backups/db_20260101_0000.dump',
    HEX + '\n',
    '\n' + HEX + '  db_20260101_0000.dump\n\n',
    'MD5 (db_20260101_0000.dump) = ' + HEX + '\n',
])
def test_sidecar_formats(tmp_path, text):
    path = tmp_path / 'db_20260101_0000.dump.md5'
    path.write_text(text)
    assert read_md5_sidecar(str(path)) == HEX


@pytest.mark.parametrize('text', ['', '\n\n', 'not a checksum\n', HEX[:-1] + '  x.dump\n', HEX + 'ff  x.dump\n'])
def test_sidecar_malformed(tmp_path, text):
    path = tmp_path / 'x.dump.md5'
    path.write_text(text)
    with pytest.raises(ValueError) as err:
        read_md5_sidecar(str(path))
    assert str(path) in str(err.value)


def test_sidecar_binary_or_huge(tmp_path):
    path = tmp_path / 'x.md5'
    path.write_bytes(b'\xff\xfe' + os.urandom(100))
    with pytest.raises(ValueError):
        read_md5_sidecar(str(path))
    path.write_bytes(b'a' * (70 * 1024))
    with pytest.raises(ValueError):
        read_md5_sidecar(str(path))


def test_sidecar_several_entries_picks_the_name():
    other = 'a' * 32
    text = '%s  db_1.dump\n%s  db_2.dump\n' % (other, HEX)
    assert parse_md5_sidecar(text, name='db_2.dump') == HEX
    with pytest.raises(ValueError):
        parse_md5_sidecar(text, name='db_3.dump')


def test_normalize_md5():
    assert normalize_md5(' ' + HEX.upper() + ' ') == HEX
    with pytest.raises(ValueError):
        normalize_md5('xyz')


def _tar_head():
    head = bytearray(512)
    head[0:8] = b'toc.dat\x00'
    head[257:263] = b'ustar\x00'
    return bytes(head)


@pytest.mark.parametrize('head, expected', [
    (b'PGDMP\x01\x0f\x00\x04\x08\x01\x01', 'custom'),
    (_tar_head(), 'tar'),
    (b'\x1f\x8b\x08\x00\x00\x00\x00\x00', 'gzip'),
    (b'--\n-- PostgreSQL database dump\n--\n', 'plain'),
    (b'SET statement_timeout = 0;\n', 'plain'),
    (b'CREATE TABLE public.t (id integer);\n', 'plain'),
    (b'\\connect yieldvault_prod\n', 'plain'),
    (b'\xef\xbb\xbf\n\nselect 1;\n', 'plain'),
    (b'INSERT INTO t VALUES (1);', 'plain'),
    ('-- caf\u00e9 '.encode('utf-8') * 100, 'plain'),
    (b'', 'unknown'),
    (b'\x00\x01\x02\x03binary', 'unknown'),
    (b'PK\x03\x04zip', 'unknown'),
    (b'1234 not sql', 'unknown'),
    (b'SET x\x00\x00\x00', 'unknown'),
])
def test_detect_format(head, expected):
    assert detect_format(head[:512]) == expected


def test_detect_format_plain_cut_inside_multibyte_char():
    head = (b'-- ' + ('\u00e9' * 300).encode('utf-8'))[:512]
    assert detect_format(head) == 'plain'


def test_retry_delays_double_and_are_capped():
    from ansible_collections.yieldvault.db_restore.plugins.module_utils.checksum import MAX_RETRY_DELAY, retry_delays
    assert retry_delays(0, 5) == []
    assert retry_delays(3, 2) == [2.0, 4.0, 8.0]
    assert retry_delays(2, 0) == [0.0, 0.0]
    assert retry_delays(10, 30)[-1] == MAX_RETRY_DELAY


@pytest.mark.parametrize("retries,delay", [(-1, 1), (1, -0.5), (None, 1)])
def test_retry_delays_refuse_negative_values(retries, delay):
    from ansible_collections.yieldvault.db_restore.plugins.module_utils.checksum import retry_delays
    with pytest.raises(ValueError):
        retry_delays(retries, delay)


def checksum_main():
    from ansible_collections.yieldvault.db_restore.plugins.modules import backup_checksum
    return backup_checksum.main()


def test_module_writes_the_sidecar_of_a_fresh_dump_that_it_reads_back(tmp_path, run_main):
    import hashlib
    import os
    import stat
    dump = tmp_path / 'prod_safety_20260429_143512.dump'
    dump.write_bytes(b'PGDMP' + b'x' * 100000)
    made = run_main(checksum_main, path=str(dump), require_expected=False, write_sidecar=True)
    md5 = hashlib.md5(dump.read_bytes()).hexdigest()
    assert made['rc'] == 0 and made['md5'] == md5 and made['sidecar'] == str(dump) + '.md5'
    sidecar = tmp_path / (dump.name + '.md5')
    assert sidecar.read_text() == '%s  %s\n' % (md5, dump.name)
    assert stat.S_IMODE(os.stat(str(sidecar)).st_mode) == 0o600
    assert read_md5_sidecar(str(sidecar)) == md5
    # The sidecar verifies the file afterwards; a changed file then fails.
    again = run_main(checksum_main, path=str(dump))
    assert again['rc'] == 0 and again['verified'] is True
    dump.write_bytes(b'PGDMP' + b'y' * 100000)
    broken = run_main(checksum_main, path=str(dump))
    assert broken['rc'] == 1 and broken['verified'] is False
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith('.tmp')] == []


def test_module_upload_failure_is_reported_not_fatal(tmp_path, run_main):
    # Nothing listens on port 1 of loopback: the upload fails at once; the local copy and its sidecar stay.
    pytest.importorskip('boto3')
    dump = tmp_path / 'prod_safety_20260429_143512.dump'
    dump.write_bytes(b'PGDMP' + b'z' * 1000)
    result = run_main(checksum_main, path=str(dump), require_expected=False, write_sidecar=True,
                                 upload_key='safety/' + dump.name, s3_bucket='backups',
                                 s3_endpoint_url='http://127.0.0.1:1', aws_access_key='AKIDEXAMPLE',
                                 aws_secret_key='not-a-real-secret-key')
    assert result['rc'] == 0 and result.get('failed') is not True
    assert result['uploaded'] is False and 'upload' in result['upload_error']
    assert '127.0.0.1:1' in result['upload_error']
    assert 'not-a-real-secret-key' not in json.dumps(result)
    assert (tmp_path / (dump.name + '.md5')).exists()


FAKE_PG_DUMP = r'''#!/bin/sh
# Records its arguments; fails the formats named in $FAKE_FAIL after writing part of the file.
echo "$@" >> "$FAKE_LOG"
fmt=; file=; db=
for a in "$@"; do
  case "$a" in
    --format=*) fmt=${a#--format=} ;;
    --file=*) file=${a#--file=} ;;
    --dbname=*) db=${a#"--dbname=dbname='"}; db=${db%"'"} ;;
    --*) ;;
    *) db=$a ;;
  esac
done
if [ "$fmt" = directory ]; then
  [ -e "$file" ] && { echo "pg_dump: error: could not create directory \"$file\": File exists" >&2; exit 1; }
  mkdir "$file" && printf 'PGDMP%s' "$db" > "$file/toc.dat" && printf 'rows' > "$file/3001.dat.gz"
elif [ "$fmt" = custom ]; then printf 'PGDMP%s' "$db" > "$file"; else printf -- '-- PostgreSQL database dump\n-- %s\n' "$db" > "$file"; fi
case " $FAKE_FAIL " in *" $fmt "*) echo "pg_dump: error: could not write to file: No space left on device" >&2; exit 1 ;; esac
exit 0
'''


@pytest.fixture
def fake_pg_dump(tmp_path, monkeypatch):
    import stat
    tool = tmp_path / 'bin' / 'pg_dump'
    tool.parent.mkdir()
    tool.write_text(FAKE_PG_DUMP)
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv('FAKE_LOG', str(tmp_path / 'calls.log'))
    return tool


def test_module_dump_makes_hashes_and_names_the_custom_dump(tmp_path, run_main, fake_pg_dump):
    import hashlib
    import stat
    base = tmp_path / 'safety' / 'prod_safety_20260429_143512'
    base.parent.mkdir()
    made = run_main(checksum_main, path=str(base), require_expected=False, write_sidecar=True,
                    dump=dict(database='-prod', pg_dump=str(fake_pg_dump), compress=1))
    dump = tmp_path / 'safety' / (base.name + '.dump')
    assert made['rc'] == 0 and made['changed'] is True
    assert made['path'] == str(dump) and made['dump_format'] == 'custom' and made['dump_errors'] == {}
    assert dump.read_bytes() == b'PGDMP-prod' and made['format'] == 'custom'
    assert made['md5'] == hashlib.md5(b'PGDMP-prod').hexdigest() and made['sidecar'] == str(dump) + '.md5'
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600
    call = (tmp_path / 'calls.log').read_text().split()
    # the name in a connection string of its own (never taken for an option, nor for a connection string),
    # the level only for the custom format
    assert call[-1] == "--dbname=dbname='-prod'" and '--compress=1' in call and '--no-password' in call
    assert not list(base.parent.glob('*.part'))


def test_module_dump_falls_back_to_plain_and_removes_the_failed_part(tmp_path, run_main, fake_pg_dump, monkeypatch):
    monkeypatch.setenv('FAKE_FAIL', 'custom')
    base = tmp_path / 'prod_safety_20260429_143512'
    made = run_main(checksum_main, path=str(base), require_expected=False,
                    dump=dict(database='prod', pg_dump=str(fake_pg_dump), compress=1))
    assert made['rc'] == 0 and made['dump_format'] == 'plain' and made['path'] == str(base) + '.sql'
    assert 'No space left on device' in made['dump_errors']['custom']
    assert '--compress' not in (tmp_path / 'calls.log').read_text().splitlines()[-1]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith('prod_')) == [base.name + '.sql']


def test_module_dump_that_fails_in_every_format_leaves_nothing(tmp_path, run_main, fake_pg_dump, monkeypatch):
    monkeypatch.setenv('FAKE_FAIL', 'custom plain')
    base = tmp_path / 'prod_safety_20260429_143512'
    failed = run_main(checksum_main, path=str(base), require_expected=False, write_sidecar=True,
                      dump=dict(database='prod', pg_dump=str(fake_pg_dump)))
    assert failed['rc'] == 1 and 'custom: pg_dump: error' in failed['msg'] and 'plain: pg_dump: error' in failed['msg']
    assert set(failed['dump_errors']) == {'custom', 'plain'} and failed['dump_format'] is None
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith('prod_')] == []
    missing = run_main(checksum_main, path=str(base), require_expected=False,
                       dump=dict(database='prod', pg_dump=str(tmp_path / 'nowhere' / 'pg_dump')))
    assert missing['rc'] == 1 and 'does not exist or is not executable' in missing['msg']


def test_module_dump_adds_the_extension_to_the_upload_key(tmp_path, run_main, fake_pg_dump):
    pytest.importorskip('boto3')
    base = tmp_path / 'prod_safety_20260429_143512'
    made = run_main(checksum_main, path=str(base), require_expected=False, upload_key='safety/' + base.name,
                    s3_bucket='backups', s3_endpoint_url='http://127.0.0.1:1', aws_access_key='AKIDEXAMPLE',
                    aws_secret_key='not-a-real-secret-key', dump=dict(database='prod', pg_dump=str(fake_pg_dump)))
    assert made['rc'] == 0 and made['upload_key'] == 'safety/' + base.name + '.dump' and made['uploaded'] is False


def test_module_dump_in_check_mode_writes_nothing(tmp_path, run_main, fake_pg_dump):
    base = tmp_path / 'prod_safety_20260429_143512'
    checked = run_main(checksum_main, path=str(base), require_expected=False, _ansible_check_mode=True,
                       dump=dict(database='prod', pg_dump=str(fake_pg_dump)))
    assert checked['rc'] == 0 and checked['changed'] is True and checked['path'] == str(base) + '.dump'
    assert not (tmp_path / 'calls.log').exists() and not list(tmp_path.glob('prod_*'))


def test_module_dump_in_directory_format_packs_it_into_one_tar_file(tmp_path, run_main, fake_pg_dump):
    import hashlib
    import stat
    import tarfile
    base = tmp_path / 'safety' / 'prod_safety_20260429_143512'
    base.parent.mkdir()
    # A leftover of an interrupted run with the same name would make pg_dump refuse the directory.
    (tmp_path / 'safety' / (base.name + '.dir.tar.d.part')).mkdir()
    made = run_main(checksum_main, path=str(base), require_expected=False, write_sidecar=True,
                    upload_key='safety/' + base.name, s3_bucket='backups', s3_endpoint_url='http://127.0.0.1:1',
                    aws_access_key='AKIDEXAMPLE', aws_secret_key='not-a-real-secret-key',
                    dump=dict(database='prod', pg_dump=str(fake_pg_dump), compress=1, jobs=2,
                              formats=['directory', 'custom', 'plain']))
    packed = tmp_path / 'safety' / (base.name + '.dir.tar')
    assert made['rc'] == 0 and made['path'] == str(packed), made
    assert made['dump_format'] == 'directory_tar' and made['format'] == 'directory_tar' and made['dump_errors'] == {}
    assert made['upload_key'] == 'safety/' + base.name + '.dir.tar'
    assert made['md5'] == hashlib.md5(packed.read_bytes()).hexdigest() and made['sidecar'] == str(packed) + '.md5'
    assert stat.S_IMODE(packed.stat().st_mode) == 0o600
    with tarfile.open(str(packed)) as archive:
        members = archive.getmembers()
        assert [m.name for m in members] == [base.name + '/toc.dat', base.name + '/3001.dat.gz']
        assert archive.extractfile(members[0]).read() == b'PGDMPprod'
    call = (tmp_path / 'calls.log').read_text().split()
    assert '--format=directory' in call and '--jobs=2' in call and '--compress=1' in call
    # Only the packed file and its sidecar are left: no directory, no .part.
    assert sorted(p.name for p in packed.parent.iterdir()) == [packed.name, packed.name + '.md5']


def test_module_dump_falls_back_from_directory_to_custom_and_removes_the_directory(tmp_path, run_main,
                                                                                  fake_pg_dump, monkeypatch):
    monkeypatch.setenv('FAKE_FAIL', 'directory')
    base = tmp_path / 'prod_safety_20260429_143512'
    made = run_main(checksum_main, path=str(base), require_expected=False,
                    dump=dict(database='prod', pg_dump=str(fake_pg_dump), jobs=2,
                              formats=['directory', 'custom', 'plain']))
    assert made['rc'] == 0 and made['dump_format'] == 'custom' and made['path'] == str(base) + '.dump'
    assert 'No space left on device' in made['dump_errors']['directory']
    assert '--jobs' not in (tmp_path / 'calls.log').read_text().splitlines()[-1]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith('prod_')) == [base.name + '.dump']


def test_module_dump_refuses_jobs_below_one(tmp_path, run_main, fake_pg_dump):
    base = tmp_path / 'prod_safety_20260429_143512'
    refused = run_main(checksum_main, path=str(base), require_expected=False,
                       dump=dict(database='prod', pg_dump=str(fake_pg_dump), jobs=0, formats=['directory']))
    assert refused['rc'] == 1 and 'db_restore_jobs must be 1 or more' in refused['msg']
    assert not (tmp_path / 'calls.log').exists()


def test_module_unpack_to_unpacks_a_verified_packed_dump_and_refuses_other_files(tmp_path, run_main, fake_pg_dump):
    import hashlib
    base = tmp_path / 'prod_safety_20260429_143512'
    made = run_main(checksum_main, path=str(base), require_expected=False, write_sidecar=True,
                    dump=dict(database='prod', pg_dump=str(fake_pg_dump), jobs=2, formats=['directory']))
    packed = made['path']
    dest = tmp_path / 'unpacked' / 'run-1'
    dest.mkdir(parents=True)
    (dest / 'stale.dat').write_bytes(b'from an earlier attempt')
    done = run_main(checksum_main, path=packed, unpack_to=str(dest))
    assert done['rc'] == 0 and done['verified'] is True and done['unpacked'] == str(dest), done
    assert sorted(p.name for p in dest.iterdir()) == ['3001.dat.gz', 'toc.dat']
    assert (dest / 'toc.dat').read_bytes() == b'PGDMPprod'
    # A file that does not match its sidecar is not unpacked.
    with open(packed, 'ab') as handle:
        handle.write(b'\0' * 512)
    other = tmp_path / 'unpacked' / 'run-2'
    bad = run_main(checksum_main, path=packed, unpack_to=str(other))
    assert bad['rc'] == 1 and 'mismatch' in bad['msg'].lower() and not other.exists()
    # A custom-format dump has nothing to unpack; unpack_to is only for a file verified in place.
    custom = tmp_path / 'prod_20260429_1400.dump'
    custom.write_bytes(b'PGDMP' + b'x' * 100)
    refused = run_main(checksum_main, path=str(custom), expected_md5=hashlib.md5(custom.read_bytes()).hexdigest(),
                       unpack_to=str(other))
    assert refused['rc'] == 1 and 'nothing to unpack' in refused['msg'] and not other.exists()
    with_src = run_main(checksum_main, path=str(tmp_path / 'copy.dir.tar'), src=packed, unpack_to=str(other))
    assert with_src['rc'] == 1 and 'without src and s3_key' in with_src['msg']


def test_module_an_intact_file_that_is_no_dump_fails_the_download_with_its_inspection(tmp_path, run_main):
    """The download's call (roles/fetch_backup/tasks/download.yml: local store, retries, inspect, count_rows,
    source_database) on a file whose checksum matches but that is no dump: it fails on what it found, once (no
    transfer problem another try would cure), and returns its inspection, which is what stops the run there with no
    older backup tried (the stop on an inspection, end to end: test_faults.py's backup of another database, refused
    with db_restore_try_older_backups). Was test_faults.py::test_file_valid_for_its_checksum_but_no_dump_stops_in_the_
    download, a playbook run."""
    store = tmp_path / 'store'
    store.mkdir()
    src = store / 'yv_20260429_1400.dump'
    src.write_bytes(bytes(range(256)) * 256)
    (store / (src.name + '.md5')).write_text('%s  %s\n' % (hashlib.md5(src.read_bytes()).hexdigest(), src.name))
    dest = tmp_path / 'work' / 'restore' / src.name
    dest.parent.mkdir(parents=True)  # the lock's call made it
    result = run_main(checksum_main, path=str(dest), src=str(src), retries=2, retry_delay=0, inspect=True,
                      count_rows=True, source_database='yv', pg_restore=str(tmp_path / 'no-bin' / 'pg_restore'))
    assert result['rc'] == 1 and result['failed'] is True
    assert result['msg'].startswith('%s is not a PostgreSQL dump' % dest), result['msg']
    assert result['msg'].endswith('Nothing was changed.'), result['msg']
    assert result['inspect'] is not None and result['inspect']['readable'] is False, result['inspect']
    assert [a['error'] for a in result['attempts']] == [result['msg']], result['attempts']
