"""The report's uncertainty (--resamples N, N > 0): added beside the seed's figures, never instead;
bounds instead of numbers where a sample is too small; small configs flagged; what to measure next
with its GPU time; the footer; the same bytes twice, and the same figures on a DuckLake."""

from __future__ import annotations

import hashlib
import math
import re
from importlib import resources

import numpy as np
import pytest
from test_uncertainty_frontier import twins_tree
from typer.testing import CliRunner

import budgetdb
from budgetdb import demo, queries
from budgetdb.cli.app import app
from budgetdb.store import open_store

from builders import add_config_run, new_store
from lake_support import new_lake
from report_helpers import leak, report, section

RESAMPLES = 200


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    path = tmp_path_factory.mktemp("twins_report") / "budget.duckdb"
    return path, twins_tree(path)


@pytest.fixture(scope="module")
def twins_en(twins):
    return report(twins[0], lang="en", resamples=RESAMPLES)


def _rows(path, name, **params):
    if any(p.name == "resamples" for p in queries.plan(name).params):
        params.setdefault("resamples", RESAMPLES)
    con = open_store(path)
    try:
        return queries.run(con, name, **params).records()
    finally:
        con.close()


def test_frontier_stability_lines(twins, twins_en):
    stability = {r["dataset"]: r for r in _rows(twins[0], "frontier_stability")}["okvqa"]
    line = next(line for line in twins_en.split("\n") if line.startswith("- **OKVQA**: "))
    assert line.startswith("- **OKVQA**: 3 points, 1 with p_frontier >= 0.9; highest 0.9200 [")
    hi = f"{stability['hi_accuracy']:.4f} [{stability['hi_acc_lo']:.4f}, {stability['hi_acc_hi']:.4f}]"
    hi += f" @ {stability['hi_latency']:.2f}ms [{stability['hi_lat_lo']:.2f}, {stability['hi_lat_hi']:.2f}] (p_frontier 1.00)"
    assert f"; highest {hi}; lowest 0.6133 [" in line
    assert twins_en.index(line) < twins_en.index("#### OKVQA")  # before the seed's lines, which stay as they were
    zh = report(twins[0], resamples=RESAMPLES)
    assert "- **OKVQA**: 3个点，其中1个 p_frontier ≥ 0.9；最高accuracy点 0.9200 [" in zh


def test_the_lookup_table_has_the_runner_up_the_interval_and_a_tie_mark(twins, twins_en):
    lookup = {r["budget"]: r for r in _rows(twins[0], "budget_lookup")}
    assert sorted(lookup) == [210.0, 250.0, 300.0]
    table = section(twins_en, "## Budget lookup table")
    assert "| budget | dataset | accuracy | latency | slack | config | runner-up | Δacc [95%] | tie | attainment |" in table
    tie = lookup[250.0]
    attained = f"{tie['attainment'] * 100:.1f}% (≥ {tie['attainment_lo'] * 100:.1f}%)"
    assert (
        f"| 250ms | OKVQA | 0.6167 | 200.15ms | 49.85ms | low tier, top_k=4, blocks=12 | low tier, top_k=4, blocks=14 (0.6133) "
        f"| 0.0033 [{tie['delta_lo']:.4f}, {tie['delta_hi']:.4f}] | **tie** | {attained} |"
    ) in table
    clear = next(line for line in table.split("\n") if line.startswith("| 300ms |"))
    assert "| high tier, top_k=8, blocks=16 | low tier, top_k=4, blocks=12 (0.6167) |" in clear and clear.count("| no |") == 1
    # attainment: the share of the chosen config's samples within the budget, and Wilson's lower bound
    totals = {r["config_run_id"]: r for r in _rows(twins[0], "config_points")}
    assert totals[tie["config_run_id"]]["n"] == 300
    k = _within(twins[0], tie["config_run_id"], 250.0)
    assert tie["attainment"] == k / 300
    z, p, n = 1.959963984540054, k / 300, 300
    wilson = (p + z * z / (2 * n) - z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n)
    assert tie["attainment_lo"] == pytest.approx(wilson)


def _within(path, config_run_id, budget):
    con = open_store(path)
    try:
        query = "SELECT count(*) FROM samples WHERE config_run_id = $id AND T_total <= $b"
        return con.execute(query, {"id": config_run_id, "b": budget}).fetchone()[0]
    finally:
        con.close()


def test_what_to_measure_next_with_its_gpu_time(twins, twins_en):
    path, ids = twins
    con = open_store(path)
    query = "SELECT accuracy FROM samples WHERE config_run_id = $i ORDER BY example_id"
    acc = {i: con.execute(query, {"i": i}).fetchnumpy()["accuracy"] for i in (ids["T1"], ids["T2"])}
    mean_total = con.execute("SELECT avg(T_total) FROM samples WHERE config_run_id = $i", {"i": ids["T1"]}).fetchone()[0]
    con.close()
    s_d = np.std(acc[ids["T1"]] - acc[ids["T2"]], ddof=1)
    n = math.ceil(((1.96 + 0.8416) * s_d / 0.01) ** 2)
    minutes = n * mean_total / 60_000
    section_text = section(twins_en, "## What to measure next")
    assert "δ = 0.01" in section_text and "n = ((1.96 + 0.8416) · s_d / δ)²" in section_text
    row = next(line for line in section_text.split("\n") if line.startswith("| OKVQA | low tier, top_k=4, blocks=12 |"))
    assert "| 0.64 | frontier undecided, tie | low tier, top_k=4, blocks=14 |" in row
    time = f"{minutes:.1f} min" if minutes < 60 else f"{minutes / 60:.2f} h"
    assert row.endswith(f"| {s_d:.4f} | {n:,} | 300 | {time} |"), row
    assert "**GPU time of them all**: " in section_text


def test_the_footer_records_resamples_seed_and_the_numpy_step(twins, twins_en):
    footer = section(twins_en, "## Reproducibility")
    assert f"- **Uncertainty**: {RESAMPLES} bootstrap resamples (paired over examples, Poisson(1) weights), seed 0" in footer
    text = resources.files("budgetdb.queries").joinpath("config_resamples.v1.py").read_bytes()
    assert f"    numpy step `config_resamples.v1.py` sha256 `{hashlib.sha256(text).hexdigest()}`" in footer
    assert "`config_uncertainty@v1`" in footer and "`budget_lookup@v4`" in footer and "`measure_next@v1`" in footer
    assert "seed 7" in section(report(twins[0], lang="en", resamples=RESAMPLES, seed=7), "## Reproducibility")


def test_resamples_0_is_the_report_without_uncertainty_and_adds_only_beside_it(seed_store):
    """Every line of the report without uncertainty is in the report with it (the footer's query
    list aside: other versions ran): uncertainty is added beside the seed's figures, never instead."""
    plain = report(seed_store, lang="en", resamples=0)
    noisy = report(seed_store, lang="en", resamples=100)
    assert "interval" not in plain and "p_frontier" not in plain and "Uncertainty" not in plain
    assert "## What to measure next" not in plain and "runner-up" not in plain
    queries_at = plain.index("- **Queries**:")
    noisy_lines = noisy.split("\n")
    # a line of the lookup table (and its intro) goes on with the uncertainty's columns: its start is the same
    missing = [line for line in plain[:queries_at].split("\n") if not any(n.startswith(line) for n in noisy_lines)]
    assert missing == [], missing
    grown = [line for line in plain[:queries_at].split("\n") if line not in noisy_lines]
    assert all(line.startswith("|") or "budget-aware controller" in line for line in grown), grown
    assert "Every config is decided" in noisy  # 20,000 examples per config: nothing left to measure
    assert leak(noisy) is None


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A dataset of 12 examples per config, another of 120 (a p99 needs 368), a third whose
    prefill has 50 values (a p5 and a p95 need 72)."""
    rng = np.random.default_rng(4)
    path = tmp_path_factory.mktemp("small_n") / "budget.duckdb"
    con = new_store(path)
    for dataset, n, configs in (
        ("okvqa", 12, ((4, 12, 0.4, 150.0), (8, 16, 0.7, 250.0))),
        ("text-vqa", 120, ((4, 12, 0.5, 180.0),)),
    ):
        for top_k, blocks, rate, latency in configs:
            samples = {
                "accuracy": (rng.random(n) < rate).astype(float),
                "T_total": rng.normal(latency, 20.0, n),
                "T_LLM_prefill": rng.normal(latency / 2, 10.0, n),
                "example_id": np.arange(n),
            }
            add_config_run(con, dataset=dataset, tier="low", top_k=top_k, blocks=blocks, samples=samples)
    con.close()
    return path


def test_small_configs_are_flagged_wherever_they_appear(small):
    en = report(small, lang="en", resamples=RESAMPLES)
    flag = "⚠ only 12 examples (< 30)"
    okvqa = next(line for line in en.split("\n") if line.startswith("- **OKVQA**: "))
    assert okvqa.count(flag) == 2  # the highest and the lowest point
    assert f"(config: low tier, top_k=8, blocks=16) {flag}" in section(en, "#### OKVQA")
    table = section(en, "## Budget lookup table")
    assert f"| low tier, top_k=8, blocks=16 {flag} |" in table
    assert "120 examples" not in en  # 120 >= 30: no flag
    zh = report(small, resamples=RESAMPLES)
    assert "⚠ 仅 12 个 example（< 30）" in zh


def test_a_percentile_below_its_floor_prints_as_a_bound(small):
    en = report(small, lang="en", resamples=RESAMPLES, latency_stat="p99", datasets=("text-vqa",))
    (row,) = [r for r in _rows(small, "config_uncertainty", latency_stat="p99") if r["dataset"] == "text-vqa"]
    assert row["lat_hi"] is None and row["lat_lo"] is not None  # 0.99^120 > 0.025: no upper end
    line = next(line for line in en.split("\n") if line.startswith("- **Text-VQA**: "))
    assert f"@ p99 >= {row['lat_lo']:.2f} ms, n=120 < 368 (p_frontier 1.00)" in line
    assert f"{row['latency']:.2f}ms [" not in line  # the estimate is not printed as a number there
    # the prefill blockquote: 120 values in scope, p5 and p95 need 72: both ends there
    assert "> - 95% intervals (distribution-free, order statistics): p5 [" in en
    few = report(small, lang="en", resamples=RESAMPLES, datasets=("okvqa",))  # 24 prefill values
    prefill = _rows(small, "prefill_stats", dataset=["okvqa"])[0]
    assert prefill["p95_hi"] is None and prefill["p5_lo"] is None
    assert f"p5 <= {prefill['p5_hi']:.2f} ms, n=24 < 72; p25 [" in few
    assert f"; p95 >= {prefill['p95_lo']:.2f} ms, n=24 < 72\n" in few


def test_same_store_and_options_give_the_same_bytes(twins, twins_en, small):
    assert report(twins[0], lang="en", resamples=RESAMPLES).encode() == twins_en.encode()
    for latency_stat in ("mean", "p95"):
        first = report(small, resamples=RESAMPLES, latency_stat=latency_stat)
        assert report(small, resamples=RESAMPLES, latency_stat=latency_stat) == first
    assert report(small, resamples=RESAMPLES, seed=1) != report(small, resamples=RESAMPLES, seed=2)


def test_the_command_and_the_function_take_resamples_and_seed(small):
    runner = CliRunner()
    cli = runner.invoke(app, ["report", "--db", str(small), "--lang", "en", "--resamples", "50", "--seed", "3"])
    assert cli.exit_code == 0, cli.output
    assert cli.stdout == budgetdb.report(db=small, lang="en", resamples=50, seed=3)
    assert "- **Uncertainty**: 50 bootstrap resamples" in cli.stdout and ", seed 3;" in cli.stdout
    off = runner.invoke(app, ["report", "--db", str(small), "--resamples", "0"])
    assert off.exit_code == 0 and "p_frontier" not in off.stdout
    bad = runner.invoke(app, ["report", "--db", str(small), "--resamples", "-1"])
    assert bad.exit_code == 1 and "Error: --resamples must be a whole number between 0 and 20,000, got -1" in bad.stderr


@pytest.mark.parametrize("kind", ["local", "postgres"])
def test_the_same_figures_on_a_duckdb_file_and_a_ducklake(kind, tmp_path, request):
    """Every figure the uncertainty prints or decides on is exact: the same bits from a DuckDB
    file and from DuckLake's Parquet files, whatever order the rows come in."""
    tree = demo.write_demo_tree(tmp_path / "tree", samples=81 * 40, seed=5).root
    plain = tmp_path / "plain.duckdb"
    lake = new_lake(kind, tmp_path, request)
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(tree), "--db", str(plain)]).exit_code == 0
    assert runner.invoke(app, ["ingest", str(tree), *lake.args]).exit_code == 0
    on_file, on_lake = open_store(plain), open_store(lake.db, data_path=lake.data_path)
    try:
        for name in ("config_resamples", "config_uncertainty", "frontier_stability", "budget_lookup", "measure_next"):
            assert queries.run(on_file, name, resamples=100).rows == queries.run(on_lake, name, resamples=100).rows, name
    finally:
        on_file.close(), on_lake.close()
    store = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC|plain\.duckdb|catalog\.ducklake|dbname=")

    def body(text):
        return [line for line in text.splitlines() if not store.search(line)]

    for lang in ("en", "zh"):
        file_text = budgetdb.report(db=plain, lang=lang, resamples=100)
        lake_text = budgetdb.report(db=lake.db, data_path=lake.data_path, lang=lang, resamples=100)
        assert body(file_text) == body(lake_text)


def test_the_report_pins_every_query_it_runs_with_uncertainty_too():
    from budgetdb.reporting import PLOT_QUERIES, UNCERTAIN_PINS, UNCERTAIN_QUERIES

    pinned = dict(ref.split("@") for ref in UNCERTAIN_PINS)
    assert len(pinned) == len(UNCERTAIN_PINS), "one version of each name"
    for ref in [*UNCERTAIN_QUERIES.values(), *PLOT_QUERIES.values()]:
        for spec in queries.closure(ref, pins=UNCERTAIN_PINS, catalog=queries.packaged()):
            assert f"v{spec.version}" == pinned.get(spec.name), f"{ref} runs {spec.ref}: pin it in UNCERTAIN_PINS"
