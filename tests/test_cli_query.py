"""`budgetdb query list|show|run` driven in-process."""

from __future__ import annotations

import json
import math

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from budgetdb import connect, queries
from budgetdb.cli.app import app

from builders import add_config_run, new_store


def invoke(*args, env=None):
    return CliRunner().invoke(app, list(args), env=env)


def strict_json(text):
    """json.loads that refuses bare NaN/Infinity tokens."""

    def refuse(token):
        raise AssertionError(f"bare {token} in JSON output")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    """NaN and 0.0 latencies, a zero-sample run whose summary holds NaN, two datasets."""
    path = tmp_path_factory.mktemp("cli") / "small.duckdb"
    con = new_store(path)
    add_config_run(
        con,
        dataset="okvqa",
        tier="low",
        top_k=4,
        blocks=12,
        samples={"accuracy": [1, 0, 2 / 3], "T_total": [150.0, math.nan, 170.0], "T_LLM_prefill": [90.0, 0.0, 110.0]},
    )
    add_config_run(
        con,
        dataset="okvqa",
        tier="high",
        top_k=8,
        blocks=16,
        samples={"accuracy": [1, 1, 2 / 3], "T_total": [250.0, 260.0, 270.0], "T_LLM_prefill": [120.0, 130.0, math.nan]},
    )
    add_config_run(
        con,
        dataset="text-vqa",
        tier="medium",
        top_k=6,
        blocks=14,
        summary={"accuracy": math.nan, "latency_stats": {"T_total_mean": math.nan}},
    )
    con.close()
    return path


def test_list_shows_every_query_with_version_and_params():
    result = invoke("query", "list", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = strict_json(result.stdout)
    assert [(r["name"], r["version"]) for r in rows] == [(s.name, s.version) for s in queries.list_queries()]
    by_name = {r["name"]: r for r in rows}
    assert by_name["budget_range"]["params"] == (
        "hardware, experiment, dataset, latency_stage=T_total, latency_stat=mean, include_repeats=false, "
        "step=10 (between 0.001 and 3,600,000), coarse_step=50 (between 0.001 and 3,600,000), num=10 (between 0 and 1,000)"
    )
    assert by_name["prefill_stats"]["description"].startswith("Pooled T_LLM_prefill")
    table = invoke("query", "list")
    assert table.exit_code == 0 and "pareto_frontier" in table.stdout


def test_show_prints_the_file():
    result = invoke("query", "show", "pareto_frontier@v1")
    assert result.exit_code == 0
    assert result.stdout == queries.get("pareto_frontier@v1").sql
    assert result.stdout.startswith("-- name: pareto_frontier\n-- version: 1\n")
    assert "\n-- uses: config_points@v1\n" in result.stdout
    assert "\n-- uses: config_points, pareto_frontier\n" in invoke("query", "show", "frontier_summary").stdout


def test_run_prints_json_rows_equal_to_the_python_api(small_store):
    result = invoke("query", "run", "config_points", "--db", str(small_store), "--format", "json")
    assert result.exit_code == 0, result.output
    assert "NaN" not in result.stdout and "Infinity" not in result.stdout
    rows = strict_json(result.stdout)
    expected = queries.run(connect(small_store), "config_points").records()
    assert rows == expected
    assert rows[-1]["dataset"] == "text-vqa" and rows[-1]["accuracy"] is None and rows[-1]["latency"] is None
    assert rows[-1]["excluded"] == "latency missing"


def test_run_takes_params_as_strings(small_store):
    result = invoke(
        "query",
        "run",
        "budget_lookup@v3",
        "--db",
        str(small_store),
        "-p",
        "budgets=160,255.5,300",
        "--param",
        "dataset=okvqa",
        "-F",
        "csv",
    )
    assert result.exit_code == 0, result.output
    header, *lines = result.stdout.splitlines()
    assert (
        header == "budget,dataset,hardware,experiment,tier,variant,top_k,num_active_blocks,accuracy,latency,slack,config_run_id"
    )
    rows = [line.split(",") for line in lines]
    # okvqa: low 4/12 at mean(150, 170) = 160 ms, high 8/16 at 260 ms
    assert [(r[0], r[1], r[4], r[6]) for r in rows] == [
        ("160.0", "okvqa", "low", "4"),
        ("255.5", "okvqa", "low", "4"),
        ("300.0", "okvqa", "high", "8"),
    ]
    assert [float(r[10]) for r in rows] == [0.0, 95.5, 40.0]


def test_run_markdown_and_table(small_store):
    markdown = invoke("query", "run", "frontier_summary", "--db", str(small_store), "--format", "markdown")
    assert markdown.exit_code == 0
    assert markdown.stdout.splitlines()[0].startswith("| hardware | dataset | n\\_points | hi\\_accuracy |")
    table = invoke("query", "run", "prefill_stats", "--db", str(small_store))
    assert table.exit_code == 0 and "n_missing" in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("query", "run", "paretto"), "Error: no query named 'paretto'; the queries are: budget_lookup, budget_range,"),
        (
            ("query", "run", "pareto_frontier@v9"),
            "Error: pareto_frontier has no version 'v9'; its versions are: pareto_frontier@v1, pareto_frontier@v2, "
            "pareto_frontier@v3",
        ),
        (("query", "show", "nope@v1"), "Error: no query named 'nope'"),
        (
            ("query", "run", "prefill_stats", "-p", "datasets=okvqa"),
            "Error: prefill_stats@v3 has no parameter 'datasets'; its parameters are: hardware, experiment, dataset, "
            "include_repeats",
        ),
        (("query", "run", "config_points", "-p", "latency_stat=p90"), "must be one of mean, p50, p95, p99"),
        (("query", "run", "budget_range", "-p", "num=ten"), "num (INTEGER): expected a whole number, got 'ten'"),
        (("query", "run", "budget_range", "-p", "step"), "Error: --param expects NAME=VALUE, got 'step'"),
        (("query", "run", "budget_range", "-p", "step=-10"), "parameter step must be between 0.001 and 3,600,000, got -10"),
        (("query", "run", "budget_range", "-p", "step=nan"), "parameter step must be a finite number, got nan"),
        (("query", "run", "budget_range", "-p", "step=inf"), "parameter step must be a finite number, got inf"),
        (("query", "run", "budget_range", "-p", "num=1e8"), "parameter num must be between 0 and 1,000, got 100,000,000"),
        (("query", "run", "prefill_histogram", "-p", "bins=100000000"), "bins must be between 1 and 10,000, got 100,000,000"),
        (("query", "run", "prefill_histogram", "-p", "bins=0"), "bins must be between 1 and 10,000, got 0"),
        (("query", "run", "prefill_histogram", "-p", "bins=-3"), "bins must be between 1 and 10,000, got -3"),
        (("query", "run", "prefill_histogram", "-p", "upper_quantile=1.5"), "upper_quantile must be between 0 and 1, got 1.5"),
        (("query", "run", "budget_lookup", "-p", "budgets=100,nan"), "parameter budgets must be a finite number, got nan"),
    ],
)
def test_errors_are_one_line_and_list_the_valid_choices(small_store, args, message):
    result = invoke(*args, "--db", str(small_store)) if args[1] == "run" else invoke(*args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr


def test_a_missing_store_says_how_to_make_one(tmp_path):
    result = invoke("query", "run", "prefill_stats", "--db", str(tmp_path / "none.duckdb"))
    assert result.exit_code == 1 and "budgetdb ingest" in result.stderr


def test_db_comes_from_the_environment(small_store):
    result = invoke("query", "run", "prefill_stats", "-F", "json", env={"BUDGETDB_DB": str(small_store)})
    assert result.exit_code == 0, result.output
    assert strict_json(result.stdout)[0]["n"] == 4  # 90, 110, 120, 130; 0.0 and NaN are missing


COMMANDS = [("query", "list"), ("query", "show"), ("query", "run"), ("sql",), ("url",)]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_is_documented(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert "Example: budgetdb" in result.stdout or "Example: python" in result.stdout
    click_command = get_command(app)
    for name in command:
        click_command = click_command.commands[name]
    for param in click_command.params:
        assert getattr(param, "help", None) or param.name == "help", f"{command} {param.name} has no help"
    assert invoke(*command, "-h").stdout == result.stdout
