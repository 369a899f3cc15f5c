"""Analyst SQL, run safely (as datasette does): reading statements only, a row cap and a time limit."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import duckdb

from budgetdb.errors import ReadOnlyError

from .registry import QueryError, QueryRunError

# SHOW, DESCRIBE, SUMMARIZE, PRAGMA and FROM-first queries parse as SELECT too
READING = {duckdb.StatementType.SELECT: "SELECT", duckdb.StatementType.EXPLAIN: "EXPLAIN"}


class QueryTimeoutError(QueryError):
    """Analyst SQL ran past its time limit and was stopped."""


@dataclass(frozen=True)
class SqlResult:
    columns: list[str]
    rows: list[tuple]
    truncated: bool  # more rows than max_rows existed; only the first max_rows are here


def sql(con, text: str, *, max_rows: int = 1000, time_limit: float = 30.0) -> SqlResult:
    """Run `text` (one or more reading statements) on `con`; return the last statement's rows.

    At most `max_rows` rows are kept (0: all). After `time_limit` seconds (0: none) the query is
    interrupted. A statement that could change anything is refused before anything runs.
    """
    try:
        statements = con.extract_statements(text)
    except duckdb.Error as exc:
        raise QueryRunError(f"cannot parse the SQL: {exc}") from None
    if not statements:
        raise QueryRunError("no SQL statement given")
    for number, statement in enumerate(statements, start=1):
        if statement.type not in READING:
            kind = statement.type.name.replace("_", " ")
            where = f"statement {number} is" if len(statements) > 1 else "this is"
            raise ReadOnlyError(
                f"budgetdb sql only reads ({', '.join(sorted(set(READING.values())))}, WITH, SHOW, DESCRIBE); "
                f"{where} a {kind} statement. The store changes only through `budgetdb ingest`."
            )
    timer = threading.Timer(time_limit, con.interrupt) if time_limit and time_limit > 0 else None
    if timer:
        timer.start()
    try:
        for statement in statements[:-1]:
            con.execute(statement).fetchall()
        cursor = con.execute(statements[-1])
        columns = [d[0] for d in cursor.description or []]
        if max_rows and max_rows > 0:
            rows = cursor.fetchmany(max_rows + 1)
            truncated = len(rows) > max_rows
            rows = rows[:max_rows]
        else:
            rows, truncated = cursor.fetchall(), False
    except duckdb.InterruptException:
        raise QueryTimeoutError(
            f"the query was stopped after {time_limit:g} s (its time limit); narrow it down or raise --time-limit"
        ) from None
    except duckdb.Error as exc:
        raise QueryRunError(str(exc)) from None
    finally:
        if timer:
            timer.cancel()
    return SqlResult(columns=columns, rows=rows, truncated=truncated)
