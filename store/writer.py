"""The statements ingest writes with: file_records rows, and rows given as a list per column.
Callers own the transaction."""

from __future__ import annotations

from dataclasses import dataclass


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


def delete_files(con, file_ids: list[int]) -> None:
    if file_ids:
        con.execute("DELETE FROM sample_records WHERE list_contains($ids, file_id)", {"ids": file_ids})
        con.execute("DELETE FROM file_records WHERE list_contains($ids, file_id)", {"ids": file_ids})


def supersede(con, file_id: int, reason: str) -> None:
    """A stored shard whose merged file arrived: its samples go, its row says why."""
    con.execute("DELETE FROM sample_records WHERE file_id = ?", [file_id])
    con.execute(
        "UPDATE file_records SET status = 'superseded', reason = ?, sample_keys = NULL WHERE file_id = ?", [reason, file_id]
    )


def touch(con, file_id: int, size: int, mtime: float) -> None:
    con.execute("UPDATE file_records SET size = ?, mtime = ? WHERE file_id = ?", [size, mtime, file_id])


def insert_files(con, rows: list[FileRow], ingested_at, run_id: int) -> None:
    if rows:
        insert_columns(
            con,
            "file_records",
            {
                **{c: [getattr(row, c) for row in rows] for c in _FILE_COLUMNS},
                "ingested_at": [ingested_at] * len(rows),
                "run_id": [run_id] * len(rows),
            },
        )


def insert_columns(con, table: str, columns: dict[str, list]) -> None:
    """Rows given as a list per column, in one statement: executemany costs ~0.7 ms a row in DuckDB."""
    names = list(columns)
    con.execute(f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(f'unnest(${n})' for n in names)}", columns)
