"""`report --format json`: the recommendation as data, against numpy and a brute-force frontier,
and docs/recommendation.md key for key."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from doc_tables import disagreements, type_disagreements
from typer.testing import CliRunner

import budgetdb
from budgetdb import demo, recommendation
from budgetdb.cli.app import app
from budgetdb.errors import BudgetdbError
from budgetdb.reporting import REPORT_QUERIES, ReportOptions, build_context

from report_helpers import run, store_with

DOC = Path(__file__).resolve().parents[1] / "docs" / "recommendation.md"
DATASETS = ("okvqa", "text-vqa")
CONFIGS = [(tier, k, b) for tier in ("low", "medium", "high") for k, b in ((4, 12), (8, 16))]


def _runs(hardware: str, seed: int, slower: float = 1.0) -> list[dict]:
    rng = np.random.default_rng(seed)
    runs = []
    for d, dataset in enumerate(DATASETS):
        for i, (tier, k, b) in enumerate(CONFIGS):
            n = 40 + 7 * i
            accuracy = (rng.random(n) < 0.3 + 0.08 * i + 0.05 * d).astype(float)
            total = slower * rng.normal(150 + 25 * i + 30 * d, 12, n)
            prefill = slower * rng.normal(60 + 10 * i, 8, n)
            runs.append({**run(dataset, tier, k, b, accuracy, total, prefill), "hardware": hardware})
    return runs


@pytest.fixture(scope="module")
def one_gpu(tmp_path_factory):
    return store_with(tmp_path_factory.mktemp("json") / "one.duckdb", _runs("h100", 1))


@pytest.fixture(scope="module")
def two_gpus(tmp_path_factory):
    return store_with(tmp_path_factory.mktemp("json") / "two.duckdb", _runs("h100", 1) + _runs("a100", 2, slower=1.3))


def document(db: Path, **options) -> dict:
    text = budgetdb.report(db=db, format="json", **options)
    return json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))


def brute_frontier(points: list[tuple]) -> list[tuple]:
    """(config, accuracy, latency) no other point dominates, sorted by latency."""
    kept = [p for p in points if not any(q[1] >= p[1] and q[2] <= p[2] and (q[1] > p[1] or q[2] < p[2]) for q in points)]
    return sorted(kept, key=lambda p: (p[2], -p[1]))


def expected(runs: list[dict], step=10.0, coarse=50.0, num=10) -> dict:
    """What the document must say, from the samples alone."""
    prefill = np.concatenate([r["samples"]["T_LLM_prefill"] for r in runs])
    frontiers = {}
    for dataset in DATASETS:
        points = [
            ((r["tier"], r["top_k"], r["blocks"]), np.mean(r["samples"]["accuracy"]), np.mean(r["samples"]["T_total"]))
            for r in runs
            if r["dataset"] == dataset
        ]
        frontiers[dataset] = brute_frontier(points)
    # a dataset's range: the latencies of its lowest- and highest-accuracy frontier points
    mins = [min(f, key=lambda p: p[1])[2] for f in frontiers.values()]
    maxes = [max(f, key=lambda p: p[1])[2] for f in frontiers.values()]
    lower, upper = math.ceil(min(mins) / step) * step, math.ceil(max(maxes) / step) * step
    inside = [m * coarse for m in range(math.floor(lower / coarse) + 1, math.ceil(upper / coarse)) if lower < m * coarse < upper]
    budgets = [lower, *inside, upper]
    lookup = {}
    for budget in budgets:
        for dataset, frontier in frontiers.items():
            fits = [p for p in frontier if p[2] <= budget]
            lookup[budget, dataset] = max(fits, key=lambda p: p[1]) if fits else None
    return {
        "percentiles": dict(zip(("p5", "p25", "p50", "p75", "p95"), np.percentile(prefill, [5, 25, 50, 75, 95]), strict=True)),
        "n": len(prefill),
        "frontiers": frontiers,
        "budgets": budgets,
        "linspace": list(np.linspace(lower, upper, num)),
        "lookup": lookup,
    }


def test_the_document_holds_the_analysis_as_numpy_and_a_brute_force_frontier_give_it(one_gpu):
    doc = document(one_gpu, resamples=0)
    want = expected(_runs("h100", 1))
    assert doc["schema"] == "budgetdb.recommendation" and doc["schema_version"] == 1
    assert doc["uncertainty"] is None
    assert doc["scope"]["hardware"] == ["h100"] and doc["scope"]["datasets"] == list(DATASETS)
    [analysis] = doc["analyses"]
    assert analysis["hardware"] == "h100"
    assert analysis["prefill"]["n"] == want["n"]
    for key, value in want["percentiles"].items():
        assert analysis["prefill"][key] == pytest.approx(value, rel=1e-12), key
    for dataset in analysis["datasets"]:
        frontier = want["frontiers"][dataset["name"]]
        assert [(p["tier"], p["top_k"], p["num_active_blocks"]) for p in dataset["frontier"]] == [p[0] for p in frontier]
        assert [p["latency"] for p in dataset["frontier"]] == pytest.approx([p[2] for p in frontier], rel=1e-12)
        assert [p["accuracy"] for p in dataset["frontier"]] == pytest.approx([p[1] for p in frontier], rel=1e-12)
    assert analysis["budget"]["budgets"] == want["budgets"]
    assert analysis["budget"]["linspace"] == pytest.approx(want["linspace"], rel=1e-12)
    rows = {(row["budget"], row["dataset"]): row for row in analysis["lookup"]}
    assert set(rows) == set(want["lookup"])
    for key, point in want["lookup"].items():
        row = rows[key]
        if point is None:
            assert row["config"] is None and row["accuracy"] is None
        else:
            assert (row["config"]["tier"], row["config"]["top_k"], row["config"]["num_active_blocks"]) == point[0]
            assert row["accuracy"] == pytest.approx(point[1], rel=1e-12)
            assert row["slack"] == pytest.approx(key[0] - point[2], rel=1e-9)


def test_each_gpu_is_its_own_analysis(two_gpus):
    doc = document(two_gpus, resamples=0)
    assert [a["hardware"] for a in doc["analyses"]] == ["a100", "h100"]
    for analysis, runs in zip(doc["analyses"], (_runs("a100", 2, slower=1.3), _runs("h100", 1)), strict=True):
        want = expected(runs)
        assert analysis["budget"]["budgets"] == want["budgets"]
        assert analysis["prefill"]["p50"] == pytest.approx(want["percentiles"]["p50"], rel=1e-12)
    only = document(two_gpus, resamples=0, hardware="a100")
    assert only["analyses"] == doc["analyses"][:1]


def test_same_store_and_options_same_bytes_and_no_nan(one_gpu):
    first = budgetdb.report(db=one_gpu, format="json", resamples=20)
    assert first == budgetdb.report(db=one_gpu, format="json", resamples=20)
    assert first.endswith("}\n") and not re.search(r"\b(NaN|Infinity)\b", first)


def test_without_uncertainty_the_document_runs_the_versions_that_give_the_same_bits_in_every_run(one_gpu):
    """prefill_stats@v2, decode_stats@v2 and config_points@v3 merge partial sums in the order
    DuckDB's threads finish: on the demo's 600,000 samples the document's means changed
    in their last bits from one run to the next."""
    refs = [q["ref"] for q in document(one_gpu, resamples=0)["provenance"]["queries"]]
    assert {"prefill_stats@v3", "decode_stats@v3", "config_points@v4"} <= set(refs), refs
    assert not {"prefill_stats@v2", "decode_stats@v2", "config_points@v3"} & set(refs), refs


def test_a_password_in_the_stores_string_is_masked_in_the_provenance():
    """A DuckLake on PostgreSQL: DuckDB names the store by its libpq string, password and all."""
    records: dict = {key: [] for key in REPORT_QUERIES}
    records["store_summary"] = [{"store_path": "postgres:dbname=lake host=db user=me password=s3cret"}]
    context = build_context(records, [], ReportOptions(resamples=0))
    assert context["footer"]["store_path"] == "postgres:dbname=lake host=db user=me password=***"
    assert "s3cret" not in recommendation.dumps(context)


# where each object of docs/recommendation.md occurs in the document
PATHS = {
    "document": ("",),
    "scope": ("scope",),
    "uncertainty": ("uncertainty",),
    "provenance": ("provenance",),
    "query": ("provenance.queries[]",),
    "analysis": ("analyses[]",),
    "prefill": ("analyses[].prefill",),
    "prefill_range": ("analyses[].prefill.range",),
    "interval": (
        *(f"analyses[].prefill.intervals.{p}" for p in ("p5", "p25", "p50", "p75", "p95")),
        "analyses[].datasets[].stability.hi.acc",
        "analyses[].datasets[].stability.lo.lat",
        "analyses[].lookup[].uncertainty.delta.interval",
    ),
    "decode": ("analyses[].decode",),
    "aggregate": ("analyses[].aggregate",),
    "budget": ("analyses[].budget",),
    "dataset": ("analyses[].datasets[]",),
    "point": ("analyses[].datasets[].frontier[]",),
    "stability": ("analyses[].datasets[].stability",),
    "frontier_end": ("analyses[].datasets[].stability.hi", "analyses[].datasets[].stability.lo"),
    "lookup_row": ("analyses[].lookup[]",),
    "config": ("analyses[].lookup[].config", "analyses[].measure_next.items[].config", "analyses[].measure_next.items[].rival"),
    "lookup_uncertainty": ("analyses[].lookup[].uncertainty",),
    "runner_up": ("analyses[].lookup[].uncertainty.runner_up",),
    "measure_next": ("analyses[].measure_next",),
    "measure_item": ("analyses[].measure_next.items[]",),
}


def test_the_page_lists_every_key_of_every_object_and_no_other(tmp_path):
    tree = demo.write_demo_tree(tmp_path, samples=6480, seed=3).root
    db = tmp_path / "demo.duckdb"
    assert CliRunner().invoke(app, ["ingest", str(tree), "--db", str(db)]).exit_code == 0
    doc = document(db, resamples=50)
    assert disagreements(DOC, doc, PATHS) == []
    assert type_disagreements(DOC, doc, PATHS) == []


def test_every_value_is_of_its_documented_type_in_an_empty_store_too(tmp_path):
    empty = store_with(tmp_path / "empty.duckdb", [])
    for resamples in (0, 20):
        assert type_disagreements(DOC, document(empty, resamples=resamples), PATHS) == []


def test_plots_and_templates_are_refused_in_one_line(one_gpu, tmp_path):
    result = CliRunner().invoke(app, ["report", "--db", str(one_gpu), "-F", "json", "--plots", str(tmp_path / "p")])
    assert result.exit_code != 0 and "--plots" in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "p").exists()
    with pytest.raises(BudgetdbError, match="format must be one of markdown, json"):
        budgetdb.report(db=one_gpu, format="yaml")
