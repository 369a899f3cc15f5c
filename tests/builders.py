"""Build stores directly from rows, for query and report tests that need exact numbers
(and sizes, like the seed's 1,638,588 samples) that writing JSON would make slow.

Rows go into the same tables `budgetdb ingest` writes, with the same ids, so every view
and query sees them exactly as it sees ingested files.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from budgetdb.store import ids, open_store

TIERS = {"low": (1, 3), "medium": (4, 8), "high": (9, 15)}
INGESTED_AT = datetime(2026, 1, 2, 3, 4, 5)


def new_store(path: Path):
    """An empty store at `path`, open read-write."""
    return open_store(path, read_only=False)


def add_config_run(
    con,
    *,
    dataset: str,
    tier: str | None = "high",
    top_k: int = 8,
    blocks: int = 16,
    hardware: str = "h100",
    experiment: str = "exp",
    samples: dict | None = None,
    summary: dict | None = None,
    rank: int | None = None,
    status: str = "ingested",
    name: str | None = None,
) -> int:
    """Add one result file (and its samples) as ingest would; return its config_run_id.

    `samples` maps sample_records columns to equal-length sequences (e.g. accuracy, T_total,
    T_LLM_prefill); `summary` overrides top-level keys of the file (e.g. latency_stats).
    """
    samples = {k: np.asarray(v) for k, v in (samples or {}).items()}
    n = len(next(iter(samples.values()))) if samples else 0
    variant = tier if tier is not None else "unknown"
    config_run_id = ids.config_run_id(hardware, experiment, dataset, variant, top_k, blocks)
    stem = name or f"{dataset}_imgsizetier-{tier}_crops0_topk{top_k}_blocks{blocks}" + (
        f"_rank{rank}" if rank is not None else ""
    )
    rel_path = f"{experiment}/{dataset}/{stem}.json" if experiment else f"{dataset}/{stem}.json"
    path = f"/data/core_exp_{hardware}/{rel_path}"
    file_id = ids.file_id(path)
    top = _summary(tier, top_k, blocks, samples, n)
    top.update(summary or {})
    con.execute(
        """
        INSERT INTO file_records (file_id, path, root, rel_path, size, mtime, sha256, shape, status,
            hardware, experiment, dataset, tier, variant, top_k, num_active_blocks, rank,
            config_run_id, n_samples, summary, ingested_at, run_id)
        VALUES (?, ?, ?, ?, 0, 0, NULL, 'current', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
        """,
        [
            file_id,
            path,
            f"/data/core_exp_{hardware}",
            rel_path,
            status,
            hardware,
            experiment,
            dataset,
            tier,
            variant,
            top_k,
            blocks,
            rank,
            config_run_id,
            n,
            json.dumps(top),
            INGESTED_AT,
        ],
    )
    if n and status == "ingested":
        frame = pd.DataFrame({"file_id": file_id, "config_run_id": config_run_id, "ordinal": np.arange(n), **samples})
        con.register("_builder_rows", frame)
        con.execute("INSERT INTO sample_records BY NAME SELECT * FROM _builder_rows")
        con.unregister("_builder_rows")
    return config_run_id


def _summary(tier, top_k, blocks, samples, n) -> dict:
    acc = samples.get("accuracy")
    top = {
        "top_k": top_k,
        "num_active_blocks": blocks,
        "num_total_blocks": 16,
        "num_samples": n,
        "accuracy": float(np.mean(acc)) if n and acc is not None else math.nan,
        "accuracy_std": float(np.std(acc)) if n and acc is not None else math.nan,
        "latency_stats": {},
    }
    if tier is not None:
        lo, hi = TIERS.get(tier, (0, 0))
        top.update(tier=tier, tier_range={"min_crops": lo, "max_crops": hi}, max_crops=hi)
    return top
