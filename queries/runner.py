"""Bind a query's parameters (declared defaults, coerced values) and run it, with the queries it
uses, on a store connection."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import duckdb

from . import fetch, ranges, registry
from .coerce import coerce_value
from .registry import QueryNotFoundError, QueryParamError, QueryRunError, QuerySpec, load_all, sql_params


@dataclass(frozen=True)
class QueryResult:
    spec: QuerySpec
    params: dict[str, Any]
    columns: list[str]
    rows: list[tuple]
    # every query that ran: the dependencies in the order they ran, then `spec`
    executed: tuple[QuerySpec, ...] = ()
    truncated: bool = False  # more rows than run(max_rows=...) kept
    types: tuple = ()  # each column's DuckDB type (duckdb's DuckDBPyType), as fetched

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def to_pandas(self):
        import pandas as pd

        return pd.DataFrame.from_records(self.rows, columns=self.columns)


def get(ref: str) -> QuerySpec:
    """`name` (its latest version) or `name@vN`."""
    name, _, version_text = ref.strip().partition("@")
    every = load_all()
    if name not in every:
        raise QueryNotFoundError(f"no query named {name!r}; the queries are: {', '.join(sorted(every))}")
    versions = every[name]
    if not version_text:
        return versions[max(versions)]
    valid = ", ".join(f"{name}@v{v}" for v in sorted(versions))
    number = version_text[1:] if version_text[:1] in ("v", "V") else version_text
    if not number.isdigit() or int(number) not in versions:
        raise QueryNotFoundError(f"{name} has no version {version_text!r}; its versions are: {valid}")
    return versions[int(number)]


def closure(ref: str) -> tuple[QuerySpec, ...]:
    """Query `ref` and every query it uses, directly or not: each once, dependencies before the
    queries that read them, `ref` itself last (the order `run` runs them in)."""
    return registry.closure(get(ref), load_all())


def list_queries() -> list[QuerySpec]:
    """The latest version of every query, sorted by name."""
    return [versions[max(versions)] for _, versions in sorted(load_all().items())]


def bind(spec: QuerySpec, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every declared parameter's value: given (coerced to its type) or its default."""
    given = dict(params or {})
    valid = [p.name for p in spec.params]
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise QueryParamError(
            f"{spec.ref} has no parameter {', '.join(map(repr, unknown))}; its parameters are: {', '.join(valid) or '(none)'}"
        )
    bound = {}
    for param in spec.params:
        if param.name not in given:
            if param.required:
                raise QueryParamError(
                    f"{spec.ref} needs a value for {param.name} ({param.type}): pass --param {param.name}=VALUE"
                )
            bound[param.name] = param.default
            continue
        try:
            value = coerce_value(given[param.name], param.type)
        except ValueError as exc:
            raise QueryParamError(f"{spec.ref} parameter {param.name} ({param.type}): {exc}") from None
        if param.choices is not None and value is not None and value not in param.choices:
            raise QueryParamError(
                f"{spec.ref} parameter {param.name} must be one of {', '.join(map(str, param.choices))}; got {value!r}"
            )
        reason = ranges.problem(param, value)  # NaN, infinities, and values outside the parameter's range
        if reason is not None:
            raise QueryParamError(f"{spec.ref} parameter {param.name} {reason}")
        bound[param.name] = value
    return bound


def run(
    con,
    ref: str,
    params: Mapping[str, Any] | None = None,
    session: Session | None = None,
    *,
    max_rows: int = 0,
    as_text: bool = False,
) -> QueryResult:
    """Run query `ref` on DuckDB connection `con` with `params` bound as named parameters.

    Each query it uses runs first, once, with the same values, into a temporary table named
    after it (temporary tables work on a read-only connection too); they are dropped again
    when the query has run or failed. Within a `Session`, results stay until the session
    ends, so queries that use the same ones with the same values compute them once.

    `max_rows` keeps only the first rows (0: all; `truncated` says if more were left);
    `as_text` gives values Python cannot hold exactly as DuckDB's text (queries/fetch.py).
    """
    fetching: dict[str, Any] = {"max_rows": max_rows, "as_text": as_text}
    spec = get(ref)
    bound = bind(spec, params)
    executed = registry.closure(spec, load_all())
    if session is not None:
        for query in executed:
            session.materialise(query, bound, spec)
        return _fetch(con, spec, bound, executed, f'SELECT * FROM temp.main."{spec.name}"', {}, **fetching)
    created: list[str] = []
    try:
        for dependency in executed[:-1]:
            _create_temp_table(con, dependency, bound, spec)
            created.append(dependency.name)
        return _fetch(con, spec, bound, executed, spec.sql, _own_values(spec, bound), **fetching)
    finally:
        _drop_temp_tables(con, created)


class Session:
    """Query results kept as temporary tables for the length of a `with` block."""

    def __init__(self, con):
        self.con = con
        self.tables: dict[str, tuple] = {}  # table name -> (ref, values) it holds

    def materialise(self, query: QuerySpec, bound: Mapping[str, Any], spec: QuerySpec) -> None:
        values = _own_values(query, bound)
        key = (query.ref, tuple(sorted((k, _hashable(v)) for k, v in values.items())))
        if self.tables.get(query.name) == key:
            return
        _drop_temp_tables(self.con, [query.name] if query.name in self.tables else [])
        self.tables.pop(query.name, None)
        _create_temp_table(self.con, query, bound, spec)
        self.tables[query.name] = key

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        _drop_temp_tables(self.con, list(self.tables))
        self.tables.clear()


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


def _fetch(con, spec: QuerySpec, bound, executed, sql: str, values, max_rows: int = 0, as_text: bool = False) -> QueryResult:
    try:
        found = fetch.rows(con, sql, values, as_text=as_text)
        rows, truncated = found.take(max_rows)
    except duckdb.Error as exc:
        raise QueryRunError(f"{spec.ref} failed: {exc}") from exc
    return QueryResult(
        spec=spec,
        params=dict(bound),
        columns=found.names,
        rows=rows,
        executed=executed,
        truncated=truncated,
        types=tuple(c.type for c in found.columns),
    )


def _own_values(spec: QuerySpec, bound: Mapping[str, Any]) -> dict[str, Any]:
    # DuckDB refuses values for parameters a statement does not have
    return {name: bound[name] for name in sql_params(spec)}


def _create_temp_table(con, dependency: QuerySpec, bound: Mapping[str, Any], spec: QuerySpec) -> None:
    # The one piece of text put into SQL: the dependency's name, a registry identifier ([a-z][a-z0-9_]*).
    statement = f'CREATE TEMP TABLE "{dependency.name}" AS\n{dependency.sql}'
    try:
        con.execute(statement, _own_values(dependency, bound))
    except duckdb.Error as exc:
        where = "" if dependency is spec else f" in {dependency.ref}, a query it uses"
        raise QueryRunError(f"{spec.ref} failed{where}: {exc}") from exc


def _drop_temp_tables(con, names: list[str]) -> None:
    for name in reversed(names):
        try:
            con.execute(f'DROP TABLE IF EXISTS temp.main."{name}"')
        except duckdb.Error:
            # fails only inside the caller's transaction that an error aborted: its rollback drops them
            pass
