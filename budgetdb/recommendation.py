"""`budgetdb report --format json`: the recommendation as data, for a training script.

The document is a projection of the report's context (budgetdb.reporting) with names a script
can rely on; docs/recommendation.md describes every key. SCHEMA_VERSION changes when a key
changes meaning or disappears (a new key does not change it). Same store and options, same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

SCHEMA = "budgetdb.recommendation"
SCHEMA_VERSION = 1

_PREFILL = ("n", "n_missing", "min", "p5", "p25", "p50", "p75", "p95", "max", "mean", "std", "long_tail")
_PERCENTILES = ("p5", "p25", "p50", "p75", "p95")
# the context's short names for templates -> the store's names, which the document uses
_RENAMED = {"blocks": "num_active_blocks"}
# the context's keys for display only (the seed's spellings of datasets, intervals' labels)
_DROPPED = {"display", "label", "min_display", "max_display"}


def document(context: Mapping[str, Any]) -> dict[str, Any]:
    scope = context["scope"]
    return _plain(
        {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "scope": {
                "hardware": scope["in_scope"]["hardware"],
                "experiments": scope["in_scope"]["experiments"],
                "datasets": scope["in_scope"]["datasets"],
                "filtered": scope["filtered"],
                "latency_stage": scope["latency_stage"],
                "latency_stat": scope["latency_stat"],
                "step": scope["step"],
                "coarse_step": scope["coarse_step"],
                "num": scope["num"],
            },
            "alpha": [context["alpha"]["lo"], context["alpha"]["hi"]],
            "uncertainty": context["uncertainty"],
            "analyses": [_analysis(a, scope["in_scope"]["hardware"]) for a in context["analyses"]],
            "provenance": _provenance(context["footer"]),
        }
    )


def dumps(context: Mapping[str, Any]) -> str:
    # allow_nan=False: a NaN reaching here is a bug (the context holds None for missing numbers)
    return json.dumps(document(context), ensure_ascii=False, indent=2, allow_nan=False) + "\n"


def _plain(value: Any) -> Any:
    """The document's spelling of the context's values: every config's blocks named
    num_active_blocks, the names meant for display left out."""
    if isinstance(value, dict):
        return {_RENAMED.get(k, k): _plain(v) for k, v in value.items() if k not in _DROPPED}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _analysis(analysis: Mapping[str, Any], hardware_in_scope: list[str]) -> dict[str, Any]:
    prefill = analysis["prefill"]
    budget = analysis["budget"]
    # the context names the hardware only when there are several; the document always does
    hardware = analysis["hardware"] or (hardware_in_scope[0] if len(hardware_in_scope) == 1 else None)
    return {
        "hardware": hardware,
        "sources": analysis["sources"],
        "prefill": {
            **{k: prefill[k] for k in _PREFILL},
            "intervals": dict(zip(_PERCENTILES, prefill["intervals"], strict=True)) if prefill["intervals"] else None,
            "range": analysis["prefill_range"],
        },
        "decode": analysis["decode"],
        "datasets": [_dataset(d) for d in analysis["datasets"]],
        "aggregate": analysis["aggregate"],
        "budget": {
            "lower": budget["lower"],
            "upper": budget["upper"],
            "budgets": budget["amounts"],
            "linspace": budget["linspace"],
        }
        if budget is not None
        else None,
        "lookup": [_lookup(row) for row in analysis["lookup"]],
        "measure_next": analysis["measure_next"],
    }


def _dataset(dataset: Mapping[str, Any]) -> dict[str, Any]:
    frontier = dataset["frontier"]
    return {
        "name": dataset["name"],
        "n_points": dataset["n_points"],
        "frontier": dataset["frontier_points"] or [],
        "range": {"min": frontier["lo"]["latency"], "max": frontier["hi"]["latency"]} if frontier else None,
        "stability": dataset["stability"],
    }


def _lookup(row: Mapping[str, Any]) -> dict[str, Any]:
    point = row["point"]
    return {
        "budget": row["budget"],
        "dataset": row["dataset"],
        "config": {k: point[k] for k in ("tier", "top_k", "blocks")} if point else None,
        "accuracy": point["accuracy"] if point else None,
        "latency": point["latency"] if point else None,
        "slack": row["slack"],
        "uncertainty": row["extra"],
    }


def _provenance(footer: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("store_path", "last_ingest_at", "ingest_version", "ingest_runs", "files", "samples", "points", "budgetdb_version")
    return {**{k: footer[k] for k in keep}, "queries": footer["queries"]}
