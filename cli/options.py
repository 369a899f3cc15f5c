"""Option bundles shared by every command, defined once."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from budgetdb.report_options import LATENCY_STAGES, LATENCY_STATS

# No envvar= on these two: the store's location falls back to $BUDGETDB_DB / $BUDGETDB_DATA_PATH
# in budgetdb.store.locate, after the command's option and then the root's (`budgetdb --db X report`),
# which the root passes down as the commands' default (app.py).
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Store to use: a DuckDB file, or a DuckLake: ducklake:PATH.ducklake (catalog in a local file) or "
        "'ducklake:postgres:dbname=... host=... port=... user=...' (shared catalog, many writers; docs/scale.md). "
        "Else `budgetdb --db` before the command, else $BUDGETDB_DB, else ./budget.duckdb.",
        show_default=False,
    ),
]

DataPathOption = Annotated[
    str | None,
    typer.Option(
        "--data-path",
        metavar="DIR",
        help="DuckLake only: the folder (or s3:// prefix) of the Parquet files. Needed when a lake is created; "
        "afterwards the catalog knows it (a reader may pass its own mount of the same folder). "
        "Else `budgetdb --data-path` before the command, else $BUDGETDB_DATA_PATH.",
        show_default=False,
    ),
]


def _seconds(value: float) -> float:
    if value != value:  # NaN passes min=0, and a deadline of NaN is never reached
        raise typer.BadParameter("must be a number of seconds, not nan")
    return value


WaitOption = Annotated[
    float,
    typer.Option("--wait", min=0, callback=_seconds, help="Seconds to keep retrying while another process holds the store."),
]


class OutputFormat(StrEnum):
    table = "table"
    line = "line"
    markdown = "markdown"
    csv = "csv"
    json = "json"


# The one description of the formats (cli/output.py writes them): every --format says this.
FORMAT_HELP = (
    "table: aligned, for people (a table wider than the terminal elides middle columns); "
    "line: one 'column = value' line each, for wide rows; markdown: a GitHub table; "
    "csv, json (an array of row objects): for programs, every row and exact values "
    "(NaN and infinities are null in json, JSON columns are JSON values)."
)

FormatOption = Annotated[OutputFormat, typer.Option("--format", "-F", help=FORMAT_HELP)]


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


def _one_of(choices: tuple[str, ...]) -> dict:
    """Option settings for a choice among `choices` (derived from a query header, so no Enum)."""

    def check(value: str) -> str:
        if value not in choices:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(choices)}")
        return value

    return {"metavar": "[" + "|".join(choices) + "]", "callback": check, "autocompletion": lambda: list(choices)}


LatencyStageOption = Annotated[
    str,
    typer.Option(
        "--latency-stage",
        help="Which latency of a sample is the point latency (vision_prefill = T_vision_total + T_LLM_prefill).",
        **_one_of(LATENCY_STAGES),
    ),
]

LatencyStatOption = Annotated[
    str,
    typer.Option("--latency-stat", help="Which statistic of the point latency per config run.", **_one_of(LATENCY_STATS)),
]
