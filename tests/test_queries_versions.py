"""The versioning model: one dependency tree may hold two versions of one name, and each query
reads the version it uses."""

from __future__ import annotations

import pytest

from budgetdb import connect, queries
from budgetdb.queries import registry, runner

from builders import new_store


def query_file(name, version, sql, uses=""):
    uses_line = f"-- uses: {uses}\n" if uses else ""
    return f"-- name: {name}\n-- version: {version}\n-- description: Test query {name}.\n{uses_line}-- returns: says\n\n{sql}\n"


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
def two_versions(monkeypatch):
    linked = registry.link(registry.parse(name, text) for name, text in sorted(TWO_VERSIONS.items()))
    monkeypatch.setattr(runner, "load_all", lambda: linked)


@pytest.fixture
def con(tmp_path):
    new_store(tmp_path / "s.duckdb").close()
    con = connect(tmp_path / "s.duckdb")
    yield con
    con.close()


def temp_tables(con):
    return [row[0] for row in con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary ORDER BY 1").fetchall()]


@pytest.mark.xfail(strict=True, reason="temp tables are named by bare query name: 'Table with name base already exists'")
def test_a_tree_with_two_versions_of_one_name_reads_each_where_it_is_used(two_versions, con):
    result = queries.run(con, "top")
    assert result.rows == [("base v1", "base v2, read by mid")]
    assert [s.ref for s in result.executed] == ["base@v1", "base@v2", "mid@v1", "top@v1"]
    assert temp_tables(con) == []


@pytest.mark.xfail(strict=True, reason="inside a Session the second version replaces the first, which top then reads")
def test_a_session_keeps_two_versions_of_one_name_apart(two_versions, con):
    with queries.Session(con) as session:
        assert queries.run(con, "top", session=session).rows == [("base v1", "base v2, read by mid")]
        assert queries.run(con, "mid", session=session).rows == [("base v2, read by mid",)]
        assert queries.run(con, "top", session=session).rows == [("base v1", "base v2, read by mid")]
    assert temp_tables(con) == []
