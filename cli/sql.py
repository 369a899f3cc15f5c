"""`budgetdb sql` (analyst SQL on a read-only store) and `budgetdb url` (for SQLAlchemy/pandas)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from budgetdb.queries.limits import TIME_LIMIT

from .limits import MaxRowsOption, TimeLimitOption, stopping
from .options import DataPathOption, DbOption, FormatOption, OutputFormat, WaitOption
from .output import emit_rows


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
    max_rows: MaxRowsOption = None,
    time_limit: TimeLimitOption = TIME_LIMIT.default,
    allow_local_files: Annotated[
        bool,
        typer.Option(
            "--allow-local-files",
            help="Let the SQL read local files too (read_csv, read_parquet, ...). Without it, it reads the store only.",
        ),
    ] = False,
    wait: WaitOption = 0.0,
) -> None:
    """Run your own SQL on the store, read-only.

    The views samples, config_runs and files are the documented surface (docs/schema.md,
    docs/queries.md). Only queries run (SELECT, WITH, FROM, SHOW, DESCRIBE, SUMMARIZE, PIVOT,
    and EXPLAIN of those); anything else is refused before anything runs. The SQL reads the
    store and nothing else: no other file (unless --allow-local-files), no URL, no extension,
    no setting (docs/reliability.md). With several statements, the last one's rows are printed.

    Example: budgetdb sql "SELECT dataset, count(*) AS runs FROM config_runs GROUP BY ALL" --format csv
    """
    from budgetdb.queries import QueryRunError
    from budgetdb.queries.adhoc import run as run_sql
    from budgetdb.store import opened

    text = _read_sql(query, file)
    if not text.strip():
        raise QueryRunError("no SQL given: pass it as an argument or with -f FILE")
    with opened(db, read_only=True, wait=wait, data_path=data_path, allow_local_files=allow_local_files) as con:
        with stopping(con, time_limit):
            rows = run_sql(con, text, as_text=True)
            emit_rows(rows.names, rows.batches(), fmt, max_rows=max_rows, types=[c.type for c in rows.columns])


def _read_sql(query: str | None, file: Path | None) -> str:
    from budgetdb.queries import QueryRunError

    if (query is None) == (file is None):
        raise QueryRunError("give the SQL either as an argument or with -f FILE (not both)")
    if query is not None:
        return query
    assert file is not None
    where = "stdin" if str(file) == "-" else str(file)
    try:
        data = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
    except OSError as exc:
        raise QueryRunError(f"cannot read {where}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 1]
        raise QueryRunError(f"{where} is not UTF-8 text (byte {exc.start} is {bad!r}); save it as UTF-8") from None


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
