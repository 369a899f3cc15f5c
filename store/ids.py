"""Stable ids computed from identities, so any writer (DuckDB file or DuckLake) agrees on them."""

from __future__ import annotations

import hashlib


def stable_id(*parts: object) -> int:
    """A positive 63-bit id from the parts' text (None and '' differ)."""
    text = "\x1f".join("\x00" if p is None else str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") >> 1


def file_id(path: str) -> int:
    return stable_id("file", path)


def config_run_id(hardware: str, experiment: str, dataset: str, variant: str, top_k: int, num_active_blocks: int) -> int:
    return stable_id("config", hardware, experiment, dataset, variant, top_k, num_active_blocks)
