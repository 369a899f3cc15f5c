"""The `budgetdb` command: a thin shell over budgetdb.store, budgetdb.queries and budgetdb.templates."""

from __future__ import annotations

import sys
from typing import Annotated, NoReturn

import typer
from typer.core import TyperGroup

from budgetdb.errors import BudgetdbError


class _ReportingGroup(TyperGroup):
    """Turns a BudgetdbError into `Error: <message>` on stderr and exit code 1 (a traceback with
    --debug), and Ctrl-C into `Interrupted.` and exit code 130 (Typer would exit 130 silently)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BudgetdbError as exc:
            if _interrupted_by(exc):
                _interrupted()
            if (ctx.obj or {}).get("debug") or "--debug" in sys.argv:
                raise
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(1) from None
        except (KeyboardInterrupt, RuntimeError) as exc:
            if not _interrupted_by(exc):
                raise
            _interrupted()


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
    add_completion=False,
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
):
    ctx.obj = {"debug": debug}


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
    except (KeyboardInterrupt, RuntimeError) as exc:
        if not _interrupted_by(exc):
            raise
        _interrupted()


def _interrupted_by(exc: BaseException | None) -> bool:
    """Ctrl-C: KeyboardInterrupt, DuckDB's interrupt, or an error raised while handling one."""
    if exc is None:
        return False
    if isinstance(exc, KeyboardInterrupt):
        return True
    if "duckdb" not in sys.modules:
        return False
    from budgetdb.store.duckdb_messages import is_interrupt

    return is_interrupt(exc) or _interrupted_by(exc.__cause__)


def _interrupted() -> NoReturn:
    typer.echo("Interrupted.", err=True)
    sys.exit(130)
