"""The same store on DuckLake (docs/scale.md): `--db ducklake:PATH.ducklake` (catalog in a local
file) and `--db ducklake:postgres:...` (catalog in PostgreSQL), Parquet data under
`--data-path`. Every command gives what it gives on a plain DuckDB file of the same results."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

import budgetdb
from budgetdb import demo, queries
from budgetdb.cli.app import app
from budgetdb.errors import BudgetdbError, StoreNotFoundError
from budgetdb.store import extensions, locate, migrations, open_store

from lake_support import new_lake, new_local_lake, new_postgres_lake, views_digest

BACKENDS = ["local", "postgres"]
CLI = [sys.executable, "-c", "from budgetdb.cli.app import main; main()"]


def invoke(*args, env=None, input=None):
    return CliRunner().invoke(app, [str(a) for a in args], env=env, input=input)


@pytest.fixture(autouse=True)
def _no_store_env(monkeypatch):
    monkeypatch.delenv("BUDGETDB_DB", raising=False)
    monkeypatch.delenv("BUDGETDB_DATA_PATH", raising=False)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return demo.write_demo_tree(tmp_path_factory.mktemp("lake_tree"), samples=243, seed=11).root


@pytest.fixture(scope="module")
def plain(tree, tmp_path_factory):
    """The same tree ingested into a plain DuckDB file: what every DuckLake must equal."""
    db = tmp_path_factory.mktemp("plain") / "plain.duckdb"
    assert invoke("ingest", tree, "--db", db).exit_code == 0
    return db


@pytest.fixture(params=BACKENDS)
def lake(request, tmp_path):
    return new_lake(request.param, tmp_path, request)


def _same(a, b) -> bool:
    """Equal values, floats to 1e-12 relative (NaN equals NaN)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12) or (math.isnan(a) and math.isnan(b))
    return type(a) is type(b) and a == b


def _digest(db, **kwargs):
    con = open_store(db, **kwargs)
    try:
        return views_digest(con)
    finally:
        con.close()


# -- where the store is ----------------------------------------------------------------------------


def test_db_strings_name_a_file_or_a_lake(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plain = locate(None)
    assert (plain.kind, plain.path) == ("duckdb", tmp_path / "budget.duckdb")
    local = locate("ducklake:lakes/team.ducklake", "parquet")
    assert (local.kind, local.path, local.data_path) == ("ducklake", tmp_path / "lakes/team.ducklake", str(tmp_path / "parquet"))
    assert local.attach_target == f"ducklake:{tmp_path / 'lakes/team.ducklake'}"
    pg = locate("ducklake:postgres:dbname=budgets host=127.0.0.1 port=5432 user=me password=s3cret", "s3://bucket/lake/")
    assert pg.on_postgres and pg.path is None and pg.data_path == "s3://bucket/lake/"
    assert pg.attach_target == "ducklake:postgres:dbname=budgets host=127.0.0.1 port=5432 user=me password=s3cret"
    assert "s3cret" not in pg.label and "password=***" in pg.label
    monkeypatch.setenv("BUDGETDB_DB", "ducklake:postgres:dbname=x host=127.0.0.1")
    monkeypatch.setenv("BUDGETDB_DATA_PATH", str(tmp_path / "from_env"))
    by_env = locate(None)
    assert by_env.on_postgres and by_env.data_path == str(tmp_path / "from_env")
    assert locate("other.duckdb").kind == "duckdb"  # --db wins over the environment
    for bad in ("ducklake:", "ducklake:postgres:", "ducklake:postgres:  "):
        with pytest.raises(StoreNotFoundError, match="ducklake:"):
            locate(bad)


def test_extensions_load_from_the_installed_packages_with_no_network():
    con = extensions.offline_connection()
    # an extension repository that cannot answer: any attempt to download would fail loudly
    con.execute("SET custom_extension_repository = 'http://127.0.0.1:9/no-such-repository'")
    assert con.execute(
        "SELECT current_setting('autoinstall_known_extensions'), current_setting('autoload_known_extensions')"
    ).fetchone() == (False, False)
    for name, package in [(n, extensions.PACKAGES[n]) for n in ("ducklake", "postgres_scanner")]:
        path = extensions.extension_file(name)
        assert package in path and path.endswith(f"v{duckdb.__version__}/{name}.duckdb_extension")
        extensions.load(con, name)
    loaded = dict(con.execute("SELECT extension_name, loaded FROM duckdb_extensions()").fetchall())
    assert loaded["ducklake"] and loaded["postgres_scanner"]
    con.close()


def test_a_missing_extension_package_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(extensions.PACKAGES, "ducklake", "no_such_extension_package")
    with pytest.raises(BudgetdbError, match=r"pip install 'budgetdb\[lake\]'"):
        open_store(f"ducklake:{tmp_path / 'c.ducklake'}", read_only=False)


def test_store_connections_never_autoload(tmp_path):
    db = f"ducklake:{tmp_path / 'c.ducklake'}"
    open_store(db, read_only=False).close()
    con = open_store(db)
    assert con.execute(
        "SELECT current_setting('autoinstall_known_extensions'), current_setting('autoload_known_extensions')"
    ).fetchone() == (False, False)
    con.close()


# -- every command, both catalogs ------------------------------------------------------------------


def test_ingest_query_report_and_sql_match_a_duckdb_file(lake, tree, plain):
    result = invoke("ingest", tree, *lake.args, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["samples_added"] == 243
    assert any(lake.data_path.rglob("*.parquet")), "the rows live in Parquet files under --data-path"
    assert _digest(lake.db) == _digest(plain)

    on_lake = invoke("query", "run", "pareto_frontier", "--db", lake.db, "-F", "json")
    assert on_lake.exit_code == 0, on_lake.output
    on_file = invoke("query", "run", "pareto_frontier", "--db", plain, "-F", "json")
    assert _same(json.loads(on_lake.stdout), json.loads(on_file.stdout))
    lake_con, file_con = (
        open_store(lake.db, against=locate(lake.db)),
        open_store(plain, against=locate(plain)),
    )  # compare_*: itself
    for spec in queries.list_queries():
        if spec.name == "store_summary":
            continue  # names the store itself
        # the compare_* queries (the store against itself) at a few resamples: cheap enough
        resampled = any(p.name == "resamples" for p in queries.plan(spec.name).params)
        few = {"resamples": 50} if spec.name.startswith("compare_") and resampled else {}
        on_lake, on_file = queries.run(lake_con, spec.name, few), queries.run(file_con, spec.name, few)
        # sums may add the same values in another order (other files, other row groups)
        assert on_lake.columns == on_file.columns and _same(on_lake.rows, on_file.rows), spec.name
    lake_con.close(), file_con.close()

    def body(text):  # the footer names the store and when it was last ingested
        store = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC|plain\.duckdb|catalog\.ducklake|dbname=")
        return [line for line in text.splitlines() if not store.search(line)]

    for lang in ("en", "zh"):
        on_lake = invoke("report", "--lang", lang, "--db", lake.db)
        assert on_lake.exit_code == 0, on_lake.output
        assert body(on_lake.stdout) == body(invoke("report", "--lang", lang, "--db", plain).stdout)

    count = "SELECT dataset, count(*) AS n FROM samples GROUP BY ALL ORDER BY dataset"
    assert invoke("sql", count, "--db", lake.db, "-F", "csv").stdout == invoke("sql", count, "--db", plain, "-F", "csv").stdout
    refused = invoke("sql", "DELETE FROM sample_records", "--db", lake.db)
    assert refused.exit_code == 1 and "only reads" in refused.stderr

    info = invoke("info", "--db", lake.db, "-F", "json")
    assert info.exit_code == 0, info.output
    assert sum(row["samples"] for row in json.loads(info.stdout)) == 243


def test_python_connect_and_engine_on_a_lake(lake, tree, plain):
    assert invoke("ingest", tree, *lake.args).exit_code == 0
    con = budgetdb.connect(lake.db)
    with pytest.raises(duckdb.Error, match="read-only"):
        con.execute("DELETE FROM file_records")
    assert con.execute("SELECT count(*) FROM samples").fetchone()[0] == 243
    con.close()
    query = "SELECT dataset, tier, count(*) AS n, avg(T_total) AS t FROM samples GROUP BY ALL ORDER BY ALL"
    from_lake = pd.read_sql(query, budgetdb.engine(lake.db))
    from_file = pd.read_sql(query, budgetdb.engine(plain))
    pd.testing.assert_frame_equal(from_lake, from_file)
    with pytest.raises(BudgetdbError, match="budgetdb.engine"):
        budgetdb.url(lake.db)
    shown = invoke("url", "--db", lake.db)
    assert shown.exit_code == 1 and "DuckLake" in shown.stderr


def test_reingest_is_idempotent_and_a_changed_file_replaces_its_rows(lake, tree, tmp_path):
    copy = shutil.copytree(tree, tmp_path / "core_exp_h100")
    plain = tmp_path / "plain.duckdb"
    for db in (lake.db, plain):
        assert invoke("ingest", copy, "--db", db, "--data-path", lake.data_path).exit_code == 0
    again = invoke("ingest", copy, *lake.args, "--format", "json")
    counts = json.loads(again.stdout)[0]
    assert (counts["files_new"], counts["files_updated"], counts["samples_added"]) == (0, 0, 0)
    assert _digest(lake.db) == _digest(plain)
    assert counts["files_unchanged"] == _digest(lake.db)["files"][0]

    changed = next(p for p in sorted(copy.rglob("*.json")) if "_rank" not in p.name and "topk4_blocks12" in p.name)
    body = json.loads(changed.read_text())
    body["per_sample_results"] = body["per_sample_results"][:1]
    body["per_sample_results"][0]["T_total"] = 123.25
    changed.write_text(json.dumps(body))
    for db in (lake.db, plain):
        result = invoke("ingest", copy, "--db", db, "--data-path", lake.data_path, "--format", "json")
        assert json.loads(result.stdout)[0]["files_updated"] == 1
    assert _digest(lake.db) == _digest(plain)
    con = open_store(lake.db)
    assert con.execute(
        "SELECT list(T_total) FROM samples WHERE file_id IN (SELECT file_id FROM files WHERE path = $p)", {"p": str(changed)}
    ).fetchone()[0] == [123.25]
    con.close()


def test_a_new_lake_is_at_the_latest_schema_and_reopening_applies_nothing(lake):
    open_store(lake.db, read_only=False, data_path=lake.data_path).close()
    open_store(lake.db, read_only=False).close()  # the catalog remembers its data path
    con = open_store(lake.db)
    assert [r[0] for r in con.execute("SELECT version FROM schema_version ORDER BY 1").fetchall()] == list(
        range(1, migrations.latest_version() + 1)
    )
    names = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database()"
        ).fetchall()
    }
    assert {"files", "samples", "config_runs", "file_records", "sample_records", "ingest_runs"} <= names
    con.close()


def test_reading_a_lake_that_does_not_exist_says_how_to_make_one(tmp_path, request):
    missing = new_local_lake(tmp_path)
    result = invoke("report", "--db", missing.db)
    assert result.exit_code == 1 and "no store at" in result.stderr and "budgetdb ingest" in result.stderr
    assert not (tmp_path / "catalog.ducklake").exists()
    empty_database = new_postgres_lake(tmp_path, request)
    result = invoke("info", "--db", empty_database.db)
    assert result.exit_code == 1 and "no store at" in result.stderr and "budgetdb ingest" in result.stderr


def test_local_catalog_writers_take_turns_with_wait(tmp_path):
    """A local catalog is a DuckDB file: one writer at a time, the others wait (--wait)."""
    roots = [
        demo.write_demo_tree(tmp_path / "results", samples=81, hardware=hw, seed=i).root for i, hw in enumerate(("a100", "h100"))
    ]
    lake = new_local_lake(tmp_path)
    procs = [
        subprocess.Popen(
            [*CLI, "ingest", str(root), *lake.args, "--wait", "60", "--format", "json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for root in roots
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-800:]
        assert json.loads(out)[0]["samples_added"] == 81
    plain = tmp_path / "plain.duckdb"
    for root in roots:
        assert invoke("ingest", root, "--db", plain).exit_code == 0
    assert _digest(lake.db) == _digest(plain)


def test_help_documents_the_lake_options():
    for command in ("ingest", "info", "report", "sql", "export"):
        text = re.sub(r"\s+", " ", invoke(command, "--help").stdout)
        assert "ducklake:postgres:" in text and "--data-path" in text, command
    run_help = re.sub(r"\s+", " ", invoke("query", "run", "--help").stdout)
    assert "--data-path" in run_help


def test_a_data_path_on_object_storage_needs_the_httpfs_package(monkeypatch, tmp_path):
    monkeypatch.setitem(extensions.PACKAGES, "httpfs", "no_such_httpfs_package")
    with pytest.raises(BudgetdbError, match=r"httpfs extension: pip install no-such-httpfs-package==1\.5\.5"):
        open_store(f"ducklake:{tmp_path / 'c.ducklake'}", read_only=False, data_path="s3://bucket/lake/")
    assert not (tmp_path / "c.ducklake").exists()  # failed before anything was created
