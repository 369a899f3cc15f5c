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
from .registry import QueryParamError
from .runner import bind, plan
from .sqltext import statement, substitute, with_ctes


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


def placeholders_kept(query: Plan) -> str:
    """The same statement with `$name` placeholders kept, for binding values to (budgetdb.query_relation)."""
    return _text(query, {}, None)


def _text(resolved: Plan, literals: dict[str, str], bound: Mapping[str, Any] | None) -> str:
    # As the runner's temporary tables: each dependency is a CTE named after its version
    # ("config_points@v2"), and each query reading it gets `config_points AS (FROM "config_points@v2")`
    # in front of its own CTEs; so two versions of one name can meet, and no CTE of a query's own
    # (`args`, `points`, ...) can meet a dependency's name.
    def reads(step) -> list[str]:
        return [f'{name} AS (FROM "{ref}")' for name, ref in step.reads]

    *dependencies, top = resolved.steps

    def body(step) -> str:
        return with_ctes(substitute(statement(step.spec.sql), literals), reads(step)).rstrip()

    ctes = [f'"{step.spec.ref}" AS MATERIALIZED (\n{body(step)}\n)' for step in dependencies]
    sql = with_ctes(substitute(statement(top.spec.sql), literals), ctes + reads(top)).rstrip()
    if bound is None:
        return sql + "\n"
    header = [
        f"-- {resolved.ref} compiled by budgetdb {__version__}: self-contained, for a DuckDB shell on the store",
        f"-- queries inlined: {', '.join(s.spec.ref for s in dependencies) or '(none)'}",
        *(f"-- {p.name} = {_shown(bound[p.name])}" for p in resolved.params),
    ]
    return "\n".join(header) + "\n" + sql + ";\n"


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
