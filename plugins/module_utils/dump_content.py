# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a pg_dump archive holds, read from the archive itself (pure, unit tested).

A plain ``pg_dump -Fc`` backup made by cron has no manifest; its exact per-table row counts are in its data:
every TABLE DATA entry is the COPY text of one table, one row per line (a newline inside a value is written as
``\\n``, so it never ends a line). The archive is read once, streaming, in constant memory: the custom format's
data blocks in file order (ReadDataFromArchive, _LoadBlobs in pg_backup_custom.c), a directory dump's data
files, or a tar dump's members. Compressed data (gzip, the only method before PostgreSQL 16) is inflated chunk
by chunk; lz4 and zstd are not read here (the counts are then unknown and said so).

The result is shaped like a row-count snapshot of the restored database (table_counts): keys ``schema.table``
verbatim, a partitioned table as the sum of its leaf partitions (all levels), a materialized view that pg_restore
refreshes as ``refreshed`` (its rows come from its query at restore time, not from the dump) and one dumped
WITH NO DATA as null (pg_restore leaves it unpopulated).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import tarfile
import time
import zlib

from ansible_collections.yieldvault.db_restore.plugins.module_utils.counts import REFRESHED, UNKNOWN, table_key
from ansible_collections.yieldvault.db_restore.plugins.module_utils.dumpfile import (
    PACKED_DIRECTORY,
    TOC_FILE,
    DumpHeaderError,
    parse_toc_entries,
)


BLK_DATA = 1
BLK_BLOBS = 3
CHUNK = 1048576
TAIL = 64
# Inflated output per step: one table's data never has to fit in memory, only this much of it.
OUT_CHUNK = 262144
RELATION_TYPES = ('TABLE', 'VIEW', 'MATERIALIZED VIEW', 'FOREIGN TABLE', 'SEQUENCE')

_IDENT = r'(?:"(?:[^"]|"")+"|[^\s."()]+)'
_QUALIFIED = r'(%s)\.(%s)' % (_IDENT, _IDENT)
_ATTACH_RE = re.compile(r'ALTER\s+TABLE\s+(?:ONLY\s+)?%s\s+ATTACH\s+PARTITION\s+%s' % (_QUALIFIED, _QUALIFIED))
_PARTITION_OF_RE = re.compile(r'CREATE\s+(?:UNLOGGED\s+)?TABLE\s+%s\s+PARTITION\s+OF\s+%s' % (_QUALIFIED, _QUALIFIED))
_COLUMN_RE = re.compile(r'^\s+(%s)\s' % _IDENT)


class DumpContentError(Exception):
    """The archive's data cannot be read to its end (truncated, damaged, or compressed in a way not read here).

    damaged: the archive itself is broken (truncated, a missing data file, bad compressed data), as opposed to
    data this host does not read (lz4, zstd) or a dump without a table of contents (plain SQL).
    """

    def __init__(self, message, damaged=True):
        super(DumpContentError, self).__init__(message)
        self.damaged = damaged


def unquote(ident):
    if len(ident) >= 2 and ident[0] == '"' and ident[-1] == '"':
        return ident[1:-1].replace('""', '"')
    return ident


def partition_parent(entry):
    """(parent key, child key) of a TABLE ATTACH entry or a CREATE TABLE ... PARTITION OF defn, else None."""
    defn = entry.get('defn') or ''
    match = _ATTACH_RE.search(defn)
    if match:
        return (table_key(unquote(match.group(1)), unquote(match.group(2))),
                table_key(unquote(match.group(3)), unquote(match.group(4))))
    match = _PARTITION_OF_RE.search(defn)
    if match and entry.get('type') == 'TABLE':
        return (table_key(unquote(match.group(3)), unquote(match.group(4))),
                table_key(unquote(match.group(1)), unquote(match.group(2))))
    return None


def table_columns(defn):
    """Column names of a CREATE TABLE statement as pg_dump writes it (one column a line), or None when it lists
    none (a typed table, a partition created with PARTITION OF)."""
    text = defn or ''
    start = text.find('(\n')
    if start < 0 or not re.match(r'\s*CREATE\s', text):
        return None
    columns = []
    for line in text[start + 2:].split('\n'):
        if line.startswith(')'):
            break
        match = _COLUMN_RE.match(line)
        if not match or match.group(1).upper() == 'CONSTRAINT':
            continue
        columns.append(unquote(match.group(1)))
    return columns


def describe_entries(entries):
    """What the TOC says, before any data is read: relations, columns, partitions, materialized views."""
    relations = {}
    columns = {}
    parents = {}
    matviews = {}
    data_entries = {}
    for entry in entries:
        kind = entry['type']
        key = table_key(entry['schema'] or '', entry['name']) if entry.get('schema') is not None else None
        if kind in RELATION_TYPES and key:
            relations[key] = kind
            if kind in ('TABLE', 'FOREIGN TABLE'):
                cols = table_columns(entry.get('defn'))
                if cols is not None:
                    columns[key] = cols
            if kind == 'MATERIALIZED VIEW':
                matviews.setdefault(key, None)
        if kind in ('TABLE ATTACH', 'TABLE'):
            pair = partition_parent(entry)
            if pair:
                parents[pair[1]] = pair[0]
        if kind == 'MATERIALIZED VIEW DATA' and key:
            matviews[key] = REFRESHED
        if kind == 'TABLE DATA' and key:
            data_entries[entry['id']] = dict(key=key, copy=entry.get('copy_stmt', '').lstrip().upper()
                                             .startswith('COPY '), file=entry.get('file'))
    return dict(relations=relations, columns=columns, parents=parents, matviews=matviews, data=data_entries)


def expected_counts(described, rows):
    """{schema.table: rows} as a snapshot of the restored database will show them.

    rows maps a TABLE DATA dump id to its line count. A table without data in the dump (--exclude-table-data)
    is restored empty; one whose data is not COPY text is UNKNOWN; a partitioned table is the sum of its leaves.
    """
    counts = {}
    for key, kind in described['relations'].items():
        if kind == 'TABLE':
            counts[key] = 0
    unknown = set()
    for dump_id, info in described['data'].items():
        # An extension's configuration table (pg_extension_config_dump) has data but no TABLE entry: CREATE
        # EXTENSION makes it with rows of its own, so the dumped rows are not all it will hold.
        if not info['copy'] or described['relations'].get(info['key']) != 'TABLE':
            unknown.add(info['key'])
            continue
        counts[info['key']] = counts.get(info['key'], 0) + rows.get(dump_id, 0)
    parents = described['parents']
    children = {}
    for child, parent in parents.items():
        children.setdefault(parent, []).append(child)

    def leaves(key):
        if key not in children:
            return [key]
        found = []
        for child in sorted(children[key]):
            found.extend(leaves(child))
        return found

    partitions = {}
    for parent in children:
        if parent in parents:
            continue  # a sub-partitioned table: its top parent lists the leaves
        partitions[parent] = leaves(parent)
    for parent in children:
        parts = leaves(parent)
        if any(p in unknown for p in parts):
            unknown.add(parent)
            continue
        counts[parent] = sum(counts.get(p, 0) for p in parts)
    for key in unknown:
        counts[key] = UNKNOWN
    for key, state in described['matviews'].items():
        counts[key] = state
    return dict(sorted(counts.items())), dict(sorted(partitions.items())), sorted(unknown)


def _read_int(handle, int_size):
    raw = handle.read(1 + int_size)
    if len(raw) < 1 + int_size:
        raise DumpContentError('the archive ends inside a data block: it is truncated')
    value = int.from_bytes(raw[1:], 'little')
    return -value if raw[0] else value


class _Counter(object):
    """Counts the lines of one table's COPY data fed in pieces, inflating it first when compressed."""

    def __init__(self, compressed, wbits=zlib.MAX_WBITS):
        self.newlines = 0
        self.bytes = 0
        self.tail = b''
        self.inflate = zlib.decompressobj(wbits) if compressed else None
        self.wbits = wbits

    def _take(self, out):
        self.bytes += len(out)
        self.newlines += out.count(b'\n')
        self.tail = (self.tail + out[-TAIL:])[-TAIL:]

    def feed(self, data):
        if self.inflate is None:
            self._take(data)
            return
        while data:
            try:
                out = self.inflate.decompress(data, OUT_CHUNK)
            except zlib.error as exc:
                raise DumpContentError('compressed data is damaged: %s' % exc) from exc
            self._take(out)
            data = self.inflate.unconsumed_tail
            if self.inflate.eof and self.inflate.unused_data:
                # A second gzip member (a file that was appended to).
                data = self.inflate.unused_data + data
                self.inflate = zlib.decompressobj(self.wbits)

    def finish(self):
        if self.inflate is not None:
            self._take(self.inflate.flush())

    @property
    def lines(self):
        return copy_rows(self.newlines, self.tail)


def copy_rows(newlines, tail):
    """Rows of COPY text that holds newlines line ends and ends with tail.

    pg_dump up to 16 ends each table's data with the end-of-copy line \\. and blank lines (dumpTableData_copy);
    those are not rows. A row is never the bare line \\. (a backslash in a value is written doubled), but it may
    be an empty line (one empty text column), so only what follows the end-of-copy line is left out.
    """
    stripped = tail.rstrip(b'\n')
    if stripped == b'\\.' or stripped.endswith(b'\n\\.'):
        return newlines - (len(tail) - len(stripped))
    return newlines


def _read_custom_toc(handle, limit=256 * 1048576):
    size = CHUNK
    data = handle.read(size)
    while True:
        try:
            return parse_toc_entries(data, 'custom')
        except DumpHeaderError:
            if len(data) < size or size >= limit:
                raise
        more = handle.read(size)
        if not more:
            raise DumpHeaderError('the archive ends inside its table of contents')
        data += more
        size *= 2


def _custom_rows(path, header_hook):
    rows = {}
    total = [0]
    with open(path, 'rb', buffering=CHUNK) as handle:
        header, entries, end = _read_custom_toc(handle)
        described = header_hook(header, entries)
        handle.seek(end)
        int_size = header['int_size']
        compressed = header['compression'] == 'gzip'

        def read_chunks(counter):
            while True:
                length = _read_int(handle, int_size)
                if length <= 0:
                    return
                data = handle.read(length)
                if len(data) < length:
                    raise DumpContentError('the archive ends inside a data block: it is truncated')
                if counter is not None:
                    counter.feed(data)

        while True:
            kind = handle.read(1)
            if not kind:
                break
            dump_id = _read_int(handle, int_size)
            if kind[0] == BLK_DATA:
                info = described['data'].get(dump_id)
                counter = _Counter(compressed) if info and info['copy'] else None
                read_chunks(counter)
                if counter is not None:
                    counter.finish()
                    rows[dump_id] = rows.get(dump_id, 0) + counter.lines
                    total[0] += counter.bytes
            elif kind[0] == BLK_BLOBS:
                while _read_int(handle, int_size) != 0:
                    read_chunks(None)
            else:
                raise DumpContentError('unknown data block type %d at offset %d: the archive is damaged'
                                       % (kind[0], handle.tell() - 1))
    return described, rows, total[0]


def _stream_file(handle, counter):
    while True:
        data = handle.read(CHUNK)
        if not data:
            break
        counter.feed(data)
    counter.finish()


def _counter_for(name):
    if name.endswith('.gz'):
        return _Counter(True, 16 + zlib.MAX_WBITS)
    if name.endswith(('.lz4', '.zst')):
        raise DumpContentError('data file %s is compressed with %s, which this host does not read'
                               % (name, name.rsplit('.', 1)[1]), damaged=False)
    return _Counter(False)


def _directory_rows(path, header_hook):
    with open(os.path.join(path, TOC_FILE), 'rb') as handle:
        header, entries, dummy = parse_toc_entries(handle.read(), 'directory')
    described = header_hook(header, entries)
    rows = {}
    total = 0
    present = set(os.listdir(path))
    for dump_id, info in described['data'].items():
        if not info['copy'] or not info['file']:
            continue
        name = next((info['file'] + s for s in ('', '.gz', '.lz4', '.zst') if info['file'] + s in present), None)
        if name is None:
            raise DumpContentError('data file %s of %s is missing from the directory dump' % (info['file'],
                                                                                             info['key']))
        counter = _counter_for(name)
        with open(os.path.join(path, name), 'rb') as handle:
            _stream_file(handle, counter)
        rows[dump_id] = counter.lines
        total += counter.bytes
    return described, rows, total


def _tar_rows(path, header_hook):
    """A pg_dump tar archive (toc.dat at the root) or a packed directory dump (<top>/toc.dat): one pass."""
    described = None
    by_file = {}
    rows = {}
    total = 0
    with tarfile.open(path, 'r|') as archive:
        for member in archive:
            if not member.isfile():
                continue
            base = member.name.split('/')[-1]
            handle = archive.extractfile(member)
            if base == TOC_FILE:
                header, entries, dummy = parse_toc_entries(handle.read(), 'directory')
                described = header_hook(header, entries)
                by_file = dict((info['file'], dump_id) for dump_id, info in described['data'].items()
                               if info['copy'] and info['file'])
                continue
            if described is None:
                continue
            stem = re.sub(r'\.(gz|lz4|zst)$', '', base)
            dump_id = by_file.get(stem)
            if dump_id is None:
                continue
            counter = _counter_for(base)
            _stream_file(handle, counter)
            rows[dump_id] = counter.lines
            total += counter.bytes
    if described is None:
        raise DumpContentError('%s has no %s' % (path, TOC_FILE))
    missing = sorted(described['data'][i]['key'] for i in by_file.values() if i not in rows)
    if missing:
        raise DumpContentError('the data of %s is missing from the archive: it is truncated' % ', '.join(missing[:5]))
    return described, rows, total


def read_content(path, fmt):
    """What the archive at path holds: a dict with

    counted (bool), error (why not, or None), tables ({schema.table: rows, REFRESHED, UNKNOWN or None}),
    partitions ({parent: [leaves]}), unknown ([tables whose rows are not COPY text]), relations
    ({schema.table: TOC type} of tables, views, materialized views, foreign tables and sequences), columns
    ({schema.table: [column]}), total_rows (partitioned parents not counted twice), data_bytes (uncompressed COPY
    bytes read) and seconds.

    The TOC part (relations, columns) is filled even when the data cannot be read to its end.
    """
    started = time.time()
    result = dict(counted=False, error=None, damaged=False, format=fmt, tables=None, total_rows=None, partitions={},
                  unknown=[], relations={}, columns={}, data_bytes=0, seconds=0.0)
    seen = {}

    def header_hook(header, entries):
        described = describe_entries(entries)
        seen['described'] = described
        result.update(relations=dict(sorted(described['relations'].items())),
                      columns=dict(sorted(described['columns'].items())))
        if header['compression'] not in ('none', 'gzip'):
            raise DumpContentError('its data is compressed with %s, which this host does not read'
                                   % header['compression'], damaged=False)
        return described

    readers = {'custom': _custom_rows, 'directory': _directory_rows, 'tar': _tar_rows,
               PACKED_DIRECTORY: _tar_rows}
    reader = readers.get(fmt)
    try:
        if reader is None:
            raise DumpContentError('a %s dump is SQL text, not an archive with a table of contents' % fmt,
                                   damaged=False)
        described, rows, data_bytes = reader(path, header_hook)
        tables, partitions, unknown = expected_counts(described, rows)
        parents = set(described['parents'].values())
        result.update(counted=True, tables=tables, partitions=partitions, unknown=unknown, data_bytes=data_bytes,
                      total_rows=sum(n for t, n in tables.items() if t not in parents and isinstance(n, int)))
    except DumpContentError as exc:
        result.update(error=str(exc), damaged=exc.damaged)
    except DumpHeaderError as exc:
        result['error'] = str(exc)
    except (EOFError, tarfile.TarError) as exc:
        result.update(error='the archive could not be read: %s' % exc, damaged=True)
    except (IOError, OSError) as exc:
        result['error'] = 'the archive could not be read: %s' % (getattr(exc, 'strerror', None) or exc)
    result['seconds'] = round(time.time() - started, 3)
    return result
