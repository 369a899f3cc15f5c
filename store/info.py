"""What is in a store: for `budgetdb info`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime

from . import migrations

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


def store_info(con, path) -> StoreInfo:
    last = con.execute("SELECT max(finished_at) FROM ingest_runs").fetchone()[0]
    version = migrations.current_version(con)
    result = con.execute(_CONTENTS_SQL)
    return StoreInfo(
        path=str(path),
        schema_version=version,
        size_bytes=os.path.getsize(path) if os.path.exists(path) else 0,
        last_ingest=last,
        columns=[d[0] for d in result.description],
        rows=result.fetchall(),
    )
