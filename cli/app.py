"""The `budgetdb` command: a thin shell over budgetdb.store, budgetdb.queries and budgetdb.templates."""

from __future__ import annotations

import sys
from typing import Annotated, NoReturn

import typer
from typer.core import TyperGroup

from budgetdb.errors import BudgetdbError


class _ReportingGroup(TyperGroup):
    """Every failure is one line on stderr and exit code 1 (a traceback with --debug):
    `Error: <message>` for budgetdb's own errors, and for what gets past them (a disk that is
    full or read-only, a DuckDB error, memory running out); Ctrl-C is `Interrupted.` and exit
    code 130 (Typer would exit 130 silently)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BudgetdbError as exc:
            if _interrupted_by(exc):
                _interrupted()
            if _debug(ctx):
                raise
            _fail(str(exc))
        except BrokenPipeError:
            _pipe_closed()
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except KeyboardInterrupt:
            _interrupted()
        except Exception as exc:
            if _interrupted_by(exc):
                _interrupted()
            line = None if _debug(ctx) else _one_line(exc)
            if line is None:
                raise
            _fail(line)


def _debug(ctx) -> bool:
    # read after the command ran: the root callback puts --debug into ctx.obj
    return bool((ctx.obj or {}).get("debug")) or "--debug" in sys.argv


def _fail(message: str) -> None:
    from budgetdb.templates.formatting import visible  # a path or value in it may hold terminal escapes

    typer.echo(f"Error: {visible(message)}", err=True)
    raise typer.Exit(1) from None


def _one_line(exc: BaseException) -> str | None:
    """What to say of an error budgetdb did not turn into its own, or None (a bug: let it show)."""
    if isinstance(exc, MemoryError):
        return "out of memory; narrow the query down, or give the process more memory"
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}"
    duckdb = sys.modules.get("duckdb")
    if duckdb is None or not _from_duckdb(exc, duckdb):
        return None
    from budgetdb.errors import first_line
    from budgetdb.store.connection import masked
    from budgetdb.store.duckdb_messages import disk_problem, is_interrupt

    if is_interrupt(exc):
        return None  # Ctrl-C: main() says "Interrupted."
    line = masked(disk_problem(exc) or first_line(exc))  # a lake's libpq string may carry a password
    if isinstance(exc, duckdb.FatalException) or "database has been invalidated" in line.lower():
        return f"DuckDB stopped: {line}. The store keeps what its last commit wrote; run the command again once this is fixed"
    return line


def _from_duckdb(exc: BaseException, duckdb) -> bool:
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, duckdb.Error):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _pipe_closed() -> None:
    """The reader of stdout went away (`budgetdb sql ... | head`): stop quietly, as `cat` does."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the flush at exit must not fail again
    except (OSError, ValueError):
        pass
    raise typer.Exit(141) from None


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
    from . import compare, export, query, report, sql, store_commands

    store_commands.register(app)
    query.register(app)
    sql.register(app)
    report.register(app)
    compare.register(app)
    export.register(app)


_register()


def main() -> None:
    if sys.stdout is None:  # started with stdout closed (`>&-`): nowhere to print rows or summaries
        sys.stderr.write("Error: stdout is closed; give the command somewhere to print (e.g. > /dev/null)\n")
        sys.exit(1)
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
