"""The versioning model: an unpinned `uses` is the latest version (or the run's pin), a pinned one
stays put; parameters flow to dependencies by name; one dependency tree may hold two versions of
one name, each query reading the version it uses; a fix to one query is one new file."""

from __future__ import annotations

import re

import duckdb
import pytest

from budgetdb import connect, queries

from builders import add_config_run, new_store


def query_file(name, version, sql, uses="", params=""):
    uses_line = f"-- uses: {uses}\n" if uses else ""
    return (
        f"-- name: {name}\n-- version: {version}\n-- description: Test query {name}.\n{params}{uses_line}"
        f"-- returns: says\n\n{sql}\n"
    )


def folder(tmp_path, files, name="team_queries"):
    path = tmp_path / name
    path.mkdir()
    for file_name, text in files.items():
        (path / file_name).write_text(text, "utf-8")
    return path


# base@v1 and base@v2 say which version they are; mid@v1 reads base@v2; top@v1 reads base@v1 and mid@v1
TWO_VERSIONS = {
    "base.v1.sql": query_file("base", 1, "SELECT 'base v1' AS says"),
    "base.v2.sql": query_file("base", 2, "SELECT 'base v2' AS says"),
    "mid.v1.sql": query_file("mid", 1, "SELECT says || ', read by mid' AS says FROM base", uses="base@v2"),
    "top.v1.sql": query_file(
        "top", 1, "SELECT (SELECT says FROM base) AS base_says, (SELECT says FROM mid) AS mid_says", uses="base@v1, mid@v1"
    ),
}


@pytest.fixture
def two_versions(tmp_path):
    return queries.load([folder(tmp_path, TWO_VERSIONS)], env=False)


@pytest.fixture
def con(tmp_path):
    new_store(tmp_path / "s.duckdb").close()
    con = connect(tmp_path / "s.duckdb")
    yield con
    con.close()


def temp_tables(con):
    return [row[0] for row in con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary ORDER BY 1").fetchall()]


def test_a_tree_with_two_versions_of_one_name_reads_each_where_it_is_used(two_versions, con):
    result = queries.run(con, "top", catalog=two_versions)
    assert result.rows == [("base v1", "base v2, read by mid")]
    assert [s.ref for s in result.executed] == ["base@v1", "base@v2", "mid@v1", "top@v1"]
    assert temp_tables(con) == []


def test_a_session_keeps_two_versions_of_one_name_apart(two_versions, con):
    with queries.Session(con) as session:
        assert queries.run(con, "top", session=session, catalog=two_versions).rows == [("base v1", "base v2, read by mid")]
        assert temp_tables(con) == ["base@v1", "base@v2", "mid@v1", "top@v1"]  # top too: another run may use it
        assert queries.run(con, "mid", session=session, catalog=two_versions).rows == [("base v2, read by mid",)]
        assert queries.run(con, "top", session=session, catalog=two_versions).rows == [("base v1", "base v2, read by mid")]
    assert temp_tables(con) == []


def test_a_session_recomputes_a_query_when_a_value_below_it_changes(tmp_path, con):
    """`mid` binds no parameter itself; `low`, which it reads, binds $n."""
    n_param = "-- param: n INTEGER = 1 -- how many\n"
    catalog = queries.load(
        [
            folder(
                tmp_path,
                {
                    "low.v1.sql": query_file("low", 1, "SELECT range AS says FROM range($n)", params=n_param),
                    "mid.v1.sql": query_file("mid", 1, "SELECT count(*) AS says FROM low", uses="low"),
                    "top.v1.sql": query_file("top", 1, "SELECT says FROM mid", uses="mid"),
                },
            )
        ],
        env=False,
    )
    with queries.Session(con) as session:
        assert queries.run(con, "top", session=session, catalog=catalog, n=2).rows == [(2,)]
        assert queries.run(con, "top", session=session, catalog=catalog, n=5).rows == [(5,)]
        assert queries.run(con, "top", session=session, catalog=catalog, n=2).rows == [(2,)]


def test_pins_choose_the_version_of_unpinned_uses_only(tmp_path, con):
    files = {**TWO_VERSIONS, "free.v1.sql": query_file("free", 1, "SELECT says FROM base", uses="base")}
    catalog = queries.load([folder(tmp_path, files)], env=False)
    assert queries.run(con, "free", catalog=catalog).rows == [("base v2",)]  # the latest
    assert queries.run(con, "free", catalog=catalog, pins={"base": 1}).rows == [("base v1",)]
    assert queries.run(con, "free", catalog=catalog, pins=["base@v1"]).rows == [("base v1",)]
    # mid pins base@v2 in its file: a run's pins do not change that
    assert queries.run(con, "mid", catalog=catalog, pins={"base": 1}).rows == [("base v2, read by mid",)]
    with pytest.raises(
        queries.QueryNotFoundError, match=r"base is pinned to base@v7, which does not exist; valid: base@v1, base@v2"
    ):
        queries.run(con, "free", catalog=catalog, pins={"base": 7})


# ---------------------------------------------------------------- a fix is one new file


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """okvqa: low 4/12 accuracy 0.5 at T_total 150/170 ms, high 8/16 accuracy 1.0 at 250/270 ms;
    text-vqa: low 4/12 accuracy 0 at 200/210 ms."""
    path = tmp_path_factory.mktemp("versions") / "v.duckdb"
    con = new_store(path)
    add_config_run(con, dataset="okvqa", tier="low", top_k=4, blocks=12, samples={"accuracy": [1, 0], "T_total": [150.0, 170.0]})
    add_config_run(con, dataset="okvqa", tier="high", top_k=8, blocks=16, samples={"accuracy": [1, 1], "T_total": [250.0, 270.0]})
    add_config_run(
        con, dataset="text-vqa", tier="low", top_k=4, blocks=12, samples={"accuracy": [0, 0], "T_total": [200.0, 210.0]}
    )
    con.close()
    return path


def packaged_text(ref):
    return queries.get(ref, catalog=queries.packaged()).sql


def renamed(text, name, version, uses=None, drop_params=False):
    text = re.sub(r"^-- name: .*$", f"-- name: {name}", text, count=1, flags=re.M)
    text = re.sub(r"^-- version: .*$", f"-- version: {version}", text, count=1, flags=re.M)
    if uses is not None:
        text = re.sub(r"^-- uses: .*$", f"-- uses: {uses}", text, count=1, flags=re.M)
    if drop_params:  # they flow from the queries it uses
        text = re.sub(r"^-- param: .*\n", "", text, flags=re.M)
    return text


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    """A team's folder: config_points@v9, a fix (here: mean latencies doubled) in one new file;
    my_frontier, pareto_frontier's SQL with `uses: config_points` unpinned and no params declared;
    my_summary, frontier_summary's SQL on config_points (unpinned) and pareto_frontier@v2 (pinned);
    slow_points, config_points@v2 with another latency_stat default."""
    fixed = renamed(packaged_text("config_points@v2"), "config_points", 9)
    assert fixed.count("WHEN a.latency_stat = 'mean' THEN fs.mean\n") == 1
    fixed = fixed.replace("WHEN a.latency_stat = 'mean' THEN fs.mean\n", "WHEN a.latency_stat = 'mean' THEN fs.mean * 2\n")
    path = tmp_path_factory.mktemp("team") / "team_queries"
    path.mkdir()
    files = {
        "config_points.v9.sql": fixed,
        "my_frontier.v1.sql": renamed(packaged_text("pareto_frontier@v2"), "my_frontier", 1, "config_points", drop_params=True),
        "my_summary.v1.sql": renamed(
            packaged_text("frontier_summary@v2"), "my_summary", 1, "config_points, pareto_frontier@v2", drop_params=True
        ),
        # a CTE of its own named like a query its tree holds (budget_range reads prefill_stats)
        "own_names.v1.sql": query_file(
            "own_names",
            1,
            "WITH prefill_stats AS (SELECT 42 AS n) SELECT (SELECT n FROM prefill_stats) AS says, lower FROM budget_range",
            uses="budget_range",
        ),
        "slow_points.v1.sql": query_file(
            "slow_points",
            1,
            "SELECT dataset, tier, latency FROM config_points",
            uses="config_points@v2",
            params="-- param: latency_stat VARCHAR = 'p95' -- the slow end by default\n",
        ),
    }
    for file_name, text in files.items():
        (path / file_name).write_text(text, "utf-8")
    return path


def frontier(result):
    return [(r["dataset"], r["tier"], r["accuracy"], r["latency"]) for r in result.records()]


def test_a_new_version_in_a_user_folder_reaches_unpinned_uses_only(store, team):
    catalog = queries.load([team], env=False)
    con = connect(store)
    assert queries.get("config_points", catalog=catalog).ref == "config_points@v9"
    # unpinned: the fix reaches it without a new version of my_frontier
    assert [s.ref for s in queries.closure("my_frontier", catalog=catalog)] == ["config_points@v9", "my_frontier@v1"]
    assert frontier(queries.run(con, "my_frontier", catalog=catalog, dataset="okvqa")) == [
        ("okvqa", "low", 0.5, 320.0),
        ("okvqa", "high", 1.0, 520.0),
    ]
    # pinned (every published file): its answers stay
    assert frontier(queries.run(con, "pareto_frontier@v2", catalog=catalog, dataset="okvqa")) == [
        ("okvqa", "low", 0.5, 160.0),
        ("okvqa", "high", 1.0, 260.0),
    ]
    # a run may pin the unpinned ones back
    assert frontier(queries.run(con, "my_frontier", catalog=catalog, dataset="okvqa", pins={"config_points": 2})) == [
        ("okvqa", "low", 0.5, 160.0),
        ("okvqa", "high", 1.0, 260.0),
    ]
    con.close()


def test_a_tree_of_user_and_packaged_queries_holding_two_versions_of_config_points(store, team):
    catalog = queries.load([team], env=False)
    con = connect(store)
    result = queries.run(con, "my_summary", catalog=catalog)
    assert [s.ref for s in result.executed] == ["config_points@v9", "config_points@v2", "pareto_frontier@v2", "my_summary@v1"]
    rows = {r["dataset"]: r for r in result.records()}
    # the datasets come from config_points@v9, the frontier from pareto_frontier@v2 on config_points@v2
    assert set(rows) == {"okvqa", "text-vqa"}
    assert (rows["okvqa"]["n_points"], rows["okvqa"]["lo_latency"], rows["okvqa"]["hi_latency"]) == (2, 160.0, 260.0)
    assert rows["text-vqa"]["n_points"] == 0
    con.close()


def test_parameters_flow_by_name_and_a_changed_default_reaches_the_dependency(store, team):
    catalog = queries.load([team], env=False)
    plan = queries.plan("my_frontier", catalog=catalog)
    assert [p.name for p in plan.params] == ["hardware", "experiment", "dataset", "latency_stage", "latency_stat"]
    assert plan.param("latency_stat").choices == ("mean", "p50", "p95", "p99")  # declared once, in config_points
    slow = queries.plan("slow_points", catalog=catalog)
    assert slow.param("latency_stat").default == "p95"
    con = connect(store)
    # quantile_cont: p95 of (150, 170) = 150 + 0.95 * 20; of (250, 270) = 269; of (200, 210) = 209.5
    rows = [(r[0], r[1], round(r[2], 9)) for r in queries.run(con, "slow_points", catalog=catalog).rows]
    assert rows == [("okvqa", "low", 169.0), ("okvqa", "high", 269.0), ("text-vqa", "low", 209.5)]
    assert [r[2] for r in queries.run(con, "slow_points", catalog=catalog, latency_stat="mean").rows] == [160.0, 260.0, 205.0]
    with pytest.raises(queries.QueryParamError, match="slow_points@v1 parameter latency_stat must be one of mean, p50, p95, p99"):
        queries.run(con, "slow_points", catalog=catalog, latency_stat="p90")
    con.close()


# budget_lookup@v4 reads config_resamples, computed in numpy: test_uncertainty_queries.py compiles it
@pytest.mark.parametrize("name", ["my_summary", "my_frontier", "slow_points", "own_names", "budget_lookup@v3"])
def test_compiled_sql_in_a_fresh_duckdb_connection_equals_the_run(store, team, name):
    catalog = queries.load([team], env=False)
    values = {"dataset": ["okvqa", "text-vqa", "it's"]}
    expected = queries.run(connect(store), name, catalog=catalog, **values).rows
    if name == "own_names":
        # its own prefill_stats; budget_range@v3 reads config_points unpinned: the team's v9 (latencies doubled)
        assert expected == [(42, 320.0)]
    sql = queries.compile(name, catalog=catalog, **values)
    plain = duckdb.connect(str(store), read_only=True)  # no budgetdb: as a DuckDB shell opens it
    assert plain.execute(sql).fetchall() == expected
    plain.close()
