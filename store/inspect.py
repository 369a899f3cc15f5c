"""First look at result files: is it one JSON object, a configuration result, of which shape,
and do its values fit the typed columns? One DuckDB pass per batch of files."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import duckdb

from .fields import CONFIG_FIELDS, SAMPLE_FIELDS, literal_path, mismatch

_INSPECT_SQL = """
SELECT
    filename,
    count(*) OVER (PARTITION BY filename)                          AS n_values,
    json_structure(json)                                           AS structure,
    json_keys(json)                                                AS top_keys,
    json_merge_patch(json, '{"per_sample_results": null}')         AS summary,
    list_distinct(k.sample_keys)                                   AS key_lists,
    len(k.sample_keys)                                             AS n_samples
FROM read_json_objects($paths, filename = true, format = 'unstructured', maximum_object_size = $max_size) r,
LATERAL (SELECT json_keys(r.json, '$.per_sample_results[*]') AS sample_keys) k
"""


@dataclass
class Inspection:
    """What the first look found in one file."""

    path: str
    status: str  # "ok", "skipped" or "failed"
    reason: str | None = None
    shape: str | None = None
    summary: str | None = None  # every top-level key but per_sample_results, as JSON text
    tier: str | None = None
    top_k: int | None = None
    num_active_blocks: int | None = None
    max_crops: int | None = None
    n_samples: int = 0
    sample_keys: list[str] = field(default_factory=list)
    uniform_keys: bool = True
    warnings: list[str] = field(default_factory=list)

    @property
    def unknown_keys(self) -> list[str]:
        return [k for k in self.sample_keys if k not in SAMPLE_FIELDS]


def inspect(con: duckdb.DuckDBPyConnection, paths: list[str], max_size: int) -> dict[str, Inspection]:
    """Inspect `paths` together; raises duckdb.Error if any one of them is not valid JSON."""
    rows = con.execute(_INSPECT_SQL, {"paths": [literal_path(p) for p in paths], "max_size": max_size}).fetchall()
    by_path: dict[str, list[tuple]] = {}
    for row in rows:
        by_path.setdefault(row[0], []).append(row)
    return {path: _judge(path, by_path.get(path, [])) for path in paths}


def _judge(path: str, rows: list[tuple]) -> Inspection:
    if not rows:
        return Inspection(path, "failed", "empty file: no JSON value")
    if len(rows) > 1:
        return Inspection(path, "failed", f"{len(rows)} JSON values at top level, expected one object")
    _, _, structure_text, top_keys, summary, key_lists, n_samples = rows[0]
    structure = json.loads(structure_text)
    if not isinstance(structure, dict):
        kind = "an array" if isinstance(structure, list) else "a single value"
        return Inspection(path, "failed", f"top level is {kind}, expected a JSON object")
    duplicate = _duplicate(top_keys)
    if duplicate:
        return Inspection(path, "failed", f"duplicate top-level key {duplicate!r}")
    if "per_sample_results" not in structure and not {"top_k", "num_active_blocks"} <= structure.keys():
        return Inspection(path, "skipped", "not a configuration result (no per_sample_results, top_k or num_active_blocks)")
    problem = _config_problem(structure)
    if problem:
        return Inspection(path, "failed", problem)
    samples = structure.get("per_sample_results", [])
    if not isinstance(samples, list):
        return Inspection(path, "failed", "per_sample_results: expected a list")
    element = samples[0] if samples else "NULL"
    if element != "NULL" and not isinstance(element, dict):
        return Inspection(path, "failed", "per_sample_results: every element must be an object")
    duplicate = next(filter(None, map(_duplicate, key_lists or [])), None)
    if duplicate:
        return Inspection(path, "failed", f"per_sample_results: an element has the key {duplicate!r} twice")
    element = element if isinstance(element, dict) else {}
    for name, column_type in SAMPLE_FIELDS.items():
        if name in element:
            why = mismatch(column_type, element[name])
            if why:
                return Inspection(path, "failed", f"per_sample_results[].{name}: {why}")
    values = json.loads(summary)
    found = Inspection(
        path,
        "ok",
        shape=_shape(structure, element),
        summary=summary,
        tier=values.get("tier"),
        top_k=values.get("top_k"),
        num_active_blocks=values.get("num_active_blocks"),
        max_crops=values.get("max_crops"),
        n_samples=n_samples or 0,
        sample_keys=sorted(element),
        uniform_keys=len(key_lists or []) <= 1,
    )
    declared = values.get("num_samples")
    if isinstance(declared, int) and declared != found.n_samples:
        found.warnings.append(f"num_samples says {declared}, per_sample_results has {found.n_samples}")
    return found


def _duplicate(keys: list[str] | None) -> str | None:
    seen = set()
    for key in keys or ():
        if key in seen:
            return key
        seen.add(key)
    return None


def _config_problem(structure: dict) -> str | None:
    for name in ("top_k", "num_active_blocks"):
        if name not in structure:
            return f"missing key {name!r}"
    for name, column_type in CONFIG_FIELDS.items():
        if name in structure:
            why = mismatch(column_type, structure[name])
            if why or structure[name] == "NULL" and name != "tier" and name != "max_crops":
                return f"{name}: {why or 'expected a value, found null'}"
    return None


def _shape(structure: dict, element: dict) -> str:
    if "T_vision_encoder" in element or "T_projector" in element:
        return "legacy_timing"
    if "tier" not in structure:
        return "pre_tier"
    if "aggregate_stats" in structure and "latency_stats" in structure:
        return "recovery_merged"
    if "aggregate_stats" in structure:
        return "aggregate_stats"
    return "current"
