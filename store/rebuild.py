"""Give back a stored result file as the JSON value it was written as: the proof that ingest is lossless."""

from __future__ import annotations

import json

from .errors import BudgetdbError
from .fields import SAMPLE_FIELDS

_JSON_FIELDS = [name for name, kind in SAMPLE_FIELDS.items() if kind == "JSON"]


def rebuild_result(con, path: str) -> dict:
    """The file at `path` (absolute, as stored) rebuilt from the store: top-level keys and,
    for stored samples, per_sample_results in file order."""
    row = con.execute(
        "SELECT file_id, summary, sample_keys, status FROM file_records WHERE path = ?", [path]
    ).fetchone()
    if row is None or row[1] is None:
        raise BudgetdbError(f"{path}: no stored result file at that path")
    file_id, summary, sample_keys, status = row
    result = json.loads(summary)
    if status != "ingested":
        return result
    result["per_sample_results"] = [
        _sample(record, sample_keys) for record in _records(con, file_id)
    ]
    return result


def _records(con, file_id: int):
    columns = [*SAMPLE_FIELDS, "absent", "extra"]
    quoted = ", ".join(f'"{c}"' for c in columns)
    cursor = con.execute(f"SELECT {quoted} FROM sample_records WHERE file_id = ? ORDER BY ordinal", [file_id])
    while batch := cursor.fetchmany(4096):
        for values in batch:
            yield dict(zip(columns, values))


def _sample(record: dict, sample_keys: list[str]) -> dict:
    absent = set(record["absent"] or ())
    extra = json.loads(record["extra"]) if record["extra"] is not None else {}
    sample = {}
    for key in sample_keys:
        if key in absent:
            continue
        if key in extra:
            sample[key] = extra[key]
        elif key in _JSON_FIELDS:
            sample[key] = json.loads(record[key]) if record[key] is not None else None
        else:
            sample[key] = record[key]
    return sample
