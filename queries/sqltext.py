"""What budgetdb reads in (and adds to) a query's SQL text: its `$placeholders`, and CTEs put in
front of its statement. Strings, quoted identifiers and comments are never looked into."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

PLACEHOLDER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
# String literals, quoted identifiers and comments: no placeholder or keyword is looked for inside them.
_NOT_CODE = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", re.S)
_LEADING_WITH = re.compile(r"with(?:\s+recursive)?\b", re.I)


@lru_cache(maxsize=512)
def code(text: str) -> str:
    """`text` with strings, quoted identifiers and comments (the header too) blanked; offsets and line numbers kept."""
    return _NOT_CODE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


@lru_cache(maxsize=512)
def placeholders(text: str) -> dict[str, int]:
    """{name: first line} of every `$name` the SQL binds."""
    blanked = code(text)
    used: dict[str, int] = {}
    for match in PLACEHOLDER.finditer(blanked):
        used.setdefault(match.group(1), blanked.count("\n", 0, match.start()) + 1)
    return used


def reads(text: str, name: str) -> bool:
    """Does the SQL (outside strings and comments) mention `name` as a word?"""
    return re.search(rf"\b{re.escape(name)}\b", code(text)) is not None


def statement(text: str) -> str:
    """The SQL without a trailing `;` (and what follows it: only blanks and comments)."""
    blanked = code(text).rstrip()
    if blanked.endswith(";"):
        return text[: len(blanked) - 1] + text[len(blanked) :]
    return text


@lru_cache(maxsize=512)
def _statement_start(text: str) -> tuple[int, int]:
    """(where the statement's first keyword starts, where its WITH [RECURSIVE] ends, or -1 without one)."""
    blanked = code(text)
    start = len(blanked) - len(blanked.lstrip())
    found = _LEADING_WITH.match(blanked, start)
    return start, found.end() if found else -1


def with_ctes(text: str, ctes: Sequence[str]) -> str:
    """The statement `text` with `ctes` (`name AS (...)` each) first in its WITH clause.

    A statement with a WITH clause gets them in front of its own CTEs (so those can read
    them); another gets a WITH clause. The header comments stay where they are."""
    if not ctes:
        return text
    start, with_end = _statement_start(text)
    listed = ",\n".join(ctes)
    if with_end >= 0:
        return f"{text[:with_end]} {listed},\n{text[with_end:].lstrip(' ')}"
    return f"{text[:start]}WITH {listed}\n{text[start:]}"


def substitute(text: str, values: dict[str, str]) -> str:
    """`text` with each `$name` in `values` (outside strings and comments) replaced by its SQL text."""
    out, last = [], 0
    for match in PLACEHOLDER.finditer(code(text)):
        if match.group(1) in values:
            out += [text[last : match.start()], values[match.group(1)]]
            last = match.end()
    return "".join(out) + text[last:]
