"""What an ingest run did: one Outcome per file, and the run's totals."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

OUTCOMES = ("new", "updated", "unchanged", "moved", "superseded", "skipped", "failed", "vanished", "pruned")


@dataclass
class Outcome:
    """What this run did with one file."""

    path: str
    rel_path: str
    outcome: str
    reason: str | None = None
    warnings: list[str] = field(default_factory=list)
    samples: int = 0


@dataclass
class IngestSummary:
    run_id: int
    outcomes: list[Outcome]
    samples_added: int = 0
    nan_latencies: int = 0
    zero_latencies: int = 0
    bytes_read: int = 0
    seconds: float = 0.0
    workers: int = 0  # processes that fingerprinted files (0: the ingesting process did)

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(OUTCOMES, 0)
        for outcome in self.outcomes:
            counts[outcome.outcome] += 1
        return counts

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.outcome == "failed"]


_WRITES = ("new", "updated", "moved", "superseded", "pruned")


def merge_summaries(summaries: list[IngestSummary]) -> IngestSummary:
    """One summary for attempts that each landed part of the work: per file the last outcome,
    except that `unchanged` (or a repair's `updated`) never hides what an earlier attempt wrote."""
    if len(summaries) == 1:
        return summaries[0]
    merged: dict[str, Outcome] = {}
    for summary in summaries:
        for outcome in summary.outcomes:
            earlier = merged.get(outcome.path)
            if earlier is not None and earlier.outcome in _WRITES and outcome.outcome in ("unchanged", "updated"):
                continue
            merged[outcome.path] = outcome
    outcomes = sorted(merged.values(), key=lambda o: o.path)
    return dataclasses.replace(
        summaries[-1],
        outcomes=outcomes,
        samples_added=sum(o.samples for o in outcomes if o.outcome in ("new", "updated")),
        nan_latencies=sum(s.nan_latencies for s in summaries),
        zero_latencies=sum(s.zero_latencies for s in summaries),
        bytes_read=sum(s.bytes_read for s in summaries),
        seconds=sum(s.seconds for s in summaries),
        workers=max(s.workers for s in summaries),
    )
