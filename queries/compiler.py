"""`compile`: one self-contained SQL statement for a plain DuckDB shell, as dbt compile shows the SQL
that will run. The queries a query uses become CTEs in front of its own, and its parameter values
become literals: the one place budgetdb writes values into SQL text, for a person to paste
(everything budgetdb runs itself binds them)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from budgetdb import __version__

from .catalog import Catalog, Pins, Plan
from .registry import QueryError, QueryParamError
from .runner import bind, plan
from .sqltext import statement, substitute, with_ctes


class QueryCompileError(QueryError):
    """A query that one SQL statement cannot compute (its rows come from a numpy step)."""


def compile(
    query: str | Plan,
    params: Mapping[str, Any] | None = None,
    /,
    *,
    pins: Pins = None,
    catalog: Catalog | None = None,
    **values: Any,
) -> str:
    """The SQL of `query` with every query it uses inlined as a CTE and its parameter values
    (given, else the defaults) written in as typed literals; runs as is in a DuckDB shell
    opened on the store (`duckdb -readonly budget.duckdb < query.sql`)."""
    resolved = query if isinstance(query, Plan) else plan(query, pins=pins, catalog=catalog)
    bound = bind(resolved, {**(params or {}), **values})
    literals = {p.name: literal(bound[p.name], p.type, p.name) for p in resolved.params}
    return _text(resolved, literals, bound)


def placeholders_kept(query: Plan, tables: Mapping[str, str] | None = None) -> str:
    """The same statement with `$name` placeholders kept, for binding values to (budgetdb.query_relation).

    A query computed by a numpy step is read from the temporary table `tables` names for its ref
    (runner.kept), as no SQL computes it."""
    for step in query.steps:
        if step.spec.numpy is not None and step.spec.ref not in (tables or {}):
            raise QueryCompileError(
                f"{query.ref} is not one SQL statement: {_numpy_note(step.spec)}; "
                f"budgetdb.query({query.spec.name!r}, ...) gives its rows as a DataFrame"
            )
    return _text(query, {}, None, tables or {})


def _numpy_note(spec) -> str:
    return f"{spec.ref}'s rows come from its numpy step {spec.numpy.file_name}, which SQL cannot run"


def _text(
    resolved: Plan, literals: dict[str, str], bound: Mapping[str, Any] | None, tables: Mapping[str, str] | None = None
) -> str:
    # As the runner's temporary tables: each dependency is a CTE named after its version
    # ("config_points@v2"), and each query reading it gets `config_points AS (FROM "config_points@v2")`
    # in front of its own CTEs; so two versions of one name can meet, and no CTE of a query's own
    # (`args`, `points`, ...) can meet a dependency's name.
    def reads(step) -> list[str]:
        return [f'{name} AS (FROM "{ref}")' for name, ref in step.reads]

    *dependencies, top = resolved.steps
    tables = tables or {}
    if top.spec.numpy is not None and top.spec.ref in tables:
        return f"FROM {tables[top.spec.ref]}\n"
    if top.spec.numpy is not None:
        raise QueryCompileError(
            f"{_numpy_note(top.spec)}: `query compile` writes SQL only. Its rows: budgetdb query run {top.spec.ref} "
            f"-F csv; the SQL of the step's inputs: budgetdb query show {top.spec.ref}"
        )

    def body(step) -> str:
        if step.spec.ref in tables:  # computed in numpy, kept in a temporary table (budgetdb.query_relation)
            return f"FROM {tables[step.spec.ref]}"
        if step.spec.numpy is not None:  # no SQL computes it: read the rows `query run` wrote
            return f"FROM read_csv('{_csv_name(step.spec.ref)}', header = true, columns = {_csv_columns(step.spec.numpy)})"
        return with_ctes(substitute(statement(step.spec.sql), literals), reads(step)).rstrip()

    ctes = [f'"{step.spec.ref}" AS MATERIALIZED (\n{body(step)}\n)' for step in dependencies]
    sql = with_ctes(substitute(statement(top.spec.sql), literals), ctes + reads(top)).rstrip()
    if bound is None:
        return sql + "\n"
    from_numpy = [step for step in dependencies if step.spec.numpy is not None]
    header = [
        f"-- {resolved.ref} compiled by budgetdb {__version__}: "
        + ("self-contained, for a DuckDB shell on the store" if not from_numpy else "for a DuckDB shell on the store"),
        f"-- queries inlined: {', '.join(s.spec.ref for s in dependencies if s.spec.numpy is None) or '(none)'}",
        *(line for step in from_numpy for line in _numpy_header(step, resolved, bound)),
        *(f"-- {p.name} = {_shown(bound[p.name])}" for p in resolved.params),
    ]
    return "\n".join(header) + "\n" + sql + ";\n"


def _csv_name(ref: str) -> str:
    return ref.replace("@", "_") + ".csv"


def _csv_columns(step) -> str:
    # the step's COLUMNS: lower-case identifiers and DuckDB type names (numpy_steps.parse checked them)
    return "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in step.columns) + "}"


def _numpy_header(step, resolved: Plan, bound: Mapping[str, Any]) -> list[str]:
    """What the statement cannot inline, and the command that writes the rows it reads instead: the
    same parameter values, and the versions this statement runs of the queries below it pinned."""
    spec = step.spec

    def below(key: tuple) -> list[str]:
        return [ref for dep in key[2] for ref in (dep[0], *below(dep))]

    pins = " ".join(f"--pin {ref}" for ref in dict.fromkeys(below(step.key)))
    values = [f"-p {p.name}={_cli_value(bound[p.name])}" for p in resolved.params if p.name in step.binds]
    options = " ".join([*values, *([pins] if pins else [])])
    return [
        f"-- NOT INLINED: {_numpy_note(spec)} (sha256 {spec.numpy.sha256}).",
        f"-- This statement reads {spec.ref}'s rows from {_csv_name(spec.ref)} in the shell's folder; write it first with:",
        f"--   budgetdb query run {spec.ref} {options} -F csv > {_csv_name(spec.ref)}",
    ]


def _cli_value(value: Any) -> str:
    """A value as `-p NAME=VALUE` takes it (lists comma-separated, NULL empty, the root experiment `.`)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_cli_value(v) if v != "" else "." for v in value)
    text = repr(value) if isinstance(value, float) else str(value)
    return "'" + text.replace("'", "'\\''") + "'" if any(c in text for c in " '\"$`;&|<>()") else text


def literal(value: Any, type_: str, name: str = "value") -> str:
    """`value` (already coerced to `type_` by bind) as a typed SQL literal: CAST(... AS type_)."""
    if value is None:
        return f"CAST(NULL AS {type_})"
    if type_.endswith("[]"):
        return f"CAST([{', '.join(_scalar(v, type_[:-2], name) for v in value)}] AS {type_})"
    return f"CAST({_scalar(value, type_, name)} AS {type_})"


def _scalar(value: Any, type_: str, name: str) -> str:
    if value is None:
        return "NULL"
    if type_ == "VARCHAR":
        if "\x00" in value:
            raise QueryParamError(f"parameter {name}: a NUL character cannot be written into SQL text")
        return "'" + value.replace("'", "''") + "'"  # the SQL standard's quoting: DuckDB reads no backslash escapes here
    if type_ == "BOOLEAN":
        return "true" if value else "false"
    if type_ == "INTEGER":
        return str(int(value))
    number = float(value)
    return repr(number) if math.isfinite(number) else f"CAST('{number!r}' AS DOUBLE)"


def _shown(value: Any) -> str:
    text = "NULL" if value is None else repr(value)
    return text.replace("\n", "\\n").replace("\r", "\\r")
