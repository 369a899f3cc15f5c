"""Rows as a table, line, Markdown, CSV or JSON: what every command prints, in one place.

For people (table, line, markdown): floats with 6 significant digits, NULL shown, characters
that would act on a terminal (escape sequences, bidi overrides, control characters) shown as
escapes, long cells cut with `…`, a table too wide for the terminal shown with its middle
columns elided; by default the first 1000 rows, saying so on stderr when there are more.

For programs (csv, json): every row, each value exact: floats round-trip (repr; a FLOAT column
as its shortest float32 form), DECIMAL and HUGEINT digits as they are, JSON-typed columns as
JSON values (json), text byte for byte (written to stdout's bytes, never through click's echo,
which strips ANSI sequences when piped).
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import math
import struct
import sys
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from .options import OutputFormat

HUMAN = (OutputFormat.table, OutputFormat.line, OutputFormat.markdown)
MAX_CELL = 40  # a table cell longer than this is cut with …
BATCH = 2048


# -- writing -----------------------------------------------------------------------------------


def write(text: str) -> None:
    """`text` to stdout exactly (UTF-8), never through click.echo (which strips ANSI when piped)."""
    stream = sys.stdout
    buffer = getattr(stream, "buffer", None)
    if buffer is None:
        stream.write(text)
        return
    stream.flush()
    buffer.write(text.encode("utf-8", "surrogateescape"))
    buffer.flush()


def note(text: str) -> None:
    """A line for people on stderr (`budgetdb: ...`)."""
    sys.stderr.write(f"budgetdb: {text}\n")
    sys.stderr.flush()


def emit_rows(
    columns: Sequence[str],
    batches: Iterable[Sequence[Sequence[Any]]],
    fmt: OutputFormat,
    *,
    max_rows: int | None = None,
    types: Sequence[Any] | None = None,
    default_cap: int = 1000,
) -> bool:
    """Print the rows in `fmt`; return True when the row cap cut them (said on stderr).

    `max_rows` None: the human formats stop at `default_cap` rows, csv and json print all;
    0: all, whatever the format.
    """
    cap = max_rows if max_rows is not None else (default_cap if fmt in HUMAN else 0)
    capped = _Capped(batches, cap)
    for chunk in stream(columns, capped, fmt, types=types):
        write(chunk)
    if capped.cut:
        more = "--max-rows 0 prints them all" + (", as do -F csv and -F json" if fmt in HUMAN and max_rows is None else "")
        note(f"printed the first {cap:,} rows only; there are more ({more})")
    return capped.cut


class _Capped:
    """The batches up to `cap` rows (0: all); `cut` says whether rows were left."""

    def __init__(self, batches: Iterable[Sequence[Sequence[Any]]], cap: int):
        self.batches = iter(batches)
        self.cap = cap
        self.cut = False

    def __iter__(self):
        left = self.cap
        for batch in self.batches:
            if not self.cap:
                yield batch
                continue
            if len(batch) > left:
                yield batch[:left]
                self.cut = True
                return
            yield batch
            left -= len(batch)
            if left == 0:
                self.cut = any(len(b) for b in self.batches)
                return


def render(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    fmt: OutputFormat,
    *,
    title: str | None = None,
    types: Sequence[Any] | None = None,
) -> str:
    """All of `rows` in format `fmt`, as one string (for small results: summaries, lists)."""
    buffer = io.StringIO()
    for chunk in stream(columns, [list(rows)], fmt, title=title, types=types):
        buffer.write(chunk)
    return buffer.getvalue()


def stream(
    columns: Sequence[str],
    batches: Iterable[Sequence[Sequence[Any]]],
    fmt: OutputFormat,
    *,
    title: str | None = None,
    types: Sequence[Any] | None = None,
) -> Iterable[str]:
    """The text of `fmt`, chunk by chunk: csv and json as the batches come (constant memory),
    the human formats once every batch is in (they align columns)."""
    kinds = [_kind(t) for t in types] if types is not None else [None] * len(columns)
    if fmt is OutputFormat.csv:
        yield from _csv(columns, batches, kinds)
    elif fmt is OutputFormat.json:
        yield from _json_rows(columns, batches, kinds)
    else:
        rows = [row for batch in batches for row in batch]
        if fmt is OutputFormat.markdown:
            yield _markdown(columns, rows)
        elif fmt is OutputFormat.line:
            yield _lines(columns, rows)
        else:
            yield _table(columns, rows, title)


# -- values for people ---------------------------------------------------------------------------


def human(value: Any, *, null: str = "NULL", shown: bool = True) -> str:
    """A value as people read it: 6 significant digits, `true`, `NULL`, nested values as JSON;
    with `shown`, characters that would act on a terminal as escapes (`visible`)."""
    if value is None:
        return null
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _short_float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _blob(bytes(value))
    if isinstance(value, (list, tuple, dict)):
        return _json(value, None, short=True)
    return _visible(str(value)) if shown else str(value)


def _visible(text: str) -> str:
    from budgetdb.templates.formatting import visible  # jinja2 loads with it: not at start-up

    return visible(text)


def _short_float(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    magnitude = abs(value)
    if magnitude == 0:
        return "0"
    if magnitude >= 1e15 or magnitude < 1e-4:
        return f"{value:.6g}"
    decimals = max(0, 6 - (math.floor(math.log10(magnitude)) + 1))
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _cut(text: str, width: int = MAX_CELL) -> str:
    from rich.cells import cell_len

    if cell_len(text) <= width:
        return text
    while cell_len(text) > width - 1:
        text = text[:-1]
    return text + "…"


def _table(columns: Sequence[str], rows: list[Sequence[Any]], title: str | None) -> str:
    """A rich table. When every column fits at up to MAX_CELL cells wide, longer text wraps
    inside its column; when not even that fits, the middle columns are elided (as DuckDB's
    CLI does) and each cell is cut at MAX_CELL, rather than folding every column to a sliver."""
    from rich.cells import cell_len
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    header = [_visible(str(c)) for c in columns]
    cells = [[human(v) for v in row] for row in rows]
    natural = [max([cell_len(h)] + [cell_len(r[i]) for r in cells]) for i, h in enumerate(header)]
    capped = [min(width, MAX_CELL) for width in natural]
    total = _width()
    table = Table(title=title, show_lines=False)
    if sum(width + 3 for width in capped) + 1 <= total:
        shown: list[int | None] = list(range(len(columns)))
        for i, name in enumerate(header):  # Text, never str: rich would read [brackets] in the data as markup
            table.add_column(Text(name), min_width=capped[i], overflow="fold")
        for row in cells:
            table.add_row(*(Text(cell) for cell in row))
    else:
        shown = _fitting(capped, total)
        for index in shown:
            table.add_column(Text("…" if index is None else _cut(header[index])), no_wrap=True, overflow="ellipsis")
        for row in cells:
            table.add_row(*(Text("…" if index is None else _cut(row[index])) for index in shown))
    buffer = io.StringIO()
    Console(file=buffer, width=total, force_terminal=False, color_system=None, highlight=False).print(table)
    if None in shown:
        note(f"{len(columns)} columns, {len(shown) - 1} shown; -F line or -F csv shows them all")
    return buffer.getvalue()


def _fitting(widths: list[int], total: int) -> list[int | None]:
    """The columns that fit in `total` cells (each takes its width + 3, the table 1 more):
    all of them, or as many from both ends as fit around a `…` column (None), as DuckDB does."""
    if sum(w + 3 for w in widths) + 1 <= total:
        return list(range(len(widths)))
    left: list[int] = []
    right: list[int] = []
    used = 1 + 4  # the border and the … column
    lo, hi = 0, len(widths) - 1
    take_left = True
    while lo <= hi:
        index = lo if take_left else hi
        if used + widths[index] + 3 > total:
            break
        used += widths[index] + 3
        if take_left:
            left.append(lo)
            lo += 1
        else:
            right.insert(0, hi)
            hi -= 1
        take_left = not take_left
    if not left:  # not even one column fits: show the first one, cut by the terminal
        left = [0]
    return [*left, None, *right]


def _width() -> int:
    """The terminal's width ($COLUMNS first, as `shutil` reads it); 200 when not on a terminal."""
    import os
    import shutil

    if os.environ.get("COLUMNS", "").isdigit() or sys.stdout.isatty():
        return shutil.get_terminal_size((160, 24)).columns
    return 200


def _markdown(columns: Sequence[str], rows: list[Sequence[Any]]) -> str:
    from budgetdb.templates.formatting import md  # the one Markdown escaper, the report's too

    lines = ["| " + " | ".join(md(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(md(human(v, null="", shown=False)) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _lines(columns: Sequence[str], rows: list[Sequence[Any]]) -> str:
    names = [_visible(str(c)) for c in columns]
    width = max((len(n) for n in names), default=0)
    blocks = ["\n".join(f"{n.rjust(width)} = {human(v, null='')}" for n, v in zip(names, row, strict=True)) for row in rows]
    return "\n\n".join(blocks) + ("\n" if blocks else "")


# -- values for programs -------------------------------------------------------------------------


def _kind(t: Any) -> Any:
    """What the writers need of a DuckDB type: FLOAT, JSON, BIGNUM, or the nested structure."""
    if t is None:
        return None
    name = str(t)
    if name in ("FLOAT", "JSON", "BIGNUM"):
        return name
    kind = getattr(t, "id", None)
    if kind in ("list", "array"):
        child = _kind(dict(t.children)["child"])
        return ("list", child) if child is not None else None
    if kind == "map":
        value = _kind(dict(t.children)["value"])
        return ("map", value) if value is not None else None
    if kind in ("struct", "union"):
        fields = {n: _kind(c) for n, c in t.children if n}
        return (kind, fields) if any(v is not None for v in fields.values()) else None
    return None


def _csv(columns: Sequence[str], batches: Iterable[Sequence[Sequence[Any]]], kinds: list) -> Iterable[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    yield buffer.getvalue()
    for batch in batches:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows([_csv_cell(v, k) for v, k in zip(row, kinds, strict=True)] for row in batch)
        yield buffer.getvalue()


def _csv_cell(value: Any, kind: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _exact_float(value, kind == "FLOAT", nonfinite=True)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _blob(bytes(value))
    if isinstance(value, (list, tuple, dict)):
        return _json(value, kind)
    return str(value)


def _json_rows(columns: Sequence[str], batches: Iterable[Sequence[Sequence[Any]]], kinds: list) -> Iterable[str]:
    names = [json.dumps(c, ensure_ascii=False) for c in _unique(columns)]
    first = True
    yield "["
    for batch in batches:
        parts = []
        for row in batch:
            fields = ", ".join(f"{n}: {_json(v, k)}" for n, v, k in zip(names, row, kinds, strict=True))
            parts.append(("\n  " if first else ",\n  ") + "{" + fields + "}")
            first = False
        yield "".join(parts)
    yield "]\n" if first else "\n]\n"


def _unique(columns: Sequence[str]) -> list[str]:
    """Column names as JSON object keys: a repeated name gets `_1`, `_2`, ... (as DuckDB names
    the columns of a subquery), so no value is lost to a duplicate key."""
    seen: set[str] = set()
    out = []
    for column in map(str, columns):
        name, n = column, 0
        while name in seen:
            n += 1
            name = f"{column}_{n}"
        seen.add(name)
        out.append(name)
    return out


def _json(value: Any, kind: Any, *, short: bool = False) -> str:
    """`value` as JSON text: exact numbers (or 6 digits when `short`), NaN and infinities null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "null"
        return _short_float(value) if short else _exact_float(value, kind == "FLOAT")
    if isinstance(value, decimal.Decimal):
        return str(value) if value.is_finite() else "null"
    if isinstance(value, str):
        if kind == "JSON":
            return _json(_parse_json(value), None, short=short)
        if kind == "BIGNUM":
            return value
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        fields = kind[1] if isinstance(kind, tuple) and kind[0] == "struct" else {}
        inner = kind[1] if isinstance(kind, tuple) and kind[0] == "map" else None
        items = (f"{_json(str(k), None)}: {_json(v, fields.get(k, inner), short=short)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, (list, tuple)):
        child = kind[1] if isinstance(kind, tuple) and kind[0] == "list" else None
        return "[" + ", ".join(_json(v, child, short=short) for v in value) + "]"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return json.dumps(_blob(bytes(value)), ensure_ascii=False)
    if isinstance(value, (dt.date, dt.time, dt.timedelta, uuid.UUID)):
        return json.dumps(str(value))
    return json.dumps(str(value), ensure_ascii=False)


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text, parse_float=decimal.Decimal, parse_constant=lambda _: None)
    except ValueError:
        return text  # DuckDB validated it as JSON; if Python's reader disagrees, keep the text


def _exact_float(value: float, single: bool, *, nonfinite: bool = False) -> str:
    """The shortest text that reads back as the same float (float32 for a FLOAT column)."""
    if not math.isfinite(value):
        return ("nan" if math.isnan(value) else "inf" if value > 0 else "-inf") if nonfinite else "null"
    if single:
        packed = struct.pack("<f", value)
        for digits in range(1, 10):
            text = f"{value:.{digits}g}"
            if struct.pack("<f", float(text)) == packed:
                return text
    return repr(value)


def _blob(data: bytes) -> str:
    """BLOB as DuckDB prints it: printable ASCII as is, every other byte as \\xHH."""
    return "".join(chr(b) if 32 <= b < 127 and b != 92 else f"\\x{b:02X}" for b in data)
