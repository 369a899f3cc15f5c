"""The fields of a result file that the store keeps in typed columns, and what JSON may hold there."""

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

# top-level keys that identify a configuration (typed in file_records)
CONFIG_FIELDS: dict[str, str] = {
    "tier": "VARCHAR",
    "top_k": "BIGINT",
    "num_active_blocks": "BIGINT",
    "max_crops": "BIGINT",
}

# json_structure() kinds each column type accepts
_ACCEPTS = {
    "BIGINT": {"UBIGINT", "BIGINT", "NULL"},
    "DOUBLE": {"DOUBLE", "UBIGINT", "BIGINT", "NULL"},
    "BOOLEAN": {"BOOLEAN", "NULL"},
    "VARCHAR": {"VARCHAR", "NULL"},
}
_KIND_WORDS = {
    "UBIGINT": "an integer",
    "BIGINT": "an integer",
    "DOUBLE": "a decimal number",
    "VARCHAR": "a string",
    "BOOLEAN": "a boolean",
    "NULL": "null",
    "JSON": "mixed or object values",
}
_TYPE_WORDS = {"BIGINT": "an integer", "DOUBLE": "a number", "BOOLEAN": "true/false", "VARCHAR": "a string"}


def mismatch(column_type: str, structure) -> str | None:
    """Why a json_structure() value cannot go into a column of `column_type`, or None if it can."""
    if column_type == "JSON":
        return None
    if column_type.endswith("[]"):
        if structure == "NULL":
            return None
        if not isinstance(structure, list):
            return f"expected a list, found {_describe(structure)}"
        inner = mismatch(column_type[:-2], structure[0])
        return None if inner is None else f"list element: {inner}"
    if isinstance(structure, str) and structure in _ACCEPTS[column_type]:
        return None
    return f"expected {_TYPE_WORDS[column_type]}, found {_describe(structure)}"


def _describe(structure) -> str:
    if isinstance(structure, list):
        return "a list"
    if isinstance(structure, dict):
        return "an object"
    return _KIND_WORDS.get(structure, structure)


def struct_type(fields: dict[str, str]) -> str:
    """A DuckDB STRUCT type naming each field, quoted so any key is safe."""
    parts = ", ".join(f'"{name.replace(chr(34), chr(34) * 2)}" {kind}' for name, kind in fields.items())
    return f"STRUCT({parts})"


def literal_path(path: str) -> str:
    """`path` as a DuckDB file pattern that matches only itself (glob characters bracketed)."""
    return re.sub(r"([*?\[])", r"[\1]", path)
