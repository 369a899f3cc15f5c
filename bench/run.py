"""Benchmark budgetdb against the json.load script a researcher writes today.

    python bench/run.py [--samples N [N ...]] [--repeats R] [--keep DIR] [--db SPEC] [--workers W [W ...]]
    python bench/run.py --report-only STORE [--repeats R]
    python bench/run.py --compare-only [--repeats R] [--keep DIR]

For each N (default 1,638,588, the seed's size) it writes a demo tree of N samples in the
exact current shape, then measures, alternating the steps within every repeat so a noisy
machine cannot fake a ratio: the json.load baseline, DuckDB's raw scan of the same files
(the floor), `budgetdb ingest` cold (plain, and --strict into a second store), again with
nothing changed, again after touching one file, `budgetdb report` (with its uncertainty: 1,000 bootstrap
resamples), `budgetdb report --resamples 0` (without), `budgetdb query run config_uncertainty`
(1,000 resamples) and `budgetdb --help`. `--report-only STORE` measures the report and query steps
alone on a store that exists (e.g. the seed store of tests/seed_fixture.py, or one --keep left).
`--compare-only` builds two seed-sized stores (tests/seed_fixture.py, 1,638,588 samples each, every
sample given its example_id; the second with every T_total 3% longer) and measures `budgetdb compare`
between them (1,000 resamples, paired): --format json, Markdown, and --resamples 0; it checks the
answer first (geometric-mean ratio 1.03, every config flagged).
Every step runs in its own process; the table gives the median and min-max wall time and the
peak RSS of that process. `--workers 1 2` measures the cold ingest once per number of
fingerprint worker processes (`budgetdb ingest --workers W`) instead of once with the default.
In the first round it checks that budgetdb's figures equal the baseline's (prefill statistics,
frontiers, budget range; it stops if not). Prints Markdown.
Run by hand, not by CI.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUDGETDB = str(Path(sys.executable).with_name("budgetdb"))
SEED_SAMPLES = 1_638_588

RAW_SCAN = """
import sys, duckdb
from budgetdb.store.fields import SAMPLE_FIELDS, struct_type
files = sys.argv[1:]
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
n = con.execute(
    "SELECT sum(len(per_sample_results)) "
    "FROM read_json($f, columns = $c, format = 'unstructured', maximum_object_size = 1073741824)",
    {"f": files, "c": {"per_sample_results": struct_type(SAMPLE_FIELDS) + "[]"}},
).fetchone()[0]
print(n)
"""


def run(argv: list[str], env: dict | None = None) -> tuple[float, float, float, str]:
    """Wall seconds, peak RSS in MB, CPU seconds (user + system) and stdout of one process."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 1):
        raise SystemExit(f"{argv[:3]} exited with {process.returncode}")
    return seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, out.decode()


def tree_files(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*.json"))


def measure(
    tree: Path, work: Path, repeats: int, db_spec: str | None, workers: list[int] | None = None
) -> dict[str, list[tuple[float, float, float]]]:
    hw_root = next(tree.glob("core_exp_*"))
    files = tree_files(hw_root)
    results: dict[str, list[tuple[float, float, float]]] = {}
    db_base = db_spec or str(work / "bench.duckdb")
    env = dict(os.environ, BUDGETDB_DB=db_base)
    touched = next(f for f in files if "_rank" not in f and "layer_importance" not in f)

    def record(name, argv, env=env):
        seconds, rss, cpu, out = run(argv, env)
        results.setdefault(name, []).append((seconds, rss, cpu))
        return out

    strict_db = work / "strict.duckdb"
    for round_ in range(repeats):
        if db_spec is None:
            for path in (db_base, db_base + ".wal", strict_db, f"{strict_db}.wal"):
                Path(path).unlink(missing_ok=True)
        figures = record("baseline: json.load loop + numpy", [sys.executable, str(HERE / "baseline.py"), str(hw_root)])
        record("floor: DuckDB raw scan (declared schema)", [sys.executable, "-c", RAW_SCAN, *files])
        for count in workers or [None]:
            if count is None:
                record("budgetdb ingest (cold)", [BUDGETDB, "ingest", str(hw_root), "--format", "json"])
                continue
            if db_spec is None:
                for path in (db_base, db_base + ".wal"):
                    Path(path).unlink(missing_ok=True)
            record(
                f"budgetdb ingest (cold, --workers {count})",
                [BUDGETDB, "ingest", str(hw_root), "--format", "json", "--workers", str(count)],
            )
        if round_ == 0:
            check_same_answers(json.loads(figures), env)
        if db_spec is None:
            record(
                "budgetdb ingest --strict (cold)",
                [BUDGETDB, "ingest", str(hw_root), "--strict", "--format", "json", "--db", str(strict_db)],
            )
        record("budgetdb ingest (nothing changed)", [BUDGETDB, "ingest", str(hw_root), "--format", "json"])
        os.utime(touched)
        with open(touched, "ab") as handle:
            handle.write(b" ")
        record("budgetdb ingest (one file changed)", [BUDGETDB, "ingest", str(hw_root), "--format", "json"])
        report_steps(record)
        record("budgetdb --help", [BUDGETDB, "--help"])
    return results


def report_steps(record) -> None:
    """The report with its uncertainty (R = 1,000), without it, and config_uncertainty alone."""
    record("budgetdb report", [BUDGETDB, "report"])
    record("budgetdb report --resamples 0", [BUDGETDB, "report", "--resamples", "0"])
    record("budgetdb query run config_uncertainty", [BUDGETDB, "query", "run", "config_uncertainty", "-F", "csv"])


def measure_reports(store: str, repeats: int) -> dict[str, list[tuple[float, float, float]]]:
    results: dict[str, list[tuple[float, float, float]]] = {}
    env = dict(os.environ, BUDGETDB_DB=store)

    def record(name, argv):
        seconds, rss, cpu, _ = run(argv, env)
        results.setdefault(name, []).append((seconds, rss, cpu))

    for _ in range(repeats):
        report_steps(record)
    return results


def compare_stores(folder: Path) -> tuple[Path, Path]:
    """The seed store twice, every sample with an example_id (its position), the second 3% slower."""
    import duckdb

    sys.path.insert(0, str(HERE.parent / "tests"))
    from seed_fixture import build_seed_store

    baseline, candidate = folder / "compare_baseline.duckdb", folder / "compare_candidate.duckdb"
    if not (baseline.exists() and candidate.exists()):
        build_seed_store(baseline)
        con = duckdb.connect(str(baseline))
        con.execute("UPDATE sample_records SET example_id = ordinal")
        con.close()
        shutil.copy(baseline, candidate)
        con = duckdb.connect(str(candidate))
        con.execute("UPDATE sample_records SET T_total = T_total * 1.03")
        con.close()
    return baseline, candidate


def measure_compare(folder: Path, repeats: int) -> dict[str, list[tuple[float, float, float]]]:
    baseline, candidate = compare_stores(folder)
    sides = ["--db", str(baseline), "--against-db", str(candidate)]
    doc = json.loads(run([BUDGETDB, "compare", *sides, "--format", "json"])[3])
    flagged = sum(bool(c["latency_changed"]) for c in doc["configs"])
    if not (math.isclose(doc["summary"]["geomean_ratio"], 1.03, rel_tol=1e-9) and flagged == len(doc["configs"]) == 81):
        raise SystemExit(f"compare gave geomean {doc['summary']['geomean_ratio']}, {flagged} of {len(doc['configs'])} flagged")
    results: dict[str, list[tuple[float, float, float]]] = {}
    for _ in range(repeats):
        for name, extra in (
            ("budgetdb compare --format json", ["--format", "json"]),
            ("budgetdb compare --lang en (Markdown)", ["--lang", "en"]),
            ("budgetdb compare --resamples 0", ["--resamples", "0", "--format", "json"]),
        ):
            seconds, rss, cpu, _ = run([BUDGETDB, "compare", *sides, *extra])
            results.setdefault(name, []).append((seconds, rss, cpu))
    return results


def _query(name: str, env: dict) -> list[dict]:
    return json.loads(run([BUDGETDB, "query", "run", name, "--format", "json"], env)[3])


def check_same_answers(baseline: dict, env: dict) -> None:
    """The timings compare like with like only if budgetdb's figures are the baseline's: the
    pooled prefill statistics, each dataset's frontier size and ends, the budget range."""
    stats = _query("prefill_stats", env)[0]
    ours = {
        "n": stats["n"],
        "percentiles": [stats[k] for k in ("min", "p5", "p25", "p50", "p75", "p95", "max")],
        "mean": stats["mean"],
        "std": stats["std"],
        "frontiers": {r["dataset"]: [r["n_points"], r["lo_latency"], r["hi_latency"]] for r in _query("frontier_summary", env)},
        "budget_range": [_query("budget_range", env)[0][k] for k in ("lower", "upper")],
    }

    def same(a, b) -> bool:
        if isinstance(a, dict):
            return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        if isinstance(a, list):
            return isinstance(b, list) and len(a) == len(b) and all(map(same, a, b))
        return math.isclose(a, b, rel_tol=1e-9)

    if not same(baseline, ours):
        raise SystemExit(f"budgetdb's figures differ from the baseline's:\nbaseline {baseline}\nbudgetdb {ours}")


def table(samples: int, json_bytes: int, store_bytes: int, results) -> str:
    mb = json_bytes / 2**20
    baseline = statistics.median(s for s, _, _ in results["baseline: json.load loop + numpy"])
    lines = [
        f"### {samples:,} samples, {mb:,.0f} MB of JSON",
        "",
        "| step | median s | min - max s | MB/s | vs baseline | CPU s | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, runs in results.items():
        times = [s for s, _, _ in runs]
        median = statistics.median(times)
        reads_all = name.startswith(("baseline", "floor")) or "(cold" in name
        rate = f"{mb / median:,.0f}" if reads_all else ""
        lines.append(
            f"| {name} | {median:.2f} | {min(times):.2f} - {max(times):.2f} | {rate} | "
            f"{baseline / median:.1f}x | {statistics.median(c for _, _, c in runs):.1f} | {max(r for _, r, _ in runs):,.0f} |"
        )
    lines += [
        "",
        f"Store size: {store_bytes / 2**20:,.0f} MB = {store_bytes / json_bytes:.1%} of the JSON. "
        "budgetdb's figures equal the baseline's (prefill statistics, frontiers, budget range).",
        "",
    ]
    return "\n".join(lines)


def report_table(store: str, results) -> str:
    lines = [f"### {store}" if store.startswith("2 x") else f"### the report steps on {store}", ""]
    lines.append("| step | median s | min - max s | CPU s | peak RSS MB |")
    lines.append("|---|---:|---:|---:|---:|")
    for name, runs in results.items():
        times = [s for s, _, _ in runs]
        lines.append(
            f"| {name} | {statistics.median(times):.2f} | {min(times):.2f} - {max(times):.2f} | "
            f"{statistics.median(c for _, _, c in runs):.1f} | {max(r for _, r, _ in runs):,.0f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, nargs="+", default=[SEED_SAMPLES], help="tree sizes to measure")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of the alternating steps")
    parser.add_argument("--keep", type=Path, help="write the trees here and keep them (reused if present)")
    parser.add_argument("--db", help="store to ingest into (e.g. a ducklake: spec); default a fresh DuckDB file")
    parser.add_argument(
        "--workers", type=int, nargs="+", help="measure the cold ingest with each of these numbers of fingerprint workers"
    )
    parser.add_argument("--report-only", metavar="STORE", help="measure only the report steps, on this store")
    parser.add_argument("--compare-only", action="store_true", help="measure only budgetdb compare, on two seed-sized stores")
    args = parser.parse_args()
    if args.compare_only:
        print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {os.uname().sysname} {os.uname().machine}\n")
        folder = args.keep or Path(tempfile.mkdtemp(prefix="budgetdb-bench-"))
        folder.mkdir(parents=True, exist_ok=True)
        try:
            print(
                report_table("2 x 1,638,588 samples (seed stores, the second 3% slower)", measure_compare(folder, args.repeats))
            )
        finally:
            if args.keep is None:
                shutil.rmtree(folder, ignore_errors=True)
        return
    if args.report_only:
        print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {os.uname().sysname} {os.uname().machine}\n")
        print(report_table(args.report_only, measure_reports(args.report_only, args.repeats)))
        return

    from budgetdb.demo import write_demo_tree

    work = Path(tempfile.mkdtemp(prefix="budgetdb-bench-"))
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {os.uname().sysname} {os.uname().machine}\n")
    try:
        for samples in args.samples:
            tree = (args.keep or work) / f"tree_{samples}"
            if not tree.exists():
                write_demo_tree(tree, samples=samples)
            results = measure(tree, work, args.repeats, args.db, args.workers)
            json_bytes = sum(os.path.getsize(f) for f in tree_files(tree))
            store = work / "bench.duckdb"
            print(table(samples, json_bytes, store.stat().st_size if store.exists() else 0, results), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
