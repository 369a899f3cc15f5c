"""What is in a store: for `budgetdb info`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from . import migrations
from .transaction import scalar

if TYPE_CHECKING:
    import duckdb

_CONTENTS_SQL = """
SELECT
    hardware,
    experiment,
    dataset,
    count(DISTINCT config_run_id) FILTER (WHERE status = 'ingested')  AS config_runs,
    coalesce(sum(n_samples) FILTER (WHERE status = 'ingested'), 0)   AS samples,
    count(*) FILTER (WHERE status = 'ingested')                       AS files,
    count(*) FILTER (WHERE status = 'superseded')                     AS superseded,
    count(*) FILTER (WHERE status = 'skipped')                        AS skipped,
    count(*) FILTER (WHERE status = 'failed')                         AS failed
FROM files
WHERE ($hardware IS NULL OR list_contains($hardware, hardware))
  AND ($experiment IS NULL OR list_contains($experiment, experiment))
  AND ($dataset IS NULL OR list_contains($dataset, dataset))
GROUP BY ALL
ORDER BY hardware, experiment, dataset
"""


@dataclass(frozen=True)
class StoreInfo:
    path: str
    schema_version: int
    size_bytes: int
    last_ingest: datetime | None
    columns: list[str]
    rows: list[tuple]


def store_info(con: duckdb.DuckDBPyConnection, location, filters: dict | None = None) -> StoreInfo:
    """`location`: the store's StoreLocation (or a DuckDB file's path); `filters`: hardware,
    experiment and dataset lists as stored (None or missing: all)."""
    from .connection import locate

    location = locate(location)
    last = scalar(con, "SELECT max(finished_at) FROM ingest_runs")
    version = migrations.current_version(con)
    size = _size(con, location)
    chosen = {name: (filters or {}).get(name) or None for name in ("hardware", "experiment", "dataset")}
    result = con.execute(_CONTENTS_SQL, chosen)
    return StoreInfo(
        path=location.label,
        schema_version=version,
        size_bytes=size,
        last_ingest=last,
        columns=[d[0] for d in result.description],
        rows=result.fetchall(),
    )


def _size(con: duckdb.DuckDBPyConnection, location) -> int:
    """The file's bytes; for a DuckLake its Parquet files' (and a local catalog file's)."""
    path = location.path
    size = os.path.getsize(path) if path is not None and os.path.exists(path) else 0
    if location.is_lake:
        size += scalar(
            con, "SELECT coalesce(sum(file_size_bytes + delete_file_size_bytes), 0) FROM ducklake_table_info(current_database())"
        )
    return int(size)
