"""With the seed's data the report prints the seed's figures (docs/analysis.md, last section):
in zh line for line as the seed document writes them, in en the same numbers."""

from __future__ import annotations

import pytest

from report_helpers import leak, report, section

# Lines of ../shared/seed/latency_budget_analysis.md, copied from the seed document.
SEED_ZH_LINES = [
    "# Latency Budget范围分析",
    "## 分析结果（基于3个数据集）",
    "> - min: **68.7 ms**",
    "> - p5 / p25 / median / p75 / p95: **102.3 / 119.7 / 135.0 / 151.7 / 175.3 ms**",
    "> - max: **607.7 ms**（极端长尾）",
    "> - mean / std: **136.3 / 22.2 ms**",
    "> - 训练/验证的预算采样范围：**100 ms – 180 ms**（覆盖 p5–p95，剔除长尾）",
    "> - 如果需要更保险的上界，可放宽到 **200 ms**，但仍保持主要约束在 prefill。",
    "> - 软罚项：`latency_penalty = max(0, prefill - budget_prefill) + α * max(0, decode - decode_target)`，"
    "其中 α 取 0.1~0.2；`decode_target` 可按生成 token 数（如 16）或经验均值设定。",
    "- **最小latency (下界)**: **166.49ms** (COCO-2014-VQA最低accuracy点)",
    "- **最大latency (上界)**: **371.52ms** (Text-VQA最高accuracy点)",
    "- **平均最小latency**: 187.65ms",
    "- **平均最大latency**: 318.48ms",
    "- **中位数最小latency**: 177.90ms",
    "- **中位数最大latency**: 294.69ms",
    "**建议范围**: **170ms - 380ms**",
    "- **下界 (170ms)**: 略高于最小latency (166.49ms)，确保有足够的配置空间",
    "- **上界 (380ms)**: 略高于最大latency (371.52ms)，覆盖所有Pareto frontier点",
    "latency_budgets = np.linspace(170, 380, num=10)  # 10个均匀分布的budget值",
    "latency_budget = np.random.uniform(170, 380)",
    "latency_budget = np.random.choice([170, 200, 250, 300, 350, 380])",
]
SEED_ZH_DATASETS = """\
#### Text-VQA
- **Pareto frontier点数**: 14
- **最高accuracy**: 0.7680 @ **371.52ms** (config: high tier, top_k=8, blocks=16)
- **最低accuracy**: 0.3778 @ **218.56ms** (config: low tier, top_k=4, blocks=12)
- **Latency范围**: 218.56ms - 371.52ms

#### COCO-2014-VQA
- **Pareto frontier点数**: 15
- **最高accuracy**: 0.8255 @ **294.69ms** (config: high tier, top_k=8, blocks=16)
- **最低accuracy**: 0.6535 @ **166.49ms** (config: low tier, top_k=4, blocks=12)
- **Latency范围**: 166.49ms - 294.69ms

#### OKVQA
- **Pareto frontier点数**: 11
- **最高accuracy**: 0.6443 @ **289.24ms** (config: medium tier, top_k=8, blocks=16)
- **最低accuracy**: 0.3662 @ **177.90ms** (config: low tier, top_k=4, blocks=12)
- **Latency范围**: 177.90ms - 289.24ms

---
"""
SEED_ZH_BUDGETS = """\
```python
# 建议的budget值
latency_budgets = [
    170,   # 接近下界
    200,   # 低budget
    250,   # 中等budget
    300,   # 高budget
    350,   # 接近上界
    380,   # 上界
]
```
"""


@pytest.fixture(scope="module")
def seed_zh(seed_store):
    return report(seed_store)


@pytest.fixture(scope="module")
def seed_en(seed_store):
    return report(seed_store, lang="en")


def test_zh_prints_the_seed_figures_as_the_seed_does(seed_zh):
    lines = seed_zh.split("\n")
    for line in SEED_ZH_LINES:
        assert line in lines, line
    assert "（总计 1,638,588 条样本）：" in seed_zh
    assert SEED_ZH_DATASETS in seed_zh
    assert SEED_ZH_BUDGETS in seed_zh
    assert leak(seed_zh) is None


def test_en_prints_the_same_numbers(seed_en):
    expected = [
        "(1,638,588 samples in total)",
        "- min: **68.7 ms**",
        "- p5 / p25 / median / p75 / p95: **102.3 / 119.7 / 135.0 / 151.7 / 175.3 ms**",
        "- max: **607.7 ms** (an extreme long tail)",
        "- mean / std: **136.3 / 22.2 ms**",
        "**100 ms – 180 ms**",
        "widen it to **200 ms**",
        "with α in 0.1~0.2",
        "- **Minimum latency (lower bound)**: **166.49ms** (COCO-2014-VQA lowest-accuracy point)",
        "- **Maximum latency (upper bound)**: **371.52ms** (Text-VQA highest-accuracy point)",
        "- **Mean minimum latency**: 187.65ms",
        "- **Mean maximum latency**: 318.48ms",
        "- **Median minimum latency**: 177.90ms",
        "- **Median maximum latency**: 294.69ms",
        "**Recommended range**: **170ms - 380ms**",
        "np.linspace(170, 380, num=10)",
        "np.random.uniform(170, 380)",
        "np.random.choice([170, 200, 250, 300, 350, 380])",
    ]
    for text in expected:
        assert text in seed_en, text
    frontiers = {
        "Text-VQA": (
            "14",
            "0.7680 @ **371.52ms** (config: high tier, top_k=8, blocks=16)",
            "0.3778 @ **218.56ms** (config: low tier, top_k=4, blocks=12)",
            "218.56ms - 371.52ms",
        ),
        "COCO-2014-VQA": (
            "15",
            "0.8255 @ **294.69ms** (config: high tier, top_k=8, blocks=16)",
            "0.6535 @ **166.49ms** (config: low tier, top_k=4, blocks=12)",
            "166.49ms - 294.69ms",
        ),
        "OKVQA": (
            "11",
            "0.6443 @ **289.24ms** (config: medium tier, top_k=8, blocks=16)",
            "0.3662 @ **177.90ms** (config: low tier, top_k=4, blocks=12)",
            "177.90ms - 289.24ms",
        ),
    }
    for name, (n, hi, lo, span) in frontiers.items():
        assert section(seed_en, f"#### {name}").startswith(
            f"- **Pareto frontier points**: {n}\n- **Highest accuracy**: {hi}\n"
            f"- **Lowest accuracy**: {lo}\n- **Latency range**: {span}\n"
        )
    assert [seed_en.index(f"#### {name}") for name in frontiers] == sorted(seed_en.index(f"#### {name}") for name in frontiers)
    assert "    170,   # near the lower bound\n" in seed_en and "    380,   # upper bound\n]" in seed_en
    assert leak(seed_en) is None


def test_the_lookup_table_ends_on_the_seed_frontier_tops(seed_en):
    table = section(seed_en, "## Budget lookup table")
    # at the upper bound every dataset gets its highest-accuracy frontier point (analysis.md)
    assert "| 380ms | Text-VQA | 0.7680 | 371.52ms | 8.48ms | high tier, top_k=8, blocks=16 |" in table
    assert "| 380ms | COCO-2014-VQA | 0.8255 | 294.69ms | 85.31ms | high tier, top_k=8, blocks=16 |" in table
    assert "| 380ms | OKVQA | 0.6443 | 289.24ms | 90.76ms | medium tier, top_k=8, blocks=16 |" in table
    # at the lower bound only COCO-2014-VQA's lowest point (166.49ms) fits
    assert "| 170ms | COCO-2014-VQA | 0.6535 | 166.49ms | 3.51ms | low tier, top_k=4, blocks=12 |" in table
    assert "| 170ms | Text-VQA | — | — | — | no config fits |" in table
    assert "| 170ms | OKVQA | — | — | — | no config fits |" in table
    assert len([line for line in table.split("\n") if line.startswith("| ") and "ms |" in line]) == 6 * 3
