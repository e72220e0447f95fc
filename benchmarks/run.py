#!/usr/bin/env python3
"""`make bench`: restore speed of the collection against the runbook done by hand.

Starts a throwaway PostgreSQL 15 cluster and a moto S3 endpoint on loopback,
generates a database per size (YieldVault shape scaled up + pgbench + a
partitioned event table), puts a custom-format backup of it in S3 and restores
that backup with each contender, interleaved, --reps times:

  runbook        benchmarks/runbook.sh, the runbook's commands by hand
  postgresql_db  community.postgresql.postgresql_db state=restore (benchmarks/postgresql_db_restore.yml)
  restore_yml    playbooks/restore.yml
  restore_yml_in_place  the same with db_restore_method=in_place (--full, or by name)
  restore_wal    playbooks/restore.yml -e point=<second> -e source=wal: from a pgBackRest WAL archive (a
                 cluster of its own with archiving on, the same data, a base backup, commits after it)
  drill_yml      playbooks/drill.yml (quick set: once, at the largest size)

then measures restore.yml with 1 and 4 (and 16 with --full) databases in one run, a cluster each,
the checksum throughput against md5sum and the peak memory of backup_checksum.
Results: benchmarks/results/<date>.md, .json and .svg, and latest.md/.svg.

    benchmarks/run.py                    quick set (sizes 0,50,100 MB; 0 = a tiny database)
    benchmarks/run.py --full             0,250,1000,2500 MB (the runbook's 2.5 GB), in_place too, drill at every
                                         size, 1/4/16 databases
    benchmarks/run.py --sizes 0,30 --reps 2 --skip-multi --skip-micro
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "scripts"))

import contenders  # noqa: E402
import datagen  # noqa: E402  (puts tests/integration, where dbutil is, on sys.path)
import make_backup  # noqa: E402
import micro  # noqa: E402
import pg_cluster  # noqa: E402
import report  # noqa: E402
import s3_server  # noqa: E402
from dbutil import exact_counts  # noqa: E402

QUICK_SIZES = "0,50,100"
FULL_SIZES = "0,250,1000,2500"
BUCKET = "bench-backups"
NOISE_NOTE = ("This machine is shared with other engineers' test runs while the benchmark runs, so absolute "
              "numbers are noisy (see the load average); compare contenders within one run, by their ratios.")


def say(text):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), text), flush=True)


def machine_info():
    def run(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "?"
    mem_kib = 0
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    cpu = "?"
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(), "ram_gib": mem_kib / 1048576.0, "cpu": cpu,
        "hostname_kind": "%s %s" % (platform.system(), platform.machine()),
        "pg_version": run([str(Path(pg_cluster.bin_dir()) / "postgres"), "--version"]).split()[2],
        "python": platform.python_version(),
        "load_start": "%.2f %.2f %.2f" % os.getloadavg(),
    }


def _ansible_core_version():
    try:
        from ansible.release import __version__
        return __version__
    except ImportError:
        return "?"


def upload_backup(conn_info, s3, dbname):
    """A backup of dbname in S3, named as taken 5 minutes ago."""
    when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    dumped_epoch = time.time()  # the data the dump holds is the database's at this time, whatever its name says
    backup = make_backup.make_backup(conn_info, dbname, "s3", when, s3=s3, bucket=BUCKET, prefix="database/")
    backup["key"] = "database/" + backup["name"]
    backup["dumped_epoch"] = dumped_epoch
    return backup


def bench_count_pass(ctx, backup, expected, reps):
    """fetch_backup's counting pass (backup_checksum count_rows) alone, on the downloaded backup file."""
    path = ctx.work_root / ("count-" + backup["name"])
    path.parent.mkdir(parents=True, exist_ok=True)
    make_backup.s3_client(ctx.s3).download_file(BUCKET, backup["key"], str(path))
    try:
        return micro.count_pass(path, "custom", expected, reps=reps)
    finally:
        path.unlink()


def clear_prefix(s3, prefix):
    """Safety backups uploaded by the runs: moto keeps them, and they would pile up."""
    client = make_backup.s3_client(s3)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=obj["Key"])


def settle(conn_info):
    """Put the previous contender's writes on disk (checkpoint, sync) before the next one starts.

    Otherwise the run after a big restore may pay for that restore's checkpoint and write-back, and which
    contender that is depends on the rotation. (At 1 GB, 2 pairs with and without: no difference beyond the
    noise; it costs 1.8 s between runs, outside every contender's time.) The autovacuum of the previous restore
    may still run, as it would on a production server after a restore; the rotation spreads it over the
    contenders.
    """
    conn = pg_cluster.connect(conn_info, "postgres")
    try:
        with conn.cursor() as cur:
            cur.execute("CHECKPOINT")
    finally:
        conn.close()
    os.sync()


def restored_ok(conn_info, dbname, expected):
    """The database holds exactly the backup's rows (a contender that restored nothing is not fast)."""
    got = exact_counts(conn_info, dbname, include_views=False)
    return got == expected, {k: (expected.get(k), got.get(k)) for k in set(expected) | set(got)
                             if expected.get(k) != got.get(k)}


def wal_prepare(ctx, db, label, entry):
    """The archive contender's database: the size's data copied into the archiving cluster (started, and archiving
    turned on with playbooks/wal_archive.yml, at the first size), then a full base backup."""
    if ctx.wal is None:
        say("WAL archive: a cluster of its own, archiving turned on (playbooks/wal_archive.yml)")
        ctx.wal = contenders.WalArchive(ctx, ctx.work_root.parent / "wal")
        say("WAL archive: on in %.1f s" % ctx.wal.archive_on_seconds)
    dump = ctx.work_root.parent / ("wal-%s.dump" % db)
    try:
        make_backup.pg_dump(ctx.conn_info, db, dump)
        entry["wal_base_backup_seconds"] = ctx.wal.prepare(dump, db)
    finally:
        dump.unlink(missing_ok=True)
    say("size %s: copied into the archiving cluster, full base backup in %.1f s" % (
        label, entry["wal_base_backup_seconds"]))


def run_wal(ctx, db, rep):
    """One run of the archive contender: a commit, the point, a commit after it and the incident, then restore.yml
    to the point; the database must hold exactly what was committed by the point (data loss 0 s to it)."""
    wal = ctx.wal

    def snapshot():
        return exact_counts(wal.info, db, include_views=False), wal.marks(db)
    point, point_epoch, (want, marks) = wal.commit_around_a_point(db, rep, snapshot)
    datagen.mark_incident(wal.info, db)
    incident_epoch = time.time()
    settle(wal.info)
    settle(ctx.conn_info)
    ctx.wal_point = point
    run = contenders.RUNNERS["restore_wal"](ctx, db, None)
    run["incident_after_point"] = round(incident_epoch - point_epoch, 1)
    if run["ok"]:
        same, diff = restored_ok(wal.info, db, want)
        got_marks = wal.marks(db)
        if not same or got_marks != marks:
            run["ok"] = False
            run["error"] = "restored rows differ from those committed by %s: %s; marks %s, want %s" % (
                point, json.dumps(diff)[:400], got_marks, marks)
        else:
            # Every commit up to the point is back, none after it: nothing lost up to the point.
            run["data_loss"] = 0.0
            run["marks"] = len(got_marks)
    return run


def bench_size(ctx, args, size_mb, names, reps, results):
    label = "tiny" if size_mb <= 0 else "%dMB" % size_mb
    db = "bench_%s" % label.lower()
    say("size %s: generating %s" % (label, db))
    desc = datagen.create(ctx.conn_info, db, size_mb)
    expected = exact_counts(ctx.conn_info, db, include_views=False)
    backup = upload_backup(ctx.conn_info, ctx.s3, db)
    say("size %s: %.0f MB on disk, %d tables, %d indexes, backup %.1f MB" % (
        label, desc["size_bytes"] / 1e6, desc["tables"], desc["indexes"], backup["size"] / 1e6))
    entry = dict(desc, label=label, size_mb=size_mb, backup_bytes=backup["size"], runs=[])
    results["sizes"].append(entry)
    if "restore_wal" in names:
        wal_prepare(ctx, db, label, entry)
    if not args.skip_count:
        entry["count_pass"] = bench_count_pass(ctx, backup, expected, reps)
        cp = entry["count_pass"]
        say("size %s: counting pass %s s (%s MB of COPY data, peak RSS %s MiB), counts %s" % (
            label, cp.get("seconds"), cp.get("data_mb"), cp.get("rss_mib"),
            "equal the database's" if cp.get("counts_equal") else "DIFFER: %s" % (cp.get("differ") or cp.get("error"))))
    for rep in range(reps):
        # Rotate the order each repetition so no contender always runs first (cold caches) or last.
        order = names[rep % len(names):] + names[:rep % len(names)]
        for name in order:
            if name == "drill_yml" and not args.full and (rep > 0 or size_mb != max(args.size_list)):
                continue
            if name == "restore_wal":
                run = run_wal(ctx, db, rep + 1)
                run["rep"] = rep + 1
                entry["runs"].append(run)
                say("  rep %d %-20s %s total %6.1fs downtime %s data loss %s" % (
                    rep + 1, name, "ok  " if run["ok"] else "FAIL", run["total"],
                    "-" if run["downtime"] is None else "%.1fs" % run["downtime"],
                    "-" if run.get("data_loss") is None else "%.0fs" % run["data_loss"]))
                save(results, args)
                continue
            datagen.mark_incident(ctx.conn_info, db)
            incident_epoch = time.time()
            settle(ctx.conn_info)
            if ctx.wal is not None:
                settle(ctx.wal.info)
            run = contenders.RUNNERS[name](ctx, db, backup)
            run["rep"] = rep + 1
            if name != "drill_yml":
                # A dump brings back the database as it was when the dump ran: every commit from then to the
                # incident is lost (here only the incident's own delete, but the window is the loss).
                run["data_loss"] = round(incident_epoch - backup["dumped_epoch"], 1)
            if run["ok"] and name != "drill_yml":
                same, diff = restored_ok(ctx.conn_info, db, expected)
                if not same:
                    run["ok"] = False
                    run["error"] = "restored rows differ from the backup: %s" % json.dumps(diff)[:500]
            entry["runs"].append(run)
            clear_prefix(ctx.s3, "safety/")
            say("  rep %d %-20s %s total %6.1fs downtime %s" % (
                rep + 1, name, "ok  " if run["ok"] else "FAIL", run["total"],
                "-" if run["downtime"] is None else "%.1fs" % run["downtime"]))
            save(results, args)
    datagen.drop_database(ctx.conn_info, db + "_drill")
    return entry


def bench_multi(ctx, args, counts, results, work):
    """restore.yml over N database servers in one run: one inventory host per server, each its own PostgreSQL
    cluster (as production hosts would be, so each run stops, swaps and restores on its own server), forks = N.

    The clusters share this machine's vCPUs, so the growth with N is what one Ansible control node does for N
    hosts plus what N restores cost on these cores.
    """
    size_mb = min(args.size_list)
    label = "tiny" if size_mb <= 0 else "%dMB" % size_mb
    src = "bench_multi_src"
    datagen.create(ctx.conn_info, src, size_mb)
    dump = work / "multi_src.dump"
    make_backup.pg_dump(ctx.conn_info, src, dump)
    datagen.drop_database(ctx.conn_info, src)
    runbook_totals = [r["total"] for s in results["sizes"] if s["size_mb"] == size_mb for r in s["runs"]
                      if r["contender"] == "runbook" and r["ok"]]
    cluster_dirs, clusters = [], []
    try:
        for n in counts:
            while len(clusters) < n:  # started once, reused by the larger counts
                cluster_dirs.append(work / ("pg-host%02d" % (len(clusters) + 1)))
                clusters.append(pg_cluster.start(cluster_dirs[-1]))
            dbs = {"db%02d" % i: "bench_m%02d" % i for i in range(1, n + 1)}
            conns = {host: clusters[i] for i, host in enumerate(dbs)}
            expected = {}
            for i, (host, db) in enumerate(dbs.items()):
                datagen.load_dump(dump, conns[host], db)
                if i:  # each host's data differs (i rows fewer), so a backup restored on the wrong host shows
                    datagen.delete_rows(conns[host], db, i)
                expected[host] = exact_counts(conns[host], db, include_views=False)
                upload_backup(conns[host], ctx.s3, db)
                datagen.mark_incident(conns[host], db)
            say("databases per run: %d (%s each, a cluster each)" % (n, label))
            for info in conns.values():
                settle(info)
            run = contenders.playbook(ctx, dbs, "restore.yml", forks=n, label="multi%d" % n, clusters=conns)
            run.update(size_label=label, clusters=len({(c["host"], c["port"]) for c in conns.values()}),
                       runbook_total=statistics.median(runbook_totals) if runbook_totals else None)
            if run["ok"]:
                wrong = {}
                for host, db in dbs.items():
                    same, diff = restored_ok(conns[host], db, expected[host])
                    if not same:
                        wrong[host] = diff
                if wrong:
                    run["ok"] = False
                    run["error"] = "restored rows differ from the backup: %s" % json.dumps(wrong)[:500]
            results["multi"].append(run)
            say("  %d databases: %s total %.1fs" % (n, "ok" if run["ok"] else "FAIL", run["total"]))
            for host, db in dbs.items():
                datagen.drop_database(conns[host], db)
            clear_prefix(ctx.s3, "safety/")
            clear_prefix(ctx.s3, "database/bench_m")
            save(results, args)
    finally:
        for cluster_dir in cluster_dirs:
            try:
                pg_cluster.stop(cluster_dir, mode="immediate")
            except pg_cluster.ClusterError as exc:  # stop the others all the same
                say("could not stop %s: %s" % (cluster_dir, exc))
        dump.unlink(missing_ok=True)


def fixed_overhead(results):
    tiny = [s for s in results["sizes"] if s["size_mb"] <= 0] or results["sizes"][:1]
    if not tiny:
        return None
    runs = tiny[0]["runs"]
    ours = [r["total"] for r in runs if r["contender"] == "restore_yml" and r["ok"]]
    base = [r["total"] for r in runs if r["contender"] == "runbook" and r["ok"]]
    if not ours:
        return None
    return {"size_mb": round(tiny[0]["size_bytes"] / 1e6), "n": len(ours), "restore_total": statistics.median(ours),
            "restore_spread": (min(ours), max(ours)), "runbook_total": statistics.median(base) if base else None}


def save(results, args):
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / ("%s.json" % results["stamp"])).write_text(json.dumps(results, indent=1, default=str) + "\n")


def finish(results, args):
    results["machine"]["load_end"] = "%.2f %.2f %.2f" % os.getloadavg()
    results["fixed_overhead"] = fixed_overhead(results)
    out = Path(args.out)
    results["chart"] = "%s.svg" % results["stamp"]
    save(results, args)
    (out / results["chart"]).write_text(report.svg(results))
    md = report.markdown(results)
    (out / ("%s.md" % results["stamp"])).write_text(md)
    (out / "latest.svg").write_text(report.svg(results))
    (out / "latest.md").write_text(md.replace("](%s)" % results["chart"], "](latest.svg)")
                                   .replace("[%s]" % results["chart"], "[latest.svg]"))
    return out / ("%s.md" % results["stamp"])


def export_ref(ref, work, name="code"):
    """The collection at git ref, exported (git archive: no change to the checkout) and linked as a collection.

    Benchmarking a commit keeps the numbers about landed code while others edit the working tree.
    """
    code = work / name
    code.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", ref], capture_output=True, check=False)
    if archive.returncode != 0:
        raise SystemExit("git archive %s failed: %s" % (ref, archive.stderr.decode(errors="replace").strip()))
    subprocess.run(["tar", "-x", "-C", str(code)], input=archive.stdout, check=True)
    link = code / ".collections" / "ansible_collections" / "yieldvault"
    link.mkdir(parents=True)
    (link / "db_restore").symlink_to(code)
    sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", ref], capture_output=True, text=True,
                         check=True).stdout.strip()
    return code, "%s (%s)" % (ref, sha)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--sizes", help="comma-separated sizes in MB on disk; 0 = a tiny database (default %s, "
                                        "--full %s)" % (QUICK_SIZES, FULL_SIZES))
    parser.add_argument("--full", action="store_true", help="the big set: larger sizes, restore_yml_in_place too, "
                                                            "drill at every size, 1/4/16 databases per run")
    parser.add_argument("--reps", type=int, default=3, help="repetitions per contender and size (default 3)")
    parser.add_argument("--contenders",
                        help="comma-separated subset of %s (default %s; --full adds restore_yml_in_place, "
                             "--baseline restore_yml_baseline)" % (",".join(contenders.CONTENDERS),
                                                                   ",".join(contenders.DEFAULT_CONTENDERS)))
    parser.add_argument("--databases", help="databases per restore.yml run to measure, a PostgreSQL cluster each "
                                              "(default 1,4; --full 1,4,16)")
    parser.add_argument("--jobs", type=int, default=4, help="pg_restore --jobs of the hand-run script and "
                                                            "postgresql_db (the runbook says 4)")
    parser.add_argument("--checksum-mb", type=int, help="file size for the checksum throughput (default 256, "
                                                        "--full 1024)")
    parser.add_argument("--skip-multi", action="store_true")
    parser.add_argument("--skip-micro", action="store_true")
    parser.add_argument("--skip-count", action="store_true", help="do not measure the counting pass of the "
                        "backup's rows (fetch_backup count_rows) at each size")
    parser.add_argument("--ref", help="benchmark the collection as committed at this git ref (e.g. HEAD) instead of "
                                      "the working tree; the harness itself is always the working tree's")
    parser.add_argument("--baseline", metavar="REF", help="also run restore.yml as committed at this git ref "
                        "(contender restore_yml_baseline), interleaved with the others: a before/after in one run")
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--work-dir", help="where clusters, S3 state and downloads go (default a new /tmp/yv-bench-*)")
    parser.add_argument("--keep", action="store_true", help="leave the cluster, moto and work directory")
    args = parser.parse_args(argv)
    args.size_list = [float(s) for s in (args.sizes or (FULL_SIZES if args.full else QUICK_SIZES)).split(",")]
    args.size_list = [int(s) if s == int(s) else s for s in args.size_list]
    if args.contenders:
        names = [n.strip() for n in args.contenders.split(",") if n.strip()]
    else:
        names = list(contenders.DEFAULT_CONTENDERS)
        if args.full:
            names.insert(names.index("restore_yml") + 1, "restore_yml_in_place")
    unknown = [n for n in names if n not in contenders.CONTENDERS]
    if unknown:
        parser.error("unknown contender(s) %s; choose from %s" % (", ".join(unknown), ", ".join(contenders.CONTENDERS)))
    if args.baseline and "restore_yml_baseline" not in names:
        names.insert(names.index("restore_yml") + 1 if "restore_yml" in names else len(names), "restore_yml_baseline")
    if "restore_yml_baseline" in names and not args.baseline:
        parser.error("the restore_yml_baseline contender needs --baseline REF")
    args.names = names
    try:
        args.db_counts = sorted({int(n) for n in (args.databases or ("1,4,16" if args.full else "1,4")).split(",")})
    except ValueError:
        args.db_counts = [0]
    if args.db_counts[0] < 1:
        parser.error("--databases takes comma-separated counts of at least 1, e.g. 1,4,16")
    args.checksum_mb = args.checksum_mb or (1024 if args.full else 256)
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    work = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="yv-bench-", dir="/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    os.chmod(work, 0o755)  # the postgres OS user runs the cluster under it
    now = datetime.datetime.now(datetime.timezone.utc)
    results = {
        "date": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "stamp": now.strftime("%Y-%m-%d-%H%M"),
        "command": "benchmarks/run.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "reps": args.reps, "contenders": args.names, "noise_note": NOISE_NOTE,
        "machine": machine_info(), "sizes": [], "multi": [],
    }
    results["machine"]["ansible_core"] = _ansible_core_version()
    say("work directory %s; results to %s" % (work, args.out))
    info = None
    results_ctx = None
    code, results["code"] = REPO, "working tree of %s" % REPO
    try:
        if args.ref:
            code, results["code"] = export_ref(args.ref, work)
            micro.COLLECTIONS = str(code / ".collections")
        baseline = None
        if args.baseline:
            baseline, results["baseline"] = export_ref(args.baseline, work, "baseline")
            say("baseline: %s" % results["baseline"])
        say("collection under test: %s" % results["code"])
        info = pg_cluster.start(work / "pg")
        s3 = s3_server.start(work / "s3")
        client = make_backup.s3_client(s3)
        client.create_bucket(Bucket=BUCKET)
        ctx = contenders.Context(info, s3, BUCKET, work / "runs", pg_cluster.bin_dir(), jobs=args.jobs,
                                   code=code, baseline_code=baseline)
        results_ctx = ctx
        for size_mb in args.size_list:
            bench_size(ctx, args, size_mb, args.names, args.reps, results)
        if not args.skip_multi and "restore_yml" in args.names:
            bench_multi(ctx, args, args.db_counts, results, work)
        if not args.skip_micro:
            say("checksum throughput on %d MiB" % args.checksum_mb)
            path = micro.make_file(work / "checksum.bin", args.checksum_mb)
            results["checksum"] = micro.checksum_throughput(path, reps=args.reps)
            path.unlink()
            say("module memory")
            mem_sizes = [16, 64, 256, 1024] if args.full else [16, 64, 256]
            results["memory"] = micro.module_memory(work, mem_sizes, s3=s3, bucket=BUCKET)
        md = finish(results, args)
        say("wrote %s" % md)
        print(Path(md).read_text())
    except KeyboardInterrupt:
        say("interrupted; partial results in %s" % args.out)
        return 130
    finally:
        if not args.keep:
            if results_ctx is not None and results_ctx.wal is not None:
                try:
                    results_ctx.wal.stop()
                except pg_cluster.ClusterError as exc:  # stop the others all the same
                    say("could not stop the archiving cluster: %s" % exc)
            try:
                s3_server.stop(work / "s3")
            finally:
                if info:
                    pg_cluster.stop(work / "pg", mode="immediate")
                shutil.rmtree(work, ignore_errors=True)
        else:
            say("kept %s (cluster and moto still running)" % work)
    failed = [r for s in results["sizes"] for r in s["runs"] if not r["ok"]] + \
        [r for r in results["multi"] if not r["ok"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
