"""The DuckDB pass over files the first look could not judge (`firstlook.first_look`): keys in
another order, samples that are not a list, several JSON values, a top level that is not an object."""

from __future__ import annotations

import json
import re

import duckdb

from .fields import literal_path
from .firstlook import SAMPLES_KEY, Inspection, judge

_LENIENT_NUMBER = re.compile(r"(?<=[:,\[])-?(?!NaN\b|Infinity\b)(?i:nan|inf)")  # in minified JSON

_INSPECT_SQL = """
SELECT
    filename,
    count(*) OVER (PARTITION BY filename)                                 AS n_values,
    json_type(json)                                                       AS kind,
    CASE WHEN json_type(json) = 'OBJECT' THEN json_keys(json) END          AS top_keys,
    json_type(json, '$.per_sample_results')                               AS samples_kind,
    CASE WHEN json_type(json) = 'OBJECT'
         THEN json_merge_patch(json, '{"per_sample_results": null}') END AS summary,
    CASE WHEN json_type(json, '$.per_sample_results[0]') = 'OBJECT'
         THEN json_extract(json, '$.per_sample_results[0].theoretical_image_size') END AS first_image_size
FROM read_json_objects($paths, filename = true, format = 'unstructured', maximum_object_size = $max_size)
"""


def inspect(con: duckdb.DuckDBPyConnection, paths: list[str], max_size: int) -> dict[str, Inspection]:
    """Inspect `paths` with DuckDB; raises duckdb.Error if any one of them is not valid JSON."""
    rows = con.execute(_INSPECT_SQL, {"paths": [literal_path(p) for p in paths], "max_size": max_size}).fetchall()
    by_path: dict[str, list[tuple]] = {}
    for row in rows:
        by_path.setdefault(row[0], []).append(row)
    return {path: _judge_rows(path, by_path.get(path, [])) for path in paths}


def _judge_rows(path: str, rows: list[tuple]) -> Inspection:
    if not rows:
        return Inspection(path, "failed", "empty file: no JSON value")
    if len(rows) > 1:
        return Inspection(path, "failed", f"{len(rows)} JSON values at top level, expected one object")
    _, _, kind, top_keys, samples_kind, summary, first_image_size = rows[0]
    if kind != "OBJECT":
        what = "an array" if kind == "ARRAY" else "a single value"
        return Inspection(path, "failed", f"top level is {what}, expected a JSON object")
    duplicate = next((k for i, k in enumerate(top_keys) if k in top_keys[:i]), None)
    if duplicate is not None:
        return Inspection(path, "failed", f"duplicate top-level key {duplicate!r}")
    if samples_kind not in (None, "ARRAY"):  # null too: the harness writes [] for no samples
        return Inspection(path, "failed", f"per_sample_results: expected a list, found {samples_kind.lower()}")
    try:
        top = json.loads(summary)
    except ValueError as exc:
        # DuckDB also reads nan, inf, -INF... as numbers; JSON as Python writes it has NaN, Infinity, -Infinity
        if _LENIENT_NUMBER.search(summary):
            return Inspection(
                path,
                "failed",
                "a top-level number is written as nan or inf: not JSON (only NaN, Infinity and -Infinity are accepted)",
            )
        return Inspection(path, "failed", f"top level is not valid JSON: {getattr(exc, 'msg', exc)}")
    top.pop(SAMPLES_KEY, None)
    first = None
    if first_image_size is not None:
        try:
            first = {"theoretical_image_size": json.loads(first_image_size)}
        except ValueError:
            first = None
    return judge(path, top, has_samples=samples_kind == "ARRAY", first_sample=first)
