"""`build_report` on small stores with hand-checked numbers, degenerate stores, escaping, determinism."""

from __future__ import annotations

import hashlib
import math
import re

import numpy as np
import pytest

from budgetdb.scope import ScopeError

from report_helpers import leak, report, run, section, store_with

# Hand-checked points (accuracy = mean, latency = mean of T_total):
#   okvqa    A low/4/12 0.5 @ 100.3   B medium/8/12 0.7 @ 150.5   C medium/8/16 0.6 @ 160.0 (B dominates it)
#            D high/8/16 0.8 @ 200.5  -> frontier A, B, D
#   text-vqa E low/4/12 0.4 @ 120.7   F high/8/16 0.9 @ 250.5     -> frontier E, F
# aggregate: min 100.3 (okvqa), max 250.5 (text-vqa), mean/median of minimums 110.5, of maximums 225.5
# budgets: lower ceil(100.3/10)*10 = 110, upper ceil(250.5/10)*10 = 260 -> [110, 150, 200, 250, 260]
PREFILL = {
    "A": [101.0, 95.5],
    "B": [130.25, 140.0],
    "C": [88.0, 120.0],
    "D": [150.0, 175.75],
    "E": [90.0, 0.0],
    "F": [float("nan"), 210.0],
}
DECODE = [300.0, 310.0, 280.0, 500.0, 250.0, 260.0, 270.0, 290.0, 330.0, 320.0, 305.0, 295.0]


def small_runs():
    runs = [
        run("okvqa", "low", 4, 12, [0.25, 0.75], [99.0, 101.6], PREFILL["A"]),
        run("okvqa", "medium", 8, 12, [0.7, 0.7], [150.0, 151.0], PREFILL["B"]),
        run("okvqa", "medium", 8, 16, [0.6, 0.6], [160.0, 160.0], PREFILL["C"]),
        run("okvqa", "high", 8, 16, [0.8, 0.8], [199.0, 202.0], PREFILL["D"]),
        run("text-vqa", "low", 4, 12, [0.4, 0.4], [120.0, 121.4], PREFILL["E"]),
        run("text-vqa", "high", 8, 16, [1.0, 0.8], [250.0, 251.0], PREFILL["F"]),
    ]
    for i, r in enumerate(runs):
        r["samples"]["T_LLM_decode"] = DECODE[2 * i : 2 * i + 2]
    return runs


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    return store_with(tmp_path_factory.mktemp("small") / "budget.duckdb", small_runs())


# The seed's sections as they print without uncertainty (--resamples 0); test_report_uncertainty.py
# holds what the bootstrap adds beside them.
@pytest.fixture(scope="module")
def small_zh(small_store):
    return report(small_store, resamples=0)


@pytest.fixture(scope="module")
def small_en(small_store):
    return report(small_store, lang="en", resamples=0)


def valid_prefill():
    values = np.array([v for vs in PREFILL.values() for v in vs])
    return values[~np.isnan(values) & (values != 0)]


def test_prefill_blockquote_from_numpy(small_zh, small_en):
    v = valid_prefill()
    p = {q: np.percentile(v, q) for q in (5, 25, 50, 75, 95)}
    quantiles = " / ".join(f"{p[q]:.1f}" for q in (5, 25, 50, 75, 95))
    for text in (small_zh, small_en):
        assert f"- min: **{v.min():.1f} ms**" in text
        assert f"- p5 / p25 / median / p75 / p95: **{quantiles} ms**" in text
        assert f"- max: **{v.max():.1f} ms**" in text
        assert f"- mean / std: **{v.mean():.1f} / {v.std():.1f} ms**" in text
        lower, upper = math.floor(p[5] / 10) * 10, math.ceil(p[95] / 10) * 10
        assert f"**{lower} ms – {upper} ms**" in text
        assert f"**{math.ceil(p[95] / 50) * 50} ms**" in text
    assert "（总计 10 条样本）" in small_zh
    assert "另有 2 条样本缺少 `T_LLM_prefill`" in small_zh
    assert "(10 samples in total)" in small_en
    assert "2 more samples have no `T_LLM_prefill`" in small_en


def test_decode_figures_from_numpy(small_zh, small_en):
    d = np.array(DECODE)
    figures = f"**{d.mean():.1f} / {np.median(d):.1f} / {np.percentile(d, 95):.1f} ms**"
    assert f"`T_LLM_decode` mean / median / p95 为 {figures}" in small_zh
    assert f"`T_LLM_decode` mean / median / p95 {figures}" in small_en


def test_frontier_sections(small_zh, small_en):
    assert "## 分析结果（基于2个数据集）" in small_zh
    assert section(small_zh, "#### Text-VQA") == (
        "- **Pareto frontier点数**: 2\n"
        "- **最高accuracy**: 0.9000 @ **250.50ms** (config: high tier, top_k=8, blocks=16)\n"
        "- **最低accuracy**: 0.4000 @ **120.70ms** (config: low tier, top_k=4, blocks=12)\n"
        "- **Latency范围**: 120.70ms - 250.50ms\n"
    )
    assert section(small_en, "#### OKVQA") == (
        "- **Pareto frontier points**: 3\n"
        "- **Highest accuracy**: 0.8000 @ **200.50ms** (config: high tier, top_k=8, blocks=16)\n"
        "- **Lowest accuracy**: 0.5000 @ **100.30ms** (config: low tier, top_k=4, blocks=12)\n"
        "- **Latency range**: 100.30ms - 200.50ms\n"
        "\n---\n"
    )
    # the seed's order: Text-VQA before OKVQA
    assert small_zh.index("#### Text-VQA") < small_zh.index("#### OKVQA")


def test_aggregate_and_budget(small_zh, small_en):
    assert "- **最小latency (下界)**: **100.30ms** (OKVQA最低accuracy点)" in small_zh
    assert "- **最大latency (上界)**: **250.50ms** (Text-VQA最高accuracy点)" in small_zh
    for label, value in (
        ("平均最小latency", "110.50"),
        ("平均最大latency", "225.50"),
        ("中位数最小latency", "110.50"),
        ("中位数最大latency", "225.50"),
    ):
        assert f"- **{label}**: {value}ms" in small_zh
    assert "**建议范围**: **110ms - 260ms**" in small_zh
    assert "- **下界 (110ms)**: 略高于最小latency (100.30ms)" in small_zh
    assert (
        "latency_budgets = [\n    110,   # 接近下界\n    150,   # 低budget\n    200,   # 高budget\n"
        "    250,   # 接近上界\n    260,   # 上界\n]" in small_zh
    )
    assert "np.linspace(110, 260, num=10)  # 10个均匀分布的budget值" in small_zh
    assert "np.random.uniform(110, 260)" in small_zh
    assert "np.random.choice([110, 150, 200, 250, 260])" in small_zh
    assert "**Recommended range**: **110ms - 260ms**" in small_en
    assert "    150,   # low budget\n" in small_en
    assert "np.random.choice([110, 150, 200, 250, 260])" in small_en


def test_lookup_table(small_en):
    table = section(small_en, "## Budget lookup table")
    rows = [line for line in table.split("\n") if line.startswith("| ") and "ms |" in line]
    assert rows == [
        "| 110ms | Text-VQA | — | — | — | no config fits |",
        "| 110ms | OKVQA | 0.5000 | 100.30ms | 9.70ms | low tier, top_k=4, blocks=12 |",
        "| 150ms | Text-VQA | 0.4000 | 120.70ms | 29.30ms | low tier, top_k=4, blocks=12 |",
        "| 150ms | OKVQA | 0.5000 | 100.30ms | 49.70ms | low tier, top_k=4, blocks=12 |",
        "| 200ms | Text-VQA | 0.4000 | 120.70ms | 79.30ms | low tier, top_k=4, blocks=12 |",
        "| 200ms | OKVQA | 0.7000 | 150.50ms | 49.50ms | medium tier, top_k=8, blocks=12 |",
        "| 250ms | Text-VQA | 0.4000 | 120.70ms | 129.30ms | low tier, top_k=4, blocks=12 |",
        "| 250ms | OKVQA | 0.8000 | 200.50ms | 49.50ms | high tier, top_k=8, blocks=16 |",
        "| 260ms | Text-VQA | 0.9000 | 250.50ms | 9.50ms | high tier, top_k=8, blocks=16 |",
        "| 260ms | OKVQA | 0.8000 | 200.50ms | 59.50ms | high tier, top_k=8, blocks=16 |",
    ]


def test_footer(small_store, small_en, small_zh):
    footer = section(small_en, "## Reproducibility")
    assert f"- **Store**: `{small_store}`" in footer
    assert "- **Last ingest**: 2026-01-02 03:04:05 UTC" in footer  # builders' ingested_at: no clock
    assert "- **Files**: counted 6; none excluded" in footer
    assert (
        "- **Samples**: counted 12; padding repeats left out 0; missing `T_LLM_prefill` 2; missing `T_total` 0; "
        "in excluded files 0"
    ) in footer
    assert "- **Config points**: counted 6; left out 0" in footer
    from budgetdb import queries
    from budgetdb.reporting import REPORT_PINS, REPORT_QUERIES

    # every query that ran, the queries they use included (pareto_frontier: frontier_summary's), each once,
    # in the order they first ran
    listed = re.findall(r"^  - `([^`]+)` sha256 `([0-9a-f]{64})`$", footer, re.M)
    first_run = [spec for ref in REPORT_QUERIES.values() for spec in queries.closure(ref, pins=REPORT_PINS)]
    assert listed == [(spec.ref, spec.sha256) for spec in dict.fromkeys(first_run)]
    assert [ref for ref, _ in listed] == [
        "store_summary@v2",
        "prefill_stats@v2",
        "decode_stats@v2",
        "config_points@v3",
        "pareto_frontier@v3",
        "frontier_summary@v3",
        "budget_range@v3",
        "budget_lookup@v3",
    ]
    for ref, sha256 in listed:
        assert sha256 == hashlib.sha256(queries.get(ref).sql.encode("utf-8")).hexdigest()
    assert "## 可复现信息" in small_zh
    assert leak(small_zh) is None and leak(small_en) is None


def test_the_report_pins_every_query_it_runs_dependencies_included():
    from budgetdb import queries
    from budgetdb.reporting import EXACT_PINS, EXACT_QUERIES, PLOT_QUERIES, REPORT_PINS, REPORT_QUERIES

    for refs, pins in ((REPORT_QUERIES, REPORT_PINS), (EXACT_QUERIES, EXACT_PINS)):
        pinned = dict(ref.split("@") for ref in pins)
        assert len(pinned) == len(pins), "one version of each name"
        for ref in [*refs.values(), *PLOT_QUERIES.values()]:
            for spec in queries.closure(ref, pins=pins, catalog=queries.packaged()):
                assert f"v{spec.version}" == pinned.get(spec.name), f"{ref} runs {spec.ref}: pin it"


def test_the_latency_choices_are_those_every_report_query_declares():
    """The CLI's and the options' choices come from one header; every version the report pins
    that takes the latency parameters declares the same ones."""
    from budgetdb import queries
    from budgetdb.report_options import LATENCY_STAGES, LATENCY_STATS
    from budgetdb.reporting import REPORT_PINS, UNCERTAIN_PINS

    declaring = 0
    for ref in dict.fromkeys([*REPORT_PINS, *UNCERTAIN_PINS]):
        params = {p.name: p for p in queries.get(ref).params}
        for name, choices in (("latency_stage", LATENCY_STAGES), ("latency_stat", LATENCY_STATS)):
            if name in params:
                declaring += 1
                assert params[name].choices == choices, ref
    assert declaring >= 4 and LATENCY_STAGES[0] == "T_total" and "p95" in LATENCY_STATS


def test_user_query_folders_change_nothing_in_the_report(small_store, small_zh, tmp_path, monkeypatch):
    """A newer config_points, a pareto_frontier whose uses are unpinned, and a broken file, all in
    $BUDGETDB_QUERIES: the report runs its pinned packaged queries, the same bytes."""
    from budgetdb import queries

    team = tmp_path / "team"
    team.mkdir()
    for name in ("config_points", "pareto_frontier"):
        text = queries.get(f"{name}@v2", catalog=queries.packaged()).sql.replace("-- version: 2", "-- version: 9")
        (team / f"{name}.v9.sql").write_text(text.replace("config_points@v2", "config_points"), "utf-8")
    (team / "budget_range.v9.sql").write_text("-- name: budget_range\nnot a header\n", "utf-8")
    monkeypatch.setenv(queries.ENV, str(team))
    assert queries.get("pareto_frontier").ref == "pareto_frontier@v9"
    assert report(small_store, resamples=0) == small_zh
    assert report(small_store, resamples=20) == report(small_store, resamples=20, template_paths=())


def test_same_store_and_options_give_the_same_bytes(small_store, small_zh):
    assert report(small_store, resamples=0).encode() == small_zh.encode()


def test_filters_narrow_the_scope_and_are_recorded(small_store):
    text = report(small_store, lang="en", datasets=("okvqa",), hardware="h100", experiments=("exp",))
    assert "#### Text-VQA" not in text and "#### OKVQA" in text
    assert "matching the filters" in text
    assert "- **Scope**: hardware = `h100`; experiment = `exp`; dataset = `okvqa`" in text
    v = np.array(PREFILL["A"] + PREFILL["B"] + PREFILL["C"] + PREFILL["D"])
    assert f"({len(v)} samples in total)" in text
    assert f"- mean / std: **{v.mean():.1f} / {v.std():.1f} ms**" in text
    assert "**Recommended range**: **110ms - 210ms**" in text  # ceil(200.5 / 10) * 10


def test_other_parameters_reach_the_queries(small_store):
    text = report(small_store, lang="en", step=25.0, coarse_step=100.0, num=4, alpha=(0.3, 0.3))
    # lower ceil(100.3/25)*25 = 125, upper ceil(250.5/25)*25 = 275, multiples of 100 inside: 200
    assert "**Recommended range**: **125ms - 275ms**" in text
    assert "np.random.choice([125, 200, 275])" in text
    assert "np.linspace(125, 275, num=4)  # 4 evenly spaced" in text
    assert "with α in 0.3;" in text
    assert "step = 25 ms; coarse step = 100 ms; num = 4; α = 0.3" in text


def test_latency_stage_and_stat(small_store):
    text = report(small_store, lang="en", latency_stage="T_LLM_prefill", latency_stat="p50")
    # okvqa D: median of [150.0, 175.75] = 162.875; A: median of [101.0, 95.5] = 98.25
    assert "latency is `T_LLM_prefill` p50" in text
    assert "- **Latency range**: 98.25ms - 162.88ms" in text


# -- degenerate stores ---------------------------------------------------------------------------------


def assert_clean(text):
    assert leak(text) is None, leak(text)
    assert text.endswith("\n") and not text.endswith("\n\n\n")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_empty_store(tmp_path, lang):
    text = report(store_with(tmp_path / "empty.duckdb", []), lang=lang)
    assert_clean(text)
    missing = "缺少数据" if lang == "zh" else "Missing data"
    assert text.count(f"**{missing}**") == 5  # prefill, datasets, aggregate, budget, lookup
    assert ("基于0个数据集" if lang == "zh" else "based on 0 datasets") in text
    assert ("本数据没有有效的 `T_LLM_decode` 样本" if lang == "zh" else "No sample in scope has a valid `T_LLM_decode`") in text
    assert "budgetdb ingest PATH" in text
    assert "np.random" not in text


def test_one_dataset_one_config(tmp_path):
    db = store_with(tmp_path / "one.duckdb", [run("okvqa", "low", 4, 12, [0.5], [123.4], [80.0])])
    text = report(db, lang="en")
    assert_clean(text)
    assert "- **Pareto frontier points**: 1" in text
    assert "- **Latency range**: 123.40ms - 123.40ms" in text
    assert "**Recommended range**: **130ms - 130ms**" in text
    assert "    130,   # lower = upper bound\n]" in text
    assert "np.random.choice([130])" in text
    # one sample: every percentile is the value
    assert "**80.0 / 80.0 / 80.0 / 80.0 / 80.0 ms**" in text


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_no_prefill_values(tmp_path, lang):
    db = store_with(
        tmp_path / "noprefill.duckdb",
        [
            run("okvqa", "low", 4, 12, [0.5, 0.5], [100.0, 110.0], [0.0, float("nan")]),
            run("text-vqa", "low", 4, 12, [0.5], [130.0]),
        ],
    )
    text = report(db, lang=lang)
    assert_clean(text)
    if lang == "zh":
        assert "范围内没有有效的 `T_LLM_prefill` 样本（3 条样本的值为 NaN 或 0.0）" in text
    else:
        assert "no sample in scope has a valid `T_LLM_prefill` (3 samples have NaN or 0.0)" in text
    assert "p5 / p25" not in text
    assert "105.00ms" in text  # the frontier still works


def test_dataset_without_frontier_and_unknown_dataset(tmp_path):
    db = store_with(
        tmp_path / "nofrontier.duckdb",
        [
            run("okvqa", "low", 4, 12, [0.5], [100.0], [50.0]),
            run("okvqa", "high", 8, 16, [0.0, 0.0], [150.0, 150.0], [50.0, 50.0]),
            run("st-qa", "low", 4, 12, [0.0], [100.0], [50.0]),
            {"dataset": "doc-qa", "tier": "low", "top_k": 4, "blocks": 12},  # zero samples, empty latency_stats
        ],
    )
    with pytest.raises(ScopeError, match=r"no dataset 'mmmu' \(datasets in the store: doc-qa, okvqa, st-qa\)"):
        report(db, lang="en", datasets=("okvqa", "st-qa", "doc-qa", "mmmu"))  # a filter that matches nothing
    text = report(db, lang="en", datasets=("okvqa", "st-qa", "doc_qa"))  # the harness's spelling of doc-qa
    assert_clean(text)
    assert section(text, "#### st-qa").startswith(
        "- **Missing data**: no Pareto frontier points: its only config point was left out"
    )
    assert section(text, "#### doc-qa").startswith(
        "- **Missing data**: no Pareto frontier points: its only config point was left out"
    )
    assert "- 1 config point left out (accuracy <= 0" in section(text, "#### OKVQA")
    assert "## Results (based on 1 dataset)" in text
    assert "- **Config points**: counted 1; left out 3" in text
    assert "dataset = `doc-qa`, `okvqa`, `st-qa`" in text or "dataset = `okvqa`, `st-qa`, `doc-qa`" in text
    order = [text.index(f"#### {name}") for name in ("OKVQA", "doc-qa", "st-qa")]
    assert order == sorted(order)
    zh = report(db, datasets=("st-qa",))
    assert_clean(zh)
    assert "1 个配置点全部被剔除" in zh
    assert zh.count("**缺少数据**") == 4  # st-qa, aggregate, budget, lookup


def test_files_without_samples_fall_back_to_the_summary(tmp_path):
    db = store_with(
        tmp_path / "summary.duckdb",
        [
            run("okvqa", "low", 4, 12, [0.5], [100.0], [50.0]),
            {
                "dataset": "okvqa",
                "tier": "high",
                "top_k": 8,
                "blocks": 16,
                "summary": {"accuracy": 0.75, "num_samples": 2000, "latency_stats": {"T_total_mean": 180.25}},
            },
        ],
    )
    text = report(db, lang="en")
    assert_clean(text)
    assert "- **Highest accuracy**: 0.7500 @ **180.25ms**" in text
    assert "- 1 config point has no per-sample rows" in text
    assert "from the file summary 1" in text


def test_excluded_files_are_counted(tmp_path):
    db = store_with(
        tmp_path / "shards.duckdb",
        [
            run("okvqa", "low", 4, 12, [0.5, 0.5], [100.0, 100.0], [50.0, 50.0]),
            run("okvqa", "low", 4, 12, [0.5], [100.0], [50.0], rank=0, status="superseded"),
            run("okvqa", "low", 4, 12, [0.5], [100.0], [50.0], rank=1, status="superseded"),
            {"dataset": "okvqa", "tier": None, "name": "layer_importance_scores", "status": "skipped"},
        ],
    )
    text = report(db, lang="en")
    assert "- **Files**: counted 1; excluded skipped 1, superseded 2" in text
    assert "in excluded files 2" in text
    assert "(2 samples in total)" in text


# -- escaping --------------------------------------------------------------------------------------------

NASTY = "we|ird*_name`x`\n# {{ 7*7 }} {% if true %}IF{% endif %} <b>[x](y)"


def test_data_strings_are_escaped_and_never_executed(tmp_path):
    db = store_with(
        tmp_path / "nasty.duckdb",
        [
            run(NASTY, "hi|gh*", 4, 12, [0.5], [100.0], [50.0], experiment="e`x|p"),
            run(NASTY, "low", 8, 16, [0.6], [150.0], [50.0], experiment="e`x|p"),
        ],
    )
    # with uncertainty the lookup table has 4 more columns (and a config name in the runner-up's)
    for lang, resamples in (("zh", 0), ("en", 0), ("zh", 50), ("en", 50)):
        text = report(db, lang=lang, datasets=(NASTY,), experiments=("e`x|p",), resamples=resamples)
        # Jinja code in data stays literal text: executed, it would print 49 and drop the if
        escaped = r"we\|ird\*\_name\`x\` \# {{ 7\*7 }} {% if true %}IF{% endif %} \<b\>\[x\](y)"
        assert f"#### {escaped}\n" in text
        assert "experiment = ``e`x\\|p``" in text
        text = report(db, lang=lang, resamples=resamples)
        assert "we|ird" not in text and "hi|gh" not in text
        assert f"#### {escaped}\n" in text
        assert "(config: hi\\|gh\\* tier, top_k=4, blocks=12)" in text
        for line in text.split("\n"):
            if line.startswith("| ") and "ms |" in line:
                assert len(re.findall(r"(?<!\\)\|", line)) == (11 if resamples else 7), line
        assert_clean(text)


def test_a_user_folder_overrides_one_partial(tmp_path, small_store):
    (tmp_path / "_footer.md.j2").write_text("\n---\n\nfooter by {{ footer.budgetdb_version|md }}\n", encoding="utf-8")
    text = report(small_store, lang="en", template_paths=(str(tmp_path),))
    assert text.endswith("\n---\n\nfooter by test\n")
    assert "#### OKVQA" in text and "## Budget lookup table" in text


def test_nan_from_a_query_is_missing_never_printed():
    from budgetdb.reporting import ReportOptions, build_context
    from budgetdb.templates import render

    nan = float("nan")
    records = {
        "store_summary": [
            {
                "store_path": "/s.duckdb",
                "last_ingest_at": None,
                "last_ingest_version": None,
                "ingest_runs": 0,
                "roots": [],
                "files_counted": 0,
                "files_excluded": [],
                "samples_counted": 0,
                "samples_missing_prefill": 0,
                "samples_missing_latency": 0,
                "samples_in_excluded_files": 0,
            }
        ],
        "prefill_stats": [
            {
                "n": 3,
                "n_missing": 0,
                "min": nan,
                "p5": nan,
                "p25": nan,
                "p50": nan,
                "p75": nan,
                "p95": nan,
                "max": nan,
                "mean": nan,
                "std": nan,
            }
        ],
        "decode_stats": [
            {"n": 3, "n_missing": 0, "mean": nan, "p50": nan, "p95": nan, "output_tokens_mean": nan, "per_token_mean": nan}
        ],
        "config_points": [
            {"dataset": "okvqa", "accuracy": nan, "latency": 100.0, "excluded": "accuracy missing", "latency_source": "samples"}
        ],
        "frontier_summary": [{"dataset": "okvqa", "n_points": 0}],
        "budget_range": [
            {
                "min_latency": nan,
                "min_dataset": None,
                "max_latency": nan,
                "max_dataset": None,
                "lower": nan,
                "upper": nan,
                "budgets": [nan],
                "linspace": [],
            }
        ],
        "budget_lookup": [],
        # the uncertainty's queries (resamples > 0)
        "frontier_stability": [{"dataset": "okvqa", "n_points": 0, "hi_accuracy": nan}],
        "config_uncertainty": [{"dataset": "okvqa", "accuracy": nan, "acc_lo": nan, "p_frontier": nan}],
        "measure_next": [{"dataset": "okvqa", "n": 3, "p_frontier": nan, "why": "frontier", "s_d": nan, "gpu_hours": nan}],
    }
    for lang, resamples in (("zh", 0), ("en", 0), ("zh", 1000), ("en", 1000)):
        options = ReportOptions(lang=lang, budgetdb_version="t", resamples=resamples)
        text = render(f"report.{lang}.md.j2", build_context(records, [], options))
        assert leak(text) is None, leak(text)
        assert "p5 / p25" not in text and "np.random" not in text
