"""The seed fixture: numpy on its raw values and every query give the seed report's figures
(docs/analysis.md, "Number check against the seed"), printed as the seed prints them."""

from __future__ import annotations

import numpy as np
import pytest

from budgetdb import connect, queries

from seed_fixture import N_SAMPLES, prefill_values

# Written down from the seed (latency_budget_analysis.md), not computed.
PREFILL_PRINTED = {
    "min": "68.7",
    "p5": "102.3",
    "p25": "119.7",
    "p50": "135.0",
    "p75": "151.7",
    "p95": "175.3",
    "max": "607.7",
    "mean": "136.3",
    "std": "22.2",
}
FRONTIER_PRINTED = {
    # dataset: (points, hi "acc @ lat", hi config, lo "acc @ lat", lo config)
    "text-vqa": (14, "0.7680 @ 371.52", ("high", 8, 16), "0.3778 @ 218.56", ("low", 4, 12)),
    "coco-2014-vqa": (15, "0.8255 @ 294.69", ("high", 8, 16), "0.6535 @ 166.49", ("low", 4, 12)),
    "okvqa": (11, "0.6443 @ 289.24", ("medium", 8, 16), "0.3662 @ 177.90", ("low", 4, 12)),
}


@pytest.fixture(scope="module")
def con(seed_store):
    con = connect(seed_store)
    yield con
    con.close()


def test_the_raw_prefill_values_print_as_the_seed(seed_store):
    values = prefill_values()
    assert len(values) == N_SAMPLES == 1_638_588
    figures = dict(zip(("p5", "p25", "p50", "p75", "p95"), np.percentile(values, [5, 25, 50, 75, 95]), strict=True))
    figures.update(min=values.min(), max=values.max(), mean=values.mean(), std=values.std())
    assert {k: f"{v:.1f}" for k, v in figures.items()} == PREFILL_PRINTED


def test_prefill_stats(con):
    row = queries.run(con, "prefill_stats", {"hardware": "h100"}).records()[0]
    assert f"{row['n']:,}" == "1,638,588"
    assert row["n_missing"] == 0
    assert {k: f"{row[k]:.1f}" for k in PREFILL_PRINTED} == PREFILL_PRINTED


def test_prefill_only_range(con):
    row = queries.run(con, "budget_range").records()[0]
    assert (row["prefill_lower"], row["prefill_upper"], row["prefill_safe_upper"]) == (100, 180, 200)


def test_frontiers(con):
    rows = {r["dataset"]: r for r in queries.run(con, "frontier_summary").records()}
    assert set(rows) == set(FRONTIER_PRINTED)
    for dataset, (points, hi, hi_config, lo, lo_config) in FRONTIER_PRINTED.items():
        row = rows[dataset]
        assert row["n_points"] == points
        assert f"{row['hi_accuracy']:.4f} @ {row['hi_latency']:.2f}" == hi
        assert (row["hi_tier"], row["hi_top_k"], row["hi_blocks"]) == hi_config
        assert f"{row['lo_accuracy']:.4f} @ {row['lo_latency']:.2f}" == lo
        assert (row["lo_tier"], row["lo_top_k"], row["lo_blocks"]) == lo_config
    frontier = queries.run(con, "pareto_frontier").records()
    assert {d: sum(r["dataset"] == d for r in frontier) for d in rows} == {d: v[0] for d, v in FRONTIER_PRINTED.items()}
    points = queries.run(con, "config_points").records()
    assert len(points) == 81 and all(r["excluded"] is None and r["latency_source"] == "samples" for r in points)


def test_aggregate_and_recommended_range(con):
    row = queries.run(con, "budget_range").records()[0]
    assert f"{row['min_latency']:.2f} / {row['max_latency']:.2f}" == "166.49 / 371.52"
    assert (row["min_dataset"], row["max_dataset"]) == ("coco-2014-vqa", "text-vqa")
    assert f"{row['mean_min']:.2f} / {row['mean_max']:.2f}" == "187.65 / 318.48"
    assert f"{row['median_min']:.2f} / {row['median_max']:.2f}" == "177.90 / 294.69"
    assert (row["lower"], row["upper"]) == (170, 380)
    assert row["budgets"] == [170, 200, 250, 300, 350, 380]
    assert row["linspace"] == np.linspace(170, 380, num=10).tolist()


def test_budget_lookup_on_the_seed(con):
    rows = queries.run(con, "budget_lookup").records()
    assert sorted({r["budget"] for r in rows}) == [170, 200, 250, 300, 350, 380]
    by_key = {(r["budget"], r["dataset"]): r for r in rows}
    # nothing of text-vqa fits 170 or 200 ms (its fastest frontier point takes 218.56 ms)
    assert by_key[(170, "text-vqa")]["accuracy"] is None and by_key[(200, "text-vqa")]["accuracy"] is None
    assert f"{by_key[(170, 'coco-2014-vqa')]['accuracy']:.4f}" == "0.6535"
    assert by_key[(380, "text-vqa")]["top_k"] == 8 and f"{by_key[(380, 'text-vqa')]['slack']:.2f}" == "8.48"
    assert f"{by_key[(300, 'okvqa')]['accuracy']:.4f}" == "0.6443"


def test_decode_and_latency_stats_cover_every_sample(con):
    decode = queries.run(con, "decode_stats").records()[0]
    assert decode["n"] == N_SAMPLES and decode["n_missing"] == 0
    latency = queries.run(con, "latency_stats", {"dataset": "okvqa"}).records()
    prefill = [r for r in latency if r["stage"] == "T_LLM_prefill"]
    assert len(prefill) == 27 and all(r["source"] == "samples" for r in prefill)
