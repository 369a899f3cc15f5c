"""Every shape of result-format.md is accepted and recorded; non-result JSON is skipped with a
note; files that are not JSON are ignored."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from budgetdb import demo

from ingest_support import LATENCIES, file_name, json_diff, load, make, open_rw, outcomes, run, view_value, write_json

DATASET = "okvqa"


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """One folder per shape (old shapes sit in their own experiments, as on real disks)."""
    hw = tmp_path_factory.mktemp("shapes") / "core_exp_h100"
    current = make(DATASET, "high", 8, 16, n=5, seed=1)
    shards = demo.split_shards(make(DATASET, "low", 6, 14, n=6, seed=2), 2)
    recovery = demo.to_aggregate_stats_shape(demo.merge_shards(shards))
    recovery["latency_stats"] = shards[0]["latency_stats"]  # stale rank-0-only stats
    files = {
        "current": write_json(hw / "new" / DATASET / file_name(DATASET, "high", 11, 8, 16), current),
        "aggregate_stats": write_json(
            hw / "dec" / DATASET / file_name(DATASET, "medium", 5, 4, 12),
            demo.to_aggregate_stats_shape(make(DATASET, "medium", 4, 12, n=4, seed=3)),
        ),
        "recovery": write_json(hw / "rec" / DATASET / file_name(DATASET, "low", 2, 6, 14), recovery),
        "legacy": write_json(
            hw / "old" / DATASET / f"{DATASET}_imgsize672x1008_topk8_blocks16.json",
            demo.to_legacy_shape(make(DATASET, None, 8, 16, n=4, seed=4)),
        ),
        "pre_tier": write_json(
            hw / "pre" / DATASET / f"{DATASET}_visiontoken1296_topk4_blocks12.json", make(DATASET, None, 4, 12, n=3, seed=5)
        ),
        "zero": write_json(hw / "zero" / DATASET / file_name(DATASET, "high", 0, 12, 16), make(DATASET, "high", 12, 16, n=0)),
        "scores": write_json(hw / "new" / "layer_importance_scores.json", {"num_blocks": 16, "scores": [0.5] * 16}),
        "family": write_json(hw / "exp5_sweep" / "summary.json", {"runs": [{"top_k": 4}], "note": "exp5"}),
        "list_free": write_json(hw / "new" / DATASET / "notes.json", {"per_sample": "no"}),
    }
    (hw / "logs").mkdir()
    (hw / "logs" / "run.log").write_text("not json {\n")
    (hw / "new" / DATASET / "README.txt").write_text("[1, 2]")
    (hw / "new" / DATASET / "backup.json.bak").write_text("{broken")
    con = open_rw(hw.parent / "s.duckdb")
    summary = run(con, hw)
    yield files, con, summary
    con.close()


def _file(con, path) -> dict:
    cursor = con.execute("SELECT * FROM files WHERE path = $p", {"p": str(path)})
    return dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))


def _run(con, path) -> dict:
    cursor = con.execute("SELECT c.* FROM config_runs c JOIN files f USING (config_run_id) WHERE f.path = $p", {"p": str(path)})
    return dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))


def test_every_result_shape_is_ingested_and_nothing_fails(shapes):
    files, _, summary = shapes
    got = outcomes(summary)
    for kind in ("current", "aggregate_stats", "recovery", "legacy", "pre_tier", "zero"):
        assert got[str(files[kind])] == ("new", None), kind
    assert not summary.failed
    assert summary.counts["new"] == 6 and summary.counts["skipped"] == 3


def test_shape_is_recorded_per_file_and_tells_the_shapes_apart(shapes):
    files, con, _ = shapes
    shape = {kind: _file(con, files[kind])["shape"] for kind in ("current", "aggregate_stats", "recovery", "legacy", "pre_tier")}
    assert shape["current"] == "current"
    assert len(set(shape.values())) == 5, shape
    assert "aggregate" in shape["aggregate_stats"] and "recover" in shape["recovery"] and "legacy" in shape["legacy"]
    assert _file(con, files["zero"])["shape"] == "current"


def test_non_result_json_is_skipped_with_a_note(shapes):
    files, con, summary = shapes
    got = outcomes(summary)
    for kind in ("scores", "family", "list_free"):
        outcome, reason = got[str(files[kind])]
        assert outcome == "skipped" and reason, kind
        row = _file(con, files[kind])
        assert row["status"] == "skipped" and row["reason"] == reason and row["config_run_id"] is None


def test_files_that_are_not_json_are_ignored(shapes):
    _, con, summary = shapes
    names = [row[0] for row in con.execute("SELECT rel_path FROM files").fetchall()] + [o.rel_path for o in summary.outcomes]
    assert not [n for n in names if n.endswith((".log", ".txt", ".bak"))]


def test_aggregate_stats_shape_keeps_its_summary(shapes):
    files, con, _ = shapes
    body, row = load(files["aggregate_stats"]), _run(con, files["aggregate_stats"])
    assert not json_diff(body["aggregate_stats"], json.loads(row["aggregate_stats"]))
    assert row["latency_stats"] is None
    assert (row["tier"], row["top_k"], row["num_active_blocks"], row["n_samples"]) == ("medium", 4, 12, 4)
    assert row["accuracy"] == body["accuracy"]


def test_recovery_merged_keeps_both_the_aggregate_and_the_stale_latency_stats(shapes):
    files, con, _ = shapes
    body, row = load(files["recovery"]), _run(con, files["recovery"])
    assert not json_diff(body["aggregate_stats"], json.loads(row["aggregate_stats"]))
    assert not json_diff(body["latency_stats"], json.loads(row["latency_stats"]))
    assert json.loads(row["latency_stats"]) != json.loads(row["aggregate_stats"])
    assert row["n_samples"] == 6


def test_legacy_vision_total_is_encoder_plus_projector(shapes):
    files, con, _ = shapes
    samples = load(files["legacy"])["per_sample_results"]
    assert "T_vision_total" not in samples[0] and "tier" not in load(files["legacy"])
    rows = con.execute(
        "SELECT s.T_vision_total, s.T_LLM_prefill, s.T_LLM_decode, s.T_total, s.T_decode_per_token, s.tier, s.top_k, "
        "s.actual_text_tokens, r.T_vision_total FROM samples s JOIN sample_records r USING (file_id, ordinal) "
        "JOIN files f USING (file_id) WHERE f.path = $p ORDER BY s.ordinal",
        {"p": str(files["legacy"])},
    ).fetchall()
    assert len(rows) == len(samples) == 4
    for row, sample in zip(rows, samples, strict=True):
        assert row[0] == pytest.approx(sample["T_vision_encoder"] + sample["T_projector"], rel=1e-15)
        for got, key in zip(row[1:5], LATENCIES[1:], strict=True):
            assert got == view_value(sample[key])
        assert row[5] is None and row[6] == 8
        assert row[7] is None  # input_text_tokens is not renamed
        assert row[8] is None  # the table keeps what was written: no T_vision_total
    run_row = _run(con, files["legacy"])
    assert run_row["tier"] is None and run_row["max_crops"] == 12 and run_row["aggregate_stats"] is not None


def test_pre_tier_file_has_no_tier_and_its_own_config_run(shapes):
    files, con, _ = shapes
    row = _run(con, files["pre_tier"])
    assert (row["tier"], row["top_k"], row["num_active_blocks"], row["max_crops"], row["n_samples"]) == (None, 4, 12, 12, 3)
    got = con.execute(
        "SELECT count(*), count(tier) FROM samples WHERE config_run_id = $c", {"c": row["config_run_id"]}
    ).fetchone()
    assert got == (3, 0)


def test_zero_sample_file_is_a_config_run_with_no_samples(shapes):
    files, con, _ = shapes
    body = load(files["zero"])
    assert body["per_sample_results"] == [] and math.isnan(body["actual_vision_tokens_mean"])
    row = _run(con, files["zero"])
    assert row["n_samples"] == 0 and row["num_samples_written"] == 0
    assert json.loads(row["latency_stats"]) == {}
    assert math.isnan(row["actual_vision_tokens_mean"]) and math.isnan(row["actual_vision_tokens_std"])
    assert row["accuracy"] == body["accuracy"] == 0.0
    assert con.execute("SELECT count(*) FROM samples WHERE config_run_id = $c", {"c": row["config_run_id"]}).fetchone()[0] == 0
    assert _file(con, files["zero"])["n_samples"] == 0


def test_current_shape_vision_total_is_as_written(shapes):
    files, con, _ = shapes
    got = [
        r[0]
        for r in con.execute(
            "SELECT T_vision_total FROM samples JOIN files f USING (file_id) WHERE f.path = $p ORDER BY ordinal",
            {"p": str(files["current"])},
        ).fetchall()
    ]
    assert got == [s["T_vision_total"] for s in load(files["current"])["per_sample_results"]]
    assert np.all(np.array(got) > 0)


@pytest.mark.parametrize("kind", ["legacy", "zero", "pre_tier", "aggregate_stats", "no_latencies"])
def test_a_file_of_any_shape_ingests_on_its_own(tmp_path, kind):
    """Alone in a run (so alone in its write batch), each shape lands without the run crashing."""
    if kind == "legacy":
        body = demo.to_legacy_shape(make(DATASET, None, 8, 16, n=3, seed=4))
    elif kind == "zero":
        body = make(DATASET, "high", 12, 16, n=0)
    elif kind == "pre_tier":
        body = make(DATASET, None, 4, 12, n=3, seed=5)
    elif kind == "aggregate_stats":
        body = demo.to_aggregate_stats_shape(make(DATASET, "medium", 4, 12, n=3, seed=3))
    else:
        body = make(DATASET, "high", 8, 16, n=3, seed=6)
        for sample in body["per_sample_results"]:
            del sample["T_decode_per_token"]
    path = write_json(tmp_path / "core_exp_h100" / DATASET / f"{DATASET}_imgsize672x672_topk8_blocks16.json", body)
    con = open_rw(tmp_path / "s.duckdb")
    summary = run(con, path)
    assert outcomes(summary)[str(path)] == ("new", None)
    n = len(body["per_sample_results"])
    assert summary.samples_added == n
    assert con.execute("SELECT n_samples FROM config_runs").fetchall() == [(n,)]
    assert summary.nan_latencies == 0 and summary.zero_latencies == 0
