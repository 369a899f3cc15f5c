"""Your own queries from the command line: `--queries DIR`, a query file given by path, `--pin`,
and the commands `budgetdb query check` and `budgetdb query compile`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from budgetdb.queries import Catalog, Plan, QuerySpec

QueriesOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--queries",
        metavar="DIR",
        help="A folder of your own <name>.v<N>.sql queries, searched before the packaged ones; repeatable. "
        "$BUDGETDB_QUERIES (folders separated by the OS path separator) adds more after these.",
        show_default=False,
    ),
]
PinOption = Annotated[
    list[str] | None,
    typer.Option(
        "--pin",
        metavar="NAME@vN",
        help="Run this version wherever a query reads NAME unpinned (`-- uses: NAME`); repeatable.",
        show_default=False,
    ),
]
QueryArgument = Annotated[
    str,
    typer.Argument(
        metavar="NAME[@vN]|FILE.sql",
        help="Query name (latest version), name@vN, or the path of a query file.",
        show_default=False,
    ),
]


def load(folders: list[Path] | None) -> Catalog:
    from budgetdb import queries

    return queries.load(folders or [])


def resolve(query: str, catalog: Catalog) -> QuerySpec:
    """A name (`name`, `name@vN`) from the catalog, or a query file given by its path."""
    if not (query.endswith(".sql") or "/" in query or os.sep in query):
        return catalog.get(query)
    from budgetdb.queries import QueryDefinitionError, QueryNotFoundError
    from budgetdb.queries.registry import parse

    path = Path(query)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise QueryNotFoundError(f"no query file {query}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise QueryDefinitionError(f"{query}: cannot be read as UTF-8 text ({exc})") from None
    spec = parse(path.name, text, source=str(path.parent), path=query, any_file_name=True)
    try:
        known = catalog.get(spec.ref)
    except (QueryNotFoundError, QueryDefinitionError):
        return spec
    if known.source != "packaged" and (Path(known.source) / known.file_name).resolve() == path.resolve():
        return known  # the file of a --queries folder, given by its path
    return spec  # planning it names the clash


def check(queries_dirs: QueriesOption = None) -> None:
    """Check every query file: the packaged ones and those of --queries and $BUDGETDB_QUERIES.

    Prints one line per problem (file, line, what is wrong: a malformed header, a $parameter
    not declared, a `uses` that names no query, a cycle, parameters that do not fit) and exits
    with 1 when there is any. A broken file fails only the queries that use it; this command
    finds it before anyone does.

    Example: budgetdb query check --queries queries
    """
    catalog = load(queries_dirs)
    problems = catalog.check()
    for problem in problems:
        typer.echo(problem.message)
    count = len(catalog.every())
    where = f"{len(catalog.folders)} folder{'s' if len(catalog.folders) != 1 else ''} and the package"
    if problems:
        typer.echo(f"Error: {len(problems)} problem{'s' if len(problems) != 1 else ''} in the queries of {where}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{count} query versions in {where}: no problems")


def compile_(
    query: QueryArgument,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            metavar="NAME=VALUE",
            help="Set a query parameter, written into the SQL as a literal; repeat for several. "
            "Lists are comma-separated; an empty value is NULL.",
            show_default=False,
        ),
    ] = None,
    queries_dirs: QueriesOption = None,
    pin: PinOption = None,
) -> None:
    """Print one self-contained SQL statement of a query for a plain DuckDB shell.

    The queries it uses are inlined as CTEs (each once, before the queries that read them)
    and the parameter values (given, else the defaults) are written in as typed literals, so
    it runs as is on the store: the same rows as `budgetdb query run`. Paste it, read it,
    keep it next to a result.

    Example: budgetdb query compile budget_lookup -p dataset=okvqa > lookup.sql && duckdb -readonly budget.duckdb < lookup.sql
    """
    from budgetdb import queries

    catalog = load(queries_dirs)
    spec = resolve(query, catalog)
    resolved = queries.plan(spec, pins=pin, catalog=catalog)
    typer.echo(queries.compile(resolved, parse_params(param or [], resolved)), nl=False)


def parse_params(pairs: list[str], plan: Plan) -> dict:
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
        if not is_list(plan, name):
            if len(values) > 1:
                raise QueryParamError(f"{plan.ref} parameter {name} is given {len(values)} times; it takes one value")
            params[name] = values[0]
            continue
        items = [item.strip() for value in values if value.strip() for item in value.strip().strip("[]").split(",")]
        if name == "experiment":
            items = [experiment_value(item) for item in items]
        params[name] = items or None
    return params


def is_list(plan: Plan, name: str) -> bool:
    return any(p.name == name and p.type.endswith("[]") for p in plan.params)


def register(query_app: typer.Typer) -> None:
    query_app.command()(check)
    query_app.command("compile")(compile_)
