"""`budgetdb export --parquet DIR`: the public views as hive-partitioned Parquet, for Spark,
Trino or pandas users who do not run DuckDB.

DIR/<view>/hardware=<h>/dataset=<d>/data_0.parquet for samples, config_runs and files. The
partition columns live in the folder names (URL-encoded, as Spark and Trino expect), not in
the files. The three views are read in one transaction, so they come from the same snapshot
of the store even while others ingest. Each view's folder is written next to its final place
and then swapped in, so a reader never sees half of one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .transaction import snapshot

PARTITION_BY = ("hardware", "dataset")
VIEWS = ("samples", "config_runs", "files")


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


def export_parquet(con, directory: str | os.PathLike, filters: dict | None = None) -> list[ExportedView]:
    """Write every public view under `directory`; return what was written per view. `filters`:
    hardware, experiment and dataset lists as stored (None or missing: all)."""
    chosen = {name: (filters or {}).get(name) or None for name in ("hardware", "experiment", "dataset")}
    directory = Path(directory).expanduser().absolute()
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=directory))
    try:
        counts = {}
        with snapshot(con):  # the three views from one state of the store
            for view in VIEWS:
                scoped = _SCOPED.format(view=view)
                counts[view] = con.execute(f"SELECT count(*) FROM ({scoped})", chosen).fetchone()[0]
                if counts[view]:
                    con.execute(
                        f"COPY ({scoped}) TO {_literal(staging / view)} "
                        f"(FORMAT parquet, PARTITION_BY ({', '.join(PARTITION_BY)}))",
                        chosen,
                    )
                else:
                    (staging / view).mkdir()
        exported = []
        for view in VIEWS:
            target = directory / view
            if target.exists():
                shutil.rmtree(target)
            os.replace(staging / view, target)
            exported.append(ExportedView(view, target, counts[view], sum(1 for _ in target.rglob("*.parquet"))))
        return exported
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _literal(path: Path) -> str:
    """COPY takes its target as a literal, not a bound parameter."""
    return "'" + str(path).replace("'", "''") + "'"
