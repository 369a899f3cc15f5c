"""Give back a stored result file as the JSON value it was written as: the proof that ingest is lossless."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from budgetdb.errors import BudgetdbError

from .fields import SAMPLE_FIELDS

if TYPE_CHECKING:
    import duckdb

_JSON_FIELDS = [name for name, kind in SAMPLE_FIELDS.items() if kind == "JSON"]


def rebuild_result(con: duckdb.DuckDBPyConnection, path: str) -> dict:
    """The file at `path` (absolute, as stored) rebuilt from the store: top-level keys and,
    for stored samples, per_sample_results in file order."""
    row = con.execute("SELECT file_id, summary, status, sample_keys FROM file_records WHERE path = ?", [path]).fetchone()
    if row is None or row[1] is None:
        raise BudgetdbError(f"{path}: no stored result file at that path")
    file_id, summary, status, sample_keys = row
    result = json.loads(summary)
    if status != "ingested" or sample_keys is None:  # sample_keys NULL: the file had no per_sample_results
        return result
    result["per_sample_results"] = [_sample(record) for record in _records(con, file_id)]
    return result


def _records(con: duckdb.DuckDBPyConnection, file_id: int):
    columns = [*SAMPLE_FIELDS, "absent", "extra"]
    quoted = ", ".join(f'"{c}"' for c in columns)
    cursor = con.execute(f"SELECT {quoted} FROM sample_records WHERE file_id = ? ORDER BY ordinal", [file_id])
    while batch := cursor.fetchmany(4096):
        for values in batch:
            yield dict(zip(columns, values, strict=True))


def _sample(record: dict) -> dict:
    """Typed columns for the known keys the sample has (all but `absent`), then `extra`."""
    absent = set(record["absent"] or ())
    sample = {}
    for key in SAMPLE_FIELDS:
        if key in absent:
            continue
        value = record[key]
        sample[key] = json.loads(value) if key in _JSON_FIELDS and value is not None else value
    if record["extra"] is not None:
        sample.update(json.loads(record["extra"]))
    return sample
