"""budgetdb compare on stores built so the answer is known (tests/compare_support.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import budgetdb
from budgetdb import comparing
from budgetdb.cli.app import app

from compare_support import CONFIGS, add_side, lake_store, slower, store
from lake_support import new_lake

R = 200  # resamples: enough for p-values down to 2/201, few enough to keep the suite fast


def cli(*args: str):
    return CliRunner().invoke(app, ["compare", *args])


def doc(*args: str) -> dict:
    result = cli(*args, "--resamples", str(R), "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """The baseline, and candidates: 10% slower everywhere, one config's accuracy changed, one
    config missing, a frontier point made slow enough to leave, the same data on other examples."""
    root = tmp_path_factory.mktemp("compare")

    def acc_change(config, rows):
        if config != ("medium", 8, 12):
            return rows
        acc = rows["accuracy"].copy()
        acc[np.flatnonzero(acc == 0)[:24]] = 1.0  # 0.50 -> 0.70 on the same examples
        return {**rows, "accuracy": acc}

    def missing(config, rows):
        return None if config == ("low", 4, 8) else rows

    def leaves(config, rows):
        return slower(1.3)(config, rows) if config == ("medium", 8, 12) else rows  # 169 ms: dominated by high 8/16

    def other_examples(config, rows):
        return {**rows, "example_id": rows["example_id"] + 10_000}

    return {
        "base": store(root / "base.duckdb"),
        "slow": store(root / "slow.duckdb", change=slower(1.1)),
        "acc": store(root / "acc.duckdb", change=acc_change),
        "missing": store(root / "missing.duckdb", change=missing),
        "leaves": store(root / "leaves.duckdb", change=leaves),
        "unpaired": store(root / "unpaired.duckdb", change=other_examples),
        "elsewhere": store(root / "elsewhere.duckdb", dataset="text-vqa"),
        "others": store(root / "others.duckdb", configs=[(("high", 32, 16), 200.0, 0.7)]),
    }


def test_a_uniform_slowdown_is_flagged_everywhere_and_its_interval_holds_the_factor(stores):
    d = doc("--db", str(stores["base"]), "--against-db", str(stores["slow"]))
    assert len(d["configs"]) == len(CONFIGS)
    for c in d["configs"]:
        assert c["paired"] is True
        assert c["latency_ratio"] == pytest.approx(1.1, rel=1e-12)
        assert c["ratio_lo"] <= 1.1 * (1 + 1e-12) and c["ratio_hi"] >= 1.1 * (1 - 1e-12)
        assert c["latency_changed"] is True and c["accuracy_changed"] is False
        assert c["delta_acc"] == 0 and c["delta_lo"] == 0 and c["delta_hi"] == 0
    s = d["summary"]
    assert s["geomean_ratio"] == pytest.approx(1.1, rel=1e-12)
    assert s["geomean_lo"] <= 1.1 * (1 + 1e-12) <= s["geomean_hi"] * (1 + 2e-12)
    assert s["n_latency_changed"] == len(CONFIGS) and s["n_accuracy_changed"] == 0
    # the budget range moves with the frontier: 100-190 ms -> 110-209 ms
    assert (s["baseline"]["lower"], s["baseline"]["upper"]) == (100, 190)
    assert (s["candidate"]["lower"], s["candidate"]["upper"]) == (110, 210)
    assert s["baseline"]["budgets"] == [100, 150, 190] and s["candidate"]["budgets"] == [110, 150, 200, 210]


def test_a_change_inside_the_noise_band_is_no_change(stores, tmp_path):
    """0.5% slower everywhere: significant (every resample says so), but inside the ±1% band: "~";
    with a band of ±0.1% it is a change."""
    slight = store(tmp_path / "slight.duckdb", change=slower(1.005))
    args = ("--db", str(stores["base"]), "--against-db", str(slight))
    inside, outside = doc(*args), doc(*args, "--noise-latency", "0.001")
    assert all(c["q_latency"] < 0.01 and not c["latency_changed"] for c in inside["configs"])
    assert all(c["latency_changed"] for c in outside["configs"])
    text = cli(*args, "--resamples", "50", "--lang", "en").stdout
    rows = [line for line in text.splitlines() if line.startswith("| okvqa")]
    assert len(rows) == 5 and all(" | ~ | " in line and "↑" not in line for line in rows)


def test_an_accuracy_change_on_one_config_flags_it_alone(stores):
    d = doc("--db", str(stores["base"]), "--against-db", str(stores["acc"]))
    flagged = [(c["tier"], c["top_k"], c["num_active_blocks"]) for c in d["configs"] if c["accuracy_changed"]]
    assert flagged == [("medium", 8, 12)]
    changed = next(c for c in d["configs"] if c["top_k"] == 8 and c["tier"] == "medium")
    assert changed["delta_acc"] == pytest.approx(0.2) and changed["delta_lo"] > 0.1 and changed["p_accuracy"] < 0.05
    assert not any(c["latency_changed"] for c in d["configs"])
    assert all(c["latency_ratio"] == 1 and c["p_latency"] == 1 for c in d["configs"])


def test_a_config_on_one_side_only_is_listed(stores):
    d = doc("--db", str(stores["base"]), "--against-db", str(stores["missing"]))
    assert [(c["tier"], c["top_k"]) for c in d["only_baseline"]] == [("low", 4)] and d["only_candidate"] == []
    assert len(d["configs"]) == len(CONFIGS) - 1
    d = doc("--db", str(stores["missing"]), "--against-db", str(stores["base"]))
    assert [(c["tier"], c["top_k"]) for c in d["only_candidate"]] == [("low", 4)] and d["only_baseline"] == []


def test_a_run_with_a_stored_summary_only_is_listed_not_compared(stores, tmp_path):
    from builders import add_config_run, new_store

    path = tmp_path / "summary_only.duckdb"
    con = new_store(path)
    add_side(con, change=lambda config, rows: None if config == ("low", 4, 8) else rows)
    add_config_run(con, dataset="okvqa", tier="low", top_k=4, blocks=8, experiment="exp",
                   summary={"accuracy": 0.4, "latency_stats": {"T_total_mean": 100.0}})  # fmt: skip
    con.close()
    d = doc("--db", str(stores["base"]), "--against-db", str(path))
    assert [(c["tier"], c["top_k"]) for c in d["without_samples"]["candidate"]] == [("low", 4)]
    assert d["without_samples"]["baseline"] == [] and [c["top_k"] for c in d["only_baseline"]] == [4]
    text = cli("--db", str(stores["base"]), "--against-db", str(path), "--resamples", "20", "--lang", "en").stdout
    assert "**Not compared (a stored summary only, no per-sample rows) (Candidate)**: okvqa low top_k=4 blocks=8" in text


def test_a_frontier_point_that_leaves_and_the_lookup_entries_it_changes(stores):
    d = doc("--db", str(stores["base"]), "--against-db", str(stores["leaves"]), "--lang", "en")
    (okvqa,) = d["summary"]["datasets"]
    assert [(m["tier"], m["top_k"], m["num_active_blocks"]) for m in okvqa["frontier_left"]] == [("medium", 8, 12)]
    assert okvqa["frontier_left"][0]["beyond_noise"] is True and okvqa["frontier_entered"] == []
    # at 150 ms the baseline chose medium 8/12 (130 ms); the candidate can only afford low 4/8
    changed = {e["budget"]: e for e in okvqa["lookup_changed"]}
    assert changed[150]["baseline"]["top_k"] == 8 and changed[150]["candidate"]["top_k"] == 4
    moved = next(c for c in d["configs"] if c["tier"] == "medium" and c["top_k"] == 8)
    assert moved["on_frontier_baseline"] and not moved["on_frontier_candidate"]
    assert moved["p_frontier_baseline"] > 0.9 and moved["p_frontier_candidate"] < 0.1


def test_the_pairing(stores, tmp_path):
    copy = store(tmp_path / "copy.duckdb")
    paired = doc("--db", str(stores["base"]), "--against-db", str(copy))
    unpaired = doc("--db", str(stores["base"]), "--against-db", str(stores["unpaired"]))
    for p, u in zip(paired["configs"], unpaired["configs"], strict=True):
        assert p["paired"] is True and u["paired"] is False
        # identical data, identical weights: every resample's ratio is 1; independent weights spread it
        assert p["ratio_lo"] == p["ratio_hi"] == 1 and p["delta_lo"] == p["delta_hi"] == 0
        assert u["ratio_lo"] < 1 < u["ratio_hi"] and u["delta_lo"] < 0 < u["delta_hi"]
        assert u["latency_ratio"] == 1 and not u["latency_changed"] and not u["accuracy_changed"]


def test_pure_noise_flags_nothing_beyond_the_false_discovery_rate(tmp_path):
    """20 independent null comparisons (datasets), each 5 configs whose candidate is the baseline's
    examples measured again with fresh noise (latency and accuracy): Benjamini-Hochberg keeps the
    chance of any false flag in a comparison near q = 0.05 (a binomial(20, 0.05) is above 4 with
    probability 0.3%); without it, 10 tests at 0.05 each would flag about 40% of them."""
    path = tmp_path / "noise.duckdb"
    from builders import new_store

    con = new_store(path)
    for k in range(20):
        add_side(con, hardware="h100", dataset=f"d{k:02d}", seed=k, exact=False)
        add_side(con, hardware="a100", dataset=f"d{k:02d}", seed=100 + k, exact=False)  # the same truth, other noise
    con.close()
    con = comparing.open_sides(comparing.CompareOptions(db=path))
    any_flag = 0
    try:
        for k in range(20):
            options = comparing.CompareOptions(
                db=path, hardware=("h100",), against_hardware=("a100",), datasets=(f"d{k:02d}",), resamples=100, seed=k
            )
            result = comparing.compare(con, options)
            any_flag += any(c["latency_changed"] or c["accuracy_changed"] for c in result["configs"])
    finally:
        con.close()
    assert any_flag <= 4


def test_hardware_against_hardware_in_one_store(tmp_path):
    from builders import new_store

    path = tmp_path / "two_gpus.duckdb"
    con = new_store(path)
    add_side(con, hardware="h100")
    add_side(con, hardware="a100", change=slower(1.25))
    con.close()
    d = doc("--db", str(path), "--hardware", "h100", "--against-hardware", "A100")
    assert d["baseline"]["hardware"] == ["h100"] and d["candidate"]["hardware"] == ["a100"]
    assert all(c["latency_ratio"] == pytest.approx(1.25) and c["latency_changed"] for c in d["configs"])
    # one side holding two hardware cannot be matched config by config
    result = cli("--db", str(path), "--against-hardware", "a100", "--resamples", "0")
    assert result.exit_code == 1
    assert "the baseline side has 2 runs of okvqa" in result.output and "--hardware" in result.output


def test_experiment_against_experiment_and_the_python_api(tmp_path):
    from builders import new_store

    path = tmp_path / "two_experiments.duckdb"
    con = new_store(path)
    add_side(con, experiment="A")
    add_side(con, experiment="B", change=slower(0.9))
    con.close()
    d = budgetdb.compare(db=path, experiments="A", against_experiments="B", resamples=R)
    assert d["summary"]["geomean_ratio"] == pytest.approx(0.9)
    assert all(c["latency_changed"] for c in d["configs"])
    text = budgetdb.compare(db=path, experiments="A", against_experiments="B", resamples=R, format="markdown", lang="en")
    assert "↓" in text and "0.900×" in text


def test_mismatched_scopes_fail_with_one_line(stores):
    base = str(stores["base"])
    cases = [
        (("--db", base, "--against-db", str(stores["elsewhere"])), "different datasets only"),
        (("--db", base, "--against-db", str(stores["others"])), "nothing matched"),
        (("--db", base), "the two sides are the same scope"),
        (("--db", base, "--against-hardware", "a100"), "candidate: no hardware 'a100'"),
        (("--db", base, "--against-db", str(stores["slow"]), "--latency-stat", "p90"), "must be one of mean, p50, p95, p99"),
    ]
    for args, message in cases:
        result = cli(*args, "--resamples", "0")
        assert result.exit_code == 1, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.output


def test_the_same_scope_twice_is_an_error(stores):
    result = cli("--db", str(stores["base"]), "--against-db", str(stores["base"]), "--against-experiment", "exp")
    assert result.exit_code == 1 and "the two sides are the same scope" in result.output


def test_json_schema_and_the_same_bytes(stores):
    args = ("--db", str(stores["base"]), "--against-db", str(stores["missing"]), "--resamples", "50", "--format", "json")
    first, second = cli(*args), cli(*args)
    assert first.exit_code == 0 and first.stdout == second.stdout
    d = json.loads(first.stdout)
    assert {"configs", "only_baseline", "only_candidate", "summary"} <= set(d)
    contract = {"dataset", "tier", "variant", "top_k", "num_active_blocks", "latency_ratio", "ratio_lo", "ratio_hi",
                "delta_acc", "delta_lo", "delta_hi", "latency_changed", "accuracy_changed", "paired"}  # fmt: skip
    assert all(contract <= set(c) for c in d["configs"])
    assert {"geomean_ratio", "geomean_lo", "geomean_hi", "datasets"} <= set(d["summary"])
    for entry in d["summary"]["datasets"]:
        for side in ("baseline", "candidate"):
            assert {"lower", "upper", "budgets"} <= set(entry[side])
    assert [q["ref"] for q in d["queries"]][-1] == "compare_lookup@v1"


def test_markdown_in_both_languages_with_the_footer(stores, tmp_path):
    args = ("--db", str(stores["base"]), "--against-db", str(stores["slow"]), "--resamples", "50")
    zh, en = cli(*args), cli(*args, "--lang", "en")
    assert zh.exit_code == 0 and en.exit_code == 0
    assert "对比：基线 → 候选" in zh.stdout and "预算范围" in zh.stdout and "100–190 ms → 110–210 ms" in zh.stdout
    assert "Comparison: baseline → candidate" in en.stdout and "Budget range**: 100–190 ms → 110–210 ms" in en.stdout
    for text in (zh.stdout, en.stdout):
        assert "compare_resamples.v1.py" in text and "`compare_configs@v1` sha256" in text and "seed 0" in text
        assert str(stores["slow"]) in text
    out = tmp_path / "cmp.md"
    assert cli(*args, "-o", str(out)).exit_code == 0 and out.read_text(encoding="utf-8") == zh.stdout
    refused = cli(*args, "-o", str(stores["slow"]))
    assert refused.exit_code == 1 and "is the store itself" in refused.output


def test_query_run_reads_the_candidate_as_the_catalog_against(stores):
    result = CliRunner().invoke(
        app,
        ["query", "run", "compare_configs", "--db", str(stores["base"]), "--against-db", str(stores["slow"]),
         "-p", "resamples=20", "-F", "json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["latency_ratio"] for r in rows] == pytest.approx([1.1] * len(CONFIGS))
    frame = budgetdb.query("compare_summary", db=stores["base"], against_db=stores["slow"], resamples=20)
    assert frame.geomean_ratio.tolist() == pytest.approx([1.1, 1.1])


@pytest.mark.parametrize("kind", ["local", "postgres"])
def test_a_ducklake_snapshot_against_the_lake_now(kind, tmp_path, request):
    lake = new_lake(kind, tmp_path, request)
    con = lake_store(lake.db, lake.data_path)
    add_side(con, configs=CONFIGS[:4])
    snapshot = con.execute("SELECT max(snapshot_id) FROM ducklake_snapshots('budget_lake')").fetchone()[0]
    add_side(con, configs=CONFIGS[4:])  # a config measured later
    con.close()
    d = doc(*lake.args, "--snapshot", str(snapshot))
    assert len(d["configs"]) == 4 and [c["top_k"] for c in d["only_candidate"]] == [4]
    assert all(c["latency_ratio"] == 1 and not c["latency_changed"] for c in d["configs"])
    assert d["baseline"]["snapshot"] == snapshot and d["candidate"]["snapshot"] is None
    # a DuckDB file has no snapshots; the same snapshot twice is the same scope
    result = cli(*lake.args, "--snapshot", str(snapshot), "--against-snapshot", str(snapshot), "--resamples", "0")
    assert result.exit_code == 1 and "the same scope" in result.output


def test_a_snapshot_of_a_duckdb_file_is_an_error(stores):
    result = cli("--db", str(stores["base"]), "--against-snapshot", "1", "--resamples", "0")
    assert result.exit_code == 1 and "snapshots are a DuckLake's" in result.output
