"""Concurrency: while one `ingest` holds the store, a second ingest and every reading command
(`info`, `report`, `query run`, `sql`) fail within 2 s saying the store is busy and which
process holds it, or wait with `--wait SECONDS` and then succeed. Nothing corrupts: the
store ends exactly as if the ingests had run one after the other."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from budgetdb import demo
from budgetdb.cli.app import app
from budgetdb.errors import StoreBusyError
from budgetdb.store import connection, open_store

from ingest_support import open_rw, run, store_digest
from reliability_support import CLI, assert_whole, disk_state, disk_versions

# A real ingest that stops after its first committed batch, holding the store, until `gate` exists.
_PAUSED_INGEST = r"""
import sys, time
from pathlib import Path
from budgetdb.store import open_store
from budgetdb.store.ingest import ingest

tree, db, gate = sys.argv[1:4]

def progress(phase, done, total, samples, bytes_read):
    if phase == "write" and not Path(gate).exists():
        print("holding", flush=True)
        while not Path(gate).exists():
            time.sleep(0.02)

con = open_store(db, read_only=False)
ingest(con, [tree], progress=progress)
con.close()
"""

# An analyst's read-only connection, held open for a while.
_READER = r"""
import sys, time
import duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
con.execute("SELECT count(*) FROM samples").fetchall()
print("reading", flush=True)
time.sleep(float(sys.argv[2]))
"""

READERS = {
    "info": ["info"],
    "report": ["report", "--lang", "en"],
    "query run": ["query", "run", "store_summary", "--format", "json"],
    "sql": ["sql", "SELECT count(*) AS n FROM samples", "--format", "json"],
}


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    root = tmp_path_factory.mktemp("trees")
    first = demo.write_demo_tree(root / "one", samples=162, seed=11).root
    second = demo.write_demo_tree(root / "two", samples=81, seed=12, hardware="a100").root
    return first, second


class _Holder:
    """A paused ingest of `tree` into `db`; `release()` lets it finish."""

    def __init__(self, tree: Path, db: Path):
        self.gate = db.with_name(db.name + ".gate")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _PAUSED_INGEST, str(tree), str(db), str(self.gate)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline().strip()
        assert line == "holding", self.proc.stderr.read()[-2000:]
        self.pid = self.proc.pid

    def release(self) -> None:
        self.gate.touch()
        _, err = self.proc.communicate(timeout=120)
        assert self.proc.returncode == 0, err[-2000:]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


def _busy_message_ok(text: str, pid: int, db: Path) -> None:
    line = text.strip()
    assert "\n" not in line and "Traceback" not in text, text
    assert line.startswith("Error: ") and "busy" in line and str(db) in line, line
    assert f"process {pid}" in line, f"the message does not name the holder {pid}: {line}"
    assert "--wait" in line, line


def _expected_after_both(tmp_path: Path, first: Path, second: Path) -> str:
    con = open_rw(tmp_path / "sequential.duckdb")
    run(con, first)
    run(con, second)
    digest = store_digest(con)
    con.close()
    return digest


def test_a_second_ingest_and_every_reader_fail_fast_naming_the_holder(tmp_path, trees, monkeypatch):
    first, second = trees
    db = tmp_path / "s.duckdb"
    waits: list[float] = []
    monkeypatch.setattr(connection, "time", SimpleNamespace(monotonic=time.monotonic, sleep=waits.append))
    holder = _Holder(first, db)
    try:
        for name, args in {"ingest": ["ingest", str(second)], **READERS}.items():
            started = time.monotonic()
            result = CliRunner().invoke(app, [*args, "--db", str(db)])
            elapsed = time.monotonic() - started
            assert result.exit_code == 1, (name, result.output)
            # without --wait, the first refusal of the lock is the answer: no retry, no sleep
            assert waits == [], f"{name} waited {waits} before giving up"
            assert elapsed < 30, f"{name} took {elapsed:.1f}s to give up"
            _busy_message_ok(result.stderr, holder.pid, db)
        holder.release()
    finally:
        holder.kill()
    con = open_store(db)
    assert_whole(con, [disk_state(first)], disk_versions(first))
    con.close()


def test_with_wait_a_second_ingest_and_every_reader_wait_then_succeed(tmp_path, trees):
    first, second = trees
    db = tmp_path / "s.duckdb"
    holder = _Holder(first, db)
    waiters = {}
    try:
        for name, args in {"ingest": ["ingest", str(second), "--format", "json"], **READERS}.items():
            waiters[name] = subprocess.Popen(
                [*CLI, *args, "--db", str(db), "--wait", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        time.sleep(1.5)
        assert {name: w.poll() for name, w in waiters.items()} == dict.fromkeys(waiters), "a command did not wait"
        holder.release()
        results = {name: w.communicate(timeout=120) for name, w in waiters.items()}
    finally:
        holder.kill()
        for w in waiters.values():
            if w.poll() is None:
                w.kill()
                w.communicate()
    for name, (_, err) in results.items():
        assert waiters[name].returncode == 0, (name, err[-2000:])
        assert "Traceback" not in err
    assert json.loads(results["ingest"][0])[0]["files_failed"] == 0
    first_samples, both = 162, 162 + 81
    assert json.loads(results["sql"][0])[0]["n"] in (first_samples, both)  # it read after the first ingest ended
    con = open_store(db)
    assert store_digest(con) == _expected_after_both(tmp_path, first, second)
    con.close()


def test_an_open_reader_makes_ingest_busy_without_claiming_a_writer(tmp_path, trees):
    """A long read-only session (an analyst's duckdb shell) blocks ingest; other readers go on."""
    first, second = trees
    db = tmp_path / "s.duckdb"
    con = open_rw(db)
    run(con, first)
    con.close()
    reader = subprocess.Popen([sys.executable, "-c", _READER, str(db), "30"], stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "reading"
        result = CliRunner().invoke(app, ["ingest", str(second), "--db", str(db)])
        assert result.exit_code == 1
        _busy_message_ok(result.stderr, reader.pid, db)
        assert "writing" not in result.stderr, "the holder only reads"
        info = CliRunner().invoke(app, ["sql", "SELECT count(*) AS n FROM samples", "--db", str(db), "-F", "json"])
        assert info.exit_code == 0, info.output
        assert json.loads(info.stdout) == [{"n": 162}]
    finally:
        reader.kill()
        reader.communicate()
        reader.stdout.close()


def test_every_store_command_offers_wait():
    for args in (["ingest"], ["info"], ["report"], ["query", "run"], ["sql"], ["export"]):
        result = CliRunner().invoke(app, [*args, "--help"])
        assert "--wait" in result.stdout, args


@pytest.mark.parametrize("first_read_only", [False, True], ids=["writer_then_reader", "reader_then_writer"])
def test_one_process_opening_a_store_read_only_and_read_write_gets_a_budgetdb_error(tmp_path, first_read_only):
    """DuckDB refuses a second connection of another mode in the same process; the error says
    what to do instead, and the connection already open keeps working."""
    db = tmp_path / "s.duckdb"
    open_rw(db).close()
    first = open_store(db, read_only=first_read_only)
    with pytest.raises(StoreBusyError, match="already open in this process with other settings"):
        open_store(db, read_only=not first_read_only)
    assert first.execute("SELECT count(*) FROM file_records").fetchone() == (0,)
    first.close()
    open_store(db, read_only=not first_read_only).close()


def test_one_process_opening_a_store_with_and_without_local_files_gets_a_budgetdb_error(tmp_path):
    """Two readers with other file access share no database in one process: the second is told so."""
    db = tmp_path / "s.duckdb"
    open_rw(db).close()
    first = open_store(db)
    with pytest.raises(StoreBusyError, match="already open in this process with other settings"):
        open_store(db, allow_local_files=True)
    same = open_store(db)  # the same settings share the database
    assert same.execute("SELECT count(*) FROM file_records").fetchone() == (0,)
    same.close()
    first.close()
