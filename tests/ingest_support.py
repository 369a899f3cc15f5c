"""Helpers shared by the ingest tests: stores, hand-made result files, and expectations
computed from the JSON files themselves (json.load + numpy), never from the code under test."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import defaultdict
from pathlib import Path

import duckdb
import numpy as np

from budgetdb import demo
from budgetdb.store import open_store
from budgetdb.store.ingest import IngestOptions, ingest

LATENCIES = ("T_vision_total", "T_LLM_prefill", "T_LLM_decode", "T_total", "T_decode_per_token")
SHARD = re.compile(r"_rank(\d+)\.json$")
TIMES = ("ingested_at", "run_id")


def open_rw(db: Path):
    return open_store(db, read_only=False)


def run(con, *paths, **options):
    """One ingest run over `paths` with IngestOptions(**options)."""
    return ingest(con, [Path(p) for p in paths], IngestOptions(**options))


def make(
    dataset: str = "text-vqa", tier: str | None = "high", top_k: int = 8, blocks: int = 16, n: int = 3, seed: int = 0, **kwargs
) -> dict:
    """A small result in the current shape, from the demo generator."""
    return demo.make_result(dataset, tier, top_k, blocks, n, rng=np.random.default_rng(seed), **kwargs)


def file_name(dataset: str, tier: str, crops: int, top_k: int, blocks: int, rank: int | None = None) -> str:
    suffix = "" if rank is None else f"_rank{rank}"
    return f"{dataset}_imgsizetier-{tier}_crops{crops}_topk{top_k}_blocks{blocks}{suffix}.json"


def write_json(path, value) -> Path:
    """Write as the harness does: json.dump, indent=2, NaN allowed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def write_raw(path, content: str | bytes) -> Path:
    """Write exactly these bytes (or this text as UTF-8): for files the harness would never write."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def first_column(db, sql: str) -> list:
    """The first column of a query's rows, on a read-only connection to the store file `db`."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return [row[0] for row in con.execute(sql).fetchall()]
    finally:
        con.close()


def load(path) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def outcomes(summary) -> dict[str, tuple[str, str | None]]:
    """{absolute path: (outcome, reason)} of one run."""
    return {o.path: (o.outcome, o.reason) for o in summary.outcomes}


def sha256_of(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# -- store content digests ---------------------------------------------------------------------


def _columns(con, table: str, skip=()) -> list[str]:
    return [row[0] for row in con.execute(f"DESCRIBE {table}").fetchall() if row[0] not in skip]


def table_rows(con, table: str, order: str, skip=()) -> list[tuple]:
    columns = ", ".join(f'"{c}"' for c in _columns(con, table, skip))
    return con.execute(f"SELECT {columns} FROM {table} ORDER BY {order}").fetchall()


def store_digest(con, *, keep_times: bool = False) -> str:
    """An ordered hash of every row of file_records and sample_records (NaN-safe via repr)."""
    digest = hashlib.sha256()
    for table, order, skip in (
        ("file_records", "file_id", () if keep_times else TIMES),
        ("sample_records", "file_id, ordinal", ()),
    ):
        digest.update(table.encode())
        for row in table_rows(con, table, order, skip):
            digest.update(repr(row).encode())
    return digest.hexdigest()


# -- JSON comparison ---------------------------------------------------------------------------


def json_diff(expected, actual, where: str = "$") -> list[str]:
    """Differences between two JSON values: NaN equals NaN, key sets must match, a bool is
    never a number, an int and a float are equal when their values are."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {actual!r}"[:300]]
        out = []
        if set(expected) != set(actual):
            out.append(
                f"{where}: keys differ: missing {sorted(set(expected) - set(actual))}, "
                f"extra {sorted(set(actual) - set(expected))}"
            )
        for key in set(expected) & set(actual):
            out += json_diff(expected[key], actual[key], f"{where}.{key}")
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{where}: expected a list of {len(expected)}, got {actual!r}"[:300]]
        return [d for i, (e, a) in enumerate(zip(expected, actual, strict=True)) for d in json_diff(e, a, f"{where}[{i}]")]
    if isinstance(expected, bool) or isinstance(actual, bool) or expected is None or isinstance(expected, str):
        same = type(expected) is type(actual) and expected == actual
    elif isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        same = (
            (math.isnan(expected) and math.isnan(actual))
            if (isinstance(expected, float) and math.isnan(expected))
            else expected == actual
        )
    else:
        same = False
    return [] if same else [f"{where}: expected {expected!r}, got {actual!r}"[:300]]


# -- expectations from a tree on disk ------------------------------------------------------------


def result_files(hw_root: Path) -> dict[Path, dict]:
    """Every JSON file under `hw_root` that is a configuration result."""
    found = {}
    for path in sorted(Path(hw_root).rglob("*.json")):
        if not path.is_file():
            continue
        body = load(path)
        if isinstance(body, dict) and "per_sample_results" in body:
            found[path] = body
    return found


def config_key(hw_root: Path, path: Path, body: dict) -> tuple:
    """(experiment, dataset, tier, top_k, blocks) from the path and the JSON body."""
    rel = path.relative_to(hw_root)
    return ("/".join(rel.parts[:-2]), rel.parts[-2], body.get("tier"), body["top_k"], body["num_active_blocks"])


def expected_runs(hw_root: Path) -> dict[tuple, dict]:
    """Per config: the files that count (the merged file, else every shard) and their samples."""
    groups = defaultdict(list)
    for path, body in result_files(hw_root).items():
        groups[config_key(hw_root, path, body)].append((path, body))
    runs = {}
    for key, members in groups.items():
        merged = [(p, b) for p, b in members if not SHARD.search(p.name)]
        counted = merged or sorted(members, key=lambda m: int(SHARD.search(m[0].name).group(1)))
        runs[key] = {
            "files": [p for p, _ in counted],
            "superseded": [p for p, _ in members if merged and SHARD.search(p.name)],
            "samples": [s for _, b in counted for s in b["per_sample_results"]],
        }
    return runs


def view_value(value):
    """What the samples view should show for a stage latency as written."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == 0:
        return None
    return value


def assert_same_as_one_fresh_ingest(con, tree, scratch: Path) -> None:
    """The store behind `con` equals the one a single ingest of `tree` into a new store makes."""
    fresh = open_rw(Path(scratch) / "fresh.duckdb")
    try:
        run(fresh, tree)
        assert store_digest(fresh) == store_digest(con)
    finally:
        fresh.close()


def refuse_to_open(monkeypatch, path) -> None:
    """Ingest's open of `path` raises PermissionError, as the kernel would for a chmod 000 file
    (root reads those anyway). Small trees are read in the ingesting process, where this holds."""
    from budgetdb.store import fingerprint

    real_open = fingerprint.open_file

    def refusing(file):
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file)

    monkeypatch.setattr(fingerprint, "open_file", refusing)
