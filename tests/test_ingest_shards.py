"""Multi-GPU shards (`_rank<R>`): a merged file supersedes them, alone they are pooled, a merged
file arriving later replaces the pooled shards, and no sample is ever counted twice."""

from __future__ import annotations

import numpy as np

from budgetdb import demo

from ingest_support import assert_same_as_one_fresh_ingest, file_name, load, make, open_rw, outcomes, run, write_json

DATASET = "coco-2014-vqa"


def _crops(result: dict) -> int:
    return int(result["selected_crops_mean"])


def _shards(n: int = 9, ranks: int = 3, seed: int = 0) -> tuple[list[dict], dict]:
    """Shards cut from a result sorted by crops (so each rank's crops number differs) and their merge."""
    result = make(DATASET, "high", 8, 12, n=n, seed=seed)
    order = np.argsort([s["actual_num_crops"] for s in result["per_sample_results"]], kind="stable")
    shards = demo.split_shards(result, ranks, order=order)
    return shards, demo.merge_shards(shards)


def _write_shards(folder, shards) -> list:
    return [write_json(folder / file_name(DATASET, "high", _crops(s), 8, 12, rank=r), s) for r, s in enumerate(shards)]


def _write_merged(folder, merged):
    return write_json(folder / file_name(DATASET, "high", _crops(merged), 8, 12), merged)


def _sample_files(con) -> dict[str, int]:
    return dict(con.execute("SELECT f.path, count(*) FROM samples s JOIN files f USING (file_id) GROUP BY ALL").fetchall())


def _status(con) -> dict[str, str]:
    return dict(con.execute("SELECT path, status FROM files").fetchall())


def _samples_in_table(con) -> dict[str, int]:
    return dict(
        con.execute("SELECT f.path, count(*) FROM sample_records s JOIN file_records f USING (file_id) GROUP BY ALL").fetchall()
    )


def test_shard_crops_numbers_differ_from_the_merged_files(tmp_path):
    shards, merged = _shards()
    names = {p.name for p in _write_shards(tmp_path, shards)} | {_write_merged(tmp_path, merged).name}
    crops = {n.split("_crops")[1].split("_")[0] for n in names}
    assert len(crops) >= 3  # the fixture really has differing crops numbers


def test_merged_file_with_leftover_shards_counts_each_sample_once(tmp_path):
    folder = tmp_path / "core_exp_h100" / "exp" / DATASET
    shards, merged = _shards()
    shard_paths = _write_shards(folder, shards)
    merged_path = _write_merged(folder, merged)
    con = open_rw(tmp_path / "s.duckdb")
    summary = run(con, tmp_path / "core_exp_h100")
    got = outcomes(summary)
    assert got[str(merged_path)] == ("new", None)
    for path in shard_paths:
        outcome, reason = got[str(path)]
        assert outcome == "superseded" and merged_path.name in reason
    assert _status(con) == {str(merged_path): "ingested", **{str(p): "superseded" for p in shard_paths}}
    assert _sample_files(con) == {str(merged_path): 9}
    assert _samples_in_table(con) == {str(merged_path): 9}
    assert con.execute("SELECT n_samples, n_files, source FROM config_runs").fetchall() == [(9, 1, "merged")]
    assert summary.samples_added == 9
    assert summary.counts["superseded"] == 3 and summary.counts["new"] == 1


def test_shards_alone_are_pooled_into_one_config_run(tmp_path):
    folder = tmp_path / "core_exp_h100" / "exp" / DATASET
    shards, _ = _shards(n=10, ranks=3)
    paths = _write_shards(folder, shards)
    con = open_rw(tmp_path / "s.duckdb")
    summary = run(con, folder)
    assert summary.counts["new"] == 3 and summary.samples_added == 10
    sizes = [len(load(p)["per_sample_results"]) for p in paths]
    assert _sample_files(con) == {str(p): n for p, n in zip(paths, sizes, strict=True)}
    assert con.execute("SELECT tier, top_k, num_active_blocks, n_samples, n_files, source FROM config_runs").fetchall() == [
        ("high", 8, 12, sum(sizes), 3, "shards")
    ]
    # every sample of every shard, under the one config run
    got = con.execute("SELECT accuracy, T_total FROM samples ORDER BY file_id, ordinal").fetchall()
    expected = [(s["accuracy"], s["T_total"]) for p in paths for s in load(p)["per_sample_results"]]
    assert sorted(got) == sorted(expected)
    assert con.execute("SELECT count(DISTINCT config_run_id) FROM samples").fetchone()[0] == 1


def test_merged_file_arriving_later_replaces_the_pooled_shards(tmp_path):
    hw = tmp_path / "core_exp_h100"
    folder = hw / "exp" / DATASET
    shards, merged = _shards(n=11, ranks=2)
    shard_paths = _write_shards(folder, shards)
    other = write_json(hw / "exp" / "okvqa" / file_name("okvqa", "low", 2, 4, 12), make("okvqa", "low", 4, 12, n=4))
    con = open_rw(tmp_path / "s.duckdb")
    run(con, hw)
    assert con.execute("SELECT n_samples FROM config_runs WHERE dataset = $d", {"d": DATASET}).fetchall() == [(11,)]

    merged_path = _write_merged(folder, merged)
    second = run(con, hw)
    got = outcomes(second)
    assert got[str(merged_path)][0] == "new"
    assert {got[str(p)][0] for p in shard_paths} == {"superseded"}
    assert got[str(other)][0] == "unchanged"
    assert second.samples_added == 11
    assert _status(con)[str(merged_path)] == "ingested"
    assert {_status(con)[str(p)] for p in shard_paths} == {"superseded"}
    # the pooled shard samples are gone from the table, not only hidden by the view
    assert _samples_in_table(con) == {str(merged_path): 11, str(other): 4}
    assert _sample_files(con) == {str(merged_path): 11, str(other): 4}
    assert con.execute("SELECT n_samples, source FROM config_runs WHERE dataset = $d", {"d": DATASET}).fetchall() == [
        (11, "merged")
    ]

    # the same tree ingested in one go gives the same store
    assert_same_as_one_fresh_ingest(con, hw, tmp_path)


def test_a_new_shard_joins_the_pooled_run(tmp_path):
    folder = tmp_path / "core_exp_h100" / DATASET
    shards, _ = _shards(n=12, ranks=3)
    paths = _write_shards(folder, shards)
    paths[2].unlink()
    con = open_rw(tmp_path / "s.duckdb")
    run(con, folder)
    first = con.execute("SELECT n_samples FROM config_runs").fetchone()[0]
    _write_shards(folder, shards)
    second = run(con, folder)
    assert outcomes(second)[str(paths[2])][0] == "new"
    assert first == 8 and con.execute("SELECT n_samples, n_files FROM config_runs").fetchall() == [(12, 3)]
    assert con.execute("SELECT count(*) FROM samples").fetchone()[0] == 12


def test_removing_the_merged_file_pools_the_shards_again_on_prune(tmp_path):
    folder = tmp_path / "core_exp_h100" / "exp" / DATASET
    shards, merged = _shards(n=9, ranks=3)
    shard_paths = _write_shards(folder, shards)
    merged_path = _write_merged(folder, merged)
    con = open_rw(tmp_path / "s.duckdb")
    run(con, folder)
    merged_path.unlink()
    kept = run(con, folder)
    assert outcomes(kept)[str(merged_path)][0] == "vanished"
    assert _sample_files(con) == {str(merged_path): 9}  # kept until --prune
    pruned = run(con, folder, prune=True)
    assert outcomes(pruned)[str(merged_path)][0] == "pruned"
    sizes = {str(p): len(load(p)["per_sample_results"]) for p in shard_paths}
    assert _sample_files(con) == sizes
    assert _status(con) == dict.fromkeys(sizes, "ingested")
    assert con.execute("SELECT n_samples, source FROM config_runs").fetchall() == [(9, "shards")]


def test_two_shards_of_the_same_rank_never_double_count(tmp_path):
    """A crashed run restarted: two rank-0 shards (different crops numbers) of one config, no merged file."""
    folder = tmp_path / "core_exp_h100" / DATASET
    first, _ = _shards(n=6, ranks=2, seed=1)
    again, _ = _shards(n=8, ranks=2, seed=2)
    a = write_json(folder / file_name(DATASET, "high", 9, 8, 12, rank=0), first[0])
    b = write_json(folder / file_name(DATASET, "high", 14, 8, 12, rank=0), again[0])
    c = write_json(folder / file_name(DATASET, "high", 12, 8, 12, rank=1), first[1])
    con = open_rw(tmp_path / "s.duckdb")
    summary = run(con, folder)
    status = _status(con)
    assert status[str(c)] == "ingested"
    assert [status[str(a)], status[str(b)]].count("ingested") == 1
    counted = sum(len(load(p)["per_sample_results"]) for p in (a, b, c) if status[str(p)] == "ingested")
    assert con.execute("SELECT n_samples FROM config_runs").fetchall() == [(counted,)]
    assert con.execute("SELECT count(*) FROM samples").fetchone()[0] == counted
    assert summary.failed or summary.counts["superseded"] or any(o.warnings for o in summary.outcomes)


def test_shards_of_a_demo_tree_match_the_documented_cases(tmp_path):
    written = demo.write_demo_tree(tmp_path, samples=162, seed=2)
    con = open_rw(tmp_path / "s.duckdb")
    run(con, written.root)
    rows = con.execute(
        "SELECT dataset, tier, top_k, num_active_blocks, n_files, source, n_samples FROM config_runs "
        "WHERE n_files > 1 OR source = 'shards' OR dataset || tier || top_k || num_active_blocks = 'coco-2014-vqahigh812'"
    ).fetchall()
    expected = []
    for crashed_or_merged in (
        "text-vqa_imgsizetier-medium_*_topk6_blocks14*.json",
        "coco-2014-vqa_imgsizetier-high_*_topk8_blocks12*.json",
    ):
        files = sorted(written.root.rglob(crashed_or_merged))
        merged = [p for p in files if "_rank" not in p.name]
        counted = merged or files
        body = load(counted[0])
        expected.append(
            (
                files[0].parent.name,
                body["tier"],
                body["top_k"],
                body["num_active_blocks"],
                len(counted),
                "merged" if merged else "shards",
                sum(len(load(p)["per_sample_results"]) for p in counted),
            )
        )
    assert sorted(rows) == sorted(expected)
    assert con.execute("SELECT count(*) FROM files WHERE status = 'superseded'").fetchone()[0] == 2
