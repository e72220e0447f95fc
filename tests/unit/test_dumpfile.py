# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
import gzip
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile

import pytest

from ansible_collections.yieldvault.db_restore.plugins.module_utils import dumpfile

PG_BIN = os.environ.get('PG_BIN', '/usr/lib/postgresql/15/bin')
HAVE_PG = all(os.access(os.path.join(PG_BIN, b), os.X_OK) for b in ('initdb', 'pg_ctl', 'pg_dump'))


def _int(value, size=4):
    return bytes([1 if value < 0 else 0]) + abs(value).to_bytes(size, 'little')


def _str(text):
    raw = text.encode('utf-8')
    return _int(len(raw)) + raw


def craft_header(vmin, dbname='yieldvault_prod', server='17.2', dump='17.2', compression=1):
    """A custom-format header as pg_dump 1.<vmin> lays it out (see ReadHead)."""
    data = b'PGDMP' + bytes([1, vmin, 0, 4, 8, 1])
    data += bytes([compression]) if vmin >= 15 else _int(compression)
    for value in (3, 0, 14, 29, 3, 126, 0):  # 2026-04-29 14:00:03, tm_year/tm_mon style
        data += _int(value)
    return data + _str(dbname) + _str(server) + _str(dump)


def test_parse_crafted_116_header(monkeypatch):
    monkeypatch.setenv('TZ', 'UTC')
    header = dumpfile.parse_header(craft_header(16) + b'\0' * 32)
    assert header['archive_version'] == '1.16'
    assert header['compression'] == 'gzip' and header['compression_level'] is None
    assert header['dbname'] == 'yieldvault_prod'
    assert header['pg_dump_version'] == '17.2' and header['server_version'] == '17.2'


def test_parse_crafted_114_header():
    header = dumpfile.parse_header(craft_header(14, compression=0))
    assert header['archive_version'] == '1.14'
    assert header['compression'] == 'none' and header['compression_level'] == 0


def test_truncated_and_foreign_headers_are_rejected():
    with pytest.raises(dumpfile.DumpHeaderError):
        dumpfile.parse_header(craft_header(14)[:30])
    with pytest.raises(dumpfile.DumpHeaderError):
        dumpfile.parse_header(b'not a dump')


def test_negative_int_and_null_string():
    data = b'PGDMP' + bytes([1, 14, 0, 4, 8, 1]) + _int(-1)
    data += b''.join(_int(v) for v in (0, 0, 0, 1, 0, 126, 0)) + _int(-1) + _int(-1) + _int(-1)
    header = dumpfile.parse_header(data)
    assert header['compression_level'] == -1 and header['dbname'] is None


@pytest.mark.parametrize('major,archive,readable,known', [
    (15, '1.14', True, True),
    (15, '1.16', False, True),
    (16, '1.15', True, True),
    (16, '1.16', False, True),
    (17, '1.16', True, True),
    (12, '1.14', True, True),
    (99, '1.20', True, False),
])
def test_archive_readable(major, archive, readable, known):
    assert dumpfile.archive_readable(archive, major) == (readable, known)


def test_parse_pg_restore_version():
    assert dumpfile.parse_pg_restore_version('pg_restore (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n') == ('15.18', 15)
    assert dumpfile.parse_pg_restore_version('pg_restore (PostgreSQL) 17.2') == ('17.2', 17)
    assert dumpfile.parse_pg_restore_version('garbage') == (None, None)


def test_parse_toc_listing():
    listing = '\n'.join([
        ';',
        '; Archive created at 2026-04-29 14:00:03 UTC',
        ';     Format: CUSTOM',
        ';',
        '5; 2615 2200 SCHEMA - public postgres',
        '3735; 0 0 ACL - SCHEMA public postgres',
        '274; 1255 16405 FUNCTION public get_customer_balance(integer, timestamp with time zone) postgres',
        '215; 1259 16411 TABLE public User postgres',
        '3700; 0 16411 TABLE DATA public User postgres',
        '3600; 2606 16500 CONSTRAINT public User User_pkey postgres',
        '3601; 2606 16501 FK CONSTRAINT public address address_city_id_fkey postgres',
        '3602; 0 16502 MATERIALIZED VIEW DATA public rental_by_category postgres',
        '3603; 0 0 COMMENT - EXTENSION plpgsql ',
        ';3604; 0 16411 TABLE DATA public skipped postgres',
    ])
    counts, entries = dumpfile.parse_toc_listing(listing)
    assert counts == {'SCHEMA': 1, 'ACL': 1, 'FUNCTION': 1, 'TABLE': 1, 'TABLE DATA': 1, 'CONSTRAINT': 1,
                      'FK CONSTRAINT': 1, 'MATERIALIZED VIEW DATA': 1, 'COMMENT': 1}
    assert dict(type='TABLE DATA', schema='public', name='User') in entries
    assert dict(type='FUNCTION', schema='public',
                name='get_customer_balance(integer, timestamp with time zone)') in entries
    assert dict(type='ACL', schema=None, name='SCHEMA public') in entries
    assert dict(type='COMMENT', schema=None, name='EXTENSION plpgsql') in entries


def test_detect_plain_gzip_garbage(tmp_path):
    sql = b'--\n-- PostgreSQL database dump\n--\n\nSET statement_timeout = 0;\n'
    (tmp_path / 'a.backup').write_bytes(sql)
    assert dumpfile.detect_format(str(tmp_path / 'a.backup')) == 'plain'
    with gzip.open(str(tmp_path / 'b.dump'), 'wb') as handle:
        handle.write(sql)
    assert dumpfile.detect_format(str(tmp_path / 'b.dump')) == 'gzip'
    assert dumpfile.gzip_inner_format(str(tmp_path / 'b.dump')) == 'plain'
    (tmp_path / 'c.sql').write_bytes(os.urandom(512).replace(b'PGDMP', b'xxxxx'))
    assert dumpfile.detect_format(str(tmp_path / 'c.sql')) == 'unknown'
    (tmp_path / 'd.dump').write_bytes(b'hello world\n')
    assert dumpfile.detect_format(str(tmp_path / 'd.dump')) == 'unknown'
    (tmp_path / 'e').mkdir()
    assert dumpfile.detect_format(str(tmp_path / 'e')) == 'unknown'


def test_detect_crafted_custom_and_foreign_tar(tmp_path):
    (tmp_path / 'x.sql').write_bytes(craft_header(16))
    assert dumpfile.detect_format(str(tmp_path / 'x.sql')) == 'custom'
    (tmp_path / 'notes.txt').write_text('x')
    with tarfile.open(str(tmp_path / 'other.tar'), 'w') as archive:
        archive.add(str(tmp_path / 'notes.txt'), arcname='notes.txt')
    assert dumpfile.detect_format(str(tmp_path / 'other.tar')) == 'unknown'


@pytest.fixture(scope='module')
def real_dumps():
    """Dumps of a tiny throwaway cluster in every pg_dump format."""
    if not HAVE_PG:
        pytest.skip('PostgreSQL server binaries not found in %s' % PG_BIN)
    # Not pytest's tmp_path: it sits under a root-only directory that the
    # postgres user (initdb refuses to run as root) cannot enter.
    base = tempfile.mkdtemp(prefix='yv-dumpfile-')
    run_as = []
    if os.geteuid() == 0:
        shutil.chown(base, 'postgres')
        run_as = ['runuser', '-u', 'postgres', '--']
    data = os.path.join(base, 'data')
    port = str(18250 + os.getpid() % 40)
    pg_ctl = [os.path.join(PG_BIN, 'pg_ctl'), '-D', data, '-w', '-l', os.path.join(base, 'log')]
    subprocess.run(run_as + [os.path.join(PG_BIN, 'initdb'), '-D', data, '-A', 'trust', '-U', 'postgres'],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(run_as + pg_ctl + ['-o', '-p %s -k %s -c listen_addresses=' % (port, base), 'start'],
                   check=True, stdout=subprocess.DEVNULL)
    try:
        conn = ['-h', base, '-p', port, '-U', 'postgres']
        subprocess.run([os.path.join(PG_BIN, 'psql')] + conn + [
            '-v', 'ON_ERROR_STOP=1', '-q', '-d', 'postgres', '-c',
            'CREATE TABLE "User"(id int primary key, address text); INSERT INTO "User" VALUES (1, $$x$$)'],
            check=True)
        paths = {}
        # Names that say nothing about the format: detection must use the content.
        for fmt, name in (('c', 'a.custom'), ('t', 'b.tarball'), ('p', 'c.text'), ('d', 'd.folder')):
            paths[fmt] = os.path.join(base, name)
            subprocess.run(run_as + [os.path.join(PG_BIN, 'pg_dump')] + conn + ['-F' + fmt, '-f', paths[fmt],
                                                                               'postgres'], check=True)
        # Plain dumps made with --create name their database in a \connect line: a plain name, and one that
        # pg_dump writes as a connection string.
        for key, dbname in (('create', 'shop_db'), ('create_odd', "yv 'odd' \\ db")):
            subprocess.run([os.path.join(PG_BIN, 'psql')] + conn + [
                '-v', 'ON_ERROR_STOP=1', '-q', '-d', 'postgres', '-c', 'CREATE DATABASE "%s"' % dbname], check=True)
            paths[key] = os.path.join(base, key + '.sql')
            subprocess.run(run_as + [os.path.join(PG_BIN, 'pg_dump')] + conn + ['-Fp', '--create', '-f', paths[key],
                                                                               '--', dbname], check=True)
        with open(paths['create'], 'rb') as plain, gzip.open(os.path.join(base, 'create.sql.gz'), 'wb') as packed:
            packed.write(plain.read())
        paths['create_gzip'] = os.path.join(base, 'create.sql.gz')
        yield paths
    finally:
        subprocess.run(run_as + pg_ctl + ['-m', 'fast', 'stop'], stdout=subprocess.DEVNULL)
        shutil.rmtree(base, ignore_errors=True)


def test_real_dump_formats(real_dumps):
    assert dumpfile.detect_format(real_dumps['c']) == 'custom'
    assert dumpfile.detect_format(real_dumps['t']) == 'tar'
    assert dumpfile.detect_format(real_dumps['p']) == 'plain'
    assert dumpfile.detect_format(real_dumps['d']) == 'directory'


@pytest.mark.parametrize('fmt', ['c', 't', 'd'])
def test_real_dump_headers(real_dumps, fmt):
    kind = dumpfile.detect_format(real_dumps[fmt])
    header = dumpfile.parse_header(dumpfile.header_bytes(real_dumps[fmt], kind))
    assert header['archive_version'] == '1.14'
    assert header['dbname'] == 'postgres'
    assert header['pg_dump_version'].startswith('15.')
    assert header['server_version'].startswith('15.')
    assert header['created'].endswith('Z')
    assert header['int_size'] == 4


def test_real_dump_toc(real_dumps):
    listing = subprocess.run([os.path.join(PG_BIN, 'pg_restore'), '--list', real_dumps['c']],
                             check=True, capture_output=True, text=True).stdout
    counts, entries = dumpfile.parse_toc_listing(listing)
    assert counts['TABLE'] == 1 and counts['TABLE DATA'] == 1 and counts['CONSTRAINT'] == 1
    assert dict(type='TABLE', schema='public', name='User') in entries


def test_real_directory_dump_packed_is_detected_listed_and_unpacks_for_pg_restore(real_dumps, tmp_path):
    packed = str(tmp_path / 'prod_safety_20260429_143512.dir.tar')
    dumpfile.pack_directory(real_dumps['d'], packed, 'prod_safety_20260429_143512')
    assert stat.S_IMODE(os.stat(packed).st_mode) == 0o600
    # By content, whatever the name; the header read from its toc.dat member.
    assert dumpfile.detect_format(packed) == 'directory_tar'
    with open(packed, 'rb') as handle:
        assert dumpfile.detect_format_bytes(handle.read(dumpfile.SNIFF_BYTES)) == 'directory_tar'
    header = dumpfile.parse_header(dumpfile.header_bytes(packed, 'directory_tar'))
    assert header['dbname'] == 'postgres' and header['pg_dump_version'].startswith('15.')
    # pg_restore lists it from its toc.dat alone, and reads it once unpacked (tar -x --strip-components=1).
    toc_dir = tmp_path / 'toc'
    toc_dir.mkdir()
    dumpfile.extract_toc(packed, str(toc_dir))
    listed = subprocess.run([os.path.join(PG_BIN, 'pg_restore'), '--list', str(toc_dir)],
                            check=True, capture_output=True, text=True).stdout
    assert dict(type='TABLE', schema='public', name='User') in dumpfile.parse_toc_listing(listed)[1]
    # Unpacked by the module (unpack_directory) and by hand (the report's tar -xf ... -C <its directory>).
    unpacked = tmp_path / 'unpacked'
    dumpfile.unpack_directory(packed, str(unpacked))
    assert stat.S_IMODE(os.stat(str(unpacked)).st_mode) == 0o700
    assert sorted(os.listdir(str(unpacked))) == sorted(os.listdir(real_dumps['d']))
    subprocess.run(['tar', '-xf', packed, '-C', str(tmp_path)], check=True)
    for directory in (unpacked, tmp_path / 'prod_safety_20260429_143512'):
        sql = subprocess.run([os.path.join(PG_BIN, 'pg_restore'), '--file=-', str(directory)],
                             check=True, capture_output=True, text=True).stdout
        assert 'CREATE TABLE public."User"' in sql and '1\tx' in sql
    with pytest.raises(OSError):
        dumpfile.unpack_directory(packed, str(unpacked))  # never into an existing directory
    # A pg_dump tar archive stays 'tar'; a packed file refuses to be written over.
    assert dumpfile.detect_format(real_dumps['t']) == 'tar'
    with pytest.raises(OSError):
        dumpfile.pack_directory(real_dumps['d'], packed, 'again')


def test_pack_directory_refuses_what_is_not_a_directory_dump(tmp_path):
    (tmp_path / 'd').mkdir()
    (tmp_path / 'd' / '3001.dat.gz').write_bytes(b'x')
    with pytest.raises(OSError, match='no toc.dat'):
        dumpfile.pack_directory(str(tmp_path / 'd'), str(tmp_path / 'x.dir.tar'), 'x')
    (tmp_path / 'd' / 'toc.dat').write_bytes(b'PGDMP')
    (tmp_path / 'd' / 'sub').mkdir()
    with pytest.raises(OSError, match='not a regular file'):
        dumpfile.pack_directory(str(tmp_path / 'd'), str(tmp_path / 'y.dir.tar'), 'y')
    # remove: each file goes once it is packed, so the disk never holds two copies.
    (tmp_path / 'd' / 'sub').rmdir()
    dumpfile.pack_directory(str(tmp_path / 'd'), str(tmp_path / 'z.dir.tar'), 'z', remove=True)
    assert list((tmp_path / 'd').iterdir()) == []
    with tarfile.open(str(tmp_path / 'z.dir.tar')) as archive:
        assert archive.getnames() == ['z/toc.dat', 'z/3001.dat.gz']
        assert archive.extractfile('z/3001.dat.gz').read() == b'x'


def test_a_tar_with_toc_dat_deeper_than_one_directory_is_not_a_dump(tmp_path):
    (tmp_path / 'toc.dat').write_bytes(b'PGDMP')
    with tarfile.open(str(tmp_path / 'deep.tar'), 'w') as archive:
        archive.add(str(tmp_path / 'toc.dat'), arcname='a/b/toc.dat')
    assert dumpfile.detect_format(str(tmp_path / 'deep.tar')) == 'unknown'
    assert not dumpfile.is_packed_toc_name('../toc.dat') and dumpfile.is_packed_toc_name('x/toc.dat')


def _tar_with(path, members):
    """members: (name, kind) with kind file, symlink or dir."""
    import io
    with tarfile.open(str(path), 'w') as archive:
        for name, kind in members:
            info = tarfile.TarInfo(name)
            if kind == 'file':
                data = b'PGDMP' if name.endswith('toc.dat') else b'rows'
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
            elif kind == 'symlink':
                info.type, info.linkname = tarfile.SYMTYPE, '/etc/passwd'
                archive.addfile(info)
            else:
                info.type = tarfile.DIRTYPE
                archive.addfile(info)


@pytest.mark.parametrize('members', [
    [('x/toc.dat', 'file'), ('x/3001.dat.gz', 'symlink')],        # a link
    [('x/toc.dat', 'file'), ('x/sub', 'dir')],                     # a directory
    [('x/toc.dat', 'file'), ('x/../../evil', 'file')],             # out of the top directory
    [('x/toc.dat', 'file'), ('y/3001.dat.gz', 'file')],            # two top directories
    [('x/3001.dat.gz', 'file')],                                   # no toc.dat
    [('x/toc.dat', 'file'), ('x/.hidden', 'file')],                # not a dump's file name
])
def test_unpack_directory_refuses_anything_but_one_dump_directory_and_writes_nothing(tmp_path, members):
    _tar_with(tmp_path / 'bad.dir.tar', members)
    with pytest.raises(OSError):
        dumpfile.unpack_directory(str(tmp_path / 'bad.dir.tar'), str(tmp_path / 'out'))
    assert not (tmp_path / 'out').exists() and not (tmp_path / 'evil').exists()


@pytest.mark.parametrize('fmt', ['c', 't', 'd'])
def test_real_dump_source_database_from_the_archive_header(real_dumps, fmt):
    kind = dumpfile.detect_format(real_dumps[fmt])
    assert dumpfile.source_database(real_dumps[fmt], kind) == 'postgres'


def test_real_packed_directory_dump_source_database(real_dumps, tmp_path):
    packed = str(tmp_path / 'prod_safety_20260429_143512.dir.tar')
    dumpfile.pack_directory(real_dumps['d'], packed, 'prod_safety_20260429_143512')
    assert dumpfile.source_database(packed, 'directory_tar') == 'postgres'


def test_real_plain_dump_names_its_database_only_with_create(real_dumps):
    assert dumpfile.source_database(real_dumps['p'], 'plain') is None
    assert dumpfile.source_database(real_dumps['create'], 'plain') == 'shop_db'
    assert dumpfile.source_database(real_dumps['create_odd'], 'plain') == "yv 'odd' \\ db"
    assert dumpfile.detect_format(real_dumps['create_gzip']) == 'gzip'
    assert dumpfile.source_database(real_dumps['create_gzip'], 'gzip') == 'shop_db'


@pytest.mark.parametrize('text,dbname', [
    (b'--\n-- PostgreSQL database dump\n--\nSET x = 1;\n', None),
    (b'CREATE DATABASE shop WITH TEMPLATE = template0;\n\\connect shop\n\nSET x = 1;\n', 'shop'),
    (b'\\connect "Shop ""A"""\n', 'Shop "A"'),
    (b"\\connect -reuse-previous=on \"dbname='a b\\\\c\\'d'\"\n", "a b\\c'd"),
    (b'\\connect -reuse-previous=on "dbname=plain"\n', 'plain'),
])
def test_plain_source_database(text, dbname):
    assert dumpfile.plain_source_database(text) == dbname


def test_crafted_header_names_its_database(tmp_path):
    path = tmp_path / 'x.dump'
    path.write_bytes(craft_header(14, dbname='other_db'))
    assert dumpfile.source_database(str(path), 'custom') == 'other_db'
    path.write_bytes(craft_header(14)[:30])
    with pytest.raises(dumpfile.DumpHeaderError):
        dumpfile.source_database(str(path), 'custom')


# A real dump (pg_dump 15 of a database "toc spaces") whose every object is owned by the role "app owner",
# with a schema, tables, an index and a function whose names hold spaces; toc_spaces.list is pg_restore -l of
# it, as is. Made with: CREATE ROLE "app owner"; CREATE SCHEMA "my schema" AUTHORIZATION "app owner"; as that
# role, "my schema"."order items" (id PRIMARY KEY, "unit price") with the index "order items price idx",
# public."User" (id PRIMARY KEY, name) and the function public."total of"(integer, timestamptz).
DATA = os.path.join(os.path.dirname(__file__), 'data')
SPACES_EXPECTED = [
    dict(type='SCHEMA', schema=None, name='my schema'),
    dict(type='ACL', schema=None, name='SCHEMA public'),
    dict(type='FUNCTION', schema='public', name='total of(integer, timestamp with time zone)'),
    dict(type='TABLE', schema='my schema', name='order items'),
    dict(type='TABLE', schema='public', name='User'),
    dict(type='TABLE DATA', schema='my schema', name='order items'),
    dict(type='TABLE DATA', schema='public', name='User'),
    dict(type='CONSTRAINT', schema='my schema', name='order items order items_pkey'),
    dict(type='CONSTRAINT', schema='public', name='User User_pkey'),
    dict(type='INDEX', schema='my schema', name='order items price idx'),
]


def _spaces_listing():
    with open(os.path.join(DATA, 'toc_spaces.list')) as handle:
        return handle.read()


@pytest.mark.parametrize('name, fmt', [('toc_spaces.dump', 'custom'), ('toc_spaces.tar', 'tar'),
                                       ('toc_spaces.dir', 'directory')])
def test_read_toc_gives_names_and_owners_that_hold_spaces(name, fmt):
    toc = dumpfile.read_toc(os.path.join(DATA, name), fmt)
    assert toc[215] == dict(type='TABLE', schema='my schema', name='order items', owner='app owner')
    assert toc[3202] == dict(type='INDEX', schema='my schema', name='order items price idx', owner='app owner')
    assert toc[3357]['owner'] == 'pg_database_owner'


def test_listing_with_the_archive_toc_keeps_whole_names_when_the_owner_holds_a_space():
    listing = _spaces_listing()
    toc = dumpfile.read_toc(os.path.join(DATA, 'toc_spaces.dump'), 'custom')
    counts, entries = dumpfile.parse_toc_listing(listing, toc)
    assert entries == SPACES_EXPECTED
    assert counts == {'SCHEMA': 1, 'ACL': 1, 'FUNCTION': 1, 'TABLE': 2, 'TABLE DATA': 2, 'CONSTRAINT': 2,
                      'INDEX': 1}
    # From the words alone the owner's first word sticks to every name: what the parser read before.
    dummy, guessed = dumpfile.parse_toc_listing(listing)
    assert dict(type='TABLE', schema='public', name='User app') in guessed


def test_read_toc_of_what_is_no_archive_or_is_cut_is_none(tmp_path):
    with open(os.path.join(DATA, 'toc_spaces.dump'), 'rb') as handle:
        data = handle.read()
    cut = tmp_path / 'cut.dump'
    cut.write_bytes(data[:400])
    assert dumpfile.read_toc(str(cut), 'custom') is None
    text = tmp_path / 'plain.sql'
    text.write_text('SELECT 1;\n')
    assert dumpfile.read_toc(str(text), 'custom') is None
    assert dumpfile.read_toc(str(tmp_path / 'missing.dump'), 'custom') is None
