"""prefill_stats, decode_stats and latency_stats against numpy on the raw values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from budgetdb import connect, queries

from builders import add_config_run, new_store

STAGES = ("T_vision_total", "T_LLM_prefill", "T_LLM_decode", "T_total", "T_decode_per_token")
NAN = math.nan

# (hardware, experiment, dataset, tier, top_k, blocks) -> raw per-sample columns
RUNS = {
    ("h100", "exp_a", "okvqa", "low", 4, 12): {
        "accuracy": [1, 0, 1 / 3, 2 / 3, 1],
        "T_vision_total": [10.0, 11.0, NAN, 12.5, 10.25],
        "T_LLM_prefill": [101.5, NAN, 0.0, 140.25, 99.0],
        "T_LLM_decode": [50.0, 60.0, 70.0, 0.0, 55.5],
        "T_total": [170.0, 180.5, 190.0, 200.0, 165.0],
        "T_decode_per_token": [5.0, 6.0, 7.0, NAN, 5.5],
        "output_tokens": [10, 10, 10, 1, 10],
    },
    ("h100", "exp_a", "text-vqa", "high", 8, 16): {
        "accuracy": [1, 1, 0, 2 / 3],
        "T_vision_total": [20.0, 21.0, 22.0, 23.0],
        "T_LLM_prefill": [150.0, 161.25, 172.5, 607.7],
        "T_LLM_decode": [80.0, 0.0, 82.0, 83.0],  # 0.0 of a 10-token answer: the hook never fired
        "T_total": [260.0, 270.0, 280.0, 720.0],
        "T_decode_per_token": [8.0, 0.0, 8.2, 8.3],
        "output_tokens": [10, 10, 10, 10],
    },
    ("a100", "exp_b", "okvqa", "medium", 6, 14): {
        "accuracy": [0, 1 / 3, 1],
        "T_vision_total": [15.0, 16.0, 17.0],
        "T_LLM_prefill": [200.0, 210.0, 68.7],
        "T_LLM_decode": [NAN, NAN, NAN],
        "T_total": [300.0, 310.0, 320.0],
        "T_decode_per_token": [NAN, NAN, NAN],
        "output_tokens": [3, 4, 5],
    },
}
ZERO_SAMPLE_RUN = ("h100", "exp_a", "okvqa", "high", 8, 16)
ZERO_SAMPLE_SUMMARY = {
    "accuracy": 0.5,
    "latency_stats": {"T_total_mean": 400.0, "T_total_p95": 450.0, "T_LLM_prefill_mean": 130.0},
    "aggregate_stats": {"T_total_mean": 999.0, "T_LLM_decode_p50": 77.0},
}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("stats") / "stats.duckdb"
    con = new_store(path)
    for (hardware, experiment, dataset, tier, top_k, blocks), columns in RUNS.items():
        add_config_run(
            con, hardware=hardware, experiment=experiment, dataset=dataset, tier=tier, top_k=top_k, blocks=blocks, samples=columns
        )
    hardware, experiment, dataset, tier, top_k, blocks = ZERO_SAMPLE_RUN
    add_config_run(
        con,
        hardware=hardware,
        experiment=experiment,
        dataset=dataset,
        tier=tier,
        top_k=top_k,
        blocks=blocks,
        summary=ZERO_SAMPLE_SUMMARY,
    )
    con.close()
    con = connect(path)
    yield con
    con.close()


def raw(column, **scope):
    """Every raw value of `column` in scope (runs matching the given key parts)."""
    keys = ("hardware", "experiment", "dataset")
    values = []
    for run, columns in RUNS.items():
        if all(scope.get(k) is None or run[i] in scope[k] for i, k in enumerate(keys)):
            values += list(columns[column])
    return np.array(values, dtype=float)


def valid(values, output_tokens=None):
    """The analysis' rule: NaN and exactly 0.0 are missing, except a 0.0 decode of a one-token
    answer (pass its output_tokens), which is a measurement: no decode step ran."""
    keep = ~np.isnan(values) & (values != 0.0)
    if output_tokens is not None:
        keep |= (values == 0.0) & (np.asarray(output_tokens) == 1)
    return values[keep]


DECODE = ("T_LLM_decode", "T_decode_per_token")


@pytest.mark.parametrize(
    "scope",
    [{}, {"hardware": ["h100"]}, {"dataset": ["okvqa"]}, {"experiment": ["exp_b"]}, {"hardware": ["h100"], "dataset": ["okvqa"]}],
)
def test_prefill_stats_is_numpy_on_the_valid_raw_values(store, scope):
    rows = queries.run(store, "prefill_stats", scope).records()
    hardware = sorted({run[0] for run in RUNS if scope.get("hardware") is None or run[0] in scope["hardware"]})
    in_scope = [hw for hw in hardware if len(raw("T_LLM_prefill", **{**scope, "hardware": [hw]}))]
    assert [r["hardware"] for r in rows] == in_scope  # one row per hardware: two GPUs are never pooled
    for row in rows:
        everything = raw("T_LLM_prefill", **{**scope, "hardware": [row["hardware"]]})
        values = valid(everything)
        assert row["n"] == len(values)
        assert row["n_missing"] == len(everything) - len(values)
        assert row["n_repeats"] == 0
        expected = dict(zip(("p5", "p25", "p50", "p75", "p95"), np.percentile(values, [5, 25, 50, 75, 95]), strict=True))
        expected.update(min=values.min(), max=values.max(), mean=values.mean(), std=np.std(values))
        for key, value in expected.items():
            assert row[key] == pytest.approx(value, rel=1e-12), key


def test_prefill_stats_of_an_empty_scope_is_one_row_of_nulls(store):
    result = queries.run(store, "prefill_stats", {"dataset": "no-such-dataset"})
    assert result.records() == [dict.fromkeys(result.columns) | {"n": 0, "n_missing": 0, "n_repeats": 0}]


def test_decode_stats_is_numpy_on_the_valid_raw_values(store):
    for scope in ({"hardware": ["h100"]}, {"dataset": ["text-vqa"]}, {"hardware": ["a100"]}):
        tokens = raw("output_tokens", **scope)
        everything = raw("T_LLM_decode", **scope)
        decode = valid(everything, tokens)
        per_token = valid(raw("T_decode_per_token", **scope), tokens)
        (row,) = queries.run(store, "decode_stats", scope).records()
        assert row["n"] == len(decode)
        assert row["n_missing"] == len(everything) - len(decode)
        assert row["output_tokens_mean"] == pytest.approx(tokens.mean())
        if len(decode):
            assert row["mean"] == pytest.approx(decode.mean())
            assert row["p50"] == pytest.approx(np.median(decode))
            assert row["p95"] == pytest.approx(np.percentile(decode, 95))
        else:
            assert (row["mean"], row["p50"], row["p95"]) == (None, None, None)
        assert row["per_token_mean"] == (pytest.approx(per_token.mean()) if len(per_token) else None)


def test_latency_stats_per_run_and_stage(store):
    rows = queries.run(store, "latency_stats").records()
    by_key = {
        (r["hardware"], r["experiment"], r["dataset"], r["tier"], r["top_k"], r["num_active_blocks"], r["stage"]): r for r in rows
    }
    assert len(rows) == (len(RUNS) + 1) * len(STAGES)
    for run, columns in RUNS.items():
        for stage in STAGES:
            row = by_key[(*run, stage)]
            values = valid(np.array(columns[stage], dtype=float), columns["output_tokens"] if stage in DECODE else None)
            assert row["source"] == "samples"
            assert row["n"] == len(values)
            if len(values):
                assert row["mean"] == pytest.approx(values.mean())
                for stat, q in (("p50", 50), ("p95", 95), ("p99", 99)):
                    assert row[stat] == pytest.approx(np.percentile(values, q)), (run, stage, stat)
            else:
                assert [row[s] for s in ("mean", "p50", "p95", "p99")] == [None] * 4


def test_latency_stats_of_a_zero_sample_run_come_from_its_summary(store):
    rows = [r for r in queries.run(store, "latency_stats").records() if r["source"] == "summary"]
    by_stage = {r["stage"]: r for r in rows}
    assert set(by_stage) == set(STAGES)
    assert all(r["n"] is None for r in rows)
    # latency_stats wins over aggregate_stats key by key; a key only aggregate_stats has is used
    assert (by_stage["T_total"]["mean"], by_stage["T_total"]["p95"], by_stage["T_total"]["p50"]) == (400.0, 450.0, None)
    assert by_stage["T_LLM_prefill"]["mean"] == 130.0
    assert by_stage["T_LLM_decode"]["p50"] == 77.0
    assert by_stage["T_vision_total"]["mean"] is None


def test_latency_stats_are_ordered_and_filtered(store):
    rows = queries.run(store, "latency_stats", {"dataset": "okvqa", "hardware": "h100"}).records()
    assert {(r["dataset"], r["hardware"]) for r in rows} == {("okvqa", "h100")}
    assert [r["tier"] for r in rows[:: len(STAGES)]] == ["low", "high"]
    assert [r["stage"] for r in rows[: len(STAGES)]] == list(STAGES)
