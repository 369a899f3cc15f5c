"""Crash safety: `budgetdb ingest` SIGKILLed at moments spread over its run leaves a store
that opens, holds every config run whole or not at all and no half-recorded file; the next
ingest then ends with exactly what an uninterrupted ingest gives.

Two scenarios: an empty store filled from a demo tree, and a filled store brought up to date
with a changed tree (rewritten, moved, deleted, new and broken files; a merged file that
appears over pooled shards, another that leaves its shards to be pooled again). There every
config run must be either as it was before the run or as it is after it.
The fast variants kill 20 + 10 + 5 times; `pytest -m slow` kills 200 times in each scenario.
"""

from __future__ import annotations

import random
import shutil
from collections import Counter
from pathlib import Path

import pytest

from budgetdb import demo
from budgetdb.errors import StoreNotFoundError
from budgetdb.store import open_store

from ingest_support import file_name, load, make, open_rw, run, store_digest, write_json
from reliability_support import Forker, assert_whole, disk_state, disk_versions

# about 4 demo files (7-8 KB each) per transaction: some 15 commits per run
SMALL_BATCH = 30_000


def _ingest_args(hw_root: Path, db: Path) -> list[str]:
    return ["ingest", str(hw_root), "--db", str(db), "--prune", "--format", "json"]


def _opens_read_only(db: Path) -> None:
    """What `budgetdb info` does right after the crash: it opens, or says clearly why not."""
    try:
        # once in ~600 kills a just-reaped process's lock was still seen for a moment (a busy error
        # naming no process), so allow the few seconds --wait gives users for exactly this
        open_store(db, wait=5).close()
    except StoreNotFoundError as exc:
        # killed before the store file was made, or before its schema was committed: a new store either way
        assert str(exc) == f"no store at {db}; create one with `budgetdb ingest PATH` (or pass --db)"


def _kill_many(
    tmp_path: Path,
    hw_root: Path,
    start_store: Path | None,
    kills: int,
    seed: int,
    allowed: list[dict],
    versions: dict,
    batch_bytes: int | None = SMALL_BATCH,
) -> list[int]:
    """SIGKILL `kills` ingest runs at stratified random moments over [0, an uninterrupted run's
    duration]; check each store, then finish it with an in-process ingest.

    SMALL_BATCH: a few configurations per transaction, so kills land between and inside many
    commits; None: the default batches, as users run it. Returns, for each kill, how many of
    the config runs the run changes were already in their new state.
    """

    def fresh(name: str) -> Path:
        db = tmp_path / name
        if start_store is not None:
            shutil.copyfile(start_store, db)
        return db

    forker = Forker()
    try:
        reference = fresh("reference.duckdb")
        log = tmp_path / "reference.log"
        whole = forker.run(*_ingest_args(hw_root, reference), batch_bytes=batch_bytes, output=log)
        assert whole["code"] in (0, 1) and "Traceback" not in log.read_text(), log.read_text()[-2000:]
        con = open_store(reference)
        expected = store_digest(con)
        con.close()
        # the median of three runs: one slow (first, cold) run would push the later kills past the end
        durations = [whole["seconds"]] + [
            forker.run(*_ingest_args(hw_root, fresh(f"timing{t}.duckdb")), batch_bytes=batch_bytes)["seconds"] for t in range(2)
        ]
        duration = sorted(durations)[len(durations) // 2]
        runs_before = 0
        if start_store is not None:
            con = open_store(start_store)
            runs_before = con.execute("SELECT count(*) FROM ingest_runs").fetchone()[0]
            con.close()
        old, new = allowed[0], allowed[-1]
        changed = {key: state for key, state in new.items() if old.get(key) != state}
        rng = random.Random(seed)
        held, finished_first = [], 0
        for i in range(kills):
            db = fresh(f"killed{i}.duckdb")
            share = (i + rng.random()) / kills
            outcome = forker.run(*_ingest_args(hw_root, db), kill_after=duration * share, batch_bytes=batch_bytes)
            if not outcome["killed"]:
                # the machine got faster than the runs that set `duration` (a loaded machine's
                # timings swing): scale to this run's time and kill at the same share of it again
                finished_first += 1
                duration = min(duration, outcome["seconds"])
                db.unlink()
                db.with_name(db.name + ".wal").unlink(missing_ok=True)
                db = fresh(f"killed{i}.duckdb")
                outcome = forker.run(*_ingest_args(hw_root, db), kill_after=duration * share, batch_bytes=batch_bytes)
            moment = duration * share
            _opens_read_only(db)
            con = open_rw(db)
            state = assert_whole(con, allowed, versions)
            # the run's line in ingest_runs comes last: present only if everything landed
            recorded = con.execute("SELECT count(*) FROM ingest_runs").fetchone()[0] - runs_before
            assert recorded in (0, 1) and (recorded or outcome["killed"])
            if recorded:
                assert {key: state.get(key) for key in new} == new, "a run was recorded before all of it landed"
            held.append(sum(state.get(key) == after for key, after in changed.items()))
            run(con, hw_root, prune=True)
            assert store_digest(con) == expected, f"killed at {moment:.3f}s: the next ingest did not finish the job"
            con.close()
            for path in (db, db.with_name(db.name + ".wal")):
                path.unlink(missing_ok=True)
    finally:
        forker.close()
    # the kills really were spread over the run, not all after it ended (a run that beat its kill was
    # killed again at the same share of its own time; only the last kill may come after the end)
    assert finished_first <= max(2, kills // 2), f"{finished_first} of {kills} runs ended before their kill"
    return held


def _demo_tree(tmp_path: Path, seed: int) -> Path:
    """A demo tree of two datasets (54 configurations, their shards, a log and a non-result)."""
    hw_root = demo.write_demo_tree(tmp_path / "data", samples=81 * 4, seed=seed).root
    for folder in hw_root.rglob("okvqa"):
        shutil.rmtree(folder)
    return hw_root


def _fresh_scenario(tmp_path: Path):
    hw_root = _demo_tree(tmp_path, seed=8)
    full = disk_state(hw_root)
    return hw_root, [{}, full], disk_versions(hw_root)


def _update_scenario(tmp_path: Path):
    """A store holding tree A, and the tree on disk changed to B."""
    hw_root = _demo_tree(tmp_path, seed=9)
    store_a = tmp_path / "a.duckdb"
    con = open_rw(store_a)
    run(con, hw_root)
    con.close()
    state_a, versions = disk_state(hw_root), disk_versions(hw_root)

    leftover = next(hw_root.rglob("coco-2014-vqa_*_topk8_blocks12.json"))
    assert "_rank" not in leftover.name
    merged = sorted(p for p in hw_root.rglob("*.json") if "_rank" not in p.name and "topk" in p.name and p != leftover)
    for i, path in enumerate(merged[:40:5]):  # rewritten with other samples
        body = load(path)
        write_json(
            path, make(path.parent.name, body["tier"], body["top_k"], body["num_active_blocks"], n=2 + i % 5, seed=100 + i)
        )
    moved = merged[41]  # its body now says another top_k: it leaves one config run for another
    body = load(moved)
    body["top_k"] = 11
    write_json(moved, body)
    merged[42].unlink()  # pruned
    leftover.unlink()  # its two leftover shards are pooled again
    crashed = next(hw_root.rglob("text-vqa_*_topk6_blocks14_rank0.json")).parent
    shards = [load(p) for p in sorted(crashed.glob("text-vqa_*_topk6_blocks14_rank*.json"))]
    write_json(crashed / file_name("text-vqa", "medium", 6, 6, 14), demo.merge_shards(shards))  # supersedes them
    write_json(crashed / file_name("text-vqa", "low", 2, 12, 12), make("text-vqa", "low", 12, 12, n=4, seed=7))
    (crashed / "broken.json").write_text('{"top_k": "4", "num_active_blocks": 12}')  # fails: top_k is a string
    state_b = disk_state(hw_root)
    assert state_a != state_b
    versions.update(disk_versions(hw_root))
    return hw_root, store_a, [state_a, state_b], versions


def test_killed_ingest_into_an_empty_store_leaves_whole_config_runs(tmp_path):
    hw_root, allowed, versions = _fresh_scenario(tmp_path)
    held = _kill_many(tmp_path, hw_root, None, 20, seed=1, allowed=allowed, versions=versions)
    assert len({h for h in held if 0 < h < 54}) >= 3, f"too few kills landed while writing: {held}"


def test_killed_ingest_of_a_changed_tree_leaves_each_config_run_old_or_new(tmp_path):
    hw_root, store_a, allowed, versions = _update_scenario(tmp_path)
    held = _kill_many(tmp_path, hw_root, store_a, 10, seed=2, allowed=allowed, versions=versions)
    changed = sum(allowed[0].get(key) != state for key, state in allowed[1].items())
    assert any(0 < h < changed for h in held), f"no kill landed while writing: {held}"


def test_killed_ingest_with_default_batches_leaves_a_whole_store(tmp_path):
    """The command exactly as users run it: all configurations of this small tree in one transaction."""
    hw_root, allowed, versions = _fresh_scenario(tmp_path)
    held = _kill_many(tmp_path, hw_root, None, 5, seed=3, allowed=allowed, versions=versions, batch_bytes=None)
    assert set(held) <= {0, 54}


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["fresh", "update"])
def test_two_hundred_kills(tmp_path, scenario):
    if scenario == "fresh":
        hw_root, allowed, versions = _fresh_scenario(tmp_path)
        start = None
    else:
        hw_root, start, allowed, versions = _update_scenario(tmp_path)
    held = _kill_many(tmp_path, hw_root, start, 200, seed=4, allowed=allowed, versions=versions)
    changed = sum(allowed[0].get(key) != state for key, state in allowed[-1].items())
    partial = Counter(h for h in held if 0 < h < changed)
    # 200 kills spread over the run land between many different commits, not only before or after all
    assert len(partial) >= 10, f"of {changed} config runs, after each kill this many were new: {sorted(Counter(held).items())}"
