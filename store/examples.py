"""Which samples a result file holds, by example: what the decision between several files of one
configuration compares (plan.decide_group).

A sample is the example it measured (`metadata.example_id`) and its measurement (accuracy, the
stage latencies, output tokens, the answer). Two files of a configuration hold the same sample
when both have that example with that measurement: the recovery tool copies samples, it never
measures again. `sample_id` (a sample's position in its GPU's share) is kept aside: it tells a
padding repeat (the last of a share) from the example it repeats (the first of another share).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

MEASURED = (
    "accuracy",
    "T_vision_total",
    "T_LLM_prefill",
    "T_LLM_decode",
    "T_total",
    "T_decode_per_token",
    "output_tokens",
    "pred",
)


@dataclass(frozen=True)
class Sample:
    example_id: int | None
    sample_id: int | None
    measurement: tuple


@dataclass(frozen=True)
class Examples:
    """The samples of one file, in file order."""

    samples: tuple[Sample, ...]
    counts: Counter = field(init=False, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "counts", Counter((s.example_id, s.measurement) for s in self.samples))

    @property
    def identified(self) -> bool:
        """Does every sample name its example?"""
        return all(s.example_id is not None for s in self.samples)

    def within(self, other: Examples) -> bool:
        """Is every sample of this file (as many times as it occurs) also in `other`?"""
        return self.counts <= other.counts

    def ids(self) -> set[int]:
        return {s.example_id for s in self.samples if s.example_id is not None}

    def of(self, example_id: int) -> list[Sample]:
        return [s for s in self.samples if s.example_id == example_id]


def example_key(value) -> int | None:
    """metadata.example_id as an integer (what the samples view shows), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _comparable(value):
    """NaN equals NaN here (a copied sample is the same sample); everything else as written."""
    if isinstance(value, float) and math.isnan(value):
        return ("nan",)
    return value


def from_json(data: bytes) -> Examples | None:
    """The samples of a result file's bytes; None if they cannot be read as a list of objects."""
    try:
        body = json.loads(data)
    except ValueError:
        return None
    samples = body.get("per_sample_results") if isinstance(body, dict) else None
    if samples is None:
        return Examples(())
    if not isinstance(samples, list) or not all(isinstance(s, dict) for s in samples):
        return None
    return Examples(tuple(_sample(s) for s in samples))


def _sample(sample: dict) -> Sample:
    metadata = sample.get("metadata")
    example = example_key(metadata.get("example_id")) if isinstance(metadata, dict) else None
    sample_id = sample.get("sample_id")
    return Sample(
        example,
        sample_id if isinstance(sample_id, int) and not isinstance(sample_id, bool) else None,
        tuple(_comparable(sample.get(key)) for key in MEASURED),
    )


def from_rows(rows: Iterable[tuple]) -> Examples:
    """From stored rows of (example_id, sample_id, *MEASURED), in file order."""
    return Examples(tuple(Sample(row[0], row[1], tuple(_comparable(v) for v in row[2:])) for row in rows))
