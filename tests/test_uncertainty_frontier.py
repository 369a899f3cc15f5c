"""Frontier stability and the tie-aware lookup on a tree built to know the answer:

- D (high 8/16): accuracy 0.9 at ~300 ms, the most accurate config: on the frontier in every resample;
- X (high 8/12): accuracy 0.3 at ~310 ms: D is more accurate and faster in every resample;
- twins T1 (low 4/12) and T2 (low 4/14): the same examples, the same base answers and latencies,
  each right on its own ~20 examples (T1 on one more) and T1 0.1 ms slower on average: both are on
  the point frontier, each dominates the other in some resamples (so 0.15 < p_frontier < 0.95),
  and nothing else can dominate them (D and X are slower), so one of them is on the frontier in
  every resample. At a budget only the twins fit the lookup is a tie; where D fits, it is not.
"""

from __future__ import annotations

import numpy as np
import pytest

from budgetdb import queries
from budgetdb.store import open_store

from builders import add_config_run, new_store

N, RESAMPLES = 300, 200


def twins_tree(path):
    rng = np.random.default_rng(12)
    ids = np.arange(N)
    base = (rng.random(N) < 0.6).astype(float)
    wrong = np.flatnonzero(base == 0)
    own_1, own_2 = wrong[:20], wrong[20:39]  # each twin right on examples of its own
    t1, t2 = base.copy(), base.copy()
    t1[own_1], t2[own_2] = 1.0, 1.0
    shared = rng.normal(200.0, 6.0, N)
    noise_1, noise_2 = rng.normal(0.0, 3.0, N), rng.normal(0.0, 3.0, N)
    lat_1 = shared + (noise_1 - noise_1.mean()) + 0.05  # means exactly 0.1 ms apart
    lat_2 = shared + (noise_2 - noise_2.mean()) - 0.05
    con = new_store(path)
    runs = {
        "D": ("high", 8, 16, (rng.random(N) < 0.9).astype(float), rng.normal(300.0, 5.0, N)),
        "X": ("high", 8, 12, (rng.random(N) < 0.3).astype(float), rng.normal(310.0, 5.0, N)),
        "T1": ("low", 4, 12, t1, lat_1),
        "T2": ("low", 4, 14, t2, lat_2),
    }
    out = {}
    for name, (tier, top_k, blocks, acc, total) in runs.items():
        samples = {"accuracy": acc, "T_total": total, "T_LLM_prefill": total / 2, "example_id": ids}
        out[name] = add_config_run(con, dataset="okvqa", tier=tier, top_k=top_k, blocks=blocks, samples=samples)
    con.close()
    return out


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    path = tmp_path_factory.mktemp("twins") / "budget.duckdb"
    return path, twins_tree(path)


def test_p_frontier_of_the_clear_and_the_undecided(tree):
    path, ids = tree
    con = open_store(path)
    rows = {r["config_run_id"]: r for r in queries.run(con, "config_uncertainty", resamples=RESAMPLES).records()}
    draws = queries.run(con, "config_resamples", resamples=RESAMPLES).records()
    frontier = {r["config_run_id"] for r in queries.run(con, "pareto_frontier").records()}
    con.close()
    p = {name: rows[i]["p_frontier"] for name, i in ids.items()}
    assert p["D"] > 0.99 and p["X"] < 0.01
    assert 0.15 < p["T1"] < 0.95 and 0.15 < p["T2"] < 0.95, p
    assert frontier == {ids["D"], ids["T1"], ids["T2"]}
    # in every resample one twin is on the frontier: they never dominate each other both ways
    by_r: dict[int, dict[int, tuple[float, float]]] = {}
    for d in draws:
        by_r.setdefault(d["r"], {})[d["config_run_id"]] = (d["accuracy"], d["latency"])

    def dominates(q, s):
        return q[0] >= s[0] and q[1] <= s[1] and (q[0] > s[0] or q[1] < s[1])

    one, two = ids["T1"], ids["T2"]
    assert len(by_r) == RESAMPLES
    assert not any(dominates(r[one], r[two]) and dominates(r[two], r[one]) for r in by_r.values())
    off = [sum(dominates(r[two], r[one]) for r in by_r.values()), sum(dominates(r[one], r[two]) for r in by_r.values())]
    assert [RESAMPLES - off[0], RESAMPLES - off[1]] == [round(p["T1"] * RESAMPLES), round(p["T2"] * RESAMPLES)]


def test_the_lookup_marks_the_twins_budget_a_tie_and_the_clear_one_not(tree):
    path, ids = tree
    con = open_store(path)
    rows = {r["budget"]: r for r in queries.run(con, "budget_lookup", budgets=[250, 350], resamples=RESAMPLES).records()}
    undecided = queries.run(con, "measure_next", budgets=[250, 350], resamples=RESAMPLES).records()
    con.close()
    twins = rows[250.0]
    assert (twins["config_run_id"], twins["runner_up_config_run_id"]) == (ids["T1"], ids["T2"])
    assert twins["delta_acc"] == pytest.approx(1 / N)
    assert twins["delta_lo"] <= 0 <= twins["delta_hi"] and twins["tie"] is True
    clear = rows[350.0]
    assert (clear["config_run_id"], clear["runner_up_config_run_id"]) == (ids["D"], ids["T1"])
    assert clear["delta_lo"] > 0.2 and clear["tie"] is False
    # what to measure next: the twins (in a tie, and on the fence), each against the other
    assert {r["config_run_id"] for r in undecided} == {ids["T1"], ids["T2"]}
    assert all("tie" in r["why"] for r in undecided)
    assert {(r["rival_tier"], r["rival_blocks"]) for r in undecided} == {("low", 12), ("low", 14)}


def test_p_frontier_is_a_brute_force_frontier_of_every_resample_ties_and_duplicates_included(tmp_path):
    """Points built to tie: one latency for several accuracies, twins with the same samples (exact
    duplicates in every resample), accuracies on a coarse grid. p_frontier counts, per config, the
    resamples whose O(n^2) frontier holds it."""
    rng = np.random.default_rng(5)
    con = new_store(tmp_path / "ties.duckdb")
    ids = np.arange(40)
    twin = {"accuracy": (rng.random(40) < 0.5).astype(float), "T_total": np.full(40, 200.0), "example_id": ids}
    for blocks in (12, 14):  # exact duplicates
        add_config_run(con, dataset="okvqa", tier="low", top_k=4, blocks=blocks, samples=twin)
    for i, (tier, top_k, blocks) in enumerate([("low", 8, 12), ("medium", 4, 12), ("medium", 8, 16), ("high", 8, 16)]):
        acc = (rng.random(40) < 0.3 + 0.1 * i).astype(float)
        ms = np.full(40, 200.0 if i < 2 else 190.0 + 20 * i)  # two of them at the twins' latency
        add_config_run(
            con,
            dataset="okvqa",
            tier=tier,
            top_k=top_k,
            blocks=blocks,
            samples={"accuracy": acc, "T_total": ms, "example_id": ids},
        )
    con.close()
    con = open_store(tmp_path / "ties.duckdb")
    rows = queries.run(con, "config_uncertainty", resamples=RESAMPLES).records()
    draws = queries.run(con, "config_resamples", resamples=RESAMPLES).records()
    con.close()
    by_r: dict[int, list[tuple[int, float, float]]] = {}
    for d in draws:
        if d["accuracy"] is not None and d["accuracy"] > 0:
            by_r.setdefault(d["r"], []).append((d["config_run_id"], d["accuracy"], d["latency"]))
    times: dict[int, int] = {}
    for points in by_r.values():
        for c, a, lat in points:
            if not any(a2 >= a and l2 <= lat and (a2 > a or l2 < lat) for _, a2, l2 in points):
                times[c] = times.get(c, 0) + 1
    assert {r["config_run_id"]: r["p_frontier"] for r in rows} == {
        r["config_run_id"]: times.get(r["config_run_id"], 0) / RESAMPLES for r in rows
    }
    assert len({r["p_frontier"] for r in rows}) > 2 and any(0 < r["p_frontier"] < 1 for r in rows)
