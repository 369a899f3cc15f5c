"""Option bundles shared by every command, defined once."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

DbOption = Annotated[
    Optional[str],
    typer.Option(
        "--db",
        envvar="BUDGETDB_DB",
        help="Store to use: a DuckDB file. Default ./budget.duckdb; $BUDGETDB_DB overrides the default.",
        show_default=False,
    ),
]

WaitOption = Annotated[
    float,
    typer.Option("--wait", min=0, help="Seconds to keep retrying while another process holds the store."),
]


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    markdown = "markdown"


FormatOption = Annotated[
    OutputFormat,
    typer.Option("--format", "-F", help="table for people; csv or json (an array of row objects) for scripts; markdown for docs."),
]

DebugOption = Annotated[bool, typer.Option("--debug", help="Show the full traceback on errors.")]

PathArgument = Annotated[list[Path], typer.Argument(help="Result folders or files.", show_default=False)]
