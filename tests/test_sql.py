"""`budgetdb sql`, `budgetdb url` and the Python entry points (connect, engine, url)."""

from __future__ import annotations

import hashlib
import json

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

import budgetdb
from budgetdb.cli.app import app
from budgetdb.queries.adhoc import sql as run_sql

from builders import add_config_run, new_store


def invoke(*args, input=None):
    return CliRunner().invoke(app, list(args), input=input)


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def store(tmp_path):
    path = tmp_path / "store.duckdb"
    con = new_store(path)
    add_config_run(
        con,
        dataset="okvqa",
        tier="low",
        top_k=4,
        blocks=12,
        samples={"accuracy": [1.0, 0.0, 0.5], "T_total": [100.0, 200.0, 300.0]},
    )
    add_config_run(con, dataset="text-vqa", tier="high", top_k=8, blocks=16, samples={"accuracy": [1.0], "T_total": [400.0]})
    con.close()
    return path


def test_select_in_every_format(store):
    query = "SELECT dataset, n_samples FROM config_runs ORDER BY dataset"
    as_json = invoke("sql", query, "--db", str(store), "--format", "json")
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout) == [{"dataset": "okvqa", "n_samples": 3}, {"dataset": "text-vqa", "n_samples": 1}]
    as_csv = invoke("sql", query, "--db", str(store), "-F", "csv")
    assert as_csv.stdout == "dataset,n_samples\nokvqa,3\ntext-vqa,1\n"
    as_table = invoke("sql", query, "--db", str(store))
    assert as_table.exit_code == 0 and "text-vqa" in as_table.stdout
    assert as_table.stderr == ""


def test_nan_and_infinity_are_null_in_json(store):
    result = invoke(
        "sql", "SELECT 'nan'::DOUBLE AS a, 'inf'::DOUBLE AS b, [1.5, 'nan'::DOUBLE] AS c", "--db", str(store), "-F", "json"
    )
    assert result.exit_code == 0
    assert "NaN" not in result.stdout and "Infinity" not in result.stdout
    assert json.loads(result.stdout) == [{"a": None, "b": None, "c": [1.5, None]}]


def test_sql_from_a_file_and_from_stdin(store, tmp_path):
    script = tmp_path / "q.sql"
    script.write_text("-- runs per dataset\nWITH r AS (SELECT * FROM config_runs)\nSELECT count(*) AS n FROM r;\n")
    assert json.loads(invoke("sql", "-f", str(script), "--db", str(store), "-F", "json").stdout) == [{"n": 2}]
    piped = invoke("sql", "-f", "-", "--db", str(store), "-F", "json", input="SELECT 7 AS x")
    assert json.loads(piped.stdout) == [{"x": 7}]
    several = invoke("sql", "SELECT 1 AS a; SELECT 2 AS b", "--db", str(store), "-F", "json")
    assert json.loads(several.stdout) == [{"b": 2}]


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM sample_records",
        "INSERT INTO ingest_runs (run_id, started_at, paths, budgetdb_version) VALUES (9, now(), [], 'x')",
        "DROP VIEW samples",
        "CREATE TABLE scratch AS SELECT 1",
        "UPDATE file_records SET status = 'gone'",
        "SELECT 1; DELETE FROM file_records",
        "CHECKPOINT",
        "ATTACH '{tmp}/other.duckdb' AS other",
        "COPY (SELECT * FROM samples) TO '{tmp}/leak.csv'",
        "EXPORT DATABASE '{tmp}/dump'",
        "SET threads = 1",
    ],
)
def test_writes_are_refused_and_the_store_is_untouched(store, tmp_path, statement):
    before = sha256(store)
    result = invoke("sql", statement.format(tmp=tmp_path), "--db", str(store))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: budgetdb sql only reads")
    assert "budgetdb ingest" in result.stderr
    assert sha256(store) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.duckdb"]


def test_the_row_cap_says_when_it_cut(store):
    result = invoke("sql", "SELECT * FROM range(10) t(i)", "--db", str(store), "-F", "csv", "--max-rows", "4")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == ["i", "0", "1", "2", "3"]
    assert "printed the first 4 rows only" in result.stderr
    exact = invoke("sql", "SELECT * FROM range(4) t(i)", "--db", str(store), "-F", "csv", "--max-rows", "4")
    assert exact.stderr == ""
    everything = invoke("sql", "SELECT * FROM range(2000) t(i)", "--db", str(store), "-F", "csv", "--max-rows", "0")
    assert len(everything.stdout.splitlines()) == 2001 and everything.stderr == ""


def test_the_time_limit_stops_a_long_query(store):
    result = invoke("sql", "SELECT count(*) FROM range(1000000000000)", "--db", str(store), "--time-limit", "0.3")
    assert result.exit_code == 1
    assert "stopped after 0.3 s" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give the SQL either as an argument or with -f FILE"),
        (("SELECT 1", "-f", "x.sql"), "not both"),
        (("SELEC 1",), "cannot parse the SQL"),
        (("SELECT * FROM no_such_table",), "no_such_table"),
    ],
)
def test_sql_errors(store, args, message):
    result = invoke("sql", *args, "--db", str(store))
    assert result.exit_code == 1
    assert message in result.stderr


def test_the_library_function_caps_rows(store):
    con = budgetdb.connect(store)
    result = run_sql(con, "SELECT * FROM range(5) t(i)", max_rows=2)
    assert (result.columns, result.rows, result.truncated) == (["i"], [(0,), (1,)], True)


def test_url_command_and_function(store):
    result = invoke("url", "--db", str(store))
    assert result.exit_code == 0
    assert result.stdout == f"duckdb:///{store}?access_mode=read_only\n" == budgetdb.url(store) + "\n"
    before = sha256(store)
    frame = pd.read_sql("SELECT count(*) AS runs FROM config_runs", result.stdout.strip())
    assert frame["runs"].tolist() == [2]
    from sqlalchemy import create_engine

    engine = create_engine(result.stdout.strip())
    try:
        with pytest.raises(Exception, match="read-only"), engine.connect() as con:
            con.exec_driver_sql("DROP VIEW samples")
    finally:
        engine.dispose()
    assert sha256(store) == before


def test_pandas_read_sql_through_the_engine(store):
    before = sha256(store)
    engine = budgetdb.engine(store)
    try:
        frame = pd.read_sql("SELECT dataset, n_samples FROM config_runs ORDER BY dataset", engine)
        assert frame.to_dict("records") == [{"dataset": "okvqa", "n_samples": 3}, {"dataset": "text-vqa", "n_samples": 1}]
        samples = pd.read_sql("SELECT T_total FROM samples WHERE dataset = 'okvqa' ORDER BY T_total", engine)
        assert samples["T_total"].tolist() == [100.0, 200.0, 300.0]
        with pytest.raises(Exception, match="read-only"):
            with engine.connect() as con:
                con.exec_driver_sql("DELETE FROM sample_records")
    finally:
        engine.dispose()
    assert sha256(store) == before


def test_engine_and_connect_together_in_one_process(store):
    con = budgetdb.connect(store)
    engine = budgetdb.engine(store)
    try:
        assert pd.read_sql("SELECT count(*) AS n FROM samples", engine)["n"].tolist() == [4]
        assert con.execute("SELECT count(*) FROM samples").fetchone() == (4,)
    finally:
        engine.dispose()
        con.close()


def test_connect_is_read_only_by_default(store):
    con = budgetdb.connect(store)
    try:
        with pytest.raises(duckdb.Error, match="read-only"):
            con.execute("DELETE FROM sample_records")
    finally:
        con.close()
