"""First look at a result file: one JSON object? a configuration result? of which shape, and
which configuration? Only the top level is judged here; samples are checked as they load.

A result file written by the harness puts `per_sample_results` last, so its other top-level
keys sit in the first few kilobytes: `first_look()` parses just those, after the bracket
skeleton confirmed that no key follows the samples. Other files take one DuckDB pass
(`inspect.inspect`). Nothing here imports duckdb: fingerprint workers run this module.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass

from .nesting import Skeleton, comma_before_close, skeleton, split_skeleton

SAMPLES_KEY = "per_sample_results"
MAX_DEPTH = 64
_IMAGE_SIZE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


@dataclass(frozen=True)
class Inspection:
    """What the first look found in one file."""

    path: str
    status: str  # "ok", "skipped", "failed" or "unknown" (ask DuckDB)
    reason: str | None = None
    shape: str | None = None
    summary: str | None = None  # every top-level key but per_sample_results, as JSON text
    tier: str | None = None
    top_k: int | None = None
    num_active_blocks: int | None = None
    max_crops: int | None = None
    image_size: str | None = None  # `<H>x<W>` of the first sample's theoretical_image_size (pre-tier files)
    num_samples: object = None  # as the file declares it
    n_samples: int | None = None  # elements of per_sample_results, where counted before loading
    has_samples: bool = False
    warnings: tuple[str, ...] = ()


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
        or _head(path, data, at, before, after)
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


def _head(path: str, data: bytes, at: int, before: Skeleton, after: Skeleton) -> Inspection | None:
    """`per_sample_results` must be a key of the top-level object (depth 1), its value the
    last thing in it (no other key at that level after it, the object closed once at the end)."""
    if before.end_depth != 1 or after.keys_at(0) != 1 or after.end_depth != -1 or after.count_below(0) != 1:
        return None
    if len(after.chars) < 2 or after.chars[1] != ord("["):
        return None  # samples not a list: the DuckDB pass says what they are
    try:
        top = json.loads(data[:at].decode("utf-8") + '"per_sample_results": null}', object_pairs_hook=_unique_pairs)
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(top, dict) or list(top)[-1] != SAMPLES_KEY or len(top) - 1 != before.keys_at(1):
        return None
    del top[SAMPLES_KEY]
    first = _first_sample(data, at) if "tier" not in top else None
    found = judge(path, top, has_samples=True, first_sample=first)
    return dataclasses.replace(found, n_samples=after.objects_opened_at(2)) if found.status == "ok" else found


def _first_sample(data: bytes, at: int) -> dict | None:
    """The first element of per_sample_results, parsed alone (pre-tier files: its image size)."""
    start = data.find(b"{", at)
    opening = data.find(b"[", at)
    if start < 0 or opening < 0 or data[opening + 1 : start].strip():
        return None
    decoder = json.JSONDecoder()
    for window in (1 << 16, len(data)):
        try:
            value, _ = decoder.raw_decode(data[start : start + window].decode("utf-8", errors="replace"))
        except ValueError:
            continue
        return value if isinstance(value, dict) else None
    return None


def image_size(value) -> str | None:
    """`<H>x<W>` of a theoretical_image_size written as [H, W] or "HxW"; None for anything else."""
    if isinstance(value, list) and len(value) == 2 and all(_is_int(v) and v > 0 for v in value):
        return f"{value[0]}x{value[1]}"
    if isinstance(value, str) and (match := _IMAGE_SIZE.match(value)):
        return f"{int(match.group(1))}x{int(match.group(2))}"
    return None


def judge(path: str, top: dict, *, has_samples: bool, first_sample: dict | None = None) -> Inspection:
    """A file's top level (without its samples): skipped, failed, or its configuration."""
    if not has_samples and SAMPLES_KEY not in top and not {"top_k", "num_active_blocks"} <= top.keys():
        return Inspection(path, "skipped", "not a configuration result (no per_sample_results, top_k or num_active_blocks)")
    problem = _config_problem(top)
    if problem:
        return Inspection(path, "failed", problem)
    size = image_size(first_sample.get("theoretical_image_size")) if isinstance(first_sample, dict) else None
    return Inspection(
        path,
        "ok",
        shape=_shape(top),
        summary=json.dumps(top, ensure_ascii=False),
        tier=top.get("tier"),
        top_k=top["top_k"],
        num_active_blocks=top["num_active_blocks"],
        max_crops=top.get("max_crops"),
        image_size=size,
        num_samples=top.get("num_samples"),
        has_samples=has_samples,
        warnings=tuple(_implausible(top)),
    )


def _implausible(top: dict) -> list[str]:
    """Values that cannot be what the harness measured, stored anyway (as implausible latencies are)."""
    warnings = []
    for name in ("top_k", "num_active_blocks"):
        if top[name] < 1:
            warnings.append(f"{name} is {top[name]}, below 1 (stored as written)")
    accuracy = top.get("accuracy")
    if isinstance(accuracy, (int, float)) and not isinstance(accuracy, bool) and not 0 <= accuracy <= 1:
        if accuracy == accuracy:  # NaN is what a zero-sample file writes
            warnings.append(f"accuracy is {accuracy!r}, outside [0, 1] (stored as written)")
    return warnings


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
