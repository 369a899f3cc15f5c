"""The one place a transaction begins and ends: `with atomic(con): ...`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb

from . import interrupts


@contextmanager
def atomic(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Commit what the block did, or roll it all back if it raised (the exception goes on).

    A failed COMMIT (a DuckLake conflict, say) has already ended the transaction: its error goes
    on as it is, with no second error from a ROLLBACK of nothing. A Ctrl-C that came while the
    block ran, even one something swallowed, rolls it back instead (store/interrupts.py).
    """
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
        interrupts.check()
    except BaseException:
        rollback_quietly(con)
        raise
    con.execute("COMMIT")


@contextmanager
def snapshot(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Reads inside the block see one state of the store; nothing is written, so it ends in ROLLBACK."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    finally:
        rollback_quietly(con)


def rollback_quietly(con: duckdb.DuckDBPyConnection) -> None:
    """End any open transaction; a failed DuckLake COMMIT has already ended it."""
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:
        pass


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> Any:
    """The one value an aggregate query returns (its first column of its one row)."""
    row = con.execute(sql, params).fetchone()
    if row is None:
        raise LookupError(f"no row from: {sql}")
    return row[0]
