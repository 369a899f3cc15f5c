"""Jinja filters: the seed's number formats, Markdown escaping of data, dataset names and order.

Every number filter refuses None, NaN and infinities: a template that reaches one without
checking for it first is a bug to see during development, never `nan` or `None` in a report.
"""

from __future__ import annotations

import math
import re
import reprlib
from collections.abc import Iterable, Mapping
from numbers import Real
from typing import Any

import jinja2

SEED_ORDER = ("text-vqa", "coco-2014-vqa", "okvqa")
DISPLAY_NAMES = {"text-vqa": "Text-VQA", "coco-2014-vqa": "COCO-2014-VQA", "okvqa": "OKVQA"}

# CommonMark lets a backslash escape any ASCII punctuation; these are the ones that can start
# markup inside a line (emphasis, code, links, table cells, a heading's closing #s, HTML,
# entities, strikethrough, GitHub math). Block markers (`- `, `1. `, `> `) only count at the
# start of a line, and data never starts one: line breaks in data become spaces.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~&$])")
_LINE_BREAKS = re.compile(r"\r\n|\r|\n|\u2028|\u2029")
# Characters that act instead of showing: C0 and C1 controls and DEL (a terminal's escape
# sequences), and the bidirectional overrides and isolates that reorder what follows them.
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


class MissingValueError(ValueError):
    """A template formatted a value that is missing (None, NaN, inf)."""


def _number(value: Any, what: str) -> float:
    if value is None or isinstance(value, bool) or not isinstance(value, Real):
        raise MissingValueError(f"{what}: expected a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise MissingValueError(f"{what}: expected a finite number, got {value!r}")
    return number


def thousands(value: Any) -> str:
    """A count with thousands separators: 1638588 -> `1,638,588`."""
    number = _number(value, "thousands")
    if number != int(number):
        raise MissingValueError(f"thousands: expected a whole count, got {value!r}")
    return f"{int(number):,}"


def fixed(value: Any, digits: int) -> str:
    """`digits` decimals, rounding half to even as Python's format does: 68.66 -> `68.7`."""
    number = _number(value, f"fixed({digits})")
    text = f"{number:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text  # never `-0.0`


def dec1(value: Any) -> str:
    return fixed(value, 1)


def dec2(value: Any) -> str:
    return fixed(value, 2)


def dec4(value: Any) -> str:
    return fixed(value, 4)


def ms(value: Any) -> str:
    """A point latency as the seed prints it: `371.52ms`."""
    return fixed(value, 2) + "ms"


def num(value: Any) -> str:
    """A budget or parameter: whole numbers without decimals (`170`), others as short as exact (`172.5`)."""
    number = _number(value, "num")
    if number == int(number) and abs(number) < 1e15:
        return str(int(number))
    return format(number, ".12g")


def visible(text: str) -> str:
    """`text` with every character that would act rather than show (a terminal escape, a
    bidirectional override, a control character) written as an escape: `\\x1b`, `\\u202e`,
    `\\n`. For text shown to people (tables, Markdown); machine formats keep the bytes."""
    return _INVISIBLE.sub(_escape, text)


def _escape(match: re.Match) -> str:
    char = match.group(0)
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def md(value: Any) -> str:
    """Text from the data (dataset names, configs, paths, query results) made inert for Markdown:
    the one Markdown escaper (the report's filter and `-F markdown` both use it).

    Line breaks become spaces, Markdown punctuation is backslash-escaped, so a value can
    neither start markup nor break a table row, a list item or a heading; other control
    characters show as escapes (`visible`).
    """
    if value is None:
        raise MissingValueError("md: expected text, got None")
    text = _LINE_BREAKS.sub(" ", str(value))
    return visible(_MD_SPECIAL.sub(r"\\\1", text))


def code(value: Any) -> str:
    """Text from the data as an inline code span, whatever backticks it holds.

    Pipes are escaped too (GitHub tables split cells on them even inside code spans).
    """
    if value is None:
        raise MissingValueError("code: expected text, got None")
    text = visible(_LINE_BREAKS.sub(" ", str(value))).replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip(" ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def ljust(value: Any, width: int) -> str:
    return str(value).ljust(width)


def display_name(dataset: str) -> str:
    """Text-VQA, COCO-2014-VQA, OKVQA; any other dataset as written (not escaped: use `md`)."""
    return DISPLAY_NAMES.get(dataset, dataset)


def dataset_order(datasets: Iterable[str]) -> list[str]:
    """The seed's order (text-vqa, coco-2014-vqa, okvqa), then the rest alphabetically."""

    def key(name: str):
        return (SEED_ORDER.index(name), "") if name in SEED_ORDER else (len(SEED_ORDER), name)

    return sorted(set(datasets), key=key)


FILTERS = {
    "thousands": thousands,
    "fixed": fixed,
    "dec1": dec1,
    "dec2": dec2,
    "dec4": dec4,
    "ms": ms,
    "num": num,
    "md": md,
    "code": code,
    "ljust": ljust,
    "display_name": display_name,
}


def finalize(value: Any) -> Any:
    """Every `{{ }}` goes through here: a bare None or float means a missing filter or check; a
    list, dict or method (printed as Python writes it: `[160.0, None]`) a missing loop or call."""
    if value is None:
        raise MissingValueError("a template printed None; check the value before printing it")
    if isinstance(value, float):
        raise MissingValueError(f"a template printed the raw float {value!r}; format it with a number filter")
    if isinstance(value, (list, tuple, set, Mapping)):
        raise MissingValueError(
            f"a template printed a {type(value).__name__} ({reprlib.repr(value)}); print its items through filters "
            "(a loop, |join, |tojson)"
        )
    if callable(value) and not isinstance(value, jinja2.Undefined):  # an undefined value fails as itself
        raise MissingValueError(f"a template printed a function or method ({reprlib.repr(value)}); call it, or use a key")
    return value
