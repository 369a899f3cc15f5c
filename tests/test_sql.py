"""`budgetdb sql`, `budgetdb url` and the Python entry points (connect, engine, url)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

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


# -- what analyst SQL can reach (issue 14) -----------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "EXPLAIN ANALYZE COPY (SELECT 'x' AS v) TO '{store}' (FORMAT csv)",
        "EXPLAIN ANALYZE COPY (SELECT 'x' AS v) TO '{tmp}/leak.csv'",
        "EXPLAIN (ANALYZE, FORMAT json) COPY (SELECT 1) TO '{tmp}/leak.csv'",
        "explain /* a comment */ analyze\nCOPY (SELECT 1) TO '{tmp}/leak.csv'",
        "EXPLAIN EXPLAIN ANALYZE COPY (SELECT 1) TO '{tmp}/leak.csv'",
        "EXPLAIN ANALYZE SET memory_limit = '7MB'",
        "EXPLAIN ANALYZE INSTALL sqlite",
        "EXPLAIN ANALYZE LOAD sqlite",
        "EXPLAIN ANALYZE PRAGMA enable_profiling",
        "EXPLAIN ANALYZE ATTACH '{tmp}/other.duckdb' AS other",
        "EXPLAIN ANALYZE CREATE TEMP TABLE t AS SELECT 1",
        "SELECT 1; EXPLAIN ANALYZE EXPORT DATABASE '{tmp}/dump'",
    ],
)
def test_explain_is_checked_for_what_it_wraps(store, tmp_path, statement):
    before = sha256(store)
    result = invoke("sql", statement.format(store=store, tmp=tmp_path), "--db", str(store))
    assert result.exit_code == 1, result.output
    refused = result.stderr.startswith("Error: budgetdb sql only reads") and "EXPLAIN" in result.stderr
    assert refused or result.stderr.startswith("Error: cannot parse the SQL"), result.stderr  # DuckDB's grammar refuses some
    assert sha256(store) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.duckdb"]


def test_explain_of_a_query_runs(store):
    for statement in (
        "EXPLAIN SELECT * FROM samples",
        "EXPLAIN ANALYZE SELECT count(*) FROM samples",
        "EXPLAIN (FORMAT json) FROM files",
    ):
        result = invoke("sql", statement, "--db", str(store), "-F", "json")
        assert result.exit_code == 0, (statement, result.output)
        assert json.loads(result.stdout)[0].keys() == {"explain_key", "explain_value"}


def test_pivot_and_unpivot_are_reads(store):
    dynamic = invoke(
        "sql", "PIVOT config_runs ON dataset USING count(*) GROUP BY top_k ORDER BY top_k", "--db", str(store), "-F", "json"
    )
    assert dynamic.exit_code == 0, dynamic.output
    assert json.loads(dynamic.stdout) == [{"top_k": 4, "okvqa": 1, "text-vqa": 0}, {"top_k": 8, "okvqa": 0, "text-vqa": 1}]
    fixed = invoke(
        "sql",
        "PIVOT (SELECT dataset, n_samples FROM config_runs) ON dataset IN ('okvqa') USING sum(n_samples)",
        "--db",
        str(store),
        "-F",
        "json",
    )
    assert json.loads(fixed.stdout) == [{"okvqa": 3}]
    unpivot = invoke("sql", "UNPIVOT (SELECT 1 AS a, 2 AS b) ON a, b INTO NAME k VALUE v", "--db", str(store), "-F", "csv")
    assert unpivot.stdout == "k,v\na,1\nb,2\n"
    sneaky = invoke("sql", "CREATE TABLE pivoted AS PIVOT config_runs ON dataset USING count(*)", "--db", str(store))
    assert sneaky.exit_code == 1 and "CREATE statement" in sneaky.stderr


def test_analyst_sql_reads_the_store_only_unless_local_files_are_allowed(store, tmp_path):
    local = tmp_path / "mine.csv"
    local.write_text("x\n1\n2\n")
    statement = f"SELECT sum(x) AS total FROM read_csv('{local}')"
    refused = invoke("sql", statement, "--db", str(store))
    assert refused.exit_code == 1 and "file system operations are disabled" in refused.stderr
    for secret in ("/etc/passwd", "/etc/hostname"):
        denied = invoke("sql", f"SELECT * FROM read_text('{secret}')", "--db", str(store))
        assert denied.exit_code == 1 and "file system operations are disabled" in denied.stderr
    allowed = invoke("sql", statement, "--db", str(store), "--allow-local-files", "-F", "json")
    assert allowed.exit_code == 0, allowed.output
    assert json.loads(allowed.stdout) == [{"total": 3}]
    still_read_only = invoke("sql", f"COPY (SELECT 1) TO '{tmp_path}/out.csv'", "--db", str(store), "--allow-local-files")
    assert still_read_only.exit_code == 1 and "only reads" in still_read_only.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.csv", "store.duckdb"]


def test_machine_formats_write_every_row_and_the_table_says_where_it_cut(store):
    query = "SELECT i FROM range(2500) t(i)"
    as_csv = invoke("sql", query, "--db", str(store), "-F", "csv")
    assert len(as_csv.stdout.splitlines()) == 2501 and as_csv.stderr == ""
    as_json = invoke("sql", query, "--db", str(store), "-F", "json")
    assert len(json.loads(as_json.stdout)) == 2500 and as_json.stderr == ""
    capped_csv = invoke("sql", query, "--db", str(store), "-F", "csv", "--max-rows", "10")
    assert len(capped_csv.stdout.splitlines()) == 11 and "printed the first 10 rows only" in capped_csv.stderr
    table = invoke("sql", query, "--db", str(store))
    assert "│ 999 " in table.stdout and "│ 1000 " not in table.stdout
    assert "printed the first 1,000 rows only" in table.stderr and "-F csv" in table.stderr
    line = invoke("sql", query, "--db", str(store), "-F", "line", "--max-rows", "0")
    assert line.stdout.count("i = ") == 2500 and line.stderr == ""


def test_a_wide_table_elides_middle_columns_instead_of_folding_them(store):
    wide = "SELECT " + ", ".join(f"'value_{i:02d}' AS column_{i:02d}" for i in range(32))
    result = CliRunner().invoke(app, ["sql", wide, "--db", str(store)], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(len(line) <= 120 for line in lines), lines
    assert "column_00" in result.stdout and "column_31" in result.stdout and "…" in result.stdout
    assert "value_00" in result.stdout and "value_31" in result.stdout  # whole values, not 3-character folds
    assert "32 columns" in result.stderr and "-F line" in result.stderr
    as_lines = invoke("sql", wide, "--db", str(store), "-F", "line")
    assert [line.split(" = ")[0].strip() for line in as_lines.stdout.splitlines()] == [f"column_{i:02d}" for i in range(32)]


def test_floats_are_short_for_people_and_exact_for_programs(store):
    query = "SELECT 1/3 AS third, 1638588.0::DOUBLE AS n, 0.1::FLOAT AS f, 1e-9 AS tiny"
    table = invoke("sql", query, "--db", str(store), "-F", "markdown")
    assert table.stdout.splitlines()[-1] == "| 0.333333 | 1638588 | 0.1 | 1e-09 |"
    as_csv = invoke("sql", query, "--db", str(store), "-F", "csv")
    third, n, f, tiny = as_csv.stdout.splitlines()[1].split(",")
    assert float(third) == 1 / 3 and float(n) == 1638588.0 and f == "0.1" and float(tiny) == 1e-9


def test_json_columns_are_json_values(store):
    query = "SELECT latency_stats, '{\"a\": [1, 2.5]}'::JSON AS doc, ['{\"b\": null}'::JSON] AS docs FROM config_runs"
    result = invoke("sql", query + " WHERE dataset = 'okvqa'", "--db", str(store), "-F", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"latency_stats": {}, "doc": {"a": [1, 2.5]}, "docs": [{"b": None}]}]


def test_earlier_statements_are_never_fetched(store):
    """`SELECT <a billion rows>; SELECT 1` prints one row at once: the first is started, not read."""
    script = (
        "import resource, sys\n"
        "from budgetdb.cli.app import main\n"
        "sys.argv = ['budgetdb', 'sql', '--db', sys.argv[1], '-F', 'csv', "
        "'SELECT i, repeat(i::VARCHAR, 20) AS s FROM range(1000000000) t(i); SELECT 42 AS answer']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(store)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "answer\n42\n"
    assert int(done.stderr.split()[-1]) < 1000  # MB; fetching the first statement needs hundreds of GB


def test_the_time_limit_ends_a_read_that_blocks(store, tmp_path):
    """DuckDB checks for interrupts between chunks; a read of a FIFO nobody writes never returns.
    The command still ends, with one line, a few seconds after its time limit."""
    fifo = tmp_path / "never.csv"
    os.mkfifo(fifo)
    statement = f"SELECT * FROM read_csv('{fifo}')"
    refused = invoke("sql", statement, "--db", str(store))  # the default: no local file, the FIFO is not opened
    assert refused.exit_code == 1 and "file system operations are disabled" in refused.stderr
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from budgetdb.cli.app import main; main()",
            "sql",
            statement,
            "--db",
            str(store),
            "--allow-local-files",
            "--time-limit",
            "0.5",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("Error: the query was stopped after 0.5 s (its time limit) but did not end")
    assert done.stderr.count("\n") == 1


def test_invalid_utf8_sql_from_a_file_is_one_line(store, tmp_path):
    script = tmp_path / "latin1.sql"
    script.write_bytes("SELECT 'café' AS x".encode("latin-1"))
    result = invoke("sql", "-f", str(script), "--db", str(store))
    assert result.exit_code == 1
    assert result.stderr == f"Error: {script} is not UTF-8 text (byte 11 is b'\\xe9'); save it as UTF-8\n"
    piped = CliRunner().invoke(app, ["sql", "-f", "-", "--db", str(store)], input=b"SELECT '\xff' AS x")
    assert piped.exit_code == 1 and piped.stderr.startswith("Error: stdin is not UTF-8 text")


def test_the_time_limit_stops_a_block_of_many_short_queries():
    """The report runs many queries: an interrupt that lands between two of them must not be lost."""
    import time

    from budgetdb.queries.limits import QueryTimeoutError, time_limit

    con = duckdb.connect()
    give_up = time.monotonic() + 60  # a generous bound: without the fix the loop never ends
    with pytest.raises(QueryTimeoutError, match="stopped after 0.2 s"):
        with time_limit(con, 0.2):
            while time.monotonic() < give_up:
                con.execute("SELECT 42").fetchall()
    assert con.execute("SELECT 7").fetchall() == [(7,)]  # the connection works afterwards


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM enable_logging(storage := 'file', storage_path := '{tmp}/logs')",
        'SELECT * FROM system.main."Enable_Logging"()',
        "SELECT * FROM enable_profiling()",
        "SELECT * FROM truncate_duckdb_logs()",
        "SELECT * FROM checkpoint()",
        "EXPLAIN ANALYZE SELECT * FROM force_checkpoint()",
        "SELECT * FROM ducklake_cleanup_old_files('budget_lake', cleanup_all => true)",
        "SELECT * FROM ducklake_expire_snapshots('budget_lake', older_than => now())",
        "SELECT * FROM postgres_execute('__ducklake_metadata_budget_lake', 'DROP TABLE x')",
        "SELECT * FROM query('SELECT * FROM enable_logging()')",
    ],
)
def test_table_functions_that_change_state_are_refused_even_with_local_files(store, tmp_path, statement):
    """DuckDB's settings do not guard these: enable_logging(storage := 'file') wrote log files
    with --allow-local-files; the rest checkpoint, maintain a lake or run SQL past the check."""
    before = sha256(store)
    result = invoke("sql", statement.format(tmp=tmp_path), "--db", str(store), "--allow-local-files")
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: budgetdb sql only reads; the SQL calls "), result.stderr
    assert sha256(store) == before and sorted(p.name for p in tmp_path.iterdir()) == ["store.duckdb"]
    assert invoke("sql", "SELECT 1 AS query, 2 AS checkpoint", "--db", str(store)).exit_code == 0  # names, not calls


def test_statements_after_non_ascii_text_are_split_and_checked_where_they_are(store):
    """DuckDB's tokenizer gives byte offsets: after 'é😀' they are not string indexes."""
    several = invoke("sql", "SELECT 'é😀' AS x; SELECT 'ü' AS y, 2 AS z", "--db", str(store), "-F", "json")
    assert several.exit_code == 0, several.output
    assert json.loads(several.stdout) == [{"y": "ü", "z": 2}]
    refused = invoke("sql", "SELECT '😀😀😀😀😀😀😀😀' AS x; SELECT * FROM enable_logging()", "--db", str(store))
    assert refused.exit_code == 1 and "calls enable_logging()" in refused.stderr
    explained = invoke("sql", "EXPLAIN ANALYZE /* ünïcödé */ COPY (SELECT 1) TO 'x.csv'", "--db", str(store))
    assert explained.exit_code == 1 and "EXPLAIN of a COPY statement" in explained.stderr


def test_markdown_output_uses_the_reports_one_escaper(store):
    """-F markdown escaped fewer characters than the report's md filter (#, ~, $, & passed)."""
    from budgetdb.templates.formatting import md

    value = "# a ~b~ $c$ &d *e* |f| <g> line\nbreak"
    result = invoke("sql", "SELECT $$" + value + "$$ AS x", "--db", str(store), "-F", "markdown")
    assert result.stdout.splitlines()[-1] == f"| {md(value)} |"
    assert md(value) == r"\# a \~b\~ \$c\$ \&d \*e\* \|f\| \<g\> line break"
