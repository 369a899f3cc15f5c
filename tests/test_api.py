"""The Python API: budgetdb.query / query_relation / report, budgetdb.queries as an attribute, and
docs/python.md's session, run top to bottom."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

import budgetdb
from budgetdb import queries
from budgetdb.cli.app import app

from builders import add_config_run, new_store

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """okvqa: low 4/12 accuracy 0.5 at 150/170 ms, high 8/16 accuracy 1.0 at 250/270 ms."""
    path = tmp_path_factory.mktemp("api") / "api.duckdb"
    con = new_store(path)
    add_config_run(con, dataset="okvqa", tier="low", top_k=4, blocks=12, samples={"accuracy": [1, 0], "T_total": [150.0, 170.0]})
    add_config_run(con, dataset="okvqa", tier="high", top_k=8, blocks=16, samples={"accuracy": [1, 1], "T_total": [250.0, 270.0]})
    con.close()
    return path


def test_import_budgetdb_gives_the_subpackages_and_the_api_lazily():
    script = (
        "import sys, budgetdb\n"
        "assert 'duckdb' not in sys.modules and 'budgetdb.queries' not in sys.modules\n"
        "assert budgetdb.queries.run and budgetdb.store.open_store and budgetdb.templates.render\n"
        "assert callable(budgetdb.query) and callable(budgetdb.query_relation)\n"
        "import budgetdb.reporting\n"
        "assert callable(budgetdb.report), budgetdb.report  # a function, not the report module\n"
        "assert {'query', 'report', 'queries'} <= set(dir(budgetdb))\n"
        "try:\n    budgetdb.nope\nexcept AttributeError as exc:\n    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "module 'budgetdb' has no attribute 'nope'\n"


def test_signatures_an_ide_shows():
    query = inspect.signature(budgetdb.query).parameters
    assert query["name"].kind is inspect.Parameter.POSITIONAL_ONLY
    assert [n for n, p in query.items() if p.kind is inspect.Parameter.KEYWORD_ONLY] == [
        "db",
        "queries",
        "data_path",
        "pins",
        "against_db",
        "against_snapshot",
    ]
    assert query["params"].kind is inspect.Parameter.VAR_KEYWORD
    report = inspect.signature(budgetdb.report).parameters
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in report.values())
    assert list(report)[:3] == ["db", "data_path", "lang"] and report["lang"].default == "zh"
    # every option of `budgetdb report` has its keyword (plural where the option repeats)
    cli = {"experiment": "experiments", "dataset": "datasets", "template": "templates", "out": None, "wait": None}
    for name in inspect.signature(budgetdb.cli.report.report).parameters:
        assert cli.get(name, name) in report or cli.get(name, name) is None, name


def test_query_returns_a_dataframe_of_the_rows_queries_run_gives(store):
    df = budgetdb.query("pareto_frontier", db=store, dataset="okvqa")
    assert isinstance(df, pd.DataFrame)
    assert list(zip(df.tier, df.accuracy, df.latency, strict=True)) == [("low", 0.5, 160.0), ("high", 1.0, 260.0)]
    # the same with an open connection (left open) and the values as a list
    con = budgetdb.connect(store)
    p95 = budgetdb.query("pareto_frontier", db=con, dataset=["okvqa"], latency_stat="p95")
    assert [round(x, 9) for x in p95.latency] == [169.0, 269.0]  # quantile_cont: 150 + 0.95 * 20, 250 + 0.95 * 20
    assert con.execute("SELECT 1").fetchall() == [(1,)]
    con.close()
    with pytest.raises(queries.QueryParamError, match="must be one of mean, p50, p95, p99; got 'p90'"):
        budgetdb.query("pareto_frontier", db=store, latency_stat="p90")


def test_query_takes_user_folders_and_pins(store, tmp_path):
    folder = tmp_path / "team"
    folder.mkdir()
    (folder / "n_frontier.v1.sql").write_text(
        "-- name: n_frontier\n-- version: 1\n-- description: Frontier size.\n-- uses: pareto_frontier\n-- returns: n\n"
        "SELECT count(*) AS n FROM pareto_frontier\n",
        "utf-8",
    )
    assert budgetdb.query("n_frontier", db=store, queries=folder).n.tolist() == [2]
    assert budgetdb.query("n_frontier", db=store, queries=[str(folder)], pins=["pareto_frontier@v1"]).n.tolist() == [2]
    with pytest.raises(queries.QueryNotFoundError, match="no query named 'n_frontier'"):
        budgetdb.query("n_frontier", db=store)


def test_query_relation_is_a_duckdb_relation_of_the_same_rows(store):
    expected = queries.run(budgetdb.connect(store), "budget_lookup", budgets=[200.0, 300.0]).rows
    rel = budgetdb.query_relation("budget_lookup", db=store, budgets=[200, 300])
    assert isinstance(rel, duckdb.DuckDBPyRelation)
    assert rel.fetchall() == expected
    assert rel.filter("top_k = 8").aggregate("count(*)").fetchall() == [(1,)]
    assert rel.df().budget.tolist() == [200.0, 300.0]


def test_report_is_the_commands_report(store):
    text = budgetdb.report(db=store, lang="en", datasets="okvqa", step=5.0, alpha="0.2")
    cli = CliRunner().invoke(
        app, ["report", "--db", str(store), "--lang", "en", "--dataset", "okvqa", "--step", "5", "--alpha", "0.2"]
    )
    assert cli.exit_code == 0, cli.output
    assert text == cli.stdout
    assert "**Recommended range**: **160ms - 260ms**" in text


def test_a_parameter_named_like_an_option_is_refused():
    text = (
        "-- name: q\n-- version: 1\n-- description: x.\n-- param: db VARCHAR = NULL -- a store?\n-- returns: a\nSELECT $db AS a\n"
    )
    with pytest.raises(queries.QueryDefinitionError, match=r"^q\.v1\.sql:4: a parameter may not be named 'db'"):
        queries.registry.parse("q.v1.sql", text)


def test_the_python_docs_run(tmp_path, monkeypatch):
    """docs/python.md, top to bottom, on the demo store its first lines describe."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BUDGETDB_DB", raising=False)
    monkeypatch.delenv(queries.ENV, raising=False)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    runner = CliRunner()
    assert runner.invoke(app, ["demo", "demo_results"]).exit_code == 0
    assert runner.invoke(app, ["ingest", "demo_results/core_exp_h100"]).exit_code == 0
    doc = (ROOT / "docs" / "python.md").read_text("utf-8")
    (tmp_path / "team_queries").mkdir()
    for block in re.findall(r"```sql\n(.*?)```", doc, re.S):
        named = re.match(r"-- name: (\w+)\n-- version: (\d+)\n", block)
        (tmp_path / "team_queries" / f"{named.group(1)}.v{named.group(2)}.sql").write_text(block, "utf-8")
    namespace: dict = {}
    exec(compile("\n".join(re.findall(r"```python\n(.*?)```", doc, re.S)), "docs/python.md", "exec"), namespace)
    # what the comments in the docs show
    shown = namespace["summary"][["dataset", "n_points"]].values.tolist()
    assert shown == [["coco-2014-vqa", 10], ["okvqa", 11], ["text-vqa", 12]]
    assert namespace["sizes"].values.tolist() == [["coco-2014-vqa", 10], ["okvqa", 1], ["text-vqa", 5]]
    assert namespace["text"].startswith("# Latency Budget Range Analysis\n")
    assert namespace["d"]["summary"]["geomean_ratio"] == 1.0 and namespace["d"]["summary"]["n_latency_changed"] == 0
    assert namespace["changes"].paired.all() and len(namespace["changes"]) == 27
