"""`budgetdb export --parquet DIR`: the public views as hive-partitioned Parquet, for Spark,
Trino or pandas users who do not run DuckDB.

DIR/<view>/hardware=<h>/dataset=<d>/data_0.parquet for samples, config_runs and files. The
partition columns live in the folder names (URL-encoded, as Spark and Trino expect), not in
the files. The three views are read in one transaction, so they come from the same snapshot
of the store even while others ingest. Each view's folder is written next to its final place
and then swapped in, so a reader never sees half of one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from budgetdb.errors import BudgetdbError, first_line

from .transaction import scalar, snapshot

PARTITION_BY = ("hardware", "dataset")
VIEWS = ("samples", "config_runs", "files")
# In each view folder budgetdb writes: only a folder holding it is replaced by the next export.
# A dot file: Spark, Trino, pandas and DuckDB's `**/*.parquet` all pass over it.
MARKER = ".budgetdb-export"


class ExportError(BudgetdbError):
    """The export folder holds something budgetdb did not write, or could not be written."""


@dataclass(frozen=True)
class ExportedView:
    view: str
    path: Path
    rows: int
    files: int


_SCOPED = """
SELECT * FROM {view}
WHERE ($hardware IS NULL OR list_contains($hardware, hardware))
  AND ($experiment IS NULL OR list_contains($experiment, experiment))
  AND ($dataset IS NULL OR list_contains($dataset, dataset))
"""


def export_parquet(
    con: duckdb.DuckDBPyConnection, directory: str | os.PathLike, filters: dict | None = None
) -> list[ExportedView]:
    """Write every public view under `directory`; return what was written per view. `filters`:
    hardware, experiment and dataset lists as stored (None or missing: all).

    A view folder already there is replaced only when an earlier export wrote it (its marker
    file); anything else there makes the export stop before it writes. The new views are
    written beside the old ones first and then swapped in; if a swap fails, the ones already
    swapped go back, so the folder holds either the old export or the new one.
    """
    chosen = {name: (filters or {}).get(name) or None for name in ("hardware", "experiment", "dataset")}
    directory = Path(directory).expanduser().absolute()
    if os.path.lexists(directory) and not directory.is_dir():
        raise ExportError(f"{directory} is not a folder; give export a folder to write into")
    for view in VIEWS:
        _check_replaceable(directory / view)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".export-", dir=directory))
    except OSError as exc:
        raise ExportError(f"cannot write the export into {directory}: {exc.strerror or exc}") from None
    try:
        counts = _write(con, staging, directory, chosen)
        _swap(staging, directory)
        return [
            ExportedView(view, directory / view, counts[view], sum(1 for _ in (directory / view).rglob("*.parquet")))
            for view in VIEWS
        ]
    except OSError as exc:
        raise ExportError(f"cannot write the export into {directory}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _check_replaceable(target: Path) -> None:
    if not os.path.lexists(target):
        return
    if target.is_symlink() or not target.is_dir() or not (target / MARKER).is_file():
        raise ExportError(
            f"{target} is there and budgetdb did not write it (no {MARKER} file in it); "
            "export into another folder, or move it away. Nothing was written."
        )


def _write(con: duckdb.DuckDBPyConnection, staging: Path, directory: Path, chosen: dict) -> dict[str, int]:
    counts = {}
    try:
        with snapshot(con):  # the three views from one state of the store
            for view in VIEWS:
                scoped = _SCOPED.format(view=view)
                counts[view] = scalar(con, f"SELECT count(*) FROM ({scoped})", chosen)
                if counts[view]:
                    con.execute(
                        f"COPY ({scoped}) TO {_literal(staging / view)} "
                        f"(FORMAT parquet, PARTITION_BY ({', '.join(PARTITION_BY)}))",
                        chosen,
                    )
                else:
                    (staging / view).mkdir()
                (staging / view / MARKER).write_text(json.dumps({"view": view, "written_by": "budgetdb export"}) + "\n")
    except duckdb.IOException as exc:
        raise ExportError(f"cannot write the export into {directory}: {first_line(exc)}") from None
    return counts


def _swap(staging: Path, directory: Path) -> None:
    """Each old view folder moves into `staging` (deleted with it), each new one into place;
    on a failure the moves made so far are undone."""
    done: list[tuple[Path, Path]] = []  # (from, to) renames, undone in reverse
    try:
        for view in VIEWS:
            target = directory / view
            _check_replaceable(target)  # once more: it may have appeared since the first check
            if os.path.lexists(target):
                os.rename(target, staging / f"old-{view}")
                done.append((target, staging / f"old-{view}"))
            os.rename(staging / view, target)
            done.append((staging / view, target))
    except BaseException:
        for source, moved in reversed(done):
            try:
                os.rename(moved, source)
            except OSError:
                pass
        raise


def _literal(path: Path) -> str:
    """COPY takes its target as a literal, not a bound parameter."""
    return "'" + str(path).replace("'", "''") + "'"
