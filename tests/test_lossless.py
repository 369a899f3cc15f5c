"""Lossless: every ingested file can be rebuilt from the store (`rebuild_result`) equal to
json.load of the source, value by value, NaN as NaN, same key sets."""

from __future__ import annotations

import copy
import math
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from budgetdb import demo
from budgetdb.store.rebuild import rebuild_result

from ingest_support import file_name, json_diff, load, make, open_rw, run, write_json

DATASET = "okvqa"


def _assert_rebuilds(con, path, expected=None):
    expected = load(path) if expected is None else expected
    diffs = json_diff(expected, rebuild_result(con, str(path)))
    assert not diffs, f"{path.name}: " + "\n".join(diffs[:10])


def test_every_file_of_a_demo_tree_rebuilds(tmp_path):
    written = demo.write_demo_tree(tmp_path, samples=162, seed=9)
    con = open_rw(tmp_path / "s.duckdb")
    run(con, written.root)
    by_status = dict(con.execute("SELECT path, status FROM files").fetchall())
    rebuilt = 0
    for path in sorted(written.root.rglob("*.json")):
        status = by_status[str(path)]
        if status == "ingested":
            _assert_rebuilds(con, path)
            rebuilt += 1
        elif status == "superseded":
            # the shard's own summary is kept; its samples live on in the merged file
            source = load(path)
            del source["per_sample_results"]
            rebuilt_summary = rebuild_result(con, str(path))
            rebuilt_summary.pop("per_sample_results", None)
            assert not json_diff(source, rebuilt_summary)
    assert rebuilt == 82


@pytest.mark.parametrize("shape", ["aggregate_stats", "recovery", "legacy", "pre_tier", "zero"])
def test_old_shapes_rebuild(tmp_path, shape):
    if shape == "aggregate_stats":
        body = demo.to_aggregate_stats_shape(make(DATASET, "medium", 4, 12, n=4, seed=1))
    elif shape == "recovery":
        shards = demo.split_shards(make(DATASET, "low", 6, 14, n=5, seed=2), 2)
        body = demo.to_aggregate_stats_shape(demo.merge_shards(shards))
        body["latency_stats"] = shards[0]["latency_stats"]
    elif shape == "legacy":
        body = demo.to_legacy_shape(make(DATASET, None, 8, 16, n=4, seed=3))
    elif shape == "pre_tier":
        body = make(DATASET, None, 4, 12, n=3, seed=4)
    else:
        body = make(DATASET, "high", 12, 16, n=0)
    path = write_json(tmp_path / "core_exp_h100" / DATASET / f"{DATASET}_visiontoken1296_topk8_blocks16.json", body)
    con = open_rw(tmp_path / "s.duckdb")
    summary = run(con, path)
    assert summary.counts["new"] == 1
    _assert_rebuilds(con, path)


def _awkward_result() -> dict:
    result = make(DATASET, "high", 8, 16, n=8, seed=11)
    result["harness_commit"] = "abc|def\nghi"
    result["notes"] = {"nan": math.nan, "inf": math.inf, "list": [None, True, 1, 1.5, "x"], "empty": {}}
    result["latency_stats"]["T_total_p99"] = math.nan
    s = result["per_sample_results"]
    s[0]["unknown_obj"] = {"nested": {"deep": [1, [2, [3, None]]]}, "nan": math.nan, "键": "值"}
    s[0]["unknown_num"] = 7
    s[1]["unknown_num"] = "seven"
    s[2]["unknown_num"] = [7, 7.5]
    s[3]["unknown_num"] = None
    s[1]['we"ird key.with $dots'] = "ok"
    del s[2]["content_tokens"]
    del s[2]["T_decode_per_step"]
    del s[3]["metadata"]
    del s[4]["ends_with_eos"]
    s[4]["pred"] = None
    s[4]["actual_image_size"] = None
    s[4]["actual_tiling"] = None
    s[5]["T_total"] = None
    s[5]["tier_range"] = None
    s[5]["metadata"] = {
        "question": '这个标志上写的是什么？ | col |\nnew line\r\ttab "quoted" \\ back 😀',
        "answers": ["a|b", "c\nd", ""],
        "example_id": 5,
        "answer_idx": math.nan,
        "image_id": "0a1b",
    }
    s[6]["pred"] = "multi\nline | pipe ` backtick * star 😀 \u0000 nul"
    s[6]["T_LLM_prefill"] = math.nan
    s[6]["T_vision_total"] = 0.0
    s[6]["T_decode_per_step"] = [[1.0, math.nan], [], [2.0]]
    s[7]["accuracy"] = 1
    s[7]["T_decode_per_token"] = math.inf
    s[7]["metadata"]["big"] = 2**62 + 1
    s[7]["metadata"]["float"] = 0.1 + 0.2
    return result


def test_hand_made_records_with_awkward_values_rebuild(tmp_path):
    path = write_json(tmp_path / "core_exp_h100" / DATASET / file_name(DATASET, "high", 11, 8, 16), _awkward_result())
    con = open_rw(tmp_path / "s.duckdb")
    summary = run(con, path)
    assert summary.counts["new"] == 1, summary.outcomes
    _assert_rebuilds(con, path)


def test_unknown_keys_that_appear_only_in_a_late_sample_rebuild(tmp_path):
    result = make(DATASET, "high", 8, 16, n=40, seed=12)
    result["per_sample_results"][-1]["only_here"] = {"x": 1}
    result["per_sample_results"][-2]["T_vision_encoder"] = 1.25
    path = write_json(tmp_path / "core_exp_h100" / DATASET / file_name(DATASET, "high", 11, 8, 16), result)
    con = open_rw(tmp_path / "s.duckdb")
    run(con, path)
    _assert_rebuilds(con, path)


def test_every_file_of_a_multi_file_batch_rebuilds(tmp_path):
    """Files with different unknown keys loaded in one run each keep exactly their own keys."""
    folder = tmp_path / "core_exp_h100" / DATASET
    paths = []
    for i, (top_k, blocks) in enumerate([(4, 12), (6, 12), (8, 12), (4, 16)]):
        result = make(DATASET, "high", top_k, blocks, n=3, seed=20 + i)
        for sample in result["per_sample_results"]:
            sample[f"extra_{i}"] = i
        if i == 2:
            for sample in result["per_sample_results"]:
                del sample["T_decode_per_step"]
        paths.append(write_json(folder / file_name(DATASET, "high", 11, top_k, blocks), result))
    con = open_rw(tmp_path / "s.duckdb")
    run(con, folder)
    for path in paths:
        _assert_rebuilds(con, path)


# lower case only: keys differing only in case have their own test above
_keys = st.text(alphabet=string.ascii_lowercase + "_|. 键", min_size=1, max_size=8)
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.floats(allow_infinity=False), st.text(max_size=12)
)
_values = st.recursive(
    _scalars, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_keys, inner, max_size=3)), max_leaves=6
)
_latency = st.one_of(st.floats(min_value=0, max_value=1e6), st.just(0.0), st.just(math.nan))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    extras=st.lists(st.dictionaries(_keys, _values, max_size=3), min_size=3, max_size=3),
    latencies=st.lists(_latency, min_size=3, max_size=3),
    dropped=st.lists(st.sampled_from(["pred", "content_tokens", "T_LLM_decode", "metadata", "actual_tiling"]), max_size=3),
    question=st.text(max_size=20),
)
def test_random_extra_keys_and_values_rebuild(tmp_path_factory, extras, latencies, dropped, question):
    tmp_path = tmp_path_factory.mktemp("prop")
    result = make(DATASET, "high", 8, 16, n=3, seed=30)
    known = {k.lower() for k in result["per_sample_results"][0]}
    for i, (sample, extra, latency) in enumerate(zip(result["per_sample_results"], extras, latencies, strict=True)):
        sample.update({k: copy.deepcopy(v) for k, v in extra.items() if k.lower() not in known})
        sample["T_LLM_prefill"] = latency
        if i == 1:
            for key in dropped:
                sample.pop(key, None)
        if "metadata" in sample:
            sample["metadata"]["question"] = question
    path = write_json(tmp_path / "core_exp_h100" / DATASET / file_name(DATASET, "high", 11, 8, 16), result)
    con = open_rw(tmp_path / "s.duckdb")
    try:
        summary = run(con, path)
        assert summary.counts["new"] == 1, summary.outcomes
        _assert_rebuilds(con, path)
    finally:
        con.close()


def test_keys_that_differ_only_in_case_are_kept_apart(tmp_path):
    """JSON keys are case-sensitive: `t_total` next to `T_total`, `Note` next to `note` are four keys."""
    result = make(DATASET, "high", 8, 16, n=2, seed=13)
    result["per_sample_results"] = [
        {"t_total": 7.0 + i, **s, "Note": "upper", "note": "lower"} for i, s in enumerate(result["per_sample_results"])
    ]
    path = write_json(tmp_path / "core_exp_h100" / DATASET / file_name(DATASET, "high", 11, 8, 16), result)
    con = open_rw(tmp_path / "s.duckdb")
    summary = run(con, path)
    assert summary.counts["new"] == 1, summary.outcomes
    assert [r[0] for r in con.execute("SELECT T_total FROM samples ORDER BY ordinal").fetchall()] == [
        s["T_total"] for s in load(path)["per_sample_results"]
    ]
    _assert_rebuilds(con, path)


def test_a_null_sample_is_refused_or_kept_as_null(tmp_path):
    """A `null` in per_sample_results is not a sample: fail the file, or keep it exactly
    without inventing an all-NULL sample row."""
    result = make(DATASET, "high", 8, 16, n=3, seed=14)
    result["per_sample_results"].append(None)
    path = write_json(tmp_path / "core_exp_h100" / DATASET / file_name(DATASET, "high", 11, 8, 16), result)
    con = open_rw(tmp_path / "s.duckdb")
    summary = run(con, path)
    outcome, reason = summary.outcomes[0].outcome, summary.outcomes[0].reason
    if outcome == "failed":
        assert "per_sample_results" in reason
        return
    _assert_rebuilds(con, path)
    assert con.execute("SELECT count(*) FROM samples").fetchone()[0] == 3


@pytest.mark.parametrize(
    "key",
    ["", " ", "a\nb", "extra", "absent", "filename", "rowid", "ordinal", "键|名"],
    ids=["empty", "space", "newline", "extra", "absent", "filename", "rowid", "ordinal", "unicode"],
)
def test_odd_unknown_key_names_are_kept(tmp_path, key):
    """Any JSON string is a valid key, including names of the store's own columns."""
    result = make(DATASET, "high", 8, 16, n=2, seed=15)
    for i, sample in enumerate(result["per_sample_results"]):
        sample[key] = {"v": i}
    path = write_json(tmp_path / "core_exp_h100" / DATASET / file_name(DATASET, "high", 11, 8, 16), result)
    con = open_rw(tmp_path / "s.duckdb")
    summary = run(con, path)
    assert summary.counts["new"] == 1, summary.outcomes
    _assert_rebuilds(con, path)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    orders=st.lists(st.permutations(range(24)), min_size=2, max_size=2),
    where=st.lists(st.integers(0, 5), min_size=2, max_size=2, unique=True),
)
def test_samples_with_their_keys_in_another_order_rebuild(tmp_path_factory, orders, where):
    """Samples with the usual key order take their values by position, the others by key: a
    reordered sample next to usual ones must keep every value in its own column."""
    tmp_path = tmp_path_factory.mktemp("order")
    result = make(DATASET, "high", 8, 16, n=6, seed=31)
    samples = result["per_sample_results"]
    for order, i in zip(orders, where, strict=True):
        keys = list(samples[i])
        samples[i] = {keys[j]: samples[i][keys[j]] for j in order}
    path = write_json(tmp_path / "core_exp_h100" / DATASET / file_name(DATASET, "high", 11, 8, 16), result)
    con = open_rw(tmp_path / "s.duckdb")
    try:
        run(con, path)
        _assert_rebuilds(con, path)
        by_ordinal = dict(con.execute("SELECT ordinal, T_LLM_prefill FROM samples").fetchall())
        assert by_ordinal == {n: s["T_LLM_prefill"] for n, s in enumerate(samples)}
    finally:
        con.close()
