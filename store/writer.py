"""The statements that change the store during ingest. Callers own the transaction."""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb

from .fields import SAMPLE_FIELDS, STAGE_LATENCIES, literal_path, struct_type


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

_TYPED_SAMPLES = struct_type(SAMPLE_FIELDS) + "[]"
_SAMPLE_SELECT = ",\n    ".join(f'o.r."{name}"' for name in SAMPLE_FIELDS)

_SAMPLE_ROWS = """
    SELECT filename, unnest(per_sample_results) AS r, unnest(range(1, len(per_sample_results) + 1)) AS i
    FROM read_json($paths, columns = $columns, filename = true, format = 'unstructured',
                   maximum_object_size = $max_size)
"""

_INSERT_SAMPLES = f"""
INSERT INTO sample_records
SELECT
    b.file_id,
    b.config_run_id,
    CASE WHEN o.r IS NULL THEN error('per_sample_results[' || (o.i - 1) || '] is null, expected an object')
         ELSE CAST(o.i - 1 AS INTEGER) END,
    {_SAMPLE_SELECT},
    NULL,
    NULL
FROM ({_SAMPLE_ROWS}) o
JOIN ingest_batch b ON b.path = o.filename
"""

# Keys outside the typed columns, kept as JSON; read as raw elements because such keys may be
# anything JSON allows (empty, or equal to a typed name but for case), which no STRUCT can name.
_SET_EXTRA = f"""
UPDATE sample_records s
SET extra = e.extra
FROM (
    SELECT b.file_id, CAST(o.i - 1 AS INTEGER) AS ordinal, json_merge_patch(o.r, $drop_known) AS extra
    FROM ({_SAMPLE_ROWS}) o
    JOIN ingest_batch b ON b.path = o.filename
) e
WHERE s.file_id = e.file_id AND s.ordinal = e.ordinal
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

_NAN_COUNT = " + ".join(f"coalesce(count_if(isnan({c})), 0)" for c in STAGE_LATENCIES)
_ZERO_COUNT = " + ".join(f"coalesce(count_if({c} = 0), 0)" for c in STAGE_LATENCIES)
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
    con.execute("CREATE TEMP TABLE IF NOT EXISTS ingest_batch (path VARCHAR, file_id BIGINT, config_run_id BIGINT)")


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
    con.execute("DELETE FROM ingest_batch")
    con.executemany("INSERT INTO ingest_batch VALUES (?, ?, ?)", [[g.path, g.file_id, g.config_run_id] for g in loads])
    con.execute(_INSERT_SAMPLES, {
        "paths": [literal_path(g.path) for g in loads],
        "columns": {"per_sample_results": _TYPED_SAMPLES},
        "max_size": max_size,
    })
    with_extra = [literal_path(g.path) for g in loads if g.unknown_keys]
    if with_extra:
        con.execute(_SET_EXTRA, {
            "paths": with_extra,
            "columns": {"per_sample_results": "JSON[]"},
            "drop_known": json.dumps(dict.fromkeys(SAMPLE_FIELDS)),
            "max_size": max_size,
        })
    for load in loads:
        if not load.uniform_keys:
            con.execute(
                _SET_ABSENT,
                {"keys": list(load.sample_keys), "path": literal_path(load.path), "file_id": load.file_id, "max_size": max_size},
            )
    return con.execute(_COUNT_LOADED, {"file_ids": [load.file_id for load in loads]}).fetchone()
