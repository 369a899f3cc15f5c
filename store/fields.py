"""The per-sample fields the store keeps in typed columns."""

from __future__ import annotations

import re

# per_sample_results element key -> sample_records column type
SAMPLE_FIELDS: dict[str, str] = {
    "sample_id": "BIGINT",
    "tier": "VARCHAR",
    "tier_range": "JSON",
    "top_k": "BIGINT",
    "num_active_blocks": "BIGINT",
    "output_tokens": "BIGINT",
    "content_tokens": "BIGINT",
    "ends_with_eos": "BOOLEAN",
    "actual_image_size": "BIGINT[]",
    "actual_num_crops": "BIGINT",
    "actual_tiling": "BIGINT[]",
    "target_vision_tokens": "BIGINT",
    "actual_vision_tokens": "BIGINT",
    "actual_text_tokens": "BIGINT",
    "total_sequence_length": "BIGINT",
    "accuracy": "DOUBLE",
    "pred": "VARCHAR",
    "metadata": "JSON",
    "T_vision_total": "DOUBLE",
    "T_LLM_prefill": "DOUBLE",
    "T_LLM_decode": "DOUBLE",
    "T_total": "DOUBLE",
    "T_decode_per_token": "DOUBLE",
    "T_decode_per_step": "DOUBLE[][]",
}

STAGE_LATENCIES = ("T_vision_total", "T_LLM_prefill", "T_LLM_decode", "T_total", "T_decode_per_token")
# a stage latency over this (one hour), or negative, is no measurement (migration 0002)
IMPLAUSIBLE_MS = 3_600_000


def struct_type(fields: dict[str, str]) -> str:
    """A DuckDB STRUCT type naming each field, quoted so any key is safe."""
    parts = ", ".join(f'"{name.replace(chr(34), chr(34) * 2)}" {kind}' for name, kind in fields.items())
    return f"STRUCT({parts})"


def literal_path(path: str) -> str:
    """`path` as a DuckDB file pattern that matches only itself (glob characters bracketed)."""
    return re.sub(r"([*?\[])", r"[\1]", path)
