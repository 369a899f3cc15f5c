"""Fetch a query's rows in batches, every DuckDB type included.

DuckDB's Python client turns most values into Python objects, but some it cannot hold, or not
exactly: TIMESTAMPTZ needs pytz (not a dependency), DATE/TIMESTAMP 'infinity' becomes
9999-12-31, INTERVAL '1 month' becomes 30 days, TIME_NS/TIMESTAMP_NS lose their nanoseconds,
GEOMETRY comes back as WKB bytes. With `as_text`, such columns (and such values inside lists,
structs, maps and unions) are cast to VARCHAR by DuckDB itself, so they read exactly as the
DuckDB CLI prints them ('2026-01-02 03:04:05.123+01', 'infinity', '1 month 2 days'); VARIANT
becomes JSON. Everything else keeps its Python form; `Column.type` says what each column is
(JSON, FLOAT, ...), so a writer can print it exactly.

Rows are fetched in batches from a streaming result (never `fetchall` of a relation, which
materialises it whole first).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

import duckdb
from duckdb.sqltypes import DuckDBPyType

BATCH = 2048

# leaf types read as DuckDB's own text when exact text is asked for
_AS_TEXT = {
    "date",
    "time",
    "time_ns",
    "time with time zone",
    "timestamp",
    "timestamp_s",
    "timestamp_ms",
    "timestamp_ns",
    "timestamp with time zone",
    "interval",
    "blob",
    "bit",
    "geometry",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: DuckDBPyType  # as fetched (after any cast to text)
    source_type: str  # the query's own type, as DuckDB names it


class Rows:
    """A query's result, read lazily: `columns`, then `batches()` or `take(n)`."""

    def __init__(
        self,
        connection,
        source,
        columns: tuple[Column, ...],
        error: Callable[[duckdb.Error], Exception] | None = None,
    ):
        self.connection = connection
        self.source = source  # a relation, or the connection whose execute() made the result
        self.columns = columns
        self.error = error  # what a DuckDB error while fetching becomes (an interrupt stays itself)
        self.cleanup: list[str] = []  # statements that drop what the query needed (close())

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def batches(self, size: int = BATCH) -> Iterator[list[tuple]]:
        while True:
            try:
                batch = self.source.fetchmany(size)
            except duckdb.InterruptException:
                raise
            except duckdb.Error as exc:
                if self.error is None:
                    raise
                raise self.error(exc) from exc
            if not batch:
                return
            yield batch

    def close(self) -> None:
        """Drop what the query needed (a PIVOT's temporary table); the rows are gone after it."""
        while self.cleanup:
            self.connection.execute(self.cleanup.pop())

    def take(self, limit: int | None) -> tuple[list[tuple], bool]:
        """At most `limit` rows (None or 0: all), and whether more were left."""
        if not limit:
            return [row for batch in self.batches() for row in batch], False
        rows: list[tuple] = []
        for batch in self.batches(min(BATCH, limit + 1)):
            rows += batch
            if len(rows) > limit:
                return rows[:limit], True
        return rows, False


def rows(
    con: duckdb.DuckDBPyConnection,
    sql,
    params: Mapping[str, Any] | None = None,
    *,
    as_text: bool = False,
    error: Callable[[duckdb.Error], Exception] | None = None,
) -> Rows:
    """The rows of query `sql` (a string or a parsed statement) on `con`, with `params` bound.
    `error` turns a DuckDB error met while fetching into another exception (None: unchanged).

    Without `as_text` the query runs as `con.execute` runs it (Python values as DuckDB's client
    gives them); with it, as a relation that casts what Python cannot hold to text.
    """
    if not as_text:
        cursor = con.execute(sql, dict(params)) if params else con.execute(sql)
        described = cursor.description or []
        return Rows(con, cursor, tuple(Column(d[0], d[1], str(d[1])) for d in described), error)
    relation = con.sql(sql, params=dict(params)) if params else con.sql(sql)
    if relation is None:
        raise duckdb.InvalidInputException("the statement returns no rows")
    types = list(relation.types)
    names = list(relation.columns)
    rewritten = [_text_type(t) for t in types]
    if any(t is not None for t in rewritten):
        items = []
        for i, (name, new) in enumerate(zip(names, rewritten, strict=True), start=1):
            expression = f"#{i}" if new is None else f"CAST(#{i} AS {new})"
            items.append(f"{expression} AS {_identifier(name)}")
        relation = relation.project(", ".join(items))
    columns = tuple(
        Column(name, new if new is not None else old, str(old)) for name, old, new in zip(names, types, rewritten, strict=True)
    )
    return Rows(con, relation, columns, error)


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text_type(t: DuckDBPyType) -> DuckDBPyType | None:
    """`t` with every leaf Python cannot hold exactly made VARCHAR (VARIANT: JSON); None if none."""
    kind = t.id
    if kind in _AS_TEXT:
        return duckdb.sqltype("VARCHAR")
    if kind == "variant":
        return duckdb.sqltype("JSON")
    parts = dict(t.children) if kind in ("list", "array", "map", "struct", "union") else {}
    if kind in ("list", "array"):
        child = _text_type(cast(DuckDBPyType, parts["child"]))
        if child is None:
            return None
        return duckdb.list_type(child) if kind == "list" else duckdb.array_type(child, cast(int, parts["size"]))
    if kind == "map":
        key, value = cast(DuckDBPyType, parts["key"]), cast(DuckDBPyType, parts["value"])
        new_key, new_value = _text_type(key), _text_type(value)
        if new_key is None and new_value is None:
            return None
        return duckdb.map_type(new_key or key, new_value or value)
    if kind in ("struct", "union"):
        members = {name: cast(DuckDBPyType, member) for name, member in parts.items() if name}  # a union's tag is ''
        changed = {name: _text_type(member) for name, member in members.items()}
        if all(member is None for member in changed.values()):
            return None
        fields: dict[str, DuckDBPyType] = {name: changed[name] or member for name, member in members.items()}
        return duckdb.struct_type(fields) if kind == "struct" else duckdb.union_type(fields)
    return None
