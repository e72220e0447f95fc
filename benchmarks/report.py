"""Markdown tables and an SVG chart (pure Python) from the benchmark's results JSON."""

import statistics
from xml.sax.saxutils import escape

from contenders import CONTENDERS, LABELS, PHASES

# restore.yml's total on the tiny database: Ansible's start, its tasks and module calls, not the data (issue 22).
FIXED_OVERHEAD_TARGET = 8

COLORS = {"runbook": "#444444", "postgresql_db": "#1f77b4", "restore_yml": "#d62728",
          "restore_yml_in_place": "#9467bd", "restore_yml_baseline": "#ff9896", "restore_wal": "#ff7f0e",
          "drill_yml": "#2ca02c"}


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _spread(values):
    values = [v for v in values if v is not None]
    return (min(values), max(values)) if values else (None, None)


def _fmt(value, digits=1):
    return "-" if value is None else "%.*f" % (digits, value)


def summarize(results):
    """{size label: {contender: {total, downtime, downtime_drop, phases, n, ok}}} from the individual runs."""
    out = {}
    for size in results["sizes"]:
        per = {}
        for name in CONTENDERS:
            runs = [r for r in size["runs"] if r["contender"] == name]
            if not runs:
                continue
            good = [r for r in runs if r["ok"]]
            per[name] = {
                "n": len(good), "failed": len(runs) - len(good),
                "total": _median([r["total"] for r in good]), "total_spread": _spread([r["total"] for r in good]),
                "downtime": _median([r["downtime"] for r in good]),
                "downtime_spread": _spread([r["downtime"] for r in good]),
                "downtime_drop": _median([r["downtime_drop"] for r in good]),
                "data_loss": _median([r.get("data_loss") for r in good]),
                "phases": {p: _median([r["phases"].get(p) for r in good]) for p in PHASES + ("other",)},
            }
        out[size["label"]] = per
    return out


def _ratio(value, base):
    if value is None or not base:
        return None
    return value / base


def _without_upload(results, summary):
    """Ratios against the hand-run script's runs less the upload of its safety backup (runbook step 3).

    Each run's upload is taken off that run's total and downtime, then the median. Our playbooks keep their own
    upload (it is inside one module call); postgresql_db is left out, its upload is not timed on its own.
    """
    lines = []
    for size in results["sizes"]:
        runs = [r for r in size["runs"] if r["contender"] == "runbook" and r["ok"] and r.get("safety_upload") is not None]
        if not runs:
            continue
        upload = _median([r["safety_upload"] for r in runs])
        total = _median([r["total"] - r["safety_upload"] for r in runs])
        down = _median([r["downtime"] - r["safety_upload"] for r in runs if r.get("downtime") is not None])
        parts = []
        for name, row in summary[size["label"]].items():
            if name in ("runbook", "postgresql_db"):
                continue
            part = "%s total %s x" % (LABELS[name], _fmt(_ratio(row["total"], total), 2))
            if row.get("downtime") and name != "drill_yml":
                part += ", downtime %s x" % _fmt(_ratio(row["downtime"], down), 2)
            parts.append(part)
        lines.append("- %s: the script's upload %s s (median); without it the script takes %s s, downtime %s s; "
                     "%s." % (size["label"], _fmt(upload), _fmt(total), _fmt(down), "; ".join(parts)))
    if lines:
        lines = ["", "The runbook's step 3 uploads the safety backup, so the hand-run script does, between the stop "
                 "and the start (since 2026-12-03; earlier results compared against a script that did not). "
                 "`restore.yml` uploads its own as it always did. The same ratios against the script without that "
                 "upload (`postgresql_db` left out: its upload is not timed on its own):", ""] + lines
    return lines


def _wal_against_dump(results, summary):
    """The WAL archive's restore against the dump's (restore.yml both), size by size, in the same run."""
    rows = [(size, summary[size["label"]]) for size in results["sizes"] if "restore_wal" in summary[size["label"]]]
    if not rows:
        return []
    lines = ["", "## The WAL archive against the dump (restore.yml -e point=<second> -e source=wal)", "",
             "The archive's cluster is a copy of the same database with archiving on (pgBackRest, a posix "
             "repository) and a full base backup; before each run a row is committed, then the point (the next "
             "second), a row after it and the incident. The restore recovers the database to that second on a "
             "scratch server, dumps it from there and goes on as from a dump (staging, verification, swap); "
             "the rows committed by the point are checked, every table's count and the marks row by row.", "",
             "| size | full base backup s | archive: total s | x dump | x runbook | downtime s | data loss s "
             "| dump (restore.yml): total s | downtime s | data loss s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for size, per in rows:
        wal, dump, base = per["restore_wal"], per.get("restore_yml", {}), per.get("runbook", {})
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            size["label"], _fmt(size.get("wal_base_backup_seconds")), _fmt(wal["total"]),
            _fmt(_ratio(wal["total"], dump.get("total")), 2), _fmt(_ratio(wal["total"], base.get("total")), 2),
            _fmt(wal["downtime"]), _fmt(wal["data_loss"], 0), _fmt(dump.get("total")), _fmt(dump.get("downtime")),
            _fmt(dump.get("data_loss"), 0)))
    lines += ["", "A dump's data loss here is only the minutes this run has been going since it dumped; with dumps "
              "every few hours it is hours. The archive's is 0 s to the point whenever the archive covers it."]
    return lines


def _count_pass(results, summary):
    """The counting pass of the backup's rows (fetch_backup, count_rows) against the restore's total."""
    sizes = [s for s in results["sizes"] if s.get("count_pass")]
    if not sizes:
        return []
    lines = [
        "",
        "## Counting the backup's rows (exact expected counts without a manifest)",
        "",
        "fetch_backup reads the downloaded backup's data once, streaming (inflating its COPY blocks and counting "
        "rows), in the download's module call, before anything stops: it adds no downtime. Below, that pass alone "
        "(its own process, medians of the repetitions) and its share of restore.yml's total at the same size.",
        "",
        "| size | backup MB | COPY data MB | counting s (min-max) | MB/s of data | peak RSS MiB | counts equal the "
        "database's | share of restore.yml total |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for size in sizes:
        cp = size["count_pass"]
        if cp.get("seconds") is None:
            lines.append("| %s | - | - | failed: %s | | | | |" % (size["label"], cp.get("error")))
            continue
        total = summary.get(size["label"], {}).get("restore_yml", {}).get("total")
        lines.append("| %s | %s | %s | %s (%s-%s) | %s | %s | %s | %s |" % (
            size["label"], _fmt(cp["backup_mb"]), _fmt(cp["data_mb"]), _fmt(cp["seconds"], 2),
            _fmt(cp["seconds_spread"][0], 2), _fmt(cp["seconds_spread"][1], 2),
            _fmt(cp["data_mb"] / cp["seconds"], 0) if cp["seconds"] else "-", _fmt(cp["rss_mib"]),
            "yes" if cp["counts_equal"] else "NO (%s)" % (cp.get("differ") or cp.get("error")),
            ("%s %%" % _fmt(100.0 * cp["seconds"] / total)) if total else "-"))
    return lines


def markdown(results):
    summary = summarize(results)
    m = results["machine"]
    lines = [
        "# Restore benchmark, %s" % results["date"],
        "",
        "Machine: %s, %s vCPU, %.1f GiB RAM, PostgreSQL %s, Python %s, ansible-core %s. Command: `%s`."
        % (m["hostname_kind"], m["nproc"], m["ram_gib"], m["pg_version"], m["python"], m["ansible_core"],
           results["command"]),
        "Collection under test: %s. Load average at start %s, at end %s." % (
            results.get("code", "-"), m.get("load_start", "-"), m.get("load_end", "-")),
        "",
    ]
    if results.get("baseline"):
        lines += ["Baseline (\"%s\"): the collection at %s, run interleaved with the others on the same data: "
                  "the before of a before/after." % (LABELS["restore_yml_baseline"], results["baseline"]), ""]
    lines += [
        "> %s" % results["noise_note"],
        "",
        "Every contender restores the same custom-format backup from the same local S3 endpoint (moto) into the "
        "same database, repetitions interleaved (the order rotates each repetition). Medians of %d repetitions, "
        "spread as min-max. **Downtime**: services stopped until the data is verified and services are back "
        "(runbook order: stop, safety backup and its upload, download, md5sum, drop/create, pg_restore, counts, "
        "start). "
        "**Drop..counts**: the narrowest window, from the drop to the end of the counts. Ratios are to the "
        "hand-run script in the same run. **Data loss**: for a dump, the seconds from the dump to the incident "
        "(every commit in between is lost); for the WAL archive, what is missing of the commits up to the point "
        "restored to (0 s when every row committed by that second is back, checked)." % results["reps"],
        "",
        "## Total time and downtime by size",
        "",
        "| size (on disk, backup) | contender | runs | total s (min-max) | x runbook | downtime s (min-max) "
        "| x runbook | drop..counts s | data loss s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for size in results["sizes"]:
        per = summary[size["label"]]
        base = per.get("runbook", {})
        for name, row in per.items():
            lines.append("| %s (%s MB, %s MB) | %s | %d%s | %s (%s-%s) | %s | %s (%s-%s) | %s | %s | %s |" % (
                size["label"], _fmt(size["size_bytes"] / 1e6, 0), _fmt(size["backup_bytes"] / 1e6, 1),
                LABELS[name], row["n"], (" (%d failed)" % row["failed"]) if row["failed"] else "",
                _fmt(row["total"]), _fmt(row["total_spread"][0]), _fmt(row["total_spread"][1]),
                _fmt(_ratio(row["total"], base.get("total")), 2),
                _fmt(row["downtime"]), _fmt(row["downtime_spread"][0]), _fmt(row["downtime_spread"][1]),
                _fmt(_ratio(row["downtime"], base.get("downtime")), 2), _fmt(row["downtime_drop"]),
                _fmt(row["data_loss"], 0)))
    lines += _without_upload(results, summary)
    lines += _wal_against_dump(results, summary)
    lines += _count_pass(results, summary)
    lines += ["", "## Phases (median seconds)", "",
              "| size | contender | fetch (download + checksum) | safety backup | drop/create | restore | verify "
              "| other (Ansible start, preflight, assess, stop/start, report) |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for size in results["sizes"]:
        for name, row in summary[size["label"]].items():
            ph = row["phases"]
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                size["label"], LABELS[name], *[_fmt(ph.get(p)) for p in PHASES + ("other",)]))
    ours = [r for s in results["sizes"] for r in s["runs"] if r["contender"] == "restore_yml" and r["ok"]]
    if ours and ours[-1].get("report_phases"):
        lines += ["", "### restore.yml, every phase of its report (median seconds, largest size)", ""]
        largest = [r for r in results["sizes"][-1]["runs"] if r["contender"] == "restore_yml" and r["ok"]]
        names = list((largest or ours)[-1]["report_phases"])
        lines.append("| " + " | ".join(names) + " |")
        lines.append("|" + " --- |" * len(names))
        lines.append("| " + " | ".join(_fmt(_median([r["report_phases"].get(n) for r in (largest or ours)]))
                                       for n in names) + " |")
    if results.get("fixed_overhead"):
        fo = results["fixed_overhead"]
        lines += ["", "## Fixed overhead", "",
                  "restore.yml on the smallest database (%s MB): median total %s s (min-max %s-%s) over %d runs; "
                  "the hand-run script on the same database: %s s. Target: %s s or less (%s)."
                  % (fo["size_mb"], _fmt(fo["restore_total"]), _fmt(fo["restore_spread"][0]),
                     _fmt(fo["restore_spread"][1]), fo["n"], _fmt(fo["runbook_total"]), FIXED_OVERHEAD_TARGET,
                     "met" if fo["restore_total"] <= FIXED_OVERHEAD_TARGET else "not met")]
    if results.get("multi"):
        multi = results["multi"]
        one = next((row["total"] for row in multi if row["databases"] == 1 and row["ok"]), None)
        clusters = all(row.get("clusters") == row["databases"] for row in multi)
        lines += ["", "## Databases per run (restore.yml, one host per database%s, forks = databases)"
                  % (", a PostgreSQL cluster each" if clusters else ""), "",
                  "| databases | size each | total s | x 1 database | per database s | max downtime s "
                  "| x (N x runbook) | ok |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for row in multi:
            lines.append("| %d | %s | %s | %s | %s | %s | %s | %s |" % (
                row["databases"], row["size_label"], _fmt(row["total"]),
                _fmt(_ratio(row["total"], one) if one else None, 2), _fmt(row["total"] / row["databases"]),
                _fmt(row.get("downtime_max")), _fmt(_ratio(row["total"], row["databases"] * row["runbook_total"])
                                                    if row.get("runbook_total") else None, 2),
                "yes" if row["ok"] else "NO: %s" % row.get("error", "")[:200].replace("\n", " ")))
        lines += ["", "x (N x runbook): the run's total against N times the hand-run script's on one database of "
                  "that size (the script restores one database at a time); the clusters share this machine's "
                  "vCPUs."]
    if results.get("checksum"):
        c = results["checksum"]
        lines += ["", "## Checksum throughput (same file, page cache warm)", "",
                  "| tool | median MB/s | min-max |", "| --- | --- | --- |",
                  "| md5sum | %s | %s-%s |" % (_fmt(c["md5sum"]["median_mb_s"]), _fmt(c["md5sum"]["min_mb_s"]),
                                                _fmt(c["md5sum"]["max_mb_s"])),
                  "| module_utils.checksum.hash_stream (MD5 + SHA-256, one pass) | %s | %s-%s |" % (
                      _fmt(c["hash_stream"]["median_mb_s"]), _fmt(c["hash_stream"]["min_mb_s"]),
                      _fmt(c["hash_stream"]["max_mb_s"])),
                  ] + ["| %s | %s | %s-%s |" % (label, _fmt(c[key]["median_mb_s"]), _fmt(c[key]["min_mb_s"]),
                                                _fmt(c[key]["max_mb_s"]))
                       for key, label in (("md5_sha256_threads", "candidate: MD5 and SHA-256 on two threads"),
                                          ("hashlib_md5_only", "candidate: MD5 only (no SHA-256 asked)"))
                       if key in c] + [
                  "", "File %s MB; hash_stream / md5sum = %s (target at least 0.80)." % (c["file_mb"], c["ratio"])]
    if results.get("memory"):
        lines += ["", "## Peak memory of backup_checksum (its own process, RSS)", "",
                  "| file MiB | local copy: peak RSS MiB | s | S3 download: peak RSS MiB | s | MB/s |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for row in results["memory"]:
            s3 = row.get("s3_download") or {}
            lines.append("| %d | %s | %s | %s | %s | %s |" % (
                row["file_mb"], row["local_copy"]["peak_rss_mb"], row["local_copy"]["seconds"],
                s3.get("peak_rss_mb", "-"), s3.get("seconds", "-"), s3.get("mb_s", "-")))
    failures = [(s["label"], r) for s in results["sizes"] for r in s["runs"] if not r["ok"]]
    if failures:
        lines += ["", "## Failed runs", ""]
        for label, r in failures:
            lines.append("- %s, %s: rc %s: `%s`" % (label, r["contender"], r["rc"],
                                                    (r.get("error") or "")[-300:].replace("\n", " ").replace("`", "'")))
    lines += ["", "Chart: [%s](%s)" % (results["chart"], results["chart"]), ""]
    return "\n".join(lines)


def svg(results, width=720, height=420):
    """Total time (median, with min-max bars) against database size, one line per contender; under it, when
    measured, restore.yml's total against the number of databases in one run."""
    summary = summarize(results)
    multi = [r for r in results.get("multi") or [] if r["ok"]]
    pad_l, pad_r, pad_t, pad_b = 60, 230, 40, 50
    sizes = [(s["size_bytes"] / 1e6, s["label"]) for s in results["sizes"]]
    xs = [x for x, _ in sizes] or [1]
    ys = [v for per in summary.values() for row in per.values() for v in [row["total_spread"][1]] if v is not None]
    x_max = max(xs) * 1.05 or 1
    y_max = (max(ys) if ys else 1) * 1.1
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b

    def px(x):
        return pad_l + plot_w * x / x_max

    def py(y):
        return pad_t + plot_h * (1 - y / y_max)

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">'
           % (width, height + (MULTI_PANEL if multi else 0)),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="20" font-size="14">Restore total time vs database size (%s, median of %d, bars min-max)'
           '</text>' % (pad_l, escape(results["date"]), results["reps"]),
           '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (pad_l, py(0), pad_l + plot_w, py(0)),
           '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (pad_l, py(0), pad_l, pad_t)]
    for i in range(6):
        y = y_max * i / 5
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (pad_l, py(y), pad_l + plot_w, py(y)))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%.0f</text>' % (pad_l - 6, py(y) + 4, y))
    for x, _label in sizes:
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%.0f MB</text>' % (px(x), py(0) + 18, x))
    out.append('<text x="%d" y="%d" text-anchor="middle">database size on disk</text>'
               % (pad_l + plot_w / 2, height - 8))
    out.append('<text x="14" y="%d" transform="rotate(-90 14 %d)" text-anchor="middle">seconds</text>'
               % (pad_t + plot_h / 2, pad_t + plot_h / 2))
    for n, name in enumerate(CONTENDERS):
        points = []
        for (x, _label), size in zip(sizes, results["sizes"]):
            row = summary[size["label"]].get(name)
            if row and row["total"] is not None:
                points.append((x, row["total"], row["total_spread"]))
        if not points:
            continue
        color = COLORS[name]
        out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (
            color, " ".join("%.1f,%.1f" % (px(x), py(y)) for x, y, _ in points)))
        for x, y, (lo, hi) in points:
            out.append('<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>' % (px(x), py(y), color))
            out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>' % (px(x), py(lo), px(x), py(hi),
                                                                                         color))
        ly = pad_t + 10 + 20 * n
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>'
                   % (pad_l + plot_w + 15, ly, pad_l + plot_w + 35, ly, color))
        out.append('<text x="%d" y="%d">%s</text>' % (pad_l + plot_w + 40, ly + 4, escape(LABELS[name])))
    if multi:
        _multi_panel(out, multi, pad_l, height + 10, plot_w, MULTI_PANEL - 95)
    out.append("</svg>")
    return "\n".join(out) + "\n"


MULTI_PANEL = 300  # px added under the size chart for the databases-per-run chart


def _multi_panel(out, multi, left, top, plot_w, plot_h):
    """restore.yml's total against the number of databases (hosts) in one run, beside N x the hand-run script;
    multi: the runs that succeeded, at least one."""
    rows = sorted(multi, key=lambda r: r["databases"])
    series = [("restore.yml, forks = N", COLORS["restore_yml"],
               [(r["databases"], r["total"]) for r in rows])]
    if all(r.get("runbook_total") for r in rows):
        series.append(("by hand, N in a row", COLORS["runbook"],
                       [(r["databases"], r["databases"] * r["runbook_total"]) for r in rows]))
    x_max = max(r["databases"] for r in rows) * 1.05
    y_max = max(y for _, _, pts in series for _, y in pts) * 1.1 or 1

    def px(x):
        return left + plot_w * x / x_max

    def py(y):
        return top + 30 + plot_h * (1 - y / y_max)

    out.append('<text x="%d" y="%d" font-size="14">Databases restored in one run (%s each, a host each)</text>'
               % (left, top + 10, escape(rows[0]["size_label"])))
    out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="black"/>' % (left, py(0), left + plot_w, py(0)))
    out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="black"/>' % (left, py(0), left, py(y_max)))
    for i in range(6):
        y = y_max * i / 5
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (left, py(y), left + plot_w, py(y)))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%.0f</text>' % (left - 6, py(y) + 4, y))
    for r in rows:
        out.append('<text x="%.1f" y="%.1f" text-anchor="middle">%d</text>' % (px(r["databases"]), py(0) + 18,
                                                                               r["databases"]))
    out.append('<text x="%.1f" y="%.1f" text-anchor="middle">databases (hosts) per run</text>'
               % (left + plot_w / 2, py(0) + 36))
    for n, (label, color, points) in enumerate(series):
        out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (
            color, " ".join("%.1f,%.1f" % (px(x), py(y)) for x, y in points)))
        for x, y in points:
            out.append('<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>' % (px(x), py(y), color))
        ly = top + 40 + 20 * n
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>'
                   % (left + plot_w + 15, ly, left + plot_w + 35, ly, color))
        out.append('<text x="%d" y="%d">%s</text>' % (left + plot_w + 40, ly + 4, escape(label)))
