"""Micro-benchmarks of our module code: checksum throughput against md5sum, and
the peak memory of backup_checksum as the file grows.

Memory is the peak RSS (ru_maxrss from wait4) of a process that runs only the
module's main(), the way AnsiballZ would on the target, so Ansible's
controller is not in the figure.
"""

import json
import os
import resource  # noqa: F401  (wait4 returns its struct)
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = str(REPO / ".venv" / "bin" / "python")
COLLECTIONS = str(REPO / ".collections")

_MODULE_RUNNER = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from ansible.module_utils import basic
with open(sys.argv[2]) as handle:
    basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": json.load(handle)}).encode()
# ansible-core 2.19 modules refuse arguments without a serialization profile.
basic._ANSIBLE_PROFILE = "legacy"
from ansible_collections.yieldvault.db_restore.plugins.modules import backup_checksum
backup_checksum.main()
"""

_HASH_RUNNER = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
from ansible_collections.yieldvault.db_restore.plugins.module_utils.checksum import hash_stream
started = time.monotonic()
with open(sys.argv[2], "rb") as handle:
    hash_stream(handle, sha256=False)  # what backup_checksum does unless a SHA-256 is asked for
print(time.monotonic() - started)
"""


# A candidate for module_utils.checksum.hash_stream, measured here before anyone
# changes the module: hashlib releases the GIL on large buffers, so MD5 and
# SHA-256 of a chunk can run on two cores at once; the result is the same.
_THREADED_RUNNER = r"""
import hashlib, sys, time
from concurrent.futures import ThreadPoolExecutor
started = time.monotonic()
md5, sha = hashlib.md5(), hashlib.sha256()
with open(sys.argv[2], "rb") as handle, ThreadPoolExecutor(max_workers=1) as pool:
    while True:
        chunk = handle.read(8 << 20)
        if not chunk:
            break
        pending = pool.submit(sha.update, chunk)
        md5.update(chunk)
        pending.result()
print(time.monotonic() - started)
"""

_MD5_ONLY_RUNNER = r"""
import hashlib, sys, time
started = time.monotonic()
md5 = hashlib.md5()
with open(sys.argv[2], "rb") as handle:
    for chunk in iter(lambda: handle.read(8 << 20), b""):
        md5.update(chunk)
print(time.monotonic() - started)
"""


def make_file(path, size_mb):
    """A file of size_mb MiB of incompressible bytes (reused when already that size)."""
    path = Path(path)
    size = size_mb << 20
    if path.exists() and path.stat().st_size == size:
        return path
    with open(path, "wb") as handle:
        block = os.urandom(1 << 20)
        for i in range(size_mb):
            # Different bytes per MiB without paying for urandom each time.
            handle.write(block[i % 997:] + block[:i % 997])
    return path


def _timed(cmd):
    started = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    return time.monotonic() - started


def _md5sum(path):
    return _timed(["md5sum", str(path)])


def _python_hash(runner, path):
    # Timed inside the process, so interpreter start-up is not charged to the hash.
    out = subprocess.run([PYTHON, "-c", runner, COLLECTIONS, str(path)], check=True, capture_output=True,
                         text=True, stdin=subprocess.DEVNULL)
    return float(out.stdout.strip().splitlines()[-1])


HASHERS = {
    "md5sum": _md5sum,
    "hash_stream": lambda path: _python_hash(_HASH_RUNNER, path),
    "md5_sha256_threads": lambda path: _python_hash(_THREADED_RUNNER, path),
    "hashlib_md5_only": lambda path: _python_hash(_MD5_ONLY_RUNNER, path),
}


def checksum_throughput(path, reps=3):
    """MB/s of md5sum, of hash_stream (MD5, as backup_checksum runs by default) and of two candidates, same file, interleaved."""
    size_mb = Path(path).stat().st_size / 1e6
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache for both
    names = list(HASHERS)
    runs = {name: [] for name in names}
    for rep in range(reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            runs[name].append(size_mb / HASHERS[name](path))
    out = {name: {"median_mb_s": round(statistics.median(v), 1), "min_mb_s": round(min(v), 1),
                  "max_mb_s": round(max(v), 1)} for name, v in runs.items()}
    out["ratio"] = round(out["hash_stream"]["median_mb_s"] / out["md5sum"]["median_mb_s"], 2)
    out["file_mb"] = round(size_mb, 1)
    return out


def module_peak(args, work):
    """Run backup_checksum's main() with args in its own process; (peak RSS MiB, seconds, result)."""
    args_file = Path(work) / "module-args.json"
    args_file.write_text(json.dumps(args))
    os.chmod(args_file, 0o600)
    started = time.monotonic()
    env = dict(os.environ, NO_PROXY="127.0.0.1,localhost", AWS_EC2_METADATA_DISABLED="true")
    proc = subprocess.Popen([PYTHON, "-c", _MODULE_RUNNER, COLLECTIONS, str(args_file)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
    stdout = proc.stdout.read()
    proc.stderr.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - started
    args_file.unlink()
    try:
        result = json.loads(stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        result = {"failed": True, "msg": stdout.decode()[-500:]}
    if os.waitstatus_to_exitcode(status) != 0 and not result.get("failed"):
        result = dict(result, failed=True)
    return round(usage.ru_maxrss / 1024.0, 1), round(seconds, 2), result


def module_memory(work, sizes_mb, s3=None, bucket=None):
    """Peak RSS of backup_checksum copying a local file and downloading from S3, per file size."""
    import make_backup  # scripts/ is on sys.path (run.py)
    rows = []
    for size_mb in sizes_mb:
        src = make_file(Path(work) / ("mem-%d.bin" % size_mb), size_mb)
        md5 = make_backup.file_md5(src)
        dest = Path(work) / "mem-dest.bin"
        row = {"file_mb": size_mb}
        rss, secs, res = module_peak({"path": str(dest), "src": str(src), "expected_md5": md5}, work)
        row["local_copy"] = {"peak_rss_mb": rss, "seconds": secs, "ok": bool(res.get("verified"))}
        dest.unlink(missing_ok=True)
        if s3:
            client = make_backup.s3_client(s3)
            key = "bench-mem/%d.bin" % size_mb
            with open(src, "rb") as body:
                client.put_object(Bucket=bucket, Key=key, Body=body, Metadata={"md5": md5})
            rss, secs, res = module_peak({
                "path": str(dest), "s3_key": key, "s3_bucket": bucket, "s3_endpoint_url": s3["endpoint_url"],
                "s3_region": s3["region"], "aws_access_key": s3["access_key"], "aws_secret_key": s3["secret_key"]},
                work)
            row["s3_download"] = {"peak_rss_mb": rss, "seconds": secs, "ok": bool(res.get("verified")),
                                  "mb_s": round(size_mb * 1.048576 / secs, 1) if secs else None}
            client.delete_object(Bucket=bucket, Key=key)
            dest.unlink(missing_ok=True)
        src.unlink()
        rows.append(row)
    return rows


if __name__ == "__main__":  # python benchmarks/micro.py FILE_MB
    sys.path.insert(0, str(REPO / "scripts"))
    f = make_file("/tmp/yv-bench-checksum.bin", int(sys.argv[1]))
    print(json.dumps(checksum_throughput(f)))
    print(json.dumps(module_memory("/tmp", [8, 32])))
    f.unlink()


_COUNT_RUNNER = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from ansible_collections.yieldvault.db_restore.plugins.module_utils.dump_content import read_content
started = time.monotonic()
content = read_content(sys.argv[2], sys.argv[3])
seconds = time.monotonic() - started
# VmHWM belongs to this process's own memory since exec; ru_maxrss from wait4 would also count the pages of the
# (large) benchmark process it was forked from.
hwm = [int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]
print(json.dumps(dict(seconds=seconds, tables=content['tables'], error=content['error'],
                      data_bytes=content['data_bytes'], hwm_kib=hwm)))
"""


def count_pass(path, fmt, expected, reps=3):
    """The counting pass of fetch_backup (dump_content.read_content, as backup_checksum count_rows runs it) on
    the backup at path, in its own process, reps times: seconds (median, min, max), peak RSS, MB of COPY data
    read, and whether its counts equal expected (the database's exact counts when it was dumped)."""
    runs = []
    for _rep in range(reps):
        proc = subprocess.Popen([PYTHON, "-c", _COUNT_RUNNER, COLLECTIONS, str(path), fmt], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        stdout = proc.stdout.read()
        stderr = proc.stderr.read()
        _pid, status, _usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            return {"error": stderr.decode()[-500:]}
        out = json.loads(stdout.decode().strip().splitlines()[-1])
        runs.append(dict(out, rss_mib=round(out["hwm_kib"] / 1024.0, 1)))
    seconds = sorted(r["seconds"] for r in runs)
    counted = {t: n for t, n in (runs[0]["tables"] or {}).items() if isinstance(n, int)}
    differ = {t: [counted.get(t), n] for t, n in expected.items() if counted.get(t) != n}
    return {
        "seconds": round(seconds[len(seconds) // 2], 2), "seconds_spread": [round(seconds[0], 2), round(seconds[-1], 2)],
        "rss_mib": max(r["rss_mib"] for r in runs), "data_mb": round(runs[0]["data_bytes"] / 1e6, 1),
        "backup_mb": round(os.path.getsize(path) / 1e6, 1), "error": runs[0]["error"],
        "counts_equal": not differ and not runs[0]["error"], "differ": dict(list(differ.items())[:5]),
    }
