"""The demo generator writes files in the exact shape of docs/result-format.md, with sound numbers."""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from budgetdb import demo

LATENCY_KEYS = ("T_vision_total", "T_LLM_prefill", "T_LLM_decode", "T_total", "T_decode_per_token")
STATS = ("mean", "std", "p50", "p95", "p99")
NUM = (int, float)
TOP_LEVEL = {
    "tier": str,
    "tier_range": dict,
    "max_crops": int,
    "selected_crops_distribution": dict,
    "selected_crops_mean": float,
    "selected_crops_std": float,
    "target_vision_tokens_mean": float,
    "target_vision_tokens_std": float,
    "actual_vision_tokens_mean": float,
    "actual_vision_tokens_std": float,
    "top_k": int,
    "num_active_blocks": int,
    "num_total_blocks": int,
    "active_block_indices": list,
    "num_samples": int,
    "accuracy": float,
    "accuracy_std": float,
    "latency_stats": dict,
    "per_sample_results": list,
}
PER_SAMPLE = {
    "sample_id": int,
    "tier": str,
    "tier_range": dict,
    "top_k": int,
    "num_active_blocks": int,
    "output_tokens": int,
    "content_tokens": int,
    "ends_with_eos": bool,
    "actual_image_size": (list, type(None)),
    "actual_num_crops": int,
    "actual_tiling": (list, type(None)),
    "target_vision_tokens": int,
    "actual_vision_tokens": int,
    "actual_text_tokens": int,
    "total_sequence_length": int,
    "accuracy": float,
    "pred": str,
    "metadata": dict,
    "T_vision_total": float,
    "T_LLM_prefill": float,
    "T_LLM_decode": float,
    "T_total": float,
    "T_decode_per_token": float,
    "T_decode_per_step": list,
}
TIER_RANGES = {"low": (1, 3), "medium": (4, 8), "high": (9, 15)}
NAME = re.compile(
    r"^(?P<ds>[a-z0-9-]+)_imgsizetier-(?P<tier>low|medium|high)_crops(?P<crops>\d+)"
    r"_topk(?P<k>\d+)_blocks(?P<b>\d+)(?:_rank(?P<rank>\d+))?\.json$"
)


def _results(hw_root: Path) -> dict[Path, dict]:
    return {p: json.loads(p.read_text()) for p in sorted(hw_root.rglob("*.json")) if NAME.match(p.name)}


def _config_runs(results: dict[Path, dict]) -> dict[tuple, list[dict]]:
    """Samples per (experiment, dataset, tier, top_k, blocks); shards only count when no merged file exists."""
    files = defaultdict(list)
    for path, r in results.items():
        key = (path.parent.parent.name, path.parent.name, r["tier"], r["top_k"], r["num_active_blocks"])
        files[key].append((NAME.match(path.name)["rank"] is not None, r))
    runs = {}
    for key, found in files.items():
        merged = [r for is_shard, r in found if not is_shard]
        assert len(merged) <= 1
        runs[key] = [s for r in (merged or [r for _, r in found]) for s in r["per_sample_results"]]
    return runs


def _stats(values) -> list[float]:
    a = np.asarray(values, dtype=float)
    return [np.mean(a), np.std(a), np.percentile(a, 50), np.percentile(a, 95), np.percentile(a, 99)]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    calls = []
    summary = demo.write_demo_tree(root, samples=81 * 30 + 7, seed=3, progress=lambda *a: calls.append(a))
    return summary, _results(summary.root), calls


def test_every_documented_key_is_present_with_its_type(tree):
    _, results, _ = tree
    for path, r in results.items():
        assert list(r) == list(TOP_LEVEL), path
        for key, kind in TOP_LEVEL.items():
            assert isinstance(r[key], kind), (path, key)
        assert set(r["tier_range"]) == {"min_crops", "max_crops"}
        assert r["num_total_blocks"] == 16 and len(r["active_block_indices"]) == r["num_active_blocks"]
        assert r["num_samples"] == len(r["per_sample_results"])
        assert sum(r["selected_crops_distribution"].values()) == r["num_samples"]
        for s in r["per_sample_results"]:
            assert list(s) == list(PER_SAMPLE)
            for key, kind in PER_SAMPLE.items():
                assert isinstance(s[key], kind), (path, key, s[key])
            assert not isinstance(s["output_tokens"], bool)
            assert {"image_id", "example_id", "question", "question_id", "answers"} <= set(s["metadata"])
            assert all(isinstance(a, str) for a in s["metadata"]["answers"])


def test_latency_stats_and_accuracy_equal_numpy_recomputation(tree):
    _, results, _ = tree
    for path, r in results.items():
        samples = r["per_sample_results"]
        expected = {f"{k}_{s}": v for k in LATENCY_KEYS for s, v in zip(STATS, _stats([x[k] for x in samples]), strict=True)}
        got = {k: v for k, v in r["latency_stats"].items() if k != "T_decode_per_step_stats"}
        assert got == pytest.approx(expected, rel=1e-12), path
        acc = np.array([s["accuracy"] for s in samples])
        assert r["accuracy"] == pytest.approx(acc.mean(), rel=1e-12)
        assert r["accuracy_std"] == pytest.approx(acc.std(ddof=0), rel=1e-12, abs=1e-15)
        if len(acc) > 1 and acc.std() > 0:
            assert r["accuracy_std"] != pytest.approx(acc.std(ddof=1), rel=1e-9)


def test_sample_values_are_internally_consistent(tree):
    _, results, _ = tree
    ragged = 0
    for r in results.values():
        low, high = TIER_RANGES[r["tier"]]
        assert r["tier_range"] == {"min_crops": low, "max_crops": high} and r["max_crops"] == high
        for s in r["per_sample_results"]:
            assert low <= s["actual_num_crops"] <= high
            assert s["accuracy"] in (0.0, 1 / 3, 2 / 3, 1.0)
            assert 1 <= s["output_tokens"] <= 20
            assert s["content_tokens"] == s["output_tokens"] - s["ends_with_eos"]
            assert s["total_sequence_length"] == s["actual_vision_tokens"] + s["actual_text_tokens"]
            parts = s["T_vision_total"] + s["T_LLM_prefill"] + s["T_LLM_decode"]
            assert parts < s["T_total"] < parts + 40
            assert s["T_decode_per_token"] == pytest.approx(s["T_LLM_decode"] / s["output_tokens"])
            steps = s["T_decode_per_step"]
            assert len(steps) == max(s["output_tokens"] - 1, 0)
            assert sum(sum(run) / len(run) for run in steps) == pytest.approx(s["T_LLM_decode"], abs=0.5)
            ragged += len({len(runs) for runs in steps}) > 1
    assert ragged > 0


def test_prefill_and_totals_look_like_the_seed(tree):
    _, results, _ = tree
    prefill = np.array([s["T_LLM_prefill"] for r in results.values() for s in r["per_sample_results"]])
    total = np.array([s["T_total"] for r in results.values() for s in r["per_sample_results"]])
    assert 95 < np.percentile(prefill, 5) < 115 and 125 < np.median(prefill) < 145
    assert 165 < np.percentile(prefill, 95) < 195
    assert 130 < np.percentile(total, 5) and np.percentile(total, 95) < 420


def test_same_example_ids_in_every_config_of_a_dataset(tree):
    _, results, _ = tree
    ids = defaultdict(set)
    for key, samples in _config_runs(results).items():
        ids[key[1]].add(tuple(sorted(s["metadata"]["example_id"] for s in samples)))
    assert set(ids) == set(demo.DATASETS)
    for dataset, variants in ids.items():
        longest = max(variants, key=len)
        assert all(v == longest[: len(v)] for v in variants), dataset


def test_sample_count_equals_request_and_progress_is_reported(tree):
    summary, results, calls = tree
    assert sum(len(s) for s in _config_runs(results).values()) == 81 * 30 + 7 == summary.samples
    assert summary.result_files == len(results) == 84
    assert summary.files == len(list(summary.root.rglob("*.*"))) == 86
    assert calls == [(i, summary.files) for i in range(1, summary.files + 1)]
    assert summary.datasets == ("text-vqa", "coco-2014-vqa", "okvqa")


def test_tree_holds_the_awkward_cases(tree):
    summary, results, _ = tree
    hw = summary.root
    assert hw.name == "core_exp_h100" and (hw / "logs" / "run.log").read_text().strip()
    (importance,) = hw.rglob("layer_importance_scores.json")
    assert importance.parent.parent == hw and "per_sample_results" not in json.loads(importance.read_text())
    by_folder = defaultdict(list)
    for path, r in results.items():
        by_folder[(path.parent, r["tier"], r["top_k"], r["num_active_blocks"])].append(NAME.match(path.name))
    sharded = {k: v for k, v in by_folder.items() if any(m["rank"] for m in v)}
    assert len(sharded) == 2
    crashed = [v for v in sharded.values() if all(m["rank"] for m in v)]
    leftover = [v for v in sharded.values() if not all(m["rank"] for m in v)]
    assert len(crashed) == 1 and sorted(m["rank"] for m in crashed[0]) == ["0", "1"]
    merged = next(m for m in leftover[0] if m["rank"] is None)
    shard_crops = {m["crops"] for m in leftover[0] if m["rank"]}
    assert len(leftover[0]) == 3 and shard_crops - {merged["crops"]}
    questions = {s["metadata"]["question"] for r in results.values() for s in r["per_sample_results"]}
    for needle in ("|", "\n", "`", "*", "😀"):
        assert any(needle in q for q in questions), needle
    assert any(re.search(r"[\u4e00-\u9fff]", q) for q in questions)


def test_file_names_follow_the_harness(tree):
    _, results, _ = tree
    for path, r in results.items():
        m = NAME.match(path.name)
        assert (m["ds"], m["tier"], int(m["k"]), int(m["b"])) == (path.parent.name, r["tier"], r["top_k"], r["num_active_blocks"])
        assert int(m["crops"]) == int(r["selected_crops_mean"])
    assert demo.result_filename("okvqa", "low", 2.9, 4, 12) == "okvqa_imgsizetier-low_crops2_topk4_blocks12.json"
    assert (
        demo.result_filename("text-vqa", "high", 12.0, 8, 16, rank=1)
        == "text-vqa_imgsizetier-high_crops12_topk8_blocks16_rank1.json"
    )


def test_pareto_frontier_is_non_trivial(tree):
    _, results, _ = tree
    points = defaultdict(list)
    for (_, dataset, *_config), samples in _config_runs(results).items():
        points[dataset].append((np.mean([s["accuracy"] for s in samples]), np.mean([s["T_total"] for s in samples])))
    for dataset, pts in points.items():
        frontier = [p for p in pts if not any(q[0] >= p[0] and q[1] <= p[1] and (q[0] > p[0] or q[1] < p[1]) for q in pts)]
        assert 5 <= len(frontier) <= 20 and len(frontier) < len(pts), (dataset, len(frontier))


def test_same_seed_is_byte_identical_and_another_seed_differs(tmp_path):
    def files(root):
        return {p.relative_to(root): p.read_bytes() for p in sorted(Path(root).rglob("*")) if p.is_file()}

    trees = [
        files(demo.write_demo_tree(tmp_path / name, samples=200, seed=seed).root) for name, seed in (("a", 7), ("b", 7), ("c", 8))
    ]
    assert trees[0] == trees[1]
    assert any(trees[0][k] != trees[2].get(k) for k in trees[0])


def test_tree_grows_experiments_and_splits_the_remainder(tmp_path):
    summary = demo.write_demo_tree(tmp_path, samples=500, samples_per_file=3, hardware="a100")
    assert summary.root == tmp_path / "core_exp_a100"
    runs = _config_runs(_results(summary.root))
    assert sorted({key[0].split("_")[0] for key in runs}) == ["5run", "run2", "run3"]
    counts = [len(s) for s in runs.values()]
    assert len(counts) == 167 and sum(counts) == 500 == summary.samples and sorted(set(counts)) == [2, 3]
    last = [key for key in runs if key[0].startswith("run3")]
    assert sorted(Counter(key[1] for key in last).values()) == [1, 2, 2]


def test_split_and_merge_keep_every_sample_in_rank_order():
    result = demo.make_result("okvqa", "medium", 6, 14, 25, rng=np.random.default_rng(1))
    shards = demo.split_shards(result, 3)
    assert [s["num_samples"] for s in shards] == [9, 8, 8]
    for shard in shards:
        assert [s["sample_id"] for s in shard["per_sample_results"]] == list(range(shard["num_samples"]))
        crops = [s["actual_num_crops"] for s in shard["per_sample_results"]]
        assert shard["selected_crops_mean"] == pytest.approx(np.mean(crops))
        assert shard["accuracy"] == pytest.approx(np.mean([s["accuracy"] for s in shard["per_sample_results"]]))
        assert "T_decode_per_step_stats" not in shard["latency_stats"]
    merged = demo.merge_shards(shards)
    strip = [{k: v for k, v in s.items() if k != "sample_id"} for s in merged["per_sample_results"]]
    assert strip == [{k: v for k, v in s.items() if k != "sample_id"} for s in result["per_sample_results"]]
    ids = [s["sample_id"] for s in merged["per_sample_results"]]
    assert ids == [*range(9), *range(8), *range(8)] and len(set(ids)) < len(ids)
    assert merged["accuracy"] == pytest.approx(result["accuracy"])
    assert merged["latency_stats"]["T_total_p95"] == pytest.approx(result["latency_stats"]["T_total_p95"])
    per_step = merged["latency_stats"]["T_decode_per_step_stats"]
    runs = [run for s in merged["per_sample_results"] for run in s["T_decode_per_step"][:1]]
    first = [t for run in runs for t in run]
    assert per_step["pos_0"]["count"] == len(first)
    assert per_step["pos_0"]["p50"] == pytest.approx(np.percentile(first, 50))
    reordered = demo.split_shards(result, 2, order=list(range(24, -1, -1)))
    assert reordered[0]["per_sample_results"][0]["metadata"] == result["per_sample_results"][24]["metadata"]


def test_zero_sample_file_is_written_like_the_harness(tmp_path):
    result = demo.make_result("text-vqa", "high", 8, 16, 0, rng=np.random.default_rng(0))
    path = demo.write_result(tmp_path / "deep" / "x.json", result)
    text = path.read_text()
    loaded = json.loads(text)
    assert list(loaded) == list(TOP_LEVEL)
    assert loaded["num_samples"] == 0 and loaded["per_sample_results"] == [] and loaded["latency_stats"] == {}
    assert math.isnan(loaded["actual_vision_tokens_mean"]) and math.isnan(loaded["actual_vision_tokens_std"])
    assert '"actual_vision_tokens_mean": NaN' in text
    assert demo.result_filename("text-vqa", "high", loaded["selected_crops_mean"], 8, 16).endswith("_crops0_topk8_blocks16.json")


def test_results_hold_only_plain_python_values():
    def walk(value):
        if isinstance(value, dict):
            return all(isinstance(k, str) and walk(v) for k, v in value.items())
        if isinstance(value, list):
            return all(walk(v) for v in value)
        return type(value) in (int, float, str, bool, type(None))

    result = demo.make_result("coco-2014-vqa", None, 6, 12, 40, rng=np.random.default_rng(2))
    assert walk(result) and "tier" not in result and "tier" not in result["per_sample_results"][0]
    assert result["max_crops"] == max(int(c) for c in result["selected_crops_distribution"])
    assert json.loads(json.dumps(result)) == result


def test_old_shapes_are_new_dicts_matching_the_older_shapes_table():
    result = demo.make_result("text-vqa", "medium", 4, 12, 30, rng=np.random.default_rng(4))
    before = json.dumps(result)

    agg = demo.to_aggregate_stats_shape(result)
    assert "latency_stats" not in agg
    assert agg["aggregate_stats"] == {
        **result["latency_stats"],
        **{k: result[k] for k in result if k.endswith(("vision_tokens_mean", "vision_tokens_std"))},
    }
    assert agg["per_sample_results"] == result["per_sample_results"]
    agg["per_sample_results"][0]["pred"] = "changed"

    legacy = demo.to_legacy_shape(result)
    assert json.dumps(result) == before
    assert {"tier", "tier_range", "latency_stats"}.isdisjoint(legacy) and legacy["max_crops"] == 8
    for old, new in zip(legacy["per_sample_results"], result["per_sample_results"], strict=True):
        assert {
            "tier",
            "tier_range",
            "T_vision_total",
            "actual_text_tokens",
            "total_sequence_length",
            "T_decode_per_step",
            "content_tokens",
            "ends_with_eos",
        }.isdisjoint(old)
        assert {
            "target_crops",
            "num_crops",
            "selected_crops",
            "selected_vision_tokens",
            "target_image_size",
            "resize_to_fill",
            "theoretical_vision_tokens",
            "input_text_tokens",
        } <= set(old)
        assert old["T_vision_encoder"] + old["T_projector"] == pytest.approx(new["T_vision_total"])
        assert old["T_total"] - old["T_vision_encoder"] - old["T_projector"] - old["T_LLM_prefill"] == pytest.approx(
            old["T_LLM_decode"]
        )
        assert old["input_text_tokens"] == new["actual_text_tokens"]
    stats = legacy["aggregate_stats"]
    decode = [s["T_LLM_decode"] for s in legacy["per_sample_results"]]
    assert [stats[f"T_LLM_decode_{s}"] for s in STATS] == pytest.approx(_stats(decode))
    assert stats["actual_vision_tokens_mean"] == result["actual_vision_tokens_mean"]
