"""compare_resamples' numpy step against its definition (brute force with the weights written out
in plain Python), and compare_configs' p-values and Benjamini-Hochberg against their formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from budgetdb import comparing, queries
from budgetdb.queries.numpy_steps import _module

from compare_support import slower, store
from test_uncertainty_bootstrap import _brute, weight

UNPAIRED = 2**31


@pytest.fixture(scope="module")
def step():
    return _module(queries.get("compare_resamples@v1").numpy)


def _inputs(rng):
    """cfg 1 on the same examples on both sides (paired), cfg 2 on other examples (unpaired), cfg 3 on
    the baseline only, cfg 4 paired but a sample without an example_id (keyed by position: unpaired)."""
    runs = []
    ids = rng.choice(5000, 150, replace=False)
    for side, cfg, examples, has_id in (
        (0, 1, ids, 1),
        (1, 1, ids, 1),
        (0, 2, ids[:100], 1),
        (1, 2, rng.choice(5000, 90, replace=False), 1),
        (0, 3, rng.choice(5000, 1500, replace=False), 1),  # a quantile's band well inside its values
        (0, 4, ids[:40], 1),
        (1, 4, ids[:40], 0),
    ):
        n = len(examples)
        acc = rng.choice([0.0, 0.5, 1.0, math.nan], n, p=[0.4, 0.1, 0.45, 0.05])
        ms = np.round(rng.lognormal(5, 0.3, n), 3)
        ms[rng.random(n) < 0.03] = math.nan
        runs.append((side, cfg, np.asarray(examples), has_id, acc, ms))
    inputs = {
        "side": np.concatenate([np.full(len(r[2]), r[0]) for r in runs]),
        "cfg": np.concatenate([np.full(len(r[2]), r[1]) for r in runs]),
        "grp": np.concatenate([np.full(len(r[2]), 1) for r in runs]),
        "example": np.concatenate([r[2] for r in runs]),
        "has_id": np.concatenate([np.full(len(r[2]), r[3]) for r in runs]),
        "accuracy": np.concatenate([r[4] for r in runs]),
        "ms": np.concatenate([r[5] for r in runs]),
    }
    return runs, inputs


@pytest.mark.parametrize("stat", ["mean", "p95"])
def test_each_side_is_reweighted_by_its_stream(step, stat):
    rng = np.random.default_rng(5)
    runs, inputs = _inputs(rng)
    seed, resamples = 7, 40
    out = step.compute(inputs, {"resamples": resamples, "seed": seed, "latency_stat": stat})
    order = rng.permutation(len(inputs["ms"]))
    shuffled = step.compute(
        {k: v[order] for k, v in inputs.items()}, {"resamples": resamples, "seed": seed, "latency_stat": stat}
    )
    assert all(np.array_equal(out[k], v, equal_nan=True) for k, v in shuffled.items())  # the rows' order changes nothing
    paired = {1: 1, 2: 0, 3: 0, 4: 0}
    for side, cfg, examples, _, acc, ms in runs:
        rows = (out["cfg"] == cfg) & (out["side"] == side)
        assert set(out["paired"][rows]) == {paired[cfg]}
        stream = seed if side == 0 or paired[cfg] else seed + UNPAIRED
        for r in (-1, 0, 13, resamples - 1):
            drawn = {int(e): 1 if r < 0 else weight(stream, r, int(e)) for e in examples}
            accuracy, latency = _brute(acc, ms, examples, drawn, stat)
            i = np.flatnonzero(rows & (out["r"] == r))[0]
            assert out["accuracy"][i] == pytest.approx(accuracy, rel=1e-9, nan_ok=True), (side, cfg, r)
            assert out["latency"][i] == pytest.approx(latency, rel=1e-9, nan_ok=True), (side, cfg, r)
            assert out["n"][i] == (~np.isnan(ms)).sum()


def test_the_baseline_side_gets_config_resamples_weights(tmp_path):
    """The baseline is resampled exactly as the report's config_resamples resamples it."""
    base = store(tmp_path / "base.duckdb")
    other = store(tmp_path / "other.duckdb", change=slower(1.05))
    options = comparing.CompareOptions(db=base, against_db=other)
    con = comparing.open_sides(options)
    try:
        params = {"resamples": 30, "seed": 3}
        ours = queries.run(con, "compare_resamples", params).records()
        runs = {r["cfg"]: r["config_run_id"] for r in queries.run(con, "compare_runs").records() if r["side"] == "baseline"}
        theirs = {(r["config_run_id"], r["r"]): r for r in queries.run(con, "config_resamples", params).records()}
    finally:
        con.close()
    checked = 0
    for row in ours:
        if row["side"] != 0 or row["r"] < 0:
            continue
        twin = theirs[(runs[row["cfg"]], row["r"])]
        assert row["accuracy"] == pytest.approx(twin["accuracy"], rel=1e-9) and row["n"] == twin["n"]
        assert row["latency"] == pytest.approx(twin["latency"], rel=1e-9)
        checked += 1
    assert checked == 5 * 30


def _bh(p: list[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values, by the textbook: q_(k) = min over j >= k of m p_(j) / j."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    q = [0.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, m * p[i] / rank)
        q[i] = running
    return q


def test_p_values_and_benjamini_hochberg_follow_their_formulas(tmp_path):
    def shifted(config, rows):  # a different small change per config: p-values spread over (0, 1)
        k = config[1] * 7 + config[2]
        factor = 1 + 0.004 * ((k % 5) - 2)
        acc = rows["accuracy"].copy()
        acc[np.flatnonzero(acc == 0)[: k % 4]] = 1.0
        return {**rows, "T_total": rows["T_total"] * factor * np.exp(np.random.default_rng(k).normal(0, 0.01, len(acc))),
                "accuracy": acc}  # fmt: skip

    base = store(tmp_path / "base.duckdb")
    other = store(tmp_path / "other.duckdb", change=shifted)
    con = comparing.open_sides(comparing.CompareOptions(db=base, against_db=other))
    try:
        rows = queries.run(con, "compare_resamples", resamples=100).records()
        configs = queries.run(con, "compare_configs", resamples=100).records()
    finally:
        con.close()
    draws: dict = {}
    for row in rows:
        draws.setdefault((row["cfg"], row["r"]), {})[row["side"]] = row
    ps = []
    for c in configs:
        pairs = [draws[(c["cfg"], r)] for r in range(100)]
        log_ratio = np.array([math.log(d[1]["latency"] / d[0]["latency"]) for d in pairs])
        delta = np.array([d[1]["accuracy"] - d[0]["accuracy"] for d in pairs])
        for x, spread, p in (
            (math.log(c["latency_ratio"]), log_ratio.std(ddof=1), c["p_latency"]),
            (c["delta_acc"], delta.std(ddof=1), c["p_accuracy"]),
        ):
            expected = 1.0 if x == 0 else (0.0 if spread == 0 else math.erfc(abs(x) / spread / math.sqrt(2)))
            assert p == pytest.approx(expected, abs=2e-7)
        assert c["ratio_lo"] == pytest.approx(np.quantile(np.exp(log_ratio), 0.025), rel=1e-12)
        assert c["delta_hi"] == pytest.approx(np.quantile(delta, 0.975), abs=1e-12)
        ps += [("latency", c["cfg"], c["p_latency"]), ("accuracy", c["cfg"], c["p_accuracy"])]
    q = dict(zip([(t, cfg) for t, cfg, _ in ps], _bh([p for _, _, p in ps]), strict=True))
    assert len({p for *_, p in ps}) > 4  # the p-values differ: BH's ranks matter
    for c in configs:
        assert c["q_latency"] == pytest.approx(q[("latency", c["cfg"])], rel=1e-12)
        assert c["q_accuracy"] == pytest.approx(q[("accuracy", c["cfg"])], rel=1e-12)
        inside = 0.99 <= c["ratio_lo"] and c["ratio_hi"] <= 1.01
        assert c["latency_changed"] == (c["q_latency"] <= 0.05 and not inside)
