# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Streaming checksums, md5sum sidecars and dump-format sniffing (pure, unit tested)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import re

from ansible_collections.yieldvault.db_restore.plugins.module_utils.dumpfile import detect_format_bytes

DEFAULT_CHUNK_SIZE = 8 << 20
HEAD_SIZE = 512
# A sidecar is a few dozen bytes; reading more than this means it is the wrong file.
SIDECAR_MAX_BYTES = 64 * 1024

MD5_RE = re.compile(r'^[0-9a-f]{32}$')
SHA256_RE = re.compile(r'^[0-9a-f]{64}$')
# GNU md5sum: "<hex>  <name>" (text) or "<hex> *<name>" (binary); a leading backslash marks escaped names.
_GNU_LINE_RE = re.compile(r'^\\?([0-9a-fA-F]{32})(?:\s+\*?(.*))?$')
# BSD md5 / md5sum --tag: "MD5 (<name>) = <hex>"
_BSD_LINE_RE = re.compile(r'^MD5 \((.*)\) = ([0-9a-fA-F]{32})$')
# A backoff beyond this only delays the fallback to another backup.
MAX_RETRY_DELAY = 60.0


def retry_delays(retries, first_delay):
    """Seconds to wait before each of ``retries`` retries: ``first_delay``, doubled each time, capped.

    A dropped connection or a store under load usually recovers within seconds,
    so the delay grows rather than hammering the store at a fixed rate.
    """
    if retries is None or retries < 0:
        raise ValueError('retries must be 0 or more, got %r' % (retries,))
    if first_delay is None or first_delay < 0:
        raise ValueError('the retry delay must be 0 or more seconds, got %r' % (first_delay,))
    return [min(float(first_delay) * (2 ** i), MAX_RETRY_DELAY) for i in range(retries)]


def hash_stream(source, write=None, chunk_size=DEFAULT_CHUNK_SIZE, sha256=True):
    """Hash a stream with MD5 (and SHA-256 unless ``sha256`` is false) in one pass and constant memory.

    ``source`` is a file-like object with ``read(n)`` or a callable ``read(n)``
    returning bytes (empty at end). ``write`` (optional) receives every chunk,
    so a copy/download and its checksum come from the very same bytes.
    Returns dict(md5, sha256, size, head) where head is the first 512 bytes;
    sha256 is None when not asked for (SHA-256 costs as much again as MD5, and
    the backups' own checksum is MD5).
    """
    if chunk_size is None or chunk_size <= 0:
        raise ValueError('chunk_size must be a positive number of bytes, got %r' % (chunk_size,))
    read = source if callable(source) else source.read
    md5 = hashlib.md5()
    sha = hashlib.sha256() if sha256 else None
    size = 0
    head = b''
    while True:
        chunk = read(chunk_size)
        if not chunk:
            break
        md5.update(chunk)
        if sha is not None:
            sha.update(chunk)
        size += len(chunk)
        if len(head) < HEAD_SIZE:
            head += chunk[:HEAD_SIZE - len(head)]
        if write is not None:
            write(chunk)
    return dict(md5=md5.hexdigest(), sha256=sha.hexdigest() if sha is not None else None, size=size, head=head)


def normalize_md5(value):
    """Lowercase hex MD5, or raise ValueError when ``value`` is not 32 hex digits."""
    text = (value or '').strip().lower()
    if not MD5_RE.match(text):
        raise ValueError('%r is not an MD5 checksum (expected 32 hexadecimal digits)' % (value,))
    return text


def normalize_sha256(value):
    """Lowercase hex SHA-256, or raise ValueError when ``value`` is not 64 hex digits."""
    text = (value or '').strip().lower()
    if not SHA256_RE.match(text):
        raise ValueError('%r is not a SHA-256 checksum (expected 64 hexadecimal digits)' % (value,))
    return text


def parse_md5_sidecar(text, name=None, origin='sidecar'):
    """Return the MD5 hex from md5sum output ``text``.

    When the file lists several entries, the one whose basename equals ``name``
    wins; with a single entry the name is not checked because tools disagree on
    whether they write a path or a bare name.
    """
    entries = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        match = _GNU_LINE_RE.match(line)
        if match:
            entries.append((match.group(1).lower(), (match.group(2) or '').strip()))
            continue
        match = _BSD_LINE_RE.match(line)
        if match:
            entries.append((match.group(2).lower(), match.group(1)))
            continue
        raise ValueError(
            "%s is not in md5sum format: line %r should look like '<32 hex digits>  <file name>'"
            % (origin, line[:80]))
    if not entries:
        raise ValueError("%s is empty: it should hold one line '<32 hex digits>  <file name>'" % origin)
    if len(entries) == 1 or name is None:
        return entries[0][0]
    wanted = os.path.basename(name)
    for digest, entry_name in entries:
        if os.path.basename(entry_name) == wanted:
            return digest
    raise ValueError('%s lists %d files but none named %s' % (origin, len(entries), wanted))


def read_md5_sidecar(path, name=None):
    """Read an md5sum-format sidecar file; raise ValueError when it is malformed."""
    with open(path, 'rb') as handle:
        data = handle.read(SIDECAR_MAX_BYTES + 1)
    if len(data) > SIDECAR_MAX_BYTES:
        raise ValueError('%s is larger than %d bytes, so it is not an md5sum sidecar' % (path, SIDECAR_MAX_BYTES))
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise ValueError('%s is not a text file, so it is not an md5sum sidecar' % path) from exc
    return parse_md5_sidecar(text, name=name, origin=path)


def detect_format(head):
    """Name the dump format from its first bytes: custom, tar, gzip, plain or unknown.
    The one format sniffer is dumpfile's; this name is kept for the hashing path."""
    return detect_format_bytes(bytes(head or b''))
