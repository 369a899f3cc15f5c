"""The typed config_stats view against numpy, and every view column's comment as a SQL client
sees it (duckdb_columns()), on a new store, an upgraded one and a DuckLake."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest
from old_stores import old_store

from budgetdb.store import column_docs, migrations, open_store

from builders import add_config_run, new_store
from lake_support import new_lake

VIEWS = tuple(column_docs.VIEWS)


def _comments(con) -> dict[tuple[str, str], str | None]:
    rows = con.execute(
        "SELECT table_name, column_name, comment FROM duckdb_columns() WHERE table_name IN (SELECT unnest($v))",
        {"v": list(VIEWS)},
    ).fetchall()
    return {(table, column): comment for table, column, comment in rows}


def test_every_view_and_view_column_has_its_comment(tmp_path):
    con = new_store(tmp_path / "s.duckdb")
    comments = _comments(con)
    for view, (about, columns) in column_docs.VIEWS.items():
        described = [row[0] for row in con.execute(f"DESCRIBE {view}").fetchall()]
        assert sorted(described) == sorted(columns), view  # every column documented, nothing documented that is not there
        assert {c: comments[(view, c)] for c in described} == {c: columns[c] for c in described}
        assert con.execute("SELECT comment FROM duckdb_views() WHERE view_name = ?", [view]).fetchone() == (about,)
    con.close()


def test_an_older_store_gets_config_stats_and_the_comments_when_upgraded(tmp_path):
    db = old_store(tmp_path / "old.duckdb", 3)
    with duckdb.connect(str(db), read_only=True) as raw:
        assert raw.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = 'config_stats'").fetchone() == (0,)
    con = open_store(db, read_only=False)
    assert migrations.current_version(con) == migrations.latest_version()
    assert _comments(con)[("config_stats", "T_total_p95")] == column_docs.VIEWS["config_stats"][1]["T_total_p95"]
    assert _comments(con)[("samples", "T_total")].endswith("NULL when missing")
    con.close()


@pytest.mark.parametrize("kind", ["local", "postgres"])
def test_a_lake_keeps_the_views_comments(tmp_path, request, kind):
    lake = new_lake(kind, tmp_path, request)
    open_store(lake.db, read_only=False, data_path=lake.data_path).close()  # a writer makes the lake
    con = open_store(lake.db, data_path=lake.data_path)
    about = dict(con.execute("SELECT view_name, comment FROM duckdb_views() WHERE NOT internal").fetchall())
    assert {view: about.get(view) for view in VIEWS} == {view: text for view, (text, _) in column_docs.VIEWS.items()}
    con.close()


def test_config_stats_are_numbers_from_each_example_once(tmp_path):
    rng = np.random.default_rng(3)
    con = new_store(tmp_path / "s.duckdb")
    n = 40
    total = rng.gamma(20, 10, n)
    accuracy = rng.choice([0.0, 1 / 3, 2 / 3, 1.0], n)
    prefill = total / 2
    prefill[[3, 7]] = np.nan  # missing: left out of the prefill statistics
    examples = np.arange(n)
    examples[-2:] = [0, 1]  # the last two samples repeat examples 0 and 1 (padding)
    run_id = add_config_run(
        con,
        dataset="okvqa",
        samples={"accuracy": accuracy, "T_total": total, "T_LLM_prefill": prefill, "example_id": examples},
    )
    con.execute(
        'UPDATE sample_records SET "repeat" = true WHERE config_run_id = ? AND ordinal >= ?', [run_id, n - 2]
    )  # as ingest marks them
    summary_only = add_config_run(
        con,
        dataset="okvqa",
        tier="low",
        summary={"accuracy": 0.25, "latency_stats": {"T_total_mean": 150.5, "T_total_p95": 190.0, "T_total_p99": "NaN"}},
    )
    con.close()
    con = open_store(tmp_path / "s.duckdb")
    row = con.execute("SELECT * FROM config_stats WHERE config_run_id = ?", [run_id]).fetchone()
    got = dict(zip([d[0] for d in con.description], row, strict=True))
    kept = slice(0, n - 2)
    assert (got["source"], got["n"], got["n_repeats"]) == ("samples", n - 2, 2)
    assert got["accuracy"] == pytest.approx(accuracy[kept].mean(), rel=1e-12)
    assert got["T_total_n"] == n - 2
    assert got["T_total_mean"] == pytest.approx(total[kept].mean(), rel=1e-12)
    for q in (50, 95, 99):
        assert got[f"T_total_p{q}"] == pytest.approx(np.percentile(total[kept], q), rel=1e-12)
    valid = prefill[kept][~np.isnan(prefill[kept])]
    assert got["T_LLM_prefill_n"] == len(valid) == n - 4
    assert got["T_LLM_prefill_p95"] == pytest.approx(np.percentile(valid, 95), rel=1e-12)
    assert got["T_LLM_decode_n"] == 0 and got["T_LLM_decode_mean"] is None
    assert isinstance(got["T_total_p95"], float)  # typed: compares as a number
    row = con.execute("SELECT * FROM config_stats WHERE config_run_id = ?", [summary_only]).fetchone()
    from_summary = dict(zip([d[0] for d in con.description], row, strict=True))
    assert (from_summary["source"], from_summary["n"], from_summary["accuracy"]) == ("summary", None, 0.25)
    assert (from_summary["T_total_mean"], from_summary["T_total_p95"], from_summary["T_total_p99"]) == (150.5, 190.0, None)
    assert con.execute("SELECT count(*) FROM config_stats WHERE T_total_p95 > 185").fetchone() == (
        int(np.percentile(total[kept], 95) > 185) + 1,
    )
    con.close()
