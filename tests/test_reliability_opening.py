"""What `--db` may point at, and what a reading connection may reach.

A corrupt store says corrupt and names the file (never "busy"); a file that is no DuckDB store
(SQLite, a folder, a device, a FIFO, an empty file, a URL) is one line and never makes DuckDB
download an extension; a store whose first ingest was killed before its schema was committed
is a new store; another program's DuckDB database is left alone. A reading connection (every
command but ingest, and budgetdb.connect()) reads the store and nothing else."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

import budgetdb
from budgetdb import demo
from budgetdb.cli.app import app

from ingest_support import open_rw, run

BLOCK = 262_144  # DuckDB's block size; the first block starts after three 4 KiB headers
FIRST_BLOCK = 3 * 4096


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    line = result.stderr
    assert line.startswith("Error: ") and line.count("\n") == 1, line
    return line.strip()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("opening")
    hw_root = demo.write_demo_tree(root / "data", samples=3000, seed=5).root
    db = root / "base.duckdb"
    con = open_rw(db)
    run(con, hw_root)
    con.close()
    return db


def _damaged(store: Path, tmp_path: Path, offset: int) -> Path:
    db = tmp_path / f"damaged_{offset}.duckdb"
    shutil.copyfile(store, db)
    with db.open("r+b") as handle:
        handle.seek(offset)
        handle.write(b"\xde\xad\xbe\xef" * 8)
    return db


def _corrupt_on_open(db: Path) -> bool:
    try:
        duckdb.connect(str(db), read_only=True).close()
    except duckdb.IOException as exc:
        return "Corrupt database file" in str(exc)
    return False


def _corrupt_on_query(db: Path) -> bool:
    con = duckdb.connect(str(db), read_only=True)
    try:
        con.execute("SELECT count(*), sum(T_total), sum(length(dataset)) FROM samples").fetchall()
    except duckdb.IOException as exc:
        return "Corrupt database file" in str(exc)
    finally:
        con.close()
    return False


def test_a_store_with_a_damaged_header_block_is_reported_corrupt_not_busy(store, tmp_path):
    db = _damaged(store, tmp_path, 4096 + 100)
    assert _corrupt_on_open(db)
    for args in (["info"], ["info", "--wait", "30"], ["report"], ["sql", "SELECT 1"], ["query", "run", "store_summary"]):
        line = one_line_error(invoke(*args, "--db", db))
        assert line.startswith(f"Error: store {db} is corrupt (") and "Corrupt database file" in line, line
        assert "busy" not in line
    before = sha(db)
    line = one_line_error(invoke("ingest", tmp_path / "nothing_here", "--db", db))
    assert "nothing_here" in line  # the missing path is named before the store is opened
    assert sha(db) == before


def test_a_damaged_data_block_found_by_a_query_is_reported_corrupt(store, tmp_path):
    """Corruption in a data block shows only when a query reads it: the command says so in one line."""
    offsets = range(FIRST_BLOCK + 100, store.stat().st_size, BLOCK // 4)
    candidates = (_damaged(store, tmp_path, offset) for offset in offsets)
    damaged = next(db for db in candidates if not _corrupt_on_open(db) and _corrupt_on_query(db))
    commands = (
        ["sql", "SELECT count(*), sum(T_total), sum(length(dataset)) FROM samples"],
        ["report"],
        ["export", "--parquet", tmp_path / "out"],
    )
    for args in commands:
        line = one_line_error(invoke(*args, "--db", damaged))
        assert line.startswith(f"Error: store {damaged} is corrupt (") and "nothing was changed" in line, (args, line)


@pytest.mark.parametrize("kind", ["sqlite", "text", "folder", "dev_null", "fifo", "empty"])
def test_a_db_that_is_no_duckdb_store_is_one_line_and_stays_as_it_was(tmp_path, kind):
    target = tmp_path / "thing"
    if kind == "sqlite":
        import sqlite3

        lite = sqlite3.connect(target)
        lite.execute("CREATE TABLE t (x)")
        lite.commit()
        lite.close()
        expected = "is a SQLite database, not a budgetdb store"
    elif kind == "text":
        target.write_text("hello\n" * 100)
        expected = "is not a DuckDB database file"
    elif kind == "folder":
        target.mkdir()
        expected = "is a folder"
    elif kind == "dev_null":
        target = Path(os.devnull)
        expected = "is not a regular file"
    elif kind == "fifo":
        os.mkfifo(target)
        expected = "is not a regular file"
    else:
        target.touch()
        expected = "is an empty file, not a DuckDB store"
    before = target.read_bytes() if target.is_file() else None
    for args in (["info"], ["sql", "SELECT 1"], ["ingest", tmp_path / "results"]):
        if args[0] == "ingest":
            (tmp_path / "results").mkdir(exist_ok=True)
        line = one_line_error(invoke(*args, "--db", target))
        assert expected in line, (args, line)
        assert "extension" not in line.lower() and "download" not in line.lower(), line
    if before is not None:
        assert target.read_bytes() == before
    assert not Path(str(target) + ".wal").exists()


def test_a_url_as_db_is_refused_and_nothing_is_created(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    for url in ("https://example.com/budget.duckdb", "s3://bucket/budget.duckdb"):
        for args in (["info"], ["ingest", "results"]):
            line = one_line_error(invoke(*args, "--db", url))
            assert "budgetdb never opens a URL" in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


_KILLED_WHILE_CREATING = r"""
import os, signal, sys
import duckdb
con = duckdb.connect(sys.argv[1])
con.execute("BEGIN TRANSACTION")
con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at TIMESTAMP NOT NULL)")
con.execute("CREATE TABLE file_records (file_id BIGINT)")
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_store_killed_before_its_schema_was_committed_is_a_new_store(tmp_path):
    db = tmp_path / "new.duckdb"
    killed = subprocess.run([sys.executable, "-c", _KILLED_WHILE_CREATING, str(db)], capture_output=True, timeout=60)
    assert killed.returncode == -signal.SIGKILL and db.exists()
    line = one_line_error(invoke("info", "--db", db))
    assert line == f"Error: no store at {db}; create one with `budgetdb ingest PATH` (or pass --db)"
    hw_root = demo.write_demo_tree(tmp_path / "data", samples=100, seed=1).root
    assert invoke("ingest", hw_root, "--db", db).exit_code == 0
    assert invoke("info", "--db", db).exit_code == 0


def test_another_programs_duckdb_database_is_left_alone(tmp_path):
    db = tmp_path / "analysis.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE my_results AS SELECT 42 AS answer")
    con.close()
    before = sha(db)
    (tmp_path / "results").mkdir()
    for args in (["info"], ["ingest", tmp_path / "results"]):
        line = one_line_error(invoke(*args, "--db", db))
        assert "is a DuckDB database that budgetdb did not create" in line, line
    assert sha(db) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_db_in_a_read_only_folder_is_one_line(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    (tmp_path / "results").mkdir()
    try:
        line = one_line_error(invoke("ingest", tmp_path / "results", "--db", folder / "sub" / "s.duckdb"))
        assert "Permission denied" in line
    finally:
        folder.chmod(stat.S_IRWXU)


# -- what a reading connection reaches ---------------------------------------------------------


def _refused(con, statement: str) -> str:
    with pytest.raises(duckdb.Error) as raised:
        con.execute(statement).fetchall()
    return str(raised.value)


def test_a_reading_connection_reads_the_store_and_nothing_else(store, tmp_path):
    outside = tmp_path / "outside.csv"
    outside.write_text("a\n1\n")
    before = sha(store)
    con = budgetdb.connect(store)
    try:
        assert con.execute("SELECT count(*) FROM samples").fetchone()[0] == 3000
        con.execute("CREATE TEMP TABLE scratch AS SELECT dataset FROM samples")  # the queries need these
        assert con.execute("SELECT count(*) FROM scratch").fetchone()[0] == 3000
        for statement in (
            f"SELECT * FROM read_csv('{outside}')",
            "SELECT * FROM read_text('/etc/hostname')",
            "SELECT * FROM glob('/etc/*')",
            f"COPY (SELECT 1) TO '{tmp_path / 'leak.csv'}'",
            f"COPY (SELECT 'x' AS v) TO '{store}' (FORMAT csv)",
            f"EXPLAIN ANALYZE COPY (SELECT 'x' AS v) TO '{store}' (FORMAT csv)",
            f"ATTACH '{tmp_path / 'other.duckdb'}' AS other",
            "SELECT * FROM 'https://example.com/data.csv'",
        ):
            assert "file system operations are disabled" in _refused(con, statement), statement
        for statement in ("SET memory_limit = '7MB'", "EXPLAIN ANALYZE SET threads = 1", "SET enable_external_access = true"):
            assert "the configuration has been locked" in _refused(con, statement), statement
        for statement in ("INSTALL sqlite", "EXPLAIN ANALYZE INSTALL sqlite", "LOAD sqlite"):
            message = _refused(con, statement)
            assert "disabled" in message, (statement, message)
        assert con.execute("SELECT current_setting('memory_limit') <> '7.0 MiB'").fetchone() == (True,)
    finally:
        con.close()
    assert sha(store) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside.csv"]


def test_allow_local_files_reads_local_files_but_changes_no_setting(store, tmp_path):
    outside = tmp_path / "outside.csv"
    outside.write_text("a\n1\n2\n")
    con = budgetdb.connect(store, allow_local_files=True)
    try:
        assert con.execute(f"SELECT sum(a) FROM read_csv('{outside}')").fetchone() == (3,)
        assert "the configuration has been locked" in _refused(con, "SET memory_limit = '7MB'")
        assert "/nonexistent/budgetdb-loads-no-extensions" in _refused(con, "LOAD sqlite")
        assert "/nonexistent/budgetdb-installs-no-extensions" in _refused(con, "INSTALL sqlite")
    finally:
        con.close()
