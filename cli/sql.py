"""`budgetdb sql` (analyst SQL on a read-only store) and `budgetdb url` (for SQLAlchemy/pandas)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .options import DataPathOption, DbOption, FormatOption, OutputFormat, WaitOption
from .output import render


def sql(
    query: Annotated[
        str | None,
        typer.Argument(metavar="[SQL]", help='The SQL to run, e.g. "SELECT * FROM config_runs".', show_default=False),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", metavar="FILE", help="Read the SQL from FILE instead (- for stdin).", show_default=False),
    ] = None,
    db: DbOption = None,
    data_path: DataPathOption = None,
    fmt: FormatOption = OutputFormat.table,
    max_rows: Annotated[
        int, typer.Option("--max-rows", min=0, help="Print at most this many rows (0: all); says so on stderr when it cut.")
    ] = 1000,
    time_limit: Annotated[
        float, typer.Option("--time-limit", min=0, help="Stop the query after this many seconds (0: no limit).")
    ] = 30.0,
    wait: WaitOption = 0.0,
) -> None:
    """Run your own SQL on the store, read-only.

    The views samples, config_runs and files are the documented surface (docs/schema.md,
    docs/queries.md). Only reading statements run (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN);
    anything that would change the store is refused and the store is left untouched.
    With several statements, the last one's rows are printed.

    Example: budgetdb sql "SELECT dataset, count(*) AS runs FROM config_runs GROUP BY ALL" --format csv
    """
    from budgetdb.queries import QueryRunError
    from budgetdb.queries.adhoc import sql as run_sql
    from budgetdb.store import opened

    text = _read_sql(query, file)
    if not text.strip():
        raise QueryRunError("no SQL given: pass it as an argument or with -f FILE")
    with opened(db, read_only=True, wait=wait, data_path=data_path) as con:
        result = run_sql(con, text, max_rows=max_rows, time_limit=time_limit)
    typer.echo(render(result.columns, result.rows, fmt), nl=False)
    if result.truncated:
        typer.echo(f"budgetdb: printed the first {max_rows:,} rows only; there are more (use --max-rows 0 for all)", err=True)


def _read_sql(query: str | None, file: Path | None) -> str:
    from budgetdb.queries import QueryRunError

    if (query is None) == (file is None):
        raise QueryRunError("give the SQL either as an argument or with -f FILE (not both)")
    if query is not None:
        return query
    assert file is not None
    if str(file) == "-":
        return sys.stdin.read()
    try:
        return file.read_text("utf-8")
    except OSError as exc:
        raise QueryRunError(f"cannot read {file}: {exc.strerror}") from None


def url(db: DbOption = None) -> None:
    """Print the store's SQLAlchemy URL (duckdb-engine), for pandas and other tools.

    In Python, budgetdb.engine() gives a ready read-only engine on the same store.

    Example: python -c "import pandas as pd; print(pd.read_sql('SELECT * FROM config_runs', '$(budgetdb url)'))"
    """
    import budgetdb

    typer.echo(budgetdb.url(db))


def register(app: typer.Typer) -> None:
    app.command()(sql)
    app.command()(url)
