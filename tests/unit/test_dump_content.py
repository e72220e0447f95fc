"""dump_content: a backup's exact row counts read from the archive itself.

tests/unit/data/content.* are pg_dump 15 archives of one small database (custom compressed and -Z0, directory,
tar, custom --inserts) holding a schema and a table whose names have spaces, values with escaped newlines and
backslashes, an empty table, a two-level partitioned table (payment, "payment P2"), a materialized view that
was stale when dumped (user_mv: 4 rows stored, "User" has 5) and one WITH NO DATA (never_mv).
"""
import os

import pytest

from ansible_collections.yieldvault.db_restore.plugins.module_utils import dump_content
from ansible_collections.yieldvault.db_restore.plugins.module_utils.dumpfile import pack_directory

DATA = os.path.join(os.path.dirname(__file__), 'data')
EXPECTED = {
    'my schema.order items': 250, 'public.User': 5, 'public.empty_one': 0,
    'public.payment': 1000, 'public.payment P2': 380, 'public.payment_p1': 620, 'public.payment_p2_a': 160,
    'public.payment_p2_b': 220,
    # pg_restore refreshes it from the restored "User" (5 rows), whatever it held when dumped
    'public.user_mv': 'refreshed',
    'public.never_mv': None,
}


@pytest.mark.parametrize('name, fmt', [('content.dump', 'custom'), ('content_z0.dump', 'custom'),
                                       ('content.dir', 'directory'), ('content.tar', 'tar')])
def test_exact_counts_from_every_archive_format(name, fmt):
    content = dump_content.read_content(os.path.join(DATA, name), fmt)
    assert content['error'] is None and content['counted'] is True
    assert content['tables'] == EXPECTED
    assert content['partitions'] == {'public.payment': ['public.payment_p2_a', 'public.payment_p2_b',
                                                        'public.payment_p1']}
    assert content['columns']['public.User'] == ['id', 'address', 'createdAt']
    assert content['columns']['my schema.order items'] == ['id', 'Note', 'price']
    assert content['relations']['public.user_mv'] == 'MATERIALIZED VIEW'
    assert content['data_bytes'] > 0
    assert content['total_rows'] == 250 + 5 + 1000


def test_packed_directory_dump(tmp_path):
    packed = tmp_path / 'content.dir.tar'
    pack_directory(os.path.join(DATA, 'content.dir'), str(packed), 'content')
    assert dump_content.read_content(str(packed), 'directory_tar')['tables'] == EXPECTED


def test_insert_statements_are_not_counted_and_say_so():
    content = dump_content.read_content(os.path.join(DATA, 'content_inserts.dump'), 'custom')
    assert content['counted'] is True
    assert content['tables']['public.User'] == dump_content.UNKNOWN
    assert content['tables']['public.payment'] == dump_content.UNKNOWN
    assert 'public.User' in content['unknown']


@pytest.mark.parametrize('keep', [0.5, 0.9, 0.99])
def test_truncated_custom_archive_is_an_error_not_a_count(tmp_path, keep):
    data = open(os.path.join(DATA, 'content.dump'), 'rb').read()
    cut = tmp_path / 'cut.dump'
    cut.write_bytes(data[:int(len(data) * keep)])
    content = dump_content.read_content(str(cut), 'custom')
    assert content['counted'] is False and content['tables'] is None
    assert 'truncated' in content['error'] or 'damaged' in content['error'] or 'ends inside' in content['error']
    if keep > 0.8:
        # cut in the data: the table of contents is known even so, and the settings can be checked against it
        assert 'public.User' in content['relations']


def test_missing_data_file_of_a_directory_dump(tmp_path):
    import shutil
    copy = tmp_path / 'd'
    shutil.copytree(os.path.join(DATA, 'content.dir'), str(copy))
    victim = sorted(p for p in os.listdir(str(copy)) if p.endswith('.gz'))[0]
    os.unlink(str(copy / victim))
    content = dump_content.read_content(str(copy), 'directory')
    assert content['counted'] is False and 'missing' in content['error']


def test_truncated_tar_archive(tmp_path):
    data = open(os.path.join(DATA, 'content.tar'), 'rb').read()
    cut = tmp_path / 'cut.tar'
    cut.write_bytes(data[:len(data) // 2])
    content = dump_content.read_content(str(cut), 'tar')
    assert content['counted'] is False and content['error']


def test_plain_sql_has_no_table_of_contents(tmp_path):
    sql = tmp_path / 'plain.sql'
    sql.write_text('SELECT 1;\n')
    content = dump_content.read_content(str(sql), 'plain')
    assert content['counted'] is False and 'SQL text' in content['error']


@pytest.mark.parametrize('text, rows', [
    (b'\\.\n\n\n', 0),                      # an empty table
    (b'1\ta\n2\tb\n\\.\n\n\n', 2),
    (b'\n\nx\n\\.\n\n\n', 3),                # rows that are one empty text column
    (b'1\ta\\nb\n', 1),                     # no end-of-copy line (newer pg_dump), an escaped newline inside
    (b'\\\\.\n', 1),                        # a value that is a backslash and a dot is a row
])
def test_copy_rows(text, rows):
    assert dump_content.copy_rows(text.count(b'\n'), text[-dump_content.TAIL:]) == rows


def test_lines_are_counted_across_chunks():
    counter = dump_content._Counter(False)
    for piece in (b'1\ta\n2', b'\tb\n\\', b'.\n', b'\n\n'):
        counter.feed(piece)
    counter.finish()
    assert counter.lines == 2


@pytest.mark.parametrize('defn, pair', [
    ('ALTER TABLE ONLY public.payment ATTACH PARTITION public.payment_p1 FOR VALUES FROM (1) TO (2);',
     ('public.payment', 'public.payment_p1')),
    ('ALTER TABLE ONLY "my schema"."pay ""x""" ATTACH PARTITION "my schema"."P 1" DEFAULT;',
     ('my schema.pay "x"', 'my schema.P 1')),
])
def test_partition_parent(defn, pair):
    assert dump_content.partition_parent({'type': 'TABLE ATTACH', 'defn': defn}) == pair


def test_partition_of_in_create_table():
    entry = {'type': 'TABLE', 'defn': 'CREATE TABLE public.p1 PARTITION OF public.p FOR VALUES IN (1);\n'}
    assert dump_content.partition_parent(entry) == ('public.p', 'public.p1')


def test_table_columns():
    defn = ('CREATE TABLE public."User" (\n    id integer NOT NULL,\n    "createdAt" timestamp(3) without time zone,'
            '\n    "we""ird" text,\n    CONSTRAINT positive CHECK ((id > 0))\n);\n')
    assert dump_content.table_columns(defn) == ['id', 'createdAt', 'we"ird']
    assert dump_content.table_columns('CREATE TABLE public.t OF public.ty;\n') is None


def test_backup_checksum_counts_the_rows_in_the_download_call(tmp_path, run_main):
    # The download's one module call verifies the file, lets pg_restore list it and counts its rows.
    import hashlib
    import shutil
    from ansible_collections.yieldvault.db_restore.plugins.modules import backup_checksum
    src = os.path.join(DATA, 'content.dump')
    dest = tmp_path / 'content_20261204_1200.dump'
    md5 = hashlib.md5(open(src, 'rb').read()).hexdigest()
    if not shutil.which('pg_restore') and not os.path.exists('/usr/lib/postgresql/15/bin/pg_restore'):
        pytest.skip('pg_restore is not installed')
    binary = shutil.which('pg_restore') or '/usr/lib/postgresql/15/bin/pg_restore'
    result = run_main(backup_checksum.main, path=str(dest), src=src, expected_md5=md5, inspect=True,
                      count_rows=True, pg_restore=binary)
    assert result['rc'] == 0, result.get('msg')
    content = result['inspect']['content']
    assert content['counted'] is True and content['tables'] == EXPECTED
    plain = run_main(backup_checksum.main, path=str(dest), expected_md5=md5, inspect=True, pg_restore=binary)
    assert 'content' not in plain['inspect'], 'rows are counted only when asked'


def test_data_of_a_table_the_dump_does_not_create_is_not_claimed():
    # an extension's configuration table: CREATE EXTENSION makes it with rows of its own, the dump adds the user's
    entries = [dict(id=1, type='EXTENSION', schema=None, name='postgis', defn='', copy_stmt=''),
               dict(id=2, type='TABLE DATA', schema='public', name='spatial_ref_sys', defn='',
                    copy_stmt='COPY public.spatial_ref_sys (srid) FROM stdin;\n'),
               dict(id=3, type='TABLE', schema='public', name='t', defn='CREATE TABLE public.t (\n    x integer\n);\n'),
               dict(id=4, type='TABLE DATA', schema='public', name='t', defn='', copy_stmt='COPY public.t (x) FROM stdin;\n')]
    described = dump_content.describe_entries(entries)
    tables, dummy, unknown = dump_content.expected_counts(described, {2: 3, 4: 7})
    assert tables == {'public.spatial_ref_sys': 'unknown', 'public.t': 7}
    assert unknown == ['public.spatial_ref_sys']


def _pg_restore():
    import shutil
    binary = shutil.which('pg_restore') or '/usr/lib/postgresql/15/bin/pg_restore'
    if not os.path.exists(binary):
        pytest.skip('pg_restore is not installed')
    return binary


def test_damage_is_told_apart_from_data_this_host_does_not_read(tmp_path):
    data = open(os.path.join(DATA, 'content.dump'), 'rb').read()
    cut = tmp_path / 'cut.dump'
    cut.write_bytes(data[:int(len(data) * 0.9)])
    assert dump_content.read_content(str(cut), 'custom')['damaged'] is True
    sql = tmp_path / 'plain.sql'
    sql.write_text('SELECT 1;\n')
    assert dump_content.read_content(str(sql), 'plain')['damaged'] is False
    assert dump_content.read_content(os.path.join(DATA, 'content.dump'), 'custom')['damaged'] is False


@pytest.mark.parametrize('name, keep', [('content.dump', 0.9), ('content.tar', 0.6)])
def test_a_truncated_backup_with_a_matching_checksum_is_refused_in_the_download_call(tmp_path, run_main, name, keep):
    # Written truncated by a backup job that died, and hashed after: the checksum matches, pg_restore --list
    # reads the table of contents, and only the data is cut. Refused before anything changes, with pg_restore's
    # own word for it (a reader of ours that is wrong never refuses a good backup on its own).
    import hashlib
    from ansible_collections.yieldvault.db_restore.plugins.modules import backup_checksum
    binary = _pg_restore()
    data = open(os.path.join(DATA, name), 'rb').read()
    src = tmp_path / ('cut' + os.path.splitext(name)[1])
    src.write_bytes(data[:int(len(data) * keep)])
    md5 = hashlib.md5(src.read_bytes()).hexdigest()
    result = run_main(backup_checksum.main, path=str(tmp_path / ('app_20261204_1200' + src.suffix)), src=str(src),
                      expected_md5=md5, inspect=True, count_rows=True, pg_restore=binary)
    assert result['rc'] == 1, result
    assert 'is damaged' in result['msg'] and 'Nothing was changed' in result['msg'], result['msg']
    assert '-e backup=<name>' in result['msg'] and ('pg_restore: ' in result['msg'] or 'tar' in result['msg']), result['msg']
    assert result['inspect']['content']['damage_confirmed'] is True


def test_a_dump_newer_than_pg_restore_is_refused_in_the_download_call(tmp_path, run_main):
    # A custom-format archive claiming version 1.16 (pg_dump of PostgreSQL 17), with a matching checksum: this
    # pg_restore cannot read it, so the download call refuses it before anything changes, naming the version.
    import hashlib
    from ansible_collections.yieldvault.db_restore.plugins.modules import backup_checksum
    data = bytearray(open(os.path.join(DATA, 'content.dump'), 'rb').read())
    assert data[:5] == b'PGDMP'
    data[5:8] = bytes([1, 16, 0])
    src = tmp_path / 'newer.dump'
    src.write_bytes(bytes(data))
    result = run_main(backup_checksum.main, path=str(tmp_path / 'app_20261204_1200.dump'), src=str(src),
                      expected_md5=hashlib.md5(bytes(data)).hexdigest(), inspect=True, count_rows=True,
                      pg_restore=_pg_restore())
    assert result['rc'] == 1, result
    assert '1.16' in result['msg'] and 'Nothing was changed' in result['msg'], result['msg']


def test_damage_only_our_reader_sees_is_not_a_refusal(tmp_path, run_main, monkeypatch):
    # If our reader ever calls a good archive damaged, pg_restore reads it to the end and the backup is used
    # (its counts then come from the manifest or the database before the restore).
    import hashlib
    from ansible_collections.yieldvault.db_restore.plugins.modules import backup_checksum
    from ansible_collections.yieldvault.db_restore.plugins.module_utils import inspect_dump
    binary = _pg_restore()

    def wrong_reader(path, fmt):
        return dict(counted=False, error='a reader bug', damaged=True, tables=None, relations={}, columns={})

    monkeypatch.setattr(inspect_dump, 'read_content', wrong_reader)
    src = os.path.join(DATA, 'content.dump')
    md5 = hashlib.md5(open(src, 'rb').read()).hexdigest()
    result = run_main(backup_checksum.main, path=str(tmp_path / 'app_20261204_1200.dump'), src=src,
                      expected_md5=md5, inspect=True, count_rows=True, pg_restore=binary)
    assert result['rc'] == 0, result.get('msg')
    assert result['inspect']['content']['damage_confirmed'] is False
