"""Two (or more) budgetdb builds, or options, timed alternately, back to back, on one tree.

    python bench/ab.py TREE --rounds 4 --fresh-store \\
        --run old=/tmp/base/.venv/bin/budgetdb --run new=.venv/bin/budgetdb \\
        --run "new1=.venv/bin/budgetdb {args} --workers 1" [--args "ingest {tree} --format json"]

A build's command gets the arguments appended, or put where it says {args}.
Every round runs each build once, in the order given, each in its own process (wall time, CPU
time of the process and its children, peak RSS, as bench/run.py measures them); a store is
made fresh for each run with --fresh-store (a cold ingest). On a machine others share, only
runs close in time compare: that is why the builds alternate. Prints the median and min - max
of each. Run by hand.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tree", help="the folder to ingest (a core_exp_<hw> root)")
    parser.add_argument("--run", action="append", required=True, metavar="NAME=COMMAND", help="a build: name=budgetdb [options]")
    parser.add_argument("--args", default="ingest {tree} --format json", help="the command's arguments ({tree}, {db})")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fresh-store", action="store_true", help="a new store for every run (cold ingest)")
    parser.add_argument("--db", help="the store every run uses (default: one per build in a temporary folder)")
    args = parser.parse_args()

    builds = dict(item.split("=", 1) for item in args.run)
    work = Path(tempfile.mkdtemp(prefix="budgetdb-ab-"))
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in builds}
    for round_ in range(args.rounds):
        for name, command in builds.items():
            db = Path(args.db) if args.db else work / f"{name}.duckdb"
            if args.fresh_store:
                for path in (db, db.with_name(db.name + ".wal")):
                    path.unlink(missing_ok=True)
            arguments = args.args.format(tree=args.tree, db=db)
            line = command.replace("{args}", arguments) if "{args}" in command else f"{command} {arguments}"
            argv = [*shlex.split(line), "--db", str(db)]
            started = time.perf_counter()
            process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _, status, usage = os.wait4(process.pid, 0)
            seconds = time.perf_counter() - started
            if os.waitstatus_to_exitcode(status) not in (0, 1):
                raise SystemExit(f"{argv} exited with {os.waitstatus_to_exitcode(status)}")
            results[name].append((seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024))
            print(f"round {round_} {name}: {seconds:.2f} s", flush=True)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}\n")
    print("| build | median s | min - max s | CPU s | peak RSS MB |\n|---|---:|---:|---:|---:|")
    for name, runs in results.items():
        walls = [s for s, _, _ in runs]
        print(
            f"| {name} | {statistics.median(walls):.2f} | {min(walls):.2f} - {max(walls):.2f} | "
            f"{statistics.median(c for _, c, _ in runs):.1f} | {max(m for _, _, m in runs):,.0f} |"
        )


if __name__ == "__main__":
    main()
