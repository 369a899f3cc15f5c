"""What a cold ingest spends its CPU on, measured back to back on one tree.

    python bench/pieces.py TREE [--rounds R]

TREE is a tree `bench/run.py --keep` wrote (e.g. /tmp/benchtrees/tree_800000). Each round runs,
each in its own process: the json.load baseline and `budgetdb ingest` into a new store (whole
processes), then the pieces of the ingest on their own (only the piece is timed, not the
process start or the reading of the files): sha256 of every file; the first look at every
file (bracket skeleton, trailing commas, head); DuckDB's parse of the samples into
`MAP(VARCHAR, JSON)` and nothing else; the sample load as ingest runs it (parse, checks,
casts, write); the write alone (the cold store's rows inserted into a new file). Prints
Markdown: median and min-max wall and CPU seconds (user + system, every thread). Run by hand.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from run import BUDGETDB, HERE, run, tree_files

_TIMED = """
import sys, time
def timed(work):
    started, cpu = time.perf_counter(), time.process_time()
    work()
    print(time.perf_counter() - started, time.process_time() - cpu)
"""

SHA256 = (
    _TIMED
    + """
import hashlib
datas = [open(p, "rb").read() for p in sys.argv[1:]]
timed(lambda: [hashlib.sha256(d).hexdigest() for d in datas])
"""
)

FIRST_LOOK = (
    _TIMED
    + """
from budgetdb.store.firstlook import first_look
datas = [(p, open(p, "rb").read()) for p in sys.argv[1:]]
timed(lambda: [first_look(p, d) for p, d in datas])
"""
)

PARSE = (
    _TIMED
    + """
import duckdb
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
query = ("SELECT count(m) FROM (SELECT unnest(per_sample_results) AS m FROM read_json($p, "
         "columns = {'per_sample_results': 'MAP(VARCHAR, JSON)[]'}, format = 'unstructured', maximum_object_size = 1073741824))")
timed(lambda: con.execute(query, {"p": sys.argv[1:]}).fetchall())
"""
)

LOAD = (
    _TIMED
    + """
from budgetdb.store import open_store, samples
con = open_store(sys.argv[1], read_only=False)
samples.prepare(con)
loads = [samples.SampleLoad(i, p, i) for i, p in enumerate(sys.argv[2:])]
timed(lambda: samples.load(con, loads, 1 << 30))
"""
)

WRITE = (
    _TIMED
    + """
import duckdb
con = duckdb.connect(sys.argv[2])
con.execute("SET enable_progress_bar = false")
# ATTACH takes no parameters: the path as a quoted SQL string
con.execute("ATTACH '" + sys.argv[1].replace("'", "''") + "' AS cold (READ_ONLY)")
con.execute("CREATE TEMP TABLE rows AS FROM cold.sample_records")
con.execute("CREATE TABLE sample_records AS FROM rows LIMIT 0")
def write():
    con.execute("BEGIN")
    con.execute("INSERT INTO sample_records FROM rows")
    con.execute("COMMIT")
timed(write)
"""
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tree", type=Path, help="a tree bench/run.py --keep wrote")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    hw_root = next(args.tree.glob("core_exp_*"))
    files = tree_files(hw_root)
    work = Path(tempfile.mkdtemp(prefix="budgetdb-pieces-"))
    times: dict[str, list[tuple[float, float]]] = {}

    def whole(name, argv):
        seconds, _, cpu, _ = run(argv)
        times.setdefault(name, []).append((seconds, cpu))

    def piece(name, argv):
        seconds, cpu = map(float, run(argv)[3].split())
        times.setdefault(name, []).append((seconds, cpu))

    def measure_round(folder: Path) -> None:
        folder.mkdir()
        cold, load_store, written = (folder / f"{name}.duckdb" for name in ("cold", "load", "written"))
        whole("baseline: json.load loop + numpy (whole process)", [sys.executable, str(HERE / "baseline.py"), str(hw_root)])
        whole("budgetdb ingest, cold (whole process)", [BUDGETDB, "ingest", str(hw_root), "--db", str(cold), "--format", "json"])
        piece("sha256 of every file", [sys.executable, "-c", SHA256, *files])
        piece("first look: skeleton, trailing commas, head", [sys.executable, "-c", FIRST_LOOK, *files])
        piece("DuckDB parse into MAP(VARCHAR, JSON), nothing else", [sys.executable, "-c", PARSE, *files])
        piece("sample load: parse, checks, casts, write", [sys.executable, "-c", LOAD, str(load_store), *files])
        piece("write alone: the cold store's rows into a new file", [sys.executable, "-c", WRITE, str(cold), str(written)])
        shutil.rmtree(folder)

    try:
        for round_ in range(args.rounds):
            measure_round(work / str(round_))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"{len(files)} files of {hw_root}, {args.rounds} rounds\n")
    print("| piece | wall s | CPU s |\n|---|---:|---:|")
    for name, runs in times.items():
        walls, cpus = [w for w, _ in runs], [c for _, c in runs]
        print(
            f"| {name} | {statistics.median(walls):.2f} ({min(walls):.2f} - {max(walls):.2f}) "
            f"| {statistics.median(cpus):.2f} ({min(cpus):.2f} - {max(cpus):.2f}) |"
        )


if __name__ == "__main__":
    main()
