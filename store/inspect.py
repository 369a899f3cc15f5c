"""First look at a result file: one JSON object? a configuration result? of which shape, and
which configuration? Only the top level is judged here; samples are checked as they load.

A result file written by the harness puts `per_sample_results` last, so its other top-level
keys sit in the first few kilobytes: `first_look()` parses just those, after the bracket
skeleton confirmed that no key follows the samples. Other files take one DuckDB pass (`inspect`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import duckdb

from .fields import literal_path
from .nesting import Skeleton, comma_before_close, skeleton, split_skeleton

_SAMPLES_KEY = "per_sample_results"
_LENIENT_NUMBER = re.compile(r"(?<=[:,\[])-?(?!NaN\b|Infinity\b)(?i:nan|inf)")  # in minified JSON
MAX_DEPTH = 64

_INSPECT_SQL = """
SELECT
    filename,
    count(*) OVER (PARTITION BY filename)                                 AS n_values,
    json_type(json)                                                       AS kind,
    CASE WHEN json_type(json) = 'OBJECT' THEN json_keys(json) END          AS top_keys,
    json_type(json, '$.per_sample_results')                               AS samples_kind,
    CASE WHEN json_type(json) = 'OBJECT'
         THEN json_merge_patch(json, '{"per_sample_results": null}') END AS summary
FROM read_json_objects($paths, filename = true, format = 'unstructured', maximum_object_size = $max_size)
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
    num_samples: object = None  # as the file declares it
    n_samples: int | None = None  # elements of per_sample_results, where counted before loading
    has_samples: bool = False
    warnings: list[str] = field(default_factory=list)


class _DuplicateKey(ValueError):
    pass


def _unique_pairs(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def first_look(path: str, data: bytes) -> Inspection:
    """Failed if nested deeper than MAX_DEPTH (before DuckDB ever sees it) or not JSON where
    DuckDB would read it anyway; judged from the head if the harness wrote it; else status
    "unknown": ask `inspect`."""
    at = data.find(b'"per_sample_results"')
    if at < 0:
        whole = skeleton(data)
        return _too_deep(path, whole.max_depth) or _not_json(path, data) or Inspection(path, "unknown")
    before, after = split_skeleton(data, at)
    return (
        _too_deep(path, max(before.max_depth, before.end_depth + after.max_depth))
        or _not_json(path, data)
        or _head(path, data[:at], before, after)
        or Inspection(path, "unknown")
    )


def _not_json(path: str, data: bytes) -> Inspection | None:
    """DuckDB reads `[1, 2,]` as `[1, 2]`: where a comma comes right before a closing bracket
    (or a string holds such text), Python's parser says whether the file is JSON."""
    if not comma_before_close(data):
        return None
    try:
        json.loads(data)
    except json.JSONDecodeError as exc:
        return Inspection(path, "failed", f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
    except ValueError as exc:  # not UTF-8
        return Inspection(path, "failed", f"not valid JSON: {exc}")
    return None


def _too_deep(path: str, depth: int) -> Inspection | None:
    if depth > MAX_DEPTH:
        return Inspection(path, "failed", f"JSON nested {depth} levels deep, over the limit of {MAX_DEPTH}")
    return None


def _head(path: str, prefix: bytes, before: Skeleton, after: Skeleton) -> Inspection | None:
    """`per_sample_results` must be a key of the top-level object (depth 1), its value the
    last thing in it (no other key at that level after it, the object closed once at the end)."""
    if before.end_depth != 1 or after.keys_at(0) != 1 or after.end_depth != -1 or after.count_below(0) != 1:
        return None
    if len(after.chars) < 2 or after.chars[1] != ord("["):
        return None  # samples not a list: the DuckDB pass says what they are
    try:
        top = json.loads(prefix.decode("utf-8") + '"per_sample_results": null}', object_pairs_hook=_unique_pairs)
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(top, dict) or list(top)[-1] != _SAMPLES_KEY or len(top) - 1 != before.keys_at(1):
        return None
    del top[_SAMPLES_KEY]
    found = judge(path, top, has_samples=True)
    found.n_samples = after.objects_opened_at(2)
    return found


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
    _, _, kind, top_keys, samples_kind, summary = rows[0]
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
    top.pop(_SAMPLES_KEY, None)
    return judge(path, top, has_samples=samples_kind == "ARRAY")


def judge(path: str, top: dict, *, has_samples: bool) -> Inspection:
    """A file's top level (without its samples): skipped, failed, or its configuration."""
    if not has_samples and _SAMPLES_KEY not in top and not {"top_k", "num_active_blocks"} <= top.keys():
        return Inspection(path, "skipped", "not a configuration result (no per_sample_results, top_k or num_active_blocks)")
    problem = _config_problem(top)
    if problem:
        return Inspection(path, "failed", problem)
    return Inspection(
        path,
        "ok",
        shape=_shape(top),
        summary=json.dumps(top, ensure_ascii=False),
        tier=top.get("tier"),
        top_k=top["top_k"],
        num_active_blocks=top["num_active_blocks"],
        max_crops=top.get("max_crops"),
        num_samples=top.get("num_samples"),
        has_samples=has_samples,
    )


def _config_problem(top: dict) -> str | None:
    for name in ("top_k", "num_active_blocks"):
        if name not in top:
            return f"missing key {name!r}"
        if not _is_int(top[name]):
            return f"{name}: expected an integer, found {_describe(top[name])}"
    if "max_crops" in top and top["max_crops"] is not None and not _is_int(top["max_crops"]):
        return f"max_crops: expected an integer, found {_describe(top['max_crops'])}"
    if "tier" in top and top["tier"] is not None and not isinstance(top["tier"], str):
        return f"tier: expected a string, found {_describe(top['tier'])}"
    return _summary_problem(top)


# Top-level values the config_runs view casts: one that would not cast would break the view for
# the whole store, and one the cast would change (true -> 1.0, 3.5 -> 4) would be stored wrong.
_SUMMARY_INTEGERS = ("num_total_blocks", "num_samples")
_SUMMARY_NUMBERS = (
    "accuracy",
    "accuracy_std",
    "selected_crops_mean",
    "selected_crops_std",
    "target_vision_tokens_mean",
    "target_vision_tokens_std",
    "actual_vision_tokens_mean",
    "actual_vision_tokens_std",
)


def _summary_problem(top: dict) -> str | None:
    crops = top["tier_range"] if isinstance(top.get("tier_range"), dict) else {}
    integers = {
        **{name: top.get(name) for name in _SUMMARY_INTEGERS},
        **{f"tier_range.{name}": crops.get(name) for name in ("min_crops", "max_crops")},
    }
    for name, value in integers.items():
        if value is not None and not _is_int(value):
            return f"{name}: expected an integer, found {_describe(value)}"
    for name in _SUMMARY_NUMBERS:
        value = top.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return f"{name}: expected a number, found {_describe(value)}"
    blocks = top.get("active_block_indices")
    if blocks is not None and not (isinstance(blocks, list) and all(_is_int(b) for b in blocks)):
        return f"active_block_indices: expected a list of integers, found {_describe(blocks)}"
    return None


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


def _describe(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, dict)):
        return "a list" if isinstance(value, list) else "an object"
    return f"the number {value!r}"


def _shape(top: dict) -> str:
    if "tier" not in top:
        return "pre_tier"
    if "aggregate_stats" in top and "latency_stats" in top:
        return "recovery_merged"
    if "aggregate_stats" in top:
        return "aggregate_stats"
    return "current"
