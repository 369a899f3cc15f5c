"""config_points, pareto_frontier, frontier_summary, budget_range and budget_lookup against
hand-checked numbers and a plain-Python brute force."""

from __future__ import annotations

import math
import statistics
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from fractions import Fraction

import duckdb
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from budgetdb import connect, queries
from budgetdb.store import migrations

from builders import add_config_run, new_store

NAN = math.nan
POINT_COLUMNS = [
    "hardware",
    "experiment",
    "dataset",
    "tier",
    "variant",
    "top_k",
    "num_active_blocks",
    "n",
    "accuracy",
    "latency",
    "latency_source",
    "excluded",
    "config_run_id",
]


# ---------------------------------------------------------------- plain-Python references


def brute_frontier(points):
    """Points (id, dataset, accuracy, latency) no other point of the dataset strictly dominates, O(n^2)."""
    eligible = [p for p in points if _valid(p[2], p[3])]
    return [
        p
        for p in eligible
        if not any(q[1] == p[1] and q[2] >= p[2] and q[3] <= p[3] and (q[2] > p[2] or q[3] < p[3]) for q in eligible)
    ]


def _valid(accuracy, latency):
    # NaN and 0.0 latencies are missing (the samples view makes them NULL)
    return not math.isnan(accuracy) and accuracy > 0 and not math.isnan(latency) and latency != 0.0 and latency > 0


def best_within(frontier, dataset, budget):
    fitting = [p for p in frontier if p[1] == dataset and p[3] <= budget]
    if not fitting:
        return None
    best = max(fitting, key=lambda p: p[2])
    return best[2], best[3]


def dec(x) -> Decimal:
    return Decimal(repr(float(x)))


def ceil_to(x, step) -> Decimal:
    return (dec(x) / dec(step)).to_integral_value(ROUND_CEILING) * dec(step)


def floor_to(x, step) -> Decimal:
    return (dec(x) / dec(step)).to_integral_value(ROUND_FLOOR) * dec(step)


def budget_list(lower: Decimal, upper: Decimal, coarse) -> list[float]:
    if lower == upper:
        return [float(lower)]
    c = dec(coarse)
    first = int((lower / c).to_integral_value(ROUND_FLOOR))
    last = int((upper / c).to_integral_value(ROUND_CEILING))
    between = [m * c for m in range(first, last + 1) if lower < m * c < upper]
    return [float(v) for v in (lower, *between, upper)]


# ---------------------------------------------------------------- stores


@pytest.fixture(scope="module")
def memory_store():
    """An in-memory store with the real schema, refilled by `load_points` (fast enough for hypothesis)."""
    con = duckdb.connect()
    migrations.upgrade(con, "memory")
    yield con
    con.close()


def load_points(con, points, prefill=None, from_summary=()):
    """One config run per point (id, dataset, accuracy, latency): a single sample, or for the ids in
    `from_summary` no sample and the point in the file's stored summary."""
    con.execute("DELETE FROM sample_records")
    con.execute("DELETE FROM file_records")
    for point_id, dataset, accuracy, latency in points:
        if point_id in from_summary:
            add_config_run(
                con,
                dataset=dataset,
                tier="high",
                top_k=point_id,
                blocks=16,
                summary={"accuracy": accuracy, "latency_stats": {"T_total_mean": latency}},
            )
            continue
        samples = {"accuracy": [accuracy], "T_total": [latency]}
        if prefill is not None:
            samples["T_LLM_prefill"] = [prefill]
        add_config_run(con, dataset=dataset, tier="high", top_k=point_id, blocks=16, samples=samples)


def ids(rows):
    return sorted((r["dataset"], r["top_k"]) for r in rows)


@pytest.fixture(scope="module")
def fallback_store(tmp_path_factory):
    """Runs with samples, zero-sample runs with a stored summary, and runs the frontier leaves out."""
    path = tmp_path_factory.mktemp("points") / "points.duckdb"
    con = new_store(path)
    add_config_run(
        con,
        dataset="okvqa",
        tier="low",
        top_k=4,
        blocks=12,
        samples={
            "accuracy": [1, 0, 1 / 3, 2 / 3],
            "T_total": [100.0, 130.0, NAN, 160.0],
            "T_LLM_prefill": [40.0, 50.0, 60.0, 0.0],
            "T_vision_total": [5.0, 6.0, 7.0, 8.0],
        },
    )
    add_config_run(
        con,
        dataset="okvqa",
        tier="medium",
        top_k=6,
        blocks=14,
        summary={
            "accuracy": 0.55,
            "latency_stats": {
                "T_total_mean": 210.0,
                "T_total_p95": 260.0,
                "T_vision_total_mean": 9.0,
                "T_LLM_prefill_mean": 70.0,
            },
        },
    )
    add_config_run(
        con,
        dataset="okvqa",
        tier="high",
        top_k=8,
        blocks=16,
        summary={"accuracy": 0.6, "latency_stats": {}, "aggregate_stats": {"T_total_mean": 250.0}},
    )
    add_config_run(con, dataset="okvqa", tier="high", top_k=4, blocks=12)  # nothing stored at all
    add_config_run(con, dataset="okvqa", tier="high", top_k=6, blocks=12, samples={"accuracy": [0, 0], "T_total": [90.0, 95.0]})
    add_config_run(con, dataset="okvqa", tier="high", top_k=8, blocks=12, samples={"accuracy": [1, 1], "T_total": [NAN, 0.0]})
    add_config_run(
        con,
        dataset="text-vqa",
        tier="low",
        top_k=4,
        blocks=12,
        samples={"accuracy": [1 / 3], "T_total": [300.0], "T_LLM_prefill": [120.0]},
    )
    con.close()
    con = connect(path)
    yield con
    con.close()


# ---------------------------------------------------------------- config_points


def test_config_points_means_fallbacks_and_exclusions(fallback_store):
    result = queries.run(fallback_store, "config_points")
    assert result.columns == POINT_COLUMNS
    rows = {(r["dataset"], r["tier"], r["top_k"], r["num_active_blocks"]): r for r in result.records()}
    sampled = rows[("okvqa", "low", 4, 12)]
    assert (sampled["n"], sampled["latency_source"], sampled["excluded"]) == (4, "samples", None)
    assert sampled["accuracy"] == pytest.approx(np.mean([1, 0, 1 / 3, 2 / 3]))
    assert sampled["latency"] == pytest.approx(np.mean([100.0, 130.0, 160.0]))
    assert rows[("okvqa", "medium", 6, 14)] | {"config_run_id": None} == {
        "hardware": "h100",
        "experiment": "exp",
        "dataset": "okvqa",
        "tier": "medium",
        "variant": "medium",
        "top_k": 6,
        "num_active_blocks": 14,
        "n": 0,
        "accuracy": 0.55,
        "latency": 210.0,
        "latency_source": "summary",
        "excluded": None,
        "config_run_id": None,
    }
    assert (rows[("okvqa", "high", 8, 16)]["latency"], rows[("okvqa", "high", 8, 16)]["latency_source"]) == (250.0, "summary")
    assert rows[("okvqa", "high", 4, 12)]["excluded"] == "latency missing"
    assert rows[("okvqa", "high", 6, 12)]["excluded"] == "accuracy <= 0"
    assert rows[("okvqa", "high", 8, 12)]["excluded"] == "latency missing"
    assert [r["dataset"] for r in result.records()] == ["okvqa"] * 6 + ["text-vqa"]
    assert [r["tier"] for r in result.records()][:6] == ["low", "medium", "high", "high", "high", "high"]


@pytest.mark.parametrize(
    ("stage", "stat", "sampled", "from_summary"),
    [
        ("T_total", "p50", np.percentile([100.0, 130.0, 160.0], 50), None),
        ("T_total", "p95", np.percentile([100.0, 130.0, 160.0], 95), 260.0),
        ("T_total", "p99", np.percentile([100.0, 130.0, 160.0], 99), None),
        ("T_LLM_prefill", "mean", np.mean([40.0, 50.0, 60.0]), 70.0),
        # per sample vision + prefill; the last sample has no prefill (0.0 = missing)
        ("vision_prefill", "mean", np.mean([45.0, 56.0, 67.0]), 79.0),
        ("vision_prefill", "p95", np.percentile([45.0, 56.0, 67.0], 95), None),
    ],
)
def test_config_points_latency_stage_and_stat(fallback_store, stage, stat, sampled, from_summary):
    rows = queries.run(fallback_store, "config_points", {"latency_stage": stage, "latency_stat": stat}).records()
    by_config = {(r["dataset"], r["tier"], r["top_k"]): r for r in rows}
    assert by_config[("okvqa", "low", 4)]["latency"] == pytest.approx(sampled)
    summary_point = by_config[("okvqa", "medium", 6)]
    assert summary_point["latency"] == from_summary
    assert summary_point["excluded"] == (None if from_summary else "latency missing")


def test_frontier_leaves_out_excluded_points(fallback_store):
    frontier = queries.run(fallback_store, "pareto_frontier").records()
    assert [(r["dataset"], r["tier"], r["top_k"], r["latency_source"]) for r in frontier] == [
        ("okvqa", "low", 4, "samples"),
        ("okvqa", "medium", 6, "summary"),
        ("okvqa", "high", 8, "summary"),
        ("text-vqa", "low", 4, "samples"),
    ]
    assert all(r["excluded"] is None for r in frontier)


# ---------------------------------------------------------------- ties, one point, empty scope

TIES = [
    # (dataset, tier, top_k, accuracy, latency)
    ("d", "low", 4, 0.5, 100.0),
    ("d", "low", 6, 0.5, 100.0),  # exact duplicate of the first: both stay
    ("d", "low", 8, 0.5, 120.0),  # as accurate, slower: dominated
    ("d", "medium", 4, 0.4, 100.0),  # as fast, less accurate: dominated
    ("d", "high", 8, 0.7, 150.0),
    ("d", "high", 6, 0.7, 150.0),  # duplicate
    ("d", "medium", 8, 0.6, 150.0),  # dominated by both 0.7 @ 150
    ("one", "low", 4, 0.25, 80.0),  # a one-point dataset
    ("none", "low", 4, 0.0, 90.0),  # a dataset whose only point is left out
]


@pytest.fixture(scope="module")
def ties_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("ties") / "ties.duckdb"
    con = new_store(path)
    for dataset, tier, top_k, accuracy, latency in TIES:
        add_config_run(
            con,
            dataset=dataset,
            tier=tier,
            top_k=top_k,
            blocks=16,
            samples={"accuracy": [accuracy, accuracy], "T_total": [latency, latency]},
        )
    con.close()
    con = connect(path)
    yield con
    con.close()


def test_frontier_with_ties_keeps_exact_duplicates(ties_store):
    rows = queries.run(ties_store, "pareto_frontier").records()
    assert [(r["dataset"], r["tier"], r["top_k"], r["accuracy"], r["latency"]) for r in rows] == [
        ("d", "low", 4, 0.5, 100.0),
        ("d", "low", 6, 0.5, 100.0),
        ("d", "high", 6, 0.7, 150.0),
        ("d", "high", 8, 0.7, 150.0),
        ("one", "low", 4, 0.25, 80.0),
    ]


@pytest.mark.parametrize("ref", ["pareto_frontier", "frontier_summary"])
def test_runs_holding_the_same_accuracies_in_another_order_tie_exactly(tmp_path, ref):
    """Two runs with the same per-sample accuracies in another order have the same mean, exactly,
    so the slower one is dominated. A running floating-point sum can end a digit apart with the
    order: DuckDB's avg did here, and config_points@v1 put both runs on the frontier."""
    rng = np.random.default_rng(0)
    first = np.array([0.0, 1 / 3, 2 / 3, 1.0])[rng.integers(0, 4, size=50)]
    second = rng.permutation(first)
    mean = float(sum(map(Fraction, first)) / len(first))  # exact, rounded once
    con = new_store(tmp_path / "s.duckdb")
    fast = add_config_run(con, dataset="okvqa", top_k=4, samples={"accuracy": first, "T_total": np.full(50, 100.0)})
    add_config_run(con, dataset="okvqa", top_k=6, samples={"accuracy": second, "T_total": np.full(50, 110.0)})
    assert [r["accuracy"] for r in queries.run(con, "config_points").records()] == [mean, mean]
    rows = queries.run(con, ref).records()
    if ref == "pareto_frontier":
        assert [r["config_run_id"] for r in rows] == [fast]
    else:
        assert [(r["n_points"], r["lo_top_k"], r["hi_top_k"]) for r in rows] == [(1, 4, 4)]
    con.close()


def test_frontier_summary_with_ties_one_point_and_no_point(ties_store):
    rows = queries.run(ties_store, "frontier_summary").records()
    assert rows == [
        {
            "hardware": "h100",
            "dataset": "d",
            "n_points": 4,
            "hi_accuracy": 0.7,
            "hi_latency": 150.0,
            "hi_tier": "high",
            "hi_top_k": 6,
            "hi_blocks": 16,
            "lo_accuracy": 0.5,
            "lo_latency": 100.0,
            "lo_tier": "low",
            "lo_top_k": 4,
            "lo_blocks": 16,
        },
        {
            "hardware": "h100",
            "dataset": "none",
            "n_points": 0,
            "hi_accuracy": None,
            "hi_latency": None,
            "hi_tier": None,
            "hi_top_k": None,
            "hi_blocks": None,
            "lo_accuracy": None,
            "lo_latency": None,
            "lo_tier": None,
            "lo_top_k": None,
            "lo_blocks": None,
        },
        {
            "hardware": "h100",
            "dataset": "one",
            "n_points": 1,
            "hi_accuracy": 0.25,
            "hi_latency": 80.0,
            "hi_tier": "low",
            "hi_top_k": 4,
            "hi_blocks": 16,
            "lo_accuracy": 0.25,
            "lo_latency": 80.0,
            "lo_tier": "low",
            "lo_top_k": 4,
            "lo_blocks": 16,
        },
    ]


def test_budget_lookup_with_ties(ties_store):
    rows = queries.run(ties_store, "budget_lookup", {"budgets": [99.0, 100.0, 149.99, 150.0, 1000.0]}).records()
    got = [(r["budget"], r["dataset"], r["tier"], r["top_k"], r["accuracy"], r["slack"]) for r in rows]
    assert got == [
        (99.0, "d", None, None, None, None),
        (99.0, "none", None, None, None, None),
        (99.0, "one", "low", 4, 0.25, 19.0),
        (100.0, "d", "low", 4, 0.5, 0.0),
        (100.0, "none", None, None, None, None),
        (100.0, "one", "low", 4, 0.25, 20.0),
        (149.99, "d", "low", 4, 0.5, pytest.approx(49.99)),
        (149.99, "none", None, None, None, None),
        (149.99, "one", "low", 4, 0.25, pytest.approx(69.99)),
        (150.0, "d", "high", 6, 0.7, 0.0),
        (150.0, "none", None, None, None, None),
        (150.0, "one", "low", 4, 0.25, 70.0),
        (1000.0, "d", "high", 6, 0.7, 850.0),
        (1000.0, "none", None, None, None, None),
        (1000.0, "one", "low", 4, 0.25, 920.0),
    ]


def test_budget_range_over_ties(ties_store):
    row = queries.run(ties_store, "budget_range").records()[0]
    # ranges: d [100, 150], one [80, 80]; "none" has no frontier
    assert (row["min_latency"], row["min_dataset"], row["max_latency"], row["max_dataset"]) == (80.0, "one", 150.0, "d")
    assert (row["mean_min"], row["mean_max"], row["median_min"], row["median_max"]) == (90.0, 115.0, 90.0, 115.0)
    assert (row["lower"], row["upper"], row["budgets"]) == (80.0, 150.0, [80.0, 100.0, 150.0])
    assert row["linspace"] == np.linspace(80.0, 150.0, num=10).tolist()


@pytest.mark.parametrize(
    ("name", "expected"),
    [("config_points", []), ("pareto_frontier", []), ("frontier_summary", []), ("budget_lookup", [])],
)
def test_an_empty_scope_gives_no_rows(ties_store, name, expected):
    assert queries.run(ties_store, name, {"dataset": "no-such"}).rows == expected


def test_budget_range_of_an_empty_scope_is_one_row_of_nulls(ties_store):
    result = queries.run(ties_store, "budget_range", {"hardware": "a100"})
    assert result.records() == [dict.fromkeys(result.columns)]


# ---------------------------------------------------------------- hypothesis: SQL == brute force

ACCURACIES = st.one_of(st.sampled_from([0.0, -0.25, 0.25, 0.5, 0.75, 1.0, NAN]), st.floats(0.01, 1.0))
LATENCIES = st.one_of(st.sampled_from([NAN, 0.0, -5.0, 100.0, 150.0, 200.0]), st.floats(1.0, 400.0))
POINTS = st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), ACCURACIES, LATENCIES), max_size=25)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(points=POINTS, summary_ids=st.sets(st.integers(0, 24)), extra_budgets=st.lists(st.floats(0.5, 450.0), max_size=4))
def test_frontier_summary_range_and_lookup_match_brute_force(memory_store, points, summary_ids, extra_budgets):
    points = [(i, d, a, lat) for i, (d, a, lat) in enumerate(points)]
    load_points(memory_store, points, from_summary=summary_ids)
    expected = brute_frontier(points)
    datasets = sorted({p[1] for p in points})

    frontier = queries.run(memory_store, "pareto_frontier").records()
    assert ids(frontier) == sorted((p[1], p[0]) for p in expected)
    for dataset in datasets:
        latencies = [r["latency"] for r in frontier if r["dataset"] == dataset]
        assert latencies == sorted(latencies)

    summary = {r["dataset"]: r for r in queries.run(memory_store, "frontier_summary").records()}
    assert sorted(summary) == datasets
    ranges = {}
    for dataset, row in summary.items():
        mine = [p for p in expected if p[1] == dataset]
        assert row["n_points"] == len(mine)
        if mine:
            hi, lo = max(mine, key=lambda p: p[2]), min(mine, key=lambda p: p[2])
            assert (row["hi_accuracy"], row["hi_latency"]) == (hi[2], hi[3])
            assert (row["lo_accuracy"], row["lo_latency"]) == (lo[2], lo[3])
            ranges[dataset] = (lo[3], hi[3])

    check_budget_range(queries.run(memory_store, "budget_range").records()[0], ranges)

    budgets = sorted({*extra_budgets, *(p[3] for p in expected)})
    lookup = queries.run(memory_store, "budget_lookup", {"budgets": budgets}).records()
    assert [(r["budget"], r["dataset"]) for r in lookup] == [(b, d) for b in budgets for d in datasets]
    for row in lookup:
        best = best_within(expected, row["dataset"], row["budget"])
        assert (None if row["accuracy"] is None else (row["accuracy"], row["latency"])) == best
        if best:
            assert row["slack"] == row["budget"] - row["latency"]


def check_budget_range(row, ranges):
    """budget_range against the per-dataset frontier ranges {dataset: (min, max)}, defaults step 10, coarse 50."""
    if not ranges:
        assert all(value is None for key, value in row.items() if key != "hardware")
        return
    mins, maxs = [r[0] for r in ranges.values()], [r[1] for r in ranges.values()]
    assert row["min_latency"] == min(mins) and row["max_latency"] == max(maxs)
    assert row["min_dataset"] == min(d for d, r in ranges.items() if r[0] == min(mins))
    assert row["max_dataset"] == min(d for d, r in ranges.items() if r[1] == max(maxs))
    assert row["mean_min"] == pytest.approx(statistics.fmean(mins), rel=1e-12)
    assert row["mean_max"] == pytest.approx(statistics.fmean(maxs), rel=1e-12)
    assert row["median_min"] == pytest.approx(statistics.median(mins), rel=1e-12)
    assert row["median_max"] == pytest.approx(statistics.median(maxs), rel=1e-12)
    lower, upper = ceil_to(min(mins), 10), ceil_to(max(maxs), 10)
    assert (row["lower"], row["upper"]) == (float(lower), float(upper))
    assert row["budgets"] == budget_list(lower, upper, 50)


# ---------------------------------------------------------------- hypothesis: rounding rules

# 0.3, 0.7 and 0.01 are the traps: 2.1 / 0.3 is 7.000000000000001 in floating point
STEPS = ["10", "50", "5", "1", "0.5", "0.1", "0.25", "2.5", "20", "100", "3", "0.3", "0.7", "0.01"]
COARSE = ["50", "25", "100", "10", "5", "2.5", "0.5", "0.7", "30"]


@st.composite
def bounds(draw, step):
    """A bound in ms: a decimal with up to 4 places, or exactly a multiple of the step (e.g. 170.0, 1.1)."""
    if draw(st.booleans()):
        return float(draw(st.integers(1, 20_000)) * Decimal(step))
    places = draw(st.integers(0, 4))
    return float(Decimal(draw(st.integers(1, 2000 * 10**places))).scaleb(-places))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), step=st.sampled_from(STEPS), coarse=st.sampled_from(COARSE), num=st.integers(0, 12))
def test_budget_rounding_matches_exact_decimal_arithmetic(memory_store, data, step, coarse, num):
    low = data.draw(bounds(step), label="low")
    high = data.draw(bounds(step), label="high")
    low, high = min(low, high), max(low, high)
    if float(ceil_to(high, coarse) / dec(coarse)) > 5000:  # keep the budget list small
        return
    prefill = data.draw(bounds(step), label="prefill")
    load_points(memory_store, [(1, "a", 0.5, low), (2, "b", 0.5, high)], prefill=prefill)
    row = queries.run(memory_store, "budget_range", {"step": step, "coarse_step": coarse, "num": num}).records()[0]
    lower, upper = ceil_to(low, step), ceil_to(high, step)
    assert (row["lower"], row["upper"]) == (float(lower), float(upper))
    assert row["budgets"] == budget_list(lower, upper, coarse)
    assert row["linspace"] == np.linspace(row["lower"], row["upper"], num=num).tolist()
    # every sample has the same prefill, so p5 = p95 = prefill
    assert row["prefill_lower"] == float(floor_to(prefill, step))
    assert row["prefill_upper"] == float(ceil_to(prefill, step))
    assert row["prefill_safe_upper"] == float(ceil_to(prefill, coarse))


@pytest.mark.parametrize(
    ("bound", "step", "lower"),
    [
        (170.0, "10", 170.0),
        (166.49, "10", 170.0),
        (170.0001, "10", 180.0),
        (2.1, "0.3", 2.1),
        (4.2, "0.7", 4.2),
        (0.07, "0.01", 0.07),
    ],
)
def test_a_bound_on_the_step_stays_there(memory_store, bound, step, lower):
    load_points(memory_store, [(1, "a", 0.5, bound)])
    row = queries.run(memory_store, "budget_range", {"step": step}).records()[0]
    assert row["lower"] == row["upper"] == lower
    assert row["budgets"] == [lower]
