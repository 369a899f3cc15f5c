"""Reading commands never write: `info`, `report`, `query run` (every query), `sql` and
`export` leave the store file byte for byte as it was (sha256 before and after), make no
file next to it, and do so even when a crashed writer left a write-ahead log behind.
`sql` refuses every statement that is not a read, with a message that says so."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from budgetdb import demo, queries
from budgetdb.cli.app import app

from ingest_support import open_rw, run
from reliability_support import store_files_sha


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("readonly")
    hw_root = demo.write_demo_tree(root / "data", samples=162, seed=13).root
    db = root / "store" / "s.duckdb"
    con = open_rw(db)
    run(con, hw_root)
    con.close()
    return db


def _reading_commands(tmp_path: Path) -> list[list[str]]:
    commands = [
        ["info"],
        ["info", "--format", "json"],
        ["report"],
        ["report", "--lang", "en"],
        ["report", "--out", str(tmp_path / "report.md")],
        ["sql", "SELECT dataset, count(*) FROM samples GROUP BY ALL"],
        ["sql", "SELECT * FROM config_runs; SELECT * FROM files", "--format", "json"],
        ["export", "--parquet", str(tmp_path / "parquet")],
    ]
    commands += [["query", "run", spec.name, "--format", "csv"] for spec in queries.list_queries()]
    return commands


def _assert_untouched(db: Path, before: dict, listing: list[str], what) -> None:
    assert store_files_sha(db) == before, f"{what} changed the store"
    assert sorted(p.name for p in db.parent.iterdir()) == listing, f"{what} left a file next to the store"


def test_reading_commands_leave_the_store_byte_for_byte_unchanged(store, tmp_path):
    before, listing = store_files_sha(store), sorted(p.name for p in store.parent.iterdir())
    commands = _reading_commands(tmp_path)
    if "export" not in CliRunner().invoke(app, ["--help"]).stdout:
        commands = [c for c in commands if c[0] != "export"]
    for args in commands:
        result = CliRunner().invoke(app, [*args, "--db", str(store)])
        assert result.exit_code == 0, (args, result.output[-2000:])
        _assert_untouched(store, before, listing, args)


_CRASHED_WRITER = r"""
import os, signal, sys
import duckdb
con = duckdb.connect(sys.argv[1])
con.execute("SET wal_autocheckpoint = '1TB'")
con.execute("UPDATE file_records SET reason = 'written to the log only' WHERE status = 'skipped'")
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_reading_a_store_with_a_crashed_writers_log_writes_nothing(store, tmp_path):
    """The log is replayed in memory by readers: they see the committed change, the files stay."""
    db = tmp_path / "crashed.duckdb"
    db.write_bytes(store.read_bytes())
    proc = subprocess.run([sys.executable, "-c", _CRASHED_WRITER, str(db)], capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert db.with_name(db.name + ".wal").exists(), "no write-ahead log to test with"
    before, listing = store_files_sha(db), sorted(p.name for p in db.parent.iterdir())
    seen = CliRunner().invoke(
        app, ["sql", "SELECT DISTINCT reason FROM files WHERE status = 'skipped'", "--db", str(db), "-F", "json"]
    )
    assert seen.exit_code == 0, seen.output
    assert json.loads(seen.stdout) == [{"reason": "written to the log only"}]
    for args in (["info"], ["report"], ["query", "run", "store_summary"]):
        result = CliRunner().invoke(app, [*args, "--db", str(db)])
        assert result.exit_code == 0, (args, result.output[-2000:])
    _assert_untouched(db, before, listing, "reading a store with a log")


@pytest.mark.parametrize(
    "statement",
    [
        "CALL checkpoint()",
        "VACUUM",
        "PREPARE wipe AS DELETE FROM file_records",
        "CREATE MACRO twice(x) AS 2 * x",
        "ALTER VIEW samples RENAME TO old_samples",
        "INSTALL httpfs",
        "LOAD json",
        "DETACH s",
        "USE memory",
        "PRAGMA enable_checkpoint_on_shutdown",
        "WITH gone AS (DELETE FROM file_records RETURNING *) SELECT count(*) FROM gone",
        "SELECT 1;\nINSERT INTO schema_version VALUES (99, now())",
    ],
)
def test_sql_refuses_every_statement_that_is_not_a_read(store, statement):
    before, listing = store_files_sha(store), sorted(p.name for p in store.parent.iterdir())
    result = CliRunner().invoke(app, ["sql", statement, "--db", str(store)])
    assert result.exit_code == 1, result.output
    line = result.stderr.strip()
    assert line.startswith("Error: ") and "\n" not in line and "Traceback" not in result.output, result.output
    assert "only reads" in line or "cannot parse" in line, line
    _assert_untouched(store, before, listing, statement)
