"""`budgetdb ingest`: bring result files into the store completely, once, and atomically.

A run plans, then applies. The plan (store/planner.py, rules in store/plan.py) finds the files,
leaves alone those whose size and mtime (then sha256) are as stored, fingerprints the rest in
worker processes, and decides per configuration which files' samples count; `apply` writes each
unit of configurations in one transaction, so a killed run leaves every configuration either as
it was or complete. `plan_ingest` is the same plan, written nowhere (`ingest --dry-run`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from . import concurrency, interrupts
from .apply import ApplyOptions, apply
from .plan import Plan
from .planner import PlanOptions, make_plan
from .summary import IngestSummary

MAX_FILE_BYTES = 256 << 20  # real result files are a few MB; ingest needs ~10x a file in memory
BATCH_BYTES = 512 << 20

Progress = Callable[[str, int, int, int, int], None]  # (phase, done, total, samples added, bytes read)


@dataclass(frozen=True)
class IngestOptions:
    hardware: str | None = None
    prune: bool = False
    strict: bool = False
    max_file_bytes: int = MAX_FILE_BYTES
    batch_bytes: int = BATCH_BYTES
    workers: int | None = None  # processes that fingerprint files; None: one per core when worth it; 1: this one

    def planning(self) -> PlanOptions:
        return PlanOptions(self.hardware, self.prune, self.max_file_bytes, self.batch_bytes, self.workers)


def ingest(
    con: duckdb.DuckDBPyConnection,
    paths: Sequence,
    options: IngestOptions = IngestOptions(),
    progress: Progress | None = None,
) -> IngestSummary:
    """Ingest `paths` into the store behind `con`; a Ctrl-C ends the run (KeyboardInterrupt)."""
    paths = [Path(p) for p in paths]

    def attempt() -> IngestSummary:
        # a fresh plan per attempt: another writer's commit may have changed what is stored
        started = time.monotonic()
        plan = make_plan(con, paths, options.planning(), progress)
        interrupts.check()
        return apply(con, plan, paths, ApplyOptions(options.strict, options.batch_bytes), progress, started)

    with interrupts.watching():
        try:
            return concurrency.ingest_until_clean(con, attempt)
        except duckdb.InterruptException as exc:
            # nothing but a Ctrl-C interrupts ingest's queries (no time limit runs here)
            raise KeyboardInterrupt from exc


def plan_ingest(
    con: duckdb.DuckDBPyConnection | None, paths: Sequence, options: IngestOptions = IngestOptions(), progress=None
) -> Plan:
    """What `ingest` would do, changing nothing (`con` None: as into a new store)."""
    with interrupts.watching():
        return make_plan(con, [Path(p) for p in paths], options.planning(), progress)
