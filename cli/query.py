"""`budgetdb query list|show|run`: the versioned SQL queries behind every figure of the report."""

from __future__ import annotations

from typing import Annotated

import typer

from .options import DataPathOption, DbOption, FormatOption, OutputFormat, WaitOption
from .output import render
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
        help="Set a query parameter; repeat for several. A list parameter takes comma-separated values and "
        "gathers repeats (-p dataset=okvqa -p dataset=text-vqa); an empty value is NULL (for a filter: all); "
        "experiment=. is the root experiment. Filter values are checked against the store. "
        "`budgetdb query show NAME` lists the parameters.",
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
    typer.echo(render(["name", "version", "description", "params"], rows, fmt), nl=False)


@query_app.command()
def show(ref: RefArgument) -> None:
    """Print a query's file: its header (parameters, types, defaults, columns) and its SQL.

    The SQL runs as-is in any DuckDB shell on the store once the $parameters are set.

    Example: budgetdb query show budget_range@v1
    """
    from budgetdb import queries

    typer.echo(queries.get(ref).sql, nl=False)


@query_app.command()
def run(
    ref: RefArgument,
    param: ParamOption = None,
    db: DbOption = None,
    data_path: DataPathOption = None,
    fmt: FormatOption = OutputFormat.table,
    wait: WaitOption = 0.0,
) -> None:
    """Run a query on the store (read-only) and print its rows.

    Parameters not given take their defaults; values are converted to the declared type.
    The hardware, experiment and dataset filters are checked against the store: a value that
    matches nothing is an error naming the values there are.
    JSON output is an array of row objects; NaN never appears in it (null instead).

    Example: budgetdb query run budget_lookup -p budgets=150,200,300 -p dataset=okvqa -p dataset=text-vqa
    """
    from budgetdb import queries, scope
    from budgetdb.store import open_store

    spec = queries.get(ref)
    params = _parse_params(param or [], spec)
    queries.bind(spec, params)  # parameter errors before the store is opened
    with pandas_unloaded():
        with open_store(db, read_only=True, wait=wait, data_path=data_path) as con:
            filters = {k: params[k] or () for k in scope.FILTERS if k in params and _is_list(spec, k)}
            if filters:
                params.update({k: v for k, v in scope.resolve(con, **filters).params().items() if k in filters})
            result = queries.run(con, spec.ref, params)
    typer.echo(render(result.columns, result.rows, fmt), nl=False)


def _parse_params(pairs: list[str], spec) -> dict:
    """NAME=VALUE pairs; a list parameter gathers every value given for it (each split at commas)."""
    from budgetdb.queries import QueryParamError
    from budgetdb.scope import experiment_value

    given: dict[str, list[str]] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise QueryParamError(f"--param expects NAME=VALUE, got {pair!r}")
        given.setdefault(name.strip(), []).append(value)
    params: dict = {}
    for name, values in given.items():
        if not _is_list(spec, name):
            if len(values) > 1:
                raise QueryParamError(f"{spec.ref} parameter {name} is given {len(values)} times; it takes one value")
            params[name] = values[0]
            continue
        items = [item.strip() for value in values if value.strip() for item in value.strip().strip("[]").split(",")]
        if name == "experiment":
            items = [experiment_value(item) for item in items]
        params[name] = items or None
    return params


def _is_list(spec, name: str) -> bool:
    return any(p.name == name and p.type.endswith("[]") for p in spec.params)


def _params_text(spec) -> str:
    return ", ".join(p.name if p.default is None else f"{p.name}={_literal(p.default)}" for p in spec.params)


def _literal(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ",".join(map(_literal, value))
    return str(value)


def register(app: typer.Typer) -> None:
    app.add_typer(query_app)
