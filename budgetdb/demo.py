"""Synthetic profiling results in the harness's exact JSON shape (docs/result-format.md).

`make_result` builds one configuration file; `write_demo_tree` writes a whole
`core_exp_<hw>` tree with the awkward cases real trees hold (crashed shards,
leftover shards, logs, non-result JSON). Everything is deterministic for a seed.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATASETS = ("text-vqa", "coco-2014-vqa", "okvqa")
TIERS = {"low": (1, 3), "medium": (4, 8), "high": (9, 15)}
TOP_KS = (4, 6, 8)
BLOCKS = (12, 14, 16)
NUM_TOTAL_BLOCKS = 16
LATENCY_KEYS = ("T_vision_total", "T_LLM_prefill", "T_LLM_decode", "T_total", "T_decode_per_token")
CONFIGS = tuple(itertools.product(TIERS, TOP_KS, BLOCKS))

_PRETIER_CROPS = (1, 12)
_MAX_NEW_TOKENS = 20
_VQA_SCORES = (0.0, 1 / 3, 2 / 3, 1.0)
_GOLDEN = 0.6180339887498949
# Importance of each of the 16 blocks; a config with B blocks runs the B most important.
_BLOCK_IMPORTANCE = (0.98, 0.91, 0.62, 0.55, 0.47, 0.33, 0.41, 0.29, 0.36, 0.27, 0.44, 0.31, 0.52, 0.58, 0.77, 0.95)
_BLOCK_RANKING = sorted(range(NUM_TOTAL_BLOCKS), key=lambda i: -_BLOCK_IMPORTANCE[i])


@dataclass(frozen=True)
class _Profile:
    salt: int
    accuracy: tuple[float, float]  # expected accuracy at (low, 4, 12) and at (high, 8, 16)
    gains: tuple[tuple[float, float], ...]  # (weight, curvature) for tier, top_k, blocks
    crop_skew: float  # exponent on the image-size score: < 1 means larger images
    answer_tokens: float
    latency: float
    image_ids: str  # "hex" (TextVQA style) or "int" (COCO style)
    words: tuple[str, ...]
    questions: tuple[str, ...]


_OBJECTS = ("bus", "sign", "shirt", "bottle", "dog", "train", "car", "cake", "book", "kite", "clock", "plate")

_PROFILES = {
    "text-vqa": _Profile(
        1,
        (0.372, 0.772),
        ((0.55, 0.6), (0.25, 1.5), (0.20, 1.8)),
        0.6,
        3.6,
        1.1,
        "hex",
        ("stop", "coca cola", "2014", "nike", "exit", "main st", "samsung", "open", "12", "heineken"),
        (
            "what is written on the {}?",
            "what brand is the {}?",
            "what number is on the {}?",
            "what does the {} say?",
            "what is the year on the {}?",
        ),
    ),
    "coco-2014-vqa": _Profile(
        2,
        (0.652, 0.828),
        ((0.40, 1.0), (0.30, 1.6), (0.30, 1.2)),
        1.3,
        1.6,
        1.0,
        "int",
        ("yes", "no", "2", "red", "white", "black", "blue", "3", "green", "1"),
        (
            "what color is the {}?",
            "how many {}s are there?",
            "is there a {} in the picture?",
            "is the {} on the left?",
            "what is next to the {}?",
        ),
    ),
    "okvqa": _Profile(
        3,
        (0.362, 0.640),
        ((0.30, 5.0), (0.35, 1.4), (0.35, 1.3)),
        1.0,
        2.2,
        1.0,
        "int",
        ("plastic", "summer", "baseball", "pizza", "germany", "wood", "sleeping", "christmas", "steel", "tennis"),
        (
            "what is the {} made of?",
            "what season is it near the {}?",
            "what sport uses this {}?",
            "which country makes this {}?",
            "what is the {} used for?",
        ),
    ),
}

# Questions that exercise escaping: unicode, emoji, pipe, newline, backtick, asterisk.
_SPECIAL = (
    ("这个标志上写的是什么？", ("出口", "出口处", "入口", "出", "停车场")),
    ("What is the emoji on the sticker 😀?", ("smiley", "😀", "smile", "face", "heart")),
    ("Which team is shown: home | away?", ("home", "home team", "away", "both", "none")),
    ("Read the first line.\nWhat does it say?", ("welcome", "welcome in", "hello", "we", "exit")),
    ("What command is shown in `code`?", ("ls -la", "ls", "cd", "l", "rm")),
    ("Which word is in *bold* on the menu?", ("pizza*", "pizza", "pasta", "p", "salad")),
)
_SPECIAL_PERIOD = 211


@dataclass(frozen=True)
class DemoSummary:
    root: Path
    files: int
    result_files: int
    samples: int
    datasets: tuple[str, ...]


def _unit(ids: np.ndarray, salt: int) -> np.ndarray:
    """A uniform [0, 1) value per id (splitmix64 of id and salt)."""
    x = ids.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(salt * 0xD1B54A32D192ED03 % 2**64)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) / 2.0**53


def _profile(dataset: str) -> _Profile:
    return _PROFILES.get(dataset, _PROFILES["okvqa"])


def _gain(x: float, curvature: float) -> float:
    return (1 - math.exp(-curvature * x)) / (1 - math.exp(-curvature))


def _expected_accuracy(dataset: str, max_crops: int, top_k: int, blocks: int) -> float:
    """Mean accuracy of a config before noise: rises with each knob, with diminishing returns."""
    p = _profile(dataset)
    knobs = ((max_crops - 3) / 12, (top_k - 4) / 4, (blocks - 12) / 4)
    gain = sum(w * _gain(x, a) for (w, a), x in zip(p.gains, knobs, strict=True))
    return p.accuracy[0] + (p.accuracy[1] - p.accuracy[0]) * gain


def _active_blocks(blocks: int) -> list[int]:
    return sorted(_BLOCK_RANKING[:blocks])


def _tiling(crops: int, aspect: float) -> list[int]:
    pairs = [(r, crops // r) for r in range(1, crops + 1) if crops % r == 0]
    r, c = min(pairs, key=lambda rc: abs(math.log(rc[0] / rc[1]) - math.log(aspect)))
    return [r, c]


def _examples(dataset: str, ids: np.ndarray) -> dict:
    """Per-example facts that stay the same in every config of a dataset."""
    p = _profile(dataset)
    s = p.salt * 16
    width = 480 + (_unit(ids, s) * 545).astype(int)
    aspect = 0.56 + _unit(ids, s + 1) * 0.94
    height = (width * aspect).astype(int)
    tokens = 1 + np.floor(-np.log1p(-_unit(ids, s + 2)) * (p.answer_tokens - 0.5)).astype(int)
    odd = _unit(ids, s + 3)
    tokens[odd < 0.004] = _MAX_NEW_TOKENS
    tokens[(odd >= 0.004) & (odd < 0.012)] = 0
    if p.image_ids == "hex":
        image_ids = [f"{int(v * 2**53):014x}" for v in _unit(ids, s + 4)]
    else:
        image_ids = (9 + (_unit(ids, s + 4) * 581920).astype(int)).tolist()
    pick = (_unit(ids, s + 5) * 1e6).astype(int).tolist()
    questions, answers = [], []
    for ex, k in zip(ids.tolist(), pick, strict=True):
        if 1 <= ex % _SPECIAL_PERIOD <= len(_SPECIAL):
            q, words = _SPECIAL[ex % _SPECIAL_PERIOD - 1]
        else:
            q = p.questions[k % len(p.questions)].format(_OBJECTS[k // 7 % len(_OBJECTS)])
            words = tuple(p.words[(k // 97 + j) % len(p.words)] for j in (0, 1, 2, 3, 5))
        questions.append(q)
        answers.append(words)
    return {
        "difficulty": np.mod(ids * _GOLDEN + p.salt * 0.137, 1.0),
        "size": _unit(ids, s + 6) ** p.crop_skew,
        "image_size": np.stack([height, width], axis=1).tolist(),
        "aspect": (height / width).tolist(),
        "no_image": (_unit(ids, s + 7) < 0.002).tolist(),
        "answer_tokens": tokens,
        "text_tokens": [14 + round(1.3 * len(q.split())) for q in questions],
        "image_id": image_ids,
        "question": questions,
        "answer_words": answers,
        "question_id": [int(ex) * 10 + 3 + p.salt for ex in ids.tolist()],
    }


def _vqa_answers(words: tuple[str, ...]) -> list[str]:
    best, also_full, two, one, _ = words
    return [best, also_full, two, best, also_full, one, best, two, also_full, best]


def _stats(values: np.ndarray) -> tuple[float, float, float, float, float]:
    return (
        float(np.mean(values)),
        float(np.std(values)),
        float(np.percentile(values, 50)),
        float(np.percentile(values, 95)),
        float(np.percentile(values, 99)),
    )


def _latency_stats(samples: list[dict], per_step: bool = False) -> dict:
    if not samples:
        return {}
    out: dict[str, object] = {}
    for key in LATENCY_KEYS:
        stats = _stats(np.array([s[key] for s in samples], dtype=float))
        out.update(zip((f"{key}_{n}" for n in ("mean", "std", "p50", "p95", "p99")), stats, strict=True))
    if per_step:
        by_pos: dict[int, list[float]] = {}
        for s in samples:
            for pos, runs in enumerate(s.get("T_decode_per_step", [])):
                by_pos.setdefault(pos, []).extend(runs)
        out["T_decode_per_step_stats"] = {
            f"pos_{pos}": dict(zip(("mean", "std", "p50", "p95", "p99"), _stats(np.array(v)), strict=True), count=len(v))
            for pos, v in sorted(by_pos.items())
        }
    return out


def _mean_std(values: list, empty: float) -> tuple[float, float]:
    if not values:
        return empty, empty
    a = np.array(values, dtype=float)
    return float(np.mean(a)), float(np.std(a))


def _assemble(config: dict, samples: list[dict], per_step: bool = False) -> dict:
    """A result with its summary recomputed from `samples`, as the harness writes it."""
    crops = [s["actual_num_crops"] for s in samples]
    result = {k: config[k] for k in ("tier", "tier_range") if k in config}
    result["max_crops"] = config["max_crops"]
    result["selected_crops_distribution"] = {str(c): n for c, n in sorted(Counter(crops).items())}
    # The harness guards these means (they name the file); only actual_vision_tokens is left to NaN.
    result["selected_crops_mean"], result["selected_crops_std"] = _mean_std(crops, 0.0)
    target = [s["target_vision_tokens"] for s in samples]
    result["target_vision_tokens_mean"], result["target_vision_tokens_std"] = _mean_std(target, 0.0)
    actual = [s["actual_vision_tokens"] for s in samples]
    result["actual_vision_tokens_mean"], result["actual_vision_tokens_std"] = _mean_std(actual, math.nan)
    for key in ("top_k", "num_active_blocks", "num_total_blocks", "active_block_indices"):
        result[key] = copy.copy(config[key])
    result["num_samples"] = len(samples)
    result["accuracy"], result["accuracy_std"] = _mean_std([s["accuracy"] for s in samples], 0.0)
    result["latency_stats"] = _latency_stats(samples, per_step)
    result["per_sample_results"] = samples
    return result


def _decode_steps(rng: np.random.Generator, out_tokens: np.ndarray, step_ms: np.ndarray) -> list[list[list[float]]]:
    """[decode position][run] ms; most samples keep one run, a few keep three with a ragged tail."""
    positions = np.maximum(out_tokens - 1, 0)
    runs = np.where(rng.random(len(out_tokens)) < 0.02, 3, 1)
    counts = positions * runs - (runs > 1) * (positions > 0)
    values = (rng.lognormal(0.0, 0.04, int(counts.sum())) * np.repeat(step_ms, counts)).tolist()
    steps, at = [], 0
    for pos, r in zip(positions.tolist(), runs.tolist(), strict=True):
        sample = []
        for i in range(pos):
            take = r - 1 if r > 1 and i == pos - 1 else r
            sample.append(values[at : at + take])
            at += take
        steps.append(sample)
    return steps


def make_result(
    dataset: str,
    tier: str | None,
    top_k: int,
    blocks: int,
    n: int,
    *,
    rng: np.random.Generator,
    example_ids=None,
    quality: float = 0.0,
    speed: float = 1.0,
) -> dict:
    """One configuration result in the current shape.

    `quality` is added to the modelled mean accuracy; latencies are divided by `speed`.
    `tier=None` gives a pre-tier file (no tier keys, crops 1-12, config by max_crops).
    """
    min_crops, max_crops = TIERS[tier] if tier else _PRETIER_CROPS
    ids = np.arange(n) if example_ids is None else np.asarray(example_ids, dtype=np.int64)[:n]
    if len(ids) < n:
        raise ValueError(f"{n} samples need {n} example_ids, got {len(ids)}")
    prof = _profile(dataset)
    ex = _examples(dataset, ids)

    crops = min_crops + np.minimum(ex["size"] * (max_crops - min_crops + 1), max_crops - min_crops).astype(int)
    tilings = [None if no else _tiling(c, a) for c, a, no in zip(crops.tolist(), ex["aspect"], ex["no_image"], strict=True)]
    target_tokens = 144 * (crops + 1)
    actual_tokens = target_tokens + np.array([24 if t is None else 12 * (t[0] + 1) for t in tilings], dtype=int)
    text_tokens = np.array(ex["text_tokens"], dtype=int)
    seq = actual_tokens + text_tokens

    p = _expected_accuracy(dataset, max_crops, top_k, blocks) + quality
    u = ex["difficulty"] + rng.normal(0.0, 0.04, n)
    score = np.rint(3 * np.clip((p - u) / 0.2 + 0.5, 0.0, 1.0)).astype(int)

    answer = ex["answer_tokens"]
    answer = np.where(answer == 0, 0, np.maximum(answer + (rng.random(n) < 0.05) * rng.integers(-1, 2, n), 1))
    eos = answer < _MAX_NEW_TOKENS
    content = np.minimum(answer, _MAX_NEW_TOKENS)
    out_tokens = content + eos
    score[content == 0] = 0

    block_f = blocks / NUM_TOTAL_BLOCKS
    scale = prof.latency / speed
    vision = (6.0 + 3.0 * (crops + 1)) * rng.lognormal(0.0, 0.05, n) * scale
    tail = np.where(rng.random(n) < 0.004, 1 + np.minimum(rng.exponential(0.6, n), 1.8), 1.0)
    prefill = (117 + 0.024 * seq) * (0.4 + 0.6 * block_f) * (0.8 + 0.025 * top_k) * scale * rng.lognormal(0.0, 0.08, n) * tail
    step_ms = 22.0 * block_f * (0.75 + 0.03125 * top_k) * scale * rng.lognormal(0.0, 0.05, n)
    steps = _decode_steps(rng, out_tokens, step_ms)
    decode = np.array([sum(sum(r) / len(r) for r in s) for s in steps]) + rng.uniform(0.05, 0.4, n)
    total = vision + prefill + decode + (12.0 + 0.005 * seq) * rng.lognormal(0.0, 0.2, n)

    def tier_keys() -> dict:
        return {"tier": tier, "tier_range": {"min_crops": min_crops, "max_crops": max_crops}} if tier else {}

    samples = []
    cols = zip(
        range(n),
        out_tokens.tolist(),
        content.tolist(),
        eos.tolist(),
        ex["image_size"],
        ex["no_image"],
        crops.tolist(),
        tilings,
        target_tokens.tolist(),
        actual_tokens.tolist(),
        text_tokens.tolist(),
        seq.tolist(),
        score.tolist(),
        ex["answer_words"],
        ex["image_id"],
        ids.tolist(),
        ex["question"],
        ex["question_id"],
        vision.tolist(),
        prefill.tolist(),
        decode.tolist(),
        total.tolist(),
        steps,
        strict=False,
    )
    for (
        i,
        out,
        cont,
        end,
        size,
        no_image,
        c,
        tiling,
        tt,
        at,
        xt,
        sq,
        k,
        words,
        image_id,
        example_id,
        question,
        question_id,
        v,
        pf,
        dc,
        tot,
        step,
    ) in cols:
        sample = {"sample_id": i, **tier_keys()}
        sample.update(
            {
                "top_k": top_k,
                "num_active_blocks": blocks,
                "output_tokens": out,
                "content_tokens": cont,
                "ends_with_eos": end,
                "actual_image_size": None if no_image else size,
                "actual_num_crops": c,
                "actual_tiling": tiling,
                "target_vision_tokens": tt,
                "actual_vision_tokens": at,
                "actual_text_tokens": xt,
                "total_sequence_length": sq,
                "accuracy": _VQA_SCORES[k],
                "pred": "" if cont == 0 else words[(4, 3, 2, 0)[k]],
                "metadata": {
                    "image_id": image_id,
                    "example_id": example_id,
                    "question": question,
                    "question_id": question_id,
                    "answers": _vqa_answers(words),
                },
                "T_vision_total": v,
                "T_LLM_prefill": pf,
                "T_LLM_decode": dc,
                "T_total": tot,
                "T_decode_per_token": dc / out,
                "T_decode_per_step": step,
            }
        )
        samples.append(sample)

    config = dict(
        tier_keys(),
        max_crops=max_crops,
        top_k=top_k,
        num_active_blocks=blocks,
        num_total_blocks=NUM_TOTAL_BLOCKS,
        active_block_indices=_active_blocks(blocks),
    )
    return _assemble(config, samples)


def write_result(path, result: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    return path


def result_filename(dataset: str, tier: str, crops_mean: float, top_k: int, blocks: int, rank: int | None = None) -> str:
    suffix = "" if rank is None else f"_rank{rank}"
    return f"{dataset}_imgsizetier-{tier}_crops{int(crops_mean)}_topk{top_k}_blocks{blocks}{suffix}.json"


def _config_of(result: dict) -> dict:
    keys = ("tier", "tier_range", "max_crops", "top_k", "num_active_blocks", "num_total_blocks", "active_block_indices")
    return {k: copy.deepcopy(result[k]) for k in keys if k in result}


def split_shards(result: dict, ranks: int, *, order=None) -> list[dict]:
    """Rank shards as the multi-GPU harness writes them.

    Rank r takes the r-th contiguous chunk of `order` (the sampler's order of sample
    indices; default: file order) and numbers its samples from 0.
    """
    samples = result["per_sample_results"]
    order = np.arange(len(samples)) if order is None else np.asarray(order)
    shards = []
    for chunk in np.array_split(order, ranks):
        share = [dict(copy.deepcopy(samples[j]), sample_id=i) for i, j in enumerate(chunk.tolist())]
        shards.append(_assemble(_config_of(result), share))
    return shards


def merge_shards(shards: list[dict]) -> dict:
    """What rank 0 writes: samples concatenated in rank order, summary recomputed, per-step stats added."""
    samples = [copy.deepcopy(s) for shard in shards for s in shard["per_sample_results"]]
    return _assemble(_config_of(shards[0]), samples, per_step=True)


def _vision_token_stats(result: dict) -> dict:
    keys = [f"{k}_{s}" for k in ("target_vision_tokens", "actual_vision_tokens") for s in ("mean", "std")]
    return {k: result[k] for k in keys}


def to_aggregate_stats_shape(result: dict) -> dict:
    """The pre-2025-12-31 shape: `aggregate_stats` holds the latency and vision-token summaries."""
    vision = _vision_token_stats(result)
    out = {}
    for key, value in result.items():
        if key in vision:
            continue
        if key == "latency_stats":
            out["aggregate_stats"] = dict(copy.deepcopy(value), **vision)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _legacy_sample(s: dict, max_crops: int) -> dict:
    projector = s["T_vision_total"] * 0.12
    decode = s["T_total"] - s["T_vision_total"] - s["T_LLM_prefill"]
    tiling = s["actual_tiling"]
    return {
        "sample_id": s["sample_id"],
        "top_k": s["top_k"],
        "num_active_blocks": s["num_active_blocks"],
        "output_tokens": s["output_tokens"],
        "target_crops": max_crops,
        "num_crops": s["actual_num_crops"],
        "selected_crops": s["actual_num_crops"],
        "target_image_size": None if tiling is None else [336 * tiling[0], 336 * tiling[1]],
        "resize_to_fill": False,
        "actual_image_size": copy.copy(s["actual_image_size"]),
        "actual_tiling": copy.copy(tiling),
        "theoretical_vision_tokens": s["target_vision_tokens"],
        "selected_vision_tokens": s["target_vision_tokens"],
        "actual_vision_tokens": s["actual_vision_tokens"],
        "input_text_tokens": s["actual_text_tokens"],
        "accuracy": s["accuracy"],
        "pred": s["pred"],
        "metadata": copy.deepcopy(s["metadata"]),
        "T_vision_encoder": s["T_vision_total"] - projector,
        "T_projector": projector,
        "T_LLM_prefill": s["T_LLM_prefill"],
        "T_LLM_decode": decode,
        "T_total": s["T_total"],
        "T_decode_per_token": decode / s["output_tokens"],
    }


def to_legacy_shape(result: dict) -> dict:
    """The oldest shape: no tiers, split vision timing, decode derived by subtraction, `aggregate_stats`."""
    samples = [_legacy_sample(s, result["max_crops"]) for s in result["per_sample_results"]]
    timing = [dict(s, T_vision_total=s["T_vision_encoder"] + s["T_projector"]) for s in samples]
    out = {
        k: copy.deepcopy(result[k])
        for k in (
            "max_crops",
            "selected_crops_distribution",
            "selected_crops_mean",
            "selected_crops_std",
            "top_k",
            "num_active_blocks",
            "num_total_blocks",
            "active_block_indices",
            "num_samples",
            "accuracy",
            "accuracy_std",
        )
    }
    out["aggregate_stats"] = dict(_latency_stats(timing), **_vision_token_stats(result))
    out["per_sample_results"] = samples
    return out


def _experiment_name(index: int, samples_per_file: int) -> str:
    tag = f"{samples_per_file}samples_demo"
    return f"5run_{tag}" if index == 0 else f"run{index + 1}_{tag}"


def _run_log(experiments: list[str], crashed: tuple) -> str:
    dataset, (tier, top_k, blocks) = crashed
    lines = [f"[2026-01-{i % 28 + 1:02d} 09:00:00] starting experiment {name}" for i, name in enumerate(experiments)]
    lines += [
        f"[2026-01-01 13:12:44] rank1 {dataset} tier={tier} top_k={top_k} blocks={blocks}: "
        "RuntimeError: CUDA error: an illegal memory access was encountered",
        "[2026-01-01 13:12:45] rank0: NCCL watchdog timeout, aborting; shards left on disk",
    ]
    return "\n".join(lines) + "\n"


def _config_files(dataset: str, result: dict, role: str | None) -> list[tuple[str, dict]]:
    """(file name, body) pairs for one config: the merged file, or a crashed run's shards, or both."""

    def name(r: dict, rank: int | None = None) -> str:
        return result_filename(dataset, r["tier"], r["selected_crops_mean"], r["top_k"], r["num_active_blocks"], rank)

    if role is None:
        return [(name(result), result)]
    order = None
    if role == "merged":
        # A length-grouped sampler: rank 0 gets the fewest crops, so shard and merged crops numbers differ.
        order = np.argsort([s["actual_num_crops"] for s in result["per_sample_results"]], kind="stable")
    shards = split_shards(result, 2, order=order)
    files = [(name(shard, r), shard) for r, shard in enumerate(shards)]
    if role == "merged":
        merged = merge_shards(shards)
        files.insert(0, (name(merged), merged))
    return files


def _demo_result(seed: int, experiment: int, d: int, c: int, n: int) -> dict:
    """Config `c` of dataset `d` in one experiment: the model's config effect, the experiment's, and noise."""
    model = np.random.default_rng([seed, d])
    quality, speed = model.normal(0.0, 0.012, len(CONFIGS))[c], model.lognormal(0.0, 0.02, len(CONFIGS))[c]
    # Later experiments try other block-importance variants, all a little worse than the first.
    quality -= 0.02 * math.sqrt(experiment)
    speed /= 1 + 0.02 * math.sqrt(experiment)
    rng = np.random.default_rng([seed, d, experiment, c])
    return make_result(
        DATASETS[d], *CONFIGS[c], n, rng=rng, quality=quality + rng.normal(0.0, 0.004), speed=speed * rng.lognormal(0.0, 0.01)
    )


def write_demo_tree(
    root, *, samples: int = 6480, samples_per_file: int | None = None, hardware: str = "h100", seed: int = 0, progress=None
) -> DemoSummary:
    """Write `root/core_exp_<hardware>/<experiment>/<dataset>/*.json` and return what was written.

    ceil(samples / samples_per_file) config files (at least one full experiment of 81) share
    exactly `samples` samples; `samples_per_file` defaults to min(2000, ceil(samples / 81)).
    Experiments hold 81 files each; the last one may hold fewer (its first configs, for every
    dataset). Files get zero samples only when `samples` < 81. The first experiment also holds
    a crashed config (rank shards only), a merged config with leftover shards and a
    `layer_importance_scores.json`; `logs/run.log` sits under the hardware folder.
    """
    per_exp = len(DATASETS) * len(CONFIGS)
    spf = samples_per_file or min(2000, max(1, math.ceil(samples / per_exp)))
    n_files = max(per_exp, math.ceil(samples / spf))
    experiments = [_experiment_name(e, spf) for e in range(math.ceil(n_files / per_exp))]
    slots = list(itertools.product(range(len(experiments)), range(len(CONFIGS)), range(len(DATASETS))))[:n_files]
    roles = {("text-vqa", ("medium", 6, 14)): "crashed", ("coco-2014-vqa", ("high", 8, 12)): "merged"}
    hw_root = Path(root) / f"core_exp_{hardware}"
    total = n_files + 3 + 2  # + 1 for the crashed config's second shard, + 2 leftover shards; log; scores
    written = counted = 0

    def wrote() -> None:
        nonlocal written
        written += 1
        if progress:
            progress(written, total)

    for i, (e, c, d) in enumerate(slots):
        dataset, config = DATASETS[d], CONFIGS[c]
        result = _demo_result(seed, e, d, c, samples // n_files + (i < samples % n_files))
        counted += result["num_samples"]
        role = roles.get((dataset, config)) if e == 0 else None
        for name, body in _config_files(dataset, result, role):
            write_result(hw_root / experiments[e] / dataset / name, body)
            wrote()

    write_result(
        hw_root / experiments[0] / "layer_importance_scores.json",
        {"num_blocks": NUM_TOTAL_BLOCKS, "scores": list(_BLOCK_IMPORTANCE), "ranking": _BLOCK_RANKING},
    )
    wrote()
    log = hw_root / "logs" / "run.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(_run_log(experiments, next(k for k, r in roles.items() if r == "crashed")), encoding="utf-8")
    wrote()
    return DemoSummary(hw_root, written, written - 2, counted, DATASETS)
