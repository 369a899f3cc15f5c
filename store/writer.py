"""The statements that change the store during ingest. Callers own the transaction."""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb

from .fields import SAMPLE_FIELDS, STAGE_LATENCIES, struct_type


@dataclass(frozen=True)
class FileRow:
    """One file_records row, as ingest writes it."""

    file_id: int
    path: str
    root: str
    rel_path: str
    size: int
    mtime: float
    sha256: str | None
    shape: str | None
    status: str
    reason: str | None
    warnings: list[str] | None
    hardware: str
    experiment: str
    dataset: str
    tier: str | None
    variant: str | None
    top_k: int | None
    num_active_blocks: int | None
    rank: int | None
    config_run_id: int | None
    n_samples: int | None
    sample_keys: list[str] | None
    summary: str | None


_FILE_COLUMNS = list(FileRow.__dataclass_fields__)

_SAMPLE_SELECT = ",\n    ".join(f'o.r."{name}"' for name in SAMPLE_FIELDS)

_INSERT_SAMPLES = f"""
INSERT INTO sample_records
SELECT
    b.file_id,
    b.config_run_id,
    CAST(o.i - 1 AS INTEGER),
    {_SAMPLE_SELECT},
    NULL,
    CASE WHEN b.has_unknown THEN json_merge_patch(to_json(o.r), $drop_known) END
FROM (
    SELECT filename, unnest(per_sample_results) AS r, unnest(range(1, len(per_sample_results) + 1)) AS i
    FROM read_json($paths, columns = $columns, filename = true, format = 'unstructured',
                   maximum_object_size = $max_size)
) o
JOIN ingest_batch b ON b.path = o.filename
"""

_SET_ABSENT = """
UPDATE sample_records s
SET absent = CASE WHEN len(missing) = 0 THEN NULL ELSE missing END
FROM (
    SELECT i - 1 AS ordinal, list_filter($keys, k -> NOT list_contains(keys[i], k)) AS missing
    FROM (
        SELECT json_keys(json, '$.per_sample_results[*]') AS keys
        FROM read_json_objects($path, format = 'unstructured', maximum_object_size = $max_size)
    ), range(1, len(keys) + 1) t(i)
) m
WHERE s.file_id = $file_id AND s.ordinal = m.ordinal
"""

_NAN_COUNT = " + ".join(f"count_if(isnan({c}))" for c in STAGE_LATENCIES)
_ZERO_COUNT = " + ".join(f"count_if({c} = 0)" for c in STAGE_LATENCIES)
_COUNT_LOADED = f"""
SELECT count(*), {_NAN_COUNT}, {_ZERO_COUNT}
FROM sample_records WHERE list_contains($file_ids, file_id)
"""


@dataclass(frozen=True)
class SampleLoad:
    """A file whose per_sample_results go into sample_records."""

    file_id: int
    path: str
    config_run_id: int
    unknown_keys: tuple[str, ...]
    sample_keys: tuple[str, ...]
    uniform_keys: bool


def prepare(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TEMP TABLE IF NOT EXISTS ingest_batch (path VARCHAR, file_id BIGINT, config_run_id BIGINT, has_unknown BOOLEAN)")


def delete_files(con, file_ids: list[int]) -> None:
    if file_ids:
        con.execute("DELETE FROM sample_records WHERE list_contains($ids, file_id)", {"ids": file_ids})
        con.execute("DELETE FROM file_records WHERE list_contains($ids, file_id)", {"ids": file_ids})


def delete_samples(con, file_ids: list[int]) -> None:
    if file_ids:
        con.execute("DELETE FROM sample_records WHERE list_contains($ids, file_id)", {"ids": file_ids})


def set_status(con, file_id: int, status: str, reason: str | None) -> None:
    con.execute("UPDATE file_records SET status = ?, reason = ? WHERE file_id = ?", [status, reason, file_id])


def touch(con, file_id: int, size: int, mtime: float) -> None:
    con.execute("UPDATE file_records SET size = ?, mtime = ? WHERE file_id = ?", [size, mtime, file_id])


def insert_files(con, rows: list[FileRow], ingested_at, run_id: int) -> None:
    if not rows:
        return
    placeholders = ", ".join("?" for _ in range(len(_FILE_COLUMNS) + 2))
    con.executemany(
        f"INSERT INTO file_records ({', '.join(_FILE_COLUMNS)}, ingested_at, run_id) VALUES ({placeholders})",
        [[getattr(row, c) for c in _FILE_COLUMNS] + [ingested_at, run_id] for row in rows],
    )


def load_samples(con, loads: list[SampleLoad], max_size: int) -> tuple[int, int, int]:
    """Insert the samples of `loads`; return (samples, NaN latencies, 0.0 latencies)."""
    if not loads:
        return 0, 0, 0
    by_schema: dict[tuple[str, ...], list[SampleLoad]] = {}
    for load in loads:
        by_schema.setdefault(load.unknown_keys, []).append(load)
    for unknown, group in by_schema.items():
        con.execute("DELETE FROM ingest_batch")
        con.executemany(
            "INSERT INTO ingest_batch VALUES (?, ?, ?, ?)",
            [[g.path, g.file_id, g.config_run_id, bool(unknown)] for g in group],
        )
        fields = dict(SAMPLE_FIELDS) | {name: "JSON" for name in unknown}
        con.execute(
            _INSERT_SAMPLES,
            {
                "paths": [g.path for g in group],
                "columns": {"per_sample_results": struct_type(fields) + "[]"},
                "drop_known": json.dumps({name: None for name in SAMPLE_FIELDS}),
                "max_size": max_size,
            },
        )
    for load in loads:
        if not load.uniform_keys:
            con.execute(
                _SET_ABSENT,
                {"keys": list(load.sample_keys), "path": load.path, "file_id": load.file_id, "max_size": max_size},
            )
    return con.execute(_COUNT_LOADED, {"file_ids": [load.file_id for load in loads]}).fetchone()
