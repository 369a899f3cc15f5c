"""Files that change under a running ingest (a profiling job still writing, a user cleaning
up): the changed file fails with one line, or is left for the next run; the others land;
nothing half-read is ever stored. Hooks stand in for the other process, at three moments:
after the folder was listed, after the file was read for its hash, and after its samples
were loaded but before the commit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import budgetdb.store.apply as apply_module
import budgetdb.store.fingerprint as fingerprint_module
import budgetdb.store.planner as planner_module

from ingest_support import file_name, load, make, open_rw, outcomes, refuse_to_open, run, write_json
from reliability_support import assert_whole, disk_state, disk_versions

DATASET = "okvqa"
CONFIGS = ((4, 12), (6, 12), (8, 12))


@pytest.fixture()
def tree(tmp_path):
    hw_root = tmp_path / "core_exp_h100"
    for i, (top_k, blocks) in enumerate(CONFIGS):
        write_json(
            hw_root / DATASET / file_name(DATASET, "low", 2, top_k, blocks), make(DATASET, "low", top_k, blocks, n=3, seed=i)
        )
    return hw_root


def _victim(hw_root: Path) -> Path:
    return hw_root / DATASET / file_name(DATASET, "low", 2, *CONFIGS[1])


def _grow(path: Path, n: int = 7) -> None:
    """The writer adds samples: a bigger, valid file."""
    body = load(path)
    write_json(path, make(DATASET, "low", body["top_k"], body["num_active_blocks"], n=n, seed=n))


def _rewrite_same_size(path: Path) -> None:
    """Other values, same length, a later mtime (a same-tick rewrite is not detectable: docs/reliability.md)."""
    data = path.read_bytes()
    at = data.index(b'"T_total": ') + len(b'"T_total": ')
    digit = data[at : at + 1]
    path.write_bytes(data[:at] + (b"9" if digit != b"9" else b"8") + data[at + 1 :])
    later = path.stat().st_mtime + 5
    os.utime(path, (later, later))


def _replace_by_folder(path: Path) -> None:
    path.unlink()
    path.mkdir()
    (path / "inside.txt").write_text("not a result")


CHANGES = {"grows": _grow, "rewritten": _rewrite_same_size, "deleted": Path.unlink, "becomes_a_folder": _replace_by_folder}


def _hook(monkeypatch, moment: str, change) -> list:
    """Apply `change` to the victim once, at `moment` of the next ingest run."""
    done = []

    def once(path: Path) -> None:
        if not done:
            done.append(path)
            change(path)

    if moment == "after_listing":
        real = planner_module.discover

        def listing(paths, *args, **kwargs):
            found = real(paths, *args, **kwargs)
            once(_victim(Path(paths[0])))
            return found

        monkeypatch.setattr(planner_module, "discover", listing)
    elif moment == "after_hashing":  # the tree is small: its files are read in this process
        real = fingerprint_module.fingerprint

        def hashing(path, *args, **kwargs):
            result = real(path, *args, **kwargs)
            if Path(path).name == _victim(Path(path).parents[1]).name:
                once(Path(path))
            return result

        monkeypatch.setattr(fingerprint_module, "fingerprint", hashing)
    else:
        real = apply_module._Apply._check_unchanged

        def before_commit(self, batch):
            for unit in batch:
                for group in unit.groups:
                    for entry in group.entries:
                        if entry.candidate is not None and Path(entry.candidate.path) == _victim(Path(entry.candidate.root)):
                            once(Path(entry.candidate.path))
            return real(self, batch)

        monkeypatch.setattr(apply_module._Apply, "_check_unchanged", before_commit)
    return done


@pytest.mark.parametrize("moment", ["after_listing", "after_hashing", "before_commit"])
@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_file_changing_under_ingest_fails_alone_and_the_next_run_settles(tree, monkeypatch, moment, change):
    victim = _victim(tree)
    before = {p: load(p) for p in tree.rglob("*.json")}
    con = open_rw(tree.parent / "s.duckdb")
    done = _hook(monkeypatch, moment, CHANGES[change])
    summary = run(con, tree)
    assert done, "the hook never ran"
    monkeypatch.undo()
    got = outcomes(summary)
    for path in before:
        if path != victim:
            assert got[str(path)] == ("new", None), path.name
    outcome, reason = got[str(victim)]
    assert outcome == "failed" and reason and "\n" not in reason, (outcome, reason)
    # nothing of the victim is stored: neither the bytes it had nor the ones it got
    assert (
        con.execute(
            "SELECT count(*) FROM sample_records JOIN file_records USING (file_id) WHERE path = $p", {"p": str(victim)}
        ).fetchone()[0]
        == 0
    )
    assert con.execute("SELECT count(*) FROM samples").fetchone()[0] == 3 * (len(CONFIGS) - 1)

    again = run(con, tree)
    if victim.is_file():
        assert outcomes(again)[str(victim)][0] in ("new", "updated"), outcomes(again)[str(victim)]
    else:
        assert outcomes(again)[str(victim)][0] == "vanished"
    assert_whole(con, [disk_state(tree)], disk_versions(tree))
    assert con.execute("SELECT count(*) FROM config_runs").fetchone()[0] == len(CONFIGS) - (not victim.is_file())


def test_a_file_still_being_written_fails_and_lands_once_complete(tree):
    """A crashed or running profiling job leaves half a JSON document; the next run after it
    finished writing picks the whole file up."""
    victim = _victim(tree)
    whole = victim.read_bytes()
    victim.write_bytes(whole[: len(whole) // 2])
    con = open_rw(tree.parent / "s.duckdb")
    outcome, reason = outcomes(run(con, tree))[str(victim)]
    assert outcome == "failed" and "\n" not in reason
    victim.write_bytes(whole)
    assert outcomes(run(con, tree))[str(victim)] in (("new", None), ("updated", None))
    assert_whole(con, [disk_state(tree)], disk_versions(tree))
    assert con.execute("SELECT n_samples FROM config_runs ORDER BY top_k").fetchall() == [(3,)] * 3


def test_a_stored_file_changing_under_ingest_keeps_its_stored_version(tree, monkeypatch):
    """An update read half-way is not stored; the complete old version stays until the next run."""
    victim = _victim(tree)
    con = open_rw(tree.parent / "s.duckdb")
    run(con, tree)
    old = load(victim)
    _grow(victim, n=5)
    _hook(monkeypatch, "before_commit", lambda path: _grow(path, n=9))
    outcome, reason = outcomes(run(con, tree))[str(victim)]
    monkeypatch.undo()
    assert outcome == "failed" and "kept" in reason, reason
    stored = con.execute(
        "SELECT T_total FROM sample_records JOIN file_records USING (file_id) WHERE path = $p ORDER BY ordinal",
        {"p": str(victim)},
    ).fetchall()
    assert [r[0] for r in stored] == [s["T_total"] for s in old["per_sample_results"]]
    assert outcomes(run(con, tree))[str(victim)] == ("updated", None)
    assert_whole(con, [disk_state(tree)], disk_versions(tree))
    assert con.execute("SELECT n_samples FROM files WHERE path = $p", {"p": str(victim)}).fetchone() == (9,)


def test_a_file_that_could_not_be_read_is_read_again_once_it_can(tree, monkeypatch):
    """chmod keeps size and mtime: a file refused for permissions must not stay `failed`
    forever once they are fixed."""
    victim = _victim(tree)
    refuse_to_open(monkeypatch, victim)
    con = open_rw(tree.parent / "s.duckdb")
    outcome, reason = outcomes(run(con, tree))[str(victim)]
    assert outcome == "failed" and "permission denied" in reason.lower()
    monkeypatch.undo()
    assert outcomes(run(con, tree))[str(victim)][0] in ("new", "updated")
    assert_whole(con, [disk_state(tree)], disk_versions(tree))


@pytest.mark.parametrize("samples_first", [False, True], ids=["harness_order", "samples_first"])
def test_a_file_gone_while_being_read_and_back_unchanged_is_read_again(tree, monkeypatch, samples_first):
    """A writer that replaces files by rename can make one vanish for a moment; when it is
    back with the very same bytes, size and mtime, the next run still reads it. With the
    samples first (not the harness's key order) DuckDB reads it once more to inspect it."""
    victim = _victim(tree)
    if samples_first:
        body = load(victim)
        write_json(victim, {"per_sample_results": body.pop("per_sample_results"), **body})
    aside = victim.with_suffix(".moved")
    _hook(monkeypatch, "after_hashing", lambda path: path.rename(aside))
    con = open_rw(tree.parent / "s.duckdb")
    outcome, reason = outcomes(run(con, tree))[str(victim)]
    monkeypatch.undo()
    assert outcome == "failed" and "\n" not in reason
    aside.rename(victim)
    assert outcomes(run(con, tree))[str(victim)][0] in ("new", "updated")
    assert_whole(con, [disk_state(tree)], disk_versions(tree))
