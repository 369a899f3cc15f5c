"""The `budgetdb` command: a thin shell over budgetdb.store, budgetdb.queries and budgetdb.templates."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from typer.core import TyperGroup

from budgetdb.errors import BudgetdbError


class _ReportingGroup(TyperGroup):
    """Turns a BudgetdbError into `Error: <message>` on stderr and exit code 1 (a traceback with --debug)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BudgetdbError as exc:
            if (ctx.obj or {}).get("debug") or "--debug" in sys.argv:
                raise
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(1) from None


CONTEXT = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    cls=_ReportingGroup,
    name="budgetdb",
    help=(
        "Turn a pile of latency/accuracy profiling results into a latency budget analysis.\n\n"
        "Ingest result JSON into a DuckDB store, run the versioned SQL queries, and render the "
        "budget report.\n\nExample: budgetdb ingest results/core_exp_h100 && budgetdb report > budget.md"
    ),
    no_args_is_help=True,
    context_settings=CONTEXT,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool):
    if value:
        from budgetdb import __version__

        typer.echo(f"budgetdb {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks instead of one-line errors.")] = False,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            metavar="STORE",
            help="The store of the command that follows (budgetdb --db X report), as its own --db takes it; "
            "the command's own --db wins, then this, then $BUDGETDB_DB, then ./budget.duckdb.",
            show_default=False,
        ),
    ] = None,
    data_path: Annotated[
        str | None,
        typer.Option(
            "--data-path",
            metavar="DIR",
            help="DuckLake only: the Parquet folder of the command that follows; its own --data-path wins, "
            "then this, then $BUDGETDB_DATA_PATH.",
            show_default=False,
        ),
    ] = None,
):
    ctx.obj = {"debug": debug}
    given = {name: value for name, value in (("db", db), ("data_path", data_path)) if value is not None}
    if given:
        # click's default_map: a value the command line leaves out comes from here (before the env var,
        # which budgetdb.store.locate reads), for every command below that has the option
        ctx.default_map = _defaults(ctx.command, given)


def _defaults(command, given: dict[str, str]) -> dict:
    """{option: value} for `command`'s own options among `given`, {subcommand: ...} for its subcommands."""
    names = {param.name for param in command.params}
    defaults: dict = {name: value for name, value in given.items() if name in names}
    for name, sub in getattr(command, "commands", {}).items():
        defaults[name] = _defaults(sub, given)
    return defaults


def _register() -> None:
    from . import export, query, report, sql, store_commands

    store_commands.register(app)
    query.register(app)
    sql.register(app)
    report.register(app)
    export.register(app)


_register()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        _interrupted()
    except RuntimeError as exc:
        from budgetdb.store.duckdb_messages import is_interrupt

        if not is_interrupt(exc):
            raise
        _interrupted()


def _interrupted() -> None:
    typer.echo("Interrupted.", err=True)
    sys.exit(130)
