"""Many writers on one DuckLake with a PostgreSQL catalog (docs/scale.md): `budgetdb ingest`
processes on different subtrees at once all land; two on the same subtree land it once; a
writer killed with SIGKILL leaves the others whole and its files land on the re-run; write
conflicts are retried and reported only when they persist. Every end state is compared with
an ingest of the same files into a plain DuckDB file."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading

import duckdb
import pytest
from typer.testing import CliRunner

from budgetdb import demo
from budgetdb.cli.app import app
from budgetdb.errors import StoreConflictError
from budgetdb.store import concurrency, extensions, open_store
from budgetdb.store.ingest import ingest
from budgetdb.store.summary import IngestSummary, Outcome, merge_summaries

from lake_support import new_lake, new_postgres_lake, views_digest

# `budgetdb ...` in a child process, a few configurations per transaction: a run commits ~10
# times, so writers interleave and a kill lands between commits of a run
CLI_MANY_COMMITS = [
    sys.executable,
    "-c",
    (
        "import functools, budgetdb.store.ingest as m; "
        "m.IngestOptions = functools.partial(m.IngestOptions, batch_bytes=40_000); "
        "from budgetdb.cli.app import main; main()"
    ),
]
HARDWARE = ("a100", "h100", "l40s", "b200")


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _digest(db):
    con = open_store(db)
    try:
        return views_digest(con)
    finally:
        con.close()


def _no_row_twice(db) -> None:
    con = open_store(db)
    try:
        assert con.execute("SELECT count(*) - count(DISTINCT file_id) FROM file_records").fetchone()[0] == 0
        assert con.execute("SELECT count(*) - count(DISTINCT (file_id, ordinal)) FROM sample_records").fetchone()[0] == 0
    finally:
        con.close()


def _plain(tmp_path, *roots):
    db = tmp_path / "plain.duckdb"
    for root in roots:
        assert invoke("ingest", root, "--db", db).exit_code == 0
    return db


@pytest.fixture()
def roots(tmp_path):
    """One results tree per GPU node."""
    return [demo.write_demo_tree(tmp_path / "results", samples=162, hardware=hw, seed=i).root for i, hw in enumerate(HARDWARE)]


def test_writers_on_every_node_and_twice_on_one_all_land_once_and_a_killed_one_lands_on_rerun(tmp_path, request, roots):
    lake = new_postgres_lake(tmp_path, request)

    def start(root):
        return subprocess.Popen(
            [*CLI_MANY_COMMITS, "ingest", str(root), *lake.args, "--format", "json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    # one writer per node, a second one on the first node, and a victim on the last node
    writers = [start(root) for root in roots[:3]] + [start(roots[0])]
    victim = start(roots[3])
    seen = []
    for line in victim.stderr:  # progress lines: kill it once it committed some configurations
        seen.append(line)
        if line.startswith("writing:"):
            break
    assert victim.poll() is None, f"the victim ended ({victim.returncode}) before it wrote: {''.join(seen)[-1500:]}"
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    victim.stdout.close(), victim.stderr.close()
    assert victim.returncode == -signal.SIGKILL

    for proc in writers:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-1500:]
        assert json.loads(out)[0]["files_failed"] == 0
    _no_row_twice(lake.db)
    con = open_store(lake.db)
    landed = dict(con.execute("SELECT hardware, count(*) FROM samples GROUP BY ALL").fetchall())
    con.close()
    assert {hw: landed.get(hw) for hw in HARDWARE[:3]} == dict.fromkeys(HARDWARE[:3], 162)
    assert landed.get(HARDWARE[3], 0) < 162, "the victim was killed before it finished"

    rerun = subprocess.run(
        [*CLI_MANY_COMMITS, "ingest", str(roots[3]), *lake.args, "--format", "json"], capture_output=True, text=True, timeout=120
    )
    assert rerun.returncode == 0, rerun.stderr[-1500:]
    _no_row_twice(lake.db)
    assert _digest(lake.db) == _digest(_plain(tmp_path, *roots))


def test_two_writers_racing_on_the_same_file_land_it_once(tmp_path, request, roots):
    """Both read the store before either writes: each inserts the file (DuckLake has no UNIQUE,
    and inserts of new rows do not conflict). The check after each run finds it twice and the
    next attempt rewrites it once."""
    lake = new_postgres_lake(tmp_path, request)
    folder = roots[0] / "5run_2samples_demo" / "okvqa"
    plain = _plain(tmp_path, folder)
    open_store(lake.db, read_only=False, data_path=lake.data_path).close()
    both_planned = threading.Barrier(2, timeout=60)
    found_doubled, errors = [], []
    real_mark = concurrency.mark_doubled_stale

    def spy(con):
        doubled = real_mark(con)
        found_doubled.extend(doubled)
        return doubled

    def writer():
        waited = []

        def progress(phase, *_):
            if phase == "inspect" and not waited:  # every file read, nothing written yet
                waited.append(1)
                both_planned.wait()

        try:
            con = open_store(lake.db, read_only=False)
            try:
                ingest(con, [folder], progress=progress)
            finally:
                con.close()
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    concurrency.mark_doubled_stale = spy
    try:
        threads = [threading.Thread(target=writer) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        concurrency.mark_doubled_stale = real_mark
    assert not errors, errors
    assert found_doubled, "the race did not happen: both writers should have stored the files"
    _no_row_twice(lake.db)
    assert _digest(lake.db) == _digest(plain)


@pytest.mark.parametrize("kind", ["local", "postgres"])
def test_a_file_left_twice_by_a_killed_writer_is_repaired_by_the_next_ingest(tmp_path, request, roots, kind):
    """A writer killed between its commit and its check leaves the file twice; the next ingest
    of anything checks first, and rewrites it once."""
    lake = new_lake(kind, tmp_path, request)
    assert invoke("ingest", roots[0], *lake.args).exit_code == 0
    con = open_store(lake.db, read_only=False)
    file_id = con.execute("SELECT min(file_id) FROM files WHERE status = 'ingested'").fetchone()[0]
    con.execute("BEGIN TRANSACTION")
    con.execute("INSERT INTO file_records SELECT * FROM file_records WHERE file_id = $f", {"f": file_id})
    con.execute("INSERT INTO sample_records SELECT * FROM sample_records WHERE file_id = $f", {"f": file_id})
    con.execute("COMMIT")
    assert con.execute("SELECT count(*) FROM file_records WHERE file_id = $f", {"f": file_id}).fetchone()[0] == 2
    con.close()
    result = invoke("ingest", roots[0], *lake.args, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["files_updated"] == 1
    _no_row_twice(lake.db)
    assert _digest(lake.db) == _digest(_plain(tmp_path, roots[0]))


def test_concurrent_rewrites_conflict_and_are_retried(tmp_path, request, roots):
    """Rewriting changed files deletes rows, and a DuckLake delete conflicts with any other
    writer's commit to the same table: the loser's run is retried and both land."""
    lake = new_postgres_lake(tmp_path, request)
    for root in roots[:2]:
        assert invoke("ingest", root, *lake.args).exit_code == 0
    for root in roots[:2]:  # same bytes, new mtime and a different sha256: every file rewritten
        for path in root.rglob("*.json"):
            path.write_text(path.read_text() + "\n")
    both_planned = threading.Barrier(2, timeout=60)
    conflicts, errors, summaries = [], [], []
    real_retrying = concurrency.retrying

    def counting(con, body, **kwargs):
        def watched():
            try:
                return body()
            except Exception as exc:
                if concurrency.is_conflict(exc):
                    conflicts.append(exc)
                raise

        return real_retrying(con, watched, **kwargs)

    def writer(root):
        waited = []

        def progress(phase, *_):
            if phase == "inspect" and not waited:
                waited.append(1)
                both_planned.wait()

        try:
            con = open_store(lake.db, read_only=False)
            try:
                summaries.append(ingest(con, [root], progress=progress))
            finally:
                con.close()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    concurrency.retrying = counting
    try:
        threads = [threading.Thread(target=writer, args=(root,)) for root in roots[:2]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        concurrency.retrying = real_retrying
    assert not errors, errors
    assert conflicts, "the two rewrites should have conflicted at least once"
    assert all(not s.failed and s.counts["updated"] > 0 for s in summaries)
    _no_row_twice(lake.db)
    assert _digest(lake.db) == _digest(_plain(tmp_path, *roots[:2]))


# -- the retry helper ------------------------------------------------------------------------------


def _conflict():
    return duckdb.TransactionException(
        "TransactionContext Error: Failed to commit: Failed to commit DuckLake transaction.\n"
        'Transaction conflict - attempting to delete from table with index "2" - but another transaction has inserted into it'
    )


def test_a_conflict_is_retried_with_backoff_until_it_passes(monkeypatch):
    sleeps = []
    monkeypatch.setattr(concurrency.time, "sleep", sleeps.append)
    calls = []

    def body():
        calls.append(1)
        if len(calls) < 4:
            raise _conflict()
        return "landed"

    con = duckdb.connect()
    assert concurrency.retrying(con, body, what="ingest") == "landed"
    assert len(calls) == 4 and len(sleeps) == 3
    caps = [min(concurrency.MAX_DELAY, concurrency.FIRST_DELAY * 2**i) for i in range(3)]
    assert all(0 <= s <= cap for s, cap in zip(sleeps, caps, strict=True)) and caps[2] > caps[0]


class _FakeClock:
    """time.monotonic and time.sleep for code under test: sleeping advances the clock at once."""

    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_a_persisting_conflict_is_reported_and_other_errors_are_not_retried(monkeypatch):
    monkeypatch.setattr(concurrency, "FIRST_DELAY", 0.005)
    monkeypatch.setattr(concurrency, "MAX_DELAY", 0.01)
    con = duckdb.connect()
    calls = []

    def always():
        calls.append(1)
        raise _conflict()

    clock = _FakeClock()
    monkeypatch.setattr(concurrency, "time", clock)
    with pytest.raises(StoreConflictError, match=r"ingest: other writers kept committing") as raised:
        concurrency.retrying(con, always, what="ingest", patience=0.2)
    # it kept trying for its whole patience, and gave up at the first attempt after it ran out
    assert 0.2 <= clock.now < 0.2 + concurrency.MAX_DELAY
    assert clock.now - clock.sleeps[-1] < 0.2
    assert len(calls) > 2 and f"({len(calls)} attempts)" in str(raised.value)
    assert "attempting to delete from table" in str(raised.value)

    def broken():
        calls.append(1)
        raise duckdb.CatalogException("Catalog Error: Table with name nope does not exist!")

    calls.clear()
    with pytest.raises(duckdb.CatalogException):
        concurrency.retrying(con, broken, what="ingest")
    assert len(calls) == 1

    def wrapped():  # a conflict anywhere in the chain counts (a failed ROLLBACK after it, say)
        try:
            raise _conflict()
        except duckdb.Error as exc:
            raise duckdb.TransactionException("cannot rollback - no transaction is active") from exc

    assert concurrency.is_conflict(pytest.raises(duckdb.TransactionException, wrapped).value)


def test_attempts_that_each_landed_part_are_reported_as_one_run():
    first = IngestSummary(
        1,
        [Outcome("/a", "a", "new", samples=3), Outcome("/b", "b", "new", samples=2)],
        samples_added=5,
        nan_latencies=1,
        bytes_read=10,
        seconds=1.0,
    )
    repair = IngestSummary(
        2,
        [Outcome("/a", "a", "updated", samples=3), Outcome("/b", "b", "unchanged"), Outcome("/c", "c", "failed", "bad")],
        samples_added=3,
        bytes_read=4,
        seconds=0.5,
    )
    merged = merge_summaries([first, repair])
    assert [(o.path, o.outcome) for o in merged.outcomes] == [("/a", "new"), ("/b", "new"), ("/c", "failed")]
    assert (merged.samples_added, merged.nan_latencies, merged.bytes_read, merged.seconds) == (5, 1, 14, 1.5)
    assert merge_summaries([first]) is first


@pytest.mark.parametrize("read_only", [False, True], ids=["writer", "reader"])
def test_a_lake_created_between_two_looks_is_budgetdbs_not_a_foreign_database(tmp_path, request, monkeypatch, read_only):
    """A writer (or reader) opening a new lake while a rival creates it read "no schema_version",
    then "tables": a DuckDB database budgetdb did not create. Both looks now see one snapshot."""
    from budgetdb.store import migrations

    lake = new_postgres_lake(tmp_path, request)
    if read_only:  # a reader needs a lake to attach: one holding no table yet
        empty = extensions.offline_connection()
        for name in ("ducklake", "postgres_scanner"):
            extensions.load(empty, name)
        empty.execute(f"ATTACH '{lake.db}' AS lake (DATA_PATH '{lake.data_path}')")
        empty.close()
    looked = migrations.current_version
    rival = []

    def rival_creates_it_after_our_first_look(con):
        version = looked(con)
        if not rival:  # once: the rival's own open looks too
            rival.append(True)
            open_store(lake.db, read_only=False, data_path=str(lake.data_path)).close()
        return version

    monkeypatch.setattr(migrations, "current_version", rival_creates_it_after_our_first_look)
    con = open_store(lake.db, read_only=read_only, data_path=str(lake.data_path))
    try:
        assert rival and migrations.check(con, lake.db) == migrations.latest_version()
    finally:
        con.close()
