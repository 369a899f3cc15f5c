"""Options of the `budgetdb` command itself: the store given before the command
(`budgetdb --db X report`; the command's own --db wins, then the root's, then $BUDGETDB_DB, then
./budget.duckdb) and shell completion."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from budgetdb.cli.app import app

from builders import add_config_run, new_store
from cli_support import imports


def invoke(*args, env=None):
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


def run_json(*args, env=None):
    result = invoke(*args, "-F", "json", env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def two_stores(tmp_path_factory):
    """Store A has 1 sample, store B 2, store C 3: prefill_stats' n says which one a command read."""
    folder = tmp_path_factory.mktemp("stores")
    paths = {}
    for name, n in (("A", 1), ("B", 2), ("C", 3)):
        paths[name] = folder / f"{name}.duckdb"
        con = new_store(paths[name])
        add_config_run(con, dataset="okvqa", tier="low", top_k=4, blocks=12, samples={"T_LLM_prefill": [100.0] * n})
        con.close()
    return paths


@pytest.mark.parametrize(
    ("before", "after", "env", "read"),
    [
        (("--db", "A"), (), {}, "A"),  # the root's option
        (("--db", "A"), ("--db", "B"), {}, "B"),  # the command's own wins
        (("--db", "A"), (), {"BUDGETDB_DB": "C"}, "A"),  # the root's wins over the env var
        ((), (), {"BUDGETDB_DB": "C"}, "C"),  # then the env var
        ((), ("--db", "B"), {"BUDGETDB_DB": "C"}, "B"),
    ],
)
def test_db_before_the_command(two_stores, before, after, env, read):
    path = lambda name: str(two_stores[name])  # noqa: E731
    args = [path(a) if a in two_stores else a for a in (*before, "query", "run", "prefill_stats", *after)]
    rows = run_json(*args, env={k: path(v) for k, v in env.items()})
    assert rows[0]["n"] == {"A": 1, "B": 2, "C": 3}[read]


def test_db_before_the_command_reaches_every_command(two_stores, tmp_path, monkeypatch):
    monkeypatch.delenv("BUDGETDB_DB", raising=False)
    monkeypatch.chdir(tmp_path)  # no ./budget.duckdb here
    a = str(two_stores["A"])
    assert invoke("--db", a, "info").exit_code == 0
    assert invoke("--db", a, "report", "--lang", "en").stdout.count("(1 samples in total)") == 1
    assert invoke("--db", a, "sql", "SELECT count(*) AS n FROM samples", "-F", "csv").stdout == "n\n1\n"
    assert invoke("--db", a, "url").stdout == f"duckdb:///{a}?access_mode=read_only\n"
    assert invoke("info").exit_code == 1  # and nothing sticks to the next command


def test_data_path_before_the_command(tmp_path):
    from ingest_support import make, write_json

    result_file = write_json(tmp_path / "results" / "r.json", make())
    lake, data = f"ducklake:{tmp_path / 'catalog.ducklake'}", tmp_path / "lake_data"
    done = invoke("--db", lake, "--data-path", data, "ingest", result_file)
    assert done.exit_code == 0, done.output
    assert any(data.rglob("*.parquet"))


def test_completion_options_exist_and_help_stays_without_duckdb():
    result = invoke("--help")
    assert "--install-completion" in result.stdout and "--show-completion" in result.stdout
    assert "--db STORE" in result.stdout
    assert not imports("duckdb", "--help")
    assert not imports("duckdb", "query", "--help")
