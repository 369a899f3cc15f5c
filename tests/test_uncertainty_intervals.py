"""Distribution-free percentile intervals (analysis.md, Uncertainty): prefill_stats@v3's
p5..p95 and latency_stats@v3's p50/p95/p99 `_lo`/`_hi` are the order statistics x(l), x(u) with
l = F^-1(0.025), u = F^-1(0.975) + 1 for F the CDF of Binomial(n, p), NULL where an end does not
exist. The expected ranks come from the binomial sum in exact integer arithmetic, here."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from budgetdb import queries
from budgetdb.store import open_store
from budgetdb.uncertainty import floor_n

from builders import add_config_run, new_store

# every floor on both sides (a finite interval needs n >= 6 for p50, 13 for p25/p75, 72 for p5/p95,
# 368 for p99), and sizes around and between them
SIZES = (1, 2, 5, 6, 12, 13, 35, 36, 71, 72, 150, 367, 368, 1001)


def ranks(n: int, p: str) -> tuple[int | None, int | None]:
    """(l, u), 1-based, None where the end is undefined, from F(k) = sum_{j<=k} C(n,j) p^j (1-p)^(n-j)
    compared with 0.025 and 0.975 exactly: p = a/d, so F(k) >= q is 40 * sum C(n,j) a^j b^(n-j) >= 40 q d^n."""
    share = Fraction(p)
    a, b, d = share.numerator, share.denominator - share.numerator, share.denominator
    whole = d**n
    term, total, lower = b**n, 0, None  # C(n,0) a^0 b^n, then each term from the one before (exactly)
    for k in range(n + 1):
        total += term
        if lower is None and 40 * total >= whole:  # F(k) >= 0.025
            lower = k
        if 40 * total >= 39 * whole:  # F(k) >= 0.975
            return (lower if lower >= 1 else None), (k + 1 if k + 1 <= n else None)
        term = term * (n - k) * a // ((k + 1) * b)
    raise AssertionError("F(n) is 1")


def test_the_brute_force_ranks_know_the_floors():
    assert ranks(5, "0.5") == (None, None) and ranks(6, "0.5") == (1, 6)
    assert ranks(71, "0.95")[1] is None and ranks(72, "0.95")[1] == 72
    assert ranks(71, "0.05")[0] is None and ranks(72, "0.05")[0] == 1
    assert ranks(367, "0.99")[1] is None and ranks(368, "0.99")[1] == 368
    assert [floor_n(p) for p in (0.5, 0.25, 0.75, 0.05, 0.95, 0.9, 0.99)] == [6, 13, 13, 72, 72, 36, 368]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One config run per size, each under a hardware of its own (prefill_stats pools a hardware)."""
    rng = np.random.default_rng(2027)
    path = tmp_path_factory.mktemp("intervals") / "budget.duckdb"
    con = new_store(path)
    values = {}
    for n in SIZES:
        total = np.round(rng.lognormal(5.5, 0.4, n), 3)  # rounded: ties between values happen
        prefill = np.round(rng.gamma(4.0, 30.0, n), 2)
        values[n] = (total, prefill)
        add_config_run(
            con,
            dataset="okvqa",
            hardware=f"hw{n:05d}",
            samples={"accuracy": np.ones(n), "T_total": total, "T_LLM_prefill": prefill, "example_id": np.arange(n)},
        )
    con.close()
    return path, values


def _expected(sorted_values: np.ndarray, n: int, p: str) -> tuple[float | None, float | None]:
    lo, hi = ranks(n, p)
    return (sorted_values[lo - 1] if lo else None), (sorted_values[hi - 1] if hi else None)


def test_latency_stats_intervals_are_the_order_statistics(store):
    path, values = store
    con = open_store(path)
    rows = {r["hardware"]: r for r in queries.run(con, "latency_stats@v3").records() if r["stage"] == "T_total"}
    before = {r["hardware"]: r for r in queries.run(con, "latency_stats@v2").records() if r["stage"] == "T_total"}
    con.close()
    for n in SIZES:
        row, total = rows[f"hw{n:05d}"], np.sort(values[n][0])
        for stat, p in (("p50", "0.5"), ("p95", "0.95"), ("p99", "0.99")):
            assert (row[f"{stat}_lo"], row[f"{stat}_hi"]) == _expected(total, n, p), (n, stat)
            assert row[stat] == before[f"hw{n:05d}"][stat], (n, stat)  # the same estimate as v2's quantile_cont
        assert row["mean"] == pytest.approx(total.mean(), rel=1e-12)


def test_prefill_stats_intervals_are_the_order_statistics(store):
    path, values = store
    con = open_store(path)
    rows = {r["hardware"]: r for r in queries.run(con, "prefill_stats@v3").records()}
    before = {r["hardware"]: r for r in queries.run(con, "prefill_stats@v2").records()}
    con.close()
    for n in SIZES:
        row, prefill = rows[f"hw{n:05d}"], np.sort(values[n][1])
        for stat, p in (("p5", "0.05"), ("p25", "0.25"), ("p50", "0.5"), ("p75", "0.75"), ("p95", "0.95")):
            assert (row[f"{stat}_lo"], row[f"{stat}_hi"]) == _expected(prefill, n, p), (n, stat)
            assert row[stat] == before[f"hw{n:05d}"][stat], (n, stat)
        assert (row["min"], row["max"], row["n"]) == (prefill[0], prefill[-1], n)
        assert row["mean"] == pytest.approx(prefill.mean(), rel=1e-12) and row["std"] == pytest.approx(prefill.std(), rel=1e-9)
    # the floors, as analysis.md states them
    assert rows["hw00005"]["p50_lo"] is None and rows["hw00005"]["p50_hi"] is None
    assert rows["hw00006"]["p50_lo"] is not None and rows["hw00006"]["p50_hi"] is not None
    assert rows["hw00071"]["p95_hi"] is None and rows["hw00071"]["p5_lo"] is None and rows["hw00071"]["p95_lo"] is not None
    assert rows["hw00072"]["p95_hi"] is not None and rows["hw00072"]["p5_lo"] is not None


def test_a_large_sample_uses_a_window_of_the_binomial_and_gets_the_same_ranks(tmp_path):
    """At 6,000 values the ranks come from a window of the binomial around n*p (the mass outside
    it is below 1e-30): the same ranks as the whole sum."""
    rng = np.random.default_rng(5)
    n = 6_000
    prefill = rng.permutation(np.arange(1, n + 1, dtype=float))  # x(k) = k: the value is the rank
    con = new_store(tmp_path / "big.duckdb")
    add_config_run(con, dataset="okvqa", samples={"accuracy": np.ones(n), "T_total": prefill, "T_LLM_prefill": prefill})
    con.close()
    con = open_store(tmp_path / "big.duckdb")
    row = queries.run(con, "prefill_stats@v3").records()[0]
    con.close()
    for stat, p in (("p5", "0.05"), ("p50", "0.5"), ("p95", "0.95")):
        assert (row[f"{stat}_lo"], row[f"{stat}_hi"]) == tuple(float(k) for k in ranks(n, p)), stat
