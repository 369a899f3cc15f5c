"""Stores for the compare tests, built so the answer is known: the same examples and values on
both sides unless a test changes them (tests/builders.py writes the rows)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from budgetdb.store import open_store

from builders import add_config_run, new_store

# (tier, top_k, blocks), mean latency (ms), accuracy: a frontier of four and one dominated config
CONFIGS = [
    (("low", 4, 8), 100.0, 0.40),
    (("medium", 8, 12), 130.0, 0.50),
    (("high", 8, 16), 160.0, 0.60),
    (("high", 16, 16), 190.0, 0.70),
    (("medium", 4, 16), 175.0, 0.45),  # dominated by high 8/16
]
N = 120


def samples(index: int, latency: float, accuracy: float, n: int = N, seed: int = 0, exact: bool = True) -> dict[str, np.ndarray]:
    """One config's samples: latencies around `latency`, 0/1 accuracies; `exact`: with means
    `latency` and `accuracy` exactly, else drawn (the means vary from seed to seed)."""
    rng = np.random.default_rng(1000 * seed + index)
    ms = latency * np.exp(rng.normal(0, 0.05, n))
    acc = np.zeros(n)
    if exact:
        ms *= latency / ms.mean()
        acc[rng.permutation(n)[: round(accuracy * n)]] = 1.0
    else:
        acc[rng.random(n) < accuracy] = 1.0
    return {"example_id": np.arange(n), "accuracy": acc, "T_total": ms, "T_LLM_prefill": ms * 0.6}


Change = Callable[[tuple, dict[str, np.ndarray]], dict[str, np.ndarray] | None]


def add_side(con, *, hardware: str = "h100", experiment: str = "exp", dataset: str = "okvqa", change: Change | None = None,
             configs=CONFIGS, seed: int = 0, exact: bool = True) -> None:  # fmt: skip
    """Add every config's run; `change(config, samples)` may alter a run's samples (None: leave the run out)."""
    for i, (config, latency, accuracy) in enumerate(configs):
        rows = samples(i, latency, accuracy, seed=seed, exact=exact)
        if change is not None:
            rows = change(config, rows)
            if rows is None:
                continue
        tier, top_k, blocks = config
        add_config_run(con, dataset=dataset, tier=tier, top_k=top_k, blocks=blocks, hardware=hardware,
                       experiment=experiment, samples=rows)  # fmt: skip


def store(path: Path, **side) -> Path:
    con = new_store(path)
    try:
        add_side(con, **side)
    finally:
        con.close()
    return path


def lake_store(db: str, data_path: Path):
    """A DuckLake open read-write (the caller closes it)."""
    return open_store(db, read_only=False, data_path=data_path)


def slower(factor: float) -> Change:
    def change(config, rows):
        return {**rows, "T_total": rows["T_total"] * factor, "T_LLM_prefill": rows["T_LLM_prefill"] * factor}

    return change
