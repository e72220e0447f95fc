#!/usr/bin/env python3
"""Backups in the form README.md describes, made with pg_dump (stand-in until playbooks/backup.yml).

    make_backup.py DBNAME --store local --local-dir DIR [--when 2026-04-29T14:30:00Z] [--format custom]
    make_backup.py DBNAME --store s3 --bucket B [--prefix database/] --s3-endpoint-url URL [--region ...]
        [--access-key ...] [--secret-key ...]      (--cluster DIR | --host/--port/--user/--password-file)

Name: <dbname>_YYYYMMDD_HHMM.dump, the timestamp being --when (UTC; default now).
--format chooses the content (custom, plain or tar); the name stays .dump, as
another tool's backups might. Local store: the file plus a sidecar <name>.md5
in md5sum format. S3: the object under the prefix with metadata md5=<hex>
(bucket created when missing). The password reaches pg_dump in PGPASSWORD,
never on the command line. Prints {"name", "md5", "size", "location"} as JSON.
"""

import argparse
import importlib.util
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pg_cluster  # noqa: E402

FORMATS = {"custom": "c", "plain": "p", "tar": "t"}


def _load_conninfo():
    # The collection's own helper, loaded from its file: it is pure Python, and this script also runs where
    # the collection is not installed (no .collections link yet).
    path = Path(__file__).resolve().parents[1] / "plugins" / "module_utils" / "conninfo.py"
    spec = importlib.util.spec_from_file_location("db_restore_conninfo", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# A database name goes to pg_dump inside a connection string of our own: a bare name holding '=' would be
# read as a connection string and dump another database.
dbname_option = _load_conninfo().dbname_option


class BackupError(RuntimeError):
    """pg_dump or the upload failed; the message says why."""


def backup_name(dbname, when):
    return "%s_%s.dump" % (dbname, _utc(when).strftime("%Y%m%d_%H%M"))


def _utc(when):
    if when is None:
        return datetime.datetime.now(datetime.timezone.utc)
    if when.tzinfo is None:
        return when.replace(tzinfo=datetime.timezone.utc)
    return when.astimezone(datetime.timezone.utc)


def parse_when(text):
    """ISO 8601; a trailing Z or no zone at all means UTC."""
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1] + "+00:00"
    return _utc(datetime.datetime.fromisoformat(text))


def file_md5(path):
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_sidecar(path, md5=None):
    """Write <path>.md5 in md5sum's format (the file's md5 unless given); returns the md5."""
    path = Path(path)
    md5 = md5 or file_md5(path)
    Path(str(path) + ".md5").write_text("%s  %s\n" % (md5, path.name))
    return md5


def break_sql_keeping_sidecar(path):
    """Break one statement of the archive's table of contents (the last CREATE INDEX, else the last ADD
    CONSTRAINT; stored as plain text in a custom dump) and give it a matching sidecar: valid for its checksum,
    every row readable and counted, and pg_restore fails part way, after the data (post-data). Returns the new md5.
    """
    path = Path(path)
    data = path.read_bytes()
    for old, new in ((b"CREATE INDEX ", b"CREATE INDEZ "), (b"ADD CONSTRAINT ", b"ADD CONSTRAINX ")):
        at = data.rfind(old)
        if at >= 0:
            path.write_bytes(data[:at] + new + data[at + len(old):])
            return write_sidecar(path)
    raise ValueError("%s has no CREATE INDEX or ADD CONSTRAINT in its table of contents to break" % path)


def s3_client(s3):
    """s3 is a boto3 client, or a dict as s3_server.start returns it."""
    if hasattr(s3, "put_object"):
        return s3
    import boto3
    from botocore.config import Config
    return boto3.client(
        "s3", endpoint_url=s3.get("endpoint_url") or None, region_name=s3.get("region") or "us-east-1",
        aws_access_key_id=s3.get("access_key"), aws_secret_access_key=s3.get("secret_key"),
        config=Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 2}))


def _ensure_bucket(client, bucket):
    from botocore.exceptions import ClientError
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError:
        client.create_bucket(Bucket=bucket)


def pg_dump(conn_info, dbname, path, fmt="custom"):
    if fmt not in FORMATS:
        raise BackupError("format %r is not one of %s" % (fmt, ", ".join(FORMATS)))
    bin_dir = conn_info.get("bin_dir") or pg_cluster.bin_dir()
    argv = [str(Path(bin_dir) / "pg_dump"), "-h", conn_info["host"], "-p", str(conn_info["port"]),
            "-U", conn_info["user"], dbname_option(dbname), "-F", FORMATS[fmt], "-f", str(path), "--no-password"]
    res = subprocess.run(argv, env=pg_cluster.libpq_env(conn_info), stdin=subprocess.DEVNULL,
                         capture_output=True, text=True)
    if res.returncode != 0:
        Path(path).unlink(missing_ok=True)
        raise BackupError("pg_dump of %s failed (exit %s): %s" % (dbname, res.returncode, res.stderr.strip()[-2000:]))


def stamp_created(path, when):
    """Set the creation time in a custom-format archive's header to ``when``, as pg_dump writes it (this host's
    local wall-clock time, no zone): the dump then says it was taken when its name says, as one taken then would.
    The restore compares the two (a backup renamed under another time is refused)."""
    local = _utc(when).astimezone()
    with open(path, "r+b") as handle:
        head = handle.read(32)
        if not head.startswith(b"PGDMP"):
            raise BackupError("%s is not a custom-format archive" % path)
        vmaj, vmin = head[5], head[6]
        int_size = head[8]
        # magic, 3 version bytes, int size, offset size, format; then the compression (a byte from 1.15, an int
        # before) and the seven ints of the creation time, each a sign byte and int_size little-endian bytes.
        offset = 11 + (1 if (vmaj, vmin) >= (1, 15) else 1 + int_size)
        fields = (local.second, local.minute, local.hour, local.day, local.month - 1, local.year - 1900,
                  1 if local.dst() else 0)
        handle.seek(offset)
        handle.write(b"".join(b"\x00" + value.to_bytes(int_size, "little") for value in fields))


def make_backup(conn_info, dbname, store, when=None, local_dir=None, s3=None, bucket=None, prefix="database/",
                fmt="custom"):
    """Dump dbname and store it; returns {name, md5, size, location}."""
    if store not in ("local", "s3"):
        raise BackupError("store must be 'local' or 's3', not %r" % store)
    if store == "local" and not local_dir:
        raise BackupError("store 'local' needs local_dir")
    if store == "s3" and (s3 is None or not bucket):
        raise BackupError("store 's3' needs s3 (client or endpoint dict) and bucket")
    name = backup_name(dbname, when)
    tmp_dir = None
    if local_dir:
        target_dir = Path(local_dir)
        target_dir.mkdir(parents=True, exist_ok=True)
    else:
        tmp_dir = tempfile.mkdtemp(prefix="make_backup-")
        target_dir = Path(tmp_dir)
    try:
        path = target_dir / name
        pg_dump(conn_info, dbname, path, fmt)
        if fmt == "custom" and when is not None:
            stamp_created(path, when)
        # Backups hold every secret the database holds.
        os.chmod(path, 0o600)
        md5 = file_md5(path)
        size = path.stat().st_size
        if local_dir:
            write_sidecar(path, md5)
        location = str(path.resolve())
        if store == "s3":
            client = s3_client(s3)
            _ensure_bucket(client, bucket)
            key = (prefix or "") + name
            with open(path, "rb") as body:
                client.put_object(Bucket=bucket, Key=key, Body=body, Metadata={"md5": md5})
            location = "s3://%s/%s" % (bucket, key)
    finally:
        if tmp_dir:
            shutil.rmtree(tmp_dir, ignore_errors=True)
    return {"name": name, "md5": md5, "size": size, "location": location}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="Prints JSON on stdout.")
    parser.add_argument("dbname")
    parser.add_argument("--store", choices=["local", "s3"], required=True)
    parser.add_argument("--when", help="backup timestamp, ISO 8601 (no zone = UTC); default now")
    parser.add_argument("--format", dest="fmt", choices=sorted(FORMATS), default="custom")
    parser.add_argument("--local-dir", help="directory for the file and its .md5 sidecar (required for --store local)")
    parser.add_argument("--bucket")
    parser.add_argument("--prefix", default="database/")
    parser.add_argument("--s3-endpoint-url", help="S3-compatible endpoint (e.g. from s3_server.py start)")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--access-key", default=os.environ.get("AWS_ACCESS_KEY_ID", "testing"))
    parser.add_argument("--secret-key", default=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"))
    pg_cluster.add_connection_args(parser)
    args = parser.parse_args(argv)
    s3 = None
    if args.store == "s3":
        s3 = {"endpoint_url": args.s3_endpoint_url, "region": args.region,
              "access_key": args.access_key, "secret_key": args.secret_key}
    try:
        when = parse_when(args.when) if args.when else None
        out = make_backup(pg_cluster.conn_info_from_args(args), args.dbname, args.store, when=when,
                          local_dir=args.local_dir, s3=s3, bucket=args.bucket, prefix=args.prefix, fmt=args.fmt)
    except ValueError as exc:
        print(json.dumps({"failed": True, "msg": "bad --when: %s" % exc}))
        return 2
    except (BackupError, pg_cluster.ClusterError) as exc:
        print(json.dumps({"failed": True, "msg": str(exc)}))
        return 1
    except Exception as exc:  # boto errors: report them without a traceback
        print(json.dumps({"failed": True, "msg": "upload failed: %s" % exc}))
        return 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
