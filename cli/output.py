"""Render query results as a table, CSV, JSON or Markdown."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

from .options import OutputFormat


def jsonable(value: Any) -> Any:
    """Plain JSON values; NaN and infinities become null (never bare NaN/Infinity tokens)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return jsonable(float(value))
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(jsonable(value), ensure_ascii=False)
    return str(value)


def markdown_cell(value: Any) -> str:
    text = cell(value)
    for char in "\\|`*_[]<>":
        text = text.replace(char, "\\" + char)
    return text.replace("\r\n", "<br>").replace("\n", "<br>").replace("\r", "<br>")


def render(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: OutputFormat, *, title: str | None = None) -> str:
    if fmt is OutputFormat.json:
        return (
            json.dumps(
                [dict(zip(columns, map(jsonable, row), strict=True)) for row in rows],
                ensure_ascii=False,
                indent=2,
                allow_nan=False,
            )
            + "\n"
        )
    if fmt is OutputFormat.csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([cell(v) for v in row] for row in rows)
        return buffer.getvalue()
    if fmt is OutputFormat.markdown:
        lines = ["| " + " | ".join(markdown_cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(markdown_cell(v) for v in row) + " |" for row in rows]
        return "\n".join(lines) + "\n"
    return _rich_table(columns, rows, title)


def _rich_table(columns, rows, title) -> str:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for name in columns:
        table.add_column(str(name), overflow="fold")
    for row in rows:
        table.add_row(*(cell(v) for v in row))
    buffer = io.StringIO()
    Console(file=buffer, width=_width(), force_terminal=False, color_system=None).print(table)
    return buffer.getvalue()


def _width() -> int:
    import shutil

    return shutil.get_terminal_size((160, 24)).columns if sys.stdout.isatty() else 200
