"""Ingest in many batches lets go of the blocks it wrote (DuckDB would keep them cached, and the
process would grow with the store), and leaves the memory limit as it found it."""

from __future__ import annotations

import re

import pytest

from budgetdb import demo

from ingest_support import open_rw, run

_UNITS = {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "bytes": 1}


def _bytes(shown: str) -> float:
    number, unit = re.fullmatch(r"([0-9.]+) (\w+)", shown).groups()
    return float(number) * _UNITS[unit]


def _limit(con) -> str:
    # the buffer pool's own limit: current_setting() can differ from it (RESET changes only the setting)
    return con.execute("SELECT memory_limit FROM pragma_database_size()").fetchone()[0]


def _cached_table_bytes(con) -> int:
    return con.execute("SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory() WHERE tag = 'BASE_TABLE'").fetchone()[0]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("tree")
    return demo.write_demo_tree(root, samples=60_000, seed=7).root


def test_blocks_written_batch_by_batch_do_not_stay_cached(tree, tmp_path):
    con = open_rw(tmp_path / "store.duckdb")
    before = _limit(con)
    summary = run(con, tree, batch_bytes=8_000_000)
    assert summary.counts["failed"] == 0 and summary.samples_added == 60_000
    table_bytes = con.execute("SELECT used_blocks * block_size FROM pragma_database_size()").fetchone()[0]
    assert table_bytes > 4_000_000
    # kept cached, the store's blocks would take more than the table (7.3 of 6.3 MB when measured);
    # evicted, what stays is the last few blocks touched (1.6 MB)
    assert _cached_table_bytes(con) < table_bytes / 2
    # the limit is back (to within how DuckDB prints it), and big work still fits under it
    assert _bytes(_limit(con)) == pytest.approx(_bytes(before), rel=0.01)
    assert (
        con.execute("SELECT count(*) FROM (SELECT range::VARCHAR AS s FROM range(3_000_000) ORDER BY s)").fetchone()[0]
        == 3_000_000
    )
    con.close()


def test_a_memory_limit_someone_set_is_left_as_it_was(tree, tmp_path):
    con = open_rw(tmp_path / "store.duckdb")
    con.execute("SET memory_limit = '3GB'")
    before = (_limit(con), con.execute("SELECT current_setting('memory_limit')").fetchone()[0])
    run(con, tree, batch_bytes=8_000_000)
    assert (_limit(con), con.execute("SELECT current_setting('memory_limit')").fetchone()[0]) == before
    con.close()


def test_locked_settings_leave_ingest_alone(tree, tmp_path):
    con = open_rw(tmp_path / "store.duckdb")
    before = _limit(con)
    con.execute("SET lock_configuration = true")
    summary = run(con, tree, batch_bytes=8_000_000)
    assert summary.counts["failed"] == 0 and summary.samples_added == 60_000
    assert _limit(con) == before
    con.close()
