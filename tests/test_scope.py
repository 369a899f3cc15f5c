"""Filters are checked against the store on every command alike (report, query run, info,
export): a value that matches nothing is an error naming the values there are and the closest;
the harness's spellings match; repeated list filters add up; the root experiment is `.`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from budgetdb import connect, scope
from budgetdb.cli.app import app

from report_helpers import run, store_with


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return store_with(
        tmp_path_factory.mktemp("scope") / "s.duckdb",
        [
            run("text-vqa", "low", 4, 12, [0.5], [100.0], [60.0], experiment=""),  # dataset folder right under the root
            run("okvqa", "low", 4, 12, [0.6], [110.0], [61.0], experiment="5run"),
            run("okvqa", "high", 8, 16, [0.7], [150.0], [70.0], experiment="5run", hardware="h200"),
        ],
    )


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ("report", "--dataset", "okvq"),
            "Error: no dataset 'okvq'; did you mean 'okvqa'? (datasets in the store: okvqa, text-vqa)",
        ),
        (("report", "--hardware", "h10"), "Error: no hardware 'h10'; did you mean 'h100'? (hardware in the store: h100, h200)"),
        (
            ("report", "--experiment", "5runs"),
            "Error: no experiment '5runs'; did you mean '5run'? (experiments in the store: ., 5run)",
        ),
        (
            ("query", "run", "pareto_frontier", "-p", "dataset=okvq"),
            "Error: no dataset 'okvq'; did you mean 'okvqa'? (datasets in the store: okvqa, text-vqa)",
        ),
        (("info", "--dataset", "mmmu"), "Error: no dataset 'mmmu' (datasets in the store: okvqa, text-vqa)"),
        (("export", "--parquet", "OUT", "--hardware", "a100"), "Error: no hardware 'a100' (hardware in the store: h100, h200)"),
        (
            ("report", "--hardware", "h200", "--dataset", "text-vqa"),
            "Error: no file of the store has hardware h200 and dataset text-vqa; `budgetdb info` lists what it holds",
        ),
    ],
)
def test_a_filter_that_matches_nothing_is_an_error_naming_what_there_is(db, tmp_path, args, message):
    args = tuple(str(tmp_path / "out") if a == "OUT" else a for a in args)
    result = invoke(*args, "--db", db)
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == message
    assert not (tmp_path / "out").exists()


def test_the_harness_spellings_and_any_case_match(db):
    con = connect(db)
    chosen = scope.resolve(con, hardware=["H100"], dataset=["text_vqa"], experiment=["."])
    assert chosen == scope.Scope(("h100",), ("",), ("text-vqa",))
    assert chosen.params() == {"hardware": ["h100"], "experiment": [""], "dataset": ["text-vqa"]}
    assert scope.resolve(con) == scope.Scope()
    con.close()
    result = invoke("report", "--db", db, "--lang", "en", "--dataset", "text_vqa", "--hardware", "H100")
    assert result.exit_code == 0, result.output
    assert "#### Text-VQA\n" in result.stdout and "#### OKVQA" not in result.stdout
    assert "hardware = `h100`; experiment = `.` (all); dataset = `text-vqa`" in result.stdout


def test_the_root_experiment_is_selected_with_a_dot(db):
    rows = json.loads(invoke("query", "run", "config_points", "--db", db, "-p", "experiment=.", "-F", "json").stdout)
    assert [(r["experiment"], r["dataset"]) for r in rows] == [("", "text-vqa")]
    everything = json.loads(invoke("query", "run", "config_points", "--db", db, "-p", "experiment=", "-F", "json").stdout)
    assert len(everything) == 3  # an empty value is NULL: every experiment
    report = invoke("report", "--db", db, "--lang", "en", "--experiment", ".")
    assert report.exit_code == 0 and "#### Text-VQA" in report.stdout and "experiment = `.`;" in report.stdout


def test_repeated_list_filters_add_up_on_every_command(db, tmp_path):
    rows = json.loads(
        invoke("query", "run", "config_points", "--db", db, "-p", "dataset=okvqa", "-p", "dataset=text_vqa", "-F", "json").stdout
    )
    assert sorted(r["dataset"] for r in rows) == ["okvqa", "okvqa", "text-vqa"]
    assert invoke("query", "run", "config_points", "--db", db, "-p", "latency_stat=p50", "-p", "latency_stat=p95").exit_code == 1
    info = json.loads(invoke("info", "--db", db, "--hardware", "h100", "--hardware", "h200", "-F", "json").stdout)
    assert sorted((r["hardware"], r["dataset"]) for r in info) == [("h100", "okvqa"), ("h100", "text-vqa"), ("h200", "okvqa")]
    only = json.loads(invoke("info", "--db", db, "--hardware", "h200", "-F", "json").stdout)
    assert [(r["hardware"], r["dataset"], r["samples"]) for r in only] == [("h200", "okvqa", 1)]
    out = tmp_path / "export"
    exported = invoke("export", "--parquet", out, "--db", db, "--dataset", "okvqa", "--hardware", "h100", "-F", "json")
    assert exported.exit_code == 0, exported.output
    counts = {r["view"]: r["rows"] for r in json.loads(exported.stdout)}
    assert counts == {"samples": 1, "config_runs": 1, "files": 1}
    assert sorted(p.name for p in (out / "samples").iterdir()) == [".budgetdb-export", "hardware=h100"]
    report = invoke("report", "--db", db, "--lang", "en", "--hardware", "h100", "--hardware", "h200")
    assert report.exit_code == 0 and "## Results (h100, " in report.stdout and "## Results (h200, " in report.stdout


def test_a_skipped_file_names_no_dataset(tmp_path):
    """JSON that is no configuration result (layer_importance_scores.json in an experiment folder)
    is recorded as skipped; its folder is no dataset the filters offer."""
    from builders import add_config_run, new_store

    con = new_store(tmp_path / "s.duckdb")
    add_config_run(con, dataset="okvqa", samples={"accuracy": [0.5], "T_total": [100.0]})
    add_config_run(con, dataset="5run_2000samples", status="skipped", name="layer_importance_scores")
    con.close()
    result = invoke("report", "--dataset", "okvq", "--db", tmp_path / "s.duckdb")
    assert result.stderr.strip() == "Error: no dataset 'okvq'; did you mean 'okvqa'? (datasets in the store: okvqa)"
