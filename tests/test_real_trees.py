"""Trees as the profiling harness and its recovery tool leave them (tests/harness.py, from
result-format.md): each configuration stores exactly the samples its run measured, whatever
files hold them, and the report's figures follow from those samples (numpy on the harness's
own record of what each GPU measured, never on the store)."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from harness import (
    expected_prints,
    first_occurrences,
    load,
    recovery_tool,
    shares,
    stored_prints,
    write,
    write_run,
)
from typer.testing import CliRunner

from budgetdb import connect, demo, queries
from budgetdb.cli.app import app

from ingest_support import open_rw, outcomes, run
from report_helpers import report, section

DATASET = "okvqa"


def _key(run_, hardware="h100", experiment="exp") -> tuple:
    return (hardware, experiment, run_.dataset, run_.tier, run_.top_k, run_.blocks)


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _point(con, run_, hardware="h100") -> dict:
    rows = queries.run(con, "config_points", {"hardware": [hardware], "dataset": [run_.dataset]}).records()
    (row,) = [r for r in rows if (r["tier"], r["top_k"], r["num_active_blocks"]) == (run_.tier, run_.top_k, run_.blocks)]
    return row


def _expected_point(run_) -> tuple[float, float]:
    """Mean accuracy and mean T_total over each example once (numpy)."""
    once = first_occurrences(run_)
    return float(np.mean([s["accuracy"] for s in once])), float(np.mean([s["T_total"] for s in once]))


# -- 1. the recovery tool: a merged file and recovery-merged subsets; a crash split by crops --------


@pytest.fixture(scope="module")
def recovery_tree(tmp_path_factory):
    """Three configurations of one run (4 GPUs, 49 or 50 examples: padding), before the tool:
    - merged, with the leftover shards of ranks 1 and 3 (crops numbers other than rank 0's);
    - crashed, ranks 1 and 3 with crops 5, ranks 0 and 2 with crops 6 (result-format.md's case);
    - crashed, ranks 0 and 1 with crops 6, ranks 2 and 3 with crops 5;
    plus a merged configuration whose stale zero-sample shard of an earlier attempt was left."""
    tmp = tmp_path_factory.mktemp("recovery")
    hw = tmp / "core_exp_h100"
    folder = hw / "exp" / DATASET
    runs = [
        write_run(folder, DATASET, "high", 8, 16, list(range(50)), 4, [6, 5, 6, 7], seed=1),
        write_run(folder, DATASET, "low", 4, 12, list(range(49)), 4, [6, 5, 6, 5], seed=2, killed=True),
        write_run(folder, DATASET, "medium", 6, 14, list(range(50)), 4, [6, 6, 5, 5], seed=3, killed=True),
        write_run(folder, DATASET, "low", 6, 16, list(range(7, 46)), 4, [3, 3, 3, 3], seed=4),
    ]
    zero = demo.make_result(DATASET, "low", 6, 16, 0, rng=np.random.default_rng(9))
    write(folder / "okvqa_imgsizetier-low_crops0_topk6_blocks16_rank2.json", zero)
    return hw, runs


def test_the_recovery_tool_changes_no_configuration_s_samples(recovery_tree, tmp_path):
    hw, runs = recovery_tree
    tree = tmp_path / "tree"
    import shutil

    shutil.copytree(hw.parent, tree)
    hw = tree / hw.name
    before = open_rw(tmp_path / "before.duckdb")
    first = run(before, hw)
    assert not first.failed
    stored_before = stored_prints(before)
    for r in runs:
        assert stored_before[_key(r)] == expected_prints(r.samples), r.tier
    written = recovery_tool(hw)
    assert len(written) == 7  # 2 leftovers of the merged run, 2 + 2 crash halves, the zero-sample shard
    again = run(before, hw, prune=True)  # the same store, brought up to date
    assert not again.failed and again.samples_added == sum(len(r.samples) for r in runs[1:3])
    after = open_rw(tmp_path / "after.duckdb")
    fresh = run(after, hw)  # a new store of the tree as the tool left it
    assert not fresh.failed
    for con in (before, after):
        assert stored_prints(con) == stored_before
    repeats = 'SELECT file_id IS NOT NULL, example_id, sample_id, "repeat" FROM samples ORDER BY ALL'
    assert after.execute(repeats).fetchall() == before.execute(repeats).fetchall()
    sources = dict(after.execute("SELECT tier || top_k || '-' || num_active_blocks, source FROM config_runs").fetchall())
    assert sources == {"high8-16": "merged", "low4-12": "pooled", "medium6-14": "pooled", "low6-16": "merged"}
    got = outcomes(fresh)
    for path in written:
        if "high" in path.name or "topk6_blocks16" in path.name:
            outcome, reason = got[str(path)]
            assert outcome == "superseded" and "are all in exp/okvqa/okvqa_imgsizetier-" in reason, (path.name, reason)
    for r in runs:
        accuracy, latency = _expected_point(r)
        point = _point(after, r)
        assert point["accuracy"] == pytest.approx(accuracy, rel=1e-12) and point["latency"] == pytest.approx(latency, rel=1e-12)


def test_a_crash_split_by_crops_is_pooled_with_its_padding_marked(recovery_tree, tmp_path):
    hw, runs = recovery_tree
    crashed = runs[1]  # 49 examples on 4 GPUs: examples 0, 1, 2 measured twice, across the two files
    tree = tmp_path / "tree"
    import shutil

    shutil.copytree(hw.parent, tree)
    recovery_tool(tree / hw.name)
    con = open_rw(tmp_path / "s.duckdb")
    run(con, tree / hw.name)
    rows = con.execute(
        'SELECT example_id, sample_id, "repeat" FROM samples WHERE tier = $t AND top_k = $k ORDER BY example_id, sample_id',
        {"t": crashed.tier, "k": crashed.top_k},
    ).fetchall()
    assert len(rows) == 52
    twice = {e for e, n in Counter(e for e, _, _ in rows).items() if n == 2}
    assert twice == {0, 1, 2}
    assert [(e, s) for e, s, repeat in rows if repeat] == [(0, 12), (1, 12), (2, 12)]  # the last of a share
    summary = con.execute("SELECT n_files, n_samples FROM config_runs WHERE tier = 'low' AND top_k = 4").fetchone()
    assert summary == (2, 52)


# -- 2. padding repeats on 4 and 8 GPUs ------------------------------------------------------------


@pytest.fixture(scope="module")
def padded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("padded")
    hw = tmp / "core_exp_h100"
    folder = hw / "exp" / DATASET
    four = write_run(folder, DATASET, "high", 8, 16, list(range(100, 150)), 4, [9, 9, 9, 9], seed=5)  # 52 samples
    eight = write_run(folder, DATASET, "low", 4, 12, list(range(100, 150)), 8, [2] * 8, seed=6)  # 56 samples
    con = open_rw(tmp / "s.duckdb")
    run(con, hw)
    con.close()
    return tmp / "s.duckdb", four, eight


def test_padding_repeats_are_kept_and_marked_on_4_and_8_gpus(padded):
    db, four, eight = padded
    con = connect(db)
    for r, world in ((four, 4), (eight, 8)):
        assert stored_prints(con)[_key(r)] == expected_prints(r.samples)
        padding = [e for share in shares(list(range(100, 150)), world) for e in share]
        repeated = sorted(e for e, n in Counter(padding).items() if n > 1)
        assert len(repeated) == -(-50 // world) * world - 50
        got = con.execute(
            'SELECT example_id, sample_id FROM samples WHERE "repeat" AND tier = $t ORDER BY example_id', {"t": r.tier}
        ).fetchall()
        last = -(-50 // world) - 1
        assert got == [(e, last) for e in repeated]  # the later measurement: the last of a share
    con.close()


def test_every_statistic_counts_each_example_once(padded):
    db, four, eight = padded
    con = connect(db)
    for r in (four, eight):
        accuracy, latency = _expected_point(r)
        point = _point(con, r)
        assert point["n"] == 50
        assert point["accuracy"] == pytest.approx(accuracy, rel=1e-12)
        assert point["latency"] == pytest.approx(latency, rel=1e-12)
        with_repeats = queries.run(con, "config_points", {"include_repeats": True}).records()
        (row,) = [p for p in with_repeats if p["tier"] == r.tier]
        assert row["n"] == len(r.samples)
        assert row["accuracy"] == pytest.approx(np.mean([s["accuracy"] for s in r.samples]), rel=1e-12)
    once = first_occurrences(four) + first_occurrences(eight)
    prefill = np.array([s["T_LLM_prefill"] for s in once])
    (stats,) = queries.run(con, "prefill_stats").records()
    assert (stats["n"], stats["n_repeats"]) == (100, 2 + 6)
    assert stats["p50"] == pytest.approx(np.percentile(prefill, 50), rel=1e-12)
    assert stats["mean"] == pytest.approx(prefill.mean(), rel=1e-12)
    con.close()
    text = report(db, lang="en")
    assert f"({100:,} samples in total)" in text
    assert "- **Samples**: counted 100; padding repeats left out 8;" in text
    assert f"- mean / std: **{prefill.mean():.1f} / {prefill.std():.1f} ms**" in text


# -- 3. a true conflict ---------------------------------------------------------------------------


def test_a_true_conflict_fails_the_whole_configuration_in_one_line(tmp_path):
    hw = tmp_path / "core_exp_h100"
    folder = hw / "exp" / DATASET
    good = write_run(folder, DATASET, "low", 4, 12, list(range(20)), 2, [2, 2], seed=7)
    # the same configuration measured twice (a rerun written under another crops number)
    first = write_run(folder, DATASET, "high", 8, 16, list(range(20)), 2, [11, 11], seed=8)
    second = write_run(folder, DATASET, "high", 8, 16, list(range(20)), 2, [12, 12], seed=9)
    db = tmp_path / "s.duckdb"
    result = _invoke("ingest", hw, "--db", db, "--format", "json")
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("failed: ")]
    assert [line.split(": ")[1] for line in lines] == [str(first.merged), str(second.merged)]
    for line in lines:
        assert f"exp/okvqa/{first.merged.name} and exp/okvqa/{second.merged.name} both hold example_id 0 " in line
        assert "with different measurements" in line and "remove one of them" in line
    con = connect(db)
    assert set(stored_prints(con)) == {_key(good)}
    assert con.execute("SELECT count(*) FROM config_runs").fetchone()[0] == 1
    con.close()
    text = report(db, lang="en")  # the report holds the one configuration left
    accuracy, latency = _expected_point(good)
    assert f"- **Highest accuracy**: {accuracy:.4f} @ **{latency:.2f}ms** (config: low tier, top_k=4, blocks=12)" in text
    assert "- **Files**: counted 1; excluded failed 2" in text
    again = _invoke("ingest", hw, "--db", db)  # still failing, every run, until one goes
    assert again.exit_code == 1 and again.stderr.count("failed: ") == 2
    second.merged.unlink()
    fixed = _invoke("ingest", hw, "--db", db, "--prune")
    assert fixed.exit_code == 0, fixed.output
    con = connect(db)
    assert stored_prints(con)[_key(first)] == expected_prints(first.samples)
    con.close()


# -- 4. one-token decode zeros next to missing hooks ------------------------------------------------


def _one_token(sample: dict) -> None:
    """The writer's record of an answer of one token: no decode step ran."""
    if sample["output_tokens"] == 1:
        sample.update(T_LLM_decode=0.0, T_decode_per_token=0.0, T_decode_per_step=[])


def test_one_token_decode_zeros_are_values_and_missing_hooks_stay_missing(tmp_path):
    hw = tmp_path / "core_exp_h100"
    folder = hw / "exp" / DATASET
    r = write_run(folder, DATASET, "low", 4, 12, list(range(0, 400)), 2, [2, 2], seed=10, change=_one_token)
    body = load(r.merged)
    samples = body["per_sample_results"]
    many = [s for s in samples if s["output_tokens"] > 1]
    many[0]["T_LLM_decode"] = 0.0  # a hook that never fired
    many[1]["T_decode_per_token"] = 0.0
    many[2]["T_LLM_prefill"] = 0.0
    write(r.merged, body)
    ones = [s for s in samples if s["output_tokens"] == 1]
    assert len(ones) >= 3
    db = tmp_path / "s.duckdb"
    result = _invoke("ingest", hw, "--db", db, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["zero_latencies"] == 3  # the hooks that never fired, not the one-token zeros
    decode = np.array([s["T_LLM_decode"] for s in samples if s["T_LLM_decode"] != 0 or s["output_tokens"] == 1])
    per_token = np.array([s["T_decode_per_token"] for s in samples if s["T_decode_per_token"] != 0 or s["output_tokens"] == 1])
    con = connect(db)
    (row,) = queries.run(con, "decode_stats").records()
    assert (row["n"], row["n_missing"]) == (len(decode), 1)
    assert row["mean"] == pytest.approx(decode.mean(), rel=1e-12)
    assert row["p50"] == pytest.approx(np.median(decode), rel=1e-12)
    assert row["per_token_mean"] == pytest.approx(per_token.mean(), rel=1e-12)
    zeros = con.execute("SELECT count(*) FROM samples WHERE T_LLM_decode = 0 AND output_tokens = 1").fetchone()[0]
    assert zeros == len(ones)
    assert con.execute("SELECT count(*) FROM samples WHERE T_LLM_decode IS NULL").fetchone()[0] == 1
    con.close()
    text = report(db, lang="en")
    assert f"`T_LLM_decode` mean / median / p95 **{decode.mean():.1f} / {np.median(decode):.1f} /" in text
    assert f"the empirical mean as `decode_target` is **{decode.mean():.1f} ms**" in text


# -- 5. two image sizes with equal max_crops -----------------------------------------------------


def _pre_tier(size: tuple[int, int] | None, seed: int) -> dict:
    body = demo.make_result("text-vqa", None, 8, 16, 6, rng=np.random.default_rng(seed))
    body["max_crops"] = 2  # equal for both sizes, as in the files before tiers
    if size is not None:
        for sample in body["per_sample_results"]:
            sample["theoretical_image_size"] = list(size)
    return body


def test_two_image_sizes_with_equal_max_crops_are_two_configurations(tmp_path):
    hw = tmp_path / "core_exp_h100"
    folder = hw / "old" / "text-vqa"
    tall = write(folder / "text-vqa_imgsize560x336_topk8_blocks16.json", _pre_tier(None, 1))
    wide = write(folder / "text-vqa_imgsize336x560_topk8_blocks16.json", _pre_tier(None, 2))
    named_by_samples = write(folder / "combined_profiling_results_1.json", _pre_tier((672, 672), 3))
    plain = write(hw / "older" / "text-vqa" / "combined_profiling_results_2.json", _pre_tier(None, 4))
    con = open_rw(tmp_path / "s.duckdb")
    summary = run(con, hw)
    assert not summary.failed
    variants = dict(con.execute("SELECT path, variant FROM files").fetchall())
    assert variants == {
        str(tall): "imgsize560x336",
        str(wide): "imgsize336x560",
        str(named_by_samples): "imgsize672x672",
        str(plain): "max_crops=2",
    }
    rows = con.execute("SELECT variant, max_crops, n_samples FROM config_runs ORDER BY variant").fetchall()
    assert rows == [("imgsize336x560", 2, 6), ("imgsize560x336", 2, 6), ("imgsize672x672", 2, 6), ("max_crops=2", 2, 6)]
    for path in (tall, wide, named_by_samples, plain):
        stored = con.execute("SELECT s.accuracy FROM samples s JOIN files f USING (file_id) WHERE f.path = $p", {"p": str(path)})
        assert sorted(r[0] for r in stored.fetchall()) == sorted(s["accuracy"] for s in load(path)["per_sample_results"])
    con.close()
    points = [r for r in queries.run(connect(tmp_path / "s.duckdb"), "config_points").records()]
    assert len(points) == 4
    text = report(tmp_path / "s.duckdb", lang="en")
    assert "- **Config points**: counted 4; left out 0" in text and "- **Files**: counted 4; none excluded" in text


# -- 6. two hardware roots in one store ----------------------------------------------------------


@pytest.fixture(scope="module")
def two_gpus(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gpus")
    written = {}
    for hardware, speed in (("h100", 1.0), ("h200", 1.6)):
        root = tmp / "results" / f"core_exp_{hardware}"
        for i, (tier, top_k, blocks) in enumerate(demo.CONFIGS[::3]):
            body = demo.make_result(DATASET, tier, top_k, blocks, 30, rng=np.random.default_rng([i, 7]), speed=speed)
            written[(hardware, tier, top_k, blocks)] = write(
                root / DATASET / f"{DATASET}_imgsizetier-{tier}_crops1_topk{top_k}_blocks{blocks}.json", body
            )
    db = tmp / "s.duckdb"
    con = open_rw(db)
    for hardware in ("h100", "h200"):
        run(con, tmp / "results" / f"core_exp_{hardware}")
    con.close()
    return db, written


def _brute_frontier(points):
    return sorted(p for p in points if not any(q[0] >= p[0] and q[1] <= p[1] and (q[0] > p[0] or q[1] < p[1]) for q in points))


def test_hardware_is_never_pooled_in_a_frontier(two_gpus):
    db, written = two_gpus
    con = connect(db)
    frontier = queries.run(con, "pareto_frontier").records()
    for hardware in ("h100", "h200"):
        points = []
        for (hw, *_), path in written.items():
            if hw == hardware:
                samples = load(path)["per_sample_results"]
                points.append((float(np.mean([s["accuracy"] for s in samples])), float(np.mean([s["T_total"] for s in samples]))))
        got = sorted((r["accuracy"], r["latency"]) for r in frontier if r["hardware"] == hardware)
        expected = _brute_frontier(points)
        assert len(got) == len(expected) > 0
        for (accuracy, latency), (want_accuracy, want_latency) in zip(got, expected, strict=True):
            assert accuracy == pytest.approx(want_accuracy, rel=1e-12) and latency == pytest.approx(want_latency, rel=1e-12)
    budgets = queries.run(con, "budget_range").records()
    assert [r["hardware"] for r in budgets] == ["h100", "h200"] and budgets[1]["upper"] < budgets[0]["upper"]  # h200 is faster
    lookup = queries.run(con, "budget_lookup").records()
    assert {r["hardware"] for r in lookup} == {"h100", "h200"}
    for row in lookup:
        if row["config_run_id"] is not None:
            assert (row["hardware"], row["top_k"]) in {(hw, k) for (hw, _, k, _) in written}
            assert any(f["hardware"] == row["hardware"] and f["config_run_id"] == row["config_run_id"] for f in frontier)
    con.close()


def test_the_report_renders_one_analysis_per_hardware(two_gpus):
    db, _ = two_gpus
    both = report(db, lang="en")
    assert both.count("# Latency Budget Range Analysis") == 1
    assert "## Results (h100, based on 1 dataset)" in both and "## Results (h200, based on 1 dataset)" in both
    assert "#### OKVQA (h100)" in both and "#### OKVQA (h200)" in both
    assert "## Budget lookup table (h100)" in both and "## Recommended latency budget range (h200)" in both
    assert "(config: h200, " in section(both, "#### OKVQA (h200)")
    assert "- **Scope**: hardware = `h100`, `h200` (all); experiment = `.` (all); dataset = `okvqa` (all)" in both
    assert both.count("## Reproducibility") == 1
    one = report(db, lang="en", hardware=("H200",))  # any case
    assert "## Results (based on 1 dataset)" in one and "h100" not in one.split("## Reproducibility")[0]
    assert "hardware = `h200`;" in one
    cli = _invoke("report", "--db", db, "--hardware", "h100", "--hardware", "H200", "--lang", "en")  # repeats add up
    listed = report(db, lang="en", hardware=("h100", "h200"))
    assert cli.exit_code == 0 and cli.stdout == listed.replace("budgetdb test", "budgetdb " + _version())
    assert "- **Scope**: hardware = `h100`, `h200`; experiment" in listed
    zh = report(db)
    assert "## 分析结果（h100，基于1个数据集）" in zh and "#### OKVQA（h200）" in zh


def _version() -> str:
    from budgetdb import __version__

    return __version__


# -- 7. the same tree by three spellings, and moved ----------------------------------------------


def test_the_same_tree_reached_three_ways_is_the_same_files(tmp_path, monkeypatch):
    written = demo.write_demo_tree(tmp_path / "data", samples=162, seed=5)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "data")
    monkeypatch.chdir(tmp_path / "elsewhere")
    db = tmp_path / "s.duckdb"
    spellings = ["../data/core_exp_h100", str(written.root), str(tmp_path / "link" / "core_exp_h100")]
    first = _invoke("ingest", spellings[0], "--db", db, "--format", "json")
    assert first.exit_code == 0, first.output
    con = connect(db)
    before = sorted(con.execute("SELECT path, status, n_samples FROM files").fetchall())
    con.close()
    assert all(not p.startswith(str(tmp_path / "link")) and "/../" not in p for p, _, _ in before)
    first_report = report(db, lang="en").split("## Reproducibility")[0]
    for spelling in spellings[1:]:
        again = _invoke("ingest", spelling, "--db", db, "--format", "json")
        assert again.exit_code == 0, again.output
        totals = json.loads(again.stdout)[0]
        assert totals["files_unchanged"] == len(before) and totals["files_failed"] == 0, totals
        con = connect(db)
        assert sorted(con.execute("SELECT path, status, n_samples FROM files").fetchall()) == before
        con.close()
        assert report(db, lang="en").split("## Reproducibility")[0] == first_report


def test_a_moved_tree_is_recognised_and_not_read_again(tmp_path):
    written = demo.write_demo_tree(tmp_path / "a", samples=162, seed=6)
    db = tmp_path / "s.duckdb"
    con = open_rw(db)
    run(con, written.root)
    prints = stored_prints(con)
    (tmp_path / "a").rename(tmp_path / "b")
    moved = run(con, tmp_path / "b" / "core_exp_h100", prune=True)
    assert set(o.outcome for o in moved.outcomes) == {"moved"}
    assert moved.samples_added == 0 and not moved.failed
    assert stored_prints(con) == prints
    assert all(p.startswith(str(tmp_path / "b")) for (p,) in con.execute("SELECT path FROM files").fetchall())
    assert {o.outcome for o in run(con, tmp_path / "b" / "core_exp_h100").outcomes} == {"unchanged"}
    con.close()
    text = report(tmp_path / "s.duckdb", lang="en")
    assert f"all JSON files under `{tmp_path / 'b' / 'core_exp_h100'}`" in text
