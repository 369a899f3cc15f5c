"""The limits on user-run SQL, in one table, and the time limit that enforces one of them.

As datasette keeps its limits in one table of `Setting(name, default, help)`: `budgetdb sql`,
`budgetdb query run` and `budgetdb report` take their options' defaults and help from here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .registry import QueryError

if TYPE_CHECKING:
    import duckdb


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")


MAX_ROWS = Setting(
    "max_rows",
    1000,
    "Print at most N rows (0: all); says so on stderr when it cut. Default: the table, line and markdown "
    "formats stop at 1,000 rows; csv and json print every row.",
)
TIME_LIMIT = Setting(
    "time_limit",
    30.0,
    "Stop with an error after this many seconds of running the queries and fetching their rows (0: no limit).",
)
SETTINGS = {setting.name: setting for setting in (MAX_ROWS, TIME_LIMIT)}

# After the time limit interrupts DuckDB, how long a query may take to notice before it is
# declared stuck (a read blocked on a FIFO or a hung network mount never checks for interrupts).
STUCK_AFTER = 5.0
MAX_SECONDS = 1e9  # about 31 years: larger ones overflow the platform's timers


class QueryTimeoutError(QueryError):
    """A query ran past its time limit and was stopped."""


def timeout_message(seconds: float, option: str = TIME_LIMIT.option) -> str:
    return f"the query was stopped after {seconds:g} s (its time limit); narrow it down or raise {option} (0: no limit)"


@contextmanager
def time_limit(
    con: duckdb.DuckDBPyConnection, seconds: float | None, *, on_stuck: Callable[[], None] | None = None
) -> Iterator[None]:
    """Interrupt `con`'s query once the block has run `seconds` (None or 0: never); the
    interrupted query raises QueryTimeoutError, also when wrapped in another error.

    `on_stuck` is called (from another thread) when the block still runs STUCK_AFTER seconds
    after the interrupt: DuckDB checks for interrupts between chunks, so a read that blocks
    (a FIFO, a dead mount) never sees it. The CLI passes a function that ends the process.
    """
    if seconds is not None and not (0 <= seconds <= MAX_SECONDS):  # NaN too
        raise QueryTimeoutError(
            f"{TIME_LIMIT.option} must be between 0 (no limit) and {MAX_SECONDS:,.0f} seconds, got {seconds!r}"
        )
    if not seconds:
        yield
        return
    fired = threading.Event()
    finished = threading.Event()

    def stop() -> None:
        # DuckDB forgets an interrupt that comes between two queries (the report runs many):
        # keep interrupting until the block is over
        fired.set()
        while not finished.is_set():
            con.interrupt()
            finished.wait(0.05)

    timers = [threading.Timer(seconds, stop)]
    if on_stuck is not None:
        timers.append(threading.Timer(seconds + STUCK_AFTER, on_stuck))
    for timer in timers:
        timer.daemon = True
        timer.start()
    try:
        yield
    except Exception as exc:
        if fired.is_set() and _interrupted(exc):
            raise QueryTimeoutError(timeout_message(seconds)) from None
        raise
    finally:
        finished.set()
        for timer in timers:
            timer.cancel()


def _interrupted(exc: BaseException | None) -> bool:
    import duckdb  # not at module level: the CLI's options read this module at start-up

    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, duckdb.InterruptException):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False
