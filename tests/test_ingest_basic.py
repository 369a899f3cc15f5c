"""`budgetdb ingest` on a demo tree and hand-made trees: where identities come from, and what
the public views (`samples`, `config_runs`, `files`) show, checked against the JSON files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from budgetdb import demo

from ingest_support import (
    LATENCIES,
    SHARD,
    expected_runs,
    file_name,
    json_diff,
    load,
    make,
    open_rw,
    outcomes,
    run,
    sha256_of,
    view_value,
    write_json,
)


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    """A demo tree (3 samples per file, with crashed and leftover shards) ingested once."""
    root = tmp_path_factory.mktemp("tree")
    written = demo.write_demo_tree(root, samples=243, seed=5)
    con = open_rw(root / "store.duckdb")
    summary = run(con, written.root)
    yield written.root, con, summary
    con.close()


def _dicts(con, sql: str, params=None) -> list[dict]:
    cursor = con.execute(sql, params or {})
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# -- demo tree: counts and values ----------------------------------------------------------------


def test_every_config_run_has_the_samples_of_its_counted_files(ingested):
    hw_root, con, _ = ingested
    runs = expected_runs(hw_root)
    got = {
        (r["experiment"], r["dataset"], r["tier"], r["top_k"], r["num_active_blocks"]): r["n_samples"]
        for r in _dicts(con, "SELECT * FROM config_runs")
    }
    assert got == {key: len(r["samples"]) for key, r in runs.items()}
    per_view = dict(
        con.execute(
            "SELECT experiment || '|' || dataset || '|' || tier || '|' || top_k || '|' || num_active_blocks, count(*) "
            "FROM samples GROUP BY ALL"
        ).fetchall()
    )
    assert per_view == {"|".join(map(str, key)): len(r["samples"]) for key, r in runs.items()}
    assert con.execute("SELECT count(*) FROM config_runs").fetchone()[0] == 81


def test_samples_view_holds_every_counted_sample_as_written(ingested):
    hw_root, con, _ = ingested
    rows = _dicts(con, "SELECT f.path AS file, s.* FROM samples s JOIN files f USING (file_id)")
    by_position = {(Path(r["file"]), r["ordinal"]): r for r in rows}
    expected = 0
    for (experiment, dataset, tier, top_k, blocks), counted in expected_runs(hw_root).items():
        for path in counted["files"]:
            for i, sample in enumerate(load(path)["per_sample_results"]):
                expected += 1
                row = by_position[(path, i)]
                assert (
                    row["hardware"],
                    row["experiment"],
                    row["dataset"],
                    row["tier"],
                    row["top_k"],
                    row["num_active_blocks"],
                ) == ("h100", experiment, dataset, tier, top_k, blocks)
                for key in LATENCIES:
                    assert row[key] == view_value(sample[key]), (path, i, key)
                for key in (
                    "sample_id",
                    "output_tokens",
                    "content_tokens",
                    "ends_with_eos",
                    "actual_image_size",
                    "actual_num_crops",
                    "actual_tiling",
                    "target_vision_tokens",
                    "actual_vision_tokens",
                    "actual_text_tokens",
                    "total_sequence_length",
                    "accuracy",
                    "pred",
                    "T_decode_per_step",
                ):
                    assert not json_diff(sample[key], row[key]), (path, i, key, sample[key], row[key])
                assert json.loads(row["metadata"]) == sample["metadata"]
                assert row["example_id"] == sample["metadata"]["example_id"]
    assert len(rows) == expected


def test_superseded_shards_are_not_in_the_samples_view(ingested):
    hw_root, con, _ = ingested
    superseded = {str(p) for r in expected_runs(hw_root).values() for p in r["superseded"]}
    assert len(superseded) == 2
    in_view = {row[0] for row in con.execute("SELECT DISTINCT f.path FROM samples JOIN files f USING (file_id)").fetchall()}
    assert not superseded & in_view
    status = dict(
        con.execute("SELECT path, status FROM files WHERE list_contains($p, path)", {"p": sorted(superseded)}).fetchall()
    )
    assert status == dict.fromkeys(superseded, "superseded")


def test_config_runs_of_merged_files_hold_the_summary_as_written(ingested):
    hw_root, con, _ = ingested
    rows = {
        (r["experiment"], r["dataset"], r["tier"], r["top_k"], r["num_active_blocks"]): r
        for r in _dicts(con, "SELECT * FROM config_runs")
    }
    checked = 0
    for key, counted in expected_runs(hw_root).items():
        if len(counted["files"]) != 1 or SHARD.search(counted["files"][0].name):
            continue
        body, row = load(counted["files"][0]), rows[key]
        checked += 1
        assert row["hardware"] == "h100" and row["shape"] == "current" and row["source"] == "merged"
        assert (row["tier_min_crops"], row["tier_max_crops"]) == (
            body["tier_range"]["min_crops"],
            body["tier_range"]["max_crops"],
        )
        assert row["max_crops"] == body["max_crops"] and row["num_total_blocks"] == body["num_total_blocks"]
        assert row["active_block_indices"] == body["active_block_indices"]
        assert row["n_samples"] == len(body["per_sample_results"]) == row["num_samples_written"] == body["num_samples"]
        for key_name in (
            "accuracy",
            "accuracy_std",
            "selected_crops_mean",
            "selected_crops_std",
            "target_vision_tokens_mean",
            "target_vision_tokens_std",
            "actual_vision_tokens_mean",
            "actual_vision_tokens_std",
        ):
            assert not json_diff(body[key_name], row[key_name]), key_name
        assert not json_diff(body["latency_stats"], json.loads(row["latency_stats"]))
        assert not json_diff(body["selected_crops_distribution"], json.loads(row["selected_crops_distribution"]))
        assert row["aggregate_stats"] is None
    assert checked == 80


def test_files_view_describes_every_json_file(ingested):
    hw_root, con, _ = ingested
    rows = {r["path"]: r for r in _dicts(con, "SELECT * FROM files")}
    on_disk = sorted(hw_root.rglob("*.json"))
    assert sorted(rows) == [str(p) for p in on_disk]
    superseded = {p for r in expected_runs(hw_root).values() for p in r["superseded"]}
    for path in on_disk:
        row, stat = rows[str(path)], path.stat()
        rel = path.relative_to(hw_root)
        assert row["rel_path"] == rel.as_posix() and row["root"] == str(hw_root)
        assert row["size"] == stat.st_size and row["mtime"] == stat.st_mtime
        assert row["sha256"] == sha256_of(path)
        assert row["hardware"] == "h100" and row["ingested_at"] is not None
        if path.name == "layer_importance_scores.json":
            assert row["status"] == "skipped" and row["reason"] and row["shape"] is None
            continue
        assert (row["experiment"], row["dataset"]) == ("/".join(rel.parts[:-2]), rel.parts[-2])
        assert row["shape"] == "current"
        assert row["status"] == ("superseded" if path in superseded else "ingested")
        assert (row["reason"] is not None) == (path in superseded)
        body = load(path)
        assert (row["tier"], row["top_k"], row["num_active_blocks"], row["n_samples"]) == (
            body["tier"],
            body["top_k"],
            body["num_active_blocks"],
            len(body["per_sample_results"]),
        )
        rank = SHARD.search(path.name)
        assert row["rank"] == (int(rank.group(1)) if rank else None)


def test_log_files_are_ignored(ingested):
    hw_root, con, summary = ingested
    assert (hw_root / "logs" / "run.log").exists()
    assert con.execute("SELECT count(*) FROM files WHERE path LIKE '%.log'").fetchone()[0] == 0
    assert not [o for o in summary.outcomes if o.path.endswith(".log")]


def test_run_summary_counts_files_and_samples(ingested):
    hw_root, _, summary = ingested
    runs = expected_runs(hw_root)
    counted = [p for r in runs.values() for p in r["files"]]
    superseded = [p for r in runs.values() for p in r["superseded"]]
    assert summary.counts == {
        "new": len(counted),
        "updated": 0,
        "unchanged": 0,
        "moved": 0,
        "superseded": len(superseded),
        "skipped": 1,
        "failed": 0,
        "vanished": 0,
        "pruned": 0,
    }
    samples = [s for r in runs.values() for s in r["samples"]]
    assert summary.samples_added == len(samples) == 243
    values = np.array([[s[k] for k in LATENCIES] for s in samples], dtype=float)
    assert summary.nan_latencies == int(np.isnan(values).sum())
    assert summary.zero_latencies == int((values == 0).sum())


def test_samples_view_has_every_documented_column(ingested):
    _, con, _ = ingested
    types = {row[0]: row[1] for row in con.execute("DESCRIBE samples").fetchall()}
    for name in (
        "hardware",
        "experiment",
        "dataset",
        "tier",
        "top_k",
        "num_active_blocks",
        "example_id",
        "sample_id",
        "output_tokens",
        "content_tokens",
        "ends_with_eos",
        "actual_image_size",
        "actual_num_crops",
        "actual_tiling",
        "target_vision_tokens",
        "actual_vision_tokens",
        "actual_text_tokens",
        "total_sequence_length",
        "accuracy",
        "pred",
        "metadata",
        *LATENCIES,
    ):
        assert name in types, name
    assert types["T_decode_per_step"] == "DOUBLE[][]"
    assert types["metadata"] == "JSON"
    assert all(types[k] == "DOUBLE" for k in LATENCIES)


def test_samples_view_has_the_per_sample_tier_range(ingested):
    """result-format.md lists tier_range among the per-sample fields of the current shape."""
    _, con, _ = ingested
    types = {row[0] for row in con.execute("DESCRIBE samples").fetchall()}
    assert "tier_range" in types


# -- hand-made trees: layout ---------------------------------------------------------------------


def _layout(tmp_path: Path) -> dict[str, Path]:
    """Files at every depth the layout allows, under results/core_exp_a100, plus one outside it."""
    hw = tmp_path / "results" / "core_exp_a100"
    files = {
        "nested": write_json(
            hw / "exp1" / "sub dir" / "okvqa" / file_name("okvqa", "low", 2, 4, 12), make("okvqa", "low", 4, 12, seed=1)
        ),
        "flat": write_json(
            hw / "exp2" / "text-vqa" / file_name("text-vqa", "high", 11, 8, 16), make("text-vqa", "high", 8, 16, seed=2)
        ),
        "no_experiment": write_json(
            hw / "okvqa" / file_name("okvqa", "medium", 5, 6, 14), make("okvqa", "medium", 6, 14, seed=3)
        ),
    }
    return files


def _identities(con) -> list[tuple]:
    return con.execute(
        "SELECT path, rel_path, hardware, experiment, dataset, status, config_run_id FROM files ORDER BY path"
    ).fetchall()


def test_hardware_experiment_and_dataset_come_from_the_path(tmp_path):
    files = _layout(tmp_path)
    con = open_rw(tmp_path / "s.duckdb")
    summary = run(con, tmp_path / "results" / "core_exp_a100")
    assert summary.counts["new"] == 3 and not summary.failed
    got = {Path(p): (rel, hw, exp, ds) for p, rel, hw, exp, ds, *_ in _identities(con)}
    assert got == {
        files["nested"]: ("exp1/sub dir/okvqa/" + files["nested"].name, "a100", "exp1/sub dir", "okvqa"),
        files["flat"]: ("exp2/text-vqa/" + files["flat"].name, "a100", "exp2", "text-vqa"),
        files["no_experiment"]: ("okvqa/" + files["no_experiment"].name, "a100", "", "okvqa"),
    }
    runs = con.execute(
        "SELECT hardware, experiment, dataset, tier, top_k, num_active_blocks FROM config_runs ORDER BY ALL"
    ).fetchall()
    assert runs == [
        ("a100", "", "okvqa", "medium", 6, 14),
        ("a100", "exp1/sub dir", "okvqa", "low", 4, 12),
        ("a100", "exp2", "text-vqa", "high", 8, 16),
    ]


def test_root_subfolder_and_single_files_give_the_same_identities(tmp_path):
    files = _layout(tmp_path)
    hw = tmp_path / "results" / "core_exp_a100"
    ways = {
        "above the root": [tmp_path / "results"],
        "root": [hw],
        "subfolders": [hw / "exp1", hw / "exp2" / "text-vqa", hw / "okvqa"],
        "single files": sorted(files.values()),
    }
    seen = {}
    for i, (way, paths) in enumerate(ways.items()):
        con = open_rw(tmp_path / f"s{i}.duckdb")
        summary = run(con, *paths)
        assert summary.counts["new"] == 3, way
        seen[way] = (
            _identities(con),
            con.execute("SELECT * EXCLUDE (summary_file) FROM config_runs ORDER BY config_run_id").fetchall(),
        )
        con.close()
    first = seen["root"]
    for way, got in seen.items():
        assert got == first, way


def test_hardware_outside_core_exp_comes_from_the_option_else_unknown(tmp_path):
    path = write_json(tmp_path / "loose" / "okvqa" / file_name("okvqa", "low", 2, 4, 12), make("okvqa", "low", 4, 12))
    inside = write_json(tmp_path / "core_exp_h100" / "okvqa" / file_name("okvqa", "low", 2, 6, 12), make("okvqa", "low", 6, 12))
    con = open_rw(tmp_path / "a.duckdb")
    run(con, path, inside)
    assert dict(con.execute("SELECT path, hardware FROM files").fetchall()) == {str(path): "unknown", str(inside): "h100"}
    con.close()
    con = open_rw(tmp_path / "b.duckdb")
    run(con, path, inside, hardware="b200")
    # the path wins over --hardware
    assert dict(con.execute("SELECT path, hardware FROM files").fetchall()) == {str(path): "b200", str(inside): "h100"}
    assert con.execute("SELECT DISTINCT hardware FROM samples ORDER BY 1").fetchall() == [("b200",), ("h100",)]


def test_file_name_dataset_that_disagrees_with_the_folder_is_a_warning(tmp_path):
    hw = tmp_path / "core_exp_h100"
    odd = write_json(hw / "exp" / "okvqa" / file_name("text-vqa", "high", 11, 8, 16), make("okvqa", "high", 8, 16))
    fine = write_json(hw / "exp" / "okvqa" / file_name("okvqa", "high", 11, 4, 16), make("okvqa", "high", 4, 16))
    con = open_rw(tmp_path / "s.duckdb")
    summary = run(con, hw)
    warnings = {o.path: o.warnings for o in summary.outcomes}
    assert outcomes(summary)[str(odd)][0] == "new"
    assert len(warnings[str(odd)]) == 1
    assert "text-vqa" in warnings[str(odd)][0] and "okvqa" in warnings[str(odd)][0]
    assert warnings[str(fine)] == []
    stored = dict(con.execute("SELECT path, warnings FROM file_records").fetchall())
    assert stored[str(odd)] == warnings[str(odd)] and not stored[str(fine)]
    assert con.execute("SELECT DISTINCT dataset FROM files").fetchall() == [("okvqa",)]


def test_config_identity_comes_from_the_body_not_the_name(tmp_path):
    folder = tmp_path / "core_exp_h100" / "exp" / "okvqa"
    says_4 = write_json(folder / file_name("okvqa", "low", 2, 4, 12), make("okvqa", "high", 8, 16, n=5, seed=1))
    says_8 = write_json(folder / file_name("okvqa", "high", 11, 8, 16), make("okvqa", "low", 4, 12, n=2, seed=2))
    con = open_rw(tmp_path / "s.duckdb")
    summary = run(con, folder)
    assert summary.counts["new"] == 2 and not summary.failed
    assert con.execute("SELECT path, tier, top_k, num_active_blocks FROM files ORDER BY path").fetchall() == sorted(
        [(str(says_4), "high", 8, 16), (str(says_8), "low", 4, 12)]
    )
    runs = con.execute("SELECT tier, top_k, num_active_blocks, n_samples FROM config_runs ORDER BY ALL").fetchall()
    assert runs == [("high", 8, 16, 5), ("low", 4, 12, 2)]
    per_file = dict(con.execute("SELECT f.path, s.top_k FROM samples s JOIN files f USING (file_id) GROUP BY ALL").fetchall())
    assert per_file == {str(says_4): 8, str(says_8): 4}


# -- hand-made values: missing latencies, ragged steps, example_id --------------------------------


def test_nan_and_zero_latencies_are_null_in_the_view_and_exact_in_the_table(tmp_path):
    result = make("okvqa", "high", 8, 16, n=6, seed=4)
    samples = result["per_sample_results"]
    samples[0]["T_LLM_prefill"] = 0.0
    samples[1]["T_LLM_prefill"] = math.nan
    samples[2]["T_vision_total"] = 0.0
    samples[2]["T_total"] = math.nan
    samples[3]["T_LLM_decode"] = 0.0
    samples[3]["T_decode_per_token"] = 0.0
    samples[4]["T_decode_per_token"] = math.nan
    samples[5]["T_LLM_prefill"] = 1e-300  # tiny but not zero: a real value
    path = write_json(tmp_path / "core_exp_h100" / "okvqa" / file_name("okvqa", "high", 11, 8, 16), result)
    con = open_rw(tmp_path / "s.duckdb")
    summary = run(con, path)
    columns = ", ".join(LATENCIES)
    view = con.execute(f"SELECT {columns} FROM samples ORDER BY ordinal").fetchall()
    table = con.execute(f"SELECT {columns} FROM sample_records ORDER BY ordinal").fetchall()
    written = load(path)["per_sample_results"]
    for i, sample in enumerate(written):
        for j, key in enumerate(LATENCIES):
            assert view[i][j] == view_value(sample[key]), (i, key)
            if math.isnan(sample[key]):
                assert math.isnan(table[i][j]), (i, key)
            else:
                assert table[i][j] == sample[key], (i, key)
    values = np.array([[s[k] for k in LATENCIES] for s in written])
    assert summary.nan_latencies == int(np.isnan(values).sum()) == 3
    assert summary.zero_latencies == int((values == 0).sum()) == 4
    assert view[5][1] == 1e-300


def test_decode_steps_keep_ragged_and_empty_lists(tmp_path):
    result = make("okvqa", "high", 8, 16, n=3, seed=6)
    steps = [[[1.5, 2.5, 3.5], [4.0], [5.0, 6.0]], [], [[7.25]]]
    for sample, value in zip(result["per_sample_results"], steps, strict=True):
        sample["T_decode_per_step"] = value
    path = write_json(tmp_path / "core_exp_h100" / "okvqa" / file_name("okvqa", "high", 11, 8, 16), result)
    con = open_rw(tmp_path / "s.duckdb")
    run(con, path)
    got = [row[0] for row in con.execute("SELECT T_decode_per_step FROM samples ORDER BY ordinal").fetchall()]
    assert got == steps
    assert con.execute("SELECT typeof(T_decode_per_step) FROM samples LIMIT 1").fetchone()[0] == "DOUBLE[][]"
    assert con.execute("SELECT T_decode_per_step[1][3] FROM samples WHERE ordinal = 0").fetchone()[0] == 3.5


def test_example_id_comes_from_metadata(tmp_path):
    result = make("okvqa", "high", 8, 16, n=3, seed=7)
    samples = result["per_sample_results"]
    samples[0]["metadata"]["example_id"] = 123456789012
    del samples[1]["metadata"]["example_id"]
    samples[2]["metadata"] = {"example_id": 42, "question": "q"}
    path = write_json(tmp_path / "core_exp_h100" / "okvqa" / file_name("okvqa", "high", 11, 8, 16), result)
    con = open_rw(tmp_path / "s.duckdb")
    run(con, path)
    rows = con.execute("SELECT example_id, metadata FROM samples ORDER BY ordinal").fetchall()
    assert [r[0] for r in rows] == [123456789012, None, 42]
    assert [json.loads(r[1]) for r in rows] == [s["metadata"] for s in load(path)["per_sample_results"]]


def test_sample_ids_repeat_in_a_merged_file_and_every_sample_is_kept(tmp_path):
    shards = demo.split_shards(make("okvqa", "high", 8, 16, n=7, seed=8), 3)
    merged = demo.merge_shards(shards)
    path = write_json(tmp_path / "core_exp_h100" / "okvqa" / file_name("okvqa", "high", 11, 8, 16), merged)
    con = open_rw(tmp_path / "s.duckdb")
    run(con, path)
    written = [s["sample_id"] for s in load(path)["per_sample_results"]]
    assert len(set(written)) < len(written)
    assert [r[0] for r in con.execute("SELECT sample_id FROM samples ORDER BY ordinal").fetchall()] == written


def test_folder_names_with_glob_characters_are_taken_literally(tmp_path):
    """Experiment folders are named by hand: `[`, `*`, `?` are just characters, even when a
    glob reading of the name would match other folders."""
    hw = tmp_path / "core_exp_h100"
    sizes = {"exp[1]": 2, "exp1": 3, "exp*": 4, "expA": 5, "exp?": 6, "exp{a,b}": 7}
    paths = {
        name: write_json(hw / name / "okvqa" / file_name("okvqa", "high", 11, 8, 16), make("okvqa", "high", 8, 16, n=n, seed=n))
        for name, n in sizes.items()
    }
    con = open_rw(tmp_path / "s.duckdb")
    summary = run(con, hw)
    assert {o for o, _ in outcomes(summary).values()} == {"new"}, summary.outcomes
    assert dict(con.execute("SELECT experiment, n_samples FROM config_runs").fetchall()) == sizes
    totals = dict(con.execute("SELECT experiment, sum(T_total) FROM samples GROUP BY ALL").fetchall())
    for name, path in paths.items():
        assert totals[name] == pytest.approx(sum(s["T_total"] for s in load(path)["per_sample_results"]), rel=1e-12)
