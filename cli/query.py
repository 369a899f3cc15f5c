"""`budgetdb query list|show|run|check|compile`: the versioned SQL queries behind every figure of the
report, and your own beside them (query_files.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from budgetdb.queries.limits import TIME_LIMIT

from . import query_files
from .limits import MaxRowsOption, TimeLimitOption, stopping
from .options import DataPathOption, DbOption, FormatOption, OutputFormat, WaitOption
from .output import HUMAN, emit_rows, render, write
from .pandas_guard import pandas_unloaded
from .query_files import PinOption, QueriesOption, QueryArgument

query_app = typer.Typer(
    name="query",
    help=(
        "Run the named, versioned SQL queries behind every figure of the budget analysis.\n\n"
        "Each query is a plain SQL file (queries/<name>.v<N>.sql) with bound parameters; "
        "NAME is its latest version, NAME@vN a fixed one. Keep your own in a folder of such files "
        "and pass it with --queries DIR (or $BUDGETDB_QUERIES).\n\n"
        "Example: budgetdb query run pareto_frontier --param dataset=okvqa --format csv"
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)

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
def list_(
    fmt: FormatOption = OutputFormat.table,
    queries_dirs: QueriesOption = None,
    every: Annotated[bool, typer.Option("--all", help="Every version, not only the latest of each query.")] = False,
) -> None:
    """List every query: name, latest version, where it comes from, description, parameters, sha256.

    `source` is `packaged` or the folder of your own (--queries, $BUDGETDB_QUERIES). `sha256` is
    the query file's; a query computed by a numpy step shows the step's file and sha256 in `numpy_step`.
    Parameters are shown as name=default, those flowing to the queries it uses included;
    filters (hardware, experiment, dataset) default to NULL, meaning everything in the store.

    Example: budgetdb query list --queries queries --format json
    """
    catalog = query_files.load(queries_dirs)
    rows = [
        (s.name, s.version, s.source, s.description, _params_text(s, catalog), s.sha256, _numpy_text(s))
        for s in (catalog.every() if every else catalog.latest())
    ]
    write(render(["name", "version", "source", "description", "params", "sha256", "numpy_step"], rows, fmt))
    problems = catalog.check()
    if problems:
        typer.echo(f"budgetdb: {len(problems)} problem(s) in query files; `budgetdb query check` lists them", err=True)


@query_app.command()
def show(query: QueryArgument, queries_dirs: QueriesOption = None) -> None:
    """Print a query's file: its header (parameters, types, defaults, columns) and its SQL.

    The SQL reads the queries it uses by name; `budgetdb query compile` prints one statement
    with them inlined, for a DuckDB shell.

    Example: budgetdb query show budget_range@v1
    """
    write(query_files.resolve(query, query_files.load(queries_dirs)).sql)


@query_app.command()
def run(
    query: QueryArgument,
    param: ParamOption = None,
    db: DbOption = None,
    data_path: DataPathOption = None,
    fmt: FormatOption = OutputFormat.table,
    max_rows: MaxRowsOption = None,
    time_limit: TimeLimitOption = TIME_LIMIT.default,
    wait: WaitOption = 0.0,
    queries_dirs: QueriesOption = None,
    pin: PinOption = None,
    against_db: Annotated[
        str | None,
        typer.Option(
            "--against-db",
            help="A query reading a second store (compare_*: the catalog `against`): that store. Default: the same store.",
            show_default=False,
        ),
    ] = None,
    against_snapshot: Annotated[
        int | None,
        typer.Option(
            "--against-snapshot", metavar="N", min=0, help="DuckLake only: `against` at snapshot N.", show_default=False
        ),
    ] = None,
) -> None:
    """Run a query on the store (read-only) and print its rows.

    QUERY is a name (its latest version), name@vN, or the path of a query file. Parameters
    not given take their defaults; values are converted to the declared type and checked
    against its choices or range (`budgetdb query list` shows them). A list parameter given
    again adds values (-p dataset=a -p dataset=b). The hardware, experiment and dataset
    filters are checked against the store: a value that matches nothing is an error naming
    the values there are (`.` is the root experiment). JSON output is an array of row
    objects; NaN never appears in it (null instead).

    Example: budgetdb query run budget_lookup -p budgets=150,200,300 -p dataset=okvqa -p dataset=text-vqa
    """
    from budgetdb import queries, scope
    from budgetdb.comparing import open_for_query
    from budgetdb.queries.limits import MAX_ROWS
    from budgetdb.store.connection import corrupt_on_close

    catalog = query_files.load(queries_dirs)
    plan = queries.plan(query_files.resolve(query, catalog), pins=pin, catalog=catalog)
    params = query_files.parse_params(param or [], plan)
    queries.bind(plan, params)  # parameter errors before the store is opened
    cap = max_rows if max_rows is not None else (MAX_ROWS.default if fmt in HUMAN else 0)
    with pandas_unloaded():
        with corrupt_on_close(
            open_for_query(plan, db, data_path, against_db=against_db, against_snapshot=against_snapshot, wait=wait),
            db,
            data_path,
        ) as con:
            filters = {k: params[k] or () for k in scope.FILTERS if k in params and query_files.is_list(plan, k)}
            if filters:
                params.update({k: v for k, v in scope.resolve(con, **filters).params().items() if k in filters})
            with stopping(con, time_limit):
                result = queries.run(con, plan.spec, params, pins=pin, catalog=catalog, max_rows=cap, as_text=True)
    rows = list(result.rows)
    if result.truncated:  # one more row than the cap tells emit_rows that there were more
        rows.append(rows[-1])
    emit_rows(result.columns, [rows], fmt, max_rows=cap, types=list(result.types))


def _params_text(spec, catalog) -> str:
    from budgetdb.queries import QueryError, ranges

    try:
        params = catalog.plan(spec.ref).params
    except QueryError:
        params = spec.params  # `query check` says what is wrong

    def text(p) -> str:
        shown = p.name if p.default is None else f"{p.name}={_literal(p.default)}"
        valid = ranges.of(p)
        return f"{shown} ({valid})" if valid is not None else shown

    return ", ".join(text(p) for p in params)


def _numpy_text(spec) -> str | None:
    return f"{spec.numpy.file_name} sha256 {spec.numpy.sha256}" if spec.numpy is not None else None


def _literal(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ",".join(map(_literal, value))
    return str(value)


def register(app: typer.Typer) -> None:
    query_files.register(query_app)
    app.add_typer(query_app)
