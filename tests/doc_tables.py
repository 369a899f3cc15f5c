"""A documentation page's object tables, checked against a value key for key.

A page documents an object as a `### \\`name\\`` heading followed by a table whose first column
is `` `key` ``. `disagreements` compares them with the objects found at given paths of a value
(`a[].b` is key b of every item of list a; null objects are skipped).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def documented(page: Path) -> dict[str, set[str]]:
    objects: dict[str, set[str]] = {}
    current = None
    for line in page.read_text("utf-8").splitlines():
        heading = re.fullmatch(r"### `(\w+)`", line)
        if heading:
            current = objects.setdefault(heading.group(1), set())
        elif line.startswith("#"):
            current = None
        elif current is not None and (cell := re.match(r"\| `(\w+)` \|", line)):
            current.add(cell.group(1))
    return objects


def found(value: Any, path: str) -> list[Mapping]:
    items = [value]
    for part in filter(None, re.split(r"\.", path)):
        key, many = (part[:-2], True) if part.endswith("[]") else (part, False)
        nxt = []
        for item in items:
            child = item[key] if key else item
            if child is None:
                continue
            nxt.extend(child if many else [child])
        items = nxt
    return [i for i in items if i is not None]


def disagreements(page: Path, value: Any, paths: Mapping[str, tuple[str, ...]]) -> list[str]:
    """What the page and the value disagree on, one line each (empty: they agree). `paths` maps each
    documented object to the paths where it occurs; an object the value never holds is a
    disagreement too (the test would check nothing of it)."""
    tables = documented(page)
    problems = [f"`{name}` is documented but not checked" for name in sorted(set(tables) - set(paths))]
    for name, where in paths.items():
        objects = [o for path in where for o in found(value, path)]
        if name not in tables:
            problems.append(f"`{name}` has no table on {page.name}")
        elif not objects:
            problems.append(f"no `{name}` in the value: nothing of it is checked")
        else:
            keys = set().union(*(set(o) for o in objects))
            if keys != tables[name]:
                problems.append(f"`{name}`: undocumented {sorted(keys - tables[name])}, missing {sorted(tables[name] - keys)}")
    return problems
