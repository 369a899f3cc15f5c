"""`budgetdb export --parquet DIR`: the public views as Parquet for other tools."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .files import refuse_store, store_paths
from .options import (
    DataPathOption,
    DatasetFilter,
    DbOption,
    ExperimentFilter,
    FormatOption,
    HardwareFilter,
    OutputFormat,
    WaitOption,
)
from .output import render, write


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
    hardware: HardwareFilter = None,
    experiment: ExperimentFilter = None,
    dataset: DatasetFilter = None,
    wait: WaitOption = 0.0,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Export the samples, config_runs and files views as hive-partitioned Parquet.

    One folder per view under DIR, partitioned by hardware and dataset, for Spark, Trino or
    pandas users (pandas reads Parquet only with pyarrow, not a budgetdb dependency: pip install pyarrow); DuckDB's
    own Parquet writer writes them, so export itself needs nothing more. The store is only
    read; the three views come from one snapshot. A view folder an earlier export wrote (it
    holds a .budgetdb-export file) is replaced whole; anything else in its place stops the
    export before it writes. --hardware, --experiment and --dataset export only those rows
    (each value checked against the store).

    Example: budgetdb export --parquet out/ && duckdb -c "SELECT count(*) FROM 'out/samples/**/*.parquet'"
    """
    from budgetdb import scope
    from budgetdb.store import opened
    from budgetdb.store.export import export_parquet

    refuse_store(parquet, "--parquet", store_paths(db, data_path))  # before the store is opened
    with opened(db, read_only=True, wait=wait, data_path=data_path, output_dir=parquet) as con:
        chosen = scope.resolve(con, hardware or (), experiment or (), dataset or ())
        exported = export_parquet(con, parquet, chosen.params())
    rows = [(e.view, e.rows, e.files, str(e.path)) for e in exported]
    write(render(["view", "rows", "files", "path"], rows, fmt))


def register(app: typer.Typer) -> None:
    app.command()(export)
