"""The report's uncertainty figures (`report --resamples N`, N > 0): the pieces of the template
context that the queries of the uncertainty (prefill_stats@v3, config_uncertainty,
frontier_stability, budget_lookup@v4, measure_next) give, beside the seed's figures.

Nothing is computed here but what a template needs to print a figure as analysis.md says:
which end of an interval is undefined and why (the sample size a percentile needs), and which
configs have too few examples to trust (fewer than SMALL_N). Every value is a plain number,
string, bool, list or dict, so the context can be serialised as it is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

SMALL_N = 30  # fewer examples than this: flagged wherever the config appears
STABLE_AT = 0.9  # frontier_stability's default: a point is stable when p_frontier >= this
PREFILL_PERCENTILES = (("p5", 0.05), ("p25", 0.25), ("p50", 0.5), ("p75", 0.75), ("p95", 0.95))
STAT_QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}


def floor_n(p: float) -> int:
    """The smallest n with a finite two-sided distribution-free 95% interval for quantile p:
    (1-p)^n <= 0.025 and p^n <= 0.025 (6 for p50, 72 for p5 and p95, 368 for p99)."""
    worst = max(p, 1 - p)
    n = math.ceil(math.log(0.025) / math.log(worst))
    while worst**n > 0.025:  # the logarithms' rounding, never trusted at the boundary
        n += 1
    while n > 1 and worst ** (n - 1) <= 0.025:
        n -= 1
    return n


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def interval(lo: Any, hi: Any, *, n: Any = None, p: float | None = None, label: str = "") -> dict[str, Any] | None:
    """An interval as the templates print it: both ends, or the one that is defined with the reason
    the other is not (a percentile p needs floor_n(p) values). None when neither end is known."""
    lo, hi = _number(lo), _number(hi)
    count = int(n) if _number(n) is not None else None
    floor = floor_n(p) if p is not None else None
    if lo is None and hi is None and (floor is None or count is None or count >= floor):
        return None
    return {"lo": lo, "hi": hi, "n": count, "floor": floor, "label": label}


def prefill_intervals(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The distribution-free interval of each percentile of the prefill blockquote."""
    out = []
    for key, p in PREFILL_PERCENTILES:
        label = "median" if key == "p50" else key
        found = interval(row.get(f"{key}_lo"), row.get(f"{key}_hi"), n=row.get("n"), p=p, label=label)
        out.append(found or {"lo": None, "hi": None, "n": row.get("n"), "floor": floor_n(p), "label": label})
    return out


def _config(row: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    return {
        "tier": row.get(f"{prefix}tier") or row.get(f"{prefix}variant"),
        "top_k": row.get(f"{prefix}top_k"),
        "blocks": row.get(f"{prefix}blocks", row.get(f"{prefix}num_active_blocks")),
    }


def _end(row: Mapping[str, Any], prefix: str, stat: str) -> dict[str, Any] | None:
    """A frontier end (frontier_stability's hi_ or lo_ columns) with its intervals."""
    accuracy, latency = _number(row.get(f"{prefix}accuracy")), _number(row.get(f"{prefix}latency"))
    if accuracy is None or latency is None:
        return None
    count = _number(row.get(f"{prefix}n"))
    n = int(count) if count is not None else None
    return {
        **_config(row, prefix),
        "accuracy": accuracy,
        "latency": latency,
        "acc": interval(row.get(f"{prefix}acc_lo"), row.get(f"{prefix}acc_hi")),
        "lat": interval(row.get(f"{prefix}lat_lo"), row.get(f"{prefix}lat_hi"), n=n, p=STAT_QUANTILES.get(stat), label=stat),
        "p_frontier": _number(row.get(f"{prefix}p_frontier")),
        "n": n,
        "small": n is not None and n < SMALL_N,
    }


def stability(rows: Sequence[Mapping[str, Any]], stat: str) -> dict[str, dict[str, Any]]:
    """{dataset: {n_points, n_stable, stable_at, hi, lo}} from frontier_stability."""
    out = {}
    for row in rows:
        if not row.get("n_points"):
            continue
        out[row["dataset"]] = {
            "n_points": int(row["n_points"]),
            "n_stable": int(row.get("n_stable") or 0),
            "stable_at": STABLE_AT,
            "hi": _end(row, "hi_", stat),
            "lo": _end(row, "lo_", stat),
        }
    return out


def lookup_row(row: Mapping[str, Any], sizes: Mapping[Any, Any]) -> dict[str, Any]:
    """budget_lookup@v4's columns beyond v3's, for one row of the table."""
    n = sizes.get(row.get("config_run_id"))
    runner_n = sizes.get(row.get("runner_up_config_run_id"))
    runner = None
    if _number(row.get("runner_up_accuracy")) is not None:
        small = runner_n is not None and runner_n < SMALL_N
        runner = {**_config(row, "runner_up_"), "accuracy": row["runner_up_accuracy"], "n": runner_n, "small": small}
    delta = None
    if runner is not None and _number(row.get("delta_acc")) is not None:
        delta = {"value": row["delta_acc"], "interval": interval(row.get("delta_lo"), row.get("delta_hi"))}
    attainment = None
    if _number(row.get("attainment")) is not None:
        attainment = {"value": row["attainment"], "lo": _number(row.get("attainment_lo"))}
    return {
        "n": n,
        "small": n is not None and n < SMALL_N,
        "runner_up": runner,
        "delta": delta,
        "tie": row.get("tie") if isinstance(row.get("tie"), bool) else None,
        "attainment": attainment,
    }


def measure_next(rows: Sequence[Mapping[str, Any]], delta: float) -> dict[str, Any]:
    """measure_next's rows for the report, and the GPU time of all of them."""
    items = []
    for row in rows:
        n = row.get("n")
        items.append(
            {
                "dataset": row["dataset"],
                "config": _config(row, ""),
                "n": n,
                "small": n is not None and n < SMALL_N,
                "p_frontier": _number(row.get("p_frontier")),
                "why": row.get("why"),
                "rival": _config(row, "rival_") if row.get("rival_top_k") is not None else None,
                "s_d": _number(row.get("s_d")),
                "n_needed": row.get("n_needed"),
                "n_more": row.get("n_more"),
                "gpu_hours": _number(row.get("gpu_hours")),
            }
        )
    hours = [item["gpu_hours"] for item in items if item["gpu_hours"] is not None]
    return {"items": items, "delta": delta, "gpu_hours": math.fsum(hours) if hours else None}
