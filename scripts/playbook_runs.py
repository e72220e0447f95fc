#!/usr/bin/env python3
"""Where the integration suite's time goes: the ansible-playbook runs it made, summed.

    python scripts/playbook_runs.py .pytest_cache/playbook_runs.jsonl [--top 25]

The log is one JSON line per run (tests/integration/dbutil.py writes it when
YV_PLAYBOOK_LOG is set; `make test` and `make integration` set it). Prints the
runs, their wall and CPU time and tasks, by test file and by test, biggest first.
"""

import argparse
import collections
import json
import sys


def load(path):
    with open(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def summarize(runs, key):
    """{key(run): [runs, wall, cpu, tasks]}, biggest CPU first."""
    totals = collections.defaultdict(lambda: [0, 0.0, 0.0, 0])
    for run in runs:
        row = totals[key(run)]
        row[0] += 1
        row[1] += run["wall"]
        row[2] += run["cpu"]
        row[3] += run["tasks"]
    return sorted(totals.items(), key=lambda item: -item[1][2])


def table(title, rows, top):
    lines = [title, "%6s %9s %9s %7s  %s" % ("runs", "wall s", "cpu s", "tasks", "")]
    for name, (count, wall, cpu, tasks) in rows[:top]:
        lines.append("%6d %9.0f %9.0f %7d  %s" % (count, wall, cpu, tasks, name))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    try:
        runs = load(args.log)
    except FileNotFoundError:
        print("no playbook runs logged at %s" % args.log)
        return 0
    cpu = sum(r["cpu"] for r in runs)
    print("ansible-playbook runs: %d, %.0f s of CPU, %d tasks (%.0f tasks and %.1f s of CPU per run)" % (
        len(runs), cpu, sum(r["tasks"] for r in runs), sum(r["tasks"] for r in runs) / max(len(runs), 1),
        cpu / max(len(runs), 1)))
    print(table("\nby test file:", summarize(runs, lambda r: r["test"].split("::")[0]), args.top))
    print(table("\nby test:", summarize(runs, lambda r: r["test"]), args.top))
    print(table("\nby playbook:", summarize(runs, lambda r: r["playbook"]), args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
