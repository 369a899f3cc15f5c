"""Result trees as the profiling harness and its recovery tool leave them, built for the tests
from ../shared/docs/result-format.md (this is no copy of either program).

- `shares`: PyTorch's DistributedSampler(shuffle=False, drop_last=False) over a list of
  examples: padded to a multiple of the number of processes by repeating its first examples,
  process r taking positions r, r+W, r+2W...
- `write_run`: every process measures its share (a repeat is measured again, by another
  process) and writes `{base}_crops{C_r}_..._rank{r}.json` with its own crops number; unless the
  job was killed, process 0 then writes the merged file (samples in rank order, summary
  recomputed) under its own crops number and deletes the shards it can name, which are the
  ones with its crops number.
- `recovery_tool`: merge_rank_results.py as documented: every `*_rank*.json` grouped by
  (folder, name without `_rank<R>`), each group concatenated in rank order into `{name}.json`
  with an `aggregate_stats` summary and the first shard's stale `latency_stats`, a group whose
  output exists skipped, the grouped shards deleted.

Sample records come from budgetdb.demo.make_result (the current shape), one process per rng, so
two measurements of one example differ.
"""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from budgetdb import demo

_RANK = re.compile(r"^(?P<name>.+)_rank(?P<rank>\d+)\.json$")


def shares(examples: list[int], world: int) -> list[list[int]]:
    total = -(-len(examples) // world) * world
    padded = [examples[i % len(examples)] for i in range(total)]
    return [padded[r::world] for r in range(world)]


def name(dataset: str, tier: str, crops: int, top_k: int, blocks: int, rank: int | None = None) -> str:
    suffix = "" if rank is None else f"_rank{rank}"
    return f"{dataset}_imgsizetier-{tier}_crops{crops}_topk{top_k}_blocks{blocks}{suffix}.json"


def write(path: Path, body: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, indent=2), encoding="utf-8")  # json.dump, indent=2, NaN allowed
    return path


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass
class Run:
    """What one run of one configuration measured and left on disk."""

    dataset: str
    tier: str
    top_k: int
    blocks: int
    shards: list[dict]  # every process's share, in rank order
    merged: Path | None = None
    left: list[Path] = field(default_factory=list)  # shard files still on disk

    @property
    def samples(self) -> list[dict]:
        """Every sample measured, in rank order: what the configuration must hold."""
        return [s for shard in self.shards for s in shard["per_sample_results"]]


def write_run(
    folder: Path,
    dataset: str,
    tier: str,
    top_k: int,
    blocks: int,
    examples: list[int],
    world: int,
    crops: list[int],
    seed: int,
    *,
    killed: bool = False,
    change=None,
) -> Run:
    """One configuration run on `world` processes; `crops[r]` is the crops number process r
    puts in its file names; `change(sample)` edits each measured sample (e.g. one-token decode)."""
    bodies = []
    for rank, share in enumerate(shares(examples, world)):
        rng = np.random.default_rng([seed, rank])
        body = demo.make_result(dataset, tier, top_k, blocks, len(share), rng=rng, example_ids=share)
        if change is not None:
            for sample in body["per_sample_results"]:
                change(sample)
        body["selected_crops_mean"] = crops[rank] + 0.25  # the name takes int() of it
        bodies.append(body)
    run = Run(dataset, tier, top_k, blocks, bodies)
    paths = [write(folder / name(dataset, tier, crops[r], top_k, blocks, r), b) for r, b in enumerate(bodies)]
    if killed:
        run.left = paths
        return run
    run.merged = write(folder / name(dataset, tier, crops[0], top_k, blocks), demo.merge_shards(bodies))
    for rank in range(world):  # process 0 deletes the shards it can name: its own crops number
        (folder / name(dataset, tier, crops[0], top_k, blocks, rank)).unlink(missing_ok=True)
    run.left = [p for p in paths if p.exists()]
    return run


def recovery_tool(root: Path) -> list[Path]:
    """merge_rank_results.py over `root`; returns the files it wrote."""
    groups: dict[tuple[Path, str], list[tuple[int, Path]]] = {}
    for path in sorted(root.rglob("*_rank*.json")):
        match = _RANK.match(path.name)
        if match:
            groups.setdefault((path.parent, match.group("name")), []).append((int(match.group("rank")), path))
    written = []
    for (folder, base), members in sorted(groups.items()):
        out = folder / f"{base}.json"
        if out.exists():
            continue
        members.sort()
        bodies = [load(p) for _, p in members]
        merged = {k: copy.deepcopy(v) for k, v in bodies[0].items() if k != "per_sample_results"}  # stale latency_stats
        merged["per_sample_results"] = [s for b in bodies for s in b["per_sample_results"]]
        merged["num_samples"] = len(merged["per_sample_results"])
        summary = demo.to_aggregate_stats_shape(demo.merge_shards(bodies))["aggregate_stats"]
        merged["aggregate_stats"] = summary  # written after the samples
        written.append(write(out, merged))
        for _, path in members:
            path.unlink()
    return written


# -- what a configuration holds ------------------------------------------------------------------

PRINT = ("sample_id", "accuracy", "T_total", "T_LLM_prefill", "T_LLM_decode", "output_tokens", "pred")


def sample_print(sample: dict) -> tuple:
    """A sample as the tests compare it: its example and measurement, exactly."""
    return (sample["metadata"]["example_id"], *(sample.get(k) for k in PRINT))


def expected_prints(samples: list[dict]) -> Counter:
    return Counter(sample_print(s) for s in samples)


_STORED = f"""
SELECT f.hardware, f.experiment, f.dataset, f.variant, f.top_k, f.num_active_blocks,
       TRY_CAST(json_extract_string(s.metadata, '$.example_id') AS BIGINT), {", ".join(f"s.{k}" for k in PRINT)}
FROM sample_records s JOIN file_records f USING (file_id)
WHERE f.status = 'ingested'
"""


def stored_prints(con) -> dict[tuple, Counter]:
    """{(hardware, experiment, dataset, variant, top_k, blocks): Counter of sample prints}."""
    found: dict[tuple, Counter] = {}
    for row in con.execute(_STORED).fetchall():
        found.setdefault(tuple(row[:6]), Counter())[tuple(row[6:])] += 1
    return found


def first_occurrences(run: Run) -> list[dict]:
    """The samples a statistic counts: each example once, its first measurement in the sampler's
    order (position in a share, then rank)."""
    ordered = sorted(
        ((i, rank, s) for rank, shard in enumerate(run.shards) for i, s in enumerate(shard["per_sample_results"])),
        key=lambda t: (t[0], t[1]),
    )
    seen, out = set(), []
    for _, _, sample in ordered:
        example = sample["metadata"]["example_id"]
        if example not in seen:
            seen.add(example)
            out.append(sample)
    return out
