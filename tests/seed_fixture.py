"""A store whose query outputs are the seed report's figures (docs/analysis.md, last section).

- 1,638,588 samples under hardware h100 whose pooled T_LLM_prefill prints as the seed's
  blockquote: min 68.7; p5/p25/median/p75/p95 102.3/119.7/135.0/151.7/175.3; max 607.7;
  mean/std 136.3/22.2. The sorted values follow a quantile function through those knots,
  interpolated linearly in logit(p) (a bell-like shape inside each segment), with three tail
  knots tuned so the mean and std land on the seed's numbers.
- 27 config runs per dataset (tier x top_k x blocks) spread over those samples. Per run the
  accuracies are VQA scores (0, 1/3, 2/3, 1) whose mean rounds to the point's accuracy at 4
  decimals, and T_total = T_LLM_prefill + a constant, so the mean T_total is the point's latency.
  The frontier points of each dataset rise evenly from the seed's lowest- to its highest-accuracy
  point; every other run is strictly dominated by one of them.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from builders import add_config_run, new_store

N_SAMPLES = 1_638_588
HARDWARE = "h100"
EXPERIMENT = "5run_2000samples_w_new_importance_score"

# (p, ms) knots of the prefill quantile function; the tail knots (0.01, 0.99, 0.9999) were tuned
# numerically for mean 136.3 and std 22.2 (they give 136.3003 and 22.2005). The first and last
# knot sit just inside (0, 1), where logit is finite: np.interp clamps p = 0 and p = 1 to them.
PREFILL_KNOTS = (
    (1e-7, 68.7),
    (0.01, 86.3),
    (0.05, 102.3),
    (0.25, 119.7),
    (0.5, 135.0),
    (0.75, 151.7),
    (0.95, 175.3),
    (0.99, 185.25),
    (0.9999, 255.25),
    (1 - 1e-7, 607.7),
)

# dataset: (frontier points, (accuracy, latency, config) lowest, same highest)
FRONTIERS = {
    "text-vqa": (14, (0.3778, 218.56, ("low", 4, 12)), (0.7680, 371.52, ("high", 8, 16))),
    "coco-2014-vqa": (15, (0.6535, 166.49, ("low", 4, 12)), (0.8255, 294.69, ("high", 8, 16))),
    "okvqa": (11, (0.3662, 177.90, ("low", 4, 12)), (0.6443, 289.24, ("medium", 8, 16))),
}
CONFIGS = tuple(itertools.product(("low", "medium", "high"), (4, 6, 8), (12, 14, 16)))


def prefill_values() -> np.ndarray:
    """The 1,638,588 prefill latencies, sorted."""
    p = np.arange(N_SAMPLES) / (N_SAMPLES - 1)
    knot_p = np.array([k for k, _ in PREFILL_KNOTS])
    knot_ms = np.array([v for _, v in PREFILL_KNOTS])
    return np.interp(_logit(p), _logit(knot_p), knot_ms)


def _logit(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(p) - np.log1p(-p)


def points(dataset: str) -> list[tuple[tuple[str, int, int], float, float]]:
    """(config, accuracy, latency) of every config run of `dataset`; frontier points first."""
    n_frontier, (lo_acc, lo_lat, lo_cfg), (hi_acc, hi_lat, hi_cfg) = FRONTIERS[dataset]
    others = [c for c in CONFIGS if c not in (lo_cfg, hi_cfg)]
    frontier_cfgs = [lo_cfg, *others[: n_frontier - 2], hi_cfg]
    t = np.linspace(0.0, 1.0, n_frontier)
    frontier = [
        (cfg, round(lo_acc + (hi_acc - lo_acc) * float(np.sqrt(x)), 4), round(lo_lat + (hi_lat - lo_lat) * float(x), 2))
        for cfg, x in zip(frontier_cfgs, t, strict=True)
    ]
    frontier[0] = (lo_cfg, lo_acc, lo_lat)
    frontier[-1] = (hi_cfg, hi_acc, hi_lat)
    dominated = []
    for i, cfg in enumerate(others[n_frontier - 2 :]):
        _, acc, lat = frontier[i % n_frontier]
        dominated.append((cfg, round(acc - 0.01 - 0.002 * i, 4), round(lat + 1.5 + 0.75 * i, 2)))
    return frontier + dominated


def build_seed_store(path: str | Path) -> None:
    """Write the seed store to `path` (a new DuckDB file)."""
    rng = np.random.default_rng(20260101)
    prefill = rng.permutation(prefill_values())
    runs = [(dataset, point) for dataset in FRONTIERS for point in points(dataset)]
    con = new_store(Path(path))
    try:
        con.execute("BEGIN TRANSACTION")
        for (dataset, (config, accuracy, latency)), share in zip(runs, np.array_split(prefill, len(runs)), strict=True):
            tier, top_k, blocks = config
            add_config_run(
                con,
                dataset=dataset,
                tier=tier,
                top_k=top_k,
                blocks=blocks,
                hardware=HARDWARE,
                experiment=EXPERIMENT,
                samples=_samples(share, accuracy, latency),
            )
        con.execute("COMMIT")
    finally:
        con.close()


def _samples(prefill: np.ndarray, accuracy: float, latency: float) -> dict[str, np.ndarray]:
    n = len(prefill)
    thirds = round(accuracy * 3 * n)  # sum of the VQA scores, in thirds
    scores = np.zeros(n)
    scores[: thirds // 3] = 1.0
    if thirds % 3:
        scores[thirds // 3] = (thirds % 3) / 3
    assert round(thirds / (3 * n), 4) == accuracy, (accuracy, n)
    total = prefill + (latency - prefill.mean())
    vision = np.full(n, 11.5)
    output_tokens = (np.arange(n) % 8 + 1).astype(np.int64)
    decode = total - prefill - vision
    return {
        "accuracy": scores,
        "T_vision_total": vision,
        "T_LLM_prefill": prefill,
        "T_LLM_decode": decode,
        "T_total": total,
        "T_decode_per_token": decode / output_tokens,
        "output_tokens": output_tokens,
    }
