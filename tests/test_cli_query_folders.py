"""Your own queries from the command line: --queries DIR and $BUDGETDB_QUERIES beside the packaged
queries, `query run FILE.sql`, `query check`, `query compile`, --pin."""

from __future__ import annotations

import json
import os

import duckdb
import pytest
from typer.main import get_command
from typer.testing import CliRunner

from budgetdb.cli.app import app
from budgetdb.queries.sqltext import placeholders

from builders import add_config_run, new_store


def invoke(*args, env=None):
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


def query_file(name, version, sql, *, uses="", params=""):
    uses_line = f"-- uses: {uses}\n" if uses else ""
    header = f"-- name: {name}\n-- version: {version}\n-- description: {name} of the team.\n{params}{uses_line}"
    return f"{header}-- returns: dataset, n\n{sql}\n"


# the number of frontier points per dataset, at least min_accuracy accurate: a query on a packaged one
FRONTIER_SIZE = query_file(
    "frontier_size",
    1,
    "SELECT dataset, count(*) AS n FROM pareto_frontier WHERE accuracy >= $min_accuracy GROUP BY dataset ORDER BY dataset",
    uses="pareto_frontier",
    params="-- param: min_accuracy DOUBLE = 0 -- only points at least this accurate\n",
)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """okvqa: 3 runs, 2 on the frontier (accuracy 0.5 at 160 ms, 1.0 at 260 ms); text-vqa: 1 run, on it."""
    path = tmp_path_factory.mktemp("folders") / "s.duckdb"
    con = new_store(path)
    add_config_run(con, dataset="okvqa", tier="low", top_k=4, blocks=12, samples={"accuracy": [1, 0], "T_total": [150.0, 170.0]})
    add_config_run(con, dataset="okvqa", tier="high", top_k=8, blocks=16, samples={"accuracy": [1, 1], "T_total": [250.0, 270.0]})
    add_config_run(
        con, dataset="okvqa", tier="medium", top_k=6, blocks=14, samples={"accuracy": [0, 1], "T_total": [280.0, 300.0]}
    )
    add_config_run(
        con, dataset="text-vqa", tier="low", top_k=4, blocks=12, samples={"accuracy": [1, 0], "T_total": [200.0, 210.0]}
    )
    con.close()
    return path


@pytest.fixture
def team(tmp_path):
    path = tmp_path / "team_queries"
    path.mkdir()
    (path / "frontier_size.v1.sql").write_text(FRONTIER_SIZE, "utf-8")
    return path


def run_json(*args, env=None):
    result = invoke(*args, "-F", "json", env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_user_folder_query_runs_on_a_packaged_one(store, team):
    assert run_json("query", "run", "frontier_size", "--queries", team, "--db", store) == [
        {"dataset": "okvqa", "n": 2},
        {"dataset": "text-vqa", "n": 1},
    ]
    # its parameters: its own, and those flowing to pareto_frontier and config_points
    rows = run_json(
        "query", "run", "frontier_size", "--queries", team, "--db", store, "-p", "min_accuracy=0.6", "-p", "dataset=okvqa"
    )
    assert rows == [{"dataset": "okvqa", "n": 1}]
    missing = invoke("query", "run", "frontier_size", "--db", store)
    assert missing.exit_code == 1 and missing.stderr.startswith("Error: no query named 'frontier_size'")


def test_list_marks_where_each_query_comes_from(team):
    rows = run_json("query", "list", "--queries", team)
    by_name = {row["name"]: row for row in rows}
    assert by_name["frontier_size"]["source"] == str(team)
    assert by_name["frontier_size"]["params"] == (
        "hardware, experiment, dataset, latency_stage=T_total, latency_stat=mean, include_repeats=false, min_accuracy=0"
    )
    assert {row["source"] for name, row in by_name.items() if name != "frontier_size"} == {"packaged"}
    (team / "pareto_frontier.v9.sql").write_text(
        query_file("pareto_frontier", 9, "SELECT dataset, 1 AS n FROM config_points", uses="config_points"), "utf-8"
    )
    latest = {row["name"]: row for row in run_json("query", "list", "--queries", team)}
    assert (latest["pareto_frontier"]["version"], latest["pareto_frontier"]["source"]) == (9, str(team))
    every = [(row["name"], row["version"], row["source"]) for row in run_json("query", "list", "--queries", team, "--all")]
    assert [row for row in every if row[0] == "pareto_frontier"] == [
        ("pareto_frontier", 1, "packaged"),
        ("pareto_frontier", 2, "packaged"),
        ("pareto_frontier", 3, "packaged"),
        ("pareto_frontier", 9, str(team)),
    ]


def test_folders_from_the_environment_come_after_the_given_ones(store, team, tmp_path):
    other = tmp_path / "personal"
    other.mkdir()
    (other / "frontier_size.v1.sql").write_text(FRONTIER_SIZE.replace("count(*) AS n", "count(*) * 100 AS n"), "utf-8")
    (other / "mine.v1.sql").write_text(query_file("mine", 1, "SELECT 'x' AS dataset, 7 AS n"), "utf-8")
    env = {"BUDGETDB_QUERIES": os.pathsep.join([str(team), str(other)])}
    assert run_json("query", "run", "mine", "--db", store, env=env) == [{"dataset": "x", "n": 7}]
    # the same name@version in two folders: the first one's is used, `query check` says so
    assert run_json("query", "run", "frontier_size", "--db", store, env=env)[0]["n"] == 2
    given_first = run_json("query", "run", "frontier_size", "--db", store, "--queries", other, env=env)
    assert given_first[0]["n"] == 200
    check = invoke("query", "check", env=env)
    assert check.exit_code == 1
    assert check.stdout == (
        f"{os.path.join(str(other), 'frontier_size.v1.sql')}: defines frontier_size@v1, which "
        f"{os.path.join(str(team), 'frontier_size.v1.sql')} defines already (that one is used: its folder comes first)\n"
    )


def test_a_missing_folder_in_the_environment_is_a_problem_not_a_failure(store, tmp_path):
    env = {"BUDGETDB_QUERIES": os.pathsep.join([str(tmp_path / "gone"), ""])}
    assert len(run_json("query", "run", "config_points", "--db", store, env=env)) == 4
    check = invoke("query", "check", env=env)
    assert (check.exit_code, check.stdout) == (1, f"BUDGETDB_QUERIES: no folder '{tmp_path / 'gone'}'\n")


def test_a_broken_user_file_breaks_only_what_uses_it(store, team):
    (team / "broken.v1.sql").write_text(query_file("broken", 1, "SELECT $nope AS dataset, 1 AS n"), "utf-8")
    (team / "on_broken.v1.sql").write_text(query_file("on_broken", 1, "SELECT * FROM broken", uses="broken"), "utf-8")
    (team / "notes.sql").write_text("SELECT 1", "utf-8")
    broken_at = f"{os.path.join(str(team), 'broken.v1.sql')}:5: $nope is used but not declared with `-- param: nope ...`"
    # everything else works
    assert run_json("query", "run", "frontier_size", "--queries", team, "--db", store)[0]["n"] == 2
    assert invoke("report", "--db", store, env={"BUDGETDB_QUERIES": str(team)}).exit_code == 0
    listed = invoke("query", "list", "--queries", team)
    assert listed.exit_code == 0 and "frontier_size" in listed.stdout and "on_broken" in listed.stdout
    problems = [line for line in listed.stderr.splitlines() if "problem" in line]
    assert problems == ["budgetdb: 3 problem(s) in query files; `budgetdb query check` lists them"]
    # what is broken says where and why, in one line
    direct = invoke("query", "run", "broken", "--queries", team, "--db", store)
    assert (direct.exit_code, direct.stderr) == (1, f"Error: {broken_at}\n")
    user = invoke("query", "run", "on_broken", "--queries", team, "--db", store)
    on_broken_at = os.path.join(str(team), "on_broken.v1.sql")
    assert (user.exit_code, user.stderr) == (
        1,
        f"Error: {on_broken_at}:4: uses broken, and broken@v1 cannot be used: {broken_at}\n",
    )
    # check lists every problem
    check = invoke("query", "check", "--queries", team)
    assert check.exit_code == 1
    assert check.stdout.splitlines() == [
        broken_at,
        f"{os.path.join(str(team), 'notes.sql')}: query files are named <name>.v<N>.sql (lower-case name)",
        f"{on_broken_at}:4: uses broken, and broken@v1 cannot be used: {broken_at}",
    ]
    assert check.stderr == "Error: 3 problems in the queries of 1 folder and the package\n"


def test_check_is_quiet_when_all_is_well(team):
    check = invoke("query", "check", "--queries", team)
    assert check.exit_code == 0, check.output
    assert check.stdout.endswith("query versions in 1 folder and the package: no problems\n")
    packaged = invoke("query", "check")
    assert packaged.exit_code == 0 and "in 0 folders and the package: no problems" in packaged.stdout


def test_a_user_file_may_not_redefine_a_packaged_version(store, team):
    copy = query_file("config_points", 2, "SELECT 'mine' AS dataset, 1 AS n")
    (team / "config_points.v2.sql").write_text(copy, "utf-8")
    check = invoke("query", "check", "--queries", team)
    assert check.exit_code == 1
    assert check.stdout == (
        f"{os.path.join(str(team), 'config_points.v2.sql')}: defines config_points@v2, a packaged query; a published "
        "version never changes: give yours a version number the package does not use (or another name)\n"
    )
    # the packaged one keeps its answers
    assert len(run_json("query", "run", "config_points@v2", "--queries", team, "--db", store)) == 4


def test_a_missing_folder_is_a_one_line_error(tmp_path):
    result = invoke("query", "list", "--queries", tmp_path / "nope")
    assert result.exit_code == 1
    assert result.stderr == f"Error: no query folder '{tmp_path / 'nope'}' (a folder of <name>.v<N>.sql files)\n"


def test_run_a_query_file_by_its_path(store, tmp_path):
    path = tmp_path / "frontier.sql"  # any file name will do when given by path
    path.write_text(FRONTIER_SIZE, "utf-8")
    assert run_json("query", "run", path, "--db", store) == [{"dataset": "okvqa", "n": 2}, {"dataset": "text-vqa", "n": 1}]
    assert invoke("query", "show", path).stdout == FRONTIER_SIZE
    wrong = tmp_path / "other.v2.sql"
    wrong.write_text(FRONTIER_SIZE, "utf-8")
    refused = invoke("query", "run", wrong, "--db", store)
    assert (refused.exit_code, refused.stderr) == (1, f"Error: {wrong}:1: name 'frontier_size' does not match the file name\n")
    missing = invoke("query", "run", tmp_path / "none.sql", "--db", store)
    assert (missing.exit_code, missing.stderr) == (1, f"Error: no query file {tmp_path / 'none.sql'}\n")


def test_compile_prints_sql_a_plain_duckdb_connection_runs_to_the_same_rows(store, team):
    args = ("frontier_size", "--queries", team, "-p", "min_accuracy=0.6", "-p", "dataset=okvqa,it's")
    compiled = invoke("query", "compile", *args)
    assert compiled.exit_code == 0, compiled.output
    assert placeholders(compiled.stdout) == {}  # every value is in the text
    assert "CAST(['okvqa', 'it''s'] AS VARCHAR[])" in compiled.stdout
    con = duckdb.connect(str(store), read_only=True)
    columns_rows = con.execute(compiled.stdout)
    columns = [d[0] for d in columns_rows.description]
    got = [dict(zip(columns, row, strict=True)) for row in columns_rows.fetchall()]
    con.close()
    # `query run` checks a dataset against the store (there is no "it's"): the store's rows are the same
    ran = run_json(
        "query", "run", "frontier_size", "--queries", team, "-p", "min_accuracy=0.6", "-p", "dataset=okvqa", "--db", store
    )
    assert got == ran == [{"dataset": "okvqa", "n": 1}]


def test_pin_fixes_the_version_of_unpinned_uses(store, team):
    # pareto_frontier@v1 reads config_points@v1, v2 reads config_points@v2: same points here
    pinned = run_json("query", "run", "frontier_size", "--queries", team, "--db", store, "--pin", "pareto_frontier@v1")
    assert pinned == [{"dataset": "okvqa", "n": 2}, {"dataset": "text-vqa", "n": 1}]
    sql = invoke("query", "compile", "frontier_size", "--queries", team, "--pin", "pareto_frontier@v1").stdout
    assert "-- queries inlined: config_points@v1, pareto_frontier@v1\n" in sql
    bad = invoke("query", "run", "frontier_size", "--queries", team, "--db", store, "--pin", "pareto_frontier")
    assert (bad.exit_code, bad.stderr) == (1, "Error: a pin is name@vN, like config_points@v2; got 'pareto_frontier'\n")


@pytest.mark.parametrize("command", [("query", "check"), ("query", "compile")])
def test_the_new_commands_are_documented(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0 and "Example: budgetdb" in result.stdout
    click_command = get_command(app)
    for name in command:
        click_command = click_command.commands[name]
    for param in click_command.params:
        assert getattr(param, "help", None) or param.name == "help", f"{command} {param.name} has no help"


def test_a_query_that_fails_in_duckdb_is_one_line_without_its_sql_pointer(store, team):
    (team / "no_column.v1.sql").write_text(
        query_file("no_column", 1, "SELECT dataset, nope AS n FROM pareto_frontier", uses="pareto_frontier"), "utf-8"
    )
    result = invoke("query", "run", "no_column", "--queries", team, "--db", store)
    assert result.exit_code == 1
    assert result.stderr.startswith('Error: no_column@v1 failed: Binder Error: Referenced column "nope" not found')
    assert "LINE" not in result.stderr and "\\n" not in result.stderr and len(result.stderr.splitlines()) == 1
