"""Idempotent, incremental and atomic ingest: a second run changes nothing, a touched file is
not rewritten, a changed file replaces its rows, a vanished file is reported then pruned,
--strict leaves the store unchanged, and an interrupted run leaves whole units only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from budgetdb import demo
from budgetdb.errors import IngestFailedError
from budgetdb.store import samples
from budgetdb.store.ingest import IngestOptions, ingest

from ingest_support import (
    assert_same_as_one_fresh_ingest,
    expected_runs,
    file_name,
    load,
    make,
    open_rw,
    outcomes,
    run,
    store_digest,
    table_rows,
    write_json,
)


@pytest.fixture()
def tree(tmp_path):
    written = demo.write_demo_tree(tmp_path / "data", samples=162, seed=4)
    return written.root


def _first_result(hw_root: Path, pattern: str = "*_topk4_blocks12.json") -> Path:
    return sorted(p for p in hw_root.rglob(pattern) if "_rank" not in p.name)[0]


def _file_row(con, path) -> tuple:
    return con.execute("SELECT * FROM file_records WHERE path = $p", {"p": str(path)}).fetchone()


def _consistent(con, hw_root: Path) -> None:
    """Whatever the store holds is whole: every stored file has all its samples, and every
    config run present has exactly the samples its counted files hold on disk."""
    per_file = dict(
        con.execute(
            "SELECT f.path, count(s.file_id) FROM file_records f LEFT JOIN sample_records s USING (file_id) "
            "WHERE f.status = 'ingested' GROUP BY ALL"
        ).fetchall()
    )
    for path, count in per_file.items():
        assert count == len(load(path)["per_sample_results"]), path
    assert (
        con.execute(
            "SELECT count(*) FROM sample_records s LEFT JOIN file_records f USING (file_id) "
            "WHERE f.file_id IS NULL OR f.status <> 'ingested'"
        ).fetchone()[0]
        == 0
    )
    expected = {key: len(r["samples"]) for key, r in expected_runs(hw_root).items()}
    for experiment, dataset, tier, top_k, blocks, n in con.execute(
        "SELECT experiment, dataset, tier, top_k, num_active_blocks, n_samples FROM config_runs"
    ).fetchall():
        assert n == expected[(experiment, dataset, tier, top_k, blocks)], (dataset, tier, top_k, blocks)


# -- idempotent ------------------------------------------------------------------------------------


def test_second_run_changes_nothing_and_reads_nothing(tree):
    con = open_rw(tree.parent / "s.duckdb")
    first = run(con, tree)
    before = store_digest(con, keep_times=True)
    second = run(con, tree)
    n_json = len(list(tree.rglob("*.json")))
    assert first.counts["new"] > 0
    assert second.counts == {
        "new": 0,
        "updated": 0,
        "unchanged": n_json,
        "moved": 0,
        "superseded": 0,
        "skipped": 0,
        "failed": 0,
        "vanished": 0,
        "pruned": 0,
    }
    assert second.samples_added == 0 and second.bytes_read == 0
    assert store_digest(con, keep_times=True) == before
    assert con.execute("SELECT count(*) FROM ingest_runs").fetchone()[0] == 2


def test_touched_file_is_unchanged_and_not_rewritten(tree):
    con = open_rw(tree.parent / "s.duckdb")
    run(con, tree)
    path = _first_result(tree)
    columns = [d[0] for d in con.execute("SELECT * FROM file_records LIMIT 0").description]
    before = dict(zip(columns, _file_row(con, path), strict=True))
    samples_before = table_rows(con, "sample_records", "file_id, ordinal")
    new_mtime = path.stat().st_mtime + 1000
    os.utime(path, (new_mtime, new_mtime))
    touched = run(con, tree)
    assert outcomes(touched)[str(path)] == ("unchanged", None)
    assert touched.counts["unchanged"] == len(list(tree.rglob("*.json")))
    after = dict(zip(columns, _file_row(con, path), strict=True))
    assert after["mtime"] == new_mtime
    assert {k: v for k, v in after.items() if k != "mtime"} == {k: v for k, v in before.items() if k != "mtime"}
    assert table_rows(con, "sample_records", "file_id, ordinal") == samples_before
    # the new mtime is remembered: the next run reads no file at all
    assert run(con, tree).bytes_read == 0


# -- incremental -----------------------------------------------------------------------------------


def test_changed_file_replaces_its_rows(tree):
    con = open_rw(tree.parent / "s.duckdb")
    run(con, tree)
    path = _first_result(tree)
    old = load(path)
    dataset = path.parent.name
    new = make(dataset, old["tier"], old["top_k"], old["num_active_blocks"], n=5, seed=99)
    for i, sample in enumerate(new["per_sample_results"]):
        sample["T_total"] = 1000.0 + i
    write_json(path, new)
    changed = run(con, tree)
    assert outcomes(changed)[str(path)] == ("updated", None)
    assert changed.counts["updated"] == 1 and changed.counts["new"] == 0 and changed.samples_added == 5
    got = con.execute(
        "SELECT T_total FROM samples JOIN files f USING (file_id) WHERE f.path = $p ORDER BY ordinal", {"p": str(path)}
    ).fetchall()
    assert [r[0] for r in got] == [1000.0, 1001.0, 1002.0, 1003.0, 1004.0]
    old_totals = [s["T_total"] for s in old["per_sample_results"]]
    assert (
        con.execute("SELECT count(*) FROM sample_records WHERE list_contains($t, T_total)", {"t": old_totals}).fetchone()[0] == 0
    )
    assert con.execute(
        "SELECT n_samples, accuracy FROM config_runs WHERE summary_file = $r", {"r": path.relative_to(tree).as_posix()}
    ).fetchall() == [(5, new["accuracy"])]
    assert_same_as_one_fresh_ingest(con, tree, tree.parent)


def test_file_whose_body_changes_config_moves_to_the_new_config_run(tree):
    con = open_rw(tree.parent / "s.duckdb")
    run(con, tree)
    path = _first_result(tree)
    body = load(path)
    key = (path.parent.name, body["tier"])
    body["top_k"] = 11
    for sample in body["per_sample_results"]:
        sample["top_k"] = 11
    write_json(path, body)
    run(con, tree)
    got = con.execute(
        "SELECT top_k, n_samples FROM config_runs WHERE dataset = $d AND tier = $t AND num_active_blocks = 12 "
        "AND experiment = $e ORDER BY top_k",
        {"d": key[0], "t": key[1], "e": path.parent.parent.name},
    ).fetchall()
    assert [k for k, _ in got] == [6, 8, 11]
    assert_same_as_one_fresh_ingest(con, tree, tree.parent)


def test_vanished_file_is_reported_and_kept_then_removed_with_prune(tree):
    con = open_rw(tree.parent / "s.duckdb")
    run(con, tree)
    path = _first_result(tree)
    rel = path.relative_to(tree).as_posix()
    n = len(load(path)["per_sample_results"])
    before = store_digest(con)
    path.unlink()
    kept = run(con, tree)
    outcome, reason = outcomes(kept)[str(path)]
    assert outcome == "vanished" and "--prune" in reason
    assert kept.counts["vanished"] == 1
    assert store_digest(con) == before
    assert (
        con.execute("SELECT count(*) FROM samples JOIN files f USING (file_id) WHERE f.rel_path = $r", {"r": rel}).fetchone()[0]
        == n
    )
    pruned = run(con, tree, prune=True)
    assert outcomes(pruned)[str(path)][0] == "pruned" and pruned.counts["pruned"] == 1
    assert con.execute("SELECT count(*) FROM file_records WHERE path = $p", {"p": str(path)}).fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM config_runs WHERE summary_file = $r", {"r": rel}).fetchone()[0] == 0
    assert str(path) not in outcomes(run(con, tree))
    assert_same_as_one_fresh_ingest(con, tree, tree.parent)


def test_files_outside_the_given_paths_are_not_called_vanished(tmp_path):
    hw = tmp_path / "core_exp_h100"
    a = write_json(hw / "exp1" / "okvqa" / file_name("okvqa", "low", 2, 4, 12), make("okvqa", "low", 4, 12))
    b = write_json(hw / "exp2" / "okvqa" / file_name("okvqa", "low", 2, 4, 12), make("okvqa", "low", 4, 12, seed=1))
    con = open_rw(tmp_path / "s.duckdb")
    run(con, hw)
    b.unlink()
    only_exp1 = run(con, hw / "exp1", prune=True)
    assert outcomes(only_exp1) == {str(a): ("unchanged", None)}
    assert con.execute("SELECT count(*) FROM files").fetchone()[0] == 2


def test_a_failed_file_stays_failed_until_fixed(tmp_path):
    folder = tmp_path / "core_exp_h100" / "okvqa"
    good = write_json(folder / file_name("okvqa", "low", 2, 4, 12), make("okvqa", "low", 4, 12))
    bad = folder / file_name("okvqa", "low", 2, 6, 12)
    bad.write_text('{"top_k": 6, "num_active_blocks": 12, "per_sample_results": [')
    con = open_rw(tmp_path / "s.duckdb")
    assert outcomes(run(con, folder))[str(bad)][0] == "failed"
    again = run(con, folder)
    assert outcomes(again)[str(bad)][0] == "failed" and again.failed  # still exit code 1
    write_json(bad, make("okvqa", "low", 6, 12, n=4))
    fixed = run(con, folder)
    assert outcomes(fixed)[str(bad)][0] in ("new", "updated")
    assert dict(con.execute("SELECT path, status FROM files").fetchall()) == {str(good): "ingested", str(bad): "ingested"}
    assert con.execute("SELECT sum(n_samples) FROM config_runs").fetchone()[0] == 3 + 4


def test_a_good_file_broken_later_fails_and_keeps_what_was_stored(tmp_path):
    folder = tmp_path / "core_exp_h100" / "okvqa"
    path = write_json(folder / file_name("okvqa", "low", 2, 4, 12), make("okvqa", "low", 4, 12))
    con = open_rw(tmp_path / "s.duckdb")
    run(con, folder)
    before = store_digest(con)
    path.write_text(path.read_text()[:100])
    broken = run(con, folder)
    assert outcomes(broken)[str(path)][0] == "failed"
    assert store_digest(con) == before


# -- atomic ----------------------------------------------------------------------------------------


def _add_bad_file(hw_root: Path) -> Path:
    bad = hw_root / "5run_2samples_demo" / "okvqa" / file_name("okvqa", "low", 2, 11, 12)
    bad.write_text('{"top_k": 11, "num_active_blocks": 12, "per_sample_results": [{"T_total": "12.5"}]}')
    return bad


def test_strict_with_a_bad_file_leaves_an_empty_store_unchanged(tree):
    bad = _add_bad_file(tree)
    con = open_rw(tree.parent / "s.duckdb")
    before = store_digest(con, keep_times=True)
    with pytest.raises(IngestFailedError) as error:
        run(con, tree, strict=True)
    assert str(bad) in str(error.value)
    assert store_digest(con, keep_times=True) == before
    assert con.execute("SELECT count(*) FROM file_records").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM ingest_runs").fetchone()[0] == 0


def test_strict_with_a_bad_file_leaves_a_filled_store_unchanged(tree):
    con = open_rw(tree.parent / "s.duckdb")
    run(con, tree)
    before = store_digest(con, keep_times=True)
    runs_before = con.execute("SELECT count(*) FROM ingest_runs").fetchone()[0]
    changed = _first_result(tree)
    write_json(changed, make(changed.parent.name, "low", 4, 12, n=4, seed=7))
    _first_result(tree, "*_topk8_blocks16.json").unlink()
    _add_bad_file(tree)
    with pytest.raises(IngestFailedError):
        run(con, tree, strict=True, prune=True)
    assert store_digest(con, keep_times=True) == before
    assert con.execute("SELECT count(*) FROM ingest_runs").fetchone()[0] == runs_before


def test_without_strict_the_other_files_land(tree):
    bad = _add_bad_file(tree)
    con = open_rw(tree.parent / "s.duckdb")
    summary = run(con, tree)
    assert [o.path for o in summary.failed] == [str(bad)]
    assert summary.samples_added == 162
    assert con.execute("SELECT count(*) FROM samples").fetchone()[0] == 162
    _consistent(con, tree)


def test_strict_failure_while_writing_leaves_the_store_unchanged(tree, monkeypatch):
    con = open_rw(tree.parent / "s.duckdb")
    before = store_digest(con, keep_times=True)
    real, calls = samples.load, []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise duckdb.ConversionException("simulated failure while loading")
        return real(*args, **kwargs)

    monkeypatch.setattr(samples, "load", failing)
    with pytest.raises(IngestFailedError):
        run(con, tree, strict=True, batch_bytes=1)
    assert len(calls) >= 5
    assert store_digest(con, keep_times=True) == before


def test_strict_loads_in_batches_like_a_plain_run(tree, monkeypatch):
    """--strict once loaded each configuration on its own: 820 loads, each scanning the rows
    the transaction had added so far (95 s instead of 20 s at 1.64M samples)."""
    real, calls = samples.load, []

    def counting(con, loads, max_size):
        calls.append(len(loads))
        return real(con, loads, max_size)

    monkeypatch.setattr(samples, "load", counting)
    events = []
    con = open_rw(tree.parent / "s.duckdb")
    summary = ingest(con, [tree], IngestOptions(strict=True), progress=lambda *event: events.append(event))
    assert len(calls) == 1, calls
    assert summary.samples_added == 162
    writes = [event[1:3] for event in events if event[0] == "write"]
    files = sum(len(r["files"]) + len(r["superseded"]) for r in expected_runs(tree).values())
    assert files > len(expected_runs(tree))  # the progress counts files, not configurations
    assert writes and writes[-1][0] == writes[-1][1] == files, writes
    _consistent(con, tree)


class _Killed(BaseException):
    """Stands for the process dying: nothing in ingest may catch it."""


def test_interrupted_run_leaves_whole_units_and_the_next_run_finishes(tree, monkeypatch):
    db = tree.parent / "s.duckdb"
    con = open_rw(db)
    real, calls = samples.load, []

    def dying(*args, **kwargs):
        calls.append(1)
        if len(calls) == 30:
            raise _Killed()
        return real(*args, **kwargs)

    monkeypatch.setattr(samples, "load", dying)
    with pytest.raises(_Killed):
        run(con, tree, batch_bytes=1)
    con.close()
    monkeypatch.setattr(samples, "load", real)
    con = open_rw(db)
    landed = con.execute("SELECT count(*) FROM config_runs").fetchone()[0]
    assert landed == 29  # units 1..29 committed, nothing of the 30th
    _consistent(con, tree)
    run(con, tree)
    _consistent(con, tree)
    assert con.execute("SELECT count(*) FROM config_runs").fetchone()[0] == 81
    assert_same_as_one_fresh_ingest(con, tree, tree.parent)


_KILLABLE = """
import sys, time
from budgetdb.store import open_store, samples
from budgetdb.store.ingest import IngestOptions, ingest

real, calls = samples.load, []

def stalling(*args, **kwargs):
    out = real(*args, **kwargs)
    calls.append(1)
    if len(calls) == 21:  # the 21st unit's rows are written, its transaction still open
        print("mid-unit", flush=True)
        time.sleep(60)
    return out

samples.load = stalling
con = open_store(sys.argv[2], read_only=False)
ingest(con, [sys.argv[1]], IngestOptions(batch_bytes=1))
"""


def test_killed_process_leaves_a_consistent_store_and_the_next_run_finishes(tmp_path):
    """SIGKILL in the middle of a unit's transaction (one transaction per unit), then run again."""
    written = demo.write_demo_tree(tmp_path / "data", samples=81 * 20, seed=8)
    db = tmp_path / "s.duckdb"
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLABLE, str(written.root), str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "mid-unit"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    con = open_rw(db)
    landed = con.execute("SELECT count(*) FROM config_runs").fetchone()[0]
    assert landed == 20  # the 20 committed units, nothing of the 21st
    _consistent(con, written.root)
    con.close()
    cli = [sys.executable, "-c", "from budgetdb.cli.app import main; main()"]
    again = subprocess.run(
        [*cli, "ingest", str(written.root), "--db", str(db), "--format", "json"], capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)[0]["files_failed"] == 0
    con = open_rw(db)
    _consistent(con, written.root)
    assert con.execute("SELECT count(*) FROM config_runs").fetchone()[0] == 81
    assert con.execute("SELECT count(*) FROM samples").fetchone()[0] == 81 * 20
    assert_same_as_one_fresh_ingest(con, written.root, tmp_path)


def test_every_run_is_recorded_with_its_counts(tree):
    con = open_rw(tree.parent / "s.duckdb")
    summaries = [run(con, tree), run(con, tree)]
    rows = con.execute(
        "SELECT run_id, files_new, files_updated, files_unchanged, files_superseded, files_skipped, files_failed, "
        "files_vanished, files_pruned, samples_added, nan_latencies, zero_latencies, finished_at >= started_at "
        "FROM ingest_runs ORDER BY started_at"
    ).fetchall()
    assert rows == [
        (
            s.run_id,
            *(s.counts[k] for k in ("new", "updated", "unchanged", "superseded", "skipped", "failed", "vanished", "pruned")),
            s.samples_added,
            s.nan_latencies,
            s.zero_latencies,
            True,
        )
        for s in summaries
    ]


def test_root_subfolder_and_file_runs_into_one_store_see_the_same_files(tree):
    con = open_rw(tree.parent / "s.duckdb")
    run(con, tree)
    before = store_digest(con, keep_times=True)
    one_file = _first_result(tree)
    for paths in ([one_file], [one_file.parent], [one_file.parent.parent], [tree.parent], [tree, one_file]):
        again = run(con, *paths)
        assert {o for o, _ in outcomes(again).values()} == {"unchanged"}, paths
    assert store_digest(con, keep_times=True) == before


def test_renamed_file_is_recognised_as_moved_and_read_nowhere(tmp_path):
    """A rename (or any move that keeps hardware, experiment and dataset) keeps the stored rows:
    the sha256 says it is the same file, so its samples are not loaded again."""
    folder = tmp_path / "core_exp_h100" / "okvqa"
    old = write_json(folder / file_name("okvqa", "high", 11, 8, 16), make("okvqa", "high", 8, 16, n=3))
    con = open_rw(tmp_path / "s.duckdb")
    run(con, folder)
    samples_before = table_rows(con, "sample_records", "ordinal", skip=("file_id",))
    new = old.rename(folder / file_name("okvqa", "high", 12, 8, 16))
    renamed = run(con, folder)
    assert outcomes(renamed) == {str(new): ("moved", f"moved from {old}")}
    assert renamed.samples_added == 0
    assert dict(con.execute("SELECT path, status FROM files").fetchall()) == {str(new): "ingested"}
    assert table_rows(con, "sample_records", "ordinal", skip=("file_id",)) == samples_before
    assert (
        con.execute("SELECT DISTINCT file_id FROM sample_records").fetchall()
        == con.execute("SELECT file_id FROM files").fetchall()
    )
    assert con.execute("SELECT n_samples FROM config_runs").fetchall() == [(3,)]
    assert outcomes(run(con, folder, prune=True)) == {str(new): ("unchanged", None)}
    assert_same_as_one_fresh_ingest(con, folder, tmp_path)


def test_a_renamed_file_whose_old_name_is_back_is_a_copy_never_a_conflict(tmp_path):
    folder = tmp_path / "core_exp_h100" / "okvqa"
    old = write_json(folder / file_name("okvqa", "high", 11, 8, 16), make("okvqa", "high", 8, 16, n=3))
    con = open_rw(tmp_path / "s.duckdb")
    run(con, folder)
    copy = folder / file_name("okvqa", "high", 12, 8, 16)
    copy.write_bytes(old.read_bytes())
    summary = run(con, folder)
    assert outcomes(summary) == {
        str(old): ("unchanged", None),
        str(copy): ("superseded", f"same samples as okvqa/{old.name}"),
    }
    assert not summary.failed
    assert con.execute("SELECT n_samples, n_files, source FROM config_runs").fetchall() == [(3, 1, "merged")]


def test_shard_that_lost_a_rank_conflict_lands_when_the_other_goes(tmp_path):
    folder = tmp_path / "core_exp_h100" / "okvqa"
    shards = demo.split_shards(make("okvqa", "high", 8, 16, n=6), 2)
    a = write_json(folder / file_name("okvqa", "high", 9, 8, 16, rank=0), shards[0])
    b = write_json(folder / file_name("okvqa", "high", 14, 8, 16, rank=0), shards[0])
    write_json(folder / file_name("okvqa", "high", 12, 8, 16, rank=1), shards[1])
    con = open_rw(tmp_path / "s.duckdb")
    run(con, folder)
    status = dict(con.execute("SELECT path, status FROM files").fetchall())
    loser = b if status[str(a)] == "ingested" else a
    winner = a if loser == b else b
    assert status[str(loser)] != "ingested"
    winner.unlink()
    run(con, folder, prune=True)
    assert dict(con.execute("SELECT path, status FROM files").fetchall())[str(loser)] == "ingested"
    assert con.execute("SELECT n_samples FROM config_runs").fetchall() == [(6,)]
