"""The paired bootstrap (analysis.md, Uncertainty): config_resamples' numpy step against an
independent implementation of its definition, the coverage of its 95% intervals by simulation, and
the queries on a store giving what the step gives on the same arrays."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from budgetdb import queries
from budgetdb.queries import registry
from budgetdb.queries.numpy_steps import _module
from budgetdb.store import open_store

from builders import add_config_run, new_store

MASK = (1 << 64) - 1


@pytest.fixture(scope="module")
def step():
    """The step's module, as the runner runs it (from the text checksums.txt lists)."""
    return _module(queries.get("config_resamples@v1").numpy)


def _mix(x: int) -> int:
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & MASK
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


E_INV = sum(Fraction((-1) ** j, math.factorial(j)) for j in range(40))  # e^-1, within 1e-47
# T_k = floor(2^64 * P(Poisson(1) <= k)), k = 0..19
THRESHOLDS = [math.floor(sum(E_INV / math.factorial(j) for j in range(k + 1)) * 2**64) for k in range(20)]


def weight(seed: int, r: int, key: int) -> int:
    """w_r(e) as analysis.md and the step's docstring define it, in plain Python integers: the
    (r+1)-th SplitMix64 output from state z(z(seed) XOR key), turned into Poisson(1) by its CDF."""
    state = _mix(_mix(seed) ^ (key & MASK))
    u = _mix((state + (r + 1) * 0x9E3779B97F4A7C15) & MASK)
    return next((k for k, threshold in enumerate(THRESHOLDS) if u < threshold), 20)


def test_weights_follow_the_definition_and_are_poisson(step):
    keys = np.array([0, 1, 7, 123456789, -1, -20230, 2**40 + 3], dtype=np.int64)
    for seed in (0, 1, 2**31 - 1):
        states = step.key_states(seed, keys)
        drawn = step.weights(states, 0, 6)
        assert [[weight(seed, r, int(k)) for k in keys] for r in range(6)] == drawn.tolist()
    many = step.weights(step.key_states(3, np.arange(20_000, dtype=np.int64)), 0, 50).ravel()
    observed = np.bincount(many, minlength=8)[:6] / many.size
    expected = [math.exp(-1) / math.factorial(k) for k in range(6)]
    assert observed == pytest.approx(expected, abs=0.002)  # 1M draws: standard errors below 0.0005
    assert many.mean() == pytest.approx(1.0, abs=0.003) and many.var() == pytest.approx(1.0, abs=0.006)
    # another seed, other weights; the same seed, the same weights
    assert not np.array_equal(step.weights(step.key_states(4, keys), 0, 6), step.weights(step.key_states(0, keys), 0, 6))


def _brute(acc, ms, example, weights_of, stat):
    """A config's statistic in one resample: its samples repeated by their example's weight."""
    w = np.array([weights_of[e] for e in example])
    keep_acc, keep_ms = ~np.isnan(acc), ~np.isnan(ms)
    accuracy = (w[keep_acc] * acc[keep_acc]).sum() / w[keep_acc].sum() if w[keep_acc].sum() else math.nan
    expanded = np.repeat(ms[keep_ms], w[keep_ms])
    if len(expanded) == 0:
        return accuracy, math.nan
    if stat == "mean":
        return accuracy, expanded.mean()
    # linear interpolation between order statistics (numpy's default, type 7) in DuckDB's arithmetic,
    # as quantile_cont computes it: RN = (N - 1) * q, lo * (1 - d) + hi * d
    q = {"p50": 0.5, "p95": 0.95, "p99": 0.99}[stat]
    x, rn = np.sort(expanded), (len(expanded) - 1) * q
    d = rn - math.floor(rn)
    value = x[math.floor(rn)] * (1 - d) + x[math.ceil(rn)] * d
    assert value == pytest.approx(np.quantile(expanded, q), rel=1e-12)
    return accuracy, float(value)


@pytest.mark.parametrize("stat", ["mean", "p50", "p95", "p99"])
def test_each_resample_is_the_statistic_of_the_reweighted_samples(step, stat):
    rng = np.random.default_rng(11)
    rows = []
    for config, n in ((10, 3), (11, 40), (12, 400), (13, 1200)):
        example = rng.choice(1500, n, replace=False)
        acc = rng.choice([0.0, 1 / 3, 2 / 3, 1.0, math.nan], n, p=[0.3, 0.2, 0.2, 0.25, 0.05])
        ms = np.round(rng.lognormal(5, 0.5, n), 2)
        ms[rng.random(n) < 0.03] = math.nan
        rows.append((config % 2, config, example, acc, ms))
    # a padding repeat counted with include_repeats: one example twice in a config
    rows.append((0, 14, np.array([5, 5, 6]), np.array([1.0, 0.0, 1.0]), np.array([100.0, 300.0, 200.0])))
    inputs = {
        "grp": np.concatenate([np.full(len(r[2]), r[0]) for r in rows]),
        "config_run_id": np.concatenate([np.full(len(r[2]), r[1]) for r in rows]),
        "example": np.concatenate([r[2] for r in rows]),
        "accuracy": np.concatenate([r[3] for r in rows]),
        "ms": np.concatenate([r[4] for r in rows]),
    }
    order = rng.permutation(len(inputs["ms"]))  # the rows' order changes nothing
    resamples = 70
    out = step.compute({k: v[order] for k, v in inputs.items()}, {"resamples": resamples, "seed": 9, "latency_stat": stat})
    in_order = step.compute(inputs, {"resamples": resamples, "seed": 9, "latency_stat": stat})
    assert all(np.array_equal(out[k], v, equal_nan=True) for k, v in in_order.items())
    keys = np.unique(inputs["example"])
    for r in (0, 1, 37, resamples - 1):
        drawn = {int(k): int(w) for k, w in zip(keys, [weight(9, r, int(k)) for k in keys], strict=True)}
        for _, config, example, acc, ms in rows:
            i = np.flatnonzero((out["config_run_id"] == config) & (out["r"] == r))[0]
            accuracy, latency = _brute(acc, ms, example, drawn, stat)
            assert out["accuracy"][i] == pytest.approx(accuracy, rel=1e-9, nan_ok=True), (config, r)
            if stat == "mean":
                assert out["latency"][i] == pytest.approx(latency, rel=1e-9, nan_ok=True), (config, r)
            else:  # no sums: the very same bits as numpy's quantile of the expanded sample
                assert out["latency"][i] == latency or (math.isnan(latency) and math.isnan(out["latency"][i])), (config, r)
            assert out["n"][i] == (~np.isnan(ms)).sum()


def test_equal_data_gives_equal_bits_and_no_resample_is_no_rows(step):
    n = 500
    rng = np.random.default_rng(3)
    acc, ms = rng.choice([0.0, 1 / 3, 2 / 3, 1.0], n), rng.lognormal(5, 0.3, n)
    twice = {
        "grp": np.zeros(2 * n, dtype=np.int64),
        "config_run_id": np.repeat([1, 2], n),
        "example": np.tile(np.arange(n), 2),
        "accuracy": np.tile(acc, 2),
        "ms": np.tile(ms, 2),
    }
    for stat in ("mean", "p95"):
        out = step.compute(twice, {"resamples": 200, "seed": 0, "latency_stat": stat})
        one, two = out["config_run_id"] == 1, out["config_run_id"] == 2
        # identical configs are identical in every resample, whatever order the BLAS sums in
        assert np.array_equal(out["accuracy"][one], out["accuracy"][two])
        assert np.array_equal(out["latency"][one], out["latency"][two])
    assert {k: len(v) for k, v in step.compute(twice, {"resamples": 0, "seed": 0, "latency_stat": "mean"}).items()} == {
        "config_run_id": 0,
        "r": 0,
        "accuracy": 0,
        "latency": 0,
        "n": 0,
    }


# Coverage. With M replicates the share of 95% intervals holding the true value has a standard
# error of sqrt(0.95 * 0.05 / M): 0.69% at M = 1,000, so 93-97% is about +-3 standard errors around
# 95% (a method off by 2-3 points fails it; a correct one misses it about once in 400 seeds). The
# percentile bootstrap of a p95 covers a little under 95% for small samples (93.2% at n = 300 and
# 93.6% at n = 500 in trials of this simulation), so n = 2,000 examples, where it covers 94.9%.
# Every replicate has examples of its own (independent weights). R = 300 resamples: the ends move
# by a few tenths of a percent of coverage against R = 1,000. About 6 s.
REPLICATES, EXAMPLES, RESAMPLES = 1000, 2000, 300
P_ACCURACY, MU, SIGMA = 0.6, 5.0, 0.3  # Bernoulli(0.6) accuracies, lognormal(5, 0.3) latencies
TRUE_P95 = math.exp(MU + SIGMA * 1.6448536269514722)


def test_the_95_percent_intervals_cover_the_truth_95_percent_of_the_time(step):
    rng = np.random.default_rng(20261206)
    covered_accuracy = covered_p95 = 0
    for m in range(REPLICATES):
        inputs = {
            "grp": np.zeros(EXAMPLES, dtype=np.int64),
            "config_run_id": np.zeros(EXAMPLES, dtype=np.int64),
            "example": np.arange(EXAMPLES, dtype=np.int64) + m * EXAMPLES,
            "accuracy": (rng.random(EXAMPLES) < P_ACCURACY).astype(float),
            "ms": rng.lognormal(MU, SIGMA, EXAMPLES),
        }
        out = step.compute(inputs, {"resamples": RESAMPLES, "seed": 0, "latency_stat": "p95"})
        lo, hi = np.quantile(out["accuracy"], [0.025, 0.975])  # as config_uncertainty's quantile_cont
        covered_accuracy += lo <= P_ACCURACY <= hi
        lo, hi = np.quantile(out["latency"], [0.025, 0.975])
        covered_p95 += lo <= TRUE_P95 <= hi
    assert 0.93 <= covered_accuracy / REPLICATES <= 0.97, covered_accuracy
    assert 0.93 <= covered_p95 / REPLICATES <= 0.97, covered_p95


def test_the_queries_on_a_store_give_what_the_step_gives_on_its_arrays(step, tmp_path):
    """End to end: config_uncertainty's intervals are the percentiles of the step's resamples of
    the same samples (here 40 datasets of one config from the simulation's distribution)."""
    rng = np.random.default_rng(8)
    con = new_store(tmp_path / "sim.duckdb")
    arrays = {}
    for d in range(40):
        acc, ms = (rng.random(300) < P_ACCURACY).astype(float), rng.lognormal(MU, SIGMA, 300)
        run_id = add_config_run(
            con, dataset=f"sim{d:02d}", samples={"accuracy": acc, "T_total": ms, "example_id": np.arange(300)}
        )
        arrays[run_id] = (acc, ms)
    con.close()
    con = open_store(tmp_path / "sim.duckdb")
    rows = queries.run(con, "config_uncertainty", resamples=150, seed=4, latency_stat="p95").records()
    con.close()
    assert len(rows) == 40
    for row in rows:
        acc, ms = arrays[row["config_run_id"]]
        n = len(acc)
        out = step.compute(
            {
                "grp": np.zeros(n, dtype=np.int64),
                "config_run_id": np.zeros(n, dtype=np.int64),
                "example": np.arange(n),
                "accuracy": acc,
                "ms": ms,
            },
            {"resamples": 150, "seed": 4, "latency_stat": "p95"},
        )
        # quantile_cont and numpy's linear interpolation: the same up to their rounding
        assert [row["acc_lo"], row["acc_hi"]] == pytest.approx(np.quantile(out["accuracy"], [0.025, 0.975]), rel=1e-12)
        assert [row["lat_lo"], row["lat_hi"]] == pytest.approx(np.quantile(out["latency"], [0.025, 0.975]), rel=1e-12)
        assert row["p_frontier"] == 1.0  # alone in its dataset: on its frontier in every resample
        assert row["accuracy"] == pytest.approx(acc.mean(), rel=1e-12)


def test_the_thresholds_are_the_poisson_cdf(step):
    assert step.POISSON_1.tolist() == THRESHOLDS
    assert 2**64 - int(step.POISSON_1[-1]) <= 3  # P(Poisson(1) > 19) < 2^-64: nothing above it is lost
    assert registry.STEP_FILE.match("config_resamples.v1.py")


def test_every_weighted_sum_stays_exact_in_float64(step):
    """The scaled values' weighted sums stay below 2^53 (float64 holds every integer up to it):
    the bound the scale promises, on a config of 20,000 examples."""
    n = 20_000
    rng = np.random.default_rng(1)
    acc, ms = rng.choice([0.0, 1 / 3, 2 / 3, 1.0], n), rng.uniform(100.0, 700.0, n)
    group = step._Group(np.arange(n), np.zeros(n, dtype=np.int64), acc, ms, "mean")
    assert group.acc_scale == 2.0**31 and group.lat_scale == 2.0**22
    heaviest = np.full((1, n), float(step.MAX_WEIGHT))  # every example at the largest weight there is
    assert (heaviest @ np.abs(group.matrix.T)).max() < 2**51
