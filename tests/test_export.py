"""`budgetdb export --parquet DIR`: samples, config_runs and files as hive-partitioned Parquet
(hardware, dataset), read back here with DuckDB and compared row by row with the views."""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from urllib.parse import quote

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from budgetdb import demo
from budgetdb.cli.app import app
from budgetdb.store import open_store

from builders import add_config_run, new_store
from lake_support import VIEW_ORDER, new_lake

VIEWS = ("samples", "config_runs", "files")
ODD_DATASET = "a/b=c d|数据%"


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture()
def store(tmp_path):
    db = tmp_path / "s.duckdb"
    con = new_store(db)
    add_config_run(
        con,
        dataset="okvqa",
        tier="low",
        top_k=4,
        blocks=12,
        hardware="h100",
        samples={"accuracy": [1.0, 0.0, 0.5], "T_total": [100.0, math.nan, 0.0], "T_LLM_prefill": [10.5, 11.25, 12.0]},
    )
    add_config_run(
        con,
        dataset=ODD_DATASET,
        tier="high",
        top_k=8,
        blocks=16,
        hardware="h100",
        samples={"accuracy": [0.25], "T_total": [400.0]},
    )
    add_config_run(
        con,
        dataset="okvqa",
        tier="high",
        top_k=8,
        blocks=16,
        hardware="a 100",
        samples={"accuracy": [0.75, 0.5], "T_total": [300.0, 310.0]},
    )
    add_config_run(con, dataset="text-vqa", tier="medium", top_k=6, blocks=14, hardware="h100")  # no samples
    con.close()
    return db


def _view(con, view):
    """The view's rows in a fixed order, every column, NaN-safe text."""
    order, _ = VIEW_ORDER[view]
    columns = [r[0] for r in con.execute(f"DESCRIBE {view}").fetchall()]
    rows = con.execute(f"SELECT * FROM {view} ORDER BY {order}").fetchall()
    return columns, [repr(row) for row in rows]


def _read_back(directory: Path, view: str, columns: list[str]):
    """The exported files as DuckDB reads them, columns in the view's order."""
    con = duckdb.connect()
    source = f"read_parquet('{directory / view}/**/*.parquet', hive_partitioning = true, hive_types_autocast = false)"
    order, _ = VIEW_ORDER[view]
    quoted = ", ".join(f'"{c}"' for c in columns)
    rows = con.execute(f"SELECT {quoted} FROM {source} ORDER BY {order}").fetchall()
    con.close()
    return [repr(row) for row in rows]


def test_every_view_comes_back_row_for_row(store, tmp_path):
    out = tmp_path / "export"
    result = invoke("export", "--parquet", out, "--db", store, "-F", "json")
    assert result.exit_code == 0, result.output
    reported = {row["view"]: row for row in json.loads(result.stdout)}
    con = open_store(store)
    for view in VIEWS:
        columns, rows = _view(con, view)
        assert _read_back(out, view, columns) == rows, view
        assert reported[view]["rows"] == len(rows)
    con.close()


def test_the_folders_are_hive_partitions_by_hardware_then_dataset(store, tmp_path):
    out = tmp_path / "export"
    assert invoke("export", "--parquet", out, "--db", store).exit_code == 0
    samples = sorted(str(p.relative_to(out / "samples").parent) for p in (out / "samples").rglob("*.parquet"))
    assert samples == sorted(
        [
            f"hardware={quote('a 100', safe='')}/dataset=okvqa",
            "hardware=h100/dataset=okvqa",
            f"hardware=h100/dataset={quote(ODD_DATASET, safe='')}",
        ]
    )
    configs = {str(p.relative_to(out / "config_runs").parent) for p in (out / "config_runs").rglob("*.parquet")}
    assert "hardware=h100/dataset=text-vqa" in configs and len(configs) == 4
    one = next((out / "samples").rglob("*.parquet"))
    columns = {r[0] for r in duckdb.sql(f"SELECT name FROM parquet_schema('{one}')").fetchall()}
    assert "T_total" in columns and not {"hardware", "dataset"} & columns  # in the folder names only
    by_value = duckdb.sql(
        f"SELECT dataset, count(*) FROM read_parquet('{out}/samples/**/*.parquet', hive_partitioning = true) "
        "WHERE hardware = 'h100' GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert by_value == sorted([(ODD_DATASET, 1), ("okvqa", 3)])


def test_export_only_reads_and_replaces_an_earlier_export(store, tmp_path):
    before = hashlib.sha256(store.read_bytes()).hexdigest()
    out = tmp_path / "export"
    assert invoke("export", "--parquet", out, "--db", store).exit_code == 0
    stale = out / "samples" / "hardware=gone" / "dataset=old"
    stale.mkdir(parents=True)
    (stale / "data_0.parquet").write_bytes(b"left from an earlier export")
    assert invoke("export", "--parquet", out, "--db", store).exit_code == 0
    assert not (out / "samples" / "hardware=gone").exists()
    assert sorted(p.name for p in out.iterdir()) == sorted(VIEWS)  # no staging folder left behind
    assert hashlib.sha256(store.read_bytes()).hexdigest() == before


def test_an_empty_store_exports_empty_views(tmp_path):
    db = tmp_path / "empty.duckdb"
    new_store(db).close()
    result = invoke("export", "--parquet", tmp_path / "out", "--db", db, "-F", "json")
    assert result.exit_code == 0, result.output
    assert [(r["view"], r["rows"], r["files"]) for r in json.loads(result.stdout)] == [(v, 0, 0) for v in VIEWS]
    assert all((tmp_path / "out" / v).is_dir() for v in VIEWS)


@pytest.mark.parametrize("kind", ["local", "postgres"])
def test_a_lake_exports_what_a_duckdb_file_of_the_same_results_exports(kind, tmp_path, request):
    root = demo.write_demo_tree(tmp_path / "results", samples=162, seed=3).root
    lake = new_lake(kind, tmp_path, request)
    plain = tmp_path / "plain.duckdb"
    assert invoke("ingest", root, *lake.args).exit_code == 0
    assert invoke("ingest", root, "--db", plain).exit_code == 0
    assert invoke("export", "--parquet", tmp_path / "from_lake", "--db", lake.db).exit_code == 0
    assert invoke("export", "--parquet", tmp_path / "from_file", "--db", plain).exit_code == 0
    con = open_store(plain)
    for view in VIEWS:
        columns, rows = _view(con, view)
        if view == "files":  # when each store ingested a file differs
            at = columns.index("ingested_at")
            columns = columns[:at] + columns[at + 1 :]
            rows = _read_back(tmp_path / "from_file", view, columns)
        assert _read_back(tmp_path / "from_lake", view, columns) == rows, view
    con.close()


# -- what export may replace (issue 14) --------------------------------------------------------


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("kind", ["users_folder", "users_file", "symlink", "empty_folder"])
def test_export_never_replaces_what_budgetdb_did_not_write(store, tmp_path, kind):
    out = tmp_path / "export"
    out.mkdir()
    (out / "notes.md").write_text("mine")
    if kind == "users_folder":
        (out / "files").mkdir()
        (out / "files" / "notes.txt").write_text("a user's notes")
    elif kind == "users_file":
        (out / "samples").write_text("a file named like a view")
    elif kind == "symlink":
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        (elsewhere / "keep.txt").write_text("keep")
        (out / "config_runs").symlink_to(elsewhere)
    else:
        (out / "samples").mkdir()
    before = _tree(out)
    result = invoke("export", "--parquet", out, "--db", store)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: ") and "budgetdb did not write it" in result.stderr
    assert result.stderr.count("\n") == 1
    assert _tree(out) == before  # nothing written, nothing removed, no staging folder
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [
            "notes.md",
            {"users_folder": "files", "users_file": "samples", "symlink": "config_runs", "empty_folder": "samples"}[kind],
        ]
    )
    if kind == "symlink":
        assert (out / "config_runs").is_symlink() and (tmp_path / "elsewhere" / "keep.txt").read_text() == "keep"


def test_a_failed_swap_leaves_the_earlier_export_whole(store, tmp_path, monkeypatch):
    from budgetdb.store import export as export_module

    out = tmp_path / "export"
    assert invoke("export", "--parquet", out, "--db", store).exit_code == 0
    before = _tree(out)
    real_rename = os.rename
    renamed = []

    def failing_rename(source, target):
        renamed.append(target)
        if len(renamed) == 4:  # the second view's new folder, after its old one moved aside
            raise OSError(28, "No space left on device")
        real_rename(source, target)

    monkeypatch.setattr(export_module.os, "rename", failing_rename)
    result = invoke("export", "--parquet", out, "--db", store)
    assert result.exit_code == 1
    assert result.stderr == f"Error: cannot write the export into {out}: No space left on device\n"
    monkeypatch.setattr(export_module.os, "rename", real_rename)
    assert _tree(out) == before
    assert sorted(p.name for p in out.iterdir()) == sorted(VIEWS)


def test_export_into_a_lake_data_folder_is_refused(tmp_path):
    lake = new_lake("local", tmp_path, None)
    root = demo.write_demo_tree(tmp_path / "results", samples=81, seed=2).root
    assert invoke("ingest", root, *lake.args).exit_code == 0
    before = _tree(lake.data_path)
    result = invoke("export", "--parquet", lake.data_path / "export", *lake.args)
    assert result.exit_code == 1 and "inside the store's data folder" in result.stderr
    assert _tree(lake.data_path) == before


def test_the_exported_parquet_reads_back_in_pandas_with_pyarrow_or_says_what_is_missing(store, tmp_path):
    out = tmp_path / "export"
    assert invoke("export", "--parquet", out, "--db", store).exit_code == 0
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pyarrow"):
            pd.read_parquet(out / "samples")
        return
    frame = pd.read_parquet(out / "samples")
    assert len(frame) == 6
