"""Bind a query's parameters (declared defaults, coerced values) and run it, with the queries it
uses, on a store connection."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import duckdb

from budgetdb.errors import first_line

from . import fetch, numpy_steps, ranges
from .catalog import Catalog, Pins, Plan, Step, load
from .coerce import coerce_value
from .registry import QueryParamError, QueryRunError, QuerySpec, sql_params
from .sqltext import with_ctes


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


def default() -> Catalog:
    """The queries of $BUDGETDB_QUERIES's folders and the packaged ones."""
    return load()


def get(ref: str, *, catalog: Catalog | None = None) -> QuerySpec:
    """`name` (its latest version) or `name@vN`."""
    return (catalog or default()).get(ref)


def plan(query: str | QuerySpec, *, pins: Pins = None, catalog: Catalog | None = None) -> Plan:
    """What running `query` executes (its dependencies resolved, in order) and its parameters."""
    return (catalog or default()).plan(query, pins)


def closure(ref: str | QuerySpec, *, pins: Pins = None, catalog: Catalog | None = None) -> tuple[QuerySpec, ...]:
    """Query `ref` and every query it uses, directly or not: each once, dependencies before the
    queries that read them, `ref` itself last (the order `run` runs them in)."""
    return plan(ref, pins=pins, catalog=catalog).specs


def list_queries(*, catalog: Catalog | None = None) -> list[QuerySpec]:
    """The latest version of every query, sorted by name."""
    return (catalog or default()).latest()


def bind(
    query: QuerySpec | Plan, params: Mapping[str, Any] | None = None, *, pins: Pins = None, catalog: Catalog | None = None
) -> dict[str, Any]:
    """Every parameter's value (its own and those flowing to the queries it uses): given
    (coerced to its type) or its default."""
    resolved = query if isinstance(query, Plan) else plan(query, pins=pins, catalog=catalog)
    ref = resolved.ref
    given = dict(params or {})
    valid = [p.name for p in resolved.params]
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise QueryParamError(
            f"{ref} has no parameter {', '.join(map(repr, unknown))}; its parameters are: {', '.join(valid) or '(none)'}"
        )
    bound = {}
    for param in resolved.params:
        if param.name not in given:
            if param.required:
                raise QueryParamError(f"{ref} needs a value for {param.name} ({param.type}): pass --param {param.name}=VALUE")
            bound[param.name] = param.default
            continue
        try:
            value = coerce_value(given[param.name], param.type)
        except ValueError as exc:
            raise QueryParamError(f"{ref} parameter {param.name} ({param.type}): {exc}") from None
        if param.choices is not None and value is not None and value not in param.choices:
            raise QueryParamError(
                f"{ref} parameter {param.name} must be one of {', '.join(map(str, param.choices))}; got {value!r}"
            )
        reason = ranges.problem(param, value)  # NaN, infinities, and values outside the parameter's range
        if reason is not None:
            raise QueryParamError(f"{ref} parameter {param.name} {reason}")
        bound[param.name] = value
    return bound


def run(
    con,
    query: str | QuerySpec,
    params: Mapping[str, Any] | None = None,
    /,
    *,
    session: Session | None = None,
    pins: Pins = None,
    catalog: Catalog | None = None,
    max_rows: int = 0,
    as_text: bool = False,
    **values: Any,
) -> QueryResult:
    """Run `query` (`name`, `name@vN` or a QuerySpec) on DuckDB connection `con`.

    Parameters come as keywords (`run(con, "pareto_frontier", dataset="okvqa")`) or as one
    dict; they are bound as DuckDB named parameters. Each query it uses runs first, once, with
    the same values, into a temporary table named after its version (`"config_points@v2"`;
    temporary tables work on a read-only connection too), and each query reads the versions
    its own `uses` name. The tables are dropped again when the query has run or failed; within
    a `Session` they stay until it ends, so queries that use the same ones with the same values
    compute them once. `pins` ({name: version} or ["name@vN"]) fixes the version of every
    unpinned `uses` of that name.

    `max_rows` keeps only the first rows (0: all; `truncated` says if more were left);
    `as_text` gives values Python cannot hold exactly as DuckDB's text (queries/fetch.py).
    """
    fetching: dict[str, Any] = {"max_rows": max_rows, "as_text": as_text}
    resolved = plan(query, pins=pins, catalog=catalog)
    bound = bind(resolved, {**(params or {}), **values})
    if session is not None:
        # the query itself too: another query of the session may use it (the report's budget_range uses prefill_stats)
        for step in resolved.steps:
            session.materialise(step, bound, resolved)
        return _fetch(con, resolved, bound, f"SELECT * FROM {table(resolved.ref)}", {}, **fetching)
    tables = Session(con)
    try:
        top = resolved.steps[-1]
        for step in resolved.steps[:-1] if top.spec.numpy is None else resolved.steps:
            tables.materialise(step, bound, resolved)
        if top.spec.numpy is not None:  # its rows are the numpy step's table
            return _fetch(con, resolved, bound, f"SELECT * FROM {table(resolved.ref)}", {}, **fetching)
        return _fetch(con, resolved, bound, with_ctes(top.spec.sql, _aliases(top)), _own_values(top.spec, bound), **fetching)
    finally:
        tables.close()


def run_declared(
    con: duckdb.DuckDBPyConnection,
    query: str | QuerySpec,
    params: Mapping[str, Any],
    *,
    session: Session | None = None,
    pins: Pins = None,
    catalog: Catalog | None = None,
) -> QueryResult:
    """`run` with the values of `params` that `query` takes (its own and those flowing to the
    queries it uses), the others left out: one dict of options serves every query of a report."""
    resolved = plan(query, pins=pins, catalog=catalog)
    taken = {p.name for p in resolved.params}
    values = {name: value for name, value in params.items() if name in taken}
    return run(con, resolved.spec, values, session=session, pins=pins, catalog=catalog)


class Session:
    """Query results kept as temporary tables (one per query version) for the length of a `with` block."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        self.tables: dict[str, tuple] = {}  # table name (a ref) -> what it holds: (step key, values)

    def materialise(self, step: Step, bound: Mapping[str, Any], plan: Plan, *, keep_as: str | None = None) -> None:
        """Step's rows into its temporary table (once for these values); `keep_as`: into that
        table instead (a `table()` name), which the session leaves when it ends."""
        key = (step.key, tuple((name, _hashable(bound[name])) for name in step.binds))
        ref = step.spec.ref
        if keep_as is None and self.tables.get(ref) == key:
            return
        if keep_as is None and ref in self.tables:
            _drop_temp_tables(self.con, [ref])
            del self.tables[ref]
        # The one piece of text put into SQL: the ref, a registry name ([a-z][a-z0-9_]*) and a version number.
        target = keep_as or table(ref)
        sql = with_ctes(step.spec.sql, _aliases(step))
        where = "" if step.spec is plan.spec else f" in {ref}, a query it uses"
        try:
            if step.spec.numpy is None:
                self.con.execute(f"CREATE TEMP TABLE {target} AS\n{sql}", _own_values(step.spec, bound))
            else:  # its SQL gives the numpy step's inputs; the step gives the rows
                inputs = self.con.execute(sql, _own_values(step.spec, bound)).fetchnumpy()
                columns = numpy_steps.run(step.spec.numpy, step.spec.ref, inputs, bound)
                numpy_steps.create_table(self.con, target, step.spec.numpy, columns)
        except duckdb.Error as exc:
            raise QueryRunError(f"{plan.ref} failed{where}: {first_line(exc)}") from exc
        if keep_as is None:
            self.tables[ref] = key

    def close(self) -> None:
        _drop_temp_tables(self.con, list(self.tables))
        self.tables.clear()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def table(ref: str) -> str:
    """The temporary table that holds a dependency's rows: `temp.main."name@vN"`."""
    return f'temp.main."{ref}"'


def kept(con: duckdb.DuckDBPyConnection, plan: Plan, bound: Mapping[str, Any]) -> str:
    """`plan`'s rows in a temporary table that stays on `con` (for a relation that reads them
    later: a numpy step's, which no SQL statement computes); the queries below it are dropped.
    Named after the query and a digest of what it computes (`"config_resamples@v1#3fa0..."`), so
    the same values reuse it and other values get their own."""
    import hashlib

    top = plan.steps[-1]
    values = tuple((name, _hashable(bound[name])) for name in top.binds)
    digest = hashlib.sha256(repr((top.key, values)).encode("utf-8")).hexdigest()[:16]
    name = table(f"{plan.ref}#{digest}")  # a ref and hex digits: nothing else goes into the SQL text
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = $name", {"name": f"{plan.ref}#{digest}"}
    ).fetchone()
    if exists and exists[0]:
        return name
    with Session(con) as session:
        for step in plan.steps[:-1]:
            session.materialise(step, bound, plan)
        session.materialise(top, bound, plan, keep_as=name)
    return name


def _aliases(step: Step) -> list[str]:
    # each name the SQL reads is the table of the version its `uses` got
    return [f"{name} AS (FROM {table(ref)})" for name, ref in step.reads]


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


def _fetch(
    con: duckdb.DuckDBPyConnection, plan: Plan, bound, sql: str, values, max_rows: int = 0, as_text: bool = False
) -> QueryResult:
    try:
        found = fetch.rows(con, sql, values, as_text=as_text)
        rows, truncated = found.take(max_rows)
    except duckdb.Error as exc:
        raise QueryRunError(f"{plan.ref} failed: {first_line(exc)}") from exc
    return QueryResult(
        spec=plan.spec,
        params=dict(bound),
        columns=found.names,
        rows=rows,
        executed=plan.specs,
        truncated=truncated,
        types=tuple(c.type for c in found.columns),
    )


def _own_values(spec: QuerySpec, bound: Mapping[str, Any]) -> dict[str, Any]:
    # DuckDB refuses values for parameters a statement does not have
    return {name: bound[name] for name in sql_params(spec)}


def _drop_temp_tables(con: duckdb.DuckDBPyConnection, refs: list[str]) -> None:
    for ref in reversed(refs):
        try:
            con.execute(f"DROP TABLE IF EXISTS {table(ref)}")
        except duckdb.Error:
            # fails only inside the caller's transaction that an error aborted: its rollback drops them
            pass
