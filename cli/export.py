"""`budgetdb export --parquet DIR`: the public views as Parquet for other tools."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .options import DataPathOption, DbOption, FormatOption, OutputFormat, WaitOption
from .output import render


def export(
    parquet: Annotated[
        Path,
        typer.Option(
            "--parquet",
            metavar="DIR",
            help="Folder to write DIR/<view>/hardware=<h>/dataset=<d>/*.parquet into.",
            file_okay=False,
            show_default=False,
        ),
    ],
    db: DbOption = None,
    data_path: DataPathOption = None,
    wait: WaitOption = 0.0,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Export the samples, config_runs and files views as hive-partitioned Parquet.

    One folder per view under DIR, partitioned by hardware and dataset, for Spark, Trino or
    pandas (pyarrow) users. The store is only read; the three views come from one snapshot.
    An existing export of a view in DIR is replaced.

    Example: budgetdb export --parquet out/ && duckdb -c "SELECT count(*) FROM 'out/samples/**/*.parquet'"
    """
    from budgetdb.store import opened
    from budgetdb.store.export import export_parquet

    with opened(db, read_only=True, wait=wait, data_path=data_path, output_dir=parquet) as con:
        exported = export_parquet(con, parquet)
    rows = [(e.view, e.rows, e.files, str(e.path)) for e in exported]
    typer.echo(render(["view", "rows", "files", "path"], rows, fmt), nl=False)


def register(app: typer.Typer) -> None:
    app.command()(export)
