"""The --max-rows and --time-limit options of `sql`, `query run` and `report`, made from the one
table of settings (budgetdb.queries.limits), and the time limit as the CLI enforces it."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from budgetdb.queries.limits import MAX_ROWS, STUCK_AFTER, TIME_LIMIT, time_limit

if TYPE_CHECKING:
    import duckdb

MaxRowsOption = Annotated[
    int | None,
    typer.Option(MAX_ROWS.option, min=0, metavar="N", help=MAX_ROWS.help, show_default=False),
]
TimeLimitOption = Annotated[float, typer.Option(TIME_LIMIT.option, min=0, metavar="SECONDS", help=TIME_LIMIT.help)]


@contextmanager
def stopping(con: duckdb.DuckDBPyConnection, seconds: float) -> Iterator[None]:
    """budgetdb.queries.limits.time_limit; and when a query does not stop after it (a read that
    blocks forever: a FIFO, a dead mount), the process ends with one line and exit code 1."""
    with time_limit(con, seconds, on_stuck=lambda: _give_up(seconds)):
        yield


def _give_up(seconds: float) -> None:
    sys.stderr.write(
        f"Error: the query was stopped after {seconds:g} s (its time limit) but did not end within {STUCK_AFTER:g} s more "
        "(a read that blocks, e.g. of a FIFO or a hung mount, never checks); exiting\n"
    )
    sys.stderr.flush()
    os._exit(1)  # the main thread is inside DuckDB and cannot be woken; the store was only read
