"""A store of schema version 2, holding what budgetdb's old rules made of real trees, upgrades
(migration 0003) and the next ingest puts it right: the recovery tool's subset file no longer
fails the merged file, two image sizes are two configurations, a tree ingested by several
spellings is one set of files at their real paths. The old rules' outcomes are written into
the old store as the issue measured them (tests/old_stores.py builds the schema)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import duckdb
import numpy as np
from harness import expected_prints, recovery_tool, stored_prints, write, write_run
from old_stores import old_store

from budgetdb import demo
from budgetdb.store import ids, migrations

from ingest_support import expected_runs, open_rw, outcomes, run

SAME = "; a folder holds one merged file per configuration"


def _failed_row(con, path: Path, root: Path, config_run_id: int, reason: str, **location) -> None:
    """The row the old rules wrote for a file that lost its configuration to another."""
    info = path.stat()
    con.execute(
        """INSERT INTO file_records (file_id, path, root, rel_path, size, mtime, sha256, shape, status, reason,
               hardware, experiment, dataset, config_run_id, ingested_at, run_id)
           VALUES (?, ?, ?, ?, ?, ?, ?, 'current', 'failed', ?, ?, ?, ?, ?, now()::TIMESTAMP, 1)""",
        [
            ids.file_id(str(path)),
            str(path),
            str(root),
            path.relative_to(root).as_posix(),
            info.st_size,
            info.st_mtime,
            hashlib.sha256(path.read_bytes()).hexdigest(),
            reason,
            location.get("hardware", "h100"),
            location.get("experiment", "exp"),
            location.get("dataset", "okvqa"),
            config_run_id,
        ],
    )


def _versions(db: Path) -> list[int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return [r[0] for r in con.execute("SELECT version FROM schema_version ORDER BY version").fetchall()]
    finally:
        con.close()


def test_a_subset_file_the_old_rules_kept_gives_way_to_the_merged_file(tmp_path):
    hw = tmp_path / "core_exp_h100"
    folder = hw / "exp" / "okvqa"
    # 50 examples on 4 GPUs, crops 6 on rank 0: ranks 1 (crops 5) and 3 (crops 7) leave shards
    merged_run = write_run(folder, "okvqa", "high", 8, 16, list(range(50)), 4, [6, 5, 6, 7], seed=21)
    subset = recovery_tool(hw)  # crops5 (rank 1) and crops7 (rank 3): both within the merged file
    merged = merged_run.merged
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    os.rename(merged, hidden / merged.name)  # the old store saw the subsets first...
    db = old_store(tmp_path / "v2.duckdb", 2, hw)
    os.rename(hidden / merged.name, merged)
    con = duckdb.connect(str(db))
    kept = con.execute("SELECT rel_path, config_run_id FROM file_records WHERE status = 'ingested' ORDER BY path").fetchall()
    # ...and, as the old rules did, kept the first by name and failed the others (the merged file too)
    first = kept[0][0]
    config_run_id = kept[0][1]
    for rel, _ in kept[1:]:
        con.execute("DELETE FROM sample_records WHERE file_id = ?", [ids.file_id(str(hw / rel))])
        con.execute(
            "UPDATE file_records SET status = 'failed', reason = ?, sample_keys = NULL WHERE rel_path = ?",
            [f"same configuration as {first}{SAME}", rel],
        )
    _failed_row(con, merged, hw, config_run_id, f"same configuration as {first}{SAME}")
    assert con.execute("SELECT count(*) FROM sample_records").fetchone()[0] == 13  # one rank's share
    con.close()
    assert _versions(db) == [1, 2]

    open_rw(db).close()  # a writer upgrades it to the current schema
    assert _versions(db) == list(range(1, migrations.latest_version() + 1))
    con = open_rw(db)
    summary = run(con, hw)
    assert not summary.failed
    got = outcomes(summary)
    assert got[str(merged)][0] == "updated"
    for path in subset:
        assert got[str(path)] == ("superseded", f"its samples are all in exp/okvqa/{merged.name}")
    key = ("h100", "exp", "okvqa", "high", 8, 16)
    assert stored_prints(con) == {key: expected_prints(merged_run.samples)}
    con.close()


def test_two_image_sizes_the_old_rules_made_one_configuration_become_two(tmp_path):
    hw = tmp_path / "core_exp_h100"
    folder = hw / "old" / "text-vqa"

    def pre_tier(seed):
        body = demo.make_result("text-vqa", None, 8, 16, 5, rng=np.random.default_rng(seed))
        body["max_crops"] = 2
        return body

    first = write(folder / "text-vqa_imgsize336x560_topk8_blocks16.json", pre_tier(1))
    second = folder / "text-vqa_imgsize560x336_topk8_blocks16.json"
    old_id = ids.config_run_id("h100", "old", "text-vqa", "max_crops=2", 8, 16)
    db = old_store(
        tmp_path / "v2.duckdb",
        2,
        hw,
        change=f"UPDATE file_records SET variant = 'max_crops=2', config_run_id = {old_id};"
        f"UPDATE sample_records SET config_run_id = {old_id};",
    )
    write(second, pre_tier(2))
    con = duckdb.connect(str(db))
    _failed_row(
        con,
        second,
        hw,
        old_id,
        f"same configuration as old/text-vqa/{first.name}{SAME}",
        experiment="old",
        dataset="text-vqa",
    )
    con.close()
    con = open_rw(db)
    summary = run(con, hw)
    assert not summary.failed
    assert con.execute("SELECT variant, n_samples FROM config_runs ORDER BY variant").fetchall() == [
        ("imgsize336x560", 5),
        ("imgsize560x336", 5),
    ]
    assert con.execute("SELECT count(DISTINCT config_run_id) FROM sample_records").fetchone()[0] == 2
    con.close()


def test_a_tree_stored_under_several_spellings_is_one_set_of_files(tmp_path):
    written = demo.write_demo_tree(tmp_path / "data", samples=162, seed=22)
    real_root = written.root
    spelled_root = tmp_path / "x" / ".." / "data" / "core_exp_h100"  # as `../data/...` was stored, unresolved
    (tmp_path / "x").mkdir()
    db = old_store(tmp_path / "v2.duckdb", 2, real_root)
    con = duckdb.connect(str(db))
    rows = con.execute("SELECT file_id, path, status, config_run_id, rel_path FROM file_records").fetchall()
    for file_id, path, _, _, _ in rows:
        spelled = path.replace(str(real_root), str(spelled_root))
        con.execute(
            "UPDATE file_records SET file_id = ?, path = ?, root = ? WHERE file_id = ?",
            [ids.file_id(spelled), spelled, str(spelled_root), file_id],
        )
        con.execute("UPDATE sample_records SET file_id = ? WHERE file_id = ?", [ids.file_id(spelled), file_id])
    for _, path, status, config_run_id, rel_path in rows:  # then by the absolute path: every result file failed
        if status in ("ingested", "superseded"):
            _failed_row(
                con,
                Path(path),
                real_root,
                config_run_id,
                f"same configuration as {rel_path}{SAME}",
                experiment=Path(rel_path).parts[0],
                dataset=Path(rel_path).parts[1],
            )
    con.close()
    n_files = len(rows)
    prints = {
        ("h100", experiment, dataset, tier, top_k, blocks): expected_prints(found["samples"])
        for (experiment, dataset, tier, top_k, blocks), found in expected_runs(real_root).items()
    }

    con = open_rw(db)
    summary = run(con, real_root)
    assert not summary.failed, [o.reason for o in summary.failed][:3]
    assert stored_prints(con) == prints
    paths = [r[0] for r in con.execute("SELECT path FROM files").fetchall()]
    assert len(paths) == n_files and all(p.startswith(str(real_root)) for p in paths)
    again = run(con, spelled_root)
    assert {o.outcome for o in again.outcomes} == {"unchanged"}
    con.close()


def test_the_upgrade_marks_the_padding_repeats_of_stored_samples(tmp_path):
    hw = tmp_path / "core_exp_h100"
    r = write_run(hw / "exp" / "okvqa", "okvqa", "low", 4, 12, list(range(10)), 4, [2, 2, 2, 2], seed=23)  # 12 samples
    db = old_store(tmp_path / "v2.duckdb", 2, hw)
    con = open_rw(db)  # the migration alone, no ingest yet
    got = con.execute('SELECT example_id, sample_id FROM samples WHERE "repeat" ORDER BY example_id').fetchall()
    assert got == [(0, 2), (1, 2)]  # examples 0 and 1, measured again as the last of ranks 2 and 3
    assert con.execute("SELECT count(*), count(example_id) FROM samples").fetchone() == (12, 12)
    assert stored_prints(con)[("h100", "exp", "okvqa", "low", 4, 12)] == expected_prints(r.samples)
    con.close()
