"""Analyst SQL, run safely (as datasette does): reading statements only, a row cap and a time limit.

Two lines of defence. The connection itself (store.open_store, read-only) cannot write a
file, read one outside the store (unless the user allowed local files), load or install an
extension, or change a setting. And before anything runs, every statement is checked here
with DuckDB's own parser: only queries run (SELECT, WITH, FROM-first, SHOW, DESCRIBE,
SUMMARIZE, PRAGMA queries, PIVOT/UNPIVOT) and EXPLAIN of a query. EXPLAIN ANALYZE runs the
statement it explains, so the statement inside an EXPLAIN is checked the same way.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import duckdb

from budgetdb.errors import ReadOnlyError

from . import fetch, limits
from .limits import QueryTimeoutError
from .registry import QueryRunError

__all__ = ["QueryTimeoutError", "SqlResult", "check", "run", "sql"]

_ALLOWED = "SELECT, WITH, FROM, SHOW, DESCRIBE, SUMMARIZE, PIVOT, EXPLAIN of those"


@dataclass(frozen=True)
class SqlResult:
    columns: list[str]
    rows: list[tuple]
    truncated: bool  # more rows than max_rows existed; only the first max_rows are here
    types: list[str] = field(default_factory=list)  # each column's DuckDB type


def sql(
    con: duckdb.DuckDBPyConnection,
    text: str,
    *,
    max_rows: int = limits.MAX_ROWS.default,
    time_limit: float = limits.TIME_LIMIT.default,
    as_text: bool = False,
) -> SqlResult:
    """Run `text` (one or more reading statements) on `con`; return the last statement's rows.

    At most `max_rows` rows are kept (0: all). After `time_limit` seconds (0: none) the query is
    interrupted (QueryTimeoutError). A statement that could change anything is refused before
    anything runs. `as_text`: values Python cannot hold exactly come as DuckDB's text (fetch.py).
    """
    with limits.time_limit(con, time_limit):
        result = run(con, text, as_text=as_text)
        try:
            rows, truncated = result.take(max_rows)
        finally:
            result.close()
    return SqlResult(result.names, rows, truncated, [c.source_type for c in result.columns])


def run(con: duckdb.DuckDBPyConnection, text: str, *, as_text: bool = True) -> fetch.Rows:
    """Check every statement of `text`, start each in turn, and return the last one's rows, to
    be fetched in batches. The earlier statements' rows are never fetched: DuckDB streams
    results, so each runs only as far as it must to start (its SQL errors show; a `setseed`
    takes effect) and is closed by the next."""
    statements = check(con, text)
    try:
        for statement in statements[:-1]:
            con.execute(statement.sql)
        last = statements[-1]
        if not last.pivot:
            return fetch.rows(con, last.sql, as_text=as_text, error=_run_error)
        # a PIVOT that finds its own columns runs as several statements, not as a relation:
        # its rows go to a temporary table first (in memory; a read-only store allows it)
        table = f"budgetdb_pivot_{uuid.uuid4().hex[:12]}"
        con.execute(f'CREATE TEMP TABLE "{table}" AS\n{last.text}\n')
        rows = fetch.rows(con, f'FROM temp.main."{table}"', as_text=as_text, error=_run_error)
        rows.cleanup.append(f'DROP TABLE IF EXISTS temp.main."{table}"')
        return rows
    except duckdb.InterruptException:
        raise
    except duckdb.Error as exc:
        raise QueryRunError(str(exc)) from exc


def _run_error(exc: duckdb.Error) -> Exception:
    return QueryRunError(str(exc))


@dataclass(frozen=True)
class Statement:
    """One checked statement: its text, what DuckDB parsed, and whether it is a PIVOT that
    DuckDB runs in steps (it parses as CREATE: the type of its columns comes first)."""

    text: str
    parsed: Any
    pivot: bool = False

    @property
    def sql(self):
        return self.text if self.pivot else self.parsed


def check(con: duckdb.DuckDBPyConnection, text: str) -> list[Statement]:
    """Every statement of `text`, once each is known to only read; else ReadOnlyError (or
    QueryRunError for SQL that does not parse)."""
    _parse(con, text)  # the whole text first: DuckDB's message points into it
    pieces = _pieces(text)
    if not pieces:
        raise QueryRunError("no SQL statement given")
    checked = []
    for number, piece in enumerate(pieces, start=1):
        parsed = _parse(con, piece)
        where = f"statement {number} is" if len(pieces) > 1 else "this is"
        if len(parsed) > 1 and not _is_pivot(piece, parsed[0]):  # a PIVOT parses as two: CREATE TYPE, SELECT
            first = (_keywords(piece) or ["unknown"])[0]  # DuckDB made several statements of it: say what was written
            raise ReadOnlyError(
                f"budgetdb sql only reads ({_ALLOWED}); {where} a {first} statement. "
                "The store changes only through `budgetdb ingest`."
            )
        checked.append(_reading(con, piece, parsed[0], where))
    return checked


def _parse(con: duckdb.DuckDBPyConnection, text: str) -> list:
    try:
        return con.extract_statements(text)
    except duckdb.Error as exc:
        raise QueryRunError(f"cannot parse the SQL: {exc}") from None


def _tokens(text: str) -> list[tuple[int, Any]]:
    """duckdb.tokenize(text) with the positions as indexes into `text`: DuckDB gives byte
    offsets into its UTF-8, which differ from them after the first non-ASCII character."""
    found = duckdb.tokenize(text)
    if text.isascii():
        return found
    starts = {}  # byte offset -> index of the character starting there
    offset = 0
    for index, char in enumerate(text):
        starts[offset] = index
        offset += len(char.encode("utf-8", "surrogatepass"))
    starts[offset] = len(text)
    return [(starts[position], kind) for position, kind in found]


def _pieces(text: str) -> list[str]:
    """The text of each statement: `text` split at the `;` tokens DuckDB's tokenizer finds
    (so never inside a string, a quoted name or a comment), without the empty ones."""
    tokens = _tokens(text)
    cuts = [position for position, kind in tokens if kind == duckdb.token_type.operator and text[position] == ";"]
    pieces, start = [], 0
    for cut in [*cuts, len(text)]:
        piece = text[start:cut]
        if any(start <= position < cut for position, _ in tokens if position not in cuts):
            pieces.append(piece)
        start = cut + 1
    return pieces


def _keywords(text: str) -> list[str]:
    return [
        _WORD.match(text, position).group(0).upper()  # type: ignore[union-attr]
        for position, kind in _tokens(text)
        if kind == duckdb.token_type.keyword and _WORD.match(text, position)
    ]


_WORD = re.compile(r"[A-Za-z_]+")
_NAME = re.compile(r'"(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_$]*')
_EXPLAIN_TOKENS = 64
# Table functions a query may call that change state DuckDB's settings do not guard (logging
# and profiling to files, checkpoints, DuckLake maintenance), that send SQL to the catalog
# database as written, or that run SQL given as a string past this check.
_STATE_FUNCTIONS = frozenset(
    {
        "enable_logging",
        "disable_logging",
        "truncate_duckdb_logs",
        "enable_profiling",
        "disable_profiling",
        "checkpoint",
        "force_checkpoint",
        "ducklake_add_data_files",
        "ducklake_cleanup_old_files",
        "ducklake_delete_orphaned_files",
        "ducklake_expire_snapshots",
        "ducklake_flush_inlined_data",
        "ducklake_merge_adjacent_files",
        "ducklake_rewrite_data_files",
        "ducklake_set_option",
        "ducklake_set_commit_message",
        "ducklake_commit",
        "postgres_execute",
        "postgres_query",
        "query",
        "json_execute_serialized_sql",
    }
)
_PIVOTS = {"PIVOT", "PIVOT_WIDER"}


def _is_pivot(text: str, parsed) -> bool:
    """A statement DuckDB parses as CREATE without a CREATE keyword in it: a PIVOT whose
    columns DuckDB finds first (it creates their type, then selects)."""
    if parsed.type != duckdb.StatementType.CREATE:
        return False
    words = _keywords(text)
    return "CREATE" not in words and bool(_PIVOTS & set(words))


def _calls(text: str) -> list[str]:
    """The names (lower case, unquoted) of the functions `text` calls: a name token before `(`."""
    tokens = _tokens(text)
    called = []
    for (position, kind), (following, _) in zip(tokens, tokens[1:], strict=False):
        if kind in (duckdb.token_type.identifier, duckdb.token_type.keyword) and text[following] == "(":
            found = _NAME.match(text, position)
            if found:
                name = found.group(0)
                called.append(name[1:-1].replace('""', '"').lower() if name.startswith('"') else name.lower())
    return called


def _reading(con: duckdb.DuckDBPyConnection, text: str, parsed, where: str) -> Statement:
    """`parsed` as a Statement to run, or ReadOnlyError."""
    for name in _calls(text):
        if name in _STATE_FUNCTIONS:
            subject = where.removesuffix(" is").replace("this", "the SQL")
            raise ReadOnlyError(
                f"budgetdb sql only reads; {subject} calls {name}(), which changes DuckDB's state or files "
                "(or runs SQL past this check). The store changes only through `budgetdb ingest`."
            )
    kind = parsed.type
    if kind == duckdb.StatementType.SELECT:
        return Statement(text, parsed)
    if _is_pivot(text, parsed):
        return Statement(text, parsed, pivot=True)
    if kind == duckdb.StatementType.EXPLAIN:
        inner = _explained(con, text)
        if inner is None:
            raise ReadOnlyError(
                f"budgetdb sql only reads ({_ALLOWED}); {where} an EXPLAIN whose statement budgetdb cannot tell. "
                "The store changes only through `budgetdb ingest`."
            )
        inner_text, inner_parsed = inner
        if inner_parsed.type != duckdb.StatementType.SELECT and not _is_pivot(inner_text, inner_parsed):
            raise ReadOnlyError(
                f"budgetdb sql only reads ({_ALLOWED}); {where} an EXPLAIN of a {_name(inner_parsed)} statement "
                "(EXPLAIN ANALYZE runs it). The store changes only through `budgetdb ingest`."
            )
        return Statement(text, parsed)
    raise ReadOnlyError(
        f"budgetdb sql only reads ({_ALLOWED}); {where} a {_name(parsed)} statement. "
        "The store changes only through `budgetdb ingest`."
    )


def _name(parsed) -> str:
    return parsed.type.name.replace("_", " ")


def _explained(con: duckdb.DuckDBPyConnection, text: str):
    """(text, parsed) of the statement an EXPLAIN explains: the first tail of its text, after the
    EXPLAIN keyword and its options, that DuckDB parses as exactly one statement (None if none)."""
    tokens = [position for position, _ in _tokens(text)]
    if not tokens or _keywords(text)[:1] != ["EXPLAIN"]:
        return None
    for position in tokens[1:_EXPLAIN_TOKENS]:  # EXPLAIN's options are a few tokens, never more
        tail = text[position:]
        try:
            found = con.extract_statements(tail)
        except duckdb.Error:
            continue
        if len(found) == 1 or (found and _is_pivot(tail, found[0])):
            if found[0].type == duckdb.StatementType.EXPLAIN:  # EXPLAIN EXPLAIN ...: look inside again
                return _explained(con, tail)
            return tail, found[0]
    return None
