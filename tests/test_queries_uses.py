"""`-- uses:` (dbt's ref()): a query reads other queries by name; the catalog resolves and checks
the dependencies (parameters flowing to them by name) and the runner runs each once into a
temporary table named after its version."""

from __future__ import annotations

import hashlib
import re

import pytest

from budgetdb import connect, queries
from budgetdb.queries import ranges, registry
from budgetdb.store import locate, open_store

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


def link(*specs):
    """A catalog of `specs` with every `uses` resolved and checked, as `budgetdb query check` does."""
    catalog = queries.Catalog(specs)
    for one in specs:
        catalog.plan(one.ref)
    return catalog


# ---------------------------------------------------------------- load time


def test_uses_are_parsed_as_written():
    top = spec("top", "SELECT dataset FROM base JOIN middle USING (dataset)", uses="base@v1, middle")
    assert top.uses == ("base@v1", "middle")
    assert base().uses == ()


@pytest.mark.parametrize("uses", ["base@1", "Base@v1", "base@v0", "base@v1 middle@v1", "base@latest"])
def test_a_malformed_ref_is_refused_with_file_and_line(uses):
    with pytest.raises(queries.QueryDefinitionError, match=r"^top\.v1\.sql:5: `uses` takes query names, each the latest"):
        spec("top", "SELECT dataset FROM base", uses=uses)


@pytest.mark.parametrize("uses", ["base@v1, base@v1", "base, base@v1"])
def test_a_dependency_named_twice_is_refused(uses):
    with pytest.raises(queries.QueryDefinitionError, match=r"^top\.v1\.sql:5: `uses` names a query twice"):
        spec("top", "SELECT dataset FROM base", uses=uses)


@pytest.mark.parametrize(
    ("uses", "valid"),
    [("missing@v1", "base, top"), ("missing", "base, top"), ("base@v2", "base@v1")],
)
def test_an_unknown_dependency_is_refused_with_file_and_line(uses, valid):
    top = spec("top", f"SELECT dataset FROM {uses.partition('@')[0]}", uses=uses)
    with pytest.raises(queries.QueryDefinitionError) as refused:
        link(base(), top)
    assert str(refused.value) == f"top.v1.sql:{line_of(top, '-- uses:')}: uses {uses}, which does not exist; valid: {valid}"


def test_a_cycle_is_refused_with_file_line_and_path():
    a = spec("a", "SELECT dataset FROM b", uses="b@v1")
    b = spec("b", "SELECT dataset FROM c", uses="c")
    c = spec("c", "SELECT dataset FROM a", uses="a@v1")
    with pytest.raises(queries.QueryDefinitionError) as refused:
        link(a, b, c)
    assert str(refused.value) == f"c.v1.sql:{line_of(c, '-- uses:')}: dependency cycle: a@v1 -> b@v1 -> c@v1 -> a@v1"
    itself = spec("a", "SELECT dataset FROM a", uses="a")
    with pytest.raises(queries.QueryDefinitionError, match=r"^a\.v1\.sql:5: dependency cycle: a@v1 -> a@v1$"):
        link(itself)


STAT_BASE_SQL = BASE_SQL + " WHERE $stat <> ''"


def stat_base():
    return spec("base", STAT_BASE_SQL, params=("dataset", "stat"))


def test_a_dependency_parameter_flows_without_being_declared():
    top = spec("top", "SELECT dataset FROM base", uses="base@v1", params=())
    plan = link(stat_base(), top).plan("top")
    assert [(p.name, p.type, p.default, p.choices) for p in plan.params] == [
        ("dataset", "VARCHAR[]", None, None),
        ("stat", "VARCHAR", "mean", ("mean", "p50")),
    ]
    assert plan.param("stat").description == "which statistic"


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        (
            "-- param: stat DOUBLE = 1 -- another type\n",
            "parameter stat DOUBLE = 1.0 has another type than base@v1's stat VARCHAR",
        ),
        (
            "-- param: stat VARCHAR IN ('mean', 'p50', 'p95') = 'mean' -- more choices\n",
            "allows values base@v1 refuses (stat VARCHAR IN ('mean', 'p50') = 'mean'); a query may narrow the choices",
        ),
        ("-- param: stat VARCHAR = 'p95' -- a default the dependency refuses\n", "default 'p95' is not one of the choices"),
    ],
)
def test_a_dependency_parameter_redeclared_with_another_type_or_wider_choices_is_refused(declared, message):
    top = spec("top", "SELECT dataset FROM base", uses="base@v1", param_lines=PARAMS["dataset"] + declared)
    with pytest.raises(queries.QueryDefinitionError) as refused:
        link(stat_base(), top)
    assert str(refused.value).startswith(f"top.v1.sql:{line_of(top, '-- param: stat')}: ")
    assert message in str(refused.value)


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("-- param: stat VARCHAR IN ('mean', 'p50') = 'mean' -- the same: today's files\n", ("mean", ("mean", "p50"), False)),
        ("-- param: stat VARCHAR = 'p50' -- another default, the choices inherited\n", ("p50", ("mean", "p50"), False)),
        ("-- param: stat VARCHAR IN ('p50') = 'p50' -- narrower choices\n", ("p50", ("p50",), False)),
        ("-- param: stat VARCHAR -- required here\n", (None, ("mean", "p50"), True)),
    ],
)
def test_a_dependency_parameter_may_be_redeclared_with_another_default(declared, expected):
    top = spec("top", "SELECT dataset FROM base", uses="base@v1", param_lines=declared)
    param = link(stat_base(), top).plan("top").param("stat")
    assert (param.default, param.choices, param.required) == expected


def test_two_dependencies_taking_one_parameter_differently_need_it_declared():
    other = spec(
        "other",
        "SELECT 'x' AS dataset WHERE $stat <> ''",
        params=("stat",),
        param_lines=PARAMS["stat"].replace("= 'mean'", "= 'p50'"),
    )
    top = spec("top", "SELECT dataset FROM base UNION ALL SELECT dataset FROM other", uses="base, other", params=())
    with pytest.raises(queries.QueryDefinitionError) as refused:
        link(stat_base(), other, top)
    assert str(refused.value) == (
        f"top.v1.sql:{line_of(top, '-- uses:')}: base@v1 takes stat VARCHAR IN ('mean', 'p50') = 'mean' but other@v1 takes "
        "stat VARCHAR IN ('mean', 'p50') = 'p50'; one value flows to both: declare `-- param: stat ...` here to choose it"
    )
    chosen = spec("top", "SELECT dataset FROM base UNION ALL SELECT dataset FROM other", uses="base, other", params=("stat",))
    assert link(stat_base(), other, chosen).plan("top").param("stat").default == "mean"
    typed = spec("other", "SELECT 'x' AS dataset WHERE $stat > 0", param_lines="-- param: stat DOUBLE = 1 -- a number\n")
    with pytest.raises(queries.QueryDefinitionError, match="both take parameter 'stat' but as different types"):
        link(stat_base(), typed, chosen)


def test_a_parameter_only_a_dependency_reads_is_fine_one_nobody_reads_is_not():
    top = spec("top", "SELECT dataset FROM base", uses="base@v1")
    assert link(base(), top).get("top@v1") is top
    assert registry.sql_params(top) == ()
    unread = spec("top", "SELECT dataset FROM base", uses="base@v1", params=("dataset", "limit_n"))
    with pytest.raises(queries.QueryDefinitionError) as refused:
        link(base(), unread)
    assert str(refused.value) == (
        f"top.v1.sql:{line_of(unread, '-- param: limit_n')}: parameter 'limit_n' is declared "
        "but neither $limit_n nor any query it uses reads it"
    )


def test_a_dependency_the_sql_never_reads_is_refused():
    # a name in a comment or a string is not a read
    top = spec("top", "-- FROM base\nSELECT 'base' AS dataset, $dataset AS d", uses="base@v1")
    with pytest.raises(queries.QueryDefinitionError, match=r"^top\.v1\.sql:5: uses base@v1 but never reads from base$"):
        link(base(), top)


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
        "config_points@v4",
        "pareto_frontier@v3",
        "frontier_summary@v3",
        "prefill_stats@v3",
        "budget_range@v3",
        "config_resamples@v1",
        "budget_lookup@v4",
    ]
    assert [s.ref for s in queries.closure("frontier_summary")] == [
        "config_points@v4",
        "pareto_frontier@v3",
        "frontier_summary@v3",
    ]
    assert [s.ref for s in queries.closure("config_points")] == ["config_points@v4"]
    for top in queries.list_queries():
        order = [s.ref for s in queries.closure(top.ref)]
        assert order[-1] == top.ref and len(order) == len(set(order))
        every_param = {p.name for p in queries.plan(top.ref).params}
        for position, dependent in enumerate(queries.closure(top.ref)):
            # a use is pinned (`name@vN`, that ref) or not (`name`: whichever version of it ran first)
            before = set(order[:position]) | {ref.partition("@")[0] for ref in order[:position]}
            assert set(dependent.uses) <= before, (top.ref, dependent.ref)
            assert {p.name for p in dependent.params} <= every_param


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


def test_each_dependency_runs_once_into_a_temp_table_named_after_its_version_then_is_dropped(store):
    con = connect(store)  # read-only, as budgetdb opens the store for queries
    recorder = Recorder(con)
    result = queries.run(recorder, "budget_lookup@v3", {"budgets": [160, 260]})
    created = [m.group(1) for s in recorder.statements if (m := re.match(r'CREATE TEMP TABLE temp\.main\."(\S+)" AS\n', s))]
    assert created == ["config_points@v4", "pareto_frontier@v3", "frontier_summary@v3", "prefill_stats@v3", "budget_range@v3"]
    dropped = [m.group(1) for s in recorder.statements if (m := re.match(r'DROP TABLE IF EXISTS temp\.main\."(\S+)"$', s))]
    assert dropped == created[::-1]
    # the query's own SQL runs as written, with one CTE per query it reads in front of its own
    reads = ", ".join(
        f'{name} AS (FROM temp.main."{ref}")'
        for name, ref in zip(
            ("config_points", "pareto_frontier", "budget_range"),
            ("config_points@v4", "pareto_frontier@v3", "budget_range@v3"),
            strict=True,
        )
    )
    (top,) = [s for s in recorder.statements if "budget_range AS (FROM" in s and not s.startswith("CREATE")]
    assert " ".join(top.replace(",\n", ", ").replace(f"WITH {reads},", "WITH").split()) == " ".join(result.spec.sql.split())
    assert [s.ref for s in result.executed] == [s.ref for s in queries.closure("budget_lookup@v3")]
    assert temp_tables(con) == []
    # okvqa: low 4/12 0.5 @ 160 ms, high 8/16 1.0 @ 260 ms; text-vqa has no frontier point (accuracy 0)
    assert [(r["budget"], r["dataset"], r["top_k"], r["slack"]) for r in result.records()] == [
        (160.0, "okvqa", 4, 0.0),
        (160.0, "text-vqa", None, None),
        (260.0, "okvqa", 8, 0.0),
        (260.0, "text-vqa", None, None),
    ]
    con.close()


def test_temp_tables_are_gone_after_a_failing_dependency(store, monkeypatch):
    # budget_lookup@v2's header has no range for step (v3's has): without the known range, step=0
    # reaches the SQL, whose own check fails inside budget_range@v2
    monkeypatch.delitem(ranges.KNOWN, "step")
    con = connect(store)
    with pytest.raises(
        queries.QueryRunError, match=r"^budget_lookup@v2 failed in budget_range@v2, a query it uses: .*step must be > 0"
    ):
        queries.run(con, "budget_lookup@v2", {"step": 0})
    assert temp_tables(con) == []
    assert queries.run(con, "frontier_summary").records()[0]["n_points"] == 2  # the names are free again
    con.close()


@pytest.fixture
def synthetic():
    """A catalog of `base` and two queries that use it."""
    sees = spec(
        "sees",
        "SELECT dataset, (SELECT list(table_name) FROM duckdb_tables() WHERE temporary) AS temps FROM base",
        uses="base@v1",
    )
    fails = spec("fails", "SELECT dataset, error('boom ' || dataset) FROM base", uses="base@v1")
    return link(base(), sees, fails)


def test_a_dependency_runs_with_the_query_values(synthetic, store):
    con = connect(store)
    result = queries.run(con, "sees", {"dataset": "x,y"}, catalog=synthetic)
    assert result.rows == [("x", ["base@v1"]), ("y", ["base@v1"])]
    assert queries.run(con, "sees", catalog=synthetic).rows == [("a", ["base@v1"]), ("b", ["base@v1"])]
    assert queries.run(con, "sees", dataset=["z"], catalog=synthetic).rows == [("z", ["base@v1"])]  # keywords too
    assert temp_tables(con) == []
    con.close()


def test_temp_tables_are_gone_after_the_query_itself_fails(synthetic, store):
    con = connect(store)
    with pytest.raises(queries.QueryRunError, match=r"^fails@v1 failed: .*boom a"):
        queries.run(con, "fails", catalog=synthetic)
    assert temp_tables(con) == []
    con.close()


def test_a_temp_table_of_the_same_name_is_refused_and_left_alone(store):
    con = connect(store)
    con.execute("CREATE TEMP TABLE config_points AS SELECT 42 AS answer")  # a bare name is not in the way
    assert queries.run(con, "pareto_frontier").rows
    con.execute('CREATE TEMP TABLE "config_points@v4" AS SELECT 43 AS answer')
    with pytest.raises(
        queries.QueryRunError, match=r"^pareto_frontier@v3 failed in config_points@v4, a query it uses: .*already exists"
    ):
        queries.run(con, "pareto_frontier")
    assert con.execute("SELECT answer FROM config_points").fetchall() == [(42,)]
    assert con.execute('SELECT answer FROM "config_points@v4"').fetchall() == [(43,)]
    con.close()


def test_running_queries_with_dependencies_leaves_the_store_file_unchanged(store):
    before = hashlib.sha256(store.read_bytes()).hexdigest()
    con = open_store(store, against=locate(store))  # the compare_* queries read it again as `against`
    for top in queries.list_queries():
        queries.run(con, top.ref)
    con.close()
    assert hashlib.sha256(store.read_bytes()).hexdigest() == before
