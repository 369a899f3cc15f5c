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
    return {name: set(keys) for name, keys in documented_types(page).items()}


def documented_types(page: Path) -> dict[str, dict[str, str]]:
    """Every object's keys with their type cell (`number or null`, `[string]`, ...)."""
    objects: dict[str, dict[str, str]] = {}
    current = None
    for line in page.read_text("utf-8").splitlines():
        heading = re.fullmatch(r"### `(\w+)`", line)
        if heading:
            current = objects.setdefault(heading.group(1), {})
        elif line.startswith("#"):
            current = None
        elif current is not None and (cell := re.match(r"\| `(\w+)` \| ([^|]*) \|", line)):
            current[cell.group(1)] = cell.group(2)
    return objects


def _holds(value: Any, kind: str) -> bool:
    """Whether a JSON value is of a documented type: number, integer, string, boolean, [...] (a
    list), an object's name or {...} (an object), each maybe `or null`."""
    if value is None:
        return kind.endswith(" or null")
    kind = kind.removesuffix(" or null")
    if isinstance(value, bool) or kind == "boolean":
        return isinstance(value, bool) and kind == "boolean"
    checks = {"number": (int, float), "integer": int, "string": str}
    if kind in checks:
        return isinstance(value, checks[kind])
    return isinstance(value, list) if kind.startswith("[") else isinstance(value, Mapping)


def type_disagreements(page: Path, value: Any, paths: Mapping[str, tuple[str, ...]]) -> list[str]:
    """Each key whose value somewhere is not of the type the page gives it, one line each."""
    tables = documented_types(page)
    problems = set()
    for name, where in paths.items():
        for found_object in (o for path in where for o in found(value, path)):
            for key, item in found_object.items():
                kind = tables.get(name, {}).get(key)
                if kind is not None and not _holds(item, kind):
                    problems.add(f"`{name}.{key}` is documented as {kind}, holds {item!r}")
    return sorted(problems)


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
