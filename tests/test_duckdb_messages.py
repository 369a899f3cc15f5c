"""Every predicate of store/duckdb_messages.py against a real DuckDB error, produced here by
DuckDB itself (never hand-written text): a DuckDB upgrade that rewords a message fails here
first, and a predicate that matches too much (a corrupt store's "block" read as a "lock") too."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb

from budgetdb.store import duckdb_messages as messages
from budgetdb.store import extensions

from lake_support import _admin, server_conninfo


def _error(action) -> BaseException:
    try:
        action()
    except Exception as exc:  # noqa: BLE001 - the error DuckDB raised is what is tested
        return exc
    raise AssertionError("DuckDB raised no error")


def _store(path: Path, rows: int = 300_000) -> Path:
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t AS SELECT range AS i, range::VARCHAR || 'abc' AS s FROM range($n)", {"n": rows})
    con.close()
    return path


def _corrupt_block_error(tmp_path: Path) -> BaseException:
    """A store with one data block overwritten: DuckDB says `Corrupt database file ... in block at location N`."""
    path = _store(tmp_path / "corrupt.duckdb")
    with path.open("r+b") as handle:
        handle.seek(4096 + 100)  # inside the second header block: the checksum no longer matches
        handle.write(b"\xde\xad\xbe\xef" * 8)
    return _error(lambda: duckdb.connect(str(path), read_only=True).execute("SELECT sum(length(s)) FROM t").fetchall())


_HOLD = "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); sys.stdin.read()"


def _held_lock(tmp_path: Path):
    """A child process holding a store open read-write; returns (process, the lock error)."""
    path = _store(tmp_path / "held.duckdb", rows=10)
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    return child, _error(lambda: duckdb.connect(str(path), read_only=True))


def test_a_held_lock_is_a_lock_and_names_the_holder(tmp_path):
    child, exc = _held_lock(tmp_path)
    try:
        assert isinstance(exc, duckdb.IOException)
        assert messages.is_lock_held(exc)
        assert messages.lock_holder_pid(exc) == child.pid
        assert not messages.is_corrupt(exc)
    finally:
        child.kill()
        child.wait()


def test_a_corrupt_block_is_corrupt_and_not_a_lock(tmp_path):
    exc = _corrupt_block_error(tmp_path)
    assert "block" in str(exc)  # the word that made `"lock" in message` call it busy
    assert messages.is_corrupt(exc)
    assert not messages.is_lock_held(exc)
    assert messages.lock_holder_pid(exc) is None


def test_a_file_that_is_no_duckdb_database_is_corrupt(tmp_path):
    path = _store(tmp_path / "header.duckdb", rows=10)
    with path.open("r+b") as handle:
        handle.write(b"\0" * 64)  # the main header, magic bytes included
    exc = _error(lambda: duckdb.connect(str(path), read_only=True))
    assert messages.is_corrupt(exc) and not messages.is_lock_held(exc)


def test_the_corruption_is_found_anywhere_in_the_chain(tmp_path):
    cause = _corrupt_block_error(tmp_path)
    try:
        try:
            raise cause
        except duckdb.Error as exc:
            raise RuntimeError("query failed") from exc
    except RuntimeError as wrapped:
        assert messages.is_corrupt(wrapped)


def test_write_write_conflicts_are_conflicts():
    con = duckdb.connect()
    first, second = con.cursor(), con.cursor()
    first.execute("BEGIN")
    second.execute("BEGIN")
    first.execute("CREATE TABLE t (i INTEGER)")
    exc = _error(lambda: second.execute("CREATE TABLE t (i INTEGER)"))
    assert messages.is_conflict(exc)
    assert "conflict" in messages.conflict_line(exc).lower()
    assert not messages.is_conflict(_error(lambda: con.execute("SELECT * FROM no_such_table")))


def test_a_ducklake_commit_conflict_is_a_conflict_and_its_line_says_what_conflicted(tmp_path):
    con = extensions.offline_connection()
    extensions.load(con, "ducklake")
    catalog, data = tmp_path / "c.ducklake", tmp_path / "data"
    con.execute(f"ATTACH 'ducklake:{catalog}' AS lake (DATA_PATH '{data}/', DATA_INLINING_ROW_LIMIT 0)")
    con.execute("USE lake")
    con.execute("CREATE TABLE t AS SELECT 1 AS i")
    deleter, inserter = con.cursor(), con.cursor()
    for cursor in (deleter, inserter):
        cursor.execute("USE lake")
        cursor.execute("BEGIN")
    deleter.execute("DELETE FROM t")
    inserter.execute("INSERT INTO t VALUES (5)")
    deleter.execute("COMMIT")
    exc = _error(lambda: inserter.execute("COMMIT"))
    con.close()
    assert messages.is_conflict(exc)
    assert messages.conflict_line(exc).startswith("Transaction conflict")


def test_one_file_open_twice_in_other_modes(tmp_path):
    path = _store(tmp_path / "modes.duckdb", rows=1)
    writer = duckdb.connect(str(path))
    try:
        exc = _error(lambda: duckdb.connect(str(path), read_only=True))
    finally:
        writer.close()
    assert messages.is_other_open_mode(exc)
    assert not messages.is_lock_held(exc)


def test_already_exists():
    con = duckdb.connect()
    con.execute("CREATE TABLE t (i INTEGER)")
    assert messages.is_already_exists(_error(lambda: con.execute("CREATE TABLE t (i INTEGER)")))
    assert not messages.is_already_exists(_error(lambda: con.execute("SELECT * FROM u")))
    assert not messages.is_already_exists(None)


def test_a_lake_half_created_by_a_rival_is_a_creation_race(tmp_path):
    catalog = tmp_path / "race.ducklake"
    rival = duckdb.connect(str(catalog))
    rival.execute("CREATE TABLE ducklake_snapshot (x INTEGER)")  # what a rival's first CREATE left
    rival.close()
    con = extensions.offline_connection()
    extensions.load(con, "ducklake")
    exc = _error(lambda: con.execute(f"ATTACH 'ducklake:{catalog}' AS lake (DATA_PATH '{tmp_path / 'data'}/')"))
    con.close()
    assert messages.is_lake_creation_race(exc)
    assert not messages.is_lake_missing(exc)


def test_a_read_only_attach_where_no_lake_exists_is_lake_missing(tmp_path, request):
    conninfo = server_conninfo()
    name = f"budgetdb_msg_{tmp_path.name[-12:].lower().replace('-', '_')}"
    _admin(conninfo, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    _admin(conninfo, f"CREATE DATABASE {name}")
    request.addfinalizer(lambda: _admin(conninfo, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    con = extensions.offline_connection()
    extensions.load(con, "ducklake")
    extensions.load(con, "postgres_scanner")
    exc = _error(lambda: con.execute(f"ATTACH 'ducklake:postgres:dbname={name} {conninfo}' AS lake (READ_ONLY)"))
    con.close()
    assert messages.is_lake_missing(exc)
    assert not messages.is_lake_creation_race(exc)


_INTERRUPTED = textwrap.dedent(
    """
    import os, signal, threading
    import duckdb
    from budgetdb.store.duckdb_messages import is_interrupt
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a shell may start us with SIGINT ignored
    con = duckdb.connect()

    def keep(act, done):  # until the query saw it: one that came before the query began is lost
        while not done.wait(0.3):
            act()

    ctrl_c = threading.Event()  # Ctrl-C, as a terminal sends it, while the query runs
    threading.Thread(target=keep, args=(lambda: os.kill(os.getpid(), signal.SIGINT), ctrl_c), daemon=True).start()
    try:
        con.execute("SELECT count(*) FROM range(10000000000000)").fetchall()
    except Exception as exc:
        ctrl_c.set()
        print(type(exc).__name__, is_interrupt(exc))
    limit = threading.Event()  # what a time limit does: not a Ctrl-C
    threading.Thread(target=keep, args=(con.interrupt, limit), daemon=True).start()
    try:
        con.execute("SELECT count(*) FROM range(10000000000000)").fetchall()
    except Exception as exc:
        limit.set()
        print(type(exc).__name__, is_interrupt(exc))
    """
)


def test_ctrl_c_during_a_query_is_an_interrupt_and_a_time_limit_is_not():
    done = subprocess.run([sys.executable, "-c", _INTERRUPTED], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["RuntimeError True", "InterruptException False"]


def test_a_load_error_loses_duckdbs_category_and_the_file_name(tmp_path):
    not_objects = tmp_path / "numbers.json"
    not_objects.write_text(json.dumps({"per_sample_results": [1, 2]}))
    con = duckdb.connect()
    exc = _error(
        lambda: con.execute(
            "SELECT * FROM read_json([$p], columns = {'per_sample_results': 'MAP(VARCHAR, JSON)[]'}, filename = true)",
            {"p": str(not_objects)},
        ).fetchall()
    )
    assert messages.load_error(exc) == "per_sample_results: every element must be an object, found ubigint"
    broken = tmp_path / "broken.json"
    broken.write_text('{"per_sample_results": [')
    exc = _error(lambda: con.execute("SELECT * FROM read_json([$p])", {"p": str(broken)}).fetchall())
    assert str(broken) in str(exc) and str(exc).startswith("Invalid Input Error: ")
    assert messages.load_error(exc, str(broken)) == "Malformed JSON at byte 25: unexpected end of data."


def test_disk_problems_are_found_in_the_chain(tmp_path):
    con = duckdb.connect()
    full = _error(lambda: con.execute("COPY (SELECT 1) TO '/dev/full' (FORMAT csv)"))
    assert messages.disk_problem(full) == 'IO Error: Could not write file "/dev/full": No space left on device'
    try:
        try:
            raise full
        except duckdb.Error as exc:  # what a failed COMMIT followed by a ROLLBACK of nothing looks like
            raise duckdb.TransactionException("TransactionContext Error: cannot rollback - no transaction is active") from exc
    except duckdb.Error as outer:
        assert messages.disk_problem(outer) == messages.first_line(full)
    if Path("/sys/kernel").is_dir():  # sysfs refuses new files even to root
        denied = _error(lambda: con.execute("COPY (SELECT 1) TO '/sys/kernel/budgetdb_test' (FORMAT csv)"))
        assert "Permission denied" in messages.disk_problem(denied)
    assert messages.disk_problem(_error(lambda: con.execute("SELECT * FROM no_such_table"))) is None
