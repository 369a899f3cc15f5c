"""`budgetdb query list|show|run`: the versioned SQL queries behind every figure of the report."""

from __future__ import annotations

from typing import Annotated

import typer

from budgetdb.queries.limits import TIME_LIMIT

from .limits import MaxRowsOption, TimeLimitOption, stopping
from .options import DataPathOption, DbOption, FormatOption, OutputFormat, WaitOption
from .output import HUMAN, emit_rows, render, write
from .pandas_guard import pandas_unloaded

query_app = typer.Typer(
    name="query",
    help=(
        "Run the named, versioned SQL queries behind every figure of the budget analysis.\n\n"
        "Each query is a plain SQL file (queries/<name>.v<N>.sql) with bound parameters; "
        "NAME is its latest version, NAME@vN a fixed one.\n\n"
        "Example: budgetdb query run pareto_frontier --param dataset=okvqa --format csv"
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)

RefArgument = Annotated[
    str, typer.Argument(metavar="NAME[@vN]", help="Query name (latest version) or name@vN.", show_default=False)
]
ParamOption = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        "-p",
        metavar="NAME=VALUE",
        help="Set a query parameter; repeat for several. Lists are comma-separated (dataset=okvqa,text-vqa); "
        "an empty value is NULL. `budgetdb query show NAME` lists the parameters.",
        show_default=False,
    ),
]


@query_app.command("list")
def list_(fmt: FormatOption = OutputFormat.table) -> None:
    """List every query: name, latest version, description and parameters.

    Parameters are shown as name=default; filters (hardware, experiment, dataset)
    default to NULL, meaning everything in the store.

    Example: budgetdb query list --format json
    """
    from budgetdb import queries

    rows = [(s.name, s.version, s.description, _params_text(s)) for s in queries.list_queries()]
    write(render(["name", "version", "description", "params"], rows, fmt))


@query_app.command()
def show(ref: RefArgument) -> None:
    """Print a query's file: its header (parameters, types, defaults, columns) and its SQL.

    The SQL runs as-is in any DuckDB shell on the store once the $parameters are set.

    Example: budgetdb query show budget_range@v1
    """
    from budgetdb import queries

    write(queries.get(ref).sql)


@query_app.command()
def run(
    ref: RefArgument,
    param: ParamOption = None,
    db: DbOption = None,
    data_path: DataPathOption = None,
    fmt: FormatOption = OutputFormat.table,
    max_rows: MaxRowsOption = None,
    time_limit: TimeLimitOption = TIME_LIMIT.default,
    wait: WaitOption = 0.0,
) -> None:
    """Run a query on the store (read-only) and print its rows.

    Parameters not given take their defaults; values are converted to the declared type and
    checked against its choices or range (`budgetdb query list` shows them). JSON output is
    an array of row objects; NaN never appears in it (null instead).

    Example: budgetdb query run budget_lookup -p budgets=150,200,300 -p dataset=okvqa
    """
    from budgetdb import queries
    from budgetdb.queries.limits import MAX_ROWS
    from budgetdb.store import opened

    params = _parse_params(param or [])
    spec = queries.get(ref)
    queries.bind(spec, params)  # parameter errors before the store is opened
    cap = max_rows if max_rows is not None else (MAX_ROWS.default if fmt in HUMAN else 0)
    with pandas_unloaded():
        with opened(db, read_only=True, wait=wait, data_path=data_path) as con:
            with stopping(con, time_limit):
                result = queries.run(con, spec.ref, params, max_rows=cap, as_text=True)
    rows = list(result.rows)
    if result.truncated:  # one more row than the cap tells emit_rows that there were more
        rows.append(rows[-1])
    emit_rows(result.columns, [rows], fmt, max_rows=cap, types=list(result.types))


def _parse_params(pairs: list[str]) -> dict[str, str]:
    from budgetdb.queries import QueryParamError

    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise QueryParamError(f"--param expects NAME=VALUE, got {pair!r}")
        params[name.strip()] = value
    return params


def _params_text(spec) -> str:
    from budgetdb.queries import ranges

    def text(p) -> str:
        shown = p.name if p.default is None else f"{p.name}={_literal(p.default)}"
        valid = ranges.of(p)
        return f"{shown} ({valid})" if valid is not None else shown

    return ", ".join(text(p) for p in spec.params)


def _literal(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ",".join(map(_literal, value))
    return str(value)


def register(app: typer.Typer) -> None:
    app.add_typer(query_app)
