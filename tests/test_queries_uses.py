"""`-- uses:` (dbt's ref()): a query reads other queries by name; the registry checks the
dependencies at load time and the runner runs each once into a temporary table."""

from __future__ import annotations

import hashlib
import re

import pytest

from budgetdb import connect, queries
from budgetdb.queries import registry, runner

from builders import add_config_run, new_store

PARAMS = {
    "dataset": "-- param: dataset VARCHAR[] = NULL -- only these datasets\n",
    "stat": "-- param: stat VARCHAR IN ('mean', 'p50') = 'mean' -- which statistic\n",
    "limit_n": "-- param: limit_n INTEGER = 3 -- how many\n",
}


def query_text(name, sql, *, params=("dataset",), uses="", param_lines=None):
    lines = param_lines if param_lines is not None else "".join(PARAMS[p] for p in params)
    uses_line = f"-- uses: {uses}\n" if uses else ""
    return f"-- name: {name}\n-- version: 1\n-- description: Test query {name}.\n{lines}{uses_line}-- returns: dataset\n\n{sql}\n"


def spec(name, sql, **kwargs):
    return registry.parse(f"{name}.v1.sql", query_text(name, sql, **kwargs))


def line_of(spec_, prefix):
    return next(i for i, line in enumerate(spec_.sql.split("\n"), start=1) if line.startswith(prefix))


# one row per dataset asked for (a and b when NULL); works on any connection
BASE_SQL = "SELECT unnest(coalesce(CAST($dataset AS VARCHAR[]), ['a', 'b'])) AS dataset"


def base():
    return spec("base", BASE_SQL)


# ---------------------------------------------------------------- load time


def test_uses_are_parsed_as_pinned_refs():
    top = spec("top", "SELECT dataset FROM base JOIN middle USING (dataset)", uses="base@v1, middle@v1")
    assert top.uses == ("base@v1", "middle@v1")
    assert base().uses == ()


@pytest.mark.parametrize("uses", ["base", "base@1", "Base@v1", "base@v0", "base@v1 middle@v1"])
def test_a_ref_that_is_not_pinned_is_refused_with_file_and_line(uses):
    with pytest.raises(queries.QueryDefinitionError, match=r"^top\.v1\.sql:5: `uses` takes pinned query versions"):
        spec("top", "SELECT dataset FROM base", uses=uses)


def test_a_dependency_named_twice_is_refused():
    with pytest.raises(queries.QueryDefinitionError, match=r"^top\.v1\.sql:5: `uses` names a query twice"):
        spec("top", "SELECT dataset FROM base", uses="base@v1, base@v1")


@pytest.mark.parametrize(
    ("uses", "valid"),
    [("missing@v1", "base, top"), ("base@v2", "base@v1")],
)
def test_an_unknown_dependency_is_refused_with_file_and_line(uses, valid):
    top = spec("top", f"SELECT dataset FROM {uses.partition('@')[0]}", uses=uses)
    with pytest.raises(queries.QueryDefinitionError) as refused:
        registry.link([base(), top])
    assert str(refused.value) == f"top.v1.sql:{line_of(top, '-- uses:')}: uses {uses}, which does not exist; valid: {valid}"


def test_a_cycle_is_refused_with_file_line_and_path():
    a = spec("a", "SELECT dataset FROM b", uses="b@v1")
    b = spec("b", "SELECT dataset FROM c", uses="c@v1")
    c = spec("c", "SELECT dataset FROM a", uses="a@v1")
    with pytest.raises(queries.QueryDefinitionError) as refused:
        registry.link([a, b, c])
    assert str(refused.value) == f"c.v1.sql:{line_of(c, '-- uses:')}: dependency cycle: a@v1 -> b@v1 -> c@v1 -> a@v1"
    itself = spec("a", "SELECT dataset FROM a", uses="a@v1")
    with pytest.raises(queries.QueryDefinitionError, match=r"^a\.v1\.sql:5: dependency cycle: a@v1 -> a@v1$"):
        registry.link([itself])


def test_a_dependency_parameter_missing_here_is_refused():
    stat_base = spec("base", BASE_SQL + " WHERE $stat <> ''", params=("dataset", "stat"))
    top = spec("top", "SELECT dataset FROM base", uses="base@v1")
    with pytest.raises(queries.QueryDefinitionError) as refused:
        registry.link([stat_base, top])
    assert str(refused.value) == (
        f"top.v1.sql:{line_of(top, '-- uses:')}: uses base@v1, whose parameter 'stat' is not declared here; "
        "declare it the same way: `-- param: stat VARCHAR IN ('mean', 'p50') = 'mean'`"
    )


@pytest.mark.parametrize(
    "declared",
    [
        "-- param: stat DOUBLE = 1 -- another type\n",
        "-- param: stat VARCHAR = 'mean' -- no choices\n",
        "-- param: stat VARCHAR IN ('mean', 'p50', 'p95') = 'mean' -- more choices\n",
        "-- param: stat VARCHAR IN ('mean', 'p50') = 'p50' -- another default\n",
        "-- param: stat VARCHAR IN ('mean', 'p50') -- required here\n",
    ],
)
def test_a_dependency_parameter_declared_differently_is_refused(declared):
    stat_base = spec("base", BASE_SQL + " WHERE $stat <> ''", params=("dataset", "stat"))
    top = spec("top", "SELECT dataset FROM base", uses="base@v1", param_lines=PARAMS["dataset"] + declared)
    with pytest.raises(queries.QueryDefinitionError) as refused:
        registry.link([stat_base, top])
    message = str(refused.value)
    assert message.startswith(f"top.v1.sql:{line_of(top, '-- param: stat')}: parameter stat ")
    assert "differs from base@v1's stat VARCHAR IN ('mean', 'p50') = 'mean'" in message
    assert "type, choices and default must be the same" in message


def test_a_parameter_only_a_dependency_reads_is_fine_one_nobody_reads_is_not():
    top = spec("top", "SELECT dataset FROM base", uses="base@v1")
    assert registry.link([base(), top])["top"][1] is top
    assert registry.sql_params(top) == ()
    unread = spec("top", "SELECT dataset FROM base", uses="base@v1", params=("dataset", "limit_n"))
    with pytest.raises(queries.QueryDefinitionError) as refused:
        registry.link([base(), unread])
    assert str(refused.value) == (
        f"top.v1.sql:{line_of(unread, '-- param: limit_n')}: parameter 'limit_n' is declared "
        "but neither $limit_n nor any query it uses reads it"
    )


def test_a_dependency_the_sql_never_reads_is_refused():
    # a name in a comment or a string is not a read
    top = spec("top", "-- FROM base\nSELECT 'base' AS dataset, $dataset AS d", uses="base@v1")
    with pytest.raises(queries.QueryDefinitionError, match=r"^top\.v1\.sql:5: uses base@v1 but never reads from base$"):
        registry.link([base(), top])


def test_packaged_closures_run_dependencies_first_and_once():
    assert [s.ref for s in queries.closure("budget_lookup@v1")] == [
        "config_points@v1",
        "pareto_frontier@v1",
        "frontier_summary@v1",
        "prefill_stats@v1",
        "budget_range@v1",
        "budget_lookup@v1",
    ]
    assert [s.ref for s in queries.closure("budget_lookup")] == [
        "config_points@v3",
        "pareto_frontier@v3",
        "frontier_summary@v3",
        "prefill_stats@v2",
        "budget_range@v3",
        "budget_lookup@v3",
    ]
    assert [s.ref for s in queries.closure("frontier_summary")] == [
        "config_points@v3",
        "pareto_frontier@v3",
        "frontier_summary@v3",
    ]
    assert [s.ref for s in queries.closure("config_points")] == ["config_points@v3"]
    for top in queries.list_queries():
        order = [s.ref for s in queries.closure(top.ref)]
        assert order[-1] == top.ref and len(order) == len(set(order))
        for position, dependent in enumerate(queries.closure(top.ref)):
            assert set(dependent.uses) <= set(order[:position]), (top.ref, dependent.ref)
            assert {p.name for p in dependent.params} <= {p.name for p in top.params}


# ---------------------------------------------------------------- running


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("uses") / "uses.duckdb"
    con = new_store(path)
    add_config_run(
        con,
        dataset="okvqa",
        tier="low",
        top_k=4,
        blocks=12,
        samples={"accuracy": [1, 0], "T_total": [150.0, 170.0], "T_LLM_prefill": [90.0, 110.0]},
    )
    add_config_run(
        con,
        dataset="okvqa",
        tier="high",
        top_k=8,
        blocks=16,
        samples={"accuracy": [1, 1], "T_total": [250.0, 270.0], "T_LLM_prefill": [120.0, 130.0]},
    )
    add_config_run(
        con,
        dataset="text-vqa",
        tier="low",
        top_k=4,
        blocks=12,
        samples={"accuracy": [0, 0], "T_total": [200.0, 210.0], "T_LLM_prefill": [100.0, 105.0]},
    )
    con.close()
    return path


def temp_tables(con):
    return [row[0] for row in con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary ORDER BY 1").fetchall()]


class Recorder:
    """A connection that notes every statement it is given."""

    def __init__(self, con):
        self.con, self.statements = con, []

    def execute(self, sql, params=None):
        self.statements.append(sql)
        return self.con.execute(sql) if params is None else self.con.execute(sql, params)


def test_each_dependency_runs_once_into_a_temp_table_then_is_dropped(store):
    con = connect(store)  # read-only, as budgetdb opens the store for queries
    recorder = Recorder(con)
    result = queries.run(recorder, "budget_lookup", {"budgets": [160, 260]})
    created = [m.group(1) for s in recorder.statements if (m := re.match(r'CREATE TEMP TABLE "(\w+)" AS\n', s))]
    assert created == ["config_points", "pareto_frontier", "frontier_summary", "prefill_stats", "budget_range"]
    dropped = [m.group(1) for s in recorder.statements if (m := re.match(r'DROP TABLE IF EXISTS temp\.main\."(\w+)"$', s))]
    assert dropped == created[::-1]
    assert sum(s == result.spec.sql for s in recorder.statements) == 1
    assert [s.ref for s in result.executed] == [s.ref for s in queries.closure("budget_lookup")]
    assert temp_tables(con) == []
    # okvqa: low 4/12 0.5 @ 160 ms, high 8/16 1.0 @ 260 ms; text-vqa has no frontier point (accuracy 0)
    assert [(r["budget"], r["dataset"], r["top_k"], r["slack"]) for r in result.records()] == [
        (160.0, "okvqa", 4, 0.0),
        (160.0, "text-vqa", None, None),
        (260.0, "okvqa", 8, 0.0),
        (260.0, "text-vqa", None, None),
    ]
    con.close()


def test_temp_tables_are_gone_after_a_failing_dependency(store):
    con = connect(store)
    with pytest.raises(
        queries.QueryRunError, match=r"^budget_lookup@v3 failed in budget_range@v3, a query it uses: .*step must be > 0"
    ):
        queries.run(con, "budget_lookup", {"step": 0})
    assert temp_tables(con) == []
    assert queries.run(con, "frontier_summary").records()[0]["n_points"] == 2  # the names are free again
    con.close()


@pytest.fixture
def synthetic(monkeypatch):
    """The runner sees `base` and two queries that use it instead of the packaged queries."""
    sees = spec(
        "sees",
        "SELECT dataset, (SELECT list(table_name) FROM duckdb_tables() WHERE temporary) AS temps FROM base",
        uses="base@v1",
    )
    fails = spec("fails", "SELECT dataset, error('boom ' || dataset) FROM base", uses="base@v1")
    linked = registry.link([base(), sees, fails])
    monkeypatch.setattr(runner, "load_all", lambda: linked)
    return linked


def test_a_dependency_runs_with_the_query_values(synthetic, store):
    con = connect(store)
    result = queries.run(con, "sees", {"dataset": "x,y"})
    assert result.rows == [("x", ["base"]), ("y", ["base"])]
    assert queries.run(con, "sees").rows == [("a", ["base"]), ("b", ["base"])]
    assert temp_tables(con) == []
    con.close()


def test_temp_tables_are_gone_after_the_query_itself_fails(synthetic, store):
    con = connect(store)
    with pytest.raises(queries.QueryRunError, match=r"^fails@v1 failed: .*boom a"):
        queries.run(con, "fails")
    assert temp_tables(con) == []
    con.close()


def test_a_temp_table_of_the_same_name_is_refused_and_left_alone(store):
    con = connect(store)
    con.execute("CREATE TEMP TABLE config_points AS SELECT 42 AS answer")
    with pytest.raises(
        queries.QueryRunError, match=r"^pareto_frontier@v3 failed in config_points@v3, a query it uses: .*already exists"
    ):
        queries.run(con, "pareto_frontier")
    assert con.execute("SELECT answer FROM config_points").fetchall() == [(42,)]
    con.close()


def test_running_queries_with_dependencies_leaves_the_store_file_unchanged(store):
    before = hashlib.sha256(store.read_bytes()).hexdigest()
    con = connect(store)
    for top in queries.list_queries():
        queries.run(con, top.ref)
    con.close()
    assert hashlib.sha256(store.read_bytes()).hexdigest() == before


def test_the_duckdb_shell_recipe_in_the_docs_gives_the_same_rows(store):
    """docs/queries.md: set the parameters as variables, $name -> getvariable('name'), create the
    dependencies as temp tables in closure order, then run the query."""
    params = {"dataset": ["okvqa", "text-vqa"], "latency_stat": "p50", "budgets": [165.0, 300.0]}
    expected = queries.run(connect(store), "budget_lookup", params).rows
    con = connect(store)
    con.execute("SET VARIABLE dataset = ['okvqa', 'text-vqa']")
    con.execute("SET VARIABLE latency_stage = 'T_total'")
    con.execute("SET VARIABLE latency_stat = 'p50'")
    con.execute("SET VARIABLE step = 10")
    con.execute("SET VARIABLE coarse_step = 50")
    con.execute("SET VARIABLE num = 10")
    con.execute("SET VARIABLE budgets = [165.0, 300.0]")
    *dependencies, top = queries.closure("budget_lookup")
    shell = lambda sql: re.sub(r"\$([a-z_]+)", r"getvariable('\1')", sql)  # noqa: E731 - the docs' sed
    for dependency in dependencies:
        con.execute(f"CREATE TEMP TABLE {dependency.name} AS {shell(dependency.sql)}")
    assert con.execute(shell(top.sql)).fetchall() == expected
    con.close()
