"""Option bundles shared by every command, defined once."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="BUDGETDB_DB",
        help="Store to use: a DuckDB file, or a DuckLake: ducklake:PATH.ducklake (catalog in a local file) or "
        "'ducklake:postgres:dbname=... host=... port=... user=...' (shared catalog, many writers; docs/scale.md). "
        "Default ./budget.duckdb; $BUDGETDB_DB overrides the default.",
        show_default=False,
    ),
]

DataPathOption = Annotated[
    str | None,
    typer.Option(
        "--data-path",
        envvar="BUDGETDB_DATA_PATH",
        metavar="DIR",
        help="DuckLake only: the folder (or s3:// prefix) of the Parquet files. Needed when a lake is created; "
        "afterwards the catalog knows it (a reader may pass its own mount of the same folder).",
        show_default=False,
    ),
]

WaitOption = Annotated[
    float,
    typer.Option("--wait", min=0, help="Seconds to keep retrying while another process holds the store."),
]


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    markdown = "markdown"


FormatOption = Annotated[
    OutputFormat,
    typer.Option(
        "--format", "-F", help="table for people; csv or json (an array of row objects) for scripts; markdown for docs."
    ),
]

DebugOption = Annotated[bool, typer.Option("--debug", help="Show the full traceback on errors.")]

PathArgument = Annotated[list[Path], typer.Argument(help="Result folders or files.", show_default=False)]


HardwareFilter = Annotated[
    list[str] | None,
    typer.Option(
        "--hardware",
        metavar="H",
        help="Only this hardware (e.g. h100; H100 matches too); repeat for several. Default: all.",
        show_default=False,
    ),
]

ExperimentFilter = Annotated[
    list[str] | None,
    typer.Option(
        "--experiment",
        metavar="E",
        help="Only this experiment folder ('.' for dataset folders right under the hardware root); "
        "repeat for several. Default: all.",
        show_default=False,
    ),
]

DatasetFilter = Annotated[
    list[str] | None,
    typer.Option(
        "--dataset",
        metavar="D",
        help="Only this dataset (e.g. text-vqa; the harness's text_vqa matches too); repeat for several. Default: all.",
        show_default=False,
    ),
]
