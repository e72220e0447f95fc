# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL dump files: format detection, archive header, TOC listing (pure, unit tested).

The header layout follows ReadHead() in PostgreSQL's
src/bin/pg_dump/pg_backup_archiver.c.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import gzip
import os
import re
import shutil
import tarfile
import time
import zlib

MAGIC = b'PGDMP'
TOC_FILE = 'toc.dat'
SNIFF_BYTES = 65536
# A directory-format dump packed into one uncompressed tar file (the safety
# backup, so that one file can be hashed, given a sidecar and uploaded):
# <top>/toc.dat first, then the data files, under one top directory named after
# the file. pg_restore cannot read it as it is (a pg_dump tar archive has
# toc.dat at the root and no compressed members): it is unpacked first.
PACKED_DIRECTORY = 'directory_tar'
PACKED_SUFFIX = '.dir.tar'

# pg_compress_algorithm in common/compression.h, stored from archive 1.15 on.
COMPRESSION_ALGORITHMS = {0: 'none', 1: 'gzip', 2: 'lz4', 3: 'zstd'}

# Newest archive version each pg_restore major reads (K_VERS_MAX keeps the
# minor and allows any revision). From pg_backup_archiver.h: 1.14 "add
# tableam" came with 12, 1.15 "compression_algorithm in header" with 16,
# 1.16 "BLOB METADATA entries and multiple BLOBS, relkind" with 17.
MAX_ARCHIVE_VERSION = {
    11: (1, 13),
    12: (1, 14),
    13: (1, 14),
    14: (1, 14),
    15: (1, 14),
    16: (1, 15),
    17: (1, 16),
}

# Object types as pg_dump writes them into the TOC. Longest first so that
# "TABLE DATA" is not read as "TABLE" followed by a schema named DATA.
TOC_TYPES = sorted([
    'ACCESS METHOD', 'ACL', 'AGGREGATE', 'BLOB', 'BLOB METADATA', 'BLOBS', 'CAST', 'CHECK CONSTRAINT',
    'COLLATION', 'COMMENT', 'CONSTRAINT', 'CONVERSION', 'DATABASE', 'DATABASE PROPERTIES', 'DEFAULT',
    'DEFAULT ACL', 'DOMAIN', 'ENCODING', 'EVENT TRIGGER', 'EXTENSION', 'FK CONSTRAINT',
    'FOREIGN DATA WRAPPER', 'FOREIGN SERVER', 'FOREIGN TABLE', 'FUNCTION', 'INDEX', 'INDEX ATTACH',
    'LARGE OBJECT', 'MATERIALIZED VIEW', 'MATERIALIZED VIEW DATA', 'OPERATOR', 'OPERATOR CLASS',
    'OPERATOR FAMILY', 'POLICY', 'PROCEDURAL LANGUAGE', 'PROCEDURE', 'PUBLICATION', 'PUBLICATION TABLE',
    'PUBLICATION TABLES IN SCHEMA', 'ROW SECURITY', 'RULE', 'SCHEMA', 'SEARCHPATH', 'SECURITY LABEL',
    'SEQUENCE', 'SEQUENCE OWNED BY', 'SEQUENCE SET', 'SERVER', 'SHELL TYPE', 'STATISTICS',
    'STATISTICS DATA', 'STDSTRINGS', 'SUBSCRIPTION', 'SUBSCRIPTION TABLE', 'TABLE', 'TABLE ATTACH',
    'TABLE DATA', 'TEXT SEARCH CONFIGURATION', 'TEXT SEARCH DICTIONARY', 'TEXT SEARCH PARSER',
    'TEXT SEARCH TEMPLATE', 'TRANSFORM', 'TRIGGER', 'TYPE', 'USER MAPPING', 'VIEW',
], key=len, reverse=True)

_TOC_LINE_RE = re.compile(r'^(\d+); (\d+) (\d+) (.*)$')
_SQL_START_RE = re.compile(
    r'^\s*(--|/\*|SET\s|SELECT\s|CREATE\s|ALTER\s|COPY\s|INSERT\s|BEGIN|COMMIT|DROP\s|GRANT\s|REVOKE\s|'
    r'COMMENT\s|\\connect|\\restrict)', re.IGNORECASE)
_VERSION_RE = re.compile(r'(\d+)(?:\.(\d+))?')


class DumpHeaderError(ValueError):
    """The archive header is truncated or not a pg_dump header."""


def detect_format(path):
    """custom, tar, directory, directory_tar, gzip, plain or unknown, from the content only."""
    if os.path.isdir(path):
        return 'directory' if os.path.isfile(os.path.join(path, TOC_FILE)) else 'unknown'
    with open(path, 'rb') as handle:
        head = handle.read(SNIFF_BYTES)
    return detect_format_bytes(head, path=path)


def detect_format_bytes(head, path=None):
    if head.startswith(MAGIC):
        return 'custom'
    if len(head) >= 262 and head[257:262] == b'ustar':
        # A tar that is not a pg_dump archive (no toc.dat) is not ours to restore.
        name = _tar_name(head) if path is None else toc_member(path)[0]
        if name == TOC_FILE:
            return 'tar'
        return PACKED_DIRECTORY if is_packed_toc_name(name) else 'unknown'
    if head[:2] == b'\x1f\x8b':
        return 'gzip'
    if looks_like_sql(head):
        return 'plain'
    return 'unknown'


def _tar_name(block):
    return block[:100].split(b'\0', 1)[0].decode('utf-8', 'replace')


def is_packed_toc_name(name):
    """True for <top>/toc.dat, the first member of a packed directory dump."""
    parts = (name or '').split('/')
    return len(parts) == 2 and parts[1] == TOC_FILE and parts[0] not in ('', '.', '..')


def toc_member(path, max_members=16):
    """(name, first bytes) of the TOC member of a tar file, or (None, None).

    The member is toc.dat in a pg_dump tar archive, <top>/toc.dat in a packed directory dump; both are written
    first, so only the first few members are looked at and a large archive is never read through.
    """
    try:
        with tarfile.open(path, 'r:') as archive:
            for index, member in enumerate(archive):
                if index >= max_members:
                    break
                if member.isfile() and (member.name == TOC_FILE or is_packed_toc_name(member.name)):
                    handle = archive.extractfile(member)
                    return member.name, (handle.read(SNIFF_BYTES) if handle else None)
    except (tarfile.TarError, OSError, EOFError):
        pass
    return None, None


def pack_directory(directory, dest, top, remove=False):
    """Pack a directory-format dump into dest (created with mode 0600, must not exist): toc.dat first.

    Only the dump's own regular files are taken, as top/<name>; anything else in the directory is an error.
    remove deletes each file once it is in dest, so that the disk holds one copy of the dump, not two.
    """
    names = sorted(os.listdir(directory))
    if TOC_FILE not in names:
        raise OSError('%s has no %s: not a directory-format dump' % (directory, TOC_FILE))
    names.remove(TOC_FILE)
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, 'wb') as handle:
        with tarfile.open(fileobj=handle, mode='w', format=tarfile.GNU_FORMAT) as archive:
            for name in [TOC_FILE] + names:
                source = os.path.join(directory, name)
                if not os.path.isfile(source) or os.path.islink(source):
                    raise OSError('%s is not a regular file of the dump' % source)
                info = archive.gettarinfo(source, arcname='%s/%s' % (top, name))
                info.uid = info.gid = 0
                info.uname = info.gname = ''
                with open(source, 'rb') as member:
                    archive.addfile(info, member)
                if remove:
                    os.unlink(source)
        handle.flush()
        os.fsync(handle.fileno())


def looks_like_sql(data):
    # An editor may have saved a plain dump with a UTF-8 byte-order mark.
    if data and data.startswith(b'\xef\xbb\xbf'):
        data = data[3:]
    if not data or b'\0' in data:
        return False
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as exc:
        # The sniffed prefix may end inside a multibyte character.
        if exc.start < len(data) - 4:
            return False
        text = data[:exc.start].decode('utf-8')
    if 'PostgreSQL database dump' in text or 'PostgreSQL database cluster dump' in text:
        return True
    for line in text.splitlines():
        if line.strip():
            return bool(_SQL_START_RE.match(line))
    return False


def gzip_inner_format(path, limit=SNIFF_BYTES):
    """Format of what a gzip file holds: plain, custom or unknown."""
    try:
        with gzip.open(path, 'rb') as handle:
            head = handle.read(limit)
    except (OSError, EOFError, zlib.error):
        return 'unknown'
    if head.startswith(MAGIC):
        return 'custom'
    return 'plain' if looks_like_sql(head) else 'unknown'


_MEMBER_NAME_RE = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.-]*$')


def unpack_directory(path, dest):
    """Unpack a packed directory dump into dest (created, mode 0700; must not exist) for pg_restore.

    Every member must be a regular file directly under the archive's one top directory, with a plain file name
    (no links, devices, sub-directories or '..'): the archive is checked whole before anything is written. On any
    error dest is removed and OSError raised.
    """
    with tarfile.open(path, 'r:') as archive:
        members = archive.getmembers()
        tops = set()
        has_toc = any(m.name.endswith('/' + TOC_FILE) for m in members)
        for member in members:
            parts = member.name.split('/')
            if not member.isfile() or len(parts) != 2 or not _MEMBER_NAME_RE.match(parts[1]) \
                    or parts[0] in ('', '.', '..'):
                raise OSError('%s holds %s, which is not a file of a directory-format dump; nothing was unpacked'
                              % (path, member.name))
            tops.add(parts[0])
        if len(tops) != 1 or not has_toc:
            raise OSError('%s is not one directory-format dump (%d top directories, toc.dat %s); nothing was '
                          'unpacked' % (path, len(tops), 'found' if has_toc else 'missing'))
        os.mkdir(dest, 0o700)
        try:
            for member in members:
                _write_new(archive.extractfile(member), os.path.join(dest, member.name.split('/')[1]))
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise


def extract_toc(path, dest_dir):
    """Write the whole toc.dat of a packed directory dump into dest_dir (for pg_restore --list dest_dir)."""
    name = toc_member(path)[0]
    if not name:
        raise OSError('%s has no %s among its first members' % (path, TOC_FILE))
    with tarfile.open(path, 'r:') as archive:
        _write_new(archive.extractfile(archive.getmember(name)), os.path.join(dest_dir, TOC_FILE))


def _write_new(source, target):
    """Copy the file object source into target, a new file of mode 0600 (an existing one is an error)."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, 'wb') as handle:
        while True:
            chunk = source.read(1048576)
            if not chunk:
                break
            handle.write(chunk)


def header_bytes(path, fmt):
    """The first bytes of the archive header for custom, tar or directory dumps."""
    if fmt == 'custom':
        with open(path, 'rb') as handle:
            return handle.read(SNIFF_BYTES)
    if fmt in ('tar', PACKED_DIRECTORY):
        return toc_member(path)[1]
    if fmt == 'directory':
        with open(os.path.join(path, TOC_FILE), 'rb') as handle:
            return handle.read(SNIFF_BYTES)
    return None


# pg_dump --create writes "\connect <name>" (appendPsqlMetaConnect): the name bare, double-quoted as an
# identifier, or for names beyond [A-Za-z0-9_.] a connection string "dbname=<value>" after -reuse-previous=on.
_CONNECT_RE = re.compile(r'^\\connect\s+(?:-reuse-previous=on\s+)?(?P<arg>"(?:[^"]|"")*"|\S+)\s*$')


def _unquote_ident(text):
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return text[1:-1].replace('""', '"')
    return text


def _connstr_dbname(text):
    """The dbname of a libpq keyword/value string as appendConnStrVal writes it, or None."""
    match = re.match(r"^\s*dbname\s*=\s*", text)
    if not match:
        return None
    rest = text[match.end():]
    if not rest.startswith("'"):
        return rest.split()[0] if rest.split() else None
    value, index = [], 1
    while index < len(rest):
        char = rest[index]
        if char == '\\' and index + 1 < len(rest):
            value.append(rest[index + 1])
            index += 2
            continue
        if char == "'":
            return ''.join(value)
        value.append(char)
        index += 1
    return None


def plain_source_database(data):
    """The database a plain SQL dump connects to (pg_dump --create: its first \\connect), or None.

    A plain dump made without --create names no database at all: it cannot be checked.
    """
    if not data:
        return None
    text = data.decode('utf-8', 'replace')
    for line in text.splitlines():
        match = _CONNECT_RE.match(line.strip())
        if not match:
            continue
        arg = _unquote_ident(match.group('arg'))
        if line.strip().startswith('\\connect -reuse-previous=on'):
            return _connstr_dbname(arg)
        return arg
    return None


def source_database(path, fmt):
    """The database a dump says it was made from: the archive header's dbname (custom, tar, directory and the
    packed directory dump), the \\connect of a plain or gzip-compressed plain SQL dump made with --create; None
    when the dump does not say. Raises DumpHeaderError or OSError for an archive header that cannot be read."""
    if fmt in ('custom', 'tar', 'directory', PACKED_DIRECTORY):
        return parse_header(header_bytes(path, fmt)).get('dbname')
    if fmt == 'plain':
        with open(path, 'rb') as handle:
            return plain_source_database(handle.read(SNIFF_BYTES))
    if fmt == 'gzip':
        try:
            with gzip.open(path, 'rb') as handle:
                return plain_source_database(handle.read(SNIFF_BYTES))
        except (OSError, EOFError, zlib.error):
            return None
    return None


class _Reader(object):
    def __init__(self, data):
        self.data = data
        self.pos = 0
        self.int_size = 4

    def byte(self):
        if self.pos >= len(self.data):
            raise DumpHeaderError('archive header is truncated')
        value = self.data[self.pos]
        self.pos += 1
        return value if isinstance(value, int) else ord(value)

    def read_int(self):
        # ReadInt: a sign byte, then int_size bytes, least significant first.
        negative = self.byte()
        value = 0
        for shift in range(self.int_size):
            value |= self.byte() << (8 * shift)
        return -value if negative else value

    def read_str(self):
        length = self.read_int()
        if length < 0:
            return None
        if self.pos + length > len(self.data):
            raise DumpHeaderError('archive header is truncated')
        raw = self.data[self.pos:self.pos + length]
        self.pos += length
        return raw.decode('utf-8', 'replace')


def parse_header(data):
    """Parse a pg_dump archive header (custom file, or toc.dat of tar/directory)."""
    return _read_header(data)[0]


def _read_header(data):
    """(header dict, the reader positioned just after the header: where the TOC starts, (major, minor, rev))."""
    if not data or not data.startswith(MAGIC):
        raise DumpHeaderError('no PGDMP magic: not a pg_dump archive header')
    reader = _Reader(data)
    reader.pos = len(MAGIC)
    vmaj = reader.byte()
    vmin = reader.byte()
    vrev = reader.byte() if (vmaj > 1 or (vmaj == 1 and vmin > 0)) else 0
    version = (vmaj, vmin, vrev)
    int_size = reader.byte()
    if int_size < 1 or int_size > 32:
        raise DumpHeaderError('implausible integer size %d in archive header' % int_size)
    reader.int_size = int_size
    off_size = reader.byte() if version >= (1, 7, 0) else int_size
    format_code = reader.byte()

    compression = 'none'
    compression_level = None
    if version >= (1, 15, 0):
        code = reader.byte()
        compression = COMPRESSION_ALGORITHMS.get(code, 'unknown(%d)' % code)
    elif version >= (1, 2, 0):
        compression_level = reader.read_int() if version >= (1, 4, 0) else reader.byte()
        # Before 1.15 only zlib existed; -1 is "default level".
        compression = 'none' if compression_level == 0 else 'gzip'
    else:
        compression = 'gzip'

    created = None
    if version >= (1, 4, 0):
        fields = [reader.read_int() for dummy in range(7)]
        created = created_iso(*fields)
    dbname = server_version = pg_dump_version = None
    if version >= (1, 4, 0):
        dbname = reader.read_str()
    if version >= (1, 10, 0):
        server_version = reader.read_str()
        pg_dump_version = reader.read_str()

    return dict(
        archive_version='%d.%d' % (vmaj, vmin),
        archive_revision=vrev,
        # Raw byte only: pg_dump 15 writes 3 in the toc.dat of both tar and
        # directory archives, so the format is taken from the layout instead.
        format_code=format_code,
        int_size=int_size,
        off_size=off_size,
        compression=compression,
        compression_level=compression_level,
        created=created,
        dbname=dbname,
        server_version=server_version,
        pg_dump_version=pg_dump_version,
    ), reader, version


def created_iso(sec, minute, hour, mday, mon, year, isdst):
    """The struct tm pg_dump wrote, as ISO 8601 UTC.

    pg_dump stores the dumping host's local wall-clock time without a zone.
    Like pg_restore we interpret it with mktime() in this host's zone, which is
    exact when both hosts share a zone (our servers run in UTC).
    """
    try:
        stamp = time.mktime((year + 1900, mon + 1, mday, hour, minute, sec, 0, 0, isdst))
    except (OverflowError, ValueError):
        try:
            stamp = time.mktime((year + 1900, mon + 1, mday, hour, minute, sec, 0, 0, -1))
        except (OverflowError, ValueError):
            return None
    return datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def version_tuple(text):
    """'1.14' -> (1, 14); '15.18 (Debian ...)' -> (15, 18)."""
    match = _VERSION_RE.search(text or '')
    if not match:
        return None
    return int(match.group(1)), int(match.group(2) or 0)


def parse_pg_restore_version(output):
    """'pg_restore (PostgreSQL) 15.18 (Debian 15.18-1)' -> ('15.18', 15)."""
    match = re.search(r'\)\s*(\d+(?:\.\d+)*)', output or '') or re.search(r'(\d+(?:\.\d+)+)', output or '')
    if not match:
        return None, None
    version = match.group(1)
    return version, int(version.split('.')[0])


def max_readable_archive(major):
    """Newest (major, minor) archive version pg_restore <major> reads, or None when not known."""
    return MAX_ARCHIVE_VERSION.get(major)


def archive_readable(archive_version, restore_major):
    """(readable, known) for an archive 'x.y' and a pg_restore major.

    An unknown pg_restore major is assumed to read the archive; the TOC
    listing then gives the real answer.
    """
    limit = max_readable_archive(restore_major)
    wanted = version_tuple(archive_version)
    if limit is None or wanted is None:
        return True, False
    return wanted <= limit, True


def dump_size(path):
    if os.path.isdir(path):
        total = 0
        for root, dummy, files in os.walk(path):
            for name in files:
                try:
                    total += os.path.getsize(os.path.join(root, name))
                except OSError:
                    pass
        return total
    return os.path.getsize(path)


def parse_toc(data, fmt):
    """The archive's own TOC: {dump id: {type, schema, name, owner}} (ReadToc in pg_backup_archiver.c).

    data holds the header and the whole TOC (a custom file's start, or toc.dat of a tar or directory dump);
    fmt is the dump's format, which decides the format-specific part of each entry. Raises DumpHeaderError
    when data ends inside the TOC or is not an archive.
    """
    entries = parse_toc_entries(data, fmt)[1]
    return dict((e['id'], dict(type=e['type'], schema=e['schema'], name=e['name'], owner=e['owner']))
                for e in entries)


def parse_toc_entries(data, fmt):
    """(header, [entry], offset where the TOC ends) with every entry's id, type, schema, name, owner, defn,
    copy_stmt and had_dumper, plus file (its data file: tar member or directory file) for a tar or directory
    dump. A custom file's data blocks start at the returned offset."""
    header, reader, version = _read_header(data)
    if version < (1, 6, 0):
        raise DumpHeaderError('archive version %s predates schemas in the TOC' % header['archive_version'])
    entries = []
    for dummy in range(reader.read_int()):
        dump_id = reader.read_int()
        had_dumper = reader.read_int()
        if version >= (1, 8, 0):
            reader.read_str()  # catalog table oid
        reader.read_str()  # oid
        tag = reader.read_str()
        desc = reader.read_str()
        if version >= (1, 11, 0):
            reader.read_int()  # section
        defn = reader.read_str()
        reader.read_str()  # dropStmt
        copy_stmt = reader.read_str()  # 1.3 on
        namespace = reader.read_str()
        if version >= (1, 10, 0):
            reader.read_str()  # tablespace
        if version >= (1, 14, 0):
            reader.read_str()  # table access method
        if version >= (1, 16, 0):
            reader.read_int()  # relkind
        owner = reader.read_str()
        if version >= (1, 9, 0):
            reader.read_str()  # "false": WITH OIDS
        while reader.read_str() is not None:  # dependencies, ended by a NULL string
            pass
        entry = dict(id=dump_id, type=desc, schema=namespace or None, name=tag or '', owner=owner or '',
                     defn=defn or '', copy_stmt=copy_stmt or '', had_dumper=bool(had_dumper))
        if fmt == 'custom':
            # ReadOffset: a flag byte, then the data's offset in off_size bytes.
            for dummy_byte in range(1 + header['off_size']):
                reader.byte()
        else:
            entry['file'] = reader.read_str()  # the entry's data file (tar member or directory file)
        entries.append(entry)
    return header, entries, reader.pos


def read_toc(path, fmt, limit=256 * 1048576):
    """parse_toc of the dump at path, or None when it cannot be read (then the listing's text is all there is).

    A custom file is read from its start until the TOC ends (it comes before the data), at most limit bytes.
    """
    try:
        if fmt == 'custom':
            size = 1048576
            with open(path, 'rb') as handle:
                data = handle.read(size)
                while True:
                    try:
                        return parse_toc(data, fmt)
                    except DumpHeaderError:
                        if len(data) < size or size >= limit:
                            return None
                    more = handle.read(size)
                    if not more:
                        return None
                    data += more
                    size *= 2
        if fmt in ('tar', PACKED_DIRECTORY):
            name = toc_member(path)[0]
            if not name:
                return None
            with tarfile.open(path, 'r:') as archive:
                handle = archive.extractfile(archive.getmember(name))
                data = handle.read(limit) if handle else b''
        elif fmt == 'directory':
            with open(os.path.join(path, TOC_FILE), 'rb') as handle:
                data = handle.read(limit)
        else:
            return None
        return parse_toc(data, 'directory')
    except (DumpHeaderError, IOError, OSError, tarfile.TarError, EOFError, KeyError):
        return None


def parse_toc_listing(text, toc=None):
    """pg_restore --list output -> (counts by type, [{type, schema, name}]).

    A listing line is "<id>; <oid> <oid> <type> <schema> <name> <owner>", unquoted: a schema, a name and an
    owner may all hold spaces, so the words alone cannot say where the name ends. With toc (read_toc: the
    archive's own entries by dump id) each line takes its type, schema and name from there; without it, or for
    an id it lacks, the owner is taken to be the last word.
    """
    counts = {}
    entries = []
    for line in (text or '').splitlines():
        match = _TOC_LINE_RE.match(line)
        if not match:
            continue
        known = (toc or {}).get(int(match.group(1)))
        if known is not None:
            entries.append(dict(type=known['type'], schema=known['schema'], name=known['name']))
            counts[known['type']] = counts.get(known['type'], 0) + 1
            continue
        rest = match.group(4)
        entry_type = None
        for candidate in TOC_TYPES:
            if rest.startswith(candidate + ' '):
                entry_type = candidate
                rest = rest[len(candidate) + 1:]
                break
        if entry_type is None:
            # A type newer than this list: take the upper-case words before the schema.
            words = rest.split(' ')
            taken = []
            while len(words) > 3 and words[0].isupper():
                taken.append(words.pop(0))
            entry_type = ' '.join(taken) or words.pop(0)
            rest = ' '.join(words)
        # "<schema> <name> <owner>": schema is "-" when the object has none, the
        # name may hold spaces (functions, constraints), the owner may be empty.
        parts = rest.split(' ')
        schema = parts[0] if parts else ''
        name = ' '.join(parts[1:-1]) if len(parts) > 2 else (parts[1] if len(parts) == 2 else '')
        entries.append(dict(type=entry_type, schema=None if schema in ('-', '') else schema, name=name))
        counts[entry_type] = counts.get(entry_type, 0) + 1
    return counts, entries
