"""Many writers on one store: retry write conflicts, and never keep a file's rows twice.

A DuckDB file has one writer at a time (its lock; `--wait`). A DuckLake on PostgreSQL takes many
at once, with optimistic concurrency: a commit that logically conflicts with one made since the
transaction began fails ("Transaction conflict ..."; DuckLake's deletes and updates conflict
with any concurrent insert into the same table). Such a failure is retried here, with
exponential backoff and jitter, and reported only when it persists.

Ingest needs one more guard. DuckLake has no UNIQUE constraint, and two transactions that
both insert a file that was not stored yet do not conflict, so two writers ingesting the same
file at the same moment would both land it. Rather than serialise every writer, each ingest
run checks after it committed (and before it starts) that no file is stored twice; a doubled
file is marked stale and rewritten by the next attempt, whose delete-and-insert of that file
removes both copies in one transaction (two writers repairing at once conflict, and the loser
retries and finds it done). The check is a GROUP BY over file_records: one row per file.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from budgetdb.errors import StoreConflictError

from .duckdb_messages import conflict_line, is_conflict
from .summary import IngestSummary, merge_summaries
from .transaction import atomic, rollback_quietly

if TYPE_CHECKING:
    import duckdb

T = TypeVar("T")

# A transaction that deletes (a rewrite, a repair) conflicts with every commit other writers
# make to the same table meanwhile, so under steady traffic it may lose many times in a row:
# it keeps trying until the others pause. Only a conflict that outlasts PATIENCE is reported.
PATIENCE = 600.0  # seconds
FIRST_DELAY = 0.05  # seconds; doubles per attempt up to MAX_DELAY, with full jitter
MAX_DELAY = 2.0
REPAIR_ROUNDS = 5  # ingest attempts that found doubled files to rewrite


def retrying(con: duckdb.DuckDBPyConnection, body: Callable[[], T], *, what: str, patience: float | None = None) -> T:
    """Run `body` (which begins and commits its own transactions) until it does not conflict,
    for up to `patience` seconds (PATIENCE)."""
    deadline = time.monotonic() + (PATIENCE if patience is None else patience)
    attempt = 0
    while True:
        attempt += 1
        try:
            return body()
        except Exception as exc:
            if not is_conflict(exc):
                raise
            rollback_quietly(con)
            if time.monotonic() >= deadline:
                raise StoreConflictError(
                    f"{what}: other writers kept committing conflicting changes ({attempt} attempts); "
                    f"run it again when they are done. Last conflict: {conflict_line(exc)}"
                ) from exc
            time.sleep(random.uniform(0, min(MAX_DELAY, FIRST_DELAY * 2 ** min(attempt - 1, 16))))


# -- ingest: retries plus the doubled-file check -----------------------------------------------

_DOUBLED = "SELECT file_id FROM file_records GROUP BY file_id HAVING count(*) > 1 ORDER BY file_id"

# size -1 and no sha256: the next ingest of the file reads it again and rewrites every copy
_MARK_STALE = "UPDATE file_records SET size = -1, sha256 = NULL WHERE list_contains($ids, file_id)"


def mark_doubled_stale(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Find files stored more than once and mark them for rewriting; return their ids."""

    def body() -> list[int]:
        doubled = [row[0] for row in con.execute(_DOUBLED).fetchall()]
        if doubled:
            with atomic(con):
                con.execute(_MARK_STALE, {"ids": doubled})
        return doubled

    return retrying(con, body, what="checking for files stored twice")


def ingest_until_clean(con: duckdb.DuckDBPyConnection, attempt: Callable[[], IngestSummary]) -> IngestSummary:
    """Run an ingest attempt (a fresh `_Run(...).execute`) until it commits without conflict
    and leaves no file stored twice; return the merged summary of the attempts that landed."""
    mark_doubled_stale(con)
    landed = []
    for _ in range(REPAIR_ROUNDS):
        landed.append(retrying(con, attempt, what="ingest"))
        if not mark_doubled_stale(con):
            break
    return merge_summaries(landed)
